//! In-order stream bytes for every TCP flow, up to a depth (Suricata's
//! `stream.reassembly.depth`), whether or not a protocol was recognised.
//!
//! Each direction of a TCP flow with payload gets a [`reasm::Reassembler`]:
//! in-order segments pass straight through to the stages without a copy; a
//! segment ahead of a hole waits in a ring buffer taken from a
//! [`pool::BufPool`] under a budget, and is delivered when the hole fills.
//! A direction stops at the depth, at a gap (a hole that cannot be bridged:
//! beyond the ring's window, no buffer left in the budget, or bytes the
//! capture cut off), or as soon as no stage wants its bytes any more; a
//! stopped direction costs one test per packet. State lives in a slab by
//! flow-table slot and is recycled, so steady traffic allocates nothing.

pub mod pool;
pub mod reasm;

use crate::decode::{tcp_flags as F, TcpInfo};
use crate::flow::FlowEntry;
use pool::BufPool;
use reasm::{Hole, Reassembler};

/// Settings of stream reassembly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Bytes of each direction delivered at most (the reassembly depth).
    pub depth: u64,
    /// Bytes ahead of a hole a direction may hold while it waits.
    pub window: usize,
    /// Bytes of waiting buffers held at once, all flows together.
    pub budget: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            depth: 1 << 20,
            window: 64 * 1024,
            budget: 64 << 20,
        }
    }
}

/// What a stage receives of a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// The next in-order bytes, starting `offset` bytes into the direction.
    Data {
        /// Bytes of the direction before these.
        offset: u64,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// Bytes are missing: nothing more of this direction will come.
    Gap,
}

/// Counters of reassembly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Directions that carried payload.
    pub directions: u64,
    /// Bytes delivered in order.
    pub bytes: u64,
    /// Segments that waited for a hole to fill.
    pub waited: u64,
    /// Directions stopped by a gap.
    pub gaps: u64,
    /// Directions stopped at the depth.
    pub depth_reached: u64,
    /// Directions stopped because the buffer budget was used up.
    pub budget_exhausted: u64,
    /// Most buffer bytes held at once.
    pub peak_buffer_bytes: u64,
}

impl StreamStats {
    /// Adds another engine's counters.
    pub fn add(&mut self, o: &StreamStats) {
        self.directions += o.directions;
        self.bytes += o.bytes;
        self.waited += o.waited;
        self.gaps += o.gaps;
        self.depth_reached += o.depth_reached;
        self.budget_exhausted += o.budget_exhausted;
        self.peak_buffer_bytes += o.peak_buffer_bytes;
    }
}

#[derive(Debug, Default)]
struct Dir {
    r: Reassembler,
    delivered: u64,
    stopped: bool,
}

#[derive(Debug, Default)]
struct StreamFlow {
    d: [Dir; 2],
}

const NONE: u32 = u32::MAX;

/// The stream state of every TCP flow of a table, by slot.
pub struct StreamEngine {
    cfg: StreamConfig,
    pool: BufPool,
    index: Vec<u32>,
    slab: Vec<StreamFlow>,
    free: Vec<u32>,
    stats: StreamStats,
}

impl StreamEngine {
    /// An engine with its own buffer pool.
    pub fn new(cfg: StreamConfig) -> StreamEngine {
        let ring = cfg.window.max(64).next_power_of_two();
        StreamEngine {
            cfg,
            pool: BufPool::new(ring + ring / 8, cfg.budget),
            index: Vec::new(),
            slab: Vec::new(),
            free: Vec::new(),
            stats: StreamStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> StreamStats {
        StreamStats {
            peak_buffer_bytes: self.pool.peak as u64,
            ..self.stats
        }
    }

    fn flow(&mut self, slot: u32) -> &mut StreamFlow {
        let i = slot as usize;
        if self.index.len() <= i {
            self.index.resize(i + 1, NONE);
        }
        if self.index[i] == NONE {
            let k = match self.free.pop() {
                Some(k) => k,
                None => {
                    self.slab.push(StreamFlow::default());
                    (self.slab.len() - 1) as u32
                }
            };
            self.index[i] = k;
        }
        &mut self.slab[self.index[i] as usize]
    }

    /// Bytes of direction `dir` of `slot` delivered so far, or `None` when
    /// the direction has stopped.
    pub fn offset(&self, slot: u32, dir: usize) -> Option<u64> {
        match self.index.get(slot as usize) {
            Some(&k) if k != NONE => {
                let d = &self.slab[k as usize].d[dir.min(1)];
                (!d.stopped).then_some(d.delivered)
            }
            _ => Some(0),
        }
    }

    /// True when direction `dir` of `slot` holds bytes waiting for a hole.
    pub fn waiting(&self, slot: u32, dir: usize) -> bool {
        match self.index.get(slot as usize) {
            Some(&k) if k != NONE => {
                let d = &self.slab[k as usize].d[dir.min(1)];
                !d.stopped && d.r.waiting()
            }
            _ => false,
        }
    }

    /// Stops direction `dir` of `slot` (no stage wants more of it).
    pub fn stop(&mut self, slot: u32, dir: usize) {
        let f = self.flow(slot);
        let d = &mut f.d[dir.min(1)];
        d.stopped = true;
        if let Some(b) = d.r.take_ring() {
            self.pool.put(b);
        }
    }

    /// Accounts a TCP segment of direction `dir` (0 from the originator) of
    /// the flow `e` in `slot`, carrying `payload` (`cut` when the capture
    /// holds less than the segment did), passing the bytes now in order to
    /// `deliver`.
    #[allow(clippy::too_many_arguments)]
    pub fn segment<D: FnMut(Chunk<'_>)>(
        &mut self,
        slot: u32,
        dir: usize,
        e: &FlowEntry,
        t: &TcpInfo,
        payload: &[u8],
        cut: bool,
        deliver: &mut D,
    ) {
        let depth = self.cfg.depth;
        let d = dir.min(1);
        let seq = t.seq.wrapping_add(u32::from(t.flags & F::SYN != 0));
        let start = e.stream_start(d).unwrap_or(seq);
        let size = self.pool.size();
        let k = {
            let f = self.flow(slot);
            if f.d[d].stopped {
                return;
            }
            self.index[slot as usize] as usize
        };
        let dirst = &mut self.slab[k].d[d];
        if !dirst.r.started() {
            dirst.r.start(start);
            self.stats.directions += 1;
        }
        if dirst.r.must_wait(seq) {
            match self.pool.get() {
                Some(b) => dirst.r.give_ring(b, size),
                None => {
                    self.stats.budget_exhausted += 1;
                    dirst.stopped = true;
                    deliver(Chunk::Gap);
                    return;
                }
            }
        }
        let Dir {
            r,
            delivered,
            stopped,
        } = dirst;
        let before = *delivered;
        let waited_before = r.waited;
        let res = r.segment(seq, payload, &mut |bytes: &[u8]| {
            let room = depth.saturating_sub(*delivered);
            let n = (bytes.len() as u64).min(room) as usize;
            if n > 0 {
                deliver(Chunk::Data {
                    offset: *delivered,
                    bytes: &bytes[..n],
                });
                *delivered += n as u64;
            }
        });
        self.stats.waited += u64::from(r.waited.saturating_sub(waited_before));
        self.stats.bytes += *delivered - before;
        let mut stop = false;
        match res {
            Err(Hole::TooFar) => {
                self.stats.gaps += 1;
                deliver(Chunk::Gap);
                stop = true;
            }
            Err(Hole::NoBuffer) => {
                self.stats.budget_exhausted += 1;
                deliver(Chunk::Gap);
                stop = true;
            }
            Ok(()) if cut => {
                self.stats.gaps += 1;
                deliver(Chunk::Gap);
                stop = true;
            }
            Ok(()) => {}
        }
        if *delivered >= depth && !stop {
            self.stats.depth_reached += 1;
            stop = true;
        }
        if stop {
            *stopped = true;
            if let Some(b) = r.take_ring() {
                self.pool.put(b);
            }
        } else if let Some(b) = r.take_idle_ring() {
            self.pool.put(b);
        }
    }

    /// Forgets the state of `slot` (its flow is gone).
    pub fn forget(&mut self, slot: u32) {
        let Some(k) = self.index.get_mut(slot as usize) else {
            return;
        };
        if *k == NONE {
            return;
        }
        let idx = std::mem::replace(k, NONE);
        let f = &mut self.slab[idx as usize];
        for d in &mut f.d {
            if let Some(b) = d.r.take_ring() {
                self.pool.put(b);
            }
        }
        *f = StreamFlow::default();
        self.free.push(idx);
    }
}
