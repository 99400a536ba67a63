//! The operator binary as a process of its own: started (optionally at a failpoint), stopped,
//! extra replicas and shards, its readiness, metrics and log.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::{Env, free_port};

impl Env {
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

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
