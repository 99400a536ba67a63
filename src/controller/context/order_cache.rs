//! The per-API-key cache of the provider's order list: one list call per refresh interval
//! shared by every ProxyOrder using the key, failures held briefly, forced refreshes spaced.

use parking_lot::Mutex;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use super::RateLimiter;
use crate::controller::tenancy::Target;
use crate::{
    metrics::Metrics,
    provider::{ApiKey, Order, OrderList, ProviderApi, ProviderError, QueryOptions},
};

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
        let mut map = self.entries.lock();
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
            let map = self.entries.lock();
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

#[cfg(test)]
mod tests {
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
