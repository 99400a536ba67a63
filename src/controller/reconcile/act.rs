//! The act step: one provider call for a planned change or read, with its rate-limit token,
//! its recorded intent when the request must not repeat, and its Events.

use std::time::{Duration, Instant};

use kube::{
    Api, ResourceExt,
    runtime::{events::EventType, reflector::ObjectRef},
};
use tracing::{info, warn};

use super::{publish, publish_in_background, write::patch_status_at};
use crate::controller::{
    context::{Context, UNSAVED_TTL, Unsaved},
    gateway::Throttled,
    observe::Observation,
    plan::{self, Call, CallKind, Inputs, Settle},
};
use crate::{
    error::{Error, Result},
    provider::{ChangeRequest, Order, QueryOptions},
};
use proxy_order_api::{
    ProxyOrder, ProxyOrderStatus,
    conditions::Reason,
    events::{EventOnlyReason, EventReason},
};

/// What [`perform`] did.
pub(super) enum Performed {
    /// The outcome, and the status now stored (the baseline for the final write), with the
    /// resourceVersion the intent write left when there was one: the final status write is
    /// conditional on it, so nothing else (another replica, a user) changed the ProxyOrder in
    /// between unnoticed.
    Done(Box<(Settle, ProxyOrderStatus)>, Option<String>),
    /// The intent could not be recorded because the ProxyOrder changed since it was read.
    Refetch,
    /// No rate-limit token for the API key before this long; nothing was recorded or sent.
    Throttled(Duration),
}

/// Carries out one provider call: a rate-limit token first (without waiting for one), then the
/// intent when the request must not repeat, then the call, then (in the caller) the Secret and
/// the status.
pub(super) async fn perform(
    po: &ProxyOrder,
    ctx: &Context,
    api: &Api<ProxyOrder>,
    inp: &Inputs<'_>,
    obs: &Observation,
    call: &Call,
) -> Result<Performed> {
    let Some(account) = obs.account.as_ref() else {
        return Err(Error::MissingMetadata("API key for a planned call"));
    };
    let fields = changed_fields(&call.request);
    let object = ObjectRef::from_obj(po);
    let request_hash = plan::request_hash(&call.request, inp, &obs.observed);
    // An answer the provider already gave for this request (or, for a read, any answer since
    // the last save) that could not be saved: use it instead of asking again. The intent it
    // came with (if any) is already stored.
    if let Some(order) = unsaved_answer(ctx, &object, inp.uid, call, &request_hash) {
        info!(name = %po.name_any(), order = po.spec.order_id, fields = %fields, kind = call.kind.name(), "saving the provider's earlier answer instead of calling again");
        let settle = plan::after_call(inp, &obs.observed, call, Ok(&order));
        return Ok(Performed::Done(
            Box::new((settle, inp.status.clone())),
            None,
        ));
    }
    ctx.fence.check()?;
    let permit = match ctx.gateway.permit(account) {
        Ok(permit) => permit,
        Err(Throttled(wait)) => return Ok(Performed::Throttled(wait)),
    };
    let mut baseline = inp.status.clone();
    let mut status_version = None;
    if let Some(pending) = call.pending() {
        baseline.pending_request = Some(pending.clone());
        // Compare-and-swap on the resourceVersion this decision was made from: two actors
        // that both saw no intent cannot both record one and call.
        match patch_status_at(api, &po.name_any(), &baseline, po.resource_version()).await {
            Err(Error::Kube(kube::Error::Api(s))) if s.code == 409 => {
                return Ok(Performed::Refetch);
            }
            other => status_version = other?,
        }
        ctx.written
            .note(inp.uid, po.resource_version(), status_version.clone());
        // Recording the intent took time: the lease must still outlast the call.
        ctx.fence.check()?;
    }
    let query = QueryOptions {
        lang: po.spec.lang,
        currency: po.spec.currency,
    };
    // Between the crash points `before-provider-call` and `after-provider-call`; a success
    // also updates the cached order lists.
    let result = permit.change(po.spec.order_id, &call.request, query).await;
    let settle = match &result {
        Ok(resp) => {
            // Kept until the Secret and status are written (`forget_unsaved`).
            ctx.unsaved.lock().insert(
                object,
                Unsaved {
                    uid: inp.uid.to_string(),
                    request_hash,
                    order: resp.order.clone(),
                    at: Instant::now(),
                },
            );
            let (reason, note) = match call.kind {
                CallKind::Apply(_) => (
                    EventReason::from(Reason::Applied),
                    format!("provider accepted a change of {fields}"),
                ),
                CallKind::Read => (
                    EventOnlyReason::CredentialsRead.into(),
                    "read the live credentials from the provider".to_string(),
                ),
            };
            info!(name = %po.name_any(), order = po.spec.order_id, fields = %fields, kind = call.kind.name(), "provider call succeeded");
            publish_in_background(ctx, po, reason, &format!("ChangeOrder({fields})"), note);
            plan::after_call(inp, &obs.observed, call, Ok(&resp.order))
        }
        Err(e) => {
            let reason = plan::reason_for(e);
            warn!(name = %po.name_any(), order = po.spec.order_id, fields = %fields, error = %e, "provider call failed");
            ctx.metrics
                .reconcile_errors
                .get_or_create(&crate::metrics::ErrorLabels {
                    reason: reason.to_string(),
                })
                .inc();
            // The error class is part of the action: Events are grouped by type, reason and
            // action, so a different failure gets its own Event (and note) instead of only
            // raising the count of the first one.
            publish(
                ctx,
                po,
                EventType::Warning,
                reason,
                &format!("ChangeOrder({fields}): {}", e.kind()),
                e.to_string(),
            )
            .await;
            plan::after_call(inp, &obs.observed, call, Err(e))
        }
    };
    Ok(Performed::Done(
        Box::new((settle, baseline)),
        status_version,
    ))
}

/// The unsaved answer for `object` that can stand in for `call`: one for the same ProxyOrder,
/// younger than [`UNSAVED_TTL`], and from the same request, or any for a read (it is the
/// latest the provider said). It stays until saved or expired; an unusable one is dropped.
fn unsaved_answer(
    ctx: &Context,
    object: &ObjectRef<ProxyOrder>,
    uid: &str,
    call: &Call,
    request_hash: &str,
) -> Option<Order> {
    let mut map = ctx.unsaved.lock();
    let entry = map.get(object)?;
    let usable = entry.uid == uid
        && entry.at.elapsed() < UNSAVED_TTL
        && (call.kind == CallKind::Read || entry.request_hash == request_hash);
    if usable {
        Some(entry.order.clone())
    } else {
        map.remove(object);
        None
    }
}

/// Forgets the unsaved answer for `object` once the Secret and status are written.
pub(super) fn forget_unsaved(ctx: &Context, object: &ObjectRef<ProxyOrder>) {
    ctx.unsaved.lock().remove(object);
}

/// Names of the fields a request changes, for logs and Events (never values).
fn changed_fields(req: &ChangeRequest) -> String {
    let fields = [
        ("port", req.port.is_some()),
        ("login", req.login.is_some()),
        ("password", req.password.is_some()),
        ("gen_password", req.gen_password.is_some()),
        ("ip_auth", req.ip_auth.is_some()),
        ("quantity", req.quantity.is_some()),
        ("remove_proxies", req.remove_proxies.is_some()),
    ];
    let set: Vec<&str> = fields
        .iter()
        .filter(|(_, on)| *on)
        .map(|(f, _)| *f)
        .collect();
    if set.is_empty() {
        "nothing".to_string()
    } else {
        set.join(", ")
    }
}
