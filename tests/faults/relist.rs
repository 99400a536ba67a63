//! Relist suite: ProxyOrders created while the API server restarts are reconciled once it is
//! back. A restarted API server's watch cache starts at the current revision, so the operator's
//! watches come back with a relist; ProxyOrders created before it are new to the operator's
//! store, which kube-runtime fills from a relist only at its end. The operator is paused
//! (SIGSTOP) from before the restart until the ProxyOrders exist, so that they reach it through
//! the relist and not as watch events.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use kube::api::{Patch, PatchParams};
use proxy_order_testkit::{Env, KEY_SECRET};
use proxy_solutions_sim::{SimConfig, generate_orders};
use serde_json::json;

use crate::{
    FAULT_PORT,
    apiserver::{local_control_plane, restart_apiserver},
    fault::{is_ready, wait_all},
};

/// ProxyOrders created right after the restart: more than a page of a list (500), so that the
/// relist's first objects reach the controller while the rest are still being read.
const LATE: usize = 600;

/// Runs the relist suite and returns its figures as text.
pub(crate) async fn relist_suite() -> Result<String> {
    if !local_control_plane() {
        return Ok(
            "Relist suite: skipped (it restarts the API server of the local control \
                   plane, and KUBECONFIG names another cluster)"
                .into(),
        );
    }
    eprintln!("faults: relist suite, {LATE} ProxyOrders created as the API server comes back");
    let orders = generate_orders(LATE as u32 + 1);
    let ids: Vec<u64> = orders.iter().map(|o| o.id).collect();
    let mut env = Env::start_with_sim(
        "relist",
        SimConfig {
            orders,
            ..SimConfig::default()
        },
        &["--concurrency", "16", "--rate-limit", "1000"],
    )
    .await;
    // One ProxyOrder Ready first: the operator's watches are established.
    create(&env, ids[0]).await?;
    wait_all(
        &mut env,
        "the first ProxyOrder",
        1,
        Duration::from_secs(60),
        is_ready,
        |_, _| {},
    )
    .await?;

    env.signal_operator("STOP")?;
    tokio::task::spawn_blocking(restart_apiserver).await??;
    let back = Instant::now();
    for id in &ids[1..] {
        create(&env, *id).await?;
    }
    let created = back.elapsed();
    env.signal_operator("CONT")?;
    let converge = wait_all(
        &mut env,
        "ProxyOrders created after the restart",
        LATE + 1,
        Duration::from_secs(300),
        is_ready,
        |_, _| {},
    )
    .await?;
    let relisted = env.log_text().contains("too old resource version");
    env.finish().await;
    Ok(format!(
        "Relist suite: {LATE} ProxyOrders created within {:.1} s of the API server's return \
         while the operator was paused, all Ready {:.1} s after it (the operator's watch was \
         {}told its version was too old)",
        created.as_secs_f64(),
        converge.as_secs_f64() + created.as_secs_f64(),
        if relisted { "" } else { "not " },
    ))
}

/// Creates ProxyOrder `o<id>`, retrying while the API server settles after its restart.
async fn create(env: &Env, id: u64) -> Result<()> {
    let name = format!("o{id}");
    let po = json!({
        "apiVersion": "proxy-solutions.net/v1alpha1",
        "kind": "ProxyOrder",
        "metadata": {"name": name},
        "spec": {
            "orderId": id,
            "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
            "port": FAULT_PORT,
        },
    });
    let orders = env.orders();
    let mut tries = 0;
    loop {
        match orders
            .patch(
                &name,
                &PatchParams::apply("faults").force(),
                &Patch::Apply(&po),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(_) if tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("creating {name}")),
        }
    }
}
