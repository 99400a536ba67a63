//! How the operator is run: replicas with leader election, shards by label selector, and only
//! the Helm chart's permissions.

use serde_json::json;

use crate::PW_CANARY;
use proxy_order_testkit::*;

#[tokio::test]
async fn one_leader_reconciles_and_a_successor_takes_over() {
    // The lease must outlast a provider call: a 1 s provider timeout allows a 5 s lease.
    let lease = [
        "--leader-election",
        "--lease-duration",
        "5s",
        "--provider-timeout",
        "1s",
    ];
    let mut env = Env::start_with("leader", &lease).await;
    let b = env.spawn_replica("b", &[]);
    env.wait_for("replica b waits for leadership", 30, async || {
        b.log_text()
            .contains("waiting for leadership")
            .then_some(())
    })
    .await;
    env.apply(
        "l",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8900}),
    )
    .await;
    env.wait_ready("l").await;
    let b_text = b.log_text();
    assert!(
        !b_text.contains("provider call"),
        "the follower made no call:\n{b_text}"
    );
    assert!(env.log_text().contains("provider call succeeded"));

    env.stop_operator(); // SIGKILL: no release, so the lease has to expire
    env.wait_for("replica b takes over", 30, async || {
        b.log_text().contains("acquired leadership").then_some(())
    })
    .await;
    env.apply(
        "l",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8901}),
    )
    .await;
    env.wait_for("the new leader applies", 30, async || {
        (env.sim_order(ACTIVE).await["access"]["port"] == 8901).then_some(())
    })
    .await;
    drop(b);
    env.finish().await;
}

#[tokio::test]
async fn a_selector_shards_which_orders_an_instance_reconciles() {
    let env = Env::start_with("shard", &["--selector", "shard=a"]).await;
    let spec = json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
                      "port": 9200});
    env.apply_full(
        "mine",
        json!({"metadata": {"labels": {"shard": "a"}}, "spec": spec.clone()}),
    )
    .await;
    env.apply_full(
        "other",
        json!({"metadata": {"labels": {"shard": "b"}}, "spec": spec}),
    )
    .await;
    env.wait_ready("mine").await;
    settle(2).await;
    assert!(
        env.get("other").await.status.is_none(),
        "another shard's order is left alone"
    );
    assert!(
        env.secrets()
            .get_opt("other-proxy")
            .await
            .unwrap()
            .is_none()
    );
    env.finish().await;
}

#[tokio::test]
async fn the_charts_permissions_are_enough() {
    // The operator impersonates the chart's ServiceAccount: an RBAC gap fails this test.
    let env = Env::start_as_chart("rbac").await;
    env.put_secret("pw", "password", PW_CANARY).await;
    let spec = json!({
        "orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
        "port": 9100, "login": "rbac", "ipAuth": ["192.0.2.9"],
        "password": {"secretKeyRef": {"name": "pw", "key": "password"}},
        "deletionPolicy": "Revoke"
    });
    env.apply("r", spec.clone()).await;
    env.wait_ready("r").await;
    assert_eq!(
        env.secret_data("r-proxy").await.unwrap()["password"],
        PW_CANARY
    );
    // The record of the call is published beside the credentials, not before them.
    env.wait_for("the Applied event", 30, async || {
        env.events("r")
            .await
            .iter()
            .any(|e| e.1 == "Applied")
            .then_some(())
    })
    .await;
    let mut changed = spec.clone();
    changed["port"] = json!(9101);
    env.apply("r", changed).await;
    env.wait_for("the change is applied", 30, async || {
        (env.secret_data("r-proxy").await?["port"] == "9101").then_some(())
    })
    .await;
    env.delete_and_wait("r").await;
    let log = env.log_text();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "RBAC denial in the log:\n{log}"
    );
    env.assert_no_leaks(&[PW_CANARY]).await;
    env.finish().await;
}

#[tokio::test]
async fn a_standby_stops_at_once_on_sigterm_and_is_ready_only_while_a_leader_renews() {
    let lease = [
        "--leader-election",
        "--lease-duration",
        "5s",
        "--provider-timeout",
        "1s",
    ];
    let mut env = Env::start_with("standby", &lease).await;
    // A standby that sees the leader renew is ready to take over.
    let mut b = env.spawn_replica("b", &[]);
    env.wait_for("standby b ready while the leader renews", 30, async || {
        (b.readyz().await == Some(200)).then_some(())
    })
    .await;
    // SIGTERM: it ends at once (nothing to hand over), without waiting for a grace period.
    b.signal("TERM").unwrap();
    let asked = std::time::Instant::now();
    let status = env
        .wait_for("standby b exits", 10, async || b.exit_status())
        .await;
    let took = asked.elapsed();
    println!("a standby stopped {took:?} after SIGTERM ({status})");
    assert!(status.success(), "{status}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    let b_text = b.log_text();
    assert!(!b_text.contains("acquired leadership"), "{b_text}");

    // The leader vanishes without giving the lease up: a standby sees nobody renew it and says
    // it is not ready until it has taken over (then nothing is left waiting on it).
    let c = env.spawn_replica("c", &[]);
    env.wait_for("standby c ready while the leader renews", 30, async || {
        (c.readyz().await == Some(200)).then_some(())
    })
    .await;
    env.stop_operator();
    env.wait_for("standby c not ready: no leader renews", 30, async || {
        (c.readyz().await == Some(503)).then_some(())
    })
    .await;
    env.wait_for("standby c takes over and is ready", 30, async || {
        (c.log_text().contains("acquired leadership") && c.readyz().await == Some(200))
            .then_some(())
    })
    .await;
    drop(c);
    env.finish().await;
}
