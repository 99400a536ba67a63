//! Requests that must not be repeated by accident: the intent recorded before them, when the
//! outcome of an interrupted one may be read back, and the body that reads it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Inputs, Observed, hashes::request_hash};
use crate::provider::ChangeRequest;
use proxy_order_api::PendingRequest;

/// The intent to record before a request that must not be repeated by accident.
pub(super) fn pending_for(
    req: &ChangeRequest,
    rotation: Option<String>,
    inp: &Inputs,
    obs: &Observed,
) -> Option<PendingRequest> {
    let gen_password = req.gen_password == Some(true);
    let remove = req.remove_proxies.clone().unwrap_or_default();
    if !gen_password && remove.is_empty() {
        return None;
    }
    Some(PendingRequest {
        hash: request_hash(req, inp, obs),
        gen_password,
        remove_proxies: remove,
        previous_password_fingerprint: inp.status.password_fingerprint.clone(),
        rotation,
        started_at: obs.now.clone(),
        read_not_before: None,
    })
}

/// When a request sent at `sent` can no longer be in progress at the provider: the call itself
/// may have taken up to one timeout and a `Time` keeps whole seconds, so two timeouts and a
/// second after it.
pub(super) fn answer_settled_after(sent: &Time, obs: &Observed) -> Option<Time> {
    let grace = k8s_openapi::jiff::SignedDuration::try_from(
        obs.answer_grace * 2 + std::time::Duration::from_secs(1),
    )
    .ok()?;
    sent.0.checked_add(grace).ok().map(Time)
}

/// The earliest time the outcome of an interrupted request may be read back: the recorded
/// `readNotBefore`, and never before its start plus the answer grace (a process that died with
/// the call in flight recorded only the start).
pub(super) fn read_not_before(p: &PendingRequest, obs: &Observed) -> Option<Time> {
    let from_start = answer_settled_after(&p.started_at, obs);
    match (p.read_not_before.clone(), from_start) {
        (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// A change body that changes nothing and returns the live credentials, if one is known.
/// Observing, only the empty body: re-sending the port would change it back if it changed
/// behind the operator's back.
pub(super) fn read_request(inp: &Inputs, obs: &Observed) -> Option<ChangeRequest> {
    if obs.empty_change_read {
        return Some(ChangeRequest::default());
    }
    if inp.spec.observes() {
        return None;
    }
    let access = inp.status.access.as_ref()?;
    Some(ChangeRequest {
        port: Some(access.port),
        ..Default::default()
    })
}
