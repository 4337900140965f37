//! Arbitrary packet sequences through the decoder and a small flow table:
//! the table never exceeds its limit and every decoded packet lands in
//! exactly one record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_sensor::capture::RawPacket;
use mekong_sensor::decode::{Decoded, Decoder, DefragConfig};
use mekong_sensor::flow::{EndReason, FlowConfig, FlowTable};

fuzz_target!(|data: &[u8]| {
    let cfg = FlowConfig { max_flows: 8, active_ns: 10_000_000_000, ..FlowConfig::default() };
    let mut table = FlowTable::new(cfg);
    let mut dec = Decoder::new(DefragConfig { max_datagrams: 4, max_bytes: 1 << 16, timeout_ns: 1_000_000_000 });
    let mut out = Vec::new();
    let mut t = 1_000_000_000_000u64;
    let mut packets = 0u64;
    // Input: records of [gap_ms: u8][len: u8][frame bytes...].
    let mut rest = data;
    while rest.len() >= 2 {
        let (gap, len) = (u64::from(rest[0]), usize::from(rest[1]));
        rest = &rest[2..];
        let frame = &rest[..len.min(rest.len())];
        rest = &rest[frame.len()..];
        t += gap * 1_000_000;
        let raw = RawPacket { ts_ns: t, linktype: 1, orig_len: frame.len() as u32, data: frame, offset: 0 };
        if let Decoded::Packet(p) = dec.decode(&raw) {
            packets += u64::from(p.frags.max(1));
            table.process(&p, &mut out);
            assert!(table.len() <= 8);
        }
    }
    table.flush(t, EndReason::Eof, &mut out, &mut |_| {});
    let counted: u64 = out.iter().map(|r| r.entry.dir[0].pkts + r.entry.dir[1].pkts).sum();
    assert_eq!(counted, packets);
});
