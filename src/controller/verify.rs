//! The `CredentialsVerified` condition (`--verify-credentials`): after the credentials change,
//! and then every `--probe-interval`, one HTTP CONNECT through the order's first proxy to
//! `--probe-target` with the credentials being published (see [`crate::probe`]). Probes share
//! one rate limit (`--probe-rate`); a ProxyOrder whose probe finds no token comes back at a
//! random time within the span the waiting probes need at that rate, so a backlog is worked
//! off at the rate instead of in bursts that mostly find no token again.
//!
//! A proxy that refuses the login and password (407) means the password probably changed at
//! the provider behind the operator's back: the live password is no longer known
//! (`Ready=False`, the password fingerprint cleared), so the next reconcile, at once, reads the
//! credentials again (or, for a password from `spec.password.secretKeyRef`, sets it again).
//! That happens once per set of credentials: the same credentials refused again only set the
//! condition, so a proxy that keeps refusing them costs no provider call. It never happens for
//! an allow-list probe (the operator's own address is not allowed: a read cannot fix that) nor
//! when no read is possible (an observed order without empty reads).

use std::{
    collections::{HashMap, HashSet},
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
    config::ProbeSettings,
    credentials::{self, KEY_LOGIN, KEY_PASSWORD, KEY_PORT, SecretData},
    probe::{ProbeAuth, ProbeOutcome, probe},
};

/// The condition's type.
pub use proxy_order_api::conditions::CREDENTIALS_VERIFIED;
/// How soon an inconclusive probe (no answer, target unreachable) is tried again.
const RETRY_INCONCLUSIVE: Duration = Duration::from_secs(60);
/// The rate limiter's key for probes.
const PROBE_KEY: &str = "credentials-probe";

/// The last probe of one ProxyOrder's credentials.
struct Last {
    /// Of the credentials and proxy probed (in memory only).
    fingerprint: String,
    at: Instant,
    verified: bool,
    /// These credentials were refused once and read again already.
    reread: bool,
}

/// Probes credentials and keeps when each ProxyOrder's were last probed.
pub struct Verifier {
    settings: ProbeSettings,
    limiter: RateLimiter,
    last: Mutex<HashMap<String, Last>>,
    /// ProxyOrders (by UID) whose due probe found no token and that have not been probed since.
    waiting: Mutex<HashSet<String>>,
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
            waiting: Mutex::default(),
        }
    }

    /// Forgets a deleted ProxyOrder.
    pub fn forget(&self, uid: &str) {
        self.last.lock().remove(uid);
        self.waiting.lock().remove(uid);
    }

    /// Whether the credentials `settle` publishes are due for a probe (rate limit aside).
    pub fn is_due(&self, uid: &str, current: &OwnedSecret, settle: &Settle) -> bool {
        subject_of(current, settle).is_some_and(|s| self.due(uid, &s.fingerprint))
    }

    /// Probes the credentials `settle` publishes, when they are due, and records the outcome
    /// in its status. `can_read`: a rejection may have the credentials read again. Returns the
    /// outcome when a probe ran.
    pub async fn check(
        &self,
        uid: &str,
        generation: Option<i64>,
        current: &OwnedSecret,
        settle: &mut Settle,
        can_read: bool,
        now: &Time,
    ) -> Option<ProbeOutcome> {
        let Some(subject) = subject_of(current, settle).filter(|s| self.due(uid, &s.fingerprint))
        else {
            // Nothing to probe (any more): not waiting for a turn either.
            self.waiting.lock().remove(uid);
            return None;
        };
        if let Err(wait) = self.limiter.try_acquire(PROBE_KEY) {
            if settle.requeue == Requeue::Refresh {
                settle.requeue = Requeue::After(self.throttled(uid, wait, rand::random()));
            }
            return None;
        }
        self.waiting.lock().remove(uid);
        let basic = matches!(subject.auth, ProbeAuth::Basic { .. });
        let outcome = probe(
            subject.proxy,
            &self.settings.target,
            subject.auth,
            self.settings.timeout,
        )
        .await;
        let rejected = outcome == ProbeOutcome::Rejected;
        let mut last = self.last.lock();
        let already = last
            .get(uid)
            .is_some_and(|l| l.fingerprint == subject.fingerprint && l.reread);
        let reread = rejected && basic && can_read && !already;
        last.insert(
            uid.to_string(),
            Last {
                fingerprint: subject.fingerprint,
                at: Instant::now(),
                verified: outcome == ProbeOutcome::Verified,
                reread: already || reread,
            },
        );
        drop(last);
        let probed = Probed {
            proxy: subject.proxy,
            target: &self.settings.target,
            reread,
        };
        record(settle, &outcome, &probed, generation, now);
        Some(outcome)
    }

    /// When a ProxyOrder whose due probe found no token (the next one is `wait` away) comes
    /// back: at `unit_random` of the way through the time the waiting probes need at the
    /// probe rate, so their returns are spread at that rate.
    fn throttled(&self, uid: &str, wait: Duration, unit_random: f64) -> Duration {
        let waiting = {
            let mut w = self.waiting.lock();
            w.insert(uid.to_string());
            w.len()
        };
        let span = Duration::try_from_secs_f64(waiting as f64 / self.settings.rate)
            .unwrap_or(self.settings.interval)
            .min(self.settings.interval);
        wait + span.mul_f64(unit_random.clamp(0.0, 1.0))
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

/// What `settle` publishes (or the Secret holds) to probe, once the credentials are Ready.
fn subject_of(current: &OwnedSecret, settle: &Settle) -> Option<Subject> {
    if !conditions::is_true(&settle.status.conditions, READY) {
        return None;
    }
    let data = match (&settle.secret, current) {
        (Some(data), _) | (None, OwnedSecret::Present(data)) => data,
        _ => return None,
    };
    subject(data, settle.status.proxies.as_ref()?.first()?)
}

/// Where a probe went, and whether its rejection has the credentials read again.
struct Probed<'a> {
    proxy: SocketAddr,
    target: &'a str,
    reread: bool,
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

/// Records `outcome` in `settle`. A rejection that is to be read again also marks the live
/// password unknown, so that it is read (or set) again at once.
fn record(
    settle: &mut Settle,
    outcome: &ProbeOutcome,
    probed: &Probed,
    generation: Option<i64>,
    now: &Time,
) {
    let (proxy, target) = (probed.proxy, probed.target);
    let status = &mut settle.status;
    let (state, reason, message) = match outcome {
        ProbeOutcome::Verified => (
            "True",
            Reason::Verified,
            format!(
                "a CONNECT to {target} through proxy {proxy} with the published credentials succeeded"
            ),
        ),
        ProbeOutcome::Rejected if probed.reread => (
            "False",
            Reason::CredentialsRejected,
            format!(
                "proxy {proxy} refused the published credentials (407): they were probably \
                 changed at the provider; reading them again"
            ),
        ),
        ProbeOutcome::Rejected => (
            "False",
            Reason::CredentialsRejected,
            format!(
                "proxy {proxy} refuses the published credentials (407); they are not read \
                 again (already read again once, an allow-list probe, or no read possible)"
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
    if probed.reread {
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
