//! Waiting: polling until a check holds ([`poll`]; in scenarios [`Env::wait_for`], failing
//! with the operator log's tail), until a ProxyOrder condition is reached, or for a fixed time.

use std::{convert::Infallible, time::Duration};

use kube::Api;
use proxy_order_api::ProxyOrder;

use crate::{Env, condition, tail};

/// Calls `check` until it returns `Ok(Some(_))` or an error, pausing `every` between calls;
/// `Ok(None)` when it has not succeeded by `limit`.
pub async fn poll<T, E>(
    limit: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    // tokio's clock: the same as std's, except in tests that pause time.
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await? {
            return Ok(Some(v));
        }
        if tokio::time::Instant::now() > deadline {
            return Ok(None);
        }
        tokio::time::sleep(every).await;
    }
}

impl Env {
    /// Polls until `check` returns Some, or fails after `secs` with the operator log's tail.
    pub async fn wait_for<T, F>(&self, what: &str, secs: u64, mut check: F) -> T
    where
        F: AsyncFnMut() -> Option<T>,
    {
        let found = poll(
            Duration::from_secs(secs),
            Duration::from_millis(150),
            async || Ok::<_, Infallible>(check().await),
        )
        .await;
        let Ok(Some(v)) = found else {
            panic!(
                "timed out waiting for {what}; operator log:\n{}",
                tail(&self.log_text(), 40)
            );
        };
        v
    }

    /// Waits until condition `type_` has `status` and `reason` for the current generation,
    /// returning the object.
    pub async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> ProxyOrder {
        self.wait_condition_in(&self.ns, name, type_, status, reason)
            .await
    }

    /// [`Env::wait_condition`] for ProxyOrder `ns/name`, in any namespace.
    pub async fn wait_condition_in(
        &self,
        ns: &str,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> ProxyOrder {
        let what = format!("{ns}/{name} {type_}={status}/{reason}");
        let orders: Api<ProxyOrder> = Api::namespaced(self.client.clone(), ns);
        self.wait_for(&what, 30, async || {
            let po = orders.get_opt(name).await.ok()??;
            let c = condition(&po, type_)?;
            let current = po.status.as_ref()?.observed_generation == po.metadata.generation;
            (current && c.0 == status && c.1 == reason).then_some(po)
        })
        .await
    }

    pub async fn wait_ready(&self, name: &str) -> ProxyOrder {
        self.wait_ready_in(&self.ns, name).await
    }

    /// [`Env::wait_ready`] for ProxyOrder `ns/name`, in any namespace.
    pub async fn wait_ready_in(&self, ns: &str, name: &str) -> ProxyOrder {
        self.wait_condition_in(ns, name, "Ready", "True", "Applied")
            .await
    }
}

/// Sleeps `secs` seconds.
pub async fn settle(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn poll_returns_the_first_success() {
        let mut calls = 0;
        let got = poll(Duration::from_secs(5), Duration::from_secs(1), async || {
            calls += 1;
            Ok::<_, Infallible>((calls == 3).then_some(calls))
        })
        .await;
        assert_eq!(got, Ok(Some(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn poll_gives_up_at_the_limit_and_stops_at_an_error() {
        let mut calls = 0;
        let got = poll(
            Duration::from_millis(450),
            Duration::from_millis(100),
            async || {
                calls += 1;
                Ok::<Option<()>, Infallible>(None)
            },
        )
        .await;
        assert_eq!(got, Ok(None));
        assert!((4..=6).contains(&calls), "{calls} calls");
        let failed = poll(Duration::from_secs(5), Duration::from_secs(1), async || {
            Err::<Option<()>, _>("broken")
        })
        .await;
        assert_eq!(failed, Err("broken"));
    }
}
