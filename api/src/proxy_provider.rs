//! The `ProxyProvider` custom resource (`proxy-solutions.net/v1alpha1`, cluster-scoped): one
//! provider account as a cluster administrator sets it up (where the API lives, how the key is
//! sent, the key itself, limits) and which namespaces may use it. Types only, no IO.
//!
//! ProxyOrders name one with `spec.providerRef`. Nothing a tenant writes can change where the
//! operator sends requests: the base URL exists only here, on a cluster-scoped object.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Key of the API key in a ProxyProvider's Secret when `apiKeySecretRef.key` is not set.
pub const DEFAULT_KEY: &str = "api-key";
/// Longest provider request timeout a ProxyProvider may ask for.
pub const MAX_TIMEOUT_SECONDS: u32 = 300;

/// A provider account the cluster's administrators set up for ProxyOrders: where its API lives,
/// how the API key is sent, the key's Secret, limits, and which namespaces may use it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "proxy-solutions.net",
    version = "v1alpha1",
    kind = "ProxyProvider",
    plural = "proxyproviders",
    singular = "proxyprovider",
    shortname = "pxp",
    category = "proxy-solutions",
    status = "ProxyProviderStatus",
    doc = "A proxy-solutions account for ProxyOrders to use (spec.providerRef): the provider API's URL, how the API key is sent, the API key's Secret, a rate limit, and the namespaces allowed to use it. Cluster-scoped, so only cluster administrators set where the operator sends requests.",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Orders","type":"integer","jsonPath":".status.orders"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Namespaces","type":"string","priority":1,"jsonPath":".spec.namespaces"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ProxyProviderSpec {
    /// Base URL of the provider API, e.g. `https://v3.proxy-solutions.net/api`. Default: the
    /// operator's `--provider-url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(
        validation = Rule::new("isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))").message("url must be an http:// or https:// URL"),
        validation = Rule::new("!self.matches('^[a-z]+://[^/]*@')").message("url must not carry user information (user:password@): the API key goes in apiKeySecretRef")
    )]
    pub url: Option<String>,

    /// How the API key is sent. Each field left out takes the operator's flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ProviderAuth>,

    /// The Secret holding the account's API key.
    pub api_key_secret_ref: ProviderSecretRef,

    /// Provider requests per second per API key (bursts of twice that). Default: the operator's
    /// `--rate-limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01, max = 10000.0))]
    pub rate_limit: Option<f64>,

    /// Timeout of one provider request in seconds, 1-300. It never exceeds the operator's
    /// `--provider-timeout` (a larger value is lowered to it), which leader election's
    /// timing is built on. Default: that flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_TIMEOUT_SECONDS), extend("format" = "int32"))]
    pub timeout_seconds: Option<u32>,

    /// Cost guardrail for every ProxyOrder using this provider: a quantity increase to more
    /// than this is not sent; it is listed in the ProxyOrder's `status.plannedChanges` and
    /// waits until this ProxyProvider is annotated `proxy-solutions.net/approve: <hash>`
    /// (several hashes separated by commas). Tenants cannot approve it themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000), extend("format" = "int32"))]
    pub max_quantity: Option<u32>,

    /// Namespaces whose ProxyOrders may use this provider. A namespace is allowed when it is
    /// listed here or matches `namespaceSelector`. With neither set, no namespace may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 63)))]
    pub namespaces: Option<Vec<String>>,

    /// Namespaces (by their labels) whose ProxyOrders may use this provider; `{}` allows every
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Which orders of the account each namespace may use. Unset: every allowed namespace may
    /// use any order of the account (a shared account means shared orders: the first
    /// ProxyOrder to claim an order gets it). Set: a ProxyOrder may use an order only when an
    /// entry names its namespace and the order; any other is refused (`OrderNotAssigned`)
    /// before anything is asked of the provider, so it learns nothing of the account's orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub order_assignments: Option<Vec<OrderAssignment>>,
}

/// Orders of the account that the listed namespaces may use.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.orderIds) || has(self.orderIdRanges)").message("an order assignment names orderIds, orderIdRanges or both"))]
pub struct OrderAssignment {
    /// Namespaces (by name) that may use these orders.
    #[schemars(length(min = 1, max = 1000), inner(length(min = 1, max = 63)))]
    pub namespaces: Vec<String>,
    /// Order ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10000))]
    pub order_ids: Option<Vec<OrderId>>,
    /// Ranges of order ids, both ends included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub order_id_ranges: Option<Vec<OrderIdRange>>,
}

/// A provider order id, 1 to 2^53-1.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(transparent)]
pub struct OrderId(
    #[schemars(range(min = 1, max = crate::proxy_order::MAX_ORDER_ID), extend("format" = "int64"))]
    pub u64,
);

/// The order ids from `from` to `to`, both included.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, KubeSchema)]
#[x_kube(validation = Rule::new("self.from <= self.to").message("an order id range runs from a lower id to a higher one"))]
pub struct OrderIdRange {
    /// The first order id of the range.
    #[schemars(range(min = 1, max = crate::proxy_order::MAX_ORDER_ID), extend("format" = "int64"))]
    pub from: u64,
    /// The last order id of the range (at least `from`).
    #[schemars(range(min = 1, max = crate::proxy_order::MAX_ORDER_ID), extend("format" = "int64"))]
    pub to: u64,
}

/// How the API key travels with each request: in a header (`header`, `scheme`) or in a query
/// parameter (`queryParam`), not both.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.queryParam) || (!has(self.header) && !has(self.scheme))").message("auth.queryParam sends the key in the URL: it cannot be combined with auth.header or auth.scheme"))]
pub struct ProviderAuth {
    /// Header carrying the API key. Default: the operator's `--auth-header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    )]
    pub header: Option<String>,
    /// Prefix of the key in that header (`Bearer`); `""` sends the bare key. Default: the
    /// operator's `--auth-scheme`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]*$"))]
    pub scheme: Option<String>,
    /// Send the key in this query parameter instead of a header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[-._~0-9A-Za-z]+$"))]
    pub query_param: Option<String>,
}

/// A key of a Secret named by a cluster-scoped object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
pub struct ProviderSecretRef {
    /// Name of the Secret.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = crate::proxy_order::DNS_SUBDOMAIN)
    )]
    pub name: String,
    /// Key within the Secret's data. Default: `api-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: Option<String>,
    /// Namespace of the Secret. Default: the operator's own namespace. The operator needs
    /// permission to read Secrets there (the Helm chart's `providerKeyNamespaces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub namespace: Option<String>,
}

/// What the operator last found when it used the account.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyProviderStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the API key lists the account's orders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// How many orders the API key listed at the last check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2_147_483_647), extend("format" = "int32"))]
    pub orders: Option<u32>,
}

/// Why a namespace may not use a provider, in words for a condition message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotAllowed {
    /// The provider names neither `namespaces` nor `namespaceSelector`.
    NoNamespaces,
    /// Not listed and the labels do not match the selector (or there is none).
    NotSelected { has_list: bool, has_selector: bool },
    /// The selector cannot be evaluated (an unknown operator).
    BadSelector(String),
}

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotAllowed::NoNamespaces => write!(
                f,
                "it allows no namespace (it sets neither spec.namespaces nor spec.namespaceSelector)"
            ),
            NotAllowed::NotSelected {
                has_list,
                has_selector,
            } => match (has_list, has_selector) {
                (true, true) => write!(
                    f,
                    "this namespace is not in its spec.namespaces and its labels do not match its spec.namespaceSelector"
                ),
                (true, false) => write!(f, "this namespace is not in its spec.namespaces"),
                _ => write!(
                    f,
                    "this namespace's labels do not match its spec.namespaceSelector"
                ),
            },
            NotAllowed::BadSelector(why) => {
                write!(f, "its spec.namespaceSelector is invalid: {why}")
            }
        }
    }
}

impl ProxyProviderSpec {
    /// Whether ProxyOrders in namespace `ns` (with `labels`) may use this provider.
    pub fn allows(
        &self,
        ns: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), NotAllowed> {
        let list = self.namespaces.as_deref();
        if list.is_none() && self.namespace_selector.is_none() {
            return Err(NotAllowed::NoNamespaces);
        }
        if list.is_some_and(|l| l.iter().any(|n| n == ns)) {
            return Ok(());
        }
        if let Some(sel) = &self.namespace_selector {
            match selector_matches(sel, labels) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(NotAllowed::BadSelector(e)),
            }
        }
        Err(NotAllowed::NotSelected {
            has_list: list.is_some(),
            has_selector: self.namespace_selector.is_some(),
        })
    }
}

impl ProxyProviderSpec {
    /// Whether ProxyOrders in namespace `ns` may use order `order_id` of this account: always
    /// without `orderAssignments`, else when an entry names both.
    pub fn assigns(&self, ns: &str, order_id: u64) -> bool {
        let Some(assignments) = &self.order_assignments else {
            return true;
        };
        assignments.iter().any(|a| {
            a.namespaces.iter().any(|n| n == ns)
                && (a.order_ids.iter().flatten().any(|id| id.0 == order_id)
                    || a.order_id_ranges
                        .iter()
                        .flatten()
                        .any(|r| (r.from..=r.to).contains(&order_id)))
        })
    }
}

/// Whether `labels` match a Kubernetes label selector (`matchLabels` and `matchExpressions`
/// with `In`, `NotIn`, `Exists`, `DoesNotExist`); an empty selector matches everything.
pub fn selector_matches(
    sel: &LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<bool, String> {
    for (k, v) in sel.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        let ok = match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => return Err(format!("unknown operator {other:?} for key {:?}", e.key)),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use kube::CustomResourceExt;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn crd_is_cluster_scoped_with_status_and_columns() {
        let crd = serde_json::to_value(ProxyProvider::crd()).unwrap();
        assert_eq!(
            crd["metadata"]["name"],
            "proxyproviders.proxy-solutions.net"
        );
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["pxp"]));
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["subresources"]["status"], json!({}));
        let cols: Vec<&str> = v["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            cols,
            ["URL", "Orders", "Ready", "Reason", "Namespaces", "Age"]
        );
        let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["required"], json!(["apiKeySecretRef"]));
        for (name, prop) in spec["properties"].as_object().unwrap() {
            let d = prop["description"].as_str().unwrap_or_default();
            assert!(d.len() > 10, "spec.{name} has no description");
        }
    }

    #[test]
    fn order_assignments_give_each_namespace_only_its_orders() {
        let open = ProxyProviderSpec::default();
        assert!(open.assigns("team-a", 1), "unset: any order");
        let spec: ProxyProviderSpec = serde_json::from_value(json!({
            "apiKeySecretRef": {"name": "k"},
            "orderAssignments": [
                {"namespaces": ["team-a"], "orderIds": [10000, 10002]},
                {"namespaces": ["team-b", "team-c"], "orderIdRanges": [{"from": 20000, "to": 20999}]},
                {"namespaces": ["team-c"], "orderIds": [10001], "orderIdRanges": [{"from": 5, "to": 5}]},
            ],
        }))
        .unwrap();
        for (ns, order, yes) in [
            ("team-a", 10000, true),
            ("team-a", 10002, true),
            ("team-a", 10001, false),
            ("team-a", 20000, false),
            ("team-b", 20000, true),
            ("team-b", 20999, true),
            ("team-b", 21000, false),
            ("team-b", 19999, false),
            ("team-c", 20500, true),
            ("team-c", 10001, true),
            ("team-c", 5, true),
            ("team-c", 10000, false),
            ("team-d", 10000, false),
        ] {
            assert_eq!(spec.assigns(ns, order), yes, "{ns} {order}");
        }
        let none = ProxyProviderSpec {
            order_assignments: Some(vec![]),
            ..Default::default()
        };
        assert!(!none.assigns("team-a", 1), "set but empty: no order");
    }

    #[test]
    fn no_list_and_no_selector_allows_nobody() {
        let spec = ProxyProviderSpec::default();
        assert_eq!(
            spec.allows("team-a", &labels(&[])),
            Err(NotAllowed::NoNamespaces)
        );
    }

    #[test]
    fn listed_or_selected_namespaces_are_allowed() {
        let spec = ProxyProviderSpec {
            max_quantity: None,
            namespaces: Some(vec!["team-a".into()]),
            namespace_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("tenant", "true")])),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(spec.allows("team-a", &labels(&[])), Ok(()));
        assert_eq!(
            spec.allows("team-b", &labels(&[("tenant", "true")])),
            Ok(())
        );
        let no = spec.allows("team-c", &labels(&[("tenant", "false")]));
        assert_eq!(
            no,
            Err(NotAllowed::NotSelected {
                has_list: true,
                has_selector: true
            })
        );
        assert!(no.unwrap_err().to_string().contains("spec.namespaces"));
    }

    #[test]
    fn an_empty_selector_allows_every_namespace() {
        let spec = ProxyProviderSpec {
            max_quantity: None,
            namespace_selector: Some(LabelSelector::default()),
            ..Default::default()
        };
        assert_eq!(spec.allows("anything", &labels(&[])), Ok(()));
    }

    #[test]
    fn selector_expressions() {
        let req = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let sel = |e: Vec<LabelSelectorRequirement>| LabelSelector {
            match_expressions: Some(e),
            ..Default::default()
        };
        let l = labels(&[("env", "prod"), ("team", "a")]);
        assert_eq!(
            selector_matches(&sel(vec![req("env", "In", &["prod", "stage"])]), &l),
            Ok(true)
        );
        assert_eq!(
            selector_matches(&sel(vec![req("env", "NotIn", &["prod"])]), &l),
            Ok(false)
        );
        assert_eq!(
            selector_matches(&sel(vec![req("x", "NotIn", &["prod"])]), &l),
            Ok(true)
        );
        assert_eq!(
            selector_matches(&sel(vec![req("team", "Exists", &[])]), &l),
            Ok(true)
        );
        assert_eq!(
            selector_matches(&sel(vec![req("team", "DoesNotExist", &[])]), &l),
            Ok(false)
        );
        assert!(selector_matches(&sel(vec![req("team", "Gt", &["1"])]), &l).is_err());
    }
}
