//! Fault injection: make provider-API calls slow, fail with a status, lose the connection, or
//! answer with a bad body (malformed, of the wrong shape, huge, or cut off mid-body).
//!
//! Faults are registered through `POST /_sim/faults` and evaluated for every provider-API
//! request *before* authentication (they simulate the provider being unavailable).
//!
//! `spec.rs` is what a fault is (the spec `POST /_sim/faults` takes, its validation and the
//! answer it decides); `set.rs` holds the registered faults and decides them per request.

mod set;
mod spec;

pub use set::{Fault, FaultOutcome, FaultSet};
pub use spec::{
    DEFAULT_FAULT_CONTENT_TYPE, Endpoint, FaultAction, FaultBody, FaultSpec, FaultTarget,
    MAX_HUGE_BODY_BYTES,
};

/// A fault spec from JSON that must be valid, for the unit tests of both parts.
#[cfg(test)]
fn spec(v: serde_json::Value) -> FaultSpec {
    let s: FaultSpec = serde_json::from_value(v).unwrap();
    s.validate().unwrap();
    s
}
