//! Every shared real capture goes through the sensor without a panic and in
//! bounded memory, and on TCP and UDP conversations Mekong's packets and
//! bytes agree with `tshark -q -z conv,tcp -z conv,udp`.
//!
//! Comparison rule: tshark reports one conversation per 5-tuple over the
//! whole capture; Mekong may cut one conversation into several records
//! (timeouts, TCP port reuse, VLANs), so records are summed per 5-tuple and
//! direction first. tshark prints bytes above 9,999 rounded to kB/MB (SI
//! units), so bytes are compared exactly when tshark prints bytes and within
//! its rounding otherwise. Conversations are left out of the comparison, and
//! counted, only where the two tools do not measure the same thing:
//! - datagrams that arrived as IP fragments (tshark counts only the frame
//!   that completed a datagram, Mekong every fragment on the wire);
//! - transport conversations of tunnels Mekong decapsulates (VXLAN 4789,
//!   VXLAN-GPE 4790, Geneve 6081), whose inner flows Mekong reports instead;
//! - segments whose TCP header is cut short or malformed (tshark's TCP
//!   dissector stops before counting them; Mekong counts them and flags the
//!   record with the `tcp_header` anomaly);
//! - a fuzzed frame length tshark cannot print;
//! - conversations tshark finds inside other encapsulations (Teredo, GTP,
//!   ICMP error quotes) that Mekong counts as the outer flow.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, RunConfig};
use mekong_testkit::{read_rows, shared_captures, tshark};
use serde_json::Value;

/// (protocol, address a, port a, address b, port b).
type Key = (String, String, u16, String, u16);
type Row = serde_json::Map<String, Value>;

#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct Dir {
    frames: u64,
    bytes: u64,
}

/// A byte count as tshark prints it: (value, unit). tshark truncates to
/// whole units above 9,999 bytes ("69 kB" is 69,000..69,999 bytes).
fn parse_size(num: &str, unit: &str) -> (u64, u64) {
    let n: u64 = num.replace(',', "").parse().unwrap_or(0);
    let mult = match unit {
        "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => 1,
    };
    (n, mult)
}

/// Bytes seen by tshark, as printed: whole units of `unit` bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Printed {
    frames: u64,
    units: u64,
    unit: u64,
}

/// tshark conversations summed per 5-tuple: (a→b, b→a). tshark may list one
/// 5-tuple several times (TCP port reuse); those lines are added up.
fn tshark_conv(pcap: &Path) -> BTreeMap<Key, (Vec<Printed>, Vec<Printed>)> {
    let out = tshark()
        .arg("-r")
        .arg(pcap)
        .args(["-q", "-z", "conv,tcp", "-z", "conv,udp"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut proto = "";
    let mut v = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            proto = "tcp";
        } else if line.starts_with("UDP Conversations") {
            proto = "udp";
        }
        if !line.contains("<->") {
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        // a <-> b  f_ba B_ba unit  f_ab B_ab unit  f_tot B_tot unit  start dur
        if t.len() < 12 {
            continue;
        }
        let ep = |s: &str| -> (String, u16) {
            let (a, p) = s.rsplit_once(':').unwrap_or((s, "0"));
            (
                a.trim_matches(['[', ']']).to_string(),
                p.parse().unwrap_or(0),
            )
        };
        let (a, pa) = ep(t[0]);
        let (b, pb) = ep(t[2]);
        let (ba_n, ba_u) = parse_size(t[4], t[5]);
        let (ab_n, ab_u) = parse_size(t[7], t[8]);
        let ba = Printed {
            frames: t[3].parse().unwrap_or(0),
            units: ba_n,
            unit: ba_u,
        };
        let ab = Printed {
            frames: t[6].parse().unwrap_or(0),
            units: ab_n,
            unit: ab_u,
        };
        let e = v
            .entry((proto.to_string(), a, pa, b, pb))
            .or_insert_with(|| (Vec::new(), Vec::new()));
        e.0.push(ab);
        e.1.push(ba);
    }
    v
}

/// Whether Mekong's count agrees with tshark's printed lines for one direction.
fn agrees(o: Dir, lines: &[Printed]) -> bool {
    let frames: u64 = lines.iter().map(|p| p.frames).sum();
    if frames != o.frames {
        return false;
    }
    // Exact when every line printed bytes; otherwise within the truncation of each line.
    let low: u64 = lines.iter().map(|p| p.units * p.unit).sum();
    let high: u64 = lines.iter().map(|p| p.units * p.unit + (p.unit - 1)).sum();
    (low..=high).contains(&o.bytes)
}

fn ours(dir: &Path) -> (HashMap<Key, Dir>, Vec<Row>) {
    let rows = read_rows(&dir.join("flows"));
    let mut m: HashMap<Key, Dir> = HashMap::new();
    for r in &rows {
        let proto = match r["proto"].as_i64() {
            Some(6) => "tcp",
            Some(17) => "udp",
            _ => continue,
        };
        let get = |k: &str| r[k].as_i64().unwrap_or(0) as u64;
        let (oa, op) = (
            r["orig_addr"].as_str().unwrap().to_string(),
            get("orig_port") as u16,
        );
        let (ra, rp) = (
            r["resp_addr"].as_str().unwrap().to_string(),
            get("resp_port") as u16,
        );
        let e = m
            .entry((proto.into(), oa.clone(), op, ra.clone(), rp))
            .or_default();
        e.frames += get("orig_pkts");
        e.bytes += get("orig_wire_bytes");
        let e = m.entry((proto.into(), ra, rp, oa, op)).or_default();
        e.frames += get("resp_pkts");
        e.bytes += get("resp_wire_bytes");
    }
    (m, rows)
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
        })
        .unwrap_or(0)
}

#[test]
fn every_shared_capture_agrees_with_tshark_conversations() {
    let caps = shared_captures();
    assert!(
        caps.len() > 100,
        "expected the shared captures, found {}",
        caps.len()
    );
    let mut compared = 0usize;
    let mut excluded: BTreeMap<&str, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for cap in &caps {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RunConfig {
            inputs: vec![cap.clone()],
            filter: None,
            workers: 1,
            flow: FlowConfig {
                sensor_id: Arc::from("t"),
                max_flows: 100_000,
                ..FlowConfig::default()
            },
            defrag: DefragConfig::default(),
            sink: SinkConfig::new(dir.path().join("out"), "t".into()),
            progress: false,
            detect: Some(Default::default()),
        };
        let summary = match run(&cfg) {
            Ok(s) => s,
            Err(e) => {
                // Only a file that is not a capture at all may be refused.
                assert!(
                    e.to_string().contains("not a valid capture"),
                    "{}: {e}",
                    cap.display()
                );
                continue;
            }
        };
        let (m, rows) = ours(&dir.path().join("out"));
        assert_eq!(rows.len() as u64, summary.output.records);
        for r in &rows {
            for (k, v) in r {
                if let Some(x) = v.as_f64() {
                    assert!(x.is_finite(), "{}: {k} = {x}", cap.display());
                }
            }
        }
        let endpoints = |r: &serde_json::Map<String, Value>| {
            (
                r["orig_addr"].as_str().unwrap().to_string(),
                r["orig_port"].as_i64().unwrap() as u16,
                r["resp_addr"].as_str().unwrap().to_string(),
                r["resp_port"].as_i64().unwrap() as u16,
            )
        };
        let flagged = |pred: &dyn Fn(&serde_json::Map<String, Value>) -> bool| -> std::collections::HashSet<(String, u16, String, u16)> {
            rows.iter().filter(|r| pred(r)).map(endpoints).collect()
        };
        let fragmented = flagged(&|r| {
            r["orig_frags"].as_i64().unwrap_or(0) + r["resp_frags"].as_i64().unwrap_or(0) > 0
        });
        let bad_tcp = flagged(&|r| {
            r["anomalies"].as_i64().unwrap_or(0) & i64::from(mekong_schema::anomaly::TCP_HEADER)
                != 0
        });
        for ((proto, a, pa, b, pb), (ab, ba)) in tshark_conv(cap) {
            let has = |set: &std::collections::HashSet<(String, u16, String, u16)>| {
                set.contains(&(a.clone(), pa, b.clone(), pb))
                    || set.contains(&(b.clone(), pb, a.clone(), pa))
            };
            if has(&fragmented) {
                *excluded.entry("fragmented datagrams").or_default() += 1;
                continue;
            }
            if has(&bad_tcp) {
                *excluded
                    .entry("segments with a malformed TCP header (tshark does not count them)")
                    .or_default() += 1;
                continue;
            }
            if proto == "udp" && [pa, pb].iter().any(|p| [4789, 4790, 6081].contains(p)) {
                *excluded
                    .entry("tunnel transport (decapsulated)")
                    .or_default() += 1;
                continue;
            }
            let printed_frames: u64 = ab.iter().chain(&ba).map(|p| p.frames).sum();
            let printed_bytes: u64 = ab.iter().chain(&ba).map(|p| p.units).sum();
            if printed_frames > 0 && printed_bytes == 0 {
                *excluded
                    .entry("frame length tshark cannot print (fuzzed header)")
                    .or_default() += 1;
                continue;
            }
            let k1 = (proto.clone(), a.clone(), pa, b.clone(), pb);
            let k2 = (proto.clone(), b.clone(), pb, a.clone(), pa);
            let (Some(o_ab), Some(o_ba)) = (m.get(&k1).copied(), m.get(&k2).copied()) else {
                *excluded
                    .entry("inside an encapsulation Mekong keeps whole")
                    .or_default() += 1;
                if std::env::var_os("MEKONG_TEST_VERBOSE").is_some() {
                    eprintln!("left out: {}: {proto} {a}:{pa} -> {b}:{pb}", cap.display());
                }
                continue;
            };
            let ok = if k1 == k2 {
                // A host talking to itself on one port: only totals are comparable.
                let all: Vec<Printed> = ab.iter().chain(&ba).copied().collect();
                agrees(o_ab, &all)
            } else {
                agrees(o_ab, &ab) && agrees(o_ba, &ba)
            };
            if ok {
                compared += 1;
            } else {
                mismatches.push(format!("{}: {proto} {a}:{pa} -> {b}:{pb}: mekong {o_ab:?}/{o_ba:?}, tshark {ab:?}/{ba:?}", cap.display()));
            }
        }
    }
    eprintln!("conversations compared: {compared}; left out: {excluded:?}");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared > 1000, "only {compared} conversations compared");
    let hwm = vm_hwm_kib();
    assert!(hwm < 2 * 1024 * 1024, "peak memory {hwm} KiB");
}
