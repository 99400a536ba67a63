//! The in-process provider simulator: starting it with N generated orders, and counting the
//! requests it recorded by kind.

use anyhow::Result;
use proxy_solutions_sim::{SimConfig, Simulator, generate_orders};
use serde_json::Value;

use crate::API_KEY;

/// Simulator with N generated active orders (login user<ID>, port 8000).
pub(crate) async fn start_simulator(n: usize) -> Result<Simulator> {
    proxy_order_testkit::start_simulator(SimConfig {
        api_keys: vec![API_KEY.to_string()],
        orders: generate_orders(n as u32),
        max_recorded_requests: (20 * n).max(100_000),
        ..SimConfig::default()
    })
    .await
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
