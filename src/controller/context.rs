//! State shared by all reconciliations: clients, the per-API-key order list cache and rate
//! limiter, and per-object retry bookkeeping.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use kube::runtime::{
    events::Recorder,
    reflector::{ObjectRef, Store},
};

use super::tenancy::{Account, Target};
use crate::leader::Fence;
use crate::provider::{ChangeRequest, OrderResponse};
use crate::{
    config::NamespacedName,
    crd::ProxyOrder,
    metrics::Metrics,
    provider::{ApiKey, Order, OrderList, ProviderApi, ProviderError, QueryOptions},
};

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
}

pub struct Context {
    pub client: kube::Client,
    /// The provider as the operator's flags set it up (ProxyOrders without `providerRef`).
    pub default_target: Arc<Target>,
    /// Provider clients of ProxyProviders, by their settings (see `tenancy::target_for`).
    pub targets: Mutex<HashMap<String, Arc<Target>>>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    pub orders: OrderCache,
    pub limiter: RateLimiter,
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
    /// One change call, and its outcome in the metrics. The caller has taken a token from the
    /// API key's rate limiter first ([`RateLimiter::try_acquire`]), before recording any intent,
    /// so that a throttled request gives its reconcile slot back instead of waiting in it.
    pub async fn change_order(
        &self,
        account: &Account,
        order_id: u64,
        request: &ChangeRequest,
        query: QueryOptions,
    ) -> Result<OrderResponse, ProviderError> {
        crate::failpoint::hit("before-provider-call");
        // Callers check the fence right before; see `reconcile::perform` and `finalize`.
        let started = Instant::now();
        let result = account
            .target
            .client
            .change_order(&account.key, order_id, request, query)
            .await;
        self.metrics.provider_request(
            "change",
            match &result {
                Ok(_) => Some(200),
                Err(e) => e.status(),
            },
            started.elapsed(),
        );
        result
    }

    /// Forgets the per-object retry bookkeeping (backoff, terminal gate, unsaved answer) of a
    /// ProxyOrder that was deleted, so the maps do not grow with every object ever seen and a
    /// re-created one with the same name starts afresh.
    pub fn forget(&self, key: &ObjectRef<ProxyOrder>) {
        self.backoff
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.terminal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
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

type CacheKey = (String, QueryOptions);

/// How long a failed list call answers for the next ones: the provider's Retry-After (up to
/// [`MAX_FAILED_LIST_HOLD`]), else this. One failing API key costs the provider at most one list
/// call per hold, however many ProxyOrders use it; short enough that a reconcile's own retry
/// (which honours Retry-After) finds the hold over.
pub const FAILED_LIST_HOLD: Duration = Duration::from_secs(1);
pub const MAX_FAILED_LIST_HOLD: Duration = Duration::from_secs(60);
/// Least time between two fetches of one list when the second is forced (`sync-requested-at`):
/// a forced refresh sooner waits for it, so new tokens cannot make the operator list an API
/// key's orders more often than this, and each is still answered by a list fetched after it.
pub const MIN_FORCED_REFRESH: Duration = Duration::from_secs(10);

/// The API key's rate limit has no token now: try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled(pub Duration);

struct CacheEntry {
    fetched: Option<(Instant, Arc<OrderIndex>)>,
    failed: Option<(Instant, ProviderError)>,
}

fn failure_hold(e: &ProviderError) -> Duration {
    e.retry_after()
        .unwrap_or(FAILED_LIST_HOLD)
        .clamp(FAILED_LIST_HOLD, MAX_FAILED_LIST_HOLD)
}

/// The provider's order list, fetched at most once per refresh interval per API key (and
/// language/currency), shared by every ProxyOrder using that key. Concurrent readers of a
/// stale entry wait for one fetch instead of each listing.
#[derive(Default)]
pub struct OrderCache {
    entries: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<CacheEntry>>>>,
}

impl OrderCache {
    fn entry(&self, key: CacheKey) -> Arc<tokio::sync::Mutex<CacheEntry>> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key)
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(CacheEntry {
                    fetched: None,
                    failed: None,
                }))
            })
            .clone()
    }

    /// The list, fetched anew when older than `max_age` or when `force` is set (a newer fetch
    /// by someone else satisfies `force` too: `force_after` is when the caller asked). A forced
    /// fetch comes at least [`MIN_FORCED_REFRESH`] after the previous one, and a failure answers
    /// for [`failure_hold`]. Never waits: `Err(Throttled)` says when to come back.
    #[allow(clippy::too_many_arguments)]
    pub async fn get(
        &self,
        target: &Target,
        limiter: &RateLimiter,
        metrics: &Metrics,
        key_fp: &str,
        key: &ApiKey,
        query: QueryOptions,
        max_age: Duration,
        force_after: Option<Instant>,
    ) -> Result<Result<Arc<OrderIndex>, ProviderError>, Throttled> {
        let entry = self.entry((key_fp.to_string(), query));
        let mut guard = entry.lock().await;
        if let Some((at, e)) = &guard.failed
            && at.elapsed() < failure_hold(e)
        {
            return Ok(Err(e.clone()));
        }
        if let Some((at, list)) = &guard.fetched {
            let fresh = at.elapsed() < max_age;
            let satisfies_force = force_after.is_none_or(|asked| *at >= asked);
            if fresh && satisfies_force {
                return Ok(Ok(list.clone()));
            }
            if fresh && at.elapsed() < MIN_FORCED_REFRESH {
                return Err(Throttled(MIN_FORCED_REFRESH - at.elapsed()));
            }
        }
        limiter
            .try_acquire_at(key_fp, target.rate)
            .map_err(Throttled)?;
        let started = Instant::now();
        let result = target.client.list_orders(key, query).await;
        metrics.provider_request(
            "list",
            match &result {
                Ok(_) => Some(200),
                Err(e) => e.status(),
            },
            started.elapsed(),
        );
        match result {
            Ok(list) => {
                let list = Arc::new(OrderIndex::from(list));
                guard.fetched = Some((Instant::now(), list.clone()));
                guard.failed = None;
                Ok(Ok(list))
            }
            Err(e) => {
                guard.failed = Some((Instant::now(), e.clone()));
                Ok(Err(e))
            }
        }
    }

    /// Replaces one order in every cached list of this key, after a change call answered
    /// with its new state, so the next decision does not act on the old one.
    pub async fn update_order(&self, key_fp: &str, order: &Order) {
        let entries: Vec<_> = {
            let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            map.iter()
                .filter(|((fp, _), _)| fp == key_fp)
                .map(|(_, e)| e.clone())
                .collect()
        };
        for entry in entries {
            // Waits for a fetch in flight: it may have read the provider before this change,
            // and the update must land on top of it.
            let mut guard = entry.lock().await;
            let Some((_, list)) = &mut guard.fetched else {
                continue;
            };
            if !list.orders.contains_key(&order.id) {
                continue;
            }
            let mut updated = order.clone();
            // The list never carries credentials; keep it that way in memory too.
            updated.access = None;
            updated.proxies = None;
            // In place unless a reconcile still holds this list (then a copy of pointers).
            Arc::make_mut(list)
                .orders
                .insert(order.id, Arc::new(updated));
        }
    }
}

/// One fetched order list, by order id (a reconcile looks up one order; a change call replaces
/// one, without copying the other orders).
#[derive(Clone, Debug, Default)]
pub struct OrderIndex {
    pub orders: HashMap<u64, Arc<Order>>,
}

impl OrderIndex {
    pub fn get(&self, id: u64) -> Option<&Order> {
        self.orders.get(&id).map(|o| o.as_ref())
    }
}

impl From<OrderList> for OrderIndex {
    fn from(list: OrderList) -> Self {
        OrderIndex {
            orders: list
                .orders
                .into_iter()
                .map(|o| (o.id, Arc::new(o)))
                .collect(),
        }
    }
}

/// A token bucket per API key: `rate` requests per second, bursts up to `2 * rate`.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, tokio::time::Instant)>>,
}

impl RateLimiter {
    pub fn new(rate: f64) -> Self {
        RateLimiter {
            rate,
            burst: (rate * 2.0).max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for one request with this key, or says how long until one is free. Never
    /// waits: a reconcile that gets no token requeues itself and frees its slot for ProxyOrders
    /// of other keys.
    pub fn try_acquire(&self, key_fp: &str) -> Result<(), Duration> {
        self.try_acquire_at(key_fp, self.rate)
    }

    /// [`Self::try_acquire`] at a rate of this key's own (a ProxyProvider's `rateLimit`).
    pub fn try_acquire_at(&self, key_fp: &str, rate: f64) -> Result<(), Duration> {
        let rate = if rate > 0.0 { rate } else { self.rate };
        let burst = if rate == self.rate {
            self.burst
        } else {
            (rate * 2.0).max(1.0)
        };
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = tokio::time::Instant::now();
        let (tokens, last) = map.entry(key_fp.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate).max(Duration::from_millis(1)))
        }
    }
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

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_spaces_requests_after_the_burst_without_waiting() {
        let limiter = RateLimiter::new(2.0);
        for _ in 0..4 {
            assert_eq!(limiter.try_acquire("k"), Ok(())); // the burst of 4
        }
        let wait = limiter.try_acquire("k").expect_err("the burst is used up");
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(
            limiter.try_acquire("other-key"),
            Ok(()),
            "own bucket per key"
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(limiter.try_acquire("k"), Ok(()));
        assert!(limiter.try_acquire("k").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_can_have_its_own_rate() {
        let limiter = RateLimiter::new(100.0);
        // A ProxyProvider's 1 request/s: a burst of 2, then one per second.
        assert_eq!(limiter.try_acquire_at("provider-key", 1.0), Ok(()));
        assert_eq!(limiter.try_acquire_at("provider-key", 1.0), Ok(()));
        assert_eq!(
            limiter.try_acquire_at("provider-key", 1.0),
            Err(Duration::from_secs(1))
        );
        // Other keys keep the operator's rate.
        for _ in 0..200 {
            assert_eq!(limiter.try_acquire("default-key"), Ok(()));
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limiter.try_acquire_at("provider-key", 1.0), Ok(()));
    }

    mod order_cache {
        use super::*;
        use crate::provider::{ProviderClient, ProviderConfig};
        use proxy_solutions_sim::{SimConfig, Simulator, faults::FaultSpec, faults::FaultTarget};

        async fn setup(rate: f64) -> (Simulator, Target, RateLimiter, Metrics) {
            crate::provider::client::install_crypto_provider();
            let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let client = ProviderClient::new(ProviderConfig {
                base_url: sim.base_url(),
                ..ProviderConfig::default()
            })
            .unwrap();
            let target = Target {
                client: Arc::new(client),
                rate,
                scope: sim.base_url(),
            };
            (sim, target, RateLimiter::new(rate), Metrics::default())
        }

        fn lists(sim: &Simulator) -> usize {
            sim.requests().iter().filter(|r| r.method == "GET").count()
        }

        fn key() -> ApiKey {
            ApiKey::new(proxy_solutions_sim::DEFAULT_API_KEY.to_string())
        }

        /// One `OrderCache::get` for the simulator's key, with a one-hour refresh interval.
        async fn list(
            cache: &OrderCache,
            (client, limiter, metrics): (&Target, &RateLimiter, &Metrics),
            query: QueryOptions,
            force_after: Option<Instant>,
        ) -> Result<Result<Arc<OrderIndex>, ProviderError>, Throttled> {
            let hour = Duration::from_secs(3600);
            cache
                .get(
                    client,
                    limiter,
                    metrics,
                    "fp",
                    &key(),
                    query,
                    hour,
                    force_after,
                )
                .await
        }

        #[tokio::test]
        async fn a_failed_list_answers_for_the_next_callers_briefly() {
            let (sim, client, limiter, metrics) = setup(100.0).await;
            sim.add_fault(FaultSpec {
                endpoint: FaultTarget::List,
                status: Some(503),
                count: Some(1),
                ..serde_json::from_str("{}").unwrap()
            });
            let cache = OrderCache::default();
            let q = QueryOptions::default();
            for _ in 0..5 {
                let r = list(&cache, (&client, &limiter, &metrics), q, None).await;
                assert!(
                    matches!(r, Ok(Err(ProviderError::Unavailable { status: 503, .. }))),
                    "{r:?}"
                );
            }
            assert_eq!(lists(&sim), 1, "one failing list call for five callers");
            // A forced refresh does not get past the hold either.
            let r = list(
                &cache,
                (&client, &limiter, &metrics),
                q,
                Some(Instant::now()),
            )
            .await;
            assert!(matches!(r, Ok(Err(_))));
            assert_eq!(lists(&sim), 1);
            sim.shutdown().await;
        }

        #[tokio::test]
        async fn forced_refreshes_are_at_most_one_per_min_interval() {
            let (sim, client, limiter, metrics) = setup(100.0).await;
            let cache = OrderCache::default();
            let q = QueryOptions::default();
            let first = list(&cache, (&client, &limiter, &metrics), q, None).await;
            assert!(matches!(first, Ok(Ok(_))));
            for _ in 0..5 {
                // Each a new sync-requested-at token, asked after the last fetch: it comes back
                // once the floor has passed (and is then answered by a newer list).
                let r = list(
                    &cache,
                    (&client, &limiter, &metrics),
                    q,
                    Some(Instant::now()),
                )
                .await;
                match r {
                    Err(Throttled(wait)) => assert!(
                        wait <= MIN_FORCED_REFRESH && wait > MIN_FORCED_REFRESH / 2,
                        "{wait:?}"
                    ),
                    other => panic!("expected Throttled, got {other:?}"),
                }
            }
            assert_eq!(
                lists(&sim),
                1,
                "no list within {MIN_FORCED_REFRESH:?} of the last"
            );
            // A refresh that is not forced still gets the cached list.
            let r = list(&cache, (&client, &limiter, &metrics), q, None).await;
            assert!(matches!(r, Ok(Ok(_))));
            sim.shutdown().await;
        }

        #[tokio::test]
        async fn an_empty_bucket_says_when_instead_of_waiting() {
            let (sim, client, limiter, metrics) = setup(1.0).await; // bursts of 2
            let cache = OrderCache::default();
            let started = std::time::Instant::now();
            let mut results = Vec::new();
            // Three different lists (language) of one key: three list calls wanted.
            for lang in [
                None,
                Some(crate::provider::Lang::Ru),
                Some(crate::provider::Lang::Ua),
            ] {
                let q = QueryOptions {
                    lang,
                    currency: None,
                };
                results.push(list(&cache, (&client, &limiter, &metrics), q, None).await);
            }
            assert!(matches!(results[0], Ok(Ok(_))));
            assert!(matches!(results[1], Ok(Ok(_))));
            match results[2] {
                Err(Throttled(wait)) => assert!(wait > Duration::from_millis(500), "{wait:?}"),
                ref other => panic!("expected Throttled, got {other:?}"),
            }
            assert!(
                started.elapsed() < Duration::from_millis(900),
                "did not sleep for the token"
            );
            assert_eq!(lists(&sim), 2);
            sim.shutdown().await;
        }
    }
}
