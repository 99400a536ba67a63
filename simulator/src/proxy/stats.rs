//! Per-order counts of the CONNECT requests the proxy listeners answered, for the admin API
//! (`/_sim/proxy-connects`): tests assert how many probes reached a proxy and how they ended.

use std::collections::BTreeMap;

use serde::Serialize;

/// How one request to a proxy listener ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// 200: authorised and the target was reached; the tunnel is open.
    Established,
    /// 407: neither the credentials nor the client's address opened the proxy.
    Rejected,
    /// 502: authorised, but the target could not be reached.
    TargetUnreachable,
    /// 400 / 405: not a well-formed `CONNECT host:port` request.
    BadRequest,
}

/// The counts of one order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectCounts {
    /// Every request with a complete head (the sum of the others).
    pub attempts: u64,
    pub established: u64,
    pub rejected: u64,
    pub target_unreachable: u64,
    pub bad_requests: u64,
}

/// One entry of `GET /_sim/proxy-connects`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderConnects {
    pub order_id: u64,
    #[serde(flatten)]
    pub counts: ConnectCounts,
}

/// The counts of every order a listener answered for.
#[derive(Debug, Default)]
pub struct ConnectStats(BTreeMap<u64, ConnectCounts>);

impl ConnectStats {
    pub fn record(&mut self, order_id: u64, outcome: ConnectOutcome) {
        let c = self.0.entry(order_id).or_default();
        c.attempts += 1;
        match outcome {
            ConnectOutcome::Established => c.established += 1,
            ConnectOutcome::Rejected => c.rejected += 1,
            ConnectOutcome::TargetUnreachable => c.target_unreachable += 1,
            ConnectOutcome::BadRequest => c.bad_requests += 1,
        }
    }

    /// The counts of one order (zeros if none was recorded).
    pub fn get(&self, order_id: u64) -> ConnectCounts {
        self.0.get(&order_id).copied().unwrap_or_default()
    }

    /// Every order's counts in id order, or only `order_id`'s (an entry of zeros if none).
    pub fn list(&self, order_id: Option<u64>) -> Vec<OrderConnects> {
        match order_id {
            Some(id) => vec![OrderConnects {
                order_id: id,
                counts: self.get(id),
            }],
            None => self
                .0
                .iter()
                .map(|(&order_id, &counts)| OrderConnects { order_id, counts })
                .collect(),
        }
    }

    /// Forgets every count; returns how many orders had some.
    pub fn clear(&mut self) -> usize {
        let n = self.0.len();
        self.0.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_order_and_outcome() {
        let mut s = ConnectStats::default();
        s.record(7, ConnectOutcome::Rejected);
        s.record(7, ConnectOutcome::Established);
        s.record(7, ConnectOutcome::Rejected);
        s.record(3, ConnectOutcome::TargetUnreachable);
        s.record(3, ConnectOutcome::BadRequest);
        assert_eq!(
            s.get(7),
            ConnectCounts {
                attempts: 3,
                established: 1,
                rejected: 2,
                ..ConnectCounts::default()
            }
        );
        let all = s.list(None);
        assert_eq!(all.iter().map(|e| e.order_id).collect::<Vec<_>>(), [3, 7]);
        assert_eq!(all[0].counts.target_unreachable, 1);
        assert_eq!(all[0].counts.bad_requests, 1);
        let json = serde_json::to_value(s.list(Some(9))).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"order_id": 9, "attempts": 0, "established": 0, "rejected": 0,
                                "target_unreachable": 0, "bad_requests": 0}])
        );
        assert_eq!(s.clear(), 2);
        assert_eq!(s.get(7), ConnectCounts::default());
    }
}
