//! The threads of an offline run: a reader (files, filter, dispatch), N flow
//! workers, and a writer.
//!
//! With one worker the reader decodes and tracks flows itself. With more, the
//! reader sends each packet's place in the mapped file to the worker chosen by
//! a symmetric hash of its (inner) address pair, so both directions of a flow
//! and every fragment of a datagram meet in one worker; workers decode again
//! and keep their own flow tables. Records go to the writer thread, which
//! closes partitions when every worker's packet time has moved past them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use memmap2::Mmap;
use thiserror::Error;

use crate::capture::{packet_at, CaptureError, CaptureFile, Filter, FilterError, RawPacket};
use crate::decode::{address_pair, DecodeStats, Decoded, Decoder, DefragConfig};
use crate::flow::{EndReason, FlowConfig, FlowKey, FlowRecord, FlowTable, TableStats};
use crate::output::{ParquetSink, Provenance, SinkConfig, SinkError, SinkStats};

/// Errors that stop a run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RunError {
    /// An input could not be opened or is not a capture.
    #[error(transparent)]
    Input(#[from] CaptureError),
    /// The filter does not compile.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// Output could not be written.
    #[error("writing flows: {0}")]
    Output(#[from] SinkError),
    /// A worker thread failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Capture files, read in this order.
    pub inputs: Vec<PathBuf>,
    /// BPF filter.
    pub filter: Option<String>,
    /// Flow worker threads (at least 1).
    pub workers: usize,
    /// Flow table settings (`max_flows` is the total over workers).
    pub flow: FlowConfig,
    /// Fragment reassembly limits (per worker).
    pub defrag: DefragConfig,
    /// Output settings.
    pub sink: SinkConfig,
    /// Print a progress line on stderr about once a second.
    pub progress: bool,
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Packets read.
    pub packets: u64,
    /// Bytes of the packets on the wire.
    pub bytes: u64,
    /// Packets rejected by the filter.
    pub filtered: u64,
    /// Decoder counters.
    pub decode: DecodeStats,
    /// Flow table counters.
    pub table: TableStats,
    /// Output.
    pub output: SinkStats,
    /// Damaged inputs (the packets before the damage were used).
    pub input_problems: Vec<String>,
    /// First and last packet times, ns.
    pub first_ns: u64,
    /// Last packet time, ns.
    pub last_ns: u64,
    /// Wall time.
    pub elapsed: Duration,
}

enum WriterMsg {
    Records(Vec<FlowRecord>),
    Tick(usize, u64),
    Done(usize),
}

/// Shared live counters (progress line).
#[derive(Default)]
struct Live {
    flows: Vec<AtomicUsize>,
    records: AtomicU64,
}

fn writer_thread(
    mut sink: ParquetSink,
    rx: Receiver<WriterMsg>,
    workers: usize,
    live: Arc<Live>,
) -> Result<SinkStats, SinkError> {
    let mut marks = vec![0u64; workers];
    let mut done = vec![false; workers];
    for msg in rx {
        match msg {
            WriterMsg::Records(v) => {
                for r in &v {
                    sink.write(r)?;
                }
                live.records.fetch_add(v.len() as u64, Ordering::Relaxed);
            }
            WriterMsg::Tick(w, now) => {
                marks[w] = marks[w].max(now);
                let low = (0..workers).filter(|&i| !done[i]).map(|i| marks[i]).min();
                if let Some(low) = low {
                    sink.watermark(low)?;
                }
            }
            WriterMsg::Done(w) => done[w] = true,
        }
    }
    sink.finish()
}

/// Flow tracking of one worker.
struct Worker {
    id: usize,
    decoder: Decoder,
    table: FlowTable,
    out: Vec<FlowRecord>,
    tx: Sender<WriterMsg>,
}

impl Worker {
    fn new(id: usize, cfg: &RunConfig, tx: Sender<WriterMsg>) -> Worker {
        let mut flow = cfg.flow.clone();
        flow.max_flows = (cfg.flow.max_flows / cfg.workers.max(1)).max(1);
        flow.app.budget = cfg.flow.app.budget / cfg.workers.max(1);
        Worker {
            id,
            decoder: Decoder::new(cfg.defrag),
            table: FlowTable::new(flow),
            out: Vec::with_capacity(512),
            tx,
        }
    }

    #[inline]
    fn packet(&mut self, raw: &RawPacket<'_>) {
        if let Decoded::Packet(p) = self.decoder.decode(raw) {
            self.table.process(&p, &mut self.out);
        } else {
            self.table.advance(raw.ts_ns, &mut self.out);
        }
        self.incomplete_fragments();
        if self.out.len() >= crate::flow::table::OUT_LIMIT {
            self.send(true);
        }
    }

    fn send(&mut self, force: bool) {
        if !self.out.is_empty() && (force || self.out.len() >= 256) {
            let v = std::mem::replace(&mut self.out, Vec::with_capacity(512));
            let _ = self.tx.send(WriterMsg::Records(v));
        }
        let _ = self.tx.send(WriterMsg::Tick(self.id, self.table.now()));
    }

    /// Accounts datagrams the decoder gave up on.
    fn incomplete_fragments(&mut self) {
        while let Some(p) = self.decoder.next_incomplete() {
            self.table.process(&p, &mut self.out);
        }
    }

    fn finish(mut self, end_ns: u64) -> (DecodeStats, TableStats) {
        self.decoder.finish_fragments();
        self.incomplete_fragments();
        let tx = self.tx.clone();
        let mut drain = |out: &mut Vec<FlowRecord>| {
            if !out.is_empty() {
                let _ = tx.send(WriterMsg::Records(std::mem::take(out)));
            }
        };
        self.table
            .flush(end_ns, EndReason::Eof, &mut self.out, &mut drain);
        self.send(true);
        let _ = self.tx.send(WriterMsg::Done(self.id));
        (self.decoder.stats.clone(), self.table.stats)
    }
}

/// A packet's place in a mapped file, sent to a worker.
#[derive(Clone, Copy)]
struct PacketRef {
    file: u16,
    linktype: u16,
    caplen: u32,
    orig_len: u32,
    offset: usize,
    ts_ns: u64,
}

enum WorkerMsg {
    Batch(Vec<PacketRef>),
    Finish(u64),
}

const BATCH: usize = 1024;

/// Reads the inputs and writes the flows.
pub fn run(cfg: &RunConfig) -> Result<RunSummary, RunError> {
    let start = Instant::now();
    let files = cfg
        .inputs
        .iter()
        .map(|p| CaptureFile::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut filter = cfg.filter.as_deref().map(Filter::new).transpose()?;
    let prov = Arc::new(Provenance {
        inputs: cfg.inputs.iter().map(|p| p.display().to_string()).collect(),
        bpf_filter: cfg.filter.clone().unwrap_or_default(),
        ..Provenance::default()
    });
    let workers = cfg.workers.max(1);
    let sink = ParquetSink::new(cfg.sink.clone(), Arc::clone(&prov))?;
    let live = Arc::new(Live {
        flows: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
        records: AtomicU64::new(0),
    });
    let (wtx, wrx) = bounded::<WriterMsg>(8);
    let writer = {
        let live = Arc::clone(&live);
        thread::Builder::new()
            .name("mekong-writer".into())
            .spawn(move || writer_thread(sink, wrx, workers, live))
            .map_err(|e| RunError::Internal(e.to_string()))?
    };
    let mut summary = RunSummary::default();
    let mut progress = Progress::new(cfg.progress, start);
    let maps: Vec<Arc<Mmap>> = files.iter().map(|f| f.bytes()).collect();

    let mut local = (workers == 1).then(|| Worker::new(0, cfg, wtx.clone()));
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    if workers > 1 {
        for id in 0..workers {
            let (tx, rx) = bounded::<WorkerMsg>(8);
            let mut w = Worker::new(id, cfg, wtx.clone());
            let maps = maps.clone();
            let live = Arc::clone(&live);
            let h = thread::Builder::new()
                .name(format!("mekong-worker-{id}"))
                .spawn(move || {
                    for msg in rx {
                        match msg {
                            WorkerMsg::Batch(batch) => {
                                for r in &batch {
                                    let data = packet_at(
                                        &maps[usize::from(r.file)],
                                        r.offset,
                                        r.caplen as usize,
                                    );
                                    let raw = RawPacket {
                                        ts_ns: r.ts_ns,
                                        linktype: r.linktype,
                                        orig_len: r.orig_len,
                                        data,
                                        offset: r.offset,
                                    };
                                    w.packet(&raw);
                                }
                                live.flows[id].store(w.table.len(), Ordering::Relaxed);
                                w.send(false);
                            }
                            WorkerMsg::Finish(end) => return w.finish(end),
                        }
                    }
                    let now = w.table.now();
                    w.finish(now)
                })
                .map_err(|e| RunError::Internal(e.to_string()))?;
            senders.push(tx);
            handles.push(h);
        }
    }
    drop(wtx);
    let mut batches: Vec<Vec<PacketRef>> =
        (0..workers).map(|_| Vec::with_capacity(BATCH)).collect();
    let mut first = None;
    let mut last = 0u64;
    let mut since_send = 0usize;
    for (fi, f) in files.iter().enumerate() {
        for item in f.packets() {
            let raw = match item {
                Ok(r) => r,
                Err(e) => {
                    summary.input_problems.push(e.to_string());
                    break;
                }
            };
            summary.packets += 1;
            summary.bytes += u64::from(raw.orig_len);
            if let Some(flt) = filter.as_mut() {
                if !flt.matches(raw.linktype, raw.data)? {
                    summary.filtered += 1;
                    continue;
                }
            }
            first.get_or_insert(raw.ts_ns);
            last = last.max(raw.ts_ns);
            if let Some(w) = local.as_mut() {
                w.packet(&raw);
                since_send += 1;
                if since_send >= 4096 {
                    since_send = 0;
                    w.send(false);
                    live.flows[0].store(w.table.len(), Ordering::Relaxed);
                }
            } else {
                let k = match address_pair(&raw) {
                    Some((a, b, vlan)) => {
                        (FlowKey::dispatch_hash(a, b, vlan) % workers as u64) as usize
                    }
                    None => 0,
                };
                batches[k].push(PacketRef {
                    file: fi as u16,
                    linktype: raw.linktype,
                    caplen: raw.data.len() as u32,
                    orig_len: raw.orig_len,
                    offset: raw.offset,
                    ts_ns: raw.ts_ns,
                });
                if batches[k].len() >= BATCH {
                    let b = std::mem::replace(&mut batches[k], Vec::with_capacity(BATCH));
                    senders[k]
                        .send(WorkerMsg::Batch(b))
                        .map_err(|_| RunError::Internal(format!("worker {k} stopped")))?;
                }
            }
            if summary.packets % 65_536 == 0 {
                prov.packets_seen.store(summary.packets, Ordering::Relaxed);
                prov.packets_filtered
                    .store(summary.filtered, Ordering::Relaxed);
                prov.first_ns.store(first.unwrap_or(0), Ordering::Relaxed);
                prov.last_ns.store(last, Ordering::Relaxed);
                progress.tick(&summary, &live);
            }
        }
    }
    prov.packets_seen.store(summary.packets, Ordering::Relaxed);
    prov.packets_filtered
        .store(summary.filtered, Ordering::Relaxed);
    prov.first_ns.store(first.unwrap_or(0), Ordering::Relaxed);
    prov.last_ns.store(last, Ordering::Relaxed);
    let mut stats: Vec<(DecodeStats, TableStats)> = Vec::new();
    if let Some(w) = local.take() {
        stats.push(w.finish(last));
    } else {
        for (k, tx) in senders.iter().enumerate() {
            let b = std::mem::take(&mut batches[k]);
            if !b.is_empty() {
                tx.send(WorkerMsg::Batch(b))
                    .map_err(|_| RunError::Internal(format!("worker {k} stopped")))?;
            }
            tx.send(WorkerMsg::Finish(last))
                .map_err(|_| RunError::Internal(format!("worker {k} stopped")))?;
        }
        drop(senders);
        for h in handles {
            stats.push(
                h.join()
                    .map_err(|_| RunError::Internal("a worker panicked".into()))?,
            );
        }
    }
    for (d, t) in &stats {
        summary.decode.add(d);
        summary.table.add(t);
    }
    summary.output = writer
        .join()
        .map_err(|_| RunError::Internal("the writer panicked".into()))??;
    summary.first_ns = first.unwrap_or(0);
    summary.last_ns = last;
    summary.elapsed = start.elapsed();
    progress.clear();
    Ok(summary)
}

struct Progress {
    on: bool,
    start: Instant,
    last: Instant,
    shown: bool,
}

impl Progress {
    fn new(on: bool, start: Instant) -> Progress {
        Progress {
            on,
            start,
            last: start,
            shown: false,
        }
    }

    fn tick(&mut self, s: &RunSummary, live: &Live) {
        if !self.on || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let flows: usize = live.flows.iter().map(|f| f.load(Ordering::Relaxed)).sum();
        eprint!(
            "\rmekong-sensor: {} packets, {} active flows, {} records, {:.0} packets/s, {:.1} Mbit/s   ",
            s.packets,
            flows,
            live.records.load(Ordering::Relaxed),
            s.packets as f64 / secs,
            s.bytes as f64 * 8.0 / secs / 1e6
        );
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            eprintln!();
        }
    }
}
