//! The provider simulator as the scenarios see it: its orders, its admin endpoints (faults,
//! status changes) and the request log provider calls are counted from.

use serde_json::Value;

use super::Env;

impl Env {
    pub async fn sim_order(&self, id: u64) -> Value {
        reqwest::get(format!("{}/orders/{id}", self.sim.admin_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sim_post(&self, path: &str, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.sim.admin_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    /// Provider-API requests the simulator received, optionally for one order.
    pub async fn requests(&self) -> Vec<Value> {
        reqwest::get(format!("{}/requests", self.sim.admin_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Empties the simulator's request log.
    #[allow(dead_code)] // used by the fault suite (tests/faults)
    pub async fn sim_clear_requests(&self) -> anyhow::Result<()> {
        reqwest::Client::new()
            .delete(format!("{}/requests", self.sim.admin_url()))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Change calls (POST /api/user/orders/{id}) received for `order`.
    pub async fn change_calls(&self, order: u64) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["method"] == "POST" && r["path"] == format!("/api/user/orders/{order}"))
            .collect()
    }

    pub async fn list_calls(&self) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r["method"] == "GET" && r["path"] == "/api/user/orders")
            .count()
    }
}

/// The request body of `call`, an entry of the simulator's request log.
pub fn body(call: &Value) -> &Value {
    &call["body"]
}
