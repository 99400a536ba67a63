//! The cluster side of the set-up: the kube client, the operator's CRDs, the benchmark's
//! namespaces and the provider API-key Secret.

use anyhow::{Context as _, Result};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, Client, api::PostParams};
use proxy_order_testkit::{KEY_SECRET, connect, create_namespace, install_crds};
use serde_json::json;

use crate::API_KEY;

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
        let client = connect().await?;
        let k8s_version = client
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .unwrap_or_else(|_| "unknown".into());
        install_crds(&client, "bench").await?;
        let tag = format!("{:04x}", rand::random::<u16>());
        let ns = format!("bench-{tag}");
        let plain_ns = format!("bench-plain-{tag}");
        create_bench_namespace(&client, &ns).await?;
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

/// Creates namespace `name`, labelled as the benchmark's.
pub(crate) async fn create_bench_namespace(client: &Client, name: &str) -> Result<()> {
    create_namespace(client, name, json!({"proxy-order-operator/bench": "true"})).await
}
