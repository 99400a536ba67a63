//! The body and answer of `POST /user/orders/{order_id}/charge` (paying for an order).

use serde::{Deserialize, Serialize};

use super::Currency;

/// Body of `POST /user/orders/{order_id}/charge`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub merchant: String,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promocode: Option<String>,
}

/// The payment an order charge produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    #[serde(default)]
    pub discount: f64,
    pub merchant: String,
    pub payer_currency: Currency,
    pub payer_amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Response of `POST /user/orders/{order_id}/charge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChargeResponse {
    pub payment: Payment,
}
