//! The reconciler: observe (IO) -> plan (pure) -> act (IO) -> status.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{
    ByteString,
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
        reflector::ObjectRef,
    },
};
use serde_json::json;
use tracing::{debug, info, warn};

use super::{
    claim,
    conditions::{self, READY, Reason, SYNCED},
    context::{Context, UNSAVED_TTL, Unsaved, jitter},
    observe::{Observation, SecretSnapshot, observe},
    plan::{self, Call, CallKind, Inputs, Plan, Requeue, Settle},
};
use crate::{
    crd::{
        DeletionPolicy, FIELD_MANAGER, FINALIZER, FINGERPRINT_SALT_ANNOTATION, ProxyOrder,
        ProxyOrderStatus,
    },
    credentials::SecretData,
    error::{Error, Result},
    failpoint,
    provider::{ChangeRequest, IpAuth, Order, QueryOptions},
};

/// Label put on every credentials Secret.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "proxy-order-operator";
/// Label naming the ProxyOrder a Secret belongs to.
pub const ORDER_LABEL: &str = "proxy-solutions.net/proxy-order";
/// Annotation with the provider order id on the Secret.
pub const ORDER_ID_ANNOTATION: &str = "proxy-solutions.net/order-id";

pub async fn reconcile(po: Arc<ProxyOrder>, ctx: Arc<Context>) -> Result<Action> {
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
    let key = ObjectRef::from_obj(&*po);
    let attempt = {
        let mut map = ctx.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key).or_insert(0);
        *n += 1;
        *n - 1
    };
    Action::requeue(ctx.kube_backoff_delay(attempt))
}

async fn reconcile_inner(po: &ProxyOrder, ctx: &Context) -> Result<Action> {
    let ns = po.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<ProxyOrder> = Api::namespaced(ctx.client.clone(), &ns);
    let mut current = po.clone();
    let mut fresh = false;
    let started = Instant::now();
    loop {
        match reconcile_once(&current, ctx, &api, &ns, fresh, started).await? {
            Step::Done(action) => return Ok(action),
            // The cache may lag behind the operator's own last status write. A provider call
            // is planned only from the API server's current copy.
            Step::Refetch => {
                current = api.get(&current.name_any()).await?;
                fresh = true;
            }
        }
    }
}

enum Step {
    Done(Action),
    Refetch,
}

async fn reconcile_once(
    po: &ProxyOrder,
    ctx: &Context,
    api: &Api<ProxyOrder>,
    ns: &str,
    fresh: bool,
    started: Instant,
) -> Result<Step> {
    let uid = po.uid().ok_or(Error::MissingMetadata("uid"))?;
    let name = po.name_any();

    if po.metadata.deletion_timestamp.is_some() {
        if !fresh {
            return Ok(Step::Refetch);
        }
        return finalize(po, ctx, api, ns, &uid).await.map(Step::Done);
    }
    let wants_finalizer = po.spec.deletion_policy == Some(DeletionPolicy::Revoke);
    let has_finalizer = po.finalizers().iter().any(|f| f == FINALIZER);
    if wants_finalizer != has_finalizer {
        set_finalizer(ctx, api, po, wants_finalizer).await?;
        return Ok(Step::Refetch);
    }

    let obs = observe(po, ctx, ns, started).await?;
    if let Some(wait) = obs.throttled {
        debug!(%name, ?wait, "order list throttled by the API key's rate limit");
        return Ok(Step::Done(Action::requeue(wait)));
    }
    let status = po.status.clone().unwrap_or_default();
    let inp = Inputs::of(po, &name, &uid, &status);
    let key = ObjectRef::from_obj(po);

    let record_sync = |settle: &mut Settle| {
        if let Some(token) = &obs.sync_requested
            && obs.observed.listed.as_ref().is_some_and(|l| l.is_ok())
        {
            settle.status.sync_requested = Some(token.clone());
        }
    };
    let decision = plan::plan(&inp, &obs.observed);
    // Only a write after a call (or after standing in for one) saves a provider answer; a
    // decision without one (e.g. SecretConflict) leaves an unsaved answer for later.
    let saves_answer = matches!(decision, Plan::Call(_));
    let (settle, baseline, status_version) = match decision {
        Plan::Settle(settle) => {
            let mut settle = *settle;
            record_sync(&mut settle);
            // Writes, like calls, are decided only from the API server's current copy, so a
            // lagging cache never rolls status back.
            if !fresh && (settle.secret.is_some() || settle.status != status) {
                return Ok(Step::Refetch);
            }
            announce_transition(ctx, po, &status, &settle.status).await;
            (settle, status.clone(), None)
        }
        Plan::Call(_) if !fresh => return Ok(Step::Refetch),
        Plan::Call(call) => {
            let hash = plan::inputs_hash(&inp, &obs.observed);
            if let Some(wait) = terminal_gate(ctx, &key, &hash) {
                debug!(%name, ?wait, "same inputs failed terminally; waiting");
                return Ok(Step::Done(Action::requeue(wait)));
            }
            let (mut settle, baseline, version) =
                match perform(po, ctx, api, &inp, &obs, &call).await? {
                    Performed::Done(done, version) => {
                        let (settle, baseline) = *done;
                        (settle, baseline, version)
                    }
                    // Someone else changed the ProxyOrder since it was read: decide again.
                    Performed::Refetch => return Ok(Step::Refetch),
                    Performed::Throttled(wait) => {
                        debug!(%name, ?wait, "provider call throttled by the API key's rate limit");
                        return Ok(Step::Done(Action::requeue(wait)));
                    }
                };
            record_sync(&mut settle);
            if matches!(settle.requeue, Requeue::Terminal) {
                ctx.terminal
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.clone(), (hash, Instant::now()));
            }
            (settle, baseline, version)
        }
    };
    write(
        po,
        ctx,
        api,
        ns,
        &uid,
        &obs,
        &settle,
        &baseline,
        status_version,
    )
    .await?;
    if saves_answer {
        forget_unsaved(ctx, &key);
    }
    Ok(Step::Done(action_for(ctx, &key, &settle.requeue)))
}

/// What [`perform`] did.
enum Performed {
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
async fn perform(
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
        info!(name = %po.name_any(), order = po.spec.order_id, fields = %fields, kind = ?call.kind, "saving the provider's earlier answer instead of calling again");
        let settle = plan::after_call(inp, &obs.observed, call, Ok(&order));
        return Ok(Performed::Done(
            Box::new((settle, inp.status.clone())),
            None,
        ));
    }
    ctx.fence.check()?;
    if let Err(wait) = ctx
        .limiter
        .try_acquire_at(&account.cache_key, account.target.rate)
    {
        return Ok(Performed::Throttled(wait));
    }
    let mut baseline = inp.status.clone();
    let mut status_version = None;
    if let Some(pending) = &call.pending {
        baseline.pending_request = Some(pending.clone());
        // Compare-and-swap on the resourceVersion this decision was made from: two actors
        // that both saw no intent cannot both record one and call.
        match patch_status_at(api, &po.name_any(), &baseline, po.resource_version()).await {
            Err(Error::Kube(kube::Error::Api(s))) if s.code == 409 => {
                return Ok(Performed::Refetch);
            }
            other => status_version = other?,
        }
        // Recording the intent took time: the lease must still outlast the call.
        ctx.fence.check()?;
    }
    let query = QueryOptions {
        lang: po.spec.lang,
        currency: po.spec.currency,
    };
    let result = ctx
        .change_order(account, po.spec.order_id, &call.request, query)
        .await;
    failpoint::hit("after-provider-call");
    let settle = match &result {
        Ok(resp) => {
            // Kept until the Secret and status are written (`forget_unsaved`).
            ctx.unsaved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    object,
                    Unsaved {
                        uid: inp.uid.to_string(),
                        request_hash,
                        order: resp.order.clone(),
                        at: Instant::now(),
                    },
                );
            ctx.orders
                .update_order(&account.cache_key, &resp.order)
                .await;
            let (reason, note) = match call.kind {
                CallKind::Apply => ("Applied", format!("provider accepted a change of {fields}")),
                CallKind::Read => (
                    "CredentialsRead",
                    "read the live credentials from the provider".to_string(),
                ),
            };
            info!(name = %po.name_any(), order = po.spec.order_id, fields = %fields, kind = ?call.kind, "provider call succeeded");
            publish(
                ctx,
                po,
                EventType::Normal,
                reason,
                &format!("ChangeOrder({fields})"),
                note,
            )
            .await;
            plan::after_call(inp, &obs.observed, call, Ok(&resp.order))
        }
        Err(e) => {
            let reason = plan::reason_for(e).as_str();
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
    let mut map = ctx.unsaved.lock().unwrap_or_else(|e| e.into_inner());
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
fn forget_unsaved(ctx: &Context, object: &ObjectRef<ProxyOrder>) {
    ctx.unsaved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(object);
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

/// Writes the Secret (when its data or metadata differ) and then the status (when it differs
/// from `baseline`, what the API server holds). An unchanged resource causes no write at all,
/// and a paused one no Secret write.
#[allow(clippy::too_many_arguments)]
async fn write(
    po: &ProxyOrder,
    ctx: &Context,
    api: &Api<ProxyOrder>,
    ns: &str,
    uid: &str,
    obs: &Observation,
    settle: &Settle,
    baseline: &ProxyOrderStatus,
    status_version: Option<String>,
) -> Result<()> {
    let name = po.name_any();
    let salt = plan::fingerprint_salt(uid, &obs.observed);
    let (want_labels, want_annotations) = secret_metadata(po, &salt);
    let meta_differs = |snap: &SecretSnapshot| {
        want_labels
            .iter()
            .any(|(k, v)| snap.labels.get(k) != Some(v))
            || want_annotations
                .iter()
                .any(|(k, v)| snap.annotations.get(k) != Some(v))
    };
    let paused = plan::is_paused(po.annotations());
    let data = match (&settle.secret, &obs.secret, &obs.observed.secret) {
        (Some(data), _, _) => Some(data),
        (None, Some(snap), plan::OwnedSecret::Present(current))
            if !paused && meta_differs(snap) =>
        {
            Some(current)
        }
        _ => None,
    };
    if let Some(data) = data {
        ctx.fence.check()?;
        failpoint::hit("before-secret-write");
        // Created only when it was seen missing: a Secret someone else created since is never
        // taken over (the create fails, and the next reconcile sees it as not ours). One that
        // was seen as ours is applied only if it is still the version seen.
        let seen = match &obs.observed.secret {
            plan::OwnedSecret::Missing => SecretWrite::Create,
            _ => SecretWrite::Update {
                resource_version: obs.secret.as_ref().and_then(|s| s.resource_version.clone()),
            },
        };
        write_secret(ctx, po, ns, uid, data, want_labels, want_annotations, seen).await?;
        failpoint::hit("after-secret-write");
    }
    if settle.status != *baseline {
        ctx.fence.check()?;
        patch_status_at(api, &name, &settle.status, status_version).await?;
        failpoint::hit("after-status-write");
    }
    Ok(())
}

/// Labels and annotations of the credentials Secret: the user's from `spec.secret`, plus the
/// operator's own (which win).
fn secret_metadata(
    po: &ProxyOrder,
    fingerprint_salt: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let target = po.spec.secret.as_ref();
    let mut labels = target.and_then(|s| s.labels.clone()).unwrap_or_default();
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string());
    labels.insert(ORDER_LABEL.to_string(), po.name_any());
    let mut annotations = target
        .and_then(|s| s.annotations.clone())
        .unwrap_or_default();
    annotations.insert(
        ORDER_ID_ANNOTATION.to_string(),
        po.spec.order_id.to_string(),
    );
    annotations.insert(
        FINGERPRINT_SALT_ANNOTATION.to_string(),
        fingerprint_salt.to_string(),
    );
    (labels, annotations)
}

/// The credentials Secret: owned by (and garbage-collected with) the ProxyOrder.
pub fn build_secret(
    po: &ProxyOrder,
    ns: &str,
    uid: &str,
    data: &SecretData,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(po.secret_name()),
            namespace: Some(ns.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: ProxyOrder::api_version(&()).to_string(),
                kind: ProxyOrder::kind(&()).to_string(),
                name: po.name_any(),
                uid: uid.to_string(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        type_: Some("Opaque".to_string()),
        data: Some(
            data.0
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// How the credentials Secret is written, from what observe saw.
enum SecretWrite {
    /// It did not exist: create it, and fail if it exists by now.
    Create,
    /// It was ours: server-side apply, conditional on the version seen when known.
    Update { resource_version: Option<String> },
}

#[allow(clippy::too_many_arguments)]
async fn write_secret(
    ctx: &Context,
    po: &ProxyOrder,
    ns: &str,
    uid: &str,
    data: &SecretData,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    how: SecretWrite,
) -> Result<()> {
    let mut secret = build_secret(po, ns, uid, data, labels, annotations);
    secret.metadata.managed_fields = None;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match how {
        SecretWrite::Create => {
            let params = PostParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..Default::default()
            };
            api.create(&params, &secret).await?;
        }
        SecretWrite::Update { resource_version } => {
            secret.metadata.resource_version = resource_version;
            let mut value = serde_json::to_value(&secret).map_err(|source| Error::Serialize {
                what: "Secret",
                source,
            })?;
            value["apiVersion"] = json!("v1");
            value["kind"] = json!("Secret");
            api.patch(
                &po.secret_name(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(value),
            )
            .await?;
        }
    }
    Ok(())
}

/// Server-side apply of the status; with `resource_version`, only if the object is still at
/// that version (409 otherwise). Returns the resourceVersion it left.
async fn patch_status_at(
    api: &Api<ProxyOrder>,
    name: &str,
    status: &ProxyOrderStatus,
    resource_version: Option<String>,
) -> Result<Option<String>> {
    let mut patch = json!({
        "apiVersion": ProxyOrder::api_version(&()),
        "kind": ProxyOrder::kind(&()),
        "status": status,
    });
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    let stored = api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    Ok(stored.resource_version())
}

async fn set_finalizer(
    ctx: &Context,
    api: &Api<ProxyOrder>,
    po: &ProxyOrder,
    present: bool,
) -> Result<()> {
    ctx.fence.check()?;
    let mut finalizers: Vec<String> = po
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(FINALIZER.to_string());
    }
    let patch = json!({
        "metadata": {
            "resourceVersion": po.resource_version(),
            "finalizers": finalizers,
        }
    });
    api.patch(
        &po.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await?;
    Ok(())
}

/// Deletion. Without the Revoke finalizer there is nothing to do: no provider call, and the
/// Secret is garbage-collected with its owner. With it, the password is rotated and the IP
/// allow-list cleared first (skipped for a paused resource, an order the provider no longer
/// has, or one this resource did not manage: see [`plan::revoke_refusal`]).
async fn finalize(
    po: &ProxyOrder,
    ctx: &Context,
    api: &Api<ProxyOrder>,
    ns: &str,
    uid: &str,
) -> Result<Action> {
    if !po.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if !plan::is_paused(po.annotations()) {
        let obs = observe(po, ctx, ns, Instant::now()).await?;
        if let Some(wait) = obs.throttled {
            return Ok(Action::requeue(wait));
        }
        let name = po.name_any();
        let status = po.status.clone().unwrap_or_default();
        let inp = Inputs::of(po, &name, uid, &status);
        if let Some(why) = plan::revoke_refusal(&inp, &obs.observed) {
            info!(%name, order = po.spec.order_id, %why, "not revoking");
            publish(ctx, po, EventType::Normal, "RevokeSkipped", "Revoke", why).await;
            set_finalizer(ctx, api, po, false).await?;
            return Ok(Action::await_change());
        }
        let Some(account) = &obs.account else {
            publish(ctx, po, EventType::Warning, "RevokeBlocked", "Revoke", "cannot revoke the credentials: the API key Secret is missing; annotate proxy-solutions.net/paused=\"true\" to delete without revoking".to_string()).await;
            return Ok(Action::requeue(Duration::from_secs(60)));
        };
        // Only the holder of the order's claim revokes. The claim is checked here whatever the
        // order list said: observe claims (and so compares) only when the list shows the order.
        if !claim::held(ctx, po, ns, uid, &account.target.scope).await? {
            if let Some(Err(e)) = &obs.observed.listed {
                // The list failed, so the claim could not be taken or confirmed: decide later.
                return Ok(Action::requeue(ctx.backoff_delay(1, e.retry_after())));
            }
            let why = format!(
                "this ProxyOrder does not hold the claim on order {}: nothing revoked",
                po.spec.order_id
            );
            info!(%name, order = po.spec.order_id, %why, "not revoking");
            publish(ctx, po, EventType::Normal, "RevokeSkipped", "Revoke", why).await;
            set_finalizer(ctx, api, po, false).await?;
            return Ok(Action::await_change());
        }
        let request = ChangeRequest {
            gen_password: Some(true),
            ip_auth: Some(IpAuth::List(Vec::new())),
            ..Default::default()
        };
        ctx.fence.check()?;
        if let Err(wait) = ctx
            .limiter
            .try_acquire_at(&account.cache_key, account.target.rate)
        {
            return Ok(Action::requeue(wait));
        }
        let result = ctx
            .change_order(account, po.spec.order_id, &request, QueryOptions::default())
            .await;
        match result {
            Ok(_) => {
                publish(
                    ctx,
                    po,
                    EventType::Normal,
                    "Revoked",
                    "Revoke",
                    "rotated the password and cleared the IP allow-list".to_string(),
                )
                .await;
            }
            Err(crate::provider::ProviderError::NotFound { .. }) => {}
            Err(e) => {
                publish(
                    ctx,
                    po,
                    EventType::Warning,
                    plan::reason_for(&e).as_str(),
                    "Revoke",
                    format!("revoking before deletion failed: {e}"),
                )
                .await;
                let delay = if e.is_transient() {
                    ctx.backoff_delay(1, e.retry_after())
                } else {
                    ctx.settings.terminal_recheck
                };
                return Ok(Action::requeue(delay));
            }
        }
    }
    set_finalizer(ctx, api, po, false).await?;
    Ok(Action::await_change())
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
        publish(
            ctx,
            po,
            kind,
            &after.reason,
            "Reconcile",
            after.message.clone(),
        )
        .await;
        // One Event per transition is enough even when both conditions moved.
        break;
    }
}

/// Publishes an Event. Events with the same type, reason and action are counted as one
/// series, so `action` names what was done (e.g. which fields a call changed).
async fn publish(
    ctx: &Context,
    po: &ProxyOrder,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.chars().take(128).collect(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &po.object_ref(&())).await {
        debug!(error = %e, "could not publish event");
    }
}

/// How long a terminal failure with the same inputs still has to wait, if it does.
fn terminal_gate(ctx: &Context, key: &ObjectRef<ProxyOrder>, hash: &str) -> Option<Duration> {
    let map = ctx.terminal.lock().unwrap_or_else(|e| e.into_inner());
    let (h, at) = map.get(key)?;
    let waited = at.elapsed();
    (h == hash && waited < ctx.settings.terminal_recheck)
        .then(|| ctx.settings.terminal_recheck - waited)
}

fn action_for(ctx: &Context, key: &ObjectRef<ProxyOrder>, requeue: &Requeue) -> Action {
    let reset = |ctx: &Context| {
        ctx.backoff
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    };
    match requeue {
        Requeue::Refresh => {
            reset(ctx);
            ctx.terminal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(key);
            Action::requeue(jitter(ctx.settings.refresh_interval))
        }
        Requeue::Soon => Action::requeue(Duration::from_millis(200)),
        Requeue::AwaitChange => {
            reset(ctx);
            Action::await_change()
        }
        Requeue::Terminal => {
            reset(ctx);
            Action::requeue(jitter(ctx.settings.terminal_recheck))
        }
        Requeue::Backoff { retry_after } => {
            let attempt = {
                let mut map = ctx.backoff.lock().unwrap_or_else(|e| e.into_inner());
                let n = map.entry(key.clone()).or_insert(0);
                *n += 1;
                *n - 1
            };
            Action::requeue(ctx.backoff_delay(attempt, *retry_after))
        }
    }
}
