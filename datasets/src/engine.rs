//! The event scheduler that merges many lazy packet sources into one
//! time-ordered capture.
//!
//! Every conversation, scenario and the background itself is a [`Source`]: it
//! knows the time of its next event and, when fired, either emits one packet or
//! spawns a new source. A binary heap ordered by (time, insertion sequence)
//! merges them, so the output is in time order and fully deterministic, and only
//! the conversations that are in progress are in memory.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::rc::Rc;

use crate::pcap::PacketSink;

/// What a source does when it fires.
pub enum Event {
    /// A frame seen by the sensor at the firing time.
    Packet(Vec<u8>),
    /// A new source (inherits the owner of its parent).
    Spawn(Box<dyn Source>),
    /// Nothing this time (the source only moves its clock).
    Idle,
}

/// A lazy, time-ordered generator of packets and sub-sources.
pub trait Source {
    /// Time of the next event in nanoseconds since the epoch; `None` when done.
    /// Successive values never decrease.
    fn next_time(&self) -> Option<u64>;
    /// Performs the event due at [`Source::next_time`].
    fn fire(&mut self) -> Event;
}

/// Packet counters per owner, shared with sources that need to watch them
/// (the background generator stops at its packet budget).
#[derive(Debug, Default)]
pub struct OwnerStats {
    /// Packets emitted.
    pub packets: Cell<u64>,
    /// Time of the first packet.
    pub first_ns: Cell<Option<u64>>,
    /// Time of the last packet.
    pub last_ns: Cell<Option<u64>>,
}

impl OwnerStats {
    fn record(&self, ts: u64) {
        self.packets.set(self.packets.get() + 1);
        if self.first_ns.get().is_none() {
            self.first_ns.set(Some(ts));
        }
        self.last_ns.set(Some(ts));
    }
}

struct Slot {
    owner: usize,
    source: Box<dyn Source>,
}

/// Merges sources into a sink in time order.
pub struct Scheduler {
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    seq: u64,
    now: u64,
    owners: Vec<Rc<OwnerStats>>,
}

impl Scheduler {
    /// A scheduler for `owners` owners (owner 0 is conventionally the background).
    pub fn new(owners: usize) -> Self {
        Scheduler {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            now: 0,
            owners: (0..owners)
                .map(|_| Rc::new(OwnerStats::default()))
                .collect(),
        }
    }

    /// Shared statistics of one owner.
    pub fn stats(&self, owner: usize) -> Rc<OwnerStats> {
        Rc::clone(&self.owners[owner])
    }

    /// Adds a top-level source.
    pub fn add(&mut self, owner: usize, source: Box<dyn Source>) {
        let Some(t) = source.next_time() else { return };
        let slot = Slot { owner, source };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.seq += 1;
        self.heap.push(Reverse((t.max(self.now), self.seq, idx)));
    }

    /// Number of sources in progress.
    pub fn active(&self) -> usize {
        self.heap.len()
    }

    /// Runs every source to completion, writing packets to `sink`; returns the
    /// number of packets written.
    pub fn run(&mut self, sink: &mut dyn PacketSink) -> io::Result<u64> {
        let mut written = 0u64;
        while let Some(Reverse((t, _, idx))) = self.heap.pop() {
            self.now = t;
            let Some(mut slot) = self.slots[idx].take() else {
                continue;
            };
            match slot.source.fire() {
                Event::Packet(frame) => {
                    sink.write_packet(t, &frame)?;
                    self.owners[slot.owner].record(t);
                    written += 1;
                }
                Event::Spawn(child) => self.add(slot.owner, child),
                Event::Idle => {}
            }
            match slot.source.next_time() {
                Some(next) => {
                    self.slots[idx] = Some(slot);
                    self.seq += 1;
                    self.heap.push(Reverse((next.max(t), self.seq, idx)));
                }
                None => self.free.push(idx),
            }
        }
        sink.finish()?;
        Ok(written)
    }
}

/// A source that plays a precomputed list of packets (small exchanges: DNS,
/// NTP, ICMP, scan probes). Packets are sorted by time on construction.
pub struct Burst {
    packets: std::collections::VecDeque<(u64, Vec<u8>)>,
}

impl Burst {
    /// A burst from (time, frame) pairs in any order.
    pub fn new(mut packets: Vec<(u64, Vec<u8>)>) -> Self {
        packets.sort_by_key(|p| p.0);
        Burst {
            packets: packets.into(),
        }
    }

    /// Number of packets left.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

impl Source for Burst {
    fn next_time(&self) -> Option<u64> {
        self.packets.front().map(|p| p.0)
    }

    fn fire(&mut self) -> Event {
        match self.packets.pop_front() {
            Some((_, f)) => Event::Packet(f),
            None => Event::Idle,
        }
    }
}

/// A source that spawns children at given times, produced lazily by a closure
/// (for example one TCP connection per brute-force attempt).
pub struct Spawner<F: FnMut() -> Option<(u64, Box<dyn Source>)>> {
    next: Option<(u64, Box<dyn Source>)>,
    make: F,
}

impl<F: FnMut() -> Option<(u64, Box<dyn Source>)>> Spawner<F> {
    /// `make` yields (start time, source) pairs in non-decreasing start time,
    /// and `None` when done.
    pub fn new(mut make: F) -> Self {
        let next = make();
        Spawner { next, make }
    }
}

impl<F: FnMut() -> Option<(u64, Box<dyn Source>)>> Source for Spawner<F> {
    fn next_time(&self) -> Option<u64> {
        self.next.as_ref().map(|n| n.0)
    }

    fn fire(&mut self) -> Event {
        let cur = self.next.take();
        self.next = (self.make)();
        match cur {
            Some((_, s)) => Event::Spawn(s),
            None => Event::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct VecSink(Vec<(u64, Vec<u8>)>);
    impl PacketSink for VecSink {
        fn write_packet(&mut self, ts: u64, f: &[u8]) -> io::Result<()> {
            self.0.push((ts, f.to_vec()));
            Ok(())
        }
        fn finish(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn merges_in_time_order_and_counts_per_owner() {
        let mut s = Scheduler::new(2);
        s.add(0, Box::new(Burst::new(vec![(30, vec![3]), (10, vec![1])])));
        s.add(1, Box::new(Burst::new(vec![(20, vec![2]), (40, vec![4])])));
        let mut sink = VecSink(Vec::new());
        assert_eq!(s.run(&mut sink).unwrap(), 4);
        let order: Vec<u8> = sink.0.iter().map(|p| p.1[0]).collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
        assert_eq!(s.stats(1).packets.get(), 2);
        assert_eq!(s.stats(1).first_ns.get(), Some(20));
        assert_eq!(s.stats(1).last_ns.get(), Some(40));
    }

    #[test]
    fn spawned_sources_inherit_owner() {
        let mut s = Scheduler::new(2);
        let mut n = 0u64;
        s.add(
            1,
            Box::new(Spawner::new(move || {
                n += 1;
                (n <= 3).then(|| {
                    (
                        n * 100,
                        Box::new(Burst::new(vec![(n * 100 + 1, vec![n as u8])])) as Box<dyn Source>,
                    )
                })
            })),
        );
        let mut sink = VecSink(Vec::new());
        s.run(&mut sink).unwrap();
        assert_eq!(sink.0.len(), 3);
        assert_eq!(s.stats(1).packets.get(), 3);
        assert_eq!(s.stats(0).packets.get(), 0);
    }
}
