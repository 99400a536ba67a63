//! The order, as the simulator stores it and shows it (`provider-api.md` §2): its status, the
//! nested service, location and operator objects, and the `access` and `proxies` blocks of the
//! change answer.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The order's `status` (§2.2). The documented values have variants; any other string is kept
/// as it is, so the admin API can set a status the provider may add later.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// `waiting`
    Waiting,
    /// `waiting.activation`
    WaitingActivation,
    /// `active`
    Active,
    /// `active.suspended`
    ActiveSuspended,
    /// `archived`
    Archived,
    /// Anything else, verbatim.
    Other(String),
}

impl OrderStatus {
    /// The provider's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            OrderStatus::Waiting => "waiting",
            OrderStatus::WaitingActivation => "waiting.activation",
            OrderStatus::Active => "active",
            OrderStatus::ActiveSuspended => "active.suspended",
            OrderStatus::Archived => "archived",
            OrderStatus::Other(other) => other,
        }
    }

    /// Whether the order's term has run out, the one state that takes quantity changes (§3.3).
    /// The docs say an order whose term ends without auto-continuation goes to `waiting`; the
    /// simulator reads `waiting` as expired.
    pub fn is_expired(&self) -> bool {
        *self == OrderStatus::Waiting
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
        Ok(OrderStatus::from(String::deserialize(d)?.as_str()))
    }
}

/// `service` (§2.3): `{id, provider, name}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: u64,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub name: String,
}

/// `location` (§2.3): `{id, type, name, country_name}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub id: u64,
    /// `type`: `city`, `country`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub country_name: String,
}

/// `operator` (§2.3): `{id, name}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    pub id: u64,
    #[serde(default)]
    pub name: String,
}

/// `access` (§3.3): the order's connection credentials. The password is written out as it is
/// (the change answer and the admin API carry it) but never shown by `Debug`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Access {
    pub port: u16,
    #[serde(default)]
    pub login: String,
    #[serde(serialize_with = "expose")]
    pub password: SecretString,
    #[serde(default)]
    pub ip_list: Vec<String>,
}

fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

impl PartialEq for Access {
    fn eq(&self, other: &Self) -> bool {
        (
            self.port,
            &self.login,
            self.password.expose_secret(),
            &self.ip_list,
        ) == (
            other.port,
            &other.login,
            other.password.expose_secret(),
            &other.ip_list,
        )
    }
}

/// One entry of `proxies` (§3.3): `{ip}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proxy {
    pub ip: String,
}

/// An order (§2.1). The fields the docs mark as not always present are `Option`s and are left
/// out when unset; `access` and `proxies`, which only the change answer shows, are filled in
/// for every stored order and removed where an endpoint does not show them.
///
/// Money (`minimal_payment`, `amount`, `converted_amount`) is a JSON number that may be an
/// integer or a decimal.
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
    /// Whether the order is a mobile one (channels instead of addresses), told from the
    /// service's `provider` or `name` (§2.4: the API has no type field).
    pub fn is_mobile(&self) -> bool {
        [&self.service.provider, &self.service.name]
            .iter()
            .any(|s| s.to_ascii_lowercase().contains("mobile"))
    }

    /// The addresses of `proxies`, in order.
    pub fn proxy_ips(&self) -> Vec<String> {
        self.proxies
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|p| p.ip.clone())
            .collect()
    }
}
