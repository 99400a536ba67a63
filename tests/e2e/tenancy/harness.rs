//! [`Tenancy`]: one multi-tenant scenario's operator (cluster-wide, as the chart's
//! ServiceAccount), tenant namespaces and ProxyProviders, with helpers for their ProxyOrders,
//! Secrets, Events and order claims.

use std::collections::BTreeMap;

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Namespace, events::v1::Event};
use kube::{
    Api, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
};
use proxy_order_operator::{crd::ProxyOrder, proxy_provider::ProxyProvider};
use proxy_solutions_sim::SimConfig;
use serde_json::{Value, json};

use super::TENANCY_LABEL;
use proxy_order_testkit::*;

const CLAIM_LABEL: &str = "proxy-solutions.net/order-claim";

/// One scenario: the operator (cluster-wide, as the chart's ServiceAccount), its namespace
/// (`env.ns`, holding the API-key Secret [`KEY_SECRET`] and the claims), tenant namespaces and
/// ProxyProviders.
pub(super) struct Tenancy {
    pub(super) env: Env,
    pub(super) id: String,
    pub(super) namespaces: Vec<String>,
    pub(super) providers: Vec<String>,
}

impl Tenancy {
    pub(super) async fn start(name: &str, sim: SimConfig, extra_args: &[&str]) -> Tenancy {
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

    pub(super) fn client(&self) -> kube::Client {
        self.env.client.clone()
    }

    /// Creates the tenant namespace `<operator namespace>-<tag>` with `labels`.
    pub(super) async fn namespace(&mut self, tag: &str, labels: Value) -> String {
        let ns = format!("{}-{tag}", self.env.ns);
        create_e2e_namespace(&self.client(), &ns, labels).await;
        self.namespaces.push(ns.clone());
        ns
    }

    /// Sets (or, with `None`, removes) a label of namespace `ns`.
    pub(super) async fn label_namespace(&self, ns: &str, key: &str, value: Option<&str>) {
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
    pub(super) fn tenant_label(&self) -> String {
        format!("tenant-{}", self.id)
    }

    /// The unique name of this scenario's ProxyProvider `tag`.
    pub(super) fn provider_name(&self, tag: &str) -> String {
        format!("e2e-{}-{tag}", self.id)
    }

    pub(super) fn providers_api(&self) -> Api<ProxyProvider> {
        Api::all(self.client())
    }

    /// Applies ProxyProvider `tag` (server-side apply, field manager `e2e`, so fields left out
    /// are removed) with the scenario's label; returns its name.
    pub(super) async fn apply_provider(&mut self, tag: &str, spec: Value) -> String {
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
    pub(super) fn provider_spec(&self, namespaces: &[&str], selector_label: Option<&str>) -> Value {
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

    pub(super) async fn delete_provider(&self, name: &str) {
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
    pub(super) async fn provider(&self, name: &str) -> Value {
        serde_json::to_value(self.providers_api().get(name).await.unwrap()).unwrap()
    }

    /// Waits until the ProxyProvider's Ready condition has `status` and `reason` for its
    /// current generation, returning the object.
    pub(super) async fn wait_provider(&self, name: &str, status: &str, reason: &str) -> Value {
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

    pub(super) fn orders(&self, ns: &str) -> Api<ProxyOrder> {
        Api::namespaced(self.client(), ns)
    }

    pub(super) fn body(&self, name: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
            "metadata": {"name": name, "labels": {TENANCY_LABEL: self.id}},
            "spec": spec,
        })
    }

    /// Applies ProxyOrder `ns/name` with the scenario's label and `params`.
    pub(super) async fn try_apply(
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
    pub(super) async fn create_pruned(&self, ns: &str, name: &str, spec: Value) {
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

    pub(super) async fn apply(&self, ns: &str, name: &str, spec: Value) -> ProxyOrder {
        self.try_apply(ns, name, spec, &PatchParams::apply("e2e").force())
            .await
            .unwrap_or_else(|e| panic!("apply {ns}/{name}: {e}"))
    }

    /// Applies ProxyOrder `ns/name` with the scenario's label and the extra `labels`.
    pub(super) async fn apply_labelled(
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
    pub(super) async fn annotate(&self, ns: &str, name: &str, key: &str, value: Option<&str>) {
        self.orders(ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .unwrap();
    }

    pub(super) async fn get(&self, ns: &str, name: &str) -> ProxyOrder {
        self.orders(ns).get(name).await.unwrap()
    }

    /// Waits for Ready=False and Synced=False with `reason` (the refusals make no call, so both
    /// say it), returning the Ready message.
    pub(super) async fn wait_refused(&self, ns: &str, name: &str, reason: &str) -> String {
        self.env
            .wait_condition_in(ns, name, "Synced", "False", reason)
            .await;
        let po = self
            .env
            .wait_condition_in(ns, name, "Ready", "False", reason)
            .await;
        condition(&po, "Ready").unwrap().2
    }

    pub(super) async fn secret_data(
        &self,
        ns: &str,
        name: &str,
    ) -> Option<BTreeMap<String, String>> {
        secret_data_in(&self.client(), ns, name).await
    }

    pub(super) async fn put_secret(&self, ns: &str, name: &str, key: &str, value: &str) {
        put_secret_in(&self.client(), ns, name, key, value).await;
    }

    /// Events about ProxyOrder `ns/name`, as (type, reason, note).
    pub(super) async fn events(&self, ns: &str, name: &str) -> Vec<(String, String, String)> {
        events_about(&self.client(), ns, name).await
    }

    /// Waits for a Warning Event with `reason` about `ns/name`.
    pub(super) async fn wait_warning(&self, ns: &str, name: &str, reason: &str) {
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
    pub(super) async fn claims(&self) -> Vec<Lease> {
        Api::<Lease>::namespaced(self.client(), &self.env.ns)
            .list(&ListParams::default().labels(&format!("{CLAIM_LABEL}=true")))
            .await
            .unwrap()
            .items
    }

    /// The claim Lease of `order`, checked against the contract's form.
    pub(super) async fn claim(&self, order: u64) -> Option<Lease> {
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
    pub(super) async fn assert_claimed_by(&self, order: u64, ns: &str, name: &str) {
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
    pub(super) async fn assert_no_leaks(&self, canaries: &[&str]) {
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
    pub(super) fn assert_no_forbidden(&self) {
        let log = self.env.log_text();
        assert!(
            !log.to_lowercase().contains("forbidden"),
            "RBAC denial in the log:\n{}",
            tail(&log, 60)
        );
    }

    /// Deletes the ProxyProviders and the tenant namespaces, then stops the operator and
    /// deletes its namespace and the chart.
    pub(super) async fn finish(self) {
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
pub(super) fn via(provider: &str, order: u64, extra: Value) -> Value {
    let mut spec = json!({"orderId": order, "providerRef": {"name": provider}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

/// Two namespaces allowed by one provider: (team-a, team-b, provider).
pub(super) async fn two_tenants(t: &mut Tenancy) -> (String, String, String) {
    let ns_a = t.namespace("a", json!({})).await;
    let ns_b = t.namespace("b", json!({})).await;
    let provider = t
        .apply_provider("shared", t.provider_spec(&[&ns_a, &ns_b], None))
        .await;
    (ns_a, ns_b, provider)
}
