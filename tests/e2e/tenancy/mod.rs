//! Multi-tenancy scenarios: cluster-scoped ProxyProviders shared by tenant namespaces,
//! cluster-wide order claims, and what a tenant cannot reach (another tenant's order, another
//! namespace's Secrets, a provider that does not allow its namespace).
//!
//! Each scenario runs the operator as a cluster-wide installation would: the chart installed
//! without `watchNamespace` (release and operator namespace named after the test), the operator
//! impersonating the chart's ServiceAccount, watching every namespace, with
//! `--operator-namespace` the test's namespace and `--selector e2e-tenancy=<id>`, so that
//! scenarios running side by side do not see each other's objects. Every ProxyOrder and
//! ProxyProvider carries that label; ProxyProviders (cluster-scoped) get unique names and are
//! deleted at the end, like the tenant namespaces.
//!
//! `harness` holds the scenarios' [`Tenancy`](harness::Tenancy); the other modules are the
//! scenarios by topic.

mod admission;
mod claim_races;
mod claims;
mod first_minutes;
mod harness;
mod providers;
mod secret_refs;

/// The label selecting one scenario's objects (`--selector e2e-tenancy=<id>`).
const TENANCY_LABEL: &str = "e2e-tenancy";
