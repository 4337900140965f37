//! Hand-built packet sequences whose every feature was computed by hand,
//! run through the whole sensor (pcap file → Parquet) and read back.

use std::path::Path;
use std::sync::Arc;

use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::table::SEC;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, RunConfig};
use mekong_testkit::build::*;
use mekong_testkit::{read_rows, Trace};
use serde_json::{Map, Value};

type Row = Map<String, Value>;

const T0: u64 = 1_700_000_000 * SEC;
const MS: u64 = 1_000_000;
const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

fn config(dir: &Path, pcap: &Path) -> RunConfig {
    RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers: 1,
        flow: FlowConfig {
            sensor_id: Arc::from("test"),
            ..FlowConfig::default()
        },
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(dir.join("out"), "test".into()),
        progress: false,
        detect: Some(Default::default()),
    }
}

fn run_trace_with(t: &Trace, tweak: impl FnOnce(&mut RunConfig)) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("t.pcap");
    t.write_pcap(&pcap, 1);
    let mut cfg = config(dir.path(), &pcap);
    tweak(&mut cfg);
    let s = run(&cfg).unwrap();
    let mut rows = read_rows(&dir.path().join("out/flows"));
    assert_eq!(rows.len() as u64, s.output.records);
    rows.sort_by_key(|r| (i(r, "first_ts"), i(r, "piece")));
    rows
}

fn run_trace(t: &Trace) -> Vec<Row> {
    run_trace_with(t, |_| {})
}

fn i(r: &Row, k: &str) -> i64 {
    r.get(k)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{k} is {:?}", r.get(k)))
}

fn f(r: &Row, k: &str) -> f64 {
    r.get(k)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{k} is {:?}", r.get(k)))
}

fn s<'a>(r: &'a Row, k: &str) -> &'a str {
    r.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{k} is {:?}", r.get(k)))
}

fn null(r: &Row, k: &str) -> bool {
    r.get(k).is_none_or(Value::is_null)
}

fn list(r: &Row, k: &str) -> Vec<i64> {
    r[k].as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6 * b.abs().max(1.0)
}

/// The reference connection: handshake, one request, one response, FIN both ways.
fn reference() -> Trace {
    let mut t = Trace::new();
    let p = |ms: u64, fr: Vec<u8>, t: &mut Trace| {
        t.push(T0 + ms * MS, fr);
    };
    p(0, tcp4(C, S, 40000, 80, 1000, 64240, syn(), b""), &mut t);
    p(
        10,
        tcp4(S, C, 80, 40000, 5000, 65535, syn_ack(1001), b""),
        &mut t,
    );
    p(20, tcp4(C, S, 40000, 80, 1001, 502, ack(5001), b""), &mut t);
    p(
        30,
        tcp4(C, S, 40000, 80, 1001, 502, psh_ack(5001), &[b'a'; 100]),
        &mut t,
    );
    p(50, tcp4(S, C, 80, 40000, 5001, 501, ack(1101), b""), &mut t);
    p(
        60,
        tcp4(S, C, 80, 40000, 5001, 501, psh_ack(1101), &[b'b'; 1000]),
        &mut t,
    );
    p(70, tcp4(C, S, 40000, 80, 1101, 502, ack(6001), b""), &mut t);
    p(
        80,
        tcp4(C, S, 40000, 80, 1101, 502, fin_ack(6001), b""),
        &mut t,
    );
    p(
        90,
        tcp4(S, C, 80, 40000, 6001, 501, fin_ack(1102), b""),
        &mut t,
    );
    p(
        100,
        tcp4(C, S, 40000, 80, 1102, 502, ack(6002), b""),
        &mut t,
    );
    t
}

#[test]
fn handshake_data_teardown_every_feature() {
    let rows = run_trace(&reference());
    assert_eq!(rows.len(), 1, "the final ACK stays in the flow");
    let r = &rows[0];
    assert_eq!(
        (
            s(r, "orig_addr"),
            i(r, "orig_port"),
            s(r, "resp_addr"),
            i(r, "resp_port")
        ),
        ("10.0.0.1", 40000, "10.0.0.2", 80)
    );
    assert_eq!(
        (i(r, "ip_version"), i(r, "proto"), i(r, "piece")),
        (4, 6, 0)
    );
    assert_eq!(r["continues"], Value::Bool(false));
    assert_eq!(i(r, "first_ts"), (T0 / 1000) as i64);
    assert_eq!(i(r, "duration_us"), 100_000);
    // Counts: 54-byte frames without payload (14 Ethernet + 20 IP + 20 TCP).
    assert_eq!((i(r, "orig_pkts"), i(r, "resp_pkts")), (6, 4));
    assert_eq!(
        (i(r, "orig_wire_bytes"), i(r, "resp_wire_bytes")),
        (5 * 54 + 154, 3 * 54 + 1054)
    );
    assert_eq!(
        (i(r, "orig_ip_bytes"), i(r, "resp_ip_bytes")),
        (5 * 40 + 140, 3 * 40 + 1040)
    );
    assert_eq!(
        (i(r, "orig_payload_bytes"), i(r, "resp_payload_bytes")),
        (100, 1000)
    );
    assert_eq!(
        (i(r, "orig_l4_header_bytes"), i(r, "resp_l4_header_bytes")),
        (120, 80)
    );
    assert_eq!(
        (i(r, "orig_l4_header_min"), i(r, "orig_payload_pkts")),
        (20, 1)
    );
    assert_eq!(
        (
            i(r, "orig_syn"),
            i(r, "orig_ack"),
            i(r, "orig_fin"),
            i(r, "orig_psh"),
            i(r, "orig_rst")
        ),
        (1, 5, 1, 1, 0)
    );
    assert_eq!(
        (
            i(r, "resp_syn"),
            i(r, "resp_ack"),
            i(r, "resp_fin"),
            i(r, "resp_psh")
        ),
        (1, 4, 1, 1)
    );
    assert_eq!(
        (i(r, "orig_init_win"), i(r, "resp_init_win")),
        (64240, 65535)
    );
    assert_eq!(
        (
            i(r, "orig_retrans"),
            i(r, "orig_ooo"),
            i(r, "orig_zero_win")
        ),
        (0, 0, 0)
    );
    // Gaps (µs): all packets 10,10,10,20,10,10,10,10,10 ms.
    assert_eq!(
        (i(r, "flow_iat_min_us"), i(r, "flow_iat_max_us")),
        (10_000, 20_000)
    );
    assert!(close(f(r, "flow_iat_mean_us"), 100_000.0 / 9.0));
    assert!(close(f(r, "flow_iat_std_us"), (8e8f64 / 72.0).sqrt()));
    // Originator gaps 20,10,40,10,20 ms; responder 40,10,30 ms.
    assert!(close(f(r, "orig_iat_mean_us"), 20_000.0));
    assert!(close(f(r, "orig_iat_std_us"), 1.5e8f64.sqrt()));
    assert_eq!(
        (i(r, "resp_iat_min_us"), i(r, "resp_iat_max_us")),
        (10_000, 40_000)
    );
    assert!(close(f(r, "resp_iat_std_us"), (1.4e9f64 / 6.0).sqrt()));
    // Payload lengths: originator [0,0,0,100,0,0], responder [0,0,1000,0].
    assert_eq!(
        (i(r, "orig_payload_len_min"), i(r, "orig_payload_len_max")),
        (0, 100)
    );
    assert!(close(f(r, "orig_payload_len_mean"), 100.0 / 6.0));
    assert!(close(
        f(r, "orig_payload_len_std"),
        (50_000f64 / 30.0).sqrt()
    ));
    assert!(close(f(r, "resp_payload_len_std"), 500.0));
    assert!(close(f(r, "flow_payload_len_mean"), 110.0));
    assert!(close(
        f(r, "flow_payload_len_std"),
        (8_890_000f64 / 90.0).sqrt()
    ));
    // One active period of 100 ms, no idle period, one subflow, no bulk.
    assert_eq!(
        (i(r, "active_min_us"), i(r, "active_max_us")),
        (100_000, 100_000)
    );
    assert!(null(r, "active_std_us") && null(r, "idle_min_us"));
    assert_eq!(
        (i(r, "subflows"), i(r, "orig_bulks"), i(r, "resp_bulks")),
        (1, 0, 0)
    );
    assert_eq!(
        list(r, "splt_len"),
        vec![40, -40, 40, 140, -40, -1040, 40, 40, -40, 40]
    );
    assert_eq!(
        list(r, "splt_iat_us"),
        vec![0, 10_000, 10_000, 10_000, 20_000, 10_000, 10_000, 10_000, 10_000, 10_000]
    );
    assert_eq!(
        list(r, "splt_flags"),
        vec![0x02, 0x12, 0x10, 0x18, 0x10, 0x18, 0x10, 0x11, 0x11, 0x10]
    );
    assert_eq!(
        (s(r, "conn_state"), s(r, "history"), s(r, "end_reason")),
        ("SF", "ShADadFf", "tcp_close")
    );
    assert_eq!(i(r, "anomalies"), 0);
    assert!(null(r, "vlan") && null(r, "tunnel_type") && null(r, "icmp_id"));
    assert_eq!(s(r, "sensor_id"), "test");
}

#[test]
fn community_id_agrees_with_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("ref.pcap");
    let mut t = reference();
    t.push(T0 + 200 * MS, udp4(C, S, 5353, 53, b"q"));
    t.push(T0 + 210 * MS, icmp4_echo(C, S, 7, 1, false, b"ping"));
    t.push(T0 + 211 * MS, icmp4_echo(S, C, 7, 1, true, b"ping"));
    t.write_pcap(&pcap, 1);
    let out = mekong_testkit::tshark()
        .arg("-r")
        .arg(&pcap)
        .args([
            "--enable-protocol",
            "communityid",
            "-T",
            "fields",
            "-e",
            "communityid",
        ])
        .output()
        .unwrap();
    let theirs: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let cfg = config(dir.path(), &pcap);
    run(&cfg).unwrap();
    let ours: std::collections::BTreeSet<String> = read_rows(&dir.path().join("out/flows"))
        .iter()
        .map(|r| s(r, "community_id").to_string())
        .collect();
    assert_eq!(ours.len(), 3);
    assert_eq!(ours, theirs);
}

#[test]
fn rejected_connection() {
    let mut t = Trace::new();
    t.push(T0, tcp4(C, S, 40001, 23, 77, 1024, syn(), b""));
    t.push(T0 + MS, tcp4(S, C, 23, 40001, 0, 0, rst_ack(78), b""));
    let r = &run_trace(&t)[0];
    assert_eq!((i(r, "orig_pkts"), i(r, "resp_pkts")), (1, 1));
    assert_eq!(
        (s(r, "conn_state"), s(r, "history"), s(r, "end_reason")),
        ("REJ", "Sr", "tcp_close")
    );
    assert_eq!(
        i(r, "resp_zero_win"),
        0,
        "a RST's zero window is not a zero-window advertisement"
    );
}

#[test]
fn retransmission_and_out_of_order() {
    let mut t = Trace::new();
    let d = |seq: u32| tcp4(C, S, 40002, 80, seq, 502, psh_ack(5001), &[0u8; 100]);
    t.push(T0, tcp4(C, S, 40002, 80, 1000, 64240, syn(), b""));
    t.push(
        T0 + MS,
        tcp4(S, C, 80, 40002, 5000, 65535, syn_ack(1001), b""),
    );
    t.push(
        T0 + 2 * MS,
        tcp4(C, S, 40002, 80, 1001, 502, ack(5001), b""),
    );
    t.push(T0 + 3 * MS, d(1001));
    t.push(T0 + 4 * MS, d(1101));
    t.push(T0 + 5 * MS, d(1001)); // seen already: retransmission
    t.push(T0 + 6 * MS, d(1301)); // leaves 1201..1301 missing
    t.push(T0 + 7 * MS, d(1201)); // fills the gap: out of order
    let r = &run_trace(&t)[0];
    assert_eq!((i(r, "orig_retrans"), i(r, "orig_ooo")), (1, 1));
    assert!(s(r, "history").contains('T'));
    assert_eq!(i(r, "orig_payload_bytes"), 500);
}

#[test]
fn idle_timeout_splits_and_one_packet_flows_are_kept() {
    let mut t = Trace::new();
    t.push(T0, udp4(C, S, 5000, 53, b"a"));
    t.push(T0 + 61 * SEC, udp4(C, S, 5000, 53, b"b"));
    let rows = run_trace(&t);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (s(&rows[0], "end_reason"), i(&rows[0], "orig_pkts")),
        ("idle", 1)
    );
    assert_eq!(s(&rows[1], "end_reason"), "eof");
    assert_ne!(i(&rows[0], "flow_uid"), i(&rows[1], "flow_uid"));
    let mut u = Trace::new();
    u.push(T0, udp4(C, S, 5000, 53, b"a"));
    u.push(T0 + 59 * SEC, udp4(C, S, 5000, 53, b"b"));
    assert_eq!(run_trace(&u).len(), 1);
    // A single SYN: a record of one packet, state S0, no statistics of gaps.
    let mut v = Trace::new();
    v.push(T0, tcp4(C, S, 40003, 445, 1, 1024, syn(), b""));
    let r = &run_trace(&v)[0];
    assert_eq!(
        (
            i(r, "orig_pkts"),
            i(r, "resp_pkts"),
            s(r, "conn_state"),
            i(r, "duration_us")
        ),
        (1, 0, "S0", 0)
    );
    assert!(
        null(r, "flow_iat_mean_us")
            && null(r, "orig_payload_len_std")
            && null(r, "resp_payload_len_min")
    );
}

#[test]
fn active_timeout_cuts_pieces_with_stable_direction() {
    let a = [10, 0, 0, 10];
    let b = [10, 0, 0, 20];
    let mut t = Trace::new();
    for k in 0..11u64 {
        let fr = if k % 2 == 0 {
            udp4(a, b, 7000, 7001, b"x")
        } else {
            udp4(b, a, 7001, 7000, b"y")
        };
        t.push(T0 + k * 10 * SEC, fr);
    }
    let rows = run_trace_with(&t, |c| c.flow.active_ns = 30 * SEC);
    assert_eq!(rows.len(), 4);
    let uid = i(&rows[0], "flow_uid");
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(i(r, "piece"), k as i64);
        assert_eq!(i(r, "flow_uid"), uid);
        assert_eq!(
            s(r, "orig_addr"),
            "10.0.0.10",
            "the originator stays the same in every piece"
        );
        assert_eq!(r["continues"], Value::Bool(k < 3));
        assert_eq!(s(r, "end_reason"), if k < 3 { "active" } else { "eof" });
    }
    // Piece 1 holds t = 30 s (from b), 40 s (from a), 50 s (from b).
    assert_eq!((i(&rows[1], "orig_pkts"), i(&rows[1], "resp_pkts")), (1, 2));
    assert_eq!(i(&rows[1], "first_ts"), ((T0 + 30 * SEC) / 1000) as i64);
    assert_eq!(i(&rows[3], "orig_pkts") + i(&rows[3], "resp_pkts"), 2);
}

#[test]
fn vlan_tags_separate_flows() {
    let mut t = Trace::new();
    t.push(T0, udp4(C, S, 6000, 6001, b"plain"));
    t.push(T0 + MS, udp4_vlan(10, None, C, S, 6000, 6001, b"tagged"));
    t.push(
        T0 + 2 * MS,
        udp4_vlan(100, Some(200), C, S, 6000, 6001, b"qinq"),
    );
    let rows = run_trace(&t);
    assert_eq!(rows.len(), 3);
    assert!(null(&rows[0], "vlan"));
    assert_eq!(i(&rows[1], "vlan"), 10);
    assert!(null(&rows[1], "inner_vlan"));
    assert_eq!((i(&rows[2], "vlan"), i(&rows[2], "inner_vlan")), (100, 200));
    assert_eq!(i(&rows[2], "orig_wire_bytes"), 14 + 8 + 20 + 8 + 4);
}

#[test]
fn ipv6_with_extension_headers() {
    let a: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let b: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let mut t = Trace::new();
    t.push(T0, tcp6_with_extensions(a, b, 50000, 443, 10, syn(), b""));
    t.push(
        T0 + MS,
        tcp6_with_extensions(b, a, 443, 50000, 90, syn_ack(11), b""),
    );
    t.push(
        T0 + 2 * MS,
        tcp6_with_extensions(a, b, 50000, 443, 11, psh_ack(91), &[1; 30]),
    );
    t.push(
        T0 + 3 * MS,
        tcp6_with_extensions(a, b, 50000, 443, 41, fin_ack(91), b""),
    );
    t.push(
        T0 + 4 * MS,
        tcp6_with_extensions(b, a, 443, 50000, 91, fin_ack(42), b""),
    );
    let r = &run_trace(&t)[0];
    assert_eq!(
        (i(r, "ip_version"), s(r, "orig_addr"), i(r, "resp_port")),
        (6, "2001:db8::1", 443)
    );
    // IP bytes: 40 fixed + 16 of extensions + 20 TCP (+ 30 payload once).
    assert_eq!(i(r, "orig_ip_bytes"), 3 * 76 + 30);
    assert_eq!(
        (i(r, "orig_payload_bytes"), i(r, "orig_l4_header_bytes")),
        (30, 60)
    );
    assert_eq!(
        (s(r, "conn_state"), s(r, "end_reason"), i(r, "anomalies")),
        ("SF", "tcp_close", 0)
    );
}

#[test]
fn fragments_in_and_out_of_order() {
    let payload: Vec<u8> = (0..2992u32).map(|x| x as u8).collect();
    let l4 = udp_bytes4(C, S, 4000, 4001, &payload);
    let frags = ipv4_fragments(C, S, 17, 0x1234, &l4, 1480);
    assert_eq!(frags.len(), 3);
    let mut t = Trace::new();
    // Out of order: last, first, middle.
    t.push(T0, frags[2].clone());
    t.push(T0 + MS, frags[0].clone());
    t.push(T0 + 2 * MS, frags[1].clone());
    // In order, a second datagram.
    let frags2 = ipv4_fragments(C, S, 17, 0x1235, &l4, 1480);
    for (k, fr) in frags2.iter().enumerate() {
        t.push(T0 + (10 + k as u64) * MS, fr.clone());
    }
    t.push(T0 + 20 * MS, udp4(S, C, 4001, 4000, &[7; 100]));
    let rows = run_trace(&t);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (i(r, "orig_pkts"), i(r, "orig_frags"), i(r, "resp_pkts")),
        (6, 6, 1)
    );
    assert_eq!(i(r, "orig_payload_bytes"), 2 * 2992);
    assert_eq!(i(r, "orig_ip_bytes"), 2 * (3 * 20 + 3000));
    assert_eq!(
        i(r, "orig_wire_bytes"),
        2 * (2 * (14 + 20 + 1480) + (14 + 20 + 40))
    );
    assert_eq!(
        i(r, "first_ts"),
        (T0 / 1000) as i64,
        "the flow starts at its first fragment"
    );
    assert_eq!((i(r, "orig_port"), i(r, "resp_port")), (4000, 4001));
}

#[test]
fn tunnels_are_keyed_on_the_inner_packet() {
    let inner_a = [192, 168, 1, 1];
    let inner_b = [192, 168, 1, 2];
    let (ta, tb) = ([10, 9, 0, 1], [10, 9, 0, 2]);
    let mut t = Trace::new();
    let syn_f = tcp4(inner_a, inner_b, 5000, 80, 1, 1000, syn(), b"");
    let sa_f = tcp4(inner_b, inner_a, 80, 5000, 9, 1000, syn_ack(2), b"");
    t.push(T0, vxlan(ta, tb, 42, &syn_f));
    t.push(T0 + MS, vxlan(tb, ta, 42, &sa_f));
    t.push(
        T0 + 2 * MS,
        gre_ipv4(
            ta,
            tb,
            7,
            &tcp4(inner_a, inner_b, 6000, 22, 1, 1000, syn(), b""),
        ),
    );
    let rows = run_trace(&t);
    assert_eq!(rows.len(), 2);
    let v = &rows[0];
    assert_eq!(
        (s(v, "orig_addr"), s(v, "resp_addr"), i(v, "resp_port")),
        ("192.168.1.1", "192.168.1.2", 80)
    );
    assert_eq!(
        (
            s(v, "tunnel_type"),
            s(v, "tunnel_outer_src"),
            s(v, "tunnel_outer_dst"),
            i(v, "tunnel_id")
        ),
        ("vxlan", "10.9.0.1", "10.9.0.2", 42)
    );
    assert_eq!(
        (i(v, "orig_pkts"), i(v, "resp_pkts"), s(v, "conn_state")),
        (1, 1, "S1")
    );
    assert_eq!(
        i(v, "orig_wire_bytes"),
        (syn_f.len() + 14 + 20 + 8 + 8) as i64
    );
    let g = &rows[1];
    assert_eq!(
        (s(g, "tunnel_type"), i(g, "tunnel_id"), i(g, "resp_port")),
        ("gre", 7, 22)
    );
}

#[test]
fn non_monotonic_timestamps_never_give_negative_gaps() {
    let mut t = Trace::new();
    t.push(T0 + 10 * SEC, udp4(C, S, 9000, 9001, b"1"));
    t.push(T0 + 5 * SEC, udp4(C, S, 9000, 9001, b"2"));
    t.push(T0 + 20 * SEC, udp4(C, S, 9000, 9001, b"3"));
    let r = &run_trace(&t)[0];
    assert_eq!(i(r, "orig_pkts"), 3);
    assert_ne!(
        i(r, "anomalies") & i64::from(mekong_schema::anomaly::TIME_BACKWARDS),
        0
    );
    assert_eq!(
        (i(r, "flow_iat_min_us"), i(r, "flow_iat_max_us")),
        (0, 10_000_000)
    );
    assert_eq!(i(r, "duration_us"), 10_000_000);
}

// CICFlowMeter's documented bugs (../shared/FEATURES.md §1), one test each.

#[test]
fn cic01_first_fin_does_not_end_the_flow() {
    // Half close: the client sends FIN, the server keeps sending, then closes.
    let mut t = Trace::new();
    t.push(T0, tcp4(C, S, 41000, 80, 1, 64240, syn(), b""));
    t.push(T0 + MS, tcp4(S, C, 80, 41000, 9, 65535, syn_ack(2), b""));
    t.push(T0 + 2 * MS, tcp4(C, S, 41000, 80, 2, 502, fin_ack(10), b""));
    t.push(
        T0 + 3 * MS,
        tcp4(S, C, 80, 41000, 10, 501, psh_ack(3), &[0; 50]),
    );
    t.push(T0 + 4 * MS, tcp4(C, S, 41000, 80, 3, 502, ack(60), b""));
    t.push(T0 + 5 * MS, tcp4(S, C, 80, 41000, 60, 501, fin_ack(3), b""));
    t.push(T0 + 6 * MS, tcp4(C, S, 41000, 80, 3, 502, ack(61), b""));
    let rows = run_trace(&t);
    assert_eq!(rows.len(), 1);
    assert_eq!((i(&rows[0], "orig_pkts"), i(&rows[0], "resp_pkts")), (4, 3));
    assert_eq!(s(&rows[0], "conn_state"), "SF");
}

#[test]
fn cic02_idle_flows_expire_on_idle_timeout() {
    let mut t = Trace::new();
    t.push(T0, udp4(C, S, 1, 2, b"a"));
    t.push(T0 + 100 * SEC, udp4([10, 0, 0, 9], S, 3, 4, b"b"));
    let rows = run_trace(&t);
    assert_eq!(s(&rows[0], "end_reason"), "idle");
}

#[test]
fn cic03_one_packet_flows_are_records() {
    let mut t = Trace::new();
    for k in 0..50u16 {
        t.push(
            T0 + u64::from(k) * MS,
            tcp4(C, S, 30000 + k, 80 + k, 1, 1024, syn(), b""),
        );
    }
    let rows = run_trace(&t);
    assert_eq!(rows.len(), 50);
    assert!(rows
        .iter()
        .all(|r| i(r, "orig_pkts") == 1 && s(r, "conn_state") == "S0"));
}

#[test]
fn cic04_capture_starting_with_syn_ack_keeps_roles() {
    let mut t = Trace::new();
    t.push(T0, tcp4(S, C, 80, 42000, 9, 65535, syn_ack(2), b""));
    t.push(
        T0 + MS,
        tcp4(C, S, 42000, 80, 2, 502, psh_ack(10), &[1; 10]),
    );
    t.push(
        T0 + 2 * MS,
        tcp4(S, C, 80, 42000, 10, 501, psh_ack(12), &[2; 20]),
    );
    let r = &run_trace(&t)[0];
    assert_eq!(
        (s(r, "orig_addr"), i(r, "orig_port"), i(r, "resp_port")),
        ("10.0.0.1", 42000, 80)
    );
    assert_eq!(
        (i(r, "orig_payload_bytes"), i(r, "resp_payload_bytes")),
        (10, 20)
    );
    assert!(s(r, "history").starts_with("^h"), "{}", s(r, "history"));
}

#[test]
fn cic05_ipv6_tcp_flags_and_termination() {
    // Covered in detail by ipv6_with_extension_headers; here plain IPv6 and RST.
    let a: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let b: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let mut t = Trace::new();
    t.push(T0, tcp6_with_extensions(a, b, 1, 2, 5, syn(), b""));
    let mut rst = tcp6_with_extensions(b, a, 2, 1, 0, Flags::default(), b"");
    // Turn the bare segment into RST-ACK (flags byte) and fix its checksum by rebuilding.
    let tcp_off = 14 + 40 + 16;
    rst[tcp_off + 13] = 0x14;
    let mut sum: u32 = 0;
    let mut add = |d: &[u8]| {
        for c in d.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    rst[tcp_off + 16] = 0;
    rst[tcp_off + 17] = 0;
    add(&b);
    add(&a);
    add(&(20u32).to_be_bytes());
    add(&[0, 0, 0, 6]);
    add(&rst[tcp_off..]);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    rst[tcp_off + 16..tcp_off + 18].copy_from_slice(&c.to_be_bytes());
    t.push(T0 + MS, rst);
    let r = &run_trace(&t)[0];
    assert_eq!((i(r, "orig_syn"), i(r, "resp_rst")), (1, 1));
    assert_eq!(
        (s(r, "conn_state"), s(r, "end_reason")),
        ("REJ", "tcp_close")
    );
    assert_eq!(i(r, "first_ts") % 1000, 0, "microseconds, as for IPv4");
}

#[test]
fn cic06_other_protocols_keep_their_number() {
    let mut t = Trace::new();
    t.push(T0, icmp4_echo(C, S, 77, 1, false, b"abcd"));
    t.push(T0 + MS, icmp4_echo(S, C, 77, 1, true, b"abcd"));
    let mut ospf = udp4(C, [224, 0, 0, 5], 1, 1, &[0; 20]);
    ospf[14 + 9] = 89; // protocol OSPF; header checksum fixed below
    ospf[14 + 10] = 0;
    ospf[14 + 11] = 0;
    let mut sum = 0u32;
    for c in ospf[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    ospf[24..26].copy_from_slice(&c.to_be_bytes());
    t.push(T0 + 2 * MS, ospf);
    let rows = run_trace(&t);
    assert_eq!(rows.len(), 2);
    let icmp = &rows[0];
    assert_eq!(
        (
            i(icmp, "proto"),
            i(icmp, "orig_port"),
            i(icmp, "resp_port"),
            i(icmp, "icmp_id")
        ),
        (1, 8, 0, 77)
    );
    assert_eq!(
        (i(icmp, "orig_pkts"), i(icmp, "resp_pkts")),
        (1, 1),
        "request and reply are one flow"
    );
    let o = &rows[1];
    assert_eq!(
        (i(o, "proto"), i(o, "orig_port"), i(o, "resp_port")),
        (89, 0, 0)
    );
    assert!(null(o, "conn_state"));
}

#[test]
fn cic07_negative_gaps_do_not_exist() {
    // See non_monotonic_timestamps_never_give_negative_gaps; every gap column is >= 0.
    let mut t = Trace::new();
    t.push(T0 + 3 * SEC, udp4(C, S, 1, 2, b"a"));
    t.push(T0 + SEC, udp4(S, C, 2, 1, b"b"));
    let r = &run_trace(&t)[0];
    for k in ["flow_iat_min_us", "flow_iat_max_us", "duration_us"] {
        assert!(i(r, k) >= 0, "{k}");
    }
}

#[test]
fn cic08_first_packet_is_counted_once_in_length_statistics() {
    let mut t = Trace::new();
    t.push(T0, udp4(C, S, 1, 2, &[0; 10]));
    t.push(T0 + MS, udp4(C, S, 1, 2, &[0; 30]));
    let r = &run_trace(&t)[0];
    // Payloads 10 and 30: mean 20, sample std sqrt(200).
    assert!(close(f(r, "flow_payload_len_mean"), 20.0));
    assert!(close(f(r, "flow_payload_len_std"), 200f64.sqrt()));
    assert_eq!(
        (i(r, "flow_payload_len_min"), i(r, "flow_payload_len_max")),
        (10, 30)
    );
}

#[test]
fn cic09_down_up_ratio_is_computable_without_integer_division() {
    let mut t = Trace::new();
    t.push(T0, udp4(C, S, 1, 2, b"a"));
    t.push(T0 + MS, udp4(C, S, 1, 2, b"a"));
    for k in 0..3 {
        t.push(T0 + (2 + k) * MS, udp4(S, C, 2, 1, b"b"));
    }
    let r = &run_trace(&t)[0];
    let ratio = i(r, "resp_pkts") as f64 / i(r, "orig_pkts") as f64;
    assert_eq!(ratio, 1.5);
}

#[test]
fn cic10_bulks_are_counted_per_direction() {
    let mut t = Trace::new();
    for k in 0..5u64 {
        t.push(T0 + k * 10 * MS, udp4(C, S, 1, 2, &[0; 100]));
    }
    for k in 0..4u64 {
        t.push(T0 + (100 + k * 10) * MS, udp4(S, C, 2, 1, &[0; 50]));
    }
    let r = &run_trace(&t)[0];
    assert_eq!(
        (
            i(r, "orig_bulks"),
            i(r, "orig_bulk_pkts"),
            i(r, "orig_bulk_bytes"),
            i(r, "orig_bulk_us")
        ),
        (1, 5, 500, 40_000)
    );
    assert_eq!(
        (
            i(r, "resp_bulks"),
            i(r, "resp_bulk_pkts"),
            i(r, "resp_bulk_bytes"),
            i(r, "resp_bulk_us")
        ),
        (1, 4, 200, 30_000)
    );
}

#[test]
fn cic11_subflows_split_on_gaps_over_one_second() {
    let mut t = Trace::new();
    for ms in [0u64, 500, 2000, 2100, 4000] {
        t.push(T0 + ms * MS, udp4(C, S, 1, 2, b"x"));
    }
    assert_eq!(i(&run_trace(&t)[0], "subflows"), 3);
}

#[test]
fn cic12_initial_window_is_the_first() {
    let mut t = Trace::new();
    t.push(T0, tcp4(C, S, 43000, 80, 1, 64240, syn(), b""));
    t.push(T0 + MS, tcp4(S, C, 80, 43000, 9, 29200, syn_ack(2), b""));
    t.push(
        T0 + 2 * MS,
        tcp4(S, C, 80, 43000, 10, 1000, psh_ack(2), &[1; 5]),
    );
    let r = &run_trace(&t)[0];
    assert_eq!(
        (i(r, "orig_init_win"), i(r, "resp_init_win")),
        (64240, 29200)
    );
}

#[test]
fn cic13_flags_are_counted_on_every_packet() {
    let mut t = Trace::new();
    t.push(T0, tcp4(C, S, 44000, 80, 1, 64240, syn(), b""));
    t.push(T0 + MS, tcp4(S, C, 80, 44000, 9, 29200, syn_ack(2), b""));
    for k in 0..3u32 {
        let mut fl = psh_ack(10);
        if k > 0 {
            fl.urg = Some(1);
        }
        t.push(
            T0 + (2 + u64::from(k)) * MS,
            tcp4(C, S, 44000, 80, 2 + k * 10, 502, fl, &[0; 10]),
        );
    }
    let r = &run_trace(&t)[0];
    assert_eq!(
        (i(r, "orig_psh"), i(r, "orig_urg"), i(r, "orig_ack")),
        (3, 2, 3)
    );
}

#[test]
fn cic14_active_and_idle_periods() {
    let mut t = Trace::new();
    for sec in [0u64, 1, 2, 10, 11] {
        t.push(T0 + sec * SEC, udp4(C, S, 1, 2, b"x"));
    }
    let r = &run_trace(&t)[0];
    assert_eq!(
        (i(r, "active_min_us"), i(r, "active_max_us")),
        (1_000_000, 2_000_000)
    );
    assert!(close(f(r, "active_mean_us"), 1_500_000.0));
    assert_eq!(
        (i(r, "idle_min_us"), i(r, "idle_max_us")),
        (8_000_000, 8_000_000)
    );
    assert!(null(r, "idle_std_us"));
}

#[test]
fn cic15_zero_duration_gives_nulls_not_infinity() {
    let mut t = Trace::new();
    t.push(T0, udp4(C, S, 1, 2, b"x"));
    let r = &run_trace(&t)[0];
    assert_eq!(i(r, "duration_us"), 0);
    for (k, v) in r {
        if let Some(x) = v.as_f64() {
            assert!(x.is_finite(), "{k} = {x}");
        }
    }
}

#[test]
fn cic16_packet_counts_are_exact() {
    let r = &run_trace(&reference())[0];
    assert_eq!(i(r, "orig_pkts") + i(r, "resp_pkts"), 10);
}

#[test]
fn cic17_lengths_are_defined_one_way() {
    // L4 header bytes are the transport headers only; IP bytes hold IP headers too.
    let r = &run_trace(&reference())[0];
    assert_eq!(
        i(r, "orig_ip_bytes") - i(r, "orig_l4_header_bytes") - i(r, "orig_payload_bytes"),
        6 * 20
    );
}

#[test]
fn cic18_timestamps_are_utc_microseconds() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("t.pcap");
    let mut t = Trace::new();
    t.push(T0 + 123_456_789, udp4(C, S, 1, 2, b"x"));
    t.write_pcap(&pcap, 1);
    run(&config(dir.path(), &pcap)).unwrap();
    let file = mekong_testkit::parquet_files(&dir.path().join("out"))[0].clone();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap();
    let f = reader.schema().field_with_name("first_ts").unwrap().clone();
    assert_eq!(
        f.data_type(),
        &arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
    );
    let r = &read_rows(&dir.path().join("out/flows"))[0];
    assert_eq!(i(r, "first_ts"), ((T0 + 123_456_789) / 1000) as i64);
}

#[test]
fn fragments_that_never_complete_are_still_counted() {
    let payload = vec![9u8; 2992];
    let l4 = udp_bytes4(C, S, 4100, 4101, &payload);
    let frags = ipv4_fragments(C, S, 17, 0x2222, &l4, 1480);
    // Only the first fragment: the flow is named by its ports.
    let mut t = Trace::new();
    t.push(T0, frags[0].clone());
    // A flood of non-first fragments from another host: no ports anywhere.
    for k in 0..50u16 {
        let only_later = ipv4_fragments([10, 0, 0, 66], S, 17, 0x3000 + k, &l4, 1480);
        t.push(T0 + (1 + u64::from(k)) * MS, only_later[1].clone());
    }
    let rows = run_trace(&t);
    assert_eq!(rows.len(), 2);
    let first = rows
        .iter()
        .find(|r| s(r, "orig_addr") == "10.0.0.1")
        .unwrap();
    assert_eq!(
        (
            i(first, "orig_port"),
            i(first, "resp_port"),
            i(first, "orig_pkts"),
            i(first, "orig_frags")
        ),
        (4100, 4101, 1, 1)
    );
    assert_ne!(
        i(first, "anomalies") & i64::from(mekong_schema::anomaly::FRAGMENT_INCOMPLETE),
        0
    );
    let flood = rows
        .iter()
        .find(|r| s(r, "orig_addr") == "10.0.0.66")
        .unwrap();
    assert_eq!(
        (
            i(flood, "orig_port"),
            i(flood, "resp_port"),
            i(flood, "proto")
        ),
        (0, 0, 17)
    );
    assert_eq!((i(flood, "orig_pkts"), i(flood, "orig_frags")), (50, 50));
    assert_eq!(i(flood, "orig_wire_bytes"), 50 * (14 + 20 + 1480));
}

#[test]
fn a_full_table_evicts_and_counts() {
    // A flood of spoofed SYNs against a table of 100 flows: the table never
    // grows past its limit, evicted flows are records, every packet counted.
    let mut t = Trace::new();
    for k in 0..1000u32 {
        let src = [100, (k >> 16) as u8, (k >> 8) as u8, k as u8];
        t.push(
            T0 + u64::from(k) * 100_000,
            tcp4(src, S, 1024 + (k % 60000) as u16, 80, k, 512, syn(), b""),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("flood.pcap");
    t.write_pcap(&pcap, 1);
    let mut cfg = config(dir.path(), &pcap);
    cfg.flow.max_flows = 100;
    let summary = run(&cfg).unwrap();
    assert_eq!(
        (summary.table.evicted, summary.table.peak_flows),
        (900, 100)
    );
    let rows = read_rows(&dir.path().join("out/flows"));
    assert_eq!(rows.len(), 1000);
    assert_eq!(
        rows.iter()
            .filter(|r| s(r, "end_reason") == "evicted")
            .count(),
        900
    );
    // The oldest flows go first.
    let first_evicted = rows
        .iter()
        .filter(|r| s(r, "end_reason") == "evicted")
        .map(|r| i(r, "first_ts"))
        .max()
        .unwrap();
    let kept = rows
        .iter()
        .filter(|r| s(r, "end_reason") != "evicted")
        .map(|r| i(r, "first_ts"))
        .min()
        .unwrap();
    assert!(first_evicted < kept);
}
