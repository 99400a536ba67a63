//! The values the decision works on: its inputs, what observe() found, and the plan it returns
//! (a provider call or a state to settle on, with when to look again).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use secrecy::SecretString;

use crate::{
    controller::conditions::{self, Reason, SYNCED},
    credentials::SecretData,
    provider::{ChangeRequest, Order, ProviderError},
};
use proxy_order_api::{
    PasswordOrigin, PendingRequest, PlannedChange, ProxyOrderSpec, ProxyOrderStatus,
};

/// The parts of a ProxyOrder the decision reads.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The ProxyOrder's name.
    pub name: &'a str,
    pub uid: &'a str,
    pub generation: Option<i64>,
    pub annotations: &'a BTreeMap<String, String>,
    pub spec: &'a ProxyOrderSpec,
    pub status: &'a ProxyOrderStatus,
}

/// Annotations of an object that has none.
static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Inputs<'a> {
    /// The inputs of `po`, whose name, UID and status (default when absent) the caller holds.
    pub fn of(
        po: &'a proxy_order_api::ProxyOrder,
        name: &'a str,
        uid: &'a str,
        status: &'a ProxyOrderStatus,
    ) -> Self {
        Inputs {
            name,
            uid,
            generation: po.metadata.generation,
            annotations: po.metadata.annotations.as_ref().unwrap_or(&NO_ANNOTATIONS),
            spec: &po.spec,
            status,
        }
    }

    /// Name of the credentials Secret ([`ProxyOrderSpec::secret_name`]).
    pub fn secret_name(&self) -> String {
        self.spec.secret_name(self.name)
    }
}

/// A referenced Secret, or one of its keys, that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    /// What the Secret is for: `API key` or `password`.
    pub purpose: &'static str,
    pub namespace: String,
    pub name: String,
    pub key: String,
    /// The Secret exists but lacks the key.
    pub key_missing: bool,
}

impl MissingSecret {
    /// No API key is configured for a ProxyOrder at all: it names none, and the operator has
    /// no default key.
    pub fn no_api_key(ns: &str) -> Self {
        MissingSecret {
            purpose: "API key",
            namespace: ns.to_string(),
            name: String::new(),
            key: String::new(),
            key_missing: false,
        }
    }
}

impl std::fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name.is_empty() {
            return write!(
                f,
                "no {} is configured: name a ProxyProvider in spec.providerRef (or, where the \
                 operator allows it, a Secret of this namespace in spec.apiKeySecretRef), or ask \
                 the cluster's administrators to set the operator's default key \
                 (--default-api-key-secret; chart value defaultApiKeySecret.name)",
                self.purpose
            );
        }
        if self.key_missing {
            write!(
                f,
                "{} Secret {}/{} has no key {:?}",
                self.purpose, self.namespace, self.name, self.key
            )
        } else {
            write!(
                f,
                "{} Secret {}/{} not found (key {:?})",
                self.purpose, self.namespace, self.name, self.key
            )
        }
    }
}

/// The credentials Secret as found in the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedSecret {
    Missing,
    /// A Secret of that name exists but is not controlled by this ProxyOrder.
    Foreign,
    Present(SecretData),
}

/// What observe() found.
#[derive(Clone, Debug)]
pub struct Observed {
    /// Fingerprint of the API key in use, or why there is none.
    pub api_key: Result<String, MissingSecret>,
    /// The password `spec.password.secretKeyRef` points at, when set.
    pub password: Option<Result<SecretString, MissingSecret>>,
    pub secret: OwnedSecret,
    /// The order as the provider's order list shows it: `None` when not fetched,
    /// `Some(Ok(None))` when the list does not contain it.
    pub listed: Option<Result<Option<Order>, ProviderError>>,
    /// Whether an empty change body may be sent to read the credentials.
    pub empty_change_read: bool,
    /// Who else claimed the order (cluster-wide, per provider), in words a tenant may see:
    /// `ProxyOrder <name> in this namespace` or `a ProxyOrder in another namespace`.
    pub conflict: Option<String>,
    /// Why this ProxyOrder may not use the provider it names at all (the ProxyProvider is
    /// missing or does not allow the namespace, or namespaced API keys are switched off).
    pub denied: Option<(Reason, String)>,
    /// The fingerprint salt from the credentials Secret's annotation, when the Secret is ours and
    /// has one (see [`fingerprint_salt`](super::fingerprint_salt)).
    pub fingerprint_salt: Option<String>,
    /// The salt for a credentials Secret that carries none yet: random, made by the operator
    /// for this ProxyOrder (see [`fingerprint_salt`](super::fingerprint_salt)).
    pub new_salt: String,
    /// The quantity limit of the ProxyProvider the ProxyOrder uses, if it sets one.
    pub provider_limit: Option<ProviderLimit>,
    /// The provider request timeout: a request whose answer was lost is read back only when
    /// the provider can no longer be carrying it out (see `PendingRequest::read_not_before`).
    pub answer_grace: std::time::Duration,
    pub now: Time,
}

/// A ProxyProvider's `maxQuantity` and the approvals its annotation holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderLimit {
    /// The ProxyProvider's name.
    pub provider: String,
    pub max_quantity: u32,
    /// Hashes of planned changes approved on the ProxyProvider.
    pub approvals: Vec<String>,
}

/// When to look at the resource again.
#[derive(Clone, Debug, PartialEq)]
pub enum Requeue {
    /// At the next periodic refresh.
    Refresh,
    /// Soon: more work follows immediately.
    Soon,
    /// After this long, sooner than the refresh, for work that waits its turn (a credentials
    /// probe that found no token); otherwise as [`Requeue::Refresh`].
    After(std::time::Duration),
    /// Exactly this long from now: a wait for a stated time (an interrupted request's outcome is
    /// read at `readNotBefore`), which is no failure: the failure count stays as it is.
    NotBefore(std::time::Duration),
    /// A transient provider failure: back off, at least `retry_after`.
    Backoff {
        retry_after: Option<std::time::Duration>,
    },
    /// A terminal failure: re-check slowly; a change of the inputs triggers at once.
    Terminal,
    /// Nothing to do until the resource changes.
    AwaitChange,
}

/// One provider change call: the request, and what it is for.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub request: ChangeRequest,
    pub kind: CallKind,
}

/// What a call is for, with what only that kind of call carries.
#[derive(Clone, Debug, PartialEq)]
pub enum CallKind {
    /// Carry out the spec.
    Apply(Box<Apply>),
    /// Learn the live credentials, changing nothing.
    Read,
}

/// What a call that carries out the spec means on success.
#[derive(Clone, Debug, PartialEq)]
pub struct Apply {
    /// Recorded in status before the call when the request is not idempotent.
    pub pending: Option<PendingRequest>,
    /// `lastAppliedHash` after a success.
    pub applied_hash: String,
    /// Rotation token carried out by this call.
    pub rotation: Option<String>,
    /// Origin of the password after a success, when the call sets it.
    pub origin: Option<PasswordOrigin>,
    /// Why part of the spec is held back (quantity waiting for expiry or for approval).
    pub held: Option<String>,
    /// Changes held back until approved (`status.plannedChanges` after a success).
    pub planned: Vec<PlannedChange>,
}

impl Call {
    /// A call that only reads the live credentials.
    pub(super) fn read(request: ChangeRequest) -> Call {
        Call {
            request,
            kind: CallKind::Read,
        }
    }

    /// A call that carries out the spec.
    pub(super) fn apply(request: ChangeRequest, apply: Apply) -> Call {
        Call {
            request,
            kind: CallKind::Apply(Box::new(apply)),
        }
    }

    /// The intent to record in status before the call, when the request must not repeat.
    pub fn pending(&self) -> Option<&PendingRequest> {
        match &self.kind {
            CallKind::Apply(a) => a.pending.as_ref(),
            CallKind::Read => None,
        }
    }
}

impl CallKind {
    /// The kind's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            CallKind::Apply(_) => "Apply",
            CallKind::Read => "Read",
        }
    }
}

/// A state to write, without a provider call.
#[derive(Clone, Debug, PartialEq)]
pub struct Settle {
    pub status: ProxyOrderStatus,
    /// Secret data to write; `None` when the Secret is already right or must not be touched.
    pub secret: Option<SecretData>,
    pub requeue: Requeue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Call(Box<Call>),
    Settle(Box<Settle>),
}

impl Plan {
    /// Whether this decision makes its user wait on what the provider's order list says of the
    /// order: the order is not listed (`OrderNotFound`, re-checked only slowly), a quantity
    /// change waits for it to expire (`WaitingForExpiry`), or a quantity change is sent because
    /// the list says it has expired (the provider refuses it on an active order). Such a
    /// decision must come from a list fetched after the ProxyOrder's spec was seen, never from
    /// an older one (the reconciler looks again when it did not).
    pub fn rests_on_listing(&self) -> bool {
        match self {
            Plan::Settle(s) => conditions::get(&s.status.conditions, SYNCED).is_some_and(|c| {
                [Reason::OrderNotFound, Reason::WaitingForExpiry]
                    .iter()
                    .any(|r| c.reason == r.as_str())
            }),
            Plan::Call(c) => match &c.kind {
                CallKind::Apply(a) => {
                    (a.held.is_some() && a.planned.iter().all(|p| p.approved))
                        || c.request.quantity.is_some()
                }
                CallKind::Read => false,
            },
        }
    }
}

pub(super) fn settle(
    status: ProxyOrderStatus,
    secret: Option<SecretData>,
    requeue: Requeue,
) -> Plan {
    Plan::Settle(Box::new(Settle {
        status,
        secret,
        requeue,
    }))
}
