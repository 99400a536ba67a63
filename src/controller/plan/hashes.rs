//! Fingerprints: the salted password fingerprint status records, and the hashes of the inputs,
//! of a request body and of the desired managed state (`lastAppliedHash`).

use secrecy::ExposeSecret;

use super::{Inputs, Observed};
use crate::{credentials, provider::ChangeRequest};
use proxy_order_api::ROTATE_PASSWORD_ANNOTATION;

/// The salt of this resource's password fingerprints: the one its credentials Secret carries
/// ([`FINGERPRINT_SALT_ANNOTATION`](proxy_order_api::FINGERPRINT_SALT_ANNOTATION)), else a random one
/// the operator made ([`Observed::new_salt`]), which is written into the Secret with the first
/// credentials and kept from then on. Either way it is never published where the password is
/// not: someone who can read ProxyOrders but not Secrets cannot test password guesses against a
/// fingerprint. It carries nothing about the API key (a salt derived from the key would let
/// whoever reads the Secret test guesses of the key), and once written, rotating the API key
/// changes no fingerprint (which could make a lost password generation look done).
pub fn fingerprint_salt(obs: &Observed) -> String {
    obs.fingerprint_salt
        .clone()
        .unwrap_or_else(|| obs.new_salt.clone())
}

/// The fingerprint of a password as status records it: salted with the resource's UID and its
/// [`fingerprint_salt`].
pub fn pw_fp(inp: &Inputs, obs: &Observed, password: &str) -> String {
    let salt = fingerprint_salt(obs);
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
pub(super) fn applied_hash(inp: &Inputs, obs: &Observed) -> String {
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
