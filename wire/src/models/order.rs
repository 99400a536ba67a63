//! An order as every order endpoint returns it (status, tariff, location, credentials,
//! addresses), and the answers of the list and change endpoints that carry orders.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Currency, Lang, expose_secret};

/// Provider status of an order. Unknown values are kept verbatim rather than failing the parse,
/// so a new status on the provider's side never breaks reading an order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// `waiting`: not paid, or the term ran out and the order awaits payment.
    Waiting,
    /// `waiting.activation`: paid, resources being provisioned.
    WaitingActivation,
    /// `active`: running.
    Active,
    /// `active.suspended`: active but suspended.
    ActiveSuspended,
    /// `archived`: closed.
    Archived,
    /// A value this version does not know.
    Other(String),
}

impl OrderStatus {
    pub fn as_str(&self) -> &str {
        match self {
            OrderStatus::Waiting => "waiting",
            OrderStatus::WaitingActivation => "waiting.activation",
            OrderStatus::Active => "active",
            OrderStatus::ActiveSuspended => "active.suspended",
            OrderStatus::Archived => "archived",
            OrderStatus::Other(s) => s,
        }
    }

    /// Whether the order's term has run out, which is when the provider accepts quantity
    /// changes. The provider documents that an expired order without auto-continuation moves
    /// to `waiting`; that mapping is kept in this one place.
    pub fn is_expired(&self) -> bool {
        matches!(self, OrderStatus::Waiting)
    }
}

impl From<&str> for OrderStatus {
    fn from(s: &str) -> Self {
        match s {
            "waiting" => OrderStatus::Waiting,
            "waiting.activation" => OrderStatus::WaitingActivation,
            "active" => OrderStatus::Active,
            "active.suspended" => OrderStatus::ActiveSuspended,
            "archived" => OrderStatus::Archived,
            other => OrderStatus::Other(other.to_string()),
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OrderStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OrderStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(OrderStatus::from(s.as_str()))
    }
}

/// The tariff an order belongs to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: u64,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub name: String,
}

/// Country or city of an order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub id: u64,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub country_name: String,
}

/// Mobile operator of an order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    pub id: u64,
    #[serde(default)]
    pub name: String,
}

/// Connection credentials of an order, as returned by the change endpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Access {
    pub port: u16,
    #[serde(default)]
    pub login: String,
    /// The live password. Redacted in `Debug`; serialized only where the wire needs it.
    #[serde(serialize_with = "expose_secret")]
    pub password: SecretString,
    #[serde(default)]
    pub ip_list: Vec<String>,
}

impl PartialEq for Access {
    fn eq(&self, other: &Self) -> bool {
        self.port == other.port
            && self.login == other.login
            && self.password.expose_secret() == other.password.expose_secret()
            && self.ip_list == other.ip_list
    }
}

/// One address of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proxy {
    pub ip: String,
}

/// An order, as returned by every order endpoint.
///
/// Money fields are JSON numbers that may be integers (`100`) or decimals (`1.81`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub status: OrderStatus,
    pub service: Service,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
    pub period: u32,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_payment: Option<f64>,
    pub amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_amount: Option<f64>,
    #[serde(default)]
    pub auto_continuation: bool,
    #[serde(default)]
    pub allowed_operations: Vec<String>,
    #[serde(default)]
    pub resources_allocated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxies: Option<Vec<Proxy>>,
}

impl Order {
    /// Whether this is a mobile order, which takes a plain `quantity` (channels) on a quantity
    /// change instead of `remove_proxies` + `quantity`. Told from the service's provider or name.
    pub fn is_mobile(&self) -> bool {
        self.service
            .provider
            .to_ascii_lowercase()
            .contains("mobile")
            || self.service.name.to_ascii_lowercase().contains("mobile")
    }

    /// The order's proxy IPs, in the provider's order.
    pub fn proxy_ips(&self) -> Vec<String> {
        self.proxies
            .iter()
            .flatten()
            .map(|p| p.ip.clone())
            .collect()
    }
}

/// Response of `GET /user/orders` and `POST /user/orders`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    pub orders: Vec<Order>,
}

/// Response of `POST /user/orders/{order_id}` (change): one order under `order`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    pub order: Order,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn documented_change_response() -> serde_json::Value {
        json!({
            "currency": "USD",
            "order": {
                "id": 10000,
                "status": "active",
                "service":  { "id": 4, "provider": "server-proxies", "name": "City proxies" },
                "location": { "id": 24, "type": "city", "name": "New York", "country_name": "USA" },
                "operator": { "id": 37, "name": "Orange" },
                "period": 30,
                "quantity": 1,
                "minimal_payment": 1.81,
                "amount": 1.81,
                "converted_amount": 100,
                "auto_continuation": true,
                "allowed_operations": [],
                "resources_allocated": true,
                "access": { "port": 8000, "login": "text", "password": "s3cret-canary", "ip_list": ["192.168.1.1"] },
                "proxies": [ { "ip": "10.0.0.1" }, { "ip": "10.0.0.2" } ]
            }
        })
    }

    #[test]
    fn parses_documented_change_response() {
        let r: OrderResponse = serde_json::from_value(documented_change_response()).unwrap();
        let o = r.order;
        assert_eq!(o.id, 10000);
        assert_eq!(o.status, OrderStatus::Active);
        assert_eq!(o.converted_amount, Some(100.0));
        assert_eq!(o.minimal_payment, Some(1.81));
        assert_eq!(o.location.as_ref().unwrap().kind, "city");
        let access = o.access.as_ref().unwrap();
        assert_eq!(access.port, 8000);
        assert_eq!(access.password.expose_secret(), "s3cret-canary");
        assert_eq!(o.proxy_ips(), vec!["10.0.0.1", "10.0.0.2"]);
        assert_eq!(r.currency, Some(Currency::Usd));
    }

    #[test]
    fn list_orders_without_access_or_proxies_parse() {
        let v = json!({"lang":"EN","currency":"USD","orders":[{
            "id": 1, "status": "waiting", "service": {"id": 4}, "period": 30, "quantity": 2,
            "amount": 3, "allowed_operations": [], "resources_allocated": false }]});
        let l: OrderList = serde_json::from_value(v).unwrap();
        assert_eq!(l.orders[0].amount, 3.0);
        assert!(l.orders[0].access.is_none());
        assert!(l.orders[0].proxies.is_none());
        assert!(l.orders[0].status.is_expired());
    }

    #[test]
    fn unknown_status_is_kept() {
        let s: OrderStatus = serde_json::from_value(json!("frozen")).unwrap();
        assert_eq!(s, OrderStatus::Other("frozen".into()));
        assert_eq!(serde_json::to_value(&s).unwrap(), json!("frozen"));
        assert!(!s.is_expired());
    }

    #[test]
    fn debug_of_order_never_shows_password() {
        let r: OrderResponse = serde_json::from_value(documented_change_response()).unwrap();
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("s3cret-canary"), "{dbg}");
        assert!(dbg.contains("REDACTED"), "{dbg}");
    }

    #[test]
    fn mobile_orders_are_recognised() {
        let mut o: Order =
            serde_json::from_value(documented_change_response()["order"].clone()).unwrap();
        assert!(!o.is_mobile());
        o.service.name = "Mobile proxies plus".into();
        assert!(o.is_mobile());
    }
}
