//! The CRDs in the cluster: installing them, the lock of the scenarios that depend on their
//! validation, and storing an object past the schema.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, CustomResourceExt, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use proxy_order_api::ProxyProvider;
use proxy_order_api::{ProxyOrder, ProxyOrderSpec};
use serde_json::{Value, json};

use crate::{Env, poll};

/// Installs (or updates) the operator's CRDs (ProxyOrder and ProxyProvider) by server-side
/// apply as field manager `manager`, and waits until both are served.
pub async fn install_crds(client: &Client, manager: &str) -> Result<()> {
    for crd in [ProxyOrder::crd(), ProxyProvider::crd()] {
        // As crdgen writes them into crds/.
        let crd = proxy_order_api::published(crd);
        apply_crd(client, manager, &crd).await?;
    }
    Ok(())
}

/// Applies `crd` (server-side apply, as `manager`) and waits until it is Established.
pub async fn apply_crd(
    client: &Client,
    manager: &str,
    crd: &CustomResourceDefinition,
) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.name_any();
    crds.patch(
        &name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(crd),
    )
    .await
    .with_context(|| format!("applying the CRD {name}"))?;
    let established = poll(
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || {
            let c = crds.get(&name).await?;
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            Ok::<_, anyhow::Error>(established.then_some(()))
        },
    )
    .await?;
    ensure!(
        established.is_some(),
        "CRD {name} not established after 30 s"
    );
    Ok(())
}

/// Held by the scenarios that depend on the CRD's validation (admission) and by the one that
/// loosens it for a moment to store an object an older CRD would have accepted.
pub static CRD_SCHEMA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Stores ProxyOrder `name` with `spec` in `env`'s namespace although the CRD refuses it, as an
/// older CRD without `loosen`'s bounds would have: the CRD is applied without them, the object
/// created, and the CRD restored (and checked to refuse such an object again). Hold
/// [`CRD_SCHEMA`] around it.
pub async fn store_past_the_schema(
    env: &Env,
    name: &str,
    spec: Value,
    loosen: impl Fn(&mut Value),
) {
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    let mut loose = serde_json::to_value(ProxyOrder::crd()).unwrap();
    loosen(&mut loose["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]);
    let body = json!({"apiVersion": "proxy-solutions.net/v1alpha1", "kind": "ProxyOrder",
                      "metadata": {"name": name}, "spec": spec});
    // Untyped: the typed form cannot hold such a value either.
    let orders: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &kube::discovery::ApiResource::erase::<ProxyOrder>(&()),
    );
    let untyped: kube::api::DynamicObject = serde_json::from_value(body).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        crds.patch(
            "proxyorders.proxy-solutions.net",
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&loose),
        )
        .await
        .expect("loosened CRD applies");
        tokio::time::sleep(Duration::from_millis(300)).await;
        match orders.create(&PostParams::default(), &untyped).await {
            Ok(_) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "could not store {name} past the schema: {e}"
            ),
        }
    }
    install_crds(&env.client, "e2e")
        .await
        .expect("the CRDs with their bounds apply");
    let probe = {
        let mut p = untyped.clone();
        p.metadata.name = Some(format!("{name}-probe"));
        p
    };
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while orders.create(&dry, &probe).await.is_ok() {
        assert!(Instant::now() < deadline, "the CRD's bounds are not back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A ProxyOrder spec value for tests that need the typed form.
pub fn spec(v: Value) -> ProxyOrderSpec {
    serde_json::from_value(v).unwrap()
}
