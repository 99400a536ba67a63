//! The operator binary as a process of its own: its command line, its log file, waiting until
//! it is ready, noticing when it died, and stopping it.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result, bail, ensure};
use proxy_order_operator::failpoint;

use crate::poll;

/// A free TCP port on 127.0.0.1 (for the operator's metrics and health endpoints).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The command line of an operator process: the provider URL, the metrics (and `/readyz`)
/// address on 127.0.0.1, JSON logs, and no crash point unless the caller sets one. The caller
/// adds what the operator watches and any other flag through [`OperatorCommand::command`].
pub struct OperatorCommand {
    cmd: Command,
    metrics_port: u16,
}

impl OperatorCommand {
    pub fn new(bin: impl AsRef<OsStr>, provider_url: &str, metrics_port: u16) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args([
            "--provider-url",
            provider_url,
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--log-format",
            "json",
        ])
        .env_remove(failpoint::ENV)
        .env_remove(failpoint::PAUSE_ENV);
        OperatorCommand { cmd, metrics_port }
    }

    /// The command, for more flags and environment variables.
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Starts the operator with stdin closed and stdout and stderr into `log` (appended to
    /// when `append`, else started afresh). `name` says which operator in messages.
    pub fn spawn(mut self, name: &str, log: &Path, append: bool) -> Result<OperatorProcess> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {:?}", self.cmd.get_program()))?;
        Ok(OperatorProcess {
            name: name.to_string(),
            child,
            metrics_port: self.metrics_port,
            log: log.to_path_buf(),
        })
    }
}

/// A running operator started by [`OperatorCommand::spawn`]; killed (SIGKILL) when dropped.
pub struct OperatorProcess {
    name: String,
    child: Child,
    metrics_port: u16,
    /// Its stdout and stderr.
    pub log: PathBuf,
}

impl OperatorProcess {
    /// Waits up to 30 s until the operator answers `/readyz`; fails, with its log, when it
    /// exits first or is not ready by then.
    pub async fn wait_ready(&mut self) -> Result<()> {
        // reqwest (with the operator's features) needs the TLS provider even for plain HTTP.
        proxy_order_operator::provider::client::install_crypto_provider();
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        let ready = poll(
            Duration::from_secs(30),
            Duration::from_millis(100),
            async || {
                if let Ok(r) = reqwest::get(&url).await
                    && r.status().is_success()
                {
                    return Ok(Some(()));
                }
                if let Some(status) = self.child.try_wait()? {
                    bail!(
                        "{} exited early with {status}; log:\n{}",
                        self.name,
                        self.log_text()
                    );
                }
                Ok(None)
            },
        )
        .await?;
        ensure!(
            ready.is_some(),
            "{} not ready after 30 s; log:\n{}",
            self.name,
            self.log_text()
        );
        Ok(())
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Fails, with the log's tail, when the process has ended.
    pub fn alive(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "{} exited with {status}; log tail:\n{}",
                self.name,
                tail(&self.log_text(), 40)
            );
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a name `kill` knows: `TERM`, `STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) -> Result<()> {
        // The shell's own `kill`: a `kill` program is not on every machine.
        let status = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("kill -{signal} {}", self.pid()))
            .status()?;
        anyhow::ensure!(status.success(), "kill -{signal} {}: {status}", self.pid());
        Ok(())
    }

    /// Its `/readyz` status code, `None` when it does not answer.
    pub async fn readyz(&self) -> Option<u16> {
        proxy_order_operator::provider::client::install_crypto_provider();
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        reqwest::get(&url).await.ok().map(|r| r.status().as_u16())
    }

    /// The exit status, once the process has ended.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The port of its metrics and health endpoints.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a\nb", 5), "a\nb");
        assert_eq!(tail("", 3), "");
    }

    #[tokio::test]
    async fn a_process_that_exits_is_reported_with_its_log() {
        let dir = std::env::temp_dir().join(format!("testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("exits.log");
        // Not the operator: echo prints the command line into the log and exits at once.
        let cmd = OperatorCommand::new("echo", "http://127.0.0.1:1", free_port());
        let mut p = cmd.spawn("stand-in", &log, false).unwrap();
        let err = p.wait_ready().await.unwrap_err().to_string();
        assert!(err.starts_with("stand-in exited early with"), "{err}");
        assert!(err.contains("--log-format json"), "{err}");
        assert!(p.exited());
        assert!(p.alive().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
