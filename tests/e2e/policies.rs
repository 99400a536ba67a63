//! `managementPolicy: Observe` (publish, never change) and the quantity cost guardrail
//! (`maxQuantity`, `status.plannedChanges`, the approve annotation).

use serde_json::{Value, json};

use proxy_order_testkit::*;

const APPROVE: &str = "proxy-solutions.net/approve";

#[tokio::test]
async fn observe_publishes_the_credentials_and_never_sends_a_change() {
    let env = Env::start("observe").await;
    let before = env.sim_order(ACTIVE).await;
    let spec = |policy: &str, login: &str| {
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "managementPolicy": policy, "port": 9100, "login": login})
    };
    env.apply("o", spec("Observe", "watcher")).await;
    let po = env
        .wait_condition("o", "Synced", "False", "ObserveOnly")
        .await;
    let msg = condition(&po, "Synced").unwrap().2;
    assert!(msg.contains("port, login"), "{msg}");
    env.wait_condition("o", "Ready", "True", "Observed").await;
    let data = env.secret_data("o-proxy").await.unwrap();
    assert_eq!(data["port"], before["access"]["port"].to_string());
    assert_eq!(data["login"], before["access"]["login"].as_str().unwrap());

    // An edit and a forced refresh: still nothing sent.
    env.apply("o", spec("Observe", "watcher-2")).await;
    env.annotate("o", "proxy-solutions.net/sync-requested-at", "1")
        .await;
    env.wait_for("the refresh is recorded", 30, async || {
        let po = env.get("o").await;
        let st = po.status?;
        (st.sync_requested.as_deref() == Some("1")
            && st.observed_generation == po.metadata.generation)
            .then_some(())
    })
    .await;
    assert_eq!(env.changes_sent(ACTIVE).await, Vec::<Value>::new());
    // The one empty-body read that published the credentials; the edit and the forced
    // refresh read nothing more.
    let reads = env.change_calls(ACTIVE).await;
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert_eq!(env.sim_order(ACTIVE).await["access"], before["access"]);

    // Manage applies the spec with one call.
    env.apply("o", spec("Manage", "watcher-2")).await;
    env.wait_condition("o", "Synced", "True", "Applied").await;
    let sent = env.changes_sent(ACTIVE).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(body(&sent[0]), &json!({"port": 9100, "login": "watcher-2"}));
    assert_eq!(env.secret_data("o-proxy").await.unwrap()["port"], "9100");
    env.finish().await;
}

#[tokio::test]
async fn a_quantity_increase_above_the_limit_waits_for_its_approval() {
    let env = Env::start("guardrail").await;
    let (_, want, hash) = env.hold_a_quantity_increase("g").await;

    // A stale approval (another hash) does nothing; the right one sends exactly one call.
    // (The refresh request after it shows when a reconcile has seen it.)
    env.annotate("g", APPROVE, "0123456789abcdef").await;
    env.annotate("g", "proxy-solutions.net/sync-requested-at", "stale")
        .await;
    env.wait_for("the stale approval is looked at", 30, async || {
        let st = env.get("g").await.status?;
        (st.sync_requested.as_deref() == Some("stale")).then_some(())
    })
    .await;
    let po = env.get("g").await;
    assert_eq!(condition(&po, "Synced").unwrap().1, "AwaitingApproval");
    assert_eq!(
        env.quantity_calls(EXPIRED).await,
        0,
        "a stale approval sends nothing"
    );
    env.annotate("g", APPROVE, &hash).await;
    let po = env.wait_condition("g", "Synced", "True", "Applied").await;
    assert!(po.status.unwrap().planned_changes.is_empty());
    assert_eq!(env.quantity_calls(EXPIRED).await, 1);
    assert_eq!(
        env.sim_order(EXPIRED).await["quantity"].as_u64(),
        Some(want)
    );
    env.finish().await;
}

#[tokio::test]
async fn an_approval_waits_with_its_change_for_the_orders_term() {
    let env = Env::start("approve-active").await;
    let have = env.sim_order(ACTIVE).await["quantity"].as_u64().unwrap();
    let want = have + 2;
    env.apply(
        "w",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "quantity": want, "maxQuantity": have + 1}),
    )
    .await;
    let po = env
        .wait_condition("w", "Synced", "False", "AwaitingApproval")
        .await;
    let hash = po.status.unwrap().planned_changes[0].hash.clone();

    // Approved while the order is active: listed as approved, waiting for the term.
    env.annotate("w", APPROVE, &hash).await;
    let po = env
        .wait_condition("w", "Synced", "False", "WaitingForExpiry")
        .await;
    let planned = po.status.unwrap().planned_changes;
    assert_eq!(planned.len(), 1, "{planned:#?}");
    assert_eq!(
        (planned[0].hash.as_str(), planned[0].approved),
        (hash.as_str(), true)
    );
    // Reconciled again (a refresh): the approval still holds for the same change.
    env.annotate("w", "proxy-solutions.net/sync-requested-at", "again")
        .await;
    env.wait_for("the refresh is recorded", 30, async || {
        let st = env.get("w").await.status?;
        (st.sync_requested.as_deref() == Some("again")).then_some(st)
    })
    .await;
    let po = env.get("w").await;
    assert_eq!(condition(&po, "Synced").unwrap().1, "WaitingForExpiry");
    assert_eq!(po.status.unwrap().planned_changes[0].hash, hash);
    assert_eq!(
        env.quantity_calls(ACTIVE).await,
        0,
        "nothing sent while active"
    );

    // The term ends: the approved change is sent once, with no new approval.
    env.sim_post(
        &format!("/orders/{ACTIVE}/status"),
        json!({"status": "waiting"}),
    )
    .await;
    env.annotate("w", "proxy-solutions.net/sync-requested-at", "expired")
        .await;
    let po = env.wait_condition("w", "Synced", "True", "Applied").await;
    assert!(po.status.unwrap().planned_changes.is_empty());
    settle(1).await;
    assert_eq!(
        env.quantity_calls(ACTIVE).await,
        1,
        "exactly one quantity call"
    );
    assert_eq!(env.sim_order(ACTIVE).await["quantity"].as_u64(), Some(want));
    env.finish().await;
}
