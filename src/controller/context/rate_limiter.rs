//! The per-API-key token bucket that spaces provider calls without ever waiting for a token.

use std::{collections::HashMap, sync::Mutex, time::Duration};

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
}
