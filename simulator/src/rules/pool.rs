//! The simulator's proxy address pool: the fixed sequence of addresses and how fresh ones are
//! picked.

use std::net::Ipv4Addr;

/// Size of the address sequence [`pool_address`] enumerates.
pub const POOL_SIZE: u64 = 3 * 254 + 65_536 * 254;

/// The `index`-th address of the simulator's proxy pool: 198.51.100.1-254, then
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

/// Picks `count` addresses that `in_use` rejects, starting at `*cursor` and wrapping around
/// the pool once. Advances the cursor past the last pick, so released addresses are not
/// handed out again right away. `None` when the pool cannot supply `count` addresses.
pub fn allocate_ips(
    count: u32,
    mut in_use: impl FnMut(Ipv4Addr) -> bool,
    cursor: &mut u64,
) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(count as usize);
    let mut scanned = 0u64;
    let mut idx = *cursor % POOL_SIZE;
    while (out.len() as u32) < count {
        if scanned >= POOL_SIZE {
            return None;
        }
        let ip = pool_address(idx).expect("index is within the pool");
        idx = (idx + 1) % POOL_SIZE;
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
        let got = allocate_ips(3, |ip| used.contains(&ip), &mut cursor).unwrap();
        assert_eq!(got, vec!["198.51.100.2", "198.51.100.4", "198.51.100.5"]);
        assert_eq!(cursor, 5);
        // The cursor moves on: the next pick does not reuse .2 even if released.
        let got = allocate_ips(1, |_| false, &mut cursor).unwrap();
        assert_eq!(got, vec!["198.51.100.6"]);
        assert_eq!(
            allocate_ips(0, |_| false, &mut cursor).unwrap(),
            Vec::<String>::new()
        );
        // Exhaustion.
        assert!(allocate_ips(1, |_| true, &mut cursor).is_none());
    }
}
