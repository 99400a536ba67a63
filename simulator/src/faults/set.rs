//! The registered faults: adding, listing and removing them, and deciding for each request
//! which of them fire.

use std::time::Duration;

use serde::Serialize;

use super::{Endpoint, FaultAction, FaultSpec};

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
    use crate::faults::{FaultBody, spec};

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
