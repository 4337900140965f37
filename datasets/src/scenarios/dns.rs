//! DNS abuse: a tunnel (long high-entropy subdomains of one base domain, TXT
//! answers; T1071.004, T1572) and exfiltration of a file in query names
//! (T1048.003).

use crate::engine::{Burst, Event, Source};
use crate::labels::{Cidr, Label};
use crate::net::Host;
use crate::proto::dns::{self, qtype, rcode, RData, Record};
use crate::proto::http::base64;
use crate::rng::Rng;
use crate::scenarios::{at, label, Ctx, ParamSpec, Params, Scenario, ScenarioError};
use crate::sessions::{self, MS, SEC};

/// DNS tunnel through the office resolver.
pub struct DnsTunnel;
/// File exfiltration in DNS query names.
pub struct ExfilDns;

/// RFC 4648 base32 without padding, lower case (as tunnel tools emit it).
pub fn base32(data: &[u8]) -> String {
    const A: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(A[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Splits an encoded string into DNS labels of at most `max` characters.
fn labels(s: &str, max: usize) -> String {
    s.as_bytes()
        .chunks(max)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(".")
}

/// Lookups one after another at a fixed mean rate, generated lazily.
struct Lookups<F: FnMut(u64, &mut Rng) -> (dns::Message, dns::Message)> {
    cur: Burst,
    i: u64,
    n: u64,
    t: u64,
    mean_gap_ns: f64,
    client: Host,
    resolver: Host,
    ns: Host,
    rng: Rng,
    make: F,
}

impl<F: FnMut(u64, &mut Rng) -> (dns::Message, dns::Message)> Lookups<F> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        t0: u64,
        n: u64,
        mean_gap_ns: f64,
        client: Host,
        resolver: Host,
        ns: Host,
        rng: Rng,
        make: F,
    ) -> Self {
        let mut s = Lookups {
            cur: Burst::new(Vec::new()),
            i: 0,
            n,
            t: t0,
            mean_gap_ns,
            client,
            resolver,
            ns,
            rng,
            make,
        };
        s.next_lookup();
        s
    }

    fn next_lookup(&mut self) {
        if self.i >= self.n {
            return;
        }
        let (q, a) = (self.make)(self.i, &mut self.rng);
        let rtt = self.rng.range(25, 60) * MS;
        let (frames, _) = sessions::dns_lookup(
            &mut self.rng,
            &self.client,
            &self.resolver,
            Some((&self.ns, rtt)),
            self.t,
            &q,
            &a,
        );
        self.cur = Burst::new(frames);
        self.i += 1;
        self.t += (self.mean_gap_ns * (0.5 + self.rng.f64())) as u64 + rtt;
    }
}

impl<F: FnMut(u64, &mut Rng) -> (dns::Message, dns::Message)> Source for Lookups<F> {
    fn next_time(&self) -> Option<u64> {
        self.cur.next_time()
    }
    fn fire(&mut self) -> Event {
        let e = self.cur.fire();
        if self.cur.is_empty() {
            self.next_lookup();
        }
        e
    }
}

impl Scenario for DnsTunnel {
    fn name(&self) -> &'static str {
        "dns_tunnel"
    }
    fn id(&self) -> u64 {
        13
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1071.004", "T1572"]
    }
    fn description(&self) -> &'static str {
        "a tunnel over DNS: base32 data in long subdomains of one domain, base64 TXT answers"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.10"),
            ParamSpec {
                key: "client",
                default: "10.10.1.57",
                doc: "tunnelling workstation",
            },
            ParamSpec {
                key: "domain",
                default: "t.cloudsync-api.net",
                doc: "tunnel base domain",
            },
            ParamSpec {
                key: "nameserver",
                default: "103.224.182.250",
                doc: "authoritative server of the domain",
            },
            ParamSpec {
                key: "queries",
                default: "1200",
                doc: "number of queries",
            },
            ParamSpec {
                key: "rate",
                default: "2",
                doc: "queries per second",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let client = ctx.host(p.ip("client")?);
        let ns = Host::external(p.ip("nameserver")?, 64, 12);
        let domain = p.str("domain").to_string();
        if domain.len() > 60 || domain.is_empty() {
            return Err(ScenarioError::BadValue {
                scenario: self.name().into(),
                key: "domain".into(),
                msg: "1..60 characters".into(),
            });
        }
        let n = p.u64("queries", 1, 10_000_000)?;
        let rate = p.u64("rate", 1, 10_000)?;
        let resolver = ctx.net.resolver.clone();
        let session = format!("{:04x}", 0x1000 + (rng.clone().next_u32() % 0xe000));
        let dom = domain.clone();
        let src = Lookups::new(
            p.start(ctx)?,
            n,
            SEC as f64 / rate as f64,
            client.clone(),
            resolver.clone(),
            ns.clone(),
            rng,
            move |i, rng: &mut Rng| {
                let n = rng.range(90, 130) as usize;
                let data = rng.bytes(n);
                let name = format!(
                    "{}.{}{:05x}.{}",
                    labels(&base32(&data), 63),
                    session,
                    i,
                    dom
                );
                let mut q = dns::Message::query(rng.next_u32() as u16, &name, qtype::TXT);
                q.edns = Some(1232);
                let n = rng.range(60, 180) as usize;
                let reply = base64(&rng.bytes(n)).into_bytes();
                let a = dns::Message::answer(
                    &q,
                    rcode::NOERROR,
                    vec![Record {
                        name,
                        ttl: 0,
                        data: RData::Txt(vec![reply]),
                    }],
                );
                (q, a)
            },
        );
        let l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(resolver.ip), Cidr::host(ns.ip)],
            Some(53),
            "udp",
        );
        Ok((Box::new(src), l))
    }
}

impl Scenario for ExfilDns {
    fn name(&self) -> &'static str {
        "exfil_dns"
    }
    fn id(&self) -> u64 {
        16
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1048.003"]
    }
    fn description(&self) -> &'static str {
        "a file sent out hex-encoded in A-record query names of one domain"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.83"),
            ParamSpec {
                key: "client",
                default: "10.10.2.99",
                doc: "exfiltrating workstation",
            },
            ParamSpec {
                key: "domain",
                default: "x.datastats-cdn.com",
                doc: "receiving domain",
            },
            ParamSpec {
                key: "nameserver",
                default: "103.224.182.251",
                doc: "authoritative server of the domain",
            },
            ParamSpec {
                key: "bytes",
                default: "300000",
                doc: "file size",
            },
            ParamSpec {
                key: "rate",
                default: "20",
                doc: "queries per second",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let client = ctx.host(p.ip("client")?);
        let ns = Host::external(p.ip("nameserver")?, 64, 12);
        let domain = p.str("domain").to_string();
        if domain.len() > 60 || domain.is_empty() {
            return Err(ScenarioError::BadValue {
                scenario: self.name().into(),
                key: "domain".into(),
                msg: "1..60 characters".into(),
            });
        }
        let bytes = p.u64("bytes", 1, 10_000_000_000)?;
        let rate = p.u64("rate", 1, 10_000)?;
        const CHUNK: u64 = 60;
        let n = bytes.div_ceil(CHUNK);
        let resolver = ctx.net.resolver.clone();
        let dom = domain.clone();
        let src = Lookups::new(
            p.start(ctx)?,
            n,
            SEC as f64 / rate as f64,
            client.clone(),
            resolver.clone(),
            ns.clone(),
            rng,
            move |i, rng: &mut Rng| {
                let len = CHUNK.min(bytes - i * CHUNK) as usize;
                let hex: String = rng.bytes(len).iter().map(|b| format!("{b:02x}")).collect();
                let name = format!("{}.{:06}.{}", labels(&hex, 60), i, dom);
                let q = dns::Message::query(rng.next_u32() as u16, &name, qtype::A);
                let a = dns::Message::answer(
                    &q,
                    rcode::NOERROR,
                    vec![Record {
                        name,
                        ttl: 0,
                        data: RData::A(std::net::Ipv4Addr::new(127, 0, 0, 1)),
                    }],
                );
                (q, a)
            },
        );
        let l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(resolver.ip), Cidr::host(ns.ip)],
            Some(53),
            "udp",
        );
        Ok((Box::new(src), l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rfc4648_vectors_lowercase_unpadded() {
        assert_eq!(base32(b"f"), "my");
        assert_eq!(base32(b"fo"), "mzxq");
        assert_eq!(base32(b"foo"), "mzxw6");
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn labels_split_at_63() {
        let s = "a".repeat(130);
        let l = labels(&s, 63);
        assert_eq!(
            l.split('.').map(str::len).collect::<Vec<_>>(),
            vec![63, 63, 4]
        );
    }
}
