//! proxy-order-operator: manages proxy-solutions proxy orders from Kubernetes `ProxyOrder`
//! resources.

pub mod config;
pub mod controller;
pub mod credentials;
pub mod duration;
pub mod error;
pub mod failpoint;
pub mod healthcheck;
pub mod leader;
pub mod metrics;
pub mod probe;
pub mod provider;
pub mod quiesce;
pub mod server;
pub mod telemetry;
