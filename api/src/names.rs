//! The names users and other programs rely on: annotations, labels, the finalizer, the field
//! managers, the Events' reporter, and the keys of the credentials Secret. Renaming one breaks
//! every cluster that uses it; each is part of the API as much as a CRD field is.
//! [`ALL`] lists them for the generated reference (docs/reference/names.md).

/// A name of the API, as [`ALL`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name {
    /// What it names: `annotation`, `label`, `finalizer`, ...
    pub kind: &'static str,
    /// The Rust constant.
    pub constant: &'static str,
    pub value: &'static str,
    /// Its doc comment.
    pub doc: &'static str,
}

/// Declares each name as a constant with its doc comment, and [`ALL`] listing them.
macro_rules! names {
    ($($(#[doc = $doc:literal])* $kind:literal $name:ident = $value:literal;)*) => {
        $($(#[doc = $doc])* pub const $name: &str = $value;)*

        /// Every name of this module, in order.
        pub const ALL: &[Name] = &[$(Name {
            kind: $kind,
            constant: stringify!($name),
            value: $value,
            doc: concat!($($doc, "\n",)*),
        },)*];
    };
}

names! {
    /// The group of both custom resources.
    "API group" GROUP = "proxy-solutions.net";
    /// The version both custom resources are served at.
    "API version" VERSION = "v1alpha1";
    /// Field manager of every write the operator makes.
    "field manager" FIELD_MANAGER = "proxy-order-operator";
    /// Field manager of the `kubectl pxo` plugin's writes (the annotations it sets).
    "field manager" PLUGIN_FIELD_MANAGER = "kubectl-pxo";
    /// The controller the operator's Events name as their reporter (`reportingController`).
    "Event reporter" EVENT_REPORTER = "proxy-order-operator";
    /// The prefix of every annotation the operator reads on a ProxyOrder.
    "annotation prefix" ANNOTATION_PREFIX = "proxy-solutions.net/";
    /// Annotation whose new value asks for one provider-generated password (`kubectl pxo
    /// rotate`).
    "annotation" ROTATE_PASSWORD_ANNOTATION = "proxy-solutions.net/rotate-password";
    /// Annotation whose new value asks for a refresh from the provider now (`kubectl pxo sync`).
    "annotation" SYNC_REQUESTED_ANNOTATION = "proxy-solutions.net/sync-requested-at";
    /// Annotation that, set to `"true"`, stops all provider calls and every write for the
    /// resource but its status (`Synced=False/Paused`; `kubectl pxo pause`).
    "annotation" PAUSED_ANNOTATION = "proxy-solutions.net/paused";
    /// Annotation approving a change the cost guardrail holds back: the `hash` of one of
    /// `status.plannedChanges` (on the ProxyOrder for `spec.maxQuantity`, on the ProxyProvider
    /// for its `maxQuantity`; several hashes may be given, separated by commas; `kubectl pxo
    /// approve`).
    "annotation" APPROVE_ANNOTATION = "proxy-solutions.net/approve";
    /// `"true"`: when this ProxyOrder is deleted, its order is released at once instead of
    /// staying reserved for the namespace (`--claim-reservation`).
    "annotation" RELEASE_ORDER_ANNOTATION = "proxy-solutions.net/release-order";
    /// Finalizer on a ProxyOrder with `deletionPolicy: Revoke`, removed once the credentials
    /// are revoked.
    "finalizer" FINALIZER = "proxy-solutions.net/revoke";
    /// Label put on every credentials Secret (and order claim) the operator makes, with value
    /// [`MANAGED_BY`].
    "label" MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
    /// The value of [`MANAGED_BY_LABEL`] on what the operator makes.
    "label value" MANAGED_BY = "proxy-order-operator";
    /// Label naming the ProxyOrder a credentials Secret belongs to.
    "label" ORDER_LABEL = "proxy-solutions.net/proxy-order";
    /// Annotation with the provider order id on the credentials Secret and the order claim.
    "annotation" ORDER_ID_ANNOTATION = "proxy-solutions.net/order-id";
    /// Annotation on the credentials Secret holding the salt of the password fingerprints in
    /// status. Kept in the Secret, so that only those who may read the password can see it.
    "annotation" FINGERPRINT_SALT_ANNOTATION = "proxy-solutions.net/fingerprint-salt";
    /// Annotation the operator sets on the Pod template of each `spec.secret.rolloutTargets`
    /// workload: a salted fingerprint of the credentials Secret's data, so that a change of the
    /// credentials changes the template and the workload's Pods are replaced.
    "annotation" CREDENTIALS_HASH_ANNOTATION = "proxy-solutions.net/credentials-hash";
    /// Label on every order claim (a Lease in the operator's namespace, one per claimed order).
    "label" CLAIM_LABEL = "proxy-solutions.net/order-claim";
    /// Label on an order claim with the UID of the ProxyOrder holding it (to find its claims on
    /// deletion).
    "label" HOLDER_UID_LABEL = "proxy-solutions.net/holder-uid";
    /// Annotation on an order claim with `namespace/name` of the holder, for people reading it.
    "annotation" HOLDER_ANNOTATION = "proxy-solutions.net/holder";
    /// Annotation on an order claim with the provider base URL the order id belongs to.
    "annotation" PROVIDER_URL_ANNOTATION = "proxy-solutions.net/provider-url";
    /// Label on a claim whose holder was deleted: the namespace it is reserved for
    /// (`--claim-reservation`). Administrators end a reservation early by deleting the Lease.
    "label" RESERVED_FOR_LABEL = "proxy-solutions.net/reserved-for";
    /// Annotation on a reserved claim: until when (RFC 3339).
    "annotation" RESERVED_UNTIL_ANNOTATION = "proxy-solutions.net/reserved-until";
    /// Credentials Secret key: the proxies' login.
    "Secret key" KEY_LOGIN = "login";
    /// Credentials Secret key: the proxies' password.
    "Secret key" KEY_PASSWORD = "password";
    /// Credentials Secret key: the proxies' port.
    "Secret key" KEY_PORT = "port";
    /// Credentials Secret key: the order's proxy IPs, one per line.
    "Secret key" KEY_IPS = "ips";
    /// Credentials Secret key: `ip:port:login:password`, one proxy per line.
    "Secret key" KEY_PROXIES = "proxies.txt";
    /// Credentials Secret key: `http://login:password@ip:port`, one proxy per line.
    "Secret key" KEY_URLS = "urls";
}

/// Every Secret key the operator always writes: a `spec.secret.template` key may not be one of
/// them (the CRD's CEL rule on the template is built from this list, and rendering skips them).
pub const RESERVED_KEYS: [&str; 6] = [
    KEY_LOGIN,
    KEY_PASSWORD,
    KEY_PORT,
    KEY_IPS,
    KEY_PROXIES,
    KEY_URLS,
];

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn group_and_version_are_the_custom_resources() {
        assert_eq!(crate::ProxyOrder::group(&()), GROUP);
        assert_eq!(crate::ProxyOrder::version(&()), VERSION);
        assert_eq!(crate::ProxyProvider::group(&()), GROUP);
        assert_eq!(crate::ProxyProvider::version(&()), VERSION);
    }

    #[test]
    fn the_list_has_every_name_once_with_its_doc() {
        assert!(ALL.len() >= 30, "{}", ALL.len());
        let approve = ALL
            .iter()
            .find(|n| n.constant == "APPROVE_ANNOTATION")
            .unwrap();
        assert_eq!(
            (approve.kind, approve.value),
            ("annotation", APPROVE_ANNOTATION)
        );
        assert!(approve.doc.contains("cost guardrail"), "{}", approve.doc);
        let mut constants: Vec<&str> = ALL.iter().map(|n| n.constant).collect();
        constants.sort();
        constants.dedup();
        assert_eq!(constants.len(), ALL.len());
        for n in ALL {
            assert!(!n.doc.trim().is_empty(), "{} has no doc", n.constant);
        }
        for key in RESERVED_KEYS {
            assert!(ALL.iter().any(|n| n.kind == "Secret key" && n.value == key));
        }
    }
}
