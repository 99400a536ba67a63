//! The `ProxyOrder` custom resource (`proxy-solutions.net/v1alpha1`). Types only, no IO.
//!
//! Doc comments here become the schema descriptions that `kubectl explain` shows, so they are
//! written for the people who apply these resources.

use std::collections::BTreeMap;

use kube::{
    CustomResource, KubeSchema,
    core::{Message, Rule},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::names::RESERVED_KEYS;
pub use proxy_solutions_wire::models::{Currency, Lang};
pub use status::*;

mod status;

/// Most `spec.secret.rolloutTargets` entries.
pub const MAX_ROLLOUT_TARGETS: usize = 32;
/// Most `matchLabels` entries and `matchExpressions` of one rollout target's selector.
pub const MAX_SELECTOR_TERMS: usize = 16;
/// CEL rule: every entry of the list is an IPv4 or IPv6 address.
const ALL_IPS: &str = "self.all(ip, isIP(ip))";
/// Largest `orderId`: the largest integer every JSON reader keeps exact (2^53 - 1).
pub const MAX_ORDER_ID: u64 = 9_007_199_254_740_991;
/// Largest `quantity` accepted.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// Longest `login` accepted.
pub const MAX_LOGIN_LEN: usize = 64;
/// Longest value of one `secret.template` key, before expansion.
pub const MAX_TEMPLATE_VALUE: usize = 1024;
/// Most labels and annotations `spec.secret` may add, and the longest annotation value.
pub const MAX_SECRET_METADATA: usize = 64;
pub const MAX_ANNOTATION_VALUE: usize = 1024;
/// A Kubernetes object name (DNS-1123 subdomain), as Secrets must have.
pub const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// CEL rule: label (and annotation) keys are qualified names: an optional DNS-subdomain prefix
/// and `/`, then a name of at most 63 characters.
const QUALIFIED_KEYS: &str = "self.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))";
/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters.
const QUALIFIED_NAME: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/// A label value: empty or at most 63 characters.
const LABEL_VALUE: &str = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";
/// CEL rule: label values are empty or at most 63 characters of the label alphabet.
const LABEL_VALUES: &str =
    "self.all(k, self[k].matches('^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$'))";

/// CEL rule: template keys are valid Secret keys and do not shadow the built-in ones
/// ([`RESERVED_KEYS`], so that the rule and what the renderer skips cannot drift apart).
fn template_keys_rule() -> Rule {
    let quoted: Vec<String> = RESERVED_KEYS.iter().map(|k| format!("'{k}'")).collect();
    let (last, rest) = RESERVED_KEYS.split_last().expect("there are reserved keys");
    Rule::new(format!(
        "self.all(k, k.matches('^[-._a-zA-Z0-9]+$') && !(k in [{}]))",
        quoted.join(", ")
    ))
    .message(Message::Message(format!(
        "template keys must match [-._a-zA-Z0-9]+ and must not be {} or {last}",
        rest.join(", ")
    )))
}

/// The desired state of one existing proxy-solutions order. Every field but `orderId` is
/// optional; a field that is absent is not managed, and the provider's value is left alone.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "proxy-solutions.net",
    version = "v1alpha1",
    kind = "ProxyOrder",
    plural = "proxyorders",
    singular = "proxyorder",
    shortname = "pxo",
    category = "proxy-solutions",
    namespaced,
    status = "ProxyOrderStatus",
    doc = "A proxy-solutions order managed from Kubernetes: the operator applies the spec through the provider's order-change API and publishes the order's credentials into a Secret.",
    printcolumn = r#"{"name":"Order","type":"integer","jsonPath":".spec.orderId"}"#,
    printcolumn = r#"{"name":"Order-Status","type":"string","jsonPath":".status.order.status"}"#,
    printcolumn = r#"{"name":"Proxies","type":"integer","jsonPath":".status.order.quantity"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","priority":1,"jsonPath":".status.secretName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.providerRef) || !has(self.apiKeySecretRef)").message("set providerRef or apiKeySecretRef, not both"),
    validation = Rule::new("has(self.providerRef) == has(oldSelf.providerRef) && (!has(self.providerRef) || self.providerRef.name == oldSelf.providerRef.name)").message("providerRef is immutable; create a new ProxyOrder to use another provider"),
    validation = Rule::new("!(has(self.managementPolicy) && self.managementPolicy == 'Observe' && has(self.deletionPolicy) && self.deletionPolicy == 'Revoke')").message("deletionPolicy Revoke changes the order at the provider, which managementPolicy Observe never does; use Orphan or Manage")
)]
pub struct ProxyOrderSpec {
    /// Number of the existing order at proxy-solutions (as shown in the personal cabinet).
    /// Cannot be changed: create a new ProxyOrder for another order.
    #[schemars(range(min = 1, max = MAX_ORDER_ID), extend("format" = "int64"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("orderId is immutable; create a new ProxyOrder for another order"))]
    pub order_id: u64,

    /// The ProxyProvider (cluster-scoped, set up by the cluster's administrators) whose account
    /// and API key manage this order; it must allow this namespace. Cannot be added, removed
    /// or changed after creation. Not together with `apiKeySecretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<ProviderRef>,

    /// Secret in this namespace holding the provider API key (single-tenant use; the operator
    /// may be run with this switched off). When neither this nor `providerRef` is set, the
    /// operator's default API-key Secret is used, if one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,

    /// `Manage` (default): apply the spec to the order. `Observe`: only read the order and
    /// publish its credentials and status; no change is ever sent, and a spec that differs
    /// from the provider shows as `Synced=False` (reason `ObserveOnly`). Switching to `Manage`
    /// applies the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_policy: Option<ManagementPolicy>,

    /// Cost guardrail: a quantity increase to more than this is not sent; it is listed in
    /// `status.plannedChanges` and waits for the annotation `proxy-solutions.net/approve:
    /// <hash>`. Decreases and changes up to it go through. 1 to 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_QUANTITY), extend("format" = "int32"))]
    pub max_quantity: Option<u32>,

    /// Desired total number of proxies (or mobile channels). The provider accepts a quantity
    /// change only once the order's term has expired; until then the change waits
    /// (condition `Synced=False`, reason `WaitingForExpiry`). 1 to 1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_QUANTITY), extend("format" = "int32"))]
    pub quantity: Option<u32>,

    /// Proxy IPs to drop at the next quantity change; the provider allocates new ones to reach
    /// `quantity`. Entries that are not in the order are ignored. Not used for mobile orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000), inner(length(max = 45)))]
    #[x_kube(validation = Rule::new(ALL_IPS).message("every removeProxies entry must be an IPv4 or IPv6 address"))]
    pub remove_proxies: Option<Vec<String>>,

    /// Port the proxies listen on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535), extend("format" = "int32"))]
    pub port: Option<u16>,

    /// Proxy login: 1-64 characters, letters, digits, '.', '_' or '-', starting with a letter
    /// or digit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = MAX_LOGIN_LEN),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    )]
    pub login: Option<String>,

    /// Proxy password: either taken from a Secret (`secretKeyRef`) or generated by the
    /// provider once (`generate: true`). Rotate a generated password with the annotation
    /// `proxy-solutions.net/rotate-password: <any new value>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordSource>,

    /// Client IPs allowed to use the proxies without login and password. An empty list clears
    /// the allow-list; leaving the field out leaves the provider's list alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000), inner(length(max = 45)))]
    #[x_kube(validation = Rule::new(ALL_IPS).message("every ipAuth entry must be an IPv4 or IPv6 address"))]
    pub ip_auth: Option<Vec<String>>,

    /// Language of the provider's texts in status (service and location names). Default EN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,

    /// Currency of `status.order.convertedAmount`. Default USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,

    /// Where the credentials are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretTarget>,

    /// What deleting this ProxyOrder does at the provider. `Orphan` (default): nothing, the
    /// order keeps its credentials. `Revoke`: the password is rotated and the IP allow-list
    /// cleared before the resource goes away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// A ProxyProvider, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub struct ProviderRef {
    /// Name of the ProxyProvider.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = DNS_SUBDOMAIN)
    )]
    pub name: String,
}

/// A key of a Secret in the ProxyOrder's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as the ProxyOrder.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = DNS_SUBDOMAIN)
    )]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// Source of the proxy password: exactly one of `secretKeyRef` or `generate: true`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.secretKeyRef) != has(self.generate)").message("password needs exactly one of secretKeyRef or generate"))]
pub struct PasswordSource {
    /// Send the password stored in this Secret key; a change of the Secret is sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// Have the provider generate a password, once. Must be `true` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == true").message("generate must be true when set; remove the password field to stop managing it"))]
    pub generate: Option<bool>,
}

/// The Secret the operator writes the credentials into.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTarget {
    /// Name of the Secret. Default: `<ProxyOrder name>-proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = DNS_SUBDOMAIN)
    )]
    pub name: Option<String>,
    /// Extra labels on the Secret: at most 64, keys and values as Kubernetes labels require.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "maxProperties" = MAX_SECRET_METADATA,
        "additionalProperties" = {"type": "string", "maxLength": 63}
    ))]
    #[x_kube(
        validation = Rule::new(QUALIFIED_KEYS).message("secret.labels keys must be qualified names: [prefix/]name, name at most 63 characters of [-A-Za-z0-9_.] starting and ending with a letter or digit"),
        validation = Rule::new(LABEL_VALUES).message("secret.labels values must be empty or at most 63 characters of [-A-Za-z0-9_.] starting and ending with a letter or digit")
    )]
    pub labels: Option<BTreeMap<String, String>>,
    /// Extra annotations on the Secret: at most 64, keys qualified names, values at most 1024
    /// characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "maxProperties" = MAX_SECRET_METADATA,
        "additionalProperties" = {"type": "string", "maxLength": MAX_ANNOTATION_VALUE}
    ))]
    #[x_kube(validation = Rule::new(QUALIFIED_KEYS).message("secret.annotations keys must be qualified names: [prefix/]name, name at most 63 characters of [-A-Za-z0-9_.] starting and ending with a letter or digit"))]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Extra keys, each a template over the credentials: `{{ login }}`, `{{ password }}`,
    /// `{{ port }}`, `{{ ip }}` (the first proxy) and `{{ url }}` (its http URL). Keys must be
    /// valid Secret keys other than the built-in ones; at most 32 keys of at most 1024
    /// characters each. A spec whose Secret could exceed 512 KiB is refused before any
    /// provider call (reason `SecretTooLarge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "maxProperties" = 32,
        "additionalProperties" = {"type": "string", "maxLength": MAX_TEMPLATE_VALUE}
    ))]
    #[x_kube(validation = template_keys_rule())]
    pub template: Option<BTreeMap<String, String>>,
    /// Workloads in this namespace whose Pods use these credentials: when the credentials
    /// change (a rotated password, a new login, port or proxy list), the operator sets the
    /// annotation `proxy-solutions.net/credentials-hash` on their Pod template to a salted
    /// fingerprint of the Secret's data, so that their Pods are replaced and read the new
    /// values. The first publication of the Secret sets it too (one rollout, which establishes
    /// the baseline); unchanged credentials never touch the workloads. Needs the operator to
    /// run with `--rollout-targets` (chart: `rollout.enabled`); the outcome is the
    /// `RolloutsUpdated` condition. At most 32 entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ROLLOUT_TARGETS))]
    pub rollout_targets: Option<Vec<RolloutTarget>>,
}

/// A Deployment, StatefulSet or DaemonSet in the ProxyOrder's namespace (there is no namespace
/// field: a ProxyOrder restarts only workloads of its own namespace), by name or by labels.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.name) != has(self.selector)").message("a rollout target needs exactly one of name or selector"))]
pub struct RolloutTarget {
    /// `Deployment`, `StatefulSet` or `DaemonSet` (group `apps`).
    pub kind: WorkloadKind,
    /// Name of the workload. A named workload that does not exist makes `RolloutsUpdated`
    /// False (reason `TargetNotFound`) until it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = DNS_SUBDOMAIN)
    )]
    pub name: Option<String>,
    /// Every workload of this kind whose labels match; it must not be empty. Matching none is
    /// not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
}

/// The kinds of workload a rollout target can name.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// A label selector (as in a Deployment's `spec.selector`): all of `matchLabels` and all of
/// `matchExpressions` must match. At least one term; at most 16 of each.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)").message("a rollout target's selector needs matchLabels or matchExpressions; an empty selector would match every workload of the kind"))]
pub struct WorkloadSelector {
    /// Labels the workload must carry, with these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "maxProperties" = MAX_SELECTOR_TERMS,
        "additionalProperties" = {"type": "string", "maxLength": 63}
    ))]
    #[x_kube(
        validation = Rule::new(QUALIFIED_KEYS).message("selector.matchLabels keys must be qualified names: [prefix/]name, name at most 63 characters of [-A-Za-z0-9_.] starting and ending with a letter or digit"),
        validation = Rule::new(LABEL_VALUES).message("selector.matchLabels values must be empty or at most 63 characters of [-A-Za-z0-9_.] starting and ending with a letter or digit")
    )]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Requirements on the workload's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SELECTOR_TERMS))]
    pub match_expressions: Option<Vec<SelectorRequirement>>,
}

/// One requirement on a workload's labels.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)").message("selector.matchExpressions: In and NotIn need values; Exists and DoesNotExist take none"))]
pub struct SelectorRequirement {
    /// The label key: a qualified name (`[prefix/]name`).
    #[schemars(length(min = 1, max = 317), regex(pattern = QUALIFIED_NAME))]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: SelectorOperator,
    /// The values for `In` and `NotIn`: at most 16 label values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = MAX_SELECTOR_TERMS),
        inner(length(max = 63), regex(pattern = LABEL_VALUE))
    )]
    pub values: Option<Vec<String>>,
}

/// How a selector requirement relates the label key to its values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// Whether the operator changes the order or only reads it. `Manage` (default): apply the spec
/// to the order. `Observe`: only read the order and publish its credentials and status; no
/// change is ever sent, and a spec that differs from the provider shows as `Synced=False`
/// (reason `ObserveOnly`). Switching to `Manage` applies the spec.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    /// Apply the spec to the order.
    #[default]
    Manage,
    /// Only read the order and publish its credentials; never send a change.
    Observe,
}

/// What deleting a ProxyOrder does at the provider. `Orphan` (default): nothing, the order
/// keeps its credentials. `Revoke`: the password is rotated and the IP allow-list cleared
/// before the resource goes away.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Make no provider call; the order keeps its credentials.
    #[default]
    Orphan,
    /// Rotate the password and clear the IP allow-list before the resource is removed.
    Revoke,
}

/// What the ProxyOrder's name is followed by in the credentials Secret's default name.
const DEFAULT_SECRET_SUFFIX: &str = "-proxy";

impl WorkloadSelector {
    /// Whether `labels` match the selector. An empty selector (which the schema refuses) matches
    /// nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let sel = self;
        let labels_ok = sel
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v));
        let expressions_ok = sel.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator {
                SelectorOperator::In => value.is_some_and(|v| values.contains(v)),
                SelectorOperator::NotIn => value.is_none_or(|v| !values.contains(v)),
                SelectorOperator::Exists => value.is_some(),
                SelectorOperator::DoesNotExist => value.is_none(),
            }
        });
        let empty = sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty());
        !empty && labels_ok && expressions_ok
    }

    /// The selector as the `labelSelector` query of a list request, e.g.
    /// `app=web,tier in (a,b),!legacy`.
    pub fn query(&self) -> String {
        let sel = self;
        let mut terms: Vec<String> = sel
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for e in sel.match_expressions.iter().flatten() {
            let values = || e.values.as_deref().unwrap_or_default().join(",");
            terms.push(match e.operator {
                SelectorOperator::In => format!("{} in ({})", e.key, values()),
                SelectorOperator::NotIn => format!("{} notin ({})", e.key, values()),
                SelectorOperator::Exists => e.key.clone(),
                SelectorOperator::DoesNotExist => format!("!{}", e.key),
            });
        }
        terms.join(",")
    }
}

impl ProxyOrderSpec {
    /// Whether the operator only reads the order (`managementPolicy: Observe`).
    pub fn observes(&self) -> bool {
        self.management_policy == Some(ManagementPolicy::Observe)
    }

    /// Name of the Secret the credentials of the ProxyOrder `resource` go to: `secret.name`,
    /// else `<resource>-proxy`.
    pub fn secret_name(&self, resource: &str) -> String {
        match self.secret.as_ref().and_then(|s| s.name.as_deref()) {
            Some(custom) => custom.to_string(),
            None => format!("{resource}{DEFAULT_SECRET_SUFFIX}"),
        }
    }
}

/// The ProxyOrder whose credentials go to Secret `secret` by default (`<resource>-proxy`),
/// unless its spec names another.
pub fn default_secret_writer(secret: &str) -> Option<&str> {
    secret.strip_suffix(DEFAULT_SECRET_SUFFIX)
}

impl ProxyOrder {
    /// Whether the credentials go to the Secret `name` ([`Self::secret_name`], without
    /// allocating).
    pub fn writes_secret(&self, name: &str) -> bool {
        match self.spec.secret.as_ref().and_then(|s| s.name.as_deref()) {
            Some(custom) => custom == name,
            None => default_secret_writer(name) == self.metadata.name.as_deref(),
        }
    }

    /// Name of the Secret the credentials go to.
    pub fn secret_name(&self) -> String {
        self.spec
            .secret_name(self.metadata.name.as_deref().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests;
