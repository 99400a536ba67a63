//! The outcome of a provider call: what a success, a failure or a lost answer means for status
//! and the Secret, including how a read resolves an interrupted password generation.

use secrecy::ExposeSecret;

use super::{
    Call, CallKind, Inputs, Observed, OwnedSecret, Requeue, Settle,
    hashes::pw_fp,
    pending::answer_settled_after,
    secret::{secret_write, template},
    status::{record_failure, requeue_for, set_ready, succeed, summary},
};
use crate::{
    credentials::{self, Credentials},
    provider::{Order, ProviderError},
};
use proxy_order_api::{AccessSummary, PasswordOrigin};

/// What a call's outcome means for status and the Secret.
pub fn after_call(
    inp: &Inputs,
    obs: &Observed,
    call: &Call,
    result: Result<&Order, &ProviderError>,
) -> Settle {
    let mut status = inp.status.clone();
    status.observed_generation = inp.generation;
    // The reconciler recorded this intent before the call; start from that state.
    if let Some(p) = call.pending() {
        status.pending_request = Some(p.clone());
    }
    let applies = matches!(call.kind, CallKind::Apply(_));
    let order = match result {
        Err(e) => {
            // A 4xx answer means the request was not carried out. Without an answer, or with a
            // 5xx (a gateway may answer after the provider acted), it may have been, and the
            // intent stays for the next reconcile to resolve. A failed read resolves nothing:
            // the interrupted request it was for stays pending.
            let not_done = e.status().is_some_and(|s| s < 500);
            if not_done && applies {
                status.pending_request = None;
            }
            if !not_done
                && applies
                && let Some(p) = status.pending_request.as_mut()
            {
                p.read_not_before = answer_settled_after(&obs.now, obs);
            }
            let may_have_changed = applies && !not_done;
            record_failure(&mut status, inp, obs, e, may_have_changed);
            return Settle {
                status,
                secret: None,
                requeue: requeue_for(e),
            };
        }
        Ok(order) => order,
    };
    let Some(access) = &order.access else {
        // The provider answered 2xx, so the request took effect, but without the credentials;
        // the intent stays so that the next reconcile reads them.
        let e = ProviderError::Decode("the change response carries no access block".into());
        record_failure(&mut status, inp, obs, &e, applies);
        return Settle {
            status,
            secret: None,
            requeue: requeue_for(&e),
        };
    };
    let fingerprint = pw_fp(inp, obs, access.password.expose_secret());

    match &call.kind {
        CallKind::Apply(apply) => {
            if apply.origin.is_some() {
                status.password_origin = apply.origin;
            }
            if apply.rotation.is_some() {
                status.password_rotation = apply.rotation.clone();
            }
            status.last_applied_hash = Some(apply.applied_hash.clone());
        }
        CallKind::Read => {
            // Recovering an interrupted password generation: it took effect if the password
            // is no longer the one from before. With no password known from before, it took
            // effect if the Secret (written only after a successful call) already holds the
            // live password; otherwise that cannot be told, and the generation is asked for
            // again (the documented worst case: one extra generation).
            let secret_has_live = match &obs.secret {
                OwnedSecret::Present(data) => data
                    .0
                    .get(credentials::KEY_PASSWORD)
                    .is_some_and(|pw| pw_fp(inp, obs, pw) == fingerprint),
                _ => false,
            };
            // The earlier fingerprint can be compared only under the salt it was made with, which
            // is known for sure only from the Secret; without it, this cannot be told.
            let previous = inp
                .status
                .pending_request
                .as_ref()
                .and_then(|p| p.previous_password_fingerprint.as_deref())
                .filter(|_| obs.fingerprint_salt.is_some());
            if let Some(p) = &inp.status.pending_request
                && p.gen_password
                && match previous {
                    Some(prev) => prev != fingerprint,
                    None => secret_has_live,
                }
            {
                status.password_origin = Some(PasswordOrigin::Generated);
                if p.rotation.is_some() {
                    status.password_rotation = p.rotation.clone();
                }
            }
        }
    }
    if status.password_origin.is_none() {
        status.password_origin = Some(PasswordOrigin::Provider);
    }
    status.pending_request = None;
    status.password_fingerprint = Some(fingerprint);
    status.access = Some(AccessSummary {
        port: access.port,
        login: access.login.clone(),
        ip_list: access.ip_list.clone(),
    });
    status.proxies = Some(order.proxy_ips());
    status.order = Some(summary(order, inp.spec.currency));
    status.last_sync_time = Some(obs.now.clone());
    status.secret_name = Some(inp.secret_name());
    let creds = Credentials {
        port: access.port,
        login: access.login.clone(),
        password: access.password.clone(),
        proxies: order.proxy_ips(),
    };
    let data = credentials::render(&creds, template(inp));
    let write = secret_write(&obs.secret, data);
    let requeue = match &call.kind {
        CallKind::Apply(apply) => {
            status.planned_changes = apply.planned.clone();
            succeed(&mut status, inp, obs, apply.held.as_deref());
            Requeue::Refresh
        }
        CallKind::Read => {
            // A read is a step towards applying the spec, not proof that the provider matches
            // it.
            set_ready(&mut status, inp, obs);
            Requeue::Soon
        }
    };
    Settle {
        status,
        secret: write,
        requeue,
    }
}
