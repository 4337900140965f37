//! Packet construction: Ethernet (optionally 802.1Q-tagged), IPv4 and IPv6,
//! TCP, UDP, ICMP and ICMPv6, with correct lengths and checksums, and IPv4
//! fragmentation.
//!
//! Builders write whole frames into fresh vectors; the generator is not a hot
//! path of the sensor, and clarity matters more here than zero-copy.

mod checksum;

pub use checksum::internet_checksum;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// Minimum Ethernet frame length without the FCS; shorter frames are padded,
/// as they are on the wire and therefore on a SPAN port.
pub const MIN_FRAME: usize = 60;

/// IP protocol numbers used by the generator.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Layer-2 framing of one direction of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Source MAC.
    pub src: Mac,
    /// Destination MAC.
    pub dst: Mac,
    /// 802.1Q VLAN id, when the frame is tagged.
    pub vlan: Option<u16>,
}

impl Link {
    /// The same link seen in the other direction.
    pub fn reversed(self) -> Link {
        Link {
            src: self.dst,
            dst: self.src,
            vlan: self.vlan,
        }
    }
}

/// Source and destination addresses of one IP packet (both of one family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpPair {
    /// IPv4.
    V4 {
        /// Source.
        src: Ipv4Addr,
        /// Destination.
        dst: Ipv4Addr,
    },
    /// IPv6.
    V6 {
        /// Source.
        src: Ipv6Addr,
        /// Destination.
        dst: Ipv6Addr,
    },
}

impl IpPair {
    /// Pairs two addresses; `None` when their families differ.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<IpPair> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(IpPair::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(IpPair::V6 { src, dst }),
            _ => None,
        }
    }

    /// The same pair in the other direction.
    pub fn reversed(self) -> IpPair {
        match self {
            IpPair::V4 { src, dst } => IpPair::V4 { src: dst, dst: src },
            IpPair::V6 { src, dst } => IpPair::V6 { src: dst, dst: src },
        }
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        match self {
            IpPair::V4 { src, .. } => IpAddr::V4(*src),
            IpPair::V6 { src, .. } => IpAddr::V6(*src),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        match self {
            IpPair::V4 { dst, .. } => IpAddr::V4(*dst),
            IpPair::V6 { dst, .. } => IpAddr::V6(*dst),
        }
    }

    /// Size of the IP header this pair produces (no options or extensions).
    pub fn header_len(&self) -> usize {
        match self {
            IpPair::V4 { .. } => 20,
            IpPair::V6 { .. } => 40,
        }
    }

    /// Checksum accumulator over the TCP/UDP pseudo-header.
    fn pseudo_header_sum(&self, proto: u8, len: usize) -> u32 {
        let mut sum = 0u32;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
        };
        match self {
            IpPair::V4 { src, dst } => {
                add(&src.octets());
                add(&dst.octets());
                add(&[0, proto]);
                add(&(len as u16).to_be_bytes());
            }
            IpPair::V6 { src, dst } => {
                add(&src.octets());
                add(&dst.octets());
                add(&(len as u32).to_be_bytes());
                add(&[0, 0, 0, proto]);
            }
        }
        sum
    }
}

/// Per-packet IP header fields that are not addresses.
#[derive(Clone, Copy, Debug)]
pub struct IpFields {
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4 identification (ignored for IPv6).
    pub id: u16,
    /// Set the IPv4 don't-fragment bit.
    pub dont_fragment: bool,
    /// DSCP/ECN byte (IPv4 TOS, IPv6 traffic class).
    pub tos: u8,
}

impl Default for IpFields {
    fn default() -> Self {
        IpFields {
            ttl: 64,
            id: 0,
            dont_fragment: true,
            tos: 0,
        }
    }
}

/// A TCP header before serialisation.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpHeader<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful with ACK).
    pub ack: u32,
    /// Flag bits, see [`tcp_flags`].
    pub flags: u8,
    /// Advertised window (unscaled field value).
    pub window: u16,
    /// Options, already padded to a multiple of four bytes.
    pub options: &'a [u8],
}

fn finish_checksum(sum: u32, data: &[u8]) -> u16 {
    internet_checksum(data, sum)
}

/// Serialises a TCP segment (header and payload) with its checksum.
pub fn tcp_segment(ip: &IpPair, h: &TcpHeader<'_>, payload: &[u8]) -> Vec<u8> {
    debug_assert!(h.options.len().is_multiple_of(4) && h.options.len() <= 40);
    let hlen = 20 + h.options.len();
    let mut s = Vec::with_capacity(hlen + payload.len());
    s.extend_from_slice(&h.sport.to_be_bytes());
    s.extend_from_slice(&h.dport.to_be_bytes());
    s.extend_from_slice(&h.seq.to_be_bytes());
    let ack = if h.flags & tcp_flags::ACK != 0 {
        h.ack
    } else {
        0
    };
    s.extend_from_slice(&ack.to_be_bytes());
    s.push(((hlen / 4) as u8) << 4);
    s.push(h.flags);
    s.extend_from_slice(&h.window.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    s.extend_from_slice(h.options);
    s.extend_from_slice(payload);
    let c = finish_checksum(ip.pseudo_header_sum(proto::TCP, s.len()), &s);
    s[16..18].copy_from_slice(&c.to_be_bytes());
    s
}

/// Serialises a UDP datagram with its checksum.
pub fn udp_datagram(ip: &IpPair, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut s = Vec::with_capacity(len);
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&(len as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    let mut c = finish_checksum(ip.pseudo_header_sum(proto::UDP, len), &s);
    if c == 0 {
        c = 0xffff; // zero means "no checksum" in UDP
    }
    s[6..8].copy_from_slice(&c.to_be_bytes());
    s
}

/// Serialises an ICMP (IPv4) message: type, code, the four bytes after the
/// checksum (identifier and sequence for echo), and the body.
pub fn icmp4_message(kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(8 + body.len());
    s.extend_from_slice(&[kind, code, 0, 0]);
    s.extend_from_slice(&rest);
    s.extend_from_slice(body);
    let c = finish_checksum(0, &s);
    s[2..4].copy_from_slice(&c.to_be_bytes());
    s
}

/// Serialises an ICMPv6 message (checksum over the IPv6 pseudo-header).
pub fn icmp6_message(ip: &IpPair, kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(8 + body.len());
    s.extend_from_slice(&[kind, code, 0, 0]);
    s.extend_from_slice(&rest);
    s.extend_from_slice(body);
    let c = finish_checksum(ip.pseudo_header_sum(proto::ICMPV6, s.len()), &s);
    s[2..4].copy_from_slice(&c.to_be_bytes());
    s
}

fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    f: &IpFields,
    proto: u8,
    payload_len: usize,
    flags_frag: u16,
) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[1] = f.tos;
    h[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&f.id.to_be_bytes());
    h[6..8].copy_from_slice(&flags_frag.to_be_bytes());
    h[8] = f.ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = internet_checksum(&h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// Serialises an IP packet around an already-built L4 message.
pub fn ip_packet(ip: &IpPair, f: &IpFields, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(ip.header_len() + l4.len());
    match ip {
        IpPair::V4 { src, dst } => {
            let ff = if f.dont_fragment { 0x4000 } else { 0 };
            p.extend_from_slice(&ipv4_header(*src, *dst, f, proto, l4.len(), ff));
        }
        IpPair::V6 { src, dst } => {
            let vtc = 0x6000_0000u32 | (u32::from(f.tos) << 20) | (u32::from(f.id) & 0xfffff);
            p.extend_from_slice(&vtc.to_be_bytes());
            p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            p.push(proto);
            p.push(f.ttl);
            p.extend_from_slice(&src.octets());
            p.extend_from_slice(&dst.octets());
        }
    }
    p.extend_from_slice(l4);
    p
}

/// Wraps an IP packet in an Ethernet frame (802.1Q-tagged when the link has a
/// VLAN), padded to the Ethernet minimum.
pub fn frame(link: &Link, ip_packet: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + ip_packet.len().max(46));
    f.extend_from_slice(&link.dst);
    f.extend_from_slice(&link.src);
    if let Some(vid) = link.vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    let ethertype: u16 = if ip_packet.first().map(|b| b >> 4) == Some(6) {
        0x86DD
    } else {
        0x0800
    };
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip_packet);
    if f.len() < MIN_FRAME {
        f.resize(MIN_FRAME, 0);
    }
    f
}

/// Offset of the IP header in an Ethernet frame built by [`frame`] (after an
/// optional 802.1Q tag).
pub fn ip_offset(frame: &[u8]) -> usize {
    if frame.len() >= 14 && frame[12..14] == [0x81, 0x00] {
        18
    } else {
        14
    }
}

/// Builds one complete frame: link, IP and an L4 message.
pub fn packet(link: &Link, ip: &IpPair, f: &IpFields, proto: u8, l4: &[u8]) -> Vec<u8> {
    frame(link, &ip_packet(ip, f, proto, l4))
}

/// Splits an IPv4 L4 message into fragments of at most `mtu` bytes of IP
/// packet each; every fragment is framed on `link`. Fragments come back in
/// wire order (first fragment first).
pub fn ipv4_fragments(
    link: &Link,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    f: &IpFields,
    proto: u8,
    l4: &[u8],
    mtu: usize,
) -> Vec<Vec<u8>> {
    let max_data = ((mtu.max(28) - 20) / 8) * 8;
    let mut out = Vec::new();
    let mut offset = 0usize;
    while offset < l4.len() || (offset == 0 && l4.is_empty()) {
        let end = (offset + max_data).min(l4.len());
        let more = end < l4.len();
        let ff = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
        let mut p = Vec::with_capacity(20 + end - offset);
        p.extend_from_slice(&ipv4_header(src, dst, f, proto, end - offset, ff));
        p.extend_from_slice(&l4[offset..end]);
        out.push(frame(link, &p));
        if !more {
            break;
        }
        offset = end;
    }
    out
}

/// Splits an IPv6 L4 message into fragments (Fragment extension header,
/// RFC 8200 section 4.5) of at most `mtu` bytes of IP packet each.
#[allow(clippy::too_many_arguments)] // one per header field; a struct would only rename them
pub fn ipv6_fragments(
    link: &Link,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    ident: u32,
    proto: u8,
    l4: &[u8],
    mtu: usize,
) -> Vec<Vec<u8>> {
    let max_data = ((mtu.max(1280) - 48) / 8) * 8;
    let mut out = Vec::new();
    let mut offset = 0usize;
    loop {
        let end = (offset + max_data).min(l4.len());
        let more = end < l4.len();
        let mut p = Vec::with_capacity(48 + end - offset);
        p.extend_from_slice(&0x6000_0000u32.to_be_bytes());
        p.extend_from_slice(&((8 + end - offset) as u16).to_be_bytes());
        p.push(44); // Fragment header
        p.push(hop_limit);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.push(proto);
        p.push(0);
        p.extend_from_slice(&(((offset / 8) as u16) << 3 | u16::from(more)).to_be_bytes());
        p.extend_from_slice(&ident.to_be_bytes());
        p.extend_from_slice(&l4[offset..end]);
        out.push(frame(link, &p));
        if !more {
            break;
        }
        offset = end;
    }
    out
}

/// TCP options of a SYN or SYN-ACK: MSS, SACK permitted, window scale.
pub fn syn_options(mss: u16, wscale: u8) -> [u8; 12] {
    let m = mss.to_be_bytes();
    [2, 4, m[0], m[1], 1, 3, 3, wscale, 1, 1, 4, 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> IpPair {
        IpPair::V4 {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
        }
    }

    #[test]
    fn tcp_checksum_verifies_to_zero() {
        let ip = v4();
        let opts = syn_options(1460, 7);
        let h = TcpHeader {
            sport: 40000,
            dport: 80,
            seq: 1,
            ack: 0,
            flags: tcp_flags::SYN,
            window: 64240,
            options: &opts,
        };
        let seg = tcp_segment(&ip, &h, b"");
        // Summing a segment with its checksum over the pseudo-header gives 0.
        assert_eq!(
            internet_checksum(&seg, ip.pseudo_header_sum(proto::TCP, seg.len())),
            0
        );
        assert_eq!(seg[12] >> 4, 8); // 32-byte header
    }

    #[test]
    fn ipv4_header_checksum_verifies() {
        let p = ip_packet(&v4(), &IpFields::default(), proto::UDP, &[0u8; 8]);
        assert_eq!(internet_checksum(&p[..20], 0), 0);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 28);
    }

    #[test]
    fn short_frames_are_padded_and_vlan_tagged() {
        let link = Link {
            src: [2, 0, 0, 0, 0, 1],
            dst: [2, 0, 0, 0, 0, 2],
            vlan: Some(40),
        };
        let f = frame(&link, &ip_packet(&v4(), &IpFields::default(), 17, &[0; 8]));
        assert_eq!(f.len(), MIN_FRAME);
        assert_eq!(&f[12..16], &[0x81, 0x00, 0x00, 40]);
        assert_eq!(&f[16..18], &[0x08, 0x00]);
    }

    #[test]
    fn fragments_cover_the_payload_in_eight_byte_units() {
        let link = Link {
            src: [0; 6],
            dst: [0; 6],
            vlan: None,
        };
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let frags = ipv4_fragments(
            &link,
            Ipv4Addr::new(1, 1, 1, 1),
            Ipv4Addr::new(2, 2, 2, 2),
            &IpFields {
                dont_fragment: false,
                ..IpFields::default()
            },
            17,
            &data,
            1500,
        );
        assert_eq!(frags.len(), 3);
        let mut rebuilt = Vec::new();
        for (i, fr) in frags.iter().enumerate() {
            let ip = &fr[14..];
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            let ff = u16::from_be_bytes([ip[6], ip[7]]);
            assert_eq!((ff & 0x1fff) as usize * 8, rebuilt.len());
            assert_eq!(ff & 0x2000 != 0, i < 2);
            rebuilt.extend_from_slice(&ip[20..total]);
        }
        assert_eq!(rebuilt, data);
    }
}
