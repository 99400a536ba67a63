//! The proxy-solutions client API as the operator's client sees it: the request and response
//! bodies ([`models`]) and where the API key travels ([`auth`]).
//!
//! The simulator serializes with wire types of its own (`simulator/src/wire/`), so that a shape
//! mistake here is not mirrored there; both are tested against the provider's published
//! examples (`tests/golden/`). It shares only [`auth`], a setting both ends must agree on.

pub mod auth;
pub mod models;

#[cfg(feature = "cli")]
pub use auth::AuthArgs;
pub use auth::AuthScheme;
pub use models::*;
