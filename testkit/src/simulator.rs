//! The provider simulator: starting it in-process on a local port, and the request log
//! provider calls are counted from; in a scenario, its orders and admin endpoints (faults,
//! status changes).

use anyhow::{Result, anyhow};
use proxy_solutions_sim::{SimConfig, Simulator};
use serde_json::Value;

use crate::Env;

/// Starts the simulator with `config` on a free port of 127.0.0.1.
pub async fn start_simulator(config: SimConfig) -> Result<Simulator> {
    Simulator::start(config, "127.0.0.1:0".parse()?)
        .await
        .map_err(|e| anyhow!("simulator: {e}"))
}

/// The provider-API requests the simulator whose admin API is at `admin` received (its
/// request log, as JSON).
pub async fn sim_requests(http: &reqwest::Client, admin: &str) -> Result<Vec<Value>> {
    Ok(http
        .get(format!("{admin}/requests"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Empties the request log of the simulator whose admin API is at `admin`.
pub async fn sim_clear_requests(http: &reqwest::Client, admin: &str) -> Result<()> {
    http.delete(format!("{admin}/requests"))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

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

    /// Creates order `id` at the provider, as buying one does: active, `quantity` City proxies
    /// (credentials and addresses of the simulator's choosing).
    pub async fn sim_buy_order(&self, id: u64, quantity: u32) {
        let r = reqwest::Client::new()
            .put(format!("{}/orders/{id}", self.sim.admin_url()))
            .json(&serde_json::json!({
                "status": "active",
                "service": {"id": 4, "provider": "server-proxies", "name": "City proxies"},
                "period": 30, "quantity": quantity, "amount": 1.81 * f64::from(quantity),
                "allowed_operations": [], "resources_allocated": true,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "order {id} is new");
    }

    /// Provider-API requests the simulator received.
    pub async fn requests(&self) -> Vec<Value> {
        sim_requests(&reqwest::Client::new(), &self.sim.admin_url())
            .await
            .expect("the simulator's request log")
    }

    /// Empties the simulator's request log.
    pub async fn sim_clear_requests(&self) -> Result<()> {
        sim_clear_requests(&reqwest::Client::new(), &self.sim.admin_url()).await
    }

    /// Change calls (POST /api/user/orders/{id}) received for `order`.
    pub async fn change_calls(&self, order: u64) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["method"] == "POST" && r["path"] == format!("/api/user/orders/{order}"))
            .collect()
    }

    /// Change calls for `order` that ask for a change: every body but the empty read (`{}`).
    pub async fn changes_sent(&self, order: u64) -> Vec<Value> {
        self.change_calls(order)
            .await
            .into_iter()
            .filter(|c| c["body"].as_object().is_some_and(|b| !b.is_empty()))
            .collect()
    }

    /// Change calls for `order` that ask for a quantity.
    pub async fn quantity_calls(&self, order: u64) -> usize {
        self.change_calls(order)
            .await
            .iter()
            .filter(|c| c["body"].get("quantity").is_some())
            .count()
    }

    /// The cost guardrail holding a change back: ProxyOrder `name` asks for two more proxies
    /// on the expired order than it has, with `maxQuantity` one more than it has. Returns the
    /// quantity it has, the one asked for, and the held change's hash, once the ProxyOrder is
    /// `Synced=False/AwaitingApproval` with that one change and nothing was sent.
    pub async fn hold_a_quantity_increase(&self, name: &str) -> (u64, u64, String) {
        let have = self.sim_order(crate::EXPIRED).await["quantity"]
            .as_u64()
            .expect("the simulator's order has a quantity");
        let want = have + 2;
        self.apply(
            name,
            serde_json::json!({"orderId": crate::EXPIRED,
                "apiKeySecretRef": {"name": crate::KEY_SECRET, "key": "api-key"},
                "quantity": want, "maxQuantity": have + 1}),
        )
        .await;
        let po = self
            .wait_condition(name, "Synced", "False", "AwaitingApproval")
            .await;
        let planned = po.status.expect("a status").planned_changes;
        assert_eq!(planned.len(), 1, "{planned:#?}");
        assert_eq!((planned[0].from as u64, planned[0].to as u64), (have, want));
        assert_eq!(
            self.quantity_calls(crate::EXPIRED).await,
            0,
            "nothing sent unapproved"
        );
        (have, want, planned[0].hash.clone())
    }

    pub async fn list_calls(&self) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r["method"] == "GET" && r["path"] == "/api/user/orders")
            .count()
    }
}

/// The proxy IPs of `order`, an order as the simulator's admin API returns it.
pub fn proxy_ips(order: &Value) -> Vec<String> {
    order["proxies"]
        .as_array()
        .expect("the order has proxies")
        .iter()
        .map(|p| p["ip"].as_str().expect("a proxy has an IP").to_string())
        .collect()
}

/// The request body of `call`, an entry of the simulator's request log.
pub fn body(call: &Value) -> &Value {
    &call["body"]
}
