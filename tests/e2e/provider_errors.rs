//! Provider errors and faults: a wrong key, an unknown order, a rejected request, outages with
//! backoff, and bad response bodies.

use std::time::Duration;

use serde_json::json;

use crate::PW_CANARY;
use proxy_order_testkit::*;

#[tokio::test]
async fn unauthorized_is_terminal_and_recovers_when_the_key_is_fixed() {
    let env = Env::start("unauth").await;
    env.put_secret("bad-key", "api-key", "wrong-key-canary-3")
        .await;
    env.apply(
        "u",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": "bad-key", "key": "api-key"},
               "port": 8400}),
    )
    .await;
    env.wait_condition("u", "Ready", "False", "Unauthorized")
        .await;
    let before = env.requests().await.len();
    settle(4).await;
    assert_eq!(env.requests().await.len(), before, "no hot loop on 401");
    env.put_secret("bad-key", "api-key", API_KEY).await;
    env.wait_ready("u").await;
    assert_eq!(env.sim_order(ACTIVE).await["access"]["port"], 8400);
    let events = env.events("u").await;
    assert!(events.iter().any(|e| e.1 == "Unauthorized"), "{events:?}");
    env.assert_no_leaks(&["wrong-key-canary-3"]).await;
    env.finish().await;
}

#[tokio::test]
async fn unknown_order_is_order_not_found() {
    let env = Env::start("notfound").await;
    env.apply(
        "nf",
        json!({"orderId": 999999, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8000}),
    )
    .await;
    let po = env
        .wait_condition("nf", "Ready", "False", "OrderNotFound")
        .await;
    assert!(condition(&po, "Ready").unwrap().2.contains("999999"));
    assert!(env.change_calls(999999).await.is_empty());
    env.finish().await;
}

#[tokio::test]
async fn rejected_request_keeps_the_providers_message_and_recovers_on_change() {
    let env = Env::start("rejected").await;
    // The simulator accepts passwords of at most 64 characters; the CRD cannot know that.
    let long = format!("x{}", "y".repeat(80));
    env.put_secret("pw", "password", &long).await;
    env.apply(
        "r",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "password": {"secretKeyRef": {"name": "pw", "key": "password"}}}),
    )
    .await;
    let po = env
        .wait_condition("r", "Ready", "False", "ProviderRejected")
        .await;
    let msg = condition(&po, "Ready").unwrap().2;
    assert!(msg.contains("422"), "{msg}");
    assert!(!msg.contains(&long));
    let calls = env.change_calls(ACTIVE).await.len();
    settle(4).await;
    assert_eq!(
        env.change_calls(ACTIVE).await.len(),
        calls,
        "no retry of the same request"
    );
    env.put_secret("pw", "password", PW_CANARY).await;
    env.wait_ready("r").await;
    assert_eq!(env.sim_order(ACTIVE).await["access"]["password"], PW_CANARY);
    env.assert_no_leaks(&[PW_CANARY, &long]).await;
    env.finish().await;
}

#[tokio::test]
async fn provider_outages_back_off_and_converge() {
    let env = Env::start("outage").await;
    env.sim_post(
        "/faults",
        json!({"endpoint": "change", "status": 503, "count": 2}),
    )
    .await;
    env.sim_post(
        "/faults",
        json!({"endpoint": "list", "status": 429, "retry_after_s": 2, "count": 1}),
    )
    .await;
    let started = std::time::Instant::now();
    env.apply(
        "o",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8500}),
    )
    .await;
    env.wait_ready("o").await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    let statuses: Vec<i64> = env
        .change_calls(ACTIVE)
        .await
        .iter()
        .map(|c| c["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![503, 503, 200]);
    let events = env.events("o").await;
    assert!(
        events.iter().any(|e| e.1 == "ProviderUnavailable"),
        "{events:?}"
    );
    env.finish().await;
}

#[tokio::test]
async fn bad_provider_bodies_are_provider_unavailable_and_recover() {
    let env = Env::start("badbody").await;
    env.put_secret("pw", "password", PW_CANARY).await;
    let spec = |port: u16| {
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": port, "password": {"secretKeyRef": {"name": "pw", "key": "password"}}})
    };
    env.apply("bb", spec(8600)).await;
    env.wait_ready("bb").await;

    // Bad answers to the change call, each with secrets in the body, and what the condition
    // and the Event say about them.
    let cases = [
        (
            "invalid JSON",
            json!({"body": format!(r#"{{"note": "{PW_CANARY} {API_KEY}", "order" {{"id": 1}}}}"#)}),
            "invalid JSON in a 200 response",
        ),
        (
            "wrong type",
            json!({"body": format!(r#"{{"order": {{"id": "{API_KEY}", "access": 5}}}}"#)}),
            "unexpected JSON shape in a 200 response",
        ),
        (
            // The simulator carries the change out, then cuts its answer (which holds the
            // password) in half and closes the connection.
            "truncated",
            json!({"truncate": true}),
            "could not reach the provider",
        ),
        (
            "huge",
            json!({"huge_body_bytes": 32 * 1024 * 1024 + 1024}),
            "larger than 33554432 bytes",
        ),
        (
            "empty 200",
            json!({"body": ""}),
            "truncated JSON in a 200 response",
        ),
        (
            "HTML 502",
            json!({"status": 502, "content_type": "text/html", "body": format!(
                "<html><body><h1>502 Bad Gateway</h1>{PW_CANARY} {API_KEY}</body></html>")}),
            "the provider is unavailable (502)",
        ),
    ];
    let said: Vec<&str> = cases.iter().map(|c| c.2).collect();
    let http = reqwest::Client::new();
    for (i, (what, fault, says)) in cases.into_iter().enumerate() {
        let port = 8601 + i as u16;
        let events_before = unavailable_events(&env).await;
        let mut fault = fault;
        fault["endpoint"] = json!("change");
        env.sim_post("/faults", fault).await;
        env.apply("bb", spec(port)).await;
        let po = env
            .wait_condition("bb", "Synced", "False", "ProviderUnavailable")
            .await;
        let synced = condition(&po, "Synced").unwrap().2;
        assert!(synced.contains(says), "{what}: {synced}");
        let ready = condition(&po, "Ready").unwrap();
        assert_eq!(
            (ready.0.as_str(), ready.1.as_str()),
            ("False", "ProviderUnavailable"),
            "{what}: the answer is lost, the Secret may be stale"
        );
        // kube's event recorder folds a repeat of the same type, reason and action (which
        // names the error class, e.g. `decode` for two kinds of bad JSON) into the first
        // Event's series, whose note stays the first one's: count occurrences.
        env.wait_for(&format!("{what}: a Warning Event"), 10, async || {
            (unavailable_events(&env).await > events_before).then_some(())
        })
        .await;
        // Still serving, and nothing panicked.
        assert!(env.metrics().await.contains("proxy_order_reconciles_total"));
        assert!(!env.log_text().contains("panicked"), "{what}");

        let cleared = http
            .delete(format!("{}/faults", env.sim.admin_url()))
            .send()
            .await
            .unwrap();
        assert!(cleared.status().is_success());
        env.wait_ready("bb").await;
        assert_eq!(
            env.sim_order(ACTIVE).await["access"]["port"],
            port,
            "{what}"
        );
        assert_eq!(
            env.secret_data("bb-proxy").await.unwrap()["port"],
            port.to_string(),
            "{what}"
        );
    }
    // Every Warning is about one of the bad answers.
    for (_, _, note) in env.events("bb").await.iter().filter(|e| e.0 == "Warning") {
        assert!(said.iter().any(|s| note.contains(s)), "{note}");
    }
    env.assert_no_leaks(&[PW_CANARY]).await;
    env.finish().await;
}

/// How often a Warning Event with reason ProviderUnavailable was recorded for ProxyOrder `bb`
/// (Events plus their series repeats).
async fn unavailable_events(env: &Env) -> i32 {
    let api: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(env.client.clone(), &env.ns);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("bb")
                && e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some("ProviderUnavailable")
        })
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}
