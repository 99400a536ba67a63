//! Charges (`POST /api/user/orders/{id}/charge`): the periods an order may be paid for and the
//! validation and price of a charge.

use crate::wire::{ChargeRequest, Currency, Order};

use super::{ValidationErrors, round2, usd_rate};

/// Periods (days) an order may be paid for (`provider-api.md` §2.4).
pub fn allowed_periods(order: &Order) -> &'static [u32] {
    if order.is_mobile() {
        &[1, 7, 30, 90, 365]
    } else {
        &[30, 60, 90, 180, 365]
    }
}

/// A validated charge.
#[derive(Clone, Debug, PartialEq)]
pub struct ChargePlan {
    pub merchant: String,
    pub currency: Currency,
    pub period: u32,
    pub payer_amount: f64,
    pub discount: f64,
    /// `merchant: "balance"`: paid at once from the API balance, which extends the order now.
    pub from_balance: bool,
}

/// The merchant code that pays from the API balance.
pub const BALANCE_MERCHANT: &str = "balance";

/// Validates a charge (`provider-api.md` §3.4) and prices it: the order's `amount` (USD) for its
/// current period, scaled to the requested period and converted with [`usd_rate`].
pub fn plan_charge(order: &Order, req: &ChargeRequest) -> Result<ChargePlan, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let merchant = req.merchant.trim();
    if merchant.is_empty() {
        errors.add("merchant", "The merchant field is required.");
    }
    let period = req.period.unwrap_or(order.period);
    if req.period.is_some() && !allowed_periods(order).contains(&period) {
        errors.add(
            "period",
            format!(
                "The period {period} is not available for {} (allowed: {:?}).",
                order.service.name,
                allowed_periods(order)
            ),
        );
    }
    let base = if order.period == 0 {
        order.amount
    } else {
        order.amount / order.period as f64 * period as f64
    };
    errors.into_result(ChargePlan {
        merchant: merchant.to_string(),
        currency: req.currency,
        period,
        payer_amount: round2(base * usd_rate(req.currency)),
        discount: 0.0,
        from_balance: merchant == BALANCE_MERCHANT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::{FOUR, individual};
    use crate::wire::OrderStatus;

    #[test]
    fn charge_rules_and_price() {
        let o = individual(OrderStatus::Waiting, &FOUR); // amount 7.24 for 30 days
        let plan = plan_charge(
            &o,
            &ChargeRequest {
                merchant: "balance".into(),
                currency: Currency::Usd,
                period: Some(60),
                promocode: None,
            },
        )
        .unwrap();
        assert!(plan.from_balance);
        assert_eq!(plan.period, 60);
        assert_eq!(plan.payer_amount, 14.48);
        let plan = plan_charge(
            &o,
            &ChargeRequest {
                merchant: "freekassa".into(),
                currency: Currency::Rub,
                period: None,
                promocode: None,
            },
        )
        .unwrap();
        assert!(!plan.from_balance);
        assert_eq!(plan.payer_amount, round2(7.24 * 92.0));
        let err = plan_charge(
            &o,
            &ChargeRequest {
                merchant: " ".into(),
                currency: Currency::Usd,
                period: Some(7),
                promocode: None,
            },
        )
        .unwrap_err();
        assert_eq!(err.field("merchant").len(), 1);
        assert_eq!(err.field("period").len(), 1);
    }
}
