//! What observe reads for a ProxyOrder, request by request: the account it may use, the
//! referenced Secrets, the order list and the order's claim.

use std::time::Instant;

use crate::controller::{
    conditions::Reason,
    observe::{Observation, observe},
    plan::OwnedSecret,
};
use proxy_order_api::{PAUSED_ANNOTATION, PasswordSource, ProviderRef, SecretKeyRef};

use super::*;

async fn observed(w: &mut World, po: &ProxyOrder, steps: Vec<Step>) -> Observation {
    let ctx = w.ctx.clone();
    let work = observe(po, &ctx, NS, Instant::now());
    w.api.serve(steps, work).await.expect("observe succeeds")
}

fn provider_path(name: &str) -> String {
    format!("/apis/proxy-solutions.net/v1alpha1/proxyproviders/{name}")
}

/// A ProxyProvider for the simulator, allowing `namespaces`, its key in `shared-key`.
fn provider(sim: &Simulator, namespaces: &[&str]) -> Value {
    json!({
        "apiVersion": "proxy-solutions.net/v1alpha1",
        "kind": "ProxyProvider",
        "metadata": { "name": "shared", "resourceVersion": "3" },
        "spec": {
            "url": sim.base_url(),
            "apiKeySecretRef": { "name": "shared-key" },
            "namespaces": namespaces,
        },
    })
}

fn with_provider() -> ProxyOrder {
    proxy_order(ProxyOrderSpec {
        provider_ref: Some(ProviderRef {
            name: "shared".into(),
        }),
        ..port_spec()
    })
}

/// The order's claim as read, held by `holder` (`namespace/name/uid`).
fn claim_of(w: &World, holder: &str) -> Step {
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": { "name": claim(&w.sim), "namespace": OPERATOR_NS, "resourceVersion": "4" },
        "spec": { "holderIdentity": holder },
    });
    Step::get(format!("{}/{}", leases_path(), claim(&w.sim))).reply(200, lease)
}

#[tokio::test]
async fn a_missing_provider_denies_the_order_and_nothing_else_is_read() {
    let mut w = world().await;
    let steps = vec![
        Step::get(provider_path("shared")).fail(404, "NotFound"),
        credentials_missing(),
    ];
    let obs = observed(&mut w, &with_provider(), steps).await;
    let (reason, _) = obs.observed.denied.expect("denied");
    assert_eq!(reason, Reason::ProviderNotFound);
    assert!(obs.account.is_none() && obs.observed.listed.is_none());
    assert!(w.sim.requests().is_empty(), "{:?}", w.sim.requests());
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_does_not_list_the_namespace_denies_it_without_reading_its_key() {
    let mut w = world().await;
    let steps = vec![
        Step::get(provider_path("shared")).reply(200, provider(&w.sim, &["team-b"])),
        credentials_missing(),
    ];
    let obs = observed(&mut w, &with_provider(), steps).await;
    let (reason, _) = obs.observed.denied.expect("denied");
    assert_eq!(reason, Reason::NamespaceNotAllowed);
    assert!(obs.account.is_none());
    assert!(w.sim.requests().is_empty());
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_allows_the_namespace_lends_its_key_and_the_order_is_claimed() {
    let mut w = world().await;
    let key = with_version(api_key_secret(), "2");
    let steps = vec![
        Step::get(provider_path("shared")).reply(200, provider(&w.sim, &[NS])),
        // The ProxyProvider's key, in the operator's namespace (it names none).
        Step::get(format!(
            "/api/v1/namespaces/{OPERATOR_NS}/secrets/shared-key"
        ))
        .reply(200, {
            let mut key = key;
            key["metadata"]["name"] = json!("shared-key");
            key
        }),
        credentials_missing(),
        claim_created(&w.sim),
    ];
    let obs = observed(&mut w, &with_provider(), steps).await;
    assert!(obs.observed.denied.is_none());
    let account = obs.account.expect("an account");
    assert_eq!(
        account.target.scope,
        crate::provider::config::scope_of(&w.sim.base_url())
    );
    let listed = obs
        .observed
        .listed
        .expect("listed")
        .expect("the list succeeded");
    assert_eq!(listed.map(|o| o.id), Some(ORDER_ID));
    assert_eq!(obs.observed.secret, OwnedSecret::Missing);
    assert!(obs.observed.conflict.is_none());
    assert_eq!(w.list_calls(), 1);
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_paused_order_reads_its_secrets_but_not_the_order_list() {
    let mut w = world().await;
    let mut po = proxy_order(ProxyOrderSpec {
        password: Some(PasswordSource {
            secret_key_ref: Some(SecretKeyRef {
                name: "px-pass".into(),
                key: "password".into(),
            }),
            ..Default::default()
        }),
        ..port_spec()
    });
    po.metadata.annotations = Some([(PAUSED_ANNOTATION.to_string(), "true".to_string())].into());
    let password = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": "px-pass", "namespace": NS, "resourceVersion": "5" },
        // "chosen-one\n", as `echo > file` leaves it.
        "data": { "password": "Y2hvc2VuLW9uZQo=" },
    });
    let steps = vec![
        read_api_key(),
        Step::get(format!("{}/px-pass", secrets_path())).reply(200, password),
        credentials_missing(),
    ];
    let obs = observed(&mut w, &po, steps).await;
    let read = obs.observed.password.expect("read").expect("found");
    assert_eq!(read.expose_secret(), "chosen-one", "trimmed");
    assert!(obs.observed.listed.is_none());
    assert!(
        w.sim.requests().is_empty(),
        "no provider request while paused"
    );
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_claim_held_by_an_existing_order_elsewhere_is_a_conflict_named_vaguely() {
    let mut w = world().await;
    let steps = vec![
        read_api_key(),
        credentials_missing(),
        claim_exists(&w.sim),
        claim_of(&w, "team-b/secret-project/uid-other"),
        // The holder still exists (same UID): its metadata is read, nothing more.
        Step::get(
            "/apis/proxy-solutions.net/v1alpha1/namespaces/team-b/proxyorders/secret-project",
        )
        .reply(
            200,
            json!({
                "apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadata",
                "metadata": { "name": "secret-project", "namespace": "team-b", "uid": "uid-other" },
            }),
        ),
    ];
    let obs = observed(&mut w, &proxy_order(port_spec()), steps).await;
    assert_eq!(
        obs.observed.conflict.as_deref(),
        Some("a ProxyOrder in another namespace")
    );
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_claim_whose_holder_in_another_namespace_is_gone_stays_reserved_for_that_namespace() {
    // The deletion was not seen (the operator was down): the holder's namespace keeps the
    // order for the reservation period from now, and this ProxyOrder is told so.
    let mut w = world().await;
    let name = claim(&w.sim);
    let steps = vec![
        read_api_key(),
        credentials_missing(),
        claim_exists(&w.sim),
        claim_of(&w, "team-b/deleted/uid-gone"),
        Step::get("/apis/proxy-solutions.net/v1alpha1/namespaces/team-b/proxyorders/deleted")
            .fail(404, "NotFound"),
        Step::put(format!("{}/{name}", leases_path()))
            .check(|req| {
                assert_eq!(req.body["metadata"]["resourceVersion"], "4");
                assert!(
                    req.body["spec"].get("holderIdentity").is_none(),
                    "{}",
                    req.body
                );
                assert_eq!(
                    req.body["metadata"]["labels"][claim::RESERVED_FOR_LABEL],
                    "team-b"
                );
                assert!(
                    req.body["metadata"]["annotations"][claim::RESERVED_UNTIL_ANNOTATION]
                        .is_string()
                );
            })
            .reply_with(|req| (200, with_version(req.body.clone(), "5"))),
    ];
    let obs = observed(&mut w, &proxy_order(port_spec()), steps).await;
    let conflict = obs.observed.conflict.expect("a conflict");
    assert!(conflict.contains("reserved"), "{conflict}");
    assert!(!conflict.contains("team-b"), "{conflict}");
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_claim_whose_holder_in_this_namespace_is_gone_is_taken_over_at_the_version_read() {
    let mut w = world().await;
    let name = claim(&w.sim);
    let steps = vec![
        read_api_key(),
        credentials_missing(),
        claim_exists(&w.sim),
        claim_of(&w, &format!("{NS}/deleted/uid-gone")),
        Step::get(format!(
            "/apis/proxy-solutions.net/v1alpha1/namespaces/{NS}/proxyorders/deleted"
        ))
        .fail(404, "NotFound"),
        Step::put(format!("{}/{name}", leases_path()))
            .check(|req| {
                assert_eq!(req.body["metadata"]["resourceVersion"], "4");
                assert_eq!(
                    req.body["spec"]["holderIdentity"],
                    json!(format!("{NS}/{NAME}/{UID}"))
                );
            })
            .reply_with(|req| (200, with_version(req.body.clone(), "5"))),
    ];
    let obs = observed(&mut w, &proxy_order(port_spec()), steps).await;
    assert!(obs.observed.conflict.is_none());
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_credentials_secret_is_ours_only_if_the_operator_made_it() {
    // Anyone who may create Secrets in the namespace can name the ProxyOrder as controller. A
    // Secret counts as the credentials Secret only with the operator's label and type too;
    // anything else is someone else's (SecretConflict: no call, nothing written to it).
    let po = proxy_order(port_spec());
    let made = |labelled: bool, type_: Option<&str>| {
        let mut s = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {
                "name": "web-proxy", "namespace": NS, "resourceVersion": "5",
                "ownerReferences": [{"apiVersion": "proxy-solutions.net/v1alpha1",
                    "kind": "ProxyOrder", "name": NAME, "uid": UID, "controller": true}],
            },
            "data": {},
        });
        if labelled {
            s["metadata"]["labels"] =
                json!({"app.kubernetes.io/managed-by": "proxy-order-operator"});
        }
        if let Some(t) = type_ {
            s["type"] = json!(t);
        }
        s
    };
    for (secret, ours) in [
        (made(true, Some("Opaque")), true),
        (made(true, None), true),
        (made(true, Some("kubernetes.io/dockerconfigjson")), false),
        (made(false, Some("Opaque")), false),
    ] {
        let mut w = world().await;
        let what = secret.to_string();
        let steps = vec![
            read_api_key(),
            credentials_are(secret),
            claim_created(&w.sim),
        ];
        let obs = observed(&mut w, &po, steps).await;
        let found = match obs.observed.secret {
            OwnedSecret::Present(_) => true,
            OwnedSecret::Foreign => false,
            OwnedSecret::Missing => panic!("{what}: seen missing"),
        };
        assert_eq!(found, ours, "{what}");
        w.sim.shutdown().await;
    }
}

#[tokio::test]
async fn a_claim_held_by_a_cached_proxy_order_is_a_conflict_known_without_a_read() {
    // The claim watch says who holds the claim, the ProxyOrder watch that it still exists: a
    // waiting ProxyOrder's re-check costs no read of the claim or of its holder.
    use kube::runtime::{reflector::store::Writer, watcher};
    let mut holder = ProxyOrder::new("holder", port_spec());
    holder.metadata.namespace = Some("team-b".into());
    holder.metadata.uid = Some("uid-holder".into());
    let mut writer = Writer::<ProxyOrder>::default();
    writer.apply_watcher_event(&watcher::Event::Apply(holder));
    let store = writer.as_reader();
    let mut w = world_with(|ctx| Context {
        store: Some(store),
        ..ctx
    })
    .await;
    w.ctx.holders.add("uid-holder", "team-b", "holder");
    let mut lease =
        kube::core::PartialObjectMeta::<k8s_openapi::api::coordination::v1::Lease>::default();
    lease.metadata.name = Some(claim(&w.sim));
    lease.metadata.namespace = Some(OPERATOR_NS.into());
    lease.metadata.resource_version = Some("3".into());
    lease.metadata.labels = Some(
        [(
            claim::HOLDER_UID_LABEL.to_string(),
            "uid-holder".to_string(),
        )]
        .into(),
    );
    w.ctx.claims.tracker().apply(&watcher::Event::Apply(lease));
    // The API key and the credentials Secret only.
    let steps = vec![read_api_key(), credentials_missing()];
    let obs = observed(&mut w, &proxy_order(port_spec()), steps).await;
    assert_eq!(
        obs.observed.conflict.as_deref(),
        Some("a ProxyOrder in another namespace")
    );
    w.sim.shutdown().await;
}
