//! Fault, crash and relist suites: the operator against a real API server (KUBECONFIG) and
//! the provider simulator, with the provider failing and the operator or the API server going
//! away mid-work. Each suite asserts that every order converges and that nothing the provider
//! must not see twice (a `gen_password` for one rotation token, an IP in `remove_proxies`)
//! was carried out twice; it prints what it measured.
//!
//! Run with `make test-faults` (full: 200 orders, 20 crash runs per kill point) or as part of
//! `make test` (short). Environment:
//!
//! - `FAULTS_SUITES`: `faults,crash,relist` (default all three; relist only restarts the API
//!   server of the local control plane, and is skipped on another cluster)
//! - `FAULTS_N`: orders in the fault suite (default 200)
//! - `FAULTS_RATE`: share of provider requests that fail (default 0.3)
//! - `FAULTS_RESTART`: `1` restarts the API server once mid-run through
//!   `tests/controlplane/restart-apiserver.sh`, `0` does not; by default it does when the
//!   cluster is the local control plane (`tests/controlplane/`), the only one it can restart
//! - `FAULTS_BACKOFF_MAX`: the operator's `--backoff-max` in the fault suite (default 30s)
//! - `CRASH_RUNS`: runs per kill point in the crash suite (default 20)
//!
//! The scenarios' harness ([`proxy_order_testkit::Env`]) is the one the end-to-end suite uses.

mod apiserver;
mod crash;
mod fault;
mod relist;
mod requests;

use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use proxy_order_testkit::{require_kubeconfig, runtime};

use crate::{crash::crash_suite, fault::fault_suite, relist::relist_suite};

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
    match runtime().block_on(run()) {
        Ok(()) => eprintln!("faults: all suites passed"),
        Err(e) => {
            eprintln!("faults: FAILED: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn run() -> Result<()> {
    require_kubeconfig("the fault suites need a cluster: run them with `make test-faults`")?;
    let suites = std::env::var("FAULTS_SUITES").unwrap_or_else(|_| "faults,crash,relist".into());
    for suite in suites.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let started = Instant::now();
        let text = match suite {
            "faults" => fault_suite().await.context("fault suite")?,
            "crash" => crash_suite().await.context("crash suite")?,
            "relist" => relist_suite().await.context("relist suite")?,
            other => bail!("unknown suite {other:?} in FAULTS_SUITES (faults, crash, relist)"),
        };
        // Printed as soon as each suite ends, so a later failure keeps the earlier figures.
        println!(
            "{text}\n({suite} suite: {:.0} s)\n",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
