//! Fault injection: make provider-API calls slow, fail with a status, or lose the connection.
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
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.status.is_none() && self.latency_ms.is_none() && !self.drop_connection {
            errors.add(
                "fault",
                "Give at least one of status, latency_ms or drop_connection: true.",
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
        errors.into_result(())
    }

    fn is_terminal(&self) -> bool {
        self.status.is_some() || self.drop_connection
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

/// The terminal part of a fault outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    Status {
        status: u16,
        retry_after_s: Option<u64>,
    },
    Drop,
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
    /// first firing fault with a status or drop decides the answer; later faults with a status
    /// or drop are not tried (so they are not used up). A fault whose `count` reaches zero is
    /// removed.
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
            if fault.spec.drop_connection {
                outcome.action = Some(FaultAction::Drop);
            } else if let Some(status) = fault.spec.status {
                outcome.action = Some(FaultAction::Status {
                    status,
                    retry_after_s: fault.spec.retry_after_s,
                });
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
}
