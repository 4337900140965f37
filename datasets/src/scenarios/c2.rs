//! Command and control: periodic HTTPS beaconing with jitter over hours
//! (T1071.001), and a large upload over the same channel (T1041).

use crate::background::group;
use crate::engine::Source;
use crate::labels::{Cidr, Label};
use crate::net::Host;
use crate::proto::tls;
use crate::rng::Rng;
use crate::scenarios::{at, label, Ctx, ParamSpec, Params, Scenario, ScenarioError};
use crate::sessions::{self, Exchange, MS, SEC};
use crate::tcp::Close;

/// Periodic HTTPS beacons from an implant.
pub struct BeaconHttps;
/// Large outbound upload to the C2 server.
pub struct ExfilHttps;

impl Scenario for BeaconHttps {
    fn name(&self) -> &'static str {
        "beacon_https"
    }
    fn id(&self) -> u64 {
        14
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1071.001"]
    }
    fn description(&self) -> &'static str {
        "an implant calling its C2 server over HTTPS at a fixed interval with jitter, for hours"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.08"),
            ParamSpec {
                key: "until",
                default: "0.95",
                doc: "end, as a fraction of the capture duration",
            },
            ParamSpec {
                key: "client",
                default: "10.10.3.88",
                doc: "infected workstation",
            },
            ParamSpec {
                key: "c2",
                default: "91.215.85.17",
                doc: "C2 server",
            },
            ParamSpec {
                key: "sni",
                default: "update.cdn-telemetry.com",
                doc: "server name in the ClientHello",
            },
            ParamSpec {
                key: "interval_s",
                default: "60",
                doc: "beacon interval, seconds",
            },
            ParamSpec {
                key: "jitter",
                default: "0.1",
                doc: "uniform jitter as a fraction of the interval",
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
        let client = ctx.host(p.ip("client")?);
        let c2 = Host::external(p.ip("c2")?, 64, 13);
        let sni = p.str("sni").to_string();
        let interval = p.u64("interval_s", 1, 86_400)? * SEC;
        let jitter = p.f64("jitter", 0.0, 0.9)?;
        let t0 = p.start(ctx)?;
        let until = ctx.start_ns + (p.f64("until", 0.0, 1.0)? * ctx.duration_ns as f64) as u64;
        let chain = sessions::cert_chain(&sni, (ctx.start_ns / SEC) as i64, true);
        let rtt = rng.range(180, 240) * MS;
        let mut items: Vec<(u64, Box<dyn Source>)> = Vec::new();
        let mut t = t0;
        let mut count = 0u64;
        while t <= until.max(t0) {
            let tasking = rng.chance(0.05);
            let ex = [Exchange {
                think_ns: rng.range(1, 5) * MS,
                request: rng.range(220, 350) as usize,
                server_ns: rng.range(20, 60) * MS,
                response: if tasking {
                    rng.range(2_000, 5_000) as usize
                } else {
                    rng.range(180, 260) as usize
                },
            }];
            let msgs = sessions::tls_messages(
                &tls::PROFILES[tls::IMPLANT_PROFILE],
                &sni,
                false,
                &chain,
                &ex,
                &mut rng,
            );
            let mut cfg = sessions::tcp_config(&mut rng, &client, &c2, 443, t, rtt);
            cfg.close = Close::ClientFin;
            items.push((t, Box::new(sessions::flow(cfg, msgs, &mut rng))));
            count += 1;
            let j = 1.0 + jitter * (2.0 * rng.f64() - 1.0);
            t += (interval as f64 * j) as u64;
        }
        let mut l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(c2.ip)],
            Some(443),
            "tcp",
        );
        l.params.push(("beacons".into(), count.to_string()));
        Ok((group(items), l))
    }
}

impl Scenario for ExfilHttps {
    fn name(&self) -> &'static str {
        "exfil_https"
    }
    fn id(&self) -> u64 {
        15
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1041"]
    }
    fn description(&self) -> &'static str {
        "a large upload from the infected workstation to its C2 server over HTTPS"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.78"),
            ParamSpec {
                key: "client",
                default: "10.10.3.88",
                doc: "infected workstation",
            },
            ParamSpec {
                key: "c2",
                default: "91.215.85.17",
                doc: "receiving server",
            },
            ParamSpec {
                key: "sni",
                default: "update.cdn-telemetry.com",
                doc: "server name in the ClientHello",
            },
            ParamSpec {
                key: "bytes",
                default: "20000000",
                doc: "bytes uploaded",
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
        let client = ctx.host(p.ip("client")?);
        let c2 = Host::external(p.ip("c2")?, 64, 13);
        let sni = p.str("sni").to_string();
        let bytes = p.u64("bytes", 1, 100_000_000_000)? as usize;
        let t0 = p.start(ctx)?;
        let chain = sessions::cert_chain(&sni, (ctx.start_ns / SEC) as i64, true);
        let ex = [Exchange {
            think_ns: 5 * MS,
            request: bytes,
            server_ns: 80 * MS,
            response: 120,
        }];
        let msgs = sessions::tls_messages(
            &tls::PROFILES[tls::IMPLANT_PROFILE],
            &sni,
            false,
            &chain,
            &ex,
            &mut rng,
        );
        let rtt = rng.range(180, 240) * MS;
        let mut cfg = sessions::tcp_config(&mut rng, &client, &c2, 443, t0, rtt);
        cfg.bandwidth_bps = 50_000_000;
        cfg.close = Close::ClientFin;
        let l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(c2.ip)],
            Some(443),
            "tcp",
        );
        Ok((Box::new(sessions::flow(cfg, msgs, &mut rng)), l))
    }
}
