//! Conversation builders shared by the background traffic and the attack
//! scenarios: UDP and ICMP exchanges, DNS lookups, HTTP, HTTPS, SSH and SMB
//! sessions.

use std::net::IpAddr;

use crate::net::{link, Host};
use crate::proto::{dns, http, smb, ssh, tls, x509};
use crate::rng::Rng;
use crate::tcp::{Msg, Part, TcpConfig, TcpFlow};
use crate::wire::{self, proto, IpFields, IpPair};

/// Milliseconds to nanoseconds.
pub const MS: u64 = 1_000_000;
/// Seconds to nanoseconds.
pub const SEC: u64 = 1_000_000_000;

/// A frame with its capture time.
pub type Timed = (u64, Vec<u8>);

/// An ephemeral source port as the host's operating system picks it.
pub fn ephemeral_port(rng: &mut Rng, host: &Host) -> u16 {
    if host.ttl > 64 {
        rng.range(49_152, 65_535) as u16
    } else {
        rng.range(32_768, 60_999) as u16
    }
}

/// Round trip from the sensor to a host and back.
pub fn rtt_of(host: &Host, rng: &mut Rng, external_rtt_ns: u64) -> u64 {
    if host.internal {
        rng.range(150_000, 900_000)
    } else {
        external_rtt_ns
    }
}

/// The frames of one UDP datagram; IPv4 datagrams larger than the 1500-byte
/// MTU are fragmented, IPv6 ones get a Fragment header.
pub fn udp_frames(
    rng: &mut Rng,
    from: &Host,
    to: &Host,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<Vec<u8>> {
    let Some(ip) = IpPair::new(from.ip, to.ip) else {
        return Vec::new();
    };
    let l4 = wire::udp_datagram(&ip, sport, dport, payload);
    let l = link(from, to);
    let fields = IpFields {
        ttl: from.ttl,
        id: rng.next_u32() as u16,
        dont_fragment: false,
        tos: 0,
    };
    match ip {
        IpPair::V4 { src, dst } if l4.len() + 20 > 1500 => {
            wire::ipv4_fragments(&l, src, dst, &fields, proto::UDP, &l4, 1500)
        }
        IpPair::V6 { src, dst } if l4.len() + 40 > 1500 => wire::ipv6_fragments(
            &l,
            src,
            dst,
            from.ttl,
            rng.next_u32(),
            proto::UDP,
            &l4,
            1500,
        ),
        _ => vec![wire::packet(&l, &ip, &fields, proto::UDP, &l4)],
    }
}

/// The frames of an ICMP or ICMPv6 echo request (or reply).
pub fn echo_frames(
    rng: &mut Rng,
    from: &Host,
    to: &Host,
    ident: u16,
    seq: u16,
    body: &[u8],
    reply: bool,
) -> Vec<Vec<u8>> {
    let Some(ip) = IpPair::new(from.ip, to.ip) else {
        return Vec::new();
    };
    let mut rest = [0u8; 4];
    rest[..2].copy_from_slice(&ident.to_be_bytes());
    rest[2..].copy_from_slice(&seq.to_be_bytes());
    let l = link(from, to);
    let fields = IpFields {
        ttl: from.ttl,
        id: rng.next_u32() as u16,
        dont_fragment: false,
        tos: 0,
    };
    match ip {
        IpPair::V4 { src, dst } => {
            let msg = wire::icmp4_message(if reply { 0 } else { 8 }, 0, rest, body);
            if msg.len() + 20 > 1500 {
                wire::ipv4_fragments(&l, src, dst, &fields, proto::ICMP, &msg, 1500)
            } else {
                vec![wire::packet(&l, &ip, &fields, proto::ICMP, &msg)]
            }
        }
        IpPair::V6 { .. } => {
            let msg = wire::icmp6_message(&ip, if reply { 129 } else { 128 }, 0, rest, body);
            vec![wire::packet(&l, &ip, &fields, proto::ICMPV6, &msg)]
        }
    }
}

/// One hand-made TCP segment (scanners, floods and their answers).
#[allow(clippy::too_many_arguments)]
pub fn raw_tcp(
    rng: &mut Rng,
    from: &Host,
    to: &Host,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    opts: &[u8],
) -> Vec<u8> {
    let Some(ip) = IpPair::new(from.ip, to.ip) else {
        return Vec::new();
    };
    let h = wire::TcpHeader {
        sport,
        dport,
        seq,
        ack,
        flags,
        window,
        options: opts,
    };
    let seg = wire::tcp_segment(&ip, &h, &[]);
    let fields = IpFields {
        ttl: from.ttl,
        id: rng.next_u32() as u16,
        dont_fragment: from.internal,
        tos: 0,
    };
    wire::packet(&link(from, to), &ip, &fields, proto::TCP, &seg)
}

/// The addresses of a block (without network and broadcast addresses for /24 and larger).
pub fn block_hosts(c: &crate::labels::Cidr) -> Vec<IpAddr> {
    let IpAddr::V4(base) = c.addr else {
        return Vec::new();
    };
    let size = 1u64 << (32 - u32::from(c.prefix.min(32)));
    let start = u32::from(base) & !((size - 1) as u32);
    let (lo, hi) = if size >= 4 { (1, size - 1) } else { (0, size) };
    (lo..hi)
        .map(|i| IpAddr::V4(std::net::Ipv4Addr::from(start + i as u32)))
        .collect()
}

/// An ICMP destination-unreachable (port unreachable) from `from` quoting the
/// first bytes of an offending IPv4 packet (`quoted` starts at its IP header).
pub fn port_unreachable(rng: &mut Rng, from: &Host, to: &Host, quoted: &[u8]) -> Vec<u8> {
    let ip = IpPair::new(from.ip, to.ip).unwrap_or(IpPair::V4 {
        src: std::net::Ipv4Addr::UNSPECIFIED,
        dst: std::net::Ipv4Addr::UNSPECIFIED,
    });
    let n = quoted.len().min(28);
    let msg = wire::icmp4_message(3, 3, [0; 4], &quoted[..n]);
    let fields = IpFields {
        ttl: from.ttl,
        id: rng.next_u32() as u16,
        dont_fragment: false,
        tos: 0xc0,
    };
    wire::packet(&link(from, to), &ip, &fields, proto::ICMP, &msg)
}

/// A ping: `count` echo requests one second apart and their replies.
pub fn ping(
    rng: &mut Rng,
    from: &Host,
    to: &Host,
    t: u64,
    count: u16,
    size: usize,
    rtt_ns: u64,
) -> Vec<Timed> {
    let ident = rng.next_u32() as u16;
    let body: Vec<u8> = if from.ttl > 64 {
        b"abcdefghijklmnopqrstuvwabcdefghi"
            .iter()
            .copied()
            .cycle()
            .take(size)
            .collect()
    } else {
        (0..size).map(|i| (i % 256) as u8).collect()
    };
    let mut out = Vec::new();
    for s in 0..count {
        let ts = t + u64::from(s) * SEC;
        for f in echo_frames(rng, from, to, ident, s + 1, &body, false) {
            out.push((ts, f));
        }
        for f in echo_frames(rng, to, from, ident, s + 1, &body, true) {
            out.push((ts + rtt_ns, f));
        }
    }
    out
}

/// A DNS lookup from `client` through `resolver`; when `upstream` is given
/// the resolver recurses to it first (cache miss). Returns the frames and the
/// time the answer reaches the client.
#[allow(clippy::too_many_arguments)]
pub fn dns_lookup(
    rng: &mut Rng,
    client: &Host,
    resolver: &Host,
    upstream: Option<(&Host, u64)>,
    t: u64,
    query: &dns::Message,
    answer: &dns::Message,
) -> (Vec<Timed>, u64) {
    let mut out = Vec::new();
    let sport = ephemeral_port(rng, client);
    let q = query.to_bytes();
    for f in udp_frames(rng, client, resolver, sport, 53, &q) {
        out.push((t, f));
    }
    let mut t_answer = t + rng.range(80_000, 400_000);
    if let Some((up, rtt)) = upstream {
        let t_up = t + rng.range(50_000, 150_000);
        let up_port = rng.range(1024, 65_535) as u16;
        let mut uq = query.clone();
        uq.id = rng.next_u32() as u16;
        uq.edns = Some(1232);
        let mut ua = answer.clone();
        ua.id = uq.id;
        ua.edns = Some(1232);
        for f in udp_frames(rng, resolver, up, up_port, 53, &uq.to_bytes()) {
            out.push((t_up, f));
        }
        let t_back = t_up + rtt;
        for f in udp_frames(rng, up, resolver, 53, up_port, &ua.to_bytes()) {
            out.push((t_back, f));
        }
        t_answer = t_back + rng.range(50_000, 150_000);
    }
    for f in udp_frames(rng, resolver, client, 53, sport, &answer.to_bytes()) {
        out.push((t_answer, f));
    }
    (out, t_answer)
}

/// Certificate issuers: (issuing CA, its organisation, root).
const ISSUERS: [(&str, &str, &str); 4] = [
    ("R11", "Let's Encrypt", "ISRG Root X1"),
    (
        "GlobalSign GCC R6 AlphaSSL CA 2025",
        "GlobalSign nv-sa",
        "GlobalSign",
    ),
    (
        "Sectigo RSA Domain Validation Secure Server CA",
        "Sectigo Limited",
        "USERTrust RSA Certification Authority",
    ),
    (
        "DigiCert Global G2 TLS RSA SHA256 2020 CA1",
        "DigiCert Inc",
        "DigiCert Global Root G2",
    ),
];

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The certificate chain a server presents; stable for a server name.
/// `self_signed` gives one certificate whose issuer is its subject.
pub fn cert_chain(name: &str, now_unix: i64, self_signed: bool) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(fnv(name), 0x5eed);
    if self_signed {
        let spec = x509::CertSpec {
            subject_cn: name,
            subject_org: "Internet Widgits Pty Ltd",
            issuer_cn: name,
            issuer_org: "Internet Widgits Pty Ltd",
            not_before: now_unix - 86_400 * rng.range(3, 30) as i64,
            not_after: now_unix + 86_400 * 365,
        };
        return vec![x509::certificate(&spec, &mut rng)];
    }
    let (ca, org, root) = *rng.pick(&ISSUERS);
    let nb = now_unix - 86_400 * rng.range(1, 80) as i64;
    let leaf = x509::CertSpec {
        subject_cn: name,
        subject_org: "",
        issuer_cn: ca,
        issuer_org: org,
        not_before: nb,
        not_after: nb + 86_400 * 90,
    };
    let inter = x509::CertSpec {
        subject_cn: ca,
        subject_org: org,
        issuer_cn: root,
        issuer_org: org,
        not_before: nb - 86_400 * 400,
        not_after: nb + 86_400 * 700,
    };
    vec![
        x509::certificate(&leaf, &mut rng),
        x509::certificate(&inter, &mut rng),
    ]
}

/// One request/response exchange over TLS: sizes of the encrypted records
/// (record bodies) and the client's think time before the request.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// Client think time before sending.
    pub think_ns: u64,
    /// Request bytes.
    pub request: usize,
    /// Server processing time.
    pub server_ns: u64,
    /// Response bytes.
    pub response: usize,
}

/// The messages of an HTTPS (or any TLS) session: handshake by version, then
/// the exchanges as application data.
pub fn tls_messages(
    profile: &tls::ClientProfile,
    sni: &str,
    server_tls13: bool,
    chain: &[Vec<u8>],
    exchanges: &[Exchange],
    rng: &mut Rng,
) -> Vec<Msg> {
    let choice = tls::negotiate(profile, server_tls13);
    let mut m = vec![Msg::client(0, tls::client_hello(profile, sni, rng))];
    let think = rng.range(200_000, 3_000_000);
    if choice.version == 0x0304 {
        let enc = rng.range(2_500, 5_500) as usize;
        m.push(Msg::server(
            think,
            tls::server_flight_tls13(&choice, enc, rng),
        ));
        m.push(Msg::client(
            rng.range(100_000, 1_000_000),
            tls::client_finish_tls13(rng),
        ));
        // NewSessionTicket records.
        m.push(Msg::new(
            false,
            rng.range(100_000, 500_000),
            vec![Part::TlsAppData(rng.range(200, 600) as usize)],
        ));
    } else {
        m.push(Msg::server(
            think,
            tls::server_flight_tls12(&choice, chain, rng),
        ));
        m.push(Msg::client(
            rng.range(100_000, 1_000_000),
            tls::client_finish_tls12(rng),
        ));
        m.push(Msg::server(
            rng.range(100_000, 500_000),
            tls::server_finish_tls12(rng),
        ));
    }
    for e in exchanges {
        m.push(Msg::new(
            true,
            e.think_ns,
            vec![Part::TlsAppData(e.request.max(24))],
        ));
        m.push(Msg::new(
            false,
            e.server_ns,
            vec![Part::TlsAppData(e.response.max(24))],
        ));
    }
    m
}

/// A TCP conversation between two hosts with RTTs from the sensor.
pub fn tcp_config(
    rng: &mut Rng,
    client: &Host,
    server: &Host,
    dport: u16,
    t: u64,
    ext_rtt: u64,
) -> TcpConfig {
    let mut cfg = TcpConfig::new(
        client.clone(),
        server.clone(),
        ephemeral_port(rng, client),
        dport,
        t,
    );
    cfg.rtt_client_ns = rtt_of(client, rng, ext_rtt);
    cfg.rtt_server_ns = rtt_of(server, rng, ext_rtt);
    cfg.bandwidth_bps = if client.internal && server.internal {
        1_000_000_000
    } else {
        100_000_000
    };
    if matches!(client.ip, IpAddr::V6(_)) {
        cfg.mss = 1440;
    }
    cfg
}

/// An HTTP/1.1 session of request/response pairs.
pub fn http_messages(exchanges: Vec<(u64, Vec<u8>, u64, Vec<Part>)>) -> Vec<Msg> {
    let mut m = Vec::new();
    for (think, req, server_ns, resp) in exchanges {
        m.push(Msg::client(think, req));
        m.push(Msg::new(false, server_ns, resp));
    }
    m
}

/// A response: head plus a body of the content type's kind.
pub fn http_response(
    status: u16,
    server: &str,
    content_type: &str,
    body_len: usize,
    rng: &mut Rng,
) -> Vec<Part> {
    let head = http::response_head(status, server, content_type, body_len, &[]);
    let body = match content_type {
        "application/octet-stream" => Part::Random(body_len),
        "application/json" => Part::Bytes(json_body(body_len, rng)),
        _ => Part::Text(body_len),
    };
    vec![Part::Bytes(head), body]
}

/// A valid JSON document of exactly `len` bytes (at least 32).
pub fn json_body(len: usize, rng: &mut Rng) -> Vec<u8> {
    let len = len.max(32);
    let mut s = format!("{{\"id\":{},\"items\":\"", rng.below(100_000));
    while s.len() + 2 < len {
        s.push((b'a' + rng.below(26) as u8) as char);
    }
    s.push_str("\"}");
    s.truncate(len.max(s.len()));
    s.into_bytes()
}

/// The messages of an SSH session: banners, key exchange, then the given
/// encrypted exchanges (sender is client, payload size, think time).
pub fn ssh_messages(
    client: &ssh::SshImpl,
    server: &ssh::SshImpl,
    encrypted: &[(bool, usize, u64)],
    rng: &mut Rng,
) -> Vec<Msg> {
    let mut m = vec![
        Msg::server(rng.range(500_000, 3_000_000), ssh::banner(server)),
        Msg::client(rng.range(100_000, 500_000), ssh::banner(client)),
        Msg::client(50_000, ssh::kexinit(client, rng)),
        Msg::server(rng.range(100_000, 800_000), ssh::kexinit(server, rng)),
        Msg::client(rng.range(100_000, 500_000), ssh::ecdh_init(rng)),
        Msg::server(
            rng.range(1_000_000, 4_000_000),
            ssh::ecdh_reply_newkeys(rng),
        ),
        Msg::client(rng.range(100_000, 500_000), ssh::newkeys(rng)),
    ];
    for &(from_client, len, think) in encrypted {
        m.push(Msg::new(
            from_client,
            think,
            vec![Part::Bytes(ssh::encrypted(len, rng))],
        ));
    }
    m
}

/// The messages of an SMB3 session: NEGOTIATE, then encrypted
/// request/response pairs (client bytes, server bytes, think time).
pub fn smb_messages(now_ns: u64, ops: &[(usize, usize, u64)], rng: &mut Rng) -> Vec<Msg> {
    let session = rng.next_u64();
    let mut m = vec![
        Msg::client(0, smb::negotiate_request(rng)),
        Msg::server(
            rng.range(200_000, 900_000),
            smb::negotiate_response(now_ns, rng),
        ),
    ];
    for &(req, resp, think) in ops {
        // Large transfers are split into 1 MiB SMB messages.
        for (from_client, total, wait) in [
            (true, req, think),
            (false, resp, rng.range(100_000, 2_000_000)),
        ] {
            let mut left = total.max(64);
            let mut parts = Vec::new();
            while left > 0 {
                let n = left.min(1 << 20);
                parts.push(Part::Bytes(smb::transform_header(n, session, rng)));
                parts.push(Part::Random(n));
                left -= n;
            }
            m.push(Msg::new(from_client, wait, parts));
        }
    }
    m
}

/// Builds a TCP flow from a config and messages.
pub fn flow(cfg: TcpConfig, msgs: Vec<Msg>, rng: &mut Rng) -> TcpFlow {
    TcpFlow::new(cfg, msgs, rng.fork(0x7c9))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn json_body_has_exact_length_and_parses() {
        let mut rng = Rng::new(1, 1);
        for len in [32, 100, 4096] {
            let b = json_body(len, &mut rng);
            assert_eq!(b.len(), len);
            serde_json::from_slice::<serde_json::Value>(&b).unwrap();
        }
    }

    #[test]
    fn large_udp_is_fragmented() {
        let mut rng = Rng::new(1, 1);
        let a = Host::internal(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), [2; 6], None, 64);
        let b = Host::internal(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), [3; 6], None, 64);
        assert_eq!(udp_frames(&mut rng, &a, &b, 53, 5353, &[0; 100]).len(), 1);
        assert_eq!(udp_frames(&mut rng, &a, &b, 53, 5353, &[0; 3000]).len(), 3);
    }

    #[test]
    fn cert_chain_is_stable_per_name() {
        assert_eq!(cert_chain("a.vn", 0, false), cert_chain("a.vn", 0, false));
        assert_ne!(cert_chain("a.vn", 0, false), cert_chain("b.vn", 0, false));
        assert_eq!(cert_chain("c2.example", 0, true).len(), 1);
    }
}
