//! Canonical flow keys, direction, the symmetric dispatch hash, Community ID
//! v1 and flow identifiers.

use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use sha1::{Digest, Sha1};

use crate::decode::{PacketView, Transport};

/// The canonical key of a bidirectional flow: the same for both directions.
///
/// TCP and UDP order the two (address, port) endpoints; ICMP echo-like
/// messages are keyed by their identifier and the request type (so request
/// and reply meet), other ICMP messages by type and code; other protocols by
/// the address pair. VLAN ids are part of the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The lower endpoint's address (IPv4 in the first four bytes).
    pub lo: [u8; 16],
    /// The higher endpoint's address.
    pub hi: [u8; 16],
    /// Port of `lo` (TCP/UDP); for ICMP the type class.
    pub lo_port: u16,
    /// Port of `hi` (TCP/UDP); for ICMP the echo identifier or the code.
    pub hi_port: u16,
    /// Outer VLAN id + 1 (0 when untagged).
    pub vlan: u16,
    /// Inner VLAN id + 1 (0 when absent).
    pub inner_vlan: u16,
    /// IP protocol.
    pub proto: u8,
    /// 4 or 6.
    pub version: u8,
}

fn addr_bytes(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v.octets());
            b
        }
        IpAddr::V6(v) => v.octets(),
    }
}

/// Bytes of an address as stored in a key back to an address.
pub fn addr_of(b: &[u8; 16], version: u8) -> IpAddr {
    if version == 4 {
        IpAddr::from([b[0], b[1], b[2], b[3]])
    } else {
        IpAddr::from(*b)
    }
}

/// ICMP types that pair as request/response: (request, reply).
const ICMP4_PAIRS: [(u8, u8); 5] = [(8, 0), (13, 14), (15, 16), (17, 18), (10, 9)];
const ICMP6_PAIRS: [(u8, u8); 6] = [
    (128, 129),
    (133, 134),
    (135, 136),
    (130, 131),
    (139, 140),
    (144, 145),
];

/// The counterpart of an ICMP type, if it has one (Community ID's table).
pub fn icmp_counterpart(v6: bool, kind: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = if v6 { &ICMP6_PAIRS } else { &ICMP4_PAIRS };
    pairs.iter().find_map(|&(a, b)| {
        if kind == a {
            Some(b)
        } else if kind == b {
            Some(a)
        } else {
            None
        }
    })
}

impl FlowKey {
    /// The key of a packet and whether the packet's source is the key's `lo` side.
    pub fn of(p: &PacketView<'_>) -> (FlowKey, bool) {
        let (s, d) = (addr_bytes(p.src), addr_bytes(p.dst));
        let vlan = p.vlan.map_or(0, |v| v + 1);
        let inner_vlan = p.inner_vlan.map_or(0, |v| v + 1);
        let (sp, dp, by_addr_only) = match p.transport {
            Transport::Icmp {
                v6,
                kind,
                code,
                echo_id,
            } => match echo_id {
                Some(id) => {
                    // Class = the request type of the pair.
                    let class = match icmp_counterpart(v6, kind) {
                        Some(c) => kind.min(c),
                        None => kind,
                    };
                    let class = if v6 {
                        class
                    } else if kind == 0 || kind == 8 {
                        8
                    } else {
                        class
                    };
                    (u16::from(class), id, true)
                }
                None => (u16::from(kind), u16::from(code), true),
            },
            _ => (p.sport, p.dport, false),
        };
        let src_lo = if by_addr_only {
            s <= d
        } else {
            (s, sp) <= (d, dp)
        };
        let key = if by_addr_only {
            let (lo, hi) = if src_lo { (s, d) } else { (d, s) };
            FlowKey {
                lo,
                hi,
                lo_port: sp,
                hi_port: dp,
                vlan,
                inner_vlan,
                proto: p.proto,
                version: p.ip_version,
            }
        } else if src_lo {
            FlowKey {
                lo: s,
                hi: d,
                lo_port: sp,
                hi_port: dp,
                vlan,
                inner_vlan,
                proto: p.proto,
                version: p.ip_version,
            }
        } else {
            FlowKey {
                lo: d,
                hi: s,
                lo_port: dp,
                hi_port: sp,
                vlan,
                inner_vlan,
                proto: p.proto,
                version: p.ip_version,
            }
        };
        (key, src_lo)
    }

    /// Hash of the address pair only, equal for both directions and for every
    /// fragment of a datagram: decides which worker sees a packet.
    pub fn dispatch_hash(a: IpAddr, b: IpAddr, vlan: Option<u16>) -> u64 {
        let (x, y) = (addr_bytes(a), addr_bytes(b));
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        let mut h = FxHasher::default();
        h.write(&lo);
        h.write(&hi);
        h.write_u16(vlan.unwrap_or(0xffff));
        mix(h.finish())
    }
}

/// splitmix64 finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fast, deterministic hasher for flow tables (FxHash).
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    h: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut c = bytes.chunks_exact(8);
        for w in &mut c {
            let v = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            self.h = (self.h.rotate_left(5) ^ v).wrapping_mul(SEED);
        }
        for &b in c.remainder() {
            self.h = (self.h.rotate_left(5) ^ u64::from(b)).wrapping_mul(SEED);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.h = (self.h.rotate_left(5) ^ u64::from(i)).wrapping_mul(SEED);
    }

    fn write_u16(&mut self, i: u16) {
        self.h = (self.h.rotate_left(5) ^ u64::from(i)).wrapping_mul(SEED);
    }

    fn write_u32(&mut self, i: u32) {
        self.h = (self.h.rotate_left(5) ^ u64::from(i)).wrapping_mul(SEED);
    }

    fn write_u64(&mut self, i: u64) {
        self.h = (self.h.rotate_left(5) ^ i).wrapping_mul(SEED);
    }

    fn finish(&self) -> u64 {
        self.h
    }
}

/// `BuildHasher` for [`FxHasher`].
pub type FxBuild = BuildHasherDefault<FxHasher>;

/// Community ID v1 with seed 0 of a flow seen from its originator
/// (`sport`/`dport` are the ICMP type and code for ICMP).
pub fn community_id(proto: u8, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> String {
    let mut s = String::with_capacity(30);
    community_id_into(&mut s, proto, src, dst, sport, dport);
    s
}

/// [`community_id`] appended to `out` (no allocation when `out` has room).
pub fn community_id_into(
    out: &mut String,
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
) {
    let (mut sa, mut da) = (addr_bytes(src), addr_bytes(dst));
    let len = if src.is_ipv4() { 4 } else { 16 };
    let has_ports = matches!(proto, 1 | 6 | 17 | 58 | 132);
    let (mut sp, mut dp) = (sport, dport);
    let mut one_way = false;
    if proto == 1 || proto == 58 {
        match icmp_counterpart(proto == 58, sport as u8) {
            Some(c) => dp = u16::from(c),
            None => one_way = true,
        }
    }
    let ordered = (&sa[..len], sp) < (&da[..len], dp);
    if !one_way && !ordered {
        std::mem::swap(&mut sa, &mut da);
        std::mem::swap(&mut sp, &mut dp);
    }
    let mut h = Sha1::new();
    h.update([0u8, 0u8]);
    h.update(&sa[..len]);
    h.update(&da[..len]);
    h.update([proto, 0]);
    if has_ports {
        h.update(sp.to_be_bytes());
        h.update(dp.to_be_bytes());
    }
    out.push_str("1:");
    base64_into(out, &h.finalize());
}

#[cfg(test)]
fn base64(data: &[u8]) -> String {
    let mut s = String::new();
    base64_into(&mut s, data);
    s
}

fn base64_into(out: &mut String, data: &[u8]) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
}

/// The flow identifier: a 63-bit hash of the sensor id, the key and the
/// flow's first packet time (so it does not depend on worker threads).
pub fn flow_uid(sensor_id: &str, key: &FlowKey, first_ns: u64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h = (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(sensor_id.as_bytes());
    eat(&key.lo);
    eat(&key.hi);
    eat(&key.lo_port.to_be_bytes());
    eat(&key.hi_port.to_be_bytes());
    eat(&key.vlan.to_be_bytes());
    eat(&key.inner_vlan.to_be_bytes());
    eat(&[key.proto, key.version]);
    eat(&first_ns.to_be_bytes());
    (mix(h) & i64::MAX as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Community ID specification's README; the other
    // protocols are checked against tshark's own computation in the
    // integration tests.
    #[test]
    fn community_id_reference_vector_both_directions() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            community_id(6, ip("128.232.110.120"), ip("66.35.250.204"), 34855, 80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            community_id(6, ip("66.35.250.204"), ip("128.232.110.120"), 80, 34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
    }

    #[test]
    fn base64_vectors() {
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }
}
