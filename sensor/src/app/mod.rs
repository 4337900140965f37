//! Application parsing, the first stage: which parsers read a flow, with
//! what memory, what they found for the record, and the transactions they
//! raise as events for the stages after it.
//!
//! A TCP flow's in-order bytes come from the stream engine; the first bytes
//! of a flow decide its protocol (whatever the port). A parser that needs
//! more than a segment keeps the unparsed bytes in a buffer of its own
//! [`BufPool`], at most the parser depth per direction, all buffers together
//! at most the budget. UDP datagrams are read as they come. Once the parsers
//! have what they want, the stage stops wanting the flow's bytes and its
//! packets cost one test. State lives in side tables by slot, only while
//! needed.

pub mod expect;
pub mod flow;

use mekong_appmeta::{AppEvent, AppMeta, AppProto, UdpSession};

use crate::decode::{PacketView, Transport};
use crate::flow::FlowSummary;
use crate::stage::{FlowCtx, RecordExtras, Stage, StageOut};
use crate::stream::pool::BufPool;
use crate::stream::Chunk;
use flow::{AppFlow, Ctx};

/// Settings of application parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppConfig {
    /// Parse application metadata at all.
    pub enabled: bool,
    /// Bytes of one direction a parser may hold unparsed (the parser depth).
    pub stream_depth: usize,
    /// Bytes of parser buffers held at once, all flows together.
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
    /// Flows recognised, by protocol (in the order of [`PROTOCOLS`]).
    pub flows: [u64; PROTOCOLS.len()],
    /// Records with malformed application data.
    pub malformed: u64,
    /// Directions stopped by a gap in the stream.
    pub gaps: u64,
    /// Directions stopped because a parser needed more than the parser depth.
    pub depth_exceeded: u64,
    /// Directions stopped because the buffer budget was used up.
    pub budget_exhausted: u64,
    /// Most buffer bytes held at once.
    pub peak_buffer_bytes: u64,
    /// Application events raised.
    pub events: u64,
    /// Data connections linked to the control connection that announced them.
    pub linked: u64,
    /// Announced connections forgotten before they came (table slot reused).
    pub expect_overwritten: u64,
}

/// Protocol names in the order of [`AppStats::flows`].
pub const PROTOCOLS: [AppProto; 20] = [
    AppProto::Dns,
    AppProto::Tls,
    AppProto::Http,
    AppProto::Ssh,
    AppProto::Quic,
    AppProto::Ftp,
    AppProto::FtpData,
    AppProto::Smtp,
    AppProto::Telnet,
    AppProto::Pop3,
    AppProto::Imap,
    AppProto::Smb,
    AppProto::DceRpc,
    AppProto::Kerberos,
    AppProto::Dhcp,
    AppProto::Rdp,
    AppProto::Mysql,
    AppProto::Postgres,
    AppProto::Mssql,
    AppProto::Mining,
];

impl AppStats {
    fn count(&mut self, p: AppProto) {
        if let Some(i) = PROTOCOLS.iter().position(|&q| q == p) {
            self.flows[i] += 1;
        }
    }

    /// Adds another stage's counters.
    pub fn add(&mut self, o: &AppStats) {
        for (a, b) in self.flows.iter_mut().zip(o.flows) {
            *a += b;
        }
        self.malformed += o.malformed;
        self.gaps += o.gaps;
        self.depth_exceeded += o.depth_exceeded;
        self.budget_exhausted += o.budget_exhausted;
        self.peak_buffer_bytes += o.peak_buffer_bytes;
        self.events += o.events;
        self.linked += o.linked;
        self.expect_overwritten += o.expect_overwritten;
    }
}

/// Where a flow's parsing is.
const IDLE: u8 = 0;
const ACTIVE: u8 = 1;
const DONE: u8 = 2;

/// The application state of every flow of a table, by slot.
pub struct AppStage {
    cfg: AppConfig,
    pool: BufPool,
    state: Vec<u8>,
    flows: Vec<Option<Box<AppFlow>>>,
    stats: AppStats,
    expect: expect::Expectations,
}

impl AppStage {
    /// A stage with its own buffer pool (the budget is this stage's share).
    pub fn new(cfg: AppConfig) -> AppStage {
        let depth = cfg.stream_depth.max(64);
        let ring = depth.next_power_of_two();
        AppStage {
            cfg: AppConfig {
                stream_depth: depth,
                ..cfg
            },
            pool: BufPool::new(ring + ring / 8, cfg.budget),
            state: Vec::new(),
            flows: Vec::new(),
            stats: AppStats::default(),
            expect: expect::Expectations::default(),
        }
    }

    /// Parser buffer bytes held by flows now.
    pub fn buffer_bytes(&self) -> usize {
        self.pool.held()
    }

    /// Counters, with the most buffer bytes held at once.
    pub fn stats(&self) -> AppStats {
        AppStats {
            peak_buffer_bytes: self.pool.peak as u64,
            linked: self.expect.linked,
            expect_overwritten: self.expect.overwritten,
            ..self.stats
        }
    }

    fn state(&self, slot: u32) -> u8 {
        self.state.get(slot as usize).copied().unwrap_or(IDLE)
    }

    fn set_state(&mut self, slot: u32, s: u8) {
        let i = slot as usize;
        if self.state.len() <= i {
            self.state.resize(i + 1, IDLE);
        }
        self.state[i] = s;
    }

    fn slot(&mut self, idx: u32) -> &mut Option<Box<AppFlow>> {
        let i = idx as usize;
        if self.flows.len() <= i {
            self.flows.resize_with(i + 1, || None);
        }
        &mut self.flows[i]
    }

    /// Frees a finished flow's state, keeping its metadata if it has any.
    fn settle(&mut self, idx: u32) {
        self.set_state(idx, DONE);
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
    fn record(&mut self, idx: u32, last: bool) -> Option<Box<AppMeta>> {
        let slot = self.flows.get_mut(idx as usize)?;
        let f = slot.as_deref_mut()?;
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
}

impl AppStage {
    /// A TCP segment that may begin a TLS heartbeat record: read when the
    /// flow is TLS (heartbeats are sent alone, so they begin segments; the
    /// stream parser stops long before them).
    fn heartbeat(&mut self, f: &FlowCtx<'_>, seg: &[u8], out: &mut StageOut<'_>) {
        let Some((len, claimed)) = mekong_appmeta::heartbeat::record_at(seg) else {
            return;
        };
        let Some(fl) = self
            .flows
            .get_mut(f.slot as usize)
            .and_then(|x| x.as_deref_mut())
        else {
            return;
        };
        let meta = fl.meta_mut();
        if meta.proto != Some(AppProto::Tls) {
            return;
        }
        let h = meta
            .heartbeat
            .get_or_insert_with(Default::default)
            .add(f.dir, len, claimed);
        out.app.tls_heartbeat(f.dir as u8, &h);
        self.stats.events += 1;
    }

    /// Puts the data channels announced among the events from `from` on
    /// into the expectation table.
    fn announced(&mut self, f: &FlowCtx<'_>, from: usize, out: &StageOut<'_>) {
        for i in from..out.app.len() {
            if let Some(AppEvent::FtpData { addr, port, .. }) = out.app.get(i) {
                // Passive answers without an address name the server.
                let addr = addr.unwrap_or_else(|| f.entry.addrs().1);
                self.expect
                    .announce(addr, port, f.entry.key.vlan, f.entry.uid, f.ts_ns);
            }
        }
    }
}

impl Stage for AppStage {
    fn on_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
        if p.payload.first() == Some(&mekong_appmeta::heartbeat::CONTENT_TYPE)
            && matches!(p.transport, Transport::Tcp { .. })
        {
            self.heartbeat(f, p.payload, out);
            return;
        }
        if p.payload.is_empty() || !matches!(p.transport, Transport::Udp) {
            return;
        }
        let idx = f.slot;
        let st = self.state(idx);
        if st == DONE {
            return;
        }
        let e = f.entry;
        let d = f.dir;
        let ports = (e.orig_port, e.resp_port);
        let before = out.app.len();
        if st == IDLE {
            let mut meta = Box::<AppMeta>::default();
            match UdpSession::detect(p.payload, d, ports, &mut meta) {
                Some(s) => {
                    if let Some(proto) = meta.proto {
                        self.stats.count(proto);
                    }
                    *self.slot(idx) = Some(Box::new(AppFlow::udp(s, meta)));
                    self.set_state(idx, ACTIVE);
                }
                None => {
                    self.set_state(idx, DONE);
                    return;
                }
            }
        }
        if let Some(fl) = self
            .flows
            .get_mut(idx as usize)
            .and_then(|f| f.as_deref_mut())
        {
            fl.datagram(d, p.payload, out.app);
            if fl.finished() {
                self.set_state(idx, DONE);
            }
        }
        self.stats.events += (out.app.len() - before) as u64;
    }

    fn wants_stream(&self, slot: u32, dir: usize, _offset: u64) -> bool {
        match self.state(slot) {
            IDLE => true,
            ACTIVE => self
                .flows
                .get(slot as usize)
                .and_then(|f| f.as_deref())
                .is_some_and(|f| f.wants(dir)),
            _ => false,
        }
    }

    fn on_stream(&mut self, f: &FlowCtx<'_>, chunk: Chunk<'_>, out: &mut StageOut<'_>) {
        let idx = f.slot;
        let st = self.state(idx);
        if st == DONE {
            return;
        }
        let e = f.entry;
        let ports = (e.orig_port, e.resp_port);
        let before = out.app.len();
        match chunk {
            Chunk::Data { offset, bytes } => {
                if st == IDLE {
                    // A connection another one announced (an FTP data channel).
                    let (_, resp) = e.addrs();
                    if let Some(uid) = self.expect.take(resp, e.resp_port, e.key.vlan, f.ts_ns) {
                        let mut meta = Box::<AppMeta>::default();
                        meta.proto = Some(AppProto::FtpData);
                        meta.ftp = Some(Box::new(mekong_appmeta::ftp::FtpMeta {
                            control_uid: Some(uid),
                            ..Default::default()
                        }));
                        self.stats.count(AppProto::FtpData);
                        *self.slot(idx) = Some(Box::new(AppFlow::known(meta)));
                        self.settle(idx);
                        return;
                    }
                    // Most flows are decided by their first bytes: no state for them.
                    if offset == 0 {
                        let v = mekong_appmeta::session::detect_stream(bytes, ports);
                        if matches!(v, mekong_appmeta::Outcome::NotThis) {
                            self.set_state(idx, DONE);
                            return;
                        }
                    }
                    *self.slot(idx) = Some(Box::default());
                    self.set_state(idx, ACTIVE);
                }
                let depth = self.cfg.stream_depth;
                let Some(fl) = self
                    .flows
                    .get_mut(idx as usize)
                    .and_then(|f| f.as_deref_mut())
                else {
                    self.set_state(idx, DONE);
                    return;
                };
                let mut ctx = Ctx {
                    pool: &mut self.pool,
                    depth,
                    stats: &mut self.stats,
                    events: out.app,
                };
                fl.stream(f.dir, bytes, ports, &mut ctx);
                if fl.finished() {
                    self.settle(idx);
                }
                self.announced(f, before, out);
            }
            Chunk::Gap => {
                if let Some(fl) = self
                    .flows
                    .get_mut(idx as usize)
                    .and_then(|f| f.as_deref_mut())
                {
                    let mut ctx = Ctx {
                        pool: &mut self.pool,
                        depth: self.cfg.stream_depth,
                        stats: &mut self.stats,
                        events: out.app,
                    };
                    fl.gap(f.dir, &mut ctx);
                    if fl.finished() {
                        self.settle(idx);
                    }
                } else if st == IDLE {
                    self.set_state(idx, DONE);
                }
            }
        }
        self.stats.events += (out.app.len() - before) as u64;
    }

    fn on_flow_end(
        &mut self,
        slot: u32,
        _s: &FlowSummary,
        last: bool,
        rec: &mut RecordExtras,
        _out: &mut StageOut<'_>,
    ) {
        rec.app = self.record(slot, last);
    }

    fn on_forget(&mut self, slot: u32) {
        if let Some(s) = self.flows.get_mut(slot as usize) {
            if let Some(mut f) = s.take() {
                f.release(&mut self.pool);
            }
        }
        if let Some(s) = self.state.get_mut(slot as usize) {
            *s = IDLE;
        }
    }
}
