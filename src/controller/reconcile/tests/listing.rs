//! Decisions that make the user wait on what the provider's order list says (the order is not
//! listed; a quantity change waits for it to expire) are made only from a list fetched after the
//! ProxyOrder was seen, and a later list wakes the ProxyOrders waiting on it.

use std::time::Instant;

use crate::{
    controller::gateway::Account,
    provider::{ApiKey, QueryOptions},
};

use super::*;

/// A world whose forced list refreshes are not spaced (the order cache's floor is its own
/// unit test's business).
async fn unspaced_world() -> World {
    world_with(|ctx| Context {
        gateway: ctx.gateway.with_forced_refresh_floor(Duration::ZERO),
        ..ctx
    })
    .await
}

/// The order list of the default API key, fetched through the gateway as a reconcile would
/// (`force`: fetched after that instant).
async fn list_now(w: &World, force: Option<Instant>) {
    let fp = credentials::fingerprint(["api-key", proxy_solutions_sim::DEFAULT_API_KEY]);
    let account = Account::new(
        w.ctx.gateway.default_target().clone(),
        &fp,
        ApiKey::new(proxy_solutions_sim::DEFAULT_API_KEY.to_string()),
    );
    let list = w
        .ctx
        .gateway
        .list(
            &account,
            QueryOptions::default(),
            Duration::from_secs(300),
            force,
        )
        .await;
    assert!(matches!(list, Ok(Ok(_))), "the list is fetched");
}

/// Removes the order from the provider and returns it (to be bought again).
async fn sell(w: &World) -> proxy_solutions_sim::wire::Order {
    let order = w.sim.order(ORDER_ID).expect("the order exists");
    let gone = reqwest::Client::new()
        .delete(format!("{}/orders/{ORDER_ID}", w.sim.admin_url()))
        .send()
        .await
        .unwrap();
    assert!(gone.status().is_success());
    order
}

#[tokio::test]
async fn an_order_missing_from_a_list_older_than_the_proxy_order_is_looked_up_in_a_newer_one() {
    let mut w = unspaced_world().await;
    // The key's list is cached from before the order was bought.
    let order = sell(&w).await;
    list_now(&w, None).await;
    w.sim.put_order(order).await.unwrap();

    let po = proxy_order(port_spec());
    let mut steps = first_observation(&w.sim);
    steps.extend([
        read_order(&po),
        secret_created(),
        status_applied(&po, "101", |body| assert_ready(&body["status"])),
    ]);
    let action = w
        .reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    assert_refresh(&action);
    // The cached list, then one fetched for this decision; never OrderNotFound.
    assert_eq!(w.list_calls(), 2);
    assert_eq!(w.change_calls().len(), 1);
    assert_eq!(w.event_reasons(), ["Applied"]);
    w.sim.shutdown().await;
}

#[tokio::test]
async fn the_wait_for_a_newer_list_concludes_nothing_and_comes_back_when_one_may_be_fetched() {
    // The real floor between forced fetches: the list just fetched is too recent.
    let mut w = world().await;
    sell(&w).await;
    list_now(&w, None).await;
    let po = proxy_order(port_spec());
    // The API key and the credentials Secret are read; nothing is written.
    let steps = vec![read_api_key(), credentials_missing()];
    let action = w
        .reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    let after = requeue_after(&action).expect("a requeue");
    assert!(
        after > Duration::from_secs(5) && after <= crate::controller::gateway::MIN_FORCED_REFRESH,
        "{action:?}"
    );
    assert_eq!(w.list_calls(), 1);
    assert!(w.event_reasons().is_empty());
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_order_is_woken_by_the_next_list_that_has_it() {
    let mut w = unspaced_world().await;
    let (tx, mut woken) = futures::channel::mpsc::unbounded();
    w.ctx.gateway.waiters.wake_into(tx);
    let order = sell(&w).await;
    let po = proxy_order(port_spec());
    // The list this reconcile fetches is newer than the ProxyOrder: the refusal stands.
    let steps = vec![
        read_api_key(),
        credentials_missing(),
        read_order(&po),
        status_applied(&po, "101", |body| {
            let synced = condition(&body["status"], "Synced");
            assert_eq!(synced["reason"], "OrderNotFound", "{body}");
        }),
    ];
    w.reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    assert_eq!(w.list_calls(), 1);
    assert!(woken.try_recv().is_err(), "nothing woken yet");

    // A list without it wakes nobody; the next one with it (whoever asks) wakes the ProxyOrder.
    list_now(&w, Some(Instant::now())).await;
    assert!(woken.try_recv().is_err(), "still not listed");
    w.sim.put_order(order).await.unwrap();
    list_now(&w, Some(Instant::now())).await;
    assert_eq!(woken.try_recv().ok(), Some(ObjectRef::from_obj(&po)));
    assert_eq!(w.list_calls(), 3);
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_quantity_change_is_held_for_expiry_only_on_a_list_newer_than_the_proxy_order() {
    let mut w = unspaced_world().await;
    // The cached list says active; the order has expired since.
    list_now(&w, None).await;
    let expired = reqwest::Client::new()
        .post(format!("{}/orders/{ORDER_ID}/status", w.sim.admin_url()))
        .json(&json!({"status": "waiting"}))
        .send()
        .await
        .unwrap();
    assert!(expired.status().is_success());

    // A login change goes through at once; the quantity, by the cached list, would wait.
    let po = proxy_order(ProxyOrderSpec {
        order_id: ORDER_ID,
        quantity: Some(3),
        login: Some("fresh".into()),
        ..Default::default()
    });
    let steps = vec![
        read_api_key(),
        credentials_missing(),
        claim_created(&w.sim),
        read_order(&po),
        Step::post(secrets_path()).reply_with(|req| (201, with_version(req.body.clone(), "7"))),
        status_applied(&po, "101", |body| {
            let synced = condition(&body["status"], "Synced");
            assert_eq!(synced["reason"], "Applied", "{body}");
        }),
    ];
    w.reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    assert_eq!(w.list_calls(), 2);
    let calls = w.change_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].body, json!({ "login": "fresh", "quantity": 3 }));
    w.sim.shutdown().await;
}
