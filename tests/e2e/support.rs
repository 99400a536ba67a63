//! Test environment for the end-to-end scenarios: a real API server (from KUBECONFIG), the
//! provider simulator (a real HTTP server), and the operator binary as a separate process,
//! in a fresh namespace per test.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::{
    ByteString,
    api::core::v1::{Namespace, Secret},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, CustomResourceExt, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use proxy_order_operator::{
    controller::WATCH_LABEL,
    crd::{ProxyOrder, ProxyOrderSpec},
    proxy_provider::ProxyProvider,
};
use proxy_solutions_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

pub const API_KEY: &str = "e2e-api-key-canary-7Q2";
pub const KEY_SECRET: &str = "provider-key";
pub const ACTIVE: u64 = 10000;
pub const EXPIRED: u64 = 10001;
pub const MOBILE: u64 = 10002;

pub struct Env {
    pub client: Client,
    pub ns: String,
    pub sim: Simulator,
    operator: Option<Child>,
    pub log: PathBuf,
    extra_args: Vec<String>,
    metrics_port: u16,
    /// Kubeconfig the operator uses instead of the test's own (impersonation).
    operator_kubeconfig: Option<PathBuf>,
    /// What the operator watches: `--namespace <ns>`, or (cluster-wide) `--operator-namespace
    /// <ns> --selector <selector>`.
    scope_args: Vec<String>,
}

pub fn kube_env_check() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "end-to-end tests need a cluster: run them with `make test-e2e` (KUBECONFIG is not set)"
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    #[allow(dead_code)] // used by the fault suite (tests/faults)
    pub async fn start_with_sim(name: &str, sim: SimConfig, extra_args: &[&str]) -> Env {
        Self::start_inner(name, extra_args, false, sim).await
    }

    /// Like [`Env::start`], but the operator runs with exactly the permissions the Helm
    /// chart grants: the chart is installed into the test namespace (release named after it)
    /// and the operator's kubeconfig impersonates the chart's ServiceAccount.
    pub async fn start_as_chart(name: &str) -> Env {
        Self::start_inner(name, &[], true, SimConfig::default()).await
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
        kube_env_check();
        proxy_order_operator::provider::client::install_crypto_provider();
        let client = Client::try_default()
            .await
            .expect("kube client from KUBECONFIG");
        install_crd(&client).await;
        let ns = format!("e2e-{name}-{:04x}", rand::random::<u16>());
        create_namespace(&client, &ns, json!({})).await;
        // The test key, and any other key the scenario gives the simulator.
        let mut api_keys = vec![API_KEY.to_string()];
        api_keys.extend(
            sim_config
                .api_keys
                .iter()
                .filter(|k| *k != proxy_solutions_sim::DEFAULT_API_KEY)
                .cloned(),
        );
        let sim = Simulator::start(
            SimConfig {
                api_keys,
                ..sim_config
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs");
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
                // see only what the test caused.
                let mut args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
                for (flag, value) in [
                    ("--refresh-interval", "600s"),
                    ("--terminal-recheck", "600s"),
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
            let sa = install_chart(&env.ns, sets);
            env.operator_kubeconfig = Some(impersonating_kubeconfig(&env.ns, &sa, &dir));
        }
        env.put_secret(KEY_SECRET, "api-key", API_KEY).await;
        env.start_operator(None).await;
        env
    }

    /// Starts the operator; with `failpoint`, it aborts at that point.
    pub async fn start_operator(&mut self, failpoint: Option<&str>) {
        self.launch_operator(failpoint, None).await;
    }

    /// Starts the operator so that it pauses `ms` milliseconds at `point` (once, at its first
    /// passage) instead of dying there, and waits until it is ready.
    #[allow(dead_code)]
    pub async fn start_operator_pausing(&mut self, point: &str, ms: u64) {
        self.launch_operator(Some(point), Some(ms)).await;
    }

    async fn launch_operator(&mut self, failpoint: Option<&str>, pause_ms: Option<u64>) {
        self.stop_operator();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxy-order-operator"));
        cmd.args(&self.scope_args)
            .args([
                "--provider-url",
                &self.sim.base_url(),
                "--metrics-addr",
                &format!("127.0.0.1:{}", self.metrics_port),
                "--log-format",
                "json",
            ])
            .args(&self.extra_args)
            .env("RUST_LOG", "info,proxy_order_operator=debug")
            .env_remove(proxy_order_operator::failpoint::ENV)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(fp) = failpoint {
            cmd.env(proxy_order_operator::failpoint::ENV, fp);
        }
        match pause_ms {
            Some(ms) => cmd.env(proxy_order_operator::failpoint::PAUSE_ENV, ms.to_string()),
            None => cmd.env_remove(proxy_order_operator::failpoint::PAUSE_ENV),
        };
        if let Some(kc) = &self.operator_kubeconfig {
            cmd.env("KUBECONFIG", kc);
        }
        self.operator = Some(cmd.spawn().expect("operator binary starts"));
        if failpoint.is_none() || pause_ms.is_some() {
            self.wait_operator_ready().await;
        }
    }

    async fn wait_operator_ready(&mut self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            if let Some(child) = self.operator.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "operator exited early with {status}; log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "operator not ready; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts one more operator process with its own metrics port and log file (the returned
    /// path), for tests with several replicas. It is not waited on.
    pub fn spawn_replica(&self, tag: &str, extra: &[&str]) -> (Child, PathBuf) {
        let log_path = self.log.with_extension(format!("{tag}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_proxy-order-operator"))
            .args(&self.scope_args)
            .args([
                "--provider-url",
                &self.sim.base_url(),
                "--metrics-addr",
                &format!("127.0.0.1:{}", free_port()),
                "--log-format",
                "json",
            ])
            .args(&self.extra_args)
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove(proxy_order_operator::failpoint::ENV)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        (child, log_path)
    }

    /// Starts one more cluster-wide operator (see [`Env::start_cluster_wide`]) that reconciles
    /// only the objects matching `selector`, with its own metrics port and log file, the same
    /// kubeconfig (impersonation) and flags as the test's operator, and waits until it is
    /// ready. It is stopped when the returned [`Shard`] is dropped.
    pub async fn start_shard(&self, tag: &str, selector: &str) -> Shard {
        let log = self.log.with_extension(format!("{tag}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let metrics_port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_proxy-order-operator"));
        cmd.args([
            "--operator-namespace",
            &self.ns,
            "--selector",
            selector,
            "--provider-url",
            &self.sim.base_url(),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--log-format",
            "json",
        ])
        .args(&self.extra_args)
        .env("RUST_LOG", "info,proxy_order_operator=debug")
        .env_remove(proxy_order_operator::failpoint::ENV)
        .env_remove(proxy_order_operator::failpoint::PAUSE_ENV)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
        if let Some(kc) = &self.operator_kubeconfig {
            cmd.env("KUBECONFIG", kc);
        }
        let mut shard = Shard {
            child: cmd.spawn().expect("operator binary starts"),
            log,
        };
        let url = format!("http://127.0.0.1:{metrics_port}/readyz");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return shard;
            }
            if let Ok(Some(status)) = shard.child.try_wait() {
                panic!(
                    "shard {tag} exited early with {status}; log:\n{}",
                    shard.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "shard {tag} not ready; log:\n{}",
                shard.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the operator process to end by itself (after a failpoint), up to 30 s.
    pub async fn wait_operator_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.operator.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.operator = None;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "operator did not stop at its failpoint"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails, with the log's tail, when the operator process has exited.
    #[allow(dead_code)] // used by the fault suite (tests/faults)
    pub fn operator_alive(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.operator.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            anyhow::bail!(
                "operator exited with {status}; log tail:\n{}",
                tail(&self.log_text(), 40)
            );
        }
        Ok(())
    }

    pub fn stop_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The operator's `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn orders(&self) -> Api<ProxyOrder> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates or replaces Secret `name` in the test's namespace with one key (see
    /// [`put_secret_in`]).
    pub async fn put_secret(&self, name: &str, key: &str, value: &str) {
        put_secret_in(&self.client, &self.ns, name, key, value).await;
    }

    /// Applies a ProxyOrder from a spec JSON (server-side apply, field manager `e2e`).
    pub async fn apply(&self, name: &str, spec: Value) -> ProxyOrder {
        self.apply_full(name, json!({ "spec": spec })).await
    }

    pub async fn apply_full(&self, name: &str, body: Value) -> ProxyOrder {
        let mut obj = body;
        obj["apiVersion"] = json!("proxy-solutions.net/v1alpha1");
        obj["kind"] = json!("ProxyOrder");
        obj["metadata"]["name"] = json!(name);
        self.orders()
            .patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(obj))
            .await
            .unwrap_or_else(|e| panic!("apply {name}: {e}"))
    }

    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        self.orders()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    /// Deletes a ProxyOrder and waits until it is gone (finalizers included).
    pub async fn delete_and_wait(&self, name: &str) {
        self.orders()
            .delete(name, &Default::default())
            .await
            .unwrap();
        self.wait_for(&format!("{name} deleted"), 30, async || {
            self.orders()
                .get_opt(name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
    }

    pub async fn get(&self, name: &str) -> ProxyOrder {
        self.orders().get(name).await.unwrap()
    }

    /// Polls until `check` returns Some, or fails after `secs` with the last state.
    pub async fn wait_for<T, F>(&self, what: &str, secs: u64, mut check: F) -> T
    where
        F: AsyncFnMut() -> Option<T>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; operator log:\n{}",
                    tail(&self.log_text(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until condition `type_` has `status` and `reason` for the current generation,
    /// returning the object.
    pub async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> ProxyOrder {
        let what = format!("{name} {type_}={status}/{reason}");
        self.wait_for(&what, 30, async || {
            let po = self.orders().get_opt(name).await.ok()??;
            let c = condition(&po, type_)?;
            let current = po.status.as_ref()?.observed_generation == po.metadata.generation;
            (current && c.0 == status && c.1 == reason).then_some(po)
        })
        .await
    }

    pub async fn wait_ready(&self, name: &str) -> ProxyOrder {
        self.wait_condition(name, "Ready", "True", "Applied").await
    }

    /// Decoded data of a Secret.
    pub async fn secret_data(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let s = self.secrets().get_opt(name).await.unwrap()?;
        Some(
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
                .collect(),
        )
    }

    pub async fn sim_order(&self, id: u64) -> Value {
        reqwest::get(format!("{}/orders/{id}", self.sim.admin_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sim_post(&self, path: &str, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.sim.admin_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    /// Provider-API requests the simulator received, optionally for one order.
    pub async fn requests(&self) -> Vec<Value> {
        reqwest::get(format!("{}/requests", self.sim.admin_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Empties the simulator's request log.
    #[allow(dead_code)] // used by the fault suite (tests/faults)
    pub async fn sim_clear_requests(&self) -> anyhow::Result<()> {
        reqwest::Client::new()
            .delete(format!("{}/requests", self.sim.admin_url()))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Change calls (POST /api/user/orders/{id}) received for `order`.
    pub async fn change_calls(&self, order: u64) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["method"] == "POST" && r["path"] == format!("/api/user/orders/{order}"))
            .collect()
    }

    pub async fn list_calls(&self) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r["method"] == "GET" && r["path"] == "/api/user/orders")
            .count()
    }

    /// Events about the ProxyOrder `name`, as (type, reason, note).
    pub async fn events(&self, name: &str) -> Vec<(String, String, String)> {
        events_about(&self.client, &self.ns, name).await
    }

    /// Fails when any canary appears in the operator's log, in an Event or in a status.
    pub async fn assert_no_leaks(&self, canaries: &[&str]) {
        let log = self.log_text();
        let events = serde_json::to_string(&self.events_all().await).unwrap();
        let statuses: Vec<Value> = self
            .orders()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|po| serde_json::to_value(&po.status).unwrap())
            .collect();
        assert_none_leaked(
            canaries,
            &log,
            &events,
            &serde_json::to_string(&statuses).unwrap(),
        );
    }

    async fn events_all(&self) -> Vec<k8s_openapi::api::events::v1::Event> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        api.list(&ListParams::default()).await.unwrap().items
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

/// An extra operator process started by [`Env::start_shard`]; killed on drop.
pub struct Shard {
    child: Child,
    pub log: PathBuf,
}

impl Shard {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop_operator();
    }
}

/// Creates or replaces Secret `ns/name` with one key, labelled [`WATCH_LABEL`]` = "true"`
/// (server-side apply, field manager `e2e`): the operator notices a change of a Secret a
/// ProxyOrder references at once only with that label.
pub async fn put_secret_in(client: &Client, ns: &str, name: &str, key: &str, value: &str) {
    let s = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "labels": {WATCH_LABEL: "true"}},
        "data": {key: ByteString(value.as_bytes().to_vec())},
    });
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(s))
        .await
        .unwrap_or_else(|e| panic!("Secret {ns}/{name}: {e}"));
}

/// Creates namespace `ns` with `labels` and the label that marks the end-to-end tests' own.
pub async fn create_namespace(client: &Client, ns: &str, labels: Value) {
    let mut labels = labels;
    labels["proxy-order-operator/e2e"] = json!("true");
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns, "labels": labels}})).unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("namespace {ns}: {e}"));
}

/// Fails when a canary or the test API key appears in the operator's log, the serialized
/// Events or the serialized statuses.
pub fn assert_none_leaked(canaries: &[&str], log: &str, events: &str, statuses: &str) {
    for c in canaries.iter().chain([&API_KEY]) {
        assert!(
            !log.contains(c),
            "secret {c:?} leaked into the operator log"
        );
        assert!(!events.contains(c), "secret {c:?} leaked into an Event");
        assert!(!statuses.contains(c), "secret {c:?} leaked into a status");
    }
}

/// Events in namespace `ns` about the object `name`, as (type, reason, note).
pub async fn events_about(client: &Client, ns: &str, name: &str) -> Vec<(String, String, String)> {
    Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

pub fn condition(po: &ProxyOrder, type_: &str) -> Option<(String, String, String)> {
    po.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Installs (or updates) the CRDs (ProxyOrder and ProxyProvider) and waits until both are
/// served.
pub async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [ProxyOrder::crd(), ProxyProvider::crd()] {
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("CRD {} applies: {e}", crd.name_any()));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let c = crds.get(&crd.name_any()).await.unwrap();
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "CRD {} not established",
                crd.name_any()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Held by the scenarios that depend on the CRD's validation (admission) and by the one that
/// loosens it for a moment to store an object an older CRD would have accepted.
pub static CRD_SCHEMA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Stores ProxyOrder `name` with `spec` in `env`'s namespace although the CRD refuses it, as an
/// older CRD without `loosen`'s bounds would have: the CRD is applied without them, the object
/// created, and the CRD restored (and checked to refuse such an object again). Hold
/// [`CRD_SCHEMA`] around it.
pub async fn store_past_the_schema(
    env: &Env,
    name: &str,
    spec: Value,
    loosen: impl Fn(&mut Value),
) {
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    let mut loose = serde_json::to_value(ProxyOrder::crd()).unwrap();
    loosen(&mut loose["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]);
    let body = json!({"apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
                      "metadata": {"name": name}, "spec": spec});
    // Untyped: the typed form cannot hold such a value either.
    let orders: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &kube::discovery::ApiResource::erase::<ProxyOrder>(&()),
    );
    let untyped: kube::api::DynamicObject = serde_json::from_value(body).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        crds.patch(
            "proxyorders.proxy-solutions.net",
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&loose),
        )
        .await
        .expect("loosened CRD applies");
        tokio::time::sleep(Duration::from_millis(300)).await;
        match orders.create(&PostParams::default(), &untyped).await {
            Ok(_) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "could not store {name} past the schema: {e}"
            ),
        }
    }
    install_crd(&env.client).await;
    let probe = {
        let mut p = untyped.clone();
        p.metadata.name = Some(format!("{name}-probe"));
        p
    };
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while orders.create(&dry, &probe).await.is_ok() {
        assert!(Instant::now() < deadline, "the CRD's bounds are not back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A ProxyOrder spec value for tests that need the typed form.
#[allow(dead_code)]
pub fn spec(v: Value) -> ProxyOrderSpec {
    serde_json::from_value(v).unwrap()
}

fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/proxy-order-operator")
}

pub fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Renders the chart (without CRDs; the tests install those) as release `ns` into namespace
/// `ns`, with `sets` as extra `--set` values, applies it, and returns the name of its
/// ServiceAccount.
pub fn install_chart(ns: &str, sets: &[&str]) -> String {
    let mut helm = Command::new("helm");
    helm.args([
        "template",
        ns,
        chart_dir().to_str().unwrap(),
        "--namespace",
        ns,
        "--set",
        "installCrds=false",
        // The `helm test` Pod is no part of the installation (and creating it races with the
        // namespace's default ServiceAccount).
        "--skip-tests",
    ]);
    for set in sets {
        helm.args(["--set", set]);
    }
    let rendered = run(&mut helm, "helm template");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs");
    let file = dir.join(format!("{ns}-chart.yaml"));
    std::fs::write(&file, rendered).unwrap();
    let applied = run(
        Command::new("kubectl").args([
            "apply",
            "--namespace",
            ns,
            "-o",
            "name",
            "-f",
            file.to_str().unwrap(),
        ]),
        "kubectl apply of the chart",
    );
    applied
        .lines()
        .find_map(|l| l.strip_prefix("serviceaccount/"))
        .expect("the chart renders a ServiceAccount")
        .to_string()
}

pub fn uninstall_chart(ns: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs");
    let file = dir.join(format!("{ns}-chart.yaml"));
    let _ = Command::new("kubectl")
        .args(["delete", "--ignore-not-found", "--wait=false", "-f"])
        .arg(&file)
        .output();
}

/// A copy of the test's kubeconfig whose user impersonates the ServiceAccount `ns/sa`, with the
/// groups Kubernetes gives ServiceAccounts.
pub fn impersonating_kubeconfig(ns: &str, sa: &str, dir: &std::path::Path) -> PathBuf {
    let path = std::env::var("KUBECONFIG").unwrap();
    let mut kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    for named in kc.auth_infos.iter_mut() {
        if let Some(info) = named.auth_info.as_mut() {
            info.impersonate = Some(format!("system:serviceaccount:{ns}:{sa}"));
            info.impersonate_groups = Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ]);
        }
    }
    let out = dir.join(format!("{ns}-impersonating.kubeconfig"));
    std::fs::write(&out, serde_yaml::to_string(&kc).unwrap()).unwrap();
    out
}
