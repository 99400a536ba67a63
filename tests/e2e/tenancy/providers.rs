//! ProxyProviders: which namespaces one serves, narrowing and widening that, a deleted provider,
//! and a provider's own key and authentication.

use std::process::Command;

use proxy_order_operator::provider::AuthScheme;
use proxy_solutions_sim::SimConfig;
use serde_json::{Value, json};

use proxy_order_testkit::tenancy::{Tenancy, hold_above_a_providers_limit, via};
use proxy_order_testkit::*;

#[tokio::test]
async fn a_provider_serves_the_namespaces_it_allows() {
    let mut t = Tenancy::start("serve", SimConfig::default(), &[]).await;
    let label = t.tenant_label();
    let ns_a = t.namespace("a", json!({})).await;
    let ns_b = t.namespace("b", json!({&label: "yes"})).await;
    // The key's name only: key "api-key" and the operator namespace are the defaults.
    let mut spec = t.provider_spec(&[&ns_a], Some(&label));
    spec["apiKeySecretRef"] = json!({"name": KEY_SECRET});
    let provider = t.apply_provider("shared", spec).await;

    // team-a by name, team-b by its label.
    t.apply(
        &ns_a,
        "web",
        via(
            &provider,
            ACTIVE,
            json!({"port": 8100, "login": "tenant-a", "password": {"generate": true}}),
        ),
    )
    .await;
    t.apply(
        &ns_b,
        "mobile",
        via(&provider, MOBILE, json!({"login": "tenant-b"})),
    )
    .await;
    t.env.wait_ready_in(&ns_a, "web").await;
    t.env.wait_ready_in(&ns_b, "mobile").await;

    let calls = t.env.change_calls(ACTIVE).await;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0]["body"]["port"], 8100);
    assert_eq!(calls[0]["body"]["login"], "tenant-a");
    let sim = t.env.sim_order(ACTIVE).await;
    let data = t
        .secret_data(&ns_a, "web-proxy")
        .await
        .expect("Secret web-proxy in team-a");
    assert_eq!(data["login"], "tenant-a");
    assert_eq!(data["port"], "8100");
    assert_eq!(
        Value::String(data["password"].clone()),
        sim["access"]["password"]
    );
    let data_b = t
        .secret_data(&ns_b, "mobile-proxy")
        .await
        .expect("Secret mobile-proxy in team-b");
    assert_eq!(data_b["login"], "tenant-b");
    assert_eq!(t.env.sim_order(MOBILE).await["access"]["login"], "tenant-b");
    t.assert_claimed_by(ACTIVE, &ns_a, "web").await;
    t.assert_claimed_by(MOBILE, &ns_b, "mobile").await;

    // The provider's status: Ready, with the number of orders its key lists.
    let orders = t.env.sim.order_count();
    let pp = t
        .env
        .wait_for(
            "the ProxyProvider Ready with its order count",
            30,
            async || {
                let pp = t.provider(&provider).await;
                let st = &pp["status"];
                let ready = st["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")?;
                (ready["status"] == "True"
                    && ready["reason"] == "Available"
                    && st["orders"] == json!(orders)
                    && st["observedGeneration"] == pp["metadata"]["generation"])
                    .then_some(pp)
            },
        )
        .await;
    assert_eq!(pp["status"]["orders"], json!(orders));

    // kubectl shows the printer columns.
    let table = run(
        Command::new("kubectl").args(["get", "proxyproviders", &provider]),
        "kubectl get proxyproviders",
    );
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    for column in ["NAME", "URL", "ORDERS", "READY", "REASON", "AGE"] {
        assert!(header.contains(&column), "no {column} column:\n{table}");
    }
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let cell = |column: &str| row[header.iter().position(|h| *h == column).unwrap()];
    assert_eq!(cell("NAME"), provider, "{table}");
    assert_eq!(cell("URL"), t.env.sim.base_url(), "{table}");
    assert_eq!(cell("ORDERS"), orders.to_string(), "{table}");
    assert_eq!(cell("READY"), "True", "{table}");
    assert_eq!(cell("REASON"), "Available", "{table}");
    let short = run(
        Command::new("kubectl").args(["get", "pxp", &provider, "-o", "name"]),
        "kubectl get pxp",
    );
    assert_eq!(
        short.trim(),
        format!("proxyprovider.proxy-solutions.net/{provider}")
    );

    t.assert_no_forbidden();
    t.assert_no_leaks(&[&data["password"]]).await;
    t.finish().await;
}

#[tokio::test]
async fn a_provider_refuses_namespaces_it_does_not_allow() {
    let mut t = Tenancy::start("allow", SimConfig::default(), &[]).await;
    let label = t.tenant_label();
    let ns_a = t.namespace("a", json!({})).await;
    let ns_b = t.namespace("b", json!({&label: "yes"})).await;
    let ns_c = t.namespace("c", json!({&label: "no"})).await;
    let open = t.provider_spec(&[&ns_a], Some(&label));
    let provider = t.apply_provider("shared", open.clone()).await;
    // Neither namespaces nor a selector: nobody.
    let closed = t.apply_provider("closed", t.provider_spec(&[], None)).await;

    t.apply(
        &ns_c,
        "outsider",
        via(&provider, EXPIRED, json!({"port": 8400})),
    )
    .await;
    let msg = t
        .wait_refused(&ns_c, "outsider", "NamespaceNotAllowed")
        .await;
    assert!(msg.contains(&provider), "{msg}");
    t.wait_warning(&ns_c, "outsider", "NamespaceNotAllowed")
        .await;
    t.apply(
        &ns_a,
        "closed",
        via(&closed, EXPIRED, json!({"port": 8401})),
    )
    .await;
    let msg = t.wait_refused(&ns_a, "closed", "NamespaceNotAllowed").await;
    assert!(msg.contains(&closed), "{msg}");
    settle(2).await;
    assert!(t.env.change_calls(EXPIRED).await.is_empty());

    // Allowed by name and by label.
    let a_spec = |port: u16| via(&provider, ACTIVE, json!({"port": port}));
    let b_spec = |port: u16| via(&provider, MOBILE, json!({"port": port}));
    t.apply(&ns_a, "web", a_spec(8410)).await;
    t.apply(&ns_b, "web", b_spec(8420)).await;
    t.env.wait_ready_in(&ns_a, "web").await;
    t.env.wait_ready_in(&ns_b, "web").await;
    let (calls_a, calls_b) = (
        t.env.change_calls(ACTIVE).await.len(),
        t.env.change_calls(MOBILE).await.len(),
    );

    // Narrowing: team-a leaves the provider's list, team-b loses its label.
    let mut narrowed = open.clone();
    narrowed.as_object_mut().unwrap().remove("namespaces");
    t.apply_provider("shared", narrowed).await;
    let msg = t.wait_refused(&ns_a, "web", "NamespaceNotAllowed").await;
    assert!(msg.contains(&provider), "{msg}");
    t.wait_warning(&ns_a, "web", "NamespaceNotAllowed").await;
    assert_eq!(
        condition(&t.get(&ns_b, "web").await, "Ready").unwrap().1,
        "Applied",
        "team-b is still allowed by its label"
    );
    t.label_namespace(&ns_b, &label, None).await;
    let msg = t.wait_refused(&ns_b, "web", "NamespaceNotAllowed").await;
    assert!(msg.contains(&provider), "{msg}");
    t.apply(&ns_a, "web", a_spec(8411)).await;
    t.apply(&ns_b, "web", b_spec(8421)).await;
    t.wait_refused(&ns_a, "web", "NamespaceNotAllowed").await;
    t.wait_refused(&ns_b, "web", "NamespaceNotAllowed").await;
    settle(2).await;
    assert_eq!(t.env.change_calls(ACTIVE).await.len(), calls_a);
    assert_eq!(t.env.change_calls(MOBILE).await.len(), calls_b);
    assert_eq!(t.env.sim_order(ACTIVE).await["access"]["port"], 8410);

    // Widening again.
    t.apply_provider("shared", open).await;
    t.label_namespace(&ns_b, &label, Some("yes")).await;
    t.env.wait_ready_in(&ns_a, "web").await;
    t.env.wait_ready_in(&ns_b, "web").await;
    assert_eq!(t.env.sim_order(ACTIVE).await["access"]["port"], 8411);
    assert_eq!(t.env.sim_order(MOBILE).await["access"]["port"], 8421);
    assert_eq!(t.env.change_calls(ACTIVE).await.len(), calls_a + 1);
    assert_eq!(t.env.change_calls(MOBILE).await.len(), calls_b + 1);
    // The outsiders are still outside.
    assert_eq!(
        condition(&t.get(&ns_c, "outsider").await, "Ready")
            .unwrap()
            .1,
        "NamespaceNotAllowed"
    );
    assert!(t.env.change_calls(EXPIRED).await.is_empty());

    t.assert_no_forbidden();
    t.assert_no_leaks(&[]).await;
    t.finish().await;
}

#[tokio::test]
async fn a_deleted_provider_stops_its_orders_until_it_is_back() {
    let mut t = Tenancy::start("gone", SimConfig::default(), &[]).await;
    let ns_a = t.namespace("a", json!({})).await;
    let spec = t.provider_spec(&[&ns_a], None);
    let provider = t.apply_provider("shared", spec.clone()).await;

    // A provider that never existed.
    let missing = t.provider_name("missing");
    t.apply(
        &ns_a,
        "nowhere",
        via(&missing, EXPIRED, json!({"port": 8500})),
    )
    .await;
    let msg = t.wait_refused(&ns_a, "nowhere", "ProviderNotFound").await;
    assert!(msg.contains(&missing), "{msg}");
    t.wait_warning(&ns_a, "nowhere", "ProviderNotFound").await;

    let web = |port: u16| via(&provider, ACTIVE, json!({"port": port}));
    t.apply(&ns_a, "web", web(8510)).await;
    t.env.wait_ready_in(&ns_a, "web").await;
    let calls = t.env.change_calls(ACTIVE).await.len();

    t.delete_provider(&provider).await;
    let msg = t.wait_refused(&ns_a, "web", "ProviderNotFound").await;
    assert!(msg.contains(&provider), "{msg}");
    t.wait_warning(&ns_a, "web", "ProviderNotFound").await;
    t.apply(&ns_a, "web", web(8511)).await;
    t.wait_refused(&ns_a, "web", "ProviderNotFound").await;
    settle(2).await;
    assert_eq!(t.env.change_calls(ACTIVE).await.len(), calls);
    assert_eq!(t.env.sim_order(ACTIVE).await["access"]["port"], 8510);
    assert!(
        t.secret_data(&ns_a, "web-proxy").await.is_some(),
        "the published Secret stays"
    );

    t.apply_provider("shared", spec).await;
    t.env.wait_ready_in(&ns_a, "web").await;
    assert_eq!(t.env.sim_order(ACTIVE).await["access"]["port"], 8511);
    assert_eq!(t.env.change_calls(ACTIVE).await.len(), calls + 1);
    assert!(t.env.change_calls(EXPIRED).await.is_empty());

    t.assert_no_forbidden();
    t.assert_no_leaks(&[]).await;
    t.finish().await;
}

#[tokio::test]
async fn a_providers_key_and_auth_are_its_own() {
    const WRONG_KEY: &str = "wrong-provider-key-canary-T7c";
    // This account takes its key in a query parameter, which is not the operator's default.
    let sim = SimConfig {
        auth: AuthScheme::Query {
            param: "api_key".into(),
        },
        ..SimConfig::default()
    };
    let mut t = Tenancy::start("auth", sim, &[]).await;
    let ns_a = t.namespace("a", json!({})).await;
    let mut spec = t.provider_spec(&[&ns_a], None);
    spec["apiKeySecretRef"] = json!({"name": "later-key", "key": "api-key"});
    spec["auth"] = json!({"queryParam": "api_key"});
    let provider = t.apply_provider("query", spec).await;

    // The key Secret does not exist yet.
    let pp = t.wait_provider(&provider, "False", "SecretNotFound").await;
    assert!(pp["status"].to_string().contains("later-key"), "{pp}");
    t.apply(&ns_a, "web", via(&provider, ACTIVE, json!({"port": 8700})))
        .await;
    t.env
        .wait_condition_in(&ns_a, "web", "Ready", "False", "SecretNotFound")
        .await;

    // A wrong key.
    t.put_secret(&t.env.ns, "later-key", "api-key", WRONG_KEY)
        .await;
    t.wait_provider(&provider, "False", "Unauthorized").await;
    t.env
        .wait_condition_in(&ns_a, "web", "Ready", "False", "Unauthorized")
        .await;
    assert!(
        t.env
            .change_calls(ACTIVE)
            .await
            .iter()
            .all(|c| c["status"] != 200),
        "nothing applied with a wrong key"
    );

    // The right key, noticed without a restart or an edit.
    t.put_secret(&t.env.ns, "later-key", "api-key", API_KEY)
        .await;
    let pp = t.wait_provider(&provider, "True", "Available").await;
    assert_eq!(pp["status"]["orders"], json!(t.env.sim.order_count()));
    t.env.wait_ready_in(&ns_a, "web").await;
    assert_eq!(t.env.sim_order(ACTIVE).await["access"]["port"], 8700);
    let recorded = serde_json::to_string(&t.env.requests().await).unwrap();
    assert!(!recorded.contains(API_KEY) && !recorded.contains(WRONG_KEY));

    // The same URL and key sent the operator's default way (a header) is refused by this
    // account: this provider's status must come from its own settings, not from an order list
    // another provider fetched with the same key.
    let header = t
        .apply_provider("header", t.provider_spec(&[&ns_a], None))
        .await;
    t.wait_provider(&header, "False", "Unauthorized").await;

    t.assert_no_forbidden();
    t.assert_no_leaks(&[WRONG_KEY]).await;
    t.finish().await;
}

#[tokio::test]
async fn a_providers_quantity_limit_is_approved_on_the_provider_only() {
    const APPROVE: &str = "proxy-solutions.net/approve";
    let mut t = Tenancy::start("limit", SimConfig::default(), &[]).await;
    let ns = t.namespace("a", json!({})).await;
    let (provider, _, want, hash) = hold_above_a_providers_limit(&mut t, &ns, "big").await;

    // The tenant approving it on its own ProxyOrder sends nothing (the refresh request after
    // it shows when a reconcile has seen it).
    t.annotate(&ns, "big", APPROVE, Some(&hash)).await;
    t.annotate(
        &ns,
        "big",
        "proxy-solutions.net/sync-requested-at",
        Some("self-approved"),
    )
    .await;
    t.env
        .wait_for("the tenant's approval is looked at", 30, async || {
            let st = t.get(&ns, "big").await.status?;
            (st.sync_requested.as_deref() == Some("self-approved")).then_some(())
        })
        .await;
    let po = t.get(&ns, "big").await;
    assert_eq!(condition(&po, "Synced").unwrap().1, "AwaitingApproval");
    assert_eq!(
        t.env.quantity_calls(EXPIRED).await,
        0,
        "a tenant cannot approve it"
    );

    // Approved on the ProxyProvider: exactly one call.
    t.providers_api()
        .patch(
            &provider,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"annotations": {APPROVE: hash}}})),
        )
        .await
        .unwrap();
    let po = t
        .env
        .wait_condition_in(&ns, "big", "Synced", "True", "Applied")
        .await;
    assert!(po.status.unwrap().planned_changes.is_empty());
    assert_eq!(t.env.quantity_calls(EXPIRED).await, 1);
    assert_eq!(
        t.env.sim_order(EXPIRED).await["quantity"].as_u64(),
        Some(want)
    );
    t.assert_no_forbidden();
    t.finish().await;
}
