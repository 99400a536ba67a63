//! The simulator's admin API under `/_sim`: look at and edit orders, read the request log, and
//! inject faults. It has no authentication; bind the simulator to loopback.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{
    Shared,
    api::{parse_id, query_map},
    faults::FaultSpec,
    respond::{self, from_json_value, parse_json_body, validation_error},
    rules::ValidationErrors,
};
use crate::wire::{Order, OrderStatus};

fn path_id(path: Result<Path<String>, PathRejection>) -> Option<u64> {
    path.ok().and_then(|Path(raw)| parse_id(&raw))
}

/// `GET /_sim/healthz`
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /_sim/orders`: every order, with `access` (real password) and `proxies`.
pub(crate) async fn list_orders(State(sim): State<Arc<Shared>>) -> Response {
    let orders: Vec<Order> = sim.lock().orders().cloned().collect();
    respond::ok(&orders)
}

/// `GET /_sim/orders/{id}`
pub(crate) async fn get_order(
    State(sim): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let order = path_id(path).and_then(|id| sim.lock().get(id).cloned());
    match order {
        Some(order) => respond::ok(&order),
        None => respond::order_not_found(),
    }
}

/// `PUT /_sim/orders/{id}`: create or replace an order; the path's id wins over the body's.
pub(crate) async fn put_order(
    State(sim): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = path_id(path) else {
        return respond::order_not_found();
    };
    let mut value = match parse_json_body::<serde_json::Value>(&headers, &body) {
        Ok(v) => v,
        Err(e) => return validation_error(&e),
    };
    value["id"] = serde_json::Value::from(id);
    let order: Order = match from_json_value(value) {
        Ok(o) => o,
        Err(e) => return validation_error(&e),
    };
    let result = sim.lock().put_order(order);
    sim.sync_proxies([id]).await;
    match result {
        Ok((order, created)) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, axum::Json(order)).into_response()
        }
        Err(e) => validation_error(&e),
    }
}

/// `DELETE /_sim/orders/{id}`
pub(crate) async fn delete_order(
    State(sim): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let Some(id) = path_id(path) else {
        return respond::order_not_found();
    };
    let removed = sim.lock().remove_order(id);
    sim.sync_proxies([id]).await;
    match removed {
        Some(order) => respond::ok(&order),
        None => respond::order_not_found(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: OrderStatus,
}

/// `POST /_sim/orders/{id}/status` with `{"status": "waiting"}`.
pub(crate) async fn set_status(
    State(sim): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = path_id(path) else {
        return respond::order_not_found();
    };
    let req = match parse_json_body::<StatusBody>(&headers, &body) {
        Ok(r) => r,
        Err(e) => return validation_error(&e),
    };
    if req.status.as_str().is_empty() {
        return validation_error(&ValidationErrors::single(
            "status",
            "The status must not be empty.",
        ));
    }
    let updated = sim.lock().set_status(id, req.status);
    sim.sync_proxies([id]).await;
    match updated {
        Some(order) => respond::ok(&order),
        None => respond::order_not_found(),
    }
}

/// The `order_id` query parameter, if given.
fn order_id_query(uri: &Uri) -> Result<Option<u64>, ValidationErrors> {
    match query_map(uri).get("order_id") {
        None => Ok(None),
        Some(raw) => raw.parse::<u64>().map(Some).map_err(|_| {
            ValidationErrors::single("order_id", "The order_id must be a non-negative integer.")
        }),
    }
}

/// `GET /_sim/requests[?order_id=N]`
pub(crate) async fn list_requests(State(sim): State<Arc<Shared>>, uri: Uri) -> Response {
    let order_id = match order_id_query(&uri) {
        Ok(id) => id,
        Err(e) => return validation_error(&e),
    };
    let records = sim.lock().requests.list(order_id);
    respond::ok(&records)
}

/// `DELETE /_sim/requests`
pub(crate) async fn clear_requests(State(sim): State<Arc<Shared>>) -> Response {
    let cleared = sim.lock().requests.clear();
    respond::ok(&serde_json::json!({ "cleared": cleared }))
}

/// `GET /_sim/faults`
pub(crate) async fn list_faults(State(sim): State<Arc<Shared>>) -> Response {
    let faults = sim.lock().faults.list();
    respond::ok(&faults)
}

/// `POST /_sim/faults`
pub(crate) async fn add_fault(
    State(sim): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match parse_json_body::<FaultSpec>(&headers, &body) {
        Ok(s) => s,
        Err(e) => return validation_error(&e),
    };
    if let Err(e) = spec.validate() {
        return validation_error(&e);
    }
    let fault = sim.lock().faults.add(spec);
    (StatusCode::CREATED, axum::Json(fault)).into_response()
}

/// `DELETE /_sim/faults`
pub(crate) async fn clear_faults(State(sim): State<Arc<Shared>>) -> Response {
    let cleared = sim.lock().faults.clear();
    respond::ok(&serde_json::json!({ "cleared": cleared }))
}

/// `DELETE /_sim/faults/{id}`
pub(crate) async fn delete_fault(
    State(sim): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let removed = path
        .ok()
        .and_then(|Path(raw)| raw.parse::<u64>().ok())
        .is_some_and(|id| sim.lock().faults.remove(id));
    if removed {
        respond::ok(&serde_json::json!({ "cleared": 1 }))
    } else {
        respond::message(StatusCode::NOT_FOUND, "Fault not found")
    }
}

fn listeners_off() -> Response {
    respond::message(
        StatusCode::NOT_FOUND,
        "Proxy listeners are off (start the simulator with --proxy-listeners)",
    )
}

/// `GET /_sim/proxy-connects[?order_id=N]`: per order, the CONNECT requests its proxy
/// listeners answered and how they ended; with `order_id`, one entry (zeros if none).
pub(crate) async fn list_proxy_connects(State(sim): State<Arc<Shared>>, uri: Uri) -> Response {
    let Some(proxies) = &sim.proxies else {
        return listeners_off();
    };
    match order_id_query(&uri) {
        Ok(order_id) => respond::ok(&proxies.connects(order_id)),
        Err(e) => validation_error(&e),
    }
}

/// `DELETE /_sim/proxy-connects`
pub(crate) async fn clear_proxy_connects(State(sim): State<Arc<Shared>>) -> Response {
    let Some(proxies) = &sim.proxies else {
        return listeners_off();
    };
    respond::ok(&serde_json::json!({ "cleared": proxies.clear_connects() }))
}

/// `GET /_sim/proxy-listeners`: `[{"order_id", "address"}]`, the addresses served now.
pub(crate) async fn list_proxy_listeners(State(sim): State<Arc<Shared>>) -> Response {
    let Some(proxies) = &sim.proxies else {
        return listeners_off();
    };
    #[derive(serde::Serialize)]
    struct Served {
        order_id: u64,
        address: std::net::SocketAddr,
    }
    let listeners: Vec<Served> = proxies
        .list()
        .await
        .into_iter()
        .map(|(order_id, address)| Served { order_id, address })
        .collect();
    respond::ok(&listeners)
}
