//! The answers the simulator sends (`provider-api.md` §3, §5). It only writes them, so they only
//! serialize.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Currency, Lang, Order};

/// `GET /user/orders` (§3.1): every order, under the echoed `lang` and `currency`.
#[derive(Clone, Debug, Serialize)]
pub struct OrderList {
    pub lang: Lang,
    pub currency: Currency,
    pub orders: Vec<Order>,
}

/// `POST /user/orders/{order_id}` (§3.3): the changed order under `order`. The docs' example
/// echoes `currency` only; the simulator echoes `lang` as well, as the list does (§1.3).
#[derive(Clone, Debug, Serialize)]
pub struct ChangeAnswer {
    pub lang: Lang,
    pub currency: Currency,
    pub order: Order,
}

/// `POST /user/orders/{order_id}/perform` (§3.5).
#[derive(Clone, Debug, Serialize)]
pub struct PerformAnswer {
    /// `complete`: the simulator carries every operation out at once.
    pub operation_status: &'static str,
    pub order: Order,
}

/// `payment` of a charge answer (§3.4).
#[derive(Clone, Debug, Serialize)]
pub struct Payment {
    /// Promo discount in percent.
    pub discount: f64,
    pub merchant: String,
    pub payer_currency: Currency,
    /// What the customer pays, in `payer_currency`, after the discount.
    pub payer_amount: f64,
    /// The payment page. Left out when paying from the balance, which needs none (the docs do
    /// not show that answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `POST /user/orders/{order_id}/charge` (§3.4).
#[derive(Clone, Debug, Serialize)]
pub struct ChargeAnswer {
    pub payment: Payment,
}

/// The `422` body (§5; the provider does not document one): a summary and the messages of each
/// field. The shape is Laravel's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ValidationErrorBody {
    pub message: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, Vec<String>>,
}

/// Every other error body (§5): `{"message": ...}`.
#[derive(Clone, Debug, Serialize)]
pub struct MessageBody<'a> {
    pub message: &'a str,
}
