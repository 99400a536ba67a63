//! End-to-end scenarios from a user's point of view: real API server, real simulator, the
//! operator binary as its own process. Run with `make test-e2e` (it starts the control plane).
//! Provider calls are counted from the simulator's request log, never from operator logs.

mod support;
mod tenancy;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const PW_CANARY: &str = "pw-canary-Zx81q";

fn body(call: &Value) -> &Value {
    &call["body"]
}

async fn settle(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

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
    let ips: Vec<String> = sim["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ip"].as_str().unwrap().to_string())
        .collect();
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
async fn quantity_waits_for_expiry_then_applies_once() {
    let env = Env::start("quantity").await;
    let order = env.sim_order(ACTIVE).await;
    let ips: Vec<String> = order["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ip"].as_str().unwrap().to_string())
        .collect();
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
        let mut env = Env::start_with("crash", &["--provider-timeout-secs", "2"]).await;
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
    let mut env = Env::start_with("crashrm", &["--provider-timeout-secs", "2"]).await;
    let ips: Vec<String> = env.sim_order(EXPIRED).await["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ip"].as_str().unwrap().to_string())
        .collect();
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

#[tokio::test]
async fn one_leader_reconciles_and_a_successor_takes_over() {
    // The lease must outlast a provider call: a 1 s provider timeout allows a 5 s lease.
    let lease = [
        "--leader-election",
        "--lease-duration",
        "5s",
        "--provider-timeout-secs",
        "1",
    ];
    let mut env = Env::start_with("leader", &lease).await;
    let (mut b, b_log) = env.spawn_replica("b", &[]);
    env.wait_for("replica b waits for leadership", 30, async || {
        std::fs::read_to_string(&b_log)
            .ok()?
            .contains("waiting for leadership")
            .then_some(())
    })
    .await;
    env.apply(
        "l",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8900}),
    )
    .await;
    env.wait_ready("l").await;
    let b_text = std::fs::read_to_string(&b_log).unwrap();
    assert!(
        !b_text.contains("provider call"),
        "the follower made no call:\n{b_text}"
    );
    assert!(env.log_text().contains("provider call succeeded"));

    env.stop_operator(); // SIGKILL: no release, so the lease has to expire
    env.wait_for("replica b takes over", 30, async || {
        std::fs::read_to_string(&b_log)
            .ok()?
            .contains("acquired leadership")
            .then_some(())
    })
    .await;
    env.apply(
        "l",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8901}),
    )
    .await;
    env.wait_for("the new leader applies", 30, async || {
        (env.sim_order(ACTIVE).await["access"]["port"] == 8901).then_some(())
    })
    .await;
    let _ = b.kill();
    let _ = b.wait();
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

#[tokio::test]
async fn invalid_manifests_are_refused_at_admission_naming_the_field() {
    let _schema = CRD_SCHEMA.lock().await;
    let env = Env::start("admission").await;
    let key = json!({"name": KEY_SECRET, "key": "api-key"});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("order id 0", json!({"orderId": 0}), "orderId"),
        ("no order id", json!({"port": 8000}), "orderId"),
        ("port 0", json!({"orderId": 1, "port": 0}), "port"),
        ("port 65536", json!({"orderId": 1, "port": 65536}), "port"),
        (
            "quantity 0",
            json!({"orderId": 1, "quantity": 0}),
            "quantity",
        ),
        (
            "port as text",
            json!({"orderId": 1, "port": "eighty"}),
            "port",
        ),
        (
            "bad ipAuth",
            json!({"orderId": 1, "ipAuth": ["10.0.0.300"]}),
            "ipAuth",
        ),
        (
            "bad removeProxies",
            json!({"orderId": 1, "removeProxies": ["not-an-ip"]}),
            "removeProxies",
        ),
        (
            "both password sources",
            json!({"orderId": 1, "password": {"generate": true, "secretKeyRef": key}}),
            "password",
        ),
        (
            "no password source",
            json!({"orderId": 1, "password": {}}),
            "password",
        ),
        (
            "generate false",
            json!({"orderId": 1, "password": {"generate": false}}),
            "generate",
        ),
        ("unknown lang", json!({"orderId": 1, "lang": "DE"}), "lang"),
        (
            "unknown currency",
            json!({"orderId": 1, "currency": "GBP"}),
            "currency",
        ),
        (
            "login with a space",
            json!({"orderId": 1, "login": "a b"}),
            "login",
        ),
        (
            "non-ASCII login",
            json!({"orderId": 1, "login": "логин"}),
            "login",
        ),
        (
            "template shadows a key",
            json!({"orderId": 1, "secret": {"template": {"password": "x"}}}),
            "template",
        ),
        (
            "unknown field",
            json!({"orderId": 1, "colour": "red"}),
            "colour",
        ),
        (
            "bad secret name",
            json!({"orderId": 1, "secret": {"name": "Not_A_Name"}}),
            "name",
        ),
        (
            "quantity over the limit",
            json!({"orderId": 1, "quantity": 1_000_001}),
            "quantity",
        ),
        (
            "order id over 2^53",
            json!({"orderId": 9_007_199_254_740_992u64}),
            "orderId",
        ),
        (
            "password Secret name not a DNS subdomain",
            json!({"orderId": 1, "password": {"secretKeyRef": {"name": "Bad_Name", "key": "k"}}}),
            "password.secretKeyRef.name",
        ),
        (
            "label key",
            json!({"orderId": 1, "secret": {"labels": {"bad key": "v"}}}),
            "secret.labels",
        ),
        (
            "label value",
            json!({"orderId": 1, "secret": {"labels": {"team": "not a value"}}}),
            "secret.labels",
        ),
        (
            "annotation key",
            json!({"orderId": 1, "secret": {"annotations": {"a/b/c": "v"}}}),
            "secret.annotations",
        ),
        (
            "template value too long",
            json!({"orderId": 1, "secret": {"template": {"K": "x".repeat(4097)}}}),
            "template",
        ),
        (
            "too many IPs",
            json!({"orderId": 1, "ipAuth": (0..1001).map(|i| format!("10.1.{}.{}", i / 256, i % 256)).collect::<Vec<_>>()}),
            "ipAuth",
        ),
    ];
    for (what, spec, field) in cases {
        let mut obj = json!({"apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
                             "metadata": {"name": "bad"}, "spec": spec});
        obj["spec"]["apiKeySecretRef"] = key.clone();
        let err = env
            .orders()
            .patch(
                "bad",
                &kube::api::PatchParams::apply("e2e").force(),
                &kube::api::Patch::Apply(obj),
            )
            .await
            .expect_err(what);
        let msg = err.to_string();
        assert!(
            msg.contains(field),
            "{what}: error does not name {field}: {msg}"
        );
    }

    // orderId cannot change once set.
    env.apply("fixed", json!({"orderId": ACTIVE, "apiKeySecretRef": key}))
        .await;
    let mut obj = json!({"apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
                         "metadata": {"name": "fixed"}, "spec": {"orderId": EXPIRED, "apiKeySecretRef": key}});
    obj["spec"]["apiKeySecretRef"] = key.clone();
    let err = env
        .orders()
        .patch(
            "fixed",
            &kube::api::PatchParams::apply("e2e").force(),
            &kube::api::Patch::Apply(obj),
        )
        .await
        .expect_err("orderId change");
    assert!(err.to_string().contains("immutable"), "{err}");
    assert!(env.change_calls(EXPIRED).await.is_empty());
    env.finish().await;
}

#[tokio::test]
async fn the_charts_permissions_are_enough() {
    // The operator impersonates the chart's ServiceAccount: an RBAC gap fails this test.
    let env = Env::start_as_chart("rbac").await;
    env.put_secret("pw", "password", PW_CANARY).await;
    let spec = json!({
        "orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
        "port": 9100, "login": "rbac", "ipAuth": ["192.0.2.9"],
        "password": {"secretKeyRef": {"name": "pw", "key": "password"}},
        "deletionPolicy": "Revoke"
    });
    env.apply("r", spec.clone()).await;
    env.wait_ready("r").await;
    assert_eq!(
        env.secret_data("r-proxy").await.unwrap()["password"],
        PW_CANARY
    );
    let events = env.events("r").await;
    assert!(events.iter().any(|e| e.1 == "Applied"), "{events:?}");
    let mut changed = spec.clone();
    changed["port"] = json!(9101);
    env.apply("r", changed).await;
    env.wait_for("the change is applied", 30, async || {
        (env.secret_data("r-proxy").await?["port"] == "9101").then_some(())
    })
    .await;
    env.delete_and_wait("r").await;
    let log = env.log_text();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "RBAC denial in the log:\n{log}"
    );
    env.assert_no_leaks(&[PW_CANARY]).await;
    env.finish().await;
}

#[tokio::test]
async fn a_selector_shards_which_orders_an_instance_reconciles() {
    let env = Env::start_with("shard", &["--selector", "shard=a"]).await;
    let spec = json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
                      "port": 9200});
    env.apply_full(
        "mine",
        json!({"metadata": {"labels": {"shard": "a"}}, "spec": spec.clone()}),
    )
    .await;
    env.apply_full(
        "other",
        json!({"metadata": {"labels": {"shard": "b"}}, "spec": spec}),
    )
    .await;
    env.wait_ready("mine").await;
    settle(2).await;
    assert!(
        env.get("other").await.status.is_none(),
        "another shard's order is left alone"
    );
    assert!(
        env.secrets()
            .get_opt("other-proxy")
            .await
            .unwrap()
            .is_none()
    );
    env.finish().await;
}

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

#[tokio::test]
async fn an_unreadable_proxyorder_does_not_stop_the_others() {
    let _schema = CRD_SCHEMA.lock().await;
    let mut env = Env::start("poison").await;
    let key = json!({"name": KEY_SECRET, "key": "api-key"});
    env.apply(
        "a",
        json!({"orderId": ACTIVE, "apiKeySecretRef": key, "port": 9400}),
    )
    .await;
    env.wait_ready("a").await;

    // A port that does not fit the type, as a CRD without the port bounds would have stored.
    store_past_the_schema(
        &env,
        "bad",
        json!({"orderId": EXPIRED, "apiKeySecretRef": key, "port": 70000}),
        |spec| {
            let port = &mut spec["properties"]["port"];
            port.as_object_mut().unwrap().remove("maximum");
        },
    )
    .await;
    // The watch goes on: a new ProxyOrder is reconciled, an edit of the old one applied.
    env.apply("b", json!({"orderId": MOBILE, "apiKeySecretRef": key}))
        .await;
    env.wait_ready("b").await;
    env.apply(
        "a",
        json!({"orderId": ACTIVE, "apiKeySecretRef": key, "port": 9401}),
    )
    .await;
    env.wait_for("the edit is applied", 30, async || {
        (env.sim_order(ACTIVE).await["access"]["port"] == 9401).then_some(())
    })
    .await;
    // A restart lists it among the others: still only it is left out.
    env.start_operator(None).await;
    env.apply(
        "a",
        json!({"orderId": ACTIVE, "apiKeySecretRef": key, "port": 9402}),
    )
    .await;
    env.wait_for("the edit after a restart is applied", 30, async || {
        (env.sim_order(ACTIVE).await["access"]["port"] == 9402).then_some(())
    })
    .await;

    assert!(
        env.change_calls(EXPIRED).await.is_empty(),
        "no call for the unreadable one"
    );
    let events = env.events("bad").await;
    let invalid: Vec<_> = events
        .iter()
        .filter(|(kind, reason, _)| kind == "Warning" && reason == "InvalidObject")
        .collect();
    assert!(
        invalid
            .iter()
            .any(|(_, _, note)| note.contains("spec.port")),
        "{events:?}"
    );
    assert!(env.log_text().contains("ProxyOrder cannot be read"));
    // It can still be deleted, and that breaks nothing either.
    env.delete_and_wait("bad").await;
    env.apply(
        "a",
        json!({"orderId": ACTIVE, "apiKeySecretRef": key, "port": 9403}),
    )
    .await;
    env.wait_for("an edit after the deletion is applied", 30, async || {
        (env.sim_order(ACTIVE).await["access"]["port"] == 9403).then_some(())
    })
    .await;
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
