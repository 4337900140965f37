//! IPv4 and IPv6 fragment reassembly in bounded memory.
//!
//! Datagrams are keyed by (source, destination, protocol, identification).
//! A datagram completes when its last fragment has been seen and its bytes
//! are covered without a hole. Overlapping fragments keep the bytes that
//! arrived first (and raise the `fragment_overlap` anomaly when the new bytes
//! differ). The pool holds at most `max_datagrams` datagrams and `max_bytes`
//! bytes; beyond that the oldest datagram is dropped and counted; datagrams
//! older than `timeout_ns` (packet time) are dropped and counted.
//! Reassembly allocates one buffer per datagram, reused from a free list.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use mekong_schema::anomaly;

use super::{Ctx, DefragConfig, Reason};

/// Identity of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol of the payload.
    pub proto: u8,
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
}

/// One fragment.
#[derive(Clone, Copy, Debug)]
pub struct Piece<'a> {
    /// Byte offset of the fragment in the datagram's payload.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// Captured fragment payload.
    pub data: &'a [u8],
    /// Fragment payload length declared by its header.
    pub declared_len: u32,
    /// Frame length on the wire.
    pub wire_len: u32,
    /// IP length of the fragment.
    pub ip_len: u32,
    /// Anomalies of the fragment's packet.
    pub anomalies: u32,
    /// VLANs and encapsulation of the fragment's packet.
    pub(crate) ctx: Ctx,
}

/// A completed datagram's accounting (its bytes are in [`Defrag::output`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    /// Fragments it was made of.
    pub frags: u16,
    /// Sum of the fragments' wire lengths.
    pub wire_len: u32,
    /// Sum of the fragments' IP lengths.
    pub ip_len: u32,
    /// Anomalies of any fragment, plus overlap.
    pub anomalies: u32,
    /// Time of the first fragment received.
    pub first_ns: u64,
}

struct Datagram {
    data: Vec<u8>,
    /// Covered byte ranges, sorted, non-overlapping.
    ranges: Vec<(u32, u32)>,
    total: Option<u32>,
    frags: u16,
    wire: u32,
    ip: u32,
    anomalies: u32,
    created_ns: u64,
    last_ns: u64,
    ctx: Ctx,
}

/// A datagram given up before it was complete (timed out, or pushed out of
/// a full pool, or still open at the end of input). Its fragments are still
/// accounted: to the flow its first fragment names, or, without a first
/// fragment, to a flow of the address pair and protocol without ports.
#[derive(Clone, Debug)]
pub(crate) struct Incomplete {
    pub key: Key,
    /// The datagram's first bytes (its transport header) when the first
    /// fragment arrived; empty otherwise.
    pub head: Vec<u8>,
    pub frags: u16,
    pub wire: u32,
    pub ip: u32,
    /// Payload bytes received.
    pub received: u32,
    pub first_ns: u64,
    pub last_ns: u64,
    pub anomalies: u32,
    pub ctx: Ctx,
}

/// Incomplete datagrams waiting to be accounted, at most.
const MAX_INCOMPLETE: usize = 65_536;

/// The fragment pool.
pub struct Defrag {
    cfg: DefragConfig,
    map: HashMap<Key, Datagram>,
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    out: Vec<u8>,
    spare: Vec<Vec<u8>>,
    incomplete: VecDeque<Incomplete>,
    /// Datagrams dropped because the pool was full.
    pub pool_full: u64,
    /// Datagrams dropped because their fragments timed out.
    pub timed_out: u64,
}

/// Largest IP payload a datagram may reach.
const MAX_DATAGRAM: u32 = 65_535;

impl Defrag {
    /// An empty pool.
    pub fn new(cfg: DefragConfig) -> Defrag {
        Defrag {
            cfg,
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            out: Vec::new(),
            spare: Vec::new(),
            incomplete: VecDeque::new(),
            pool_full: 0,
            timed_out: 0,
        }
    }

    /// Gives a datagram up: its fragments go to the incomplete queue.
    fn retire(&mut self, k: &Key) {
        if let Some(d) = self.map.get(k) {
            if d.frags > 0 {
                let head = match d.ranges.first() {
                    Some(&(0, end)) => d.data[..(end as usize).min(64)].to_vec(),
                    _ => Vec::new(),
                };
                if self.incomplete.len() >= MAX_INCOMPLETE {
                    self.incomplete.pop_front();
                }
                self.incomplete.push_back(Incomplete {
                    key: *k,
                    head,
                    frags: d.frags,
                    wire: d.wire,
                    ip: d.ip,
                    received: d.ranges.iter().map(|r| r.1 - r.0).sum(),
                    first_ns: d.created_ns,
                    last_ns: d.last_ns,
                    anomalies: d.anomalies,
                    ctx: d.ctx,
                });
            }
        }
        self.drop_datagram(k);
    }

    /// The next datagram given up, if any.
    pub(crate) fn next_incomplete(&mut self) -> Option<Incomplete> {
        self.incomplete.pop_front()
    }

    /// Gives up every datagram still open (end of input).
    pub fn retire_all(&mut self) {
        let keys: Vec<(Key, u64)> = self.order.drain(..).collect();
        for (k, created) in keys {
            if self.map.get(&k).is_some_and(|d| d.created_ns == created) {
                self.retire(&k);
            }
        }
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no datagram is in progress.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The last completed datagram's payload.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    fn drop_datagram(&mut self, k: &Key) {
        if let Some(mut d) = self.map.remove(k) {
            self.bytes -= d.data.capacity();
            d.data.clear();
            if self.spare.len() < 64 {
                self.spare.push(d.data);
            }
        }
    }

    /// Gives up datagrams older than the timeout at `now_ns`.
    pub fn expire(&mut self, now_ns: u64) {
        while let Some(&(k, created)) = self.order.front() {
            let live = self.map.get(&k).is_some_and(|d| d.created_ns == created);
            if !live {
                self.order.pop_front();
                continue;
            }
            if now_ns.saturating_sub(created) <= self.cfg.timeout_ns {
                break;
            }
            self.order.pop_front();
            self.retire(&k);
            self.timed_out += 1;
        }
    }

    /// Adds a fragment; returns the datagram's accounting when it completes
    /// (its payload is then in [`Defrag::output`]).
    pub fn insert(&mut self, key: Key, p: Piece<'_>, now_ns: u64) -> Result<Option<Done>, Reason> {
        let end = p
            .offset
            .checked_add(p.declared_len)
            .filter(|&e| e <= MAX_DATAGRAM);
        let Some(end) = end else {
            self.drop_datagram(&key);
            return Err(Reason::BadFragment);
        };
        if (p.data.len() as u32) < p.declared_len || (p.more && !p.declared_len.is_multiple_of(8)) {
            return Err(Reason::BadFragment);
        }
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.cfg.max_datagrams
                || self.bytes + end as usize > self.cfg.max_bytes
            {
                let Some((old, created)) = self.order.pop_front() else {
                    break;
                };
                if self.map.get(&old).is_some_and(|d| d.created_ns == created) {
                    self.retire(&old);
                    self.pool_full += 1;
                }
            }
            let data = self.spare.pop().unwrap_or_default();
            self.bytes += data.capacity();
            self.map.insert(
                key,
                Datagram {
                    data,
                    ranges: Vec::with_capacity(4),
                    total: None,
                    frags: 0,
                    wire: 0,
                    ip: 0,
                    anomalies: 0,
                    created_ns: now_ns,
                    last_ns: now_ns,
                    ctx: p.ctx,
                },
            );
            self.order.push_back((key, now_ns));
        }
        let Some(d) = self.map.get_mut(&key) else {
            return Err(Reason::FragmentPoolFull);
        };
        let before = d.data.capacity();
        if d.data.len() < end as usize {
            d.data.resize(end as usize, 0);
        }
        self.bytes = self.bytes + d.data.capacity() - before;
        // Copy only the bytes not yet covered (first arrival wins).
        let (s, e) = (p.offset, end);
        let mut cursor = s;
        for &(rs, re) in &d.ranges {
            if re <= cursor || rs >= e {
                continue;
            }
            if rs > cursor {
                d.data[cursor as usize..rs as usize]
                    .copy_from_slice(&p.data[(cursor - s) as usize..(rs - s) as usize]);
            }
            let (os, oe) = (rs.max(s), re.min(e));
            if d.data[os as usize..oe as usize] != p.data[(os - s) as usize..(oe - s) as usize] {
                d.anomalies |= anomaly::FRAGMENT_OVERLAP;
            }
            cursor = cursor.max(re);
        }
        if cursor < e {
            d.data[cursor as usize..e as usize].copy_from_slice(&p.data[(cursor - s) as usize..]);
        }
        insert_range(&mut d.ranges, s, e);
        if !p.more {
            d.total = Some(end);
        }
        d.frags = d.frags.saturating_add(1);
        d.wire = d.wire.saturating_add(p.wire_len);
        d.ip = d.ip.saturating_add(p.ip_len);
        d.anomalies |= p.anomalies;
        d.last_ns = d.last_ns.max(now_ns);
        let complete = d
            .total
            .is_some_and(|t| d.ranges.len() == 1 && d.ranges[0] == (0, t));
        if !complete {
            return Ok(None);
        }
        let total = d.total.unwrap_or(0) as usize;
        let done = Done {
            frags: d.frags,
            wire_len: d.wire,
            ip_len: d.ip,
            anomalies: d.anomalies,
            first_ns: d.created_ns,
        };
        self.out.clear();
        self.out.extend_from_slice(&d.data[..total]);
        self.drop_datagram(&key);
        Ok(Some(done))
    }
}

fn insert_range(r: &mut Vec<(u32, u32)>, s: u32, e: u32) {
    if s >= e {
        return;
    }
    r.push((s, e));
    r.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(r.len());
    for &(a, b) in r.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *r = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            proto: 17,
            id: 7,
        }
    }

    fn piece(offset: u32, more: bool, data: &[u8]) -> Piece<'_> {
        Piece {
            offset,
            more,
            data,
            declared_len: data.len() as u32,
            wire_len: data.len() as u32 + 34,
            ip_len: data.len() as u32 + 20,
            anomalies: 0,
            ctx: Ctx::default(),
        }
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let payload: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut d = Defrag::new(DefragConfig::default());
        assert_eq!(
            d.insert(key(), piece(2960, false, &payload[2960..]), 0),
            Ok(None)
        );
        assert_eq!(
            d.insert(key(), piece(0, true, &payload[..1480]), 1),
            Ok(None)
        );
        let done = d
            .insert(key(), piece(1480, true, &payload[1480..2960]), 2)
            .unwrap()
            .unwrap();
        assert_eq!(done.frags, 3);
        assert_eq!(done.ip_len, 3000 + 60);
        assert_eq!(d.output(), &payload[..]);
        assert!(d.is_empty());
    }

    #[test]
    fn overlap_keeps_first_bytes_and_flags_it() {
        let mut d = Defrag::new(DefragConfig::default());
        d.insert(key(), piece(0, true, &[1; 16]), 0).unwrap();
        let done = d
            .insert(key(), piece(8, false, &[2; 16]), 0)
            .unwrap()
            .unwrap();
        assert_eq!(&d.output()[..16], &[1; 16]);
        assert_eq!(&d.output()[16..], &[2; 8]);
        assert_ne!(done.anomalies & anomaly::FRAGMENT_OVERLAP, 0);
    }

    #[test]
    fn bounded_and_timed_out() {
        let cfg = DefragConfig {
            max_datagrams: 2,
            max_bytes: 1 << 20,
            timeout_ns: 10,
        };
        let mut d = Defrag::new(cfg);
        for id in 0..5 {
            let k = Key { id, ..key() };
            let _ = d.insert(k, piece(0, true, &[0; 8]), u64::from(id));
            assert!(d.len() <= 2);
        }
        d.expire(100);
        assert_eq!((d.timed_out, d.pool_full), (2, 3));
        assert!(d.is_empty());
        // Every datagram given up is queued for accounting.
        let mut n = 0;
        while let Some(inc) = d.next_incomplete() {
            assert_eq!((inc.frags, inc.received, inc.head.len()), (1, 8, 8));
            n += 1;
        }
        assert_eq!(n, 5);
        // Beyond 65,535 bytes is refused.
        assert_eq!(
            d.insert(key(), piece(65_528, true, &[0; 16]), 0),
            Err(Reason::BadFragment)
        );
    }
}
