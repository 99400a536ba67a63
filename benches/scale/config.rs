//! The benchmark's settings from the environment: N, the operator binary, where the report
//! and its chart go, and the refresh interval and idle window derived from N.

use std::path::PathBuf;

use anyhow::{Result, ensure};
use proxy_order_testkit::{env_or, require_kubeconfig};

/// The operator's refresh interval, shortened so that the idle window covers two of them:
/// 10 s, or N/100 s for large N (each refresh reconciles every ProxyOrder, and a 10 s interval
/// at 10,000 orders would measure the refresh instead of the convergence).
fn refresh_interval_s(n: usize) -> u64 {
    (n as u64 / 100).max(10)
}

/// The idle window: two and a half refresh intervals.
fn idle_window_s(n: usize) -> u64 {
    refresh_interval_s(n) * 5 / 2
}

pub(crate) struct Config {
    pub(crate) n: usize,
    pub(crate) refresh_s: u64,
    pub(crate) idle_s: u64,
    pub(crate) operator_bin: PathBuf,
    /// The markdown report; `None` only prints it.
    pub(crate) out_path: Option<PathBuf>,
    /// The chart, next to the markdown.
    pub(crate) chart_path: Option<PathBuf>,
}

impl Config {
    /// Reads the environment; fails without KUBECONFIG or the operator binary.
    pub(crate) fn from_env() -> Result<Self> {
        require_kubeconfig("the benchmark needs a cluster: run it with `make bench`")?;
        let n: usize = env_or("BENCH_N", 1000)?;
        ensure!(n >= 1, "BENCH_N must be at least 1");
        let (refresh_s, idle_s) = (refresh_interval_s(n), idle_window_s(n));
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let operator_bin = std::env::var_os("BENCH_OPERATOR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/proxy-order-operator"));
        ensure!(
            operator_bin.exists(),
            "{} does not exist: run `cargo build --release --bins` first",
            operator_bin.display()
        );
        let out_path = match std::env::var("BENCH_OUT") {
            Ok(p) if p == "-" => None,
            Ok(p) => Some(PathBuf::from(p)),
            Err(_) => Some(root.join("docs/benchmarks.md")),
        };
        // The chart goes next to the markdown: benchmarks.md -> benchmarks-ready.svg.
        let chart_path = out_path.as_ref().map(|md| {
            let stem = md.file_stem().unwrap_or_default().to_string_lossy();
            md.with_file_name(format!("{stem}-ready.svg"))
        });
        Ok(Config {
            n,
            refresh_s,
            idle_s,
            operator_bin,
            out_path,
            chart_path,
        })
    }
}
