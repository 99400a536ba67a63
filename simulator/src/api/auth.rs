//! API key checks: where the key travels (header with or without a prefix, or a query
//! parameter) and whether it is accepted.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use proxy_solutions_wire::AuthScheme;

use crate::Settings;

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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};

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
}
