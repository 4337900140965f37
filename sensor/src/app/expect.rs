//! Connections announced on another: the FTP data channels a control
//! connection opens (`PASV`/`EPSV` answers, `PORT`/`EPRT` commands). The
//! data connection goes to the announced address and port; when a new
//! connection's responder matches one, it is the announcing flow's data
//! channel.
//!
//! The table is fixed (one slot per hash of address and port, no
//! allocation after it is made); an announcement older than
//! [`EXPECT_TTL_NS`], or one overwritten by another with the same hash,
//! is forgotten (counted).

use std::net::IpAddr;

/// Slots of the table.
pub const EXPECT_SLOTS: usize = 4096;

/// How long an announced channel waits for its connection, ns.
pub const EXPECT_TTL_NS: u64 = 300_000_000_000;

#[derive(Clone, Copy, Debug)]
struct Expect {
    addr: IpAddr,
    port: u16,
    vlan: u16,
    uid: i64,
    ts_ns: u64,
}

/// Announced connections awaited.
#[derive(Debug)]
pub struct Expectations {
    slots: Vec<Option<Expect>>,
    /// Announcements overwritten before their connection came.
    pub overwritten: u64,
    /// Announced connections that came.
    pub linked: u64,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            slots: vec![None; EXPECT_SLOTS],
            overwritten: 0,
            linked: 0,
        }
    }
}

fn slot(addr: IpAddr, port: u16, vlan: u16) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (addr, port, vlan).hash(&mut h);
    (h.finish() as usize) % EXPECT_SLOTS
}

impl Expectations {
    /// A connection to `addr`:`port` (on `vlan`) is announced by the flow `uid`.
    pub fn announce(&mut self, addr: IpAddr, port: u16, vlan: u16, uid: i64, ts_ns: u64) {
        let i = slot(addr, port, vlan);
        if let Some(old) = self.slots[i] {
            let same = old.addr == addr && old.port == port && old.vlan == vlan;
            if !same && ts_ns.saturating_sub(old.ts_ns) < EXPECT_TTL_NS {
                self.overwritten += 1;
            }
        }
        self.slots[i] = Some(Expect {
            addr,
            port,
            vlan,
            uid,
            ts_ns,
        });
    }

    /// The announcing flow of a new connection to `addr`:`port`, taken
    /// out of the table.
    pub fn take(&mut self, addr: IpAddr, port: u16, vlan: u16, ts_ns: u64) -> Option<i64> {
        let i = slot(addr, port, vlan);
        let e = self.slots[i]?;
        if e.addr != addr || e.port != port || e.vlan != vlan {
            return None;
        }
        self.slots[i] = None;
        if ts_ns.saturating_sub(e.ts_ns) > EXPECT_TTL_NS {
            return None;
        }
        self.linked += 1;
        Some(e.uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_connections_are_linked_once_and_expire() {
        let mut x = Expectations::default();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        x.announce(a, 50000, 0, 42, 1_000);
        assert_eq!(x.take(a, 50001, 0, 2_000), None);
        assert_eq!(x.take(a, 50000, 1, 2_000), None);
        assert_eq!(x.take(a, 50000, 0, 2_000), Some(42));
        assert_eq!(x.take(a, 50000, 0, 3_000), None);
        x.announce(a, 50000, 0, 43, 0);
        assert_eq!(x.take(a, 50000, 0, EXPECT_TTL_NS + 1), None);
        assert_eq!(x.linked, 1);
    }
}
