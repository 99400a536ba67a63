//! What the operator does not take over: an order another ProxyOrder holds, and a Secret someone
//! else created under the name it publishes to.

use serde_json::json;

use proxy_order_testkit::*;

#[tokio::test]
async fn a_second_proxyorder_for_the_same_order_is_refused() {
    let env = Env::start("conflict").await;
    let spec = json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
                      "port": 9300});
    env.apply("first", spec.clone()).await;
    env.wait_ready("first").await;
    let calls = env.change_calls(ACTIVE).await.len();
    let before = env.sim_order(ACTIVE).await;
    let mut other = spec;
    other["port"] = json!(9301);
    // Revoke on the duplicate: deleting it must not touch the owner's credentials.
    other["deletionPolicy"] = json!("Revoke");
    env.apply("second", other).await;
    let po = env
        .wait_condition("second", "Ready", "False", "OrderConflict")
        .await;
    assert!(condition(&po, "Ready").unwrap().2.contains("first"));
    settle(1).await;
    assert_eq!(
        env.change_calls(ACTIVE).await.len(),
        calls,
        "no call for the second"
    );
    assert_eq!(env.sim_order(ACTIVE).await["access"]["port"], 9300);

    env.delete_and_wait("second").await;
    assert_eq!(
        env.change_calls(ACTIVE).await.len(),
        calls,
        "deleting the duplicate revoked nothing"
    );
    let after = env.sim_order(ACTIVE).await;
    assert_eq!(after["access"], before["access"], "the owner's credentials");
    assert!(
        env.events("second")
            .await
            .iter()
            .any(|(_, reason, _)| reason == "RevokeSkipped"),
        "{:?}",
        env.events("second").await
    );
    env.finish().await;
}

#[tokio::test]
async fn a_secret_created_meanwhile_is_not_taken_over() {
    let mut env = Env::start("takeover").await;
    // The operator pauses between reading the cluster and writing the Secret, after the
    // provider call; meanwhile someone else creates a Secret of that name.
    env.start_operator_pausing("before-secret-write", 4000)
        .await;
    env.apply(
        "t",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 9500}),
    )
    .await;
    env.wait_for("the provider call", 30, async || {
        (env.sim_order(ACTIVE).await["access"]["port"] == 9500).then_some(())
    })
    .await;
    env.put_secret("t-proxy", "owner", "someone-else").await;

    let po = env
        .wait_condition("t", "Ready", "False", "SecretConflict")
        .await;
    assert!(condition(&po, "Ready").unwrap().2.contains("t-proxy"));
    let secret = env.secrets().get("t-proxy").await.unwrap();
    assert_eq!(
        env.secret_data("t-proxy")
            .await
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["owner"],
        "the other Secret's data is untouched"
    );
    assert!(
        secret
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "and it has not been given an owner"
    );

    // Once it is gone, the operator publishes the live credentials there.
    env.secrets()
        .delete("t-proxy", &Default::default())
        .await
        .unwrap();
    env.wait_ready("t").await;
    let data = env.secret_data("t-proxy").await.unwrap();
    let live = env.sim_order(ACTIVE).await;
    assert_eq!(
        data["password"],
        live["access"]["password"].as_str().unwrap()
    );
    assert_eq!(data["port"], "9500");
    assert_eq!(
        env.change_calls(ACTIVE).await.len(),
        1,
        "the provider's first answer was kept, not asked for again"
    );
    env.finish().await;
}
