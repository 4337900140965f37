//! Large outbound transfers (T1048, T1041).
//!
//! Payload sent from a `home_net` host to one peer outside it is summed over
//! `exfil.window_s` from the first byte, whichever side opened the flows
//! (an outsider pulling data from an inside server counts too). At least
//! `exfil.min_bytes` out, and at least `exfil.min_ratio` times the bytes
//! that came back, is an exfiltration: T1041 first when the peer is a known
//! command channel of that host (a beacon or indicator alert named it), else
//! T1048 first; both are named, since the channel alone cannot tell them
//! apart.

use std::net::IpAddr;

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::event::{EventKind, HostEvent};
use crate::evidence;
use crate::incident::Key;
use crate::net::IpSet;
use crate::window::{Slot, Windowed};

use super::scan::unreachable_draft;

#[derive(Default)]
struct Pair {
    out: u64,
    inb: u64,
    flows: u64,
    alerted: bool,
}

/// The transfer detector.
pub struct Exfil {
    on: bool,
    min_bytes: u64,
    min_ratio: f64,
    allow: IpSet,
    pairs: Windowed<(IpAddr, IpAddr), Pair>,
}

impl Exfil {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Exfil {
        let x = &c.exfil;
        Exfil {
            on: x.enabled,
            min_bytes: x.min_bytes,
            min_ratio: x.min_ratio,
            allow: DetectConfig::set(&x.allow),
            pairs: Windowed::new(x.window_s * 1_000_000_000, 500_000),
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        if !self.on {
            return;
        }
        let EventKind::Volume {
            orig_bytes,
            resp_bytes,
            ..
        } = e.kind
        else {
            return;
        };
        let f = &e.flow;
        let (host, peer, out, inb) = match (cx.home.contains(f.orig), cx.home.contains(f.resp)) {
            (true, false) => (f.orig, f.resp, orig_bytes, resp_bytes),
            (false, true) => (f.resp, f.orig, resp_bytes, orig_bytes),
            _ => return,
        };
        if out == 0 || self.allow.contains(peer) || cx.allow.contains(peer) {
            return;
        }
        let ts = e.ts_ns;
        let Slot::Live(p, start) = self.pairs.get((host, peer), ts) else {
            return;
        };
        p.out += out;
        p.inb += inb;
        p.flows += 1;
        let c2 = cx.c2_peers.contains(&(host, peer));
        let techniques: &[&str] = if c2 {
            &["T1041", "T1048"]
        } else {
            &["T1048", "T1041"]
        };
        let key = Key {
            technique: techniques[0],
            attacker: host,
            target: peer,
        };
        if p.alerted && cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, out, || unreachable_draft(f));
            return;
        }
        if p.out < self.min_bytes || (p.out as f64) < self.min_ratio * (p.inb.max(1) as f64) {
            return;
        }
        p.alerted = true;
        let ratio = p.out as f64 / p.inb.max(1) as f64;
        let ev = evidence! {
            "bytes_out" => p.out,
            "bytes_in" => p.inb,
            "out_in_ratio" => (ratio * 10.0).round() / 10.0,
            "peer_is_c2" => c2,
            "port" => if f.orig == host { f.resp_port } else { f.orig_port },
            "window_s" => secs(ts - start),
        };
        let bytes = p.out;
        let d = draft(
            "exfil.volume",
            sid::EXFIL,
            format!(
                "MEKONG EXFIL {:.1} MB sent from {host} to {peer}{}",
                bytes as f64 / 1e6,
                if c2 { " (its command server)" } else { "" }
            ),
            "policy-violation",
            techniques,
            host,
            peer,
            None,
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, bytes, || d);
    }

    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.pairs.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.pairs.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.pairs.len()
    }
}
