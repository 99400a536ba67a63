//! The CRD's schema: invalid manifests refused at admission naming the field, and an object
//! stored past a loosened schema that does not stop the others.

use serde_json::{Value, json};

use proxy_order_testkit::*;

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
            "unknown managementPolicy",
            json!({"orderId": 1, "managementPolicy": "Watch"}),
            "managementPolicy",
        ),
        (
            "Observe with Revoke",
            json!({"orderId": 1, "managementPolicy": "Observe", "deletionPolicy": "Revoke"}),
            "managementPolicy Observe",
        ),
        (
            "maxQuantity 0",
            json!({"orderId": 1, "maxQuantity": 0}),
            "maxQuantity",
        ),
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
            json!({"orderId": 1, "secret": {"template": {"K": "x".repeat(1025)}}}),
            "template",
        ),
        (
            "rollout target with name and selector",
            json!({"orderId": 1, "secret": {"rolloutTargets": [{"kind": "Deployment", "name": "web",
                   "selector": {"matchLabels": {"app": "web"}}}]}}),
            "exactly one of name or selector",
        ),
        (
            "rollout target with neither name nor selector",
            json!({"orderId": 1, "secret": {"rolloutTargets": [{"kind": "Deployment"}]}}),
            "exactly one of name or selector",
        ),
        (
            "rollout target of an unknown kind",
            json!({"orderId": 1, "secret": {"rolloutTargets": [{"kind": "Job", "name": "web"}]}}),
            "rolloutTargets[0].kind",
        ),
        (
            "rollout target name not a DNS subdomain",
            json!({"orderId": 1, "secret": {"rolloutTargets": [{"kind": "Deployment", "name": "Web_1"}]}}),
            "rolloutTargets[0].name",
        ),
        (
            "empty rollout selector",
            json!({"orderId": 1, "secret": {"rolloutTargets": [{"kind": "Deployment", "selector": {}}]}}),
            "empty selector",
        ),
        (
            "rollout selector operator",
            json!({"orderId": 1, "secret": {"rolloutTargets": [{"kind": "StatefulSet", "selector":
                   {"matchExpressions": [{"key": "app", "operator": "Matches", "values": ["a"]}]}}]}}),
            "operator",
        ),
        (
            "rollout selector In without values",
            json!({"orderId": 1, "secret": {"rolloutTargets": [{"kind": "DaemonSet", "selector":
                   {"matchExpressions": [{"key": "app", "operator": "In"}]}}]}}),
            "In and NotIn need values",
        ),
        (
            "rollout selector label value",
            json!({"orderId": 1, "secret": {"rolloutTargets": [{"kind": "Deployment", "selector":
                   {"matchLabels": {"app": "not a value"}}}]}}),
            "matchLabels",
        ),
        (
            "too many rollout targets",
            json!({"orderId": 1, "secret": {"rolloutTargets": (0..33).map(|i| json!({"kind": "Deployment", "name": format!("w{i}")})).collect::<Vec<_>>()}}),
            "rolloutTargets",
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
async fn an_explicit_null_for_an_optional_enum_is_the_same_as_leaving_it_out() {
    use kube::api::{Api, ApiResource, DynamicObject, PostParams};
    let _schema = CRD_SCHEMA.lock().await;
    let env = Env::start("admission-null").await;
    // A POST of the JSON as written (an apply or a typed object would drop the nulls first).
    let api: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &ApiResource::erase::<proxy_order_api::ProxyOrder>(&()),
    );
    let fields = ["lang", "currency", "managementPolicy", "deletionPolicy"];
    let mut spec =
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"}});
    for f in fields {
        spec[f] = Value::Null;
    }
    let obj = json!({"apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
                     "metadata": {"name": "nulls"}, "spec": spec});
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(obj).unwrap(),
        )
        .await
        .expect("nulls for the optional enums are accepted");
    for f in fields {
        assert!(
            created.data["spec"].get(f).is_none(),
            "{f}: stored as {:?}",
            created.data["spec"].get(f)
        );
    }
    env.finish().await;
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
