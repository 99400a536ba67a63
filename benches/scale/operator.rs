//! The operator under test: the release binary started as its own process with the
//! benchmark's flags.

use std::path::Path;

use anyhow::Result;
use proxy_order_testkit::{OperatorCommand, OperatorProcess, free_port};

/// Starts the operator (release build) as its own process, watching `ns` with the given
/// refresh interval, and waits until it answers `/readyz`. Its log goes to
/// `target/tmp/bench-logs/<ns>.log`.
pub(crate) async fn start(
    operator_bin: &Path,
    ns: &str,
    provider_url: &str,
    refresh_s: u64,
) -> Result<OperatorProcess> {
    let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-logs");
    std::fs::create_dir_all(&log_dir)?;
    let mut op = OperatorCommand::new(operator_bin, provider_url, free_port());
    op.command()
        .args([
            "--namespace",
            ns,
            "--concurrency",
            "16",
            "--rate-limit",
            "1000",
            "--refresh-interval",
            &format!("{refresh_s}s"),
        ])
        .env("RUST_LOG", "warn");
    let mut op = op.spawn("operator", &log_dir.join(format!("{ns}.log")), false)?;
    op.wait_ready().await?;
    Ok(op)
}
