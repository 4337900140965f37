//! A TCP conversation generated lazily: three-way handshake (or refusal, or
//! silence), application messages in both directions segmented at the MSS with
//! slow-start flights and acknowledgements every second segment, optional
//! retransmission, and teardown by FIN or RST.
//!
//! Times are as the sensor sees them: `rtt_client_ns` is the round trip from
//! the sensor to the client and back, `rtt_server_ns` to the server and back.
//! A packet from one side answering a packet of the other is seen that long
//! after it.

use std::collections::VecDeque;

use crate::engine::{Event, Source};
use crate::net::{link, Host};
use crate::rng::Rng;
use crate::wire::{
    packet, proto, syn_options, tcp_flags as F, tcp_segment, IpFields, IpPair, Link, TcpHeader,
};

/// How the connection opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// SYN, SYN-ACK, ACK.
    Normal,
    /// SYN answered by RST-ACK (closed port).
    Refused,
    /// SYN never answered; the client retries `retries` times (filtered port).
    Unanswered {
        /// SYN retransmissions after the first.
        retries: u8,
    },
}

/// How the connection closes after its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The client sends FIN first.
    ClientFin,
    /// The server sends FIN first.
    ServerFin,
    /// The client aborts with RST.
    ClientRst,
    /// The server aborts with RST.
    ServerRst,
    /// The connection is left open (still open at the end of the capture).
    Open,
}

/// A piece of a message's content, produced when it is segmented.
#[derive(Debug)]
pub enum Part {
    /// Literal bytes.
    Bytes(Vec<u8>),
    /// TLS application-data records carrying this many bytes of record body
    /// in total (the 5-byte record headers are added).
    TlsAppData(usize),
    /// Opaque random bytes (encrypted protocols).
    Random(usize),
    /// Readable filler text (HTML-like pages).
    Text(usize),
}

/// One application message from one side.
#[derive(Debug)]
pub struct Msg {
    /// Sent by the client (else by the server).
    pub from_client: bool,
    /// Time the sender waits after it could first send (think or processing time).
    pub think_ns: u64,
    parts: VecDeque<Part>,
    /// Bytes left in the current TLS record.
    in_record: usize,
    /// Bytes of the current literal part already sent.
    offset: usize,
}

impl Msg {
    /// A message made of parts.
    pub fn new(from_client: bool, think_ns: u64, parts: Vec<Part>) -> Msg {
        Msg {
            from_client,
            think_ns,
            parts: parts.into(),
            in_record: 0,
            offset: 0,
        }
    }

    /// A message of literal bytes from the client.
    pub fn client(think_ns: u64, bytes: Vec<u8>) -> Msg {
        Msg::new(true, think_ns, vec![Part::Bytes(bytes)])
    }

    /// A message of literal bytes from the server.
    pub fn server(think_ns: u64, bytes: Vec<u8>) -> Msg {
        Msg::new(false, think_ns, vec![Part::Bytes(bytes)])
    }

    /// True when nothing is left to send.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Appends up to `max` bytes of content to `out`.
    fn take(&mut self, max: usize, rng: &mut Rng, out: &mut Vec<u8>) {
        let mut room = max;
        while room > 0 {
            let Some(part) = self.parts.front_mut() else {
                break;
            };
            match part {
                Part::Bytes(b) => {
                    let n = room.min(b.len() - self.offset);
                    out.extend_from_slice(&b[self.offset..self.offset + n]);
                    self.offset += n;
                    room -= n;
                    if self.offset == b.len() {
                        self.parts.pop_front();
                        self.offset = 0;
                    }
                }
                Part::Random(left) | Part::Text(left) => {
                    let n = room.min(*left);
                    let start = out.len();
                    out.resize(start + n, 0);
                    if matches!(part, Part::Text(_)) {
                        fill_text(rng, &mut out[start..]);
                    } else {
                        rng.fill(&mut out[start..]);
                    }
                    room -= n;
                    let left = match self.parts.front_mut() {
                        Some(Part::Random(l)) | Some(Part::Text(l)) => {
                            *l -= n;
                            *l
                        }
                        _ => 0,
                    };
                    if left == 0 {
                        self.parts.pop_front();
                    }
                }
                Part::TlsAppData(left) => {
                    if self.in_record == 0 {
                        if room < 5 {
                            break; // header goes in the next segment
                        }
                        let body = (*left).min(16_408);
                        out.extend_from_slice(&[0x17, 0x03, 0x03]);
                        out.extend_from_slice(&(body as u16).to_be_bytes());
                        self.in_record = body;
                        *left -= body;
                        room -= 5;
                    }
                    let n = room.min(self.in_record);
                    let start = out.len();
                    out.resize(start + n, 0);
                    rng.fill(&mut out[start..]);
                    self.in_record -= n;
                    room -= n;
                    if self.in_record == 0 && *left == 0 {
                        self.parts.pop_front();
                    }
                }
            }
        }
    }
}

const WORDS: [&str; 16] = [
    "<div class=\"row\">",
    "</div>\n",
    "<p>",
    "</p>\n",
    "thong tin ",
    "van ban ",
    "cong van ",
    "so ",
    "ngay ",
    "thang ",
    "<a href=\"/tin-tuc/",
    "\">",
    "</a>",
    "ket qua ",
    "du lieu ",
    "2026 ",
];

fn fill_text(rng: &mut Rng, buf: &mut [u8]) {
    let mut i = 0;
    while i < buf.len() {
        let w = rng.pick(&WORDS).as_bytes();
        let n = w.len().min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&w[..n]);
        i += n;
    }
}

/// Parameters of one TCP conversation.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// The side that opens.
    pub client: Host,
    /// The side that listens.
    pub server: Host,
    /// Client port.
    pub sport: u16,
    /// Server port.
    pub dport: u16,
    /// Time of the first SYN.
    pub start_ns: u64,
    /// Round trip sensor → client → sensor.
    pub rtt_client_ns: u64,
    /// Round trip sensor → server → sensor.
    pub rtt_server_ns: u64,
    /// Bottleneck bandwidth, bits per second (spacing of back-to-back segments).
    pub bandwidth_bps: u64,
    /// Maximum segment size.
    pub mss: u16,
    /// Opening.
    pub open: Open,
    /// Teardown.
    pub close: Close,
    /// Delay before the teardown starts after the last message.
    pub close_delay_ns: u64,
    /// Probability that one data segment of the connection is retransmitted.
    pub retransmit_chance: f64,
}

impl TcpConfig {
    /// Sensible defaults between two hosts on the given ports.
    pub fn new(client: Host, server: Host, sport: u16, dport: u16, start_ns: u64) -> TcpConfig {
        TcpConfig {
            client,
            server,
            sport,
            dport,
            start_ns,
            rtt_client_ns: 400_000,
            rtt_server_ns: 20_000_000,
            bandwidth_bps: 100_000_000,
            mss: 1460,
            open: Open::Normal,
            close: Close::ClientFin,
            close_delay_ns: 1_000_000,
            retransmit_chance: 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    Data,
    Close,
    Done,
}

struct Side {
    link: Link,
    ip: IpPair,
    ttl: u8,
    seq: u32,
    ip_id: u16,
    window: u16,
    cwnd: usize,
    rtt: u64,
}

/// A lazily generated TCP conversation (a [`Source`]).
///
/// Each step (handshake, one flight of a message, teardown) is generated into
/// a small round buffer, sorted by time and appended to the queue; the queue
/// never holds more than one flight.
pub struct TcpFlow {
    cfg: TcpConfig,
    rng: Rng,
    msgs: VecDeque<Msg>,
    queue: VecDeque<(u64, Vec<u8>)>,
    round: Vec<(u64, bool, Vec<u8>)>,
    phase: Phase,
    /// Time of the last queued packet.
    t: u64,
    /// Sender of the last queued packet.
    last_from_client: bool,
    /// Start of the next flight of a message already begun.
    resume_at: Option<u64>,
    c: Side,
    s: Side,
    retransmit_pending: bool,
}

impl TcpFlow {
    /// Creates the conversation; `rng` drives sequence numbers and content.
    ///
    /// # Panics
    /// When client and server addresses are of different families (a bug in
    /// the caller, never a property of input data).
    pub fn new(cfg: TcpConfig, msgs: Vec<Msg>, mut rng: Rng) -> TcpFlow {
        let ip = IpPair::new(cfg.client.ip, cfg.server.ip)
            .expect("client and server of one address family");
        let mk = |host: &Host, peer: &Host, ip: IpPair, rng: &mut Rng, rtt: u64| Side {
            link: link(host, peer),
            ip,
            ttl: host.ttl,
            seq: rng.next_u32(),
            ip_id: rng.next_u32() as u16,
            window: rng.range(235, 2052) as u16,
            cwnd: 10,
            rtt,
        };
        let c = mk(&cfg.client, &cfg.server, ip, &mut rng, cfg.rtt_client_ns);
        let s = mk(
            &cfg.server,
            &cfg.client,
            ip.reversed(),
            &mut rng,
            cfg.rtt_server_ns,
        );
        let retransmit_pending = rng.chance(cfg.retransmit_chance);
        let mut f = TcpFlow {
            t: cfg.start_ns,
            cfg,
            rng,
            msgs: msgs.into(),
            queue: VecDeque::new(),
            round: Vec::new(),
            phase: Phase::Open,
            last_from_client: true,
            resume_at: None,
            c,
            s,
            retransmit_pending,
        };
        f.refill();
        f
    }

    fn side(&mut self, from_client: bool) -> &mut Side {
        if from_client {
            &mut self.c
        } else {
            &mut self.s
        }
    }

    /// (sender's next seq, receiver's next seq).
    fn seqs(&self, from_client: bool) -> (u32, u32) {
        if from_client {
            (self.c.seq, self.s.seq)
        } else {
            (self.s.seq, self.c.seq)
        }
    }

    /// Builds one segment into the current round.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        ts: u64,
        from_client: bool,
        flags: u8,
        seq: u32,
        ack: u32,
        opts: &[u8],
        payload: &[u8],
    ) {
        let (sport, dport) = if from_client {
            (self.cfg.sport, self.cfg.dport)
        } else {
            (self.cfg.dport, self.cfg.sport)
        };
        let ipv6 = matches!(self.c.ip, IpPair::V6 { .. });
        let side = self.side(from_client);
        let window = if flags & F::SYN != 0 {
            64_240
        } else {
            side.window
        };
        let h = TcpHeader {
            sport,
            dport,
            seq,
            ack,
            flags,
            window,
            options: opts,
        };
        let seg = tcp_segment(&side.ip, &h, payload);
        let fields = IpFields {
            ttl: side.ttl,
            id: side.ip_id,
            dont_fragment: true,
            tos: 0,
        };
        if !ipv6 {
            side.ip_id = side.ip_id.wrapping_add(1);
        }
        let frame = packet(&side.link, &side.ip, &fields, proto::TCP, &seg);
        self.round.push((ts, from_client, frame));
    }

    /// Moves the round into the queue in time order.
    fn commit(&mut self) {
        self.round.sort_by_key(|p| p.0);
        for (ts, from_client, frame) in self.round.drain(..) {
            let ts = ts.max(self.t);
            self.t = ts;
            self.last_from_client = from_client;
            self.queue.push_back((ts, frame));
        }
    }

    fn gap(&self, bytes: usize) -> u64 {
        ((bytes as u64 + 38) * 8 * 1_000_000_000) / self.cfg.bandwidth_bps.max(1)
    }

    fn refill(&mut self) {
        while self.queue.is_empty() && self.phase != Phase::Done {
            match self.phase {
                Phase::Open => self.open(),
                Phase::Data => {
                    if self.msgs.is_empty() {
                        self.phase = Phase::Close;
                    } else {
                        self.flight();
                    }
                }
                Phase::Close => self.close(),
                Phase::Done => {}
            }
            self.commit();
        }
    }

    fn open(&mut self) {
        let t0 = self.cfg.start_ns;
        let c_opts = syn_options(self.cfg.mss, 8);
        let isn = self.c.seq;
        self.push(t0, true, F::SYN, isn, 0, &c_opts, &[]);
        self.c.seq = isn.wrapping_add(1);
        match self.cfg.open {
            Open::Normal => {
                let s_isn = self.s.seq;
                let s_opts = syn_options(1460, 7);
                let t1 = t0 + self.s.rtt;
                self.push(t1, false, F::SYN | F::ACK, s_isn, self.c.seq, &s_opts, &[]);
                self.s.seq = s_isn.wrapping_add(1);
                let t2 = t1 + self.c.rtt;
                let (cs, ss) = (self.c.seq, self.s.seq);
                self.push(t2, true, F::ACK, cs, ss, &[], &[]);
                self.phase = Phase::Data;
            }
            Open::Refused => {
                let t1 = t0 + self.s.rtt;
                let cs = self.c.seq;
                self.push(t1, false, F::RST | F::ACK, 0, cs, &[], &[]);
                self.phase = Phase::Done;
            }
            Open::Unanswered { retries } => {
                let mut wait = 1_000_000_000u64;
                let mut t = t0;
                for _ in 0..retries {
                    t += wait;
                    wait *= 2;
                    self.push(t, true, F::SYN, isn, 0, &c_opts, &[]);
                }
                self.phase = Phase::Done;
            }
        }
    }

    /// Sends one flight of the current message with its acknowledgements.
    fn flight(&mut self) {
        let Some(mut msg) = self.msgs.pop_front() else {
            return;
        };
        let fc = msg.from_client;
        let (rtt_send, rtt_recv) = if fc {
            (self.c.rtt, self.s.rtt)
        } else {
            (self.s.rtt, self.c.rtt)
        };
        let start = match self.resume_at.take() {
            Some(t) => t,
            None => {
                let react = if self.last_from_client != fc {
                    rtt_send
                } else {
                    20_000
                };
                self.t + react + msg.think_ns
            }
        };
        let cwnd = self.side(fc).cwnd;
        let mss = usize::from(self.cfg.mss);
        let mut t = start;
        let mut last_t = start;
        let mut unacked = 0usize;
        let mut first_ack = None;
        let mut kept: Vec<(u32, u32, Vec<u8>)> = Vec::new();
        let mut buf = Vec::with_capacity(mss);
        for _ in 0..cwnd {
            buf.clear();
            msg.take(mss, &mut self.rng, &mut buf);
            if buf.is_empty() {
                break;
            }
            let flags = F::ACK | if msg.is_empty() { F::PSH } else { 0 };
            let (seq, ack) = self.seqs(fc);
            self.push(t, fc, flags, seq, ack, &[], &buf);
            self.side(fc).seq = seq.wrapping_add(buf.len() as u32);
            if kept.len() < 2 {
                kept.push((seq, ack, buf.clone()));
            }
            last_t = t;
            t += self.gap(buf.len());
            unacked += 1;
            if unacked == 2 {
                // The receiver acknowledges every second segment.
                let at = last_t + rtt_recv;
                first_ack.get_or_insert(at);
                let (s_seq, r_seq) = self.seqs(fc);
                self.push(at, !fc, F::ACK, r_seq, s_seq, &[], &[]);
                unacked = 0;
            }
            if msg.is_empty() {
                break;
            }
        }
        let side = self.side(fc);
        side.cwnd = (side.cwnd * 2).min(64);
        if self.retransmit_pending && kept.len() == 2 {
            // One segment seen again after a retransmission timeout, then a duplicate ACK.
            self.retransmit_pending = false;
            if let Some((seq, ack, payload)) = kept.pop() {
                let rt = last_t + (rtt_send + rtt_recv).max(200_000_000);
                self.push(rt, fc, F::ACK | F::PSH, seq, ack, &[], &payload);
                let (s_seq, r_seq) = self.seqs(fc);
                self.push(rt + rtt_recv, !fc, F::ACK, r_seq, s_seq, &[], &[]);
                last_t = rt;
            }
        }
        if !msg.is_empty() {
            let acked = first_ack.unwrap_or(last_t + rtt_recv);
            let round_end = self.round.iter().map(|p| p.0).max().unwrap_or(last_t);
            self.resume_at = Some((acked + rtt_send).max(round_end + 1_000));
            self.msgs.push_front(msg);
            return;
        }
        if unacked > 0 {
            let piggyback = matches!(self.msgs.front(),
                Some(m) if m.from_client != fc && m.think_ns <= 40_000_000);
            if !piggyback {
                let (s_seq, r_seq) = self.seqs(fc);
                self.push(last_t + rtt_recv, !fc, F::ACK, r_seq, s_seq, &[], &[]);
            }
        }
    }

    fn close(&mut self) {
        let closer_client = matches!(self.cfg.close, Close::ClientFin | Close::ClientRst);
        let (rtt_closer, rtt_other) = if closer_client {
            (self.c.rtt, self.s.rtt)
        } else {
            (self.s.rtt, self.c.rtt)
        };
        let react = if self.last_from_client != closer_client {
            rtt_closer
        } else {
            20_000
        };
        let t = self.t + react + self.cfg.close_delay_ns;
        let (seq, ack) = self.seqs(closer_client);
        match self.cfg.close {
            Close::ClientFin | Close::ServerFin => {
                self.push(t, closer_client, F::FIN | F::ACK, seq, ack, &[], &[]);
                let seq = seq.wrapping_add(1);
                let t2 = t + rtt_other;
                self.push(t2, !closer_client, F::FIN | F::ACK, ack, seq, &[], &[]);
                let t3 = t2 + rtt_closer;
                self.push(
                    t3,
                    closer_client,
                    F::ACK,
                    seq,
                    ack.wrapping_add(1),
                    &[],
                    &[],
                );
            }
            Close::ClientRst | Close::ServerRst => {
                self.push(t, closer_client, F::RST | F::ACK, seq, ack, &[], &[]);
            }
            Close::Open => {}
        }
        self.phase = Phase::Done;
    }
}

impl Source for TcpFlow {
    fn next_time(&self) -> Option<u64> {
        self.queue.front().map(|p| p.0)
    }

    fn fire(&mut self) -> Event {
        let ev = match self.queue.pop_front() {
            Some((_, f)) => Event::Packet(f),
            None => Event::Idle,
        };
        if self.queue.is_empty() {
            self.refill();
        }
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn hosts() -> (Host, Host) {
        (
            Host::internal(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                [2, 0, 0, 0, 0, 1],
                None,
                64,
            ),
            Host::external(IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34)), 64, 10),
        )
    }

    fn drain(mut f: TcpFlow) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(t) = f.next_time() {
            if let Event::Packet(p) = f.fire() {
                out.push((t, p));
            }
        }
        out
    }

    fn tcp_fields(frame: &[u8]) -> (u32, u32, u8, usize) {
        let ip = &frame[14..];
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        let tcp = &ip[20..total];
        let off = usize::from(tcp[12] >> 4) * 4;
        (
            u32::from_be_bytes(tcp[4..8].try_into().unwrap()),
            u32::from_be_bytes(tcp[8..12].try_into().unwrap()),
            tcp[13],
            tcp.len() - off,
        )
    }

    #[test]
    fn request_response_has_consistent_sequence_space() {
        let (c, s) = hosts();
        let cfg = TcpConfig::new(c, s, 40000, 80, 1_000_000_000);
        let msgs = vec![
            Msg::client(0, vec![b'a'; 100]),
            Msg::new(false, 5_000_000, vec![Part::Random(5000)]),
        ];
        let pkts = drain(TcpFlow::new(cfg, msgs, Rng::new(1, 1)));
        // times never go backwards
        assert!(pkts.windows(2).all(|w| w[0].0 <= w[1].0));
        let f: Vec<_> = pkts.iter().map(|p| tcp_fields(&p.1)).collect();
        assert_eq!(f[0].2, F::SYN);
        assert_eq!(f[1].2, F::SYN | F::ACK);
        assert_eq!(f[1].1, f[0].0.wrapping_add(1));
        // client payload bytes and server payload bytes
        let client_ip = [10, 0, 0, 1];
        let mut c_bytes = 0;
        let mut s_bytes = 0;
        for p in &pkts {
            let (_, _, _, len) = tcp_fields(&p.1);
            if p.1[26..30] == client_ip {
                c_bytes += len;
            } else {
                s_bytes += len;
            }
        }
        assert_eq!(c_bytes, 100);
        assert_eq!(s_bytes, 5000);
        // The last three packets are FIN, FIN, ACK.
        let n = f.len();
        assert_eq!(f[n - 3].2, F::FIN | F::ACK);
        assert_eq!(f[n - 2].2, F::FIN | F::ACK);
        assert_eq!(f[n - 1].2, F::ACK);
        // The final ACK acknowledges the server's FIN.
        assert_eq!(f[n - 1].1, f[n - 2].0.wrapping_add(1));
    }

    #[test]
    fn refused_connection_is_syn_then_rst() {
        let (c, s) = hosts();
        let mut cfg = TcpConfig::new(c, s, 40001, 23, 0);
        cfg.open = Open::Refused;
        let pkts = drain(TcpFlow::new(cfg, vec![], Rng::new(1, 2)));
        assert_eq!(pkts.len(), 2);
        assert_eq!(tcp_fields(&pkts[1].1).2, F::RST | F::ACK);
    }

    #[test]
    fn tls_records_are_framed() {
        let mut m = Msg::new(true, 0, vec![Part::TlsAppData(20_000)]);
        let mut rng = Rng::new(0, 0);
        let mut all = Vec::new();
        while !m.is_empty() {
            let mut b = Vec::new();
            m.take(1460, &mut rng, &mut b);
            all.extend(b);
        }
        assert_eq!(all.len(), 20_000 + 10);
        assert_eq!(&all[..3], &[0x17, 3, 3]);
        assert_eq!(u16::from_be_bytes([all[3], all[4]]), 16_408);
        let second = 5 + 16_408;
        assert_eq!(&all[second..second + 3], &[0x17, 3, 3]);
        assert_eq!(
            u16::from_be_bytes([all[second + 3], all[second + 4]]) as usize,
            20_000 - 16_408
        );
    }
}
