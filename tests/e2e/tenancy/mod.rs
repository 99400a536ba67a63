//! Multi-tenancy scenarios: cluster-scoped ProxyProviders shared by tenant namespaces,
//! cluster-wide order claims, and what a tenant cannot reach (another tenant's order, another
//! namespace's Secrets, a provider that does not allow its namespace).
//!
//! The scenarios' harness is the test kit's `tenancy::Tenancy` (shared with the
//! hostile-tenant suite, tests/hostile).

mod admission;
mod claim_races;
mod claims;
mod first_minutes;
mod providers;
mod secret_refs;
