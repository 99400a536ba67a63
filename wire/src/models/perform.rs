//! The body and answer of `POST /user/orders/{order_id}/perform` (operations on an order).

use serde::{Deserialize, Serialize};

use super::Order;

/// Body of `POST /user/orders/{order_id}/perform`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformRequest {
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
}

/// Response of `POST /user/orders/{order_id}/perform`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerformResponse {
    pub operation_status: String,
    pub order: Order,
}
