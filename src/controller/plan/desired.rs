//! The desired change: which managed fields (port, login, ipAuth, password, quantity) differ
//! from what the provider has, and what part of it must wait or be read first.

use std::collections::BTreeSet;

use secrecy::ExposeSecret;

use super::{
    Inputs, Observed,
    guardrail::{guarded_quantity, held_message},
    hashes::pw_fp,
};
use crate::provider::{ChangeRequest, IpAuth, Order};
use proxy_order_api::{
    OrderSummary, PasswordOrigin, PlannedChange, ROTATE_PASSWORD_ANNOTATION, annotations::requested,
};

pub(super) struct Desired {
    pub(super) request: ChangeRequest,
    pub(super) rotation: Option<String>,
    pub(super) origin: Option<PasswordOrigin>,
    pub(super) held: Option<String>,
    /// Changes the cost guardrail holds back.
    pub(super) planned: Vec<PlannedChange>,
    pub(super) needs_read_first: bool,
}

pub(super) fn desired_change(inp: &Inputs, obs: &Observed, listed: Option<&Order>) -> Desired {
    let spec = inp.spec;
    let st = inp.status;
    let access = st.access.as_ref();
    let mut req = ChangeRequest::default();
    let mut origin = None;
    let mut rotation = None;
    let mut held = None;
    let mut planned = Vec::new();
    let mut needs_read_first = false;

    if let Some(port) = spec.port
        && access.map(|a| a.port) != Some(port)
    {
        req.port = Some(port);
    }
    if let Some(login) = &spec.login
        && access.map(|a| &a.login) != Some(login)
    {
        req.login = Some(login.clone());
    }
    if let Some(ips) = &spec.ip_auth {
        let want = ip_set(ips);
        let have = access.map(|a| ip_set(&a.ip_list));
        if have.as_ref() != Some(&want) {
            req.ip_auth = Some(IpAuth::List(ips.clone()));
        }
    }

    let rotate_token = requested(
        inp.annotations,
        ROTATE_PASSWORD_ANNOTATION,
        st.password_rotation.as_deref(),
    );
    match (&spec.password, &obs.password) {
        (Some(p), Some(Ok(value))) if p.secret_key_ref.is_some() => {
            let fp = pw_fp(inp, obs, value.expose_secret());
            if st.password_fingerprint.as_deref() != Some(fp.as_str())
                || st.password_origin != Some(PasswordOrigin::SecretKeyRef)
            {
                req.password = Some(value.clone());
                origin = Some(PasswordOrigin::SecretKeyRef);
            }
            // A rotation would only be undone by the Secret's value: ignored.
        }
        (Some(p), _) if p.generate == Some(true) => {
            if st.password_origin != Some(PasswordOrigin::Generated) || rotate_token.is_some() {
                req.gen_password = Some(true);
                origin = Some(PasswordOrigin::Generated);
                rotation = rotate_token.map(str::to_string);
            }
        }
        _ => {
            if let Some(token) = rotate_token {
                req.gen_password = Some(true);
                origin = Some(PasswordOrigin::Generated);
                rotation = Some(token.to_string());
            }
        }
    }

    if let Some(want) = spec.quantity {
        let current = listed
            .map(|o| (o.quantity, o.status.is_expired(), o.is_mobile()))
            .or_else(|| {
                st.order.as_ref().map(|o| {
                    (
                        o.quantity,
                        crate::provider::OrderStatus::from(o.status.as_str()).is_expired(),
                        is_mobile_summary(o),
                    )
                })
            });
        match current {
            Some((have, expired, mobile)) if have != want => {
                let guarded = guarded_quantity(inp, obs, have, want);
                let unapproved: Vec<PlannedChange> =
                    guarded.iter().filter(|p| !p.approved).cloned().collect();
                if !unapproved.is_empty() {
                    held = Some(held_message(&unapproved));
                    planned = guarded;
                } else if expired {
                    req.quantity = Some(want);
                    if !mobile {
                        let remove = spec.remove_proxies.clone().unwrap_or_default();
                        match &st.proxies {
                            Some(in_order) => {
                                let drop: Vec<String> = remove
                                    .into_iter()
                                    .filter(|ip| in_order.contains(ip))
                                    .collect();
                                if !drop.is_empty() {
                                    req.remove_proxies = Some(drop);
                                }
                            }
                            None if !remove.is_empty() => needs_read_first = true,
                            None => {}
                        }
                    }
                } else {
                    let status = listed
                        .map(|o| o.status.to_string())
                        .or_else(|| st.order.as_ref().map(|o| o.status.clone()))
                        .unwrap_or_default();
                    held = Some(format!(
                        "quantity change from {have} to {want} waits until the order expires: \
                         the provider accepts only auth changes while the order is {status}"
                    ));
                    // Its approvals, if it needed any, wait with it.
                    planned = guarded;
                }
            }
            Some(_) => {}
            // The current quantity is unknown until the first answer from the provider.
            None => needs_read_first = true,
        }
    }
    Desired {
        request: req,
        rotation,
        origin,
        held,
        planned,
        needs_read_first,
    }
}

/// IPs as a set, compared by address so that `2001:db8::1` equals `2001:0db8:0:0::1`.
fn ip_set(ips: &[String]) -> BTreeSet<String> {
    ips.iter()
        .map(|ip| {
            ip.parse::<std::net::IpAddr>()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| ip.clone())
        })
        .collect()
}

fn is_mobile_summary(o: &OrderSummary) -> bool {
    o.service
        .as_deref()
        .is_some_and(|s| s.to_ascii_lowercase().contains("mobile"))
}
