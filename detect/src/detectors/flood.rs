//! Floods against one host (T1498.001, T1499.001).
//!
//! Packets toward a host are counted over windows of `flood.window_s` from
//! the first; a rate is the window's count over its length, reached as soon
//! as the count is (so the alert comes inside the first window that
//! floods):
//!
//! - **SYN flood** (T1499.001, T1498.001): at least `flood.syn_rate` SYNs
//!   per second that open new flows to the host, of which at most a fifth
//!   went on to send data. With at least `flood.spoofed_min_sources`
//!   distinct sources the flood is called spoofed and keyed by its victim
//!   alone.
//! - **UDP flood** (T1498.001): `flood.udp_rate` UDP packets per second.
//! - **ICMP flood** (T1498.001): `flood.icmp_rate` ICMP packets per second.
//! - **Fragment flood** (T1498.001): `flood.frag_rate` IP fragments per
//!   second.
//!
//! ECN-setup SYNs (SYN+ECE+CWR) are counted apart in the evidence: flood
//! tools set them to pass filters that drop plain SYNs. UDP flows opened
//! from a reflecting service's port (`amplification.udp_ports`) are
//! reflection, which the amplification detector judges: they are not
//! counted here.

use std::net::IpAddr;

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::event::{EventKind, FlowRef, HostEvent};
use crate::evidence;
use crate::incident::{Key, ANY};
use crate::net::IpSet;
use crate::window::{hash_ip, Distinct, Slot, Windowed};

use super::scan::unreachable_draft;

#[derive(Default)]
struct Target {
    syn: u64,
    ecn_syn: u64,
    spoke: u64,
    udp: u64,
    icmp: u64,
    frags: u64,
    sources: Distinct,
    alerted: [bool; 4],
}

/// The flood detectors.
pub struct Floods {
    on: bool,
    window_s: u64,
    rates: [u64; 4],
    spoofed_min: usize,
    allow: IpSet,
    reflectors: Vec<u16>,
    targets: Windowed<IpAddr, Target>,
}

const S: u64 = 1_000_000_000;
const SYN_I: usize = 0;
const UDP_I: usize = 1;
const ICMP_I: usize = 2;

impl Floods {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Floods {
        let f = &c.flood;
        Floods {
            on: f.enabled,
            window_s: f.window_s,
            rates: [
                u64::from(f.syn_rate),
                u64::from(f.udp_rate),
                u64::from(f.icmp_rate),
                u64::from(f.frag_rate),
            ],
            spoofed_min: f.spoofed_min_sources as usize,
            allow: DetectConfig::set(&f.allow),
            reflectors: c.amplification.udp_ports.clone(),
            targets: Windowed::new(f.window_s * S, 500_000),
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        if !self.on {
            return;
        }
        let f = &e.flow;
        if f.proto == 17 && self.reflectors.contains(&f.orig_port) {
            return;
        }
        match e.kind {
            EventKind::Start {
                flags,
                frags,
                from_resp,
                ..
            } => {
                // The sender of the first packet and its receiver.
                let (src, dst) = if from_resp {
                    (f.resp, f.orig)
                } else {
                    (f.orig, f.resp)
                };
                let syn = f.proto == 6 && !from_resp && flags & 0x12 == 0x02;
                let add = Add {
                    syn: u64::from(syn),
                    ecn: u64::from(syn && flags & 0xc0 == 0xc0),
                    udp: u64::from(f.proto == 17),
                    icmp: u64::from(matches!(f.proto, 1 | 58)),
                    frags: u64::from(frags),
                    spoke: 0,
                };
                self.add(e, src, dst, add, cx);
            }
            EventKind::Volume {
                orig_pkts,
                resp_pkts,
                frags,
                ..
            } => {
                for (src, dst, n) in [(f.orig, f.resp, orig_pkts), (f.resp, f.orig, resp_pkts)] {
                    if n == 0 {
                        continue;
                    }
                    let add = Add {
                        syn: 0,
                        ecn: 0,
                        udp: if f.proto == 17 { u64::from(n) } else { 0 },
                        icmp: if matches!(f.proto, 1 | 58) {
                            u64::from(n)
                        } else {
                            0
                        },
                        frags: if src == f.orig { u64::from(frags) } else { 0 },
                        spoke: 0,
                    };
                    if add.udp + add.icmp + add.frags > 0 {
                        self.add(e, src, dst, add, cx);
                    }
                }
            }
            EventKind::Spoke if f.proto == 6 => {
                if let Some((t, _)) = self.targets.peek(&f.resp, e.ts_ns) {
                    t.spoke += 1;
                }
            }
            _ => {}
        }
    }

    fn add(&mut self, e: &HostEvent, src: IpAddr, dst: IpAddr, a: Add, cx: &mut Cx<'_>) {
        let ts = e.ts_ns;
        let Slot::Live(t, start) = self.targets.get(dst, ts) else {
            return;
        };
        if t.sources.is_empty() {
            t.sources = Distinct::new(self.spoofed_min * 2);
        }
        t.sources.insert(hash_ip(src));
        t.syn += a.syn;
        t.ecn_syn += a.ecn;
        t.udp += a.udp;
        t.icmp += a.icmp;
        t.frags += a.frags;
        t.spoke += a.spoke;
        let spoofed = t.sources.len() >= self.spoofed_min;
        let counts = [t.syn, t.udp, t.icmp, t.frags];
        let weights = [a.syn, a.udp, a.icmp, a.frags];
        for i in 0..4 {
            if weights[i] == 0 {
                continue;
            }
            let attacker = if spoofed { ANY } else { src };
            if cx.allow.contains(attacker) || self.allow.contains(attacker) {
                continue;
            }
            let technique = if i == SYN_I { "T1499.001" } else { "T1498.001" };
            let key = Key {
                technique,
                attacker,
                target: dst,
            };
            if cx.inc.is_open(&key, ts) {
                cx.inc
                    .hit(key, ts, weights[i], || unreachable_draft(&e.flow));
                continue;
            }
            let need = self.rates[i] * self.window_s;
            if counts[i] < need {
                continue;
            }
            if i == SYN_I && t.spoke * 5 > t.syn {
                continue;
            }
            t.alerted[i] = true;
            let elapsed = (ts - start).max(1);
            let rate = counts[i] as f64 / (elapsed as f64 / 1e9).max(1.0);
            let (sig, what, techniques): (u32, &str, &[&str]) = match i {
                SYN_I => (sid::FLOOD_SYN, "SYN flood", &["T1499.001", "T1498.001"]),
                UDP_I => (sid::FLOOD_UDP, "UDP flood", &["T1498.001"]),
                ICMP_I => (sid::FLOOD_ICMP, "ICMP flood", &["T1498.001"]),
                _ => (sid::FLOOD_FRAG, "IP fragment flood", &["T1498.001"]),
            };
            let ev = evidence! {
                "packets" => counts[i],
                "rate_per_s" => (rate * 10.0).round() / 10.0,
                "distinct_sources" => t.sources.len() as u64,
                "spoofed" => spoofed,
                "syns" => t.syn,
                "ecn_setup_syns" => t.ecn_syn,
                "syns_followed_by_data" => t.spoke,
                "udp_packets" => t.udp,
                "icmp_packets" => t.icmp,
                "fragments" => t.frags,
                "window_s" => secs(ts - start),
            };
            let shown = FlowRef { ..e.flow };
            let d = draft(
                "flood",
                sig,
                format!(
                    "MEKONG DOS {what} against {dst}{}",
                    if spoofed {
                        " from spoofed sources".to_string()
                    } else {
                        format!(" from {src}")
                    }
                ),
                "attempted-dos",
                techniques,
                src,
                dst,
                (i == SYN_I).then_some(if e.flow.resp == dst {
                    e.flow.resp_port
                } else {
                    e.flow.orig_port
                }),
                &shown,
                start,
                ev,
            );
            cx.inc.hit(key, ts, counts[i], || d);
        }
    }

    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.targets.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.targets.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.targets.len()
    }
}

struct Add {
    syn: u64,
    ecn: u64,
    udp: u64,
    icmp: u64,
    frags: u64,
    spoke: u64,
}
