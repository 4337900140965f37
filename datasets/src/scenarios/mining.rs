//! Resource hijacking (T1496): a workstation mining over stratum JSON-RPC to a
//! pool, one long TCP connection for hours.

use crate::engine::Source;
use crate::labels::{Cidr, Label};
use crate::net::Host;
use crate::rng::Rng;
use crate::scenarios::{at, label, Ctx, ParamSpec, Params, Scenario, ScenarioError};
use crate::sessions::{self, MS, SEC};
use crate::tcp::{Close, Msg};

/// Stratum mining.
pub struct MiningStratum;

impl Scenario for MiningStratum {
    fn name(&self) -> &'static str {
        "mining_stratum"
    }
    fn id(&self) -> u64 {
        21
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1496"]
    }
    fn description(&self) -> &'static str {
        "a miner on a workstation: stratum subscribe/authorize, job notifications and share submissions"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.18"),
            ParamSpec {
                key: "until",
                default: "0.90",
                doc: "end, as a fraction of the capture duration",
            },
            ParamSpec {
                key: "client",
                default: "10.10.4.66",
                doc: "mining workstation",
            },
            ParamSpec {
                key: "pool",
                default: "51.15.58.224",
                doc: "mining pool",
            },
            ParamSpec {
                key: "port",
                default: "3333",
                doc: "pool port",
            },
            ParamSpec {
                key: "job_interval_s",
                default: "30",
                doc: "mean time between mining.notify jobs",
            },
            ParamSpec {
                key: "submit_interval_s",
                default: "45",
                doc: "mean time between mining.submit shares",
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
        let pool = Host::external(p.ip("pool")?, 64, 14);
        let port = p.u64("port", 1, 65_535)? as u16;
        let job = p.u64("job_interval_s", 1, 86_400)? as f64;
        let submit = p.u64("submit_interval_s", 1, 86_400)? as f64;
        let t0 = p.start(ctx)?;
        let until = ctx.start_ns + (p.f64("until", 0.0, 1.0)? * ctx.duration_ns as f64) as u64;
        let worker =
            "47ZqXn3y8bW1qkYv5U2Hj9xQ4cT6rM8sF2dL7pV3aN9eK1wB5gH4jR6tY8uI0oP2sD4fG6hJ8kL.rig01";
        let mut msgs = vec![
            Msg::client(MS, br#"{"id":1,"method":"mining.subscribe","params":["XMRig/6.21.0"]}"#.iter().copied().chain(*b"\n").collect()),
            Msg::server(20 * MS, format!("{{\"id\":1,\"result\":[[[\"mining.notify\",\"{:016x}\"]],\"{:08x}\",4],\"error\":null}}\n", rng.next_u64(), rng.next_u32()).into_bytes()),
            Msg::client(MS, format!("{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{worker}\",\"x\"]}}\n").into_bytes()),
            Msg::server(20 * MS, b"{\"id\":2,\"result\":true,\"error\":null}\n".to_vec()),
        ];
        // Interleave jobs from the pool and shares from the miner in time order.
        let span = until.saturating_sub(t0) as f64 / SEC as f64;
        let mut events: Vec<(f64, bool)> = Vec::new();
        let mut x = 0.0;
        while x < span {
            x += rng.exp(job);
            events.push((x, false));
        }
        x = 0.0;
        while x < span {
            x += rng.exp(submit);
            events.push((x, true));
        }
        events.retain(|e| e.0 < span);
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut last = 0.0;
        let mut id = 3u64;
        for (at_s, is_submit) in events {
            let gap = ((at_s - last).max(0.0) * SEC as f64) as u64;
            last = at_s;
            if is_submit {
                let body = format!(
                    "{{\"id\":{id},\"method\":\"mining.submit\",\"params\":[\"{worker}\",\"{:08x}\",\"{:08x}\",\"{:08x}\",\"{:08x}\"]}}\n",
                    rng.next_u32(), rng.next_u32(), rng.next_u32(), rng.next_u32()
                );
                msgs.push(Msg::client(gap, body.into_bytes()));
                msgs.push(Msg::server(
                    30 * MS,
                    format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n").into_bytes(),
                ));
                id += 1;
            } else {
                let body = format!(
                    "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"{:x}\",\"{:064x}\",\"{}\",\"{}\",[],\"20000000\",\"1d00ffff\",\"{:08x}\",true]}}\n",
                    rng.next_u32(), rng.next_u64(), "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff", "ffffffff01", rng.next_u32()
                );
                msgs.push(Msg::server(gap, body.into_bytes()));
            }
        }
        let rtt = rng.range(20, 40) * MS;
        let mut cfg = sessions::tcp_config(&mut rng, &client, &pool, port, t0, rtt);
        cfg.close = Close::ClientFin;
        let l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(pool.ip)],
            Some(port),
            "tcp",
        );
        Ok((Box::new(sessions::flow(cfg, msgs, &mut rng)), l))
    }
}
