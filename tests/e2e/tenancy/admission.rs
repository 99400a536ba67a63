//! What the API server refuses in multi-tenant objects: a ProxyOrder's providerRef (with an API
//! key, changed, added or removed) and a ProxyProvider's bounds.

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams},
};
use proxy_order_api::ProxyOrder;
use proxy_order_api::ProxyProvider;
use serde_json::{Value, json};

use proxy_order_testkit::tenancy::TENANCY_LABEL;
use proxy_order_testkit::*;

#[tokio::test]
async fn provider_ref_is_checked_at_admission() {
    // No operator is needed: the API server refuses these.
    let _schema = CRD_SCHEMA.lock().await;
    let client = e2e_client().await;
    let ns = format!("e2e-tn-admit-{:04x}", rand::random::<u16>());
    let nss: Api<Namespace> = Api::all(client.clone());
    create_e2e_namespace(&client, &ns, json!({})).await;
    let orders: Api<ProxyOrder> = Api::namespaced(client.clone(), &ns);
    let apply = async |name: &str, spec: Value| {
        let obj = json!({"apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
                         "metadata": {"name": name, "labels": {TENANCY_LABEL: "admission"}},
                         "spec": spec});
        orders
            .patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(obj))
            .await
    };
    let key = json!({"name": KEY_SECRET, "key": "api-key"});
    let p1 = json!({"name": "provider-one"});
    let p2 = json!({"name": "provider-two"});

    let err = apply(
        "both",
        json!({"orderId": ACTIVE, "providerRef": p1, "apiKeySecretRef": key}),
    )
    .await
    .expect_err("providerRef with apiKeySecretRef");
    assert!(err.to_string().contains("providerRef"), "{err}");
    assert!(err.to_string().contains("apiKeySecretRef"), "{err}");
    let err = apply(
        "bad-name",
        json!({"orderId": ACTIVE, "providerRef": {"name": "Not_A_Name"}}),
    )
    .await
    .expect_err("providerRef name");
    assert!(err.to_string().contains("providerRef.name"), "{err}");

    apply("with", json!({"orderId": ACTIVE, "providerRef": p1}))
        .await
        .unwrap();
    let changes = [
        ("changed", json!({"orderId": ACTIVE, "providerRef": p2})),
        ("removed", json!({"orderId": ACTIVE})),
        (
            "replaced by a key",
            json!({"orderId": ACTIVE, "apiKeySecretRef": key}),
        ),
    ];
    for (what, spec) in changes {
        let err = apply("with", spec).await.expect_err(what);
        assert!(err.to_string().contains("immutable"), "{what}: {err}");
    }
    apply(
        "without",
        json!({"orderId": MOBILE, "apiKeySecretRef": key}),
    )
    .await
    .unwrap();
    let err = apply("without", json!({"orderId": MOBILE, "providerRef": p1}))
        .await
        .expect_err("providerRef added");
    assert!(err.to_string().contains("immutable"), "{err}");
    // Unchanged re-applies and other edits are fine.
    apply(
        "with",
        json!({"orderId": ACTIVE, "providerRef": p1, "port": 8600}),
    )
    .await
    .unwrap();

    // ProxyProvider bounds.
    let providers: Api<ProxyProvider> = Api::all(client.clone());
    let name = format!("{ns}-bounds");
    let key = json!({"name": KEY_SECRET});
    for (what, spec, field) in [
        (
            "timeout 0",
            json!({"apiKeySecretRef": key, "timeoutSeconds": 0}),
            "timeoutSeconds",
        ),
        (
            "timeout 301",
            json!({"apiKeySecretRef": key, "timeoutSeconds": 301}),
            "timeoutSeconds",
        ),
        (
            "user information in the URL",
            json!({"apiKeySecretRef": key, "url": "https://user:pw@api.example/api"}),
            "user information",
        ),
        (
            "not an http URL",
            json!({"apiKeySecretRef": key, "url": "ftp://api.example/api"}),
            "http:// or https://",
        ),
        (
            "a query parameter and a header",
            json!({"apiKeySecretRef": key, "auth": {"queryParam": "k", "header": "X-Key"}}),
            "auth.queryParam",
        ),
        (
            "an order assignment without orders",
            json!({"apiKeySecretRef": key, "orderAssignments": [{"namespaces": ["team-a"]}]}),
            "orderIds, orderIdRanges or both",
        ),
        (
            "an order id range the wrong way round",
            json!({"apiKeySecretRef": key, "orderAssignments": [{"namespaces": ["team-a"],
                   "orderIdRanges": [{"from": 20, "to": 10}]}]}),
            "from a lower id to a higher one",
        ),
        (
            "an order assignment without namespaces",
            json!({"apiKeySecretRef": key, "orderAssignments": [{"namespaces": [],
                   "orderIds": [10000]}]}),
            "namespaces",
        ),
    ] {
        let obj = json!({"apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyProvider",
                         "metadata": {"name": name}, "spec": spec});
        let err = providers
            .patch(
                &name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(obj),
            )
            .await
            .expect_err(what);
        assert!(err.to_string().contains(field), "{what}: {err}");
    }
    let _ = providers.delete(&name, &DeleteParams::default()).await;
    let _ = nss.delete(&ns, &DeleteParams::background()).await;
}
