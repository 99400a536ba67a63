//! What a fault is: the endpoints it targets, the spec `POST /_sim/faults` takes and its
//! validation, and the answer ([`FaultAction`]) it decides when it fires.

use serde::{Deserialize, Serialize};

use crate::rules::ValidationErrors;

/// Which provider-API endpoint a request hit, for matching faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `/api/user/orders`
    List,
    /// `/api/user/orders/{id}`
    Change,
    /// `/api/user/orders/{id}/perform`
    Perform,
    /// `/api/user/orders/{id}/charge`
    Charge,
    /// Any other path under `/api`.
    Other,
}

/// What a fault applies to: one endpoint or all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultTarget {
    #[default]
    Any,
    List,
    Change,
    Perform,
    Charge,
}

impl FaultTarget {
    pub fn matches(self, endpoint: Endpoint) -> bool {
        match self {
            FaultTarget::Any => true,
            FaultTarget::List => endpoint == Endpoint::List,
            FaultTarget::Change => endpoint == Endpoint::Change,
            FaultTarget::Perform => endpoint == Endpoint::Perform,
            FaultTarget::Charge => endpoint == Endpoint::Charge,
        }
    }
}

fn default_rate() -> f64 {
    1.0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Largest `huge_body_bytes` a fault may ask for (256 MiB).
pub const MAX_HUGE_BODY_BYTES: u64 = 256 * 1024 * 1024;

/// `Content-Type` of a fault's `body` / `huge_body_bytes` answer unless it names another.
pub const DEFAULT_FAULT_CONTENT_TYPE: &str = "application/json";

/// Body of `POST /_sim/faults`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    #[serde(default)]
    pub endpoint: FaultTarget,
    /// HTTP status to answer with instead of running the handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Probability (0..=1) that the fault fires for a matching request.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Adds `Retry-After: <n>` to an injected status answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// Delay before answering (then the real handler runs unless a status/drop also applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// How many times the fault fires before it is removed; absent = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Close the TCP connection without an HTTP answer.
    #[serde(default)]
    pub drop_connection: bool,
    /// Answer with exactly this body (status 200 unless `status` is given) instead of running
    /// the handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Answer with a generated body of this many bytes (a JSON-looking start, then filler),
    /// streamed in chunks, instead of running the handler (status 200 unless `status` is
    /// given). At most [`MAX_HUGE_BODY_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huge_body_bytes: Option<u64>,
    /// `Content-Type` of a `body` / `huge_body_bytes` answer (default `application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Declare the answer's full `Content-Length`, send about half of its body, then close the
    /// connection. Applies to the fault's own body, else to its status answer, else to the
    /// answer the API would give (handler, 401, ...).
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncate: bool,
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.status.is_none()
            && self.latency_ms.is_none()
            && !self.drop_connection
            && self.body.is_none()
            && self.huge_body_bytes.is_none()
            && !self.truncate
        {
            errors.add(
                "fault",
                "Give at least one of status, latency_ms, drop_connection: true, body, \
                 huge_body_bytes or truncate: true.",
            );
        }
        if let Some(status) = self.status
            && !(200..=599).contains(&status)
        {
            errors.add("status", "The status must be between 200 and 599.");
        }
        if !(0.0..=1.0).contains(&self.rate) {
            errors.add("rate", "The rate must be between 0 and 1.");
        }
        if self.retry_after_s.is_some() && self.status.is_none() {
            errors.add("retry_after_s", "retry_after_s needs a status.");
        }
        if self.count == Some(0) {
            errors.add(
                "count",
                "The count must be at least 1 (omit it for unlimited).",
            );
        }
        let has_body = self.body.is_some() || self.huge_body_bytes.is_some();
        if self.body.is_some() && self.huge_body_bytes.is_some() {
            errors.add(
                "huge_body_bytes",
                "Give either body or huge_body_bytes, not both.",
            );
        }
        if let Some(n) = self.huge_body_bytes
            && !(1..=MAX_HUGE_BODY_BYTES).contains(&n)
        {
            errors.add(
                "huge_body_bytes",
                format!("huge_body_bytes must be between 1 and {MAX_HUGE_BODY_BYTES}."),
            );
        }
        if let Some(ct) = &self.content_type {
            if !has_body {
                errors.add(
                    "content_type",
                    "content_type needs body or huge_body_bytes.",
                );
            }
            if ct.trim().is_empty() || axum::http::HeaderValue::from_str(ct).is_err() {
                errors.add(
                    "content_type",
                    "The content_type must be a non-empty header value.",
                );
            }
        }
        if self.drop_connection && (has_body || self.truncate) {
            errors.add(
                "drop_connection",
                "drop_connection sends no answer: it cannot be combined with body, \
                 huge_body_bytes or truncate.",
            );
        }
        if self.truncate && self.body.as_deref() == Some("") {
            errors.add("truncate", "An empty body cannot be truncated.");
        }
        errors.into_result(())
    }

    pub(super) fn is_terminal(&self) -> bool {
        self.status.is_some()
            || self.drop_connection
            || self.body.is_some()
            || self.huge_body_bytes.is_some()
            || self.truncate
    }

    /// The answer this fault decides when it fires, if it decides one.
    pub(super) fn action(&self) -> Option<FaultAction> {
        let body = match (&self.body, self.huge_body_bytes) {
            (Some(raw), _) => Some(FaultBody::Raw(raw.clone())),
            (None, Some(bytes)) => Some(FaultBody::Generated { bytes }),
            (None, None) => None,
        };
        if self.drop_connection {
            Some(FaultAction::Drop)
        } else if let Some(body) = body {
            Some(FaultAction::Body {
                status: self.status.unwrap_or(200),
                retry_after_s: self.retry_after_s,
                content_type: self
                    .content_type
                    .clone()
                    .unwrap_or_else(|| DEFAULT_FAULT_CONTENT_TYPE.to_string()),
                body,
                truncate: self.truncate,
            })
        } else if self.truncate {
            Some(FaultAction::Truncate {
                status: self.status,
                retry_after_s: self.retry_after_s,
            })
        } else {
            self.status.map(|status| FaultAction::Status {
                status,
                retry_after_s: self.retry_after_s,
            })
        }
    }
}

/// The body of a fault's own answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultBody {
    /// Exactly these bytes.
    Raw(String),
    /// A generated body of this length (see `api/fault_answers.rs`).
    Generated { bytes: u64 },
}

/// The terminal part of a fault outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// `{"message": "..."}` with this status.
    Status {
        status: u16,
        retry_after_s: Option<u64>,
    },
    /// Close the connection without an answer.
    Drop,
    /// The fault's own body instead of the handler's answer; with `truncate`, only about half
    /// of it under the full `Content-Length`, then the connection is closed.
    Body {
        status: u16,
        retry_after_s: Option<u64>,
        content_type: String,
        body: FaultBody,
        truncate: bool,
    },
    /// About half of an answer under its full `Content-Length`, then the connection is
    /// closed: the injected `{"message": "..."}` answer with `status`, or without one the
    /// answer the API would have given.
    Truncate {
        status: Option<u16>,
        retry_after_s: Option<u64>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::spec;

    #[test]
    fn validation() {
        let bad: FaultSpec =
            serde_json::from_value(serde_json::json!({"endpoint": "change"})).unwrap();
        assert_eq!(bad.validate().unwrap_err().field("fault").len(), 1);
        let bad: FaultSpec =
            serde_json::from_value(serde_json::json!({"status": 503, "rate": 1.5})).unwrap();
        assert_eq!(bad.validate().unwrap_err().field("rate").len(), 1);
        let bad: FaultSpec =
            serde_json::from_value(serde_json::json!({"latency_ms": 5, "retry_after_s": 1}))
                .unwrap();
        assert_eq!(bad.validate().unwrap_err().field("retry_after_s").len(), 1);
        assert!(
            serde_json::from_value::<FaultSpec>(
                serde_json::json!({"endpoint": "nope", "status": 500})
            )
            .is_err()
        );
        assert!(
            serde_json::from_value::<FaultSpec>(serde_json::json!({"status": 500, "colour": 1}))
                .is_err()
        );
        let ok = spec(serde_json::json!({"drop_connection": true}));
        assert_eq!(ok.rate, 1.0);
        assert_eq!(ok.endpoint, FaultTarget::Any);
    }

    fn errors_of(v: serde_json::Value) -> ValidationErrors {
        let s: FaultSpec = serde_json::from_value(v).unwrap();
        s.validate().unwrap_err()
    }

    #[test]
    fn body_fault_validation() {
        // A body alone is a fault: status 200, JSON content type.
        let ok = spec(serde_json::json!({"body": "{not json"}));
        assert_eq!(
            ok.action(),
            Some(FaultAction::Body {
                status: 200,
                retry_after_s: None,
                content_type: "application/json".into(),
                body: FaultBody::Raw("{not json".into()),
                truncate: false,
            })
        );
        // So are an empty body, a huge body and a truncation.
        spec(serde_json::json!({"body": ""}));
        spec(serde_json::json!({"huge_body_bytes": MAX_HUGE_BODY_BYTES}));
        spec(serde_json::json!({"truncate": true}));
        spec(
            serde_json::json!({"status": 502, "body": "<html>", "content_type": "text/html", "retry_after_s": 3}),
        );

        let e = errors_of(serde_json::json!({"body": "x", "huge_body_bytes": 10}));
        assert_eq!(e.field("huge_body_bytes").len(), 1, "{e:?}");
        for n in [0, MAX_HUGE_BODY_BYTES + 1] {
            let e = errors_of(serde_json::json!({"huge_body_bytes": n}));
            assert!(
                e.field("huge_body_bytes")[0].contains("between 1 and"),
                "{e:?}"
            );
        }
        let e = errors_of(serde_json::json!({"status": 500, "content_type": "text/html"}));
        assert!(e.field("content_type")[0].contains("needs body"), "{e:?}");
        let e = errors_of(serde_json::json!({"body": "x", "content_type": "text/html\n"}));
        assert_eq!(e.field("content_type").len(), 1, "{e:?}");
        let e = errors_of(serde_json::json!({"body": "x", "content_type": " "}));
        assert_eq!(e.field("content_type").len(), 1, "{e:?}");
        for v in [
            serde_json::json!({"drop_connection": true, "body": "x"}),
            serde_json::json!({"drop_connection": true, "huge_body_bytes": 5}),
            serde_json::json!({"drop_connection": true, "truncate": true}),
        ] {
            assert_eq!(
                errors_of(v.clone()).field("drop_connection").len(),
                1,
                "{v}"
            );
        }
        let e = errors_of(serde_json::json!({"body": "", "truncate": true}));
        assert_eq!(e.field("truncate").len(), 1, "{e:?}");
        // retry_after_s still needs an explicit status.
        let e = errors_of(serde_json::json!({"body": "x", "retry_after_s": 1}));
        assert_eq!(e.field("retry_after_s").len(), 1, "{e:?}");
        // Unknown fields stay refused; the documented spelling is huge_body_bytes.
        assert!(
            serde_json::from_value::<FaultSpec>(serde_json::json!({"body_bytes": 10})).is_err()
        );
        assert!(serde_json::from_value::<FaultSpec>(serde_json::json!({"body": 5})).is_err());
    }

    #[test]
    fn body_fault_actions() {
        let action = |v| spec(v).action().unwrap();
        assert_eq!(
            action(
                serde_json::json!({"huge_body_bytes": 1024, "truncate": true, "status": 503, "retry_after_s": 1, "content_type": "text/plain"})
            ),
            FaultAction::Body {
                status: 503,
                retry_after_s: Some(1),
                content_type: "text/plain".into(),
                body: FaultBody::Generated { bytes: 1024 },
                truncate: true,
            }
        );
        assert_eq!(
            action(serde_json::json!({"truncate": true})),
            FaultAction::Truncate {
                status: None,
                retry_after_s: None
            }
        );
        assert_eq!(
            action(serde_json::json!({"truncate": true, "status": 502, "retry_after_s": 4})),
            FaultAction::Truncate {
                status: Some(502),
                retry_after_s: Some(4)
            }
        );
        assert_eq!(spec(serde_json::json!({"latency_ms": 10})).action(), None);
    }
}
