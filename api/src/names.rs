//! The names users and other programs rely on: annotations, labels, the finalizer, the field
//! manager, and the keys of the credentials Secret. Renaming one breaks every cluster that
//! uses it; each is part of the API as much as a CRD field is.

/// The group of both custom resources.
pub const GROUP: &str = "proxy-solutions.net";

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "proxy-order-operator";
/// Field manager of the `kubectl pxo` plugin's writes (the annotations it sets).
pub const PLUGIN_FIELD_MANAGER: &str = "kubectl-pxo";
/// The prefix of every annotation the operator reads on a ProxyOrder.
pub const ANNOTATION_PREFIX: &str = "proxy-solutions.net/";
/// Label put on every credentials Secret (and order claim) the operator makes, with value
/// [`MANAGED_BY`].
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "proxy-order-operator";
/// Label naming the ProxyOrder a credentials Secret belongs to.
pub const ORDER_LABEL: &str = "proxy-solutions.net/proxy-order";
/// Annotation with the provider order id on the credentials Secret and the order claim.
pub const ORDER_ID_ANNOTATION: &str = "proxy-solutions.net/order-id";
/// Annotation whose new value asks for one provider-generated password.
pub const ROTATE_PASSWORD_ANNOTATION: &str = "proxy-solutions.net/rotate-password";
/// Annotation whose new value asks for a refresh from the provider now.
pub const SYNC_REQUESTED_ANNOTATION: &str = "proxy-solutions.net/sync-requested-at";
/// Annotation that, set to `"true"`, stops all provider calls and writes for the resource.
pub const PAUSED_ANNOTATION: &str = "proxy-solutions.net/paused";
/// `"true"`: when this ProxyOrder is deleted, its order is released at once instead of staying
/// reserved for the namespace (`--claim-reservation`).
pub const RELEASE_ORDER_ANNOTATION: &str = "proxy-solutions.net/release-order";
/// Annotation on the credentials Secret holding the salt of the password fingerprints in status.
/// Kept in the Secret, so that only those who may read the password can see it.
pub const FINGERPRINT_SALT_ANNOTATION: &str = "proxy-solutions.net/fingerprint-salt";
/// Finalizer used only with `deletionPolicy: Revoke`.
pub const FINALIZER: &str = "proxy-solutions.net/revoke";
/// Annotation the operator sets on the Pod template of each `spec.secret.rolloutTargets`
/// workload: a salted fingerprint of the credentials Secret's data, so that a change of the
/// credentials changes the template and the workload's Pods are replaced.
pub const CREDENTIALS_HASH_ANNOTATION: &str = "proxy-solutions.net/credentials-hash";
/// Annotation approving a change the cost guardrail holds back: the `hash` of one of
/// `status.plannedChanges` (on the ProxyOrder for `spec.maxQuantity`, on the ProxyProvider for
/// its `maxQuantity`; several hashes may be given, separated by commas).
pub const APPROVE_ANNOTATION: &str = "proxy-solutions.net/approve";

/// Label on every order claim (a Lease in the operator's namespace, one per claimed order).
pub const CLAIM_LABEL: &str = "proxy-solutions.net/order-claim";
/// Label with the UID of the ProxyOrder holding the claim (to find its claims on deletion).
pub const HOLDER_UID_LABEL: &str = "proxy-solutions.net/holder-uid";
/// Annotation with `namespace/name` of the holder, for people reading the claim.
pub const HOLDER_ANNOTATION: &str = "proxy-solutions.net/holder";
/// Annotation with the provider base URL the order id belongs to.
pub const PROVIDER_URL_ANNOTATION: &str = "proxy-solutions.net/provider-url";
/// Label on a claim whose holder was deleted: the namespace it is reserved for
/// (`--claim-reservation`). Administrators end a reservation early by deleting the Lease.
pub const RESERVED_FOR_LABEL: &str = "proxy-solutions.net/reserved-for";
/// Annotation on a reserved claim: until when (RFC 3339).
pub const RESERVED_UNTIL_ANNOTATION: &str = "proxy-solutions.net/reserved-until";

/// Keys the operator always writes into the credentials Secret.
pub const KEY_LOGIN: &str = "login";
pub const KEY_PASSWORD: &str = "password";
pub const KEY_PORT: &str = "port";
pub const KEY_IPS: &str = "ips";
pub const KEY_PROXIES: &str = "proxies.txt";
pub const KEY_URLS: &str = "urls";
/// Every key above: a `spec.secret.template` key may not be one of them (the CRD's CEL rule
/// on the template is built from this list, and rendering skips them).
pub const RESERVED_KEYS: [&str; 6] = [
    KEY_LOGIN,
    KEY_PASSWORD,
    KEY_PORT,
    KEY_IPS,
    KEY_PROXIES,
    KEY_URLS,
];
