//! Each detector on hand-built packets, its threshold crossed by exactly one
//! packet: one fewer raises nothing, the one that crosses raises one alert
//! whose evidence counts what was sent. The thresholds are the documented
//! defaults of signatures/detectors.toml.

use std::path::Path;
use std::sync::Arc;

use mekong_detect::config::DetectConfig;
use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::table::SEC;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig, RunSummary};
use mekong_testkit::build::*;
use mekong_testkit::{eve_lines, Trace};
use serde_json::Value;

const T0: u64 = 1_772_413_200 * SEC;
const MS: u64 = 1_000_000;
const ATTACKER: [u8; 4] = [198, 51, 100, 7];
const VICTIM: [u8; 4] = [10, 1, 0, 5];

fn sense(t: &Trace, toml: &str, dir: &Path) -> (Vec<Value>, RunSummary) {
    let pcap = dir.join("t.pcap");
    t.write_pcap(&pcap, 1);
    let cfgfile = dir.join("d.toml");
    std::fs::write(&cfgfile, toml).unwrap();
    let config = DetectConfig::load(&cfgfile).expect("detector config");
    let out = dir.join("out");
    let cfg = RunConfig {
        inputs: vec![pcap],
        filter: None,
        workers: 1,
        flow: FlowConfig {
            sensor_id: Arc::from("t"),
            ..FlowConfig::default()
        },
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(out.clone(), "t".into()),
        progress: false,
        detect: Some(Arc::new(Detection::new(config).expect("lists load"))),
    };
    let s = run(&cfg).unwrap();
    let alerts = eve_lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|a: &Value| a["alert"]["context"]["mekong"]["phase"] == "start")
        .collect();
    (alerts, s)
}

fn alerts(t: &Trace) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    sense(t, "", dir.path()).0
}

fn sid(a: &Value) -> u64 {
    a["alert"]["signature_id"].as_u64().unwrap()
}

fn ev(a: &Value) -> &Value {
    &a["alert"]["context"]["mekong"]["evidence"]
}

fn techniques(a: &Value) -> Vec<String> {
    a["alert"]["metadata"]["mitre_technique_id"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

fn tcp_probes(ports: impl Iterator<Item = u16>, f: Flags) -> Trace {
    let mut t = Trace::new();
    for (i, p) in ports.enumerate() {
        t.push(
            T0 + i as u64 * MS,
            tcp4(ATTACKER, VICTIM, 40000, p, 7, 1024, f, b""),
        );
    }
    t
}

#[test]
fn a_fin_scan_crosses_at_the_fifteenth_port() {
    let fin = Flags {
        fin: true,
        ..Flags::default()
    };
    assert!(alerts(&tcp_probes(1..=14, fin)).is_empty());
    let a = alerts(&tcp_probes(1..=15, fin));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(sid(&a[0]), 9_000_103, "stealth scan");
    assert_eq!(ev(&a[0])["distinct_ports"], 15);
    assert_eq!(ev(&a[0])["probe_kinds"]["fin"], 15);
    // From outside home_net: also active scanning.
    assert_eq!(techniques(&a[0]), ["T1046", "T1595"]);
    assert_eq!(a[0]["src_ip"], "198.51.100.7");
    assert_eq!(a[0]["dest_ip"], "10.1.0.5");
}

#[test]
fn null_and_xmas_probes_count_and_impossible_flags_are_named() {
    let null = Flags::default();
    let xmas = Flags {
        fin: true,
        psh: true,
        urg: Some(0),
        ..Flags::default()
    };
    let mut t = tcp_probes(1..=8, null);
    for (i, p) in (9..=15).enumerate() {
        t.push(
            T0 + 100 * MS + i as u64 * MS,
            tcp4(ATTACKER, VICTIM, 40000, p, 7, 1024, xmas, b""),
        );
    }
    // Ten SYN+FIN packets from another source: no stack sends them.
    let synfin = Flags {
        syn: true,
        fin: true,
        ..Flags::default()
    };
    for i in 0..10u16 {
        t.push(
            T0 + 200 * MS + u64::from(i) * MS,
            tcp4(
                [203, 0, 113, 9],
                VICTIM,
                41000 + i,
                80,
                7,
                1024,
                synfin,
                b"",
            ),
        );
    }
    let a = alerts(&t);
    let scan = a
        .iter()
        .find(|a| sid(a) == 9_000_103)
        .expect("stealth scan");
    assert_eq!(ev(scan)["probe_kinds"]["null"], 8);
    assert_eq!(ev(scan)["probe_kinds"]["xmas"], 7);
    let flags = a
        .iter()
        .find(|a| sid(a) == 9_000_131)
        .expect("impossible flags");
    assert_eq!(ev(flags)["packets"], 10);
    assert_eq!(ev(flags)["combinations"], serde_json::json!(["SF"]));
    assert_eq!(techniques(flags), ["T1595"]);
}

/// An ICMP port unreachable from `from` quoting a UDP datagram `to`:`sport` → `from`:`dport`.
fn port_unreachable(from: [u8; 4], to: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut quoted = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0];
    quoted.extend(to);
    quoted.extend(from);
    quoted.extend(sport.to_be_bytes());
    quoted.extend(dport.to_be_bytes());
    quoted.extend([0, 8, 0, 0]);
    let mut v = Vec::new();
    etherparse::PacketBuilder::ethernet2(MAC_S, MAC_C)
        .ipv4(from, to, 64)
        .icmpv4_raw(3, 3, [0; 4])
        .write(&mut v, &quoted)
        .unwrap();
    v
}

#[test]
fn a_udp_scan_counts_its_refusals() {
    let mut t = Trace::new();
    for (i, p) in (100..115u16).enumerate() {
        let at = T0 + i as u64 * 10 * MS;
        t.push(at, udp4(ATTACKER, VICTIM, 50000, p, b""));
        t.push(at + MS, port_unreachable(VICTIM, ATTACKER, 50000, p));
    }
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(sid(&a[0]), 9_000_102);
    assert_eq!(ev(&a[0])["distinct_ports"], 15);
    // The fifteenth probe crosses before its refusal arrives.
    assert_eq!(ev(&a[0])["refused"], 14);
}

#[test]
fn datagrams_bigger_than_a_probe_are_no_scan() {
    let mut t = Trace::new();
    for (i, p) in (100..140u16).enumerate() {
        t.push(
            T0 + i as u64 * MS,
            udp4(ATTACKER, VICTIM, 50000, p, &[0x41; 1000]),
        );
    }
    assert!(alerts(&t).is_empty());
}

/// An ARP request: `sender` asks who has `target`.
fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut v = vec![0xff; 6];
    v.extend(MAC_C);
    v.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    v.extend(MAC_C);
    v.extend(sender);
    v.extend([0; 6]);
    v.extend(target);
    v
}

#[test]
fn an_arp_sweep_crosses_at_forty_addresses() {
    let sweep = |n: u8| {
        let mut t = Trace::new();
        for i in 1..=n {
            t.push(
                T0 + u64::from(i) * MS,
                arp_request([10, 1, 0, 99], [10, 1, 0, i]),
            );
        }
        // A gratuitous ARP (sender asks for itself) never counts.
        t.push(T0 + 900 * MS, arp_request([10, 1, 0, 99], [10, 1, 0, 99]));
        t
    };
    assert!(alerts(&sweep(39)).is_empty());
    let a = alerts(&sweep(40));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(sid(&a[0]), 9_000_122);
    assert_eq!(techniques(&a[0]), ["T1018"]);
    assert_eq!(ev(&a[0])["distinct_hosts"], 40);
    assert_eq!(ev(&a[0])["block"], "10.1.0.0/26");
    assert!(a[0].get("flow_id").is_none(), "ARP has no flow");
    assert!(a[0].get("proto").is_none());
}

#[test]
fn an_icmp_sweep_from_outside_is_also_active_scanning() {
    let mut t = Trace::new();
    for i in 1..=25u8 {
        t.push(
            T0 + u64::from(i) * MS,
            icmp4_echo(ATTACKER, [10, 2, 0, i], 77, 1, false, b"ping"),
        );
    }
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(sid(&a[0]), 9_000_121);
    assert_eq!(techniques(&a[0]), ["T1018", "T1595.001"]);
    assert_eq!(ev(&a[0])["requests"], 25);
}

/// `n` HTTP requests with Basic credentials on one keep-alive connection,
/// each answered `status`.
fn basic_auth(n: u32, status: u16) -> Trace {
    let (c, s) = ([10, 3, 0, 8], [10, 3, 0, 80]);
    let mut t = Trace::new();
    let mut at = T0;
    let mut step = || {
        at += MS;
        at
    };
    t.push(step(), tcp4(c, s, 45000, 80, 1000, 502, syn(), b""));
    t.push(step(), tcp4(s, c, 80, 45000, 5000, 502, syn_ack(1001), b""));
    let (mut cs, mut ss) = (1001u32, 5001u32);
    t.push(step(), tcp4(c, s, 45000, 80, cs, 502, ack(ss), b""));
    for k in 0..n {
        let req = format!(
            "GET /admin/ HTTP/1.1\r\nHost: intranet\r\nAuthorization: Basic YWRtaW46e{k}\r\n\r\n"
        );
        t.push(
            step(),
            tcp4(c, s, 45000, 80, cs, 502, psh_ack(ss), req.as_bytes()),
        );
        cs += req.len() as u32;
        let resp = format!("HTTP/1.1 {status} X\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n");
        t.push(
            step(),
            tcp4(s, c, 80, 45000, ss, 502, psh_ack(cs), resp.as_bytes()),
        );
        ss += resp.len() as u32;
    }
    t
}

#[test]
fn http_basic_guessing_is_judged_by_its_answers() {
    assert!(alerts(&basic_auth(4, 401)).is_empty());
    assert!(
        alerts(&basic_auth(20, 200)).is_empty(),
        "accepted credentials are no guessing"
    );
    let a = alerts(&basic_auth(5, 401));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(sid(&a[0]), 9_000_201);
    assert_eq!(ev(&a[0])["service"], "http");
    assert_eq!(ev(&a[0])["failures"], 5);
    assert_eq!(techniques(&a[0]), ["T1110.001"]);
}

/// A client connection that sends `first` to `port` after the handshake.
fn client_speaks(
    t: &mut Trace,
    at: u64,
    c: [u8; 4],
    s: [u8; 4],
    sport: u16,
    port: u16,
    first: &[u8],
) {
    t.push(at, tcp4(c, s, sport, port, 1000, 502, syn(), b""));
    t.push(
        at + MS,
        tcp4(s, c, port, sport, 7000, 502, syn_ack(1001), b""),
    );
    t.push(
        at + 2 * MS,
        tcp4(c, s, sport, port, 1001, 502, ack(7001), b""),
    );
    t.push(
        at + 3 * MS,
        tcp4(c, s, sport, port, 1001, 502, psh_ack(7001), first),
    );
}

#[test]
fn a_stratum_client_on_any_port_is_mining() {
    let mut t = Trace::new();
    client_speaks(
        &mut t,
        T0,
        [10, 4, 0, 66],
        [51, 15, 58, 224],
        40500,
        4242,
        br#"{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}
"#,
    );
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(sid(&a[0]), 9_000_601);
    assert_eq!(ev(&a[0])["method"], "mining.subscribe");
    assert_eq!(techniques(&a[0]), ["T1496"]);
    assert_eq!(a[0]["dest_port"], 4242);
}

#[test]
fn indicator_lists_name_their_list_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ips.txt"), "# c2 servers\n91.215.85.17\n").unwrap();
    std::fs::write(
        dir.path().join("names.csv"),
        "first_seen,domain,reason\n2026-01-01,evil.example,c2\n",
    )
    .unwrap();
    let toml = r#"
[[indicators]]
name = "c2-ips"
path = "ips.txt"
[[indicators]]
name = "bad-names"
path = "names.csv"
format = "csv"
column = "domain"
kind = "domain"
technique = "T1071.004"
"#;
    let mut t = Trace::new();
    client_speaks(
        &mut t,
        T0,
        [10, 5, 0, 1],
        [91, 215, 85, 17],
        40001,
        8443,
        b"hello",
    );
    let mut q = mekong_testkit::app::dns_header(9, 0x0100, 1, 0);
    mekong_testkit::app::dns_name(&mut q, "cdn.evil.example");
    q.extend_from_slice(&[0, 1, 0, 1]);
    t.push(
        T0 + 10 * MS,
        udp4([10, 5, 0, 2], [10, 5, 0, 53], 51000, 53, &q),
    );
    let (a, _) = sense(&t, toml, dir.path());
    assert_eq!(a.len(), 2, "{a:?}");
    let ip = a.iter().find(|a| sid(a) == 9_000_701).expect("ip match");
    assert_eq!(ev(ip)["list"], "c2-ips");
    assert_eq!(ev(ip)["entry"], "91.215.85.17");
    assert_eq!(techniques(ip), ["T1071"]);
    let dns = a
        .iter()
        .find(|a| sid(a) == 9_000_702)
        .expect("domain match");
    assert_eq!(ev(dns)["list"], "bad-names");
    assert_eq!(ev(dns)["entry"], "evil.example");
    assert_eq!(ev(dns)["value"], "cdn.evil.example");
    assert_eq!(techniques(dns), ["T1071.004"]);
}

#[test]
fn a_regular_caller_is_a_beacon_and_a_shared_server_is_not() {
    let calls = |clients: u8| {
        let mut t = Trace::new();
        for k in 0..12u64 {
            // 60 s with a hand-picked jitter of at most ±3 s.
            let jitter = [0, 2, 1, 3, 0, 1, 2, 0, 3, 1, 2, 0][k as usize] * SEC;
            for c in 0..clients {
                client_speaks(
                    &mut t,
                    T0 + k * 60 * SEC + jitter + u64::from(c) * 5 * MS,
                    [10, 6, 0, 10 + c],
                    [91, 215, 85, 17],
                    41000 + k as u16,
                    443,
                    b"x",
                );
            }
        }
        t.frames.sort_by_key(|f| f.0);
        t
    };
    let a = alerts(&calls(1));
    let b: Vec<&Value> = a.iter().filter(|a| sid(a) == 9_000_501).collect();
    assert_eq!(b.len(), 1, "{a:?}");
    // The tenth call crosses: its nine intervals, median 60.5 s.
    assert_eq!(ev(b[0])["connections"], 10);
    assert!((ev(b[0])["median_interval_s"].as_f64().unwrap() - 60.5).abs() < 1.01);
    assert_eq!(techniques(b[0]), ["T1071.001"]);
    // The same calls from four clients: a shared service.
    assert!(alerts(&calls(4)).iter().all(|a| sid(a) != 9_000_501));
}

#[test]
fn a_large_upload_to_one_outside_peer_is_exfiltration() {
    let (c, s) = ([10, 7, 0, 3], [185, 100, 87, 1]);
    let mut t = Trace::new();
    t.push(T0, tcp4(c, s, 42000, 8000, 1000, 65535, syn(), b""));
    t.push(
        T0 + MS,
        tcp4(s, c, 8000, 42000, 9000, 65535, syn_ack(1001), b""),
    );
    let chunk = vec![0x5a; 1400];
    let mut seq = 1001u32;
    // 8,000 segments of 1,400 bytes: 11.2 MB out, acknowledged.
    for k in 0..8_000u64 {
        t.push(
            T0 + 2 * MS + k * 100_000,
            tcp4(c, s, 42000, 8000, seq, 65535, psh_ack(9001), &chunk),
        );
        seq = seq.wrapping_add(1400);
    }
    let a = alerts(&t);
    let x: Vec<&Value> = a.iter().filter(|a| sid(a) == 9_000_551).collect();
    assert_eq!(x.len(), 1, "{a:?}");
    assert_eq!(techniques(x[0]), ["T1048", "T1041"]);
    // The alert crosses at the first volume step past 10 MB: 10 MiB of payload.
    let out = ev(x[0])["bytes_out"].as_u64().unwrap();
    assert!((10_000_000..=10_500_000).contains(&out), "{out}");
}

#[test]
fn allow_lists_silence_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = sense(
        &tcp_probes(1..=40, syn()),
        "[net]\nallow = [\"198.51.100.0/24\"]\n",
        dir.path(),
    );
    assert!(a.is_empty(), "{a:?}");
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = sense(
        &tcp_probes(1..=40, syn()),
        "[scan]\nenabled = false\n",
        dir.path(),
    );
    assert!(a.is_empty(), "{a:?}");
}
