//! The simulated provider API under `/api`.
//!
//! Every request passes [`middleware`] first: it records the request, applies faults, checks
//! the API key and writes one log line. The handlers then apply the rules in `rules.rs` to the
//! state in `state.rs`.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use axum::{
    body::{Body, Bytes},
    extract::{Path, Query, Request, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    middleware::Next,
    response::Response,
};

use super::{
    Settings, Shared,
    faults::{Endpoint, FaultAction},
    record::{RequestRecord, record_body},
    respond::{self, parse_json_body, validation_error},
    rules::{self, ValidationErrors, parse_lang_currency, plan_change},
    state::OpError,
};
use crate::provider::{
    AuthScheme, ChangeRequest, ChargeRequest, ChargeResponse, Currency, Order, OrderList,
    OrderResponse, Payment, PerformRequest, PerformResponse,
};

/// Largest request body the simulator reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Response marker: the connection must be closed without an answer (see `serve_connection`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DropConnection;

/// Which endpoint a path hits, and the order id it names (if it names a numeric one).
pub fn classify(path: &str) -> (Endpoint, Option<u64>) {
    let rest = path.trim_end_matches('/');
    let Some(rest) = rest.strip_prefix("/api/user/orders") else {
        return (Endpoint::Other, None);
    };
    if rest.is_empty() {
        return (Endpoint::List, None);
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return (Endpoint::Other, None);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let id = segments.first().and_then(|s| parse_id(s));
    match segments.as_slice() {
        [_] => (Endpoint::Change, id),
        [_, "perform"] => (Endpoint::Perform, id),
        [_, "charge"] => (Endpoint::Charge, id),
        _ => (Endpoint::Other, id),
    }
}

/// An order id from a path segment: decimal digits only, at least 1.
pub fn parse_id(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|&id| id > 0)
}

/// The query string as a map (a repeated name keeps its last value; bad encoding → empty).
pub fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs.into_iter().collect())
        .unwrap_or_default()
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The API key a request presents under the configured scheme.
fn presented_key<'a>(
    auth: &AuthScheme,
    headers: &'a HeaderMap,
    query: &'a BTreeMap<String, String>,
) -> Option<&'a str> {
    match auth {
        AuthScheme::Header { name, prefix } => {
            let value = headers.get(name.as_str())?.to_str().ok()?.trim();
            if prefix.is_empty() {
                Some(value)
            } else {
                let (scheme, key) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case(prefix).then(|| key.trim())
            }
        }
        AuthScheme::Query { param } => query.get(param).map(String::as_str),
    }
}

/// Whether the request carries an accepted API key.
pub(crate) fn authorized(
    settings: &Settings,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
) -> bool {
    match presented_key(&settings.auth, headers, query) {
        Some(key) if !key.is_empty() => {
            settings.allow_any_key
                || settings
                    .api_keys
                    .iter()
                    .any(|k| constant_time_eq(k.as_bytes(), key.as_bytes()))
        }
        _ => false,
    }
}

fn injected(status: u16, retry_after_s: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let text = format!(
        "{} (fault injected by proxy-solutions-sim)",
        code.canonical_reason().unwrap_or("Error")
    );
    let mut resp = respond::message(code, &text);
    if let Some(secs) = retry_after_s {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
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
    if !outcome.latency.is_zero() {
        tokio::time::sleep(outcome.latency).await;
    }

    let response = match outcome.action {
        Some(FaultAction::Drop) => None,
        Some(FaultAction::Status {
            status,
            retry_after_s,
        }) => Some(injected(status, retry_after_s)),
        None if !authorized(&sim.settings, &parts.headers, &query) => Some(respond::unauthorized()),
        None => Some(match bytes {
            Some(bytes) => {
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
            None => respond::message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large.",
            ),
        }),
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
        fault = outcome.action.is_some(),
        "provider api request"
    );
    response.unwrap_or_else(|| {
        let mut resp = Response::new(Body::empty());
        resp.extensions_mut().insert(DropConnection);
        resp
    })
}

/// The order as the provider API shows it: `converted_amount` in the requested currency, and
/// `access`/`proxies` only where the endpoint returns them.
fn render(order: &Order, currency: Currency, with_access: bool) -> Order {
    let mut o = order.clone();
    o.converted_amount = Some(rules::round2(o.amount * rules::usd_rate(currency)));
    if with_access {
        o.proxies.get_or_insert_with(Vec::new);
    } else {
        o.access = None;
        o.proxies = None;
    }
    o
}

fn op_error(e: OpError) -> Response {
    match e {
        OpError::NotFound => respond::order_not_found(),
        OpError::Invalid(e) => validation_error(&e),
    }
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Option<u64> {
    path.ok().and_then(|Path(raw)| parse_id(&raw))
}

/// `GET /api/user/orders`
pub(crate) async fn list_orders(State(sim): State<Arc<Shared>>, uri: Uri) -> Response {
    let (lang, currency) = match parse_lang_currency(&query_map(&uri)) {
        Ok(v) => v,
        Err(e) => return validation_error(&e),
    };
    let include = sim.settings.list_includes_access;
    let orders = sim
        .lock()
        .orders()
        .map(|o| render(o, currency, include))
        .collect();
    respond::ok(&OrderList {
        lang: Some(lang),
        currency: Some(currency),
        orders,
    })
}

/// `POST /api/user/orders/{id}` (change)
pub(crate) async fn change_order(
    State(sim): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = path_id(path) else {
        return respond::order_not_found();
    };
    let query = parse_lang_currency(&query_map(&uri));
    let req = parse_json_body::<ChangeRequest>(&headers, &body);

    let mut st = sim.lock();
    let Some(order) = st.get(id) else {
        return respond::order_not_found();
    };
    let (lang, currency, req) = match (query, req) {
        (Ok((lang, currency)), Ok(req)) => (lang, currency, req),
        (q, r) => {
            let mut errors = ValidationErrors::new();
            if let Err(e) = q {
                errors.merge(e);
            }
            if let Err(e) = r {
                errors.merge(e);
            }
            return validation_error(&errors);
        }
    };
    let plan = match plan_change(order, &req, sim.settings.rules) {
        Ok(plan) => plan,
        Err(e) => return validation_error(&e),
    };
    match st.apply_change(id, plan) {
        Ok(order) => respond::ok(&OrderResponse {
            lang: Some(lang),
            currency: Some(currency),
            order: render(&order, currency, true),
        }),
        Err(e) => op_error(e),
    }
}

/// `POST /api/user/orders/{id}/perform`
pub(crate) async fn perform(
    State(sim): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = path_id(path) else {
        return respond::order_not_found();
    };
    let req = parse_json_body::<PerformRequest>(&headers, &body);
    let mut st = sim.lock();
    if st.get(id).is_none() {
        return respond::order_not_found();
    }
    let req = match req {
        Ok(req) => req,
        Err(e) => return validation_error(&e),
    };
    match st.perform(id, &req) {
        Ok(order) => respond::ok(&PerformResponse {
            operation_status: "complete".into(),
            order: render(&order, Currency::Usd, true),
        }),
        Err(e) => op_error(e),
    }
}

/// Characters a query value keeps unescaped besides ASCII letters and digits (RFC 3986
/// unreserved).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// `POST /api/user/orders/{id}/charge`
pub(crate) async fn charge(
    State(sim): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = path_id(path) else {
        return respond::order_not_found();
    };
    let req = parse_json_body::<ChargeRequest>(&headers, &body);
    let mut st = sim.lock();
    let Some(order) = st.get(id) else {
        return respond::order_not_found();
    };
    let req = match req {
        Ok(req) => req,
        Err(e) => return validation_error(&e),
    };
    let plan = match rules::plan_charge(order, &req) {
        Ok(plan) => plan,
        Err(e) => return validation_error(&e),
    };
    if let Err(e) = st.charge(id, &plan) {
        return op_error(e);
    }
    let url = (!plan.from_balance).then(|| {
        format!(
            "https://pay.example.invalid/checkout?order={id}&merchant={}&amount={:.2}&currency={}",
            encode(&plan.merchant),
            plan.payer_amount,
            plan.currency.as_str()
        )
    });
    respond::ok(&ChargeResponse {
        payment: Payment {
            discount: plan.discount,
            merchant: plan.merchant,
            payer_currency: plan.currency,
            payer_amount: plan.payer_amount,
            url,
        },
    })
}

/// Any other path under `/api`.
pub(crate) async fn not_found() -> Response {
    respond::not_found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_paths() {
        assert_eq!(classify("/api/user/orders"), (Endpoint::List, None));
        assert_eq!(classify("/api/user/orders/"), (Endpoint::List, None));
        assert_eq!(
            classify("/api/user/orders/10000"),
            (Endpoint::Change, Some(10000))
        );
        assert_eq!(
            classify("/api/user/orders/10000/perform"),
            (Endpoint::Perform, Some(10000))
        );
        assert_eq!(
            classify("/api/user/orders/7/charge"),
            (Endpoint::Charge, Some(7))
        );
        assert_eq!(classify("/api/user/orders/abc"), (Endpoint::Change, None));
        assert_eq!(
            classify("/api/user/orders/1/x/y"),
            (Endpoint::Other, Some(1))
        );
        assert_eq!(classify("/api/services"), (Endpoint::Other, None));
        assert_eq!(classify("/api/user/ordersX"), (Endpoint::Other, None));
    }

    #[test]
    fn ids() {
        assert_eq!(parse_id("10000"), Some(10000));
        assert_eq!(parse_id("0"), None);
        assert_eq!(parse_id("+5"), None);
        assert_eq!(parse_id("-5"), None);
        assert_eq!(parse_id("1e3"), None);
        assert_eq!(parse_id("99999999999999999999999"), None);
    }

    #[test]
    fn auth_schemes() {
        let mut settings = Settings {
            api_keys: vec!["k1".into()],
            ..Settings::default()
        };
        let q = BTreeMap::new();
        let mut h = HeaderMap::new();
        assert!(!authorized(&settings, &h, &q));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k1"));
        assert!(authorized(&settings, &h, &q));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  k1"),
        );
        assert!(authorized(&settings, &h, &q));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Token k1"));
        assert!(!authorized(&settings, &h, &q));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k2"));
        assert!(!authorized(&settings, &h, &q));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("k1"));
        assert!(!authorized(&settings, &h, &q));

        settings.auth = AuthScheme::Header {
            name: "X-Api-Key".into(),
            prefix: String::new(),
        };
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("k1"));
        assert!(authorized(&settings, &h, &q));

        settings.auth = AuthScheme::Query {
            param: "api_key".into(),
        };
        let mut q = BTreeMap::new();
        assert!(!authorized(&settings, &h, &q));
        q.insert("api_key".to_string(), "k1".to_string());
        assert!(authorized(&settings, &h, &q));

        settings.api_keys.clear();
        q.insert("api_key".to_string(), "anything".to_string());
        assert!(!authorized(&settings, &h, &q));
        settings.allow_any_key = true;
        assert!(authorized(&settings, &h, &q));
        q.insert("api_key".to_string(), String::new());
        assert!(!authorized(&settings, &h, &q));
    }

    #[test]
    fn url_encoding() {
        assert_eq!(encode("free kassa&x"), "free%20kassa%26x");
    }
}
