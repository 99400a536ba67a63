//! The in-process provider simulator: starting it with N generated orders, reading and
//! clearing the requests it recorded, and counting them by kind.

use anyhow::{Result, anyhow};
use proxy_solutions_sim::{SimConfig, Simulator, generate_orders};
use serde_json::Value;

use crate::API_KEY;

/// Simulator with N generated active orders (login user<ID>, port 8000).
pub(crate) async fn start_simulator(n: usize) -> Result<Simulator> {
    Simulator::start(
        SimConfig {
            api_keys: vec![API_KEY.to_string()],
            orders: generate_orders(n as u32),
            max_recorded_requests: (20 * n).max(100_000),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .map_err(|e| anyhow!("simulator: {e}"))
}

#[derive(Default)]
pub(crate) struct Calls {
    pub(crate) change: usize,
    pub(crate) read: usize,
    pub(crate) list: usize,
    pub(crate) other: usize,
    pub(crate) non_2xx: usize,
}

pub(crate) fn classify(reqs: &[Value]) -> Calls {
    let mut c = Calls::default();
    for r in reqs {
        let path = r["path"].as_str().unwrap_or_default();
        let status = r["status"].as_u64().unwrap_or(0);
        if !(200..300).contains(&status) {
            c.non_2xx += 1;
        }
        match r["method"].as_str().unwrap_or_default() {
            "GET" if path == "/api/user/orders" => c.list += 1,
            "POST"
                if path.starts_with("/api/user/orders/")
                    && path["/api/user/orders/".len()..]
                        .chars()
                        .all(|ch| ch.is_ascii_digit()) =>
            {
                let empty =
                    r["body"].is_null() || r["body"].as_object().is_some_and(|o| o.is_empty());
                if empty { c.read += 1 } else { c.change += 1 }
            }
            _ => c.other += 1,
        }
    }
    c
}

pub(crate) async fn sim_requests(http: &reqwest::Client, admin: &str) -> Result<Vec<Value>> {
    Ok(http
        .get(format!("{admin}/requests"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

pub(crate) async fn sim_clear_requests(http: &reqwest::Client, admin: &str) -> Result<()> {
    http.delete(format!("{admin}/requests"))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
