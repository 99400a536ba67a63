//! The provider's business rules as pure functions (no HTTP, no shared state, no randomness).
//!
//! Every rule the simulator enforces lives here so it can be unit-tested on its own and
//! compared against `provider-api.md` §3-§4. Functions return a [`ValidationErrors`] map on
//! failure; the HTTP layer turns that into the one 422 body shape (see `respond.rs`).

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr},
};

use proxy_solutions_wire::{
    ChangeRequest, ChargeRequest, Currency, IpAuth, Lang, Order, PerformRequest,
};

/// Field → messages, the payload of a 422 answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub BTreeMap<String, Vec<String>>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// A map holding one message for one field.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn merge(&mut self, other: ValidationErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Messages of one field (empty when the field has none).
    pub fn field(&self, field: &str) -> &[String] {
        self.0.get(field).map(Vec::as_slice).unwrap_or(&[])
    }

    /// `Ok(value)` when no error was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// lang / currency
// ---------------------------------------------------------------------------------------------

/// Validates the `lang` and `currency` query parameters (defaults EN / USD).
pub fn parse_lang_currency(
    query: &BTreeMap<String, String>,
) -> Result<(Lang, Currency), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let lang = match query.get("lang") {
        None => Lang::default(),
        Some(v) => serde_json::from_value::<Lang>(serde_json::Value::String(v.clone()))
            .unwrap_or_else(|_| {
                errors.add(
                    "lang",
                    format!("The selected lang `{v}` is invalid (allowed: EN, RU, UA)."),
                );
                Lang::default()
            }),
    };
    let currency = match query.get("currency") {
        None => Currency::default(),
        Some(v) => serde_json::from_value::<Currency>(serde_json::Value::String(v.clone()))
            .unwrap_or_else(|_| {
                errors.add(
                    "currency",
                    format!(
                        "The selected currency `{v}` is invalid (allowed: USD, EUR, RUB, UAH, KZT)."
                    ),
                );
                Currency::default()
            }),
    };
    errors.into_result((lang, currency))
}

/// Fixed, made-up exchange rates (units of `currency` per USD) used for `converted_amount` and
/// `payer_amount`. The provider's real rates are not documented.
pub fn usd_rate(currency: Currency) -> f64 {
    match currency {
        Currency::Usd => 1.0,
        Currency::Eur => 0.92,
        Currency::Rub => 92.0,
        Currency::Uah => 41.0,
        Currency::Kzt => 480.0,
    }
}

/// Rounds money to cents.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------------------------
// Field rules of the change request
// ---------------------------------------------------------------------------------------------

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

/// Largest quantity one order may have, per proxy type (`provider-api.md` §2.4). Told from the
/// service name; `None` where the docs state no limit (mobile, batch, unknown types).
pub fn max_quantity(order: &Order) -> Option<u32> {
    if order.is_mobile() {
        return None;
    }
    let name = order.service.name.to_ascii_lowercase();
    if name.contains("individual") || name.contains("personal") {
        Some(500)
    } else if name.contains("prime") {
        Some(100)
    } else if name.contains("city") {
        Some(50)
    } else {
        None
    }
}

/// Periods (days) an order may be paid for (`provider-api.md` §2.4).
pub fn allowed_periods(order: &Order) -> &'static [u32] {
    if order.is_mobile() {
        &[1, 7, 30, 90, 365]
    } else {
        &[30, 60, 90, 180, 365]
    }
}

// ---------------------------------------------------------------------------------------------
// Change
// ---------------------------------------------------------------------------------------------

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

/// A validated quantity change: drop `remove` (in the order's proxy order), then allocate `add`
/// fresh addresses, ending at `quantity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityPlan {
    pub quantity: u32,
    pub remove: Vec<String>,
    pub add: u32,
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

fn plan_quantity(
    order: &Order,
    quantity: Option<u32>,
    remove_proxies: Option<&[String]>,
) -> Result<Option<QuantityPlan>, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if !order.status.is_expired() {
        let msg = format!(
            "Order {} is {}: only authentication data (port, login, password, gen_password, \
             ip_auth) can be changed; the quantity can be changed once the order has expired.",
            order.id, order.status
        );
        if quantity.is_some() {
            errors.add("quantity", msg.clone());
        }
        if remove_proxies.is_some() {
            errors.add("remove_proxies", msg);
        }
        return Err(errors);
    }

    let current = order.proxy_ips();
    if let Some(q) = quantity {
        if q == 0 {
            errors.add("quantity", "The quantity must be at least 1.");
        }
        if let Some(max) = max_quantity(order)
            && q > max
        {
            errors.add(
                "quantity",
                format!(
                    "The quantity must not be greater than {max} for {}.",
                    order.service.name
                ),
            );
        }
    }

    if order.is_mobile() {
        if remove_proxies.is_some() {
            errors.add(
                "remove_proxies",
                "Mobile orders do not take remove_proxies; send only quantity (the number of channels).",
            );
        }
        let Some(q) = quantity else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let len = current.len() as u32;
        let plan = if q >= len {
            QuantityPlan {
                quantity: q,
                remove: Vec::new(),
                add: q - len,
            }
        } else {
            QuantityPlan {
                quantity: q,
                remove: current[q as usize..].to_vec(),
                add: 0,
            }
        };
        return Ok(Some(plan));
    }

    // Non-mobile: remove_proxies + final quantity.
    let mut remove: Vec<String> = Vec::new();
    if let Some(list) = remove_proxies {
        let owned: BTreeSet<&str> = current.iter().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        for ip in list {
            if !owned.contains(ip.as_str()) {
                errors.add(
                    "remove_proxies",
                    format!("The address {ip} does not belong to order {}.", order.id),
                );
            } else if seen.insert(ip.as_str()) {
                remove.push(ip.clone());
            }
        }
    }
    let Some(q) = quantity else {
        errors.add(
            "quantity",
            "The quantity (the final total) is required together with remove_proxies.",
        );
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let kept = (current.len() - remove.len()) as u32;
    if q < kept {
        errors.add(
            "quantity",
            format!(
                "The quantity ({q}) is below the {kept} addresses that would remain; list the \
                 addresses to drop in remove_proxies."
            ),
        );
        return Err(errors);
    }
    Ok(Some(QuantityPlan {
        quantity: q,
        remove,
        add: q - kept,
    }))
}

/// Scales a money field to a new quantity (the price per address stays the same).
pub fn scale_amount(amount: f64, old_quantity: u32, new_quantity: u32) -> f64 {
    if old_quantity == 0 {
        amount
    } else {
        round2(amount / old_quantity as f64 * new_quantity as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// Perform / charge
// ---------------------------------------------------------------------------------------------

/// Known operations (`provider-api.md` §3.5).
pub const OPERATIONS: [&str; 4] = [
    "channels-change-ip",
    "channels-reset",
    "channels-set-autoreset",
    "channels-relocate",
];

/// Minimum auto-reset interval in seconds (0 disables auto-reset).
pub const MIN_AUTORESET_INTERVAL: u32 = 60;

/// Validates an operation request: the operation must be in the order's `allowed_operations`,
/// and the auto-reset `interval` must be 0 or at least 60 seconds.
pub fn check_perform(order: &Order, req: &PerformRequest) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if req.operation.is_empty() {
        errors.add("operation", "The operation field is required.");
    } else if !order.allowed_operations.iter().any(|o| o == &req.operation) {
        let allowed = if order.allowed_operations.is_empty() {
            "none".to_string()
        } else {
            order.allowed_operations.join(", ")
        };
        errors.add(
            "operation",
            format!(
                "The operation `{}` is not allowed for order {} (allowed: {allowed}).",
                req.operation, order.id
            ),
        );
    }
    if req.operation == "channels-set-autoreset"
        && let Some(interval) = req.interval
        && interval != 0
        && interval < MIN_AUTORESET_INTERVAL
    {
        errors.add(
            "interval",
            format!("The interval must be 0 (off) or at least {MIN_AUTORESET_INTERVAL} seconds."),
        );
    }
    errors.into_result(())
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

// ---------------------------------------------------------------------------------------------
// Address pool
// ---------------------------------------------------------------------------------------------

/// Size of the address sequence [`pool_address`] enumerates.
pub const POOL_SIZE: u64 = 3 * 254 + 65_536 * 254;

/// The `index`-th address of the simulator's proxy pool: 198.51.100.1-254, then
/// 203.0.113.1-254 (documentation ranges), then 192.0.2.1-254, then 10.0.0.0/8 skipping .0 and
/// .255, for very large seeds. `None` past the end.
pub fn pool_address(index: u64) -> Option<Ipv4Addr> {
    const DOC_NETS: [[u8; 3]; 3] = [[198, 51, 100], [203, 0, 113], [192, 0, 2]];
    if index < 3 * 254 {
        let net = DOC_NETS[(index / 254) as usize];
        return Some(Ipv4Addr::new(
            net[0],
            net[1],
            net[2],
            (index % 254) as u8 + 1,
        ));
    }
    let rest = index - 3 * 254;
    if rest >= 65_536 * 254 {
        return None;
    }
    let block = rest / 254;
    Some(Ipv4Addr::new(
        10,
        (block >> 8) as u8,
        (block & 0xff) as u8,
        (rest % 254) as u8 + 1,
    ))
}

/// Picks `count` addresses that `in_use` rejects, starting at `*cursor` and wrapping around
/// the pool once. Advances the cursor past the last pick, so released addresses are not
/// handed out again right away. `None` when the pool cannot supply `count` addresses.
pub fn allocate_ips(
    count: u32,
    mut in_use: impl FnMut(Ipv4Addr) -> bool,
    cursor: &mut u64,
) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(count as usize);
    let mut scanned = 0u64;
    let mut idx = *cursor % POOL_SIZE;
    while (out.len() as u32) < count {
        if scanned >= POOL_SIZE {
            return None;
        }
        let ip = pool_address(idx).expect("index is within the pool");
        idx = (idx + 1) % POOL_SIZE;
        scanned += 1;
        // Each index is visited at most once, so picks are distinct.
        if !in_use(ip) {
            out.push(ip.to_string());
        }
    }
    *cursor = idx;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_solutions_wire::{Access, OrderStatus, Proxy, Service};
    use secrecy::SecretString;

    fn order(status: OrderStatus, service_name: &str, provider: &str, ips: &[&str]) -> Order {
        Order {
            id: 7,
            status,
            service: Service {
                id: 1,
                provider: provider.into(),
                name: service_name.into(),
            },
            location: None,
            operator: None,
            period: 30,
            quantity: ips.len() as u32,
            minimal_payment: None,
            amount: 1.81 * ips.len() as f64,
            converted_amount: None,
            auto_continuation: false,
            allowed_operations: vec![],
            resources_allocated: true,
            access: Some(Access {
                port: 8000,
                login: "user7".into(),
                password: SecretString::from("pw"),
                ip_list: vec![],
            }),
            proxies: Some(ips.iter().map(|ip| Proxy { ip: ip.to_string() }).collect()),
        }
    }

    fn individual(status: OrderStatus, ips: &[&str]) -> Order {
        order(status, "Individual proxies", "server-proxies", ips)
    }

    fn mobile(status: OrderStatus, ips: &[&str]) -> Order {
        let mut o = order(status, "Mobile proxies", "mobile-proxies", ips);
        o.allowed_operations = OPERATIONS.iter().map(|s| s.to_string()).collect();
        o
    }

    fn req(v: serde_json::Value) -> ChangeRequest {
        serde_json::from_value(v).unwrap()
    }

    const FOUR: [&str; 4] = [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
    ];

    #[test]
    fn documented_worked_example_removes_two_adds_four() {
        let o = individual(OrderStatus::Waiting, &FOUR);
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1", "198.51.100.3"], "quantity": 6})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan.quantity,
            Some(QuantityPlan {
                quantity: 6,
                remove: vec!["198.51.100.1".into(), "198.51.100.3".into()],
                add: 4
            })
        );
    }

    #[test]
    fn quantity_on_active_order_is_rejected() {
        let o = individual(OrderStatus::Active, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 5})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.field("quantity").len(), 1);
        assert!(err.field("quantity")[0].contains("only authentication data"));
        let err = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": []})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.field("remove_proxies").len(), 1);
        // Auth data still fine on an active order.
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"port": 9000})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.port, Some(9000));
    }

    #[test]
    fn other_statuses_count_as_not_expired() {
        for status in [
            OrderStatus::WaitingActivation,
            OrderStatus::ActiveSuspended,
            OrderStatus::Archived,
        ] {
            let o = individual(status, &FOUR);
            assert!(
                plan_change(
                    &o,
                    &req(serde_json::json!({"quantity": 4})),
                    RuleOptions::default()
                )
                .is_err()
            );
        }
    }

    #[test]
    fn remove_proxies_must_belong_to_the_order() {
        let o = individual(OrderStatus::Waiting, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["1.1.1.1"], "quantity": 4})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.field("remove_proxies")[0].contains("1.1.1.1"),
            "{err:?}"
        );
    }

    #[test]
    fn quantity_may_not_drop_addresses_implicitly() {
        let o = individual(OrderStatus::Waiting, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1"], "quantity": 2})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert!(err.field("quantity")[0].contains("3 addresses"), "{err:?}");
        // Exactly what remains is fine (a pure removal).
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1"], "quantity": 3})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.quantity.unwrap().add, 0);
    }

    #[test]
    fn remove_proxies_needs_quantity_and_duplicates_count_once() {
        let o = individual(OrderStatus::Waiting, &FOUR);
        let err = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1"]})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.field("quantity").len(), 1);
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"remove_proxies": ["198.51.100.1", "198.51.100.1"], "quantity": 4})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan.quantity.unwrap(),
            QuantityPlan {
                quantity: 4,
                remove: vec!["198.51.100.1".into()],
                add: 1
            }
        );
    }

    #[test]
    fn quantity_caps_and_minimum() {
        let o = order(
            OrderStatus::Waiting,
            "City proxies",
            "server-proxies",
            &FOUR,
        );
        let err = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 51})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert!(err.field("quantity")[0].contains("50"));
        let err = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 0, "remove_proxies": FOUR})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert!(err.field("quantity")[0].contains("at least 1"));
    }

    #[test]
    fn mobile_takes_quantity_only() {
        let o = mobile(OrderStatus::Waiting, &["198.51.100.9", "198.51.100.10"]);
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 5})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan.quantity.unwrap(),
            QuantityPlan {
                quantity: 5,
                remove: vec![],
                add: 3
            }
        );
        let plan = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 1})),
            RuleOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan.quantity.unwrap(),
            QuantityPlan {
                quantity: 1,
                remove: vec!["198.51.100.10".into()],
                add: 0
            }
        );
        let err = plan_change(
            &o,
            &req(serde_json::json!({"quantity": 1, "remove_proxies": ["198.51.100.9"]})),
            RuleOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.field("remove_proxies").len(), 1);
        let active = mobile(OrderStatus::Active, &["198.51.100.9"]);
        assert!(
            plan_change(
                &active,
                &req(serde_json::json!({"quantity": 2})),
                RuleOptions::default()
            )
            .is_err()
        );
    }

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

    #[test]
    fn lang_currency_parse() {
        let mut q = BTreeMap::new();
        assert_eq!(parse_lang_currency(&q).unwrap(), (Lang::En, Currency::Usd));
        q.insert("lang".to_string(), "UA".to_string());
        q.insert("currency".to_string(), "EUR".to_string());
        assert_eq!(parse_lang_currency(&q).unwrap(), (Lang::Ua, Currency::Eur));
        q.insert("lang".to_string(), "de".to_string());
        q.insert("currency".to_string(), "GBP".to_string());
        let err = parse_lang_currency(&q).unwrap_err();
        assert!(err.field("lang")[0].contains("de"));
        assert!(err.field("currency")[0].contains("GBP"));
    }

    #[test]
    fn perform_rules() {
        let o = mobile(OrderStatus::Active, &["198.51.100.9"]);
        let ok = PerformRequest {
            operation: "channels-reset".into(),
            ..Default::default()
        };
        assert!(check_perform(&o, &ok).is_ok());
        let bad = PerformRequest {
            operation: "channels-explode".into(),
            ..Default::default()
        };
        assert!(
            check_perform(&o, &bad).unwrap_err().field("operation")[0].contains("channels-explode")
        );
        for (interval, good) in [(0, true), (59, false), (60, true), (3600, true)] {
            let r = PerformRequest {
                operation: "channels-set-autoreset".into(),
                interval: Some(interval),
                ..Default::default()
            };
            assert_eq!(check_perform(&o, &r).is_ok(), good, "interval {interval}");
        }
        let city = individual(OrderStatus::Active, &FOUR);
        assert!(check_perform(&city, &ok).is_err());
    }

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

    #[test]
    fn pool_order_and_allocation() {
        assert_eq!(pool_address(0).unwrap().to_string(), "198.51.100.1");
        assert_eq!(pool_address(253).unwrap().to_string(), "198.51.100.254");
        assert_eq!(pool_address(254).unwrap().to_string(), "203.0.113.1");
        assert_eq!(pool_address(508).unwrap().to_string(), "192.0.2.1");
        assert_eq!(pool_address(762).unwrap().to_string(), "10.0.0.1");
        assert_eq!(pool_address(762 + 254).unwrap().to_string(), "10.0.1.1");
        assert_eq!(
            pool_address(POOL_SIZE - 1).unwrap().to_string(),
            "10.255.255.254"
        );
        assert!(pool_address(POOL_SIZE).is_none());

        let used: BTreeSet<Ipv4Addr> = ["198.51.100.1", "198.51.100.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut cursor = 0;
        let got = allocate_ips(3, |ip| used.contains(&ip), &mut cursor).unwrap();
        assert_eq!(got, vec!["198.51.100.2", "198.51.100.4", "198.51.100.5"]);
        assert_eq!(cursor, 5);
        // The cursor moves on: the next pick does not reuse .2 even if released.
        let got = allocate_ips(1, |_| false, &mut cursor).unwrap();
        assert_eq!(got, vec!["198.51.100.6"]);
        assert_eq!(
            allocate_ips(0, |_| false, &mut cursor).unwrap(),
            Vec::<String>::new()
        );
        // Exhaustion.
        assert!(allocate_ips(1, |_| true, &mut cursor).is_none());
    }

    #[test]
    fn amounts_scale_per_address() {
        assert_eq!(scale_amount(3.62, 2, 6), 10.86);
        assert_eq!(scale_amount(5.0, 0, 3), 5.0);
        assert_eq!(usd_rate(Currency::Usd), 1.0);
    }
}
