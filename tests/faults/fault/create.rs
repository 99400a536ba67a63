//! Phase 1 of the fault suite: N ProxyOrders created under provider faults, the API server
//! restarted once a quarter is Ready; then their Secrets, proxies and provider calls checked.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use kube::api::{Patch, PatchParams};
use proxy_order_testkit::{Env, run_on_tasks};
use serde_json::json;

use super::{
    checks::{check_secrets, is_ready, wait_all},
    orders::{fault_spec, proxy_ip, removes_proxies},
};
use crate::{
    apiserver::restart_apiserver,
    requests::{ChangeStats, applied_generations, applied_removals, change_stats},
};

/// What phase 1 measured.
pub(super) struct Created {
    /// When all N were Ready.
    pub(super) converge: Duration,
    /// When the API server was restarted, and how many orders were Ready then.
    pub(super) restart_at: Option<(Duration, usize)>,
    pub(super) stats: ChangeStats,
    /// The orders that only change their port.
    pub(super) plain_ids: Vec<u64>,
    /// Change requests for those.
    pub(super) plain_requests: usize,
}

/// Creates the ProxyOrders for `ids` and waits until all are Ready, restarting the API server
/// on the way when `restart`; clears the simulator's recorded requests afterwards.
pub(super) async fn create_phase(
    env: &mut Env,
    ids: &[u64],
    n: usize,
    restart: bool,
) -> Result<Created> {
    // Phase 1: create N ProxyOrders (on 8 tasks) under faults; restart the API server once a
    // quarter is Ready.
    let creator = {
        let orders = env.orders();
        let ids = ids.to_vec();
        tokio::spawn(run_on_tasks(ids.len(), 8, move |i| {
            let (orders, id) = (orders.clone(), ids[i]);
            async move {
                let po = json!({
                    "apiVersion": "proxy-solutions.net/v1alpha1",
                    "kind": "ProxyOrder",
                    "metadata": {"name": format!("o{id}")},
                    "spec": fault_spec(i, id),
                });
                orders
                    .patch(
                        &format!("o{id}"),
                        &PatchParams::apply("faults").force(),
                        &Patch::Apply(po),
                    )
                    .await
                    .with_context(|| format!("creating o{id}"))?;
                Ok(())
            }
        }))
    };
    let mut restart_task: Option<tokio::task::JoinHandle<Result<()>>> = None;
    let mut restart_at = None;
    let converge = wait_all(
        env,
        "phase 1 (create under faults)",
        n,
        Duration::from_secs(300 + n as u64),
        is_ready,
        |ready, t| {
            if restart && restart_task.is_none() && ready >= n / 4 {
                eprintln!(
                    "faults: {ready}/{n} Ready at {:.1} s: restarting the API server",
                    t.as_secs_f64()
                );
                restart_at = Some((t, ready));
                restart_task = Some(tokio::task::spawn_blocking(restart_apiserver));
            }
        },
    )
    .await?;
    creator.await??;
    if let Some(t) = restart_task {
        t.await??;
    }
    ensure!(
        !restart || restart_at.is_some(),
        "the API server was not restarted"
    );
    let phase1 = env.sim.requests();
    check_secrets(env, ids).await?;
    let orders = env.orders();
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| removes_proxies(*i)) {
        let po = orders.get(&format!("o{id}")).await?;
        let proxies = po.status.and_then(|s| s.proxies).unwrap_or_default();
        ensure!(
            proxies.len() == 4 && !proxies.contains(&proxy_ip(i, 0)),
            "o{id}: status.proxies {proxies:?} should hold 4 IPs without {}",
            proxy_ip(i, 0)
        );
    }
    let removals = applied_removals(&phase1);
    let twice: Vec<_> = removals.iter().filter(|(_, c)| **c > 1).collect();
    ensure!(twice.is_empty(), "IPs removed more than once: {twice:?}");
    let expected_removals = (0..n).filter(|i| removes_proxies(*i)).count();
    ensure!(
        removals.len() == expected_removals,
        "{} IPs removed, expected {expected_removals}",
        removals.len()
    );
    ensure!(
        applied_generations(&phase1).is_empty(),
        "a password was generated although no order asked for one"
    );
    let s1 = change_stats(&phase1);
    // Port-only orders: nothing non-idempotent, so a failure costs exactly one retry.
    let plain_ids: Vec<u64> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| !removes_proxies(*i))
        .map(|(_, id)| *id)
        .collect();
    let plain_requests = change_stats(
        &phase1
            .iter()
            .filter(|r| r.order_id.is_some_and(|id| plain_ids.contains(&id)))
            .cloned()
            .collect::<Vec<_>>(),
    )
    .requests;
    env.sim_clear_requests().await?;
    Ok(Created {
        converge,
        restart_at,
        stats: s1,
        plain_ids,
        plain_requests,
    })
}
