//! Fault injection: make provider-API calls slow, fail with a status, lose the connection, or
//! answer with a bad body (malformed, of the wrong shape, huge, or cut off mid-body).
//!
//! Faults are registered through `POST /_sim/faults` and evaluated for every provider-API
//! request *before* authentication (they simulate the provider being unavailable).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rules::ValidationErrors;

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

    fn is_terminal(&self) -> bool {
        self.status.is_some()
            || self.drop_connection
            || self.body.is_some()
            || self.huge_body_bytes.is_some()
            || self.truncate
    }

    /// The answer this fault decides when it fires, if it decides one.
    fn action(&self) -> Option<FaultAction> {
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

/// A registered fault, as listed by `GET /_sim/faults`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Firings left (`null` = unlimited).
    pub remaining: Option<u32>,
    /// How often it fired so far.
    pub fired: u64,
}

/// The body of a fault's own answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultBody {
    /// Exactly these bytes.
    Raw(String),
    /// A generated body of this length (see `api::generated_chunk`).
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

/// What the faults decided for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultOutcome {
    pub latency: Duration,
    pub action: Option<FaultAction>,
}

/// The active faults.
#[derive(Debug, Default)]
pub struct FaultSet {
    next_id: u64,
    faults: Vec<Fault>,
}

impl FaultSet {
    /// Registers a validated fault; returns it with its id.
    pub fn add(&mut self, spec: FaultSpec) -> Fault {
        self.next_id += 1;
        let fault = Fault {
            id: self.next_id,
            remaining: spec.count,
            spec,
            fired: 0,
        };
        self.faults.push(fault.clone());
        fault
    }

    pub fn list(&self) -> Vec<Fault> {
        self.faults.clone()
    }

    /// Removes all faults; returns how many there were.
    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.faults).len()
    }

    /// Removes one fault by id.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.faults.len();
        self.faults.retain(|f| f.id != id);
        self.faults.len() != before
    }

    /// Decides the faults for one request. `roll` yields uniform numbers in `[0, 1)`.
    ///
    /// Faults are tried in registration order. Latency of every firing fault adds up. The
    /// first firing fault with a status, drop, body or truncation decides the answer; later
    /// such faults are not tried (so they are not used up). A fault whose `count` reaches zero
    /// is removed.
    pub fn evaluate(&mut self, endpoint: Endpoint, mut roll: impl FnMut() -> f64) -> FaultOutcome {
        let mut outcome = FaultOutcome::default();
        for fault in &mut self.faults {
            if !fault.spec.endpoint.matches(endpoint) {
                continue;
            }
            if outcome.action.is_some() && fault.spec.is_terminal() {
                continue;
            }
            if fault.spec.rate <= 0.0 || roll() >= fault.spec.rate {
                continue;
            }
            fault.fired += 1;
            if let Some(remaining) = &mut fault.remaining {
                *remaining = remaining.saturating_sub(1);
            }
            if let Some(ms) = fault.spec.latency_ms {
                outcome.latency += Duration::from_millis(ms);
            }
            if let Some(action) = fault.spec.action() {
                outcome.action = Some(action);
            }
        }
        self.faults.retain(|f| f.remaining != Some(0));
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> FaultSpec {
        let s: FaultSpec = serde_json::from_value(v).unwrap();
        s.validate().unwrap();
        s
    }

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

    #[test]
    fn count_limits_firing_and_endpoint_matches() {
        let mut set = FaultSet::default();
        set.add(spec(serde_json::json!({"endpoint": "change", "status": 503, "retry_after_s": 2, "count": 1})));
        assert_eq!(
            set.evaluate(Endpoint::List, || 0.0),
            FaultOutcome::default()
        );
        assert_eq!(
            set.evaluate(Endpoint::Change, || 0.0).action,
            Some(FaultAction::Status {
                status: 503,
                retry_after_s: Some(2)
            })
        );
        assert!(set.list().is_empty());
        assert_eq!(
            set.evaluate(Endpoint::Change, || 0.0),
            FaultOutcome::default()
        );
    }

    #[test]
    fn rate_decides() {
        let mut set = FaultSet::default();
        set.add(spec(serde_json::json!({"status": 500, "rate": 0.0})));
        for _ in 0..10 {
            assert_eq!(
                set.evaluate(Endpoint::Charge, || 0.0),
                FaultOutcome::default()
            );
        }
        set.clear();
        set.add(spec(serde_json::json!({"status": 500, "rate": 0.3})));
        assert!(set.evaluate(Endpoint::Charge, || 0.29).action.is_some());
        assert!(set.evaluate(Endpoint::Charge, || 0.3).action.is_none());
        assert_eq!(set.list()[0].fired, 1);
    }

    #[test]
    fn latency_adds_and_first_terminal_wins() {
        let mut set = FaultSet::default();
        set.add(spec(serde_json::json!({"latency_ms": 100})));
        set.add(spec(
            serde_json::json!({"status": 502, "latency_ms": 50, "count": 1}),
        ));
        set.add(spec(
            serde_json::json!({"drop_connection": true, "count": 1}),
        ));
        let out = set.evaluate(Endpoint::Perform, || 0.5);
        assert_eq!(out.latency, Duration::from_millis(150));
        assert_eq!(
            out.action,
            Some(FaultAction::Status {
                status: 502,
                retry_after_s: None
            })
        );
        // The drop fault was not used up by the first request.
        let out = set.evaluate(Endpoint::Perform, || 0.5);
        assert_eq!(out.action, Some(FaultAction::Drop));
        assert_eq!(out.latency, Duration::from_millis(100));
        assert_eq!(set.list().len(), 1);
        assert_eq!(set.clear(), 1);
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

    #[test]
    fn a_body_fault_is_terminal_and_the_first_terminal_fault_wins() {
        let mut set = FaultSet::default();
        set.add(spec(serde_json::json!({"latency_ms": 10})));
        set.add(spec(
            serde_json::json!({"endpoint": "change", "body": "[]", "count": 1}),
        ));
        set.add(spec(serde_json::json!({"status": 503, "count": 1})));
        set.add(spec(serde_json::json!({"truncate": true, "count": 1})));
        let out = set.evaluate(Endpoint::Change, || 0.0);
        assert_eq!(out.latency, Duration::from_millis(10));
        assert!(
            matches!(&out.action, Some(FaultAction::Body { body: FaultBody::Raw(b), .. }) if b == "[]"),
            "{out:?}"
        );
        // The body fault is used up; the status and truncate faults were not tried.
        let ids: Vec<u64> = set.list().iter().map(|f| f.id).collect();
        assert_eq!(ids, vec![1, 3, 4]);
        assert!(set.list().iter().all(|f| f.id == 1 || f.fired == 0));
        // The list endpoint never matched the body fault: the status fault answers it.
        assert!(matches!(
            set.evaluate(Endpoint::List, || 0.0).action,
            Some(FaultAction::Status { status: 503, .. })
        ));
        assert_eq!(
            set.evaluate(Endpoint::List, || 0.0).action,
            Some(FaultAction::Truncate {
                status: None,
                retry_after_s: None
            })
        );
        assert_eq!(set.evaluate(Endpoint::List, || 0.0).action, None);
    }

    #[test]
    fn listing_shows_body_fields_only_when_set() {
        let mut set = FaultSet::default();
        set.add(spec(serde_json::json!({"status": 500})));
        set.add(spec(serde_json::json!({"body": "oops", "truncate": true})));
        let listed = serde_json::to_value(set.list()).unwrap();
        let first = listed[0].as_object().unwrap();
        for k in ["body", "huge_body_bytes", "content_type", "truncate"] {
            assert!(!first.contains_key(k), "{k} in {listed}");
        }
        assert_eq!(listed[1]["body"], "oops");
        assert_eq!(listed[1]["truncate"], true);
        // What is listed can be registered again as it is.
        let again: FaultSpec = serde_json::from_value(serde_json::json!({
            "body": listed[1]["body"], "truncate": listed[1]["truncate"]
        }))
        .unwrap();
        assert_eq!(again, set.list()[1].spec);
    }
}
