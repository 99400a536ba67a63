//! Proxy listeners: with `SimConfig::proxy_listeners` on, the simulator serves a real HTTP
//! proxy on every address of every active order, at the order's port, so that a client (the
//! operator's credentials probe) can check that published credentials open the proxy.
//!
//! - `block.rs`: which loopback block (127.B.0.0/16) the simulator's addresses come from.
//! - `connection.rs`: a listener's accept loop and one connection (CONNECT only, Basic
//!   credentials or the IP allow-list, then a tunnel to the target).
//! - `stats.rs`: per-order counts of CONNECT outcomes for the admin API.
//!
//! The listener set follows the state: every handler that changes an order calls
//! [`crate::Shared::sync_proxies`] before it answers, so a changed port, added or removed
//! addresses, a new status or a deleted order take effect before the caller sees the answer.
//! Credentials are read from the state when a request arrives, so a changed password is
//! refused at once.

mod block;
mod connection;
mod stats;

use std::{
    collections::{BTreeSet, HashMap},
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use block::{BlockClaim, CLAIM_PORT};
pub use stats::{ConnectCounts, ConnectOutcome, ConnectStats, OrderConnects};

use crate::{
    Shared,
    rules::AddressPool,
    wire::{Order, OrderStatus},
};

/// The addresses an order's proxy is served on: each of its proxy addresses that `pool` serves
/// (loopback ones, or the one shared address) at its `access.port`, while its status is
/// `active`. Other statuses (expired `waiting`, suspended, archived, ...) serve nothing.
pub fn served_addresses(order: &Order, pool: AddressPool) -> Vec<SocketAddr> {
    let Some(access) = &order.access else {
        return Vec::new();
    };
    if order.status != OrderStatus::Active {
        return Vec::new();
    }
    order
        .proxy_ips()
        .iter()
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .filter(|ip| pool.serves(ip))
        .map(|ip| SocketAddr::new(ip, access.port))
        .collect()
}

/// A listener that could not be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindFailure {
    pub order_id: u64,
    pub addr: SocketAddr,
    pub problem: String,
}

impl std::fmt::Display for BindFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "order {}: cannot listen on {}: {}",
            self.order_id, self.addr, self.problem
        )
    }
}

struct Running {
    order_id: u64,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct ListenerSet {
    by_addr: HashMap<SocketAddr, Running>,
    by_order: HashMap<u64, BTreeSet<SocketAddr>>,
}

impl ListenerSet {
    /// Stops a listener and waits until its socket is closed.
    async fn stop(&mut self, addr: SocketAddr) {
        if let Some(running) = self.by_addr.remove(&addr) {
            if let Some(addrs) = self.by_order.get_mut(&running.order_id) {
                addrs.remove(&addr);
                if addrs.is_empty() {
                    self.by_order.remove(&running.order_id);
                }
            }
            running.task.abort();
            // Resolves once the task's future (and with it the listener) has been dropped.
            let _ = running.task.await;
        }
    }
}

/// The proxy listeners of one simulator and their counts.
pub(crate) struct ProxyListeners {
    /// The loopback block, unless the proxies share one address (`--proxy-ip`).
    claim: Option<BlockClaim>,
    shared_ip: Option<Ipv4Addr>,
    set: tokio::sync::Mutex<ListenerSet>,
    stats: parking_lot::Mutex<ConnectStats>,
    shutdown: watch::Receiver<bool>,
}

impl ProxyListeners {
    /// Claims a loopback block for the simulator's addresses, or takes `shared_ip` as every
    /// proxy's address.
    pub fn new(shutdown: watch::Receiver<bool>, shared_ip: Option<Ipv4Addr>) -> io::Result<Self> {
        Ok(ProxyListeners {
            claim: match shared_ip {
                Some(_) => None,
                None => Some(BlockClaim::claim()?),
            },
            shared_ip,
            set: tokio::sync::Mutex::new(ListenerSet::default()),
            stats: parking_lot::Mutex::new(ConnectStats::default()),
            shutdown,
        })
    }

    /// The address pool: the claimed block, or the shared address.
    pub fn pool(&self) -> AddressPool {
        match (&self.claim, self.shared_ip) {
            (_, Some(ip)) => AddressPool::Shared { ip },
            (Some(claim), None) => AddressPool::Loopback {
                block: claim.block(),
            },
            (None, None) => AddressPool::Documentation,
        }
    }

    /// Brings the listeners of `ids` in line with the state: stops those no longer served,
    /// then starts the missing ones. Returns the listeners that could not be started (their
    /// address is in use, or held by another order), which are also logged.
    pub async fn sync(
        &self,
        shared: &Arc<Shared>,
        ids: impl IntoIterator<Item = u64>,
    ) -> Vec<BindFailure> {
        let mut set = self.set.lock().await;
        // Read the state after taking the set's lock: a later change syncs after this one and
        // reads the state after it.
        let wanted: Vec<(u64, BTreeSet<SocketAddr>)> = {
            let st = shared.lock();
            ids.into_iter()
                .map(|id| {
                    let addrs = st
                        .get(id)
                        .map(|o| served_addresses(o, self.pool()))
                        .unwrap_or_default();
                    (id, addrs.into_iter().collect())
                })
                .collect()
        };
        let mut failures = Vec::new();
        for (order_id, want) in wanted {
            let have = set.by_order.get(&order_id).cloned().unwrap_or_default();
            for addr in have.difference(&want) {
                set.stop(*addr).await;
            }
            for &addr in want.difference(&have) {
                let bound = match set.by_addr.get(&addr) {
                    Some(other) => Err(format!("held by order {}", other.order_id)),
                    None => TcpListener::bind(addr).await.map_err(|e| e.to_string()),
                };
                match bound {
                    Ok(listener) => {
                        let task = tokio::spawn(connection::serve(
                            listener,
                            order_id,
                            shared.clone(),
                            self.shutdown.clone(),
                        ));
                        set.by_addr.insert(addr, Running { order_id, task });
                        set.by_order.entry(order_id).or_default().insert(addr);
                    }
                    Err(problem) => {
                        let failure = BindFailure {
                            order_id,
                            addr,
                            problem,
                        };
                        tracing::warn!(target: "proxy_solutions_sim", "{failure}");
                        failures.push(failure);
                    }
                }
            }
        }
        failures
    }

    /// Stops every listener and waits until their sockets are closed.
    pub async fn stop_all(&self) {
        let mut set = self.set.lock().await;
        let addrs: Vec<SocketAddr> = set.by_addr.keys().copied().collect();
        for addr in addrs {
            set.stop(addr).await;
        }
    }

    /// The served addresses, by order id then address.
    pub async fn list(&self) -> Vec<(u64, SocketAddr)> {
        let set = self.set.lock().await;
        let mut out: Vec<(u64, SocketAddr)> = set
            .by_addr
            .iter()
            .map(|(addr, running)| (running.order_id, *addr))
            .collect();
        out.sort();
        out
    }

    pub fn record(&self, order_id: u64, outcome: ConnectOutcome) {
        self.stats.lock().record(order_id, outcome);
    }

    pub fn connects(&self, order_id: Option<u64>) -> Vec<OrderConnects> {
        self.stats.lock().list(order_id)
    }

    pub fn clear_connects(&self) -> usize {
        self.stats.lock().clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::example_orders;

    #[test]
    fn only_active_orders_on_loopback_addresses_are_served() {
        let mut o = example_orders().remove(0);
        let pool = AddressPool::Loopback { block: 4 };
        assert!(
            served_addresses(&o, pool).is_empty(),
            "documentation addresses"
        );
        o.proxies = Some(vec![
            crate::wire::Proxy {
                ip: "127.4.0.1".into(),
            },
            crate::wire::Proxy {
                ip: "198.51.100.1".into(),
            },
        ]);
        assert_eq!(
            served_addresses(&o, pool),
            vec!["127.4.0.1:8000".parse::<SocketAddr>().unwrap()]
        );
        for status in ["waiting", "active.suspended", "archived"] {
            o.status = OrderStatus::from(status);
            assert!(served_addresses(&o, pool).is_empty(), "{status}");
        }
    }
}
