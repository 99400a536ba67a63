//! The handlers of the provider API's endpoints: list, change, perform and charge, and the 404
//! of any other path.

use std::sync::Arc;

use super::{parse_id, query_map};
use crate::{
    Shared,
    respond::{self, parse_json_body, validation_error},
    rules::{self, ValidationErrors, parse_lang_currency, plan_change},
    state::OpError,
    wire::{
        ChangeAnswer, ChangeRequest, ChargeAnswer, ChargeRequest, Currency, Order, OrderList,
        Payment, PerformAnswer, PerformRequest,
    },
};
use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderMap, Uri},
    response::Response,
};

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
        lang,
        currency,
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
    let resp = change_locked(&sim, id, query, req);
    // The proxy listeners follow the change before the caller sees the answer.
    sim.sync_proxies([id]).await;
    resp
}

type LangCurrency = (crate::wire::Lang, Currency);

fn change_locked(
    sim: &Shared,
    id: u64,
    query: Result<LangCurrency, ValidationErrors>,
    req: Result<ChangeRequest, ValidationErrors>,
) -> Response {
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
        Ok(order) => respond::ok(&ChangeAnswer {
            lang,
            currency,
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
    let resp = perform_locked(&sim, id, req);
    sim.sync_proxies([id]).await;
    resp
}

fn perform_locked(
    sim: &Shared,
    id: u64,
    req: Result<PerformRequest, ValidationErrors>,
) -> Response {
    let mut st = sim.lock();
    if st.get(id).is_none() {
        return respond::order_not_found();
    }
    let req = match req {
        Ok(req) => req,
        Err(e) => return validation_error(&e),
    };
    match st.perform(id, &req) {
        Ok(order) => respond::ok(&PerformAnswer {
            operation_status: "complete",
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
    let resp = charge_locked(&sim, id, req);
    sim.sync_proxies([id]).await;
    resp
}

fn charge_locked(sim: &Shared, id: u64, req: Result<ChargeRequest, ValidationErrors>) -> Response {
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
            plan.currency.code()
        )
    });
    respond::ok(&ChargeAnswer {
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
    fn url_encoding() {
        assert_eq!(encode("free kassa&x"), "free%20kassa%26x");
    }
}
