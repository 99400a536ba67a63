//! The cost guardrail: a quantity increase above the ProxyOrder's `spec.maxQuantity` or its
//! ProxyProvider's `maxQuantity` is not sent until the annotation `proxy-solutions.net/approve`
//! names its hash (on the ProxyOrder, or on the ProxyProvider for the provider's limit, which
//! tenants cannot annotate).

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use sha2::{Digest, Sha256};

use super::{Inputs, Observed};
use proxy_order_api::{APPROVE_ANNOTATION, PlannedChange, annotations::ApproveOn};

pub use proxy_order_api::annotations::approvals;

/// The limits a quantity change from `have` to `want` exceeds: one planned change for each,
/// `approved` when the approve annotation names its hash. Empty when no limit is exceeded
/// (including every decrease). Approved changes stay listed until the change is sent, so that
/// their hash, and with it the approval, survives a wait (an active order's term, another
/// limit's approval).
pub(super) fn guarded_quantity(
    inp: &Inputs,
    obs: &Observed,
    have: u32,
    want: u32,
) -> Vec<PlannedChange> {
    if want <= have {
        return Vec::new();
    }
    let mut limits = Vec::new();
    if let Some(limit) = inp.spec.max_quantity {
        let approved = approvals(inp.annotations.get(APPROVE_ANNOTATION).map(String::as_str));
        limits.push((ApproveOn::ProxyOrder, limit, approved));
    }
    if let Some(p) = &obs.provider_limit {
        limits.push((
            ApproveOn::ProxyProvider(p.provider.clone()),
            p.max_quantity,
            p.approvals.clone(),
        ));
    }
    limits
        .into_iter()
        .filter(|(_, limit, _)| want > *limit)
        .map(|(approve_on, limit, approved)| {
            let mut planned = PlannedChange {
                hash: String::new(),
                field: "quantity".to_string(),
                from: have,
                to: want,
                limit,
                approve_on: approve_on.to_status(),
                held_since: None,
                approved: false,
            };
            // The same change still held since an earlier reconcile keeps its time, and so its
            // hash; a new one (or the same one back after it was sent) starts now.
            planned.held_since = inp
                .status
                .planned_changes
                .iter()
                .find(|p| same_change(p, &planned))
                .map_or_else(|| Some(whole_seconds(&obs.now)), |p| p.held_since.clone());
            planned.hash = change_hash(inp, &planned);
            planned.approved = approved.contains(&planned.hash);
            planned
        })
        .collect()
}

/// Whether `a` and `b` hold back the same change (their times and hashes aside).
fn same_change(a: &PlannedChange, b: &PlannedChange) -> bool {
    (&a.field, a.from, a.to, a.limit, &a.approve_on)
        == (&b.field, b.from, b.to, b.limit, &b.approve_on)
}

/// `t` without its fraction of a second: the status stores whole seconds, and the hash must be
/// the same before and after the round trip.
fn whole_seconds(t: &Time) -> Time {
    Time(Timestamp::from_second(t.0.as_second()).unwrap_or(t.0))
}

/// Identifies one planned change: this ProxyOrder (UID), its order, where it is approved, the
/// current value, the target, the limit and when it was first held. A change of any of them
/// needs a new approval. (A change held before `heldSince` existed has none and keeps its hash.)
fn change_hash(inp: &Inputs, p: &PlannedChange) -> String {
    let mut h = Sha256::new();
    let order = inp.spec.order_id.to_string();
    let mut values = vec![p.from.to_string(), p.to.to_string(), p.limit.to_string()];
    if let Some(since) = &p.held_since {
        values.push(since.0.as_second().to_string());
    }
    for part in [
        inp.uid,
        order.as_str(),
        p.approve_on.as_str(),
        p.field.as_str(),
    ]
    .into_iter()
    .chain(values.iter().map(String::as_str))
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `Synced` message for changes waiting for approval.
pub(super) fn held_message(planned: &[PlannedChange]) -> String {
    planned
        .iter()
        .map(|p| {
            let on = match p.approval_target() {
                Some(ApproveOn::ProxyOrder) => "this ProxyOrder".to_string(),
                _ => p.approve_on.clone(),
            };
            format!(
                "quantity increase from {} to {} exceeds the limit of {} and is not sent until \
                 {on} is annotated {APPROVE_ANNOTATION}: {}",
                p.from, p.to, p.limit, p.hash
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
