//! Secret references of tenants: another namespace's Secrets are out of reach, and namespaced
//! API-key references can be switched off.

use kube::api::PatchParams;
use proxy_solutions_sim::SimConfig;
use serde_json::{Value, json};

use proxy_order_testkit::tenancy::{Tenancy, via};
use proxy_order_testkit::*;

const PW_CANARY: &str = "tenant-pw-canary-Hq42v";

#[tokio::test]
async fn secrets_of_another_namespace_are_out_of_reach() {
    const VICTIM_KEY: &str = "victim-api-key-canary-P0d3";
    const VICTIM_PW: &str = "victim-pw-canary-Lm93x";
    // The victim's key is valid at the provider: were it used, calls would succeed.
    let sim = SimConfig {
        api_keys: vec![VICTIM_KEY.to_string()],
        ..SimConfig::default()
    };
    let mut t = Tenancy::start("reach", sim, &[]).await;
    let ns_a = t.namespace("a", json!({})).await;
    let victim = t.namespace("victim", json!({})).await;
    t.put_secret(&victim, "victim-key", "api-key", VICTIM_KEY)
        .await;
    t.put_secret(&victim, "victim-pw", "password", VICTIM_PW)
        .await;

    // The schema has no namespace field in a Secret reference: a strict apply is refused,
    // naming the field.
    let strict = PatchParams::apply("e2e").force().validation_strict();
    let cases = [
        (
            "key",
            json!({"orderId": ACTIVE,
                   "apiKeySecretRef": {"name": "victim-key", "key": "api-key", "namespace": victim}}),
            "apiKeySecretRef.namespace",
        ),
        (
            "pw",
            json!({"orderId": MOBILE,
                   "apiKeySecretRef": {"name": "own-key", "key": "api-key"},
                   "password": {"secretKeyRef": {"name": "victim-pw", "key": "password", "namespace": victim}}}),
            "secretKeyRef.namespace",
        ),
    ];
    for (name, spec, field) in &cases {
        let err = t
            .try_apply(&ns_a, name, spec.clone(), &strict)
            .await
            .expect_err(name);
        assert!(err.to_string().contains(field), "{name}: {err}");
    }
    // Server-side apply refuses an undeclared field whatever the validation level; created
    // with the API server's default validation (Warn) it is dropped. The operator then reads
    // the ProxyOrder's own namespace only.
    let (name, spec, _) = &cases[0];
    t.create_pruned(&ns_a, name, spec.clone()).await;
    let msg = t.wait_refused(&ns_a, "key", "SecretNotFound").await;
    assert!(msg.contains(&format!("{ns_a}/victim-key")), "{msg}");
    assert!(!msg.contains(&victim), "{msg}");
    settle(2).await;
    assert_eq!(
        t.env.requests().await,
        Vec::<Value>::new(),
        "no provider request without a key of the own namespace"
    );

    // The password Secret: with a ProxyProvider, so that everything else is in order.
    let provider = t
        .apply_provider("shared", t.provider_spec(&[&ns_a], None))
        .await;
    let (_, spec, _) = &cases[1];
    let mut spec = spec.clone();
    spec.as_object_mut().unwrap().remove("apiKeySecretRef");
    spec["providerRef"] = json!({"name": provider});
    t.create_pruned(&ns_a, "pw", spec).await;
    let msg = t.wait_refused(&ns_a, "pw", "SecretNotFound").await;
    assert!(msg.contains(&format!("{ns_a}/victim-pw")), "{msg}");
    assert!(!msg.contains(&victim), "{msg}");
    settle(2).await;
    assert!(t.env.change_calls(MOBILE).await.is_empty());
    assert!(t.env.change_calls(ACTIVE).await.is_empty());
    let log = serde_json::to_string(&t.env.requests().await).unwrap();
    for c in [VICTIM_KEY, VICTIM_PW] {
        assert!(!log.contains(c), "{c} reached the provider: {log}");
    }
    assert!(
        t.env
            .requests()
            .await
            .iter()
            .all(|r| r["status"] != 401 && r["status"] != 403),
        "no request with another key: {log}"
    );
    for id in [ACTIVE, MOBILE] {
        assert_ne!(t.env.sim_order(id).await["access"]["password"], VICTIM_PW);
    }
    // A change of the other namespace's Secret is nothing to this ProxyOrder.
    t.put_secret(&victim, "victim-pw", "password", &format!("{VICTIM_PW}-2"))
        .await;
    settle(2).await;
    assert!(t.env.change_calls(MOBILE).await.is_empty());

    // The same name in the own namespace is what counts.
    t.put_secret(&ns_a, "victim-pw", "password", PW_CANARY)
        .await;
    t.env.wait_ready_in(&ns_a, "pw").await;
    assert_eq!(
        t.env.sim_order(MOBILE).await["access"]["password"],
        PW_CANARY
    );
    assert_eq!(t.env.change_calls(MOBILE).await.len(), 1);
    assert!(t.env.change_calls(ACTIVE).await.is_empty());

    t.assert_no_forbidden();
    t.assert_no_leaks(&[VICTIM_KEY, VICTIM_PW, &format!("{VICTIM_PW}-2"), PW_CANARY])
        .await;
    t.finish().await;
}

#[tokio::test]
async fn namespaced_api_keys_can_be_switched_off() {
    let mut t = Tenancy::start(
        "nokeys",
        SimConfig::default(),
        &["--allow-api-key-secret-ref=false"],
    )
    .await;
    let ns_a = t.namespace("a", json!({})).await;
    // A valid key: the flag alone stops it.
    t.put_secret(&ns_a, "own-key", "api-key", API_KEY).await;
    let own = |port: u16| {
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": "own-key", "key": "api-key"},
               "port": port})
    };
    t.apply(&ns_a, "own", own(8300)).await;
    t.wait_refused(&ns_a, "own", "ApiKeySecretRefDisabled")
        .await;
    t.wait_warning(&ns_a, "own", "ApiKeySecretRefDisabled")
        .await;
    t.apply(&ns_a, "own", own(8301)).await;
    t.wait_refused(&ns_a, "own", "ApiKeySecretRefDisabled")
        .await;
    settle(2).await;
    assert_eq!(
        t.env.requests().await,
        Vec::<Value>::new(),
        "no provider call at all"
    );

    // ProxyProviders still work.
    let provider = t
        .apply_provider("shared", t.provider_spec(&[&ns_a], None))
        .await;
    t.apply(
        &ns_a,
        "shared",
        via(&provider, MOBILE, json!({"port": 8302})),
    )
    .await;
    t.env.wait_ready_in(&ns_a, "shared").await;
    assert_eq!(t.env.change_calls(MOBILE).await.len(), 1);
    assert!(t.env.change_calls(ACTIVE).await.is_empty());
    assert_eq!(
        condition(&t.get(&ns_a, "own").await, "Ready").unwrap().1,
        "ApiKeySecretRefDisabled"
    );

    t.assert_no_forbidden();
    t.assert_no_leaks(&[]).await;
    t.finish().await;
}
