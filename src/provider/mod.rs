//! The proxy-solutions API: wire models, settings, errors and the HTTP client.

pub mod client;
pub mod config;
pub mod error;

/// The provider's wire types, shared with the simulator.
pub use proxy_solutions_wire::models;

#[cfg(test)]
mod fuzz_tests;

pub use client::{ApiKey, ProviderClient, QueryOptions};
pub use config::{AuthScheme, IpAuthClear, ProviderConfig};
pub use error::ProviderError;
pub use models::*;
