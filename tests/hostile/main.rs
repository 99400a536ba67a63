//! The hostile-tenant suite: what a tenant who is trusted with nothing beyond its own namespace
//! (the built-in `edit` role there, plus every right on ProxyOrders) can do to another tenant
//! sharing a ProxyProvider, and to the operator they share. The operator runs as a
//! multi-tenant installation does: cluster-wide, as the chart's ServiceAccount, with
//! `--allow-api-key-secret-ref=false` (tenants use the administrators' ProxyProviders only).
//! The attacker acts through its own client (the API server checks its rights); the victim's
//! objects are created as an administrator would. Each scenario is one attack from
//! docs/security.md, and fails when the attack works.
//!
//! Run with `make test-hostile` (it starts the control plane); `make test` runs it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, PostParams},
};
use proxy_order_api::ProxyOrder;
use proxy_order_operator::credentials;
use proxy_solutions_sim::SimConfig;
use serde_json::{Value, json};

use proxy_order_testkit::{
    tenancy::{Tenancy, two_tenants, via},
    *,
};

const ROTATE: &str = "proxy-solutions.net/rotate-password";
const SYNC: &str = "proxy-solutions.net/sync-requested-at";
const PAUSED: &str = "proxy-solutions.net/paused";

/// The operator as a multi-tenant installation runs it, with `extra` flags.
async fn hostile(name: &str, extra: &[&str]) -> Tenancy {
    let mut args = vec!["--allow-api-key-secret-ref=false"];
    args.extend_from_slice(extra);
    Tenancy::start_with(
        name,
        SimConfig::default(),
        &["allowApiKeySecretRef=false"],
        &args,
    )
    .await
}

/// Deletes ProxyOrder `ns/name` and waits until it is gone.
async fn delete_and_wait(t: &Tenancy, ns: &str, name: &str) {
    t.orders(ns)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    t.env
        .wait_for(&format!("{ns}/{name} deleted"), 30, async || {
            t.orders(ns)
                .get_opt(name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
}

/// The password in the credentials Secret of ProxyOrder `ns/name`.
async fn password(t: &Tenancy, ns: &str, name: &str) -> Option<String> {
    t.secret_data(ns, &format!("{name}-proxy"))
        .await
        .and_then(|d| d.get("password").cloned())
}

#[tokio::test]
async fn a_recreated_proxy_order_keeps_its_order_from_a_tenant_lying_in_wait() {
    let mut t = hostile("snipe", &[]).await;
    let (victim, attacker, provider) = two_tenants(&mut t).await;
    let mallory = t.tenant_client(&attacker, "mallory").await;
    let spec = via(
        &provider,
        ACTIVE,
        json!({"login": "victim", "password": {"generate": true}}),
    );
    t.apply(&victim, "web", spec.clone()).await;
    t.env.wait_ready_in(&victim, "web").await;
    // The attacker waits on the victim's order, asking only to read it.
    t.apply_as(
        &mallory,
        &attacker,
        "lurk",
        via(&provider, ACTIVE, json!({"managementPolicy": "Observe"})),
    )
    .await
    .unwrap();
    t.wait_refused(&attacker, "lurk", "OrderConflict").await;
    let mut passwords = Vec::new();
    for round in 0..3 {
        // The victim re-creates its ProxyOrder (orderId and providerRef are immutable).
        delete_and_wait(&t, &victim, "web").await;
        settle(2).await;
        assert!(
            t.secret_data(&attacker, "lurk-proxy").await.is_none(),
            "round {round}: the tenant lying in wait got the order's credentials"
        );
        let lease = t.claim(ACTIVE).await.expect("the claim stays");
        assert_eq!(
            lease.labels().get("proxy-solutions.net/reserved-for"),
            Some(&victim),
            "round {round}: {lease:?}"
        );
        t.apply(&victim, "web", spec.clone()).await;
        t.env.wait_ready_in(&victim, "web").await;
        t.assert_claimed_by(ACTIVE, &victim, "web").await;
        passwords.push(password(&t, &victim, "web").await.unwrap());
    }
    let msg = t.wait_refused(&attacker, "lurk", "OrderConflict").await;
    assert!(!msg.contains(&victim), "the victim is named: {msg}");
    assert!(t.secret_data(&attacker, "lurk-proxy").await.is_none());
    let pws: Vec<&str> = passwords.iter().map(String::as_str).collect();
    t.assert_no_leaks(&pws).await;
    t.assert_no_forbidden();
    t.finish().await;
}

#[tokio::test]
async fn two_spellings_of_one_account_cannot_both_manage_an_order() {
    let mut t = hostile("spell", &[]).await;
    let victim = t.namespace("victim", json!({})).await;
    let attacker = t.namespace("mallory", json!({})).await;
    let mallory = t.tenant_client(&attacker, "mallory").await;
    let one = t
        .apply_provider("one", t.provider_spec(&[&victim], None))
        .await;
    // The same account, its URL spelled another way.
    let mut spec = t.provider_spec(&[&attacker], None);
    spec["url"] = json!(t.env.sim.base_url().replace("127.0.0.1", "localhost"));
    let two = t.apply_provider("two", spec).await;
    t.apply(
        &victim,
        "web",
        via(
            &one,
            ACTIVE,
            json!({"login": "victim", "password": {"generate": true}}),
        ),
    )
    .await;
    t.env.wait_ready_in(&victim, "web").await;
    let order = t.env.sim_order(ACTIVE).await;
    let calls = t.env.change_calls(ACTIVE).await.len();

    t.apply_as(
        &mallory,
        &attacker,
        "twin",
        via(
            &two,
            ACTIVE,
            json!({"login": "mallory", "ipAuth": ["203.0.113.66"], "password": {"generate": true}}),
        ),
    )
    .await
    .unwrap();
    let msg = t.wait_refused(&attacker, "twin", "OrderConflict").await;
    assert!(!msg.contains(&victim), "{msg}");
    settle(3).await;
    assert_eq!(
        t.env.change_calls(ACTIVE).await.len(),
        calls,
        "a change through the other spelling"
    );
    assert_eq!(
        t.env.sim_order(ACTIVE).await["access"],
        order["access"],
        "the order was changed"
    );
    assert!(t.secret_data(&attacker, "twin-proxy").await.is_none());
    t.env.wait_ready_in(&victim, "web").await;
    t.assert_claimed_by(ACTIVE, &victim, "web").await;
    t.assert_no_forbidden();
    t.finish().await;
}

/// How long a password rotation of `ns/web` takes from the annotation to the new password in
/// its Secret.
async fn rotation(t: &Tenancy, ns: &str, token: &str) -> Duration {
    let before = password(t, ns, "web").await.unwrap();
    let started = Instant::now();
    t.annotate(ns, "web", ROTATE, Some(token)).await;
    t.env
        .wait_for("the rotated password in the Secret", 60, async || {
            let now = password(t, ns, "web").await?;
            (now != before).then_some(())
        })
        .await;
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The operator's reconciles so far (`proxy_order_reconciles_total`, all results).
async fn reconciles(t: &Tenancy) -> f64 {
    t.env
        .metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("proxy_order_reconciles_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_tenants_crowd_waiting_on_an_order_does_not_slow_another_tenant() {
    const CROWD: usize = 300;
    let mut t = hostile("stall", &[]).await;
    let (victim, attacker, provider) = two_tenants(&mut t).await;
    let mallory = t.tenant_client(&attacker, "mallory").await;
    t.apply(
        &victim,
        "web",
        via(&provider, ACTIVE, json!({"password": {"generate": true}})),
    )
    .await;
    t.env.wait_ready_in(&victim, "web").await;
    let mut idle = Vec::new();
    for i in 0..3 {
        idle.push(rotation(&t, &victim, &format!("idle-{i}")).await);
    }
    let idle = median(idle);

    // The attacker's crowd, all naming the victim's order.
    let (t_ref, mallory_ref, ns_ref, provider_ref) = (&t, &mallory, &attacker, &provider);
    futures::future::join_all((0..CROWD).map(|i| async move {
        t_ref
            .apply_as(
                mallory_ref,
                ns_ref,
                &format!("crowd-{i}"),
                via(provider_ref, ACTIVE, json!({})),
            )
            .await
            .unwrap();
    }))
    .await;
    t.env
        .wait_for("the crowd refused", 120, async || {
            let list = t.orders(&attacker).list(&Default::default()).await.ok()?;
            let refused = list
                .items
                .iter()
                .filter(|po| condition(po, "Ready").is_some_and(|c| c.1 == "OrderConflict"))
                .count();
            (refused == CROWD).then_some(())
        })
        .await;
    // And one more, created and deleted over and over.
    let before = reconciles(&t).await;
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (stop, client, body) = (
            stop.clone(),
            mallory.clone(),
            t.body("churn", via(&provider, ACTIVE, json!({}))),
        );
        let ns = attacker.clone();
        tokio::spawn(async move {
            let api: Api<ProxyOrder> = Api::namespaced(client, &ns);
            let mut cycles = 0;
            while !stop.load(Ordering::Relaxed) {
                let po: ProxyOrder = serde_json::from_value(body.clone()).unwrap();
                let _ = api.create(&PostParams::default(), &po).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = api.delete("churn", &DeleteParams::default()).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                cycles += 1;
            }
            cycles
        })
    };
    settle(2).await;
    let mut loaded = Vec::new();
    for i in 0..3 {
        loaded.push(rotation(&t, &victim, &format!("loaded-{i}")).await);
    }
    let loaded = median(loaded);
    stop.store(true, Ordering::Relaxed);
    let cycles = churn.await.unwrap();
    let spent = reconciles(&t).await - before;
    println!(
        "rotation of another tenant's order: idle {idle:?}, with {CROWD} waiting and {cycles} \
         create/delete cycles {loaded:?}; {spent} reconciles meanwhile"
    );
    assert!(
        loaded <= idle * 2 + Duration::from_millis(500),
        "the rotation took {loaded:?} under the crowd, {idle:?} idle"
    );
    // Each deletion of a ProxyOrder that held nothing wakes nobody: the crowd is not
    // reconciled over and over.
    assert!(
        spent < (cycles as f64 + 10.0) * 4.0,
        "{spent} reconciles for {cycles} cycles"
    );
    t.assert_no_forbidden();
    t.finish().await;
}

#[tokio::test]
async fn a_tenants_large_objects_and_secrets_leave_the_operator_within_its_memory_bound() {
    /// What the operator may grow by under this attack (it grew by about 90 MiB when it kept
    /// every annotation and every Secret it read; now about 30 MiB, most of it memory the
    /// allocator keeps after the 25 MiB of annotations and the 28 MiB of Secrets passed through).
    const BOUND_MIB: u64 = 48;
    let mut t = hostile("memory", &[]).await;
    let (victim, attacker, provider) = two_tenants(&mut t).await;
    let mallory = t.tenant_client(&attacker, "mallory").await;
    t.apply(
        &victim,
        "web",
        via(&provider, ACTIVE, json!({"login": "victim"})),
    )
    .await;
    t.env.wait_ready_in(&victim, "web").await;
    settle(2).await;
    let before = t.env.operator_rss_kib();

    // 101 ProxyOrders as large as the schema and the API server let them be: a quarter MiB of
    // annotations of the tenant's own, the largest template, Secret annotations and allow-list.
    let template: serde_json::Map<String, Value> = (0..32)
        .map(|i| (format!("k{i}"), json!("{{ url }}".repeat(113))))
        .collect();
    let annotations: serde_json::Map<String, Value> = (0..64)
        .map(|i| (format!("example.com/a{i}"), json!("a".repeat(1024))))
        .collect();
    let ips: Vec<String> = (0..1000)
        .map(|i| format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256))
        .collect();
    let (t_ref, mallory_ref, ns_ref) = (&t, &mallory, &attacker);
    let (template, annotations, ips, provider_ref) = (&template, &annotations, &ips, &provider);
    futures::future::join_all((0..101).map(|i| async move {
        let mut body = t_ref.body(
            &format!("big-{i}"),
            via(
                provider_ref,
                30_000 + i,
                json!({"secret": {"template": template, "annotations": annotations},
                       "ipAuth": ips}),
            ),
        );
        body["metadata"]["annotations"] = json!({"example.com/blob": "b".repeat(250_000)});
        Api::<ProxyOrder>::namespaced(mallory_ref.clone(), ns_ref)
            .patch(
                &format!("big-{i}"),
                &kube::api::PatchParams::apply("tenant").force(),
                &kube::api::Patch::Apply(body),
            )
            .await
            .unwrap();
    }))
    .await;

    // One ProxyOrder naming, in turn, 40 password Secrets of 700 KiB each.
    let secrets: Api<Secret> = Api::namespaced(mallory.clone(), &attacker);
    for i in 0..40 {
        let s = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(format!("pw-{i}")),
                ..Default::default()
            },
            data: Some(
                [
                    (
                        "password".to_string(),
                        ByteString(format!("pw-{i}").into_bytes()),
                    ),
                    ("blob".to_string(), ByteString(vec![b'x'; 700 * 1024])),
                ]
                .into(),
            ),
            ..Default::default()
        };
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    for i in 0..40 {
        t.apply_as(
            &mallory,
            &attacker,
            "cycle",
            via(
                &provider,
                30_500,
                json!({"password": {"secretKeyRef": {"name": format!("pw-{i}"), "key": "password"}}}),
            ),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    t.env
        .wait_for("every large ProxyOrder decided", 120, async || {
            let list = t.orders(&attacker).list(&Default::default()).await.ok()?;
            let decided = list
                .items
                .iter()
                .filter(|po| {
                    po.status.as_ref().and_then(|s| s.observed_generation) == po.metadata.generation
                })
                .count();
            (decided == 102).then_some(())
        })
        .await;
    settle(3).await;
    let after = t.env.operator_rss_kib();
    let grown = after.saturating_sub(before) / 1024;
    println!(
        "operator RSS before the attack {} MiB, after {} MiB: +{grown} MiB (bound {BOUND_MIB} MiB)",
        before / 1024,
        after / 1024
    );
    assert!(
        grown <= BOUND_MIB,
        "the operator grew by {grown} MiB (bound {BOUND_MIB} MiB)"
    );
    t.assert_no_forbidden();
    t.finish().await;
}

#[tokio::test]
async fn a_tenant_gets_its_share_of_a_shared_key_and_not_more() {
    // Rotations limited as a multi-tenant installation should (the suites' default is none).
    let mut t = hostile("budget", &["--rotation-min-interval", "1m"]).await;
    let (victim, attacker, provider) = two_tenants(&mut t).await;
    let mallory = t.tenant_client(&attacker, "mallory").await;
    t.apply(
        &victim,
        "web",
        via(&provider, ACTIVE, json!({"login": "victim-1"})),
    )
    .await;
    t.env.wait_ready_in(&victim, "web").await;
    t.apply_as(
        &mallory,
        &attacker,
        "spin",
        via(&provider, MOBILE, json!({"password": {"generate": true}})),
    )
    .await
    .unwrap();
    t.env.wait_ready_in(&attacker, "spin").await;

    // The attacker's own Secret carries the fingerprint salt: it says nothing of the
    // administrators' API key (a salt derived from it would let the tenant test guesses).
    let spin = t.get(&attacker, "spin").await;
    let secret = Api::<Secret>::namespaced(mallory.clone(), &attacker)
        .get("spin-proxy")
        .await
        .unwrap();
    let salt = secret.annotations()["proxy-solutions.net/fingerprint-salt"].clone();
    let key_fp = credentials::fingerprint(["api-key", API_KEY]);
    assert_ne!(
        salt,
        credentials::fingerprint(["fingerprint-salt", &spin.uid().unwrap(), &key_fp])
    );
    assert!(
        salt.len() == 32 && salt.chars().all(|c| c.is_ascii_hexdigit()),
        "{salt}"
    );

    // A rotation loop: a new token every 200 ms for 10 s.
    t.env.sim_clear_requests().await.unwrap();
    let spinner = {
        let (client, ns) = (mallory.clone(), attacker.clone());
        tokio::spawn(async move {
            let api: Api<ProxyOrder> = Api::namespaced(client, &ns);
            for i in 0..50 {
                let patch = json!({"metadata": {"annotations": {ROTATE: format!("spin-{i}")}}});
                let _ = api
                    .patch("spin", &Default::default(), &kube::api::Patch::Merge(patch))
                    .await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    settle(2).await;
    // Meanwhile the victim's change goes through promptly.
    let started = Instant::now();
    t.apply(
        &victim,
        "web",
        via(&provider, ACTIVE, json!({"login": "victim-2"})),
    )
    .await;
    t.env
        .wait_for("the victim's change at the provider", 30, async || {
            (t.env.sim_order(ACTIVE).await["access"]["login"] == "victim-2").then_some(())
        })
        .await;
    let victim_took = started.elapsed();
    spinner.await.unwrap();
    let generations = t
        .env
        .change_calls(MOBILE)
        .await
        .iter()
        .filter(|c| c["body"]["gen_password"] == true)
        .count();
    println!(
        "50 rotation requests in 10 s: {generations} password generations; the other \
         tenant's change took {victim_took:?}"
    );
    assert!(
        generations <= 1,
        "{generations} generations in 10 s for one ProxyOrder"
    );
    assert!(victim_took < Duration::from_secs(5), "{victim_took:?}");

    // Forced refreshes in every language and currency: at most one list per 10 s for the key.
    let variants: Vec<(&str, &str)> = ["EN", "RU", "UA"]
        .iter()
        .flat_map(|l| {
            ["USD", "EUR", "RUB", "UAH", "KZT"]
                .iter()
                .map(move |c| (*l, *c))
        })
        .collect();
    for (i, (lang, currency)) in variants.iter().enumerate() {
        t.apply_as(
            &mallory,
            &attacker,
            &format!("sync-{i}"),
            via(
                &provider,
                EXPIRED,
                json!({"lang": lang, "currency": currency}),
            ),
        )
        .await
        .unwrap();
    }
    // Each has fetched its own language's list once (not a forced refresh).
    t.env
        .wait_for("every sync ProxyOrder decided", 60, async || {
            let list = t.orders(&attacker).list(&Default::default()).await.ok()?;
            let decided = list
                .items
                .iter()
                .filter(|po| po.name_any().starts_with("sync-"))
                .filter(|po| {
                    po.status.as_ref().and_then(|s| s.observed_generation) == po.metadata.generation
                })
                .count();
            (decided == variants.len()).then_some(())
        })
        .await;
    settle(1).await;
    t.env.sim_clear_requests().await.unwrap();
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(20) {
        for i in 0..variants.len() {
            t.annotate(
                &attacker,
                &format!("sync-{i}"),
                SYNC,
                Some(&format!("s{round}")),
            )
            .await;
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    settle(1).await;
    let lists = t.env.list_calls().await;
    let took = started.elapsed();
    println!(
        "{round} rounds of sync requests in 15 languages and currencies over {took:?}: {lists} \
         list calls"
    );
    // At most one forced list per 10 s for the key, whatever the language and currency.
    let most = took.as_secs() / 10 + 1;
    assert!(lists as u64 <= most, "{lists} list calls in {took:?}");
    t.assert_no_forbidden();
    t.finish().await;
}

#[tokio::test]
async fn a_forged_credentials_secret_is_refused_without_a_provider_call() {
    let mut t = hostile("forge", &[]).await;
    let attacker = t.namespace("mallory", json!({})).await;
    let mallory = t.tenant_client(&attacker, "mallory").await;
    let provider = t
        .apply_provider("shared", t.provider_spec(&[&attacker], None))
        .await;
    // Paused first, to learn its UID before the operator writes anything.
    let mut body = t.body(
        "forge",
        via(&provider, EXPIRED, json!({"password": {"generate": true}})),
    );
    body["metadata"]["annotations"] = json!({PAUSED: "true"});
    let po = Api::<ProxyOrder>::namespaced(mallory.clone(), &attacker)
        .patch(
            "forge",
            &kube::api::PatchParams::apply("tenant").force(),
            &kube::api::Patch::Apply(body),
        )
        .await
        .unwrap();
    // (A paused ProxyOrder applies nothing of its spec: no observedGeneration yet.)
    t.env
        .wait_for("forge paused", 30, async || {
            let po = t.get(&attacker, "forge").await;
            (condition(&po, "Synced")?.1 == "Paused").then_some(())
        })
        .await;
    // A Secret of the credentials' name, of another (immutable) type, naming the ProxyOrder as
    // its controller.
    let forged: Secret = serde_json::from_value(json!({
        "metadata": {"name": "forge-proxy", "ownerReferences": [{
            "apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
            "name": "forge", "uid": po.uid().unwrap(), "controller": true}]},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="},
    }))
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(mallory.clone(), &attacker);
    secrets
        .create(&PostParams::default(), &forged)
        .await
        .unwrap_or_else(|e| panic!("the tenant creates the forged Secret: {e}"));
    t.env.sim_clear_requests().await.unwrap();
    t.annotate(&attacker, "forge", PAUSED, None).await;
    let msg = t.wait_refused(&attacker, "forge", "SecretConflict").await;
    assert!(msg.contains("forge-proxy"), "{msg}");
    settle(3).await;
    assert!(
        t.env.change_calls(EXPIRED).await.is_empty(),
        "a provider call for a ProxyOrder whose Secret is someone else's"
    );
    let kept = secrets.get("forge-proxy").await.unwrap();
    assert_eq!(
        kept.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    assert_eq!(kept.data, forged.data, "the forged Secret was written to");
    t.assert_no_forbidden();
    t.finish().await;
}

#[tokio::test]
async fn orders_not_assigned_to_a_namespace_are_refused_before_the_provider_is_asked() {
    let mut t = hostile("assign", &[]).await;
    let victim = t.namespace("victim", json!({})).await;
    let attacker = t.namespace("mallory", json!({})).await;
    let mallory = t.tenant_client(&attacker, "mallory").await;
    let mut spec = t.provider_spec(&[&victim, &attacker], None);
    spec["orderAssignments"] = json!([
        {"namespaces": [victim], "orderIds": [ACTIVE]},
        {"namespaces": [attacker], "orderIds": [MOBILE]},
    ]);
    let provider = t.apply_provider("assigned", spec).await;
    t.apply(
        &victim,
        "web",
        via(&provider, ACTIVE, json!({"login": "victim"})),
    )
    .await;
    t.env.wait_ready_in(&victim, "web").await;
    t.env.sim_clear_requests().await.unwrap();

    // The victim's order and one that does not exist get the same answer: the attacker
    // learns nothing of which orders exist or are in use.
    let mut answers = Vec::new();
    for (name, order) in [("probe-taken", ACTIVE), ("probe-none", 424_242)] {
        t.apply_as(&mallory, &attacker, name, via(&provider, order, json!({})))
            .await
            .unwrap();
        let msg = t.wait_refused(&attacker, name, "OrderNotAssigned").await;
        answers.push(msg.replace(&order.to_string(), "N"));
    }
    assert_eq!(answers[0], answers[1]);
    settle(2).await;
    assert_eq!(
        t.env.requests().await,
        Vec::<Value>::new(),
        "the provider was asked about orders the namespace may not use"
    );
    // Its own order works.
    t.apply_as(
        &mallory,
        &attacker,
        "own",
        via(&provider, MOBILE, json!({"login": "mallory"})),
    )
    .await
    .unwrap();
    t.env.wait_ready_in(&attacker, "own").await;
    t.assert_no_forbidden();
    t.finish().await;
}
