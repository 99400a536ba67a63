//! The per-API-key token bucket that spaces provider calls without ever waiting for a token.

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
        }
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
