//! `managementPolicy: Observe`: publish the order's credentials and status as the provider has
//! them, and send no change. What the spec would change is reported in `Synced`.

use super::{
    Call, Inputs, Observed, Plan, Requeue, after_call,
    desired::desired_change,
    pending::read_request,
    secret::{known_credentials, secret_write, template},
    status::{fail_both, set_ready},
    types::settle,
};
use crate::{
    controller::conditions::{self, Reason, SYNCED},
    credentials,
    provider::{ChangeRequest, Order},
};
use proxy_order_api::ProxyOrderStatus;

/// The plan for an observed order. The credentials come from the order list when it carries
/// them, else from what was published before, else from an empty change body (a read that
/// changes nothing, and only with `--empty-change-read`).
pub(super) fn observe_only(
    mut status: ProxyOrderStatus,
    inp: &Inputs,
    obs: &Observed,
    listed: Option<&Order>,
) -> Plan {
    status.planned_changes.clear();
    if let Some(order) = listed.filter(|o| o.access.is_some()) {
        // What a read's answer would publish.
        let read = Call::read(ChangeRequest::default());
        let mut s = after_call(inp, obs, &read, Ok(order));
        s.status.planned_changes.clear();
        let published = s.status.clone();
        let now = Inputs {
            status: &published,
            ..*inp
        };
        set_synced(&mut s.status, &now, obs, listed);
        s.requeue = Requeue::Refresh;
        return Plan::Settle(Box::new(s));
    }
    if let Some(creds) = known_credentials(inp, obs) {
        let data = credentials::render(&creds, template(inp));
        let write = secret_write(&obs.secret, data);
        set_ready(&mut status, inp, obs);
        set_synced(&mut status, inp, obs, listed);
        status.secret_name = Some(inp.secret_name());
        return settle(status, write, Requeue::Refresh);
    }
    if let Some(request) = read_request(inp, obs) {
        return Plan::Call(Box::new(Call::read(request)));
    }
    fail_both(
        &mut status,
        inp,
        obs,
        Reason::CredentialsUnknown,
        "managementPolicy is Observe and the provider's order list does not carry the \
         credentials: reading them needs an empty change body (--empty-change-read), which \
         changes nothing"
            .to_string(),
    );
    settle(status, None, Requeue::Terminal)
}

/// `Synced`: whether the provider matches the spec, and if not, which fields differ (they
/// are not sent).
fn set_synced(status: &mut ProxyOrderStatus, inp: &Inputs, obs: &Observed, listed: Option<&Order>) {
    let desired = desired_change(inp, obs, listed);
    let r = &desired.request;
    let differ: Vec<&str> = [
        ("port", r.port.is_some()),
        ("login", r.login.is_some()),
        ("ipAuth", r.ip_auth.is_some()),
        ("password", r.password.is_some() || r.gen_password.is_some()),
        (
            "quantity",
            r.quantity.is_some() || desired.held.is_some() || !desired.planned.is_empty(),
        ),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect();
    let (ok, reason, message) = if differ.is_empty() {
        (
            true,
            Reason::Observed,
            "the provider matches the spec; managementPolicy is Observe, so no change is sent"
                .to_string(),
        )
    } else {
        (
            false,
            Reason::ObserveOnly,
            format!(
                "{} in the spec differ from the provider and are not sent: managementPolicy is \
                 Observe; set it to Manage to apply them",
                differ.join(", ")
            ),
        )
    };
    conditions::set(
        &mut status.conditions,
        SYNCED,
        ok,
        reason,
        message,
        inp.generation,
        &obs.now,
    );
}
