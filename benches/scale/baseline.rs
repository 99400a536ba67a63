//! The baselines: N objects created against the same API server with the same concurrency,
//! with the operator stopped, to compare convergence with: plain Secrets like the operator's,
//! the same ProxyOrders again, and objects of a minimal custom resource (three fields, no
//! CEL), which tell the cost of a custom resource as such from that of the ProxyOrder schema.

use std::time::Duration;

use anyhow::{Context as _, Result};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, PostParams},
};
use proxy_order_api::ProxyOrder;
use proxy_order_testkit::{apply_crd, run_on_tasks};
use serde_json::json;

use crate::{
    CREATE_PORT, CREATE_TASKS, FIRST_ID,
    cluster::create_bench_namespace,
    converge::bench_order,
    memory::{ServerCpu, with_server_cpu},
};

/// How long each baseline's N creates took, and the control plane's CPU for them.
pub(crate) struct Baselines {
    /// N plain Secrets like the operator's.
    pub(crate) secrets: Phase,
    /// The same N ProxyOrders as in the convergence phase, with no operator running.
    pub(crate) proxyorders: Phase,
    /// N objects of a minimal custom resource.
    pub(crate) minimal: Phase,
}

/// One baseline: the time its creates took and the API server's and etcd's CPU meanwhile.
pub(crate) type Phase = (Duration, Option<ServerCpu>);

const MINIMAL_GROUP: &str = "bench.proxy-solutions.net";

/// Creates namespace `ns` and, in it, each baseline's N objects one after another.
pub(crate) async fn baselines(n: usize, client: &Client, ns: &str) -> Result<Baselines> {
    create_bench_namespace(client, ns).await?;
    let secrets = with_server_cpu(plain_secrets(n, client, ns)).await?;
    let proxyorders = with_server_cpu(proxyorders(n, client, ns)).await?;
    let minimal = with_server_cpu(minimal_resources(n, client, ns)).await?;
    Ok(Baselines {
        secrets,
        proxyorders,
        minimal,
    })
}

async fn plain_secrets(n: usize, client: &Client, ns: &str) -> Result<Duration> {
    eprintln!("bench: baseline, creating {n} plain Secrets in {ns}");
    let plain: Api<Secret> = Api::namespaced(client.clone(), ns);
    run_on_tasks(n, CREATE_TASKS, move |i| {
        let plain = plain.clone();
        async move {
            let s: Secret = serde_json::from_value(json!({
                "metadata": {"name": format!("plain-{i}")},
                "data": {
                    "login": ByteString(format!("user{}", FIRST_ID + i as u64).into_bytes()),
                    "password": ByteString(b"bench-password-0123456789".to_vec()),
                    "port": ByteString(CREATE_PORT.to_string().into_bytes()),
                },
            }))?;
            plain
                .create(&PostParams::default(), &s)
                .await
                .with_context(|| format!("creating plain Secret {i}"))?;
            Ok(())
        }
    })
    .await
}

async fn proxyorders(n: usize, client: &Client, ns: &str) -> Result<Duration> {
    eprintln!("bench: baseline, creating {n} ProxyOrders in {ns} with no operator running");
    let orders: Api<ProxyOrder> = Api::namespaced(client.clone(), ns);
    run_on_tasks(n, CREATE_TASKS, move |i| {
        let orders = orders.clone();
        async move {
            orders
                .create(&PostParams::default(), &bench_order(i)?)
                .await
                .with_context(|| format!("creating baseline ProxyOrder {i}"))?;
            Ok(())
        }
    })
    .await
}

async fn minimal_resources(n: usize, client: &Client, ns: &str) -> Result<Duration> {
    let crd = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("minimals.{MINIMAL_GROUP}")},
        "spec": {
            "group": MINIMAL_GROUP,
            "scope": "Namespaced",
            "names": {"plural": "minimals", "singular": "minimal", "kind": "Minimal"},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {
                            "orderId": {"type": "integer"},
                            "port": {"type": "integer"},
                            "login": {"type": "string"},
                        },
                    }},
                }},
            }],
        },
    }))?;
    apply_crd(client, "bench", &crd).await?;
    eprintln!("bench: baseline, creating {n} minimal custom resources in {ns}");
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(MINIMAL_GROUP, "v1", "Minimal"),
        "minimals",
    );
    let minimal: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    run_on_tasks(n, CREATE_TASKS, move |i| {
        let (minimal, ar) = (minimal.clone(), ar.clone());
        async move {
            let id = FIRST_ID + i as u64;
            let obj = DynamicObject::new(&format!("minimal-{i}"), &ar).data(json!({
                "spec": {"orderId": id, "port": CREATE_PORT, "login": format!("user{id}")},
            }));
            minimal
                .create(&PostParams::default(), &obj)
                .await
                .with_context(|| format!("creating minimal custom resource {i}"))?;
            Ok(())
        }
    })
    .await
}
