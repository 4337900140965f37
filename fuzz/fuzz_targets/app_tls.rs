//! TLS: records and handshake messages, hellos, fingerprints, certificates,
//! and the session over the first byte's choice of direction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::tls_session::{TlsMeta, TlsSession};
use mekong_appmeta::{fingerprint, tls, x509, Events, Outcome};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    let _ = tls::detect(data);
    let _ = tls::sslv2_hello(data);
    let mut scratch = Vec::new();
    if let Outcome::Parsed(h) = tls::handshake_bytes(data, &mut scratch) {
        for m in tls::messages(h.bytes) {
            if let Some(ch) = tls::client_hello(m.body) {
                let _ = fingerprint::ja4(&ch, sel & 1 == 0);
                let _ = fingerprint::ja3(&ch);
            }
            if let Some(sh) = tls::server_hello(m.body) {
                let _ = fingerprint::ja3s(&sh);
            }
            if let Outcome::Parsed(der) = tls::first_certificate(m.body, m.len) {
                let _ = x509::parse(der);
            }
        }
    }
    let (mut s, mut meta, mut a) = (TlsSession::default(), TlsMeta::default(), 0);
    let _ = s.parse(usize::from(sel & 1), data, &mut meta, &mut a, &mut Events::new());
});
