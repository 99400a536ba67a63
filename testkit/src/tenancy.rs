//! [`Tenancy`]: one multi-tenant scenario's operator (cluster-wide, as the chart's
//! ServiceAccount), tenant namespaces and ProxyProviders, with helpers for their ProxyOrders,
//! Secrets, Events and order claims. The tenancy scenarios (tests/e2e/tenancy) and the
//! hostile-tenant suite (tests/hostile) share it.
//!
//! Each scenario runs the operator as a cluster-wide installation would: the chart installed
//! without `watchNamespace` (release and operator namespace named after the test), the operator
//! impersonating the chart's ServiceAccount, watching every namespace, with
//! `--operator-namespace` the test's namespace and `--selector e2e-tenancy=<id>`, so that
//! scenarios running side by side do not see each other's objects. Every ProxyOrder and
//! ProxyProvider carries that label; ProxyProviders (cluster-scoped) get unique names and are
//! deleted at the end, like the tenant namespaces.

use std::collections::BTreeMap;

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Namespace, events::v1::Event};
use kube::{
    Api, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
};
use proxy_order_api::{
    CLAIM_LABEL, HOLDER_ANNOTATION, HOLDER_UID_LABEL, ORDER_ID_ANNOTATION, PROVIDER_URL_ANNOTATION,
    ProxyOrder, ProxyProvider,
};
use proxy_solutions_sim::SimConfig;
use serde_json::{Value, json};

use crate::*;

/// The label selecting one scenario's objects (`--selector e2e-tenancy=<id>`).
pub const TENANCY_LABEL: &str = "e2e-tenancy";

/// One scenario: the operator (cluster-wide, as the chart's ServiceAccount), its namespace
/// (`env.ns`, holding the API-key Secret [`KEY_SECRET`] and the claims), tenant namespaces and
/// ProxyProviders.
pub struct Tenancy {
    pub env: Env,
    pub id: String,
    pub namespaces: Vec<String>,
    pub providers: Vec<String>,
}

impl Tenancy {
    pub async fn start(name: &str, sim: SimConfig, extra_args: &[&str]) -> Tenancy {
        Self::start_with(name, sim, &[], extra_args).await
    }

    /// Like [`Tenancy::start`], with `chart_sets` as extra `--set` values of the chart.
    pub async fn start_with(
        name: &str,
        sim: SimConfig,
        chart_sets: &[&str],
        extra_args: &[&str],
    ) -> Tenancy {
        let id = format!("{name}-{:04x}", rand::random::<u16>());
        let env = Env::start_cluster_wide(
            &format!("tn-{name}"),
            &format!("{TENANCY_LABEL}={id}"),
            chart_sets,
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

    pub fn client(&self) -> kube::Client {
        self.env.client.clone()
    }

    /// A client acting as `user`, a tenant with the built-in `edit` role in namespace `ns` and
    /// every right on ProxyOrders there, and nothing anywhere else (the API server checks it:
    /// the test's own credentials impersonate the user).
    pub async fn tenant_client(&self, ns: &str, user: &str) -> kube::Client {
        use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
        let full = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "proxyorders-full", "namespace": ns},
            "rules": [{"apiGroups": ["proxy-solutions.net"],
                       "resources": ["proxyorders", "proxyorders/status", "proxyorders/finalizers"],
                       "verbs": ["*"]}],
        });
        let apply = PatchParams::apply("e2e").force();
        Api::<Role>::namespaced(self.client(), ns)
            .patch("proxyorders-full", &apply, &Patch::Apply(full))
            .await
            .unwrap();
        for (name, kind, role) in [
            ("tenant-edit", "ClusterRole", "edit"),
            ("tenant-proxyorders", "Role", "proxyorders-full"),
        ] {
            let binding = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            });
            Api::<RoleBinding>::namespaced(self.client(), ns)
                .patch(name, &apply, &Patch::Apply(binding))
                .await
                .unwrap();
        }
        let mut config = kube::Config::infer().await.expect("KUBECONFIG");
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = Some(vec!["system:authenticated".to_string()]);
        let client = kube::Client::try_from(config).expect("a client for the tenant");
        // The API server's authorizer learns of new bindings from a watch: wait until the
        // tenant may do what the scenarios have it do.
        for (resource, group) in [("secrets", ""), ("proxyorders", "proxy-solutions.net")] {
            self.env
                .wait_for(&format!("{user} may create {resource}"), 30, async || {
                    may(&client, ns, "create", group, resource)
                        .await
                        .then_some(())
                })
                .await;
        }
        client
    }

    /// Applies ProxyOrder `ns/name` as `client` (a tenant's, see [`Tenancy::tenant_client`]),
    /// with the scenario's label.
    pub async fn apply_as(
        &self,
        client: &kube::Client,
        ns: &str,
        name: &str,
        spec: Value,
    ) -> kube::Result<ProxyOrder> {
        Api::<ProxyOrder>::namespaced(client.clone(), ns)
            .patch(
                name,
                &PatchParams::apply("tenant").force(),
                &Patch::Apply(self.body(name, spec)),
            )
            .await
    }

    /// Creates the tenant namespace `<operator namespace>-<tag>` with `labels`.
    pub async fn namespace(&mut self, tag: &str, labels: Value) -> String {
        let ns = format!("{}-{tag}", self.env.ns);
        create_e2e_namespace(&self.client(), &ns, labels).await;
        self.namespaces.push(ns.clone());
        ns
    }

    /// Sets (or, with `None`, removes) a label of namespace `ns`.
    pub async fn label_namespace(&self, ns: &str, key: &str, value: Option<&str>) {
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
    pub fn tenant_label(&self) -> String {
        format!("tenant-{}", self.id)
    }

    /// The unique name of this scenario's ProxyProvider `tag`.
    pub fn provider_name(&self, tag: &str) -> String {
        format!("e2e-{}-{tag}", self.id)
    }

    pub fn providers_api(&self) -> Api<ProxyProvider> {
        Api::all(self.client())
    }

    /// Applies ProxyProvider `tag` (server-side apply, field manager `e2e`, so fields left out
    /// are removed) with the scenario's label; returns its name.
    pub async fn apply_provider(&mut self, tag: &str, spec: Value) -> String {
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
    pub fn provider_spec(&self, namespaces: &[&str], selector_label: Option<&str>) -> Value {
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

    pub async fn delete_provider(&self, name: &str) {
        self.providers_api()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        self.env
            .wait_gone(
                &self.providers_api(),
                name,
                &format!("ProxyProvider {name} deleted"),
            )
            .await;
    }

    /// The ProxyProvider as JSON (the typed form is the operator's business).
    pub async fn provider(&self, name: &str) -> Value {
        serde_json::to_value(self.providers_api().get(name).await.unwrap()).unwrap()
    }

    /// Waits until the ProxyProvider's Ready condition has `status` and `reason` for its
    /// current generation, returning the object.
    pub async fn wait_provider(&self, name: &str, status: &str, reason: &str) -> Value {
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

    pub fn orders(&self, ns: &str) -> Api<ProxyOrder> {
        Api::namespaced(self.client(), ns)
    }

    pub fn body(&self, name: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
            "metadata": {"name": name, "labels": {TENANCY_LABEL: self.id}},
            "spec": spec,
        })
    }

    /// Applies ProxyOrder `ns/name` with the scenario's label and `params`.
    pub async fn try_apply(
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
    pub async fn create_pruned(&self, ns: &str, name: &str, spec: Value) {
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

    pub async fn apply(&self, ns: &str, name: &str, spec: Value) -> ProxyOrder {
        self.try_apply(ns, name, spec, &PatchParams::apply("e2e").force())
            .await
            .unwrap_or_else(|e| panic!("apply {ns}/{name}: {e}"))
    }

    /// Applies ProxyOrder `ns/name` with the scenario's label and the extra `labels`.
    pub async fn apply_labelled(
        &self,
        ns: &str,
        name: &str,
        labels: Value,
        spec: Value,
    ) -> ProxyOrder {
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
    pub async fn annotate(&self, ns: &str, name: &str, key: &str, value: Option<&str>) {
        self.orders(ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .unwrap();
    }

    pub async fn get(&self, ns: &str, name: &str) -> ProxyOrder {
        self.orders(ns).get(name).await.unwrap()
    }

    /// Waits for Ready=False and Synced=False with `reason` (the refusals make no call, so both
    /// say it), returning the Ready message.
    pub async fn wait_refused(&self, ns: &str, name: &str, reason: &str) -> String {
        self.env
            .wait_condition_in(ns, name, "Synced", "False", reason)
            .await;
        let po = self
            .env
            .wait_condition_in(ns, name, "Ready", "False", reason)
            .await;
        condition(&po, "Ready").unwrap().2
    }

    pub async fn secret_data(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        secret_data_in(&self.client(), ns, name).await
    }

    pub async fn put_secret(&self, ns: &str, name: &str, key: &str, value: &str) {
        put_secret_in(&self.client(), ns, name, key, value).await;
    }

    /// Events about ProxyOrder `ns/name`, as (type, reason, note).
    pub async fn events(&self, ns: &str, name: &str) -> Vec<(String, String, String)> {
        events_about(&self.client(), ns, name).await
    }

    /// Waits for a Warning Event with `reason` about `ns/name`.
    pub async fn wait_warning(&self, ns: &str, name: &str, reason: &str) {
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
    pub async fn claims(&self) -> Vec<Lease> {
        Api::<Lease>::namespaced(self.client(), &self.env.ns)
            .list(&ListParams::default().labels(&format!("{CLAIM_LABEL}=true")))
            .await
            .unwrap()
            .items
    }

    /// The claim Lease of `order`, checked against the contract's form.
    pub async fn claim(&self, order: u64) -> Option<Lease> {
        let lease = self
            .claims()
            .await
            .into_iter()
            .find(|l| l.annotations().get(ORDER_ID_ANNOTATION) == Some(&order.to_string()))?;
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
            lease.annotations()[PROVIDER_URL_ANNOTATION].trim_end_matches('/'),
            self.env.sim.base_url().trim_end_matches('/'),
            "{lease:?}"
        );
        Some(lease)
    }

    /// Asserts that the claim of `order` is held by ProxyOrder `ns/name`, in every place the
    /// contract puts the holder.
    pub async fn assert_claimed_by(&self, order: u64, ns: &str, name: &str) {
        let po = self.get(ns, name).await;
        let uid = po.metadata.uid.clone().unwrap();
        let Some(lease) = self.claim(order).await else {
            panic!(
                "no claim Lease for order {order}: {:#?}",
                self.claims().await
            )
        };
        assert_eq!(
            lease.annotations().get(HOLDER_ANNOTATION),
            Some(&format!("{ns}/{name}")),
            "{lease:?}"
        );
        assert_eq!(
            lease.labels().get(HOLDER_UID_LABEL),
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
    pub async fn assert_no_leaks(&self, canaries: &[&str]) {
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
    pub fn assert_no_forbidden(&self) {
        let log = self.env.log_text();
        assert!(
            !log.to_lowercase().contains("forbidden"),
            "RBAC denial in the log:\n{}",
            tail(&log, 60)
        );
    }

    /// Deletes the ProxyProviders and the tenant namespaces, then stops the operator and
    /// deletes its namespace and the chart.
    pub async fn finish(self) {
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

/// Whether `client` may `verb` `resource` (of API `group`) in namespace `ns`, as the API
/// server's authorizer answers it (a SelfSubjectAccessReview).
pub async fn may(client: &kube::Client, ns: &str, verb: &str, group: &str, resource: &str) -> bool {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.to_string()),
                verb: Some(verb.to_string()),
                group: Some(group.to_string()),
                resource: Some(resource.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .ok()
        .and_then(|r| r.status)
        .is_some_and(|s| s.allowed)
}

/// A ProxyOrder spec naming `order` through ProxyProvider `provider`, plus `extra` fields.
pub fn via(provider: &str, order: u64, extra: Value) -> Value {
    let mut spec = json!({"orderId": order, "providerRef": {"name": provider}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

/// A ProxyProvider's cost guardrail holding a change back: ProxyProvider `limited` allows
/// `ns` with `maxQuantity` one more than the expired order has, and ProxyOrder `ns/name` asks
/// through it for two more. Returns the provider's name, the quantity the order has, the one
/// asked for, and the held change's hash, once the ProxyOrder is
/// `Synced=False/AwaitingApproval` with that one change, to be approved on the provider.
pub async fn hold_above_a_providers_limit(
    t: &mut Tenancy,
    ns: &str,
    name: &str,
) -> (String, u64, u64, String) {
    let have = t.env.sim_order(EXPIRED).await["quantity"]
        .as_u64()
        .expect("the simulator's order has a quantity");
    let want = have + 2;
    let mut spec = t.provider_spec(&[ns], None);
    spec["maxQuantity"] = json!(have + 1);
    let provider = t.apply_provider("limited", spec).await;
    t.apply(ns, name, via(&provider, EXPIRED, json!({"quantity": want})))
        .await;
    let po = t
        .env
        .wait_condition_in(ns, name, "Synced", "False", "AwaitingApproval")
        .await;
    let planned = po.status.expect("a status").planned_changes;
    assert_eq!(planned.len(), 1, "{planned:#?}");
    assert_eq!(planned[0].approve_on, format!("ProxyProvider {provider}"));
    assert_eq!((planned[0].from as u64, planned[0].to as u64), (have, want));
    let hash = planned[0].hash.clone();
    (provider, have, want, hash)
}

/// Two namespaces allowed by one provider: (team-a, team-b, provider).
pub async fn two_tenants(t: &mut Tenancy) -> (String, String, String) {
    let ns_a = t.namespace("a", json!({})).await;
    let ns_b = t.namespace("b", json!({})).await;
    let provider = t
        .apply_provider("shared", t.provider_spec(&[&ns_a, &ns_b], None))
        .await;
    (ns_a, ns_b, provider)
}
