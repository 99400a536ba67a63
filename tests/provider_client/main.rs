//! The provider client against the simulator, over real HTTP: every endpoint and every error
//! class. Each test starts its own simulator on a free loopback port.
//!
//! `endpoints.rs`: each endpoint; `errors.rs`: each error class; `bad_bodies.rs`: malformed,
//! truncated and huge answers; `golden_errors.rs`: the error bodies of `wire/tests/golden/`;
//! `probe.rs`: the credentials probe through the simulator's proxy listeners.
//! Their shared helpers are in `support.rs`.

mod bad_bodies;
mod endpoints;
mod errors;
mod golden_errors;
mod probe;
mod support;
