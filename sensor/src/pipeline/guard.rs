//! Writing that survives a full disk (live runs): when a write fails, the
//! open files are given up (finished files stay intact), the loss is
//! counted, and writing stops; once a second a probe file tells whether
//! space has come back, and writing resumes with new files.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Live;
use crate::engine::FlowOut;
use crate::output::{AlertOut, Output, Sink, SinkError, SinkStats};

/// The writer's sink, with the stop-and-resume behaviour when `resilient`.
pub struct Guarded {
    inner: Output,
    resilient: bool,
    live: Arc<Live>,
    out_dir: PathBuf,
    /// Since when writing is stopped, and the last probe.
    stopped: Option<Instant>,
    probed: Instant,
}

/// How much free space a probe asks for before writing resumes.
const PROBE_BYTES: usize = 1 << 20;

impl Guarded {
    /// `resilient`: a failed write stops writing instead of ending the run.
    pub fn new(inner: Output, resilient: bool, live: Arc<Live>, out_dir: PathBuf) -> Guarded {
        Guarded {
            inner,
            resilient,
            live,
            out_dir,
            stopped: None,
            probed: Instant::now(),
        }
    }

    fn failed(&mut self, e: SinkError) -> Result<(), SinkError> {
        if !self.resilient {
            return Err(e);
        }
        let r = Ordering::Relaxed;
        self.live.write_errors.fetch_add(1, r);
        let (flows, alerts) = self.inner.abandon();
        self.live.records_lost.fetch_add(flows, r);
        self.live.alerts_lost.fetch_add(alerts, r);
        self.live.disk_full.store(1, r);
        eprintln!(
            "mekong-sensor: writing stopped ({e}); {flows} flow records and {alerts} alerts of the open files lost; finished files are intact; resuming when space returns"
        );
        self.stopped = Some(Instant::now());
        self.probed = Instant::now();
        Ok(())
    }

    /// While stopped: has space come back?
    fn probe(&mut self) -> bool {
        if self.stopped.is_none() {
            return true;
        }
        if self.probed.elapsed() < Duration::from_secs(1) {
            return false;
        }
        self.probed = Instant::now();
        let p = self.out_dir.join(".mekong-space-probe.tmp");
        let ok = std::fs::write(&p, vec![0u8; PROBE_BYTES]).is_ok();
        let _ = std::fs::remove_file(&p);
        if ok {
            let secs = self.stopped.map_or(0.0, |t| t.elapsed().as_secs_f64());
            self.stopped = None;
            self.live.disk_full.store(0, Ordering::Relaxed);
            eprintln!("mekong-sensor: writing resumed after {secs:.0} s");
        }
        ok
    }

    /// Files completed so far.
    pub fn files_done(&self) -> usize {
        self.inner.files_done()
    }
}

impl Sink for Guarded {
    fn flow(&mut self, r: &FlowOut) -> Result<(), SinkError> {
        if self.stopped.is_some() {
            self.live.records_lost.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        match self.inner.flow(r) {
            Ok(()) => Ok(()),
            Err(e) => self.failed(e),
        }
    }

    fn alert(&mut self, a: &AlertOut) -> Result<(), SinkError> {
        if self.stopped.is_some() {
            self.live.alerts_lost.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        match self.inner.alert(a) {
            Ok(()) => Ok(()),
            Err(e) => self.failed(e),
        }
    }

    fn alerts_flushed(&mut self) -> Result<(), SinkError> {
        if self.stopped.is_some() {
            return Ok(());
        }
        match self.inner.alerts_flushed() {
            Ok(()) => Ok(()),
            Err(e) => self.failed(e),
        }
    }

    fn watermark(&mut self, now_ns: u64) -> Result<(), SinkError> {
        if !self.probe() {
            return Ok(());
        }
        let r = self.inner.watermark(now_ns);
        self.live
            .files
            .store(self.inner.files_done() as u64, Ordering::Relaxed);
        match r {
            Ok(()) => Ok(()),
            Err(e) => self.failed(e),
        }
    }

    fn finish(&mut self) -> Result<SinkStats, SinkError> {
        if self.stopped.is_some() && !self.probe_now() {
            // Still no space: what is open cannot be written.
            let (flows, alerts) = self.inner.abandon();
            self.live.records_lost.fetch_add(flows, Ordering::Relaxed);
            self.live.alerts_lost.fetch_add(alerts, Ordering::Relaxed);
        }
        self.inner.finish()
    }
}

impl Guarded {
    fn probe_now(&mut self) -> bool {
        self.probed = Instant::now() - Duration::from_secs(2);
        self.probe()
    }
}
