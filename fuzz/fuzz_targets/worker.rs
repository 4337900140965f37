//! Arbitrary packet sequences through a whole worker path (decoder, flow
//! table, stream reassembly, application parsing, detection) and the host
//! stage: nothing panics, the table stays within its limit, and every
//! decoded packet lands in exactly one record.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mekong_detect::host::HostStage;
use mekong_sensor::app::AppStage;
use mekong_sensor::capture::RawPacket;
use mekong_sensor::decode::{Decoded, Decoder, DefragConfig};
use mekong_sensor::detect::DetectStage;
use mekong_sensor::engine::Engine;
use mekong_sensor::flow::{EndReason, FlowConfig};
use mekong_sensor::pipeline::{Detection, Stages};

fuzz_target!(|data: &[u8]| {
    let cfg = FlowConfig { max_flows: 8, active_ns: 10_000_000_000, ..FlowConfig::default() };
    let det = Detection::default();
    let stages: Stages = (Some(AppStage::new(cfg.app)), Some(DetectStage::new(Arc::clone(&det.flow))), None);
    let mut engine = Engine::new(cfg, stages);
    let mut host = HostStage::new(&det.config);
    let mut dec = Decoder::new(DefragConfig { max_datagrams: 4, max_bytes: 1 << 16, timeout_ns: 1_000_000_000 });
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
            engine.process(&p);
            assert!(engine.table().len() <= 8);
        }
        for e in engine.events().drain(..) {
            host.event(&e);
        }
    }
    engine.flush(t, EndReason::Eof, &mut |_, ev| {
        for e in ev.drain(..) {
            host.event(&e);
        }
    });
    host.finish();
    let _ = host.drain();
    let counted: u64 = engine.records().iter().map(|r| r.summary.pkts()).sum();
    assert_eq!(counted, packets);
});
