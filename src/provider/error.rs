//! One error type for everything that can go wrong talking to the provider, classified so the
//! controller can tell "fix your input" from "try again later".

use std::{collections::BTreeMap, time::Duration};

use thiserror::Error;

/// Longest provider message kept in an error (and so in conditions and Events).
pub const MAX_MESSAGE_CHARS: usize = 512;

#[derive(Clone, Debug, Error)]
pub enum ProviderError {
    /// 401 (or 403): the API key is missing, wrong or not allowed.
    #[error("the provider rejected the API key ({status}){}", suffix(message))]
    Unauthorized {
        status: u16,
        message: Option<String>,
    },

    /// 404: the order does not exist on this account.
    #[error("the order does not exist at the provider (404){}", suffix(message))]
    NotFound { message: Option<String> },

    /// 422 (or 400): the provider refused the request; its message says why.
    #[error("the provider rejected the request ({status}): {message}")]
    Rejected {
        status: u16,
        message: String,
        errors: BTreeMap<String, Vec<String>>,
    },

    /// 429: too many requests. (The delay is not part of the message, so that a condition
    /// carrying it stays the same from one retry to the next.)
    #[error("the provider is rate limiting requests (429)")]
    RateLimited { retry_after: Option<Duration> },

    /// 5xx: the provider failed.
    #[error("the provider is unavailable ({status})")]
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
    },

    /// Any other status code.
    #[error(
        "the provider answered with unexpected status {status}{}",
        suffix(message)
    )]
    UnexpectedStatus {
        status: u16,
        message: Option<String>,
    },

    /// No complete answer within the configured timeout.
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),

    /// The request never got an HTTP answer (DNS, connect, TLS, connection reset).
    #[error("could not reach the provider: {0}")]
    Transport(String),

    /// A 2xx answer whose body is not what the API documents.
    #[error("the provider's response could not be read: {0}")]
    Decode(String),

    /// The request could not be built (e.g. an API key that is not a valid header value).
    #[error("invalid provider request: {0}")]
    InvalidRequest(String),
}

fn suffix(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

impl ProviderError {
    /// A fixed, low-cardinality label for metrics and condition reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Unauthorized { .. } => "unauthorized",
            ProviderError::NotFound { .. } => "not_found",
            ProviderError::Rejected { .. } => "rejected",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Unavailable { .. } => "unavailable",
            ProviderError::UnexpectedStatus { .. } => "unexpected_status",
            ProviderError::Timeout(_) => "timeout",
            ProviderError::Transport(_) => "transport",
            ProviderError::Decode(_) => "decode",
            ProviderError::InvalidRequest(_) => "invalid_request",
        }
    }

    /// Whether the same request may succeed later without anything on our side changing.
    /// Terminal errors (401/404/422, bad requests) wait for the spec or a Secret to change.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Unavailable { .. }
                | ProviderError::Timeout(_)
                | ProviderError::Transport(_)
                | ProviderError::Decode(_)
        )
    }

    /// The delay the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after }
            | ProviderError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status the provider answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Unauthorized { status, .. }
            | ProviderError::Rejected { status, .. }
            | ProviderError::Unavailable { status, .. }
            | ProviderError::UnexpectedStatus { status, .. } => Some(*status),
            ProviderError::NotFound { .. } => Some(404),
            ProviderError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// Classifies a non-2xx answer. `body` is the raw response body; `secrets` are values this
    /// request carried (API key, password) that must never be echoed back into an error.
    pub fn from_response(
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
        secrets: &[&str],
    ) -> ProviderError {
        let parsed = parse_error_body(body, secrets);
        let message = parsed.message;
        let errors = parsed.errors;
        match status {
            401 | 403 => ProviderError::Unauthorized { status, message },
            404 => ProviderError::NotFound { message },
            400 | 422 => {
                let message = message
                    .filter(|m| !m.is_empty())
                    .or_else(|| first_field_error(&errors))
                    .unwrap_or_else(|| "validation error (no message given)".to_string());
                ProviderError::Rejected {
                    status,
                    message,
                    errors,
                }
            }
            429 => ProviderError::RateLimited { retry_after },
            500..=599 => ProviderError::Unavailable {
                status,
                retry_after,
            },
            _ => ProviderError::UnexpectedStatus { status, message },
        }
    }
}

struct ErrorBody {
    message: Option<String>,
    errors: BTreeMap<String, Vec<String>>,
}

/// Reads what it can from an error body: `message` (or `error`, as the older API used) and a
/// field → messages map under `errors`. Anything else, including non-JSON bodies such as HTML
/// error pages, yields no message rather than echoing arbitrary text.
fn parse_error_body(body: &[u8], secrets: &[&str]) -> ErrorBody {
    // Secrets are removed before anything is shortened or cleaned up, so that neither a cut
    // through a secret nor a changed character lets part of it through.
    let clean = |s: &str| truncate(&scrub(s, secrets));
    let mut out = ErrorBody {
        message: None,
        errors: BTreeMap::new(),
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return out;
    };
    out.message = ["message", "error", "detail"]
        .iter()
        .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
        .map(clean);
    if let Some(serde_json::Value::Object(errors)) = map.get("errors") {
        for (field, v) in errors.iter().take(32) {
            let msgs: Vec<String> = match v {
                serde_json::Value::String(s) => vec![clean(s)],
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .take(8)
                    .map(clean)
                    .collect(),
                _ => continue,
            };
            out.errors.insert(clean(field), msgs);
        }
    }
    out
}

fn first_field_error(errors: &BTreeMap<String, Vec<String>>) -> Option<String> {
    errors
        .iter()
        .find_map(|(field, msgs)| msgs.first().map(|m| format!("{field}: {m}")))
}

fn truncate(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.chars().count() <= MAX_MESSAGE_CHARS {
        cleaned
    } else {
        let mut t: String = cleaned.chars().take(MAX_MESSAGE_CHARS).collect();
        t.push('…');
        t
    }
}

/// Replaces every occurrence of each secret in `text` with `[REDACTED]`: as is,
/// percent-encoded, and with control characters as they would be shown.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let encoded =
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let shown: String = secret
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        for form in [secret.to_string(), encoded, shown] {
            out = out.replace(&form, "[REDACTED]");
        }
    }
    out
}

/// Parses a `Retry-After` header: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> ProviderError {
        ProviderError::from_response(status, None, body.as_bytes(), &[])
    }

    #[test]
    fn classifies_status_codes() {
        assert!(matches!(
            classify(401, ""),
            ProviderError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            classify(403, ""),
            ProviderError::Unauthorized { status: 403, .. }
        ));
        assert!(matches!(classify(404, ""), ProviderError::NotFound { .. }));
        assert!(matches!(
            classify(422, "{}"),
            ProviderError::Rejected { status: 422, .. }
        ));
        assert!(matches!(
            classify(400, "{}"),
            ProviderError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            classify(429, ""),
            ProviderError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(503, ""),
            ProviderError::Unavailable { status: 503, .. }
        ));
        assert!(matches!(
            classify(418, ""),
            ProviderError::UnexpectedStatus { status: 418, .. }
        ));
    }

    #[test]
    fn transient_versus_terminal() {
        for s in [401, 404, 422, 418] {
            assert!(!classify(s, "").is_transient(), "{s}");
        }
        for s in [429, 500, 502, 503] {
            assert!(classify(s, "").is_transient(), "{s}");
        }
        assert!(ProviderError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(ProviderError::Transport("reset".into()).is_transient());
        assert!(ProviderError::Decode("eof".into()).is_transient());
    }

    #[test]
    fn keeps_the_provider_message_of_a_422() {
        let e = classify(
            422,
            r#"{"message":"Only auth data can be changed","errors":{"quantity":["order is active"]}}"#,
        );
        match &e {
            ProviderError::Rejected {
                message, errors, ..
            } => {
                assert_eq!(message, "Only auth data can be changed");
                assert_eq!(errors["quantity"], vec!["order is active"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "the provider rejected the request (422): Only auth data can be changed"
        );
    }

    #[test]
    fn a_422_without_message_uses_the_first_field_error() {
        let e = classify(422, r#"{"errors":{"port":"must be below 65536"}}"#);
        assert!(e.to_string().ends_with("port: must be below 65536"), "{e}");
        let e = classify(422, "<html>oops</html>");
        assert!(e.to_string().contains("no message given"), "{e}");
    }

    #[test]
    fn legacy_error_field_is_read() {
        let e = classify(404, r#"{"success":false,"error":"Order not found"}"#);
        assert_eq!(
            e.to_string(),
            "the order does not exist at the provider (404): Order not found"
        );
    }

    #[test]
    fn secrets_echoed_by_the_provider_are_scrubbed() {
        let e = ProviderError::from_response(
            422,
            None,
            br#"{"message":"password hunter22 is too weak","errors":{"password":["hunter22 weak"]}}"#,
            &["hunter22", "api-key-canary"],
        );
        let text = format!("{e} {e:?}");
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("[REDACTED]"));
    }

    #[test]
    fn secrets_are_scrubbed_before_truncation_and_in_encoded_forms() {
        let pw = "tail-secret-Q9";
        let long = format!("{}{pw}", "x".repeat(MAX_MESSAGE_CHARS - 5));
        let body = format!(r#"{{"message":"{long}"}}"#);
        let e = ProviderError::from_response(422, None, body.as_bytes(), &[pw]);
        assert!(!e.to_string().contains("tail-"), "{e}");
        let e = ProviderError::from_response(
            422,
            None,
            br#"{"message":"bad key a%2Bb%2Fc%3D in the URL"}"#,
            &["a+b/c="],
        );
        assert!(!e.to_string().contains("a%2Bb"), "{e}");
        let e = ProviderError::from_response(
            422,
            None,
            br#"{"message":"password x\ty is weak"}"#,
            &["x\ty"],
        );
        assert!(e.to_string().contains("[REDACTED]"), "{e}");
    }

    #[test]
    fn huge_messages_are_truncated() {
        let long = "x".repeat(10_000);
        let e = classify(422, &format!(r#"{{"message":"{long}"}}"#));
        assert!(e.to_string().len() < MAX_MESSAGE_CHARS + 100);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_is_reported() {
        let e = ProviderError::from_response(429, Some(Duration::from_secs(3)), b"", &[]);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.kind(), "rate_limited");
    }
}
