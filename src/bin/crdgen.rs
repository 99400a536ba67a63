//! Prints a CustomResourceDefinition as YAML: `crdgen proxyorders` (the default) or
//! `crdgen proxyproviders`.

use kube::CustomResourceExt;
use proxy_order_operator::{crd::ProxyOrder, proxy_provider::ProxyProvider};

fn main() -> anyhow::Result<()> {
    let which = std::env::args().nth(1);
    let crd = match which.as_deref() {
        None | Some("proxyorders") => ProxyOrder::crd(),
        Some("proxyproviders") => ProxyProvider::crd(),
        Some(other) => anyhow::bail!("unknown CRD {other:?}: use proxyorders or proxyproviders"),
    };
    print!(
        "{}",
        serde_yaml::to_string(&proxy_order_operator::crd::published(crd))?
    );
    Ok(())
}
