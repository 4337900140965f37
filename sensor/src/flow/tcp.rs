//! TCP per-flow state: Zeek's endpoint states, `conn_state` and `history`,
//! and sequence tracking for retransmissions and out-of-order segments.

use crate::decode::{tcp_flags as F, TcpInfo};

/// State of one endpoint, as Zeek tracks it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Endpoint {
    /// Nothing sent.
    #[default]
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK.
    SynAckSent,
    /// Sent data without a SYN seen (midstream).
    Partial,
    /// Handshake completed.
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

/// Holes remembered per direction for out-of-order detection.
const HOLES: usize = 2;

/// Sequence space seen in one direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct SeqTrack {
    next: u32,
    started: bool,
    holes: [(u32, u32); HOLES],
    n_holes: u8,
}

/// What a segment was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegClass {
    /// New data (or no data).
    New,
    /// Data seen before.
    Retransmission,
    /// Data that fills an earlier gap.
    OutOfOrder,
}

#[inline]
fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl SeqTrack {
    /// Classifies a segment occupying `len` sequence numbers from `seq`
    /// (payload plus one for SYN and for FIN).
    pub fn segment(&mut self, seq: u32, len: u32) -> SegClass {
        if !self.started {
            self.started = true;
            self.next = seq.wrapping_add(len);
            return SegClass::New;
        }
        if len == 0 {
            return SegClass::New;
        }
        let end = seq.wrapping_add(len);
        if !lt(seq, self.next) {
            if seq != self.next && usize::from(self.n_holes) < HOLES {
                self.holes[usize::from(self.n_holes)] = (self.next, seq);
                self.n_holes += 1;
            }
            self.next = end;
            return SegClass::New;
        }
        // Before the highest data seen: fills a hole, or repeats.
        for i in 0..usize::from(self.n_holes) {
            let (hs, he) = self.holes[i];
            if !lt(seq, hs) && lt(seq, he) {
                if !lt(he, end) {
                    // Shrink or split the hole around the new data.
                    let (left, right) = ((hs, seq), (end, he));
                    let mut keep = [(0u32, 0u32); 2];
                    let mut k = 0;
                    for h in [left, right] {
                        if lt(h.0, h.1) {
                            keep[k] = h;
                            k += 1;
                        }
                    }
                    self.remove_hole(i);
                    for h in &keep[..k] {
                        if usize::from(self.n_holes) < HOLES {
                            self.holes[usize::from(self.n_holes)] = *h;
                            self.n_holes += 1;
                        }
                    }
                } else {
                    self.remove_hole(i);
                }
                return SegClass::OutOfOrder;
            }
        }
        if lt(self.next, end) {
            self.next = end;
        }
        SegClass::Retransmission
    }

    fn remove_hole(&mut self, i: usize) {
        let n = usize::from(self.n_holes);
        self.holes.copy_within(i + 1..n, i);
        self.n_holes -= 1;
    }
}

/// History letters, in bit order (upper case for the originator).
const LETTERS: [u8; 9] = [b'S', b'H', b'A', b'D', b'F', b'R', b'T', b'W', b'Q'];
const MAX_HISTORY: usize = 20;

/// The TCP state of a flow.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpState {
    /// Originator and responder endpoint states.
    pub ep: [Endpoint; 2],
    /// Previous endpoint states.
    prev: [Endpoint; 2],
    /// Sequence tracking per direction.
    pub seq: [SeqTrack; 2],
    history: [u8; MAX_HISTORY],
    history_len: u8,
    seen: [u16; 2],
}

/// What a packet did to the TCP state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpEvent {
    /// Retransmitted data.
    pub retransmission: bool,
    /// Out-of-order data.
    pub out_of_order: bool,
    /// Advertised a zero window.
    pub zero_window: bool,
    /// The connection is now closed (FIN both ways) or reset.
    pub closed: bool,
}

impl TcpState {
    /// A state whose history starts with `^` (roles flipped).
    pub fn flipped() -> TcpState {
        let mut s = TcpState::default();
        s.history[0] = b'^';
        s.history_len = 1;
        s
    }

    fn letter(&mut self, dir: usize, bit: usize) {
        if self.seen[dir] & (1 << bit) != 0 {
            return;
        }
        self.seen[dir] |= 1 << bit;
        if usize::from(self.history_len) < MAX_HISTORY {
            let c = LETTERS[bit];
            self.history[usize::from(self.history_len)] =
                if dir == 0 { c } else { c.to_ascii_lowercase() };
            self.history_len += 1;
        }
    }

    /// The three-way handshake was seen: a SYN from the originator and a
    /// SYN-ACK from the responder (the connection is established for the
    /// rule engine, as Suricata's `flow:established`).
    pub fn handshake(&self) -> bool {
        self.seen[0] & 1 != 0 && self.seen[1] & 2 != 0
    }

    /// The history string.
    pub fn history(&self) -> &str {
        std::str::from_utf8(&self.history[..usize::from(self.history_len)]).unwrap_or("")
    }

    /// Updates the state with a segment from `dir` (0 originator, 1 responder).
    pub fn update(&mut self, dir: usize, t: &TcpInfo, payload_len: u32) -> TcpEvent {
        let f = t.flags;
        let (syn, ack, fin, rst) = (
            f & F::SYN != 0,
            f & F::ACK != 0,
            f & F::FIN != 0,
            f & F::RST != 0,
        );
        let mut ev = TcpEvent::default();
        if syn && (fin || rst) {
            self.letter(dir, 8);
        }
        if syn {
            self.letter(dir, if ack { 1 } else { 0 });
        } else if ack && !fin && !rst && payload_len == 0 {
            self.letter(dir, 2);
        }
        if payload_len > 0 {
            self.letter(dir, 3);
        }
        if fin {
            self.letter(dir, 4);
        }
        if rst {
            self.letter(dir, 5);
        }
        if t.window == 0 && !rst && (ack || syn) {
            ev.zero_window = true;
            self.letter(dir, 7);
        }
        let seq_len = payload_len + u32::from(syn) + u32::from(fin);
        if !rst {
            match self.seq[dir].segment(t.seq, seq_len) {
                SegClass::Retransmission => {
                    ev.retransmission = true;
                    self.letter(dir, 6);
                }
                SegClass::OutOfOrder => ev.out_of_order = true,
                SegClass::New => {}
            }
        }
        self.step(dir, syn, ack, fin, rst, payload_len);
        ev.closed = rst || (self.ep[0] == Endpoint::Closed && self.ep[1] == Endpoint::Closed);
        ev
    }

    /// Zeek's endpoint state machine (its TCP session adapter's transitions).
    fn step(&mut self, dir: usize, syn: bool, ack: bool, fin: bool, rst: bool, len: u32) {
        use Endpoint::*;
        let other = 1 - dir;
        let before = self.ep[dir];
        let mut me = before;
        let mut peer = self.ep[other];
        match before {
            Inactive => {
                if syn {
                    if dir == 0 {
                        me = if ack { SynAckSent } else { SynSent };
                    } else {
                        // The responder answers: both ends are now established.
                        if peer == SynSent {
                            peer = Established;
                        }
                        me = Established;
                    }
                }
                if fin {
                    me = Closed;
                }
                if rst {
                    me = Reset;
                }
                if me == Inactive {
                    if dir == 1 && len == 0 && peer == SynSent {
                        // An ACK of the SYN before the SYN-ACK: not yet partial.
                    } else if ack && peer == Established {
                        me = Established; // the SYN was missed
                    } else {
                        me = Partial;
                    }
                }
            }
            SynSent | SynAckSent => {
                if fin {
                    me = Closed;
                }
                if rst {
                    me = Reset;
                }
            }
            Established | Partial => {
                if syn && !ack && me == Partial && peer == Inactive {
                    me = SynSent;
                }
                if fin && !rst {
                    me = Closed;
                    if peer == Reset && self.prev[other] == Closed {
                        // FIN then RST from the peer was a normal close.
                        peer = Closed;
                    }
                }
                if rst {
                    me = Reset;
                }
            }
            Closed => {
                if rst && peer != Closed {
                    me = Reset;
                }
            }
            Reset => {}
        }
        if me != before {
            self.prev[dir] = before;
        }
        if peer != self.ep[other] {
            self.prev[other] = self.ep[other];
        }
        self.ep[dir] = me;
        self.ep[other] = peer;
    }

    /// Zeek's `conn_state` for this connection, given the payload bytes each
    /// side sent.
    pub fn conn_state(&self, orig_bytes: u64, resp_bytes: u64) -> &'static str {
        use Endpoint::*;
        let (os, rs) = (self.ep[0], self.ep[1]);
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent)
                || (os == Reset && orig_bytes == 0 && resp_bytes == 0)
            {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                if rstos0_history(self.history()) {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive {
                "SH"
            } else {
                "S2"
            }
        } else if rs == Closed {
            if o_inactive {
                "SHR"
            } else {
                "S3"
            }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/` on the history.
fn rstos0_history(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        if c == 'R' {
            return true;
        }
        if "HAFGIQ".contains(c) {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u32, flags: u8) -> TcpInfo {
        TcpInfo {
            seq,
            ack: 0,
            flags,
            window: 1000,
        }
    }

    /// Runs (dir, flags, seq, payload) through a state and returns it.
    fn run(steps: &[(usize, u8, u32, u32)]) -> TcpState {
        let mut s = TcpState::default();
        for &(d, f, seq, len) in steps {
            s.update(d, &seg(seq, f), len);
        }
        s
    }

    const SYN: u8 = F::SYN;
    const SA: u8 = F::SYN | F::ACK;
    const A: u8 = F::ACK;
    const PA: u8 = F::PSH | F::ACK;
    const FA: u8 = F::FIN | F::ACK;
    const RA: u8 = F::RST | F::ACK;

    #[test]
    fn normal_connection_is_sf_with_zeek_history() {
        let s = run(&[
            (0, SYN, 100, 0),
            (1, SA, 500, 0),
            (0, A, 101, 0),
            (0, PA, 101, 10),
            (1, A, 501, 0),
            (1, PA, 501, 20),
            (0, FA, 111, 0),
            (1, FA, 521, 0),
            (0, A, 112, 0),
        ]);
        assert_eq!(s.conn_state(10, 20), "SF");
        assert_eq!(s.history(), "ShADadFf");
    }

    #[test]
    fn states_of_unfinished_and_refused_connections() {
        assert_eq!(run(&[(0, SYN, 1, 0)]).conn_state(0, 0), "S0");
        assert_eq!(
            run(&[(0, SYN, 1, 0), (1, RA, 0, 0)]).conn_state(0, 0),
            "REJ"
        );
        assert_eq!(
            run(&[(0, SYN, 1, 0), (1, SA, 9, 0), (0, A, 2, 0)]).conn_state(0, 0),
            "S1"
        );
        // An answered SYN is established for Zeek even without the third packet.
        assert_eq!(run(&[(0, SYN, 1, 0), (1, SA, 9, 0)]).conn_state(0, 0), "S1");
        // A RST after the FIN exchange does not change a normal close.
        assert_eq!(
            run(&[
                (0, SYN, 1, 0),
                (1, SA, 9, 0),
                (0, FA, 2, 0),
                (1, FA, 10, 0),
                (0, RA, 3, 0)
            ])
            .conn_state(0, 0),
            "SF"
        );
        assert_eq!(
            run(&[(0, SYN, 1, 0), (1, SA, 9, 0), (0, A, 2, 0), (0, RA, 2, 0)]).conn_state(0, 0),
            "RSTO"
        );
        assert_eq!(
            run(&[(0, SYN, 1, 0), (1, SA, 9, 0), (0, A, 2, 0), (1, RA, 10, 0)]).conn_state(0, 0),
            "RSTR"
        );
        assert_eq!(
            run(&[(0, SYN, 1, 0), (0, F::RST, 2, 0)]).conn_state(0, 0),
            "RSTOS0"
        );
        assert_eq!(
            run(&[(0, SYN, 1, 0), (1, SA, 9, 0), (0, A, 2, 0), (0, FA, 2, 0)]).conn_state(0, 0),
            "S2"
        );
        assert_eq!(
            run(&[(0, SYN, 1, 0), (1, SA, 9, 0), (0, A, 2, 0), (1, FA, 10, 0)]).conn_state(0, 0),
            "S3"
        );
        assert_eq!(
            run(&[(0, SYN, 1, 0), (0, F::FIN, 2, 0)]).conn_state(0, 0),
            "SH"
        );
        assert_eq!(
            run(&[(0, PA, 1, 10), (1, A, 9, 0)]).conn_state(10, 0),
            "OTH"
        );
        let mut flipped = TcpState::flipped();
        flipped.update(1, &seg(9, SA), 0);
        flipped.update(1, &seg(10, RA), 0);
        assert_eq!(flipped.conn_state(0, 0), "RSTRH");
        assert_eq!(flipped.history(), "^hr");
    }

    #[test]
    fn retransmission_and_out_of_order() {
        let mut t = SeqTrack::default();
        assert_eq!(t.segment(1000, 100), SegClass::New);
        assert_eq!(t.segment(1100, 100), SegClass::New);
        assert_eq!(t.segment(1100, 100), SegClass::Retransmission);
        // 1200..1300 missing, 1300..1400 arrives first.
        assert_eq!(t.segment(1300, 100), SegClass::New);
        assert_eq!(t.segment(1200, 100), SegClass::OutOfOrder);
        assert_eq!(t.segment(1200, 100), SegClass::Retransmission);
        // Across the 2^32 wrap.
        let mut w = SeqTrack::default();
        w.segment(u32::MAX - 10, 20);
        assert_eq!(w.segment(9, 5), SegClass::New);
        assert_eq!(w.segment(u32::MAX - 10, 20), SegClass::Retransmission);
    }

    #[test]
    fn zero_window_and_multi_flags() {
        let mut s = TcpState::default();
        let ev = s.update(
            0,
            &TcpInfo {
                seq: 1,
                ack: 0,
                flags: F::SYN | F::FIN,
                window: 0,
            },
            0,
        );
        assert!(ev.zero_window);
        assert!(s.history().starts_with('Q'));
    }
}
