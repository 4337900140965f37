//! Addresses and ports: networks as sorted intervals (so `!$HOME_NET`,
//! nested lists and long reputation lists are sets), port sets, and the
//! variables (`$HOME_NET`, `$HTTP_PORTS`...) of the configuration.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::rule::{AddrSpec, PortSpec};

/// A network parsed: first and last address of IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// IPv4 interval.
    V4(u32, u32),
    /// IPv6 interval.
    V6(u128, u128),
}

/// Parses an address, a CIDR block or a range `a-b`.
pub fn parse_net(s: &str) -> Result<Net, String> {
    let s = s.trim();
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (parse_ip(a)?, parse_ip(b)?);
        return match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) if u32::from(a) <= u32::from(b) => {
                Ok(Net::V4(a.into(), b.into()))
            }
            (IpAddr::V6(a), IpAddr::V6(b)) if u128::from(a) <= u128::from(b) => {
                Ok(Net::V6(a.into(), b.into()))
            }
            _ => Err("a range needs two addresses of one family, low to high".into()),
        };
    }
    let (ip, bits) = match s.split_once('/') {
        Some((ip, m)) => (parse_ip(ip)?, Some(m.trim())),
        None => (parse_ip(s)?, None),
    };
    match ip {
        IpAddr::V4(a) => {
            let n = match bits {
                None => 32,
                Some(m) => match m.parse::<u32>() {
                    Ok(n) if n <= 32 => n,
                    _ => {
                        // A dotted netmask (255.255.0.0).
                        let mask: std::net::Ipv4Addr =
                            m.parse().map_err(|_| format!("bad prefix length {m:?}"))?;
                        let mk = u32::from(mask);
                        if mk.leading_ones() + mk.trailing_zeros() != 32 {
                            return Err(format!("bad netmask {m:?}"));
                        }
                        mk.leading_ones()
                    }
                },
            };
            let mask = if n == 0 { 0 } else { u32::MAX << (32 - n) };
            let lo = u32::from(a) & mask;
            Ok(Net::V4(lo, lo | !mask))
        }
        IpAddr::V6(a) => {
            let n = match bits {
                None => 128,
                Some(m) => match m.parse::<u32>() {
                    Ok(n) if n <= 128 => n,
                    _ => return Err(format!("bad prefix length {m:?}")),
                },
            };
            let mask = if n == 0 { 0 } else { u128::MAX << (128 - n) };
            let lo = u128::from(a) & mask;
            Ok(Net::V6(lo, lo | !mask))
        }
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("not an address: {s:?}"))
}

/// Sorted, merged, disjoint closed intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals<T> {
    v: Vec<(T, T)>,
}

/// The integer types of address families.
pub trait Point: Copy + Ord + std::fmt::Debug {
    /// Smallest value.
    const MIN: Self;
    /// Largest value.
    const MAX: Self;
    /// One more (saturating).
    fn succ(self) -> Self;
    /// One less (saturating).
    fn pred(self) -> Self;
}

impl Point for u32 {
    const MIN: u32 = 0;
    const MAX: u32 = u32::MAX;
    fn succ(self) -> u32 {
        self.saturating_add(1)
    }
    fn pred(self) -> u32 {
        self.saturating_sub(1)
    }
}

impl Point for u128 {
    const MIN: u128 = 0;
    const MAX: u128 = u128::MAX;
    fn succ(self) -> u128 {
        self.saturating_add(1)
    }
    fn pred(self) -> u128 {
        self.saturating_sub(1)
    }
}

impl<T: Point> Intervals<T> {
    /// Everything.
    pub fn all() -> Self {
        Intervals {
            v: vec![(T::MIN, T::MAX)],
        }
    }

    /// From intervals in any order.
    pub fn from_vec(mut v: Vec<(T, T)>) -> Self {
        v.sort_unstable();
        let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.succ() || a <= last.1 => {
                    if b > last.1 {
                        last.1 = b;
                    }
                }
                _ => out.push((a, b)),
            }
        }
        Intervals { v: out }
    }

    /// Union.
    pub fn union(&self, o: &Self) -> Self {
        let mut v = self.v.clone();
        v.extend_from_slice(&o.v);
        Self::from_vec(v)
    }

    /// Complement.
    pub fn complement(&self) -> Self {
        let mut out = Vec::new();
        let mut next = Some(T::MIN);
        for &(a, b) in &self.v {
            if let Some(n) = next {
                if a > n {
                    out.push((n, a.pred()));
                }
            }
            next = if b == T::MAX { None } else { Some(b.succ()) };
        }
        if let Some(n) = next {
            out.push((n, T::MAX));
        }
        Intervals { v: out }
    }

    /// `self` without `o`.
    pub fn minus(&self, o: &Self) -> Self {
        self.intersect(&o.complement())
    }

    /// Intersection.
    pub fn intersect(&self, o: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.v.len() && j < o.v.len() {
            let (a1, b1) = self.v[i];
            let (a2, b2) = o.v[j];
            let lo = a1.max(a2);
            let hi = b1.min(b2);
            if lo <= hi {
                out.push((lo, hi));
            }
            if b1 < b2 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Intervals { v: out }
    }

    /// Contains `x`?
    pub fn contains(&self, x: T) -> bool {
        let i = self.v.partition_point(|&(a, _)| a <= x);
        i > 0 && self.v[i - 1].1 >= x
    }

    /// Nothing in it.
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// The whole range.
    pub fn is_all(&self) -> bool {
        self.v.len() == 1 && self.v[0] == (T::MIN, T::MAX)
    }

    /// The intervals.
    pub fn ranges(&self) -> &[(T, T)] {
        &self.v
    }
}

/// A set of addresses of both families.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrSet {
    /// IPv4.
    pub v4: Intervals<u32>,
    /// IPv6.
    pub v6: Intervals<u128>,
}

impl AddrSet {
    /// Every address.
    pub fn any() -> AddrSet {
        AddrSet {
            v4: Intervals::all(),
            v6: Intervals::all(),
        }
    }

    /// Contains `a`?
    pub fn contains(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(x) => self.v4.contains(u32::from(x)),
            IpAddr::V6(x) => match x.to_ipv4_mapped() {
                Some(m) => self.v4.contains(u32::from(m)) || self.v6.contains(u128::from(x)),
                None => self.v6.contains(u128::from(x)),
            },
        }
    }

    /// Every address of both families.
    pub fn is_any(&self) -> bool {
        self.v4.is_all() && self.v6.is_all()
    }

    fn union(&self, o: &AddrSet) -> AddrSet {
        AddrSet {
            v4: self.v4.union(&o.v4),
            v6: self.v6.union(&o.v6),
        }
    }

    fn minus(&self, o: &AddrSet) -> AddrSet {
        AddrSet {
            v4: self.v4.minus(&o.v4),
            v6: self.v6.minus(&o.v6),
        }
    }

    fn complement(&self) -> AddrSet {
        AddrSet {
            v4: self.v4.complement(),
            v6: self.v6.complement(),
        }
    }

    /// Addresses in the set (IPv4 and IPv6 counted apart, saturating).
    pub fn size(&self) -> (u64, u128) {
        let v4 = self
            .v4
            .ranges()
            .iter()
            .map(|&(a, b)| u64::from(b - a) + 1)
            .sum();
        let v6 = self.v6.ranges().iter().fold(0u128, |s, &(a, b)| {
            s.saturating_add((b - a).saturating_add(1))
        });
        (v4, v6)
    }
}

/// A set of ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSet(Intervals<u32>);

impl PortSet {
    /// Every port.
    pub fn any() -> PortSet {
        PortSet(Intervals::from_vec(vec![(0, 65535)]))
    }

    /// Contains `p`?
    pub fn contains(&self, p: u16) -> bool {
        self.0.contains(u32::from(p))
    }

    /// Every port.
    pub fn is_any(&self) -> bool {
        self.0.ranges() == [(0, 65535)]
    }

    /// The ranges.
    pub fn ranges(&self) -> &[(u32, u32)] {
        self.0.ranges()
    }
}

/// The address and port variables rules name.
#[derive(Clone, Debug)]
pub struct Vars {
    addrs: HashMap<String, AddrSpec>,
    ports: HashMap<String, PortSpec>,
}

/// The address groups of Suricata's stock configuration.
pub const DEFAULT_ADDRESS_GROUPS: &[(&str, &str)] = &[
    ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
    ("EXTERNAL_NET", "!$HOME_NET"),
    ("HTTP_SERVERS", "$HOME_NET"),
    ("SMTP_SERVERS", "$HOME_NET"),
    ("SQL_SERVERS", "$HOME_NET"),
    ("DNS_SERVERS", "$HOME_NET"),
    ("TELNET_SERVERS", "$HOME_NET"),
    ("AIM_SERVERS", "$EXTERNAL_NET"),
    ("DC_SERVERS", "$HOME_NET"),
    ("DNP3_SERVER", "$HOME_NET"),
    ("DNP3_CLIENT", "$HOME_NET"),
    ("MODBUS_CLIENT", "$HOME_NET"),
    ("MODBUS_SERVER", "$HOME_NET"),
    ("ENIP_CLIENT", "$HOME_NET"),
    ("ENIP_SERVER", "$HOME_NET"),
];

/// The port groups of Suricata's stock configuration.
pub const DEFAULT_PORT_GROUPS: &[(&str, &str)] = &[
    ("HTTP_PORTS", "80"),
    ("SHELLCODE_PORTS", "!80"),
    ("ORACLE_PORTS", "1521"),
    ("SSH_PORTS", "22"),
    ("DNP3_PORTS", "20000"),
    ("MODBUS_PORTS", "502"),
    ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
    ("FTP_PORTS", "21"),
    ("GENEVE_PORTS", "6081"),
    ("VXLAN_PORTS", "4789"),
    ("TEREDO_PORTS", "3544"),
    ("SIP_PORTS", "[5060,5061]"),
];

impl Default for Vars {
    fn default() -> Self {
        let mut v = Vars {
            addrs: HashMap::new(),
            ports: HashMap::new(),
        };
        for (k, s) in DEFAULT_ADDRESS_GROUPS {
            v.set_addr(k, s).expect("stock address groups parse");
        }
        for (k, s) in DEFAULT_PORT_GROUPS {
            v.set_port(k, s).expect("stock port groups parse");
        }
        v
    }
}

/// Variables refer to variables this deep at most.
const MAX_VAR_DEPTH: u32 = 16;

impl Vars {
    /// No variables at all.
    pub fn empty() -> Vars {
        Vars {
            addrs: HashMap::new(),
            ports: HashMap::new(),
        }
    }

    /// Sets an address group (`HOME_NET` to `[10.0.0.0/8]`).
    pub fn set_addr(&mut self, name: &str, value: &str) -> Result<(), String> {
        let spec = crate::parse::parse_addr(value).map_err(|e| format!("{name}: {e}"))?;
        self.addrs.insert(name.to_string(), spec);
        Ok(())
    }

    /// Sets a port group.
    pub fn set_port(&mut self, name: &str, value: &str) -> Result<(), String> {
        let spec = crate::parse::parse_port(value).map_err(|e| format!("{name}: {e}"))?;
        self.ports.insert(name.to_string(), spec);
        Ok(())
    }

    /// Checks that every variable resolves (no unknown names, no cycles).
    pub fn check(&self) -> Result<(), String> {
        for k in self.addrs.keys() {
            self.addr_set(&AddrSpec::Var(k.clone()))?;
        }
        for k in self.ports.keys() {
            self.port_set(&PortSpec::Var(k.clone()))?;
        }
        Ok(())
    }

    /// The set an address spec names.
    pub fn addr_set(&self, s: &AddrSpec) -> Result<AddrSet, String> {
        self.addr_depth(s, 0)
    }

    fn addr_depth(&self, s: &AddrSpec, depth: u32) -> Result<AddrSet, String> {
        if depth > MAX_VAR_DEPTH {
            return Err("address variables nest too deeply (a cycle?)".into());
        }
        Ok(match s {
            AddrSpec::Any => AddrSet::any(),
            AddrSpec::Net(n) => {
                let mut set = AddrSet::default();
                match parse_net(n)? {
                    Net::V4(a, b) => set.v4 = Intervals::from_vec(vec![(a, b)]),
                    Net::V6(a, b) => set.v6 = Intervals::from_vec(vec![(a, b)]),
                }
                set
            }
            AddrSpec::Var(v) => {
                let spec = self
                    .addrs
                    .get(v)
                    .ok_or_else(|| format!("unknown address variable ${v}"))?;
                self.addr_depth(spec, depth + 1)?
            }
            AddrSpec::Not(x) => self.addr_depth(x, depth + 1)?.complement(),
            AddrSpec::List(items) => {
                let mut pos: Option<AddrSet> = None;
                let mut neg = AddrSet::default();
                for i in items {
                    match i {
                        AddrSpec::Not(x) => neg = neg.union(&self.addr_depth(x, depth + 1)?),
                        x => {
                            let s = self.addr_depth(x, depth + 1)?;
                            pos = Some(match pos {
                                Some(p) => p.union(&s),
                                None => s,
                            });
                        }
                    }
                }
                pos.unwrap_or_else(AddrSet::any).minus(&neg)
            }
        })
    }

    /// The set a port spec names.
    pub fn port_set(&self, s: &PortSpec) -> Result<PortSet, String> {
        self.port_depth(s, 0).map(PortSet)
    }

    fn port_depth(&self, s: &PortSpec, depth: u32) -> Result<Intervals<u32>, String> {
        if depth > MAX_VAR_DEPTH {
            return Err("port variables nest too deeply (a cycle?)".into());
        }
        let all = || Intervals::from_vec(vec![(0, 65535)]);
        Ok(match s {
            PortSpec::Any => all(),
            PortSpec::Range(a, b) => Intervals::from_vec(vec![(u32::from(*a), u32::from(*b))]),
            PortSpec::Var(v) => {
                let spec = self
                    .ports
                    .get(v)
                    .ok_or_else(|| format!("unknown port variable ${v}"))?;
                self.port_depth(spec, depth + 1)?
            }
            PortSpec::Not(x) => all().minus(&self.port_depth(x, depth + 1)?),
            PortSpec::List(items) => {
                let mut pos: Option<Intervals<u32>> = None;
                let mut neg = Intervals::default();
                for i in items {
                    match i {
                        PortSpec::Not(x) => neg = neg.union(&self.port_depth(x, depth + 1)?),
                        x => {
                            let s = self.port_depth(x, depth + 1)?;
                            pos = Some(match pos {
                                Some(p) => p.union(&s),
                                None => s,
                            });
                        }
                    }
                }
                pos.unwrap_or_else(all).minus(&neg)
            }
        })
    }
}

/// The number of an IP protocol name (`tcp` 6...).
pub fn proto_number(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "hopopt" => 0,
        "icmp" => 1,
        "igmp" => 2,
        "ipip" | "ipv4" => 4,
        "tcp" => 6,
        "udp" => 17,
        "ipv6" => 41,
        "ipv6-route" => 43,
        "ipv6-frag" => 44,
        "rsvp" => 46,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" | "icmpv6" => 58,
        "ipv6-nonxt" => 59,
        "ipv6-opts" => 60,
        "eigrp" => 88,
        "ospf" => 89,
        "pim" => 103,
        "vrrp" => 112,
        "l2tp" => 115,
        "sctp" => 132,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_addr, parse_port};

    fn set(v: &Vars, s: &str) -> AddrSet {
        v.addr_set(&parse_addr(s).unwrap()).unwrap()
    }

    #[test]
    fn external_net_is_everything_but_home_net() {
        let v = Vars::default();
        let ext = set(&v, "$EXTERNAL_NET");
        assert!(!ext.contains("10.1.2.3".parse().unwrap()));
        assert!(!ext.contains("192.168.0.1".parse().unwrap()));
        assert!(ext.contains("8.8.8.8".parse().unwrap()));
        assert!(ext.contains("172.32.0.1".parse().unwrap()));
        assert!(!ext.contains("172.31.255.255".parse().unwrap()));
        assert!(ext.contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn lists_subtract_their_negations() {
        let v = Vars::default();
        let s = set(&v, "[10.0.0.0/8,!10.1.0.0/16]");
        assert!(s.contains("10.2.0.1".parse().unwrap()));
        assert!(!s.contains("10.1.0.1".parse().unwrap()));
        assert!(!s.contains("11.0.0.1".parse().unwrap()));
        let only_neg = set(&v, "[!10.0.0.0/8]");
        assert!(only_neg.contains("11.0.0.1".parse().unwrap()));
        assert!(!only_neg.contains("10.0.0.1".parse().unwrap()));
        assert_eq!(set(&v, "1.2.3.0/24").size().0, 256);
        assert_eq!(set(&v, "1.2.3.4-1.2.3.10").size().0, 7);
        assert_eq!(set(&v, "10.0.0.0/255.255.0.0").size().0, 65536);
    }

    #[test]
    fn port_groups_resolve_and_negate() {
        let v = Vars::default();
        let p = v
            .port_set(&parse_port("$FILE_DATA_PORTS").unwrap())
            .unwrap();
        assert!(p.contains(80) && p.contains(110) && p.contains(143) && !p.contains(81));
        let p = v.port_set(&parse_port("[!3478,1023:]").unwrap()).unwrap();
        assert!(p.contains(1023) && !p.contains(3478) && !p.contains(80));
        let p = v
            .port_set(&parse_port("$SHELLCODE_PORTS").unwrap())
            .unwrap();
        assert!(!p.contains(80) && p.contains(81) && p.contains(0));
    }

    #[test]
    fn unknown_and_cyclic_variables_are_errors() {
        let mut v = Vars::empty();
        assert!(v.addr_set(&AddrSpec::Var("NOPE".into())).is_err());
        v.set_addr("A", "$B").unwrap();
        v.set_addr("B", "$A").unwrap();
        assert!(v.check().is_err());
    }

    #[test]
    fn intervals_merge_and_complement() {
        let i = Intervals::<u32>::from_vec(vec![(5, 10), (1, 3), (4, 4), (20, 30)]);
        assert_eq!(i.ranges(), &[(1, 10), (20, 30)]);
        let c = i.complement();
        assert_eq!(c.ranges(), &[(0, 0), (11, 19), (31, u32::MAX)]);
        assert_eq!(c.complement(), i);
        assert!(i.contains(10) && !i.contains(11) && i.contains(20));
    }
}
