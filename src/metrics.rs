//! Prometheus metrics.

use std::time::Duration;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub ready: String,
    pub synced: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub provider_requests: Family<RequestLabels, Counter>,
    pub provider_latency: Family<EndpointLabels, Histogram>,
    pub orders: Family<StateLabels, Gauge>,
    pub credential_probes: Family<ResultLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("proxy_order");
        let reconciles = Family::<ResultLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = latency_histogram();
        let provider_requests = Family::<RequestLabels, Counter>::default();
        let provider_latency = Family::<EndpointLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let orders = Family::<StateLabels, Gauge>::default();
        let credential_probes = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciliations by result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciliations that failed or ended in a failure condition, by reason",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconciliation",
            reconcile_duration.clone(),
        );
        registry.register(
            "provider_requests",
            "Provider API requests by endpoint and HTTP status code (0 = no answer)",
            provider_requests.clone(),
        );
        registry.register(
            "provider_request_duration_seconds",
            "Provider API latency by endpoint",
            provider_latency.clone(),
        );
        registry.register(
            "orders",
            "ProxyOrders by Ready and Synced condition status",
            orders.clone(),
        );
        registry.register(
            "credential_probes",
            "Credentials probes (--verify-credentials) by result: verified, rejected (407), \
             target_unreachable, failed",
            credential_probes.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            provider_requests,
            provider_latency,
            orders,
            credential_probes,
        }
    }
}

impl Metrics {
    pub fn provider_request(&self, endpoint: &str, code: Option<u16>, took: Duration) {
        self.provider_requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                code: code.unwrap_or(0).to_string(),
            })
            .inc();
        self.provider_latency
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_provider_requests() {
        let m = Metrics::default();
        m.provider_request("change", Some(200), Duration::from_millis(20));
        m.provider_request("change", None, Duration::from_millis(20));
        let text = m.encode();
        assert!(
            text.contains(r#"proxy_order_provider_requests_total{endpoint="change",code="200"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"code="0""#), "{text}");
        assert!(text.contains("proxy_order_provider_request_duration_seconds_bucket"));
    }

    /// Every series name the chart's alerts and Grafana dashboard query is one the operator
    /// exports (a renamed metric would leave an alert that never fires).
    #[test]
    fn the_charts_alerts_and_dashboard_query_exported_metrics() {
        // A family is encoded once it has a series: one of each.
        let m = Metrics::default();
        let result = || ResultLabels {
            result: "ok".to_string(),
        };
        m.reconciles.get_or_create(&result()).inc();
        m.reconcile_errors
            .get_or_create(&ErrorLabels {
                reason: "Unauthorized".to_string(),
            })
            .inc();
        m.provider_request("change", Some(200), Duration::from_millis(5));
        m.orders
            .get_or_create(&StateLabels {
                ready: "True".to_string(),
                synced: "True".to_string(),
            })
            .set(1);
        m.credential_probes.get_or_create(&result()).inc();
        let text = m.encode();
        let mut exported = std::collections::BTreeSet::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
                (words.next(), words.next(), words.next(), words.next())
            {
                match kind {
                    "counter" => {
                        exported.insert(format!("{name}_total"));
                    }
                    "histogram" => {
                        for suffix in ["_bucket", "_sum", "_count"] {
                            exported.insert(format!("{name}{suffix}"));
                        }
                    }
                    _ => {
                        exported.insert(name.to_string());
                    }
                }
            }
        }
        assert!(exported.len() >= 8, "{text}");
        let sources = [
            (
                "templates/_alerts.tpl",
                include_str!("../charts/proxy-order-operator/templates/_alerts.tpl"),
            ),
            (
                "dashboards/proxy-order-operator.json",
                include_str!("../charts/proxy-order-operator/dashboards/proxy-order-operator.json"),
            ),
        ];
        for (file, source) in sources {
            let queried: Vec<&str> = source
                .match_indices("proxy_order_")
                .map(|(i, _)| {
                    let rest = &source[i..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    &rest[..end]
                })
                .collect();
            assert!(!queried.is_empty(), "{file} queries no metric");
            for name in queried {
                assert!(
                    exported.contains(name),
                    "{file} queries {name}, which the operator does not export: {exported:?}"
                );
            }
        }
    }
}
