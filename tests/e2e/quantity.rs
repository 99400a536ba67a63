//! Quantity changes: an active order waits for its expiry, a mobile order sends the quantity
//! only.

use serde_json::{Value, json};

use proxy_order_testkit::*;

#[tokio::test]
async fn quantity_waits_for_expiry_then_applies_once() {
    let env = Env::start("quantity").await;
    let order = env.sim_order(ACTIVE).await;
    let ips = proxy_ips(&order);
    env.apply(
        "q",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "quantity": 4, "removeProxies": [ips[0], "192.0.2.250"]}),
    )
    .await;
    let po = env
        .wait_condition("q", "Synced", "False", "WaitingForExpiry")
        .await;
    assert!(condition(&po, "Synced").unwrap().2.contains("from 2 to 4"));
    assert_eq!(
        condition(&po, "Ready").unwrap().0,
        "True",
        "Ready stays true"
    );
    assert!(
        env.change_calls(ACTIVE)
            .await
            .iter()
            .all(|c| c["body"].get("quantity").is_none()),
        "no quantity call while active"
    );

    env.sim_post(
        &format!("/orders/{ACTIVE}/status"),
        json!({"status": "waiting"}),
    )
    .await;
    env.annotate("q", "proxy-solutions.net/sync-requested-at", "1")
        .await;
    let po = env.wait_condition("q", "Synced", "True", "Applied").await;
    let quantity_calls: Vec<Value> = env
        .change_calls(ACTIVE)
        .await
        .into_iter()
        .filter(|c| c["body"].get("quantity").is_some())
        .collect();
    assert_eq!(quantity_calls.len(), 1, "{quantity_calls:#?}");
    assert_eq!(
        body(&quantity_calls[0]),
        &json!({"quantity": 4, "remove_proxies": [ips[0]]}),
        "only the IPs in the order are removed"
    );
    let proxies = po.status.unwrap().proxies.unwrap();
    assert_eq!(proxies.len(), 4);
    assert!(!proxies.contains(&ips[0]));
    let data = env.secret_data("q-proxy").await.unwrap();
    assert_eq!(data["ips"].lines().count(), 4);
    settle(2).await;
    let again = env
        .change_calls(ACTIVE)
        .await
        .into_iter()
        .filter(|c| c["body"].get("quantity").is_some())
        .count();
    assert_eq!(again, 1, "the quantity change is not repeated");
    env.finish().await;
}

#[tokio::test]
async fn mobile_quantity_change_sends_quantity_only() {
    let env = Env::start("mobile").await;
    env.sim_post(
        &format!("/orders/{MOBILE}/status"),
        json!({"status": "waiting"}),
    )
    .await;
    env.apply(
        "m",
        json!({"orderId": MOBILE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "quantity": 3, "removeProxies": ["192.0.2.1"]}),
    )
    .await;
    env.wait_condition("m", "Synced", "True", "Applied").await;
    let calls: Vec<Value> = env
        .change_calls(MOBILE)
        .await
        .into_iter()
        .filter(|c| c["body"].get("quantity").is_some())
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(body(&calls[0]), &json!({"quantity": 3}));
    env.finish().await;
}
