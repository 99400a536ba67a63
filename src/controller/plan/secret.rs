//! The credentials Secret: its template, what to write to it, whether it holds the live
//! password, whether the API server would accept it, and the credentials it lets us know.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};

use super::{Inputs, Observed, OwnedSecret, hashes::pw_fp};
use crate::{
    controller::{conditions::Reason, validate},
    credentials::{self, Credentials, SecretData},
    provider::Order,
};
use proxy_order_api::{MAX_LOGIN_LEN, ProxyOrderStatus};

/// Why the credentials Secret for this spec cannot be written, if it cannot: labels or
/// annotations the API server refuses, or a rendering that could exceed the size limit.
pub(super) fn secret_problem(
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
    .unwrap_or(MAX_LOGIN_LEN);
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

/// The credentials as last published, when the password is known for sure.
pub(super) fn known_credentials(inp: &Inputs, obs: &Observed) -> Option<Credentials> {
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

pub(super) fn template<'a>(inp: &Inputs<'a>) -> Option<&'a BTreeMap<String, String>> {
    inp.spec.secret.as_ref().and_then(|s| s.template.as_ref())
}

/// The Secret data to write: `None` when the Secret already holds every rendered key with
/// its value (keys someone else added are left alone).
pub(super) fn secret_write(current: &OwnedSecret, data: SecretData) -> Option<SecretData> {
    match current {
        OwnedSecret::Present(cur) if data.0.iter().all(|(k, v)| cur.0.get(k) == Some(v)) => None,
        _ => Some(data),
    }
}

/// Whether the credentials Secret holds the password status knows to be live.
pub(super) fn secret_is_current(status: &ProxyOrderStatus, inp: &Inputs, obs: &Observed) -> bool {
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
