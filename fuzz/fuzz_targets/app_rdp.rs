//! RDP's negotiation: arbitrary bytes after a TPKT header, both directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::rdp::{self, RdpMeta, RdpSession};
use mekong_appmeta::Events;

fuzz_target!(|data: &[u8]| {
    let _ = rdp::detect(data);
    let mut p = vec![3u8, 0];
    p.extend(((data.len() + 4).min(65535) as u16).to_be_bytes());
    p.extend(data);
    let (mut s, mut m, mut ev) = (RdpSession::default(), RdpMeta::default(), Events::new());
    let _ = s.parse(0, &p, &mut m, &mut ev);
    let _ = s.parse(1, &p, &mut m, &mut ev);
    let _ = s.parse(1, data, &mut m, &mut ev);
});
