//! Wire types of the proxy-solutions client API (v3), as described in `provider-api.md`.
//!
//! Field names are the provider's (snake_case). Everything the provider documents is modelled;
//! blocks that only some endpoints return (`access`, `proxies`) are optional. Passwords are held
//! in [`SecretString`], whose `Debug` output is redacted; they are only written out when a
//! request body or the simulator's admin API needs the real value.

use std::{collections::BTreeMap, fmt};

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Language of human-readable texts in provider responses (query parameter `lang`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Lang {
    #[default]
    #[serde(rename = "EN")]
    En,
    #[serde(rename = "RU")]
    Ru,
    #[serde(rename = "UA")]
    Ua,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "EN",
            Lang::Ru => "RU",
            Lang::Ua => "UA",
        }
    }
}

/// Currency used for `converted_amount` (query parameter `currency`). `amount` is always USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Currency {
    #[default]
    #[serde(rename = "USD")]
    Usd,
    #[serde(rename = "EUR")]
    Eur,
    #[serde(rename = "RUB")]
    Rub,
    #[serde(rename = "UAH")]
    Uah,
    #[serde(rename = "KZT")]
    Kzt,
}

impl Currency {
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Rub => "RUB",
            Currency::Uah => "UAH",
            Currency::Kzt => "KZT",
        }
    }
}

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

/// The `ip_auth` value of a change request: a list of client IPs, or the provider's literal
/// `"clear"`. An empty list also clears the allow-list; which form is sent is a client setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpAuth {
    List(Vec<String>),
    Clear,
}

impl IpAuth {
    pub const CLEAR: &'static str = "clear";
}

impl Serialize for IpAuth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IpAuth::List(ips) => ips.serialize(s),
            IpAuth::Clear => s.serialize_str(Self::CLEAR),
        }
    }
}

impl<'de> Deserialize<'de> for IpAuth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::List(ips) if ips.len() == 1 && ips[0] == IpAuth::CLEAR => Ok(IpAuth::Clear),
            Raw::List(ips) => Ok(IpAuth::List(ips)),
            Raw::Str(s) if s == IpAuth::CLEAR => Ok(IpAuth::Clear),
            Raw::Str(_) => Err(serde::de::Error::custom(
                "ip_auth must be a list of IP addresses or the string \"clear\"",
            )),
        }
    }
}

/// Body of `POST /user/orders/{order_id}` (change). Only fields that are set are sent.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt_secret"
    )]
    pub password: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_password: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_auth: Option<IpAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_proxies: Option<Vec<String>>,
}

impl PartialEq for ChangeRequest {
    fn eq(&self, other: &Self) -> bool {
        self.port == other.port
            && self.login == other.login
            && self.password.as_ref().map(|p| p.expose_secret())
                == other.password.as_ref().map(|p| p.expose_secret())
            && self.gen_password == other.gen_password
            && self.ip_auth == other.ip_auth
            && self.quantity == other.quantity
            && self.remove_proxies == other.remove_proxies
    }
}

impl ChangeRequest {
    /// True when the request changes nothing.
    pub fn is_empty(&self) -> bool {
        self.port.is_none()
            && self.login.is_none()
            && self.password.is_none()
            && self.gen_password.is_none()
            && self.ip_auth.is_none()
            && self.quantity.is_none()
            && self.remove_proxies.is_none()
    }

    /// True when the request touches only authentication data, which is all an active order
    /// accepts.
    pub fn is_auth_only(&self) -> bool {
        self.quantity.is_none() && self.remove_proxies.is_none()
    }
}

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

/// Body of a validation error (422). The provider does not document its shape; this is the
/// shape the simulator sends, and the client reads it leniently (see `ProviderError`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationErrorBody {
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, Vec<String>>,
}

/// Serializes a secret's real value. Used only on wire fields that must carry it.
pub fn expose_secret<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

fn expose_opt_secret<S: Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => expose_secret(secret, s),
        None => s.serialize_none(),
    }
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
    fn change_request_sends_only_set_fields() {
        let req = ChangeRequest {
            port: Some(8080),
            ..Default::default()
        };
        assert_eq!(serde_json::to_value(&req).unwrap(), json!({"port": 8080}));
        assert_eq!(
            serde_json::to_value(ChangeRequest::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn change_request_keeps_empty_ip_auth_and_sends_password() {
        let req = ChangeRequest {
            ip_auth: Some(IpAuth::List(vec![])),
            password: Some(SecretString::from("pw-canary")),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"ip_auth": [], "password": "pw-canary"})
        );
        assert!(!format!("{req:?}").contains("pw-canary"));
        let clear = ChangeRequest {
            ip_auth: Some(IpAuth::Clear),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&clear).unwrap(),
            json!({"ip_auth": "clear"})
        );
    }

    #[test]
    fn ip_auth_accepts_list_clear_string_and_clear_in_list() {
        let a: IpAuth = serde_json::from_value(json!(["1.2.3.4"])).unwrap();
        assert_eq!(a, IpAuth::List(vec!["1.2.3.4".into()]));
        let b: IpAuth = serde_json::from_value(json!("clear")).unwrap();
        assert_eq!(b, IpAuth::Clear);
        let c: IpAuth = serde_json::from_value(json!(["clear"])).unwrap();
        assert_eq!(c, IpAuth::Clear);
        assert!(serde_json::from_value::<IpAuth>(json!("everything")).is_err());
    }

    #[test]
    fn change_request_rejects_unknown_fields() {
        let err = serde_json::from_value::<ChangeRequest>(json!({"colour": "red"})).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn documented_remove_proxies_example_parses() {
        let req: ChangeRequest =
            serde_json::from_str(r#"{"remove_proxies":["0.0.0.0","1.1.1.1"],"quantity":6}"#)
                .unwrap();
        assert_eq!(req.quantity, Some(6));
        assert!(!req.is_auth_only());
    }

    #[test]
    fn mobile_orders_are_recognised() {
        let mut o: Order =
            serde_json::from_value(documented_change_response()["order"].clone()).unwrap();
        assert!(!o.is_mobile());
        o.service.name = "Mobile proxies plus".into();
        assert!(o.is_mobile());
    }

    #[test]
    fn enums_use_provider_spelling() {
        assert_eq!(serde_json::to_value(Lang::Ua).unwrap(), json!("UA"));
        assert_eq!(serde_json::to_value(Currency::Kzt).unwrap(), json!("KZT"));
        assert!(serde_json::from_value::<Currency>(json!("GBP")).is_err());
    }
}
