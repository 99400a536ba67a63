//! Secrets a ProxyOrder references: a password taken from a Secret (and re-sent when it
//! changes), and missing Secrets named until they appear.

use serde_json::json;

use crate::PW_CANARY;
use proxy_order_testkit::*;

#[tokio::test]
async fn password_from_a_secret_is_sent_and_resent_on_change() {
    let env = Env::start("pwref").await;
    env.put_secret("proxy-pw", "password", PW_CANARY).await;
    env.apply(
        "ref",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "password": {"secretKeyRef": {"name": "proxy-pw", "key": "password"}}}),
    )
    .await;
    env.wait_ready("ref").await;
    assert_eq!(env.sim_order(ACTIVE).await["access"]["password"], PW_CANARY);
    assert_eq!(
        env.secret_data("ref-proxy").await.unwrap()["password"],
        PW_CANARY
    );
    let before = env.change_calls(ACTIVE).await.len();

    let new_pw = "pw-canary-second-9Kd";
    env.put_secret("proxy-pw", "password", new_pw).await;
    env.wait_for("provider has the new password", 30, async || {
        (env.sim_order(ACTIVE).await["access"]["password"] == new_pw).then_some(())
    })
    .await;
    env.wait_for("Secret has the new password", 30, async || {
        (env.secret_data("ref-proxy").await?["password"] == new_pw).then_some(())
    })
    .await;
    settle(1).await;
    let calls = env.change_calls(ACTIVE).await;
    assert_eq!(calls.len(), before + 1);
    assert!(calls.last().unwrap()["body"].get("password").is_some());
    let st = serde_json::to_string(&env.get("ref").await.status).unwrap();
    assert!(st.contains("passwordFingerprint"));
    env.assert_no_leaks(&[PW_CANARY, new_pw]).await;
    env.finish().await;
}

#[tokio::test]
async fn missing_secrets_are_named_and_recover_without_restart() {
    let env = Env::start("missing").await;
    env.apply(
        "ms",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": "later-key", "key": "api-key"},
               "password": {"secretKeyRef": {"name": "later-pw", "key": "pw"}}}),
    )
    .await;
    let po = env
        .wait_condition("ms", "Ready", "False", "SecretNotFound")
        .await;
    assert!(condition(&po, "Ready").unwrap().2.contains("later-key"));
    env.put_secret("later-key", "api-key", API_KEY).await;
    let po = env
        .wait_for("password Secret named", 30, async || {
            let po = env.get("ms").await;
            condition(&po, "Ready")?
                .2
                .contains("later-pw")
                .then_some(po)
        })
        .await;
    assert_eq!(condition(&po, "Ready").unwrap().1, "SecretNotFound");
    env.put_secret("later-pw", "pw", PW_CANARY).await;
    env.wait_ready("ms").await;
    assert_eq!(env.sim_order(ACTIVE).await["access"]["password"], PW_CANARY);
    env.finish().await;
}
