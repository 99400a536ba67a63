//! Test environment for the end-to-end scenarios: a real API server (from KUBECONFIG), the
//! provider simulator (a real HTTP server), and the operator binary as a separate process,
//! in a fresh namespace per test. The fault suite (tests/faults) includes this file by path.

// `#[path]` finds the submodules in support/ both when this file is the e2e suite's
// `mod support` and when tests/faults includes it by path (a plain `mod` would then look
// beside this file).
#[path = "support/chart.rs"]
mod chart;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/crd.rs"]
mod crd;
#[path = "support/env.rs"]
mod env;
#[path = "support/leaks.rs"]
mod leaks;
#[path = "support/operator.rs"]
mod operator;
#[path = "support/simulator.rs"]
mod simulator;
#[path = "support/waits.rs"]
mod waits;

// Each suite that includes this file uses only some of these.
#[allow(unused_imports)]
pub use self::{
    chart::{impersonating_kubeconfig, install_chart, run, uninstall_chart},
    cluster::{condition, create_namespace, events_about, put_secret_in},
    crd::{CRD_SCHEMA, install_crd, spec, store_past_the_schema},
    env::{Env, free_port, kube_env_check},
    leaks::assert_none_leaked,
    operator::{Shard, tail},
    simulator::body,
    waits::settle,
};

pub const API_KEY: &str = "e2e-api-key-canary-7Q2";
pub const KEY_SECRET: &str = "provider-key";
pub const ACTIVE: u64 = 10000;
pub const EXPIRED: u64 = 10001;
pub const MOBILE: u64 = 10002;
