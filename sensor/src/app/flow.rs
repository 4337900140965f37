//! The application state of one flow: protocol recognition, the bytes a
//! parser still needs, and the metadata found so far.

use mekong_appmeta::session::detect_stream;
use mekong_appmeta::{flags, AppMeta, AppSession, Events, Outcome, Step, UdpSession};

use super::AppStats;
use crate::stream::pool::BufPool;

/// Where a flow's parsing is.
#[derive(Debug)]
enum Phase {
    /// The first bytes have not decided the protocol yet.
    Detect,
    /// A TCP protocol's session.
    Tcp(AppSession),
    /// A UDP protocol's session.
    Udp(UdpSession),
    /// Nothing more to parse.
    Done,
}

/// What the flow's parsers share: the pool, the stream depth, counters,
/// and where transactions go.
pub struct Ctx<'a> {
    /// Stream buffers.
    pub pool: &'a mut BufPool,
    /// Bytes of a direction a parser may hold unparsed.
    pub depth: usize,
    /// Counters.
    pub stats: &'a mut AppStats,
    /// Application events.
    pub events: &'a mut Events,
}

/// The parsing half of a flow (apart from reassembly, which feeds it).
#[derive(Debug)]
struct Parse {
    meta: Box<AppMeta>,
    phase: Phase,
    /// Unparsed bytes per direction (a pool buffer, only while needed).
    pending: [Option<Vec<u8>>; 2],
    /// Direction finished (parser done, or stopped).
    done: [bool; 2],
}

/// The application state of one flow.
#[derive(Debug)]
pub struct AppFlow {
    parse: Parse,
}

enum Status {
    More,
    Finished,
}

impl AppFlow {
    /// A flow whose protocol is still to be recognised.
    pub fn new() -> AppFlow {
        AppFlow {
            parse: Parse {
                meta: Box::default(),
                phase: Phase::Detect,
                pending: [None, None],
                done: [false; 2],
            },
        }
    }

    /// A flow whose protocol is known without parsing (a data connection
    /// announced on another): nothing of it is read.
    pub fn known(meta: Box<AppMeta>) -> AppFlow {
        AppFlow {
            parse: Parse {
                meta,
                phase: Phase::Done,
                pending: [None, None],
                done: [true; 2],
            },
        }
    }

    /// A UDP flow with its session.
    pub fn udp(session: UdpSession, meta: Box<AppMeta>) -> AppFlow {
        AppFlow {
            parse: Parse {
                meta,
                phase: Phase::Udp(session),
                pending: [None, None],
                done: [false; 2],
            },
        }
    }

    /// The metadata found so far.
    pub fn meta(&self) -> &AppMeta {
        &self.parse.meta
    }

    /// The metadata, to add to.
    pub fn meta_mut(&mut self) -> &mut AppMeta {
        &mut self.parse.meta
    }

    /// Takes the metadata (the flow is over).
    pub fn take_meta(&mut self) -> Box<AppMeta> {
        std::mem::take(&mut self.parse.meta)
    }

    /// Starts the next record: counts restart (see [`AppMeta::new_piece`]).
    pub fn new_piece(&mut self) {
        self.parse.meta.new_piece();
    }

    /// True when nothing more will be parsed.
    pub fn finished(&self) -> bool {
        matches!(self.parse.phase, Phase::Done) || self.parse.done.iter().all(|&d| d)
    }

    /// True when direction `d` wants more bytes.
    pub fn wants(&self, d: usize) -> bool {
        !self.parse.done[d.min(1)] && !matches!(self.parse.phase, Phase::Done)
    }

    /// Gives every buffer back to the pool.
    pub fn release(&mut self, pool: &mut BufPool) {
        for p in &mut self.parse.pending {
            if let Some(b) = p.take() {
                pool.put(b);
            }
        }
    }

    /// The next in-order bytes of direction `d` of a TCP flow whose ports
    /// are `ports` (originator's first).
    pub fn stream(&mut self, d: usize, bytes: &[u8], ports: (u16, u16), ctx: &mut Ctx<'_>) {
        self.parse.deliver(d.min(1), bytes, ports, ctx);
        if self.finished() {
            self.release(ctx.pool);
        }
    }

    /// Bytes of direction `d` are missing: its parser stops, and the
    /// record says so when the parser had not finished.
    pub fn gap(&mut self, d: usize, ctx: &mut Ctx<'_>) {
        let d = d.min(1);
        if !self.parse.done[d] && !matches!(self.parse.phase, Phase::Done) {
            ctx.stats.gaps += 1;
            self.parse.stop(d, flags::GAP, ctx);
        }
        if self.finished() {
            self.release(ctx.pool);
        }
    }

    /// Accounts a UDP datagram of direction `d`; transactions go to `ev`.
    pub fn datagram(&mut self, d: usize, data: &[u8], ev: &mut Events) {
        if let Phase::Udp(s) = &mut self.parse.phase {
            if s.datagram(d, data, &mut self.parse.meta, ev)
                == mekong_appmeta::session::UdpStep::Done
            {
                self.parse.phase = Phase::Done;
            }
        }
    }
}

impl Default for AppFlow {
    fn default() -> Self {
        AppFlow::new()
    }
}

impl Parse {
    /// Stops direction `d`, noting why in the record.
    fn stop(&mut self, d: usize, why: u32, ctx: &mut Ctx<'_>) {
        if !self.done[d] {
            self.done[d] = true;
            if !matches!(self.phase, Phase::Done) {
                self.meta.anomalies |= why;
            }
        }
        if let Some(b) = self.pending[d].take() {
            ctx.pool.put(b);
        }
        if matches!(self.phase, Phase::Detect) {
            self.phase = Phase::Done;
        }
        if self.done.iter().all(|&x| x) {
            self.phase = Phase::Done;
        }
    }

    /// The next in-order bytes of direction `d`.
    fn deliver(&mut self, d: usize, bytes: &[u8], ports: (u16, u16), ctx: &mut Ctx<'_>) {
        if self.done[d] || bytes.is_empty() {
            return;
        }
        match self.phase {
            Phase::Detect => self.detect(d, bytes, ports, ctx),
            Phase::Tcp(_) => self.feed(d, bytes, ctx),
            Phase::Udp(_) | Phase::Done => {}
        }
    }

    fn detect(&mut self, d: usize, bytes: &[u8], ports: (u16, u16), ctx: &mut Ctx<'_>) {
        let verdict = match &mut self.pending[d] {
            None => detect_stream(bytes, ports),
            Some(p) => {
                let take = bytes.len().min(ctx.depth.saturating_sub(p.len()));
                p.extend_from_slice(&bytes[..take]);
                detect_stream(p, ports)
            }
        };
        match verdict {
            Outcome::Parsed(proto) => {
                let Some(session) = AppSession::new(proto, &mut self.meta) else {
                    self.phase = Phase::Done;
                    return;
                };
                ctx.stats.count(proto);
                self.phase = Phase::Tcp(session);
                // Bytes that waited for the verdict go through the new session first.
                let waiting = [self.pending[0].take(), self.pending[1].take()];
                if waiting[d].is_none() {
                    self.feed(d, bytes, ctx);
                }
                for k in [d, 1 - d] {
                    if let Some(p) = &waiting[k] {
                        self.feed(k, p, ctx);
                    }
                }
                for p in waiting.into_iter().flatten() {
                    ctx.pool.put(p);
                }
            }
            Outcome::Incomplete => {
                if self.pending[d].is_none() {
                    match ctx.pool.get() {
                        Some(mut b) => {
                            b.extend_from_slice(&bytes[..bytes.len().min(ctx.depth)]);
                            self.pending[d] = Some(b);
                        }
                        None => {
                            ctx.stats.budget_exhausted += 1;
                            self.stop(d, flags::BUDGET, ctx);
                        }
                    }
                } else if self.pending[d]
                    .as_ref()
                    .is_some_and(|p| p.len() >= ctx.depth)
                {
                    self.stop(d, 0, ctx);
                }
            }
            Outcome::NotThis | Outcome::Malformed => self.stop(d, 0, ctx),
        }
    }

    /// Runs the session over `data` from its start.
    fn run(&mut self, d: usize, data: &[u8], ev: &mut Events) -> (usize, Status) {
        let Phase::Tcp(session) = &mut self.phase else {
            return (0, Status::Finished);
        };
        let mut pos = 0;
        while pos < data.len() {
            match session.parse(d, &data[pos..], &mut self.meta, ev) {
                Step::Consumed(n) => pos += n.clamp(1, data.len() - pos),
                Step::NeedMore => return (pos, Status::More),
                Step::Done | Step::Malformed => return (pos, Status::Finished),
            }
        }
        (pos, Status::More)
    }

    /// Feeds the next in-order bytes of direction `d` to the session,
    /// keeping what it leaves unparsed (up to the stream depth).
    fn feed(&mut self, d: usize, bytes: &[u8], ctx: &mut Ctx<'_>) {
        let mut input = bytes;
        loop {
            if self.done[d] {
                return;
            }
            match self.pending[d].take() {
                None => {
                    let (used, status) = self.run(d, input, ctx.events);
                    if let Status::Finished = status {
                        self.stop(d, 0, ctx);
                        return;
                    }
                    let rest = &input[used..];
                    if rest.is_empty() {
                        return;
                    }
                    if rest.len() > ctx.depth {
                        ctx.stats.depth_exceeded += 1;
                        self.stop(d, flags::BUDGET, ctx);
                        return;
                    }
                    match ctx.pool.get() {
                        Some(mut b) => {
                            b.extend_from_slice(rest);
                            self.pending[d] = Some(b);
                        }
                        None => {
                            ctx.stats.budget_exhausted += 1;
                            self.stop(d, flags::BUDGET, ctx);
                        }
                    }
                    return;
                }
                Some(mut p) => {
                    let room = ctx.depth.saturating_sub(p.len());
                    if room == 0 {
                        ctx.pool.put(p);
                        ctx.stats.depth_exceeded += 1;
                        self.stop(d, flags::BUDGET, ctx);
                        return;
                    }
                    let take = room.min(input.len());
                    p.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let (used, status) = self.run(d, &p, ctx.events);
                    p.drain(..used);
                    if let Status::Finished = status {
                        ctx.pool.put(p);
                        self.stop(d, 0, ctx);
                        return;
                    }
                    if p.is_empty() {
                        ctx.pool.put(p);
                    } else {
                        self.pending[d] = Some(p);
                    }
                    if input.is_empty() {
                        return;
                    }
                }
            }
        }
    }
}
