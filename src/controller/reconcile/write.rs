//! The write step: the credentials Secret (created, or applied when its data or metadata
//! differ) and then the ProxyOrder's status, both conditional on the versions seen.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    runtime::events::EventType,
};
use serde_json::json;
use tracing::debug;

use crate::controller::{
    conditions::{self, READY, Reason},
    context::Context,
    observe::{Observation, SecretSnapshot},
    plan::{self, Settle},
    rollout,
};
use crate::{
    credentials::SecretData,
    error::{Error, Result},
    failpoint,
};
use proxy_order_api::{
    FIELD_MANAGER, FINGERPRINT_SALT_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, ORDER_ID_ANNOTATION,
    ORDER_LABEL, ProxyOrder, ProxyOrderStatus,
};

/// What a reconcile decided to store, and what the API server holds.
pub(super) struct Outcome<'a> {
    /// The decided status and Secret data.
    pub settle: &'a Settle,
    /// The status the API server holds: an equal decided status is not written.
    pub baseline: &'a ProxyOrderStatus,
    /// The resourceVersion the status write is conditional on (the one the intent write
    /// left), if any.
    pub status_version: Option<String>,
}

/// Writes the Secret (when its data or metadata differ), brings the rollout targets to the
/// credentials it holds (`rollout`), and then writes the status (when it differs from the
/// baseline, what the API server holds). An unchanged resource causes no write at all, and a
/// paused one no Secret write and no rollout. `Ok(Some(error))`: everything was written, but a
/// rollout target failed transiently and is to be tried again.
pub(super) async fn write(
    po: &ProxyOrder,
    ctx: &Context,
    api: &Api<ProxyOrder>,
    ns: &str,
    uid: &str,
    obs: &Observation,
    outcome: Outcome<'_>,
) -> Result<Option<Error>> {
    let Outcome {
        settle,
        baseline,
        status_version,
    } = outcome;
    let name = po.name_any();
    let salt = plan::fingerprint_salt(&obs.observed);
    let meta = secret_metadata(po, &salt);
    let meta_differs = |snap: &SecretSnapshot| {
        meta.labels
            .iter()
            .any(|(k, v)| snap.labels.get(k) != Some(v))
            || meta
                .annotations
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
        if let Err(e) = write_secret(ctx, po, ns, uid, data, meta, seen).await {
            report_refused_write(ctx, po, api, baseline, status_version.as_deref(), &e, obs).await;
            return Err(e);
        }
        failpoint::hit("after-secret-write");
    }
    // The data the Secret holds now: just written (over keys others added, which the write
    // keeps), or found current. The same data gives the same hash in the next reconcile.
    let merged = match (&settle.secret, &obs.observed.secret) {
        (Some(written), plan::OwnedSecret::Present(before)) => {
            let mut all = before.0.clone();
            all.extend(written.0.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(SecretData(all))
        }
        (Some(written), _) => Some(written.clone()),
        (None, plan::OwnedSecret::Present(current)) => Some(current.clone()),
        (None, _) => None,
    };
    let published = merged
        .as_ref()
        .map(|data| rollout::Published { data, salt: &salt });
    let mut status = settle.status.clone();
    let retry = if paused {
        None
    } else {
        rollout::roll_out(ctx, po, published, baseline, &mut status, &obs.observed.now).await?
    };
    if status != *baseline {
        ctx.fence.check()?;
        let before = status_version.clone().or_else(|| po.resource_version());
        // A status that differs only by the rollout condition is written as well from a cached
        // copy that may lag (decisions wait for a current one): conditional on its version, so
        // a lagging copy writes nothing and the reconcile its watch event brings sets it.
        let rollout_only = settle.status == *baseline;
        let version = match rollout_only {
            true => before.clone(),
            false => status_version,
        };
        match patch_status_at(api, &name, &status, version).await {
            Ok(written) => {
                ctx.written.note(uid, before, written);
                failpoint::hit("after-status-write");
            }
            Err(Error::Kube(kube::Error::Api(s))) if rollout_only && s.code == 409 => {
                debug!(%name, "status changed since it was read; the rollout condition follows");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(retry)
}

/// A credentials Secret write the API server refused for good (not a conflict, a rate limit or
/// an outage, which the retry resolves) reaches the status and an Event, so that the ProxyOrder
/// does not go on showing what it showed before. Only the Ready condition is added to the status
/// the API server holds: nothing the unwritten Secret would have backed (the provider's answer
/// stays in memory for the retry). Conditional on the version seen; a failure is logged.
async fn report_refused_write(
    ctx: &Context,
    po: &ProxyOrder,
    api: &Api<ProxyOrder>,
    baseline: &ProxyOrderStatus,
    status_version: Option<&str>,
    error: &Error,
    obs: &Observation,
) {
    let Error::Kube(kube::Error::Api(s)) = error else {
        return;
    };
    if s.code >= 500 || s.code == 409 || s.code == 429 {
        return;
    }
    let message = format!(
        "the API server refused to write Secret {} ({} {}): {}; the write is retried with backoff",
        po.secret_name(),
        s.code,
        s.reason,
        s.message
    );
    let mut status = baseline.clone();
    conditions::set(
        &mut status.conditions,
        READY,
        false,
        Reason::SecretWriteFailed,
        message.clone(),
        po.metadata.generation,
        &obs.observed.now,
    );
    let uid = po.uid().unwrap_or_default();
    if status != *baseline && ctx.fence.check().is_ok() {
        let before = status_version
            .map(str::to_string)
            .or_else(|| po.resource_version());
        match patch_status_at(api, &po.name_any(), &status, before.clone()).await {
            Ok(written) => ctx.written.note(&uid, before, written),
            Err(e) => debug!(error = %e, "could not report the refused Secret write in status"),
        }
    }
    super::publish(
        ctx,
        po,
        EventType::Warning,
        Reason::SecretWriteFailed,
        "WriteSecret",
        message,
    )
    .await;
}

/// Labels and annotations of a credentials Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretMetadata {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Labels and annotations of the credentials Secret: the user's from `spec.secret`, plus the
/// operator's own (which win).
fn secret_metadata(po: &ProxyOrder, fingerprint_salt: &str) -> SecretMetadata {
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
    SecretMetadata {
        labels,
        annotations,
    }
}

/// The credentials Secret: owned by (and garbage-collected with) the ProxyOrder.
pub fn build_secret(
    po: &ProxyOrder,
    ns: &str,
    uid: &str,
    data: &SecretData,
    meta: SecretMetadata,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(po.secret_name()),
            namespace: Some(ns.to_string()),
            labels: Some(meta.labels),
            annotations: Some(meta.annotations),
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

async fn write_secret(
    ctx: &Context,
    po: &ProxyOrder,
    ns: &str,
    uid: &str,
    data: &SecretData,
    meta: SecretMetadata,
    how: SecretWrite,
) -> Result<()> {
    let mut secret = build_secret(po, ns, uid, data, meta);
    secret.metadata.managed_fields = None;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match how {
        SecretWrite::Create => {
            let params = PostParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..Default::default()
            };
            let stored = api.create(&params, &secret).await?;
            ctx.secrets.keep(ns, stored);
        }
        SecretWrite::Update { resource_version } => {
            secret.metadata.resource_version = resource_version;
            let mut value = serde_json::to_value(&secret).map_err(|source| Error::Serialize {
                what: "Secret",
                source,
            })?;
            value["apiVersion"] = json!("v1");
            value["kind"] = json!("Secret");
            let stored = api
                .patch(
                    &po.secret_name(),
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(value),
                )
                .await?;
            ctx.secrets.keep(ns, stored);
        }
    }
    Ok(())
}

/// Server-side apply of the status; with `resource_version`, only if the object is still at
/// that version (409 otherwise). Returns the resourceVersion it left.
pub(super) async fn patch_status_at(
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
