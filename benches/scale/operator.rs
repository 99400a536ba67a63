//! The operator under test: the release binary started as its own process with the
//! benchmark's flags, its liveness check and its log.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

pub(crate) struct Operator {
    child: Child,
    pub(crate) log: PathBuf,
}

impl Operator {
    /// Starts the operator (release build) as its own process, watching `ns` with the given
    /// refresh interval, and waits until it answers `/readyz`.
    pub(crate) async fn start(
        operator_bin: &Path,
        ns: &str,
        provider_url: &str,
        refresh_s: u64,
        http: &reqwest::Client,
    ) -> Result<Self> {
        let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-logs");
        std::fs::create_dir_all(&log_dir)?;
        let log = log_dir.join(format!("{ns}.log"));
        let log_file = std::fs::File::create(&log)?;
        let metrics_port = free_port();
        let child = Command::new(operator_bin)
            .args([
                "--namespace",
                ns,
                "--provider-url",
                provider_url,
                "--metrics-addr",
                &format!("127.0.0.1:{metrics_port}"),
                "--concurrency",
                "16",
                "--rate-limit",
                "1000",
                "--refresh-interval",
                &format!("{refresh_s}s"),
                "--log-format",
                "json",
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", operator_bin.display()))?;
        let mut op = Operator { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http
                .get(format!("http://127.0.0.1:{metrics_port}/readyz"))
                .send()
                .await
                && r.status().is_success()
            {
                break;
            }
            op.alive()?;
            ensure!(Instant::now() < deadline, "operator not ready after 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(op)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn alive(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "operator exited with {status}; log tail:\n{}",
                tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 30)
            );
        }
        Ok(())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
