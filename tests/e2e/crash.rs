//! The operator killed at failpoints mid-reconcile: nothing is lost and nothing the provider
//! must not see twice is sent twice.

use serde_json::{Value, json};

use proxy_order_testkit::*;

#[tokio::test]
async fn crash_after_password_generation_loses_nothing() {
    // (kill point, most password generations that may take effect). Killed after the call but
    // before anything was written, with no earlier password to compare with, the operator
    // cannot tell whether the generation happened: one extra is the documented worst case.
    for (point, most) in [
        ("before-provider-call", 1),
        ("after-provider-call", 2),
        ("after-secret-write", 1),
        ("after-status-write", 1),
    ] {
        // A short provider timeout: after a death with a call in flight, the operator reads
        // the outcome only two timeouts (and a second) after the call started.
        let mut env = Env::start_with("crash", &["--provider-timeout", "2s"]).await;
        env.stop_operator();
        env.start_operator(Some(point)).await;
        env.apply(
            "c",
            json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
                   "password": {"generate": true}}),
        )
        .await;
        env.wait_operator_exit().await;
        env.start_operator(None).await;
        // Converged: the spec is applied and the Secret holds the provider's live password.
        env.wait_condition("c", "Synced", "True", "Applied").await;
        env.wait_ready("c").await;
        env.wait_for("the Secret holds the live password", 30, async || {
            let sim_pw = env.sim_order(ACTIVE).await["access"]["password"].clone();
            let data = env.secret_data("c-proxy").await?;
            (Value::String(data["password"].clone()) == sim_pw).then_some(())
        })
        .await;
        let gens = env
            .change_calls(ACTIVE)
            .await
            .iter()
            .filter(|c| c["body"]["gen_password"] == true && c["status"] == 200)
            .count();
        assert!(
            (1..=most).contains(&gens),
            "{point}: {gens} password generations, expected 1..={most}"
        );
        env.finish().await;
    }
}

#[tokio::test]
async fn crash_after_removing_proxies_never_removes_twice() {
    let mut env = Env::start_with("crashrm", &["--provider-timeout", "2s"]).await;
    let ips = proxy_ips(&env.sim_order(EXPIRED).await);
    env.apply(
        "c",
        json!({"orderId": EXPIRED, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8800}),
    )
    .await;
    env.wait_ready("c").await;
    env.start_operator(Some("after-provider-call")).await;
    env.apply(
        "c",
        json!({"orderId": EXPIRED, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8800, "quantity": ips.len() + 1, "removeProxies": [ips[0]]}),
    )
    .await;
    env.wait_operator_exit().await;
    env.start_operator(None).await;
    env.wait_condition("c", "Synced", "True", "Applied").await;
    let removals = env
        .change_calls(EXPIRED)
        .await
        .iter()
        .filter(|c| c["body"].get("remove_proxies").is_some())
        .count();
    assert_eq!(removals, 1, "remove_proxies is never sent twice");
    let data = env.secret_data("c-proxy").await.unwrap();
    assert!(!data["ips"].contains(&ips[0]));
    assert_eq!(data["ips"].lines().count(), ips.len() + 1);
    env.finish().await;
}
