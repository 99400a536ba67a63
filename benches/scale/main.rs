//! Scale benchmark: N ProxyOrders against the real API server (KUBECONFIG), the provider
//! simulator (in-process) and the release operator binary (its own process).
//!
//! Run with `make bench` (starts and stops a local control plane; `BENCH_N`, default 1000).
//! It prints figures and writes `docs/benchmarks.md` with its chart `docs/benchmarks-ready.svg`;
//! it never fails on timings, only when something is functionally broken (operator does not
//! start or dies, orders never become Ready, an edit never reaches its Secret) or when it cannot
//! write its output.
//!
//! Environment: `BENCH_N` (orders, default 1000), `BENCH_OPERATOR` (operator binary, default
//! `target/release/proxy-order-operator`), `BENCH_OUT` (markdown file, default
//! `docs/benchmarks.md`; the chart goes next to it as `<stem>-ready.svg`; `-` to only print
//! the markdown and write no file).

mod apiserver;
mod baseline;
mod chart;
mod cluster;
mod config;
mod converge;
mod edits;
mod idle;
mod memory;
mod operator;
mod provider;
mod report;

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{Api, api::DeleteParams};
use proxy_order_api::ProxyOrder;
use proxy_order_testkit::{KEY_SECRET, put_secret_in, runtime, sim_clear_requests, sim_requests};

use crate::{
    cluster::Cluster,
    config::Config,
    memory::{Memory, mem},
    provider::{classify, start_simulator},
    report::Report,
};

const API_KEY: &str = "bench-api-key";
const FIRST_ID: u64 = 100_000;
/// Concurrent create tasks (ProxyOrders and the baselines alike).
const CREATE_TASKS: usize = 8;
const CREATE_PORT: u16 = 8100;
const EDIT_PORT: u16 = 8200;
const POLL: Duration = Duration::from_millis(500);
const EDITS_PER_S: u64 = 20;

fn main() {
    if let Err(e) = runtime().block_on(run()) {
        eprintln!("bench: FAILED: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let cfg = Config::from_env()?;
    let n = cfg.n;

    // Set-up: the cluster, the simulator, the API-key Secret and the operator.
    let cluster = Cluster::set_up(n, &cfg.operator_bin).await?;
    let client = &cluster.client;
    let sim = start_simulator(n).await?;
    let admin = sim.admin_url();
    let http = reqwest::Client::new();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &cluster.ns);
    put_secret_in(client, &cluster.ns, KEY_SECRET, "api-key", API_KEY).await;
    let mut op = operator::start(
        &cfg.operator_bin,
        &cluster.ns,
        &sim.base_url(),
        cfg.refresh_s,
    )
    .await?;
    let mem_start = mem(op.pid())?;
    sim_clear_requests(&http, &admin).await?;

    // 1. Convergence.
    let orders: Api<ProxyOrder> = Api::namespaced(client.clone(), &cluster.ns);
    let convergence = converge::converge(n, &orders, &secrets, &mut op).await?;
    let mem_converged = mem(op.pid())?;

    // 2. Provider calls for convergence.
    let conv_calls = classify(&sim_requests(&http, &admin).await?);

    // 3. Idle window.
    let idle = idle::idle_window(n, cfg.idle_s, client, &cluster.ns, &http, &admin).await?;
    op.alive()?;
    let mem_idle = mem(op.pid())?;

    // 4. Edit latency: spec.port of min(N, 200) orders at ~20/s, until the Secret shows it.
    let edits = edits::edits(n, &orders, &secrets, &mut op, &http, &admin).await?;
    let mem_end = mem(op.pid())?;

    // Baselines against the same API server, operator stopped.
    drop(op);
    let baselines = baseline::baselines(n, client, &cluster.baseline_ns).await?;
    let nss: Api<Namespace> = Api::all(client.clone());
    for name in [&cluster.ns, &cluster.baseline_ns] {
        let _ = nss.delete(name, &DeleteParams::background()).await;
    }
    sim.shutdown().await;

    // Report.
    let report = Report {
        n,
        refresh_s: cfg.refresh_s,
        idle_s: cfg.idle_s,
        k8s_version: &cluster.k8s_version,
        convergence: &convergence,
        conv_calls: &conv_calls,
        idle: &idle,
        edits: &edits,
        baselines: &baselines,
        memory: &Memory {
            started: mem_start,
            converged: mem_converged,
            idle: mem_idle,
            end: mem_end,
        },
    };
    report::publish(&report, cfg.out_path.as_deref(), cfg.chart_path.as_deref())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn order_name(i: usize) -> String {
    format!("bench-{}", FIRST_ID + i as u64)
}
