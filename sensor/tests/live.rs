//! The live sensor on a real interface: a veth pair with one end in a
//! network namespace, tcpreplay sending a generated capture into it, the
//! sensor capturing on the other end. As root (CI is).
//!
//! The truth is the same capture read offline: the live run must give the
//! same flows (packets and bytes per flow) and alerts; a stop loses no
//! packet; a kill leaves only readable files; a reload makes a new rule
//! fire without losing a flow; a full disk stops writing and writing
//! resumes when space returns.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mekong_datasets::generate::{generate, Options};
use mekong_testkit::netns::VethLink;
use mekong_testkit::{python_with, read_rows};
use serde_json::Value;

const SEC: u64 = 1_000_000_000;
/// The test rule: every HTTP request with GET (the generated office
/// traffic has some).
const GET_RULE: &str = "alert http any any -> any any (msg:\"LIVE test GET\"; flow:to_server,established; http.method; content:\"GET\"; sid:9900001; rev:1;)\n";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mekong-sensor"))
}

/// A capture short in packets whose flows do not depend on its timing (no
/// flow has a gap near an idle timeout), so that a replay at any rate makes
/// the same flows: office traffic, a SYN scan and a port sweep.
fn capture() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| make_capture("office.pcap", 11))
}

/// A capture of its own for the AF_PACKET test: the kernel reassembles
/// fragments there in one queue per namespace, keyed without the
/// interface, so the same datagrams replayed at once on another link
/// (another test) would meet in it.
fn capture_af_packet() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| make_capture("office-af-packet.pcap", 12))
}

fn make_capture(name: &str, seed: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sensor-live");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let opts = Options {
        packets: 8_000,
        seed,
        scenarios: vec!["portscan_syn".into(), "sweep_port".into()],
        duration_ns: 120 * SEC,
        ..Options::default()
    };
    generate(&opts, std::fs::File::create(&p).unwrap(), std::io::sink()).unwrap();
    p
}

/// One live test at a time: they share the kernel's IPv4 reassembly queue
/// (per namespace, keyed without the interface) and the machine's cores,
/// and a test that drops packets because another one is replaying would
/// be a test of the machine.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `mekong-sensor live`.
struct Sensor {
    child: Child,
    metrics: String,
    stderr: PathBuf,
}

impl Sensor {
    fn start(iface: &str, out: &Path, extra: &[&str]) -> Sensor {
        let port = free_port();
        let metrics = format!("127.0.0.1:{port}");
        let stderr = out.with_extension("log");
        let log = std::fs::File::create(&stderr).unwrap();
        let child = Command::new(bin())
            .args(["live", "-i", iface, "--out"])
            .arg(out)
            .args([
                "--sensor-id",
                "t1",
                "--metrics",
                &metrics,
                "--no-rule-cache",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Sensor {
            child,
            metrics,
            stderr,
        };
        s.wait_log("capturing on", Duration::from_secs(60));
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn wait_log(&self, what: &str, limit: Duration) {
        let t = Instant::now();
        while !self.log().contains(what) {
            assert!(
                t.elapsed() < limit,
                "the sensor did not say {what:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The metrics, scraped with Python's own HTTP client.
    fn scrape(&self) -> String {
        let code = format!(
            "import urllib.request,sys; r=urllib.request.urlopen('http://{}/metrics', timeout=10); sys.stdout.write(r.headers.get('Content-Type') + '\\n' + r.read().decode())",
            self.metrics
        );
        let o = python_with(&[]).args(["-c", &code]).output().unwrap();
        assert!(
            o.status.success(),
            "scrape: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// A metric's value (the first line with this name and labels).
    fn metric(&self, name: &str) -> Option<f64> {
        metric(&self.scrape(), name)
    }

    fn wait_metric(&self, name: &str, ok: impl Fn(f64) -> bool, limit: Duration) -> f64 {
        let t = Instant::now();
        loop {
            if let Some(v) = self.metric(name).filter(|v| ok(*v)) {
                return v;
            }
            assert!(
                t.elapsed() < limit,
                "{name} did not reach its value: {:?}\n{}",
                self.metric(name),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// SIGTERM, and the exit code.
    fn stop(mut self) -> (i32, String) {
        self.signal("TERM");
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s.code().unwrap_or(-1), self.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "no stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Flows as (proto, addresses, ports) → packets and bytes each way, as a
/// sorted multiset.
fn flows(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = read_rows(&dir.join("flows"))
        .iter()
        .map(|r| {
            (
                format!(
                    "{} {}:{} > {}:{}",
                    r["proto"], r["orig_addr"], r["orig_port"], r["resp_addr"], r["resp_port"]
                ),
                format!(
                    "{}/{} pkts {}/{} bytes",
                    r["orig_pkts"], r["resp_pkts"], r["orig_wire_bytes"], r["resp_wire_bytes"]
                ),
            )
        })
        .collect();
    v.sort();
    v
}

/// Alerts as (signature, attacker, target), sorted.
fn alerts(dir: &Path) -> Vec<String> {
    let p = dir.join("alerts");
    if !p.exists() {
        return Vec::new();
    }
    let mut v: Vec<String> = read_rows(&p)
        .iter()
        .map(|r| {
            format!(
                "{} {} {} > {}",
                r["detector"], r["signature_id"], r["src_addr"], r["dest_addr"]
            )
        })
        .collect();
    v.sort();
    v
}

/// The address pairs of the capture's IP fragments (tcpdump's reading).
fn fragmented_pairs(pcap: &Path) -> Vec<(String, String)> {
    let o = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(pcap)
        .arg("ip[6:2] & 0x3fff != 0 or (vlan and ip[6:2] & 0x3fff != 0)")
        .output()
        .unwrap();
    let mut v: Vec<(String, String)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == ">")?;
            let host = |s: &str| {
                let s = s.trim_end_matches(':');
                // "a.b.c.d.port" or "a.b.c.d"
                let parts: Vec<&str> = s.split('.').collect();
                format!("\"{}\"", parts[..4.min(parts.len())].join("."))
            };
            Some((host(w[i - 1]), host(w[i + 1])))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn packets_in_records(dir: &Path) -> u64 {
    read_rows(&dir.join("flows"))
        .iter()
        .map(|r| r["orig_pkts"].as_u64().unwrap_or(0) + r["resp_pkts"].as_u64().unwrap_or(0))
        .sum()
}

fn offline(dir: &Path, pcap: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("offline");
    let o = Command::new(bin())
        .arg("read")
        .arg(pcap)
        .arg("--out")
        .arg(&out)
        .args(["--sensor-id", "t1", "--quiet", "--no-rule-cache"])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Every Parquet file under `dir`, read whole by pyarrow, with its footer's
/// key-value metadata.
fn pyarrow_files(dir: &Path) -> Vec<Value> {
    let code = r#"
import json, os, sys
import pyarrow.parquet as pq
out = []
for root, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        if f.endswith('.parquet'):
            p = os.path.join(root, f)
            t = pq.read_table(p)
            md = pq.read_metadata(p).metadata or {}
            out.append({'path': p, 'rows': t.num_rows, 'meta': {k.decode(): v.decode() for k, v in md.items() if k.startswith(b'mekong.')}})
print(json.dumps(out))
"#;
    let o = python_with(&["pyarrow"])
        .args(["-c", code])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pyarrow: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap()
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, v: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, v);
            } else if p.to_string_lossy().ends_with(".tmp") {
                v.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, &mut v);
    v
}

#[test]
fn live_records_and_alerts_match_the_offline_ones_with_libpcap() {
    let _serial = serial();
    records_and_alerts_match("pcap", "a");
}

#[test]
fn live_records_and_alerts_match_the_offline_ones_with_af_packet() {
    let _serial = serial();
    records_and_alerts_match("af-packet", "f");
}

/// AF_XDP with the kernel's choice of mode: a veth has native XDP.
#[test]
fn live_records_and_alerts_match_the_offline_ones_with_af_xdp() {
    let _serial = serial();
    records_and_alerts_match("af-xdp", "x");
}

/// AF_XDP in generic (SKB) mode, which any interface has, with a BPF
/// filter (applied by the sensor: AF_XDP has no socket filter).
#[test]
fn live_records_and_alerts_match_the_offline_ones_with_af_xdp_in_generic_mode() {
    let _serial = serial();
    records_and_alerts_match("af-xdp-generic", "g");
}

/// The XDP program attached to `iface`, as `ip link` shows it: "xdp"
/// (native), "xdpgeneric", or None.
fn xdp_attached(iface: &str) -> Option<String> {
    let o = Command::new("ip")
        .args(["-o", "link", "show", "dev", iface])
        .output()
        .unwrap();
    assert!(o.status.success(), "ip link show {iface}");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("xdp"))
        .map(str::to_string)
}

/// Packets of `pcap` that `filter` passes, as tcpdump counts them.
fn tcpdump_count(pcap: &Path, filter: &str) -> u64 {
    let o = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(pcap)
        .arg(filter)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout.iter().filter(|&&b| b == b'\n').count() as u64
}

/// `method` is a capture method, or `af-xdp-generic` for AF_XDP in
/// generic mode.
fn records_and_alerts_match(method: &str, tag: &str) {
    let (method, xdp_mode, filter) = match method {
        "af-xdp-generic" => ("af-xdp", Some("generic"), Some("not udp port 53")),
        "af-xdp" => ("af-xdp", Some("auto"), None),
        m => (m, None, None),
    };
    let cap = if method == "af-packet" {
        capture_af_packet()
    } else {
        capture()
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("get.rules");
    std::fs::write(&rules, GET_RULE).unwrap();
    let r = rules.to_str().unwrap();
    let js = dir.path().join("offline.json");
    let mut off_args = vec![
        "--workers",
        "2",
        "--rules",
        r,
        "--summary-json",
        js.to_str().unwrap(),
    ];
    if let Some(f) = filter {
        off_args.extend(["--filter", f]);
    }
    let off = offline(dir.path(), cap, &off_args);
    let sum: Value = serde_json::from_slice(&std::fs::read(&js).unwrap()).unwrap();
    let link = VethLink::new(tag);
    let out = dir.path().join("live");
    let mut args = vec!["--workers", "2", "--rules", r, "--method", method];
    if let Some(m) = xdp_mode {
        args.extend(["--xdp-mode", m]);
    }
    if let Some(f) = filter {
        args.extend(["--filter", f]);
    }
    assert_eq!(xdp_attached(&link.host_if), None);
    let s = Sensor::start(&link.host_if, &out, &args);
    // The program is on the interface while the sensor runs, in the mode
    // asked (the kernel chooses the veth's native XDP for auto).
    match xdp_mode {
        Some("generic") => assert_eq!(xdp_attached(&link.host_if).as_deref(), Some("xdpgeneric")),
        Some(_) => assert_eq!(xdp_attached(&link.host_if).as_deref(), Some("xdp")),
        None => assert_eq!(xdp_attached(&link.host_if), None),
    }
    let sent = link.replay(cap, 2_000);
    // With AF_PACKET the kernel hands over each fragmented datagram whole.
    let sent = if method == "af-packet" {
        let (frags, whole) = (
            sum["fragments"].as_u64().unwrap(),
            sum["reassembled"].as_u64().unwrap(),
        );
        assert!(
            frags > whole && whole > 0,
            "the capture has fragments: {sum}"
        );
        sent - frags + whole
    } else if let Some(f) = filter {
        // What passes the filter, counted by tcpdump.
        let passed = tcpdump_count(cap, f);
        assert!(passed < sent && passed > sent / 2, "{passed} of {sent}");
        passed
    } else {
        sent
    };
    let name = format!("mekong_packets_total{{interface=\"{}\"}}", link.host_if);
    s.wait_metric(&name, |v| v as u64 == sent, Duration::from_secs(60));
    // The kernel's own counters, read once a second.
    let received = format!(
        "mekong_capture_received_total{{interface=\"{}\"}}",
        link.host_if
    );
    s.wait_metric(&received, |v| v as u64 == sent, Duration::from_secs(10));
    let m = s.scrape();
    assert!(m.starts_with("application/openmetrics-text"), "{m}");
    let if_label = format!("interface=\"{}\"", link.host_if);
    assert_eq!(
        metric(
            &m,
            &format!("mekong_drops_total{{{if_label},reason=\"kernel\"}}")
        ),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, &format!("mekong_capture_received_total{{{if_label}}}")),
        Some(sent as f64),
        "{m}"
    );
    assert!(
        metric(&m, "mekong_alerts_total{technique=\"T1046\"}").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    let active: f64 = (0..2)
        .filter_map(|w| metric(&m, &format!("mekong_flows_active{{worker=\"{w}\"}}")))
        .sum();
    assert!(active > 0.0, "{m}");
    let (code, log) = s.stop();
    assert_eq!(code, 0, "{log}");
    // and gone once it stopped.
    assert_eq!(xdp_attached(&link.host_if), None);

    let (mut lf, mut of) = (flows(&out), flows(&off));
    if method == "af-packet" {
        // The kernel reassembles IPv4 fragments for the fanout: a flow with
        // fragmented datagrams has fewer, larger packets than offline. Such
        // flows must be there with the same key; the others, identical.
        let split = fragmented_pairs(cap);
        assert!(!split.is_empty(), "the capture has fragments");
        let has = |k: &str| {
            split
                .iter()
                .any(|(a, b)| k.contains(a.as_str()) && k.contains(b.as_str()))
        };
        let lk: Vec<String> = lf
            .iter()
            .filter(|(k, _)| has(k))
            .map(|(k, _)| k.clone())
            .collect();
        let ok: Vec<String> = of
            .iter()
            .filter(|(k, _)| has(k))
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(lk, ok);
        lf.retain(|(k, _)| !has(k));
        of.retain(|(k, _)| !has(k));
    }
    assert!(of.len() > 500, "{}", of.len());
    if lf != of {
        let l: BTreeMap<_, _> = lf.iter().cloned().collect();
        let o: BTreeMap<_, _> = of.iter().cloned().collect();
        let diff: Vec<_> = o
            .iter()
            .filter(|(k, v)| l.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}: offline {v}, live {:?}", l.get(k)))
            .take(10)
            .collect();
        panic!(
            "{} live flows, {} offline; first differences:\n{}",
            lf.len(),
            of.len(),
            diff.join("\n")
        );
    }
    let (la, oa) = (alerts(&out), alerts(&off));
    assert!(oa.iter().any(|a| a.contains("9900001")), "{oa:?}");
    assert!(oa.iter().any(|a| a.starts_with("\"scan.")), "{oa:?}");
    assert_eq!(la, oa);
    // The footers say how the packets were read and that none was dropped.
    let files = pyarrow_files(&out.join("flows"));
    assert!(!files.is_empty());
    for f in &files {
        assert_eq!(f["meta"]["mekong.capture_method"], method, "{f}");
        assert_eq!(f["meta"]["mekong.packets_dropped"], "0", "{f}");
        assert_eq!(
            f["meta"]["mekong.inputs"],
            format!("[\"{}\"]", link.host_if),
            "{f}"
        );
        assert!(
            f["meta"]["mekong.capture_started"]
                .as_str()
                .is_some_and(|s| s.ends_with('Z')),
            "{f}"
        );
    }
    let seen: Vec<u64> = files
        .iter()
        .filter_map(|f| f["meta"]["mekong.packets_seen"].as_str()?.parse().ok())
        .collect();
    assert_eq!(seen.iter().max(), Some(&sent), "{files:?}");
    let _ = tag;
}

#[test]
fn sigterm_mid_replay_loses_no_packet() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let off = offline(dir.path(), capture(), &[]);
    // The identity checked below holds offline: every packet of this
    // capture is in a record (no undecodable packet).
    let total = packets_in_records(&off);
    let link = VethLink::new("b");
    let out = dir.path().join("live");
    let js = dir.path().join("summary.json");
    let s = Sensor::start(
        &link.host_if,
        &out,
        &["--workers", "2", "--summary-json", js.to_str().unwrap()],
    );
    let mut replay = link.spawn_replay(capture(), 1_500);
    let name = format!("mekong_packets_total{{interface=\"{}\"}}", link.host_if);
    s.wait_metric(&name, |v| v > 1_000.0, Duration::from_secs(30));
    let (code, log) = s.stop();
    let _ = replay.kill();
    let _ = replay.wait();
    assert_eq!(code, 0, "{log}");
    let sum: Value = serde_json::from_slice(&std::fs::read(&js).unwrap()).unwrap();
    let read = sum["packets"].as_u64().unwrap();
    assert!(
        read > 1_000 && read < total,
        "stopped mid-replay: {read} of {total}"
    );
    assert_eq!(
        packets_in_records(&out),
        read,
        "every packet read is in a record"
    );
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
    for f in pyarrow_files(&out) {
        assert_eq!(f["meta"]["mekong.packets_dropped"], "0", "{f}");
    }
}

#[test]
fn kill_9_leaves_only_readable_files_and_the_next_start_cleans_up() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let link = VethLink::new("c");
    let out = dir.path().join("live");
    let s = Sensor::start(&link.host_if, &out, &["--workers", "1", "--rotate", "10"]);
    // About 16 s of traffic at 500 packets/s: one rotation at least.
    let mut replay = link.spawn_replay(capture(), 500);
    let t0 = Instant::now();
    s.wait_metric(
        "mekong_files_written_total",
        |v| v >= 1.0,
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_secs(3));
    s.signal("KILL");
    let killed = std::time::SystemTime::now();
    let _ = replay.kill();
    let _ = replay.wait();
    drop(s);
    assert!(t0.elapsed() < Duration::from_secs(60));
    let files = pyarrow_files(&out);
    assert!(
        files
            .iter()
            .any(|f| f["path"].as_str().unwrap().contains("/flows/")),
        "{files:?}"
    );
    // The newest finished file was closed at most a rotation (and the
    // heartbeats' lag) before the kill.
    let newest = files
        .iter()
        .filter_map(|f| f["meta"]["mekong.last_ts"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .max()
        .unwrap();
    let killed: chrono::DateTime<chrono::Utc> = killed.into();
    let lag = (killed - newest.with_timezone(&chrono::Utc)).num_milliseconds();
    assert!(
        lag <= 14_000,
        "the newest finished file is {lag} ms older than the kill"
    );
    // The checksums of the finished files hold.
    for f in &files {
        let p = Path::new(f["path"].as_str().unwrap());
        let sums = std::fs::read_to_string(p.with_file_name("_SHA256SUMS")).unwrap();
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            sums.lines().any(|l| l.ends_with(&format!("  {name}"))),
            "{name} not in _SHA256SUMS"
        );
        let o = Command::new("sha256sum").arg(p).output().unwrap();
        let digest = String::from_utf8_lossy(&o.stdout);
        let digest = digest.split_whitespace().next().unwrap();
        assert!(
            sums.contains(&format!("{digest}  {name}")),
            "{name}: checksum differs"
        );
    }
    // The next start removes what the killed run left half-written.
    let left = temporaries(&out);
    let s = Sensor::start(&link.host_if, &out, &["--workers", "1"]);
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
    if !left.is_empty() {
        assert!(s.log().contains("temporary files"), "{}", s.log());
    }
    let (code, log) = s.stop();
    assert_eq!(code, 0, "{log}");
}

#[test]
fn sighup_loads_a_new_rule_without_losing_a_flow() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // The capture in two halves, replayed with a reload in between.
    let halves = [
        dir.path().join("first.pcap"),
        dir.path().join("second.pcap"),
    ];
    let n = mekong_testkit::pcap_packets(capture());
    for (h, range) in halves
        .iter()
        .zip([format!("1-{}", n / 2), format!("{}-{n}", n / 2 + 1)])
    {
        let ok = Command::new("editcap")
            .args(["-F", "pcap", "-r"])
            .arg(capture())
            .arg(h)
            .arg(&range)
            .status()
            .unwrap()
            .success();
        assert!(ok, "editcap");
    }
    let rules = dir.path().join("local.rules");
    std::fs::write(&rules, "alert tcp any any -> any any (msg:\"never\"; content:\"mekong-absent-pattern\"; sid:9900009; rev:1;)\n").unwrap();
    let conf = dir.path().join("mekong.toml");
    std::fs::write(
        &conf,
        "[detection]\nrules = [\"local.rules\"]\n[sensor]\nworkers = 2\n",
    )
    .unwrap();
    let off = offline(dir.path(), capture(), &["--workers", "2"]);
    let link = VethLink::new("d");
    let out = dir.path().join("live");
    let s = Sensor::start(&link.host_if, &out, &["--config", conf.to_str().unwrap()]);
    let name = format!("mekong_packets_total{{interface=\"{}\"}}", link.host_if);
    let first = link.replay(&halves[0], 2_000);
    s.wait_metric(&name, |v| v as u64 == first, Duration::from_secs(60));
    std::fs::write(&rules, GET_RULE).unwrap();
    s.signal("HUP");
    s.wait_metric(
        "mekong_reloads_total",
        |v| v >= 1.0,
        Duration::from_secs(60),
    );
    let reloaded = chrono::Utc::now();
    let second = link.replay(&halves[1], 2_000);
    s.wait_metric(
        &name,
        |v| v as u64 == first + second,
        Duration::from_secs(60),
    );
    let (code, log) = s.stop();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("reloaded"), "{log}");
    // The new rule fired, on the second half only.
    let rows = read_rows(&out.join("alerts"));
    let fired: Vec<_> = rows
        .iter()
        .filter(|r| r["signature_id"] == 9_900_001)
        .collect();
    assert!(!fired.is_empty(), "the new rule did not fire");
    // Packet time (µs) of every hit comes after the reload (the
    // kernel's timestamps and the clock agree to well within a second).
    let reloaded_us = reloaded.timestamp_micros() - 1_000_000;
    for r in &fired {
        let ts = r["ts"].as_i64().unwrap();
        assert!(
            ts > reloaded_us,
            "an alert before the reload: {ts} <= {reloaded_us}"
        );
    }
    // Every flow is whole: the same records as offline.
    assert_eq!(flows(&out), flows(&off));
}

/// A tmpfs mounted for the test, unmounted at the end.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_writing_and_it_resumes_when_space_returns() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount tmpfs (root is needed)");
    let _guard = Tmpfs(mnt.clone());
    let link = VethLink::new("e");
    let out = mnt.join("tree");
    let s = Sensor::start(&link.host_if, &out, &["--workers", "1", "--rotate", "10"]);
    // Fill what is left.
    let filler = mnt.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let sent = link.replay(capture(), 4_000);
    s.wait_metric("mekong_disk_full", |v| v == 1.0, Duration::from_secs(60));
    assert!(s.metric("mekong_write_errors_total").unwrap_or(0.0) >= 1.0);
    std::fs::remove_file(&filler).unwrap();
    s.wait_metric("mekong_disk_full", |v| v == 0.0, Duration::from_secs(30));
    // What could not be written is counted (the open files' records and
    // alerts, and what came while writing was stopped).
    let lost = s
        .metric("mekong_drops_total{reason=\"disk_full_records\"}")
        .unwrap_or(0.0)
        + s.metric("mekong_drops_total{reason=\"disk_full_alerts\"}")
            .unwrap_or(0.0);
    // Writing goes on: the second replay's flows are written.
    link.replay(capture(), 4_000);
    let name = format!("mekong_packets_total{{interface=\"{}\"}}", link.host_if);
    s.wait_metric(&name, |v| v as u64 == 2 * sent, Duration::from_secs(60));
    let (code, log) = s.stop();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("writing stopped") && log.contains("writing resumed"),
        "{log}"
    );
    let off = offline(dir.path(), capture(), &[]);
    let written = read_rows(&out.join("flows")).len();
    let one = flows(&off).len();
    assert!(
        written >= one,
        "{written} records written, one replay makes {one}"
    );
    assert!(
        lost > 0.0,
        "what the full disk kept from being written is counted as lost"
    );
    assert!(temporaries(&out).is_empty());
    for f in pyarrow_files(&out) {
        assert!(f["rows"].as_u64().unwrap() > 0, "{f}");
    }
    // Files are not readable by others.
    for f in pyarrow_files(&out) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f["path"].as_str().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o007, 0, "{f}: mode {mode:o}");
    }
}

/// A directory `mode` lets others into (the unprivileged user must reach
/// the output under it), and nobody's uid.
fn dir_for_nobody(mode: u32) -> (tempfile::TempDir, u32) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let uid: u32 = String::from_utf8_lossy(&nobody.stdout)
        .trim()
        .parse()
        .unwrap();
    (dir, uid)
}

/// Replays the capture into `link`, waits until the sensor has read it all,
/// stops it, and checks that the files it wrote are `uid`'s and not for
/// others.
fn replay_stop_and_check_files(s: Sensor, link: &VethLink, out: &Path, uid: u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let sent = link.replay(capture(), 4_000);
    let name = format!("mekong_packets_total{{interface=\"{}\"}}", link.host_if);
    s.wait_metric(&name, |v| v as u64 == sent, Duration::from_secs(60));
    let (code, log) = s.stop();
    assert_eq!(code, 0, "{log}");
    let files = pyarrow_files(out);
    assert!(!files.is_empty(), "{log}");
    for f in &files {
        let m = std::fs::metadata(f["path"].as_str().unwrap()).unwrap();
        assert_eq!(m.uid(), uid, "{f}");
        assert_eq!(m.permissions().mode() & 0o007, 0, "{f}: not for others");
    }
}

#[test]
fn the_capture_opens_as_root_and_the_sensor_then_runs_as_the_user_it_is_given() {
    let _serial = serial();
    let (dir, uid) = dir_for_nobody(0o711);
    let link = VethLink::new("g");
    let out = dir.path().join("live");
    let s = Sensor::start(&link.host_if, &out, &["--workers", "1", "--user", "nobody"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let uids = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    assert!(
        uids.split_whitespace()
            .skip(1)
            .all(|u| u == uid.to_string()),
        "real, effective, saved and file-system uids are nobody's: {uids}"
    );
    assert!(s.log().contains("as nobody"), "{}", s.log());
    replay_stop_and_check_files(s, &link, &out, uid);
}

/// `mekong-sensor live` on `link` as nobody with the capabilities `caps`
/// (e.g. "net_raw,net_admin") and nothing else, as a systemd unit runs it,
/// with the kernel's default locked-memory limit (8 MiB) whatever the
/// test's own is.
fn sensor_as_nobody(caps: &str, link: &VethLink, dir: &Path, extra: &[&str]) -> Sensor {
    let out = dir.join("live");
    let metrics = format!("127.0.0.1:{}", free_port());
    let log = dir.join(format!("caps-{}.log", caps.replace(',', "-")));
    let set: String = caps.split(',').map(|c| format!(",+{c}")).collect();
    let child = Command::new("prlimit")
        .args(["--memlock=8388608:8388608", "setpriv"])
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            &format!("--inh-caps=-all{set}"),
            &format!("--ambient-caps=-all{set}"),
            &format!("--bounding-set=-all{set}"),
        ])
        .arg(bin())
        .args([
            "live",
            "-i",
            &link.host_if,
            "--workers",
            "1",
            "--no-rule-cache",
        ])
        .args(["--metrics", &metrics])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("prlimit and setpriv (util-linux)");
    Sensor {
        child,
        metrics,
        stderr: log,
    }
}

/// The effective capabilities of a running process, as /proc shows them.
fn cap_eff(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn an_unprivileged_user_with_the_two_capture_capabilities_only_can_run_it() {
    let _serial = serial();
    let (dir, uid) = dir_for_nobody(0o777);
    let link = VethLink::new("h");
    let s = sensor_as_nobody("net_raw,net_admin", &link, dir.path(), &[]);
    s.wait_log("capturing on", Duration::from_secs(60));
    // CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13: 0x3000.
    assert_eq!(cap_eff(s.child.id()), "0000000000003000");
    replay_stop_and_check_files(s, &link, &dir.path().join("live"), uid);
}

/// AF_XDP loads an XDP program (CAP_BPF) and locks its frames in memory
/// (RLIMIT_MEMLOCK, or CAP_IPC_LOCK): each refusal says what is missing.
#[test]
fn af_xdp_as_an_unprivileged_user_needs_cap_bpf_and_locked_memory() {
    let _serial = serial();
    let (dir, uid) = dir_for_nobody(0o777);
    let link = VethLink::new("k");
    let xdp = ["--method", "af-xdp"];
    let refused = |caps: &str, says: &str| {
        let mut s = sensor_as_nobody(caps, &link, dir.path(), &xdp);
        let t = Instant::now();
        let code = loop {
            if let Some(st) = s.child.try_wait().unwrap() {
                break st.code();
            }
            assert!(t.elapsed() < Duration::from_secs(60), "{}", s.log());
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_ne!(code, Some(0), "{}", s.log());
        assert!(s.log().contains(says), "{caps}: {}", s.log());
        assert_eq!(xdp_attached(&link.host_if), None, "nothing left attached");
    };
    refused("net_raw,net_admin", "needs CAP_BPF");
    // The default 256 MiB of frames is above the default locked-memory
    // limit.
    refused("net_raw,net_admin,bpf", "RLIMIT_MEMLOCK");
    let s = sensor_as_nobody("net_raw,net_admin,bpf,ipc_lock", &link, dir.path(), &xdp);
    s.wait_log("capturing on", Duration::from_secs(60));
    // CAP_IPC_LOCK is bit 14, CAP_BPF bit 39.
    assert_eq!(cap_eff(s.child.id()), "0000008000007000");
    assert!(s.log().contains("as nobody"), "{}", s.log());
    assert_eq!(xdp_attached(&link.host_if).as_deref(), Some("xdp"));
    replay_stop_and_check_files(s, &link, &dir.path().join("live"), uid);
    assert_eq!(xdp_attached(&link.host_if), None);
}

/// Retention in a live run: the oldest hour partitions go while the tree
/// is over its size limit (checked at the start, then every minute), and
/// the date directory goes with its last hour.
#[test]
fn retention_deletes_the_oldest_hours_past_the_size_limit_in_a_live_run() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live");
    let date = |d: &str| out.join(format!("flows/sensor=t1/date={d}"));
    for d in ["2020-01-01", "2020-01-02"] {
        let h = date(d).join("hour=00");
        std::fs::create_dir_all(&h).unwrap();
        // Not Parquet, so that pyarrow reads only the run's own files.
        std::fs::write(h.join("old-data"), vec![0u8; 4096]).unwrap();
    }
    // 6 KiB: the two old hours (8 KiB) are over it, the newer alone is not.
    let conf = dir.path().join("m.toml");
    let gib = 6144.0 / f64::from(1u32 << 30);
    std::fs::write(&conf, format!("[output]\nretention_max_gib = {gib}\n")).unwrap();
    let link = VethLink::new("t");
    let s = Sensor::start(
        &link.host_if,
        &out,
        &["--workers", "1", "--config", conf.to_str().unwrap()],
    );
    s.wait_metric(
        "mekong_retention_deleted_total",
        |v| v >= 1.0,
        Duration::from_secs(30),
    );
    assert!(!date("2020-01-01").exists(), "the oldest hour and its date");
    assert!(date("2020-01-02").join("hour=00/old-data").exists());
    let sent = link.replay(capture(), 4_000);
    let name = format!("mekong_packets_total{{interface=\"{}\"}}", link.host_if);
    s.wait_metric(&name, |v| v as u64 == sent, Duration::from_secs(60));
    assert_eq!(s.metric("mekong_retention_deleted_total"), Some(1.0));
    let (code, log) = s.stop();
    assert_eq!(code, 0, "{log}");
    // The run's own files are written beside what was kept.
    assert!(!pyarrow_files(&out.join("flows")).is_empty(), "{log}");
    assert!(date("2020-01-02").exists());
}
