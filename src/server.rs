//! HTTP endpoints for operations: `/metrics`, `/healthz`, `/readyz`.

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use futures::FutureExt;
use kube::runtime::reflector::Store;

use crate::{
    controller::conditions::{self, READY, SYNCED},
    leader::Standing,
    metrics::{Metrics, StateLabels},
};
use proxy_order_api::ProxyOrder;

#[derive(Clone)]
struct AppState {
    store: Store<ProxyOrder>,
    metrics: Arc<Metrics>,
    standing: Arc<Standing>,
}

/// Serves the endpoints until the process ends. `/readyz` answers 200 once the ProxyOrder
/// cache has synced, and for a replica waiting for leadership while it sees a leader renew the
/// lease (it is healthy and ready to take over; without that a Deployment with several
/// replicas never becomes ready). A standby that sees no leader renewing (the lease is held by
/// a replica that is gone) is not ready until it has taken over: nothing acts meanwhile.
pub async fn serve(
    addr: SocketAddr,
    store: Store<ProxyOrder>,
    metrics: Arc<Metrics>,
    standing: Arc<Standing>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            store,
            metrics,
            standing,
        });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    axum::serve(listener, app).await
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    // Polled once per request rather than awaited in a task: the store's readiness signal
    // wakes only its most recent waiter, which is the controller's.
    if s.standing.is_standby() {
        if s.standing.leader_seen() {
            (StatusCode::OK, "standby: a leader is active")
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "standby: no leader seen renewing the lease",
            )
        }
    } else if matches!(s.store.wait_until_ready().now_or_never(), Some(Ok(()))) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "cache not synced")
    }
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    s.metrics.orders.clear();
    for po in s.store.state() {
        let conds = po
            .status
            .as_ref()
            .map(|st| st.conditions.as_slice())
            .unwrap_or_default();
        let label = |t| {
            conditions::get(conds, t)
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "Unknown".to_string())
        };
        s.metrics
            .orders
            .get_or_create(&StateLabels {
                ready: label(READY),
                synced: label(SYNCED),
            })
            .inc();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}
