//! Generated passwords: generated once, rotated once per token, and rotated (with the allow-list
//! cleared) before a ProxyOrder with the Revoke policy goes.

use serde_json::{Value, json};

use proxy_order_testkit::*;

#[tokio::test]
async fn generated_password_once_and_rotation_per_token() {
    let mut env = Env::start("rotate").await;
    env.apply(
        "rot",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "password": {"generate": true}}),
    )
    .await;
    env.wait_ready("rot").await;
    let gens = async |env: &Env| {
        env.change_calls(ACTIVE)
            .await
            .iter()
            .filter(|c| c["body"]["gen_password"] == true)
            .count()
    };
    assert_eq!(gens(&env).await, 1);
    env.start_operator(None).await;
    settle(2).await;
    assert_eq!(gens(&env).await, 1, "not again after a restart");
    let first = env.secret_data("rot-proxy").await.unwrap()["password"].clone();

    env.annotate("rot", "proxy-solutions.net/rotate-password", "t1")
        .await;
    env.wait_for("rotation t1", 30, async || {
        let po = env.get("rot").await;
        (po.status?.password_rotation.as_deref() == Some("t1")).then_some(())
    })
    .await;
    assert_eq!(gens(&env).await, 2);
    let second = env
        .wait_for("new password in Secret", 30, async || {
            let pw = env.secret_data("rot-proxy").await?["password"].clone();
            (pw != first).then_some(pw)
        })
        .await;
    assert_eq!(
        Value::String(second.clone()),
        env.sim_order(ACTIVE).await["access"]["password"]
    );

    // The same token again (another annotation edit triggers a reconcile): nothing.
    env.annotate("rot", "example.com/unrelated", "1").await;
    settle(2).await;
    assert_eq!(gens(&env).await, 2);
    env.assert_no_leaks(&[&first, &second]).await;
    env.finish().await;
}

#[tokio::test]
async fn revoke_policy_rotates_and_clears_before_deletion() {
    let env = Env::start("revoke").await;
    env.apply(
        "rv",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "ipAuth": ["192.0.2.44"], "password": {"generate": true},
               "deletionPolicy": "Revoke"}),
    )
    .await;
    env.wait_ready("rv").await;
    let po = env.get("rv").await;
    assert!(
        po.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"proxy-solutions.net/revoke".to_string())
    );
    let before = env.sim_order(ACTIVE).await;
    assert_eq!(before["access"]["ip_list"], json!(["192.0.2.44"]));
    env.delete_and_wait("rv").await;
    let after = env.sim_order(ACTIVE).await;
    assert_eq!(after["access"]["ip_list"], json!([]), "allow-list cleared");
    assert_ne!(
        after["access"]["password"], before["access"]["password"],
        "password rotated"
    );
    let last = env.change_calls(ACTIVE).await.pop().unwrap();
    assert_eq!(last["body"], json!({"gen_password": true, "ip_auth": []}));
    env.finish().await;
}
