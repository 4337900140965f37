//! Denial of service: a SYN flood from spoofed sources (T1499.001), a UDP
//! flood (T1498.001) and DNS reflection/amplification (T1498.002).

use std::net::{IpAddr, Ipv4Addr};

use crate::engine::{Burst, Event, Source};
use crate::labels::{Cidr, Label};
use crate::net::Host;
use crate::proto::dns::{self, qtype, rcode, RData, Record};
use crate::rng::Rng;
use crate::scenarios::{at, label, Ctx, ParamSpec, Params, Scenario, ScenarioError};
use crate::sessions::{self, raw_tcp, Timed, SEC};
use crate::wire::{syn_options, tcp_flags as F};

/// SYN flood from spoofed sources.
pub struct SynFlood;
/// UDP flood to random ports.
pub struct UdpFlood;
/// DNS reflection and amplification.
pub struct DnsAmplification;

/// Each bot floods from one source port of this set, to destination ports in
/// 10000..=60000 minus [`QUIET_PORTS_EXCLUDED`]. The sets were measured with
/// tshark 4.0: on these port pairs no dissector claims a datagram of repeated
/// `A` bytes, so the capture validates as free of malformed packets; the
/// excluded ports belong to protocols (collectd, Manolito, EtherNet/IP...)
/// whose dissectors would parse the flood as broken messages.
const BOT_SOURCE_PORTS: [u16; 5] = [40_000, 43_000, 50_000, 53_000, 56_000];
/// Destination ports a flood avoids (see [`BOT_SOURCE_PORTS`]).
const QUIET_PORTS_EXCLUDED: [u16; 9] = [
    13_400, 23_272, 25_826, 34_980, 37_008, 41_170, 44_818, 47_000, 54_328,
];

/// A random public (non-private, non-reserved) IPv4 address.
fn spoofed(rng: &mut Rng) -> Ipv4Addr {
    loop {
        let a = Ipv4Addr::from(rng.next_u32());
        let o = a.octets();
        if o[0] == 0
            || o[0] == 10
            || o[0] == 127
            || o[0] >= 224
            || a.is_private()
            || a.is_link_local()
            || (o[0] == 100 && (64..128).contains(&o[1]))
        {
            continue;
        }
        return a;
    }
}

/// A source generated in slices of one second, so a long flood is never held
/// in memory whole.
struct Sliced<F: FnMut(u64, &mut Rng) -> Vec<Timed>> {
    cur: Burst,
    next_slice: u64,
    slices: u64,
    t0: u64,
    rng: Rng,
    make: F,
}

impl<F: FnMut(u64, &mut Rng) -> Vec<Timed>> Sliced<F> {
    fn new(t0: u64, slices: u64, mut rng: Rng, mut make: F) -> Self {
        let first = if slices > 0 {
            make(0, &mut rng)
        } else {
            Vec::new()
        };
        Sliced {
            cur: Burst::new(first),
            next_slice: 1,
            slices,
            t0,
            rng,
            make,
        }
    }
}

impl<F: FnMut(u64, &mut Rng) -> Vec<Timed>> Source for Sliced<F> {
    fn next_time(&self) -> Option<u64> {
        self.cur.next_time()
    }
    fn fire(&mut self) -> Event {
        let e = self.cur.fire();
        while self.cur.is_empty() && self.next_slice < self.slices {
            let mut v = (self.make)(self.next_slice, &mut self.rng);
            // Slices never reach back before the previous one.
            let floor = self.t0 + self.next_slice * SEC;
            for p in &mut v {
                p.0 = p.0.max(floor);
            }
            self.cur = Burst::new(v);
            self.next_slice += 1;
        }
        e
    }
}

impl Scenario for SynFlood {
    fn name(&self) -> &'static str {
        "syn_flood"
    }
    fn id(&self) -> u64 {
        10
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1499.001"]
    }
    fn description(&self) -> &'static str {
        "SYN flood with random spoofed sources against the public web server"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.61"),
            ParamSpec {
                key: "target",
                default: "10.10.100.10",
                doc: "flooded server",
            },
            ParamSpec {
                key: "port",
                default: "80",
                doc: "flooded port",
            },
            ParamSpec {
                key: "rate",
                default: "2000",
                doc: "SYNs per second",
            },
            ParamSpec {
                key: "seconds",
                default: "10",
                doc: "duration",
            },
            ParamSpec {
                key: "synack_ratio",
                default: "0.3",
                doc: "share of SYNs the server still answers",
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
        let target = ctx.host(p.ip("target")?);
        let port = p.u64("port", 1, 65_535)? as u16;
        let rate = p.u64("rate", 1, 1_000_000)?;
        let secs = p.u64("seconds", 1, 86_400)?;
        let ratio = p.f64("synack_ratio", 0.0, 1.0)?;
        let t0 = p.start(ctx)?;
        let tgt = target.clone();
        let src = Sliced::new(t0, secs, rng, move |s, rng: &mut Rng| {
            let mut v = Vec::with_capacity(rate as usize * 2);
            for i in 0..rate {
                let t = t0 + s * SEC + i * SEC / rate;
                let from = Host::external(IpAddr::V4(spoofed(rng)), 64, rng.range(8, 20) as u8);
                let sport = rng.range(1024, 65_535) as u16;
                let seq = rng.next_u32();
                let win = rng.range(512, 65_535) as u16;
                v.push((
                    t,
                    raw_tcp(rng, &from, &tgt, sport, port, seq, 0, F::SYN, win, &[]),
                ));
                if rng.chance(ratio) {
                    let s_isn = rng.next_u32();
                    let o = syn_options(1460, 7);
                    v.push((
                        t + 50_000,
                        raw_tcp(
                            rng,
                            &tgt,
                            &from,
                            port,
                            sport,
                            s_isn,
                            seq.wrapping_add(1),
                            F::SYN | F::ACK,
                            64_240,
                            &o,
                        ),
                    ));
                }
            }
            v
        });
        let l = label(
            self,
            p,
            vec!["0.0.0.0/0".parse().expect("literal")],
            vec![Cidr::host(target.ip)],
            Some(port),
            "tcp",
        );
        Ok((Box::new(src), l))
    }
}

impl Scenario for UdpFlood {
    fn name(&self) -> &'static str {
        "udp_flood"
    }
    fn id(&self) -> u64 {
        11
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1498.001"]
    }
    fn description(&self) -> &'static str {
        "UDP flood of random high ports from a few bots; rate-limited ICMP port-unreachable answers"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.65"),
            ParamSpec {
                key: "attackers",
                default: "45.95.147.0/29",
                doc: "block of the flooding bots",
            },
            ParamSpec {
                key: "target",
                default: "10.10.100.10",
                doc: "flooded server",
            },
            ParamSpec {
                key: "rate",
                default: "3000",
                doc: "datagrams per second",
            },
            ParamSpec {
                key: "seconds",
                default: "5",
                doc: "duration",
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
        let bots_cidr = p.cidr("attackers")?;
        let bots: Vec<Host> = sessions::block_hosts(&bots_cidr)
            .into_iter()
            .map(|ip| Host::external(ip, 64, 15))
            .collect();
        let target = ctx.host(p.ip("target")?);
        let rate = p.u64("rate", 1, 1_000_000)?;
        let secs = p.u64("seconds", 1, 86_400)?;
        let t0 = p.start(ctx)?;
        let tgt = target.clone();
        let src = Sliced::new(t0, secs, rng, move |s, rng: &mut Rng| {
            let mut v = Vec::with_capacity(rate as usize + 2);
            // Flood tools fill datagrams with one repeated byte (hping3 'X',
            // many scripts 'A'); random bytes would also be valid but make
            // port-agnostic dissector heuristics misfire in validation.
            let payload = vec![b'A'; 1400];
            for i in 0..rate {
                let t = t0 + s * SEC + i * SEC / rate;
                let bot_index = rng.below(bots.len() as u64) as usize;
                let bot = &bots[bot_index];
                let n = rng.range(512, 1400) as usize;
                let mut dport = rng.range(10_000, 60_000) as u16;
                while QUIET_PORTS_EXCLUDED.contains(&dport) {
                    dport += 1;
                }
                let sport = BOT_SOURCE_PORTS[bot_index % BOT_SOURCE_PORTS.len()];
                let frames = sessions::udp_frames(rng, bot, &tgt, sport, dport, &payload[..n]);
                // The kernel answers about one datagram in a hundred.
                if i % 100 == 0 {
                    if let Some(f) = frames.first() {
                        let quoted = f[crate::wire::ip_offset(f)..].to_vec();
                        v.push((
                            t + 40_000,
                            sessions::port_unreachable(rng, &tgt, bot, &quoted),
                        ));
                    }
                }
                v.extend(frames.into_iter().map(|f| (t, f)));
            }
            v
        });
        let l = label(
            self,
            p,
            vec![bots_cidr],
            vec![Cidr::host(target.ip)],
            None,
            "udp",
        );
        Ok((Box::new(src), l))
    }
}

impl Scenario for DnsAmplification {
    fn name(&self) -> &'static str {
        "dns_amplification"
    }
    fn id(&self) -> u64 {
        12
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1498.002"]
    }
    fn description(&self) -> &'static str {
        "large DNS answers (ANY, fragmented) from open resolvers to a victim whose address was spoofed"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.70"),
            ParamSpec {
                key: "reflectors",
                default: "94.102.49.0/26",
                doc: "block of the open resolvers",
            },
            ParamSpec {
                key: "target",
                default: "10.10.100.10",
                doc: "victim",
            },
            ParamSpec {
                key: "rate",
                default: "400",
                doc: "answers per second",
            },
            ParamSpec {
                key: "seconds",
                default: "10",
                doc: "duration",
            },
            ParamSpec {
                key: "qname",
                default: "amp.dnsrefl.example",
                doc: "name asked for (ANY)",
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
        let refl_cidr = p.cidr("reflectors")?;
        let refl: Vec<Host> = sessions::block_hosts(&refl_cidr)
            .into_iter()
            .map(|ip| Host::external(ip, 64, 12))
            .collect();
        let target = ctx.host(p.ip("target")?);
        let rate = p.u64("rate", 1, 1_000_000)?;
        let secs = p.u64("seconds", 1, 86_400)?;
        let qname = p.str("qname").to_string();
        let t0 = p.start(ctx)?;
        let tgt = target.clone();
        let src = Sliced::new(t0, secs, rng, move |s, rng: &mut Rng| {
            let mut v = Vec::new();
            for i in 0..rate {
                let t = t0 + s * SEC + i * SEC / rate;
                let r = &refl[rng.below(refl.len() as u64) as usize];
                let mut q = dns::Message::query(rng.next_u32() as u16, &qname, qtype::ANY);
                q.edns = Some(4096);
                let mut answers = Vec::new();
                for k in 0..12u8 {
                    let txt: Vec<u8> = (0..240)
                        .map(|j| b'a' + ((j + usize::from(k)) % 26) as u8)
                        .collect();
                    answers.push(Record {
                        name: qname.clone(),
                        ttl: 3600,
                        data: RData::Txt(vec![txt]),
                    });
                }
                for k in 0..8u8 {
                    answers.push(Record {
                        name: qname.clone(),
                        ttl: 3600,
                        data: RData::A(Ipv4Addr::new(192, 0, 2, k + 1)),
                    });
                }
                let a = dns::Message::answer(&q, rcode::NOERROR, answers);
                let dport = rng.range(1024, 65_535) as u16;
                for f in sessions::udp_frames(rng, r, &tgt, 53, dport, &a.to_bytes()) {
                    v.push((t, f));
                }
            }
            v
        });
        let l = label(
            self,
            p,
            vec![refl_cidr],
            vec![Cidr::host(target.ip)],
            None,
            "udp",
        );
        Ok((Box::new(src), l))
    }
}
