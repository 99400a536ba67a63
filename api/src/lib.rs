//! The API of proxy-order-operator: the `ProxyOrder` and `ProxyProvider` custom resources
//! (`proxy-solutions.net/v1alpha1`), their status types, the condition types and reasons, and
//! the annotations, labels, finalizer, field manager and Secret keys users and other programs
//! rely on. Types and names only: no controller code, no I/O. The operator, its test kit and
//! benchmarks, and the `kubectl pxo` plugin depend on it; `crdgen` prints the CRDs from it.
//!
//! Everything is also re-exported at the crate root (`proxy_order_api::ProxyOrder`,
//! `proxy_order_api::APPROVE_ANNOTATION`).

pub mod annotations;
pub mod conditions;
pub mod events;
pub mod names;
pub mod proxy_order;
pub mod proxy_provider;
mod schema;

pub use names::*;
pub use proxy_order::*;
pub use proxy_provider::*;
pub use schema::published;

/// Both CRDs as they are published (crdgen, the chart, the test kit), by plural name.
pub fn crds() -> [(
    &'static str,
    k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
); 2] {
    use kube::CustomResourceExt;
    [
        ("proxyorders", published(ProxyOrder::crd())),
        ("proxyproviders", published(ProxyProvider::crd())),
    ]
}
