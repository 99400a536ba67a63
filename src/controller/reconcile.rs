//! The reconciler: observe (IO) -> plan (pure) -> act (IO) -> status.
//!
//! This file drives one reconcile; the provider call is in `act`, the Secret and status writes
//! in `write`, and deletion (the Revoke finalizer) in `finalize`.

mod act;
mod finalize;
#[cfg(test)]
mod tests;
mod write;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use kube::{
    Api, Resource, ResourceExt,
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
        reflector::ObjectRef,
    },
};
use tracing::{debug, warn};

use super::{
    conditions::{self, READY, Reason, SYNCED},
    context::{Context, jitter},
    observe::{Observation, observe},
    plan::{self, Inputs, Plan, Requeue, Settle},
    verify::CREDENTIALS_VERIFIED,
};
use crate::{
    error::{Error, Result},
    probe::ProbeOutcome,
};
use act::{Performed, forget_unsaved, perform};
use finalize::{finalize, set_finalizer};
use proxy_order_api::{
    DeletionPolicy, FINALIZER, ProxyOrder, ProxyOrderStatus, events::EventReason,
};
use write::{Outcome, write};

pub use write::{SecretMetadata, build_secret};

/// How long a reconcile whose cached copy lags the operator's own last write waits for the
/// watch to bring that write.
const CACHE_LAG_WAIT: Duration = Duration::from_millis(500);

/// How long a reconcile that found its namespace's part of the slots taken waits to try again.
const SLOT_WAIT: Duration = Duration::from_millis(250);

pub async fn reconcile(po: Arc<ProxyOrder>, ctx: Arc<Context>) -> Result<Action> {
    let ns = po.metadata.namespace.as_deref().unwrap_or_default();
    let Some(_slot) = ctx.slots.enter(ns) else {
        return Ok(Action::requeue(jitter(SLOT_WAIT)));
    };
    let started = Instant::now();
    let result = reconcile_inner(&po, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    let label = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics
        .reconciles
        .get_or_create(&crate::metrics::ResultLabels {
            result: label.to_string(),
        })
        .inc();
    result
}

pub fn error_policy(po: Arc<ProxyOrder>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(name = %po.name_any(), namespace = po.namespace().unwrap_or_default(), %error, "reconcile failed");
    ctx.metrics
        .reconcile_errors
        .get_or_create(&crate::metrics::ErrorLabels {
            reason: error.kind().to_string(),
        })
        .inc();
    let attempt = ctx.count_failure(ObjectRef::from_obj(&*po));
    Action::requeue(ctx.kube_backoff_delay(attempt))
}

async fn reconcile_inner(po: &ProxyOrder, ctx: &Context) -> Result<Action> {
    let ns = po.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<ProxyOrder> = Api::namespaced(ctx.client.clone(), &ns);
    let mut current = po.clone();
    let mut fresh = false;
    let mut seen = None;
    let started = Instant::now();
    loop {
        match reconcile_once(&current, ctx, &api, &ns, fresh, seen.take(), started).await? {
            Step::Done(action) => return Ok(action),
            // The cache may lag behind the operator's own last status write. A provider call
            // is planned only from the API server's current copy.
            Step::Refetch(observed) => {
                let fetched = api.get(&current.name_any()).await?;
                // What was read for the cached copy still holds for the fetched one when
                // nothing it depends on (spec, annotations, identity) differs.
                seen = observed.filter(|_| same_inputs(&current, &fetched));
                current = fetched;
                fresh = true;
            }
        }
    }
}

/// Whether observing `a` and `b` reads the same things: the same object with the same spec
/// and operator annotations (status may differ; the cache keeps no other annotations).
fn same_inputs(a: &ProxyOrder, b: &ProxyOrder) -> bool {
    let annotations = |po: &ProxyOrder| {
        po.annotations()
            .iter()
            .filter(|(k, _)| k.starts_with(proxy_order_api::ANNOTATION_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    a.metadata.uid == b.metadata.uid
        && a.metadata.generation == b.metadata.generation
        && a.spec == b.spec
        && annotations(a) == annotations(b)
}

enum Step {
    Done(Action),
    /// Read the ProxyOrder from the API server and decide again, with what was observed for
    /// the cached copy when there was something.
    Refetch(Option<Box<Observation>>),
}

async fn reconcile_once(
    po: &ProxyOrder,
    ctx: &Context,
    api: &Api<ProxyOrder>,
    ns: &str,
    fresh: bool,
    seen: Option<Box<Observation>>,
    started: Instant,
) -> Result<Step> {
    let uid = po.uid().ok_or(Error::MissingMetadata("uid"))?;
    let name = po.name_any();

    if po.metadata.deletion_timestamp.is_some() {
        if !fresh {
            return Ok(Step::Refetch(None));
        }
        return finalize(po, ctx, api, ns, &uid).await.map(Step::Done);
    }
    let wants_finalizer = po.spec.deletion_policy == Some(DeletionPolicy::Revoke);
    let has_finalizer = po.finalizers().iter().any(|f| f == FINALIZER);
    if wants_finalizer != has_finalizer {
        set_finalizer(ctx, api, po, wants_finalizer).await?;
        return Ok(Step::Refetch(None));
    }

    let mut obs = match seen {
        Some(seen) => seen.again_for(po),
        None => Box::new(observe(po, ctx, ns, started).await?),
    };
    if let Some(wait) = obs.throttled {
        debug!(%name, ?wait, "order list throttled by the API key's rate limit");
        return Ok(Step::Done(Action::requeue(wait)));
    }
    let status = po.status.clone().unwrap_or_default();
    let inp = Inputs::of(po, &name, &uid, &status);
    let key = ObjectRef::from_obj(po);

    let mut decision = plan::plan(&inp, &obs.observed);
    // A decision that makes the user wait on what the order list says (not listed, not yet
    // expired) is made only from a list fetched after this generation was first seen so: an
    // order bought a minute ago is not refused from the list of ten minutes ago. One forced
    // fetch answers every ProxyOrder of the key asking meanwhile, and forced fetches are spaced
    // (gateway::MIN_FORCED_REFRESH); until it comes, nothing is concluded.
    if decision.rests_on_listing() {
        let since = ctx.listing_needed_since(&uid, po.metadata.generation, started);
        if obs.listed_at.is_some_and(|at| at < since) {
            obs.relist(po, ctx, ns, since).await?;
            if let Some(wait) = obs.throttled {
                debug!(%name, ?wait, "waiting for an order list newer than the spec");
                return Ok(Step::Done(Action::requeue(wait)));
            }
            decision = plan::plan(&inp, &obs.observed);
        }
    }
    // Every later fetch of the key's list wakes a ProxyOrder waiting on it when its order shows
    // differently there, at no extra provider call.
    match (&obs.account, &obs.observed.listed) {
        (Some(account), Some(Ok(order))) if decision.rests_on_listing() => {
            ctx.gateway.waiters.wait(
                &account.cache_key,
                key.clone(),
                po.spec.order_id,
                order.as_ref().map(|o| o.status.to_string()),
            );
        }
        _ => {
            ctx.gateway.waiters.stop_waiting(&key);
            ctx.listing_not_needed(&uid);
        }
    }

    let record_sync = |settle: &mut Settle| {
        if let Some(token) = &obs.sync_requested
            && obs.observed.listed.as_ref().is_some_and(|l| l.is_ok())
        {
            settle.status.sync_requested = Some(token.clone());
        }
    };
    // Only a write after a call (or after standing in for one) saves a provider answer; a
    // decision without one (e.g. SecretConflict) leaves an unsaved answer for later.
    let saves_answer = matches!(decision, Plan::Call(_));
    // The cached copy is still the version this process's own last write replaced: the watch
    // is about to bring that write, so look again shortly instead of reading it now.
    let lagging = !fresh
        && ctx
            .written
            .is_replaced(&uid, po.resource_version().as_deref());
    let (mut settle, baseline, status_version) = match decision {
        Plan::Settle(settle) => {
            let mut settle = *settle;
            record_sync(&mut settle);
            // Writes, like calls, are decided only from the API server's current copy, so a
            // lagging cache never rolls status back. A cached copy at the version this
            // process's own last write left is that copy.
            let current = fresh || ctx.written.is_last(&uid, po.resource_version().as_deref());
            if !current && (settle.secret.is_some() || settle.status != status) {
                if lagging {
                    return Ok(Step::Done(Action::requeue(CACHE_LAG_WAIT)));
                }
                return Ok(Step::Refetch(Some(obs)));
            }
            announce_transition(ctx, po, &status, &settle.status).await;
            (settle, status.clone(), None)
        }
        Plan::Call(_) if lagging => return Ok(Step::Done(Action::requeue(CACHE_LAG_WAIT))),
        Plan::Call(_) if !fresh => return Ok(Step::Refetch(Some(obs))),
        Plan::Call(call) => {
            let hash = plan::inputs_hash(&inp, &obs.observed);
            if let Some(wait) = terminal_gate(ctx, &key, &hash) {
                debug!(%name, ?wait, "same inputs failed terminally; waiting");
                return Ok(Step::Done(Action::requeue(wait)));
            }
            let rotation = match &call.kind {
                plan::CallKind::Apply(a) => a.rotation.is_some(),
                plan::CallKind::Read => false,
            };
            if rotation && let Some(wait) = ctx.rotation_wait(&uid) {
                debug!(%name, ?wait, "password rotations of this ProxyOrder come too fast; waiting");
                return Ok(Step::Done(Action::requeue(wait)));
            }
            let (mut settle, baseline, version) =
                match perform(po, ctx, api, &inp, &obs, &call).await? {
                    Performed::Done(done, version) => {
                        if rotation {
                            ctx.rotated(&uid);
                        }
                        let (settle, baseline) = *done;
                        (settle, baseline, version)
                    }
                    // Someone else changed the ProxyOrder since it was read: decide again.
                    Performed::Refetch => return Ok(Step::Refetch(Some(obs))),
                    Performed::Throttled(wait) => {
                        debug!(%name, ?wait, "provider call throttled by the API key's rate limit");
                        return Ok(Step::Done(Action::requeue(wait)));
                    }
                };
            record_sync(&mut settle);
            if matches!(settle.requeue, Requeue::Terminal) {
                ctx.terminal
                    .lock()
                    .insert(key.clone(), (hash, Instant::now()));
            }
            (settle, baseline, version)
        }
    };
    // The credentials probe adds to the status, so it runs only on a current copy (as any
    // status write is decided), never for a paused ProxyOrder, and only once the credentials
    // are stored: after a call, in the next reconcile.
    let current = fresh || ctx.written.is_last(&uid, po.resource_version().as_deref());
    let paused = plan::is_paused(po.annotations());
    if let Some(v) = ctx.verifier.as_ref().filter(|_| !paused) {
        let due = v.is_due(&uid, &obs.observed.secret, &settle);
        if saves_answer {
            if due && settle.requeue == Requeue::Refresh {
                settle.requeue = Requeue::Soon;
            }
        } else if !current {
            if due {
                return Ok(Step::Refetch(Some(obs)));
            }
        } else {
            probe_credentials(ctx, v, po, &uid, &obs, &mut settle).await;
        }
    }
    let outcome = Outcome {
        settle: &settle,
        baseline: &baseline,
        status_version,
    };
    let retry = write(po, ctx, api, ns, &uid, &obs, outcome).await?;
    if saves_answer {
        forget_unsaved(ctx, &key);
    }
    // Everything is stored; a rollout target the API server could not serve is tried again.
    if let Some(e) = retry {
        return Err(e);
    }
    // Settled as the previous process left it, and not listed yet: the first list comes at a
    // random time within the refresh interval (observe::first_list_deferred).
    if let Some(wait) = obs
        .list_deferred
        .filter(|_| settle.requeue == Requeue::Refresh)
    {
        let _ = action_for(ctx, &key, &settle.requeue);
        return Ok(Step::Done(Action::requeue(wait)));
    }
    Ok(Step::Done(action_for(ctx, &key, &settle.requeue)))
}

/// Probes the credentials (when due) and records the outcome; a rejection is an Event too.
async fn probe_credentials(
    ctx: &Context,
    v: &super::verify::Verifier,
    po: &ProxyOrder,
    uid: &str,
    obs: &Observation,
    settle: &mut Settle,
) {
    // An observed order is read again only with an empty change body.
    let can_read = !po.spec.observes() || obs.observed.empty_change_read;
    let outcome = v
        .check(
            uid,
            po.metadata.generation,
            &obs.observed.secret,
            settle,
            can_read,
            &obs.observed.now,
        )
        .await;
    if let Some(o) = &outcome {
        let result = match o {
            ProbeOutcome::Verified => "verified",
            ProbeOutcome::Rejected => "rejected",
            ProbeOutcome::TargetUnreachable { .. } => "target_unreachable",
            ProbeOutcome::Unreachable(_) => "failed",
        };
        ctx.metrics
            .credential_probes
            .get_or_create(&crate::metrics::ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }
    if outcome == Some(ProbeOutcome::Rejected)
        && let Some(c) = conditions::get(&settle.status.conditions, CREDENTIALS_VERIFIED)
    {
        let note = c.message.clone();
        publish(
            ctx,
            po,
            EventType::Warning,
            Reason::CredentialsRejected,
            "Probe",
            note,
        )
        .await;
    }
}

/// When a decision without a call changes a condition's reason, say so in an Event once.
async fn announce_transition(
    ctx: &Context,
    po: &ProxyOrder,
    old: &ProxyOrderStatus,
    new: &ProxyOrderStatus,
) {
    for t in [READY, SYNCED] {
        let before = conditions::get(&old.conditions, t).map(|c| (&c.status, &c.reason));
        let Some(after) = conditions::get(&new.conditions, t) else {
            continue;
        };
        if before == Some((&after.status, &after.reason)) {
            continue;
        }
        let expected = [Reason::WaitingForExpiry, Reason::Paused].map(|r| r.as_str());
        let kind = if after.status == "True" || expected.contains(&after.reason.as_str()) {
            EventType::Normal
        } else {
            EventType::Warning
        };
        // Every condition the operator sets has one of the API's reasons.
        if let Ok(reason) = after.reason.parse::<Reason>() {
            publish(ctx, po, kind, reason, "Reconcile", after.message.clone()).await;
        }
        // One Event per transition is enough even when both conditions moved.
        break;
    }
}

/// Publishes an Event. Events with the same type, reason and action are counted as one
/// series, so `action` names what was done (e.g. which fields a call changed).
pub(super) async fn publish(
    ctx: &Context,
    po: &ProxyOrder,
    type_: EventType,
    reason: impl Into<EventReason>,
    action: &str,
    note: String,
) {
    let reason = reason.into();
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.chars().take(128).collect(),
        secondary: None,
    };
    // Warnings repeat while a problem lasts and are counted as one series by the shared
    // recorder, which keeps each event for six minutes and scans them all on every publish.
    // Normal events (a change made, a transition) do not repeat, so they skip that cache: with
    // one per converged order it would hold thousands of events.
    let recorder = match type_ {
        EventType::Warning => ctx.recorder.clone(),
        EventType::Normal => Recorder::new(ctx.client.clone(), ctx.reporter.clone()),
    };
    if let Err(e) = recorder.publish(&event, &po.object_ref(&())).await {
        debug!(error = %e, "could not publish event");
    }
}

/// Publishes a Normal Event without waiting for it: the record of a provider call that
/// succeeded must not hold up writing the credentials it returned (one more API-server round
/// trip before the Secret and status writes).
fn publish_in_background(
    ctx: &Context,
    po: &ProxyOrder,
    reason: impl Into<EventReason>,
    action: &str,
    note: String,
) {
    let reason = reason.into();
    let event = Event {
        type_: EventType::Normal,
        reason: reason.to_string(),
        note: Some(note),
        action: action.chars().take(128).collect(),
        secondary: None,
    };
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    let reference = po.object_ref(&());
    tokio::spawn(async move {
        if let Err(e) = recorder.publish(&event, &reference).await {
            debug!(error = %e, "could not publish event");
        }
    });
}

/// How long a terminal failure with the same inputs still has to wait, if it does.
fn terminal_gate(ctx: &Context, key: &ObjectRef<ProxyOrder>, hash: &str) -> Option<Duration> {
    let map = ctx.terminal.lock();
    let (h, at) = map.get(key)?;
    let waited = at.elapsed();
    (h == hash && waited < ctx.settings.terminal_recheck)
        .then(|| ctx.settings.terminal_recheck - waited)
}

fn action_for(ctx: &Context, key: &ObjectRef<ProxyOrder>, requeue: &Requeue) -> Action {
    let reset = |ctx: &Context| {
        ctx.backoff.lock().remove(key);
    };
    match requeue {
        Requeue::Refresh => {
            reset(ctx);
            ctx.terminal.lock().remove(key);
            Action::requeue(jitter(ctx.settings.refresh_interval))
        }
        Requeue::Soon => Action::requeue(Duration::from_millis(200)),
        Requeue::After(wait) => {
            reset(ctx);
            ctx.terminal.lock().remove(key);
            Action::requeue(*wait)
        }
        Requeue::AwaitChange => {
            reset(ctx);
            Action::await_change()
        }
        Requeue::Terminal => {
            reset(ctx);
            Action::requeue(jitter(ctx.settings.terminal_recheck))
        }
        Requeue::NotBefore(wait) => Action::requeue(*wait),
        Requeue::Backoff { retry_after } => {
            let attempt = ctx.count_failure(key.clone());
            Action::requeue(ctx.backoff_delay(attempt, *retry_after))
        }
    }
}
