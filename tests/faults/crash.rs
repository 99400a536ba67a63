//! Crash suite: the operator SIGKILLed at each kill point while it generates, removes and
//! rotates; a fresh operator must finish without repeating what was done.

use std::{collections::BTreeMap, fmt::Write as _};

use anyhow::{Context as _, Result, ensure};
use proxy_order_testkit::{ACTIVE, EXPIRED, Env, KEY_SECRET, MOBILE, env_or, proxy_ips};
use serde_json::{Value, json};

use crate::{
    KILL_POINTS, PROVIDER_TIMEOUT_S, ROTATE,
    requests::{applied_generations, applied_removals},
};

#[derive(Default)]
struct CrashTally {
    runs: usize,
    /// Runs in which the first-time password generation was carried out twice (allowed).
    extra_generation: usize,
}

/// One run: the operator is SIGKILLed at `point` (at its `hit`-th passage) while it creates
/// a generated password (ACTIVE), removes a proxy (EXPIRED) and rotates a known password
/// (MOBILE); a fresh operator must finish all three without repeating what was done.
async fn crash_run(point: &str, hit: u32) -> Result<bool> {
    // A short provider timeout: after a death with a call in flight, the operator reads the
    // outcome only two timeouts (and a second) after the call started.
    let timeout = format!("{PROVIDER_TIMEOUT_S}s");
    let mut env = Env::start_with("crash", &["--provider-timeout", &timeout]).await;
    let key = json!({"name": KEY_SECRET, "key": "api-key"});
    // The rotated order is Ready first, so its previous password is known.
    env.apply(
        "rot",
        json!({"orderId": MOBILE, "apiKeySecretRef": key, "port": 8300}),
    )
    .await;
    env.wait_ready("rot").await;
    let ips = proxy_ips(&env.sim_order(EXPIRED).await);
    env.sim_clear_requests().await?;

    env.start_operator(Some(&format!("{point}@{hit}"))).await;
    env.apply(
        "gen",
        json!({"orderId": ACTIVE, "apiKeySecretRef": key, "port": 8100,
               "password": {"generate": true}}),
    )
    .await;
    env.apply(
        "rm",
        json!({"orderId": EXPIRED, "apiKeySecretRef": key, "port": 8800,
               "quantity": ips.len() + 1, "removeProxies": [ips[0]]}),
    )
    .await;
    env.annotate("rot", ROTATE, "r1").await;
    env.wait_operator_exit().await;
    env.start_operator(None).await;

    for name in ["gen", "rm", "rot"] {
        // Synced first: Ready alone may be set by a read that precedes the change.
        env.wait_condition(name, "Synced", "True", "Applied").await;
        env.wait_ready(name).await;
    }
    env.wait_for("rot rotated", 30, async || {
        let po = env.orders().get("rot").await.ok()?;
        (po.status?.password_rotation.as_deref() == Some("r1")).then_some(())
    })
    .await;
    check_crash_secrets(&env).await?;
    let reqs = env.sim.requests();
    let gens = applied_generations(&reqs);
    let gen_count = gens.get(&ACTIVE).copied().unwrap_or(0);
    ensure!(
        (1..=2).contains(&gen_count),
        "{point}@{hit}: {gen_count} password generations for a new generated password (1, or 2 \
         when the crash hid whether the first took effect)"
    );
    ensure!(
        gens.get(&MOBILE) == Some(&1),
        "{point}@{hit}: {:?} password generations for rotation token r1 (previous password known), \
         expected exactly 1",
        gens.get(&MOBILE)
    );
    let removals = applied_removals(&reqs);
    ensure!(
        removals.get(&(EXPIRED, ips[0].clone())) == Some(&1) && removals.len() == 1,
        "{point}@{hit}: removals {removals:?}, expected {} exactly once",
        ips[0]
    );
    let log = env.log_text();
    ensure!(
        !log.contains("panicked"),
        "{point}@{hit}: the operator panicked"
    );
    env.finish().await;
    Ok(gen_count == 2)
}

async fn check_crash_secrets(env: &Env) -> Result<()> {
    for (name, id) in [("gen", ACTIVE), ("rm", EXPIRED), ("rot", MOBILE)] {
        let live = env.sim_order(id).await["access"]["password"].clone();
        let data = env
            .secret_data(&format!("{name}-proxy"))
            .await
            .with_context(|| format!("Secret {name}-proxy"))?;
        ensure!(
            Value::String(data["password"].clone()) == live,
            "Secret {name}-proxy does not hold the provider's live password"
        );
    }
    Ok(())
}

pub(crate) async fn crash_suite() -> Result<String> {
    let runs: u32 = env_or("CRASH_RUNS", 20)?;
    ensure!(runs >= 1, "CRASH_RUNS must be at least 1");
    eprintln!(
        "faults: crash suite, {runs} runs at each of {} kill points",
        KILL_POINTS.len()
    );
    // The kill points run side by side (one task, interleaved), each run in its own namespace
    // with its own simulator and operator.
    let mut tasks = Vec::new();
    for point in KILL_POINTS {
        tasks.push(async move {
            let mut tally = CrashTally::default();
            for run in 0..runs {
                // Vary which passage of the point kills: the first, second or third.
                let hit = 1 + run % 3;
                let extra = crash_run(point, hit)
                    .await
                    .with_context(|| format!("{point}, run {}", run + 1))?;
                tally.runs += 1;
                tally.extra_generation += usize::from(extra);
            }
            Ok::<_, anyhow::Error>((point, tally))
        });
    }
    let mut rows = BTreeMap::new();
    for t in futures::future::join_all(tasks).await {
        let (point, tally) = t?;
        rows.insert(KILL_POINTS.iter().position(|p| *p == point), (point, tally));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Crash suite: SIGKILL at each point ({runs} runs each, at the 1st/2nd/3rd passage in \
         turn); per run 3 orders: a new generated password, a proxy removal, a rotation"
    );
    let _ = writeln!(
        out,
        "| Kill point | Runs passed | Runs with one extra first-time generation |"
    );
    let _ = writeln!(out, "|---|---:|---:|");
    for (point, tally) in rows.values() {
        let _ = writeln!(
            out,
            "| {point} | {} | {} |",
            tally.runs, tally.extra_generation
        );
    }
    let _ = writeln!(
        out,
        "Checked per run: no proxy removed twice, exactly one generation for the rotation token, \
         at most one extra first-time generation (the documented worst case)"
    );
    Ok(out)
}
