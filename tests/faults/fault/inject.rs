//! Provider faults registered on (and cleared from) the simulator's admin API.

use anyhow::{Result, ensure};
use proxy_order_testkit::Env;
use serde_json::{Value, json};

use crate::TIMEOUT_FAULT_MS;

/// Registers faults so that `rate` of all provider requests fail, a quarter each as a 503, a
/// 429 with `Retry-After: 1`, a dropped connection and a timeout (an answer slower than the
/// operator waits; the provider still carries the request out). Returns the fault ids.
pub(super) async fn inject_faults(env: &Env, rate: f64) -> Result<()> {
    let q = rate / 4.0;
    // Faults are tried in order and the first terminal one wins, so each later terminal fault
    // gets the conditional rate. The delay is not terminal: it is rolled for requests no
    // terminal fault took, at the rate that makes the total `rate`.
    let specs = [
        json!({"status": 503, "rate": q}),
        json!({"status": 429, "retry_after_s": 1, "rate": q / (1.0 - q)}),
        json!({"drop_connection": true, "rate": q / (1.0 - 2.0 * q)}),
        json!({"latency_ms": TIMEOUT_FAULT_MS, "rate": 1.0 - (1.0 - rate) / (1.0 - 3.0 * q)}),
    ];
    for spec in specs {
        let r = reqwest::Client::new()
            .post(format!("{}/faults", env.sim.admin_url()))
            .json(&spec)
            .send()
            .await?;
        ensure!(
            r.status().is_success(),
            "registering fault {spec}: {}",
            r.status()
        );
    }
    Ok(())
}

pub(super) async fn clear_faults(env: &Env) -> Result<Vec<Value>> {
    let url = format!("{}/faults", env.sim.admin_url());
    let fired: Vec<Value> = reqwest::get(&url).await?.json().await?;
    reqwest::Client::new().delete(&url).send().await?;
    Ok(fired)
}
