//! The committed CRDs must be exactly what the Rust types generate (what `crdgen` prints).

use kube::CustomResourceExt;
use proxy_order_api::ProxyProvider;
use proxy_order_api::{ProxyOrder, published};

/// `crds/<file>` equals `generated`, serialised as `crdgen` does.
fn assert_committed(file: &str, generated: &impl serde::Serialize) {
    let path = format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("crds/{file} is committed ({e}): run `make generate`"));
    let generated = serde_yaml::to_string(generated).unwrap();
    assert!(
        committed == generated,
        "crds/{file} is stale: run `make generate` and commit the result"
    );
}

#[test]
fn committed_proxyorder_crd_matches_the_generator() {
    assert_committed(
        "proxyorders.proxy-solutions.net.yaml",
        &published(ProxyOrder::crd()),
    );
}

#[test]
fn committed_proxyprovider_crd_matches_the_generator() {
    assert_committed(
        "proxyproviders.proxy-solutions.net.yaml",
        &published(ProxyProvider::crd()),
    );
}
