//! The API server: connecting through KUBECONFIG, namespaces, Secrets and Events; in a
//! scenario, its ProxyOrders (apply, annotate, delete, read conditions) and Secrets.

use std::{collections::BTreeMap, fmt::Debug};

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::{
    ByteString,
    api::core::v1::{Namespace, Secret},
};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use proxy_order_api::ProxyOrder;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Env;

/// Fails with `hint` (how to run the suite with a cluster) when KUBECONFIG is not set.
pub fn require_kubeconfig(hint: &str) -> Result<()> {
    ensure!(
        std::env::var_os("KUBECONFIG").is_some(),
        "{hint} (KUBECONFIG is not set)"
    );
    Ok(())
}

/// A kube client for the cluster KUBECONFIG names, with the TLS provider the operator's
/// HTTP clients use installed for the process.
pub async fn connect() -> Result<Client> {
    proxy_order_operator::provider::client::install_crypto_provider();
    Client::try_default()
        .await
        .context("kube client from KUBECONFIG")
}

impl Env {
    pub fn orders(&self) -> Api<ProxyOrder> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates or replaces Secret `name` in the test's namespace with one key (see
    /// [`put_secret_in`]).
    pub async fn put_secret(&self, name: &str, key: &str, value: &str) {
        put_secret_in(&self.client, &self.ns, name, key, value).await;
    }

    /// Applies a ProxyOrder from a spec JSON (server-side apply, field manager `e2e`).
    pub async fn apply(&self, name: &str, spec: Value) -> ProxyOrder {
        self.apply_full(name, json!({ "spec": spec })).await
    }

    pub async fn apply_full(&self, name: &str, body: Value) -> ProxyOrder {
        let mut obj = body;
        obj["apiVersion"] = json!("proxy-solutions.net/v1alpha1");
        obj["kind"] = json!("ProxyOrder");
        obj["metadata"]["name"] = json!(name);
        self.orders()
            .patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(obj))
            .await
            .unwrap_or_else(|e| panic!("apply {name}: {e}"))
    }

    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        self.orders()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    /// Deletes a ProxyOrder and waits until it is gone (finalizers included).
    pub async fn delete_and_wait(&self, name: &str) {
        self.orders()
            .delete(name, &Default::default())
            .await
            .unwrap();
        self.wait_gone(&self.orders(), name, &format!("{name} deleted"))
            .await;
    }

    /// Waits up to 30 s until `api` has no object `name`.
    pub async fn wait_gone<K>(&self, api: &Api<K>, name: &str, what: &str)
    where
        K: Clone + Debug + DeserializeOwned,
    {
        self.wait_for(what, 30, async || {
            api.get_opt(name).await.unwrap().is_none().then_some(())
        })
        .await;
    }

    pub async fn get(&self, name: &str) -> ProxyOrder {
        self.orders().get(name).await.unwrap()
    }

    /// Decoded data of a Secret in the test's namespace (see [`secret_data_in`]).
    pub async fn secret_data(&self, name: &str) -> Option<BTreeMap<String, String>> {
        secret_data_in(&self.client, &self.ns, name).await
    }

    /// Events about the ProxyOrder `name`, as (type, reason, note).
    pub async fn events(&self, name: &str) -> Vec<(String, String, String)> {
        events_about(&self.client, &self.ns, name).await
    }
}

/// Creates or replaces Secret `ns/name` with one key and no labels, as a user does
/// (server-side apply, field manager `e2e`).
pub async fn put_secret_in(client: &Client, ns: &str, name: &str, key: &str, value: &str) {
    let s = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "data": {key: ByteString(value.as_bytes().to_vec())},
    });
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(s))
        .await
        .unwrap_or_else(|e| panic!("Secret {ns}/{name}: {e}"));
}

/// Decoded data of Secret `ns/name`, `None` when there is no such Secret.
pub async fn secret_data_in(
    client: &Client,
    ns: &str,
    name: &str,
) -> Option<BTreeMap<String, String>> {
    let s = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()?;
    Some(
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
            .collect(),
    )
}

/// Creates namespace `ns` with `labels`.
pub async fn create_namespace(client: &Client, ns: &str, labels: Value) -> Result<()> {
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns, "labels": labels}}))?,
        )
        .await
        .with_context(|| format!("creating namespace {ns}"))?;
    Ok(())
}

/// Events in namespace `ns` about the object `name`, as (type, reason, note).
pub async fn events_about(client: &Client, ns: &str, name: &str) -> Vec<(String, String, String)> {
    Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

/// Whether every condition of `types` is True for the ProxyOrder's current generation.
pub fn conditions_true(po: &ProxyOrder, types: &[&str]) -> bool {
    let Some(st) = po.status.as_ref() else {
        return false;
    };
    st.observed_generation == po.metadata.generation
        && types.iter().all(|t| {
            st.conditions
                .iter()
                .any(|c| c.type_ == *t && c.status == "True")
        })
}

pub fn condition(po: &ProxyOrder, type_: &str) -> Option<(String, String, String)> {
    po.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// The value of `key` in Secret `s`, as text.
pub fn secret_text(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_value_is_read_as_text() {
        let s: Secret = serde_json::from_value(json!({
            "metadata": {"name": "s"},
            "data": {"port": ByteString(b"8100".to_vec())},
        }))
        .unwrap();
        assert_eq!(secret_text(&s, "port").as_deref(), Some("8100"));
        assert_eq!(secret_text(&s, "password"), None);
        assert_eq!(secret_text(&Secret::default(), "port"), None);
    }
}
