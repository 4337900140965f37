//! Application metadata in flow records: which parsers see a flow's bytes,
//! with what memory, and what they found.
//!
//! The flow table calls [`AppEngine::packet`] for every packet with
//! payload of a flow still being parsed. The first bytes of a flow decide
//! its protocol (whatever the port); TCP bytes go through a per-direction
//! [`stream::Reassembler`] so parsers see them in order; a parser that needs
//! more than a segment keeps the unparsed bytes in a buffer of the
//! [`pool::BufPool`], at most the stream depth per direction, all buffers
//! together at most the budget. Once the parsers have what they want, the
//! flow is marked done and its packets cost nothing more.

pub mod flow;
pub mod pool;
pub mod stream;

use mekong_appmeta::{AppMeta, AppProto, UdpSession};

use crate::decode::{tcp_flags as F, PacketView, Transport};
use crate::flow::entry::{AppState, FlowEntry};
use flow::{AppFlow, Ctx};
use pool::BufPool;

/// Settings of application parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppConfig {
    /// Parse application metadata at all.
    pub enabled: bool,
    /// Bytes of one direction a parser may hold unparsed (the stream depth).
    pub stream_depth: usize,
    /// Bytes of stream buffers held at once, all flows together.
    pub budget: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            enabled: true,
            stream_depth: 8 * 1024,
            budget: 128 * 1024 * 1024,
        }
    }
}

/// Counters of application parsing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppStats {
    /// Flows recognised, by protocol (DNS, TLS, HTTP, SSH, QUIC).
    pub flows: [u64; 5],
    /// Records with malformed application data.
    pub malformed: u64,
    /// Directions stopped by a gap in the stream.
    pub gaps: u64,
    /// Directions stopped because a parser needed more than the stream depth.
    pub depth_exceeded: u64,
    /// Directions stopped because the buffer budget was used up.
    pub budget_exhausted: u64,
    /// Most buffer bytes held at once.
    pub peak_buffer_bytes: u64,
}

/// Protocol names in the order of [`AppStats::flows`].
pub const PROTOCOLS: [AppProto; 5] = [
    AppProto::Dns,
    AppProto::Tls,
    AppProto::Http,
    AppProto::Ssh,
    AppProto::Quic,
];

impl AppStats {
    fn count(&mut self, p: AppProto) {
        if let Some(i) = PROTOCOLS.iter().position(|&q| q == p) {
            self.flows[i] += 1;
        }
    }

    /// Adds another engine's counters.
    pub fn add(&mut self, o: &AppStats) {
        for (a, b) in self.flows.iter_mut().zip(o.flows) {
            *a += b;
        }
        self.malformed += o.malformed;
        self.gaps += o.gaps;
        self.depth_exceeded += o.depth_exceeded;
        self.budget_exhausted += o.budget_exhausted;
        self.peak_buffer_bytes += o.peak_buffer_bytes;
    }
}

/// The application state of every flow of a table, by slot.
pub struct AppEngine {
    cfg: AppConfig,
    pool: BufPool,
    flows: Vec<Option<Box<AppFlow>>>,
    stats: AppStats,
}

impl AppEngine {
    /// An engine with its own buffer pool (the budget is this engine's share).
    pub fn new(cfg: AppConfig) -> AppEngine {
        let depth = cfg.stream_depth.max(64);
        let ring = depth.next_power_of_two();
        AppEngine {
            cfg: AppConfig {
                stream_depth: depth,
                ..cfg
            },
            pool: BufPool::new(ring + ring / 8, cfg.budget),
            flows: Vec::new(),
            stats: AppStats::default(),
        }
    }

    /// Counters, with the most buffer bytes held at once.
    pub fn stats(&self) -> AppStats {
        AppStats {
            peak_buffer_bytes: self.pool.peak as u64,
            ..self.stats
        }
    }

    fn slot(&mut self, idx: u32) -> &mut Option<Box<AppFlow>> {
        let i = idx as usize;
        if self.flows.len() <= i {
            self.flows.resize_with(i + 1, || None);
        }
        &mut self.flows[i]
    }

    /// Accounts a packet of the flow in slot `idx` (entry `e`), sent by
    /// the originator when `d` is 0.
    pub fn packet(&mut self, idx: u32, e: &mut FlowEntry, d: usize, p: &PacketView<'_>) {
        if e.app == AppState::Done || p.payload.is_empty() {
            return;
        }
        let ports = (e.orig_port, e.resp_port);
        match p.transport {
            Transport::Tcp(t) => {
                let seq = t.seq.wrapping_add(u32::from(t.flags & F::SYN != 0));
                let start = e.stream_start(d).unwrap_or(seq);
                if e.app == AppState::Idle {
                    // Most flows are decided by their first segment: no state for them.
                    if seq == start {
                        let v = mekong_appmeta::session::detect_stream(p.payload, ports);
                        if matches!(v, mekong_appmeta::Outcome::NotThis) {
                            e.app = AppState::Done;
                            return;
                        }
                    }
                    *self.slot(idx) = Some(Box::default());
                    e.app = AppState::Active;
                }
                let cut = p.payload.len() < p.payload_len as usize;
                let Some(f) = self
                    .flows
                    .get_mut(idx as usize)
                    .and_then(|f| f.as_deref_mut())
                else {
                    e.app = AppState::Done;
                    return;
                };
                let mut ctx = Ctx {
                    pool: &mut self.pool,
                    depth: self.cfg.stream_depth,
                    stats: &mut self.stats,
                };
                f.tcp(d, seq, start, p.payload, cut, ports, &mut ctx);
                if f.finished() {
                    e.app = AppState::Done;
                    self.settle(idx);
                }
            }
            Transport::Udp => {
                if e.app == AppState::Idle {
                    let mut meta = Box::<AppMeta>::default();
                    match UdpSession::detect(p.payload, d, ports, &mut meta) {
                        Some(s) => {
                            if let Some(proto) = meta.proto {
                                self.stats.count(proto);
                            }
                            *self.slot(idx) = Some(Box::new(AppFlow::udp(s, meta)));
                            e.app = AppState::Active;
                        }
                        None => {
                            e.app = AppState::Done;
                            return;
                        }
                    }
                }
                if let Some(f) = self
                    .flows
                    .get_mut(idx as usize)
                    .and_then(|f| f.as_deref_mut())
                {
                    f.datagram(d, p.payload);
                    if f.finished() {
                        e.app = AppState::Done;
                    }
                }
            }
            _ => e.app = AppState::Done,
        }
    }

    /// Frees a finished flow's state, keeping its metadata if it has any.
    fn settle(&mut self, idx: u32) {
        let slot = self.slot(idx);
        let keep = slot
            .as_ref()
            .is_some_and(|f| f.meta().proto.is_some() || f.meta().anomalies != 0);
        if let Some(mut f) = slot.take() {
            f.release(&mut self.pool);
            if keep {
                self.flows[idx as usize] = Some(f);
            }
        }
    }

    /// The metadata of the record the flow in slot `idx` emits; with
    /// `last`, the flow's state goes (the flow is over), otherwise its
    /// counts restart for the next record.
    pub fn record(&mut self, idx: u32, last: bool) -> Option<Box<AppMeta>> {
        let slot = self.flows.get_mut(idx as usize)?;
        let f = slot.as_deref_mut()?;
        if last {
            f.close(&mut self.stats);
        }
        let m = f.meta();
        let has = m.proto.is_some() || m.anomalies != 0;
        if m.anomalies & mekong_appmeta::flags::MALFORMED != 0 {
            self.stats.malformed += 1;
        }
        if last {
            f.release(&mut self.pool);
            let meta = f.take_meta();
            *slot = None;
            has.then_some(meta)
        } else {
            let meta = has.then(|| Box::new(f.meta().clone()));
            f.new_piece();
            meta
        }
    }

    /// Drops the state of slot `idx` (the flow is gone without a record).
    pub fn forget(&mut self, idx: u32) {
        if let Some(slot) = self.flows.get_mut(idx as usize) {
            if let Some(mut f) = slot.take() {
                f.release(&mut self.pool);
            }
        }
    }
}
