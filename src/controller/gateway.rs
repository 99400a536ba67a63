//! The provider gateway: the one way the controllers reach the provider. It owns the HTTP
//! clients (one per provider target: the operator's flags and each distinct ProxyProvider
//! setting), the per-API-key rate limiter, the per-API-key order-list cache, the provider
//! request metrics and the crash points around change calls, and offers the two operations the
//! controllers need: the order list (cached, rate-limited) and a change call (rate-limited,
//! counted, between crash points, and reflected in the cached lists).

mod order_cache;
mod rate_limiter;
#[cfg(test)]
mod tests;
mod waiters;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;

use crate::{
    metrics::Metrics,
    provider::{
        ApiKey, ChangeRequest, OrderResponse, ProviderClient, ProviderConfig, ProviderError,
        QueryOptions,
    },
};

pub use order_cache::{
    FAILED_LIST_HOLD, MAX_FAILED_LIST_HOLD, MIN_FORCED_REFRESH, OrderCache, OrderIndex,
};
pub use rate_limiter::RateLimiter;
pub use waiters::ListWaiters;

/// The API key's rate limit has no token now (or a forced list refresh comes too soon after
/// the last): try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled(pub Duration);

/// A provider account's endpoint as requests use it.
pub struct Target {
    pub client: Arc<ProviderClient>,
    /// Requests per second per API key.
    pub rate: f64,
    /// The provider's base URL: order ids are unique within it, so it scopes order claims, and
    /// together with the key's fingerprint it keys order lists and rate limits.
    pub scope: String,
}

impl Target {
    fn new(config: ProviderConfig, rate: f64) -> Result<Self, ProviderError> {
        let scope = crate::provider::config::scope_of(&config.base_url);
        Ok(Target {
            client: Arc::new(ProviderClient::new(config)?),
            rate,
            scope,
        })
    }

    /// The key of an API key's order list and rate-limit bucket at this provider. It includes
    /// how the key is sent: a provider set up with the wrong transport must not be answered by
    /// the list another one fetched with the same key.
    pub fn cache_key(&self, key_fp: &str) -> String {
        format!("{}\n{:?}\n{key_fp}", self.scope, self.client.config().auth)
    }
}

/// What a reconcile calls the provider with.
pub struct Account {
    pub target: Arc<Target>,
    /// [`Target::cache_key`] of the key.
    pub cache_key: String,
    pub key: ApiKey,
    /// The namespace the requests are made for: it gets its fair share of the key's rate
    /// (`None`: the administrators' own checks of a ProxyProvider).
    pub tenant: Option<String>,
}

impl Account {
    /// The API key `key`, whose fingerprint is `key_fp`, at `target`.
    pub fn new(target: Arc<Target>, key_fp: &str, key: ApiKey) -> Self {
        Account {
            cache_key: target.cache_key(key_fp),
            target,
            key,
            tenant: None,
        }
    }

    /// The same account, its requests made for ProxyOrders of namespace `ns`.
    pub fn for_namespace(mut self, ns: &str) -> Self {
        self.tenant = Some(ns.to_string());
        self
    }
}

/// Called with the name of a crash point (`before-provider-call`, `after-provider-call`).
type FailpointHook = Box<dyn Fn(&'static str) + Send + Sync>;

/// The provider as the controllers use it. See the module documentation.
pub struct ProviderGateway {
    /// The provider as the operator's flags set it up (ProxyOrders without `providerRef`).
    default_target: Arc<Target>,
    /// Targets of ProxyProviders, by their settings (see [`Self::target`]).
    targets: Mutex<HashMap<String, Arc<Target>>>,
    orders: OrderCache,
    /// ProxyOrders waiting on how a key's list shows their order, woken by its next fetch.
    pub waiters: ListWaiters,
    limiter: RateLimiter,
    metrics: Arc<Metrics>,
    failpoint: FailpointHook,
}

impl ProviderGateway {
    /// The gateway to the provider `config` describes, at `rate` requests per second per API
    /// key unless a target says otherwise, counting requests in `metrics`.
    pub fn new(
        config: ProviderConfig,
        rate: f64,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ProviderError> {
        Ok(ProviderGateway {
            default_target: Arc::new(Target::new(config, rate)?),
            targets: Mutex::default(),
            orders: OrderCache::default(),
            waiters: ListWaiters::default(),
            limiter: RateLimiter::new(rate),
            metrics,
            failpoint: Box::new(crate::failpoint::hit),
        })
    }

    /// The same gateway with forced list refreshes allowed `floor` after the previous fetch
    /// (instead of [`MIN_FORCED_REFRESH`]).
    #[cfg(test)]
    pub fn with_forced_refresh_floor(mut self, floor: Duration) -> Self {
        self.orders = OrderCache::with_forced_refresh_floor(floor);
        self
    }

    /// The same gateway with `hook` called at the crash points instead of
    /// [`crate::failpoint::hit`].
    #[cfg(test)]
    fn with_failpoint_hook(mut self, hook: impl Fn(&'static str) + Send + Sync + 'static) -> Self {
        self.failpoint = Box::new(hook);
        self
    }

    /// The provider as the operator's flags set it up.
    pub fn default_target(&self) -> &Arc<Target> {
        &self.default_target
    }

    /// The (shared) target for these settings: one client per distinct configuration and rate,
    /// so ProxyProviders with the same settings share connections.
    pub fn target(&self, config: ProviderConfig, rate: f64) -> Result<Arc<Target>, ProviderError> {
        let id = format!("{config:?}\n{rate}");
        let mut map = self.targets.lock();
        if let Some(t) = map.get(&id) {
            return Ok(t.clone());
        }
        let target = Arc::new(Target::new(config, rate)?);
        map.insert(id, target.clone());
        Ok(target)
    }

    /// The account's order list, fetched anew when older than `max_age` or when `force_after`
    /// is set and the list is older than that (see [`OrderCache::get`]). A fetch takes a token
    /// from the key's rate limit; none is waited for: `Err(Throttled)` says when to come back.
    /// Each fetch wakes the [`ListWaiters`] of the key whose order it shows differently.
    pub async fn list(
        &self,
        account: &Account,
        query: QueryOptions,
        max_age: Duration,
        force_after: Option<Instant>,
    ) -> Result<Result<Arc<OrderIndex>, ProviderError>, Throttled> {
        let fetch = || async {
            self.acquire(account)?;
            let started = Instant::now();
            let result = account.target.client.list_orders(&account.key, query).await;
            self.count("list", &result, started);
            if let Ok(list) = &result {
                self.waiters.listed(&account.cache_key, list);
            }
            Ok(result)
        };
        self.orders
            .get(&account.cache_key, query, max_age, force_after, fetch)
            .await
    }

    /// Whether this process has fetched (or tried to fetch) an order list of the key with
    /// cache key `cache_key`.
    pub fn has_listed(&self, cache_key: &str) -> bool {
        self.orders.has_fetched(cache_key)
    }

    /// A token from the account's rate limit for one change call, without waiting for it. Taken
    /// before anything is recorded for the call, so a throttled request gives its reconcile
    /// slot back instead of waiting in it.
    pub fn permit<'a>(&'a self, account: &'a Account) -> Result<Permit<'a>, Throttled> {
        self.acquire(account)?;
        Ok(Permit {
            gateway: self,
            account,
        })
    }

    fn acquire(&self, account: &Account) -> Result<(), Throttled> {
        self.limiter
            .try_acquire_for(
                &account.cache_key,
                account.tenant.as_deref(),
                account.target.rate,
            )
            .map_err(Throttled)
    }

    /// One request's outcome and latency in the metrics.
    fn count<T>(&self, endpoint: &str, result: &Result<T, ProviderError>, started: Instant) {
        let code = match result {
            Ok(_) => Some(200),
            Err(e) => e.status(),
        };
        self.metrics
            .provider_request(endpoint, code, started.elapsed());
    }
}

/// The rate-limit token for one change call with an account.
#[must_use = "a permit is a rate-limit token already taken"]
pub struct Permit<'a> {
    gateway: &'a ProviderGateway,
    account: &'a Account,
}

impl Permit<'_> {
    /// The change call, between the crash points `before-provider-call` and
    /// `after-provider-call`, with its outcome in the metrics. The order the provider answers
    /// with replaces the old one in every cached list of the key, so the next decision does not
    /// act on the old one. The caller checks the fence right before (see
    /// `reconcile::act::perform` and `reconcile::finalize`).
    pub async fn change(
        self,
        order_id: u64,
        request: &ChangeRequest,
        query: QueryOptions,
    ) -> Result<OrderResponse, ProviderError> {
        let Permit { gateway, account } = self;
        (gateway.failpoint)("before-provider-call");
        let started = Instant::now();
        let result = account
            .target
            .client
            .change_order(&account.key, order_id, request, query)
            .await;
        gateway.count("change", &result, started);
        (gateway.failpoint)("after-provider-call");
        if let Ok(resp) = &result {
            gateway
                .orders
                .update_order(&account.cache_key, &resp.order)
                .await;
        }
        result
    }
}
