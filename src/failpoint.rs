//! Test-only crash points. When `PROXY_ORDER_FAILPOINT` names a point, the process aborts the
//! moment it reaches it, the way a SIGKILL would, so crash safety can be tested at exact steps.
//! Points: `before-provider-call`, `after-provider-call`, `after-secret-write`,
//! `after-status-write`.

use std::sync::OnceLock;

pub const ENV: &str = "PROXY_ORDER_FAILPOINT";

fn armed() -> Option<&'static str> {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    POINT
        .get_or_init(|| std::env::var(ENV).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// Aborts the process if `point` is the armed failpoint.
pub fn hit(point: &str) {
    if armed() == Some(point) {
        eprintln!("failpoint {point} reached: aborting");
        std::process::abort();
    }
}
