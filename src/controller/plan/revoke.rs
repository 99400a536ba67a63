//! Deletion with `deletionPolicy: Revoke`: whether this resource may revoke the order's
//! credentials.

use super::{Inputs, Observed};

/// Why deleting a ProxyOrder with `deletionPolicy: Revoke` must not revoke the order's
/// credentials, if it must not: the resource never managed the order (it never published its
/// credentials), or another ProxyOrder owns the order now. Revoking then would rotate the
/// password and clear the allow-list under the real owner.
pub fn revoke_refusal(inp: &Inputs, obs: &Observed) -> Option<String> {
    let order = inp.spec.order_id;
    // The API server refuses Observe with Revoke; an object from before that rule is not
    // changed at the provider either.
    if inp.spec.observes() {
        return Some(format!(
            "managementPolicy is Observe, which never changes order {order}: nothing revoked"
        ));
    }
    if let Some((_, why)) = &obs.denied {
        return Some(format!("{why}: nothing revoked"));
    }
    if let Some(other) = &obs.conflict {
        return Some(format!(
            "order {order} is managed by {other}, not by this one: nothing revoked"
        ));
    }
    if inp.status.access.is_none() || inp.status.password_fingerprint.is_none() {
        return Some(format!(
            "this ProxyOrder never published the credentials of order {order}: nothing revoked"
        ));
    }
    None
}
