//! Kerberos messages: arbitrary bytes as a datagram, and as TCP records
//! cut at a point the first byte picks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::kerberos::{self, KrbMeta};
use mekong_appmeta::session::{AppSession, UdpSession};
use mekong_appmeta::{AppMeta, AppProto, Events, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    let mut ev = Events::new();
    if let Some(m) = kerberos::parse(data) {
        KrbMeta::default().add(&m, &mut ev);
    }
    let _ = kerberos::detect_tcp(data);
    let mut meta = AppMeta::default();
    if let Some(mut u) = UdpSession::detect(data, 0, (50000, 88), &mut meta) {
        let _ = u.datagram(1, data, &mut meta, &mut ev);
    }
    let mut meta = AppMeta::default();
    let Some(mut s) = AppSession::new(AppProto::Kerberos, &mut meta) else { return };
    let mut rec = (data.len() as u32).to_be_bytes().to_vec();
    rec.extend(data);
    let cut = usize::from(sel).min(rec.len());
    for part in [&rec[..cut], &rec[cut..], data] {
        let mut pos = 0;
        while pos < part.len() {
            match s.parse(usize::from(sel & 1), &part[pos..], &mut meta, &mut ev) {
                Step::Consumed(n) => {
                    assert!(n > 0 && n <= part.len() - pos);
                    pos += n;
                }
                _ => break,
            }
        }
    }
});
