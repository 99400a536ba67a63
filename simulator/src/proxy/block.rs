//! Which loopback block (127.B.0.0/16) a simulator's proxies live in.
//!
//! Simulators running side by side (the tests of one binary, `make dev` next to a test run)
//! must not hand out the same proxy address, or their listeners would collide on
//! (address, port). Each one claims a block by binding a UDP socket on 127.B.0.0 (an address
//! the pool never hands out) and holds it while it runs: the first free block from 127.1
//! upward wins, and the operating system releases the claim when the simulator (or its
//! process) ends.

use std::{
    io,
    net::{Ipv4Addr, UdpSocket},
};

/// UDP port of the claim socket.
pub const CLAIM_PORT: u16 = 65535;

/// A claimed block, held until dropped.
#[derive(Debug)]
pub struct BlockClaim {
    block: u8,
    _socket: UdpSocket,
}

impl BlockClaim {
    /// Claims the first free block of 127.1-127.254.
    pub fn claim() -> io::Result<BlockClaim> {
        for block in 1..=254u8 {
            match UdpSocket::bind((Ipv4Addr::new(127, block, 0, 0), CLAIM_PORT)) {
                Ok(socket) => {
                    return Ok(BlockClaim {
                        block,
                        _socket: socket,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every loopback block 127.1-127.254 is claimed by another simulator",
        ))
    }

    /// The second octet of the block's addresses.
    pub fn block(&self) -> u8 {
        self.block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_exclusive_and_released_on_drop() {
        let a = BlockClaim::claim().unwrap();
        let b = BlockClaim::claim().unwrap();
        assert_ne!(a.block(), b.block());
        // While held, the claim address cannot be bound by anyone else.
        let held = (Ipv4Addr::new(127, b.block(), 0, 0), CLAIM_PORT);
        assert!(UdpSocket::bind(held).is_err());
        let freed = (Ipv4Addr::new(127, a.block(), 0, 0), CLAIM_PORT);
        drop(a);
        UdpSocket::bind(freed).expect("a dropped claim is released");
    }
}
