//! The request bodies the simulator accepts (`provider-api.md` §3.3-§3.5). It only reads them,
//! so they only deserialize. Unknown fields are refused, so that a misspelt field is a 422
//! naming it rather than a silent no-op.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// `ip_auth` of a change (§3.3): client IPs, or one of the documented spellings of "remove the
/// whole allow-list": an empty list or the string `clear` (also accepted as `["clear"]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpAuth {
    List(Vec<String>),
    Clear,
}

impl IpAuth {
    /// The documented string that clears the allow-list.
    pub const CLEAR: &'static str = "clear";
}

impl<'de> Deserialize<'de> for IpAuth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            String(String),
        }
        match Raw::deserialize(d)? {
            Raw::String(s) if s == IpAuth::CLEAR => Ok(IpAuth::Clear),
            Raw::List(ips) if ips == [IpAuth::CLEAR] => Ok(IpAuth::Clear),
            Raw::List(ips) => Ok(IpAuth::List(ips)),
            Raw::String(_) => Err(serde::de::Error::custom(
                "ip_auth must be a list of IP addresses or the string \"clear\"",
            )),
        }
    }
}

/// The body of `POST /user/orders/{order_id}` (§3.3). Every field is optional; the absent ones
/// stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    #[serde(default)]
    pub gen_password: Option<bool>,
    #[serde(default)]
    pub ip_auth: Option<IpAuth>,
    #[serde(default)]
    pub quantity: Option<u32>,
    #[serde(default)]
    pub remove_proxies: Option<Vec<String>>,
}

impl ChangeRequest {
    /// Whether the body sets no field at all (`{}`).
    pub fn is_empty(&self) -> bool {
        self.is_auth_only()
            && self.port.is_none()
            && self.login.is_none()
            && self.password.is_none()
            && self.gen_password.is_none()
            && self.ip_auth.is_none()
    }

    /// Whether the body leaves the quantity alone (`quantity`, `remove_proxies`), which is all
    /// an active order accepts.
    pub fn is_auth_only(&self) -> bool {
        self.quantity.is_none() && self.remove_proxies.is_none()
    }
}

/// The body of `POST /user/orders/{order_id}/perform` (§3.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformRequest {
    pub operation: String,
    #[serde(default)]
    pub channels: Option<Vec<u64>>,
    #[serde(default)]
    pub location_id: Option<u64>,
    #[serde(default)]
    pub operator_id: Option<u64>,
    #[serde(default)]
    pub interval: Option<u32>,
}

/// The body of `POST /user/orders/{order_id}/charge` (§3.4).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub merchant: String,
    pub currency: super::Currency,
    #[serde(default)]
    pub period: Option<u32>,
    #[serde(default)]
    pub promocode: Option<String>,
}
