//! The operator binary as a process of its own: started (optionally at a failpoint), stopped,
//! extra replicas and shards, its readiness, metrics and log.

use std::time::Duration;

use proxy_order_operator::failpoint;

use crate::{Env, OperatorCommand, OperatorProcess, free_port, operator_bin, poll};

impl Env {
    /// Starts the operator; with `failpoint`, it aborts at that point.
    pub async fn start_operator(&mut self, failpoint: Option<&str>) {
        self.launch_operator(failpoint, None).await;
    }

    /// Starts the operator so that it pauses `ms` milliseconds at `point` (once, at its first
    /// passage) instead of dying there, and waits until it is ready.
    pub async fn start_operator_pausing(&mut self, point: &str, ms: u64) {
        self.launch_operator(Some(point), Some(ms)).await;
    }

    /// The operator's command line with the scenario's scope and flags and a metrics port;
    /// the operator's own kubeconfig when it impersonates the chart's ServiceAccount.
    fn operator_command(
        &self,
        scope: &[String],
        metrics_port: u16,
        rust_log: &str,
    ) -> OperatorCommand {
        let mut op = OperatorCommand::new(operator_bin(), &self.sim.base_url(), metrics_port);
        let cmd = op.command();
        cmd.args(scope)
            .args(&self.extra_args)
            .env("RUST_LOG", rust_log);
        if let Some(kc) = &self.operator_kubeconfig {
            cmd.env("KUBECONFIG", kc);
        }
        op
    }

    async fn launch_operator(&mut self, failpoint: Option<&str>, pause_ms: Option<u64>) {
        self.stop_operator();
        let mut op = self.operator_command(
            &self.scope_args,
            self.metrics_port,
            "info,proxy_order_operator=debug",
        );
        if let Some(fp) = failpoint {
            op.command().env(failpoint::ENV, fp);
        }
        if let Some(ms) = pause_ms {
            op.command().env(failpoint::PAUSE_ENV, ms.to_string());
        }
        let op = op
            .spawn("operator", &self.log, true)
            .expect("operator binary starts");
        let op = self.operator.insert(op);
        if failpoint.is_none() || pause_ms.is_some() {
            op.wait_ready().await.unwrap_or_else(|e| panic!("{e:#}"));
        }
    }

    /// Starts one more operator process with its own metrics port and log file, for tests
    /// with several replicas. It is not waited on, and is stopped when dropped.
    pub fn spawn_replica(&self, tag: &str, extra: &[&str]) -> OperatorProcess {
        let mut op = self.operator_command(&self.scope_args, free_port(), "info");
        op.command().args(extra);
        op.spawn(
            &format!("replica {tag}"),
            &self.log.with_extension(format!("{tag}.log")),
            false,
        )
        .expect("operator binary starts")
    }

    /// Starts one more cluster-wide operator (see [`Env::start_cluster_wide`]) that reconciles
    /// only the objects matching `selector`, with its own metrics port and log file, the same
    /// kubeconfig (impersonation) and flags as the test's operator, and waits until it is
    /// ready. It is stopped when dropped.
    pub async fn start_shard(&self, tag: &str, selector: &str) -> OperatorProcess {
        let scope = [
            "--operator-namespace".to_string(),
            self.ns.clone(),
            "--selector".to_string(),
            selector.to_string(),
        ];
        let mut shard = self
            .operator_command(&scope, free_port(), "info,proxy_order_operator=debug")
            .spawn(
                &format!("shard {tag}"),
                &self.log.with_extension(format!("{tag}.log")),
                false,
            )
            .expect("operator binary starts");
        shard.wait_ready().await.unwrap_or_else(|e| panic!("{e:#}"));
        shard
    }

    /// Waits for the operator process to end by itself (after a failpoint), up to 30 s.
    pub async fn wait_operator_exit(&mut self) {
        let exited = poll(
            Duration::from_secs(30),
            Duration::from_millis(50),
            async || {
                let exited = self.operator.as_mut().is_some_and(|op| op.exited());
                Ok::<_, std::convert::Infallible>(exited.then_some(()))
            },
        )
        .await;
        assert!(
            matches!(exited, Ok(Some(()))),
            "operator did not stop at its failpoint"
        );
        self.operator = None;
    }

    /// Fails, with the log's tail, when the operator process has exited.
    pub fn operator_alive(&mut self) -> anyhow::Result<()> {
        match self.operator.as_mut() {
            Some(op) => op.alive(),
            None => Ok(()),
        }
    }

    /// Sends `signal` (a name `kill` knows: `STOP`, `CONT`) to the operator process.
    pub fn signal_operator(&self, signal: &str) -> anyhow::Result<()> {
        self.operator
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no operator process"))?
            .signal(signal)
    }

    /// Stops (SIGKILL) the operator process.
    pub fn stop_operator(&mut self) {
        self.operator = None;
    }

    /// The operator process's resident memory (`VmRSS`), in KiB.
    pub fn operator_rss_kib(&self) -> u64 {
        let pid = self.operator.as_ref().expect("the operator runs").pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
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
}
