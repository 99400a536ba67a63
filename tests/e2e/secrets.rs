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

/// One namespace watched (the chart's `watchNamespace`), a ProxyProvider whose API key lives in
/// another namespace (`providerKeyNamespaces`), the operator with the chart's permissions: the
/// key Secret created after the ProxyOrder is used at once, not at the next re-check.
#[tokio::test]
async fn a_provider_key_created_in_another_namespace_is_used_at_once() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::{
        Api,
        api::{DeleteParams, Patch, PatchParams},
    };
    use proxy_order_api::ProxyProvider;

    let client = e2e_client().await;
    let keys = format!("e2e-pkeys-{:04x}", rand::random::<u16>());
    create_e2e_namespace(&client, &keys, json!({})).await;
    let env = Env::start_as_chart_with(
        "pkeys",
        &[
            "watchNamespace={ns}",
            &format!("providerKeyNamespaces={{{keys}}}"),
        ],
        &["--provider-key-namespaces", &keys],
    )
    .await;
    let provider = format!("{}-shared", env.ns);
    let providers: Api<ProxyProvider> = Api::all(client.clone());
    let pp = json!({
        "apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyProvider",
        "metadata": {"name": provider},
        "spec": {"url": env.sim.base_url(), "namespaces": [env.ns],
                 "apiKeySecretRef": {"name": "shared-key", "namespace": keys}},
    });
    providers
        .patch(
            &provider,
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(pp),
        )
        .await
        .unwrap();
    env.apply(
        "via",
        json!({"orderId": ACTIVE, "providerRef": {"name": provider}, "login": "via"}),
    )
    .await;
    env.wait_condition("via", "Ready", "False", "SecretNotFound")
        .await;

    let started = std::time::Instant::now();
    put_secret_in(&client, &keys, "shared-key", "api-key", API_KEY).await;
    env.wait_ready("via").await;
    let took = started.elapsed();
    println!("a ProxyProvider's key created late: Ready after {took:?}");
    assert!(
        took < std::time::Duration::from_secs(5),
        "Ready only after {took:?}"
    );
    let changes = env.change_calls(ACTIVE).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0]["body"], json!({"login": "via"}));
    let log = env.log_text();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "RBAC denial in the log:\n{log}"
    );
    let _ = providers.delete(&provider, &DeleteParams::default()).await;
    let _ = Api::<Namespace>::all(client)
        .delete(&keys, &DeleteParams::background())
        .await;
    env.finish().await;
}
