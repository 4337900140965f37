//! In-order delivery of one TCP direction's bytes to the parsers.
//!
//! In-order segments pass straight through without a copy. A segment that
//! arrives ahead of a hole waits in a ring buffer (taken from the pool only
//! then) indexed by sequence number, with a bitmap of the bytes it holds;
//! where segments overlap, the bytes that arrived first win, as in most
//! operating systems' stacks. When the hole fills, the run of bytes now in
//! order is delivered. A segment too far ahead for the ring is a gap: the
//! parsers of that direction stop.

/// Why a direction can no longer be delivered in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hole {
    /// A segment lies beyond the ring's reach: bytes are missing.
    TooFar,
    /// A segment had to wait, and no buffer was left in the budget.
    NoBuffer,
}

/// The in-order state of one direction.
#[derive(Debug, Default)]
pub struct Reassembler {
    next: u32,
    started: bool,
    /// Waiting bytes: `cap` data bytes, then a bitmap of `cap / 8` bytes.
    ring: Option<Vec<u8>>,
    cap: usize,
    stored: usize,
    /// Segments that waited for a hole.
    pub waited: u32,
}

/// Ring capacity (a power of two) that fits a pool buffer of `size` bytes
/// with its bitmap.
pub fn ring_capacity(size: usize) -> usize {
    let mut cap = 1usize << (usize::BITS - 1 - size.leading_zeros());
    while cap + cap / 8 > size {
        cap /= 2;
    }
    cap.max(64)
}

impl Reassembler {
    /// True once the first sequence number is known.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Sets the sequence number of the direction's first byte.
    pub fn start(&mut self, next: u32) {
        self.next = next;
        self.started = true;
    }

    /// Sequence number of the next byte expected.
    pub fn next_seq(&self) -> u32 {
        self.next
    }

    /// True when segments wait for a hole that has not filled.
    pub fn waiting(&self) -> bool {
        self.stored > 0
    }

    /// True when a segment at `seq` would have to wait (and so needs a ring).
    pub fn must_wait(&self, seq: u32) -> bool {
        self.ring.is_none() && (self.stored > 0 || (seq.wrapping_sub(self.next) as i32) > 0)
    }

    /// Hands the reassembler a pool buffer to wait segments in.
    pub fn give_ring(&mut self, mut b: Vec<u8>, size: usize) {
        let cap = ring_capacity(size);
        b.clear();
        b.resize(cap + cap / 8, 0);
        self.cap = cap;
        self.ring = Some(b);
    }

    /// The ring, once nothing waits in it (to go back to the pool).
    pub fn take_idle_ring(&mut self) -> Option<Vec<u8>> {
        if self.stored == 0 {
            self.ring.take()
        } else {
            None
        }
    }

    /// The ring, whatever it holds (the flow is over).
    pub fn take_ring(&mut self) -> Option<Vec<u8>> {
        self.stored = 0;
        self.ring.take()
    }

    /// Accounts a segment of `data` at `seq`, passing the bytes now in order
    /// to `deliver` (several calls when waiting bytes join them).
    pub fn segment<F: FnMut(&[u8])>(
        &mut self,
        seq: u32,
        data: &[u8],
        deliver: &mut F,
    ) -> Result<(), Hole> {
        let off = i64::from(seq.wrapping_sub(self.next) as i32);
        let skip = usize::try_from(-off).unwrap_or(0);
        if skip >= data.len() {
            return Ok(()); // all seen before
        }
        if self.stored == 0 && off <= 0 {
            let fresh = &data[skip..];
            self.next = self.next.wrapping_add(fresh.len() as u32);
            deliver(fresh);
            return Ok(());
        }
        let Some(ring) = self.ring.as_mut() else {
            return Err(Hole::NoBuffer);
        };
        let cap = self.cap;
        let mask = cap - 1;
        let (bytes, bits) = ring.split_at_mut(cap);
        let base = usize::try_from(off.max(0)).unwrap_or(usize::MAX);
        if base >= cap {
            return Err(Hole::TooFar);
        }
        if off > 0 {
            self.waited += 1;
        }
        let mut too_far = false;
        for (i, &b) in data.iter().enumerate().skip(skip) {
            let rel = base + i - skip;
            if rel >= cap {
                too_far = true;
                break;
            }
            let idx = (self.next as usize).wrapping_add(rel) & mask;
            if bits[idx / 8] & (1 << (idx % 8)) == 0 {
                bits[idx / 8] |= 1 << (idx % 8);
                bytes[idx] = b;
                self.stored += 1;
            }
        }
        // Deliver the run now in order, in up to two pieces around the wrap.
        loop {
            let idx = self.next as usize & mask;
            let mut run = 0;
            while idx + run < cap && bits[(idx + run) / 8] & (1 << ((idx + run) % 8)) != 0 {
                run += 1;
            }
            if run == 0 {
                break;
            }
            for k in idx..idx + run {
                bits[k / 8] &= !(1 << (k % 8));
            }
            self.stored -= run;
            self.next = self.next.wrapping_add(run as u32);
            deliver(&bytes[idx..idx + run]);
        }
        if too_far {
            Err(Hole::TooFar)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(r: &mut Reassembler, seq: u32, data: &[u8], out: &mut Vec<u8>) -> Result<(), Hole> {
        if r.must_wait(seq) {
            r.give_ring(Vec::new(), 256 + 32);
        }
        let res = r.segment(seq, data, &mut |b| out.extend_from_slice(b));
        if let Some(b) = r.take_idle_ring() {
            drop(b);
        }
        res
    }

    #[test]
    fn ring_capacity_fits_the_buffer() {
        assert_eq!(ring_capacity(8192), 4096);
        assert_eq!(ring_capacity(4096 + 512), 4096);
        assert_eq!(ring_capacity(9216), 8192);
    }

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut r = Reassembler::default();
        r.start(1000);
        let mut out = Vec::new();
        collect(&mut r, 1000, b"abc", &mut out).expect("in order");
        collect(&mut r, 1006, b"ghi", &mut out).expect("ahead");
        assert_eq!(out, b"abc");
        collect(&mut r, 1000, b"abc", &mut out).expect("retransmission");
        collect(&mut r, 1003, b"def", &mut out).expect("fills the hole");
        assert_eq!(out, b"abcdefghi");
        assert_eq!(r.next_seq(), 1009);
        assert_eq!(r.waited, 1);
    }

    #[test]
    fn overlaps_keep_the_first_bytes() {
        let mut r = Reassembler::default();
        r.start(0);
        let mut out = Vec::new();
        collect(&mut r, 4, b"EFGH", &mut out).expect("ahead");
        collect(&mut r, 2, b"cdxxxxij", &mut out).expect("overlapping");
        collect(&mut r, 0, b"ab", &mut out).expect("start");
        assert_eq!(out, b"abcdEFGHij");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = Reassembler::default();
        r.start(u32::MAX - 1);
        let mut out = Vec::new();
        collect(&mut r, 0, b"cd", &mut out).expect("ahead, past the wrap");
        collect(&mut r, u32::MAX - 1, b"ab", &mut out).expect("before the wrap");
        collect(&mut r, 2, b"e", &mut out).expect("after");
        assert_eq!(out, b"abcde");
    }

    #[test]
    fn a_segment_beyond_the_ring_is_a_gap() {
        let mut r = Reassembler::default();
        r.start(0);
        let mut out = Vec::new();
        assert_eq!(collect(&mut r, 10_000, b"far", &mut out), Err(Hole::TooFar));
        assert!(out.is_empty());
    }

    #[test]
    fn waiting_without_a_buffer_is_reported() {
        let mut r = Reassembler::default();
        r.start(0);
        let res = r.segment(10, b"x", &mut |_| {});
        assert_eq!(res, Err(Hole::NoBuffer));
    }
}
