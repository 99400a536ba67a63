//! What the fault suite waits for and checks: Ready and Synced orders (polled through API
//! outages) and Secrets equal to the provider's live credentials.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use kube::{ResourceExt, api::ListParams};
use proxy_order_api::ProxyOrder;
use proxy_order_testkit::{Env, conditions_true, secret_text, tail};

/// Ready (the Secret holds the live credentials) and Synced (the provider matches the spec)
/// for the current generation.
pub(crate) fn is_ready(po: &ProxyOrder) -> bool {
    conditions_true(po, &["Ready", "Synced"])
}

/// Polls the ProxyOrders until `done` holds for all `n`, tolerating API errors (the API
/// server may be restarting). `on_poll` sees the count after each poll.
pub(crate) async fn wait_all(
    env: &mut Env,
    what: &str,
    n: usize,
    limit: Duration,
    done: impl Fn(&ProxyOrder) -> bool,
    mut on_poll: impl FnMut(usize, Duration),
) -> Result<Duration> {
    let started = Instant::now();
    let orders = env.orders();
    let mut last = 0;
    let mut shown = Duration::ZERO;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        env.operator_alive()?;
        if let Ok(list) = orders.list(&ListParams::default()).await {
            last = list.items.iter().filter(|po| done(po)).count();
        }
        let t = started.elapsed();
        on_poll(last, t);
        if last == n {
            eprintln!("faults: {what}: {n} of {n} after {:.1} s", t.as_secs_f64());
            return Ok(t);
        }
        if t >= shown + Duration::from_secs(10) {
            shown = t;
            eprintln!(
                "faults: {what}: {last} of {n} after {:.0} s",
                t.as_secs_f64()
            );
        }
        if t > limit {
            bail!(
                "{what}: only {last} of {n} after {:.0} s; operator log tail:\n{}",
                t.as_secs_f64(),
                tail(&env.log_text(), 40)
            );
        }
    }
}

/// Every Secret holds the simulator's live password and the requested port.
pub(super) async fn check_secrets(env: &Env, ids: &[u64]) -> Result<()> {
    let secrets = env.secrets();
    let by_name: HashMap<String, _> = secrets
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(|s| (s.name_any(), s))
        .collect();
    for id in ids {
        let name = format!("o{id}-proxy");
        let s = by_name
            .get(&name)
            .with_context(|| format!("Secret {name} is missing"))?;
        let live = env
            .sim
            .order(*id)
            .and_then(|o| o.access)
            .with_context(|| format!("simulator order {id}"))?;
        ensure!(
            secret_text(s, "password").as_deref()
                == Some(secrecy::ExposeSecret::expose_secret(&live.password)),
            "Secret {name}: the password is not the provider's live password"
        );
        ensure!(
            secret_text(s, "port") == Some(live.port.to_string()),
            "Secret {name}: port differs from the provider's"
        );
    }
    Ok(())
}
