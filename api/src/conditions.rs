//! Condition types and their reasons, as `status.conditions` carries them. Programs that read
//! the conditions (the `kubectl pxo` plugin, alerts, scripts) rely on these names.

/// Whether the Secret holds working credentials for the desired state.
pub const READY: &str = "Ready";
/// Whether the provider matches the spec.
pub const SYNCED: &str = "Synced";
/// `spec.secret.rolloutTargets`: whether every target's Pod template carries the current
/// credentials hash.
pub const ROLLOUTS_UPDATED: &str = "RolloutsUpdated";
/// `--verify-credentials`: whether a CONNECT through one of the order's proxies with the
/// published credentials worked.
pub const CREDENTIALS_VERIFIED: &str = "CredentialsVerified";

/// Declares a reason enum with the list of its values, their spelling (the variant's name) and
/// their doc comments (for the generated reference).
macro_rules! reasons {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[doc = $doc:literal])* $variant:ident,)* }) => {
        $(#[$meta])*
        pub enum $name { $($(#[doc = $doc])* $variant,)* }

        impl $name {
            /// Every reason, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The reason as it is spelled in a condition or an Event.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant),)* }
            }

            /// What the reason says (its doc comment).
            pub fn doc(self) -> &'static str {
                match self { $($name::$variant => concat!($($doc, "\n",)*),)* }
            }
        }
    };
}
pub(crate) use reasons;

reasons! {
    /// Machine-readable condition reasons: `status.conditions[].reason`, and the reason of the
    /// Event that reports the same outcome.
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
    /// The operator cannot learn the credentials without a change (see the user guide).
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
}

impl std::str::FromStr for Reason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown condition reason {s:?}"))
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
