//! Deletion: the Revoke finalizer, added and removed with the deletion policy, and the
//! revocation (password rotated, IP allow-list cleared) before a ProxyOrder goes away.

use std::time::{Duration, Instant};

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use serde_json::json;
use tracing::info;

use super::publish;
use crate::controller::{
    claim,
    context::Context,
    gateway::Throttled,
    observe::observe,
    plan::{self, Inputs},
};
use crate::{
    error::Result,
    provider::{ChangeRequest, IpAuth, QueryOptions},
};
use proxy_order_api::{
    DeletionPolicy, FINALIZER, PAUSED_ANNOTATION, ProxyOrder, events::EventOnlyReason,
};

pub(super) async fn set_finalizer(
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
pub(super) async fn finalize(
    po: &ProxyOrder,
    ctx: &Context,
    api: &Api<ProxyOrder>,
    ns: &str,
    uid: &str,
) -> Result<Action> {
    if !po.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    // The policy went back to Orphan before a reconcile took the finalizer off: the spec says
    // the order keeps its credentials.
    let revokes = po.spec.deletion_policy == Some(DeletionPolicy::Revoke);
    if revokes && !plan::is_paused(po.annotations()) {
        let obs = observe(po, ctx, ns, Instant::now()).await?;
        if let Some(wait) = obs.throttled {
            return Ok(Action::requeue(wait));
        }
        let name = po.name_any();
        let status = po.status.clone().unwrap_or_default();
        let inp = Inputs::of(po, &name, uid, &status);
        if let Some(why) = plan::revoke_refusal(&inp, &obs.observed) {
            info!(%name, order = po.spec.order_id, %why, "not revoking");
            publish(
                ctx,
                po,
                EventType::Normal,
                EventOnlyReason::RevokeSkipped,
                "Revoke",
                why,
            )
            .await;
            set_finalizer(ctx, api, po, false).await?;
            return Ok(Action::await_change());
        }
        let Some(account) = &obs.account else {
            publish(ctx, po, EventType::Warning, EventOnlyReason::RevokeBlocked, "Revoke", format!("cannot revoke the credentials: the API key Secret is missing; annotate {PAUSED_ANNOTATION}=\"true\" to delete without revoking")).await;
            return Ok(Action::requeue(Duration::from_secs(60)));
        };
        // Only the holder of the order's claim revokes. The claim is checked here whatever the
        // order list said: observe claims (and so compares) only when the list shows the order.
        if !claim::held(ctx, po, ns, uid).await? {
            if let Some(Err(e)) = &obs.observed.listed {
                // The list failed, so the claim could not be taken or confirmed: decide later.
                return Ok(Action::requeue(ctx.backoff_delay(1, e.retry_after())));
            }
            let why = format!(
                "this ProxyOrder does not hold the claim on order {}: nothing revoked",
                po.spec.order_id
            );
            info!(%name, order = po.spec.order_id, %why, "not revoking");
            publish(
                ctx,
                po,
                EventType::Normal,
                EventOnlyReason::RevokeSkipped,
                "Revoke",
                why,
            )
            .await;
            set_finalizer(ctx, api, po, false).await?;
            return Ok(Action::await_change());
        }
        let request = ChangeRequest {
            gen_password: Some(true),
            ip_auth: Some(IpAuth::List(Vec::new())),
            ..Default::default()
        };
        ctx.fence.check()?;
        let permit = match ctx.gateway.permit(account) {
            Ok(permit) => permit,
            Err(Throttled(wait)) => return Ok(Action::requeue(wait)),
        };
        let result = permit
            .change(po.spec.order_id, &request, QueryOptions::default())
            .await;
        match result {
            Ok(_) => {
                publish(
                    ctx,
                    po,
                    EventType::Normal,
                    EventOnlyReason::Revoked,
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
                    plan::reason_for(&e),
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
