//! Change requests (`POST /api/user/orders/{id}`): the rules of each authentication field and
//! the validation of a whole request into a [`ChangePlan`].

use std::net::IpAddr;

use crate::wire::{ChangeRequest, IpAuth, Order};

use super::{
    ValidationErrors,
    quantity::{QuantityPlan, plan_quantity},
};

/// Longest accepted login / password.
pub const MAX_CREDENTIAL_LEN: usize = 64;

pub fn validate_port(port: u16) -> Result<(), String> {
    if port == 0 {
        Err("The port must be between 1 and 65535.".into())
    } else {
        Ok(())
    }
}

pub fn validate_login(login: &str) -> Result<(), String> {
    if login.is_empty() {
        return Err("The login must not be empty.".into());
    }
    if login.chars().count() > MAX_CREDENTIAL_LEN {
        return Err(format!(
            "The login must not be longer than {MAX_CREDENTIAL_LEN} characters."
        ));
    }
    if login
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '@')
    {
        return Err("The login must not contain whitespace, ':' or '@'.".into());
    }
    Ok(())
}

/// Passwords are non-empty printable ASCII (0x20-0x7E), at most 64 characters.
pub fn validate_password(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("The password must not be empty.".into());
    }
    if password.len() > MAX_CREDENTIAL_LEN {
        return Err(format!(
            "The password must not be longer than {MAX_CREDENTIAL_LEN} characters."
        ));
    }
    if !password.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("The password may only contain printable ASCII characters.".into());
    }
    Ok(())
}

/// The new `access.ip_list` an `ip_auth` value asks for: `[]`, `"clear"` and `["clear"]` empty
/// it; otherwise every entry must be an IPv4 or IPv6 address.
pub fn resolve_ip_auth(ip_auth: &IpAuth) -> Result<Vec<String>, ValidationErrors> {
    match ip_auth {
        IpAuth::Clear => Ok(Vec::new()),
        IpAuth::List(ips) => {
            let mut errors = ValidationErrors::new();
            for ip in ips {
                if ip.parse::<IpAddr>().is_err() {
                    errors.add("ip_auth", format!("`{ip}` is not a valid IP address."));
                }
            }
            errors.into_result(ips.clone())
        }
    }
}

/// Switches for rules the provider's docs leave open.
#[derive(Clone, Copy, Debug)]
pub struct RuleOptions {
    /// Whether an empty change body (`{}`) is a read of the order (true) or a 422 (false).
    pub empty_change_is_read: bool,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            empty_change_is_read: true,
        }
    }
}

/// What to do with the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordChange {
    Keep,
    Set(String),
    Generate,
}

/// A validated change request, ready to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangePlan {
    pub port: Option<u16>,
    pub login: Option<String>,
    pub password: PasswordChange,
    pub ip_list: Option<Vec<String>>,
    pub quantity: Option<QuantityPlan>,
}

impl ChangePlan {
    /// A plan that changes nothing (the answer to an empty body read).
    pub fn noop() -> Self {
        ChangePlan {
            port: None,
            login: None,
            password: PasswordChange::Keep,
            ip_list: None,
            quantity: None,
        }
    }
}

/// Validates a change request against an order (`provider-api.md` §3.3).
///
/// - Only an expired order (status `waiting`) takes `quantity` / `remove_proxies`; any other
///   status accepts authentication data only.
/// - Mobile orders take a plain `quantity` (channels); `remove_proxies` is rejected.
/// - Other orders: the listed IPs must belong to the order, `quantity` is the final total and
///   is required with `remove_proxies`, and may not be below what is kept.
pub fn plan_change(
    order: &Order,
    req: &ChangeRequest,
    opts: RuleOptions,
) -> Result<ChangePlan, ValidationErrors> {
    if req.is_empty() {
        return if opts.empty_change_is_read {
            Ok(ChangePlan::noop())
        } else {
            Err(ValidationErrors::single(
                "body",
                "The request must change at least one field.",
            ))
        };
    }

    let mut errors = ValidationErrors::new();
    let mut plan = ChangePlan::noop();

    if let Some(port) = req.port {
        match validate_port(port) {
            Ok(()) => plan.port = Some(port),
            Err(e) => errors.add("port", e),
        }
    }
    if let Some(login) = &req.login {
        match validate_login(login) {
            Ok(()) => plan.login = Some(login.clone()),
            Err(e) => errors.add("login", e),
        }
    }
    if req.gen_password == Some(true) {
        plan.password = PasswordChange::Generate;
    } else if let Some(password) = &req.password {
        use secrecy::ExposeSecret;
        match validate_password(password.expose_secret()) {
            Ok(()) => plan.password = PasswordChange::Set(password.expose_secret().to_string()),
            Err(e) => errors.add("password", e),
        }
    }
    if let Some(ip_auth) = &req.ip_auth {
        match resolve_ip_auth(ip_auth) {
            Ok(list) => plan.ip_list = Some(list),
            Err(e) => errors.merge(e),
        }
    }

    if !req.is_auth_only() {
        match plan_quantity(order, req.quantity, req.remove_proxies.as_deref()) {
            Ok(q) => plan.quantity = q,
            Err(e) => errors.merge(e),
        }
    }

    errors.into_result(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixtures::{FOUR, individual, req};
    use crate::wire::OrderStatus;

    #[test]
    fn credentials_rules() {
        assert!(validate_port(0).is_err());
        assert!(validate_port(1).is_ok());
        assert!(validate_port(65535).is_ok());
        assert!(validate_login("").is_err());
        assert!(validate_login("a b").is_err());
        assert!(validate_login("a:b").is_err());
        assert!(validate_login("a@b").is_err());
        assert!(validate_login(&"x".repeat(65)).is_err());
        assert!(validate_login(&"x".repeat(64)).is_ok());
        assert!(validate_login("user10000").is_ok());
        assert!(validate_password("").is_err());
        assert!(validate_password("héllo").is_err());
        assert!(validate_password("tab\there").is_err());
        assert!(validate_password(&"p".repeat(65)).is_err());
        assert!(validate_password("Abc 123 !~").is_ok());
    }

    #[test]
    fn change_collects_field_errors() {
        let o = individual(OrderStatus::Active, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"port": 0, "login": "a b", "password": "", "ip_auth": ["1.2.3.4", "nope"]})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.0.keys().cloned().collect::<Vec<_>>(),
            vec!["ip_auth", "login", "password", "port"]
        );
        assert!(err.field("ip_auth")[0].contains("nope"));
    }

    #[test]
    fn gen_password_wins_over_password() {
        let o = individual(OrderStatus::Active, &FOUR);
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"gen_password": true, "password": ""})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.password, PasswordChange::Generate);
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"gen_password": false, "password": "new-pass"})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.password, PasswordChange::Set("new-pass".into()));
    }

    #[test]
    fn ip_auth_forms() {
        assert_eq!(
            resolve_ip_auth(&IpAuth::Clear).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            resolve_ip_auth(&IpAuth::List(vec![])).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            resolve_ip_auth(&IpAuth::List(vec!["10.0.0.1".into(), "2001:db8::1".into()])).unwrap(),
            vec!["10.0.0.1", "2001:db8::1"]
        );
        let err = resolve_ip_auth(&IpAuth::List(vec!["10.0.0.256".into()])).unwrap_err();
        assert!(err.field("ip_auth")[0].contains("10.0.0.256"));
    }

    #[test]
    fn empty_change_is_configurable() {
        let o = individual(OrderStatus::Active, &FOUR);
        assert_eq!(
            plan_change(&o, &ChangeRequest::default(), RuleOptions::default()).unwrap(),
            ChangePlan::noop()
        );
        let err = plan_change(
            &o,
            &ChangeRequest::default(),
            RuleOptions {
                empty_change_is_read: false,
            },
        )
        .unwrap_err();
        assert_eq!(err.field("body").len(), 1);
    }
}
