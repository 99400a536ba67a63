//! The provider's business rules as pure functions (no HTTP, no shared state, no randomness).
//!
//! Every rule the simulator enforces lives here so it can be unit-tested on its own and
//! compared against `provider-api.md` §3-§4. Functions return a [`ValidationErrors`] map on
//! failure; the HTTP layer turns that into the one 422 body shape (see `respond.rs`).
//!
//! One file per concern: [`ValidationErrors`] here; `currency.rs` (`lang`/`currency` query
//! parameters, exchange rates), `change.rs` (change requests and their field rules),
//! `quantity.rs` (quantity changes of expired orders), `perform.rs`, `charge.rs` and `pool.rs`
//! (the simulator's address pool).

use std::collections::BTreeMap;

mod change;
mod charge;
mod currency;
#[cfg(test)]
mod fixtures;
mod perform;
mod pool;
mod quantity;

pub use change::{
    ChangePlan, MAX_CREDENTIAL_LEN, PasswordChange, RuleOptions, plan_change, resolve_ip_auth,
    validate_login, validate_password, validate_port,
};
pub use charge::{BALANCE_MERCHANT, ChargePlan, allowed_periods, plan_charge};
pub use currency::{parse_lang_currency, round2, usd_rate};
pub use perform::{MIN_AUTORESET_INTERVAL, OPERATIONS, check_perform};
pub use pool::{AddressPool, LOOPBACK_POOL_SIZE, POOL_SIZE, allocate_ips, pool_address};
pub use quantity::{QuantityPlan, max_quantity, scale_amount};

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
