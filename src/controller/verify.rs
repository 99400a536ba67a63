//! The `CredentialsVerified` condition (`--verify-credentials`): after the credentials change,
//! and then every `--probe-interval`, one HTTP CONNECT through the order's first proxy to
//! `--probe-target` with the credentials being published (see [`crate::probe`]). Probes share
//! one rate limit (`--probe-rate`); one that finds no token waits for the next reconcile.
//!
//! A proxy that refuses the credentials (407) means the password changed at the provider
//! behind the operator's back: the live password is no longer known (`Ready=False`, the
//! password fingerprint cleared), so the next reconcile, at once, reads the credentials again
//! (or, for a password from `spec.password.secretKeyRef`, sets it again).

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use parking_lot::Mutex;
use secrecy::SecretString;

use super::{
    conditions::{self, READY, Reason},
    gateway::RateLimiter,
    plan::{OwnedSecret, Requeue, Settle},
};
use crate::{
    credentials::{self, KEY_LOGIN, KEY_PASSWORD, KEY_PORT, SecretData},
    probe::{ProbeAuth, ProbeOutcome, probe},
};

/// The condition's type.
pub const CREDENTIALS_VERIFIED: &str = "CredentialsVerified";
/// How soon an inconclusive probe (no answer, target unreachable) is tried again.
const RETRY_INCONCLUSIVE: Duration = Duration::from_secs(60);
/// The rate limiter's key for probes.
const PROBE_KEY: &str = "credentials-probe";

/// What `--verify-credentials` and its flags set.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    /// `host:port` to CONNECT to.
    pub target: String,
    pub timeout: Duration,
    /// How often unchanged, verified credentials are checked again.
    pub interval: Duration,
    /// Probes per second, all ProxyOrders together.
    pub rate: f64,
}

/// The last probe of one ProxyOrder's credentials.
struct Last {
    /// Of the credentials and proxy probed (in memory only).
    fingerprint: String,
    at: Instant,
    verified: bool,
}

/// Probes credentials and keeps when each ProxyOrder's were last probed.
pub struct Verifier {
    settings: ProbeSettings,
    limiter: RateLimiter,
    last: Mutex<HashMap<String, Last>>,
}

/// What a probe is of: the proxy, and how to authenticate to it.
struct Subject {
    proxy: SocketAddr,
    auth: ProbeAuth,
    fingerprint: String,
}

impl Verifier {
    pub fn new(settings: ProbeSettings) -> Self {
        Verifier {
            limiter: RateLimiter::new(settings.rate),
            settings,
            last: Mutex::default(),
        }
    }

    /// Forgets a deleted ProxyOrder.
    pub fn forget(&self, uid: &str) {
        self.last.lock().remove(uid);
    }

    /// Probes the credentials `settle` publishes, when they are due, and records the outcome
    /// in its status. Returns the outcome when a probe ran.
    pub async fn check(
        &self,
        uid: &str,
        generation: Option<i64>,
        current: &OwnedSecret,
        settle: &mut Settle,
        now: &Time,
    ) -> Option<ProbeOutcome> {
        if !conditions::is_true(&settle.status.conditions, READY) {
            return None;
        }
        let data = match (&settle.secret, current) {
            (Some(data), _) | (None, OwnedSecret::Present(data)) => data,
            _ => return None,
        };
        let first_ip = settle.status.proxies.as_ref()?.first()?;
        let subject = subject(data, first_ip)?;
        if !self.due(uid, &subject.fingerprint) || self.limiter.try_acquire(PROBE_KEY).is_err() {
            return None;
        }
        let outcome = probe(
            subject.proxy,
            &self.settings.target,
            subject.auth,
            self.settings.timeout,
        )
        .await;
        self.last.lock().insert(
            uid.to_string(),
            Last {
                fingerprint: subject.fingerprint,
                at: Instant::now(),
                verified: outcome == ProbeOutcome::Verified,
            },
        );
        record(
            settle,
            &outcome,
            subject.proxy,
            &self.settings.target,
            generation,
            now,
        );
        Some(outcome)
    }

    /// Whether credentials with `fingerprint` should be probed now.
    fn due(&self, uid: &str, fingerprint: &str) -> bool {
        let last = self.last.lock();
        match last.get(uid) {
            Some(l) if l.fingerprint == fingerprint => {
                let wait = if l.verified {
                    self.settings.interval
                } else {
                    RETRY_INCONCLUSIVE.min(self.settings.interval)
                };
                l.at.elapsed() >= wait
            }
            _ => true,
        }
    }
}

/// The proxy and credentials the Secret `data` publishes, with the order's first proxy IP.
fn subject(data: &SecretData, first_ip: &str) -> Option<Subject> {
    let port: u16 = data.0.get(KEY_PORT)?.parse().ok()?;
    let ip: IpAddr = first_ip.parse().ok()?;
    let proxy = SocketAddr::new(ip, port);
    let login = data.0.get(KEY_LOGIN).filter(|l| !l.is_empty());
    let password = data.0.get(KEY_PASSWORD).filter(|p| !p.is_empty());
    let addr = proxy.to_string();
    let (auth, fingerprint) = match (login, password) {
        (Some(login), Some(password)) => (
            ProbeAuth::Basic {
                login: login.clone(),
                password: SecretString::from(password.clone()),
            },
            credentials::fingerprint(["probe", &addr, login, password]),
        ),
        _ => (
            ProbeAuth::AllowList,
            credentials::fingerprint(["probe", &addr]),
        ),
    };
    Some(Subject {
        proxy,
        auth,
        fingerprint,
    })
}

/// Records `outcome` in `settle`. A rejection also marks the live password unknown, so that
/// it is read (or set) again at once.
fn record(
    settle: &mut Settle,
    outcome: &ProbeOutcome,
    proxy: SocketAddr,
    target: &str,
    generation: Option<i64>,
    now: &Time,
) {
    let status = &mut settle.status;
    let (state, reason, message) = match outcome {
        ProbeOutcome::Verified => (
            "True",
            Reason::Verified,
            format!(
                "a CONNECT to {target} through proxy {proxy} with the published credentials succeeded"
            ),
        ),
        ProbeOutcome::Rejected => (
            "False",
            Reason::CredentialsRejected,
            format!(
                "proxy {proxy} refused the published credentials (407): they were probably \
                 changed at the provider; reading them again"
            ),
        ),
        ProbeOutcome::TargetUnreachable { status: code } => (
            "Unknown",
            Reason::ProbeTargetUnreachable,
            format!("proxy {proxy} accepted the credentials but could not reach {target} ({code})"),
        ),
        ProbeOutcome::Unreachable(why) => ("Unknown", Reason::ProbeFailed, why.clone()),
    };
    conditions::set_status(
        &mut status.conditions,
        CREDENTIALS_VERIFIED,
        state,
        reason,
        message.clone(),
        generation,
        now,
    );
    if *outcome == ProbeOutcome::Rejected {
        conditions::set(
            &mut status.conditions,
            READY,
            false,
            Reason::CredentialsRejected,
            message,
            generation,
            now,
        );
        status.password_fingerprint = None;
        settle.requeue = Requeue::Soon;
    }
}

#[cfg(test)]
mod tests;
