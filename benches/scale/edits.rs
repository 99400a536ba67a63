//! Phase 3, edit latency: `spec.port` of min(N, 200) orders edited at a steady rate, each
//! timed until a Secret watch sees the new port.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, ensure};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{WatchStreamExt as _, watcher},
};
use parking_lot::Mutex;
use proxy_order_api::ProxyOrder;
use proxy_order_testkit::{OperatorProcess, secret_text, sim_clear_requests, sim_requests};
use serde_json::json;

use crate::{
    EDIT_PORT, EDITS_PER_S, order_name,
    provider::{Calls, classify},
    secs,
};

/// What the edit phase measured.
pub(crate) struct Edits {
    /// Orders edited.
    pub(crate) k: usize,
    /// Edits sent per second.
    pub(crate) rate: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    /// Provider calls for the edits.
    pub(crate) calls: Calls,
}

/// Edits the port of the first min(N, 200) orders at `EDITS_PER_S` and waits until every
/// Secret shows it; fails if that takes longer than 120 s or the operator dies.
pub(crate) async fn edits(
    n: usize,
    orders: &Api<ProxyOrder>,
    secrets: &Api<Secret>,
    op: &mut OperatorProcess,
    http: &reqwest::Client,
    admin: &str,
) -> Result<Edits> {
    let k = n.min(200);
    eprintln!("bench: editing spec.port of {k} orders at {EDITS_PER_S}/s");
    sim_clear_requests(http, admin).await?;
    // secret name -> (expected port, edit sent at, seen after)
    type Pending = HashMap<String, (String, Instant, Option<Duration>)>;
    let pending: Arc<Mutex<Pending>> = Arc::new(Mutex::new(HashMap::new()));
    let (init_tx, init_rx) = tokio::sync::oneshot::channel::<()>();
    let watch_task = {
        let pending = pending.clone();
        let secrets = secrets.clone();
        tokio::spawn(async move {
            let mut init_tx = Some(init_tx);
            let mut stream = watcher(secrets, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = stream.next().await {
                let Ok(ev) = ev else { continue };
                let s = match ev {
                    watcher::Event::Apply(s) | watcher::Event::InitApply(s) => s,
                    watcher::Event::InitDone => {
                        if let Some(tx) = init_tx.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    _ => continue,
                };
                let now = Instant::now();
                let mut p = pending.lock();
                if let Some((want, at, seen)) = p.get_mut(&s.name_any())
                    && seen.is_none()
                    && secret_text(&s, "port").as_deref() == Some(want.as_str())
                {
                    *seen = Some(now - *at);
                }
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(30), init_rx)
        .await
        .context("Secret watch did not start")?
        .ok();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / EDITS_PER_S));
    let mut edits = Vec::new();
    let edit_start = Instant::now();
    for i in 0..k {
        tick.tick().await;
        let name = order_name(i);
        pending.lock().insert(
            format!("{name}-proxy"),
            (EDIT_PORT.to_string(), Instant::now(), None),
        );
        let orders = orders.clone();
        edits.push(tokio::spawn(async move {
            orders
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"port": EDIT_PORT}})),
                )
                .await
                .with_context(|| format!("editing {name}"))
                .map(|_| ())
        }));
    }
    for e in edits {
        e.await??;
    }
    let edit_rate = k as f64 / secs(edit_start.elapsed()).max(0.001);
    let deadline = Instant::now() + Duration::from_secs(120);
    let latencies = loop {
        let done: Vec<Duration> = pending
            .lock()
            .values()
            .filter_map(|(_, _, seen)| *seen)
            .collect();
        if done.len() == k {
            break done;
        }
        op.alive()?;
        ensure!(
            Instant::now() < deadline,
            "only {} of {k} edits reached their Secret within 120 s",
            done.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    watch_task.abort();
    let mut latencies = latencies;
    latencies.sort();
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    let lmax = *latencies.last().unwrap();
    let edit_calls = classify(&sim_requests(http, admin).await?);
    Ok(Edits {
        k,
        rate: edit_rate,
        p50,
        p99,
        max: lmax,
        calls: edit_calls,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
