//! The threads of a live run: a reader per interface, N flow workers, the
//! host stage and the writer, with this thread as coordinator.
//!
//! Readers copy each packet into a batch of the worker its address pair
//! hashes to (batches are recycled: no allocation per packet once the
//! pool is warm) and hand a batch over when it is full or the reader has
//! waited `timeout_ms` for packets. Packet time drives flows as offline;
//! the coordinator adds heartbeats from the clock, so that on an idle link
//! flows still expire, records reach the writer and files rotate. It also
//! copies the capture counters into every file's footer once a second,
//! passes reloads (SIGHUP) to the workers and the host stage, and at a
//! stop (SIGINT, SIGTERM) ends every flow and closes every file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::{end_back, start_back, Back, Detection, Live, RunConfig, RunError, RunSummary, Worker};
use crate::capture::{LiveStats, RawPacket, Source};
use crate::decode::address_pair;
use crate::flow::{EndReason, FlowKey};
use crate::host::HostMsg;
use crate::output::Provenance;

/// What the control plane tells a live run.
pub enum Control {
    /// Stop: end every flow, close every file, return.
    Stop,
    /// Use these rules, indicators and thresholds from now on.
    Reload(Arc<Detection>),
}

/// One packet in a batch.
#[derive(Clone, Copy)]
struct Pkt {
    ts_ns: u64,
    start: u32,
    caplen: u32,
    orig_len: u32,
    linktype: u16,
}

/// Packets copied out of the capture buffer for one worker.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    pkts: Vec<Pkt>,
}

/// Packets (or bytes) in a batch before it is handed over.
const BATCH_PACKETS: usize = 512;
const BATCH_BYTES: usize = 512 << 10;
/// Batches in each worker's queue: with the kernel buffer, the slack for a
/// worker's pause.
const QUEUE: usize = 64;
/// Heartbeats lag the clock by this much, so that packets still in the
/// kernel's buffer are not older than the workers' time.
const HEARTBEAT_LAG_NS: u64 = 1_000_000_000;

enum Msg {
    Batch(Batch),
    Tick(u64),
    Reload(Arc<Detection>),
    Finish(u64),
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What a reader hands back.
struct ReaderDone {
    packets: u64,
    bytes: u64,
    last_ns: u64,
    error: Option<String>,
}

/// An opened live source and where its packets go.
pub struct Opened {
    /// Index of its interface (in the interfaces given to the run).
    pub interface: usize,
    /// The worker it feeds alone (an AF_PACKET fanout socket), or `None`
    /// for a source whose packets are dispatched to every worker.
    pub worker: Option<usize>,
    /// The source.
    pub source: Box<dyn Source>,
}

/// Footers carry what the capture counted up to their closing: packets
/// read, drops (the kernel's and the interface's), the interface's.
fn footer_counts(live: &Live, prov: &Provenance) {
    const R: Ordering = Ordering::Relaxed;
    let sum = |f: fn(&super::counters::CaptureCounters) -> u64| -> u64 {
        live.captures.iter().map(f).sum()
    };
    prov.packets_seen.store(sum(|c| c.packets.load(R)), R);
    prov.packets_dropped
        .store(sum(|c| c.kernel_dropped.load(R) + c.if_dropped.load(R)), R);
    prov.packets_if_dropped
        .store(sum(|c| c.if_dropped.load(R)), R);
}

/// Publishes what a reader counted since it last did (several readers may
/// share an interface's counters).
fn publish(
    c: &super::counters::CaptureCounters,
    done: &ReaderDone,
    shown: &mut (u64, u64),
    stats: Option<LiveStats>,
    last: &mut LiveStats,
) {
    let r = Ordering::Relaxed;
    c.packets.fetch_add(done.packets - shown.0, r);
    c.bytes.fetch_add(done.bytes - shown.1, r);
    *shown = (done.packets, done.bytes);
    if let Some(s) = stats {
        c.received
            .fetch_add(s.received.saturating_sub(last.received), r);
        c.kernel_dropped
            .fetch_add(s.dropped.saturating_sub(last.dropped), r);
        c.if_dropped
            .fetch_add(s.if_dropped.saturating_sub(last.if_dropped), r);
        *last = s;
    }
}

fn reader(
    mut src: Box<dyn Source>,
    index: usize,
    senders: Vec<Sender<Msg>>,
    pool: Receiver<Batch>,
    stop: Arc<AtomicBool>,
    live: Arc<Live>,
    flush_every: Duration,
) -> ReaderDone {
    let n = senders.len();
    let mut batches: Vec<Batch> = (0..n).map(|_| Batch::default()).collect();
    let mut done = ReaderDone {
        packets: 0,
        bytes: 0,
        last_ns: 0,
        error: None,
    };
    let counters = &live.captures[index];
    let mut shown = (0u64, 0u64);
    let mut last = LiveStats::default();
    let mut last_flush = Instant::now();
    let mut last_stats = Instant::now();
    let hand = |k: usize, batches: &mut Vec<Batch>| -> bool {
        if batches[k].pkts.is_empty() {
            return true;
        }
        let fresh = pool.try_recv().unwrap_or_default();
        let b = std::mem::replace(&mut batches[k], fresh);
        senders[k].send(Msg::Batch(b)).is_ok()
    };
    'read: while !stop.load(Ordering::Relaxed) {
        let got = src.read(&mut |p| {
            let k = if n == 1 {
                0
            } else {
                address_pair(p).map_or(0, |(a, b, vlan)| {
                    (FlowKey::dispatch_hash(a, b, vlan) % n as u64) as usize
                })
            };
            let b = &mut batches[k];
            b.pkts.push(Pkt {
                ts_ns: p.ts_ns,
                start: b.data.len() as u32,
                caplen: p.data.len() as u32,
                orig_len: p.orig_len,
                linktype: p.linktype,
            });
            b.data.extend_from_slice(p.data);
            done.packets += 1;
            done.bytes += u64::from(p.orig_len);
            done.last_ns = done.last_ns.max(p.ts_ns);
        });
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                done.error = Some(e.to_string());
                break;
            }
        };
        for k in 0..n {
            let b = &batches[k];
            if (b.pkts.len() >= BATCH_PACKETS || b.data.len() >= BATCH_BYTES)
                && !hand(k, &mut batches)
            {
                break 'read;
            }
        }
        if got == 0 || last_flush.elapsed() >= flush_every {
            last_flush = Instant::now();
            if !(0..n).all(|k| hand(k, &mut batches)) {
                break;
            }
            let stats = if last_stats.elapsed() >= Duration::from_secs(1) {
                last_stats = Instant::now();
                src.stats().ok()
            } else {
                None
            };
            publish(counters, &done, &mut shown, stats, &mut last);
        }
    }
    for k in 0..n {
        hand(k, &mut batches);
    }
    // The last reading: what the kernel counted up to the stop.
    let stats = src.stats().ok();
    publish(counters, &done, &mut shown, stats, &mut last);
    done
}

fn worker_loop(
    mut w: Worker,
    rx: Receiver<Msg>,
    pool: Sender<Batch>,
    live: Arc<Live>,
) -> super::WorkerStats {
    let id = w.id;
    for msg in rx.iter() {
        match msg {
            Msg::Batch(mut b) => {
                for p in &b.pkts {
                    let s = p.start as usize;
                    let Some(data) = b.data.get(s..s + p.caplen as usize) else {
                        continue;
                    };
                    w.packet(&RawPacket {
                        ts_ns: p.ts_ns,
                        linktype: p.linktype,
                        orig_len: p.orig_len,
                        data,
                        offset: 0,
                    });
                }
                w.send(false);
                b.data.clear();
                b.pkts.clear();
                let _ = pool.try_send(b);
            }
            Msg::Tick(now) => {
                // Bounded work per call: loop until every due flow ended.
                let mut rounds = 0;
                while !w.engine.advance(now) && rounds < 1_000_000 {
                    rounds += 1;
                }
                w.send(true);
            }
            Msg::Reload(d) => w.reload(&d),
            Msg::Finish(end) => {
                w.publish(&live);
                return w.finish(end, EndReason::Shutdown);
            }
        }
        w.publish(&live);
        if let Some(c) = live.workers.get(id) {
            c.queue.store(rx.len(), Ordering::Relaxed);
        }
    }
    let now = w.engine.table().now();
    w.finish(now, EndReason::Shutdown)
}

/// Captures on `captures` until [`Control::Stop`] (or until every capture
/// failed), then ends every flow and closes every file. `heartbeat`: how
/// often the clock moves the workers' time on.
pub fn run_live(
    cfg: &RunConfig,
    method: &str,
    interfaces: &[String],
    sources: Vec<Opened>,
    control: Receiver<Control>,
    live: Arc<Live>,
    heartbeat: Duration,
) -> Result<RunSummary, RunError> {
    let start = Instant::now();
    let started_ns = wall_ns();
    let workers = cfg.workers.max(1);
    let prov = Arc::new(Provenance {
        inputs: interfaces.to_vec(),
        bpf_filter: cfg.filter.clone().unwrap_or_default(),
        method: method.into(),
        started_ns,
        ..Provenance::default()
    });
    let left =
        crate::output::parquet_sink::remove_temporaries(&cfg.sink.out_dir, &cfg.sink.sensor_id);
    if left > 0 && cfg.progress {
        eprintln!("mekong-sensor: removed {left} temporary files an earlier run left");
    }
    let Back {
        wtx,
        writer,
        htx,
        host,
        mut spares,
    } = start_back(cfg, Arc::clone(&prov), &live, workers == 1)?;
    let (pool_tx, pool_rx) = bounded::<Batch>(workers * QUEUE);
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for (id, spare) in spares.iter_mut().enumerate().take(workers) {
        let (tx, rx) = bounded::<Msg>(QUEUE);
        let w = Worker::new(id, cfg, wtx.clone(), htx.clone(), spare.take());
        let pool = pool_tx.clone();
        let live = Arc::clone(&live);
        let h = thread::Builder::new()
            .name(format!("mekong-worker-{id}"))
            .spawn(move || worker_loop(w, rx, pool, live))
            .map_err(|e| RunError::Internal(e.to_string()))?;
        senders.push(tx);
        handles.push(h);
    }
    drop(wtx);
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for (i, o) in sources.into_iter().enumerate() {
        let senders = match o.worker {
            Some(w) => vec![senders[w % workers].clone()],
            None => senders.clone(),
        };
        let (cap, index) = (o.source, o.interface);
        let pool = pool_rx.clone();
        let stop = Arc::clone(&stop);
        let live = Arc::clone(&live);
        let h = thread::Builder::new()
            .name(format!("mekong-capture-{i}"))
            .spawn(move || reader(cap, index, senders, pool, stop, live, heartbeat))
            .map_err(|e| RunError::Internal(e.to_string()))?;
        readers.push(h);
    }
    let mut last_tick = 0u64;
    loop {
        match control.recv_timeout(heartbeat) {
            Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(Control::Reload(d)) => {
                for tx in &senders {
                    let _ = tx.send(Msg::Reload(Arc::clone(&d)));
                }
                if let Some(h) = &htx {
                    h.send(HostMsg::Reload(Box::new((
                        d.config.clone(),
                        d.rules.clone(),
                    ))));
                }
                live.reloads.fetch_add(1, Ordering::Relaxed);
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        footer_counts(&live, &prov);
        let r = Ordering::Relaxed;
        let now = wall_ns().saturating_sub(HEARTBEAT_LAG_NS);
        if prov.first_ns.load(r) == 0 && prov.packets_seen.load(r) > 0 {
            prov.first_ns.store(started_ns, r);
        }
        prov.last_ns.store(now, r);
        if now > last_tick {
            last_tick = now;
            for tx in &senders {
                // A worker with a full queue is busy with packets, whose
                // time moves it on.
                let _ = tx.try_send(Msg::Tick(now));
            }
        }
        if readers.iter().all(|h| h.is_finished()) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut summary = RunSummary::default();
    let mut last = 0u64;
    for h in readers {
        let d = h
            .join()
            .map_err(|_| RunError::Internal("a capture thread panicked".into()))?;
        summary.packets += d.packets;
        summary.bytes += d.bytes;
        last = last.max(d.last_ns);
        if let Some(e) = d.error {
            summary.input_problems.push(e);
        }
    }
    let end = last.max(wall_ns().saturating_sub(HEARTBEAT_LAG_NS));
    footer_counts(&live, &prov);
    // The readers' own count, now that every one has ended.
    prov.packets_seen.store(summary.packets, Ordering::Relaxed);
    prov.last_ns.store(end, Ordering::Relaxed);
    for tx in &senders {
        tx.send(Msg::Finish(end))
            .map_err(|_| RunError::Internal("a worker stopped".into()))?;
    }
    drop(senders);
    drop(htx);
    let mut stats = Vec::new();
    for h in handles {
        stats.push(
            h.join()
                .map_err(|_| RunError::Internal("a worker panicked".into()))?,
        );
    }
    end_back(&mut summary, &stats, host, writer)?;
    summary.first_ns = started_ns;
    summary.last_ns = end;
    summary.elapsed = start.elapsed();
    Ok(summary)
}
