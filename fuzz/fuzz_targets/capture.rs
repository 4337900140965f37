//! pcap and pcapng readers over arbitrary files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_sensor::capture::packets_in;

fuzz_target!(|data: &[u8]| {
    if let Ok(packets) = packets_in(std::path::Path::new("fuzz"), data) {
        for p in packets.take(100_000) {
            let _ = p;
        }
    }
});
