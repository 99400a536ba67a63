//! The cluster side of the set-up: the kube client, the operator's CRDs, the benchmark's
//! namespaces and the provider API-key Secret; reading a credential Secret's port.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::{
    ByteString,
    api::core::v1::{Namespace, Secret},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, CustomResourceExt, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use proxy_order_operator::crd::ProxyOrder;
use serde_json::json;

use crate::{API_KEY, KEY_SECRET};

/// The API server the benchmark runs against and the two namespaces it uses.
pub(crate) struct Cluster {
    pub(crate) client: Client,
    pub(crate) k8s_version: String,
    /// The ProxyOrders, their Secrets and the operator's scope.
    pub(crate) ns: String,
    /// The plain-Secret baseline.
    pub(crate) plain_ns: String,
}

impl Cluster {
    /// Connects through KUBECONFIG, installs the CRDs and creates the ProxyOrder namespace.
    pub(crate) async fn set_up(n: usize, operator_bin: &std::path::Path) -> Result<Self> {
        let client = Client::try_default()
            .await
            .context("kube client from KUBECONFIG")?;
        let k8s_version = client
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .unwrap_or_else(|_| "unknown".into());
        install_crd(&client).await?;
        let tag = format!("{:04x}", rand::random::<u16>());
        let ns = format!("bench-{tag}");
        let plain_ns = format!("bench-plain-{tag}");
        create_namespace(&client, &ns).await?;
        eprintln!(
            "bench: N={n}, namespace {ns}, operator {}",
            operator_bin.display()
        );
        Ok(Cluster {
            client,
            k8s_version,
            ns,
            plain_ns,
        })
    }
}

/// The provider API key the ProxyOrders reference, in `secrets`' namespace.
pub(crate) async fn create_api_key_secret(secrets: &Api<Secret>) -> Result<()> {
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": KEY_SECRET},
                "data": {"api-key": ByteString(API_KEY.as_bytes().to_vec())},
            }))?,
        )
        .await
        .context("API-key Secret")?;
    Ok(())
}

pub(crate) fn secret_port(s: &Secret) -> Option<String> {
    s.data
        .as_ref()?
        .get("port")
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// Installs the operator's CRDs (ProxyOrder, ProxyProvider) and waits until both are served.
pub(crate) async fn install_crd(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [
        ProxyOrder::crd(),
        proxy_order_operator::proxy_provider::ProxyProvider::crd(),
    ] {
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("applying the CRD {}", crd.name_any()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let c = crds.get(&crd.name_any()).await?;
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "CRD {} not established after 30 s",
                crd.name_any()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

pub(crate) async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"proxy-order-operator/bench": "true"}}
        }))?,
    )
    .await
    .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}
