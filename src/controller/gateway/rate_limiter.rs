//! The per-API-key token bucket that spaces provider calls without ever waiting for a token,
//! and each namespace's fair share of a key's requests.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    time::{Duration, Instant},
};

use governor::{
    Quota,
    clock::Clock,
    middleware::NoOpMiddleware,
    state::{InMemoryState, NotKeyed},
};
use parking_lot::Mutex;

/// A token bucket per API key: `rate` requests per second, bursts up to `2 * rate` (rounded
/// down, at least 1). Each key has a [`governor`] limiter of its own, since a key may have a
/// rate of its own (a ProxyProvider's `rateLimit`).
pub struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Each namespace's share of a key, by (key, namespace).
    shares: Mutex<HashMap<(String, String), Share>>,
}

/// How long after its last request a namespace counts as using a key: the key's rate is
/// divided among the namespaces using it.
pub const ACTIVE_FOR: Duration = Duration::from_secs(30);

/// A namespace's share of a key: a token bucket whose rate is the key's divided by the number
/// of namespaces using it, with bursts of twice that (at least one).
struct Share {
    tokens: f64,
    at: Instant,
    used: Instant,
}

type KeyLimiter =
    governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Instant>>;

/// One key's limiter, the rate it was built for and when it was last asked.
struct Bucket {
    rate: f64,
    limiter: KeyLimiter,
    used: Instant,
}

impl Bucket {
    /// Whether the bucket has filled up again since it was last asked, so that a new one
    /// would behave the same: a key not used for that long need not be kept.
    fn is_full_again(&self, now: Instant) -> bool {
        let refill = Duration::try_from_secs_f64(f64::from(burst(self.rate).get()) / self.rate)
            .unwrap_or(Duration::MAX);
        now.saturating_duration_since(self.used) >= refill
    }
}

/// Tokio's clock, which tests can pause and advance.
#[derive(Clone, Copy, Debug, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// Twice `rate` requests, rounded down, at least one.
fn burst(rate: f64) -> NonZeroU32 {
    NonZeroU32::new((rate * 2.0) as u32).unwrap_or(NonZeroU32::MIN)
}

/// `rate` (> 0) requests per second with bursts of twice that.
fn quota(rate: f64) -> Quota {
    let burst = burst(rate);
    let period = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::MAX);
    // `None` for a zero period only, which no rate the flags and the CRD allow comes near.
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .map_or(Quota::per_second(burst), |q| q.allow_burst(burst))
}

impl RateLimiter {
    pub fn new(rate: f64) -> Self {
        RateLimiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
            shares: Mutex::new(HashMap::new()),
        }
    }

    /// [`Self::try_acquire_at`] for a request on behalf of a ProxyOrder in namespace `tenant`:
    /// besides the key's bucket, the namespace's fair share of it must have a token, so that
    /// one namespace using a shared key as fast as it can leaves the others their part. The
    /// share is the key's rate divided by the namespaces that used the key within
    /// [`ACTIVE_FOR`] (all of it for a namespace alone). `None`: no namespace's (a
    /// ProxyProvider's own check).
    pub fn try_acquire_for(
        &self,
        key_fp: &str,
        tenant: Option<&str>,
        rate: f64,
    ) -> Result<(), Duration> {
        let Some(tenant) = tenant else {
            return self.try_acquire_at(key_fp, rate);
        };
        let rate = if rate > 0.0 { rate } else { self.rate };
        let now = TokioClock.now();
        let mut shares = self.shares.lock();
        // This namespace and the others that used the key lately.
        let users = 1 + shares
            .iter()
            .filter(|((k, t), s)| {
                k == key_fp && t != tenant && now.saturating_duration_since(s.used) < ACTIVE_FOR
            })
            .count();
        let share_rate = rate / users as f64;
        let burst = (2.0 * share_rate).max(1.0);
        let id = (key_fp.to_string(), tenant.to_string());
        if !shares.contains_key(&id) {
            // Namespaces come and go: drop the shares of those gone quiet long enough that a
            // new share would be the same (full).
            shares.retain(|_, s| now.saturating_duration_since(s.used) < ACTIVE_FOR * 4);
        }
        let share = shares.entry(id).or_insert(Share {
            tokens: burst,
            at: now,
            used: now,
        });
        let refill = now.saturating_duration_since(share.at).as_secs_f64() * share_rate;
        share.tokens = (share.tokens + refill).min(burst);
        share.at = now;
        if share.tokens < 1.0 {
            let wait = Duration::try_from_secs_f64((1.0 - share.tokens) / share_rate)
                .unwrap_or(Duration::MAX);
            return Err(wait.max(Duration::from_millis(1)));
        }
        self.try_acquire_at(key_fp, rate)?;
        share.tokens -= 1.0;
        share.used = now;
        Ok(())
    }

    /// Takes a token for one request with this key, or says how long until one is free. Never
    /// waits: a reconcile that gets no token requeues itself and frees its slot for ProxyOrders
    /// of other keys.
    pub fn try_acquire(&self, key_fp: &str) -> Result<(), Duration> {
        self.try_acquire_at(key_fp, self.rate)
    }

    /// [`Self::try_acquire`] at a rate of this key's own (a ProxyProvider's `rateLimit`). When
    /// a key's rate changes, its bucket starts afresh at the new rate, empty: a key that two
    /// ProxyProviders use with different rates must not get a new burst at every switch.
    pub fn try_acquire_at(&self, key_fp: &str, rate: f64) -> Result<(), Duration> {
        let rate = if rate > 0.0 { rate } else { self.rate };
        let now = TokioClock.now();
        let mut map = self.buckets.lock();
        let new_bucket = || Bucket {
            rate,
            limiter: governor::RateLimiter::direct_with_clock(quota(rate), TokioClock),
            used: now,
        };
        if !map.contains_key(key_fp) {
            // Keys come and go (rotated API keys, removed ProxyProviders): before adding one,
            // drop those whose buckets are full again.
            map.retain(|_, b| !b.is_full_again(now));
        }
        let bucket = map.entry(key_fp.to_string()).or_insert_with(new_bucket);
        bucket.used = now;
        if bucket.rate != rate {
            *bucket = new_bucket();
            let _ = bucket.limiter.check_n(burst(rate));
        }
        bucket
            .limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(now).max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test(start_paused = true)]
    async fn a_new_rate_for_a_key_takes_effect_at_once_without_a_new_burst() {
        let limiter = RateLimiter::new(100.0);
        assert_eq!(limiter.try_acquire_at("k", 0.5), Ok(()));
        assert_eq!(
            limiter.try_acquire_at("k", 0.5),
            Err(Duration::from_secs(2)),
            "a burst of one at 0.5 requests/s"
        );
        // The ProxyProvider's rateLimit is raised to 4 requests/s: the next token comes a
        // quarter second later, not a burst of 8.
        assert_eq!(
            limiter.try_acquire_at("k", 4.0),
            Err(Duration::from_millis(250))
        );
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(limiter.try_acquire_at("k", 4.0), Ok(()));
        // Two ProxyProviders using one key at different rates: switching back and forth
        // gives no extra requests.
        let mut allowed = 0;
        for i in 0..20 {
            let rate = if i % 2 == 0 { 1.0 } else { 2.0 };
            allowed += limiter.try_acquire_at("k", rate).is_ok() as u32;
        }
        assert_eq!(allowed, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_namespace_using_a_key_as_fast_as_it_can_leaves_the_others_their_share() {
        let limiter = RateLimiter::new(100.0);
        let take = |ns: &str| limiter.try_acquire_for("k", Some(ns), 4.0).is_ok();
        // Alone, a namespace has the whole key: a burst of 8.
        assert_eq!((0..10).filter(|_| take("greedy")).count(), 8);
        // Another namespace comes: the key's bucket is empty, so it waits for the key like
        // anyone, but from then on each gets half.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(take("victim"), "the victim's share has a token");
        let mut greedy = 0;
        let mut victim = 1;
        for _ in 0..100 {
            tokio::time::advance(Duration::from_millis(100)).await;
            greedy += (0..5).filter(|_| take("greedy")).count();
            victim += take("victim") as usize;
        }
        // 10 s at 4 requests/s: about 40 in all, at least a third of it for the victim
        // (half its share when it asks; the greedy one never more than its half).
        assert!(greedy <= 24, "greedy {greedy}");
        assert!(victim >= 14, "victim {victim}");
        // Without a namespace (a ProxyProvider's own check) only the key's bucket counts.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(limiter.try_acquire_for("k", None, 4.0).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn keys_whose_buckets_filled_up_again_are_dropped_when_another_comes() {
        let limiter = RateLimiter::new(2.0);
        let keys = |l: &RateLimiter| {
            let mut k: Vec<String> = l.buckets.lock().keys().cloned().collect();
            k.sort();
            k
        };
        for _ in 0..4 {
            assert_eq!(limiter.try_acquire("old"), Ok(()));
        }
        // A burst of 4 at 2/s is full again after 2 s.
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(limiter.try_acquire("mid"), Ok(()));
        assert_eq!(keys(&limiter), ["mid", "old"], "not full again yet");
        assert!(limiter.try_acquire("old").is_ok());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            limiter.try_acquire("mid"),
            Ok(()),
            "a known key drops nothing"
        );
        assert_eq!(keys(&limiter), ["mid", "old"]);
        assert_eq!(limiter.try_acquire("new"), Ok(()));
        assert_eq!(keys(&limiter), ["mid", "new"]);
    }
}
