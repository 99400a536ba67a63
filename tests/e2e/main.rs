//! End-to-end scenarios from a user's point of view: real API server, real simulator, the
//! operator binary as its own process. Run with `make test-e2e` (it starts the control plane).
//! Provider calls are counted from the simulator's request log, never from operator logs.
//! The harness ([`proxy_order_testkit::Env`]) is the workspace's test kit (testkit/).

mod admission;
mod conflicts;
mod crash;
mod deployment;
mod lifecycle;
mod plugin;
mod policies;
mod provider_errors;
mod quantity;
mod rollout;
mod rotation;
mod secrets;
mod tenancy;
mod verify;

/// The password canary of the single-namespace scenarios.
const PW_CANARY: &str = "pw-canary-Zx81q";
