//! Counters the threads of a run publish as they go (relaxed atomic
//! stores, once per batch or heartbeat, never per packet), read by the
//! progress line and by the metrics endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::decode::Reason;

/// What one worker publishes.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    /// Flows in its table now.
    pub flows: AtomicUsize,
    /// Flows created.
    pub flows_created: AtomicU64,
    /// Flows evicted because its table was full.
    pub evicted: AtomicU64,
    /// Packets it decoded.
    pub packets: AtomicU64,
    /// Decode errors, by reason (indexed like [`Reason::ALL`]).
    pub decode_errors: [AtomicU64; 9],
    /// Messages waiting in its queue.
    pub queue: AtomicUsize,
    /// Parser buffer bytes its flows hold now.
    pub stream_buffer_bytes: AtomicUsize,
    /// Stream buffers refused because the budget was used up.
    pub stream_budget_exhausted: AtomicU64,
}

/// What one live interface publishes.
#[derive(Debug, Default)]
pub struct CaptureCounters {
    /// The interface.
    pub interface: String,
    /// Packets read.
    pub packets: AtomicU64,
    /// Bytes on the wire of the packets read.
    pub bytes: AtomicU64,
    /// libpcap's received counter.
    pub received: AtomicU64,
    /// Dropped by the kernel (buffer full).
    pub kernel_dropped: AtomicU64,
    /// Dropped by the interface.
    pub if_dropped: AtomicU64,
}

/// Every counter of a run.
#[derive(Debug, Default)]
pub struct Live {
    /// By worker.
    pub workers: Vec<WorkerCounters>,
    /// By interface (live runs).
    pub captures: Vec<CaptureCounters>,
    /// Flow records handed to the writer.
    pub records: AtomicU64,
    /// Flow records the writer could not write (the disk was full).
    pub records_lost: AtomicU64,
    /// Parquet and EVE files completed.
    pub files: AtomicU64,
    /// Alerts the writer could not write (the disk was full).
    pub alerts_lost: AtomicU64,
    /// Output errors (a write failed; writing resumes when space returns).
    pub write_errors: AtomicU64,
    /// 1 while writing is stopped because the disk is full.
    pub disk_full: AtomicU64,
    /// Alerts written, by primary technique.
    pub alerts: Mutex<BTreeMap<String, u64>>,
    /// Reloads done (SIGHUP).
    pub reloads: AtomicU64,
    /// Reloads refused (the new rules or thresholds did not load).
    pub reload_failures: AtomicU64,
    /// Partitions deleted by retention.
    pub retention_deleted: AtomicU64,
}

impl Live {
    /// Counters of `workers` workers and these interfaces.
    pub fn new(workers: usize, interfaces: &[String]) -> Live {
        Live {
            workers: (0..workers).map(|_| WorkerCounters::default()).collect(),
            captures: interfaces
                .iter()
                .map(|i| CaptureCounters {
                    interface: i.clone(),
                    ..CaptureCounters::default()
                })
                .collect(),
            ..Live::default()
        }
    }

    /// Flows held now, all workers.
    pub fn flows(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.flows.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts an alert of `technique`.
    pub fn alert(&self, technique: &str) {
        if let Ok(mut m) = self.alerts.lock() {
            *m.entry(technique.to_string()).or_insert(0) += 1;
        }
    }
}

impl WorkerCounters {
    /// Publishes a worker's state.
    pub(crate) fn publish(
        &self,
        table: &crate::flow::TableStats,
        flows: usize,
        decode: &crate::decode::DecodeStats,
        app: Option<&crate::app::AppStage>,
    ) {
        let r = Ordering::Relaxed;
        self.flows.store(flows, r);
        self.flows_created.store(table.flows, r);
        self.evicted.store(table.evicted, r);
        for (i, _) in Reason::ALL.iter().enumerate() {
            if let (Some(a), Some(v)) = (self.decode_errors.get(i), decode.errors.get(i)) {
                a.store(*v, r);
            }
        }
        if let Some(a) = app {
            self.stream_buffer_bytes.store(a.buffer_bytes(), r);
            self.stream_budget_exhausted
                .store(a.stats().budget_exhausted, r);
        }
    }
}
