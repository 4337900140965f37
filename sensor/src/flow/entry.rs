//! One flow's state and how a packet updates it.

use std::net::IpAddr;

use mekong_schema::anomaly;

use super::key::{addr_of, FlowKey};
use super::stats::{ActiveIdle, Bulk, Splt, Summary};
use super::tcp::{TcpEvent, TcpState};
use crate::decode::{tcp_flags as F, PacketView, Transport};

/// Counters and statistics of one direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirStats {
    /// Packets (fragments counted one by one).
    pub pkts: u64,
    /// Frame bytes on the wire.
    pub wire_bytes: u64,
    /// IP bytes.
    pub ip_bytes: u64,
    /// Transport payload bytes.
    pub payload_bytes: u64,
    /// Transport header bytes.
    pub l4_header_bytes: u64,
    /// Smallest transport header.
    pub l4_header_min: Option<u8>,
    /// Packets with payload.
    pub payload_pkts: u64,
    /// Packets with each TCP flag, bit order FIN SYN RST PSH ACK URG ECE CWR.
    pub flags: [u32; 8],
    /// First TCP window field.
    pub init_win: Option<u16>,
    /// IP fragments.
    pub frags: u32,
    /// Retransmitted segments.
    pub retrans: u32,
    /// Out-of-order segments.
    pub ooo: u32,
    /// Zero-window advertisements.
    pub zero_win: u32,
    /// Payload lengths.
    pub len: Summary,
    /// Gaps between this direction's packets, µs.
    pub iat: Summary,
    last_ns: u64,
}

/// The state of one flow (one record in progress).
#[derive(Clone, Copy, Debug)]
pub struct FlowEntry {
    /// Canonical key.
    pub key: FlowKey,
    /// Flow identifier (`flow_uid`: the sensor id, the key and the first
    /// packet's time, hashed once when the flow starts).
    pub uid: i64,
    /// True when the key's `lo` side is the originator.
    pub orig_is_lo: bool,
    /// First packet of the flow (origin of the active-timeout grid), ns.
    pub flow_start_ns: u64,
    /// Active-timeout interval of this record.
    pub piece: u32,
    /// First packet of this record, ns.
    pub first_ns: u64,
    /// Last packet of the flow, ns (of this record when it has packets;
    /// kept across records for the idle timeout).
    pub last_ns: u64,
    /// Originator (0) and responder (1) directions.
    pub dir: [DirStats; 2],
    /// Gaps, both directions, µs.
    pub flow_iat: Summary,
    /// Active and idle periods.
    pub act: ActiveIdle,
    /// Subflows.
    pub subflows: u32,
    /// Bulks per direction.
    pub bulk: [Bulk; 2],
    /// First packets.
    pub splt: Splt,
    /// TCP state (TCP flows only).
    pub tcp: TcpState,
    /// Originator port (ICMP: type).
    pub orig_port: u16,
    /// Responder port (ICMP: code).
    pub resp_port: u16,
    /// ICMP echo identifier.
    pub icmp_id: Option<u16>,
    /// The first packet was tunnelled (its encapsulation is kept by the table).
    pub tunnelled: bool,
    /// Anomaly bits.
    pub anomalies: u32,
    /// Directions (bit 0 originator, bit 1 responder) whose SYN was seen.
    syn_seen: u8,
    /// Sequence number of each direction's SYN.
    syn_seq: [u32; 2],
    /// When the TCP connection closed (FIN both ways or RST); `u64::MAX` while open.
    closing_since: u64,
}

impl FlowEntry {
    /// A new flow for the packet `p` (whose source is the key's `lo` side
    /// when `src_is_lo`).
    pub fn new(key: FlowKey, src_is_lo: bool, p: &PacketView<'_>) -> FlowEntry {
        // The sender of a SYN-ACK is the responder: keep the roles right
        // when the capture starts after the SYN.
        let flipped = matches!(p.transport, Transport::Tcp(t) if t.flags & (F::SYN | F::ACK) == F::SYN | F::ACK);
        let src_is_orig = !flipped;
        let orig_is_lo = src_is_lo == src_is_orig;
        let (orig_port, resp_port, icmp_id) = match p.transport {
            Transport::Icmp {
                kind,
                code,
                echo_id,
                ..
            } => (u16::from(kind), u16::from(code), echo_id),
            _ if src_is_orig => (p.sport, p.dport, None),
            _ => (p.dport, p.sport, None),
        };
        FlowEntry {
            key,
            uid: 0,
            orig_is_lo,
            flow_start_ns: p.first_ns,
            piece: 0,
            first_ns: p.first_ns,
            last_ns: p.ts_ns,
            dir: [DirStats::default(); 2],
            flow_iat: Summary::default(),
            act: ActiveIdle::default(),
            subflows: 0,
            bulk: [Bulk::default(); 2],
            splt: Splt::default(),
            tcp: if flipped {
                TcpState::flipped()
            } else {
                TcpState::default()
            },
            orig_port,
            resp_port,
            icmp_id,
            tunnelled: p.tunnel.depth > 0,
            anomalies: 0,
            syn_seen: 0,
            syn_seq: [0; 2],
            closing_since: u64::MAX,
        }
    }

    /// Outer VLAN id (from the key).
    pub fn vlan(&self) -> Option<u16> {
        self.key.vlan.checked_sub(1)
    }

    /// Inner VLAN id (from the key).
    pub fn inner_vlan(&self) -> Option<u16> {
        self.key.inner_vlan.checked_sub(1)
    }

    /// When the TCP connection closed, if it has.
    pub fn closing_since(&self) -> Option<u64> {
        (self.closing_since != u64::MAX).then_some(self.closing_since)
    }

    /// Sequence number of the first data byte of direction `d` (0
    /// originator), when its SYN was seen.
    pub fn stream_start(&self, d: usize) -> Option<u32> {
        (self.syn_seen & (1 << d) != 0).then(|| self.syn_seq[d].wrapping_add(1))
    }

    /// Packets in this record.
    pub fn pkts(&self) -> u64 {
        self.dir[0].pkts + self.dir[1].pkts
    }

    /// Originator and responder addresses.
    pub fn addrs(&self) -> (IpAddr, IpAddr) {
        let (lo, hi) = (
            addr_of(&self.key.lo, self.key.version),
            addr_of(&self.key.hi, self.key.version),
        );
        if self.orig_is_lo {
            (lo, hi)
        } else {
            (hi, lo)
        }
    }

    /// Starts the next active-timeout interval `piece`: counters restart,
    /// the TCP state and the flow identity carry on.
    pub fn start_piece(&mut self, piece: u32) {
        self.piece = piece;
        self.dir = [DirStats::default(); 2];
        self.flow_iat = Summary::default();
        self.act = ActiveIdle::default();
        self.subflows = 0;
        self.bulk = [Bulk::default(); 2];
        self.splt = Splt::default();
        self.anomalies = 0;
    }

    /// Adds a packet whose source is the key's `lo` side when `src_is_lo`.
    pub fn update(&mut self, p: &PacketView<'_>, src_is_lo: bool) {
        let d = usize::from(src_is_lo != self.orig_is_lo);
        let t = p.ts_ns;
        let mut anomalies = p.anomalies;
        let first_of_record = self.pkts() == 0;
        let prev = self.last_ns;
        // Fragments accounted late (datagram given up) carry their own older time.
        if !first_of_record && t < prev && p.anomalies & anomaly::FRAGMENT_INCOMPLETE == 0 {
            anomalies |= anomaly::TIME_BACKWARDS;
        }
        let t_eff = if first_of_record { t } else { t.max(prev) };
        let gap_us = (t_eff - if first_of_record { t_eff } else { prev }) / 1000;
        if first_of_record {
            self.first_ns = p.first_ns.min(t);
            self.act.begin(t / 1000);
            self.subflows = 1;
        } else {
            self.flow_iat.add(gap_us);
            self.act.packet(prev / 1000, t_eff / 1000);
            if gap_us as i64 > mekong_schema::SUBFLOW_GAP_US {
                self.subflows += 1;
            }
        }
        let flags = match p.transport {
            Transport::Tcp(tcp) => tcp.flags,
            _ => 0,
        };
        let s = &mut self.dir[d];
        let wire_pkts = u64::from(p.frags.max(1));
        if s.pkts > 0 {
            s.iat
                .add(t_eff.saturating_sub(s.last_ns.max(self.first_ns)) / 1000);
        }
        s.last_ns = t_eff;
        s.pkts += wire_pkts;
        s.wire_bytes += u64::from(p.wire_len);
        s.ip_bytes += u64::from(p.ip_len);
        s.payload_bytes += u64::from(p.payload_len);
        s.l4_header_bytes += u64::from(p.l4_header_len);
        let hl = p.l4_header_len.min(255) as u8;
        s.l4_header_min = Some(s.l4_header_min.map_or(hl, |m| m.min(hl)));
        if p.payload_len > 0 {
            s.payload_pkts += 1;
        }
        s.len.add(u64::from(p.payload_len));
        s.frags += u32::from(p.frags);
        for (bit, c) in s.flags.iter_mut().enumerate() {
            if flags & (1 << bit) != 0 {
                *c += 1;
            }
        }
        if p.payload_len > 0 {
            self.bulk[1 - d].close_run();
            self.bulk[d].payload(t_eff / 1000, u64::from(p.payload_len));
        }
        self.splt.push(p.ip_len, d == 0, gap_us, flags);
        if let Transport::Tcp(tcp) = p.transport {
            let s = &mut self.dir[d];
            if s.init_win.is_none() {
                s.init_win = Some(tcp.window);
            }
            if tcp.flags & F::SYN != 0 && self.syn_seen & (1 << d) == 0 {
                self.syn_seen |= 1 << d;
                self.syn_seq[d] = tcp.seq;
            }
            let ev: TcpEvent = self.tcp.update(d, &tcp, p.payload_len);
            let s = &mut self.dir[d];
            s.retrans += u32::from(ev.retransmission);
            s.ooo += u32::from(ev.out_of_order);
            s.zero_win += u32::from(ev.zero_window);
            if ev.closed && self.closing_since == u64::MAX {
                self.closing_since = t_eff;
            }
        }
        self.anomalies |= anomalies;
        self.last_ns = t_eff;
    }
}
