//! The threads of an offline run: a reader (files, filter, dispatch), N flow
//! workers, and a writer.
//!
//! With one worker the reader decodes and tracks flows itself. With more, the
//! reader sends each packet's place in the mapped file to the worker chosen by
//! a symmetric hash of its (inner) address pair, so both directions of a flow
//! and every fragment of a datagram meet in one worker; workers decode again
//! and keep their own flow tables. Records go to the writer thread, which
//! closes partitions when every worker's packet time has moved past them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use mekong_detect::config::DetectConfig;
use mekong_detect::event::{EventKind, FlowRef, HostEvent};
use mekong_detect::flowside::FlowDetectors;
use mekong_detect::host::HostStats;
use mekong_detect::Phase;
use memmap2::Mmap;
use thiserror::Error;

use crate::app::{AppStage, AppStats};
use crate::capture::{packet_at, CaptureError, CaptureFile, Filter, FilterError, RawPacket};
use crate::decode::{address_pair, DecodeStats, Decoded, Decoder, DefragConfig};
use crate::detect::DetectStage;
use crate::engine::{AlertNote, Engine, FlowOut};
use crate::flow::{EndReason, FlowConfig, FlowKey, TableStats};
use crate::host::{HostMsg, HostOut};
use crate::output::{AlertOut, Output, Provenance, Sink, SinkConfig, SinkError, SinkStats};
use crate::stream::StreamStats;

pub mod counters;
pub mod guard;
pub mod live;

pub use counters::Live;

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
    #[error("writing output: {0}")]
    Output(#[from] SinkError),
    /// A worker thread failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Detection settings: the detectors' configuration and what the workers
/// match flows against.
#[derive(Clone, Debug)]
pub struct Detection {
    /// Thresholds, windows, allow-lists.
    pub config: DetectConfig,
    /// Indicator lists and flow-level detectors (shared by the workers).
    pub flow: Arc<FlowDetectors>,
    /// Signatures (Suricata-syntax rules), when loaded.
    pub rules: Option<Arc<crate::rules::Rules>>,
}

impl Detection {
    /// Detection with a checked configuration and no indicator lists loaded
    /// beyond what `config` names (loaded here).
    pub fn new(
        config: DetectConfig,
    ) -> Result<Detection, mekong_detect::indicators::IndicatorError> {
        let ind =
            mekong_detect::indicators::Indicators::load(&config.indicators, &config.base_dir)?;
        let flow = FlowDetectors::new(&config, ind);
        Ok(Detection {
            config,
            flow,
            rules: None,
        })
    }
}

impl Default for Detection {
    fn default() -> Self {
        Detection::new(DetectConfig::default()).unwrap_or_else(|_| Detection {
            config: DetectConfig::default(),
            flow: Arc::default(),
            rules: None,
        })
    }
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
    /// Detection (`None`: off).
    pub detect: Option<Arc<Detection>>,
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// The rule stage's counters (all workers).
    pub rules: crate::rules::RulesStats,
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
    /// Application parsing counters.
    pub app: AppStats,
    /// Stream reassembly counters.
    pub stream: StreamStats,
    /// Host-stage counters.
    pub host: HostStats,
    /// Events the workers sent to the host stage.
    pub host_events: u64,
    /// Most events the host stage held waiting for other workers at once.
    pub host_peak_queue: usize,
    /// Alerts written (start and update), by primary technique.
    pub alerts_by_technique: BTreeMap<String, u64>,
    /// Alerts written, by detector.
    pub alerts_by_detector: BTreeMap<String, u64>,
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
    Records(Vec<FlowOut>),
    Tick(usize, u64),
    /// What a worker hands over at once, so that one message, not three,
    /// takes a place in the bounded channel: its finished records, its
    /// events when the host stage runs in the writer's thread, and its
    /// packet time.
    Step {
        worker: usize,
        records: Option<Vec<FlowOut>>,
        events: Option<HostMsg>,
        mark: u64,
    },
    Done(usize),
    /// From the host stage's thread.
    Host(HostOut),
    /// From a worker, for the host stage running in the writer's thread.
    HostIn(HostMsg),
}

/// Where a worker's events go: the host stage's thread, or the writer's
/// thread when the host stage runs there.
#[derive(Clone)]
enum EventsTo {
    Host(Sender<HostMsg>),
    Writer(Sender<WriterMsg>),
}

impl EventsTo {
    fn send(&self, m: HostMsg) {
        match self {
            EventsTo::Host(tx) => {
                let _ = tx.send(m);
            }
            EventsTo::Writer(tx) => {
                let _ = tx.send(WriterMsg::HostIn(m));
            }
        }
    }
}

/// Messages the writer's queue holds. The writer works in bursts (a Parquet
/// batch encoded and compressed at once): a queue of 64 steps (each the
/// records and events of up to 4,096 packets, at most 1,024 records) lets
/// the workers read on meanwhile, at a bound of 64 x 1,024 records of
/// about 1.2 KiB.
const WRITER_QUEUE: usize = 64;

/// What the writer learned.
#[derive(Default)]
struct Written {
    by_technique: BTreeMap<String, u64>,
    by_detector: BTreeMap<String, u64>,
}

/// Alerts raised by a flow, waiting for its record: (time in µs, techniques).
type Notes = HashMap<i64, Vec<(i64, Vec<String>)>>;

fn annotate(r: &mut FlowOut, notes: &mut Notes) {
    let uid = r.summary.uid;
    let Some(list) = notes.get_mut(&uid) else {
        return;
    };
    let (first, last) = (r.summary.first_us, r.summary.last_us);
    let take_all = !r.summary.continues;
    let mut note = AlertNote::default();
    list.retain(|(ts, techs)| {
        let mine = take_all || (*ts >= first && *ts <= last);
        if mine {
            note.count += 1;
            for t in techs {
                if !note.techniques.contains(t) {
                    note.techniques.push(t.clone());
                }
            }
        }
        !mine
    });
    if list.is_empty() {
        notes.remove(&uid);
    }
    if note.count > 0 {
        r.alerts = Some(Box::new(note));
    }
}

/// What the writer thread hands back: sink totals, records written, and the
/// inline host stage's statistics with its alert count.
type WriterDone = (SinkStats, Written, Option<(HostStats, usize)>);

fn writer_thread(
    mut sink: guard::Guarded,
    rx: Receiver<WriterMsg>,
    workers: usize,
    live: Arc<Live>,
    detect: bool,
    mut inline: Option<crate::host::HostSide>,
) -> Result<WriterDone, SinkError> {
    let mut ctx = Ctx {
        marks: vec![0u64; workers],
        done: vec![false; workers],
        progress: if detect { 0 } else { u64::MAX },
        pending: Vec::new(),
        notes: Notes::new(),
        written: Written::default(),
        live: &live,
        workers,
    };
    let mut inbox: Vec<HostOut> = Vec::new();
    for msg in rx {
        let mut msgs = Vec::new();
        let mut host_in = |m: HostMsg, msgs: &mut Vec<WriterMsg>| {
            if let Some(side) = inline.as_mut() {
                side.message(m, &mut |o| inbox.push(o));
            }
            msgs.extend(inbox.drain(..).map(WriterMsg::Host));
        };
        match msg {
            WriterMsg::HostIn(m) => host_in(m, &mut msgs),
            WriterMsg::Step {
                worker,
                records,
                events,
                mark,
            } => {
                if let Some(v) = records {
                    msgs.push(WriterMsg::Records(v));
                }
                if let Some(m) = events {
                    host_in(m, &mut msgs);
                }
                msgs.push(WriterMsg::Tick(worker, mark));
            }
            m => msgs.push(m),
        }
        for msg in msgs {
            writer_msg(msg, &mut sink, &mut ctx)?;
        }
    }
    let mut host = None;
    if let Some(side) = inline.take() {
        let stats = side.finish(workers, &mut |o| inbox.push(o));
        for o in std::mem::take(&mut inbox) {
            writer_msg(WriterMsg::Host(o), &mut sink, &mut ctx)?;
        }
        host = Some(stats);
    }
    for r in std::mem::take(&mut ctx.pending) {
        annotate_write(&mut sink, r, &mut ctx.notes)?;
    }
    Ok((sink.finish()?, ctx.written, host))
}

fn annotate_write(
    sink: &mut guard::Guarded,
    mut r: FlowOut,
    notes: &mut Notes,
) -> Result<(), SinkError> {
    annotate(&mut r, notes);
    sink.flow(&r)
}

/// The writer's state, for [`writer_msg`].
/// The writer thread's state between messages.
struct Ctx<'a> {
    marks: Vec<u64>,
    done: Vec<bool>,
    progress: u64,
    pending: Vec<FlowOut>,
    notes: Notes,
    written: Written,
    live: &'a Live,
    workers: usize,
}

fn writer_msg(msg: WriterMsg, sink: &mut guard::Guarded, c: &mut Ctx<'_>) -> Result<(), SinkError> {
    let write = annotate_write;
    let (marks, done, pending, notes, written, live, workers) = (
        &mut c.marks,
        &mut c.done,
        &mut c.pending,
        &mut c.notes,
        &mut c.written,
        c.live,
        c.workers,
    );
    let progress = &mut c.progress;
    let sink = &mut *sink;
    {
        match msg {
            WriterMsg::HostIn(_) | WriterMsg::Step { .. } => {}
            WriterMsg::Records(v) => {
                let n = v.len() as u64;
                for r in v {
                    if (r.summary.last_us.max(0) as u64).saturating_mul(1000) < *progress {
                        write(sink, r, notes)?;
                    } else {
                        pending.push(r);
                    }
                }
                live.records.fetch_add(n, Ordering::Relaxed);
            }
            WriterMsg::Host(HostOut::Alerts(v)) => {
                for a in v {
                    live.alert(a.techniques.first().map_or("no technique", |t| t.as_str()));
                    *written
                        .by_technique
                        .entry(
                            a.techniques
                                .first()
                                .cloned()
                                .unwrap_or_else(|| "no technique".into()),
                        )
                        .or_insert(0) += 1;
                    *written
                        .by_detector
                        .entry(a.detector.to_string())
                        .or_insert(0) += 1;
                    let community_id = a.flow.filter(|f| f.proto != 0).map(|f: FlowRef| {
                        crate::flow::key::community_id(
                            f.proto,
                            f.orig,
                            f.resp,
                            f.orig_port,
                            f.resp_port,
                        )
                    });
                    if let (Phase::Start, Some(f)) = (a.phase, a.flow) {
                        notes
                            .entry(f.uid)
                            .or_default()
                            .push(((a.ts_ns / 1000) as i64, a.techniques.clone()));
                    }
                    sink.alert(&AlertOut {
                        alert: a,
                        community_id,
                    })?;
                }
                sink.alerts_flushed()?;
            }
            WriterMsg::Host(HostOut::Progress(p)) => {
                *progress = p;
                let mut keep = Vec::new();
                for r in std::mem::take(pending) {
                    if (r.summary.last_us.max(0) as u64).saturating_mul(1000) < *progress {
                        write(sink, r, notes)?;
                    } else {
                        keep.push(r);
                    }
                }
                *pending = keep;
            }
            WriterMsg::Tick(w, now) => {
                marks[w] = marks[w].max(now);
                let low = (0..workers).filter(|&i| !done[i]).map(|i| marks[i]).min();
                if let Some(low) = low {
                    sink.watermark(low.min(*progress))?;
                }
            }
            WriterMsg::Done(w) => done[w] = true,
        }
    }
    Ok(())
}

/// The stages of a worker: application parsing, then detection (each may
/// be off).
pub type Stages = (
    Option<AppStage>,
    Option<DetectStage>,
    Option<crate::rules::RuleStage>,
);

/// What a worker counted.
struct WorkerStats {
    decode: DecodeStats,
    table: TableStats,
    app: AppStats,
    stream: StreamStats,
    events: u64,
    rules: crate::rules::RulesStats,
}

/// Flow tracking of one worker.
struct Worker {
    id: usize,
    decoder: Decoder,
    engine: Engine<Stages>,
    tx: Sender<WriterMsg>,
    htx: Option<EventsTo>,
    /// Event batches the host stage has emptied, to be filled again.
    spares: Option<Receiver<Vec<HostEvent>>>,
    events: u64,
}

impl Worker {
    fn new(
        id: usize,
        cfg: &RunConfig,
        tx: Sender<WriterMsg>,
        htx: Option<EventsTo>,
        spares: Option<Receiver<Vec<HostEvent>>>,
    ) -> Worker {
        let n = cfg.workers.max(1);
        let mut flow = cfg.flow.clone();
        flow.max_flows = (cfg.flow.max_flows / n).max(1);
        flow.app.budget = cfg.flow.app.budget / n;
        flow.stream.budget = cfg.flow.stream.budget / n;
        let app = flow.app.enabled.then(|| AppStage::new(flow.app));
        let det = match (&cfg.detect, &htx) {
            (Some(d), Some(_)) => Some(DetectStage::new(Arc::clone(&d.flow))),
            _ => None,
        };
        let rules = match (&cfg.detect, &htx) {
            (Some(d), Some(_)) => d
                .rules
                .as_ref()
                .filter(|r| !r.set.is_empty())
                .map(|r| crate::rules::RuleStage::new(Arc::clone(r))),
            _ => None,
        };
        let raw = rules.as_ref().is_some_and(|r| r.wants_raw());
        let mut engine = Engine::new(flow, (app, det, rules));
        engine.want_raw_app_data(raw);
        Worker {
            id,
            decoder: Decoder::new(cfg.defrag),
            engine,
            tx,
            htx,
            spares,
            events: 0,
        }
    }

    #[inline]
    fn packet(&mut self, raw: &RawPacket<'_>) {
        match self.decoder.decode(raw) {
            Decoded::Packet(p) => self.engine.process(&p),
            Decoded::NotIp if self.htx.is_some() => {
                if let Some(a) = crate::decode::arp(raw) {
                    let ts = raw.ts_ns.max(self.engine.table().now());
                    self.engine.events().push(HostEvent {
                        ts_ns: ts,
                        flow: FlowRef {
                            uid: 0,
                            proto: 0,
                            vlan: a.vlan.map_or(0, |v| v + 1),
                            orig: a.sender.into(),
                            orig_port: 0,
                            resp: a.target.into(),
                            resp_port: 0,
                        },
                        kind: EventKind::Arp { reply: a.reply },
                    });
                }
                self.engine.advance(raw.ts_ns);
            }
            _ => {
                self.engine.advance(raw.ts_ns);
            }
        }
        self.incomplete_fragments();
        if self.engine.records().len() >= crate::flow::table::OUT_LIMIT {
            self.send(true);
        }
    }

    /// Takes new detectors, indicator lists and rules (a reload); the
    /// flow table and the parsers' state stay.
    fn reload(&mut self, d: &Detection) {
        let detecting = self.htx.is_some();
        let (_, det, rules) = self.engine.stages_mut();
        if let Some(s) = det.as_mut() {
            s.set_detectors(Arc::clone(&d.flow));
        }
        match (
            rules.as_mut(),
            d.rules.as_ref().filter(|r| !r.set.is_empty()),
        ) {
            (Some(s), Some(r)) => s.reload(Arc::clone(r)),
            (None, Some(r)) if detecting => {
                *rules = Some(crate::rules::RuleStage::new(Arc::clone(r)));
            }
            (_, None) => *rules = None,
            _ => {}
        }
        let raw = rules.as_ref().is_some_and(|r| r.wants_raw());
        self.engine.want_raw_app_data(raw);
    }

    /// Publishes the worker's counters.
    fn publish(&self, live: &Live) {
        if let Some(c) = live.workers.get(self.id) {
            let (app, _, _) = self.engine.stages();
            c.publish(
                &self.engine.table().stats,
                self.engine.table().len(),
                &self.decoder.stats,
                app.as_ref(),
            );
        }
    }

    fn send(&mut self, force: bool) {
        let recs = self.engine.records();
        let records = (!recs.is_empty() && (force || recs.len() >= 256))
            .then(|| std::mem::replace(recs, Vec::with_capacity(512)));
        let now = self.engine.table().now();
        let mut events = None;
        if let Some(h) = &self.htx {
            let spare = self
                .spares
                .as_ref()
                .and_then(|r| r.try_recv().ok())
                .unwrap_or_else(|| Vec::with_capacity(1024));
            let ev = self.engine.events();
            self.events += ev.len() as u64;
            let batch = HostMsg::Events {
                worker: self.id,
                events: std::mem::replace(ev, spare),
                mark: now,
            };
            match h {
                EventsTo::Host(tx) => {
                    let _ = tx.send(batch);
                }
                EventsTo::Writer(_) => events = Some(batch),
            }
        }
        let _ = self.tx.send(WriterMsg::Step {
            worker: self.id,
            records,
            events,
            mark: now,
        });
    }

    /// Accounts datagrams the decoder gave up on.
    fn incomplete_fragments(&mut self) {
        while let Some(p) = self.decoder.next_incomplete() {
            self.engine.process(&p);
        }
    }

    fn finish(mut self, end_ns: u64, reason: EndReason) -> WorkerStats {
        self.decoder.finish_fragments();
        self.incomplete_fragments();
        let tx = self.tx.clone();
        let htx = self.htx.clone();
        let id = self.id;
        let mut sent = 0u64;
        let mut drain = |out: &mut Vec<FlowOut>, ev: &mut Vec<HostEvent>| {
            if !out.is_empty() {
                let _ = tx.send(WriterMsg::Records(std::mem::take(out)));
            }
            if let Some(h) = &htx {
                if !ev.is_empty() {
                    sent += ev.len() as u64;
                    // Flows ending at the end of input raise events up to `end_ns`.
                    h.send(HostMsg::Events {
                        worker: id,
                        events: std::mem::take(ev),
                        mark: 0,
                    });
                }
            }
        };
        self.engine.flush(end_ns, reason, &mut drain);
        self.events += sent;
        self.send(true);
        if let Some(h) = &self.htx {
            h.send(HostMsg::Done(self.id));
        }
        let _ = self.tx.send(WriterMsg::Done(self.id));
        let (app, det, rules) = self.engine.stages();
        WorkerStats {
            decode: self.decoder.stats.clone(),
            table: self.engine.table().stats,
            app: app.as_ref().map(AppStage::stats).unwrap_or_default(),
            stream: self.engine.stream_stats(),
            events: self.events + det.as_ref().map_or(0, |_| 0),
            rules: rules.as_ref().map(|r| r.stats()).unwrap_or_default(),
        }
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

/// Reads the inputs and writes the flows and alerts.
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
    let live = Arc::new(Live::new(workers, &[]));
    let Back {
        wtx,
        writer,
        htx,
        host,
        mut spares,
    } = start_back(cfg, Arc::clone(&prov), &live, workers == 1)?;
    let mut summary = RunSummary::default();
    let mut progress = Progress::new(cfg.progress, start);
    let maps: Vec<Arc<Mmap>> = files.iter().map(|f| f.bytes()).collect();

    let mut local =
        (workers == 1).then(|| Worker::new(0, cfg, wtx.clone(), htx.clone(), spares[0].take()));
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    if workers > 1 {
        for (id, spare) in spares.iter_mut().enumerate().take(workers) {
            let (tx, rx) = bounded::<WorkerMsg>(8);
            let mut w = Worker::new(id, cfg, wtx.clone(), htx.clone(), spare.take());
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
                                w.publish(&live);
                                w.send(false);
                            }
                            WorkerMsg::Finish(end) => return w.finish(end, EndReason::Eof),
                        }
                    }
                    let now = w.engine.table().now();
                    w.finish(now, EndReason::Eof)
                })
                .map_err(|e| RunError::Internal(e.to_string()))?;
            senders.push(tx);
            handles.push(h);
        }
    }
    drop(wtx);
    drop(htx);
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
                    w.publish(&live);
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
            // The footers' counters are what was read when a file closed:
            // kept fresh (relaxed stores, every 1,024 packets).
            if summary.packets % 1_024 == 0 {
                prov.packets_seen.store(summary.packets, Ordering::Relaxed);
                prov.packets_filtered
                    .store(summary.filtered, Ordering::Relaxed);
                prov.first_ns.store(first.unwrap_or(0), Ordering::Relaxed);
                prov.last_ns.store(last, Ordering::Relaxed);
                if summary.packets % 65_536 == 0 {
                    progress.tick(&summary, &live);
                }
            }
        }
    }
    prov.packets_seen.store(summary.packets, Ordering::Relaxed);
    prov.packets_filtered
        .store(summary.filtered, Ordering::Relaxed);
    prov.first_ns.store(first.unwrap_or(0), Ordering::Relaxed);
    prov.last_ns.store(last, Ordering::Relaxed);
    let mut stats: Vec<WorkerStats> = Vec::new();
    if let Some(w) = local.take() {
        stats.push(w.finish(last, EndReason::Eof));
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
    end_back(&mut summary, &stats, host, writer)?;
    summary.first_ns = first.unwrap_or(0);
    summary.last_ns = last;
    summary.elapsed = start.elapsed();
    progress.clear();
    Ok(summary)
}

/// The threads behind the workers: the writer and the host stage.
struct Back {
    wtx: Sender<WriterMsg>,
    writer: thread::JoinHandle<Result<WriterDone, SinkError>>,
    htx: Option<EventsTo>,
    host: Option<thread::JoinHandle<(HostStats, usize)>>,
    spares: Vec<Option<Receiver<Vec<HostEvent>>>>,
}

/// Starts the writer and the host stage (`inline`: the host stage runs in
/// the writer's thread).
fn start_back(
    cfg: &RunConfig,
    prov: Arc<Provenance>,
    live: &Arc<Live>,
    inline: bool,
) -> Result<Back, RunError> {
    let workers = cfg.workers.max(1);
    // An incident's update comes up to its dedup window after its last
    // evidence, whose hour names its partition: alert partitions stay open
    // that much longer.
    let alert_delay = cfg
        .detect
        .as_ref()
        .map_or(0, |d| d.config.alerts.dedup_window_s * 1_000_000_000);
    let sink = guard::Guarded::new(
        Output::new(cfg.sink.clone(), Arc::clone(&prov), alert_delay)?,
        cfg.sink.rotate_ns.is_some(),
        Arc::clone(live),
        cfg.sink.out_dir.clone(),
    );
    let detect = cfg.detect.clone();
    // The channels that bring each worker its emptied event batches back.
    let mut spares: Vec<Option<Receiver<Vec<HostEvent>>>> = (0..workers).map(|_| None).collect();
    let mut returns = Vec::new();
    if detect.is_some() {
        for s in spares.iter_mut() {
            let (tx, rx) = bounded::<Vec<HostEvent>>(16);
            returns.push(tx);
            *s = Some(rx);
        }
    }
    let (wtx, wrx) = bounded::<WriterMsg>(WRITER_QUEUE);
    let writer = {
        let live = Arc::clone(live);
        let on = detect.is_some();
        let side = match (&detect, inline) {
            (Some(d), true) => Some(crate::host::HostSide::new(
                &d.config,
                d.rules.clone(),
                workers,
                std::mem::take(&mut returns),
            )),
            _ => None,
        };
        thread::Builder::new()
            .name("mekong-writer".into())
            .spawn(move || writer_thread(sink, wrx, workers, live, on, side))
            .map_err(|e| RunError::Internal(e.to_string()))?
    };
    let (htx, host) = match (&detect, inline) {
        (Some(_), true) => (Some(EventsTo::Writer(wtx.clone())), None),
        (Some(d), false) => {
            let (htx, hrx) = bounded::<HostMsg>(64);
            let wtx = wtx.clone();
            let config = d.config.clone();
            let rules = d.rules.clone();
            let returns = std::mem::take(&mut returns);
            let h = thread::Builder::new()
                .name("mekong-host".into())
                .spawn(move || {
                    crate::host::run(&config, rules, workers, hrx, returns, &mut |m| {
                        let _ = wtx.send(WriterMsg::Host(m));
                    })
                })
                .map_err(|e| RunError::Internal(e.to_string()))?;
            (Some(EventsTo::Host(htx)), Some(h))
        }
        (None, _) => (None, None),
    };
    Ok(Back {
        wtx,
        writer,
        htx,
        host,
        spares,
    })
}

/// Joins the host stage and the writer and completes the summary.
fn end_back(
    summary: &mut RunSummary,
    stats: &[WorkerStats],
    host: Option<thread::JoinHandle<(HostStats, usize)>>,
    writer: thread::JoinHandle<Result<WriterDone, SinkError>>,
) -> Result<(), RunError> {
    for w in stats {
        summary.decode.add(&w.decode);
        summary.table.add(&w.table);
        summary.app.add(&w.app);
        summary.stream.add(&w.stream);
        summary.host_events += w.events;
        summary.rules.inspections += w.rules.inspections;
        summary.rules.matches += w.rules.matches;
        summary.rules.early_flushes += w.rules.early_flushes;
        summary.rules.encrypted_flows += w.rules.encrypted_flows;
        summary.rules.scanned_bytes += w.rules.scanned_bytes;
        summary.rules.candidates += w.rules.candidates;
    }
    if let Some(h) = host {
        let (hs, peak) = h
            .join()
            .map_err(|_| RunError::Internal("the host stage panicked".into()))?;
        summary.host = hs;
        summary.host_peak_queue = peak;
    }
    let (out, written, inline_host) = writer
        .join()
        .map_err(|_| RunError::Internal("the writer panicked".into()))??;
    if let Some((hs, peak)) = inline_host {
        summary.host = hs;
        summary.host_peak_queue = peak;
    }
    summary.output = out;
    summary.alerts_by_technique = written.by_technique;
    summary.alerts_by_detector = written.by_detector;
    Ok(())
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
        let flows = live.flows();
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
