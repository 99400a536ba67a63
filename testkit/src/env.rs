//! [`Env`]: one scenario's namespace, simulator and operator; how it is set up (alone in a
//! namespace, as the chart, or cluster-wide) and torn down.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client, api::DeleteParams};
use proxy_solutions_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::{
    API_KEY, KEY_SECRET, OperatorProcess, connect, create_namespace, free_port,
    impersonating_kubeconfig, install_chart, install_crds, require_kubeconfig, scratch_dir,
    start_simulator, uninstall_chart,
};

pub struct Env {
    pub client: Client,
    pub ns: String,
    pub sim: Simulator,
    pub(crate) operator: Option<OperatorProcess>,
    pub log: PathBuf,
    pub(crate) extra_args: Vec<String>,
    pub(crate) metrics_port: u16,
    /// Kubeconfig the operator uses instead of the test's own (impersonation).
    pub(crate) operator_kubeconfig: Option<PathBuf>,
    /// What the operator watches: `--namespace <ns>`, or (cluster-wide) `--operator-namespace
    /// <ns> --selector <selector>`.
    pub(crate) scope_args: Vec<String>,
}

/// The scenarios' kube client (from KUBECONFIG, which must be set), with the CRDs installed.
pub async fn e2e_client() -> Client {
    require_kubeconfig("end-to-end tests need a cluster: run them with `make test-e2e`")
        .unwrap_or_else(|e| panic!("{e}"));
    let client = connect().await.unwrap_or_else(|e| panic!("{e:#}"));
    install_crds(&client, "e2e")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    client
}

/// Creates namespace `ns` with `labels` and the label that marks the end-to-end tests' own.
pub async fn create_e2e_namespace(client: &Client, ns: &str, labels: Value) {
    let mut labels = labels;
    labels["proxy-order-operator/e2e"] = json!("true");
    create_namespace(client, ns, labels)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
}

impl Env {
    /// A namespace, a simulator with the example orders and the API key, the API-key Secret,
    /// and a running operator.
    pub async fn start(name: &str) -> Env {
        Self::start_with(name, &[]).await
    }

    pub async fn start_with(name: &str, extra_args: &[&str]) -> Env {
        Self::start_inner(name, extra_args, false, SimConfig::default()).await
    }

    /// Like [`Env::start_with`], with a simulator seeded from `sim` (it accepts the test key
    /// and the keys of `sim` other than the simulator's default one).
    pub async fn start_with_sim(name: &str, sim: SimConfig, extra_args: &[&str]) -> Env {
        Self::start_inner(name, extra_args, false, sim).await
    }

    /// Like [`Env::start`], but the operator runs with exactly the permissions the Helm
    /// chart grants: the chart is installed into the test namespace (release named after it)
    /// and the operator's kubeconfig impersonates the chart's ServiceAccount.
    pub async fn start_as_chart(name: &str) -> Env {
        Self::start_inner(name, &[], true, SimConfig::default()).await
    }

    /// Like [`Env::start_as_chart`], with `chart_sets` as extra `--set` values of the chart (in
    /// which `{ns}` stands for the scenario's namespace) and `extra_args` for the operator (the
    /// chart's values do not reach the operator process: a value that adds a flag needs it here
    /// too).
    pub async fn start_as_chart_with(name: &str, chart_sets: &[&str], extra_args: &[&str]) -> Env {
        Self::start_scoped(
            name,
            extra_args,
            Some(chart_sets),
            SimConfig::default(),
            None,
        )
        .await
    }

    async fn start_inner(
        name: &str,
        extra_args: &[&str],
        as_chart: bool,
        sim_config: SimConfig,
    ) -> Env {
        Self::start_scoped(
            name,
            extra_args,
            as_chart.then_some(&[][..]),
            sim_config,
            None,
        )
        .await
    }

    /// The operator of a multi-tenant installation: the chart installed cluster-wide (release
    /// and operator namespace named after the test's namespace, `chart_sets` as extra `--set`
    /// values) and impersonated, the operator watching every namespace but only the objects
    /// matching `selector` (`--selector`), with `--operator-namespace` the test's namespace
    /// (which holds the API-key Secret [`KEY_SECRET`]).
    pub async fn start_cluster_wide(
        name: &str,
        selector: &str,
        chart_sets: &[&str],
        sim_config: SimConfig,
        extra_args: &[&str],
    ) -> Env {
        Self::start_scoped(
            name,
            extra_args,
            Some(chart_sets),
            sim_config,
            Some(selector),
        )
        .await
    }

    /// `chart`: install the chart (with these extra `--set` values) and impersonate its
    /// ServiceAccount. `cluster_selector`: watch all namespaces with this selector instead of
    /// only the test's namespace.
    async fn start_scoped(
        name: &str,
        extra_args: &[&str],
        chart: Option<&[&str]>,
        sim_config: SimConfig,
        cluster_selector: Option<&str>,
    ) -> Env {
        let client = e2e_client().await;
        let ns = format!("e2e-{name}-{:04x}", rand::random::<u16>());
        create_e2e_namespace(&client, &ns, json!({})).await;
        // The test key, and any other key the scenario gives the simulator.
        let mut api_keys = vec![API_KEY.to_string()];
        api_keys.extend(
            sim_config
                .api_keys
                .iter()
                .filter(|k| *k != proxy_solutions_sim::DEFAULT_API_KEY)
                .cloned(),
        );
        let sim = start_simulator(SimConfig {
            api_keys,
            ..sim_config
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
        let dir = scratch_dir().join("e2e-logs");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{ns}.log"));
        let _ = std::fs::remove_file(&log);
        let mut env = Env {
            client,
            ns,
            sim,
            operator: None,
            log,
            extra_args: {
                // Long intervals unless a test asks otherwise, so timing-based assertions
                // see only what the test caused; rotations as fast as a scenario asks for them
                // (the hostile-tenant suite checks the limit).
                let mut args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
                for (flag, value) in [
                    ("--refresh-interval", "600s"),
                    ("--terminal-recheck", "600s"),
                    ("--rotation-min-interval", "0s"),
                ] {
                    if !args.iter().any(|a| a == flag) {
                        args.extend([flag.to_string(), value.to_string()]);
                    }
                }
                args
            },
            metrics_port: free_port(),
            operator_kubeconfig: None,
            scope_args: Vec::new(),
        };
        env.scope_args = match cluster_selector {
            None => vec!["--namespace".into(), env.ns.clone()],
            Some(selector) => vec![
                "--operator-namespace".into(),
                env.ns.clone(),
                "--selector".into(),
                selector.into(),
            ],
        };
        if let Some(sets) = chart {
            // `{ns}` in a value stands for the scenario's namespace (e.g. watchNamespace={ns}).
            let sets: Vec<String> = sets.iter().map(|s| s.replace("{ns}", &env.ns)).collect();
            let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
            let sa = install_chart(&env.ns, &sets);
            env.operator_kubeconfig = Some(impersonating_kubeconfig(&env.ns, &sa, &dir));
        }
        env.put_secret(KEY_SECRET, "api-key", API_KEY).await;
        env.start_operator(None).await;
        env
    }

    /// Stops the operator and deletes the namespace (and a chart installed into it).
    pub async fn finish(mut self) {
        self.stop_operator();
        if self.operator_kubeconfig.is_some() {
            uninstall_chart(&self.ns);
        }
        let nss: Api<Namespace> = Api::all(self.client.clone());
        let _ = nss.delete(&self.ns, &DeleteParams::background()).await;
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop_operator();
    }
}
