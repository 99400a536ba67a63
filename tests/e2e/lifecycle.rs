//! A ProxyOrder's life: the first reconcile, idling, an edit, pausing, a sync request, deletion
//! and re-creation under the same name.

use serde_json::{Value, json};

use proxy_order_testkit::*;

#[tokio::test]
async fn first_reconcile_publishes_secret_and_status() {
    let env = Env::start("first").await;
    env.apply(
        "web",
        json!({
            "orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
            "port": 8100, "login": "team-a", "ipAuth": ["192.0.2.10"],
            "password": {"generate": true},
            "secret": {"labels": {"team": "a"}, "annotations": {"note": "x"}}
        }),
    )
    .await;
    let po = env.wait_ready("web").await;
    let calls = env.change_calls(ACTIVE).await;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let b = body(&calls[0]);
    assert_eq!(b["port"], 8100);
    assert_eq!(b["login"], "team-a");
    assert_eq!(b["ip_auth"], json!(["192.0.2.10"]));
    assert_eq!(b["gen_password"], true);
    assert!(b.get("quantity").is_none() && b.get("remove_proxies").is_none());

    let sim = env.sim_order(ACTIVE).await;
    let data = env
        .secret_data("web-proxy")
        .await
        .expect("Secret web-proxy");
    assert_eq!(data["login"], "team-a");
    assert_eq!(data["port"], "8100");
    assert_eq!(
        Value::String(data["password"].clone()),
        sim["access"]["password"]
    );
    let ips = proxy_ips(&sim);
    assert_eq!(
        data["ips"],
        ips.iter().map(|ip| format!("{ip}\n")).collect::<String>()
    );
    assert_eq!(
        data["proxies.txt"].lines().next().unwrap(),
        format!("{}:8100:team-a:{}", ips[0], data["password"])
    );
    assert!(data["urls"].starts_with("http://team-a:"));

    let secret = env.secrets().get("web-proxy").await.unwrap();
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "ProxyOrder");
    assert_eq!(owner.controller, Some(true));
    assert_eq!(secret.metadata.labels.as_ref().unwrap()["team"], "a");
    assert_eq!(secret.metadata.annotations.as_ref().unwrap()["note"], "x");

    let st = po.status.unwrap();
    let access = st.access.unwrap();
    assert_eq!((access.port, access.login.as_str()), (8100, "team-a"));
    assert_eq!(access.ip_list, vec!["192.0.2.10"]);
    assert_eq!(st.proxies.unwrap(), ips);
    assert_eq!(st.secret_name.as_deref(), Some("web-proxy"));
    assert_eq!(st.order.unwrap().status, "active");
    assert!(st.last_applied_hash.is_some());
    assert_eq!(st.observed_generation, po.metadata.generation);
    let synced = condition(&env.get("web").await, "Synced").unwrap();
    assert_eq!((synced.0.as_str(), synced.1.as_str()), ("True", "Applied"));
    let metrics = env.metrics().await;
    for line in [
        r#"proxy_order_provider_requests_total{endpoint="change",code="200"} 1"#,
        r#"proxy_order_orders{ready="True",synced="True"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    env.assert_no_leaks(&[&data["password"]]).await;
    env.finish().await;
}

#[tokio::test]
async fn nothing_changed_costs_no_calls_and_no_writes() {
    let mut env = Env::start_with("idle", &["--refresh-interval", "2s"]).await;
    let spec = json!({
        "orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
        "port": 8200, "login": "idle", "password": {"generate": true}
    });
    env.apply("idle", spec.clone()).await;
    env.wait_ready("idle").await;
    settle(1).await;
    let po_rv = env.get("idle").await.metadata.resource_version;
    let secret_rv = env
        .secrets()
        .get("idle-proxy")
        .await
        .unwrap()
        .metadata
        .resource_version;
    let calls = env.change_calls(ACTIVE).await.len();
    let lists = env.list_calls().await;

    env.apply("idle", spec.clone()).await; // re-apply, unchanged
    settle(5).await; // two refresh intervals
    env.start_operator(None).await; // restart
    settle(3).await;

    assert_eq!(
        env.change_calls(ACTIVE).await.len(),
        calls,
        "no change calls"
    );
    assert!(
        env.list_calls().await > lists,
        "the periodic refresh lists orders"
    );
    assert_eq!(
        env.get("idle").await.metadata.resource_version,
        po_rv,
        "no ProxyOrder write"
    );
    assert_eq!(
        env.secrets()
            .get("idle-proxy")
            .await
            .unwrap()
            .metadata
            .resource_version,
        secret_rv,
        "no Secret write"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_changed_field_is_one_call_with_only_that_field() {
    let env = Env::start("edit").await;
    let mut spec = json!({
        "orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
        "port": 8300, "login": "edit-a"
    });
    env.apply("edit", spec.clone()).await;
    env.wait_ready("edit").await;
    let before = env.change_calls(ACTIVE).await.len();
    spec["port"] = json!(8301);
    env.apply("edit", spec).await;
    env.wait_for("Secret port 8301", 30, async || {
        (env.secret_data("edit-proxy").await?["port"] == "8301").then_some(())
    })
    .await;
    settle(1).await;
    let calls = env.change_calls(ACTIVE).await;
    assert_eq!(calls.len(), before + 1, "{calls:#?}");
    assert_eq!(body(calls.last().unwrap()), &json!({"port": 8301}));
    env.finish().await;
}

#[tokio::test]
async fn paused_orders_make_no_calls_and_can_be_deleted() {
    let env = Env::start("paused").await;
    let spec = json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
                      "port": 8600});
    env.apply("p", spec.clone()).await;
    env.wait_ready("p").await;
    env.annotate("p", "proxy-solutions.net/paused", "true")
        .await;
    env.wait_condition("p", "Synced", "False", "Paused").await;
    let before = env.requests().await.len();
    let mut changed = spec.clone();
    changed["port"] = json!(8601);
    env.apply("p", changed).await;
    settle(3).await;
    assert_eq!(
        env.requests().await.len(),
        before,
        "no provider calls while paused"
    );
    env.delete_and_wait("p").await;
    env.finish().await;
}

#[tokio::test]
async fn sync_requested_at_refreshes_from_the_provider() {
    let env = Env::start("sync").await;
    env.apply(
        "s",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8650}),
    )
    .await;
    env.wait_ready("s").await;
    let lists = env.list_calls().await;
    env.sim_post(
        &format!("/orders/{ACTIVE}/status"),
        json!({"status": "active.suspended"}),
    )
    .await;
    env.annotate("s", "proxy-solutions.net/sync-requested-at", "now-1")
        .await;
    env.wait_for("status shows the provider's new state", 30, async || {
        let po = env.get("s").await;
        (po.status?.order?.status == "active.suspended").then_some(())
    })
    .await;
    assert_eq!(env.list_calls().await, lists + 1);
    env.finish().await;
}

#[tokio::test]
async fn deleting_makes_no_call_and_the_secret_is_collected() {
    let env = Env::start("delete").await;
    env.apply(
        "d",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8700}),
    )
    .await;
    env.wait_ready("d").await;
    let before = env.requests().await.len();
    env.orders().delete("d", &Default::default()).await.unwrap();
    env.wait_for("Secret garbage-collected", 60, async || {
        env.secrets()
            .get_opt("d-proxy")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let after: Vec<Value> = env.requests().await.into_iter().skip(before).collect();
    assert!(
        after.iter().all(|r| r["method"] != "POST"),
        "no provider change on delete: {after:#?}"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_recreated_proxyorder_starts_afresh() {
    // The first one's request is refused (terminal: not retried unchanged for
    // --terminal-recheck). Deleted and created again with the same name and spec, the new
    // resource must not inherit that gate, or its first request would wait 10 minutes.
    let env = Env::start("recreate").await;
    env.sim_post(
        "/faults",
        json!({"endpoint": "change", "status": 422, "count": 1}),
    )
    .await;
    let spec = json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
                      "port": 9600});
    env.apply("again", spec.clone()).await;
    env.wait_condition("again", "Ready", "False", "ProviderRejected")
        .await;
    env.delete_and_wait("again").await;
    env.apply("again", spec).await;
    env.wait_ready("again").await;
    assert_eq!(env.sim_order(ACTIVE).await["access"]["port"], 9600);
    let statuses: Vec<i64> = env
        .change_calls(ACTIVE)
        .await
        .iter()
        .map(|c| c["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![422, 200]);
    env.finish().await;
}
