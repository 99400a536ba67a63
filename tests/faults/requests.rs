//! What the provider simulator recorded, tallied for the checks and the figures: change
//! requests and their outcome, applied password generations and applied proxy removals.

use std::collections::HashMap;

use proxy_solutions_sim::RequestRecord;
use serde_json::Value;

/// Provider requests on the change endpoint, split by what became of them.
#[derive(Default, Debug)]
pub(crate) struct ChangeStats {
    /// Every POST /api/user/orders/{id}.
    pub(crate) requests: usize,
    /// Answered 2xx by the handler (includes answers the client no longer waited for).
    pub(crate) applied: usize,
    pub(crate) list: usize,
}

pub(crate) fn change_stats(reqs: &[RequestRecord]) -> ChangeStats {
    let mut s = ChangeStats::default();
    for r in reqs {
        if r.method == "GET" && r.path == "/api/user/orders" {
            s.list += 1;
        } else if r.method == "POST" && r.order_id.is_some() && !r.path.ends_with("perform") {
            s.requests += 1;
            if (200..300).contains(&r.status) {
                s.applied += 1;
            }
        }
    }
    s
}

/// Applied (2xx) change requests per order whose body has `gen_password: true`.
pub(crate) fn applied_generations(reqs: &[RequestRecord]) -> HashMap<u64, usize> {
    let mut out = HashMap::new();
    for r in reqs {
        if let Some(id) = r.order_id
            && r.method == "POST"
            && (200..300).contains(&r.status)
            && r.body["gen_password"] == true
        {
            *out.entry(id).or_default() += 1;
        }
    }
    out
}

/// Applied (2xx) removals per (order, IP).
pub(crate) fn applied_removals(reqs: &[RequestRecord]) -> HashMap<(u64, String), usize> {
    let mut out = HashMap::new();
    for r in reqs {
        let (Some(id), Some(ips)) = (r.order_id, r.body["remove_proxies"].as_array()) else {
            continue;
        };
        if r.method == "POST" && (200..300).contains(&r.status) {
            for ip in ips.iter().filter_map(Value::as_str) {
                *out.entry((id, ip.to_string())).or_default() += 1;
            }
        }
    }
    out
}
