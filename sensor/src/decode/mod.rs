//! Packet decoding: link layers (Ethernet with 802.1Q/QinQ, MPLS, PPPoE,
//! Linux cooked v1 and v2, BSD loopback, raw IP), IPv4 and IPv6 with options
//! and extension headers (sliced by etherparse), tunnels (GRE, ERSPAN II/III,
//! VXLAN, Geneve, IP-in-IP), IP fragment reassembly, and TCP, UDP, ICMP and
//! ICMPv6 headers.
//!
//! Decoding never panics and never trusts a length field: a packet that
//! cannot be decoded yields [`Decoded::Error`] with a [`Reason`], counted by
//! layer; a packet that decodes with something odd carries anomaly bits
//! (`mekong_schema::anomaly`) into its flow.

pub mod defrag;
mod ip;
mod link;
mod tunnel;

use std::net::IpAddr;

use crate::capture::RawPacket;
use defrag::Defrag;

/// Encapsulations recognised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum TunnelKind {
    /// No tunnel.
    #[default]
    None = 0,
    /// GRE (RFC 2784/2890).
    Gre,
    /// ERSPAN type II or III inside GRE.
    Erspan,
    /// VXLAN (RFC 7348), UDP port 4789.
    Vxlan,
    /// Geneve (RFC 8926), UDP port 6081.
    Geneve,
    /// IPv4 or IPv6 directly inside IP (protocols 4 and 41).
    IpInIp,
}

impl TunnelKind {
    /// Name used in the `tunnel_type` column.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::None => "",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::IpInIp => "ipip",
        }
    }
}

/// Maximum nesting of tunnels followed.
pub const MAX_TUNNEL_DEPTH: usize = 4;

/// Encapsulation of a packet (outermost first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tunnel {
    /// Encapsulations, outermost first; `depth` of them are valid.
    pub kinds: [TunnelKind; MAX_TUNNEL_DEPTH],
    /// Number of encapsulations.
    pub depth: u8,
    /// Source of the outermost IP header.
    pub outer_src: Option<IpAddr>,
    /// Destination of the outermost IP header.
    pub outer_dst: Option<IpAddr>,
    /// Innermost identifier (VNI, GRE key, ERSPAN session).
    pub id: Option<u32>,
}

impl Tunnel {
    fn push(&mut self, kind: TunnelKind, outer: (IpAddr, IpAddr)) -> bool {
        let d = usize::from(self.depth);
        if d >= MAX_TUNNEL_DEPTH {
            return false;
        }
        if d == 0 {
            self.outer_src = Some(outer.0);
            self.outer_dst = Some(outer.1);
        }
        self.kinds[d] = kind;
        self.depth += 1;
        true
    }

    /// `gre+erspan+vxlan` style name; empty when not tunnelled.
    pub fn type_name(&self) -> String {
        self.kinds[..usize::from(self.depth)]
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// TCP header fields flow tracking uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag byte (CWR ECE URG ACK PSH RST SYN FIN).
    pub flags: u8,
    /// Window field (unscaled).
    pub window: u16,
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
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// Transport-layer summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP.
    Tcp(TcpInfo),
    /// UDP.
    Udp,
    /// ICMP (v4 when `v6` is false): type, code, and the identifier of echo-like messages.
    Icmp {
        /// ICMPv6 rather than ICMP.
        v6: bool,
        /// Message type.
        kind: u8,
        /// Message code.
        code: u8,
        /// Identifier of echo/timestamp/information messages.
        echo_id: Option<u16>,
    },
    /// Any other IP protocol.
    Other,
}

/// A decoded packet: everything flow tracking needs, the payload borrowed.
#[derive(Clone, Copy, Debug)]
pub struct PacketView<'a> {
    /// Capture time, ns since the epoch (of the last fragment for a reassembled datagram).
    pub ts_ns: u64,
    /// Time of the first fragment for a reassembled datagram, else `ts_ns`.
    pub first_ns: u64,
    /// Frame length on the wire (sum over fragments of a reassembled datagram).
    pub wire_len: u32,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Inner (QinQ) VLAN id.
    pub inner_vlan: Option<u16>,
    /// Encapsulation.
    pub tunnel: Tunnel,
    /// 4 or 6.
    pub ip_version: u8,
    /// Source address (inner packet).
    pub src: IpAddr,
    /// Destination address (inner packet).
    pub dst: IpAddr,
    /// IP protocol.
    pub proto: u8,
    /// Source port (0 without ports).
    pub sport: u16,
    /// Destination port (0 without ports).
    pub dport: u16,
    /// Transport summary.
    pub transport: Transport,
    /// IP bytes on the wire (sum over fragments).
    pub ip_len: u32,
    /// Transport header length.
    pub l4_header_len: u32,
    /// Transport payload length on the wire.
    pub payload_len: u32,
    /// Captured payload bytes (shorter than `payload_len` when truncated).
    pub payload: &'a [u8],
    /// TTL (IPv4) or hop limit (IPv6) of the (inner) packet.
    pub ttl: u8,
    /// IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    /// IPv4 type of service or IPv6 traffic class: DSCP (high six bits) and
    /// ECN (low two).
    pub tos: u8,
    /// TCP options as captured (empty for other protocols).
    pub tcp_options: &'a [u8],
    /// TCP urgent pointer (0 for other protocols).
    pub urgent: u16,
    /// The (inner) IP header as captured.
    pub ip_header: &'a [u8],
    /// The transport header as captured.
    pub l4_header: &'a [u8],
    /// IPv4 flag bits: 1 more fragments, 2 don't fragment, 4 reserved.
    pub ip_flags: u8,
    /// IPv4 fragment offset, 8-byte units.
    pub frag_offset: u16,
    /// Number of IP fragments the packet was reassembled from (0 if none).
    pub frags: u16,
    /// Anomaly bits (`mekong_schema::anomaly`).
    pub anomalies: u32,
}

/// Why a packet could not be decoded, by layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// Link type not supported.
    UnsupportedLinkType = 0,
    /// Link-layer header cut short.
    TruncatedLink,
    /// VLAN, MPLS or PPPoE header cut short.
    TruncatedShim,
    /// IP header cut short or invalid (version, header length).
    BadIpHeader,
    /// TCP or UDP header too short to hold the ports.
    TruncatedTransport,
    /// ICMP header cut short.
    TruncatedIcmp,
    /// A fragment could not be reassembled (cut short, or beyond 65,535 bytes).
    BadFragment,
    /// Fragments of a datagram timed out before it was complete.
    FragmentTimeout,
    /// The fragment pool was full; the oldest datagram was dropped.
    FragmentPoolFull,
}

impl Reason {
    /// Every reason, in counter order.
    pub const ALL: [Reason; 9] = [
        Reason::UnsupportedLinkType,
        Reason::TruncatedLink,
        Reason::TruncatedShim,
        Reason::BadIpHeader,
        Reason::TruncatedTransport,
        Reason::TruncatedIcmp,
        Reason::BadFragment,
        Reason::FragmentTimeout,
        Reason::FragmentPoolFull,
    ];

    /// (layer, reason) names for counters and the summary.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Reason::UnsupportedLinkType => ("link", "unsupported_link_type"),
            Reason::TruncatedLink => ("link", "truncated"),
            Reason::TruncatedShim => ("link", "truncated_vlan_mpls_pppoe"),
            Reason::BadIpHeader => ("network", "bad_ip_header"),
            Reason::TruncatedTransport => ("transport", "truncated_ports"),
            Reason::TruncatedIcmp => ("transport", "truncated_icmp"),
            Reason::BadFragment => ("fragment", "bad_fragment"),
            Reason::FragmentTimeout => ("fragment", "timeout"),
            Reason::FragmentPoolFull => ("fragment", "pool_full"),
        }
    }
}

/// The result of decoding one captured packet.
// The packet variant is large, and returned by value on purpose: boxing it
// would allocate once per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A packet for flow tracking.
    Packet(PacketView<'a>),
    /// A fragment kept until its datagram is complete.
    Pending,
    /// Not an IP packet (ARP, LLC, ...).
    NotIp,
    /// Could not be decoded.
    Error(Reason),
}

/// Counters of the decoder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Errors by reason (indexed like [`Reason::ALL`]).
    pub errors: [u64; 9],
    /// Non-IP frames.
    pub not_ip: u64,
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
}

impl DecodeStats {
    /// Adds another set of counters.
    pub fn add(&mut self, o: &DecodeStats) {
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        self.not_ip += o.not_ip;
        self.fragments += o.fragments;
        self.reassembled += o.reassembled;
    }

    /// Total decode errors.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Decoder state: the fragment pool and counters.
pub struct Decoder {
    defrag: Defrag,
    incomplete_head: Vec<u8>,
    /// Counters.
    pub stats: DecodeStats,
}

/// Limits of the fragment pool.
#[derive(Clone, Copy, Debug)]
pub struct DefragConfig {
    /// Datagrams in reassembly at once.
    pub max_datagrams: usize,
    /// Bytes buffered at once.
    pub max_bytes: usize,
    /// Time a datagram may wait for its fragments, ns.
    pub timeout_ns: u64,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_datagrams: 4096,
            max_bytes: 16 << 20,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// Per-packet context filled while peeling layers.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ctx {
    pub vlan: Option<u16>,
    pub inner_vlan: Option<u16>,
    pub tunnel: Tunnel,
    pub anomalies: u32,
}

impl Ctx {
    pub(crate) fn push_vlan(&mut self, id: u16) {
        if self.vlan.is_none() {
            self.vlan = Some(id);
        } else if self.inner_vlan.is_none() {
            self.inner_vlan = Some(id);
        }
    }
}

impl Decoder {
    /// A decoder with the given fragment limits.
    pub fn new(cfg: DefragConfig) -> Decoder {
        Decoder {
            defrag: Defrag::new(cfg),
            incomplete_head: Vec::new(),
            stats: DecodeStats::default(),
        }
    }

    fn fail<'a>(&mut self, r: Reason) -> Decoded<'a> {
        self.stats.errors[r as usize] += 1;
        Decoded::Error(r)
    }

    /// Decodes one packet. Fragments are held until their datagram is
    /// complete; the packet that completes it comes back reassembled.
    pub fn decode<'a>(&'a mut self, raw: &RawPacket<'a>) -> Decoded<'a> {
        self.defrag.expire(raw.ts_ns);
        self.sync_fragment_counters();
        let mut ctx = Ctx::default();
        if raw.data.len() < raw.orig_len as usize {
            ctx.anomalies |= mekong_schema::anomaly::TRUNCATED;
        }
        let ip_bytes = match link::ip_start(&mut ctx, raw.linktype, raw.data) {
            Ok(b) => b,
            Err(link::Stop::NotIp) => {
                self.stats.not_ip += 1;
                return Decoded::NotIp;
            }
            Err(link::Stop::Error(r)) => return self.fail(r),
        };
        let parsed = match ip::parse(&mut ctx, ip_bytes, 0) {
            Ok(p) => p,
            Err(link::Stop::NotIp) => {
                self.stats.not_ip += 1;
                return Decoded::NotIp;
            }
            Err(link::Stop::Error(r)) => return self.fail(r),
        };
        let wire = raw.orig_len;
        match parsed.fragment {
            None => match ip::transport(&mut ctx, &parsed, parsed.payload, parsed.payload_len) {
                Ok(t) => Decoded::Packet(view(raw.ts_ns, wire, &ctx, &parsed, t, 0)),
                Err(r) => self.fail(r),
            },
            Some(frag) => {
                self.stats.fragments += 1;
                if (parsed.payload.len() as u32) < parsed.payload_len {
                    // Cut short by the capture: never reassemblable. A first
                    // fragment still names its flow (the transport header is
                    // at its start), so it is counted there; later ones are not.
                    if frag.offset != 0 {
                        return self.fail(Reason::BadFragment);
                    }
                    return match ip::transport(
                        &mut ctx,
                        &parsed,
                        parsed.payload,
                        parsed.payload_len,
                    ) {
                        Ok(t) => Decoded::Packet(view(raw.ts_ns, wire, &ctx, &parsed, t, 1)),
                        Err(r) => self.fail(r),
                    };
                }
                let key = defrag::Key {
                    src: parsed.src,
                    dst: parsed.dst,
                    proto: parsed.proto,
                    id: frag.id,
                };
                let piece = defrag::Piece {
                    offset: frag.offset,
                    more: frag.more,
                    data: parsed.payload,
                    declared_len: parsed.payload_len,
                    wire_len: wire,
                    ip_len: parsed.ip_len,
                    anomalies: ctx.anomalies,
                    ctx,
                };
                let inserted = self.defrag.insert(key, piece, raw.ts_ns);
                self.sync_fragment_counters();
                match inserted {
                    Err(r) => {
                        self.stats.errors[r as usize] += 1;
                        Decoded::Error(r)
                    }
                    Ok(None) => Decoded::Pending,
                    Ok(Some(done)) => {
                        self.stats.reassembled += 1;
                        ctx.anomalies |= done.anomalies;
                        let whole = ip::Parsed {
                            ip_len: done.ip_len,
                            ..parsed
                        };
                        let data: &'a [u8] = self.defrag.output();
                        match ip::transport(&mut ctx, &whole, data, data.len() as u32) {
                            Ok(t) => {
                                let mut v =
                                    view(raw.ts_ns, done.wire_len, &ctx, &whole, t, done.frags);
                                v.first_ns = done.first_ns.min(raw.ts_ns);
                                Decoded::Packet(v)
                            }
                            Err(r) => {
                                self.stats.errors[r as usize] += 1;
                                Decoded::Error(r)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Datagrams waiting for fragments.
    pub fn pending_datagrams(&self) -> usize {
        self.defrag.len()
    }

    fn sync_fragment_counters(&mut self) {
        self.stats.errors[Reason::FragmentTimeout as usize] = self.defrag.timed_out;
        self.stats.errors[Reason::FragmentPoolFull as usize] = self.defrag.pool_full;
    }

    /// Gives up every datagram still waiting for fragments (end of input);
    /// [`Decoder::next_incomplete`] then returns them.
    pub fn finish_fragments(&mut self) {
        self.defrag.retire_all();
    }

    /// The fragments of a datagram given up before it was complete, as one
    /// packet for its flow: the flow its first fragment names (ports read
    /// from it), or, when the first fragment never came, the flow of the
    /// address pair and protocol without ports. Call after each
    /// [`Decoder::decode`] until it returns `None`.
    pub fn next_incomplete(&mut self) -> Option<PacketView<'_>> {
        let inc = self.defrag.next_incomplete()?;
        self.incomplete_head = inc.head;
        let head: &[u8] = &self.incomplete_head;
        let mut ctx = inc.ctx;
        let parsed = ip::Parsed {
            version: if inc.key.src.is_ipv4() { 4 } else { 6 },
            src: inc.key.src,
            dst: inc.key.dst,
            proto: inc.key.proto,
            ip_len: inc.ip,
            payload: head,
            payload_len: inc.received,
            fragment: None,
            ttl: 0,
            id: 0,
            tos: 0,
            header: &[],
            flags: 0,
            frag_offset: 0,
        };
        let l4 = if head.is_empty() {
            None
        } else {
            ip::transport(&mut ctx, &parsed, head, inc.received).ok()
        };
        let l4 = l4.unwrap_or(ip::L4 {
            sport: 0,
            dport: 0,
            transport: Transport::Other,
            header_len: 0,
            payload_len: inc.received,
            payload: &[],
            options: &[],
            urgent: 0,
            header: &[],
        });
        // The UDP length names the whole datagram, not what arrived.
        ctx.anomalies &= !mekong_schema::anomaly::UDP_LENGTH;
        ctx.anomalies |= inc.anomalies | mekong_schema::anomaly::FRAGMENT_INCOMPLETE;
        let mut v = view(inc.last_ns, inc.wire, &ctx, &parsed, l4, inc.frags);
        v.first_ns = inc.first_ns;
        Some(v)
    }
}

fn view<'a>(
    ts_ns: u64,
    wire: u32,
    ctx: &Ctx,
    p: &ip::Parsed<'a>,
    t: ip::L4<'a>,
    frags: u16,
) -> PacketView<'a> {
    PacketView {
        ts_ns,
        first_ns: ts_ns,
        wire_len: wire,
        vlan: ctx.vlan,
        inner_vlan: ctx.inner_vlan,
        tunnel: ctx.tunnel,
        ip_version: p.version,
        src: p.src,
        dst: p.dst,
        proto: p.proto,
        sport: t.sport,
        dport: t.dport,
        transport: t.transport,
        ip_len: p.ip_len,
        l4_header_len: t.header_len,
        payload_len: t.payload_len,
        payload: t.payload,
        ttl: p.ttl,
        ip_id: p.id,
        tos: p.tos,
        tcp_options: t.options,
        urgent: t.urgent,
        ip_header: p.header,
        l4_header: t.header,
        ip_flags: p.flags,
        frag_offset: p.frag_offset,
        frags,
        anomalies: ctx.anomalies,
    }
}

/// Decodes a packet that needs no reassembly, without a decoder (tests,
/// dispatch by address pair).
pub fn decode_stateless<'a>(raw: &RawPacket<'a>) -> Option<PacketView<'a>> {
    let mut ctx = Ctx::default();
    let ip_bytes = link::ip_start(&mut ctx, raw.linktype, raw.data).ok()?;
    let parsed = ip::parse(&mut ctx, ip_bytes, 0).ok()?;
    if parsed.fragment.is_some() {
        return None;
    }
    let t = ip::transport(&mut ctx, &parsed, parsed.payload, parsed.payload_len).ok()?;
    Some(view(raw.ts_ns, raw.orig_len, &ctx, &parsed, t, 0))
}

/// An ARP message over IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    /// A reply (else a request).
    pub reply: bool,
    /// Sender protocol address.
    pub sender: std::net::Ipv4Addr,
    /// Target protocol address.
    pub target: std::net::Ipv4Addr,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
}

/// The ARP message in a frame that is not IP (Ethernet with VLAN tags,
/// Linux cooked captures), if it holds one.
pub fn arp(raw: &RawPacket<'_>) -> Option<Arp> {
    use crate::capture::linktype as lt;
    let b = raw.data;
    let be16 = |b: &[u8], o: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(o)?, *b.get(o + 1)?]))
    };
    let (mut et, mut rest) = match raw.linktype {
        lt::ETHERNET => (be16(b, 12)?, b.get(14..)?),
        lt::LINUX_SLL => (be16(b, 14)?, b.get(16..)?),
        lt::LINUX_SLL2 => (be16(b, 0)?, b.get(20..)?),
        _ => return None,
    };
    let mut vlan = None;
    while matches!(et, 0x8100 | 0x88A8 | 0x9100) {
        vlan.get_or_insert(be16(rest, 0)? & 0x0fff);
        et = be16(rest, 2)?;
        rest = rest.get(4..)?;
    }
    if et != 0x0806 || rest.len() < 28 {
        return None;
    }
    // Ethernet hardware, IPv4 protocol, address lengths 6 and 4.
    if be16(rest, 0)? != 1 || be16(rest, 2)? != 0x0800 || rest[4] != 6 || rest[5] != 4 {
        return None;
    }
    let op = be16(rest, 6)?;
    if op != 1 && op != 2 {
        return None;
    }
    let ip = |o: usize| std::net::Ipv4Addr::new(rest[o], rest[o + 1], rest[o + 2], rest[o + 3]);
    Some(Arp {
        reply: op == 2,
        sender: ip(14),
        target: ip(24),
        vlan,
    })
}

/// The inner address pair of a packet, fragments included (for dispatching
/// packets to workers so that both directions and all fragments of a
/// datagram meet).
pub fn address_pair(raw: &RawPacket<'_>) -> Option<(IpAddr, IpAddr, Option<u16>)> {
    let mut ctx = Ctx::default();
    let ip_bytes = link::ip_start(&mut ctx, raw.linktype, raw.data).ok()?;
    let parsed = ip::parse(&mut ctx, ip_bytes, 0).ok()?;
    Some((parsed.src, parsed.dst, ctx.vlan))
}
