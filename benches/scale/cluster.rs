//! The cluster side of the set-up: the kube client, the operator's CRDs, the benchmark's
//! namespaces and the provider API-key Secret.

use anyhow::Result;
use kube::Client;
use proxy_order_testkit::{connect, create_namespace, install_crds};
use serde_json::json;

/// The API server the benchmark runs against and the two namespaces it uses.
pub(crate) struct Cluster {
    pub(crate) client: Client,
    pub(crate) k8s_version: String,
    /// The ProxyOrders, their Secrets and the operator's scope.
    pub(crate) ns: String,
    /// The baselines (baseline.rs).
    pub(crate) baseline_ns: String,
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
        let baseline_ns = format!("bench-baseline-{tag}");
        create_bench_namespace(&client, &ns).await?;
        eprintln!(
            "bench: N={n}, namespace {ns}, operator {}",
            operator_bin.display()
        );
        Ok(Cluster {
            client,
            k8s_version,
            ns,
            baseline_ns,
        })
    }
}

/// Creates namespace `name`, labelled as the benchmark's.
pub(crate) async fn create_bench_namespace(client: &Client, name: &str) -> Result<()> {
    create_namespace(client, name, json!({"proxy-order-operator/bench": "true"})).await
}
