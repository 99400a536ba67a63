//! The simulator's proxy address pools: the fixed sequences of addresses and how fresh ones are
//! picked.
//!
//! - [`AddressPool::Documentation`] (the default): documentation ranges, then 10.0.0.0/8. No
//!   proxy behind them answers; the operator only publishes them.
//! - [`AddressPool::Loopback`] (with proxy listeners on): 127.B.0.1 upward, where the simulator
//!   really listens. Linux routes all of 127.0.0.0/8 to the loopback interface, so every such
//!   address can be bound without set-up.
//! - [`AddressPool::Shared`] (proxy listeners with `--proxy-ip`): one address for every proxy,
//!   e.g. a simulator Pod's own address, so that other Pods reach its proxies.

use std::net::{IpAddr, Ipv4Addr};

/// Size of the address sequence [`pool_address`] enumerates.
pub const POOL_SIZE: u64 = 3 * 254 + 65_536 * 254;

/// Size of a loopback pool: 127.B.0.0/16 without the .0 and .255 host addresses.
pub const LOOPBACK_POOL_SIZE: u64 = 256 * 254;

/// Where fresh proxy addresses come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AddressPool {
    /// [`pool_address`]: 198.51.100.1-254, 203.0.113.1-254, 192.0.2.1-254, then 10.0.0.0/8.
    #[default]
    Documentation,
    /// 127.`block`.0.1 to 127.`block`.255.254, skipping .0 and .255. Every address an order
    /// holds is a loopback address: addresses outside 127.0.0.0/8 that an order comes with are
    /// replaced by fresh ones (see `SimState`).
    Loopback {
        /// The second octet, 1-254 (127.0.x.x holds 127.0.0.1, where clients connect from).
        block: u8,
    },
    /// One address for every proxy of every order (`--proxy-ip`): a simulator in a cluster
    /// serves its proxies on its Pod's own address, orders told apart by their port. No order
    /// holds the address: they all share it (so `remove_proxies` and `channels-change-ip` have
    /// nothing to tell apart).
    Shared {
        /// The address.
        ip: Ipv4Addr,
    },
}

impl AddressPool {
    /// How many addresses the pool has.
    pub fn size(self) -> u64 {
        match self {
            AddressPool::Documentation => POOL_SIZE,
            AddressPool::Loopback { .. } => LOOPBACK_POOL_SIZE,
            AddressPool::Shared { .. } => 1,
        }
    }

    /// The `index`-th address of the pool; `None` past the end.
    pub fn address(self, index: u64) -> Option<Ipv4Addr> {
        match self {
            AddressPool::Documentation => pool_address(index),
            AddressPool::Loopback { block } => (index < LOOPBACK_POOL_SIZE)
                .then(|| Ipv4Addr::new(127, block, (index / 254) as u8, (index % 254) as u8 + 1)),
            AddressPool::Shared { ip } => (index == 0).then_some(ip),
        }
    }

    /// Whether an order may keep `ip` as it is: any address in the documentation pool, only
    /// loopback addresses in a loopback pool (so that a listener can be bound for it).
    pub fn keeps(self, ip: &str) -> bool {
        match self {
            AddressPool::Documentation => true,
            AddressPool::Loopback { .. } => ip.parse::<Ipv4Addr>().is_ok_and(|v4| v4.is_loopback()),
            AddressPool::Shared { ip: shared } => {
                ip.parse::<Ipv4Addr>().is_ok_and(|v4| v4 == shared)
            }
        }
    }

    /// Whether a proxy at `ip` is served by a listener with this pool: loopback addresses with
    /// a loopback block, the one address of a shared pool, nothing with the documentation pool.
    pub fn serves(self, ip: &IpAddr) -> bool {
        match self {
            AddressPool::Documentation => false,
            AddressPool::Loopback { .. } => ip.is_loopback(),
            AddressPool::Shared { ip: shared } => *ip == IpAddr::V4(shared),
        }
    }
}

/// The `index`-th address of the simulator's documentation pool: 198.51.100.1-254, then
/// 203.0.113.1-254 (documentation ranges), then 192.0.2.1-254, then 10.0.0.0/8 skipping .0 and
/// .255, for very large seeds. `None` past the end.
pub fn pool_address(index: u64) -> Option<Ipv4Addr> {
    const DOC_NETS: [[u8; 3]; 3] = [[198, 51, 100], [203, 0, 113], [192, 0, 2]];
    if index < 3 * 254 {
        let net = DOC_NETS[(index / 254) as usize];
        return Some(Ipv4Addr::new(
            net[0],
            net[1],
            net[2],
            (index % 254) as u8 + 1,
        ));
    }
    let rest = index - 3 * 254;
    if rest >= 65_536 * 254 {
        return None;
    }
    let block = rest / 254;
    Some(Ipv4Addr::new(
        10,
        (block >> 8) as u8,
        (block & 0xff) as u8,
        (rest % 254) as u8 + 1,
    ))
}

/// Picks `count` addresses of `pool` that `in_use` rejects, starting at `*cursor` and wrapping
/// around the pool once. Advances the cursor past the last pick, so released addresses are not
/// handed out again right away. `None` when the pool cannot supply `count` addresses.
pub fn allocate_ips(
    pool: AddressPool,
    count: u32,
    mut in_use: impl FnMut(Ipv4Addr) -> bool,
    cursor: &mut u64,
) -> Option<Vec<String>> {
    if let AddressPool::Shared { ip } = pool {
        return Some(vec![ip.to_string(); count as usize]);
    }
    let size = pool.size();
    let mut out = Vec::with_capacity(count as usize);
    let mut scanned = 0u64;
    let mut idx = *cursor % size;
    while (out.len() as u32) < count {
        if scanned >= size {
            return None;
        }
        let ip = pool.address(idx).expect("index is within the pool");
        idx = (idx + 1) % size;
        scanned += 1;
        // Each index is visited at most once, so picks are distinct.
        if !in_use(ip) {
            out.push(ip.to_string());
        }
    }
    *cursor = idx;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const DOC: AddressPool = AddressPool::Documentation;

    #[test]
    fn pool_order_and_allocation() {
        assert_eq!(pool_address(0).unwrap().to_string(), "198.51.100.1");
        assert_eq!(pool_address(253).unwrap().to_string(), "198.51.100.254");
        assert_eq!(pool_address(254).unwrap().to_string(), "203.0.113.1");
        assert_eq!(pool_address(508).unwrap().to_string(), "192.0.2.1");
        assert_eq!(pool_address(762).unwrap().to_string(), "10.0.0.1");
        assert_eq!(pool_address(762 + 254).unwrap().to_string(), "10.0.1.1");
        assert_eq!(
            pool_address(POOL_SIZE - 1).unwrap().to_string(),
            "10.255.255.254"
        );
        assert!(pool_address(POOL_SIZE).is_none());

        let used: BTreeSet<Ipv4Addr> = ["198.51.100.1", "198.51.100.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut cursor = 0;
        let got = allocate_ips(DOC, 3, |ip| used.contains(&ip), &mut cursor).unwrap();
        assert_eq!(got, vec!["198.51.100.2", "198.51.100.4", "198.51.100.5"]);
        assert_eq!(cursor, 5);
        // The cursor moves on: the next pick does not reuse .2 even if released.
        let got = allocate_ips(DOC, 1, |_| false, &mut cursor).unwrap();
        assert_eq!(got, vec!["198.51.100.6"]);
        assert_eq!(
            allocate_ips(DOC, 0, |_| false, &mut cursor).unwrap(),
            Vec::<String>::new()
        );
        // Exhaustion.
        assert!(allocate_ips(DOC, 1, |_| true, &mut cursor).is_none());
    }

    #[test]
    fn loopback_pool() {
        let pool = AddressPool::Loopback { block: 3 };
        assert_eq!(pool.address(0).unwrap().to_string(), "127.3.0.1");
        assert_eq!(pool.address(253).unwrap().to_string(), "127.3.0.254");
        assert_eq!(pool.address(254).unwrap().to_string(), "127.3.1.1");
        assert_eq!(
            pool.address(LOOPBACK_POOL_SIZE - 1).unwrap().to_string(),
            "127.3.255.254"
        );
        assert!(pool.address(LOOPBACK_POOL_SIZE).is_none());
        let mut cursor = 0;
        let got = allocate_ips(pool, 2, |ip| ip == Ipv4Addr::new(127, 3, 0, 1), &mut cursor);
        assert_eq!(got.unwrap(), vec!["127.3.0.2", "127.3.0.3"]);

        assert!(pool.keeps("127.3.0.9"));
        assert!(pool.keeps("127.200.1.1"));
        assert!(!pool.keeps("198.51.100.1"));
        assert!(!pool.keeps("2001:db8::1"));
        assert!(DOC.keeps("198.51.100.1"));
    }

    #[test]
    fn a_shared_pool_gives_every_proxy_its_address() {
        let ip = Ipv4Addr::new(10, 244, 0, 7);
        let pool = AddressPool::Shared { ip };
        let mut cursor = 0;
        let got = allocate_ips(pool, 3, |_| true, &mut cursor).unwrap();
        assert_eq!(got, vec!["10.244.0.7"; 3]);
        assert!(pool.keeps("10.244.0.7"));
        assert!(!pool.keeps("127.1.0.1"));
        assert!(pool.serves(&IpAddr::V4(ip)));
        assert!(!pool.serves(&"127.1.0.1".parse().unwrap()));
        assert!(!AddressPool::Documentation.serves(&"198.51.100.1".parse().unwrap()));
    }
}
