//! Phase 2 of the fault suite: every other order rotates its password under the same
//! faults; then the faults are cleared and the generations and removals checked.

use std::time::Duration;

use anyhow::{Result, ensure};
use kube::{
    ResourceExt,
    api::{Patch, PatchParams},
};
use proxy_order_api::ProxyOrder;
use proxy_order_testkit::Env;
use serde_json::{Value, json};

use super::{
    checks::{check_secrets, is_ready, wait_all},
    inject::clear_faults,
};
use crate::{
    ROTATE,
    requests::{ChangeStats, applied_generations, applied_removals, change_stats},
};

/// What phase 2 measured.
pub(super) struct Rotation {
    /// The orders whose password was rotated.
    pub(super) rotated: Vec<u64>,
    /// When all of them were done.
    pub(super) time: Duration,
    pub(super) stats: ChangeStats,
    /// The faults as the simulator reported them when they were cleared.
    pub(super) fired: Vec<Value>,
}

/// Rotates the password of every other order in `ids` and waits until all are done.
pub(super) async fn rotate_phase(env: &mut Env, ids: &[u64], n: usize) -> Result<Rotation> {
    let orders = env.orders();
    // Phase 2: rotate the password of every other order (their previous password is known),
    // still under faults.
    let rotated: Vec<u64> = ids.iter().step_by(2).copied().collect();
    for id in &rotated {
        orders
            .patch(
                &format!("o{id}"),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {ROTATE: "fault-1"}}})),
            )
            .await?;
    }
    let rotated_done = |po: &ProxyOrder| {
        is_ready(po)
            && po.annotations().get(ROTATE).map(String::as_str) == Some("fault-1")
            && po
                .status
                .as_ref()
                .and_then(|s| s.password_rotation.as_deref())
                == Some("fault-1")
    };
    let rotate_time = wait_all(
        env,
        "phase 2 (rotate under faults)",
        rotated.len(),
        Duration::from_secs(300 + n as u64),
        rotated_done,
        |_, _| {},
    )
    .await?;
    let phase2 = env.sim.requests();
    let fired = clear_faults(env).await?;
    check_secrets(env, ids).await?;
    let gens = applied_generations(&phase2);
    let twice: Vec<_> = gens.iter().filter(|(_, c)| **c > 1).collect();
    ensure!(
        twice.is_empty(),
        "orders with two password generations for one token: {twice:?}"
    );
    ensure!(
        gens.len() == rotated.len(),
        "{} orders got a new password, expected {}",
        gens.len(),
        rotated.len()
    );
    ensure!(
        applied_removals(&phase2).is_empty(),
        "proxies removed again during the rotation"
    );
    let s2 = change_stats(&phase2);
    Ok(Rotation {
        rotated,
        time: rotate_time,
        stats: s2,
        fired,
    })
}
