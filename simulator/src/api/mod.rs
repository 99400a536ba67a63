//! The simulated provider API under `/api`.
//!
//! Every request passes [`middleware()`] first (`middleware.rs`): it records the request, applies
//! faults (their answers are built in `fault_answers.rs`), checks the API key (`auth.rs`) and
//! writes one log line. The handlers (`handlers.rs`) then apply the rules in `rules/` to the
//! state in `state.rs`. This file holds what all of them read from a request: the endpoint, the
//! order id and the query.

use std::collections::BTreeMap;

use axum::{extract::Query, http::Uri};

use super::faults::Endpoint;

mod auth;
mod fault_answers;
mod handlers;
mod middleware;

pub(crate) use handlers::{change_order, charge, list_orders, not_found, perform};
pub(crate) use middleware::middleware;

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
}
