//! Deduplication: one alert per attacker, target and technique per window.
//!
//! A detector reports a *hit* each time its evidence qualifies. The first
//! hit of a key opens an incident and raises its alert at once (phase
//! `start`, with the evidence so far); later hits within the dedup window of
//! the last one are counted into it. When the window passes without a hit
//! (or the input ends), the incident closes, and if it grew after its first
//! alert, one more alert (phase `update`) carries the totals: count, first
//! and last seen, the latest evidence. The update is stamped with the
//! incident's last evidence (as an alert is stamped with the packet that
//! raised it), so it lies within the attack's time span, whatever the
//! threads and whenever the window was seen to pass.

use std::net::{IpAddr, Ipv4Addr};

use hashbrown::HashMap;
use serde_json::{Map, Value};

use crate::alert::{Alert, Phase};
use crate::event::FlowRef;
use crate::window::hash64;

/// What identifies an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// Primary technique (an index into the detector's own ids is enough,
    /// but the string keeps keys readable).
    pub technique: &'static str,
    /// The attacker (unspecified for floods from spoofed sources and for
    /// reflection, whose sources are not the attacker).
    pub attacker: IpAddr,
    /// The target (unspecified for sweeps across many hosts).
    pub target: IpAddr,
}

/// The unspecified address (`0.0.0.0`), for keys without one side.
pub const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// The alert an incident opens with, as a detector describes it.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Detector.
    pub detector: &'static str,
    /// Signature id.
    pub signature_id: u32,
    /// Message.
    pub signature: String,
    /// Classtype.
    pub classtype: &'static str,
    /// Techniques, primary first.
    pub techniques: Vec<String>,
    /// Attacker shown in the alert.
    pub src: IpAddr,
    /// Its port, when one matters.
    pub src_port: Option<u16>,
    /// Victim shown.
    pub dst: IpAddr,
    /// Its port, when one matters.
    pub dst_port: Option<u16>,
    /// Protocol.
    pub proto: u8,
    /// The flow of the hit.
    pub flow: Option<FlowRef>,
    /// First evidence, ns.
    pub first_ns: u64,
    /// Evidence so far.
    pub evidence: Map<String, Value>,
}

#[derive(Debug)]
struct Incident {
    alert: Alert,
    count_at_start: u64,
}

/// Open incidents and the alerts they raised.
#[derive(Debug)]
pub struct Incidents {
    open: HashMap<Key, Incident>,
    window_ns: u64,
    max_open: usize,
    last_close: u64,
    out: Vec<Alert>,
    /// Hits counted into an open incident instead of alerting again.
    pub suppressed: u64,
    /// Incidents closed early because too many were open.
    pub closed_early: u64,
}

impl Incidents {
    /// Incidents that stay open `window_ns` after their last hit, at most
    /// `max_open` at once.
    pub fn new(window_ns: u64, max_open: usize) -> Incidents {
        Incidents {
            open: HashMap::new(),
            window_ns,
            max_open: max_open.max(1),
            last_close: 0,
            out: Vec::new(),
            suppressed: 0,
            closed_early: 0,
        }
    }

    /// True when `key` has an open incident at `ts`.
    pub fn is_open(&self, key: &Key, ts: u64) -> bool {
        self.open
            .get(key)
            .is_some_and(|i| ts.saturating_sub(i.alert.last_ns) <= self.window_ns)
    }

    /// A hit of `key` at `ts` worth `weight`; `draft` describes the alert
    /// when the hit opens an incident.
    pub fn hit(&mut self, key: Key, ts: u64, weight: u64, draft: impl FnOnce() -> Draft) {
        if let Some(inc) = self.open.get_mut(&key) {
            if ts.saturating_sub(inc.alert.last_ns) <= self.window_ns {
                inc.alert.count += weight;
                inc.alert.last_ns = inc.alert.last_ns.max(ts);
                self.suppressed += 1;
                return;
            }
            // The window passed: close it before opening the next.
            if let Some(old) = self.open.remove(&key) {
                self.close(old);
            }
        }
        if self.open.len() >= self.max_open {
            self.close_oldest();
        }
        let d = draft();
        let first = d.first_ns.min(ts);
        let mut id_bytes = Vec::with_capacity(64);
        id_bytes.extend_from_slice(key.technique.as_bytes());
        id_bytes.extend_from_slice(key.attacker.to_string().as_bytes());
        id_bytes.extend_from_slice(key.target.to_string().as_bytes());
        id_bytes.extend_from_slice(&first.to_le_bytes());
        let alert = Alert {
            ts_ns: ts,
            incident: hash64(&id_bytes),
            phase: Phase::Start,
            detector: d.detector,
            gid: 1,
            signature_id: d.signature_id,
            rev: 1,
            signature: d.signature,
            classtype: d.classtype,
            techniques: d.techniques,
            src: d.src,
            src_port: d.src_port,
            dst: d.dst,
            dst_port: d.dst_port,
            proto: d.proto,
            flow: d.flow,
            first_ns: first,
            last_ns: ts,
            count: weight,
            evidence: d.evidence,
            rule: None,
        };
        self.out.push(alert.clone());
        self.open.insert(
            key,
            Incident {
                count_at_start: weight,
                alert,
            },
        );
    }

    /// Replaces the evidence of `key`'s open incident (a detector with a
    /// fuller picture, at the end of its window).
    pub fn refresh(&mut self, key: &Key, evidence: Map<String, Value>) {
        if let Some(inc) = self.open.get_mut(key) {
            inc.alert.evidence = evidence;
        }
    }

    fn close(&mut self, inc: Incident) {
        if inc.alert.count > inc.count_at_start {
            let mut a = inc.alert;
            a.phase = Phase::Update;
            a.ts_ns = a.last_ns;
            self.out.push(a);
        }
    }

    fn close_oldest(&mut self) {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, i)| (i.alert.last_ns, i.alert.incident))
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            if let Some(inc) = self.open.remove(&k) {
                self.closed_early += 1;
                self.close(inc);
            }
        }
    }

    /// Packet time is `now`: closes the incidents whose window has passed
    /// (looked at about once a second of packet time).
    pub fn advance(&mut self, now: u64) {
        if now.saturating_sub(self.last_close) < 1_000_000_000 {
            return;
        }
        self.last_close = now;
        let w = self.window_ns;
        let mut done: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, i)| now.saturating_sub(i.alert.last_ns) > w)
            .map(|(k, _)| *k)
            .collect();
        self.close_keys(&mut done);
    }

    fn close_keys(&mut self, keys: &mut [Key]) {
        let mut closing: Vec<Incident> = keys.iter().filter_map(|k| self.open.remove(k)).collect();
        closing.sort_by_key(|i| (i.alert.last_ns, i.alert.incident));
        for i in closing {
            self.close(i);
        }
    }

    /// Closes every incident (the input ended).
    pub fn finish(&mut self) {
        let mut all: Vec<Key> = self.open.keys().copied().collect();
        self.close_keys(&mut all);
    }

    /// Alerts raised since the last call.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Alert> {
        self.out.drain(..)
    }

    /// Incidents open now.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            detector: "test",
            signature_id: 1,
            signature: "t".into(),
            classtype: "attempted-recon",
            techniques: vec!["T1046".into()],
            src: "10.0.0.1".parse().unwrap(),
            src_port: None,
            dst: "10.0.0.2".parse().unwrap(),
            dst_port: None,
            proto: 6,
            flow: None,
            first_ns: 0,
            evidence: Map::new(),
        }
    }

    fn key() -> Key {
        Key {
            technique: "T1046",
            attacker: "10.0.0.1".parse().unwrap(),
            target: "10.0.0.2".parse().unwrap(),
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn one_alert_per_window_then_the_totals() {
        let mut inc = Incidents::new(60 * S, 10);
        inc.hit(key(), 10 * S, 20, draft);
        inc.hit(key(), 11 * S, 1, draft);
        inc.hit(key(), 69 * S, 1, draft);
        let a: Vec<Alert> = inc.drain().collect();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].phase, a[0].count), (Phase::Start, 20));
        assert_eq!(inc.suppressed, 2);
        // 60 s after the last hit (69 s) the incident closes with its totals.
        inc.advance(129 * S);
        assert_eq!(inc.drain().count(), 0, "not yet: exactly the window");
        inc.advance(130 * S);
        let a: Vec<Alert> = inc.drain().collect();
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].phase, a[0].count, a[0].first_ns, a[0].last_ns),
            (Phase::Update, 22, 0, 69 * S)
        );
        assert_eq!(a[0].ts_ns, 69 * S, "stamped with its last evidence");
        // A new hit after the window opens a new incident.
        inc.hit(key(), 200 * S, 5, draft);
        let a: Vec<Alert> = inc.drain().collect();
        assert_eq!((a.len(), a[0].phase), (1, Phase::Start));
    }

    #[test]
    fn an_incident_that_did_not_grow_closes_silently() {
        let mut inc = Incidents::new(10 * S, 10);
        inc.hit(key(), S, 3, draft);
        inc.finish();
        assert_eq!(inc.drain().count(), 1);
    }

    #[test]
    fn too_many_open_incidents_close_the_oldest() {
        let mut inc = Incidents::new(100 * S, 2);
        for i in 0..3u8 {
            let k = Key {
                target: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
                ..key()
            };
            inc.hit(k, u64::from(i) * S, 1, draft);
        }
        assert_eq!(inc.open_count(), 2);
        assert_eq!(inc.closed_early, 1);
    }
}
