//! Deletion with `deletionPolicy: Revoke`: what this resource may revoke.

use super::*;

// ---------------------------------------------------------------------------------------------
// Deletion with deletionPolicy: Revoke
// ---------------------------------------------------------------------------------------------

#[test]
fn revoke_only_what_this_resource_managed() {
    let (owner, data) = applied(base_spec());
    let obs = with_secret(&data);
    assert_eq!(
        revoke_refusal(&owner.inputs(), &obs),
        None,
        "the owner revokes"
    );

    // A duplicate that lost OrderConflict never published anything.
    let dup = Res::new(base_spec());
    let conflict = Observed {
        conflict: Some("ProxyOrder first in this namespace".into()),
        ..observed()
    };
    let why = revoke_refusal(&dup.inputs(), &conflict).expect("a duplicate revokes nothing");
    assert!(why.contains("first"), "{why}");

    // One that published credentials once but whose claim another ProxyOrder holds now does
    // not own the order any more either.
    let why = revoke_refusal(
        &owner.inputs(),
        &Observed {
            conflict: Some("a ProxyOrder in another namespace".into()),
            ..with_secret(&data)
        },
    );
    assert!(why.is_some_and(|w| w.contains("another namespace")));

    // Never reconciled (e.g. missing API key from the start): nothing to revoke.
    let why = revoke_refusal(&dup.inputs(), &observed()).expect("never published");
    assert!(why.contains("never published"), "{why}");
}

#[test]
fn a_denied_resource_revokes_nothing() {
    let (owner, data) = applied(base_spec());
    let why = revoke_refusal(
        &owner.inputs(),
        &Observed {
            denied: Some((
                Reason::ProviderNotFound,
                "ProxyProvider gone not found".into(),
            )),
            ..with_secret(&data)
        },
    )
    .expect("no access, no revocation");
    assert!(why.contains("gone not found"), "{why}");
}

#[test]
fn an_observed_order_is_never_revoked() {
    let (owner, data) = applied(base_spec());
    let observer =
        owner.edit(|s| s.management_policy = Some(proxy_order_api::ManagementPolicy::Observe));
    let why = revoke_refusal(&observer.inputs(), &with_secret(&data)).expect("nothing revoked");
    assert!(why.contains("Observe"), "{why}");
}
