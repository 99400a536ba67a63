//! The reasons of the Events the operator records on ProxyOrders (`kubectl get events`,
//! `kubectl pxo status`). An Event that reports a condition's outcome carries the condition's
//! reason ([`Reason`]); the others are listed here.

use crate::conditions::Reason;

crate::conditions::reasons! {
    /// The reasons of Events that report no condition.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum EventOnlyReason {
        /// The operator read the live credentials from the provider with a request that
        /// changes nothing.
        CredentialsRead,
        /// Deleting a ProxyOrder with `deletionPolicy: Revoke` revoked nothing: it never
        /// managed the order, or lost it to an older ProxyOrder.
        RevokeSkipped,
        /// Deleting a ProxyOrder with `deletionPolicy: Revoke` waits: the API key's Secret is
        /// missing (annotate `proxy-solutions.net/paused: "true"` to delete without revoking).
        RevokeBlocked,
        /// Deleting a ProxyOrder with `deletionPolicy: Revoke` rotated the password and
        /// cleared the allow-list.
        Revoked,
        /// A rollout target's Pod template got the new credentials hash, so its Pods are
        /// replaced.
        RolloutTriggered,
        /// A stored ProxyOrder the operator cannot decode (named with the field); it is
        /// ignored.
        InvalidObject,
    }
}

/// The reason of an Event on a ProxyOrder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventReason {
    /// The outcome a condition reports, with its reason (`Applied`, `ProviderRejected`,
    /// `AwaitingApproval`, `CredentialsRejected`, ...).
    Condition(Reason),
    /// An outcome no condition reports.
    EventOnly(EventOnlyReason),
}

impl EventReason {
    /// The reason as the Event's `reason` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::Condition(reason) => reason.as_str(),
            EventReason::EventOnly(reason) => reason.as_str(),
        }
    }
}

impl From<EventOnlyReason> for EventReason {
    fn from(reason: EventOnlyReason) -> Self {
        EventReason::EventOnly(reason)
    }
}

impl From<Reason> for EventReason {
    fn from(reason: Reason) -> Self {
        EventReason::Condition(reason)
    }
}

impl std::fmt::Display for EventReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_spelled_once() {
        let mut all: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        all.extend(EventOnlyReason::ALL.iter().map(|r| r.as_str()));
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "a reason spelled twice: {all:?}");
        assert_eq!(
            "AwaitingApproval".parse::<Reason>(),
            Ok(Reason::AwaitingApproval)
        );
        assert!("Nope".parse::<Reason>().is_err());
        assert_eq!(EventReason::from(Reason::Applied).as_str(), "Applied");
        assert_eq!(
            EventReason::from(EventOnlyReason::Revoked).as_str(),
            "Revoked"
        );
        assert!(Reason::AwaitingApproval.doc().contains("approve"));
        assert!(
            EventOnlyReason::ALL
                .iter()
                .all(|r| !r.doc().trim().is_empty())
        );
    }
}
