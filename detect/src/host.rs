//! The host stage: every worker's events, merged in packet-time order, go
//! through every behavioural detector; hits become incidents and alerts.
//!
//! Workers are spread over address pairs, so the flows of one host reach
//! several of them. Each worker sends its events in the order it saw its
//! packets, with a *watermark*: the packet time it has reached, which no
//! later event of that worker will precede. [`Merger`] holds events until
//! every live worker's watermark has passed them, then releases them in the
//! order of (time, kind, endpoints), which does not depend on how packets
//! were spread: the same capture gives the same events in the same order,
//! so the same alerts, with 1 worker or N.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use hashbrown::HashSet;

use crate::alert::Alert;
use crate::config::DetectConfig;
use crate::detectors::{
    amplify::Amplify, beacon::Beacon, brute::Brute, dnstunnel::DnsTunnel, exfil::Exfil,
    flood::Floods, scan::Scans, Cx,
};
use crate::event::{EventKind, HostEvent};
use crate::incident::{Draft, Incidents, Key};
use crate::net::IpSet;

/// Counters of the host stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Events handled.
    pub events: u64,
    /// Alerts raised (start and update).
    pub alerts: u64,
    /// Hits counted into open incidents.
    pub suppressed: u64,
    /// Incidents closed early (too many open).
    pub closed_early: u64,
    /// Keys of detector state held at the last sweep.
    pub state_keys: u64,
    /// Most keys held at a sweep.
    pub peak_state_keys: u64,
    /// Events that arrived after later ones had been released (a worker's
    /// clock went backwards).
    pub late: u64,
}

/// Every detector and the incidents.
pub struct HostStage {
    home: IpSet,
    allow: IpSet,
    scans: Scans,
    brute: Brute,
    floods: Floods,
    amplify: Amplify,
    dns: DnsTunnel,
    beacon: Beacon,
    exfil: Exfil,
    incidents: Incidents,
    c2_peers: HashSet<(IpAddr, IpAddr)>,
    last_sweep: u64,
    now: u64,
    stats: HostStats,
}

impl HostStage {
    /// The stage for a checked configuration.
    pub fn new(c: &DetectConfig) -> HostStage {
        HostStage {
            home: DetectConfig::set(&c.net.home_net),
            allow: DetectConfig::set(&c.net.allow),
            scans: Scans::new(c),
            brute: Brute::new(c),
            floods: Floods::new(c),
            amplify: Amplify::new(c),
            dns: DnsTunnel::new(c),
            beacon: Beacon::new(c),
            exfil: Exfil::new(c),
            incidents: Incidents::new(c.alerts.dedup_window_s * 1_000_000_000, c.alerts.max_open),
            c2_peers: HashSet::new(),
            last_sweep: 0,
            now: 0,
            stats: HostStats::default(),
        }
    }

    /// Handles one event (events must come in packet-time order).
    pub fn event(&mut self, e: &HostEvent) {
        self.stats.events += 1;
        if e.ts_ns < self.now {
            self.stats.late += 1;
        }
        self.now = self.now.max(e.ts_ns);
        let mut cx = Cx {
            inc: &mut self.incidents,
            home: &self.home,
            allow: &self.allow,
            c2_peers: &mut self.c2_peers,
        };
        match &e.kind {
            EventKind::Finding(f) => finding(e, f, &mut cx),
            EventKind::Dns(_) => self.dns.event(e, &mut cx),
            EventKind::Login { .. } => self.brute.event(e, &mut cx),
            EventKind::Volume { .. } => {
                self.floods.event(e, &mut cx);
                self.amplify.event(e, &mut cx);
                self.exfil.event(e, &mut cx);
            }
            EventKind::Closed { .. } => {
                self.brute.event(e, &mut cx);
                self.beacon.event(e, &mut cx);
            }
            EventKind::Start { .. } => {
                self.scans.event(e, &mut cx);
                self.floods.event(e, &mut cx);
                self.amplify.event(e, &mut cx);
                self.beacon.event(e, &mut cx);
            }
            EventKind::Spoke => {
                self.scans.event(e, &mut cx);
                self.floods.event(e, &mut cx);
            }
            EventKind::Arp { .. }
            | EventKind::Answered
            | EventKind::Refused
            | EventKind::Unreachable { .. }
            | EventKind::Accepted => self.scans.event(e, &mut cx),
        }
        self.advance(e.ts_ns);
    }

    /// Packet time has reached `now`: closes incidents and forgets state
    /// whose windows have passed.
    pub fn advance(&mut self, now: u64) {
        self.now = self.now.max(now);
        self.incidents.advance(self.now);
        if self.now.saturating_sub(self.last_sweep) >= 10_000_000_000 {
            self.last_sweep = self.now;
            self.scans.sweep(self.now);
            self.brute.sweep(self.now);
            self.floods.sweep(self.now);
            self.amplify.sweep(self.now);
            self.dns.sweep(self.now);
            self.beacon.sweep(self.now);
            self.exfil.sweep(self.now);
            let keys = self.keys() as u64;
            self.stats.state_keys = keys;
            self.stats.peak_state_keys = self.stats.peak_state_keys.max(keys);
        }
    }

    fn keys(&self) -> usize {
        self.scans.keys()
            + self.brute.keys()
            + self.floods.keys()
            + self.amplify.keys()
            + self.dns.keys()
            + self.beacon.keys()
            + self.exfil.keys()
    }

    /// The input ended: every incident closes.
    pub fn finish(&mut self) {
        let keys = self.keys() as u64;
        self.stats.peak_state_keys = self.stats.peak_state_keys.max(keys);
        self.incidents.finish();
    }

    /// Alerts raised since the last call, in the order raised.
    pub fn drain(&mut self) -> Vec<Alert> {
        let v: Vec<Alert> = self.incidents.drain().collect();
        self.stats.alerts += v.len() as u64;
        v
    }

    /// Counters.
    pub fn stats(&self) -> HostStats {
        HostStats {
            suppressed: self.incidents.suppressed,
            closed_early: self.incidents.closed_early,
            ..self.stats
        }
    }
}

/// A flow-level finding becomes a hit like any other.
fn finding(e: &HostEvent, f: &crate::event::Finding, cx: &mut Cx<'_>) {
    let fl = &e.flow;
    let (src, dst) = if f.attacker_is_resp {
        (fl.resp, fl.orig)
    } else {
        (fl.orig, fl.resp)
    };
    if cx.allow.contains(src) {
        return;
    }
    let technique: &'static str = f
        .techniques
        .first()
        .and_then(|t| crate::attack::technique(t))
        .map(|t| t.id)
        .unwrap_or("T1071");
    if f.detector.starts_with("indicator") {
        let inside = if cx.home.contains(fl.orig) {
            fl.orig
        } else {
            fl.resp
        };
        let outside = if inside == fl.orig { fl.resp } else { fl.orig };
        cx.c2_peers.insert((inside, outside));
    }
    let key = Key {
        technique,
        attacker: src,
        target: dst,
    };
    let d = Draft {
        detector: f.detector,
        signature_id: f.signature_id,
        signature: f.signature.clone(),
        classtype: f.classtype,
        techniques: f.techniques.clone(),
        src,
        src_port: if src == fl.orig {
            Some(fl.orig_port)
        } else {
            Some(fl.resp_port)
        },
        dst,
        dst_port: if dst == fl.resp {
            Some(fl.resp_port)
        } else {
            Some(fl.orig_port)
        },
        proto: fl.proto,
        flow: Some(*fl),
        first_ns: e.ts_ns,
        evidence: f.evidence.clone(),
    };
    cx.inc.hit(key, e.ts_ns, 1, || d);
}

/// An event with its place in the merge order.
struct Queued {
    key: (u64, u8, [u8; 16], [u8; 16], u16, u16, u8, u16),
    seq: u64,
    event: HostEvent,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.seq) == (o.key, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.key, self.seq).cmp(&(o.key, o.seq))
    }
}

/// Merges the events of several workers in packet-time order (see the
/// module documentation).
pub struct Merger {
    heap: BinaryHeap<Reverse<Queued>>,
    marks: Vec<u64>,
    done: Vec<bool>,
    seq: u64,
    released: u64,
}

impl Merger {
    /// A merger of `workers` sources.
    pub fn new(workers: usize) -> Merger {
        Merger {
            heap: BinaryHeap::new(),
            marks: vec![0; workers.max(1)],
            done: vec![false; workers.max(1)],
            seq: 0,
            released: 0,
        }
    }

    /// Events of worker `w`, in its order.
    pub fn push(&mut self, _w: usize, events: impl IntoIterator<Item = HostEvent>) {
        for event in events {
            self.seq += 1;
            self.heap.push(Reverse(Queued {
                key: event.order_key(),
                seq: self.seq,
                event,
            }));
        }
    }

    /// Worker `w` has reached packet time `ts`.
    pub fn mark(&mut self, w: usize, ts: u64) {
        if let Some(m) = self.marks.get_mut(w) {
            *m = (*m).max(ts);
        }
    }

    /// Worker `w` has finished.
    pub fn finish(&mut self, w: usize) {
        if let Some(d) = self.done.get_mut(w) {
            *d = true;
        }
    }

    /// Time below which every event has arrived.
    pub fn watermark(&self) -> u64 {
        self.marks
            .iter()
            .zip(&self.done)
            .filter(|(_, d)| !**d)
            .map(|(m, _)| *m)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The next event that can no longer be preceded, if any.
    pub fn pop(&mut self) -> Option<HostEvent> {
        let wm = self.watermark();
        let ready = self.heap.peek().is_some_and(|Reverse(q)| q.key.0 < wm);
        if !ready {
            return None;
        }
        self.released += 1;
        self.heap.pop().map(|Reverse(q)| q.event)
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FlowRef;

    fn ev(ts: u64, port: u16) -> HostEvent {
        HostEvent {
            ts_ns: ts,
            flow: FlowRef {
                uid: 1,
                proto: 6,
                vlan: 0,
                orig: "10.0.0.1".parse().unwrap(),
                orig_port: 40000,
                resp: "10.0.0.2".parse().unwrap(),
                resp_port: port,
            },
            kind: EventKind::Accepted,
        }
    }

    #[test]
    fn the_merge_waits_for_every_worker_and_orders_ties() {
        let mut m = Merger::new(2);
        m.push(0, [ev(10, 2), ev(20, 1)]);
        m.mark(0, 25);
        assert!(m.pop().is_none(), "worker 1 may still send earlier events");
        m.push(1, [ev(10, 1)]);
        m.mark(1, 15);
        let a = m.pop().unwrap();
        let b = m.pop().unwrap();
        assert_eq!(
            (a.ts_ns, a.flow.resp_port),
            (10, 1),
            "ties ordered by endpoints"
        );
        assert_eq!((b.ts_ns, b.flow.resp_port), (10, 2));
        assert!(m.pop().is_none(), "20 is not below worker 1's mark");
        m.finish(1);
        assert_eq!(m.pop().unwrap().ts_ns, 20);
        assert!(m.is_empty());
    }
}
