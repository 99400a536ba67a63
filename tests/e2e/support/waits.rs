//! Waiting in scenarios: polling until a check holds (failing with the operator log's tail),
//! until a ProxyOrder condition is reached, or for a fixed time.

use std::time::{Duration, Instant};

use proxy_order_operator::crd::ProxyOrder;

use super::{Env, condition, tail};

impl Env {
    /// Polls until `check` returns Some, or fails after `secs` with the last state.
    pub async fn wait_for<T, F>(&self, what: &str, secs: u64, mut check: F) -> T
    where
        F: AsyncFnMut() -> Option<T>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; operator log:\n{}",
                    tail(&self.log_text(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
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
        let what = format!("{name} {type_}={status}/{reason}");
        self.wait_for(&what, 30, async || {
            let po = self.orders().get_opt(name).await.ok()??;
            let c = condition(&po, type_)?;
            let current = po.status.as_ref()?.observed_generation == po.metadata.generation;
            (current && c.0 == status && c.1 == reason).then_some(po)
        })
        .await
    }

    pub async fn wait_ready(&self, name: &str) -> ProxyOrder {
        self.wait_condition(name, "Ready", "True", "Applied").await
    }
}

/// Sleeps `secs` seconds.
pub async fn settle(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}
