//! HTTP/1.x: heads, and the session over a stream cut where the first byte says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::http::{self, HttpMeta, HttpSession};
use mekong_appmeta::{Events, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    let _ = http::detect(data);
    let _ = http::request(data);
    let _ = http::response(data);
    let (mut s, mut meta, mut a) = (HttpSession::default(), HttpMeta::default(), 0);
    let mut ev = Events::new();
    let cut = usize::from(sel).min(data.len());
    for (dir, part) in [(0, &data[..cut]), (1, &data[cut..])] {
        let mut pos = 0;
        while pos < part.len() {
            match s.parse(dir, &part[pos..], &mut meta, &mut a, &mut ev) {
                Step::Consumed(n) => pos += n.max(1),
                _ => break,
            }
        }
    }
});
