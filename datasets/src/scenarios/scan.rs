//! Discovery: SYN and connect port scans of one host, a horizontal sweep of
//! one port across a subnet (T1046), and an ICMP host sweep (T1018).

use crate::background::group;
use crate::engine::{Burst, Source};
use crate::labels::{Cidr, Label};
use crate::rng::Rng;
use crate::scenarios::{at, label, Ctx, ParamSpec, Params, Scenario, ScenarioError};
use crate::sessions::{self, raw_tcp, SEC};
use crate::tcp::{Close, Open};
use crate::wire::{syn_options, tcp_flags as F};

/// nmap -sS: half-open SYN scan of one host.
pub struct PortscanSyn;
/// nmap -sT: connect scan of one host.
pub struct PortscanConnect;
/// One port across a subnet.
pub struct SweepPort;
/// ICMP echo to every address of a subnet.
pub struct IcmpSweep;

fn shuffled(mut v: Vec<u16>, rng: &mut Rng) -> Vec<u16> {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

impl Scenario for PortscanSyn {
    fn name(&self) -> &'static str {
        "portscan_syn"
    }
    fn id(&self) -> u64 {
        1
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1046"]
    }
    fn description(&self) -> &'static str {
        "half-open SYN scan of many ports of one host from the internet"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.05"),
            ParamSpec {
                key: "attacker",
                default: "45.155.205.233",
                doc: "scanning address",
            },
            ParamSpec {
                key: "target",
                default: "10.10.100.10",
                doc: "scanned host",
            },
            ParamSpec {
                key: "ports",
                default: "1-1024",
                doc: "ports probed (list and ranges)",
            },
            ParamSpec {
                key: "open",
                default: "22,80,443",
                doc: "ports that answer SYN-ACK",
            },
            ParamSpec {
                key: "rate",
                default: "500",
                doc: "probes per second",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let t_host = ctx.host(p.ip("target")?);
        let ports = shuffled(p.ports("ports")?, &mut rng);
        let open = p.ports("open")?;
        let rate = p.u64("rate", 1, 1_000_000)?;
        let t0 = p.start(ctx)?;
        let rtt = rng.range(60, 180) * 1_000_000;
        let sport = rng.range(40_000, 65_000) as u16;
        let mss = [2u8, 4, 0x05, 0xb4];
        let mut pk = Vec::new();
        for (i, &port) in ports.iter().enumerate() {
            let t = t0 + i as u64 * SEC / rate;
            let seq = rng.next_u32();
            pk.push((
                t,
                raw_tcp(
                    &mut rng,
                    &a,
                    &t_host,
                    sport,
                    port,
                    seq,
                    0,
                    F::SYN,
                    1024,
                    &mss,
                ),
            ));
            let tr = t + rtt;
            if open.contains(&port) {
                let s_isn = rng.next_u32();
                let o = syn_options(1460, 7);
                pk.push((
                    tr,
                    raw_tcp(
                        &mut rng,
                        &t_host,
                        &a,
                        port,
                        sport,
                        s_isn,
                        seq.wrapping_add(1),
                        F::SYN | F::ACK,
                        64_240,
                        &o,
                    ),
                ));
                pk.push((
                    tr + rtt,
                    raw_tcp(
                        &mut rng,
                        &a,
                        &t_host,
                        sport,
                        port,
                        seq.wrapping_add(1),
                        0,
                        F::RST,
                        0,
                        &[],
                    ),
                ));
            } else {
                pk.push((
                    tr,
                    raw_tcp(
                        &mut rng,
                        &t_host,
                        &a,
                        port,
                        sport,
                        0,
                        seq.wrapping_add(1),
                        F::RST | F::ACK,
                        0,
                        &[],
                    ),
                ));
            }
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(a.ip)],
            vec![Cidr::host(t_host.ip)],
            None,
            "tcp",
        );
        Ok((Box::new(Burst::new(pk)), l))
    }
}

impl Scenario for PortscanConnect {
    fn name(&self) -> &'static str {
        "portscan_connect"
    }
    fn id(&self) -> u64 {
        2
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1046"]
    }
    fn description(&self) -> &'static str {
        "full-connect scan of one internal server from a compromised workstation"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.14"),
            ParamSpec {
                key: "attacker",
                default: "10.10.2.77",
                doc: "scanning workstation",
            },
            ParamSpec {
                key: "target",
                default: "10.10.0.20",
                doc: "scanned server",
            },
            ParamSpec {
                key: "ports",
                default: "1-1000",
                doc: "ports probed",
            },
            ParamSpec {
                key: "open",
                default: "135,139,445,3389",
                doc: "ports that accept",
            },
            ParamSpec {
                key: "rate",
                default: "100",
                doc: "connection attempts per second (fractions allowed: 0.02 is one every 50 s)",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let t_host = ctx.host(p.ip("target")?);
        let ports = shuffled(p.ports("ports")?, &mut rng);
        let open = p.ports("open")?;
        // Fractions of one per second make a slow scan spread over hours.
        let rate = p.f64("rate", 0.0001, 100_000.0)?;
        let t0 = p.start(ctx)?;
        let mut items: Vec<(u64, Box<dyn Source>)> = Vec::new();
        for (i, &port) in ports.iter().enumerate() {
            let t = t0 + (i as f64 * SEC as f64 / rate) as u64;
            let mut cfg = sessions::tcp_config(&mut rng, &a, &t_host, port, t, 0);
            if open.contains(&port) {
                cfg.close = Close::ClientRst;
                cfg.close_delay_ns = 50_000;
            } else {
                cfg.open = Open::Refused;
            }
            items.push((t, Box::new(sessions::flow(cfg, vec![], &mut rng))));
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(a.ip)],
            vec![Cidr::host(t_host.ip)],
            None,
            "tcp",
        );
        Ok((group(items), l))
    }
}

impl Scenario for SweepPort {
    fn name(&self) -> &'static str {
        "sweep_port"
    }
    fn id(&self) -> u64 {
        3
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1046"]
    }
    fn description(&self) -> &'static str {
        "SYN probes of one port across every address of a subnet"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.22"),
            ParamSpec {
                key: "attacker",
                default: "10.10.3.41",
                doc: "sweeping workstation",
            },
            ParamSpec {
                key: "subnet",
                default: "10.10.1.0/24",
                doc: "swept block",
            },
            ParamSpec {
                key: "port",
                default: "445",
                doc: "probed port",
            },
            ParamSpec {
                key: "rate",
                default: "50",
                doc: "probes per second",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let subnet = p.cidr("subnet")?;
        let port = p.u64("port", 1, 65_535)? as u16;
        let rate = p.u64("rate", 1, 100_000)?;
        let t0 = p.start(ctx)?;
        let sport = rng.range(40_000, 65_000) as u16;
        let mut pk = Vec::new();
        for (i, ip) in sessions::block_hosts(&subnet).into_iter().enumerate() {
            let t = t0 + i as u64 * SEC / rate;
            let target = ctx.host(ip);
            let seq = rng.next_u32();
            let mss = [2u8, 4, 0x05, 0xb4];
            pk.push((
                t,
                raw_tcp(
                    &mut rng,
                    &a,
                    &target,
                    sport,
                    port,
                    seq,
                    0,
                    F::SYN,
                    1024,
                    &mss,
                ),
            ));
            // Only workstations exist; Windows ones listen on the port.
            let Some(c) = ctx.net.clients.iter().find(|c| c.v4.ip == ip) else {
                continue;
            };
            let tr = t + rng.range(200_000, 900_000);
            if c.windows {
                let o = syn_options(1460, 8);
                let s_isn = rng.next_u32();
                pk.push((
                    tr,
                    raw_tcp(
                        &mut rng,
                        &target,
                        &a,
                        port,
                        sport,
                        s_isn,
                        seq.wrapping_add(1),
                        F::SYN | F::ACK,
                        64_240,
                        &o,
                    ),
                ));
                pk.push((
                    tr + 100_000,
                    raw_tcp(
                        &mut rng,
                        &a,
                        &target,
                        sport,
                        port,
                        seq.wrapping_add(1),
                        0,
                        F::RST,
                        0,
                        &[],
                    ),
                ));
            } else {
                pk.push((
                    tr,
                    raw_tcp(
                        &mut rng,
                        &target,
                        &a,
                        port,
                        sport,
                        0,
                        seq.wrapping_add(1),
                        F::RST | F::ACK,
                        0,
                        &[],
                    ),
                ));
            }
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(a.ip)],
            vec![subnet],
            Some(port),
            "tcp",
        );
        Ok((Box::new(Burst::new(pk)), l))
    }
}

impl Scenario for IcmpSweep {
    fn name(&self) -> &'static str {
        "icmp_sweep"
    }
    fn id(&self) -> u64 {
        4
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1018"]
    }
    fn description(&self) -> &'static str {
        "ICMP echo requests to every address of a subnet (host discovery)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.27"),
            ParamSpec {
                key: "attacker",
                default: "10.10.3.41",
                doc: "sweeping workstation",
            },
            ParamSpec {
                key: "subnet",
                default: "10.10.2.0/24",
                doc: "swept block",
            },
            ParamSpec {
                key: "rate",
                default: "50",
                doc: "echo requests per second",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let subnet = p.cidr("subnet")?;
        let rate = p.u64("rate", 1, 100_000)?;
        let t0 = p.start(ctx)?;
        let ident = rng.next_u32() as u16;
        let body = [0u8; 0];
        let mut pk = Vec::new();
        for (i, ip) in sessions::block_hosts(&subnet).into_iter().enumerate() {
            let t = t0 + i as u64 * SEC / rate;
            let target = ctx.host(ip);
            for f in sessions::echo_frames(&mut rng, &a, &target, ident, i as u16, &body, false) {
                pk.push((t, f));
            }
            // Workstations answer unless their firewall drops echo (about a third).
            let answers = ctx.net.clients.iter().any(|c| c.v4.ip == ip)
                && (u32::from(match ip {
                    std::net::IpAddr::V4(v) => v.octets()[3],
                    _ => 0,
                }) % 3
                    != 0);
            if answers {
                let tr = t + rng.range(200_000, 900_000);
                for f in sessions::echo_frames(&mut rng, &target, &a, ident, i as u16, &body, true)
                {
                    pk.push((tr, f));
                }
            }
        }
        let l = label(self, p, vec![Cidr::host(a.ip)], vec![subnet], None, "icmp");
        Ok((Box::new(Burst::new(pk)), l))
    }
}
