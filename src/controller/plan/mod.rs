//! The decision: given a ProxyOrder, what the cluster and the provider look like, and the time,
//! which (at most one) provider call to make and what status and Secret follow. Pure: no IO, no
//! clock, so nearly all behaviour is tested here.

mod after_call;
mod decide;
mod desired;
mod guardrail;
mod hashes;
mod observe_only;
mod pending;
mod revoke;
mod secret;
mod status;
#[cfg(test)]
mod tests;
mod types;

pub use after_call::after_call;
pub use decide::{is_paused, plan};
pub use guardrail::approvals;
pub use hashes::{fingerprint_salt, inputs_hash, pw_fp, request_hash};
pub use revoke::revoke_refusal;
pub use status::reason_for;
pub use types::{
    Apply, Call, CallKind, Inputs, MissingSecret, Observed, OwnedSecret, Plan, ProviderLimit,
    Requeue, Settle,
};
