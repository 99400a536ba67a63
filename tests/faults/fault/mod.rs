//! Fault suite: N orders converge and then rotate their password while the provider fails a
//! share of requests and the API server restarts once; the steps, in order.

mod checks;
pub(crate) use checks::{is_ready, wait_all};
mod create;
mod inject;
mod orders;
mod report;
mod rotate;

use anyhow::{Result, bail, ensure};
use proxy_order_testkit::{Env, env_or, tail};
use proxy_solutions_sim::SimConfig;

use crate::{BACKOFF_MAX, PROVIDER_TIMEOUT_S, apiserver::local_control_plane};

/// Runs the fault suite (settings from `FAULTS_*`) and returns its figures as text.
pub(crate) async fn fault_suite() -> Result<String> {
    let n: usize = env_or("FAULTS_N", 200)?;
    let rate: f64 = env_or("FAULTS_RATE", 0.3)?;
    let backoff_max: String = env_or("FAULTS_BACKOFF_MAX", BACKOFF_MAX.to_string())?;
    let restart = match std::env::var("FAULTS_RESTART").ok().as_deref() {
        Some("1") => true,
        Some("0") => false,
        None | Some("") => {
            let local = local_control_plane();
            if !local {
                eprintln!(
                    "faults: not the local control plane: the API server is not restarted \
                     (FAULTS_RESTART=1 requires it)"
                );
            }
            local
        }
        Some(v) => bail!("FAULTS_RESTART={v:?}: use 0 or 1"),
    };
    ensure!(n >= 4, "FAULTS_N must be at least 4");
    ensure!(
        (0.0..0.8).contains(&rate),
        "FAULTS_RATE must be in [0, 0.8)"
    );
    eprintln!(
        "faults: fault suite, {n} orders, {:.0}% faults",
        rate * 100.0
    );

    let ids: Vec<u64> = orders::fault_orders(n).iter().map(|o| o.id).collect();
    let mut env = Env::start_with_sim(
        "faults",
        SimConfig {
            orders: orders::fault_orders(n),
            max_recorded_requests: 200 * n + 10_000,
            ..SimConfig::default()
        },
        &[
            "--provider-timeout",
            &format!("{PROVIDER_TIMEOUT_S}s"),
            "--concurrency",
            "16",
            "--rate-limit",
            "1000",
            "--backoff-max",
            &backoff_max,
        ],
    )
    .await;
    inject::inject_faults(&env, rate).await?;

    let created = create::create_phase(&mut env, &ids, n, restart).await?;
    let rotation = rotate::rotate_phase(&mut env, &ids, n).await?;
    env.operator_alive()?;
    let log = env.log_text();
    ensure!(
        !log.contains("panicked"),
        "the operator panicked:\n{}",
        tail(&log, 40)
    );
    env.assert_no_leaks(&[]).await;
    env.finish().await;

    Ok(report::report(n, rate, &backoff_max, &created, &rotation))
}
