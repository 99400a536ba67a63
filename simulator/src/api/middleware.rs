//! The middleware in front of every `/api` handler: request recording, faults, the API key
//! check and the log line.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{StatusCode, request::Parts},
    middleware::Next,
    response::Response,
};
use proxy_solutions_wire::AuthScheme;

use super::{
    DropConnection, MAX_BODY_BYTES,
    auth::authorized,
    classify,
    fault_answers::{fault_body, injected, truncated},
    query_map,
};
use crate::{
    Settings, Shared,
    faults::FaultAction,
    record::{RequestRecord, record_body},
    respond,
};

/// The API's own answer: 401 without an accepted key, 413 for an oversized request body,
/// otherwise the handler's.
async fn answer(
    settings: &Settings,
    parts: Parts,
    query: &BTreeMap<String, String>,
    bytes: Option<Bytes>,
    next: Next,
) -> Response {
    if !authorized(settings, &parts.headers, query) {
        return respond::unauthorized();
    }
    match bytes {
        Some(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        None => respond::message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large.",
        ),
    }
}

/// Runs before every `/api` handler: records the request, applies faults (before auth: they
/// simulate an unavailable provider), checks the API key, and logs one line.
pub(crate) async fn middleware(
    State(sim): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let (endpoint, order_id) = classify(&path);
    let query = query_map(&parts.uri);
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok();

    let mut recorded_query = query.clone();
    if let AuthScheme::Query { param } = &sim.settings.auth {
        recorded_query.remove(param);
    }
    let record = RequestRecord {
        seq: 0,
        method: method.clone(),
        path: path.clone(),
        order_id,
        query: recorded_query,
        body: bytes.as_deref().map(record_body).unwrap_or_default(),
        status: 0,
    };
    let (seq, outcome) = {
        let mut st = sim.lock();
        let seq = st.requests.start(record);
        (seq, st.faults.evaluate(endpoint, rand::random::<f64>))
    };
    // The rest runs in its own task, so that a request whose client gave up (a timeout) is
    // still carried out and logged, the way a real server finishes what it started.
    let shared = sim.clone();
    let work = tokio::spawn(async move {
        let sim = shared;
        if !outcome.latency.is_zero() {
            tokio::time::sleep(outcome.latency).await;
        }

        let faulted = outcome.action.is_some();
        let response = match outcome.action {
            Some(FaultAction::Drop) => None,
            Some(FaultAction::Status {
                status,
                retry_after_s,
            }) => Some(injected(status, retry_after_s)),
            Some(FaultAction::Body {
                status,
                retry_after_s,
                content_type,
                body,
                truncate,
            }) => Some(fault_body(
                status,
                retry_after_s,
                &content_type,
                body,
                truncate,
            )),
            Some(FaultAction::Truncate {
                status: Some(status),
                retry_after_s,
            }) => Some(truncated(injected(status, retry_after_s)).await),
            Some(FaultAction::Truncate { status: None, .. }) => {
                Some(truncated(answer(&sim.settings, parts, &query, bytes, next).await).await)
            }
            None => Some(answer(&sim.settings, parts, &query, bytes, next).await),
        };
        let status = response.as_ref().map_or(0, |r| r.status().as_u16());
        sim.lock().requests.finish(seq, status);
        tracing::info!(
            target: "proxy_solutions_sim",
            method = %method,
            path = %path,
            order_id = ?order_id,
            status,
            latency_ms = started.elapsed().as_millis() as u64,
            fault = faulted,
            "provider api request"
        );
        response
    });
    let response = match work.await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the simulator is shutting down.
        Err(_) => None,
    };
    response.unwrap_or_else(|| {
        let mut resp = Response::new(Body::empty());
        resp.extensions_mut().insert(DropConnection);
        resp
    })
}
