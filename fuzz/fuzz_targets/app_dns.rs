//! DNS: a message (over UDP), then the same bytes as a TCP stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::{dns, AppMeta, AppProto, AppSession, Events, UdpSession};

fuzz_target!(|data: &[u8]| {
    if let mekong_appmeta::Outcome::Parsed(m) = dns::parse(data) {
        for rr in m.answers() {
            let _ = m.render(&rr);
        }
        dns::DnsMeta::default().add(&m);
    }
    let _ = dns::looks_like_query(data);
    let mut meta = AppMeta::default();
    if let Some(mut s) = UdpSession::detect(data, 0, (5000, 53), &mut meta) {
        s.datagram(0, data, &mut meta, &mut Events::new());
    }
    let mut meta = AppMeta::default();
    if let Some(mut s) = AppSession::new(AppProto::Dns, &mut meta) {
        let mut pos = 0;
        while pos < data.len() {
            match s.parse(0, &data[pos..], &mut meta, &mut Events::new()) {
                mekong_appmeta::Step::Consumed(n) => pos += n.max(1),
                _ => break,
            }
        }
    }
});
