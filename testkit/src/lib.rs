//! What the operator's cluster suites and its scale benchmark share.
//!
//! - For every suite: connecting to the API server named by KUBECONFIG, installing the CRDs,
//!   the operator binary as a process of its own ([`OperatorCommand`], [`OperatorProcess`]),
//!   the provider simulator and its request log, polling ([`poll`]), the runtime of a suite
//!   without the test harness ([`runtime`], [`env_or`]).
//! - For the scenarios (tests/e2e, and the fault and crash suites in tests/faults): [`Env`], one
//!   scenario's namespace, simulator and operator, in a fresh namespace per scenario, alone in
//!   it, as the Helm chart installs it, or cluster-wide.
//!
//! The scenarios run the operator binary that cargo builds for the operator package's
//! integration tests ([`operator_bin`]).

mod chart;
mod cluster;
mod crd;
mod env;
mod leaks;
mod operator;
mod paths;
mod process;
mod simulator;
mod suite;
pub mod tenancy;
mod waits;

pub use self::{
    chart::{impersonating_kubeconfig, install_chart, render_only, run, uninstall_chart},
    cluster::{
        condition, conditions_true, connect, create_namespace, events_about, put_secret_in,
        require_kubeconfig, secret_data_in, secret_text,
    },
    crd::{CRD_SCHEMA, apply_crd, install_crds, spec, store_past_the_schema},
    env::{Env, create_e2e_namespace, e2e_client},
    leaks::assert_none_leaked,
    paths::{operator_bin, plugin_bin, scratch_dir, workspace_root},
    process::{OperatorCommand, OperatorProcess, free_port, tail},
    simulator::{body, proxy_ips, sim_clear_requests, sim_requests, start_simulator},
    suite::{env_or, run_on_tasks, runtime},
    waits::{poll, settle},
};

/// The provider API key of the scenarios (a canary: it must never appear in a log, an Event
/// or a status).
pub const API_KEY: &str = "e2e-api-key-canary-7Q2";
/// The Secret (key `api-key`) that holds the provider API key in a scenario's namespace.
pub const KEY_SECRET: &str = "provider-key";
/// The simulator's example orders: active, expired (with proxies to remove), mobile.
pub const ACTIVE: u64 = 10000;
pub const EXPIRED: u64 = 10001;
pub const MOBILE: u64 = 10002;
