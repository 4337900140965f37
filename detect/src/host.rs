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

use std::collections::VecDeque;
use std::net::IpAddr;

use hashbrown::HashSet;

use crate::alert::Alert;
use crate::config::DetectConfig;
use crate::detectors::{
    amplify::Amplify, beacon::Beacon, brute::Brute, dhcp::Dhcp, dnstunnel::DnsTunnel, exfil::Exfil,
    flood::Floods, scan::Scans, windows::Windows, Cx,
};
use crate::event::{EventKind, FlowRef, HostEvent};
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
    /// New keys of detector state refused because a table was full (a
    /// flood of new sources): the evidence of those keys is not counted.
    pub refused_keys: u64,
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
    windows: Windows,
    dhcp: Dhcp,
    incidents: Incidents,
    c2_peers: HashSet<(IpAddr, IpAddr)>,
    last_sweep: u64,
    now: u64,
    stats: HostStats,
}

impl HostStage {
    /// Takes a new configuration (a reload): the detectors start their
    /// windows over with the new thresholds, while open incidents, the
    /// clock and the counters stay, so an alert open before the reload is
    /// updated, not raised again.
    pub fn reload(&mut self, c: &DetectConfig) {
        let mut fresh = HostStage::new(c);
        std::mem::swap(&mut fresh.incidents, &mut self.incidents);
        fresh.c2_peers = std::mem::take(&mut self.c2_peers);
        fresh.last_sweep = self.last_sweep;
        fresh.now = self.now;
        fresh.stats = self.stats;
        *self = fresh;
    }

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
            windows: Windows::new(c),
            dhcp: Dhcp::new(c),
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
            // Signature matches are the rule engine's: its thresholds and
            // alerts are applied by the stage's owner, not by detectors.
            EventKind::Rule(_) => {}
            EventKind::Dns(_) => self.dns.event(e, &mut cx),
            EventKind::Login { .. } => self.brute.event(e, &mut cx),
            EventKind::Windows(_) => self.windows.event(e, &mut cx),
            EventKind::Dhcp(_) => self.dhcp.event(e, &mut cx),
            EventKind::Upload { .. } => self.exfil.event(e, &mut cx),
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
            self.windows.sweep(self.now);
            self.dhcp.sweep(self.now);
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
            + self.windows.keys()
            + self.dhcp.keys()
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
            refused_keys: self.scans.refused()
                + self.brute.refused()
                + self.floods.refused()
                + self.amplify.refused()
                + self.dns.refused()
                + self.beacon.refused()
                + self.exfil.refused()
                + self.windows.refused()
                + self.dhcp.refused(),
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

/// Merges the events of several workers in packet-time order (see the
/// module documentation).
///
/// Each worker's batches wait in its own queue, in its order (which is time
/// order). The next events to release are those of the earliest time at the
/// queues' heads, once that time is below every live worker's watermark:
/// all events of that time are then known, and are released sorted by
/// (kind, endpoints). Batches are kept as they came and handed back empty
/// ([`Merger::spent`]), so workers can reuse them without allocating.
pub struct Merger {
    queues: Vec<VecDeque<(Vec<HostEvent>, usize)>>,
    ready: VecDeque<HostEvent>,
    marks: Vec<u64>,
    done: Vec<bool>,
    held: usize,
    spent: Vec<(usize, Vec<HostEvent>)>,
}

/// What an event taken out of a batch leaves in its place.
fn placeholder() -> HostEvent {
    HostEvent {
        ts_ns: 0,
        flow: FlowRef {
            uid: 0,
            proto: 0,
            vlan: 0,
            orig: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            orig_port: 0,
            resp: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            resp_port: 0,
        },
        kind: EventKind::Accepted,
    }
}

impl Merger {
    /// A merger of `workers` sources.
    pub fn new(workers: usize) -> Merger {
        let n = workers.max(1);
        Merger {
            queues: (0..n).map(|_| VecDeque::new()).collect(),
            ready: VecDeque::new(),
            marks: vec![0; n],
            done: vec![false; n],
            held: 0,
            spent: Vec::new(),
        }
    }

    /// A batch of events of worker `w`, in its order.
    pub fn push(&mut self, w: usize, events: Vec<HostEvent>) {
        let w = w.min(self.queues.len() - 1);
        if events.is_empty() {
            self.spent.push((w, events));
            return;
        }
        self.held += events.len();
        self.queues[w].push_back((events, 0));
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

    fn head(&self, w: usize) -> Option<&HostEvent> {
        self.queues[w].front().and_then(|(b, i)| b.get(*i))
    }

    fn take(&mut self, w: usize) -> Option<HostEvent> {
        let q = &mut self.queues[w];
        let (b, i) = q.front_mut()?;
        let e = std::mem::replace(b.get_mut(*i)?, placeholder());
        *i += 1;
        if *i >= b.len() {
            if let Some((mut b, _)) = q.pop_front() {
                b.clear();
                self.spent.push((w, b));
            }
        }
        self.held -= 1;
        Some(e)
    }

    /// The next event that can no longer be preceded, if any.
    pub fn pop(&mut self) -> Option<HostEvent> {
        if let Some(e) = self.ready.pop_front() {
            return Some(e);
        }
        let mut t = u64::MAX;
        let mut at = 0;
        let mut heads = 0;
        for w in 0..self.queues.len() {
            if let Some(e) = self.head(w) {
                heads += 1;
                if e.ts_ns < t {
                    t = e.ts_ns;
                    at = w;
                }
            }
        }
        if heads == 0 || t >= self.watermark() {
            return None;
        }
        // Alone at its time (the common case): released at once.
        let alone = (0..self.queues.len())
            .filter(|&w| self.head(w).is_some_and(|e| e.ts_ns == t))
            .count()
            == 1;
        if alone {
            let e = self.take(at)?;
            if self.head(at).is_none_or(|n| n.ts_ns != t) {
                return Some(e);
            }
            self.ready.push_back(e);
        }
        for w in 0..self.queues.len() {
            while self.head(w).is_some_and(|e| e.ts_ns == t) {
                if let Some(e) = self.take(w) {
                    self.ready.push_back(e);
                }
            }
        }
        if self.ready.len() > 1 {
            self.ready.make_contiguous().sort_by_key(|e| e.order_key());
        }
        self.ready.pop_front()
    }

    /// Emptied batches, with the worker each came from, to hand back.
    pub fn spent(&mut self) -> std::vec::Drain<'_, (usize, Vec<HostEvent>)> {
        self.spent.drain(..)
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.held + self.ready.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        m.push(0, vec![ev(10, 2), ev(20, 1)]);
        m.mark(0, 25);
        assert!(m.pop().is_none(), "worker 1 may still send earlier events");
        m.push(1, vec![ev(10, 1)]);
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
