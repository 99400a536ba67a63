//! Rolling consumers when the credentials change (`spec.secret.rolloutTargets`, operator flag
//! `--rollout-targets`): each Deployment, StatefulSet or DaemonSet named there gets the
//! annotation `proxy-solutions.net/credentials-hash` on its Pod template, a salted fingerprint
//! of the credentials Secret's data. When the data changes, so does the annotation, and the
//! workload's own controller replaces its Pods, which then read the new credentials.
//!
//! Runs in the write step, right after the credentials Secret is written (or found current)
//! and before the status: each target is read, and only one whose annotation differs from the
//! hash is patched (server-side apply of that one annotation), so unchanged credentials cost
//! reads but never a write. The outcome is the `RolloutsUpdated` condition; a target that is
//! missing, forbidden or failing never fails the reconcile nor holds up the credentials.
//!
//! This file is the pure part (the hash, which workloads need a patch, the condition); the
//! reads and patches are in `act.rs`.

mod act;
#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, fmt};

use sha2::{Digest, Sha256};

pub use act::{Published, roll_out};

use super::conditions::Reason;
use crate::credentials::SecretData;
use proxy_order_api::{ProxyOrder, ProxyOrderSpec, RolloutTarget, WorkloadKind};

/// The condition's type.
pub use proxy_order_api::conditions::ROLLOUTS_UPDATED;
/// Most workloads (and most problems) a condition message names.
const MAX_LISTED: usize = 10;

/// The value of the credentials-hash annotation for the Secret data `data` of the ProxyOrder
/// `uid`: SHA-256 over every key and value, salted with the ProxyOrder's fingerprint salt
/// (kept in the credentials Secret, so only those who may read the password can test guesses
/// against the annotation, which anyone who may read the workload sees).
pub fn credentials_hash(uid: &str, salt: &str, data: &SecretData) -> String {
    let mut h = Sha256::new();
    h.update(b"proxy-order-operator/credentials-hash/v1\0");
    for part in [uid, salt] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    for (key, value) in &data.0 {
        for part in [key, value] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The rollout targets of a spec (none when unset).
pub fn targets(spec: &ProxyOrderSpec) -> &[RolloutTarget] {
    spec.secret
        .as_ref()
        .and_then(|s| s.rollout_targets.as_deref())
        .unwrap_or_default()
}

/// A workload by kind and name (in the ProxyOrder's namespace).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadRef {
    pub kind: WorkloadKind,
    pub name: String,
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", kind_name(self.kind), self.name)
    }
}

/// The kind as Kubernetes spells it.
pub fn kind_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::StatefulSet => "StatefulSet",
        WorkloadKind::DaemonSet => "DaemonSet",
    }
}

/// The kind's resource name, as RBAC rules and error messages spell it.
pub fn plural(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "deployments",
        WorkloadKind::StatefulSet => "statefulsets",
        WorkloadKind::DaemonSet => "daemonsets",
    }
}

/// A workload as read: its labels (to match selectors) and the hash its Pod template carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub id: WorkloadRef,
    pub labels: BTreeMap<String, String>,
    /// The template's credentials-hash annotation, if any.
    pub hash: Option<String>,
}

/// Why a target could not be brought to the current hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A workload named in the spec does not exist (or went away before its patch).
    NotFound(WorkloadRef),
    /// The operator may not `verb` workloads of this kind.
    Forbidden {
        kind: WorkloadKind,
        verb: &'static str,
    },
    /// The workload is also a target of the older ProxyOrder `owner` (same namespace), which
    /// sets its annotation: two would set it in turn and restart it over and over.
    Conflict {
        workload: WorkloadRef,
        owner: String,
    },
    /// Any other failure, in words: what was done and the API server's answer.
    Failed(String),
}

impl Problem {
    fn reason(&self) -> Reason {
        match self {
            Problem::NotFound(_) => Reason::TargetNotFound,
            Problem::Forbidden { .. } => Reason::Forbidden,
            Problem::Conflict { .. } => Reason::TargetConflict,
            Problem::Failed(_) => Reason::RolloutFailed,
        }
    }

    /// Which reason the condition gives when there are several problems: the lowest.
    fn rank(&self) -> u8 {
        match self {
            Problem::Forbidden { .. } => 0,
            Problem::NotFound(_) => 1,
            Problem::Conflict { .. } => 2,
            Problem::Failed(_) => 3,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotFound(w) => write!(f, "{w} not found"),
            Problem::Forbidden { kind, verb } => write!(
                f,
                "the operator may not {verb} {} in this namespace (install the chart with \
                 rollout.enabled=true)",
                plural(*kind)
            ),
            Problem::Conflict { workload, owner } => write!(
                f,
                "{workload} is also a rollout target of ProxyOrder {owner}, which was created \
                 first and sets its credentials hash; a workload follows one ProxyOrder"
            ),
            Problem::Failed(what) => f.write_str(what),
        }
    }
}

/// What to do about the workloads found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// Workloads whose annotation differs from the hash: to be patched.
    pub patch: Vec<WorkloadRef>,
    /// Workloads that carry the hash already.
    pub current: Vec<WorkloadRef>,
    /// Workloads left alone because an older ProxyOrder targets them.
    pub conflicts: Vec<Problem>,
}

/// Which of the workloads `found` (by any target, in any order, possibly twice) need the
/// annotation `hash`. A workload that an older ProxyOrder of the same namespace (`others`, the
/// controller's cache, which may include `me`) also targets is left to that one.
pub fn decide(
    hash: &str,
    found: Vec<Workload>,
    me: &ProxyOrder,
    others: &[&ProxyOrder],
) -> Decision {
    let mut unique: BTreeMap<WorkloadRef, Workload> = BTreeMap::new();
    for w in found {
        unique.entry(w.id.clone()).or_insert(w);
    }
    let mut decision = Decision::default();
    for (id, w) in unique {
        if let Some(owner) = older_owner(me, others, &w) {
            decision.conflicts.push(Problem::Conflict {
                workload: id,
                owner,
            });
        } else if w.hash.as_deref() == Some(hash) {
            decision.current.push(id);
        } else {
            decision.patch.push(id);
        }
    }
    decision
}

/// The name of the oldest other ProxyOrder in `me`'s namespace, created before `me` (ties: by
/// name), whose rollout targets include `w`.
fn older_owner(me: &ProxyOrder, others: &[&ProxyOrder], w: &Workload) -> Option<String> {
    let age = |po: &ProxyOrder| {
        (
            po.metadata.creation_timestamp.as_ref().map(|t| t.0),
            po.metadata.name.clone().unwrap_or_default(),
        )
    };
    others
        .iter()
        .filter(|o| o.metadata.namespace == me.metadata.namespace)
        .filter(|o| o.metadata.uid != me.metadata.uid)
        .filter(|o| age(o) < age(me))
        .filter(|o| targets(&o.spec).iter().any(|t| target_matches(t, w)))
        .min_by_key(|o| age(o))
        .map(|o| o.metadata.name.clone().unwrap_or_default())
}

/// Whether the target `t` names the workload `w`.
pub fn target_matches(t: &RolloutTarget, w: &Workload) -> bool {
    t.kind == w.id.kind
        && match (&t.name, &t.selector) {
            (Some(name), _) => *name == w.id.name,
            (None, Some(sel)) => sel.matches(&w.labels),
            (None, None) => false,
        }
}

/// The `RolloutsUpdated` condition: status, reason and message, from the workloads that carry
/// the hash now and the problems met. The message depends only on these, so an unchanged
/// outcome rewrites nothing.
pub fn condition(current: &[WorkloadRef], problems: &[Problem]) -> (bool, Reason, String) {
    let mut current = current.to_vec();
    current.sort();
    current.dedup();
    let done = match current.len() {
        0 => String::new(),
        1 => format!("{} carries the current credentials hash", current[0]),
        n => format!(
            "{n} workloads carry the current credentials hash: {}",
            listed(current.iter().map(ToString::to_string), n, ", ")
        ),
    };
    let Some(worst) = problems.iter().min_by_key(|p| p.rank()) else {
        if current.is_empty() {
            return (
                true,
                Reason::UpToDate,
                "no workload matches spec.secret.rolloutTargets".to_string(),
            );
        }
        return (true, Reason::UpToDate, done);
    };
    let mut texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.sort();
    texts.dedup();
    let n = texts.len();
    let mut message = listed(texts.into_iter(), n, "; ");
    if !done.is_empty() {
        message = format!("{message}. {done}");
    }
    (false, worst.reason(), message)
}

/// The first [`MAX_LISTED`] items joined with `separator`, and how many more there are.
fn listed(items: impl Iterator<Item = String>, total: usize, separator: &str) -> String {
    let shown: Vec<String> = items.take(MAX_LISTED).collect();
    let mut text = shown.join(separator);
    if total > shown.len() {
        text.push_str(&format!(" and {} more", total - shown.len()));
    }
    text
}

/// The condition when the operator runs without `--rollout-targets`.
pub fn disabled() -> (bool, Reason, String) {
    (
        false,
        Reason::RolloutDisabled,
        "the operator runs without --rollout-targets (chart value rollout.enabled), so \
         spec.secret.rolloutTargets are not restarted when the credentials change"
            .to_string(),
    )
}
