//! State shared by all reconciliations: the Kubernetes client, the provider gateway, settings,
//! per-object retry bookkeeping and backoff.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use kube::runtime::{
    events::{Recorder, Reporter},
    reflector::{ObjectRef, Store},
};
use parking_lot::Mutex;

use super::{
    cache::{SecretCache, VersionIndex, Written},
    gateway::ProviderGateway,
};
use crate::leader::Fence;
use crate::{config::NamespacedName, crd::ProxyOrder, metrics::Metrics, provider::Order};

/// Settings the reconciler reads.
#[derive(Clone, Debug)]
pub struct Settings {
    pub refresh_interval: Duration,
    pub default_api_key_secret: Option<NamespacedName>,
    pub empty_change_read: bool,
    /// How long a terminal failure waits before the same request is tried again.
    pub terminal_recheck: Duration,
    pub backoff_base: Duration,
    /// Ceiling of the backoff after provider failures (the provider is protected).
    pub backoff_max: Duration,
    /// Ceiling of the backoff after Kubernetes API failures: lower, so that the operator
    /// catches up soon after an API-server outage ends.
    pub kube_backoff_max: Duration,
    /// The operator's namespace: order claims live here, and ProxyProvider key Secrets that
    /// name no namespace.
    pub operator_namespace: String,
    /// Whether `spec.apiKeySecretRef` may be used.
    pub allow_api_key_secret_ref: bool,
    /// Whether `spec.secret.rolloutTargets` are acted on (`--rollout-targets`).
    pub rollout_targets: bool,
    /// Whether this instance handles only the ProxyOrders matching `--selector`: its cache
    /// then does not hold every ProxyOrder of a namespace.
    pub sharded: bool,
}

pub struct Context {
    pub client: kube::Client,
    /// The provider: its clients, rate limits, order lists and request metrics.
    pub gateway: ProviderGateway,
    /// Publishes Warning events, counting repeats as a series.
    pub recorder: Recorder,
    /// Who publishes the operator's events.
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    /// Consecutive transient failures per object.
    pub backoff: Mutex<HashMap<ObjectRef<ProxyOrder>, u32>>,
    /// Inputs of the last terminal failure per object, and when it happened.
    pub terminal: Mutex<HashMap<ObjectRef<ProxyOrder>, (String, Instant)>>,
    /// Provider answers not yet saved to the Secret and status (the write failed), per
    /// object. The next reconcile uses such an answer instead of asking the provider again.
    pub unsaved: Mutex<HashMap<ObjectRef<ProxyOrder>, Unsaved>>,
    /// The controller's cache of ProxyOrders (to notice two resources for one order).
    pub store: Option<Store<ProxyOrder>>,
    /// Whether this replica may act: checked before every provider call and every write.
    pub fence: Arc<Fence>,
    /// Secrets as last read or written, served while the Secret watches report them unchanged.
    pub secrets: Arc<SecretCache>,
    /// The order claims (Leases) the claim watch reports, with their holder's UID label.
    pub claims: VersionIndex,
    /// Each ProxyOrder's resourceVersion after this process last wrote it.
    pub written: Written,
    /// The credentials probe (`--verify-credentials`).
    pub verifier: Option<super::verify::Verifier>,
}

/// A successful provider answer whose Secret or status write failed.
#[derive(Clone, Debug)]
pub struct Unsaved {
    /// The ProxyOrder it was for (a re-created one with the same name does not match).
    pub uid: String,
    /// `plan::request_hash` of the request that produced it.
    pub request_hash: String,
    pub order: Order,
    pub at: Instant,
}

/// How long an unsaved answer stands in for a provider call; older ones are asked again.
pub const UNSAVED_TTL: Duration = Duration::from_secs(120);

impl Context {
    /// Forgets the per-object retry bookkeeping (backoff, terminal gate, unsaved answer) of a
    /// ProxyOrder that was deleted, so the maps do not grow with every object ever seen and a
    /// re-created one with the same name starts afresh.
    pub fn forget(&self, key: &ObjectRef<ProxyOrder>) {
        self.backoff.lock().remove(key);
        self.terminal.lock().remove(key);
        self.unsaved.lock().remove(key);
    }

    /// Forgets what was remembered about the ProxyOrder with this UID.
    pub fn forget_uid(&self, uid: &str) {
        self.written.forget(uid);
    }

    /// The delay before retrying after the `attempt`-th consecutive transient failure:
    /// exponential from `backoff_base`, capped at `backoff_max`, with ±20% jitter, and never
    /// shorter than what the provider asked for.
    pub fn backoff_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        backoff_delay(
            self.settings.backoff_base,
            self.settings.backoff_max,
            attempt,
            retry_after,
            rand::random::<f64>(),
        )
    }

    /// The delay before retrying after the `attempt`-th consecutive Kubernetes API failure.
    pub fn kube_backoff_delay(&self, attempt: u32) -> Duration {
        backoff_delay(
            self.settings.backoff_base,
            self.settings.kube_backoff_max,
            attempt,
            None,
            rand::random::<f64>(),
        )
    }
}

pub fn backoff_delay(
    base: Duration,
    max: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
    unit_random: f64,
) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    let jitter = 0.8 + 0.4 * unit_random.clamp(0.0, 1.0);
    let d = exp.mul_f64(jitter);
    // The provider's Retry-After is honoured up to the backoff ceiling.
    match retry_after {
        Some(r) if r > d => r.min(max.max(d)),
        _ => d,
    }
}

/// Jitters a duration by ±10%, to spread periodic work.
pub fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.9 + 0.2 * rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        let mid = |a| backoff_delay(base, max, a, None, 0.5);
        assert_eq!(mid(0), Duration::from_secs(1));
        assert_eq!(mid(1), Duration::from_secs(2));
        assert_eq!(mid(3), Duration::from_secs(8));
        assert_eq!(mid(30), Duration::from_secs(60));
        assert_eq!(
            backoff_delay(base, max, 0, None, 0.0),
            Duration::from_millis(800)
        );
        assert_eq!(
            backoff_delay(base, max, 0, None, 1.0),
            Duration::from_millis(1200)
        );
        assert_eq!(
            backoff_delay(base, max, 0, Some(Duration::from_secs(30)), 0.5),
            Duration::from_secs(30)
        );
    }
}
