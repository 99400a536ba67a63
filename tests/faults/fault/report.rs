//! The fault suite's figures: change requests per phase against the fault-free minimum, and
//! the faults that fired.

use std::fmt::Write as _;

use super::{create::Created, orders::removes_proxies, rotate::Rotation};
use crate::{PROVIDER_TIMEOUT_S, TIMEOUT_FAULT_MS};

/// The suite's printed summary and table.
pub(super) fn report(
    n: usize,
    rate: f64,
    backoff_max: &str,
    created: &Created,
    rotation: &Rotation,
) -> String {
    let Created {
        converge,
        restart_at,
        stats: ref s1,
        ref plain_ids,
        plain_requests,
    } = *created;
    let Rotation {
        ref rotated,
        time: rotate_time,
        stats: ref s2,
        ref fired,
    } = *rotation;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fault suite: {n} orders, operator --backoff-max {backoff_max}, {:.0}% of provider requests faulted (503 / 429 Retry-After 1 s / \
         dropped connection / answer after {TIMEOUT_FAULT_MS} ms with a {PROVIDER_TIMEOUT_S} s \
         client timeout){}",
        rate * 100.0,
        match restart_at {
            Some((t, r)) => format!(
                ", API server restarted at {:.1} s ({r} Ready)",
                t.as_secs_f64()
            ),
            None => ", no API-server restart".into(),
        }
    );
    let _ = writeln!(
        out,
        "| Phase | Orders | Converged | Change requests | Failed (fault) | Fault-free minimum | Per order | Amplification |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    // Without faults: one change per order, plus one read before each proxy removal (the
    // order list does not carry the proxies, and only IPs the order holds are removed).
    let removal_orders = (0..n).filter(|i| removes_proxies(*i)).count();
    let minimum1 = n + removal_orders;
    let minimum2 = rotated.len();
    for (name, orders, t, s, minimum) in [
        (
            "create (port; quantity + remove_proxies)",
            n,
            converge,
            &s1,
            minimum1,
        ),
        (
            "rotate password (token fault-1)",
            rotated.len(),
            rotate_time,
            &s2,
            minimum2,
        ),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {orders} | {:.1} s | {} | {} | {minimum} | {:.2} | {:.2} |",
            t.as_secs_f64(),
            s.requests,
            s.requests - s.applied,
            s.requests as f64 / orders as f64,
            s.requests as f64 / minimum as f64,
        );
    }
    let amp = (s1.requests + s2.requests) as f64 / (minimum1 + minimum2) as f64;
    let _ = writeln!(
        out,
        "Amplification (change requests / fault-free minimum), both phases: {amp:.2} (target ≤ 1.5{}; \
         {:.0}% faults alone need ≥ {:.2}); list calls: {}",
        if amp <= 1.5 { ", met" } else { ", NOT met" },
        rate * 100.0,
        1.0 / (1.0 - rate),
        s1.list + s2.list
    );
    let _ = writeln!(
        out,
        "Of which port-only changes (idempotent, {} orders): {:.2} requests per order; proxy \
         removals and password generations add a read after each failure whose outcome is \
         unknown (503, dropped connection, timeout) before they may be repeated",
        plain_ids.len(),
        plain_requests as f64 / plain_ids.len() as f64
    );
    let fired: Vec<String> = fired
        .iter()
        .map(|f| {
            let kind = if f["drop_connection"] == true {
                "dropped".to_string()
            } else if let Some(s) = f["status"].as_u64() {
                s.to_string()
            } else {
                "timeout".to_string()
            };
            format!("{kind} {}", f["fired"])
        })
        .collect();
    let _ = writeln!(out, "Faults fired: {}", fired.join(", "));
    let _ = writeln!(
        out,
        "Checked: all Ready, every Secret holds the provider's live password and port, no IP \
         removed twice, at most one password generation per order and token"
    );
    out
}
