//! Wire types of the proxy-solutions client API (v3), as described in `provider-api.md`, as the
//! operator's client writes and reads them. The simulator has its own (`simulator/src/wire/`);
//! both are tested against the provider's published examples (`tests/golden/`).
//!
//! Field names are the provider's (snake_case). Everything the provider documents is modelled;
//! blocks that only some endpoints return (`access`, `proxies`) are optional. Passwords are held
//! in [`SecretString`], whose `Debug` output is redacted; only serialization writes the real
//! value, which a change request must carry.
//!
//! One file per part: `query.rs` (`lang`, `currency`), `order.rs` (the order and the list and
//! change answers around it), `change.rs`, `perform.rs` and `charge.rs` (each endpoint's
//! request and answer). The serializers of secrets are here. Error bodies have no type: the
//! client reads them leniently (`ProviderError` in the operator).

use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;

mod change;
mod charge;
mod order;
mod perform;
mod query;

pub use change::{ChangeRequest, IpAuth};
pub use charge::{ChargeRequest, ChargeResponse, Payment};
pub use order::{
    Access, Location, Operator, Order, OrderList, OrderResponse, OrderStatus, Proxy, Service,
};
pub use perform::{PerformRequest, PerformResponse};
pub use query::{Currency, Lang};

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
