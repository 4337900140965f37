//! Hand-built frames (etherparse builders and explicit bytes) for tests.

use etherparse::{IpNumber, Ipv4Header, PacketBuilder};

/// MAC of the test client.
pub const MAC_C: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// MAC of the test server.
pub const MAC_S: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// TCP flags for [`tcp4`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK (with this acknowledgement number).
    pub ack: Option<u32>,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
    /// URG (with this pointer).
    pub urg: Option<u16>,
}

/// `SYN`.
pub fn syn() -> Flags {
    Flags {
        syn: true,
        ..Flags::default()
    }
}
/// `SYN-ACK`.
pub fn syn_ack(ack: u32) -> Flags {
    Flags {
        syn: true,
        ack: Some(ack),
        ..Flags::default()
    }
}
/// `ACK`.
pub fn ack(ack: u32) -> Flags {
    Flags {
        ack: Some(ack),
        ..Flags::default()
    }
}
/// `PSH-ACK`.
pub fn psh_ack(ack: u32) -> Flags {
    Flags {
        ack: Some(ack),
        psh: true,
        ..Flags::default()
    }
}
/// `FIN-ACK`.
pub fn fin_ack(ack: u32) -> Flags {
    Flags {
        ack: Some(ack),
        fin: true,
        ..Flags::default()
    }
}
/// `RST-ACK`.
pub fn rst_ack(ack: u32) -> Flags {
    Flags {
        ack: Some(ack),
        rst: true,
        ..Flags::default()
    }
}

/// An Ethernet/IPv4/TCP frame (20-byte TCP header, no padding).
#[allow(clippy::too_many_arguments)]
pub fn tcp4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    window: u16,
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(MAC_C, MAC_S)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, window);
    if f.syn {
        b = b.syn();
    }
    if let Some(a) = f.ack {
        b = b.ack(a);
    }
    if f.fin {
        b = b.fin();
    }
    if f.rst {
        b = b.rst();
    }
    if f.psh {
        b = b.psh();
    }
    if let Some(u) = f.urg {
        b = b.urg(u);
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("build tcp4");
    v
}

/// An Ethernet/IPv4/UDP frame.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(MAC_C, MAC_S)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .expect("build udp4");
    v
}

/// An 802.1Q-tagged (or QinQ when `inner` is given) Ethernet/IPv4/UDP frame.
pub fn udp4_vlan(
    vlan: u16,
    inner: Option<u16>,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let plain = udp4(src, dst, sport, dport, payload);
    let mut v = plain[..12].to_vec();
    let (outer_tpid, tags): (u16, Vec<u16>) = match inner {
        Some(i) => (0x88a8, vec![vlan, i]),
        None => (0x8100, vec![vlan]),
    };
    for (k, t) in tags.iter().enumerate() {
        v.extend(if k == 0 { outer_tpid } else { 0x8100 }.to_be_bytes());
        v.extend(t.to_be_bytes());
    }
    v.extend_from_slice(&plain[12..]);
    v
}

/// An ICMP echo request (`reply` = false) or reply over Ethernet/IPv4.
pub fn icmp4_echo(
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    seq: u16,
    reply: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ethernet2(MAC_C, MAC_S).ipv4(src, dst, 64);
    if reply {
        b.icmpv4_echo_reply(id, seq)
            .write(&mut v, payload)
            .expect("icmp");
    } else {
        b.icmpv4_echo_request(id, seq)
            .write(&mut v, payload)
            .expect("icmp");
    }
    v
}

fn csum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A UDP datagram (header and payload, checksum over the IPv4 pseudo-header).
pub fn udp_bytes4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::new();
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(len.to_be_bytes());
    u.extend([0, 0]);
    u.extend_from_slice(payload);
    let mut ph = Vec::new();
    ph.extend(src);
    ph.extend(dst);
    ph.extend([0, 17]);
    ph.extend(len.to_be_bytes());
    let mut pre = 0u32;
    for c in ph.chunks(2) {
        pre += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    let c = csum(&u, pre);
    u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    u
}

/// The IPv4 fragments (Ethernet frames) of an L4 message, split at
/// `chunk` bytes (a multiple of 8).
pub fn ipv4_fragments(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    l4: &[u8],
    chunk: usize,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < l4.len() {
        let end = (off + chunk).min(l4.len());
        let mut h =
            Ipv4Header::new((end - off) as u16, 64, IpNumber(proto), src, dst).expect("header");
        h.identification = id;
        h.more_fragments = end < l4.len();
        h.fragment_offset = etherparse::IpFragOffset::try_new((off / 8) as u16).expect("offset");
        h.header_checksum = h.calc_header_checksum();
        let mut f = MAC_C.to_vec();
        f.extend(MAC_S);
        f.extend([0x08, 0x00]);
        h.write(&mut f).expect("write header");
        f.extend_from_slice(&l4[off..end]);
        out.push(f);
        off = end;
    }
    out
}

/// Wraps an Ethernet frame in VXLAN (UDP 4789) over IPv4 between two tunnel endpoints.
pub fn vxlan(outer_src: [u8; 4], outer_dst: [u8; 4], vni: u32, inner_frame: &[u8]) -> Vec<u8> {
    let mut payload = vec![0x08, 0, 0, 0];
    payload.extend(&vni.to_be_bytes()[1..]);
    payload.push(0);
    payload.extend_from_slice(inner_frame);
    udp4(outer_src, outer_dst, 49_152, 4789, &payload)
}

/// Wraps an IPv4 packet (the frame minus its Ethernet header) in GRE with a key.
pub fn gre_ipv4(outer_src: [u8; 4], outer_dst: [u8; 4], key: u32, inner_frame: &[u8]) -> Vec<u8> {
    let inner_ip = &inner_frame[14..];
    let mut g = vec![0x20, 0x00, 0x08, 0x00];
    g.extend(key.to_be_bytes());
    g.extend_from_slice(inner_ip);
    let mut h =
        Ipv4Header::new(g.len() as u16, 64, IpNumber(47), outer_src, outer_dst).expect("header");
    h.header_checksum = h.calc_header_checksum();
    let mut f = MAC_C.to_vec();
    f.extend(MAC_S);
    f.extend([0x08, 0x00]);
    h.write(&mut f).expect("write");
    f.extend(g);
    f
}

/// An Ethernet/IPv6/TCP frame with a hop-by-hop and a destination-options
/// extension header (8 bytes each) before TCP.
pub fn tcp6_with_extensions(
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    seq: u32,
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    // Build TCP with etherparse over plain IPv6, then splice the extensions in.
    let mut b = PacketBuilder::ethernet2(MAC_C, MAC_S)
        .ipv6(src, dst, 64)
        .tcp(sport, dport, seq, 1000);
    if f.syn {
        b = b.syn();
    }
    if let Some(a) = f.ack {
        b = b.ack(a);
    }
    if f.fin {
        b = b.fin();
    }
    if f.psh {
        b = b.psh();
    }
    let mut plain = Vec::new();
    b.write(&mut plain, payload).expect("build tcp6");
    let tcp = plain[14 + 40..].to_vec();
    let mut ip = plain[14..14 + 40].to_vec();
    let plen = (tcp.len() + 16) as u16;
    ip[4..6].copy_from_slice(&plen.to_be_bytes());
    ip[6] = 0; // next header: hop-by-hop
    let hbh = [60u8, 0, 1, 4, 0, 0, 0, 0]; // next: destination options; PadN
    let dst_opts = [6u8, 0, 1, 4, 0, 0, 0, 0]; // next: TCP
    let mut frame = plain[..14].to_vec();
    frame.extend(ip);
    frame.extend(hbh);
    frame.extend(dst_opts);
    frame.extend(tcp);
    frame
}
