//! The flow summary: everything a finished record says, computed once from
//! the flow's state when the record ends (conn_state, history, statistics,
//! timing; the Community ID on demand), and read by the Parquet columns and by the stages'
//! flow-end hooks alike. Nothing downstream reads `FlowEntry` internals.

use std::net::IpAddr;

use mekong_detect::event::ShortStr;
use mekong_schema::SPLT_LEN;

use super::key::community_id_into;
use super::stats::Summary;
use super::table::{EndReason, FlowRecord};
use crate::decode::Tunnel;

/// Count-free statistics of a set of values: minimum, maximum, mean and
/// sample standard deviation (each absent when undefined).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stat {
    /// Smallest value.
    pub min: Option<u64>,
    /// Largest value.
    pub max: Option<u64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1).
    pub std: Option<f64>,
}

impl Stat {
    fn of(s: &Summary) -> Stat {
        let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
        Stat {
            min: s.min(),
            max: s.max(),
            mean: finite(s.mean()),
            std: finite(s.std()),
        }
    }
}

/// One direction of a record.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DirSummary {
    /// Packets (fragments one by one).
    pub pkts: u64,
    /// Frame bytes.
    pub wire_bytes: u64,
    /// IP bytes.
    pub ip_bytes: u64,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// Transport header bytes.
    pub l4_header_bytes: u64,
    /// Smallest transport header.
    pub l4_header_min: Option<u8>,
    /// Packets with payload.
    pub payload_pkts: u64,
    /// Packets with each TCP flag (FIN SYN RST PSH ACK URG ECE CWR).
    pub flags: [u32; 8],
    /// First TCP window (TCP only).
    pub init_win: Option<u16>,
    /// Fragments.
    pub frags: u32,
    /// Retransmissions.
    pub retrans: u32,
    /// Out-of-order segments.
    pub ooo: u32,
    /// Zero windows.
    pub zero_win: u32,
    /// Payload lengths.
    pub len: Stat,
    /// Gaps, µs.
    pub iat: Stat,
}

/// Bulk transfers of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BulkSummary {
    /// Bulks.
    pub count: u32,
    /// Packets in them.
    pub pkts: u32,
    /// Payload bytes in them.
    pub bytes: u64,
    /// Their total duration, µs.
    pub us: u32,
}

/// A finished record, summarised.
#[derive(Clone, Debug)]
pub struct FlowSummary {
    /// Flow identifier.
    pub uid: i64,
    /// Active-timeout interval.
    pub piece: u32,
    /// Cut while the flow went on.
    pub continues: bool,
    /// Why it ended.
    pub end: EndReason,
    /// Outer VLAN.
    pub vlan: Option<u16>,
    /// Inner VLAN.
    pub inner_vlan: Option<u16>,
    /// 4 or 6.
    pub ip_version: u8,
    /// IP protocol.
    pub proto: u8,
    /// Originator.
    pub orig: IpAddr,
    /// Originator port (ICMP type).
    pub orig_port: u16,
    /// Responder.
    pub resp: IpAddr,
    /// Responder port (ICMP code).
    pub resp_port: u16,
    /// ICMP echo identifier.
    pub icmp_id: Option<u16>,
    /// Encapsulation of the first packet.
    pub tunnel: Tunnel,
    /// First packet of the record, µs.
    pub first_us: i64,
    /// Last packet, µs.
    pub last_us: i64,
    /// Originator and responder.
    pub dir: [DirSummary; 2],
    /// Payload lengths, both directions.
    pub flow_len: Stat,
    /// Gaps, both directions, µs.
    pub flow_iat: Stat,
    /// Active periods, µs.
    pub active: Stat,
    /// Idle periods, µs.
    pub idle: Stat,
    /// Subflows.
    pub subflows: u32,
    /// Bulks per direction.
    pub bulks: [BulkSummary; 2],
    /// Early packets kept.
    pub splt_n: u8,
    /// Their signed IP lengths.
    pub splt_len: [i16; SPLT_LEN],
    /// Gaps before them, µs.
    pub splt_iat_us: [i64; SPLT_LEN],
    /// Their TCP flags.
    pub splt_flags: [u8; SPLT_LEN],
    /// Zeek's conn_state (TCP only).
    pub conn_state: Option<&'static str>,
    /// Zeek's history (TCP only).
    pub history: Option<ShortStr<32>>,
    /// Anomaly bits.
    pub anomalies: u32,
}

impl FlowSummary {
    /// Community ID v1 (seed 0). Computed where it is written, by the output
    /// thread, not by the worker that ends the flow.
    pub fn community_id(&self) -> ShortStr<32> {
        let mut cid = String::with_capacity(32);
        community_id_into(
            &mut cid,
            self.proto,
            self.orig,
            self.resp,
            self.orig_port,
            self.resp_port,
        );
        ShortStr::new(&cid)
    }

    /// The summary of a record.
    pub fn of(r: &FlowRecord) -> FlowSummary {
        let e = &r.entry;
        let (orig, resp) = e.addrs();
        let tcp = e.key.proto == 6;
        let dir = |d: usize| {
            let s = &e.dir[d];
            DirSummary {
                pkts: s.pkts,
                wire_bytes: s.wire_bytes,
                ip_bytes: s.ip_bytes,
                payload_bytes: s.payload_bytes,
                l4_header_bytes: s.l4_header_bytes,
                l4_header_min: s.l4_header_min,
                payload_pkts: s.payload_pkts,
                flags: s.flags,
                init_win: if tcp { s.init_win } else { None },
                frags: s.frags,
                retrans: s.retrans,
                ooo: s.ooo,
                zero_win: s.zero_win,
                len: Stat::of(&s.len),
                iat: Stat::of(&s.iat),
            }
        };
        let (active, idle) = e.act.finish(e.last_ns / 1000);
        let bulk = |d: usize| {
            let b = e.bulk[d].finished();
            BulkSummary {
                count: b.count,
                pkts: b.pkts,
                bytes: b.bytes,
                us: b.us,
            }
        };
        let (ob, rb) = (e.dir[0].payload_bytes, e.dir[1].payload_bytes);
        FlowSummary {
            uid: r.uid,
            piece: e.piece,
            continues: r.continues,
            end: r.end,
            vlan: e.vlan(),
            inner_vlan: e.inner_vlan(),
            ip_version: e.key.version,
            proto: e.key.proto,
            orig,
            orig_port: e.orig_port,
            resp,
            resp_port: e.resp_port,
            icmp_id: e.icmp_id,
            tunnel: r.tunnel,
            first_us: (e.first_ns / 1000) as i64,
            last_us: (e.last_ns / 1000) as i64,
            dir: [dir(0), dir(1)],
            flow_len: Stat::of(&e.dir[0].len.merged(&e.dir[1].len)),
            flow_iat: Stat::of(&e.flow_iat),
            active: Stat::of(&active),
            idle: Stat::of(&idle),
            subflows: e.subflows,
            bulks: [bulk(0), bulk(1)],
            splt_n: e.splt.n,
            splt_len: e.splt.len,
            splt_iat_us: std::array::from_fn(|i| i64::from(e.splt.iat_us[i])),
            splt_flags: e.splt.flags,
            conn_state: tcp.then(|| e.tcp.conn_state(ob, rb)),
            history: tcp.then(|| ShortStr::new(e.tcp.history())),
            anomalies: e.anomalies,
        }
    }

    /// Duration, µs.
    pub fn duration_us(&self) -> i64 {
        self.last_us - self.first_us
    }

    /// Packets, both directions.
    pub fn pkts(&self) -> u64 {
        self.dir[0].pkts + self.dir[1].pkts
    }
}
