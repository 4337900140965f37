//! QUIC: Initial packets of either side, and the UDP session that reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::quic::{self, QuicSession};
use mekong_appmeta::{AppMeta, Events, UdpSession};

fuzz_target!(|data: &[u8]| {
    let _ = quic::detect(data);
    let mut q = QuicSession::default();
    let mut a = 0;
    let _ = q.datagram(data, 0, &mut a);
    let _ = q.datagram(data, 1, &mut a);
    let _ = q.hello(0);
    let mut meta = AppMeta::default();
    if let Some(mut s) = UdpSession::detect(data, 0, (50000, 443), &mut meta) {
        let mut ev = Events::new();
        s.datagram(0, data, &mut meta, &mut ev);
        s.datagram(1, data, &mut meta, &mut ev);
    }
});
