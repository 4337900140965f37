//! The flow table: a hash map from canonical keys to preallocated slots, a
//! timer wheel that finds flows to expire without scanning the table, and
//! bounded size with eviction.
//!
//! Every decision is a function of packet timestamps only: a flow ends when
//! a packet (or the passage of packet time) shows it idle, closed or past an
//! active-timeout boundary, whichever thread sees it and whenever the wheel
//! gets to it. So the records do not depend on the number of workers (only
//! eviction, which depends on what else shares the table, does).

use std::sync::Arc;

use std::hash::Hasher;

use hashbrown::{HashMap, HashTable};

use super::entry::FlowEntry;
use super::key::{flow_uid, FlowKey, FxBuild, FxHasher};
use crate::app::AppConfig;
use crate::decode::{tcp_flags as F, PacketView, Transport, Tunnel};
use crate::stream::StreamConfig;

/// Why a record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// FIN both ways or RST, then the linger time.
    TcpClose,
    /// No packet for the idle timeout.
    Idle,
    /// Active-timeout boundary reached.
    Active,
    /// Evicted because the table was full.
    Evicted,
    /// End of input.
    Eof,
    /// The sensor stopped.
    Shutdown,
}

impl EndReason {
    /// The value of the `end_reason` column.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::TcpClose => "tcp_close",
            EndReason::Idle => "idle",
            EndReason::Active => "active",
            EndReason::Evicted => "evicted",
            EndReason::Eof => "eof",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// A finished record: the flow's state and how it ended.
#[derive(Clone, Debug)]
pub struct FlowRecord {
    /// The state at the end of the record.
    pub entry: FlowEntry,
    /// Flow identifier.
    pub uid: i64,
    /// Encapsulation of the flow's first packet.
    pub tunnel: Tunnel,
    /// Why it ended.
    pub end: EndReason,
    /// Cut by the active timeout while the flow went on.
    pub continues: bool,
}

/// What the table tells the code around it: records that end and slots
/// that are forgotten, the moment they happen (so state kept by slot in
/// side tables goes before the slot is reused).
pub trait FlowHooks {
    /// A record of the flow in `slot` ends (the flow goes on when
    /// `r.continues`).
    fn ended(&mut self, slot: u32, r: FlowRecord);
    /// The flow in `slot` is gone (after its last record, if it had one).
    fn forget(&mut self, slot: u32);
    /// Records handed over and not yet taken away: expiry pauses at
    /// [`OUT_LIMIT`] so a mass expiry never piles up in memory.
    fn backlog(&self) -> usize;
}

/// The plainest hooks: records collected in order.
impl FlowHooks for Vec<FlowRecord> {
    fn ended(&mut self, _slot: u32, r: FlowRecord) {
        self.push(r);
    }
    fn forget(&mut self, _slot: u32) {}
    fn backlog(&self) -> usize {
        self.len()
    }
}

/// Where a packet went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The flow's slot.
    pub slot: u32,
    /// 0 when the packet came from the originator, 1 from the responder.
    pub dir: usize,
    /// The packet started the flow.
    pub new: bool,
    /// The packet closed the TCP connection (FIN both ways, or RST).
    pub closed: bool,
}

/// Timeouts and limits of a flow table.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// Sensor identifier (part of flow identifiers).
    pub sensor_id: Arc<str>,
    /// TCP idle timeout, ns.
    pub idle_tcp_ns: u64,
    /// UDP idle timeout, ns.
    pub idle_udp_ns: u64,
    /// ICMP idle timeout, ns.
    pub idle_icmp_ns: u64,
    /// Idle timeout of other protocols, ns.
    pub idle_other_ns: u64,
    /// Active timeout, ns.
    pub active_ns: u64,
    /// Time a closed TCP connection waits for trailing packets, ns.
    pub linger_ns: u64,
    /// Flows held at once.
    pub max_flows: usize,
    /// Application parsing (the budget is this table's share).
    pub app: AppConfig,
    /// Stream reassembly (the budget is this table's share).
    pub stream: StreamConfig,
}

/// The table's hash of a key: six FxHash steps over the key read as words
/// (the derived `Hash` feeds it byte slices with length prefixes), finished
/// by a 64-bit mixer so the low bits hashbrown uses are well spread.
fn key_hash(k: &FlowKey) -> u64 {
    let w = |b: &[u8; 16], i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(x)
    };
    let ports = u64::from(k.lo_port)
        | u64::from(k.hi_port) << 16
        | u64::from(k.vlan) << 32
        | u64::from(k.inner_vlan) << 48;
    let tail = u64::from(k.proto) | u64::from(k.version) << 8;
    let mut h = FxHasher::default();
    for v in [
        w(&k.lo, 0),
        w(&k.lo, 8),
        w(&k.hi, 0),
        w(&k.hi, 8),
        ports,
        tail,
    ] {
        h.write_u64(v);
    }
    super::key::mix(h.finish())
}

/// Seconds to nanoseconds.
pub const SEC: u64 = 1_000_000_000;

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            sensor_id: Arc::from("mekong"),
            idle_tcp_ns: 300 * SEC,
            idle_udp_ns: 60 * SEC,
            idle_icmp_ns: 60 * SEC,
            idle_other_ns: 60 * SEC,
            active_ns: 1800 * SEC,
            linger_ns: 5 * SEC,
            max_flows: 1_000_000,
            app: AppConfig::default(),
            stream: StreamConfig::default(),
        }
    }
}

impl FlowConfig {
    fn idle(&self, proto: u8) -> u64 {
        match proto {
            6 => self.idle_tcp_ns,
            17 => self.idle_udp_ns,
            1 | 58 => self.idle_icmp_ns,
            _ => self.idle_other_ns,
        }
    }
}

/// Counters of a flow table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Flows created.
    pub flows: u64,
    /// Records emitted.
    pub records: u64,
    /// Flows evicted because the table was full.
    pub evicted: u64,
    /// Packets whose timestamp was earlier than the latest seen.
    pub time_backwards: u64,
    /// Most flows held at once.
    pub peak_flows: u64,
}

impl TableStats {
    /// Adds another table's counters.
    pub fn add(&mut self, o: &TableStats) {
        self.flows += o.flows;
        self.records += o.records;
        self.evicted += o.evicted;
        self.time_backwards += o.time_backwards;
        self.peak_flows += o.peak_flows;
    }
}

struct Slot {
    e: FlowEntry,
    gen: u32,
    tick: u32,
    live: bool,
}

/// Records one call emits before it hands back (see [`FlowTable::advance`]).
pub const OUT_LIMIT: usize = 1024;

/// Ticks (seconds) the wheel spans.
const WHEEL: usize = 4096;

/// A wheel reference: slot index, generation, scheduled tick.
type Ref = (u32, u32, u32);

/// A bounded table of flows.
pub struct FlowTable {
    cfg: FlowConfig,
    /// Slot indices, hashed by the key stored in the slot (4 bytes a flow).
    index: HashTable<u32>,
    slots: Vec<Slot>,
    /// Encapsulations of tunnelled flows, by slot (most flows have none).
    tunnels: HashMap<u32, Tunnel, FxBuild>,
    free: Vec<u32>,
    wheel: Vec<Vec<Ref>>,
    scratch: Vec<Ref>,
    /// Next tick to process.
    base: u64,
    started: bool,
    now: u64,
    /// Counters.
    pub stats: TableStats,
}

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: FlowConfig) -> FlowTable {
        // Sized for the limit at once: untouched capacity is address space,
        // not memory, and the table never doubles (and copies) under load.
        let cap = cfg.max_flows;
        FlowTable {
            index: HashTable::with_capacity(cap),
            slots: Vec::with_capacity(cap),
            tunnels: HashMap::default(),
            free: Vec::new(),
            // Each tick's list starts with room for an even share of the
            // table, so steady traffic reschedules without allocating.
            wheel: (0..WHEEL)
                .map(|_| Vec::with_capacity((cap / WHEEL).clamp(16, 4096)))
                .collect(),
            scratch: Vec::new(),
            base: 0,
            started: false,
            now: 0,
            stats: TableStats::default(),
            cfg,
        }
    }

    /// Flows held now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Latest packet time seen, ns.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The settings.
    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// The flow in `slot` (the one a [`Hit`] names).
    pub fn entry(&self, slot: u32) -> &FlowEntry {
        &self.slots[slot as usize].e
    }

    fn grid_end(&self, e: &FlowEntry) -> u64 {
        e.flow_start_ns
            .saturating_add((u64::from(e.piece) + 1).saturating_mul(self.cfg.active_ns))
    }

    /// Why the flow ends at `now`, if it does (a pure function of its packets).
    fn due(&self, e: &FlowEntry, now: u64) -> Option<EndReason> {
        if let Some(c) = e.closing_since() {
            if now >= c.saturating_add(self.cfg.linger_ns) {
                return Some(EndReason::TcpClose);
            }
        }
        if now.saturating_sub(e.last_ns) > self.cfg.idle(e.key.proto) {
            return Some(EndReason::Idle);
        }
        if e.pkts() > 0 && now >= self.grid_end(e) {
            return Some(EndReason::Active);
        }
        None
    }

    fn deadline(&self, e: &FlowEntry) -> u64 {
        let mut d = e
            .last_ns
            .saturating_add(self.cfg.idle(e.key.proto))
            .saturating_add(1);
        if let Some(c) = e.closing_since() {
            d = d.min(c.saturating_add(self.cfg.linger_ns));
        }
        if e.pkts() > 0 {
            d = d.min(self.grid_end(e));
        }
        d
    }

    fn schedule(&mut self, idx: u32) {
        let s = &self.slots[idx as usize];
        let tick =
            (self.deadline(&s.e).div_ceil(SEC)).clamp(self.base + 1, self.base + WHEEL as u64 - 1);
        let tick32 = tick as u32;
        let gen = s.gen;
        self.slots[idx as usize].tick = tick32;
        self.wheel[(tick as usize) % WHEEL].push((idx, gen, tick32));
    }

    fn emit(&mut self, idx: u32, end: EndReason, continues: bool, out: &mut impl FlowHooks) {
        let e = &self.slots[idx as usize].e;
        if e.pkts() > 0 {
            let tunnel = if e.tunnelled {
                self.tunnels.get(&idx).copied().unwrap_or_default()
            } else {
                Tunnel::default()
            };
            let uid = e.uid;
            let entry = *e;
            out.ended(
                idx,
                FlowRecord {
                    entry,
                    uid,
                    tunnel,
                    end,
                    continues,
                },
            );
            self.stats.records += 1;
        }
    }

    fn remove(&mut self, idx: u32, out: &mut impl FlowHooks) {
        let s = &mut self.slots[idx as usize];
        s.live = false;
        s.gen = s.gen.wrapping_add(1);
        let (key, tunnelled) = (s.e.key, s.e.tunnelled);
        let h = key_hash(&key);
        if let Ok(entry) = self.index.find_entry(h, |&i| i == idx) {
            entry.remove();
        }
        if tunnelled {
            self.tunnels.remove(&idx);
        }
        out.forget(idx);
        self.free.push(idx);
    }

    /// Ends or cuts a flow found due at `now`; returns true when it is gone.
    fn expire(&mut self, idx: u32, why: EndReason, now: u64, out: &mut impl FlowHooks) -> bool {
        if why == EndReason::Active {
            self.emit(idx, EndReason::Active, true, out);
            let active = self.cfg.active_ns.max(1);
            let e = &mut self.slots[idx as usize].e;
            let next =
                ((now.saturating_sub(e.flow_start_ns)) / active).min(u64::from(u32::MAX)) as u32;
            e.start_piece(next.max(e.piece + 1));
            false
        } else {
            self.emit(idx, why, false, out);
            self.remove(idx, out);
            true
        }
    }

    /// Moves packet time to `now`, ending the flows it makes due. Stops
    /// early once `out` holds [`OUT_LIMIT`] records (a mass expiry never
    /// piles up in memory); returns false when work is left for the next
    /// call. Leaving it there is safe: a packet of a flow that is due ends
    /// that flow first, whatever the wheel has reached.
    pub fn advance(&mut self, now: u64, out: &mut impl FlowHooks) -> bool {
        if now < self.now {
            self.stats.time_backwards += 1;
        } else {
            self.now = now;
        }
        let now = self.now;
        let now_tick = now / SEC;
        if !self.started {
            self.started = true;
            self.base = now_tick;
        }
        if now_tick < self.base {
            return true;
        }
        if now_tick - self.base >= WHEEL as u64 {
            self.base = now_tick + 1 - WHEEL as u64;
        }
        while self.base <= now_tick {
            let slot = (self.base as usize) % WHEEL;
            let mut items = std::mem::take(&mut self.scratch);
            std::mem::swap(&mut items, &mut self.wheel[slot]);
            let mut stopped_at = None;
            for (k, &(idx, gen, tick)) in items.iter().enumerate() {
                if out.backlog() >= OUT_LIMIT {
                    stopped_at = Some(k);
                    break;
                }
                let s = &self.slots[idx as usize];
                let current = s.live && s.gen == gen && s.tick == tick;
                if !current {
                    continue;
                }
                if u64::from(tick) > self.base {
                    // Scheduled beyond the wheel's span: keep it.
                    self.wheel[slot].push((idx, gen, tick));
                    continue;
                }
                match self.due(&s.e, now) {
                    Some(why) => {
                        if !self.expire(idx, why, now, out) {
                            self.schedule(idx);
                        }
                    }
                    None => self.schedule(idx),
                }
            }
            if let Some(k) = stopped_at {
                self.wheel[slot].extend_from_slice(&items[k..]);
                items.clear();
                self.scratch = items;
                return false;
            }
            items.clear();
            self.scratch = items;
            self.base += 1;
        }
        true
    }

    fn evict_one(&mut self, out: &mut impl FlowHooks) {
        // The flow closest to its deadline: the first current reference in
        // the wheel from the next tick on.
        for i in 0..WHEEL as u64 {
            let tick = self.base + i;
            let slot = (tick as usize) % WHEEL;
            let found = self.wheel[slot].iter().find(|&&(idx, gen, t)| {
                let s = &self.slots[idx as usize];
                s.live && s.gen == gen && s.tick == t
            });
            if let Some(&(idx, _, _)) = found {
                self.emit(idx, EndReason::Evicted, false, out);
                self.remove(idx, out);
                self.stats.evicted += 1;
                return;
            }
        }
    }

    /// Accounts one packet: the records it ends go to `out`, and the flow
    /// it belongs to (new or existing) is returned.
    pub fn process(&mut self, p: &PacketView<'_>, out: &mut impl FlowHooks) -> Hit {
        self.advance(p.ts_ns, out);
        let t = p.ts_ns;
        let (key, src_is_lo) = FlowKey::of(p);
        let hash = key_hash(&key);
        let slots = &self.slots;
        let found = self
            .index
            .find(hash, |&i| {
                slots[i as usize].live && slots[i as usize].e.key == key
            })
            .copied();
        if let Some(idx) = found {
            let e = &self.slots[idx as usize].e;
            let reuse = e.closing_since().is_some()
                && matches!(p.transport, Transport::Tcp(tcp) if tcp.flags & (F::SYN | F::ACK) == F::SYN);
            let due = self.due(e, t);
            let gone = match due {
                Some(why) => self.expire(idx, why, t, out),
                None if reuse => self.expire(idx, EndReason::TcpClose, t, out),
                None => false,
            };
            if !gone {
                let active = self.cfg.active_ns.max(1);
                let closing_before = self.slots[idx as usize].e.closing_since();
                let e = &mut self.slots[idx as usize].e;
                if e.pkts() == 0 {
                    let k = ((t.saturating_sub(e.flow_start_ns)) / active).min(u64::from(u32::MAX))
                        as u32;
                    e.start_piece(k.max(e.piece));
                }
                e.update(p, src_is_lo);
                let dir = usize::from(src_is_lo != e.orig_is_lo);
                let closed = closing_before.is_none() && e.closing_since().is_some();
                if closed {
                    self.schedule(idx);
                }
                return Hit {
                    slot: idx,
                    dir,
                    new: false,
                    closed,
                };
            }
        }
        if self.index.len() >= self.cfg.max_flows {
            self.evict_one(out);
        }
        let mut e = FlowEntry::new(key, src_is_lo, p);
        e.uid = flow_uid(&self.cfg.sensor_id, &e.key, e.flow_start_ns);
        e.update(p, src_is_lo);
        let dir = usize::from(src_is_lo != e.orig_is_lo);
        let closed = e.closing_since().is_some();
        let idx = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.e = e;
                s.live = true;
                i
            }
            None => {
                self.slots.push(Slot {
                    e,
                    gen: 0,
                    tick: 0,
                    live: true,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.index
            .insert_unique(hash, idx, |&i| key_hash(&slots[i as usize].e.key));
        if p.tunnel.depth > 0 {
            self.tunnels.insert(idx, p.tunnel);
        }
        self.stats.flows += 1;
        self.stats.peak_flows = self.stats.peak_flows.max(self.index.len() as u64);
        self.schedule(idx);
        Hit {
            slot: idx,
            dir,
            new: true,
            closed,
        }
    }

    /// Ends every flow at the end of input: first as packet time `end_ns`
    /// decides (idle, closed, active), then the rest with `reason`. Records
    /// are handed to `drain` every [`OUT_LIMIT`] records.
    pub fn flush<H: FlowHooks>(
        &mut self,
        end_ns: u64,
        reason: EndReason,
        out: &mut H,
        drain: &mut dyn FnMut(&mut H),
    ) {
        let end_ns = end_ns.max(self.now);
        while !self.advance(end_ns, out) {
            drain(out);
        }
        for idx in 0..self.slots.len() as u32 {
            if !self.slots[idx as usize].live {
                continue;
            }
            let e = self.slots[idx as usize].e;
            let mut why = self.due(&e, end_ns);
            while why == Some(EndReason::Active) {
                self.expire(idx, EndReason::Active, end_ns, out);
                why = self.due(&self.slots[idx as usize].e, end_ns);
            }
            let why = why.or(e.closing_since().map(|_| EndReason::TcpClose));
            self.emit(idx, why.unwrap_or(reason), false, out);
            self.remove(idx, out);
            if out.backlog() >= OUT_LIMIT {
                drain(out);
            }
        }
        drain(out);
    }
}
