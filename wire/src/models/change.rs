//! The body of `POST /user/orders/{order_id}` (change), with its `ip_auth` value.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::expose_opt_secret;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
