//! IPv4 and IPv6 (sliced by etherparse), tunnels inside them, and the
//! transport headers.

use std::net::IpAddr;

use etherparse::LaxIpSlice;
use mekong_schema::anomaly;

use super::link::{ethernet, ethertype, Stop};
use super::tunnel::{self, Inner};
use super::{Ctx, Reason, TcpInfo, Transport, TunnelKind, MAX_TUNNEL_DEPTH};

/// Fragment fields of an IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frag {
    pub id: u32,
    pub offset: u32,
    pub more: bool,
}

/// An IP packet (the innermost when tunnelled).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parsed<'a> {
    pub version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// IP bytes on the wire (header included), as the header declares.
    pub ip_len: u32,
    /// Captured bytes after the IP header and extensions.
    pub payload: &'a [u8],
    /// Payload length as the header declares.
    pub payload_len: u32,
    pub fragment: Option<Frag>,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Identification (IPv4); 0 for IPv6.
    pub id: u16,
    /// Type of service (IPv4) or traffic class (IPv6): DSCP and ECN.
    pub tos: u8,
    /// The IP header as captured (options included; IPv6: the fixed 40
    /// bytes).
    pub header: &'a [u8],
    /// IPv4 flag bits as rules name them: 1 more fragments, 2 don't
    /// fragment, 4 reserved.
    pub flags: u8,
    /// IPv4 fragment offset, 8-byte units.
    pub frag_offset: u16,
}

/// The Fragment header among IPv6 extension headers, walked with bounds
/// checks over the bytes etherparse delimited. (etherparse's own iterator
/// trusts header lengths it did not check: fuzzing found it reading past
/// the slice.)
fn ipv6_fragment(first: u8, mut exts: &[u8]) -> Option<Frag> {
    let mut next = first;
    loop {
        let len = match next {
            0 | 43 | 60 => usize::from(*exts.get(1)?) * 8 + 8,
            44 => 8,
            51 => usize::from(*exts.get(1)?) * 4 + 8,
            _ => return None,
        };
        if exts.len() < len.max(8) {
            return None;
        }
        if next == 44 {
            let off_m = u16::from_be_bytes([exts[2], exts[3]]);
            let offset = u32::from(off_m >> 3) * 8;
            let more = off_m & 1 == 1;
            let id = u32::from_be_bytes([exts[4], exts[5], exts[6], exts[7]]);
            return (offset != 0 || more).then_some(Frag { id, offset, more });
        }
        next = exts[0];
        exts = &exts[len..];
    }
}

/// Parses an IP packet and follows tunnels inside it.
pub(crate) fn parse<'a>(ctx: &mut Ctx, b: &'a [u8], depth: usize) -> Result<Parsed<'a>, Stop> {
    let (slice, ext_err) =
        LaxIpSlice::from_slice(b).map_err(|_| Stop::Error(Reason::BadIpHeader))?;
    if ext_err.is_some() {
        ctx.anomalies |= anomaly::IPV6_EXT;
    }
    let payload = slice.payload();
    if payload.incomplete && ctx.anomalies & anomaly::TRUNCATED == 0 {
        ctx.anomalies |= anomaly::IP_LENGTH;
    }
    let p = match &slice {
        LaxIpSlice::Ipv4(s) => {
            let h = s.header();
            let hl = u32::from(h.ihl()) * 4;
            if h.ihl() > 5 {
                ctx.anomalies |= anomaly::IP_OPTIONS;
            }
            let mut total = u32::from(h.total_len());
            if total < hl {
                ctx.anomalies |= anomaly::IP_LENGTH;
                total = b.len() as u32;
            }
            let off = u32::from(h.fragments_offset().value()) * 8;
            let fragment = (h.more_fragments() || off != 0).then_some(Frag {
                id: u32::from(h.identification()),
                offset: off,
                more: h.more_fragments(),
            });
            Parsed {
                version: 4,
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                proto: payload.ip_number.0,
                ip_len: total,
                payload: payload.payload,
                payload_len: total - hl,
                fragment,
                ttl: h.ttl(),
                id: h.identification(),
                tos: (h.dcp().value() << 2) | h.ecn().value(),
                header: &b[..(hl as usize).min(b.len())],
                flags: u8::from(h.more_fragments())
                    | u8::from(h.dont_fragment()) << 1
                    | u8::from(b.get(6).is_some_and(|x| x & 0x80 != 0)) << 2,
                frag_offset: h.fragments_offset().value(),
            }
        }
        LaxIpSlice::Ipv6(s) => {
            let h = s.header();
            let plen = u32::from(h.payload_length());
            let exts = s.extensions().slice().len() as u32;
            let captured_after_fixed = b.len().saturating_sub(40) as u32;
            let plen = if plen == 0 {
                captured_after_fixed
            } else {
                plen
            };
            let fragment = ipv6_fragment(h.next_header().0, s.extensions().slice());
            Parsed {
                version: 6,
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                proto: payload.ip_number.0,
                ip_len: 40 + plen,
                payload: payload.payload,
                payload_len: plen.saturating_sub(exts),
                fragment,
                ttl: h.hop_limit(),
                id: 0,
                tos: h.traffic_class(),
                header: &b[..b.len().min(40)],
                flags: 0,
                frag_offset: 0,
            }
        }
    };
    if p.fragment.is_some() || depth >= MAX_TUNNEL_DEPTH {
        return Ok(p);
    }
    let saved = *ctx;
    match inner_of(ctx, &p) {
        None => Ok(p),
        Some(Ok(inner)) => match parse(ctx, inner, depth + 1) {
            Ok(ip) => Ok(ip),
            Err(_) => {
                *ctx = saved;
                ctx.anomalies |= anomaly::TUNNEL;
                Ok(p)
            }
        },
        Some(Err(())) => {
            *ctx = saved;
            ctx.anomalies |= anomaly::TUNNEL;
            Ok(p)
        }
    }
}

/// The IP packet a tunnel carries: `None` when `p` is not a tunnel,
/// `Some(Err)` when it is one but malformed.
fn inner_of<'a>(ctx: &mut Ctx, p: &Parsed<'a>) -> Option<Result<&'a [u8], ()>> {
    let outer = (p.src, p.dst);
    let (kind, id, inner) = match p.proto {
        47 => match tunnel::gre(p.payload) {
            Some(x) => x,
            None => return Some(Err(())),
        },
        4 | 41 => (
            TunnelKind::IpInIp,
            None,
            Inner::EtherType(0x0800, p.payload),
        ),
        17 if p.payload.len() >= 8 => {
            let sport = u16::from_be_bytes([p.payload[0], p.payload[1]]);
            let dport = u16::from_be_bytes([p.payload[2], p.payload[3]]);
            let udp_payload = &p.payload[8..];
            let on = |port: u16| sport == port || dport == port;
            if on(tunnel::VXLAN_PORT) || on(tunnel::VXLAN_GPE_PORT) {
                match tunnel::vxlan(udp_payload) {
                    Some((vni, i)) => (TunnelKind::Vxlan, Some(vni), i),
                    None => return None,
                }
            } else if on(tunnel::GENEVE_PORT) {
                match tunnel::geneve(udp_payload) {
                    Some((vni, i)) => (TunnelKind::Geneve, Some(vni), i),
                    None => return None,
                }
            } else {
                return None;
            }
        }
        _ => return None,
    };
    if kind == TunnelKind::Erspan && !ctx.tunnel.push(TunnelKind::Gre, outer) {
        return None;
    }
    if !ctx.tunnel.push(kind, outer) {
        return None;
    }
    if id.is_some() {
        ctx.tunnel.id = id;
    }
    let bytes = match inner {
        Inner::Ethernet(f) => ethernet(ctx, f),
        Inner::EtherType(et, b) => ethertype(ctx, et, b),
    };
    Some(bytes.map_err(|_| ()))
}

/// Transport-layer fields of a packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct L4<'a> {
    pub sport: u16,
    pub dport: u16,
    pub transport: Transport,
    pub header_len: u32,
    pub payload_len: u32,
    pub payload: &'a [u8],
    /// TCP options as captured (empty otherwise).
    pub options: &'a [u8],
    /// TCP urgent pointer.
    pub urgent: u16,
    /// The transport header as captured.
    pub header: &'a [u8],
}

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Reads the transport header of `data` (captured bytes of an L4 message
/// whose length on the wire is `wire_len`).
pub(crate) fn transport<'a>(
    ctx: &mut Ctx,
    p: &Parsed<'_>,
    data: &'a [u8],
    wire_len: u32,
) -> Result<L4<'a>, Reason> {
    let rest = |hl: u32| -> (&'a [u8], u32) {
        let hl_us = (hl as usize).min(data.len());
        (&data[hl_us..], wire_len.saturating_sub(hl))
    };
    match p.proto {
        6 => {
            if data.len() < 14 || wire_len < 14 {
                return Err(Reason::TruncatedTransport);
            }
            let mut hl = u32::from(data[12] >> 4) * 4;
            if (data.len() as u32) < hl.max(20) {
                ctx.anomalies |= anomaly::TCP_HEADER; // cut short by the capture
            }
            if hl < 20 || hl > wire_len {
                ctx.anomalies |= anomaly::TCP_HEADER;
                hl = hl.clamp(20, wire_len.max(20)).min(wire_len);
            }
            let flags = data[13];
            if flags & 0x02 != 0 && flags & 0x05 != 0 {
                ctx.anomalies |= anomaly::TCP_FLAGS;
            }
            let window = if data.len() >= 16 { be16(data, 14) } else { 0 };
            let urgent = if data.len() >= 20 { be16(data, 18) } else { 0 };
            let options = data
                .get(20..(hl as usize).min(data.len()))
                .unwrap_or_default();
            let (payload, payload_len) = rest(hl);
            Ok(L4 {
                sport: be16(data, 0),
                dport: be16(data, 2),
                transport: Transport::Tcp(TcpInfo {
                    seq: be32(data, 4),
                    ack: be32(data, 8),
                    flags,
                    window,
                }),
                header_len: hl,
                payload_len,
                payload,
                options,
                urgent,
                header: &data[..(hl as usize).min(data.len())],
            })
        }
        17 => {
            if data.len() < 8 || wire_len < 8 {
                return Err(Reason::TruncatedTransport);
            }
            if u32::from(be16(data, 4)) != wire_len {
                ctx.anomalies |= anomaly::UDP_LENGTH;
            }
            let (payload, payload_len) = rest(8);
            Ok(L4 {
                sport: be16(data, 0),
                dport: be16(data, 2),
                transport: Transport::Udp,
                header_len: 8,
                payload_len,
                payload,
                options: &[],
                urgent: 0,
                header: &data[..8],
            })
        }
        1 | 58 => {
            if data.len() < 8 || wire_len < 8 {
                return Err(Reason::TruncatedIcmp);
            }
            let v6 = p.proto == 58;
            let (kind, code) = (data[0], data[1]);
            let echo_like = if v6 {
                matches!(kind, 128 | 129)
            } else {
                matches!(kind, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18)
            };
            let (payload, payload_len) = rest(8);
            Ok(L4 {
                sport: 0,
                dport: 0,
                transport: Transport::Icmp {
                    v6,
                    kind,
                    code,
                    echo_id: echo_like.then(|| be16(data, 4)),
                },
                header_len: 8,
                payload_len,
                payload,
                options: &[],
                urgent: 0,
                header: &data[..8],
            })
        }
        _ => Ok(L4 {
            sport: 0,
            dport: 0,
            transport: Transport::Other,
            header_len: 0,
            payload_len: wire_len,
            payload: data,
            options: &[],
            urgent: 0,
            header: &[],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_fragment_header_is_found_after_other_extensions() {
        // Hop-by-hop (8 bytes, next = fragment), fragment: offset 185*8, M=1, id 0x01020304.
        let exts = [44, 0, 1, 4, 0, 0, 0, 0, 17, 0, 0x05, 0xC9, 1, 2, 3, 4];
        assert_eq!(
            ipv6_fragment(0, &exts),
            Some(Frag {
                id: 0x0102_0304,
                offset: 185 * 8,
                more: true
            })
        );
        // An atomic fragment (offset 0, M=0) is not a fragment.
        assert_eq!(ipv6_fragment(44, &[17, 0, 0, 0, 1, 2, 3, 4]), None);
        // Lengths that overrun the bytes stop the walk.
        assert_eq!(ipv6_fragment(0, &[44, 200, 1, 4]), None);
    }

    /// Regression: fuzzing found etherparse's extension iterator reading past
    /// the end of this packet (its header lengths were not checked).
    #[test]
    fn r_fuzz_ipv6_extension_overread() {
        let crash: [u8; 51] = [
            0x6e, 0x6e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6e,
            0x6e, 0x66, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e,
            0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x34, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x2b,
        ];
        let mut ctx = Ctx::default();
        let _ = parse(&mut ctx, &crash, 0);
    }
}
