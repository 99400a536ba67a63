//! Phase 1, convergence: N ProxyOrders created on concurrent tasks while a watch counts the
//! Ready ones, until all are Ready; then every credential Secret is checked.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
    runtime::{WatchStreamExt as _, watcher},
};
use parking_lot::Mutex;
use proxy_order_api::ProxyOrder;
use proxy_order_testkit::{
    KEY_SECRET, OperatorProcess, conditions_true, run_on_tasks, secret_text, tail,
};
use serde_json::json;

use crate::{
    CREATE_PORT, CREATE_TASKS, FIRST_ID, POLL,
    apiserver::{Requests, requests},
    memory::{Mem, ServerCpu, cpu_seconds, mem, server_cpu},
    order_name, secs,
};

/// What the convergence phase measured.
pub(crate) struct Convergence {
    /// When the last create returned, since the first create.
    pub(crate) create_done: Duration,
    /// When all N were Ready, since the first create.
    pub(crate) converge: Duration,
    /// (seconds since the first create, Ready count), one point per poll.
    pub(crate) series: Vec<(f64, usize)>,
    /// The requests the API server served from the first create until all were Ready (and
    /// their last writes landed).
    pub(crate) requests: Requests,
    /// The operator's memory when a tenth of the N were first seen Ready, and that count.
    pub(crate) tenth: (usize, Mem),
    /// CPU seconds the operator used from the first create until all were Ready.
    pub(crate) operator_cpu: f64,
    /// CPU seconds of the API server and etcd meanwhile (local control plane only).
    pub(crate) server_cpu: Option<ServerCpu>,
}

/// Creates N ProxyOrders in `orders`' namespace and waits until all are Ready; fails if that
/// takes longer than 300 s + N/2 s, if the operator dies, or if a Secret lacks the port.
pub(crate) async fn converge(
    n: usize,
    orders: &Api<ProxyOrder>,
    secrets: &Api<Secret>,
    op: &mut OperatorProcess,
) -> Result<Convergence> {
    eprintln!("bench: creating {n} ProxyOrders");
    // The Ready count comes from a watch (listing N objects per poll would load the API
    // server the operator is measured against); it also notes when the count reached N.
    let ready_now = Arc::new(AtomicUsize::new(0));
    let all_ready_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let (ready_init_tx, ready_init_rx) = tokio::sync::oneshot::channel::<()>();
    let ready_watch = {
        let (orders, ready_now, all_ready_at) =
            (orders.clone(), ready_now.clone(), all_ready_at.clone());
        tokio::spawn(async move {
            let mut init_tx = Some(ready_init_tx);
            let mut ready: HashSet<String> = HashSet::new();
            let mut stream = watcher(orders, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(po) | watcher::Event::InitApply(po)) => {
                        if is_ready(&po) {
                            ready.insert(po.name_any());
                        } else {
                            ready.remove(&po.name_any());
                        }
                    }
                    Ok(watcher::Event::Delete(po)) => {
                        ready.remove(&po.name_any());
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = init_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    _ => continue,
                }
                ready_now.store(ready.len(), Ordering::Relaxed);
                if ready.len() == n {
                    all_ready_at.lock().get_or_insert_with(Instant::now);
                }
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(30), ready_init_rx)
        .await
        .context("ProxyOrder watch did not start")?
        .ok();
    let client = orders.clone().into_client();
    let requests_before = requests(&client).await?;
    let tenth_at = (n / 10).max(1);
    let mut tenth = None;
    let cpu_before = cpu_seconds(op.pid())?;
    let server_before = server_cpu();
    let t0 = Instant::now();
    let creator = {
        let orders = orders.clone();
        tokio::spawn(run_on_tasks(n, CREATE_TASKS, move |i| {
            let orders = orders.clone();
            async move {
                orders
                    .create(&PostParams::default(), &bench_order(i)?)
                    .await
                    .with_context(|| format!("creating ProxyOrder {}", order_name(i)))?;
                Ok(())
            }
        }))
    };
    let mut creator = Some(creator);
    let mut create_done: Option<Duration> = None;
    let mut series: Vec<(f64, usize)> = vec![(0.0, 0)];
    let limit = Duration::from_secs(300 + n as u64 / 2);
    let converge = loop {
        tokio::time::sleep(POLL).await;
        if let Some(c) = creator.as_ref()
            && c.is_finished()
        {
            let elapsed = creator.take().unwrap().await??;
            create_done = Some(elapsed);
        }
        let ready = ready_now.load(Ordering::Relaxed);
        if tenth.is_none() && ready >= tenth_at {
            tenth = Some((ready, mem(op.pid())?));
        }
        let t = t0.elapsed();
        series.push((secs(t), ready));
        if let Some(at) = *all_ready_at.lock()
            && create_done.is_some()
        {
            let t = at.duration_since(t0);
            series.retain(|(ts, _)| *ts < secs(t));
            series.push((secs(t), n));
            break t;
        }
        if series.len().is_multiple_of(20) {
            eprintln!("bench: {ready} of {n} Ready after {:.0} s", secs(t));
        }
        op.alive()?;
        if t > limit {
            bail!(
                "only {ready} of {n} ProxyOrders Ready after {:.0} s; operator log tail:\n{}",
                secs(t),
                tail(&op.log_text(), 30)
            );
        }
    };
    ready_watch.abort();
    let operator_cpu = cpu_seconds(op.pid())? - cpu_before;
    let server_cpu = server_cpu()
        .zip(server_before)
        .map(|(after, before)| after.since(before));
    // The operator publishes the last Events right after the last status writes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = requests(&client).await?.since(&requests_before);
    let tenth = match tenth {
        Some(t) => t,
        None => (n, mem(op.pid())?),
    };
    let create_done = create_done.unwrap();
    eprintln!(
        "bench: all {n} Ready after {:.1} s (creates took {:.1} s)",
        secs(converge),
        secs(create_done)
    );
    // Functional check: every Secret carries the port we asked for.
    let wrong = secrets
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|s| s.name_any().starts_with("bench-"))
        .filter(|s| secret_text(s, "port").as_deref() != Some(&CREATE_PORT.to_string()))
        .count();
    let secret_count = secrets
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|s| s.name_any().starts_with("bench-"))
        .count();
    ensure!(
        secret_count == n && wrong == 0,
        "{secret_count} credential Secrets for {n} orders, {wrong} with a port other than {CREATE_PORT}"
    );
    Ok(Convergence {
        create_done,
        converge,
        series,
        requests,
        tenth,
        operator_cpu,
        server_cpu,
    })
}

/// ProxyOrder `i` of the benchmark: order `FIRST_ID + i`, asking for port `CREATE_PORT`.
pub(crate) fn bench_order(i: usize) -> Result<ProxyOrder> {
    let id = FIRST_ID + i as u64;
    Ok(serde_json::from_value(json!({
        "apiVersion": "proxy-solutions.net/v1alpha1",
        "kind": "ProxyOrder",
        "metadata": {"name": order_name(i)},
        "spec": {
            "orderId": id,
            "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
            "port": CREATE_PORT,
            "login": format!("user{id}"),
        },
    }))?)
}

fn is_ready(po: &ProxyOrder) -> bool {
    conditions_true(po, &["Ready"])
}
