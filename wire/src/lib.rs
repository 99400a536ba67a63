//! The proxy-solutions client API as both ends of the wire see it: the request and response
//! bodies ([`models`]) and where the API key travels ([`auth`]). The operator's HTTP client and
//! the provider simulator both build on these types, so the operator depends on nothing of the
//! simulator's.

pub mod auth;
pub mod models;

pub use auth::{AuthArgs, AuthScheme};
pub use models::*;
