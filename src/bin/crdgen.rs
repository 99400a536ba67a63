//! Prints the `ProxyOrder` CustomResourceDefinition as YAML.

use kube::CustomResourceExt;
use proxy_order_operator::crd::ProxyOrder;

fn main() -> anyhow::Result<()> {
    print!("{}", serde_yaml::to_string(&ProxyOrder::crd())?);
    Ok(())
}
