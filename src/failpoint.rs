//! Test-only crash points. When `PROXY_ORDER_FAILPOINT` names a point, the process sends
//! itself SIGKILL the moment it reaches it, so crash safety can be tested at exact steps:
//! nothing is flushed, no destructor runs, no request in flight is finished.
//!
//! Points: `before-provider-call` and `after-provider-call` (around every change call, in the
//! provider gateway, `controller/gateway.rs`), `before-secret-write`, `after-secret-write`,
//! `after-status-write`. `point@N` fires at the N-th time the point is reached (default 1), so
//! a crash can also land in the middle of later work. With
//! `PROXY_ORDER_FAILPOINT_PAUSE_MS` set, the point pauses that long instead of killing, to hold a
//! reconcile inside a window (e.g. between reading and writing the Secret) while a test acts.
//!
//! Compiled in only with the Cargo feature `failpoints` (the test builds); without it [`hit`]
//! does nothing, so a release binary cannot be made to kill itself through its environment.

#[cfg(feature = "failpoints")]
use std::sync::{
    OnceLock,
    atomic::{AtomicU32, Ordering},
};

pub const ENV: &str = "PROXY_ORDER_FAILPOINT";
pub const PAUSE_ENV: &str = "PROXY_ORDER_FAILPOINT_PAUSE_MS";

/// The armed point and at which hit it fires.
#[cfg(feature = "failpoints")]
fn armed() -> Option<&'static (String, u32)> {
    static POINT: OnceLock<Option<(String, u32)>> = OnceLock::new();
    POINT
        .get_or_init(|| std::env::var(ENV).ok().as_deref().and_then(parse))
        .as_ref()
}

#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
fn parse(value: &str) -> Option<(String, u32)> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match value.split_once('@') {
        Some((point, nth)) => Some((point.to_string(), nth.parse().unwrap_or(1).max(1))),
        None => Some((value.to_string(), 1)),
    }
}

/// Whether this build has crash points ([`hit`] can fire).
pub const COMPILED_IN: bool = cfg!(feature = "failpoints");

/// Says so when a crash point is asked for in the environment of a build without them.
pub fn warn_if_unavailable() {
    if !COMPILED_IN && std::env::var_os(ENV).is_some() {
        tracing::warn!(
            "{ENV} is set but this build has no crash points (Cargo feature failpoints); ignoring it"
        );
    }
}

/// Kills the process if `point` is the armed failpoint and this is the hit it fires at (only
/// in builds with the `failpoints` feature).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_point: &str) {}

/// Kills the process if `point` is the armed failpoint and this is the hit it fires at.
#[cfg(feature = "failpoints")]
pub fn hit(point: &str) {
    static HITS: AtomicU32 = AtomicU32::new(0);
    let Some((armed, nth)) = armed() else {
        return;
    };
    if armed != point || HITS.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
        return;
    }
    if let Some(ms) = std::env::var(PAUSE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        eprintln!("failpoint {point} reached (hit {nth}): pausing {ms} ms");
        // Blocks this worker thread only; the runtime has others.
        std::thread::sleep(std::time::Duration::from_millis(ms));
        return;
    }
    eprintln!("failpoint {point} reached (hit {nth}): killing the process");
    // SAFETY: kill(2) on our own pid with a constant signal has no memory-safety conditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // Not reached; in case the signal could not be sent.
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn point_and_hit_number() {
        assert_eq!(parse(""), None);
        assert_eq!(
            parse("after-provider-call"),
            Some(("after-provider-call".into(), 1))
        );
        assert_eq!(
            parse("after-secret-write@3"),
            Some(("after-secret-write".into(), 3))
        );
        assert_eq!(
            parse("before-provider-call@0"),
            Some(("before-provider-call".into(), 1))
        );
        assert_eq!(parse("x@nope"), Some(("x".into(), 1)));
    }
}
