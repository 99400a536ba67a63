//! State shared by all reconciliations: the Kubernetes client, the provider gateway, settings,
//! per-object retry bookkeeping and backoff.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use backon::{BackoffBuilder, ExponentialBuilder};
use kube::runtime::{
    events::{Recorder, Reporter},
    reflector::{ObjectRef, Store},
};
use parking_lot::Mutex;

use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;

use super::{
    cache::{Holders, SecretCache, VersionIndex, Written},
    gateway::ProviderGateway,
};
use crate::leader::Fence;
use crate::{config::NamespacedName, metrics::Metrics, provider::Order};
use proxy_order_api::ProxyOrder;
use proxy_order_api::ProxyProvider;

/// The objects `store` holds, once its watch has listed them (`None` before: the API server
/// is asked instead, so that nothing is concluded from a store still filling).
pub fn listed<K>(store: Option<&Store<K>>) -> Option<&Store<K>>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    use futures::FutureExt;
    store.filter(|s| s.wait_until_ready().now_or_never().is_some())
}

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
    /// How long the claim of a deleted ProxyOrder stays reserved for its namespace
    /// (`--claim-reservation`; zero: released at once).
    pub claim_reservation: Duration,
    /// Least time between two password rotations of one ProxyOrder
    /// (`--rotation-min-interval`).
    pub rotation_min_interval: Duration,
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
    /// The ProxyOrders the watch holds, by UID (whether a claim's holder exists).
    pub holders: Holders,
    /// Every ProxyProvider, as the ProxyProvider watch holds them (read instead of the API
    /// server once the watch has listed them).
    pub providers: Option<Store<ProxyProvider>>,
    /// The watched namespaces' metadata (their labels, for ProxyProviders' namespace
    /// selectors), likewise.
    pub namespaces: Option<Store<PartialObjectMeta<Namespace>>>,
    /// Each ProxyOrder's resourceVersion after this process last wrote it.
    pub written: Written,
    /// The credentials probe (`--verify-credentials`).
    pub verifier: Option<super::verify::Verifier>,
    /// Per ProxyOrder UID, the generation whose decision waits on the order list and since
    /// when it has (see [`Context::listing_needed_since`]).
    pub listing_needed: Mutex<HashMap<Box<str>, ListingNeeded>>,
    /// Reconcile slots per namespace.
    pub slots: Slots,
    /// When this process started its controllers.
    pub started: Instant,
    /// When each ProxyOrder (by UID) last had its password rotated by this process.
    pub rotations: Mutex<HashMap<Box<str>, Instant>>,
    /// Fingerprint salts made for ProxyOrders (by UID) whose credentials Secret carries none
    /// yet, kept until it does so that every reconcile before then uses the same one.
    pub new_salts: Mutex<HashMap<Box<str>, String>>,
}

/// The reconciles in flight per namespace. Each namespace with work gets an equal part of the
/// controller's concurrency while others have work too, so one namespace's backlog (hundreds
/// of ProxyOrders woken at once) cannot hold every slot while another waits for its change.
pub struct Slots {
    limit: usize,
    in_flight: Mutex<HashMap<Box<str>, usize>>,
}

/// A reconcile slot of a namespace, given back when dropped.
pub struct Slot<'a> {
    slots: &'a Slots,
    ns: Box<str>,
}

impl Slots {
    /// Slots for `limit` reconciles at once (the controller's concurrency).
    pub fn new(limit: usize) -> Self {
        Slots {
            limit: limit.max(1),
            in_flight: Mutex::default(),
        }
    }

    /// A slot for a reconcile in namespace `ns`, unless `ns` already has its part: the limit
    /// divided by the namespaces with reconciles in flight, this one included.
    pub fn enter(&self, ns: &str) -> Option<Slot<'_>> {
        let mut map = self.in_flight.lock();
        let mine = map.get(ns).copied().unwrap_or(0);
        let busy = map.len() + usize::from(mine == 0);
        if mine >= self.limit.div_ceil(busy) {
            return None;
        }
        *map.entry(ns.into()).or_insert(0) += 1;
        Some(Slot {
            slots: self,
            ns: ns.into(),
        })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut map = self.slots.in_flight.lock();
        if let Some(n) = map.get_mut(&self.ns) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ns);
            }
        }
    }
}

/// A generation of a ProxyOrder whose decision waits on the order list, and since when.
pub type ListingNeeded = (Option<i64>, Instant);

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
        self.gateway.waiters.stop_waiting(key);
    }

    /// Forgets what was remembered about the ProxyOrder with this UID.
    pub fn forget_uid(&self, uid: &str) {
        self.written.forget(uid);
        self.listing_not_needed(uid);
        self.forget_salt(uid);
        self.holders.remove(uid);
        self.rotations.lock().remove(uid);
    }

    /// The fingerprint salt for the ProxyOrder with `uid` while its credentials Secret carries
    /// none: 128 random bits, the same until [`Context::forget_salt`].
    pub fn salt_for(&self, uid: &str) -> String {
        self.new_salts
            .lock()
            .entry(uid.into())
            .or_insert_with(|| format!("{:032x}", rand::random::<u128>()))
            .clone()
    }

    /// The ProxyOrder with `uid` has its salt in its Secret (or is gone).
    pub fn forget_salt(&self, uid: &str) {
        self.new_salts.lock().remove(uid);
    }

    /// Since when generation `generation` of the ProxyOrder with `uid` has decided to wait on
    /// what the order list says (`now`, the start of this reconcile, the first time). Only a
    /// list fetched after that may make it wait; the instant stays put while it waits, so a
    /// fetch asked for once answers every later reconcile of that generation.
    pub fn listing_needed_since(
        &self,
        uid: &str,
        generation: Option<i64>,
        now: Instant,
    ) -> Instant {
        let mut map = self.listing_needed.lock();
        match map.get(uid) {
            Some((g, since)) if *g == generation => *since,
            _ => {
                map.insert(uid.into(), (generation, now));
                now
            }
        }
    }

    /// The ProxyOrder with `uid` no longer waits on the order list.
    pub fn listing_not_needed(&self, uid: &str) {
        self.listing_needed.lock().remove(uid);
    }

    /// How long the first order list for the object with `uid` waits after this process
    /// started, if it still does: until a point of the first refresh interval that the UID
    /// picks, spread evenly and the same on every reconcile.
    pub fn first_list_wait(&self, uid: &str) -> Option<Duration> {
        let fp = crate::credentials::fingerprint(["first-list", uid]);
        let share = fp
            .get(7..23)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(0) as f64
            / u64::MAX as f64;
        self.settings
            .refresh_interval
            .mul_f64(share)
            .checked_sub(self.started.elapsed())
            .filter(|d| !d.is_zero())
    }

    /// How long a password rotation of the ProxyOrder with `uid` still has to wait, if its last
    /// one was less than `--rotation-min-interval` ago: a loop of new rotate-password tokens
    /// cannot use a shared key's budget on password generations.
    pub fn rotation_wait(&self, uid: &str) -> Option<Duration> {
        let at = *self.rotations.lock().get(uid)?;
        self.settings
            .rotation_min_interval
            .checked_sub(at.elapsed())
            .filter(|d| !d.is_zero())
    }

    /// The ProxyOrder with `uid` had its password rotated just now.
    pub fn rotated(&self, uid: &str) {
        self.rotations.lock().insert(uid.into(), Instant::now());
    }

    /// Whether the ProxyOrder with `uid` is in this instance's cache (the same object: a
    /// re-created one has another UID), and its `namespace/name` then. `None` says nothing of
    /// ProxyOrders the cache does not hold (another shard's).
    pub fn cached_holder(&self, uid: &str) -> Option<String> {
        let found = self.holders.get(uid)?;
        let (ns, name) = found.split_once('/')?;
        let po = self.store.as_ref()?.get(&ObjectRef::new(name).within(ns))?;
        (po.metadata.uid.as_deref() == Some(uid)).then_some(found)
    }

    /// Counts one more consecutive failure of this ProxyOrder and says how many came before
    /// it (0 for the first), the attempt number its retry delay is computed for.
    pub fn count_failure(&self, key: ObjectRef<ProxyOrder>) -> u32 {
        let mut map = self.backoff.lock();
        let n = map.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        *n - 1
    }

    /// The delay before retrying after the `attempt`-th consecutive transient failure:
    /// exponential from `backoff_base` with jitter, at most `backoff_max`, and never shorter
    /// than what the provider asked for (up to that ceiling).
    pub fn backoff_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        backoff_delay(
            self.settings.backoff_base,
            self.settings.backoff_max,
            attempt,
            retry_after,
            rand::random(),
        )
    }

    /// The delay before retrying after the `attempt`-th consecutive Kubernetes API failure.
    pub fn kube_backoff_delay(&self, attempt: u32) -> Duration {
        backoff_delay(
            self.settings.backoff_base,
            self.settings.kube_backoff_max,
            attempt,
            None,
            rand::random(),
        )
    }
}

/// The most doublings a delay is computed through; the ceiling is reached long before.
const MAX_DOUBLINGS: u32 = 32;

/// The delay before the retry after the `attempt`-th consecutive failure (0 for the first):
/// backon's exponential backoff, doubling from `base`, with a jitter that adds up to as much
/// again (drawn from `seed`), never longer than `max`; a longer `retry_after` from the
/// provider is honoured up to `max`.
pub fn backoff_delay(
    base: Duration,
    max: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
    seed: u64,
) -> Duration {
    let d = ExponentialBuilder::new()
        .with_min_delay(base)
        .with_max_delay(max)
        .with_factor(2.0)
        .without_max_times()
        .with_jitter()
        .with_jitter_seed(seed)
        .build()
        .nth(attempt.min(MAX_DOUBLINGS) as usize)
        .map_or(max, |d| d.min(max));
    match retry_after {
        Some(r) if r > d => r.min(max),
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
    fn a_namespace_with_a_backlog_leaves_the_others_their_part_of_the_slots() {
        let slots = Slots::new(8);
        // Alone, a namespace may use every slot.
        let greedy: Vec<_> = (0..8).filter_map(|_| slots.enter("greedy")).collect();
        assert_eq!(greedy.len(), 8);
        // Another namespace's change gets a slot as soon as the controller has one to give,
        // and from then on the greedy one gets no more than half.
        let victim = slots
            .enter("victim")
            .expect("a slot for the other namespace");
        drop(greedy);
        let greedy: Vec<_> = (0..8).filter_map(|_| slots.enter("greedy")).collect();
        assert_eq!(greedy.len(), 4);
        drop(victim);
        assert!(slots.enter("greedy").is_some(), "alone again: more");
        assert!(slots.in_flight.lock().get("victim").is_none());
    }

    const SECOND: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);

    fn delays(attempt: u32, retry_after: Option<Duration>) -> Vec<Duration> {
        (0..200)
            .map(|seed| backoff_delay(SECOND, MINUTE, attempt, retry_after, seed))
            .collect()
    }

    fn within(ds: &[Duration], low: Duration, high: Duration) -> bool {
        ds.iter().all(|d| (low..high).contains(d))
    }

    #[test]
    fn backoff_doubles_with_jitter_of_up_to_as_much_again() {
        assert!(within(&delays(0, None), SECOND, 2 * SECOND));
        assert!(within(&delays(1, None), 2 * SECOND, 4 * SECOND));
        assert!(within(&delays(3, None), 8 * SECOND, 16 * SECOND));
        let spread = delays(2, None);
        let (low, high) = (spread.iter().min(), spread.iter().max());
        assert!(
            high.unwrap().saturating_sub(*low.unwrap()) > SECOND,
            "no jitter: {low:?}..{high:?}"
        );
    }

    #[test]
    fn backoff_never_exceeds_its_ceiling() {
        for attempt in [5, 6, 7, 30, u32::MAX] {
            assert!(delays(attempt, None).iter().all(|d| *d <= MINUTE));
        }
        assert!(delays(30, None).iter().all(|d| *d == MINUTE));
    }

    #[test]
    fn backoff_honours_retry_after_up_to_its_ceiling() {
        assert!(
            delays(0, Some(30 * SECOND))
                .iter()
                .all(|d| *d == 30 * SECOND)
        );
        assert!(delays(0, Some(10 * MINUTE)).iter().all(|d| *d == MINUTE));
        // A shorter Retry-After does not shorten the backoff.
        assert!(within(&delays(3, Some(SECOND)), 8 * SECOND, 16 * SECOND));
    }
}
