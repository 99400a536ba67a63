//! Condition types and reasons, and a pure helper to set one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const SYNCED: &str = "Synced";

/// Machine-readable condition reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The provider accepted the desired state and the Secret holds the credentials.
    Applied,
    /// A quantity change waits until the order's term has expired.
    WaitingForExpiry,
    /// The provider refused the request (422).
    ProviderRejected,
    /// The provider refused the API key (401/403).
    Unauthorized,
    /// The provider does not know the order (404).
    OrderNotFound,
    /// The provider failed, timed out or rate limited the request.
    ProviderUnavailable,
    /// A referenced Secret or key does not exist.
    SecretNotFound,
    /// The credentials Secret exists but belongs to something else.
    SecretConflict,
    /// The API server refused to write the credentials Secret (the answer is kept and the
    /// write retried with backoff).
    SecretWriteFailed,
    /// The `proxy-solutions.net/paused` annotation stops all changes.
    Paused,
    /// Another ProxyOrder, in any namespace, already claimed the order.
    OrderConflict,
    /// `spec.providerRef` names no ProxyProvider.
    ProviderNotFound,
    /// The ProxyProvider does not allow the ProxyOrder's namespace.
    NamespaceNotAllowed,
    /// The ProxyProvider's `orderAssignments` do not give the order to the namespace.
    OrderNotAssigned,
    /// `spec.apiKeySecretRef` while the operator does not allow namespaced API keys.
    ApiKeySecretRefDisabled,
    /// A ProxyProvider whose API key lists its orders (ProxyProvider status only).
    Available,
    /// The operator cannot learn the credentials without a change (see README).
    CredentialsUnknown,
    /// Work is in progress.
    Progressing,
    /// The spec asks for a Secret the API server would refuse (labels, annotations).
    InvalidSpec,
    /// The credentials Secret could exceed the operator's size limit.
    SecretTooLarge,
    /// Every rollout target's Pod template carries the current credentials hash.
    UpToDate,
    /// A rollout target named in the spec does not exist.
    TargetNotFound,
    /// The operator may not read or patch a kind of rollout target (chart: rollout.enabled).
    Forbidden,
    /// A rollout target is also the target of an older ProxyOrder.
    TargetConflict,
    /// Reading or patching a rollout target failed otherwise.
    RolloutFailed,
    /// The spec names rollout targets but the operator runs without `--rollout-targets`.
    RolloutDisabled,
    /// `managementPolicy: Observe`: the Secret holds the credentials read from the provider,
    /// and (Synced) the provider matches the spec.
    Observed,
    /// `managementPolicy: Observe`: the spec differs from the provider and is not sent.
    ObserveOnly,
    /// A change above a cost limit waits for `proxy-solutions.net/approve`.
    AwaitingApproval,
    /// A CONNECT through one of the order's proxies with the published credentials worked.
    Verified,
    /// The order's proxy refused the published credentials (407).
    CredentialsRejected,
    /// The proxy accepted the credentials but could not reach the probe target.
    ProbeTargetUnreachable,
    /// The probe got no usable answer from the proxy.
    ProbeFailed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Applied => "Applied",
            Reason::WaitingForExpiry => "WaitingForExpiry",
            Reason::ProviderRejected => "ProviderRejected",
            Reason::Unauthorized => "Unauthorized",
            Reason::OrderNotFound => "OrderNotFound",
            Reason::ProviderUnavailable => "ProviderUnavailable",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::SecretConflict => "SecretConflict",
            Reason::SecretWriteFailed => "SecretWriteFailed",
            Reason::Paused => "Paused",
            Reason::OrderConflict => "OrderConflict",
            Reason::ProviderNotFound => "ProviderNotFound",
            Reason::NamespaceNotAllowed => "NamespaceNotAllowed",
            Reason::OrderNotAssigned => "OrderNotAssigned",
            Reason::ApiKeySecretRefDisabled => "ApiKeySecretRefDisabled",
            Reason::Available => "Available",
            Reason::CredentialsUnknown => "CredentialsUnknown",
            Reason::Progressing => "Progressing",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::SecretTooLarge => "SecretTooLarge",
            Reason::UpToDate => "UpToDate",
            Reason::TargetNotFound => "TargetNotFound",
            Reason::Forbidden => "Forbidden",
            Reason::TargetConflict => "TargetConflict",
            Reason::RolloutFailed => "RolloutFailed",
            Reason::RolloutDisabled => "RolloutDisabled",
            Reason::Observed => "Observed",
            Reason::ObserveOnly => "ObserveOnly",
            Reason::AwaitingApproval => "AwaitingApproval",
            Reason::Verified => "Verified",
            Reason::CredentialsRejected => "CredentialsRejected",
            Reason::ProbeTargetUnreachable => "ProbeTargetUnreachable",
            Reason::ProbeFailed => "ProbeFailed",
        }
    }
}

/// Sets condition `type_` in `conditions`, keeping its `lastTransitionTime` when its status
/// does not change, so re-asserting the same state writes nothing new.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: Reason,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" };
    set_status(conditions, type_, status, reason, message, generation, now);
}

/// [`set`] with the status as text, for `Unknown`.
pub fn set_status(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: Reason,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) {
    let status = status.to_string();
    let message = message.into();
    let reason = reason.as_str().to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now.clone();
            }
            c.status = status;
            c.reason = reason;
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason,
            message,
            observed_generation: generation,
            last_transition_time: now.clone(),
        }),
    }
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// The condition of `type_`, if any.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether condition `type_` is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut c = Vec::new();
        set(&mut c, READY, true, Reason::Applied, "ok", Some(1), &t(10));
        set(
            &mut c,
            READY,
            true,
            Reason::Applied,
            "ok again",
            Some(2),
            &t(20),
        );
        assert_eq!(c[0].last_transition_time, t(10));
        assert_eq!(c[0].message, "ok again");
        set(
            &mut c,
            READY,
            false,
            Reason::Unauthorized,
            "no",
            Some(2),
            &t(30),
        );
        assert_eq!(c[0].last_transition_time, t(30));
        assert!(!is_true(&c, READY));
    }

    #[test]
    fn conditions_stay_sorted_by_type() {
        let mut c = Vec::new();
        set(&mut c, SYNCED, true, Reason::Applied, "", None, &t(1));
        set(&mut c, READY, true, Reason::Applied, "", None, &t(1));
        assert_eq!(c[0].type_, READY);
        assert_eq!(c[1].type_, SYNCED);
    }
}
