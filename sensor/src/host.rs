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

use crossbeam_channel::{Receiver, Sender};
use mekong_detect::alert::Alert;
use mekong_detect::config::DetectConfig;
use mekong_detect::event::HostEvent;
use mekong_detect::host::{HostStage, HostStats, Merger};

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
        workers: usize,
        returns: Vec<Sender<Vec<HostEvent>>>,
    ) -> HostSide {
        HostSide {
            stage: HostStage::new(cfg),
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
        }
        self.peak = self.peak.max(self.merger.len());
        while let Some(e) = self.merger.pop() {
            self.stage.event(&e);
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
        let alerts = self.stage.drain();
        if !alerts.is_empty() {
            out(HostOut::Alerts(alerts));
        }
        if wm != self.last_progress && wm != u64::MAX {
            self.last_progress = wm;
            out(HostOut::Progress(wm));
        }
    }

    /// Every worker is gone: what is left is released, every incident
    /// closes. Returns the counters and the most events held at once.
    pub fn finish(mut self, workers: usize, out: &mut dyn FnMut(HostOut)) -> (HostStats, usize) {
        for w in 0..workers {
            self.merger.finish(w);
        }
        while let Some(e) = self.merger.pop() {
            self.stage.event(&e);
        }
        self.stage.finish();
        let alerts = self.stage.drain();
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
    workers: usize,
    rx: Receiver<HostMsg>,
    returns: Vec<Sender<Vec<HostEvent>>>,
    out: &mut dyn FnMut(HostOut),
) -> (HostStats, usize) {
    let mut side = HostSide::new(cfg, workers, returns);
    for msg in rx {
        side.message(msg, out);
    }
    side.finish(workers, out)
}
