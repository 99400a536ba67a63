//! What a ProxyOrder's annotations ask for, read the way the operator reads them: the operator
//! decides with these functions, and other programs (the `kubectl pxo` plugin) show with them.

use std::collections::BTreeMap;

use crate::names::{
    APPROVE_ANNOTATION, PAUSED_ANNOTATION, ROTATE_PASSWORD_ANNOTATION, SYNC_REQUESTED_ANNOTATION,
};
use crate::{PlannedChange, ProxyOrder};

/// Whether the annotations pause the resource: [`PAUSED_ANNOTATION`] is exactly `"true"`.
pub fn paused(annotations: &BTreeMap<String, String>) -> bool {
    annotations.get(PAUSED_ANNOTATION).map(String::as_str) == Some("true")
}

/// The hashes an approve annotation's value lists (comma-separated, blanks ignored).
pub fn approvals(value: Option<&str>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The approvals of the annotations' [`APPROVE_ANNOTATION`].
pub fn approved(annotations: &BTreeMap<String, String>) -> Vec<String> {
    approvals(annotations.get(APPROVE_ANNOTATION).map(String::as_str))
}

/// A token annotation's value when it asks for something not carried out yet: not empty, and
/// not the value `done` records.
pub fn requested<'a>(
    annotations: &'a BTreeMap<String, String>,
    key: &str,
    done: Option<&str>,
) -> Option<&'a str> {
    annotations
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty() && Some(*v) != done)
}

/// Where a held change is approved ([`PlannedChange::approve_on`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApproveOn {
    /// The ProxyOrder's own `spec.maxQuantity`: approved on the ProxyOrder.
    ProxyOrder,
    /// The ProxyProvider's `maxQuantity`: approved on that ProxyProvider.
    ProxyProvider(String),
}

impl ApproveOn {
    /// As `approveOn` spells it: `ProxyOrder`, `ProxyProvider <name>`.
    pub fn to_status(&self) -> String {
        match self {
            ApproveOn::ProxyOrder => "ProxyOrder".to_string(),
            ApproveOn::ProxyProvider(name) => format!("ProxyProvider {name}"),
        }
    }

    /// `approveOn` read back; `None` for a spelling the operator does not write.
    pub fn parse(text: &str) -> Option<ApproveOn> {
        match text.split_once(' ') {
            None if text == "ProxyOrder" => Some(ApproveOn::ProxyOrder),
            Some(("ProxyProvider", name)) if !name.is_empty() && !name.contains(' ') => {
                Some(ApproveOn::ProxyProvider(name.to_string()))
            }
            _ => None,
        }
    }
}

impl PlannedChange {
    /// Where this change is approved.
    pub fn approval_target(&self) -> Option<ApproveOn> {
        ApproveOn::parse(&self.approve_on)
    }
}

impl ProxyOrder {
    /// Whether it is paused ([`paused`]).
    pub fn is_paused(&self) -> bool {
        paused(
            self.metadata
                .annotations
                .as_ref()
                .unwrap_or(&BTreeMap::new()),
        )
    }

    /// The rotate-password token not carried out yet, if any.
    pub fn requested_rotation(&self) -> Option<&str> {
        let done = self
            .status
            .as_ref()
            .and_then(|s| s.password_rotation.as_deref());
        requested(
            self.metadata.annotations.as_ref()?,
            ROTATE_PASSWORD_ANNOTATION,
            done,
        )
    }

    /// The sync-requested token not carried out yet, if any.
    pub fn requested_sync(&self) -> Option<&str> {
        let done = self
            .status
            .as_ref()
            .and_then(|s| s.sync_requested.as_deref());
        requested(
            self.metadata.annotations.as_ref()?,
            SYNC_REQUESTED_ANNOTATION,
            done,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn annotations_read_as_the_operator_reads_them() {
        assert!(paused(&annotations(&[(PAUSED_ANNOTATION, "true")])));
        assert!(!paused(&annotations(&[(PAUSED_ANNOTATION, "True")])));
        assert_eq!(approvals(Some(" a, ,b ")), ["a", "b"]);
        assert_eq!(approved(&annotations(&[(APPROVE_ANNOTATION, "x")])), ["x"]);
        let a = annotations(&[(ROTATE_PASSWORD_ANNOTATION, "t2")]);
        assert_eq!(
            requested(&a, ROTATE_PASSWORD_ANNOTATION, Some("t1")),
            Some("t2")
        );
        assert_eq!(requested(&a, ROTATE_PASSWORD_ANNOTATION, Some("t2")), None);
        let empty = annotations(&[(ROTATE_PASSWORD_ANNOTATION, "")]);
        assert_eq!(requested(&empty, ROTATE_PASSWORD_ANNOTATION, None), None);
    }

    #[test]
    fn approve_on_round_trips() {
        for on in [
            ApproveOn::ProxyOrder,
            ApproveOn::ProxyProvider("shared".into()),
        ] {
            assert_eq!(ApproveOn::parse(&on.to_status()), Some(on));
        }
        assert_eq!(ApproveOn::parse("ProxyProviderX"), None);
        assert_eq!(ApproveOn::parse("ProxyProvider "), None);
    }
}
