//! The per-API-key cache of the provider's order list: one list call per refresh interval
//! shared by every ProxyOrder using the key, failures held briefly, forced refreshes spaced.

use parking_lot::Mutex;
use std::{
    collections::HashMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use super::Throttled;
use crate::provider::{Order, OrderList, ProviderError, QueryOptions};

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
pub struct OrderCache {
    entries: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<CacheEntry>>>>,
    /// When each API key's orders were last fetched, in any language and currency: forced
    /// fetches are spaced per key, so that ProxyOrders asking in many languages cannot
    /// multiply them.
    last_fetch: Mutex<HashMap<String, Instant>>,
    /// [`MIN_FORCED_REFRESH`], shorter in tests that must not wait for it.
    min_forced_refresh: Duration,
}

impl Default for OrderCache {
    fn default() -> Self {
        OrderCache {
            entries: Mutex::default(),
            last_fetch: Mutex::default(),
            min_forced_refresh: MIN_FORCED_REFRESH,
        }
    }
}

impl OrderCache {
    /// Whether a list of the key `key` was fetched (or a fetch tried) by this process.
    pub fn has_fetched(&self, key: &str) -> bool {
        self.last_fetch.lock().contains_key(key)
    }

    /// A cache whose forced refreshes may come `floor` after the previous fetch.
    #[cfg(test)]
    pub fn with_forced_refresh_floor(floor: Duration) -> Self {
        OrderCache {
            min_forced_refresh: floor,
            ..OrderCache::default()
        }
    }

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

    /// The list of the API key with cache key `key`, fetched anew with `fetch` when older than
    /// `max_age` or when `force_after` is set (a newer fetch by someone else satisfies it too:
    /// `force_after` is when the caller asked). A forced fetch comes at least
    /// [`MIN_FORCED_REFRESH`] after the previous fetch of the key (in any language and
    /// currency), and a failure answers for
    /// [`failure_hold`]. Concurrent callers wait for one fetch. Never waits for a rate-limit
    /// token: `fetch` answers `Err(Throttled)` when it has none, and so does this.
    pub async fn get<F, Fut>(
        &self,
        key: &str,
        query: QueryOptions,
        max_age: Duration,
        force_after: Option<Instant>,
        fetch: F,
    ) -> Result<Result<Arc<OrderIndex>, ProviderError>, Throttled>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Result<OrderList, ProviderError>, Throttled>>,
    {
        let entry = self.entry((key.to_string(), query));
        let mut guard = entry.lock().await;
        if let Some((at, e)) = &guard.failed
            && at.elapsed() < failure_hold(e)
        {
            return Ok(Err(e.clone()));
        }
        // A forced refresh of a list that is still fresh takes the key's turn: the previous
        // fetch of the key, in whatever language and currency, must be the floor ago, and the
        // turn is taken at once (callers of other languages hold other entries' locks).
        let mut taken_turn = None;
        if let Some((at, list)) = &guard.fetched {
            let fresh = at.elapsed() < max_age;
            let satisfies_force = force_after.is_none_or(|asked| *at >= asked);
            if fresh && satisfies_force {
                return Ok(Ok(list.clone()));
            }
            if fresh {
                let mut last = self.last_fetch.lock();
                let since = last
                    .get(key)
                    .map_or(at.elapsed(), |t| t.elapsed().min(at.elapsed()));
                if since < self.min_forced_refresh {
                    return Err(Throttled(self.min_forced_refresh - since));
                }
                taken_turn = Some(last.insert(key.to_string(), Instant::now()));
            }
        }
        // A list shows the provider's state as of some moment after the request was sent: it
        // counts as fetched then, so that it answers only what was asked before that.
        let sent = Instant::now();
        let result = match fetch().await {
            Ok(result) => result,
            Err(throttled) => {
                // No fetch after all (no rate-limit token): the turn goes back.
                if let Some(before) = taken_turn {
                    let mut last = self.last_fetch.lock();
                    match before {
                        Some(t) => last.insert(key.to_string(), t),
                        None => last.remove(key),
                    };
                }
                return Err(throttled);
            }
        };
        self.last_fetch.lock().insert(key.to_string(), sent);
        match result {
            Ok(list) => {
                let mut index = OrderIndex::from(list);
                index.fetched_at = sent;
                if let Some((_, old)) = &guard.fetched {
                    index.share_unchanged(old);
                }
                let list = Arc::new(index);
                guard.fetched = Some((sent, list.clone()));
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
#[derive(Clone, Debug)]
pub struct OrderIndex {
    pub orders: HashMap<u64, Arc<Order>>,
    /// When the provider answered with this list. A change call's answer replaces its order in
    /// place, which does not make the other orders newer: this stays.
    pub fetched_at: Instant,
}

impl OrderIndex {
    pub fn get(&self, id: u64) -> Option<&Order> {
        self.orders.get(&id).map(|o| o.as_ref())
    }

    /// Points every order that is the same as in `old` at `old`'s copy, dropping the one just
    /// decoded: a refresh that finds most orders unchanged keeps the memory they already
    /// occupy instead of a second copy scattered among the freed first.
    fn share_unchanged(&mut self, old: &OrderIndex) {
        for (id, order) in self.orders.iter_mut() {
            if let Some(same) = old.orders.get(id).filter(|o| **o == *order) {
                *order = same.clone();
            }
        }
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
            fetched_at: Instant::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        cell::Cell,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use super::*;
    use crate::provider::{Access, Lang};

    const HOUR: Duration = Duration::from_secs(3600);

    fn order(id: u64, quantity: u32) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": id, "status": "active", "period": 30, "quantity": quantity, "amount": 1.0,
            "service": { "id": 4, "provider": "server-proxies", "name": "City proxies" },
        }))
        .unwrap()
    }

    fn listed(orders: &[Order]) -> Result<Result<OrderList, ProviderError>, Throttled> {
        Ok(Ok(OrderList {
            lang: None,
            currency: None,
            orders: orders.to_vec(),
        }))
    }

    /// A fetch that counts itself in `n` and answers `answer`.
    async fn counted(
        n: &AtomicUsize,
        answer: Result<Result<OrderList, ProviderError>, Throttled>,
    ) -> Result<Result<OrderList, ProviderError>, Throttled> {
        n.fetch_add(1, Ordering::SeqCst);
        // Lets other callers run while this fetch is in flight.
        tokio::task::yield_now().await;
        answer
    }

    /// A fetch where the cached list must answer.
    async fn no_fetch() -> Result<Result<OrderList, ProviderError>, Throttled> {
        panic!("the cached list is fresh: no fetch expected")
    }

    #[tokio::test]
    async fn concurrent_readers_of_a_stale_list_share_one_fetch() {
        let cache = OrderCache::default();
        let fetches = AtomicUsize::new(0);
        let q = QueryOptions::default();
        let read = || {
            cache.get("k", q, HOUR, None, || {
                counted(&fetches, listed(&[order(1, 1)]))
            })
        };
        let all = futures::future::join_all((0..5).map(|_| read())).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        for r in all {
            assert_eq!(r.unwrap().unwrap().get(1).map(|o| o.quantity), Some(1));
        }
    }

    #[tokio::test]
    async fn a_list_older_than_max_age_is_fetched_again_and_keys_do_not_share() {
        let cache = OrderCache::default();
        let fetches = AtomicUsize::new(0);
        let q = QueryOptions::default();
        let ru = QueryOptions {
            lang: Some(Lang::Ru),
            currency: None,
        };
        let get =
            |key, q, max_age| cache.get(key, q, max_age, None, || counted(&fetches, listed(&[])));
        assert!(matches!(get("k", q, HOUR).await, Ok(Ok(_))));
        assert!(matches!(get("k", q, HOUR).await, Ok(Ok(_))));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "fresh: served from memory"
        );
        assert!(matches!(get("other", q, HOUR).await, Ok(Ok(_))));
        assert!(matches!(get("k", ru, HOUR).await, Ok(Ok(_))));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            3,
            "own list per key and language"
        );
        assert!(matches!(get("k", q, Duration::ZERO).await, Ok(Ok(_))));
        assert_eq!(fetches.load(Ordering::SeqCst), 4, "stale: fetched again");
    }

    #[tokio::test]
    async fn a_refresh_keeps_the_copies_of_unchanged_orders() {
        let cache = OrderCache::default();
        let q = QueryOptions::default();
        let fetch = |orders: Vec<Order>| {
            cache.get("k", q, Duration::ZERO, None, move || async move {
                listed(&orders)
            })
        };
        let Ok(Ok(first)) = fetch(vec![order(1, 1), order(2, 1)]).await else {
            panic!("listed");
        };
        let Ok(Ok(second)) = fetch(vec![order(1, 1), order(2, 4), order(3, 1)]).await else {
            panic!("listed");
        };
        // The unchanged order is the same allocation; the changed and the new one are new.
        assert!(Arc::ptr_eq(&first.orders[&1], &second.orders[&1]));
        assert!(!Arc::ptr_eq(&first.orders[&2], &second.orders[&2]));
        assert_eq!(second.get(2).map(|o| o.quantity), Some(4));
        assert_eq!(second.get(3).map(|o| o.quantity), Some(1));
    }

    #[tokio::test]
    async fn a_failed_list_answers_for_the_next_callers_briefly() {
        let cache = OrderCache::default();
        let fetches = AtomicUsize::new(0);
        let q = QueryOptions::default();
        let failing = || {
            counted(
                &fetches,
                Ok(Err(ProviderError::Unavailable {
                    status: 503,
                    retry_after: None,
                })),
            )
        };
        for _ in 0..5 {
            let r = cache.get("k", q, HOUR, None, failing).await;
            assert!(
                matches!(r, Ok(Err(ProviderError::Unavailable { status: 503, .. }))),
                "{r:?}"
            );
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "one failing fetch for five callers"
        );
        // A forced refresh does not get past the hold either.
        let r = cache.get("k", q, HOUR, Some(Instant::now()), failing).await;
        assert!(matches!(r, Ok(Err(_))));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn forced_refreshes_are_at_most_one_per_min_interval() {
        let cache = OrderCache::default();
        let fetches = AtomicUsize::new(0);
        let q = QueryOptions::default();
        let fetch = || counted(&fetches, listed(&[]));
        let first = cache.get("k", q, HOUR, None, fetch).await;
        assert!(matches!(first, Ok(Ok(_))));
        for _ in 0..5 {
            // Each a new sync-requested-at token, asked after the last fetch: it comes back
            // once the floor has passed (and is then answered by a newer list).
            match cache.get("k", q, HOUR, Some(Instant::now()), fetch).await {
                Err(Throttled(wait)) => assert!(
                    wait <= MIN_FORCED_REFRESH && wait > MIN_FORCED_REFRESH / 2,
                    "{wait:?}"
                ),
                other => panic!("expected Throttled, got {other:?}"),
            }
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "no fetch within {MIN_FORCED_REFRESH:?} of the last"
        );
        // A refresh that is not forced still gets the cached list, and one asked before the
        // last fetch is answered by it.
        let asked = Instant::now();
        let cache = OrderCache::default();
        assert!(matches!(
            cache.get("k", q, HOUR, None, fetch).await,
            Ok(Ok(_))
        ));
        assert!(matches!(
            cache.get("k", q, HOUR, Some(asked), fetch).await,
            Ok(Ok(_))
        ));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn forced_refreshes_are_spaced_per_key_whatever_the_language() {
        let cache = OrderCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = || counted(&fetches, listed(&[]));
        let langs = [None, Some(Lang::Ru), Some(Lang::En), Some(Lang::Ua)];
        let query = |lang| QueryOptions {
            lang,
            currency: None,
        };
        // Each language's list once (none cached: not forced).
        for lang in langs {
            assert!(matches!(
                cache.get("k", query(lang), HOUR, None, fetch).await,
                Ok(Ok(_))
            ));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 4);
        // Forced refreshes in every language right after: none comes sooner than the floor
        // after the key's last fetch, in whichever language it was.
        for lang in langs {
            let r = cache
                .get("k", query(lang), HOUR, Some(Instant::now()), fetch)
                .await;
            assert!(matches!(r, Err(Throttled(_))), "{lang:?}: {r:?}");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 4);
        // Once the floor has passed, forced refreshes asked at the same moment in every
        // language make one fetch between them, not one each.
        let cache = OrderCache::with_forced_refresh_floor(Duration::from_millis(50));
        let before = fetches.load(Ordering::SeqCst);
        for lang in langs {
            assert!(matches!(
                cache.get("k", query(lang), HOUR, None, fetch).await,
                Ok(Ok(_))
            ));
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        let asked = Instant::now();
        let forced = futures::future::join_all(
            langs.map(|lang| cache.get("k", query(lang), HOUR, Some(asked), fetch)),
        )
        .await;
        assert_eq!(
            fetches.load(Ordering::SeqCst) - before,
            5,
            "four first fetches and one forced: {forced:?}"
        );
        // Another key is not held back.
        assert!(matches!(
            cache.get("other", query(None), HOUR, None, fetch).await,
            Ok(Ok(_))
        ));
    }

    #[tokio::test]
    async fn a_throttled_fetch_changes_nothing_and_says_when() {
        let cache = OrderCache::default();
        let q = QueryOptions::default();
        let wait = Duration::from_millis(700);
        let r = cache
            .get("k", q, HOUR, None, || async { Err(Throttled(wait)) })
            .await;
        assert_eq!(r.unwrap_err(), Throttled(wait));
        // Nothing was cached: the next caller fetches.
        let fetched = Cell::new(false);
        let r = cache
            .get("k", q, HOUR, None, || async {
                fetched.set(true);
                listed(&[])
            })
            .await;
        assert!(matches!(r, Ok(Ok(_))));
        assert!(fetched.get());
    }

    #[tokio::test]
    async fn a_changed_order_replaces_the_old_one_in_every_list_of_its_key() {
        let cache = OrderCache::default();
        let q = QueryOptions::default();
        let ru = QueryOptions {
            lang: Some(Lang::Ru),
            currency: None,
        };
        for (key, q) in [("k", q), ("k", ru), ("other", q)] {
            let r = cache
                .get(key, q, HOUR, None, || async {
                    listed(&[order(1, 1), order(2, 1)])
                })
                .await;
            assert!(matches!(r, Ok(Ok(_))));
        }
        let mut changed = order(1, 5);
        changed.access = Some(
            serde_json::from_value::<Access>(serde_json::json!({
                "port": 8000, "login": "user", "password": "pw-canary"
            }))
            .unwrap(),
        );
        cache.update_order("k", &changed).await;
        for q in [q, ru] {
            let list = cache
                .get("k", q, HOUR, None, no_fetch)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(list.get(1).map(|o| o.quantity), Some(5));
            assert!(
                list.get(1).unwrap().access.is_none(),
                "no credentials in lists"
            );
            assert_eq!(list.get(2).map(|o| o.quantity), Some(1));
        }
        let other = cache
            .get("other", q, HOUR, None, no_fetch)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            other.get(1).map(|o| o.quantity),
            Some(1),
            "another key's list"
        );
        // An order the list does not hold is not added.
        cache.update_order("k", &order(3, 1)).await;
        let list = cache
            .get("k", q, HOUR, None, no_fetch)
            .await
            .unwrap()
            .unwrap();
        assert!(list.get(3).is_none());
    }
}
