//! The Revoke finalizer: added with the deletion policy, and on deletion the revocation (or
//! why there is none) before it is removed.

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

use super::*;
use proxy_order_api::{
    AccessSummary, DeletionPolicy, FINALIZER, PAUSED_ANNOTATION, ProxyOrderStatus,
};

/// A ProxyOrder with this deletion policy that published the order's credentials.
fn managed(policy: Option<DeletionPolicy>) -> ProxyOrder {
    let mut po = proxy_order(ProxyOrderSpec {
        deletion_policy: policy,
        ..port_spec()
    });
    po.status = Some(ProxyOrderStatus {
        access: Some(AccessSummary {
            port: NEW_PORT,
            login: "user10000".into(),
            ip_list: vec!["192.168.1.1".into()],
        }),
        password_fingerprint: Some("sha256:published".into()),
        secret_name: Some("web-proxy".into()),
        ..Default::default()
    });
    po
}

/// `po` being deleted, with these finalizers.
fn deleting(mut po: ProxyOrder, finalizers: &[&str]) -> ProxyOrder {
    po.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
    po.metadata.finalizers = Some(finalizers.iter().map(|f| f.to_string()).collect());
    po
}

/// The credentials Secret, owned by the ProxyOrder.
fn owned_secret() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "web-proxy",
            "namespace": NS,
            "resourceVersion": "7",
            "ownerReferences": [{
                "apiVersion": "proxy-solutions.net/v1alpha1",
                "kind": "ProxyOrder",
                "name": NAME,
                "uid": UID,
                "controller": true,
            }],
        },
        "data": {},
    })
}

/// A merge patch of the ProxyOrder's finalizers, conditional on `rv`, leaving `finalizers`;
/// answered with `po` (as stored afterwards).
fn finalizers_set(rv: &'static str, finalizers: Vec<&'static str>, po: &ProxyOrder) -> Step {
    Step::patch(po_path())
        .check(move |req| {
            assert_eq!(
                req.body,
                json!({ "metadata": { "resourceVersion": rv, "finalizers": finalizers } })
            );
        })
        .reply(200, to_json(po))
}

/// `po` once its finalizers are removed.
fn without_finalizers(po: &ProxyOrder) -> ProxyOrder {
    let mut gone = po.clone();
    gone.metadata.finalizers = Some(Vec::new());
    gone
}

/// The deleting `po` is read once and its finalizer removed; the provider gets no request.
async fn lets_go_without_a_provider_request(po: ProxyOrder) {
    let mut w = world().await;
    let steps = vec![
        read_order(&po),
        finalizers_set(RV, vec![], &without_finalizers(&po)),
    ];
    let action = w.reconcile(&po, steps).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert!(w.sim.requests().is_empty(), "{:?}", w.sim.requests());
    w.sim.shutdown().await;
}

#[tokio::test]
async fn deleting_with_revoke_rotates_the_password_and_clears_the_allow_list_then_lets_go() {
    let mut w = world().await;
    let po = deleting(managed(Some(DeletionPolicy::Revoke)), &[FINALIZER]);
    let before = w.live_password();
    let gone = without_finalizers(&po);
    let steps = vec![
        // Deletion is acted on only from the API server's copy.
        read_order(&po),
        read_api_key(),
        credentials_are(owned_secret()),
        claim_created(&w.sim),
        // Only the claim's holder revokes: it is read whatever the order list said.
        claim_held(&w.sim),
        finalizers_set(RV, vec![], &gone),
    ];
    let action = w
        .reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    assert_eq!(action, Action::await_change());

    let calls = w.change_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].body["gen_password"], true);
    let order = w.sim.order(ORDER_ID).unwrap();
    assert!(
        order.access.unwrap().ip_list.is_empty(),
        "allow-list cleared"
    );
    assert_ne!(w.live_password(), before, "password rotated");
    assert_eq!(w.event_reasons(), ["Revoked"]);
    w.sim.shutdown().await;
}

#[tokio::test]
async fn deleting_without_the_finalizer_makes_no_call_and_no_write() {
    // The default policy (Orphan) never adds the finalizer: there is nothing to do.
    let mut w = world().await;
    let po = deleting(managed(None), &[]);
    let action = w.reconcile(&po, vec![read_order(&po)]).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert!(w.sim.requests().is_empty(), "{:?}", w.sim.requests());
    assert!(w.api.events().is_empty());
    w.sim.shutdown().await;
}

#[tokio::test]
async fn deleting_a_paused_order_lets_go_without_a_provider_request() {
    // Paused: nothing is read or revoked, the finalizer is removed at once.
    let mut po = deleting(managed(Some(DeletionPolicy::Revoke)), &[FINALIZER]);
    po.metadata.annotations = Some([(PAUSED_ANNOTATION.to_string(), "true".to_string())].into());
    lets_go_without_a_provider_request(po).await;
}

#[tokio::test]
async fn deleting_an_order_that_never_published_credentials_revokes_nothing() {
    let mut w = world().await;
    let mut po = deleting(managed(Some(DeletionPolicy::Revoke)), &[FINALIZER]);
    po.status = None;
    let gone = without_finalizers(&po);
    let steps = vec![
        read_order(&po),
        read_api_key(),
        credentials_missing(),
        claim_created(&w.sim),
        finalizers_set(RV, vec![], &gone),
    ];
    let action = w.reconcile(&po, steps).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(w.list_calls(), 1);
    assert!(w.change_calls().is_empty(), "{:?}", w.change_calls());
    assert_eq!(w.event_reasons(), ["RevokeSkipped"]);
    w.sim.shutdown().await;
}

#[tokio::test]
async fn the_revoke_policy_adds_the_finalizer_before_anything_is_called() {
    let mut w = world().await;
    let po = proxy_order(ProxyOrderSpec {
        deletion_policy: Some(DeletionPolicy::Revoke),
        ..port_spec()
    });
    let mut with_finalizer = at_version(&po, "101");
    with_finalizer.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
    let mut steps = vec![
        finalizers_set(RV, vec![FINALIZER], &with_finalizer),
        // Decided again from the API server's copy, which needs no second read.
        read_order(&with_finalizer),
    ];
    steps.extend(first_observation(&w.sim));
    steps.extend([
        secret_created(),
        status_applied(&with_finalizer, "102", |body| assert_ready(&body["status"])),
    ]);
    let action = w
        .reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    assert_refresh(&action);
    assert_eq!(w.change_calls().len(), 1);
    w.sim.shutdown().await;
}

#[tokio::test]
async fn deleting_after_the_policy_went_back_to_orphan_revokes_nothing() {
    // The policy was switched from Revoke to the default (Orphan) and the ProxyOrder deleted
    // before a reconcile removed the finalizer: the spec says the order keeps its credentials,
    // so the finalizer goes without a provider request.
    lets_go_without_a_provider_request(deleting(managed(None), &[FINALIZER])).await;
}
