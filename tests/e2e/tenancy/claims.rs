//! Order claims between tenants: a tenant cannot take an order another holds (until it is
//! released), and a ProxyOrder without the claim revokes nothing.

use kube::{
    ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use proxy_solutions_sim::SimConfig;
use serde_json::{Value, json};

use proxy_order_testkit::tenancy::{Tenancy, two_tenants, via};
use proxy_order_testkit::*;

const ROTATE: &str = "proxy-solutions.net/rotate-password";

#[tokio::test]
async fn a_tenant_cannot_take_another_tenants_order() {
    let mut t = Tenancy::start("steal", SimConfig::default(), &[]).await;
    let (ns_a, ns_b, provider) = two_tenants(&mut t).await;

    // B claims order 10000 first.
    t.apply(
        &ns_b,
        "holder-b",
        via(
            &provider,
            ACTIVE,
            json!({"port": 8200, "login": "owner-b", "password": {"generate": true}}),
        ),
    )
    .await;
    t.env.wait_ready_in(&ns_b, "holder-b").await;
    t.assert_claimed_by(ACTIVE, &ns_b, "holder-b").await;
    let calls = t.env.change_calls(ACTIVE).await.len();
    let b_secret = t.secret_data(&ns_b, "holder-b-proxy").await.unwrap();
    let sim_before = t.env.sim_order(ACTIVE).await;

    // A names the same order.
    let a_spec = |port: u16| {
        via(
            &provider,
            ACTIVE,
            json!({"port": port, "login": "thief-a", "password": {"generate": true}}),
        )
    };
    t.apply(&ns_a, "claimant-a", a_spec(8201)).await;
    let msg = t.wait_refused(&ns_a, "claimant-a", "OrderConflict").await;
    assert!(msg.contains(&ACTIVE.to_string()), "{msg}");
    assert!(msg.contains("another namespace"), "{msg}");
    assert!(
        !msg.contains(&ns_b) && !msg.contains("holder-b"),
        "the other tenant is named: {msg}"
    );
    t.wait_warning(&ns_a, "claimant-a", "OrderConflict").await;
    for (_, _, note) in t.events(&ns_a, "claimant-a").await {
        assert!(
            !note.contains(&ns_b) && !note.contains("holder-b"),
            "the other tenant is named in an Event: {note}"
        );
    }
    // A's edits change nothing.
    for port in [8202, 8203] {
        t.apply(&ns_a, "claimant-a", a_spec(port)).await;
        t.wait_refused(&ns_a, "claimant-a", "OrderConflict").await;
    }
    // Nor does a rotation request (it would lock B out).
    t.annotate(&ns_a, "claimant-a", ROTATE, Some("r1")).await;
    settle(3).await;
    assert_eq!(
        t.env.change_calls(ACTIVE).await.len(),
        calls,
        "no change call for the other tenant's order"
    );
    assert_eq!(
        t.env.sim_order(ACTIVE).await,
        sim_before,
        "the order is untouched"
    );
    assert_eq!(
        t.secret_data(&ns_b, "holder-b-proxy").await.unwrap(),
        b_secret,
        "B's Secret is untouched"
    );
    assert!(
        t.secret_data(&ns_a, "claimant-a-proxy").await.is_none(),
        "A got no credentials"
    );
    t.assert_claimed_by(ACTIVE, &ns_b, "holder-b").await;
    assert_eq!(
        condition(&t.get(&ns_b, "holder-b").await, "Ready")
            .unwrap()
            .1,
        "Applied"
    );

    t.annotate(&ns_a, "claimant-a", ROTATE, None).await;

    // B deletes its ProxyOrder (to re-create it: orderId is immutable). The order stays
    // reserved for B's namespace: A, waiting for it, does not get it in between.
    delete_and_wait(&t, &ns_b, "holder-b").await;
    let reserved = t
        .env
        .wait_for("the claim reserved for B's namespace", 30, async || {
            let lease = t.claim(ACTIVE).await?;
            (lease.labels().get("proxy-solutions.net/reserved-for") == Some(&ns_b)).then_some(lease)
        })
        .await;
    assert!(
        reserved
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .is_none(),
        "{reserved:?}"
    );
    // Only a claimant of B's namespace is woken by the deletion; A learns of the reservation
    // when it is next looked at (here: an edit).
    t.apply(&ns_a, "claimant-a", a_spec(8204)).await;
    let msg = t
        .env
        .wait_for("A told the order is reserved", 30, async || {
            let po = t.get(&ns_a, "claimant-a").await;
            let (status, reason, msg) = condition(&po, "Ready")?;
            (status == "False" && reason == "OrderConflict" && msg.contains("reserved"))
                .then_some(msg)
        })
        .await;
    assert!(!msg.contains(&ns_b), "the other tenant is named: {msg}");
    assert_eq!(
        t.env.change_calls(ACTIVE).await.len(),
        calls,
        "no call for A"
    );
    assert!(t.secret_data(&ns_a, "claimant-a-proxy").await.is_none());

    // B re-creates it: its namespace takes the order back.
    t.apply(
        &ns_b,
        "holder-b",
        via(&provider, ACTIVE, json!({"port": 8200, "login": "owner-b"})),
    )
    .await;
    t.env.wait_ready_in(&ns_b, "holder-b").await;
    t.assert_claimed_by(ACTIVE, &ns_b, "holder-b").await;
    let calls = t.env.change_calls(ACTIVE).await.len();

    // B lets the order go (release-order, then delete): the one waiting for it, A, takes it
    // over, without a nudge.
    t.annotate(
        &ns_b,
        "holder-b",
        "proxy-solutions.net/release-order",
        Some("true"),
    )
    .await;
    delete_and_wait(&t, &ns_b, "holder-b").await;
    t.env.wait_ready_in(&ns_a, "claimant-a").await;
    t.assert_claimed_by(ACTIVE, &ns_a, "claimant-a").await;
    let sim = t.env.sim_order(ACTIVE).await;
    assert_eq!(sim["access"]["port"], 8204, "A's latest spec");
    assert_eq!(sim["access"]["login"], "thief-a");
    let a_secret = t.secret_data(&ns_a, "claimant-a-proxy").await.unwrap();
    assert_eq!(
        Value::String(a_secret["password"].clone()),
        sim["access"]["password"]
    );
    let new_calls = &t.env.change_calls(ACTIVE).await[calls..];
    assert_eq!(
        new_calls.len(),
        1,
        "one call for the take-over: {new_calls:#?}"
    );
    assert_eq!(new_calls[0]["body"]["port"], 8204);

    // Leaks are checked while the ProxyOrders still exist (their statuses).
    t.assert_no_leaks(&[&b_secret["password"], &a_secret["password"]])
        .await;
    // Deleting the holder with release-order releases the claim.
    t.annotate(
        &ns_a,
        "claimant-a",
        "proxy-solutions.net/release-order",
        Some("true"),
    )
    .await;
    delete_and_wait(&t, &ns_a, "claimant-a").await;
    t.env
        .wait_for("the claim released", 30, async || {
            t.claim(ACTIVE).await.is_none().then_some(())
        })
        .await;
    t.assert_no_forbidden();
    t.finish().await;
}

/// Deletes ProxyOrder `ns/name` and waits until it is gone.
async fn delete_and_wait(t: &Tenancy, ns: &str, name: &str) {
    t.orders(ns)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    t.env
        .wait_for(&format!("{ns}/{name} deleted"), 30, async || {
            t.orders(ns)
                .get_opt(name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
}

/// A ProxyOrder that does not hold an order's claim never revokes it on deletion, not even
/// when it once published credentials (here: a status as a pre-claims duplicate would have
/// one) and the order list fails, so that the claim is neither taken nor compared.
#[tokio::test]
async fn a_revoke_without_the_claim_waits_and_revokes_nothing() {
    let mut t = Tenancy::start("revoke", SimConfig::default(), &[]).await;
    let (ns_a, ns_b, provider) = two_tenants(&mut t).await;
    t.apply(
        &ns_b,
        "holder-b",
        via(&provider, ACTIVE, json!({"port": 8400})),
    )
    .await;
    t.env.wait_ready_in(&ns_b, "holder-b").await;
    let calls = t.env.change_calls(ACTIVE).await.len();
    let order_before = t.env.sim_order(ACTIVE).await;

    // Every order list fails from now on. A (its own list: another currency) never sees the
    // order listed, so observe never compares claims for it.
    t.env
        .sim_post(
            "/faults",
            json!({"endpoint": "list", "status": 503, "count": 100000}),
        )
        .await;
    t.apply(
        &ns_a,
        "dup-a",
        via(
            &provider,
            ACTIVE,
            json!({"port": 8401, "currency": "EUR", "deletionPolicy": "Revoke"}),
        ),
    )
    .await;
    t.wait_refused(&ns_a, "dup-a", "ProviderUnavailable").await;
    // As if it had published the order's credentials once.
    t.orders(&ns_a)
        .patch_status(
            "dup-a",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "access": {"port": 8400, "login": "x", "ipList": []},
                "passwordFingerprint": "sha256:00000000000000000000000000000000",
            }})),
        )
        .await
        .unwrap();
    t.orders(&ns_a)
        .delete("dup-a", &DeleteParams::default())
        .await
        .unwrap();
    settle(6).await;
    assert!(
        t.orders(&ns_a).get_opt("dup-a").await.unwrap().is_some(),
        "the revocation waits while the claim cannot be checked"
    );
    assert_eq!(
        t.env.change_calls(ACTIVE).await.len(),
        calls,
        "no revocation without the claim"
    );

    // Lists work again: A is found not to hold the claim and goes without revoking.
    reqwest::Client::new()
        .delete(format!("{}/faults", t.env.sim.admin_url()))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    t.env
        .wait_for("dup-a deleted", 30, async || {
            t.orders(&ns_a)
                .get_opt("dup-a")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
    assert_eq!(t.env.change_calls(ACTIVE).await.len(), calls);
    assert_eq!(t.env.sim_order(ACTIVE).await, order_before);
    assert!(
        t.events(&ns_a, "dup-a")
            .await
            .iter()
            .any(|(_, reason, _)| reason == "RevokeSkipped"),
        "{:?}",
        t.events(&ns_a, "dup-a").await
    );
    t.assert_claimed_by(ACTIVE, &ns_b, "holder-b").await;
    t.assert_no_forbidden();
    t.finish().await;
}
