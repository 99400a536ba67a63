//! Fault and crash suites: the operator against a real API server (KUBECONFIG) and the
//! provider simulator, with the provider failing and the operator or the API server going
//! away mid-work. Each suite asserts that every order converges and that nothing the provider
//! must not see twice (a `gen_password` for one rotation token, an IP in `remove_proxies`)
//! was carried out twice; it prints what it measured.
//!
//! Run with `make test-faults` (full: 200 orders, 20 crash runs per kill point) or as part of
//! `make test` (short). Environment:
//!
//! - `FAULTS_SUITES`: `faults,crash` (default both)
//! - `FAULTS_N`: orders in the fault suite (default 200)
//! - `FAULTS_RATE`: share of provider requests that fail (default 0.3)
//! - `FAULTS_RESTART`: `1` restarts the API server once mid-run through
//!   `tests/controlplane/restart-apiserver.sh`, `0` does not; by default it does when the
//!   cluster is the local control plane (`tests/controlplane/`), the only one it can restart
//! - `FAULTS_BACKOFF_MAX`: the operator's `--backoff-max` in the fault suite (default 30s)
//! - `CRASH_RUNS`: runs per kill point in the crash suite (default 20)

#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

mod apiserver;
mod crash;
mod fault;
mod requests;

use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};

use crate::{crash::crash_suite, fault::fault_suite};

const ROTATE: &str = "proxy-solutions.net/rotate-password";
const FAULT_PORT: u16 = 8100;
/// The operator's provider timeout in the fault suite, and the injected delay that exceeds it.
const PROVIDER_TIMEOUT_S: u64 = 2;
const TIMEOUT_FAULT_MS: u64 = 2_300;
/// Default retry ceiling (`--backoff-max`) in the fault suite: the operator's default 5 minutes
/// would only stretch the run.
const BACKOFF_MAX: &str = "30s";
const KILL_POINTS: [&str; 4] = [
    "before-provider-call",
    "after-provider-call",
    "after-secret-write",
    "after-status-write",
];

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run()) {
        Ok(()) => eprintln!("faults: all suites passed"),
        Err(e) => {
            eprintln!("faults: FAILED: {e:#}");
            std::process::exit(1);
        }
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not valid")),
        _ => Ok(default),
    }
}

async fn run() -> Result<()> {
    ensure!(
        std::env::var_os("KUBECONFIG").is_some(),
        "the fault suites need a cluster: run them with `make test-faults` (KUBECONFIG is not set)"
    );
    let suites = std::env::var("FAULTS_SUITES").unwrap_or_else(|_| "faults,crash".into());
    for suite in suites.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let started = Instant::now();
        let text = match suite {
            "faults" => fault_suite().await.context("fault suite")?,
            "crash" => crash_suite().await.context("crash suite")?,
            other => bail!("unknown suite {other:?} in FAULTS_SUITES (faults, crash)"),
        };
        // Printed as soon as each suite ends, so a later failure keeps the earlier figures.
        println!(
            "{text}\n({suite} suite: {:.0} s)\n",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
