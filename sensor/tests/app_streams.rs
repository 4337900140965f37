//! Application metadata from hand-built conversations: every expected value
//! is written into the packets here (names, versions, lists) or was
//! computed by hand from them with Python's hashlib (JA3, JA4 hashes,
//! HASSH, entropy), and each test covers one edge of stream handling.

use common::{config, Row};
use mekong_sensor::flow::table::SEC;
use mekong_sensor::pipeline::{run, RunConfig, RunSummary};
use mekong_testkit::app::*;
use mekong_testkit::build::*;
use mekong_testkit::{read_rows, Trace};
use serde_json::Value;

mod common;

const T0: u64 = 1_700_000_000 * SEC;
const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

fn run_with(t: &Trace, tweak: impl FnOnce(&mut RunConfig)) -> (Vec<Row>, RunSummary) {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("t.pcap");
    t.write_pcap(&pcap, 1);
    let mut cfg = config(dir.path(), &pcap);
    tweak(&mut cfg);
    let s = run(&cfg).unwrap();
    let rows = read_rows(&dir.path().join("out/flows"));
    (rows, s)
}

fn one(t: &Trace) -> Row {
    let (rows, _) = run_with(t, |_| {});
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().unwrap()
}

fn s<'a>(r: &'a Row, k: &str) -> Option<&'a str> {
    r.get(k).and_then(Value::as_str)
}

fn n(r: &Row, k: &str) -> Option<i64> {
    r.get(k).and_then(Value::as_i64)
}

fn list(r: &Row, k: &str) -> Vec<Value> {
    r.get(k)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A TCP connection from C to S, built packet by packet (1 ms apart).
struct Conn {
    t: Trace,
    now: u64,
    isn: [u32; 2],
    next: [u32; 2],
    ports: (u16, u16),
}

impl Conn {
    fn open(sport: u16, dport: u16) -> Conn {
        let mut c = Conn {
            t: Trace::new(),
            now: T0,
            isn: [1000, 500_000],
            next: [1001, 500_001],
            ports: (sport, dport),
        };
        c.push(0, 1000, syn(), b"");
        c.push(1, 500_000, syn_ack(1001), b"");
        c.push(0, 1001, ack(500_001), b"");
        c
    }

    fn push(&mut self, d: usize, seq: u32, f: Flags, payload: &[u8]) {
        self.now += 1_000_000;
        let (src, dst, sp, dp) = if d == 0 {
            (C, S, self.ports.0, self.ports.1)
        } else {
            (S, C, self.ports.1, self.ports.0)
        };
        self.t
            .push(self.now, tcp4(src, dst, sp, dp, seq, 65535, f, payload));
    }

    /// The next in-order segment of direction `d`.
    fn send(&mut self, d: usize, payload: &[u8]) {
        let seq = self.next[d];
        self.next[d] = seq.wrapping_add(payload.len() as u32);
        self.push(d, seq, psh_ack(self.next[1 - d]), payload);
    }

    /// A segment at `offset` bytes into direction `d`'s stream.
    fn at(&mut self, d: usize, offset: u32, payload: &[u8]) {
        let seq = self.isn[d].wrapping_add(1).wrapping_add(offset);
        self.push(d, seq, psh_ack(self.next[1 - d]), payload);
        let end = seq.wrapping_add(payload.len() as u32);
        if (end.wrapping_sub(self.next[d]) as i32) > 0 {
            self.next[d] = end;
        }
    }

    fn close(mut self) -> Trace {
        let (a, b) = (self.next[0], self.next[1]);
        self.push(0, a, fin_ack(b), b"");
        self.push(1, b, fin_ack(a + 1), b"");
        self.push(0, a + 1, ack(b + 1), b"");
        self.t
    }
}

fn assert_client_hello(r: &Row, sni: &str) {
    assert_eq!(s(r, "app_proto"), Some("tls"));
    assert_eq!(s(r, "tls_sni"), Some(sni));
    assert_eq!(s(r, "tls_ja4"), Some(JA4));
    assert_eq!(s(r, "tls_ja3"), Some(JA3));
    assert_eq!(
        list(r, "tls_client_versions"),
        vec![Value::from(0x0304), Value::from(0x0303)]
    );
    assert_eq!(
        list(r, "tls_alpn"),
        vec![Value::from("h2"), Value::from("http/1.1")]
    );
    assert_eq!(
        list(r, "tls_ciphers"),
        vec![Value::from(0x1301), Value::from(0xc02f)]
    );
    let exts: Vec<Value> = [0, 16, 43, 10, 11, 13]
        .into_iter()
        .map(Value::from)
        .collect();
    assert_eq!(list(r, "tls_extensions"), exts);
    assert_eq!(n(r, "app_anomalies"), Some(0));
}

#[test]
fn client_hello_in_one_segment_and_server_hello() {
    let mut c = Conn::open(50000, 443);
    c.send(0, &record(22, &client_hello("mekong.example")));
    c.send(1, &record(22, &server_hello()));
    let r = one(&c.close());
    assert_client_hello(&r, "mekong.example");
    assert_eq!(s(&r, "tls_ja3s"), Some(JA3S));
    assert_eq!(n(&r, "tls_server_version"), Some(0x0303));
    assert_eq!(n(&r, "tls_server_cipher"), Some(0xc02f));
}

#[test]
fn client_hello_split_across_segments() {
    let hello = record(22, &client_hello("split.example"));
    let mut c = Conn::open(50001, 443);
    c.send(0, &hello[..3]);
    c.send(0, &hello[3..60]);
    c.send(0, &hello[60..]);
    assert_client_hello(&one(&c.close()), "split.example");
}

#[test]
fn client_hello_split_across_records() {
    let msg = client_hello("records.example");
    let mut bytes = record(22, &msg[..40]);
    bytes.extend(record(22, &msg[40..]));
    let mut c = Conn::open(50002, 443);
    c.send(0, &bytes);
    assert_client_hello(&one(&c.close()), "records.example");
}

#[test]
fn out_of_order_and_retransmitted_segments() {
    let hello = record(22, &client_hello("ooo.example"));
    let mut c = Conn::open(50003, 443);
    c.at(0, 100, &hello[100..]);
    c.at(0, 40, &hello[40..100]);
    // A retransmission overlapping what waits, with other bytes: the first copy wins.
    let mut junk = hello[30..70].to_vec();
    junk[20..].fill(0xee);
    c.at(0, 30, &junk);
    c.at(0, 0, &hello[..30]);
    let r = one(&c.close());
    assert_client_hello(&r, "ooo.example");
}

#[test]
fn tls_is_recognised_on_any_port() {
    let mut c = Conn::open(50004, 4444);
    c.send(0, &record(22, &client_hello("c2.example")));
    assert_client_hello(&one(&c.close()), "c2.example");
}

#[test]
fn a_hole_that_never_fills_is_a_gap() {
    let hello = record(22, &client_hello("gap.example"));
    let mut c = Conn::open(50005, 443);
    c.at(0, 0, &hello[..20]);
    c.at(0, 50, &hello[50..]);
    let r = one(&c.close());
    assert_eq!(s(&r, "app_proto"), Some("tls"));
    assert!(s(&r, "tls_sni").is_none());
    assert_eq!(n(&r, "app_anomalies").unwrap() & 2, 2, "gap bit");
}

#[test]
fn the_buffer_budget_and_the_stream_depth_are_enforced() {
    let hello = record(22, &client_hello("budget.example"));
    let trace = || {
        let mut c = Conn::open(50006, 443);
        c.send(0, &hello[..30]);
        c.send(0, &hello[30..]);
        c.close()
    };
    // No room for the first segment's bytes to wait in.
    let (rows, sum) = run_with(&trace(), |cfg| cfg.flow.app.budget = 1);
    assert_eq!(n(&rows[0], "app_anomalies").unwrap() & 4, 4, "budget bit");
    assert!(rows[0]["tls_sni"].is_null());
    assert_eq!(sum.app.budget_exhausted, 1);
    // A hello longer than the stream depth.
    let (rows, sum) = run_with(&trace(), |cfg| cfg.flow.app.stream_depth = 64);
    assert_eq!(n(&rows[0], "app_anomalies").unwrap() & 4, 4, "budget bit");
    assert_eq!(sum.app.depth_exceeded, 1);
    // With the defaults, the same conversation parses.
    let (rows, sum) = run_with(&trace(), |_| {});
    assert_client_hello(&rows[0], "budget.example");
    assert!(sum.app.peak_buffer_bytes > 0);
}

#[test]
fn parsing_can_be_turned_off() {
    let mut c = Conn::open(50007, 443);
    c.send(0, &record(22, &client_hello("off.example")));
    let (rows, _) = run_with(&c.close(), |cfg| cfg.flow.app.enabled = false);
    assert!(rows[0]["app_proto"].is_null());
    assert!(rows[0]["tls_sni"].is_null());
    assert_eq!(n(&rows[0], "app_anomalies"), Some(0));
}

#[test]
fn pipelined_and_keep_alive_http() {
    let mut c = Conn::open(50008, 8080);
    // Two requests in one segment, then a HEAD and a POST whose body is
    // split across segments.
    c.send(
        0,
        b"GET /a?x=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/8.5.0\r\n\r\nGET /b HTTP/1.1\r\nHost: shop.example\r\n\r\n",
    );
    // Both responses in one segment: 5 bytes, then chunks of 3 and 4.
    c.send(
        1,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    );
    c.send(0, b"HEAD /c HTTP/1.1\r\nHost: shop.example\r\n\r\n");
    // A HEAD response announces a length but has no body.
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    c.send(
        0,
        b"POST /d HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 11\r\n\r\nhello",
    );
    c.send(0, b" world");
    c.send(1, b"HTTP/1.1 204 No Content\r\n\r\n");
    let r = one(&c.close());
    assert_eq!(s(&r, "app_proto"), Some("http"));
    assert_eq!(s(&r, "http_method"), Some("GET"));
    assert_eq!(s(&r, "http_uri"), Some("/a?x=1"));
    assert_eq!(s(&r, "http_host"), Some("shop.example"));
    assert_eq!(s(&r, "http_user_agent"), Some("curl/8.5.0"));
    assert_eq!(n(&r, "http_status"), Some(200));
    assert_eq!(s(&r, "http_content_type"), Some("text/html"));
    assert_eq!(n(&r, "http_request_body_len"), Some(0));
    assert_eq!(n(&r, "http_response_body_len"), Some(5));
    assert_eq!(n(&r, "http_requests"), Some(4));
    assert_eq!(n(&r, "http_responses"), Some(4));
    assert_eq!(n(&r, "app_anomalies"), Some(0));
}

#[test]
fn http_bodies_counted_until_the_connection_closes() {
    let mut c = Conn::open(50009, 80);
    c.send(0, b"POST /up HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    c.send(
        1,
        b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n0123456789",
    );
    c.send(1, b"0123456789");
    let r = one(&c.close());
    assert_eq!(n(&r, "http_request_body_len"), Some(3));
    assert_eq!(n(&r, "http_response_body_len"), Some(20));
    assert!(r["http_host"].is_null(), "no Host header");
}

#[test]
fn long_uris_are_cut_and_flagged() {
    let uri = format!("/{}", "a".repeat(600));
    let mut c = Conn::open(50010, 80);
    c.send(
        0,
        format!("GET {uri} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
    );
    let r = one(&c.close());
    assert_eq!(s(&r, "http_uri").map(str::len), Some(512));
    assert_eq!(n(&r, "app_anomalies").unwrap() & 8, 8, "truncated bit");
}

#[test]
fn ssh_banners_and_hassh() {
    let mut c = Conn::open(50011, 2222);
    c.send(1, b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n");
    c.send(0, b"SSH-2.0-paramiko_3.4.0\r\n");
    let k = kexinit("curve25519-sha256", "aes128-ctr", "hmac-sha2-256", "none");
    c.send(0, &k[..100]);
    c.send(0, &k[100..]);
    c.send(
        1,
        &kexinit(
            "curve25519-sha256",
            "chacha20-poly1305@openssh.com",
            "umac-64@openssh.com",
            "zlib@openssh.com",
        ),
    );
    let r = one(&c.close());
    assert_eq!(s(&r, "app_proto"), Some("ssh"));
    assert_eq!(s(&r, "ssh_client_banner"), Some("SSH-2.0-paramiko_3.4.0"));
    assert_eq!(
        s(&r, "ssh_server_banner"),
        Some("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13")
    );
    // md5("curve25519-sha256;aes128-ctr;hmac-sha2-256;none")
    assert_eq!(s(&r, "ssh_hassh"), Some("e97d07603350d1111ec2b64bf25413c9"));
    // md5("curve25519-sha256;chacha20-poly1305@openssh.com;umac-64@openssh.com;zlib@openssh.com")
    assert_eq!(
        s(&r, "ssh_hassh_server"),
        Some("ac115f62be3ffb3623be8b731e993453")
    );
}

fn udp_pair(t: &mut Trace, at: u64, query: &[u8], response: &[u8]) {
    t.push(at, udp4(C, S, 40000, 53, query));
    t.push(at + 1_000_000, udp4(S, C, 53, 40000, response));
}

#[test]
fn dns_compression_pointers() {
    let mut q = dns_header(0x1234, 0x0100, 1, 0);
    dns_name(&mut q, "www.example.com");
    q.extend_from_slice(&[0, 1, 0, 1]);
    // The response repeats the question (offset 12) and answers:
    //   ptr(12) CNAME "cdn" + ptr(16, "example.com")    TTL 300
    //   ptr(cname rdata) A 93.184.216.34               TTL 60
    let mut r = dns_header(0x1234, 0x8180, 1, 2);
    dns_name(&mut r, "www.example.com");
    r.extend_from_slice(&[0, 1, 0, 1]);
    r.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0x01, 0x2c, 0, 6]);
    let cname_at = r.len();
    r.extend_from_slice(&[3, b'c', b'd', b'n', 0xc0, 16]);
    r.extend_from_slice(&[
        0xc0,
        cname_at as u8,
        0,
        1,
        0,
        1,
        0,
        0,
        0,
        60,
        0,
        4,
        93,
        184,
        216,
        34,
    ]);
    let mut t = Trace::new();
    udp_pair(&mut t, T0, &q, &r);
    let row = one(&t);
    assert_eq!(s(&row, "app_proto"), Some("dns"));
    assert_eq!(s(&row, "dns_query"), Some("www.example.com"));
    assert_eq!(n(&row, "dns_qtype"), Some(1));
    assert_eq!(n(&row, "dns_qclass"), Some(1));
    assert_eq!(n(&row, "dns_rcode"), Some(0));
    assert_eq!(n(&row, "dns_answer_count"), Some(2));
    assert_eq!(
        list(&row, "dns_answers"),
        vec![Value::from("cdn.example.com"), Value::from("93.184.216.34")]
    );
    assert_eq!(n(&row, "dns_min_ttl"), Some(60));
    assert_eq!(n(&row, "dns_queries"), Some(1));
    assert_eq!(n(&row, "dns_qname_len"), Some(15));
    assert_eq!(n(&row, "dns_qname_labels"), Some(3));
    assert_eq!(n(&row, "app_anomalies"), Some(0));
}

#[test]
fn dns_pointer_loops_are_malformed_and_end() {
    // A question name that points at itself, and one that points forward
    // to a pointer back to it.
    let mut q1 = dns_header(1, 0x0100, 1, 0);
    q1.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let mut q2 = dns_header(2, 0x0100, 1, 0);
    q2.extend_from_slice(&[0xc0, 14, 0xc0, 12, 0, 1, 0, 1]);
    let mut t = Trace::new();
    t.push(T0, udp4(C, S, 40001, 53, &q1));
    t.push(T0 + SEC, udp4(C, S, 40001, 53, &q2));
    let row = one(&t);
    assert_eq!(s(&row, "app_proto"), Some("dns"));
    assert!(row["dns_query"].is_null());
    assert_eq!(n(&row, "app_anomalies"), Some(1), "malformed bit");
}

#[test]
fn dns_counts_and_name_statistics() {
    let mut t = Trace::new();
    for (i, qn) in [
        "aaaa.bbbb.example.com",
        "aaaa.bbbb.example.com",
        "other.example.com",
    ]
    .iter()
    .enumerate()
    {
        let mut q = dns_header(i as u16, 0x0100, 1, 0);
        dns_name(&mut q, qn);
        q.extend_from_slice(&[0, 16, 0, 1]);
        t.push(T0 + i as u64 * SEC, udp4(C, S, 40002, 53, &q));
    }
    let row = one(&t);
    assert_eq!(s(&row, "dns_query"), Some("aaaa.bbbb.example.com"));
    assert_eq!(n(&row, "dns_qtype"), Some(16));
    assert_eq!(n(&row, "dns_queries"), Some(3));
    assert_eq!(n(&row, "dns_distinct_names"), Some(2));
    assert_eq!(n(&row, "dns_qname_len"), Some(21));
    assert_eq!(n(&row, "dns_qname_labels"), Some(4));
    // Python: entropy of "aaaabbbbexamplecom" in bits per character.
    let e = row["dns_qname_entropy"].as_f64().unwrap();
    assert!((e - 2.858278308418045).abs() < 1e-12, "{e}");
    assert!(row["dns_rcode"].is_null(), "no response seen");
}

#[test]
fn dns_over_tcp() {
    let mut q = dns_header(7, 0x0100, 1, 0);
    dns_name(&mut q, "tcp.example");
    q.extend_from_slice(&[0, 28, 0, 1]);
    let mut framed = u16be(q.len()).to_vec();
    framed.extend_from_slice(&q);
    let mut c = Conn::open(50012, 53);
    c.send(0, &framed[..1]);
    c.send(0, &framed[1..]);
    let r = one(&c.close());
    assert_eq!(s(&r, "app_proto"), Some("dns"));
    assert_eq!(s(&r, "dns_query"), Some("tcp.example"));
    assert_eq!(n(&r, "dns_qtype"), Some(28));
}

#[test]
fn quic_version_2_initial_is_decrypted() {
    let pcap = mekong_testkit::shared_pcaps().join("benign/zeek_quicv2-http3-443.pcap");
    let dir = tempfile::tempdir().unwrap();
    let (_, rows) = common::records(dir.path(), &pcap).expect("the capture reads");
    let quic: Vec<&Row> = rows
        .iter()
        .filter(|r| s(r, "app_proto") == Some("quic"))
        .collect();
    assert!(!quic.is_empty());
    for r in quic {
        assert_eq!(n(r, "quic_version"), Some(0x6b33_43cf));
        // The client connects to 127.0.0.1 without a server name.
        assert!(r["tls_sni"].is_null());
        assert!(s(r, "tls_ja4").is_some_and(|j| j.starts_with("q13i")));
        // tshark's JA3S of the server's Initial (frame 2).
        assert_eq!(s(r, "tls_ja3s"), Some("f4febc55ea12b31ae17cfb7e614afda8"));
        assert_eq!(n(r, "tls_server_version"), Some(0x0304));
    }
}

#[test]
fn many_half_sent_messages_stay_within_the_budget() {
    // 5,000 connections each send the first 30 bytes of a ClientHello and
    // stop: each would hold a buffer; the budget holds seven.
    let hello = record(22, &client_hello("many.example"));
    let mut t = Trace::new();
    for k in 0..5_000u32 {
        let c = [10, 1, (k >> 8) as u8, k as u8];
        let at = T0 + u64::from(k) * 1_000;
        t.push(at, tcp4(c, S, 40000, 443, 1000, 65535, syn(), b""));
        t.push(
            at + 500,
            tcp4(c, S, 40000, 443, 1001, 65535, psh_ack(1), &hello[..30]),
        );
    }
    let budget = 64 * 1024;
    let (rows, sum) = run_with(&t, |cfg| cfg.flow.app.budget = budget);
    assert_eq!(rows.len(), 5_000);
    let app = sum.app;
    assert!(app.peak_buffer_bytes <= budget as u64, "{app:?}");
    // Buffers are 8 KiB of data plus the 1 KiB bitmap a waiting ring needs.
    let held = budget / (8192 + 1024);
    assert_eq!(app.budget_exhausted, 5_000 - held as u64, "{app:?}");
    let flagged = rows
        .iter()
        .filter(|r| n(r, "app_anomalies").unwrap() & 4 == 4)
        .count();
    assert_eq!(flagged, 5_000 - held);
}
