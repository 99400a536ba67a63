//! Phase 2, the idle window: after convergence nothing changes, so the operator should make
//! no provider change calls and write nothing; counted from the simulator, the objects'
//! resourceVersions and the API server's request counters.

use std::{collections::BTreeMap, time::Duration};

use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt, api::ListParams};
use proxy_order_api::ProxyOrder;
use proxy_order_testkit::{sim_clear_requests, sim_requests};

use crate::{
    apiserver::requests,
    provider::{Calls, classify},
};

/// What the idle window measured.
pub(crate) struct Idle {
    /// Provider calls during the window.
    pub(crate) calls: Calls,
    /// Write requests the API server served for ProxyOrders, Secrets and Events.
    pub(crate) api_writes: f64,
    /// Single-object reads (GET) the API server served for the operator's resources.
    pub(crate) api_gets: f64,
    /// ProxyOrders whose resourceVersion changed (or that appeared).
    pub(crate) po_writes: usize,
    /// Secrets whose resourceVersion changed (or that appeared).
    pub(crate) secret_writes: usize,
}

/// Waits `idle_s` seconds with the operator running and counts what it did meanwhile.
pub(crate) async fn idle_window(
    n: usize,
    idle_s: u64,
    client: &Client,
    ns: &str,
    http: &reqwest::Client,
    admin: &str,
) -> Result<Idle> {
    eprintln!("bench: idle window of {idle_s} s");
    // Let the last status writes land before taking the snapshot.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim_clear_requests(http, admin).await?;
    let rv_before = resource_versions(client, ns).await?;
    let before = requests(client).await?;
    let writes_before = before.object_writes();
    // The N creates and the operator's writes are in there: a zero means the counters were
    // not found, not that nothing was written.
    ensure!(
        writes_before >= n as f64,
        "apiserver_request_total shows {writes_before} writes for ProxyOrders, Secrets and \
         Events after {n} creates: the API server's metrics could not be read"
    );
    tokio::time::sleep(Duration::from_secs(idle_s)).await;
    let idle_calls = classify(&sim_requests(http, admin).await?);
    let during = requests(client).await?.since(&before);
    let idle_api_writes = during.object_writes();
    let rv_after = resource_versions(client, ns).await?;
    let count_changed = |prefix: &str| {
        rv_before
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter(|(k, v)| rv_after.get(*k) != Some(*v))
            .count()
            + rv_after
                .keys()
                .filter(|k| k.starts_with(prefix) && !rv_before.contains_key(*k))
                .count()
    };
    let idle_po_writes = count_changed("proxyorder/");
    let idle_secret_writes = count_changed("secret/");
    Ok(Idle {
        calls: idle_calls,
        api_writes: idle_api_writes,
        api_gets: during.gets(),
        po_writes: idle_po_writes,
        secret_writes: idle_secret_writes,
    })
}

/// name -> resourceVersion of every ProxyOrder and every Secret in `ns`.
async fn resource_versions(client: &Client, ns: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let orders: Api<ProxyOrder> = Api::namespaced(client.clone(), ns);
    for po in orders.list(&ListParams::default()).await?.items {
        out.insert(
            format!("proxyorder/{}", po.name_any()),
            po.resource_version().unwrap_or_default(),
        );
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for s in secrets.list(&ListParams::default()).await?.items {
        out.insert(
            format!("secret/{}", s.name_any()),
            s.resource_version().unwrap_or_default(),
        );
    }
    Ok(out)
}
