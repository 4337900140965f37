//! The host stage's side of the data path: the events of every worker,
//! merged in packet-time order ([`Merger`]), through the behavioural
//! detectors ([`HostStage`]); alerts and the packet time reached go to the
//! writer.
//!
//! It runs in a thread of its own, or, with a single worker, inside the
//! writer's thread: on a two-core machine the reader (with its worker) and
//! the writer already fill the cores, and a third busy thread would only
//! take turns with the reader. The code is the same either way
//! ([`HostSide`]), and so are the alerts.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use mekong_detect::alert::{Alert, Phase, RuleAlert};
use mekong_detect::config::DetectConfig;
use mekong_detect::event::{EventKind, HostEvent, RuleHit};
use mekong_detect::host::{HostStage, HostStats, Merger};
use mekong_signatures::threshold::{Match, Thresholds};

use crate::rules::Rules;

/// What workers tell the host stage.
pub enum HostMsg {
    /// Events of a worker, in its order, and the packet time it has
    /// reached (no later event of it will be earlier).
    Events {
        /// The worker.
        worker: usize,
        /// Its events.
        events: Vec<HostEvent>,
        /// Its packet time.
        mark: u64,
    },
    /// The worker has finished.
    Done(usize),
    /// New thresholds and rules (SIGHUP), from now on.
    Reload(Box<(DetectConfig, Option<Arc<Rules>>)>),
}

/// What the host stage tells the writer.
pub enum HostOut {
    /// Alerts raised.
    Alerts(Vec<Alert>),
    /// Every event before this packet time has been handled (and its alerts
    /// sent before this message).
    Progress(u64),
}

/// The merger and the detectors, fed message by message.
pub struct HostSide {
    stage: HostStage,
    rules: Option<Arc<Rules>>,
    thresholds: Thresholds,
    rule_alerts: Vec<Alert>,
    seq: u64,
    merger: Merger,
    returns: Vec<Sender<Vec<HostEvent>>>,
    last_progress: u64,
    peak: usize,
}

impl HostSide {
    /// The host stage of `workers` workers; emptied event batches go back
    /// through `returns` (one channel per worker).
    pub fn new(
        cfg: &DetectConfig,
        rules: Option<Arc<Rules>>,
        workers: usize,
        returns: Vec<Sender<Vec<HostEvent>>>,
    ) -> HostSide {
        let thresholds = Thresholds::new(
            rules
                .as_ref()
                .map(|r| r.thresholds.clone())
                .unwrap_or_default(),
        );
        HostSide {
            stage: HostStage::new(cfg),
            rules,
            thresholds,
            rule_alerts: Vec::new(),
            seq: 0,
            merger: Merger::new(workers),
            returns,
            last_progress: 0,
            peak: 0,
        }
    }

    /// Handles one message from a worker.
    pub fn message(&mut self, msg: HostMsg, out: &mut dyn FnMut(HostOut)) {
        match msg {
            HostMsg::Events {
                worker,
                events,
                mark,
            } => {
                self.merger.push(worker, events);
                self.merger.mark(worker, mark);
            }
            HostMsg::Done(w) => self.merger.finish(w),
            HostMsg::Reload(r) => {
                let (cfg, rules) = *r;
                self.stage.reload(&cfg);
                self.thresholds = Thresholds::new(
                    rules
                        .as_ref()
                        .map(|r| r.thresholds.clone())
                        .unwrap_or_default(),
                );
                self.rules = rules;
            }
        }
        self.peak = self.peak.max(self.merger.len());
        while let Some(e) = self.merger.pop() {
            self.event(&e);
        }
        // Emptied batches go back to their workers, to be filled again.
        for (w, b) in self.merger.spent() {
            if let Some(tx) = self.returns.get(w) {
                let _ = tx.try_send(b);
            }
        }
        let wm = self.merger.watermark();
        if wm != u64::MAX {
            self.stage.advance(wm);
        }
        let mut alerts = std::mem::take(&mut self.rule_alerts);
        alerts.extend(self.stage.drain());
        if !alerts.is_empty() {
            out(HostOut::Alerts(alerts));
        }
        if wm != self.last_progress && wm != u64::MAX {
            self.last_progress = wm;
            out(HostOut::Progress(wm));
        }
    }

    /// One event in packet-time order: a signature's match goes through
    /// its thresholds to an alert, everything else to the detectors.
    fn event(&mut self, e: &HostEvent) {
        match &e.kind {
            EventKind::Rule(h) => self.rule_hit(e, h),
            _ => self.stage.event(e),
        }
    }

    fn rule_hit(&mut self, e: &HostEvent, h: &RuleHit) {
        let Some(rules) = &self.rules else { return };
        // A hit raised under the rules before a reload: its index names
        // a rule of the old set; the hit's own metadata still names it.
        let Some(c) = rules
            .set
            .rules()
            .get(h.rule as usize)
            .filter(|c| c.info.sid == h.meta.sid)
        else {
            return;
        };
        let m = Match {
            gid: h.meta.gid,
            sid: h.meta.sid,
            src: h.src,
            dst: h.dst,
            sport: h.sport,
            dport: h.dport,
            flow: e.flow.uid,
            ts_ns: e.ts_ns,
        };
        if !self
            .thresholds
            .alert(&m, c.info.threshold, c.info.detection_filter)
        {
            return;
        }
        self.seq += 1;
        let mut id = [0u8; 24];
        id[..8].copy_from_slice(&e.ts_ns.to_le_bytes());
        id[8..12].copy_from_slice(&h.meta.sid.to_le_bytes());
        id[12..20].copy_from_slice(&e.flow.uid.to_le_bytes());
        id[20..24].copy_from_slice(&(self.seq as u32).to_le_bytes());
        let incident = mekong_detect::window::hash64(&id);
        // `target`: the alert's source and target as the rule says; else
        // the packet's source is the one blamed.
        let (src, sport, dst, dport) = match h.meta.target_is_src {
            Some(true) => (h.dst, h.dport, h.src, h.sport),
            _ => (h.src, h.sport, h.dst, h.dport),
        };
        self.rule_alerts.push(Alert {
            ts_ns: e.ts_ns,
            incident,
            phase: Phase::Start,
            detector: "rule",
            gid: h.meta.gid,
            signature_id: h.meta.sid,
            rev: h.meta.rev,
            signature: h.meta.msg.clone(),
            classtype: "",
            techniques: h.meta.techniques.clone(),
            src,
            src_port: Some(sport),
            dst,
            dst_port: Some(dport),
            proto: e.flow.proto,
            flow: Some(e.flow),
            first_ns: e.ts_ns,
            last_ns: e.ts_ns,
            count: 1,
            evidence: rule_evidence(&h.meta.action, h.to_server, h.app_proto, h.stream),
            rule: Some(RuleAlert {
                meta: Arc::clone(&h.meta),
                to_server: h.to_server,
                app_proto: h.app_proto,
                stream: h.stream,
            }),
        });
    }

    /// Every worker is gone: what is left is released, every incident
    /// closes. Returns the counters and the most events held at once.
    pub fn finish(mut self, workers: usize, out: &mut dyn FnMut(HostOut)) -> (HostStats, usize) {
        for w in 0..workers {
            self.merger.finish(w);
        }
        while let Some(e) = self.merger.pop() {
            self.event(&e);
        }
        self.stage.finish();
        let mut alerts = std::mem::take(&mut self.rule_alerts);
        alerts.extend(self.stage.drain());
        if !alerts.is_empty() {
            out(HostOut::Alerts(alerts));
        }
        out(HostOut::Progress(u64::MAX));
        (self.stage.stats(), self.peak)
    }
}

/// Runs the host stage in its own thread until every worker is done.
pub fn run(
    cfg: &DetectConfig,
    rules: Option<Arc<Rules>>,
    workers: usize,
    rx: Receiver<HostMsg>,
    returns: Vec<Sender<Vec<HostEvent>>>,
    out: &mut dyn FnMut(HostOut),
) -> (HostStats, usize) {
    let mut side = HostSide::new(cfg, rules, workers, returns);
    for msg in rx {
        side.message(msg, out);
    }
    side.finish(workers, out)
}

/// A rule alert's evidence: the rule's action (a `drop` or `reject` rule
/// alerts only: Mekong is passive), the direction, the application protocol
/// and whether the stream or a packet matched. Never payload.
fn rule_evidence(
    action: &str,
    to_server: bool,
    app_proto: Option<&str>,
    stream: bool,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("rule_action".into(), action.into());
    m.insert(
        "direction".into(),
        if to_server { "to_server" } else { "to_client" }.into(),
    );
    if let Some(a) = app_proto {
        m.insert("app_proto".into(), a.into());
    }
    m.insert(
        "matched_in".into(),
        if stream { "stream" } else { "packet" }.into(),
    );
    m
}
