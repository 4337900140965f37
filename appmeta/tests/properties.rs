//! Property tests: every parser takes hostile bytes without a panic, and
//! the stream sessions give the same metadata however the bytes are cut.

use mekong_appmeta::event::{AppEvent, Events};
use mekong_appmeta::http::{HttpMeta, HttpSession};
use mekong_appmeta::quic::QuicSession;
use mekong_appmeta::ssh::{SshMeta, SshSession};
use mekong_appmeta::tls_session::{TlsMeta, TlsSession};
use mekong_appmeta::{dns, http, ssh, tls, x509, Step};
use mekong_appmeta::{AppMeta, AppProto, AppSession};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Feeds `stream` to `parse` in pieces cut at `cuts`, keeping unparsed bytes
/// as the sensor does (sessions that re-read get the whole prefix).
fn feed(stream: &[u8], cuts: &[usize], mut parse: impl FnMut(&[u8]) -> Step) -> bool {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.push(stream.len());
    bounds.sort_unstable();
    let mut pending: Vec<u8> = Vec::new();
    let mut from = 0;
    for &to in &bounds {
        pending.extend_from_slice(&stream[from..to]);
        from = to;
        let mut pos = 0;
        while pos < pending.len() {
            match parse(&pending[pos..]) {
                Step::Consumed(n) => pos += n.max(1),
                Step::NeedMore => break,
                Step::Done | Step::Malformed => return true,
            }
        }
        pending.drain(..pos);
    }
    false
}

const CLIENT: &[u8] = b"GET /a HTTP/1.1\r\nHost: h.example\r\nUser-Agent: ua/1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET /c HTTP/1.1\r\n\r\n";
const SERVER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nxyzHTTP/1.1 304 Not Modified\r\n\r\n";

fn http_meta(client_cuts: &[usize], server_cuts: &[usize]) -> (HttpMeta, Vec<String>) {
    let mut s = HttpSession::default();
    let mut meta = HttpMeta::default();
    let mut anomalies = 0;
    let mut ev = Events::new();
    feed(CLIENT, client_cuts, |b| {
        s.parse(0, b, &mut meta, &mut anomalies, &mut ev)
    });
    feed(SERVER, server_cuts, |b| {
        s.parse(1, b, &mut meta, &mut anomalies, &mut ev)
    });
    assert_eq!(anomalies, 0);
    let events = ev.iter().map(|e| format!("{e:?}")).collect();
    (meta, events)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Arbitrary bytes: every parser returns, whatever they hold.
    #[test]
    fn parsers_take_arbitrary_bytes(b in bytes(600)) {
        if let mekong_appmeta::Outcome::Parsed(m) = dns::parse(&b) {
            for rr in m.answers() {
                let _ = m.render(&rr);
            }
            let mut meta = dns::DnsMeta::default();
            meta.add(&m);
            prop_assert!(meta.query.as_ref().is_none_or(|q| q.len() <= dns::MAX_TEXT_NAME));
        }
        let _ = dns::looks_like_query(&b);
        let _ = tls::detect(&b);
        let mut scratch = Vec::new();
        if let mekong_appmeta::Outcome::Parsed(h) = tls::handshake_bytes(&b, &mut scratch) {
            for m in tls::messages(h.bytes) {
                let _ = tls::client_hello(m.body);
                let _ = tls::server_hello(m.body);
                let _ = tls::first_certificate(m.body, m.len);
            }
        }
        if let Some(ch) = tls::client_hello(&b) {
            let _ = mekong_appmeta::fingerprint::ja4(&ch, false);
            let _ = mekong_appmeta::fingerprint::ja3(&ch);
        }
        let _ = tls::sslv2_hello(&b);
        let _ = x509::parse(&b);
        let _ = http::request(&b);
        let _ = http::response(&b);
        let _ = ssh::kexinit(&b);
        let mut q = QuicSession::default();
        let mut a = 0;
        let _ = q.datagram(&b, 0, &mut a);
        let _ = q.datagram(&b, 1, &mut a);
    }

    /// Arbitrary bytes through every session, in arbitrary pieces.
    #[test]
    fn sessions_take_arbitrary_streams(b in bytes(2000), cuts in proptest::collection::vec(any::<usize>(), 0..8), dir in 0usize..2) {
        let mut a = 0;
        let mut ev = Events::new();
        let (mut h, mut hm) = (HttpSession::default(), HttpMeta::default());
        feed(&b, &cuts, |x| h.parse(dir, x, &mut hm, &mut a, &mut ev));
        let (mut s, mut sm) = (SshSession::default(), SshMeta::default());
        feed(&b, &cuts, |x| s.parse(dir, x, &mut sm, &mut a, &mut ev));
        let (mut t, mut tm) = (TlsSession::default(), TlsMeta::default());
        feed(&b, &cuts, |x| t.parse(dir, x, &mut tm, &mut a, &mut ev));
        for proto in [AppProto::Ftp, AppProto::Telnet, AppProto::Pop3, AppProto::Imap, AppProto::Smtp, AppProto::Mysql, AppProto::Postgres, AppProto::Mssql] {
            let mut meta = AppMeta::default();
            if let Some(mut l) = AppSession::new(proto, &mut meta) {
                feed(&b, &cuts, |x| l.parse(dir, x, &mut meta, &mut ev));
            }
        }
        prop_assert!(hm.uri.as_ref().is_none_or(|u| u.len() <= http::MAX_URI));
        for e in ev.iter() {
            if let AppEvent::HttpRequest { uri, .. } = e {
                prop_assert!(uri.len() <= mekong_appmeta::event::MAX_FIELD);
            }
        }
    }

    /// HTTP metadata does not depend on how the two streams are cut.
    #[test]
    fn http_is_the_same_however_cut(c in proptest::collection::vec(any::<usize>(), 0..10), s in proptest::collection::vec(any::<usize>(), 0..10)) {
        let (whole, events) = http_meta(&[], &[]);
        prop_assert_eq!(whole.requests, 3);
        prop_assert_eq!(whole.responses, 3);
        prop_assert_eq!(whole.response_body_len, Some(2));
        // Every transaction is an event, the keep-alive ones too.
        prop_assert_eq!(events.len(), 6);
        prop_assert_eq!(http_meta(&c, &s), (whole, events));
    }

    /// The TLS session finds the same hello however the stream is cut.
    #[test]
    fn tls_is_the_same_however_cut(cuts in proptest::collection::vec(any::<usize>(), 0..10)) {
        let stream = mekong_testkit::app::record(22, &mekong_testkit::app::client_hello("cut.example"));
        let (mut t, mut meta, mut a) = (TlsSession::default(), TlsMeta::default(), 0);
        let mut ev = Events::new();
        prop_assert!(feed(&stream, &cuts, |x| t.parse(0, x, &mut meta, &mut a, &mut ev)));
        prop_assert_eq!(ev.len(), 1, "one ClientHello, one event");
        prop_assert_eq!(meta.sni.as_deref(), Some("cut.example"));
        prop_assert_eq!(meta.ja4.as_deref(), Some(mekong_testkit::app::JA4));
    }

    /// SSH banners and HASSH do not depend on how the stream is cut.
    #[test]
    fn ssh_is_the_same_however_cut(cuts in proptest::collection::vec(any::<usize>(), 0..10)) {
        let mut stream = b"SSH-2.0-client_1.0\r\n".to_vec();
        stream.extend(mekong_testkit::app::kexinit("curve25519-sha256", "aes128-ctr", "hmac-sha2-256", "none"));
        let (mut s, mut meta, mut a) = (SshSession::default(), SshMeta::default(), 0);
        let mut ev = Events::new();
        prop_assert!(feed(&stream, &cuts, |x| s.parse(0, x, &mut meta, &mut a, &mut ev)));
        prop_assert_eq!(ev.len(), 2, "a banner and a KEXINIT");
        prop_assert_eq!(meta.client_banner.as_deref(), Some("SSH-2.0-client_1.0"));
        prop_assert_eq!(meta.hassh.as_deref(), Some("e97d07603350d1111ec2b64bf25413c9"));
    }

    /// Mutated DNS messages parse or fail, never loop, and names stay bounded.
    #[test]
    fn mutated_dns_messages(flips in proptest::collection::vec((0usize..64, any::<u8>()), 0..8)) {
        let mut m = mekong_testkit::app::dns_header(1, 0x8180, 1, 1);
        mekong_testkit::app::dns_name(&mut m, "a.example.com");
        m.extend_from_slice(&[0, 1, 0, 1, 0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 9, 0, 2, 0xc0, 14]);
        for (i, v) in flips {
            if i < m.len() { m[i] ^= v; }
        }
        if let mekong_appmeta::Outcome::Parsed(msg) = dns::parse(&m) {
            for rr in msg.answers() {
                if let Some(t) = msg.render(&rr) {
                    prop_assert!(t.len() <= dns::MAX_TEXT_NAME.max(dns::MAX_TXT));
                }
            }
        }
    }
}
