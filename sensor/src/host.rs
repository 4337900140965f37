//! The host-stage thread: the events of every worker, merged in packet-time
//! order ([`Merger`]), through the behavioural detectors ([`HostStage`]);
//! alerts and the packet time reached go to the writer.

use crossbeam_channel::Receiver;
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

/// Runs the host stage until every worker is done; returns its counters
/// and the most events it held waiting at once.
pub fn run(
    cfg: &DetectConfig,
    workers: usize,
    rx: Receiver<HostMsg>,
    out: &dyn Fn(HostOut),
) -> (HostStats, usize) {
    let mut stage = HostStage::new(cfg);
    let mut merger = Merger::new(workers);
    let mut peak = 0usize;
    let mut last_progress = 0u64;
    for msg in rx {
        match msg {
            HostMsg::Events {
                worker,
                events,
                mark,
            } => {
                merger.push(worker, events);
                merger.mark(worker, mark);
            }
            HostMsg::Done(w) => merger.finish(w),
        }
        peak = peak.max(merger.len());
        while let Some(e) = merger.pop() {
            stage.event(&e);
        }
        let wm = merger.watermark();
        if wm != u64::MAX {
            stage.advance(wm);
        }
        let alerts = stage.drain();
        if !alerts.is_empty() {
            out(HostOut::Alerts(alerts));
        }
        if wm != last_progress && wm != u64::MAX {
            last_progress = wm;
            out(HostOut::Progress(wm));
        }
    }
    // Every worker is gone: what is left can be released.
    for w in 0..workers {
        merger.finish(w);
    }
    while let Some(e) = merger.pop() {
        stage.event(&e);
    }
    stage.finish();
    let alerts = stage.drain();
    if !alerts.is_empty() {
        out(HostOut::Alerts(alerts));
    }
    out(HostOut::Progress(u64::MAX));
    (stage.stats(), peak)
}
