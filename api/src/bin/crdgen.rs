//! Prints a CustomResourceDefinition as YAML: `crdgen proxyorders` (the default) or
//! `crdgen proxyproviders`.

fn main() -> anyhow::Result<()> {
    let which = std::env::args().nth(1);
    let which = which.as_deref().unwrap_or("proxyorders");
    let Some((_, crd)) = proxy_order_api::crds()
        .into_iter()
        .find(|(plural, _)| *plural == which)
    else {
        anyhow::bail!("unknown CRD {which:?}: use proxyorders or proxyproviders");
    };
    print!("{}", serde_yaml::to_string(&crd)?);
    Ok(())
}
