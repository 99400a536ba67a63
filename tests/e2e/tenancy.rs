//! Multi-tenancy scenarios: cluster-scoped ProxyProviders shared by tenant namespaces,
//! cluster-wide order claims, and what a tenant cannot reach (another tenant's order, another
//! namespace's Secrets, a provider that does not allow its namespace).
//!
//! Each scenario runs the operator as a cluster-wide installation would: the chart installed
//! without `watchNamespace` (release and operator namespace named after the test), the operator
//! impersonating the chart's ServiceAccount, watching every namespace, with
//! `--operator-namespace` the test's namespace and `--selector e2e-tenancy=<id>`, so that
//! scenarios running side by side do not see each other's objects. Every ProxyOrder and
//! ProxyProvider carries that label; ProxyProviders (cluster-scoped) get unique names and are
//! deleted at the end, like the tenant namespaces.

use std::{collections::BTreeMap, process::Command, time::Duration};

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Namespace, events::v1::Event};
use kube::{
    Api, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
};
use proxy_order_operator::{crd::ProxyOrder, provider::AuthScheme, proxy_provider::ProxyProvider};
use proxy_solutions_sim::{SimConfig, example_orders, generate_orders, seed::GENERATED_FIRST_ID};
use serde_json::{Value, json};

use crate::support::*;

/// The label selecting one scenario's objects (`--selector e2e-tenancy=<id>`).
const TENANCY_LABEL: &str = "e2e-tenancy";
const CLAIM_LABEL: &str = "proxy-solutions.net/order-claim";
const PW_CANARY: &str = "tenant-pw-canary-Hq42v";
const ROTATE: &str = "proxy-solutions.net/rotate-password";

async fn settle(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// One scenario: the operator (cluster-wide, as the chart's ServiceAccount), its namespace
/// (`env.ns`, holding the API-key Secret [`KEY_SECRET`] and the claims), tenant namespaces and
/// ProxyProviders.
struct Tenancy {
    env: Env,
    id: String,
    namespaces: Vec<String>,
    providers: Vec<String>,
}

impl Tenancy {
    async fn start(name: &str, sim: SimConfig, extra_args: &[&str]) -> Tenancy {
        let id = format!("{name}-{:04x}", rand::random::<u16>());
        let env = Env::start_cluster_wide(
            &format!("tn-{name}"),
            &format!("{TENANCY_LABEL}={id}"),
            &[],
            sim,
            extra_args,
        )
        .await;
        Tenancy {
            env,
            id,
            namespaces: Vec::new(),
            providers: Vec::new(),
        }
    }

    fn client(&self) -> kube::Client {
        self.env.client.clone()
    }

    /// Creates the tenant namespace `<operator namespace>-<tag>` with `labels`.
    async fn namespace(&mut self, tag: &str, labels: Value) -> String {
        let ns = format!("{}-{tag}", self.env.ns);
        create_namespace(&self.client(), &ns, labels).await;
        self.namespaces.push(ns.clone());
        ns
    }

    /// Sets (or, with `None`, removes) a label of namespace `ns`.
    async fn label_namespace(&self, ns: &str, key: &str, value: Option<&str>) {
        Api::<Namespace>::all(self.client())
            .patch(
                ns,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {key: value}}})),
            )
            .await
            .unwrap();
    }

    /// A label key of this scenario alone, for namespaceSelectors.
    fn tenant_label(&self) -> String {
        format!("tenant-{}", self.id)
    }

    /// The unique name of this scenario's ProxyProvider `tag`.
    fn provider_name(&self, tag: &str) -> String {
        format!("e2e-{}-{tag}", self.id)
    }

    fn providers_api(&self) -> Api<ProxyProvider> {
        Api::all(self.client())
    }

    /// Applies ProxyProvider `tag` (server-side apply, field manager `e2e`, so fields left out
    /// are removed) with the scenario's label; returns its name.
    async fn apply_provider(&mut self, tag: &str, spec: Value) -> String {
        let name = self.provider_name(tag);
        let obj = json!({
            "apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyProvider",
            "metadata": {"name": name, "labels": {TENANCY_LABEL: self.id}},
            "spec": spec,
        });
        self.providers_api()
            .patch(
                &name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(obj),
            )
            .await
            .unwrap_or_else(|e| panic!("apply ProxyProvider {name}: {e}"));
        if !self.providers.contains(&name) {
            self.providers.push(name.clone());
        }
        name
    }

    /// The simulator as provider, with the operator namespace's API-key Secret, allowing
    /// `namespaces` (by name) and, when set, namespaces labelled `selector_label: "yes"`.
    fn provider_spec(&self, namespaces: &[&str], selector_label: Option<&str>) -> Value {
        let mut spec = json!({
            "url": self.env.sim.base_url(),
            "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
        });
        if !namespaces.is_empty() {
            spec["namespaces"] = json!(namespaces);
        }
        if let Some(label) = selector_label {
            spec["namespaceSelector"] = json!({"matchLabels": {label: "yes"}});
        }
        spec
    }

    async fn delete_provider(&self, name: &str) {
        self.providers_api()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        self.env
            .wait_for(&format!("ProxyProvider {name} deleted"), 30, async || {
                self.providers_api()
                    .get_opt(name)
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            })
            .await;
    }

    /// The ProxyProvider as JSON (the typed form is the operator's business).
    async fn provider(&self, name: &str) -> Value {
        serde_json::to_value(self.providers_api().get(name).await.unwrap()).unwrap()
    }

    /// Waits until the ProxyProvider's Ready condition has `status` and `reason` for its
    /// current generation, returning the object.
    async fn wait_provider(&self, name: &str, status: &str, reason: &str) -> Value {
        let what = format!("ProxyProvider {name} Ready={status}/{reason}");
        self.env
            .wait_for(&what, 30, async || {
                let pp = self.provider(name).await;
                let st = &pp["status"];
                let ready = st["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")?;
                (ready["status"] == status
                    && ready["reason"] == reason
                    && st["observedGeneration"] == pp["metadata"]["generation"])
                    .then_some(pp)
            })
            .await
    }

    fn orders(&self, ns: &str) -> Api<ProxyOrder> {
        Api::namespaced(self.client(), ns)
    }

    fn body(&self, name: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
            "metadata": {"name": name, "labels": {TENANCY_LABEL: self.id}},
            "spec": spec,
        })
    }

    /// Applies ProxyOrder `ns/name` with the scenario's label and `params`.
    async fn try_apply(
        &self,
        ns: &str,
        name: &str,
        spec: Value,
        params: &PatchParams,
    ) -> kube::Result<ProxyOrder> {
        self.orders(ns)
            .patch(name, params, &Patch::Apply(self.body(name, spec)))
            .await
    }

    /// Creates ProxyOrder `ns/name` with a POST and the API server's default field validation
    /// (Warn: unknown fields are dropped), and checks that no `namespace` field was stored.
    async fn create_pruned(&self, ns: &str, name: &str, spec: Value) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client(), ns, &ApiResource::erase::<ProxyOrder>(&()));
        let obj: DynamicObject = serde_json::from_value(self.body(name, spec)).unwrap();
        let stored = api
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {ns}/{name}: {e}"));
        let stored_spec = serde_json::to_string(&stored.data["spec"]).unwrap();
        assert!(!stored_spec.contains("namespace"), "{stored_spec}");
    }

    async fn apply(&self, ns: &str, name: &str, spec: Value) -> ProxyOrder {
        self.try_apply(ns, name, spec, &PatchParams::apply("e2e").force())
            .await
            .unwrap_or_else(|e| panic!("apply {ns}/{name}: {e}"))
    }

    /// Applies ProxyOrder `ns/name` with the scenario's label and the extra `labels`.
    async fn apply_labelled(&self, ns: &str, name: &str, labels: Value, spec: Value) -> ProxyOrder {
        let mut body = self.body(name, spec);
        for (k, v) in labels.as_object().unwrap() {
            body["metadata"]["labels"][k] = v.clone();
        }
        self.orders(ns)
            .patch(
                name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(body),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {ns}/{name}: {e}"))
    }

    /// Sets (or, with `None`, removes) an annotation of ProxyOrder `ns/name`.
    async fn annotate(&self, ns: &str, name: &str, key: &str, value: Option<&str>) {
        self.orders(ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .unwrap();
    }

    async fn get(&self, ns: &str, name: &str) -> ProxyOrder {
        self.orders(ns).get(name).await.unwrap()
    }

    /// Waits until condition `type_` of `ns/name` has `status` and `reason` for the current
    /// generation.
    async fn wait_condition(
        &self,
        ns: &str,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> ProxyOrder {
        let what = format!("{ns}/{name} {type_}={status}/{reason}");
        self.env
            .wait_for(&what, 30, async || {
                let po = self.orders(ns).get_opt(name).await.ok()??;
                let c = condition(&po, type_)?;
                let current = po.status.as_ref()?.observed_generation == po.metadata.generation;
                (current && c.0 == status && c.1 == reason).then_some(po)
            })
            .await
    }

    async fn wait_ready(&self, ns: &str, name: &str) -> ProxyOrder {
        self.wait_condition(ns, name, "Ready", "True", "Applied")
            .await
    }

    /// Waits for Ready=False and Synced=False with `reason` (the refusals make no call, so both
    /// say it), returning the Ready message.
    async fn wait_refused(&self, ns: &str, name: &str, reason: &str) -> String {
        self.wait_condition(ns, name, "Synced", "False", reason)
            .await;
        let po = self
            .wait_condition(ns, name, "Ready", "False", reason)
            .await;
        condition(&po, "Ready").unwrap().2
    }

    async fn secret_data(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(self.client(), ns);
        let s = api.get_opt(name).await.unwrap()?;
        Some(
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
                .collect(),
        )
    }

    async fn put_secret(&self, ns: &str, name: &str, key: &str, value: &str) {
        put_secret_in(&self.client(), ns, name, key, value).await;
    }

    /// Events about ProxyOrder `ns/name`, as (type, reason, note).
    async fn events(&self, ns: &str, name: &str) -> Vec<(String, String, String)> {
        events_about(&self.client(), ns, name).await
    }

    /// Waits for a Warning Event with `reason` about `ns/name`.
    async fn wait_warning(&self, ns: &str, name: &str, reason: &str) {
        self.env
            .wait_for(
                &format!("a Warning Event {reason} about {ns}/{name}"),
                30,
                async || {
                    self.events(ns, name)
                        .await
                        .iter()
                        .any(|(t, r, _)| t == "Warning" && r == reason)
                        .then_some(())
                },
            )
            .await;
    }

    /// The order-claim Leases in the operator namespace.
    async fn claims(&self) -> Vec<Lease> {
        Api::<Lease>::namespaced(self.client(), &self.env.ns)
            .list(&ListParams::default().labels(&format!("{CLAIM_LABEL}=true")))
            .await
            .unwrap()
            .items
    }

    /// The claim Lease of `order`, checked against the contract's form.
    async fn claim(&self, order: u64) -> Option<Lease> {
        let lease = self.claims().await.into_iter().find(|l| {
            l.annotations().get("proxy-solutions.net/order-id") == Some(&order.to_string())
        })?;
        let name = lease.name_any();
        let hash = name.strip_prefix("pxo-claim-").unwrap_or_default();
        assert!(
            hash.len() == 32 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "claim name {name}"
        );
        assert_eq!(
            lease
                .labels()
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("proxy-order-operator"),
            "{lease:?}"
        );
        assert_eq!(
            lease.annotations()["proxy-solutions.net/provider-url"].trim_end_matches('/'),
            self.env.sim.base_url().trim_end_matches('/'),
            "{lease:?}"
        );
        Some(lease)
    }

    /// Asserts that the claim of `order` is held by ProxyOrder `ns/name`, in every place the
    /// contract puts the holder.
    async fn assert_claimed_by(&self, order: u64, ns: &str, name: &str) {
        let po = self.get(ns, name).await;
        let uid = po.metadata.uid.clone().unwrap();
        let Some(lease) = self.claim(order).await else {
            panic!(
                "no claim Lease for order {order}: {:#?}",
                self.claims().await
            )
        };
        assert_eq!(
            lease.annotations().get("proxy-solutions.net/holder"),
            Some(&format!("{ns}/{name}")),
            "{lease:?}"
        );
        assert_eq!(
            lease.labels().get("proxy-solutions.net/holder-uid"),
            Some(&uid),
            "{lease:?}"
        );
        assert_eq!(
            lease.spec.as_ref().and_then(|s| s.holder_identity.clone()),
            Some(format!("{ns}/{name}/{uid}")),
            "{lease:?}"
        );
    }

    /// Fails when a canary (or the API key) appears in the operator's log, in an Event of any
    /// of the scenario's namespaces, or in a status of its ProxyOrders and ProxyProviders.
    async fn assert_no_leaks(&self, canaries: &[&str]) {
        let log = self.env.log_text();
        let mut events = Vec::new();
        let mut statuses = Vec::new();
        for ns in self.namespaces.iter().chain([&self.env.ns]) {
            events.extend(
                Api::<Event>::namespaced(self.client(), ns)
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items,
            );
            for po in self
                .orders(ns)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
            {
                statuses.push(serde_json::to_value(&po.status).unwrap());
            }
        }
        for name in &self.providers {
            if let Some(pp) = self.providers_api().get_opt(name).await.unwrap() {
                statuses.push(serde_json::to_value(pp).unwrap()["status"].clone());
            }
        }
        assert_none_leaked(
            canaries,
            &log,
            &serde_json::to_string(&events).unwrap(),
            &serde_json::to_string(&statuses).unwrap(),
        );
    }

    /// The operator's log has no RBAC denial (it runs with the chart's permissions).
    fn assert_no_forbidden(&self) {
        let log = self.env.log_text();
        assert!(
            !log.to_lowercase().contains("forbidden"),
            "RBAC denial in the log:\n{}",
            tail(&log, 60)
        );
    }

    /// Deletes the ProxyProviders and the tenant namespaces, then stops the operator and
    /// deletes its namespace and the chart.
    async fn finish(self) {
        for name in &self.providers {
            let _ = self
                .providers_api()
                .delete(name, &DeleteParams::background())
                .await;
        }
        let nss: Api<Namespace> = Api::all(self.client());
        for ns in &self.namespaces {
            let _ = nss.delete(ns, &DeleteParams::background()).await;
        }
        self.env.finish().await;
    }
}

/// A ProxyOrder spec naming `order` through ProxyProvider `provider`, plus `extra` fields.
fn via(provider: &str, order: u64, extra: Value) -> Value {
    let mut spec = json!({"orderId": order, "providerRef": {"name": provider}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

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
    t.wait_ready(&ns_a, "web").await;
    t.wait_ready(&ns_b, "mobile").await;

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
async fn a_tenant_cannot_take_another_tenants_order() {
    let mut t = Tenancy::start("steal", SimConfig::default(), &[]).await;
    let (ns_a, ns_b, provider) = two_tenants(&mut t).await;

    // B claims order 10000 first.
    t.apply(
        &ns_b,
        "holder-b",
        via(
            &provider,
            ACTIVE,
            json!({"port": 8200, "login": "owner-b", "password": {"generate": true}}),
        ),
    )
    .await;
    t.wait_ready(&ns_b, "holder-b").await;
    t.assert_claimed_by(ACTIVE, &ns_b, "holder-b").await;
    let calls = t.env.change_calls(ACTIVE).await.len();
    let b_secret = t.secret_data(&ns_b, "holder-b-proxy").await.unwrap();
    let sim_before = t.env.sim_order(ACTIVE).await;

    // A names the same order.
    let a_spec = |port: u16| {
        via(
            &provider,
            ACTIVE,
            json!({"port": port, "login": "thief-a", "password": {"generate": true}}),
        )
    };
    t.apply(&ns_a, "claimant-a", a_spec(8201)).await;
    let msg = t.wait_refused(&ns_a, "claimant-a", "OrderConflict").await;
    assert!(msg.contains(&ACTIVE.to_string()), "{msg}");
    assert!(msg.contains("another namespace"), "{msg}");
    assert!(
        !msg.contains(&ns_b) && !msg.contains("holder-b"),
        "the other tenant is named: {msg}"
    );
    t.wait_warning(&ns_a, "claimant-a", "OrderConflict").await;
    for (_, _, note) in t.events(&ns_a, "claimant-a").await {
        assert!(
            !note.contains(&ns_b) && !note.contains("holder-b"),
            "the other tenant is named in an Event: {note}"
        );
    }
    // A's edits change nothing.
    for port in [8202, 8203] {
        t.apply(&ns_a, "claimant-a", a_spec(port)).await;
        t.wait_refused(&ns_a, "claimant-a", "OrderConflict").await;
    }
    // Nor does a rotation request (it would lock B out).
    t.annotate(&ns_a, "claimant-a", ROTATE, Some("r1")).await;
    settle(3).await;
    assert_eq!(
        t.env.change_calls(ACTIVE).await.len(),
        calls,
        "no change call for the other tenant's order"
    );
    assert_eq!(
        t.env.sim_order(ACTIVE).await,
        sim_before,
        "the order is untouched"
    );
    assert_eq!(
        t.secret_data(&ns_b, "holder-b-proxy").await.unwrap(),
        b_secret,
        "B's Secret is untouched"
    );
    assert!(
        t.secret_data(&ns_a, "claimant-a-proxy").await.is_none(),
        "A got no credentials"
    );
    t.assert_claimed_by(ACTIVE, &ns_b, "holder-b").await;
    assert_eq!(
        condition(&t.get(&ns_b, "holder-b").await, "Ready")
            .unwrap()
            .1,
        "Applied"
    );

    t.annotate(&ns_a, "claimant-a", ROTATE, None).await;

    // Once B is gone, A takes the order over, without a nudge.
    t.orders(&ns_b)
        .delete("holder-b", &DeleteParams::default())
        .await
        .unwrap();
    t.env
        .wait_for("holder-b deleted", 30, async || {
            t.orders(&ns_b)
                .get_opt("holder-b")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
    t.wait_ready(&ns_a, "claimant-a").await;
    t.assert_claimed_by(ACTIVE, &ns_a, "claimant-a").await;
    let sim = t.env.sim_order(ACTIVE).await;
    assert_eq!(sim["access"]["port"], 8203);
    assert_eq!(sim["access"]["login"], "thief-a");
    let a_secret = t.secret_data(&ns_a, "claimant-a-proxy").await.unwrap();
    assert_eq!(
        Value::String(a_secret["password"].clone()),
        sim["access"]["password"]
    );
    let new_calls = &t.env.change_calls(ACTIVE).await[calls..];
    assert_eq!(
        new_calls.len(),
        1,
        "one call for the take-over: {new_calls:#?}"
    );
    assert_eq!(new_calls[0]["body"]["port"], 8203);

    // Leaks are checked while the ProxyOrders still exist (their statuses).
    t.assert_no_leaks(&[&b_secret["password"], &a_secret["password"]])
        .await;
    // Deleting the holder releases the claim.
    t.orders(&ns_a)
        .delete("claimant-a", &DeleteParams::default())
        .await
        .unwrap();
    t.env
        .wait_for("the claim released", 30, async || {
            t.claim(ACTIVE).await.is_none().then_some(())
        })
        .await;
    t.assert_no_forbidden();
    t.finish().await;
}

#[tokio::test]
async fn secrets_of_another_namespace_are_out_of_reach() {
    const VICTIM_KEY: &str = "victim-api-key-canary-P0d3";
    const VICTIM_PW: &str = "victim-pw-canary-Lm93x";
    // The victim's key is valid at the provider: were it used, calls would succeed.
    let sim = SimConfig {
        api_keys: vec![VICTIM_KEY.to_string()],
        ..SimConfig::default()
    };
    let mut t = Tenancy::start("reach", sim, &[]).await;
    let ns_a = t.namespace("a", json!({})).await;
    let victim = t.namespace("victim", json!({})).await;
    t.put_secret(&victim, "victim-key", "api-key", VICTIM_KEY)
        .await;
    t.put_secret(&victim, "victim-pw", "password", VICTIM_PW)
        .await;

    // The schema has no namespace field in a Secret reference: a strict apply is refused,
    // naming the field.
    let strict = PatchParams::apply("e2e").force().validation_strict();
    let cases = [
        (
            "key",
            json!({"orderId": ACTIVE,
                   "apiKeySecretRef": {"name": "victim-key", "key": "api-key", "namespace": victim}}),
            "apiKeySecretRef.namespace",
        ),
        (
            "pw",
            json!({"orderId": MOBILE,
                   "apiKeySecretRef": {"name": "own-key", "key": "api-key"},
                   "password": {"secretKeyRef": {"name": "victim-pw", "key": "password", "namespace": victim}}}),
            "secretKeyRef.namespace",
        ),
    ];
    for (name, spec, field) in &cases {
        let err = t
            .try_apply(&ns_a, name, spec.clone(), &strict)
            .await
            .expect_err(name);
        assert!(err.to_string().contains(field), "{name}: {err}");
    }
    // Server-side apply refuses an undeclared field whatever the validation level; created
    // with the API server's default validation (Warn) it is dropped. The operator then reads
    // the ProxyOrder's own namespace only.
    let (name, spec, _) = &cases[0];
    t.create_pruned(&ns_a, name, spec.clone()).await;
    let msg = t.wait_refused(&ns_a, "key", "SecretNotFound").await;
    assert!(msg.contains(&format!("{ns_a}/victim-key")), "{msg}");
    assert!(!msg.contains(&victim), "{msg}");
    settle(2).await;
    assert_eq!(
        t.env.requests().await,
        Vec::<Value>::new(),
        "no provider request without a key of the own namespace"
    );

    // The password Secret: with a ProxyProvider, so that everything else is in order.
    let provider = t
        .apply_provider("shared", t.provider_spec(&[&ns_a], None))
        .await;
    let (_, spec, _) = &cases[1];
    let mut spec = spec.clone();
    spec.as_object_mut().unwrap().remove("apiKeySecretRef");
    spec["providerRef"] = json!({"name": provider});
    t.create_pruned(&ns_a, "pw", spec).await;
    let msg = t.wait_refused(&ns_a, "pw", "SecretNotFound").await;
    assert!(msg.contains(&format!("{ns_a}/victim-pw")), "{msg}");
    assert!(!msg.contains(&victim), "{msg}");
    settle(2).await;
    assert!(t.env.change_calls(MOBILE).await.is_empty());
    assert!(t.env.change_calls(ACTIVE).await.is_empty());
    let log = serde_json::to_string(&t.env.requests().await).unwrap();
    for c in [VICTIM_KEY, VICTIM_PW] {
        assert!(!log.contains(c), "{c} reached the provider: {log}");
    }
    assert!(
        t.env
            .requests()
            .await
            .iter()
            .all(|r| r["status"] != 401 && r["status"] != 403),
        "no request with another key: {log}"
    );
    for id in [ACTIVE, MOBILE] {
        assert_ne!(t.env.sim_order(id).await["access"]["password"], VICTIM_PW);
    }
    // A change of the other namespace's Secret is nothing to this ProxyOrder.
    t.put_secret(&victim, "victim-pw", "password", &format!("{VICTIM_PW}-2"))
        .await;
    settle(2).await;
    assert!(t.env.change_calls(MOBILE).await.is_empty());

    // The same name in the own namespace is what counts.
    t.put_secret(&ns_a, "victim-pw", "password", PW_CANARY)
        .await;
    t.wait_ready(&ns_a, "pw").await;
    assert_eq!(
        t.env.sim_order(MOBILE).await["access"]["password"],
        PW_CANARY
    );
    assert_eq!(t.env.change_calls(MOBILE).await.len(), 1);
    assert!(t.env.change_calls(ACTIVE).await.is_empty());

    t.assert_no_forbidden();
    t.assert_no_leaks(&[VICTIM_KEY, VICTIM_PW, &format!("{VICTIM_PW}-2"), PW_CANARY])
        .await;
    t.finish().await;
}

#[tokio::test]
async fn namespaced_api_keys_can_be_switched_off() {
    let mut t = Tenancy::start(
        "nokeys",
        SimConfig::default(),
        &["--allow-api-key-secret-ref=false"],
    )
    .await;
    let ns_a = t.namespace("a", json!({})).await;
    // A valid key: the flag alone stops it.
    t.put_secret(&ns_a, "own-key", "api-key", API_KEY).await;
    let own = |port: u16| {
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": "own-key", "key": "api-key"},
               "port": port})
    };
    t.apply(&ns_a, "own", own(8300)).await;
    t.wait_refused(&ns_a, "own", "ApiKeySecretRefDisabled")
        .await;
    t.wait_warning(&ns_a, "own", "ApiKeySecretRefDisabled")
        .await;
    t.apply(&ns_a, "own", own(8301)).await;
    t.wait_refused(&ns_a, "own", "ApiKeySecretRefDisabled")
        .await;
    settle(2).await;
    assert_eq!(
        t.env.requests().await,
        Vec::<Value>::new(),
        "no provider call at all"
    );

    // ProxyProviders still work.
    let provider = t
        .apply_provider("shared", t.provider_spec(&[&ns_a], None))
        .await;
    t.apply(
        &ns_a,
        "shared",
        via(&provider, MOBILE, json!({"port": 8302})),
    )
    .await;
    t.wait_ready(&ns_a, "shared").await;
    assert_eq!(t.env.change_calls(MOBILE).await.len(), 1);
    assert!(t.env.change_calls(ACTIVE).await.is_empty());
    assert_eq!(
        condition(&t.get(&ns_a, "own").await, "Ready").unwrap().1,
        "ApiKeySecretRefDisabled"
    );

    t.assert_no_forbidden();
    t.assert_no_leaks(&[]).await;
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
    t.wait_ready(&ns_a, "web").await;
    t.wait_ready(&ns_b, "web").await;
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
    t.wait_ready(&ns_a, "web").await;
    t.wait_ready(&ns_b, "web").await;
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

/// Rounds of the simultaneous-claims scenarios.
const RACE_ROUNDS: u64 = 5;

/// A simulator with the example orders and one generated order per round plus one.
fn race_sim() -> SimConfig {
    SimConfig {
        orders: example_orders()
            .into_iter()
            .chain(generate_orders(RACE_ROUNDS as u32 + 1))
            .collect(),
        ..SimConfig::default()
    }
}

/// Two namespaces allowed by one provider: (team-a, team-b, provider).
async fn two_tenants(t: &mut Tenancy) -> (String, String, String) {
    let ns_a = t.namespace("a", json!({})).await;
    let ns_b = t.namespace("b", json!({})).await;
    let provider = t
        .apply_provider("shared", t.provider_spec(&[&ns_a, &ns_b], None))
        .await;
    (ns_a, ns_b, provider)
}

/// What one ProxyOrder alone costs: the change calls for a spec like the racers' (port and
/// login), on the last generated order, created with the extra `labels`.
async fn race_baseline(t: &Tenancy, ns: &str, provider: &str, labels: Value) -> usize {
    let order = GENERATED_FIRST_ID + RACE_ROUNDS;
    t.apply_labelled(
        ns,
        "alone",
        labels,
        via(provider, order, json!({"port": 9000, "login": "alone"})),
    )
    .await;
    t.wait_ready(ns, "alone").await;
    let baseline = t.env.change_calls(order).await.len();
    assert_eq!(baseline, 1, "{:#?}", t.env.change_calls(order).await);
    baseline
}

/// [`RACE_ROUNDS`] rounds, each creating two ProxyOrders for one order at the same instant in
/// team-a and team-b (with the extra labels `labels_a` and `labels_b`): exactly one is
/// Ready/Applied and holds the claim, the other OrderConflict without credentials, and the
/// order got exactly the winner's calls, no more than one ProxyOrder alone makes.
async fn race_rounds(
    t: &Tenancy,
    (ns_a, ns_b, provider): (&str, &str, &str),
    (labels_a, labels_b): (Value, Value),
    baseline: usize,
) {
    let mut winners = BTreeMap::new();
    for round in 0..RACE_ROUNDS {
        let order = GENERATED_FIRST_ID + round;
        let (name_a, name_b) = (format!("race{round}-a"), format!("race{round}-b"));
        let spec =
            |port: u64, login: &str| via(provider, order, json!({"port": port, "login": login}));
        let (spec_a, spec_b) = (spec(9100 + round, "racer-a"), spec(9200 + round, "racer-b"));
        tokio::join!(
            t.apply_labelled(ns_a, &name_a, labels_a.clone(), spec_a),
            t.apply_labelled(ns_b, &name_b, labels_b.clone(), spec_b)
        );
        let outcome = async |ns: &str, name: &str| {
            let po = t.orders(ns).get_opt(name).await.ok()??;
            let (status, reason, _) = condition(&po, "Ready")?;
            let current = po.status.as_ref()?.observed_generation == po.metadata.generation;
            (current && (reason == "Applied" || reason == "OrderConflict"))
                .then_some((status, reason))
        };
        let decided = async || {
            let a = outcome(ns_a, &name_a).await?;
            let b = outcome(ns_b, &name_b).await?;
            Some((a, b))
        };
        t.env
            .wait_for(&format!("round {round}: both decided"), 30, async || {
                decided().await
            })
            .await;
        settle(2).await;
        let (a, b) = decided().await.expect("still decided");
        let ((winner_ns, winner), (loser_ns, loser), port, login) =
            match (a.1.as_str(), b.1.as_str()) {
                ("Applied", "OrderConflict") => {
                    ((ns_a, &name_a), (ns_b, &name_b), 9100 + round, "racer-a")
                }
                ("OrderConflict", "Applied") => {
                    ((ns_b, &name_b), (ns_a, &name_a), 9200 + round, "racer-b")
                }
                other => panic!("round {round}: not one winner: {other:?}"),
            };
        t.wait_ready(winner_ns, winner).await;
        let loser_msg = t.wait_refused(loser_ns, loser, "OrderConflict").await;
        assert!(
            !loser_msg.contains(winner_ns) && !loser_msg.contains(winner.as_str()),
            "round {round}: the winner is named: {loser_msg}"
        );
        let calls = t.env.change_calls(order).await;
        assert_eq!(
            calls.len(),
            baseline,
            "round {round}: one claimant's calls only: {calls:#?}"
        );
        for call in &calls {
            assert_eq!(call["status"], 200, "round {round}: {call}");
            assert_eq!(call["body"]["port"], port, "round {round}: {call}");
            assert_eq!(call["body"]["login"], login, "round {round}: {call}");
        }
        assert_eq!(
            t.env.sim_order(order).await["access"]["port"],
            port,
            "round {round}"
        );
        let data = t
            .secret_data(winner_ns, &format!("{winner}-proxy"))
            .await
            .unwrap();
        assert_eq!(data["port"], port.to_string(), "round {round}");
        assert!(
            t.secret_data(loser_ns, &format!("{loser}-proxy"))
                .await
                .is_none(),
            "round {round}: the loser got credentials"
        );
        t.assert_claimed_by(order, winner_ns, winner).await;
        winners.insert(order, winner_ns.to_string());
    }
    // One claim per order (and the baseline's).
    let claims = t.claims().await;
    assert_eq!(claims.len() as u64, RACE_ROUNDS + 1, "{claims:#?}");
    eprintln!("simultaneous claims: winners by order {winners:?}");
}

#[tokio::test]
async fn simultaneous_claims_have_one_winner() {
    let mut t = Tenancy::start("race", race_sim(), &[]).await;
    let (ns_a, ns_b, provider) = two_tenants(&mut t).await;
    let baseline = race_baseline(&t, &ns_a, &provider, json!({})).await;
    race_rounds(
        &t,
        (&ns_a, &ns_b, &provider),
        (json!({}), json!({})),
        baseline,
    )
    .await;
    t.assert_no_forbidden();
    t.assert_no_leaks(&[]).await;
    t.finish().await;
}

/// The same with two operator instances (shards, `--selector`), each seeing only one of the
/// two ProxyOrders: no in-process lock can decide, only the claim Lease the API server
/// arbitrates.
#[tokio::test]
async fn simultaneous_claims_across_shards_have_one_winner() {
    const SHARD: &str = "e2e-shard";
    let mut t = Tenancy::start("shards", race_sim(), &[]).await;
    let (ns_a, ns_b, provider) = two_tenants(&mut t).await;
    // The provider's status is the first operator's; the ProxyOrders are the shards'.
    t.env
        .wait_for("the ProxyProvider's status", 30, async || {
            t.provider(&provider).await["status"]["orders"]
                .as_u64()
                .map(|_| ())
        })
        .await;
    t.env.stop_operator();
    let selector = |shard: &str| format!("{TENANCY_LABEL}={},{SHARD}={shard}", t.id);
    let shard_a = t.env.start_shard("shard-a", &selector("a")).await;
    let shard_b = t.env.start_shard("shard-b", &selector("b")).await;
    let baseline = race_baseline(&t, &ns_a, &provider, json!({SHARD: "a"})).await;
    race_rounds(
        &t,
        (&ns_a, &ns_b, &provider),
        (json!({SHARD: "a"}), json!({SHARD: "b"})),
        baseline,
    )
    .await;
    // Each shard claimed and called for its own ProxyOrders only.
    for (log, own, other) in [
        (shard_a.log_text(), &ns_a, &ns_b),
        (shard_b.log_text(), &ns_b, &ns_a),
    ] {
        let acted: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains(r#""message":"claimed the order""#)
                    || l.contains(r#""message":"provider call succeeded""#)
            })
            .collect();
        assert!(!acted.is_empty(), "{own}'s shard did nothing:\n{log}");
        for line in acted {
            assert!(
                line.contains(own.as_str()) && !line.contains(other.as_str()),
                "{line}"
            );
        }
        assert!(
            !log.to_lowercase().contains("forbidden"),
            "RBAC denial in a shard's log:\n{}",
            tail(&log, 60)
        );
        assert!(
            !log.contains(API_KEY),
            "the API key leaked into a shard's log"
        );
    }
    t.assert_no_leaks(&[]).await;
    drop((shard_a, shard_b));
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
    t.wait_ready(&ns_a, "web").await;
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
    t.wait_ready(&ns_a, "web").await;
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
    t.wait_condition(&ns_a, "web", "Ready", "False", "SecretNotFound")
        .await;

    // A wrong key.
    t.put_secret(&t.env.ns, "later-key", "api-key", WRONG_KEY)
        .await;
    t.wait_provider(&provider, "False", "Unauthorized").await;
    t.wait_condition(&ns_a, "web", "Ready", "False", "Unauthorized")
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
    t.wait_ready(&ns_a, "web").await;
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
async fn provider_ref_is_checked_at_admission() {
    // No operator is needed: the API server refuses these.
    let _schema = CRD_SCHEMA.lock().await;
    kube_env_check();
    let client = kube::Client::try_default().await.unwrap();
    install_crd(&client).await;
    let ns = format!("e2e-tn-admit-{:04x}", rand::random::<u16>());
    let nss: Api<Namespace> = Api::all(client.clone());
    create_namespace(&client, &ns, json!({})).await;
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

/// A ProxyOrder that does not hold an order's claim never revokes it on deletion, not even
/// when it once published credentials (here: a status as a pre-claims duplicate would have
/// one) and the order list fails, so that the claim is neither taken nor compared.
#[tokio::test]
async fn a_revoke_without_the_claim_waits_and_revokes_nothing() {
    let mut t = Tenancy::start("revoke", SimConfig::default(), &[]).await;
    let (ns_a, ns_b, provider) = two_tenants(&mut t).await;
    t.apply(
        &ns_b,
        "holder-b",
        via(&provider, ACTIVE, json!({"port": 8400})),
    )
    .await;
    t.wait_ready(&ns_b, "holder-b").await;
    let calls = t.env.change_calls(ACTIVE).await.len();
    let order_before = t.env.sim_order(ACTIVE).await;

    // Every order list fails from now on. A (its own list: another currency) never sees the
    // order listed, so observe never compares claims for it.
    t.env
        .sim_post(
            "/faults",
            json!({"endpoint": "list", "status": 503, "count": 100000}),
        )
        .await;
    t.apply(
        &ns_a,
        "dup-a",
        via(
            &provider,
            ACTIVE,
            json!({"port": 8401, "currency": "EUR", "deletionPolicy": "Revoke"}),
        ),
    )
    .await;
    t.wait_refused(&ns_a, "dup-a", "ProviderUnavailable").await;
    // As if it had published the order's credentials once.
    t.orders(&ns_a)
        .patch_status(
            "dup-a",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "access": {"port": 8400, "login": "x", "ipList": []},
                "passwordFingerprint": "sha256:00000000000000000000000000000000",
            }})),
        )
        .await
        .unwrap();
    t.orders(&ns_a)
        .delete("dup-a", &DeleteParams::default())
        .await
        .unwrap();
    settle(6).await;
    assert!(
        t.orders(&ns_a).get_opt("dup-a").await.unwrap().is_some(),
        "the revocation waits while the claim cannot be checked"
    );
    assert_eq!(
        t.env.change_calls(ACTIVE).await.len(),
        calls,
        "no revocation without the claim"
    );

    // Lists work again: A is found not to hold the claim and goes without revoking.
    reqwest::Client::new()
        .delete(format!("{}/faults", t.env.sim.admin_url()))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    t.env
        .wait_for("dup-a deleted", 30, async || {
            t.orders(&ns_a)
                .get_opt("dup-a")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
    assert_eq!(t.env.change_calls(ACTIVE).await.len(), calls);
    assert_eq!(t.env.sim_order(ACTIVE).await, order_before);
    assert!(
        t.events(&ns_a, "dup-a")
            .await
            .iter()
            .any(|(_, reason, _)| reason == "RevokeSkipped"),
        "{:?}",
        t.events(&ns_a, "dup-a").await
    );
    t.assert_claimed_by(ACTIVE, &ns_b, "holder-b").await;
    t.assert_no_forbidden();
    t.finish().await;
}
