//! Condition types and reasons, and a pure helper to set one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition types and reasons are part of the API (`proxy_order_api::conditions`); the
/// helpers here set and read them.
pub use proxy_order_api::conditions::{READY, Reason, SYNCED};

/// Sets condition `type_` in `conditions`, keeping its `lastTransitionTime` when its status
/// does not change, so re-asserting the same state writes nothing new.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: Reason,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" };
    set_status(conditions, type_, status, reason, message, generation, now);
}

/// [`set`] with the status as text, for `Unknown`.
pub fn set_status(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: Reason,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) {
    let status = status.to_string();
    let message = message.into();
    let reason = reason.as_str().to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now.clone();
            }
            c.status = status;
            c.reason = reason;
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason,
            message,
            observed_generation: generation,
            last_transition_time: now.clone(),
        }),
    }
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// The condition of `type_`, if any.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether condition `type_` is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut c = Vec::new();
        set(&mut c, READY, true, Reason::Applied, "ok", Some(1), &t(10));
        set(
            &mut c,
            READY,
            true,
            Reason::Applied,
            "ok again",
            Some(2),
            &t(20),
        );
        assert_eq!(c[0].last_transition_time, t(10));
        assert_eq!(c[0].message, "ok again");
        set(
            &mut c,
            READY,
            false,
            Reason::Unauthorized,
            "no",
            Some(2),
            &t(30),
        );
        assert_eq!(c[0].last_transition_time, t(30));
        assert!(!is_true(&c, READY));
    }

    #[test]
    fn conditions_stay_sorted_by_type() {
        let mut c = Vec::new();
        set(&mut c, SYNCED, true, Reason::Applied, "", None, &t(1));
        set(&mut c, READY, true, Reason::Applied, "", None, &t(1));
        assert_eq!(c[0].type_, READY);
        assert_eq!(c[1].type_, SYNCED);
    }
}
