//! The committed CRD must be exactly what the Rust types generate.

use kube::CustomResourceExt;
use proxy_order_operator::crd::ProxyOrder;

#[test]
fn committed_crd_matches_the_generator() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/proxyorders.proxy-solutions.net.yaml"
    );
    let committed = std::fs::read_to_string(path).expect("crds/ file is committed");
    let generated = serde_yaml::to_string(&ProxyOrder::crd()).unwrap();
    assert!(
        committed == generated,
        "crds/proxyorders.proxy-solutions.net.yaml is stale: run `make generate` and commit the result"
    );
}
