//! TLS heartbeat records at a segment's start, and DNS over TCP with
//! messages too long to read whole (their first answer's type).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::heartbeat::{record_at, HeartbeatMeta};
use mekong_appmeta::{AppMeta, AppProto, AppSession, Events, Step};

fuzz_target!(|data: &[u8]| {
    let mut m = HeartbeatMeta::default();
    if let Some((len, claimed)) = record_at(data) {
        let _ = m.add(0, len, claimed);
        let _ = m.add(1, len, claimed);
    }
    let _ = mekong_appmeta::dns::first_answer_type(data);
    let mut meta = AppMeta::default();
    let Some(mut s) = AppSession::new(AppProto::Dns, &mut meta) else { return };
    let mut ev = Events::new();
    for dir in [1, 0] {
        let mut pos = 0;
        while pos < data.len() {
            match s.parse(dir, &data[pos..], &mut meta, &mut ev) {
                Step::Consumed(n) => {
                    assert!(n > 0 && n <= data.len() - pos);
                    pos += n;
                }
                _ => break,
            }
        }
    }
});
