//! The decision itself: [`plan`] walks the checks in order (paused, denied, missing Secrets,
//! conflicts, the order list, an interrupted request) and ends in one call or a settled state.

use super::{
    Apply, Call, Inputs, Observed, OwnedSecret, Plan, Requeue,
    desired::desired_change,
    hashes::applied_hash,
    observe_only::observe_only,
    pending::{pending_for, read_not_before, read_request},
    secret::{known_credentials, secret_is_current, secret_problem, secret_write, template},
    status::{fail_both, record_failure, requeue_for, succeed, summary},
    types::settle,
};
use crate::{
    controller::conditions::{self, READY, Reason, SYNCED},
    credentials,
};
use proxy_order_api::PAUSED_ANNOTATION;

/// Decides what to do.
pub fn plan(inp: &Inputs, obs: &Observed) -> Plan {
    let mut status = inp.status.clone();

    if is_paused(inp.annotations) {
        // observedGeneration stays: nothing of the current spec is applied while paused.
        if conditions::is_true(&status.conditions, READY) && !secret_is_current(&status, inp, obs) {
            conditions::set(
                &mut status.conditions,
                READY,
                false,
                Reason::Paused,
                "paused: the credentials Secret cannot be confirmed current (missing, stale or unreadable)",
                inp.generation,
                &obs.now,
            );
        }
        conditions::set(
            &mut status.conditions,
            SYNCED,
            false,
            Reason::Paused,
            format!("{PAUSED_ANNOTATION} is \"true\": no provider calls until it is removed"),
            inp.generation,
            &obs.now,
        );
        return settle(status, None, Requeue::AwaitChange);
    }
    status.observed_generation = inp.generation;

    if let Some((reason, msg)) = &obs.denied {
        fail_both(&mut status, inp, obs, *reason, msg.clone());
        return settle(status, None, Requeue::Terminal);
    }

    let missing = obs
        .api_key
        .as_ref()
        .err()
        .or_else(|| obs.password.as_ref().and_then(|p| p.as_ref().err()));
    if let Some(missing) = missing {
        fail_both(
            &mut status,
            inp,
            obs,
            Reason::SecretNotFound,
            missing.to_string(),
        );
        return settle(status, None, Requeue::Terminal);
    }

    if let Some(other) = &obs.conflict {
        let msg = format!(
            "order {} is already managed by {other}; two resources for one order would \
             overwrite each other's credentials",
            inp.spec.order_id
        );
        fail_both(&mut status, inp, obs, Reason::OrderConflict, msg);
        return settle(status, None, Requeue::Terminal);
    }

    if obs.secret == OwnedSecret::Foreign {
        let msg = format!(
            "Secret {} exists and was not made by the operator for this ProxyOrder; delete it or \
             set spec.secret.name",
            inp.secret_name()
        );
        fail_both(&mut status, inp, obs, Reason::SecretConflict, msg);
        return settle(status, None, Requeue::Terminal);
    }

    let listed = match &obs.listed {
        Some(Err(e)) => {
            record_failure(&mut status, inp, obs, e, false);
            return settle(status, None, requeue_for(e));
        }
        Some(Ok(None)) => {
            let msg = format!(
                "order {} is not in the provider's order list for this API key",
                inp.spec.order_id
            );
            fail_both(&mut status, inp, obs, Reason::OrderNotFound, msg);
            return settle(status, None, Requeue::Terminal);
        }
        Some(Ok(Some(order))) => Some(order),
        None => None,
    };
    if let Some(order) = listed {
        status.order = Some(summary(order, inp.spec.currency));
    }

    // The Secret this would write must be one the API server accepts: refuse before any call,
    // so that no provider answer (a generated password) is ever left without a place to go.
    if let Some((reason, msg)) = secret_problem(inp, obs, listed) {
        fail_both(&mut status, inp, obs, reason, msg);
        return settle(status, None, Requeue::Terminal);
    }

    if let Some(p) = &inp.status.pending_request {
        // A read now could come before the provider finishes the interrupted request, and then
        // wrongly conclude that it did not take effect. That holds whether its answer was seen
        // lost (`readNotBefore`) or the process died with the call in flight (only the intent
        // was recorded): either way, wait until the provider can no longer be carrying it out.
        if let Some((at, wait)) = read_not_before(p, obs).and_then(|t| {
            let wait: std::time::Duration = t.0.duration_since(obs.now.0).try_into().ok()?;
            (!wait.is_zero()).then_some((t, wait))
        }) {
            // The request may have changed the credentials: the Secret is not known current,
            // and the spec is not known applied.
            let what = match (p.gen_password, p.remove_proxies.is_empty()) {
                (true, true) => "password generation",
                (false, false) => "proxy removal",
                _ => "password generation and proxy removal",
            };
            let msg = format!(
                "an interrupted {what} may still be in progress at the provider; its outcome is \
                 read at {at} before anything else is sent",
                at = at.0
            );
            conditions::set(
                &mut status.conditions,
                SYNCED,
                false,
                Reason::Progressing,
                msg.clone(),
                inp.generation,
                &obs.now,
            );
            if conditions::is_true(&status.conditions, READY) {
                conditions::set(
                    &mut status.conditions,
                    READY,
                    false,
                    Reason::Progressing,
                    msg,
                    inp.generation,
                    &obs.now,
                );
            }
            // Waiting for the time the status states is no failure: the reconcile comes back
            // then, however many watch events come meanwhile, and not later.
            return settle(status, None, Requeue::NotBefore(wait));
        }
        if let Some(request) = read_request(inp, obs) {
            return Plan::Call(Box::new(Call::read(request)));
        }
        // No safe read exists: forget the intent and let the plan below repeat what is still
        // missing (at worst one more password generation for the same token).
        status.pending_request = None;
    }

    if inp.spec.observes() {
        return observe_only(status, inp, obs, listed);
    }

    let desired = desired_change(inp, obs, listed);
    if desired.needs_read_first
        && let Some(request) = read_request(inp, obs)
    {
        return Plan::Call(Box::new(Call::read(request)));
    }
    if !desired.request.is_empty() {
        let pending = pending_for(&desired.request, desired.rotation.clone(), inp, obs);
        return Plan::Call(Box::new(Call::apply(
            desired.request,
            Apply {
                pending,
                applied_hash: applied_hash(inp, obs),
                rotation: desired.rotation,
                origin: desired.origin,
                held: desired.held,
                planned: desired.planned,
            },
        )));
    }

    // The provider matches the spec. Make the Secret match the provider.
    let Some(creds) = known_credentials(inp, obs) else {
        if let Some(request) = read_request(inp, obs) {
            return Plan::Call(Box::new(Call::read(request)));
        }
        fail_both(
            &mut status,
            inp,
            obs,
            Reason::CredentialsUnknown,
            "the live credentials are not known and cannot be read without changing the order: \
             set spec.port, spec.login or spec.password, or enable --empty-change-read"
                .to_string(),
        );
        return settle(status, None, Requeue::Terminal);
    };
    let data = credentials::render(&creds, template(inp));
    let write = secret_write(&obs.secret, data);
    status.planned_changes = desired.planned;
    succeed(&mut status, inp, obs, desired.held.as_deref());
    status.secret_name = Some(inp.secret_name());
    settle(status, write, Requeue::Refresh)
}

pub use proxy_order_api::annotations::paused as is_paused;
