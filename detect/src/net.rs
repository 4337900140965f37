//! Address blocks and sets of them: `HOME_NET`, allow-lists and indicator
//! lists of addresses and CIDR blocks.
//!
//! A set is kept as sorted, merged ranges per family, so a lookup is one
//! binary search however many blocks the set holds (indicator feeds carry
//! tens of thousands).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address block; a single address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// Network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

/// Why a block does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or CIDR block")]
pub struct CidrError(pub String);

impl Cidr {
    /// A single address.
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// True when `ip` lies in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.range(), ip) {
            (Range::V4(a, b), IpAddr::V4(x)) => (a..=b).contains(&u32::from(x)),
            (Range::V6(a, b), IpAddr::V6(x)) => (a..=b).contains(&u128::from(x)),
            _ => false,
        }
    }

    fn range(&self) -> Range {
        match self.addr {
            IpAddr::V4(a) => {
                let p = u32::from(self.prefix.min(32));
                let host = u32::MAX.checked_shr(p).unwrap_or(0);
                let lo = u32::from(a) & !host;
                Range::V4(lo, lo | host)
            }
            IpAddr::V6(a) => {
                let p = u32::from(self.prefix.min(128));
                let host = u128::MAX.checked_shr(p).unwrap_or(0);
                let lo = u128::from(a) & !host;
                Range::V6(lo, lo | host)
            }
        }
    }
}

enum Range {
    V4(u32, u32),
    V6(u128, u128),
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let t = s.trim();
        let err = || CidrError(t.to_string());
        let (a, p) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        let c = Cidr { addr, prefix };
        // Clear host bits so equal blocks compare equal.
        let addr = match c.range() {
            Range::V4(lo, _) => IpAddr::V4(Ipv4Addr::from(lo)),
            Range::V6(lo, _) => IpAddr::V6(Ipv6Addr::from(lo)),
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A set of addresses and blocks, as merged sorted ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn merge<T: Copy + Ord + num::Succ>(v: &mut Vec<(T, T)>) {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for &(a, b) in v.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.succ() => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *v = out;
}

mod num {
    /// The next value, saturating.
    pub trait Succ {
        fn succ(self) -> Self;
    }
    impl Succ for u32 {
        fn succ(self) -> u32 {
            self.saturating_add(1)
        }
    }
    impl Succ for u128 {
        fn succ(self) -> u128 {
            self.saturating_add(1)
        }
    }
}

fn find<T: Copy + Ord>(v: &[(T, T)], x: T) -> bool {
    let i = v.partition_point(|&(a, _)| a <= x);
    i > 0 && v[i - 1].1 >= x
}

impl IpSet {
    /// The set of the given blocks.
    pub fn new(blocks: impl IntoIterator<Item = Cidr>) -> IpSet {
        let mut s = IpSet::default();
        for b in blocks {
            match b.range() {
                Range::V4(a, z) => s.v4.push((a, z)),
                Range::V6(a, z) => s.v6.push((a, z)),
            }
        }
        merge(&mut s.v4);
        merge(&mut s.v6);
        s
    }

    /// True when `ip` lies in one of the blocks (IPv4-mapped IPv6
    /// addresses are looked up as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(m) => find(&self.v4, u32::from(m)),
                None => find(&self.v6, u128::from(a)),
            },
        }
    }

    /// True when the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Merged ranges held (for sizing).
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// Parses a list of blocks written the Suricata way: `[10.0.0.0/8,
/// 192.168.0.0/16]`, or a bare comma-separated list.
pub fn parse_list(s: &str) -> Result<Vec<Cidr>, CidrError> {
    let t = s.trim();
    let t = t.strip_prefix('[').unwrap_or(t);
    let t = t.strip_suffix(']').unwrap_or(t);
    t.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(Cidr::from_str)
        .collect()
}

/// The common prefix of a set of IPv4 addresses as a block (for evidence:
/// "swept 10.10.1.0/24").
pub fn covering_block(addrs: &[IpAddr]) -> Option<Cidr> {
    let first = *addrs.first()?;
    match first {
        IpAddr::V4(f) => {
            let f = u32::from(f);
            let mut diff = 0u32;
            for a in addrs {
                match a {
                    IpAddr::V4(x) => diff |= u32::from(*x) ^ f,
                    IpAddr::V6(_) => return None,
                }
            }
            let prefix = diff.leading_zeros() as u8;
            let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            Some(Cidr {
                addr: IpAddr::V4(Ipv4Addr::from(f & !host)),
                prefix,
            })
        }
        IpAddr::V6(f) => {
            let f = u128::from(f);
            let mut diff = 0u128;
            for a in addrs {
                match a {
                    IpAddr::V6(x) => diff |= u128::from(*x) ^ f,
                    IpAddr::V4(_) => return None,
                }
            }
            let prefix = diff.leading_zeros() as u8;
            let host = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            Some(Cidr {
                addr: IpAddr::V6(Ipv6Addr::from(f & !host)),
                prefix,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_clear_host_bits() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.0")));
        assert_eq!("::1".parse::<Cidr>().unwrap().prefix, 128);
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("example.com".parse::<Cidr>().is_err());
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn sets_merge_and_find() {
        let s = IpSet::new(
            parse_list("[10.0.0.0/8, 10.1.0.0/16, 192.168.1.7, 2001:db8::/32]").unwrap(),
        );
        assert_eq!(s.ranges(), 3);
        assert!(s.contains(ip("10.1.2.3")));
        assert!(s.contains(ip("192.168.1.7")));
        assert!(!s.contains(ip("192.168.1.8")));
        assert!(s.contains(ip("2001:db8:1::5")));
        assert!(!s.contains(ip("2001:db9::")));
        assert!(s.contains(ip("::ffff:10.9.9.9")));
        // Adjacent ranges merge.
        let t = IpSet::new(parse_list("10.0.0.0/25,10.0.0.128/25").unwrap());
        assert_eq!(t.ranges(), 1);
        assert!(IpSet::default().is_empty());
    }

    #[test]
    fn covering_block_of_a_sweep() {
        let a: Vec<IpAddr> = (1..=200).map(|i| ip(&format!("10.10.1.{i}"))).collect();
        assert_eq!(covering_block(&a).unwrap().to_string(), "10.10.1.0/24");
        assert_eq!(covering_block(&[ip("10.0.0.5")]).unwrap().prefix, 32);
    }
}
