//! Operations (`POST /api/user/orders/{id}/perform`): the known operations and which requests
//! an order accepts.

use crate::wire::{Order, PerformRequest};

use super::ValidationErrors;

/// Known operations (`provider-api.md` §3.5).
pub const OPERATIONS: [&str; 4] = [
    "channels-change-ip",
    "channels-reset",
    "channels-set-autoreset",
    "channels-relocate",
];

/// Minimum auto-reset interval in seconds (0 disables auto-reset).
pub const MIN_AUTORESET_INTERVAL: u32 = 60;

/// Validates an operation request: the operation must be in the order's `allowed_operations`,
/// and the auto-reset `interval` must be 0 or at least 60 seconds.
pub fn check_perform(order: &Order, req: &PerformRequest) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if req.operation.is_empty() {
        errors.add("operation", "The operation field is required.");
    } else if !order.allowed_operations.iter().any(|o| o == &req.operation) {
        let allowed = if order.allowed_operations.is_empty() {
            "none".to_string()
        } else {
            order.allowed_operations.join(", ")
        };
        errors.add(
            "operation",
            format!(
                "The operation `{}` is not allowed for order {} (allowed: {allowed}).",
                req.operation, order.id
            ),
        );
    }
    if req.operation == "channels-set-autoreset"
        && let Some(interval) = req.interval
        && interval != 0
        && interval < MIN_AUTORESET_INTERVAL
    {
        errors.add(
            "interval",
            format!("The interval must be 0 (off) or at least {MIN_AUTORESET_INTERVAL} seconds."),
        );
    }
    errors.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::{FOUR, individual, mobile};
    use crate::wire::OrderStatus;

    #[test]
    fn perform_rules() {
        let o = mobile(OrderStatus::Active, &["198.51.100.9"]);
        let ok = PerformRequest {
            operation: "channels-reset".into(),
            ..Default::default()
        };
        assert!(check_perform(&o, &ok).is_ok());
        let bad = PerformRequest {
            operation: "channels-explode".into(),
            ..Default::default()
        };
        assert!(
            check_perform(&o, &bad).unwrap_err().field("operation")[0].contains("channels-explode")
        );
        for (interval, good) in [(0, true), (59, false), (60, true), (3600, true)] {
            let r = PerformRequest {
                operation: "channels-set-autoreset".into(),
                interval: Some(interval),
                ..Default::default()
            };
            assert_eq!(check_perform(&o, &r).is_ok(), good, "interval {interval}");
        }
        let city = individual(OrderStatus::Active, &FOUR);
        assert!(check_perform(&city, &ok).is_err());
    }
}
