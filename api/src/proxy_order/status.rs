//! What the operator reports in a ProxyOrder's status. Never the password.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator last observed and did. Never holds the password.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyOrderStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the Secret holds the order's current credentials. `Synced`: the provider
    /// matches the spec. `RolloutsUpdated` (with `spec.secret.rolloutTargets`): every target's
    /// Pod template carries the current credentials hash. `CredentialsVerified` (with the
    /// operator's `--verify-credentials`): a connection through one of the order's proxies with
    /// the published credentials worked. Every reason is listed in docs/reference/names.md.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The order as the provider last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderSummary>,
    /// Connection data without the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessSummary>,
    /// The order's proxy IPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxies: Option<Vec<String>>,
    /// Changes the cost guardrail holds back until approved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_changes: Vec<PlannedChange>,
    /// Name of the Secret holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Fingerprint of the managed spec (port, login, allow-list, quantity, password source
    /// and rotation token; a salted hash of an explicit password, never the password) as of
    /// the last change the provider accepted. For people comparing states: decisions are made
    /// from the spec and the provider's order list, not from this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_hash: Option<String>,
    /// When the provider was last read or changed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// Salted fingerprint of the live password, to tell whether the Secret still holds it.
    /// Never the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_fingerprint: Option<String>,
    /// Where the live password came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_origin: Option<PasswordOrigin>,
    /// The last `proxy-solutions.net/rotate-password` value that was carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_rotation: Option<String>,
    /// The last `proxy-solutions.net/sync-requested-at` value that was carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_requested: Option<String>,
    /// The credentials hash every rollout target carried when `RolloutsUpdated` last became
    /// True for this generation. While the credentials and `spec.secret.rolloutTargets` stay
    /// the same, the targets are not read again: a refresh costs no API-server read. (A
    /// workload created later starts with the current credentials, and the next change of
    /// them reads every target again.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_hash: Option<String>,
    /// A non-idempotent request (password generation, proxy removal) that was about to be
    /// sent. Present only between recording the intent and recording the outcome, so a
    /// restart can tell that the request may already have reached the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_request: Option<PendingRequest>,
}

/// Where the live password came from: `Generated` (the provider generated it at the
/// operator's request), `SecretKeyRef` (the operator sent the value of
/// `spec.password.secretKeyRef`) or `Provider` (the provider's own value; the operator did not
/// set it).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PasswordOrigin {
    /// The provider generated it at the operator's request.
    Generated,
    /// The operator sent the value of `spec.password.secretKeyRef`.
    SecretKeyRef,
    /// The provider's own value; the operator did not set it.
    Provider,
}

/// The provider's view of the order.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    /// Provider status: waiting, waiting.activation, active, active.suspended or archived.
    pub status: String,
    /// Tariff name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Location, e.g. `New York, USA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Mobile operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Billing period in days.
    #[schemars(range(min = 0, max = 2_147_483_647), extend("format" = "int32"))]
    pub period: u32,
    /// Number of proxies or channels.
    #[schemars(range(min = 0, max = 2_147_483_647), extend("format" = "int32"))]
    pub quantity: u32,
    /// Cost in USD, as a decimal string.
    pub amount: String,
    /// Cost in `currency`, as a decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_amount: Option<String>,
    /// Currency of `convertedAmount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Whether the provider renews the order automatically.
    pub auto_continuation: bool,
    /// Operations the provider currently allows on the order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_operations: Vec<String>,
    /// Whether addresses or channels are currently assigned to the order.
    pub resources_allocated: bool,
}

/// Connection data of the order, without the password.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSummary {
    /// Port of the order's proxies.
    #[schemars(extend("format" = "int32"))]
    pub port: u16,
    /// Login of the order's proxies (the password is in the credentials Secret only).
    pub login: String,
    /// Client IPs allowed without login and password.
    #[serde(default)]
    pub ip_list: Vec<String>,
}

/// A non-idempotent provider request in flight.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    /// Fingerprint of the request body (hashes only).
    pub hash: String,
    /// The request asked the provider to generate a password.
    #[serde(default)]
    pub gen_password: bool,
    /// IPs the request asked the provider to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_proxies: Vec<String>,
    /// Fingerprint of the password before the request, to tell afterwards whether a
    /// password generation took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_password_fingerprint: Option<String>,
    /// The rotate-password value the request carries out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<String>,
    /// When the intent was recorded.
    pub started_at: Time,
    /// Set when the request's answer was lost (a timeout, a dropped connection, a 5xx): the
    /// provider may still be carrying it out, so its outcome is not read before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_not_before: Option<Time>,
}

/// A change the cost guardrail holds back: a quantity increase above a limit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    /// Approves exactly this change when set as the `proxy-solutions.net/approve` annotation
    /// where `approveOn` says. Any other change (another target quantity, another current
    /// quantity, another ProxyOrder, the same change held again after it was sent) has another
    /// hash, so an approval never carries over.
    pub hash: String,
    /// The field the change is for (`quantity`).
    pub field: String,
    /// The provider's current value.
    #[schemars(range(min = 0, max = 2_147_483_647), extend("format" = "int32"))]
    pub from: u32,
    /// The value the spec asks for.
    #[schemars(range(min = 0, max = 2_147_483_647), extend("format" = "int32"))]
    pub to: u32,
    /// The limit it exceeds.
    #[schemars(range(min = 0, max = 2_147_483_647), extend("format" = "int32"))]
    pub limit: u32,
    /// Where the limit is set and the approval goes: `ProxyOrder` (its `spec.maxQuantity`) or
    /// `ProxyProvider <name>` (its `spec.maxQuantity`, approved by whoever may annotate it).
    pub approve_on: String,
    /// When the operator first held this change back. Part of the hash: once the change has
    /// been sent, the same increase coming back later (after a decrease, or after someone else
    /// changed the order) is held again under a new hash, so an approval is used once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<Time>,
    /// The approve annotation names this change's hash: it is sent as soon as nothing else
    /// holds it (an active order's term, another limit's approval), and listed until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
}
