//! Wire types of the proxy-solutions client API (v3), as described in `provider-api.md`.
//!
//! Field names are the provider's (snake_case). Everything the provider documents is modelled;
//! blocks that only some endpoints return (`access`, `proxies`) are optional. Passwords are held
//! in [`SecretString`], whose `Debug` output is redacted; they are only written out when a
//! request body or the simulator's admin API needs the real value.
//!
//! One file per part: `query.rs` (`lang`, `currency`), `order.rs` (the order and the list and
//! change answers around it), `change.rs`, `perform.rs` and `charge.rs` (each endpoint's
//! request and answer). The 422 body and the serializers of secrets are here.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

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
