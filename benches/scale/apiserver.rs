//! Reading the API server's own request counters (`/metrics`): the write requests it served
//! for the operator's resources.

use anyhow::{Context as _, Result};
use kube::Client;

/// Write requests (create, update, patch, apply, delete) the API server has served for
/// ProxyOrders, Secrets and Events, from its own `apiserver_request_total` counters.
pub(crate) async fn apiserver_writes(client: &Client) -> Result<f64> {
    let req = axum::http::Request::get("/metrics").body(Vec::new())?;
    let text = client
        .request_text(req)
        .await
        .context("reading the API server's /metrics")?;
    let mut total = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"'))
        };
        let write = matches!(
            label("verb"),
            Some("POST" | "PUT" | "PATCH" | "APPLY" | "DELETE" | "DELETECOLLECTION")
        );
        let ours = matches!(
            label("resource"),
            Some("proxyorders" | "secrets" | "events")
        );
        if write && ours {
            total += value.trim().parse::<f64>().unwrap_or(0.0);
        }
    }
    Ok(total)
}
