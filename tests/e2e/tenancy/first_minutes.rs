//! A new user's first minutes, in the order a user acts, with the operator as a cluster-wide
//! installation runs it (the tenant's namespace is not the operator's): an order bought after
//! the operator started, an order bought after its ProxyOrder was created, an API key fixed in
//! place, a password Secret created late. Each counts the exact provider calls and the time to
//! Ready. None of the Secrets carries a label: users do not know any.

use std::time::{Duration, Instant};

use proxy_solutions_sim::SimConfig;
use serde_json::{Value, json};

use proxy_order_testkit::tenancy::Tenancy;
use proxy_order_testkit::*;

const PW_CANARY: &str = "late-pw-canary-Rt61d";
const WRONG_KEY: &str = "wrong-api-key-canary-Vb07";
/// Orders the scenarios buy at the provider while the operator runs.
const BOUGHT: u64 = 20000;

/// The provider requests since the log was last cleared: (list calls, change calls of `order`
/// with their bodies, all requests).
async fn calls(t: &Tenancy, order: u64) -> (usize, Vec<Value>, Vec<Value>) {
    let all = t.env.requests().await;
    let lists = all
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"] == "/api/user/orders")
        .count();
    let changes = all
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == format!("/api/user/orders/{order}"))
        .map(|r| r["body"].clone())
        .collect();
    (lists, changes, all)
}

/// A tenant namespace with its own API-key Secret `own-key` holding `key`.
async fn tenant(t: &mut Tenancy, key: &str) -> String {
    let ns = t.namespace("a", json!({})).await;
    t.put_secret(&ns, "own-key", "api-key", key).await;
    ns
}

fn own_key(order: u64, extra: Value) -> Value {
    let mut spec =
        json!({"orderId": order, "apiKeySecretRef": {"name": "own-key", "key": "api-key"}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

fn no_refusal(events: &[(String, String, String)], reason: &str) {
    assert!(
        !events.iter().any(|(_, r, _)| r == reason),
        "the ProxyOrder was told {reason}: {events:?}"
    );
}

#[tokio::test]
async fn an_order_bought_after_the_operator_started_is_used_within_seconds() {
    let mut t = Tenancy::start("bought", SimConfig::default(), &[]).await;
    let ns = tenant(&mut t, API_KEY).await;
    // An order already in use: the key's order list is cached now, for the refresh interval
    // (10 minutes here).
    t.apply(&ns, "first", own_key(ACTIVE, json!({}))).await;
    t.env.wait_ready_in(&ns, "first").await;

    // The user buys an order and configures it right away.
    t.env.sim_buy_order(BOUGHT, 2).await;
    t.env.sim_clear_requests().await.unwrap();
    let started = Instant::now();
    t.apply(&ns, "bought", own_key(BOUGHT, json!({"login": "bought"})))
        .await;
    t.env.wait_ready_in(&ns, "bought").await;
    let took = started.elapsed();
    println!("an order bought after the operator started: Ready after {took:?}");
    // The cached list does not have it: one list fetched after the ProxyOrder was seen (at
    // least gateway::MIN_FORCED_REFRESH, 10 s, after the previous one) decides.
    assert!(took < Duration::from_secs(15), "Ready only after {took:?}");
    let (lists, changes, all) = calls(&t, BOUGHT).await;
    assert_eq!(lists, 1, "one fresh list: {all:#?}");
    assert_eq!(changes, [json!({"login": "bought"})], "{all:#?}");
    assert_eq!(all.len(), 2, "nothing else: {all:#?}");
    no_refusal(&t.events(&ns, "bought").await, "OrderNotFound");
    t.assert_no_forbidden();
    t.finish().await;
}

#[tokio::test]
async fn an_order_bought_after_its_proxy_order_is_used_at_the_next_list_of_the_key() {
    let mut t = Tenancy::start("early", SimConfig::default(), &[]).await;
    let ns = tenant(&mut t, API_KEY).await;
    t.apply(&ns, "first", own_key(ACTIVE, json!({}))).await;
    t.env.wait_ready_in(&ns, "first").await;

    // Configured before the order exists: refused, from a list fetched after it was created.
    t.env.sim_clear_requests().await.unwrap();
    t.apply(&ns, "early", own_key(BOUGHT, json!({"login": "early"})))
        .await;
    let msg = t.wait_refused(&ns, "early", "OrderNotFound").await;
    assert!(msg.contains(&BOUGHT.to_string()), "{msg}");
    let (lists, changes, all) = calls(&t, BOUGHT).await;
    assert_eq!((lists, changes.len()), (1, 0), "{all:#?}");

    // The order is bought. The next list of the key, whoever asks for it (here another
    // ProxyOrder's sync request), brings it to the waiting ProxyOrder at no extra call.
    t.env.sim_buy_order(BOUGHT, 1).await;
    t.env.sim_clear_requests().await.unwrap();
    t.annotate(
        &ns,
        "first",
        "proxy-solutions.net/sync-requested-at",
        Some("1"),
    )
    .await;
    t.env.wait_ready_in(&ns, "early").await;
    let (lists, changes, all) = calls(&t, BOUGHT).await;
    assert_eq!(lists, 1, "the sync request's list only: {all:#?}");
    assert_eq!(changes, [json!({"login": "early"})], "{all:#?}");
    assert_eq!(all.len(), 2, "nothing else: {all:#?}");
    t.assert_no_forbidden();
    t.finish().await;
}

#[tokio::test]
async fn an_api_key_fixed_in_place_is_used_within_seconds() {
    let mut t = Tenancy::start("fixkey", SimConfig::default(), &[]).await;
    let ns = tenant(&mut t, WRONG_KEY).await;
    t.apply(&ns, "keyed", own_key(ACTIVE, json!({"login": "fixed"})))
        .await;
    t.wait_refused(&ns, "keyed", "Unauthorized").await;
    settle(2).await;
    let (lists, changes, all) = calls(&t, ACTIVE).await;
    assert_eq!((lists, changes.len()), (1, 0), "one refused list: {all:#?}");
    assert_eq!(all[0]["status"], 401, "{all:#?}");

    // The user corrects the key in the same Secret (kubectl apply, no label).
    t.env.sim_clear_requests().await.unwrap();
    let started = Instant::now();
    t.put_secret(&ns, "own-key", "api-key", API_KEY).await;
    t.env.wait_ready_in(&ns, "keyed").await;
    let took = started.elapsed();
    println!("an API key fixed in place: Ready after {took:?}");
    assert!(took < Duration::from_secs(5), "Ready only after {took:?}");
    let (lists, changes, all) = calls(&t, ACTIVE).await;
    assert_eq!(lists, 1, "{all:#?}");
    assert_eq!(changes, [json!({"login": "fixed"})], "{all:#?}");
    assert_eq!(
        all.len(),
        2,
        "nothing else, nothing refused again: {all:#?}"
    );
    t.assert_no_forbidden();
    t.assert_no_leaks(&[WRONG_KEY]).await;
    t.finish().await;
}

#[tokio::test]
async fn a_password_secret_created_after_its_proxy_order_is_sent_at_once() {
    let mut t = Tenancy::start("latepw", SimConfig::default(), &[]).await;
    let ns = tenant(&mut t, API_KEY).await;
    t.apply(
        &ns,
        "late",
        own_key(
            ACTIVE,
            json!({"password": {"secretKeyRef": {"name": "late-pw", "key": "password"}}}),
        ),
    )
    .await;
    let msg = t.wait_refused(&ns, "late", "SecretNotFound").await;
    assert!(msg.contains("late-pw"), "{msg}");
    settle(2).await;
    assert_eq!(
        calls(&t, ACTIVE).await.1.len(),
        0,
        "no change call without it"
    );

    t.env.sim_clear_requests().await.unwrap();
    let started = Instant::now();
    t.put_secret(&ns, "late-pw", "password", PW_CANARY).await;
    t.env.wait_ready_in(&ns, "late").await;
    let took = started.elapsed();
    println!("a password Secret created late: Ready after {took:?}");
    assert!(took < Duration::from_secs(5), "Ready only after {took:?}");
    let (lists, changes, all) = calls(&t, ACTIVE).await;
    assert_eq!(lists, 0, "the cached list answers: {all:#?}");
    assert_eq!(changes.len(), 1, "{all:#?}");
    assert_eq!(changes[0]["password"], "[REDACTED]", "{all:#?}");
    assert_eq!(
        t.env.sim_order(ACTIVE).await["access"]["password"],
        PW_CANARY
    );
    assert_eq!(
        t.secret_data(&ns, "late-proxy").await.unwrap()["password"],
        PW_CANARY
    );
    t.assert_no_forbidden();
    t.assert_no_leaks(&[PW_CANARY]).await;
    t.finish().await;
}

#[tokio::test]
async fn a_secret_in_the_way_deleted_by_the_user_is_replaced_within_seconds() {
    let mut t = Tenancy::start("inway", SimConfig::default(), &[]).await;
    let ns = tenant(&mut t, API_KEY).await;
    // A Secret of the name the credentials would get exists already (left from another tool).
    t.put_secret(&ns, "web-proxy", "note", "not the operator's")
        .await;
    t.apply(&ns, "web", own_key(ACTIVE, json!({"login": "inway"})))
        .await;
    let msg = t.wait_refused(&ns, "web", "SecretConflict").await;
    assert!(msg.contains("web-proxy"), "{msg}");
    settle(2).await;
    assert_eq!(
        calls(&t, ACTIVE).await.1.len(),
        0,
        "no call while it is in the way"
    );

    // The user deletes it.
    let started = Instant::now();
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(t.client(), &ns)
        .delete("web-proxy", &Default::default())
        .await
        .unwrap();
    t.env.wait_ready_in(&ns, "web").await;
    let took = started.elapsed();
    println!("a Secret in the way, deleted: Ready after {took:?}");
    assert!(took < Duration::from_secs(5), "Ready only after {took:?}");
    assert_eq!(calls(&t, ACTIVE).await.1, [json!({"login": "inway"})]);
    assert_eq!(
        t.secret_data(&ns, "web-proxy").await.unwrap()["login"],
        "inway"
    );
    t.assert_no_forbidden();
    t.finish().await;
}
