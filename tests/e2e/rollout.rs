//! Rollout targets: a Deployment named in `spec.secret.rolloutTargets` gets the credentials
//! hash on its Pod template once when the Secret is first published and once per rotation, and
//! never otherwise (a refresh, a restart); the control plane's kube-controller-manager rolls
//! it out for real (a new ReplicaSet per change; no kubelet, so no Pod ever runs). Problems
//! (a missing target, one an older ProxyOrder holds, no permission) are conditions, not
//! failures.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::{Value, json};

use proxy_order_testkit::*;

const HASH_ANNOTATION: &str = "proxy-solutions.net/credentials-hash";
const ROLLOUTS: &str = "RolloutsUpdated";

fn deployments(env: &Env) -> Api<Deployment> {
    Api::namespaced(env.client.clone(), &env.ns)
}

/// Creates Deployment `name` (label `app: <name>`, one replica of an image never pulled).
async fn create_deployment(env: &Env, name: &str) {
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"example.com/kept": "yes"}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            },
        },
    }))
    .unwrap();
    deployments(env)
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
}

/// The Deployment's generation and the credentials hash on its Pod template.
async fn deployment_state(env: &Env, name: &str) -> (i64, Option<String>) {
    let d = deployments(env).get(name).await.unwrap();
    let hash = d
        .spec
        .template
        .metadata
        .and_then(|m| m.annotations)
        .and_then(|a| a.get(HASH_ANNOTATION).cloned());
    (d.metadata.generation.unwrap_or_default(), hash)
}

/// The ReplicaSets of Deployment `name`, as the credentials hash of each one's Pod template.
async fn replica_sets(env: &Env, name: &str) -> Vec<Option<String>> {
    Api::<ReplicaSet>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels(&format!("app={name}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|rs| {
            rs.spec
                .template
                .and_then(|t| t.metadata)
                .and_then(|m| m.annotations)
                .and_then(|a| a.get(HASH_ANNOTATION).cloned())
        })
        .collect()
}

/// Waits until Deployment `name` has a ReplicaSet for the Pod template with `hash` and `count`
/// ReplicaSets in all.
async fn wait_replica_sets(env: &Env, name: &str, hash: Option<&str>, count: usize) {
    let what = format!("{count} ReplicaSets of {name}, one for {hash:?}");
    env.wait_for(&what, 30, async || {
        let sets = replica_sets(env, name).await;
        (sets.len() == count && sets.iter().any(|h| h.as_deref() == hash)).then_some(())
    })
    .await;
}

/// The number of `RolloutTriggered` Events about ProxyOrder `name`.
async fn rollouts_triggered(env: &Env, name: &str) -> usize {
    env.events(name)
        .await
        .iter()
        .filter(|(kind, reason, _)| kind == "Normal" && reason == "RolloutTriggered")
        .count()
}

fn spec_with_targets(order: u64, targets: Value) -> Value {
    json!({"orderId": order, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
           "password": {"generate": true}, "secret": {"rolloutTargets": targets}})
}

/// Applies ProxyOrder `rol` targeting the Deployments labelled `app=web`, and waits until it
/// is Ready.
async fn apply_web_by_selector(env: &Env) {
    let targets = json!([{"kind": "Deployment", "selector": {"matchLabels": {"app": "web"}}}]);
    env.apply("rol", spec_with_targets(ACTIVE, targets)).await;
    env.wait_ready("rol").await;
}

#[tokio::test]
async fn a_deployment_rolls_once_per_rotation_and_never_otherwise() {
    // The chart's permissions with rollout.enabled: they are enough.
    let mut env =
        Env::start_as_chart_with("rollout", &["rollout.enabled=true"], &["--rollout-targets"])
            .await;
    create_deployment(&env, "web").await;
    create_deployment(&env, "bystander").await;
    wait_replica_sets(&env, "web", None, 1).await;

    apply_web_by_selector(&env).await;
    let po = env
        .wait_condition("rol", ROLLOUTS, "True", "UpToDate")
        .await;
    assert_eq!(
        condition(&po, ROLLOUTS).unwrap().2,
        "Deployment/web carries the current credentials hash"
    );
    // The first publication sets the baseline: one rollout.
    let (gen1, first) = deployment_state(&env, "web").await;
    let first = first.expect("the Pod template carries the hash");
    assert!(
        first.starts_with("sha256:") && first.len() == 7 + 32,
        "{first}"
    );
    wait_replica_sets(&env, "web", Some(&first), 2).await;
    let d = deployments(&env).get("web").await.unwrap();
    let template = d.spec.template.metadata.unwrap();
    assert_eq!(
        template.annotations.unwrap()["example.com/kept"],
        "yes",
        "the other annotations are left alone"
    );
    assert!(
        d.metadata
            .managed_fields
            .unwrap_or_default()
            .iter()
            .any(|f| f.manager.as_deref() == Some("proxy-order-operator")
                && f.operation.as_deref() == Some("Apply")),
        "set by server-side apply with the operator's field manager"
    );
    assert_eq!(deployment_state(&env, "bystander").await.1, None);
    let pw1 = env.secret_data("rol-proxy").await.unwrap()["password"].clone();

    // A rotation: new credentials, exactly one more rollout.
    env.annotate("rol", "proxy-solutions.net/rotate-password", "r1")
        .await;
    let second = env
        .wait_for("the new hash on the Pod template", 30, async || {
            let (_, hash) = deployment_state(&env, "web").await;
            hash.filter(|h| *h != first)
        })
        .await;
    env.wait_for("rotation r1 recorded", 30, async || {
        let po = env.get("rol").await;
        (po.status?.password_rotation.as_deref() == Some("r1")).then_some(())
    })
    .await;
    let pw2 = env.secret_data("rol-proxy").await.unwrap()["password"].clone();
    assert_ne!(pw1, pw2);
    wait_replica_sets(&env, "web", Some(&second), 3).await;
    settle(2).await;
    assert_eq!(
        deployment_state(&env, "web").await,
        (gen1 + 1, Some(second.clone())),
        "one template change for one rotation"
    );

    // A forced refresh and a restart of the operator: unchanged credentials, no write.
    env.annotate("rol", "proxy-solutions.net/sync-requested-at", "s1")
        .await;
    env.wait_for("sync s1 recorded", 30, async || {
        let po = env.get("rol").await;
        (po.status?.sync_requested.as_deref() == Some("s1")).then_some(())
    })
    .await;
    env.start_operator(None).await;
    env.annotate("rol", "example.com/unrelated", "1").await;
    settle(3).await;
    assert_eq!(
        deployment_state(&env, "web").await,
        (gen1 + 1, Some(second.clone()))
    );
    assert_eq!(replica_sets(&env, "web").await.len(), 3);
    assert_eq!(deployment_state(&env, "bystander").await, (1, None));
    assert_eq!(rollouts_triggered(&env, "rol").await, 2);
    let po = env.get("rol").await;
    assert_eq!(condition(&po, ROLLOUTS).unwrap().0, "True");
    env.assert_no_leaks(&[&pw1, &pw2]).await;
    env.finish().await;
}

#[tokio::test]
async fn a_missing_target_is_reported_then_annotated_and_a_shared_one_follows_the_older_order() {
    let env = Env::start_with("rollout-problems", &["--rollout-targets"]).await;
    env.apply(
        "first",
        spec_with_targets(ACTIVE, json!([{"kind": "Deployment", "name": "late"}])),
    )
    .await;
    // The credentials are published all the same.
    env.wait_ready("first").await;
    let po = env
        .wait_condition("first", ROLLOUTS, "False", "TargetNotFound")
        .await;
    assert_eq!(
        condition(&po, ROLLOUTS).unwrap().2,
        "Deployment/late not found"
    );
    assert!(
        env.events("first")
            .await
            .iter()
            .any(|(kind, reason, _)| kind == "Warning" && reason == "TargetNotFound")
    );

    // Created later, it is annotated at once (the workload watch), not at the next refresh.
    let created = std::time::Instant::now();
    create_deployment(&env, "late").await;
    env.wait_condition("first", ROLLOUTS, "True", "UpToDate")
        .await;
    let took = created.elapsed();
    println!("a rollout target created late: annotated after {took:?}");
    assert!(
        took < std::time::Duration::from_secs(5),
        "only after {took:?}"
    );
    let (generation, hash) = deployment_state(&env, "late").await;
    assert!(hash.is_some());

    // A second ProxyOrder targeting it leaves it to the first: no tug of war.
    env.apply(
        "second",
        spec_with_targets(
            MOBILE,
            json!([{"kind": "Deployment", "selector": {"matchExpressions":
                     [{"key": "app", "operator": "In", "values": ["late", "other"]}]}}]),
        ),
    )
    .await;
    env.wait_ready("second").await;
    let po = env
        .wait_condition("second", ROLLOUTS, "False", "TargetConflict")
        .await;
    let message = condition(&po, ROLLOUTS).unwrap().2;
    assert!(message.contains("ProxyOrder first"), "{message}");
    env.annotate("second", "proxy-solutions.net/sync-requested-at", "s1")
        .await;
    settle(2).await;
    assert_eq!(deployment_state(&env, "late").await, (generation, hash));
    env.finish().await;
}

#[tokio::test]
async fn without_the_charts_rollout_permissions_nothing_is_touched_and_the_condition_says_why() {
    // The chart's default permissions, the operator asked to act on rollout targets anyway.
    let env = Env::start_as_chart_with("rollout-forbidden", &[], &["--rollout-targets"]).await;
    create_deployment(&env, "web").await;
    apply_web_by_selector(&env).await;
    let po = env
        .wait_condition("rol", ROLLOUTS, "False", "Forbidden")
        .await;
    let message = condition(&po, ROLLOUTS).unwrap().2;
    assert!(
        message.contains("may not list deployments") && message.contains("rollout.enabled"),
        "{message}"
    );
    assert_eq!(deployment_state(&env, "web").await, (1, None));
    assert!(env.secret_data("rol-proxy").await.is_some());
    env.finish().await;
}
