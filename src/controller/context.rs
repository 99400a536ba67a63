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

use crate::provider::{ChangeRequest, OrderResponse};
use crate::{
    config::NamespacedName,
    crd::ProxyOrder,
    metrics::Metrics,
    provider::{
        ApiKey, Order, OrderList, ProviderApi, ProviderClient, ProviderError, QueryOptions,
    },
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
}

pub struct Context {
    pub client: kube::Client,
    pub provider: ProviderClient,
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
    /// One change call: waits for the API key's rate limit, calls, and records the outcome in
    /// the metrics.
    pub async fn change_order(
        &self,
        key_fp: &str,
        key: &ApiKey,
        order_id: u64,
        request: &ChangeRequest,
        query: QueryOptions,
    ) -> Result<OrderResponse, ProviderError> {
        self.limiter.acquire(key_fp).await;
        crate::failpoint::hit("before-provider-call");
        let started = Instant::now();
        let result = self
            .provider
            .change_order(key, order_id, request, query)
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

struct CacheEntry {
    fetched: Option<(Instant, Arc<OrderIndex>)>,
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
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(CacheEntry { fetched: None })))
            .clone()
    }

    /// The list, fetched anew when older than `max_age` or when `force` is set (a newer fetch
    /// by someone else satisfies `force` too: `force_after` is when the caller asked).
    #[allow(clippy::too_many_arguments)]
    pub async fn get(
        &self,
        provider: &ProviderClient,
        limiter: &RateLimiter,
        metrics: &Metrics,
        key_fp: &str,
        key: &ApiKey,
        query: QueryOptions,
        max_age: Duration,
        force_after: Option<Instant>,
    ) -> Result<Arc<OrderIndex>, ProviderError> {
        let entry = self.entry((key_fp.to_string(), query));
        let mut guard = entry.lock().await;
        if let Some((at, list)) = &guard.fetched {
            let fresh = at.elapsed() < max_age;
            let satisfies_force = force_after.is_none_or(|asked| *at >= asked);
            if fresh && satisfies_force {
                return Ok(list.clone());
            }
        }
        limiter.acquire(key_fp).await;
        let started = Instant::now();
        let result = provider.list_orders(key, query).await;
        metrics.provider_request(
            "list",
            match &result {
                Ok(_) => Some(200),
                Err(e) => e.status(),
            },
            started.elapsed(),
        );
        let list = Arc::new(OrderIndex::from(result?));
        guard.fetched = Some((Instant::now(), list.clone()));
        Ok(list)
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

    /// Waits until a request for this key may go out.
    pub async fn acquire(&self, key_fp: &str) {
        loop {
            let wait = {
                let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let now = tokio::time::Instant::now();
                let (tokens, last) = map.entry(key_fp.to_string()).or_insert((self.burst, now));
                *tokens =
                    (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
                *last = now;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    None
                } else {
                    Some(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
                }
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
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
    async fn rate_limiter_spaces_requests_after_the_burst() {
        let limiter = RateLimiter::new(2.0);
        let start = tokio::time::Instant::now();
        for _ in 0..4 {
            limiter.acquire("k").await; // the burst of 4
        }
        assert!(start.elapsed() < Duration::from_millis(50));
        limiter.acquire("k").await;
        limiter.acquire("other-key").await; // other keys have their own bucket
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "{:?}",
            start.elapsed()
        );
    }
}
