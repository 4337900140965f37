//! Decoding: the first byte picks a link type, the rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_sensor::capture::RawPacket;
use mekong_sensor::decode::{decode_stateless, Decoder, DefragConfig};

const LINKTYPES: [u16; 8] = [1, 113, 276, 101, 0, 108, 228, 229];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let raw = RawPacket { ts_ns: 1, linktype: LINKTYPES[usize::from(sel) % LINKTYPES.len()], orig_len: frame.len() as u32, data: frame, offset: 0 };
    let _ = decode_stateless(&raw);
    let mut d = Decoder::new(DefragConfig::default());
    let _ = d.decode(&raw);
});
