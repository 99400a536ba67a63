//! The decision: given a ProxyOrder, what the cluster and the provider look like, and the time,
//! which (at most one) provider call to make and what status and Secret follow. Pure: no IO, no
//! clock, so nearly all behaviour is tested here.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use secrecy::{ExposeSecret, SecretString};

use super::{
    conditions::{self, READY, Reason, SYNCED},
    validate,
};
use crate::{
    crd::{
        AccessSummary, OrderSummary, PAUSED_ANNOTATION, PasswordOrigin, PendingRequest,
        ProxyOrderSpec, ProxyOrderStatus, ROTATE_PASSWORD_ANNOTATION,
    },
    credentials::{self, Credentials, SecretData},
    provider::{ChangeRequest, Currency, IpAuth, Order, ProviderError},
};

/// The parts of a ProxyOrder the decision reads.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    pub name: &'a str,
    pub uid: &'a str,
    pub generation: Option<i64>,
    pub annotations: &'a BTreeMap<String, String>,
    pub spec: &'a ProxyOrderSpec,
    pub status: &'a ProxyOrderStatus,
}

/// Annotations of an object that has none.
static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Inputs<'a> {
    /// The inputs of `po`, whose name, UID and status (default when absent) the caller holds.
    pub fn of(
        po: &'a crate::crd::ProxyOrder,
        name: &'a str,
        uid: &'a str,
        status: &'a ProxyOrderStatus,
    ) -> Self {
        Inputs {
            name,
            uid,
            generation: po.metadata.generation,
            annotations: po.metadata.annotations.as_ref().unwrap_or(&NO_ANNOTATIONS),
            spec: &po.spec,
            status,
        }
    }
}

/// A referenced Secret, or one of its keys, that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    /// What the Secret is for: `API key` or `password`.
    pub purpose: &'static str,
    pub namespace: String,
    pub name: String,
    pub key: String,
    /// The Secret exists but lacks the key.
    pub key_missing: bool,
}

impl std::fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key_missing {
            write!(
                f,
                "{} Secret {}/{} has no key {:?}",
                self.purpose, self.namespace, self.name, self.key
            )
        } else {
            write!(
                f,
                "{} Secret {}/{} not found (key {:?})",
                self.purpose, self.namespace, self.name, self.key
            )
        }
    }
}

/// The credentials Secret as found in the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedSecret {
    Missing,
    /// A Secret of that name exists but is not controlled by this ProxyOrder.
    Foreign,
    Present(SecretData),
}

/// What observe() found.
#[derive(Clone, Debug)]
pub struct Observed {
    /// Fingerprint of the API key in use, or why there is none.
    pub api_key: Result<String, MissingSecret>,
    /// The password `spec.password.secretKeyRef` points at, when set.
    pub password: Option<Result<SecretString, MissingSecret>>,
    pub secret: OwnedSecret,
    /// The order as the provider's order list shows it: `None` when not fetched,
    /// `Some(Ok(None))` when the list does not contain it.
    pub listed: Option<Result<Option<Order>, ProviderError>>,
    /// Whether an empty change body may be sent to read the credentials.
    pub empty_change_read: bool,
    /// Who else claimed the order (cluster-wide, per provider), in words a tenant may see:
    /// `ProxyOrder <name> in this namespace` or `a ProxyOrder in another namespace`.
    pub conflict: Option<String>,
    /// Why this ProxyOrder may not use the provider it names at all (the ProxyProvider is
    /// missing or does not allow the namespace, or namespaced API keys are switched off).
    pub denied: Option<(Reason, String)>,
    /// The fingerprint salt from the credentials Secret's annotation, when the Secret is ours and
    /// has one (see [`fingerprint_salt`]).
    pub fingerprint_salt: Option<String>,
    /// The provider request timeout: a request whose answer was lost is read back only when
    /// the provider can no longer be carrying it out (see `PendingRequest::read_not_before`).
    pub answer_grace: std::time::Duration,
    pub now: Time,
}

/// When to look at the resource again.
#[derive(Clone, Debug, PartialEq)]
pub enum Requeue {
    /// At the next periodic refresh.
    Refresh,
    /// Soon: more work follows immediately.
    Soon,
    /// A transient provider failure: back off, at least `retry_after`.
    Backoff {
        retry_after: Option<std::time::Duration>,
    },
    /// A terminal failure: re-check slowly; a change of the inputs triggers at once.
    Terminal,
    /// Nothing to do until the resource changes.
    AwaitChange,
}

/// What the call is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// Carry out the spec.
    Apply,
    /// Learn the live credentials, changing nothing.
    Read,
}

/// One provider change call and what a success means.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub kind: CallKind,
    pub request: ChangeRequest,
    /// Recorded in status before the call when the request is not idempotent.
    pub pending: Option<PendingRequest>,
    /// `lastAppliedHash` after a success.
    pub applied_hash: Option<String>,
    /// Rotation token carried out by this call.
    pub rotation: Option<String>,
    /// Origin of the password after a success, when the call sets it.
    pub origin: Option<PasswordOrigin>,
    /// Why part of the spec is held back (quantity waiting for expiry).
    pub held: Option<String>,
}

impl Call {
    /// A call that only reads the live credentials.
    fn read(request: ChangeRequest, held: Option<String>) -> Call {
        Call {
            kind: CallKind::Read,
            request,
            pending: None,
            applied_hash: None,
            rotation: None,
            origin: None,
            held,
        }
    }
}

/// A state to write, without a provider call.
#[derive(Clone, Debug, PartialEq)]
pub struct Settle {
    pub status: ProxyOrderStatus,
    /// Secret data to write; `None` when the Secret is already right or must not be touched.
    pub secret: Option<SecretData>,
    pub requeue: Requeue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Call(Box<Call>),
    Settle(Box<Settle>),
}

/// The salt of this resource's password fingerprints: the one its credentials Secret carries
/// ([`FINGERPRINT_SALT_ANNOTATION`](crate::crd::FINGERPRINT_SALT_ANNOTATION)), else one derived
/// from the UID and the API key's fingerprint, which is written into the Secret with the first
/// credentials and kept from then on. Either way it is never published where the password is
/// not: someone who can read ProxyOrders but not Secrets cannot test password guesses against a
/// fingerprint. And once written, rotating the API key does not change any fingerprint (which
/// could make a lost password generation look done).
pub fn fingerprint_salt(uid: &str, obs: &Observed) -> String {
    match &obs.fingerprint_salt {
        Some(s) => s.clone(),
        None => {
            let key = obs.api_key.as_ref().map(String::as_str).unwrap_or("-");
            credentials::fingerprint(["fingerprint-salt", uid, key])
        }
    }
}

/// The fingerprint of a password as status records it: salted with the resource's UID and its
/// [`fingerprint_salt`].
pub fn pw_fp(inp: &Inputs, obs: &Observed, password: &str) -> String {
    let salt = fingerprint_salt(inp.uid, obs);
    credentials::password_fingerprint(&format!("{}\0{salt}", inp.uid), password)
}

/// A fingerprint of everything a decision depends on, to recognise a retry of the same
/// failing request.
pub fn inputs_hash(inp: &Inputs, obs: &Observed) -> String {
    let spec = serde_json::to_string(inp.spec).unwrap_or_default();
    let key = obs.api_key.as_ref().map(String::as_str).unwrap_or("-");
    let pw = match &obs.password {
        Some(Ok(p)) => pw_fp(inp, obs, p.expose_secret()),
        _ => "-".to_string(),
    };
    let rotate = inp
        .annotations
        .get(ROTATE_PASSWORD_ANNOTATION)
        .map(String::as_str)
        .unwrap_or("-");
    credentials::fingerprint([spec.as_str(), key, pw.as_str(), rotate])
}

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
            "Secret {} exists and is not controlled by this ProxyOrder; delete it or set spec.secret.name",
            secret_name(inp)
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
            return settle(
                status,
                None,
                Requeue::Backoff {
                    retry_after: Some(wait),
                },
            );
        }
        if let Some(request) = read_request(inp, obs) {
            return Plan::Call(Box::new(Call::read(request, None)));
        }
        // No safe read exists: forget the intent and let the plan below repeat what is still
        // missing (at worst one more password generation for the same token).
        status.pending_request = None;
    }

    let desired = desired_change(inp, obs, listed);
    if desired.needs_read_first
        && let Some(request) = read_request(inp, obs)
    {
        return Plan::Call(Box::new(Call::read(request, None)));
    }
    if !desired.request.is_empty() {
        let pending = pending_for(&desired.request, desired.rotation.clone(), inp, obs);
        return Plan::Call(Box::new(Call {
            kind: CallKind::Apply,
            request: desired.request,
            pending,
            applied_hash: Some(applied_hash(inp, obs)),
            rotation: desired.rotation,
            origin: desired.origin,
            held: desired.held,
        }));
    }

    // The provider matches the spec. Make the Secret match the provider.
    let Some(creds) = known_credentials(inp, obs) else {
        if let Some(request) = read_request(inp, obs) {
            return Plan::Call(Box::new(Call::read(request, desired.held)));
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
    succeed(&mut status, inp, obs, desired.held.as_deref());
    status.secret_name = Some(secret_name(inp));
    settle(status, write, Requeue::Refresh)
}

/// Why the credentials Secret for this spec cannot be written, if it cannot: labels or
/// annotations the API server refuses, or a rendering that could exceed the size limit.
fn secret_problem(
    inp: &Inputs,
    obs: &Observed,
    listed: Option<&Order>,
) -> Option<(Reason, String)> {
    let target = inp.spec.secret.as_ref();
    if let Some(msg) = validate::metadata_problem(
        target.and_then(|s| s.labels.as_ref()),
        target.and_then(|s| s.annotations.as_ref()),
    ) {
        return Some((Reason::InvalidSpec, msg));
    }
    let st = inp.status;
    let proxies = [
        inp.spec.quantity.map(|q| q as usize),
        st.proxies.as_ref().map(Vec::len),
        st.order.as_ref().map(|o| o.quantity as usize),
        listed.map(|o| o.quantity as usize),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    let login_len = [
        inp.spec.login.as_ref().map(String::len),
        st.access.as_ref().map(|a| a.login.len()),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(validate::MAX_LOGIN_LEN);
    let password_len = match (&obs.password, &obs.secret) {
        (Some(Ok(p)), _) => p.expose_secret().len(),
        (_, OwnedSecret::Present(data)) => data
            .0
            .get(credentials::KEY_PASSWORD)
            .map_or(0, String::len)
            .max(validate::ASSUMED_PASSWORD_LEN),
        _ => validate::ASSUMED_PASSWORD_LEN,
    };
    validate::size_problem(
        template(inp),
        validate::SizeInputs {
            proxies,
            login_len,
            password_len,
        },
    )
    .map(|msg| (Reason::SecretTooLarge, msg))
}

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
    if let Some(p) = &call.pending {
        status.pending_request = Some(p.clone());
    }
    let order = match result {
        Err(e) => {
            // A 4xx answer means the request was not carried out. Without an answer, or with a
            // 5xx (a gateway may answer after the provider acted), it may have been, and the
            // intent stays for the next reconcile to resolve. A failed read resolves nothing:
            // the interrupted request it was for stays pending.
            let not_done = e.status().is_some_and(|s| s < 500);
            if not_done && call.kind == CallKind::Apply {
                status.pending_request = None;
            }
            if !not_done
                && call.kind == CallKind::Apply
                && let Some(p) = status.pending_request.as_mut()
            {
                p.read_not_before = answer_settled_after(&obs.now, obs);
            }
            let may_have_changed = call.kind == CallKind::Apply && !not_done;
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
        record_failure(&mut status, inp, obs, &e, call.kind == CallKind::Apply);
        return Settle {
            status,
            secret: None,
            requeue: requeue_for(&e),
        };
    };
    let fingerprint = pw_fp(inp, obs, access.password.expose_secret());

    match call.kind {
        CallKind::Apply => {
            if call.origin.is_some() {
                status.password_origin = call.origin;
            }
            if call.rotation.is_some() {
                status.password_rotation = call.rotation.clone();
            }
            status.last_applied_hash = call.applied_hash.clone();
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
    status.secret_name = Some(secret_name(inp));
    let creds = Credentials {
        port: access.port,
        login: access.login.clone(),
        password: access.password.clone(),
        proxies: order.proxy_ips(),
    };
    let data = credentials::render(&creds, template(inp));
    let write = secret_write(&obs.secret, data);
    if call.kind == CallKind::Read {
        // A read is a step towards applying the spec, not proof that the provider matches it.
        set_ready(&mut status, inp, obs);
    } else {
        succeed(&mut status, inp, obs, call.held.as_deref());
    }
    let requeue = if call.kind == CallKind::Read {
        Requeue::Soon
    } else {
        Requeue::Refresh
    };
    Settle {
        status,
        secret: write,
        requeue,
    }
}

struct Desired {
    request: ChangeRequest,
    rotation: Option<String>,
    origin: Option<PasswordOrigin>,
    held: Option<String>,
    needs_read_first: bool,
}

fn desired_change(inp: &Inputs, obs: &Observed, listed: Option<&Order>) -> Desired {
    let spec = inp.spec;
    let st = inp.status;
    let access = st.access.as_ref();
    let mut req = ChangeRequest::default();
    let mut origin = None;
    let mut rotation = None;
    let mut held = None;
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

    let rotate_token = inp
        .annotations
        .get(ROTATE_PASSWORD_ANNOTATION)
        .filter(|t| !t.is_empty())
        .filter(|t| st.password_rotation.as_ref() != Some(*t));
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
                rotation = rotate_token.cloned();
            }
        }
        _ => {
            if let Some(token) = rotate_token {
                req.gen_password = Some(true);
                origin = Some(PasswordOrigin::Generated);
                rotation = Some(token.clone());
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
                if expired {
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

/// Why deleting a ProxyOrder with `deletionPolicy: Revoke` must not revoke the order's
/// credentials, if it must not: the resource never managed the order (it never published its
/// credentials), or another ProxyOrder owns the order now. Revoking then would rotate the
/// password and clear the allow-list under the real owner.
pub fn revoke_refusal(inp: &Inputs, obs: &Observed) -> Option<String> {
    let order = inp.spec.order_id;
    if let Some((_, why)) = &obs.denied {
        return Some(format!("{why}: nothing revoked"));
    }
    if let Some(other) = &obs.conflict {
        return Some(format!(
            "order {order} is managed by {other}, not by this one: nothing revoked"
        ));
    }
    if inp.status.access.is_none() || inp.status.password_fingerprint.is_none() {
        return Some(format!(
            "this ProxyOrder never published the credentials of order {order}: nothing revoked"
        ));
    }
    None
}

/// The intent to record before a request that must not be repeated by accident.
fn pending_for(
    req: &ChangeRequest,
    rotation: Option<String>,
    inp: &Inputs,
    obs: &Observed,
) -> Option<PendingRequest> {
    let gen_password = req.gen_password == Some(true);
    let remove = req.remove_proxies.clone().unwrap_or_default();
    if !gen_password && remove.is_empty() {
        return None;
    }
    Some(PendingRequest {
        hash: request_hash(req, inp, obs),
        gen_password,
        remove_proxies: remove,
        previous_password_fingerprint: inp.status.password_fingerprint.clone(),
        rotation,
        started_at: obs.now.clone(),
        read_not_before: None,
    })
}

/// A fingerprint of a request body in which the password appears only as its fingerprint.
pub fn request_hash(req: &ChangeRequest, inp: &Inputs, obs: &Observed) -> String {
    let mut masked = req.clone();
    let pw = masked
        .password
        .take()
        .map(|p| pw_fp(inp, obs, p.expose_secret()))
        .unwrap_or_default();
    let body = serde_json::to_string(&masked).unwrap_or_default();
    credentials::fingerprint([body.as_str(), pw.as_str()])
}

/// Fingerprint of the desired managed state (`lastAppliedHash`).
fn applied_hash(inp: &Inputs, obs: &Observed) -> String {
    let s = inp.spec;
    let mut ips = s.ip_auth.clone().unwrap_or_default();
    ips.sort();
    let pw = match (&s.password, &obs.password) {
        (_, Some(Ok(p))) => pw_fp(inp, obs, p.expose_secret()),
        (Some(p), _) if p.generate == Some(true) => "generate".to_string(),
        _ => "-".to_string(),
    };
    let port = s.port.map(|p| p.to_string()).unwrap_or_default();
    let quantity = s.quantity.map(|q| q.to_string()).unwrap_or_default();
    let ip_auth = s
        .ip_auth
        .as_ref()
        .map(|_| ips.join(","))
        .unwrap_or("-".into());
    let rotation = inp
        .annotations
        .get(ROTATE_PASSWORD_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    credentials::fingerprint([
        port.as_str(),
        s.login.as_deref().unwrap_or("-"),
        ip_auth.as_str(),
        pw.as_str(),
        quantity.as_str(),
        rotation.as_str(),
    ])
}

/// When a request sent at `sent` can no longer be in progress at the provider: the call itself
/// may have taken up to one timeout and a `Time` keeps whole seconds, so two timeouts and a
/// second after it.
fn answer_settled_after(sent: &Time, obs: &Observed) -> Option<Time> {
    let grace = k8s_openapi::jiff::SignedDuration::try_from(
        obs.answer_grace * 2 + std::time::Duration::from_secs(1),
    )
    .ok()?;
    sent.0.checked_add(grace).ok().map(Time)
}

/// The earliest time the outcome of an interrupted request may be read back: the recorded
/// `readNotBefore`, and never before its start plus the answer grace (a process that died with
/// the call in flight recorded only the start).
fn read_not_before(p: &PendingRequest, obs: &Observed) -> Option<Time> {
    let from_start = answer_settled_after(&p.started_at, obs);
    match (p.read_not_before.clone(), from_start) {
        (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// A change body that changes nothing and returns the live credentials, if one is known.
fn read_request(inp: &Inputs, obs: &Observed) -> Option<ChangeRequest> {
    if obs.empty_change_read {
        return Some(ChangeRequest::default());
    }
    let access = inp.status.access.as_ref()?;
    Some(ChangeRequest {
        port: Some(access.port),
        ..Default::default()
    })
}

/// The credentials as last published, when the password is known for sure.
fn known_credentials(inp: &Inputs, obs: &Observed) -> Option<Credentials> {
    let st = inp.status;
    let access = st.access.as_ref()?;
    let fp = st.password_fingerprint.as_deref()?;
    let matches = |p: &str| pw_fp(inp, obs, p) == fp;
    let from_ref = match &obs.password {
        Some(Ok(p)) if matches(p.expose_secret()) => Some(p.clone()),
        _ => None,
    };
    let from_secret = || match &obs.secret {
        OwnedSecret::Present(data) => data
            .0
            .get(credentials::KEY_PASSWORD)
            .filter(|p| matches(p))
            .map(|p| SecretString::from(p.clone())),
        _ => None,
    };
    let password = from_ref.or_else(from_secret)?;
    Some(Credentials {
        port: access.port,
        login: access.login.clone(),
        password,
        proxies: st.proxies.clone().unwrap_or_default(),
    })
}

fn template<'a>(inp: &Inputs<'a>) -> Option<&'a BTreeMap<String, String>> {
    inp.spec.secret.as_ref().and_then(|s| s.template.as_ref())
}

fn secret_name(inp: &Inputs) -> String {
    inp.spec
        .secret
        .as_ref()
        .and_then(|s| s.name.clone())
        .unwrap_or_else(|| format!("{}-proxy", inp.name))
}

pub fn is_paused(annotations: &BTreeMap<String, String>) -> bool {
    annotations.get(PAUSED_ANNOTATION).map(String::as_str) == Some("true")
}

fn summary(order: &Order, currency: Option<Currency>) -> OrderSummary {
    let location = order.location.as_ref().map(|l| {
        if l.country_name.is_empty() || l.country_name == l.name {
            l.name.clone()
        } else {
            format!("{}, {}", l.name, l.country_name)
        }
    });
    OrderSummary {
        status: order.status.to_string(),
        service: Some(order.service.name.clone()).filter(|s| !s.is_empty()),
        location,
        operator: order.operator.as_ref().map(|o| o.name.clone()),
        period: order.period,
        quantity: order.quantity,
        amount: money(order.amount),
        converted_amount: order.converted_amount.map(money),
        currency: Some(currency.unwrap_or_default().as_str().to_string()),
        auto_continuation: order.auto_continuation,
        allowed_operations: order.allowed_operations.clone(),
        resources_allocated: order.resources_allocated,
    }
}

/// Money as the shortest decimal that reads back as the same number (`1.81`, `100`).
fn money(v: f64) -> String {
    format!("{v}")
}

fn settle(status: ProxyOrderStatus, secret: Option<SecretData>, requeue: Requeue) -> Plan {
    Plan::Settle(Box::new(Settle {
        status,
        secret,
        requeue,
    }))
}

/// The Secret data to write: `None` when the Secret already holds every rendered key with
/// its value (keys someone else added are left alone).
fn secret_write(current: &OwnedSecret, data: SecretData) -> Option<SecretData> {
    match current {
        OwnedSecret::Present(cur) if data.0.iter().all(|(k, v)| cur.0.get(k) == Some(v)) => None,
        _ => Some(data),
    }
}

fn set_ready(status: &mut ProxyOrderStatus, inp: &Inputs, obs: &Observed) {
    let name = secret_name(inp);
    conditions::set(
        &mut status.conditions,
        READY,
        true,
        Reason::Applied,
        format!("credentials are published in Secret {name}"),
        inp.generation,
        &obs.now,
    );
}

fn succeed(status: &mut ProxyOrderStatus, inp: &Inputs, obs: &Observed, held: Option<&str>) {
    set_ready(status, inp, obs);
    match held {
        Some(msg) => conditions::set(
            &mut status.conditions,
            SYNCED,
            false,
            Reason::WaitingForExpiry,
            msg,
            inp.generation,
            &obs.now,
        ),
        None => conditions::set(
            &mut status.conditions,
            SYNCED,
            true,
            Reason::Applied,
            "the provider matches the spec",
            inp.generation,
            &obs.now,
        ),
    }
}

fn fail_both(
    status: &mut ProxyOrderStatus,
    inp: &Inputs,
    obs: &Observed,
    reason: Reason,
    message: String,
) {
    for t in [READY, SYNCED] {
        conditions::set(
            &mut status.conditions,
            t,
            false,
            reason,
            message.clone(),
            inp.generation,
            &obs.now,
        );
    }
}

/// The condition reason for a provider error.
pub fn reason_for(e: &ProviderError) -> Reason {
    match e {
        ProviderError::Unauthorized { .. } => Reason::Unauthorized,
        ProviderError::NotFound { .. } => Reason::OrderNotFound,
        ProviderError::Rejected { .. }
        | ProviderError::UnexpectedStatus { .. }
        | ProviderError::InvalidRequest(_) => Reason::ProviderRejected,
        _ => Reason::ProviderUnavailable,
    }
}

fn requeue_for(e: &ProviderError) -> Requeue {
    if e.is_transient() {
        Requeue::Backoff {
            retry_after: e.retry_after(),
        }
    } else {
        Requeue::Terminal
    }
}

/// Whether the credentials Secret holds the password status knows to be live.
fn secret_is_current(status: &ProxyOrderStatus, inp: &Inputs, obs: &Observed) -> bool {
    let Some(fp) = status.password_fingerprint.as_deref() else {
        return false;
    };
    match &obs.secret {
        OwnedSecret::Present(data) => data
            .0
            .get(credentials::KEY_PASSWORD)
            .is_some_and(|pw| pw_fp(inp, obs, pw) == fp),
        _ => false,
    }
}

/// Terminal failures make both conditions false. A transient failure leaves a Ready resource
/// Ready only while its Secret still holds the live credentials: not when the Secret is gone or
/// stale, and not when the failed request may have changed them at the provider
/// (`may_have_changed`).
fn record_failure(
    status: &mut ProxyOrderStatus,
    inp: &Inputs,
    obs: &Observed,
    e: &ProviderError,
    may_have_changed: bool,
) {
    let reason = reason_for(e);
    let message = e.to_string();
    conditions::set(
        &mut status.conditions,
        SYNCED,
        false,
        reason,
        message.clone(),
        inp.generation,
        &obs.now,
    );
    let keep_ready = e.is_transient()
        && !may_have_changed
        && conditions::is_true(&status.conditions, READY)
        && secret_is_current(status, inp, obs);
    if !keep_ready {
        conditions::set(
            &mut status.conditions,
            READY,
            false,
            reason,
            message,
            inp.generation,
            &obs.now,
        );
    }
}
