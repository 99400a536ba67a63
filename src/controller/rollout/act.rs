//! IO of the rollout step: read the targets, patch the ones whose annotation differs, set the
//! condition and say what happened in Events.

use k8s_openapi::{
    api::apps::v1::{DaemonSet, Deployment, StatefulSet},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api, ResourceExt,
    api::{DynamicObject, ListParams, Patch, PatchParams},
    discovery::ApiResource,
    runtime::events::EventType,
};
use serde_json::json;
use tracing::debug;

use super::{
    Decision, Problem, ROLLOUTS_UPDATED, Workload, WorkloadRef, condition, credentials_hash,
    decide, disabled, kind_name, listed, targets,
};
use crate::{
    controller::{
        conditions::{self, Reason},
        context::Context,
    },
    credentials::SecretData,
    error::{Error, Result},
};
use proxy_order_api::{
    CREDENTIALS_HASH_ANNOTATION, FIELD_MANAGER, ProxyOrder, ProxyOrderStatus, RolloutTarget,
    WorkloadKind,
    events::{EventOnlyReason, EventReason},
};

/// The credentials as the Secret holds them after this reconcile's write, and the salt of the
/// fingerprints.
pub struct Published<'a> {
    pub data: &'a SecretData,
    pub salt: &'a str,
}

/// Brings the Pod-template annotation of `po`'s rollout targets to the hash of `published`
/// and sets the `RolloutsUpdated` condition in `status` (`before` is the status the API server
/// holds, to publish a Warning only when the condition turns). Without rollout targets the
/// condition is removed; without published credentials (none yet) nothing is done.
///
/// Problems with targets never fail the reconcile: they are in the condition. A transient
/// failure (the API server unavailable) is returned as `Ok(Some(error))`, for the caller to
/// return after writing the status, so the reconcile is retried with backoff. `Err` only when
/// this replica may no longer write (leader election).
pub async fn roll_out(
    ctx: &Context,
    po: &ProxyOrder,
    published: Option<Published<'_>>,
    before: &ProxyOrderStatus,
    status: &mut ProxyOrderStatus,
    now: &Time,
) -> Result<Option<Error>> {
    let targets = targets(&po.spec);
    if targets.is_empty() {
        status.conditions.retain(|c| c.type_ != ROLLOUTS_UPDATED);
        status.rollout_hash = None;
        return Ok(None);
    }
    if !ctx.settings.rollout_targets {
        status.rollout_hash = None;
        set_condition(ctx, po, before, status, disabled(), now).await;
        return Ok(None);
    }
    let Some(published) = published else {
        return Ok(None);
    };
    let ns = po.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let uid = po.uid().ok_or(Error::MissingMetadata("uid"))?;
    let hash = credentials_hash(&uid, published.salt, published.data);
    // Every target already carries this hash, and neither the credentials nor the targets
    // changed since: nothing to read or write.
    let settled = status.rollout_hash.as_deref() == Some(hash.as_str())
        && conditions::get(&status.conditions, ROLLOUTS_UPDATED)
            .is_some_and(|c| c.status == "True" && c.observed_generation == po.metadata.generation);
    if settled {
        return Ok(None);
    }

    let mut problems = Vec::new();
    let mut transient = None;
    let mut found = Vec::new();
    for target in targets {
        match read(ctx, &ns, target).await {
            Ok(workloads) => found.extend(workloads),
            Err(failure) => failure.note(&mut problems, &mut transient),
        }
    }
    let decision = match peers(ctx, &ns).await {
        Ok(peers) => {
            let others: Vec<&ProxyOrder> = peers.iter().map(|o| o.as_ref()).collect();
            decide(&hash, found, po, &others)
        }
        Err(e) => {
            // Without the namespace's ProxyOrders a conflict cannot be ruled out: patch nothing.
            let problem = Problem::Failed(format!(
                "could not list the namespace's ProxyOrders to rule out a conflict: {e}"
            ));
            let retry = !matches!(&e, kube::Error::Api(s) if s.code < 500 && s.code != 429);
            Failure {
                problem,
                transient: retry.then_some(e),
            }
            .note(&mut problems, &mut transient);
            Decision::default()
        }
    };
    let mut current = decision.current;
    problems.extend(decision.conflicts);

    let mut patched = Vec::new();
    for workload in decision.patch {
        ctx.fence.check()?;
        match patch(ctx, &ns, &workload, &hash).await {
            Ok(()) => {
                patched.push(workload.to_string());
                current.push(workload);
            }
            Err(e) => patch_failure(ctx, &ns, &workload, e)
                .await
                .note(&mut problems, &mut transient),
        }
    }
    if !patched.is_empty() {
        let note = format!(
            "set {CREDENTIALS_HASH_ANNOTATION} on the Pod template of {}: the credentials \
             changed, so their Pods are replaced",
            listed(patched.iter().cloned(), patched.len(), ", ")
        );
        publish(
            ctx,
            po,
            EventType::Normal,
            EventOnlyReason::RolloutTriggered,
            note,
        )
        .await;
    }
    let verdict = condition(&current, &problems);
    status.rollout_hash = verdict.0.then_some(hash);
    set_condition(ctx, po, before, status, verdict, now).await;
    Ok(transient)
}

/// Sets the condition, and publishes a Warning when it turns False or changes its reason.
async fn set_condition(
    ctx: &Context,
    po: &ProxyOrder,
    before: &ProxyOrderStatus,
    status: &mut ProxyOrderStatus,
    (ok, reason, message): (bool, Reason, String),
    now: &Time,
) {
    let was = conditions::get(&before.conditions, ROLLOUTS_UPDATED);
    let turned = was.is_none_or(|c| c.status != "False" || c.reason != reason.as_str());
    if !ok && turned {
        publish(ctx, po, EventType::Warning, reason, message.clone()).await;
    }
    conditions::set(
        &mut status.conditions,
        ROLLOUTS_UPDATED,
        ok,
        reason,
        message,
        po.metadata.generation,
        now,
    );
}

/// A failure to read or patch a target.
struct Failure {
    problem: Problem,
    /// The error, when trying again soon may help.
    transient: Option<kube::Error>,
}

impl Failure {
    /// What the API server's answer `e` to `verb` on workloads of `kind` (`named`: one by
    /// name) means.
    fn of(
        e: kube::Error,
        kind: WorkloadKind,
        verb: &'static str,
        named: Option<&WorkloadRef>,
    ) -> Failure {
        let what = match named {
            Some(w) => format!("could not {verb} {w}"),
            None => format!("could not {verb} {}s", kind_name(kind)),
        };
        let problem = |problem| Failure {
            problem,
            transient: None,
        };
        match (&e, named) {
            (kube::Error::Api(s), Some(w)) if s.code == 404 => {
                problem(Problem::NotFound(w.clone()))
            }
            (kube::Error::Api(s), _) if s.code == 403 => problem(Problem::Forbidden { kind, verb }),
            (kube::Error::Api(s), _) if s.code < 500 && s.code != 429 => {
                problem(Problem::Failed(format!("{what}: {}", s.message)))
            }
            _ => Failure {
                problem: Problem::Failed(format!("{what}: {e}")),
                transient: Some(e),
            },
        }
    }

    fn note(self, problems: &mut Vec<Problem>, transient: &mut Option<Error>) {
        if !problems.contains(&self.problem) {
            problems.push(self.problem);
        }
        if let Some(e) = self.transient {
            transient.get_or_insert(Error::Kube(e));
        }
    }
}

/// The API of one kind of workload in `ns`, untyped: only labels and one annotation are read.
fn api(ctx: &Context, ns: &str, kind: WorkloadKind) -> Api<DynamicObject> {
    let resource = match kind {
        WorkloadKind::Deployment => ApiResource::erase::<Deployment>(&()),
        WorkloadKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        WorkloadKind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
    };
    Api::namespaced_with(ctx.client.clone(), ns, &resource)
}

/// The workloads one target names: the one by name (get), or those its selector matches
/// (list).
async fn read(ctx: &Context, ns: &str, target: &RolloutTarget) -> Result<Vec<Workload>, Failure> {
    let api = api(ctx, ns, target.kind);
    let workload = |obj: DynamicObject| Workload {
        id: WorkloadRef {
            kind: target.kind,
            name: obj.name_any(),
        },
        labels: obj.labels().clone(),
        hash: obj
            .data
            .pointer("/spec/template/metadata/annotations")
            .and_then(|a| a.get(CREDENTIALS_HASH_ANNOTATION))
            .and_then(|h| h.as_str())
            .map(str::to_string),
    };
    match (&target.name, &target.selector) {
        (Some(name), _) => {
            let id = WorkloadRef {
                kind: target.kind,
                name: name.clone(),
            };
            match api.get(name).await {
                Ok(obj) => Ok(vec![workload(obj)]),
                Err(e) => Err(Failure::of(e, target.kind, "get", Some(&id))),
            }
        }
        (None, Some(selector)) => {
            let params = ListParams::default().labels(&selector.query());
            match api.list(&params).await {
                Ok(list) => Ok(list.items.into_iter().map(workload).collect()),
                Err(e) => Err(Failure::of(e, target.kind, "list", None)),
            }
        }
        // The schema refuses a target with neither.
        (None, None) => Ok(Vec::new()),
    }
}

/// The ProxyOrders that may target the same workloads: the controller's cache, unless this
/// instance is one of several split by `--selector`; then the cache holds only its own share,
/// and the namespace's ProxyOrders are listed (only when a rollout is not settled), so two
/// instances never take turns annotating one workload.
async fn peers(ctx: &Context, ns: &str) -> Result<Vec<std::sync::Arc<ProxyOrder>>, kube::Error> {
    if !ctx.settings.sharded {
        let in_ns = |o: &ProxyOrder| o.metadata.namespace.as_deref() == Some(ns);
        return Ok(ctx
            .store
            .as_ref()
            .map(|s| s.state_filter(in_ns))
            .unwrap_or_default());
    }
    let api: Api<ProxyOrder> = Api::namespaced(ctx.client.clone(), ns);
    let list = api.list(&ListParams::default()).await?;
    Ok(list.items.into_iter().map(std::sync::Arc::new).collect())
}

/// What a failed patch of `workload` means. A workload deleted after it was read is not
/// refused by its name: an apply of a missing object is a create, which the operator may not do
/// (403) or which is not a valid workload (422). So a refusal other than 404 is checked with a
/// read, and a workload that is gone is reported as not found.
async fn patch_failure(ctx: &Context, ns: &str, workload: &WorkloadRef, e: kube::Error) -> Failure {
    let refused =
        matches!(&e, kube::Error::Api(s) if s.code < 500 && s.code != 404 && s.code != 429);
    if refused && let Ok(None) = api(ctx, ns, workload.kind).get_opt(&workload.name).await {
        return Failure {
            problem: Problem::NotFound(workload.clone()),
            transient: None,
        };
    }
    Failure::of(e, workload.kind, "patch", Some(workload))
}

/// Sets the annotation on the workload's Pod template: a server-side apply of that one field
/// by the operator's field manager, which leaves every other field to its owner.
async fn patch(
    ctx: &Context,
    ns: &str,
    workload: &WorkloadRef,
    hash: &str,
) -> Result<(), kube::Error> {
    let body = json!({
        "apiVersion": "apps/v1",
        "kind": kind_name(workload.kind),
        "metadata": { "name": workload.name },
        "spec": { "template": { "metadata": { "annotations": {
            CREDENTIALS_HASH_ANNOTATION: hash,
        } } } },
    });
    api(ctx, ns, workload.kind)
        .patch(
            &workload.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await?;
    debug!(%workload, "credentials hash set");
    Ok(())
}

/// Publishes an Event about the ProxyOrder under the action `Rollout`.
async fn publish(
    ctx: &Context,
    po: &ProxyOrder,
    type_: EventType,
    reason: impl Into<EventReason>,
    note: String,
) {
    crate::controller::reconcile::publish(ctx, po, type_, reason, "Rollout", note).await;
}
