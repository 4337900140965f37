//! Evidence extracts on a real tree: an extract of a labelled attacker's
//! host over its scenario's window holds exactly the flows DuckDB finds for
//! that host and window in the same files, and nothing else; only the
//! columns asked for; the same extract twice is byte-identical; a changed
//! byte fails `extract --verify`; editing, deleting or reordering a line of
//! the audit log fails `audit verify`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::tree;
use mekong_testkit::python_with;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_mekong-analyzer");

fn utc(us: u64) -> String {
    let out = python_with(&["datetime"])
        .args([
            "-c",
            "import datetime,sys; print(datetime.datetime.fromtimestamp(int(sys.argv[1]) // 1000000, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))",
        ])
        .arg(us.to_string())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn analyzer(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// DuckDB's flow uids (with sensors) of `host` in [from, to] (seconds, UTC).
fn duckdb_flows(host: &str, from: &str, to: &str) -> BTreeSet<(String, i64, i64)> {
    let script = r#"
import duckdb, sys
tree, host, f, t = sys.argv[1:5]
c = duckdb.connect()
c.execute("SET TimeZone='UTC'")
rows = c.execute(f"""SELECT sensor, flow_uid, piece FROM read_parquet('{tree}/flows/**/*.parquet', hive_partitioning = true)
  WHERE (orig_addr = '{host}' OR resp_addr = '{host}') AND last_ts >= TIMESTAMPTZ '{f}' AND first_ts <= TIMESTAMPTZ '{t}'""").fetchall()
for r in rows:
    print(r[0], r[1], r[2])
"#;
    let out = python_with(&["duckdb"])
        .args(["-c", script])
        .arg(tree())
        .args([host, from, to])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<&str> = l.split(' ').collect();
            (
                v[0].to_string(),
                v[1].parse().unwrap(),
                v[2].parse().unwrap(),
            )
        })
        .collect()
}

/// The extract's flows, read back with pyarrow: (sensor, uid, piece) and the columns.
fn extracted(dir: &Path) -> (BTreeSet<(String, i64, i64)>, Vec<String>) {
    let script = r#"
import pyarrow.parquet as pq, sys
t = pq.read_table(sys.argv[1] + "/flows.parquet")
print(",".join(t.column_names))
for r in t.to_pylist():
    print(r["sensor"], r["flow_uid"], r["piece"])
"#;
    let out = python_with(&["pyarrow"])
        .args(["-c", script])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let cols = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| {
            let v: Vec<&str> = l.split(' ').collect();
            (
                v[0].to_string(),
                v[1].parse().unwrap(),
                v[2].parse().unwrap(),
            )
        })
        .collect();
    (rows, cols)
}

#[test]
fn an_extract_holds_exactly_the_host_and_window_and_is_evidence() {
    let t = tree();
    let l = common::labels()
        .iter()
        .find(|l| l.scenario == "exfil_smtp")
        .expect("the capture has the SMTP exfiltration");
    let host = l.attackers[0].addr.to_string();
    // The scenario's window, widened by a minute each side.
    let (from, to) = (utc(l.start_us - 60_000_000), utc(l.end_us + 60_000_000));
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    for out in [&a, &b] {
        let o = analyzer(&[
            "extract",
            t.to_str().unwrap(),
            "--case",
            "HN-2026-0042",
            "--requester",
            "Phong PA05",
            "--operator",
            "analyst1",
            "--host",
            &host,
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let want = duckdb_flows(&host, &from, &to);
    let (got, cols) = extracted(&a);
    assert!(!want.is_empty());
    assert_eq!(
        got, want,
        "the extract holds exactly DuckDB's flows of the host and window"
    );
    assert_eq!(
        cols,
        mekong_analyzer::extract::DEFAULT_FLOW_COLUMNS
            .map(String::from)
            .to_vec(),
        "only the columns asked for"
    );
    // Byte-identical files, the manifest included; the receipts differ.
    for f in [
        "flows.parquet",
        "flows.csv",
        "alerts.parquet",
        "alerts.csv",
        "MANIFEST.json",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(m["case"], "HN-2026-0042");
    assert_eq!(m["rows"]["flows"].as_u64().unwrap() as usize, want.len());
    assert!(m["queries"]["flows"].as_str().unwrap().contains(&host));
    assert_eq!(m["sensors"], serde_json::json!(["hanoi", "hue"]));
    assert!(m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["matches_sensor_sums"] == true));
    assert_eq!(m["capture_completeness"]["hue"]["packets_dropped"], 0);
    // Hour by hour, the window's hours of every sensor, as summary counts them.
    let summary = common::rt()
        .block_on(mekong_analyzer::summary::summary(t, None, None))
        .unwrap();
    let hours: Vec<&serde_json::Value> = summary["capture_completeness"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let k = format!(
                "{}T{}",
                r["date"].as_str().unwrap(),
                r["hour"].as_str().unwrap()
            );
            k.as_str() >= &from[..13] && k.as_str() <= &to[..13]
        })
        .collect();
    assert!(!hours.is_empty());
    assert_eq!(
        m["capture_completeness_by_hour"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        hours
    );
    // The manifest's hashes are the files' (checked with Python's hashlib).
    let check = r#"
import hashlib, json, sys
d = sys.argv[1]
m = json.load(open(d + "/MANIFEST.json"))
for name, h in m["files"].items():
    assert hashlib.sha256(open(d + "/" + name, "rb").read()).hexdigest() == h, name
print("ok")
"#;
    let o = python_with(&["hashlib"])
        .args(["-c", check])
        .arg(&a)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Intact, then one byte changed.
    assert!(analyzer(&["extract", "--verify", a.to_str().unwrap()])
        .status
        .success());
    let p = a.join("flows.parquet");
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let o = analyzer(&["extract", "--verify", a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("flows.parquet: SHA-256"));
    // The audit log has both extracts and their receipts.
    let receipts = [
        "--receipt",
        a.to_str().unwrap(),
        "--receipt",
        b.to_str().unwrap(),
    ];
    let mut args = vec!["audit", "verify", t.to_str().unwrap()];
    args.extend(receipts);
    assert!(analyzer(&args).status.success());
    let log = t.join("audit/audit.log");
    let good = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<String> = good.lines().map(String::from).collect();
    assert!(lines.len() >= 2);
    let n = lines.len();
    let edited: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == n - 2 {
                l.replace("Phong PA05", "Phong PA06")
            } else {
                l.clone()
            }
        })
        .collect();
    let mut deleted = lines.clone();
    deleted.remove(n - 2);
    let mut last_deleted = lines.clone();
    last_deleted.pop();
    let mut swapped = lines.clone();
    swapped.swap(n - 2, n - 1);
    for (what, v) in [
        ("edited", &edited),
        ("deleted", &deleted),
        ("last deleted", &last_deleted),
        ("reordered", &swapped),
    ] {
        std::fs::write(&log, v.join("\n") + "\n").unwrap();
        let o = analyzer(&["audit", "verify", t.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{what}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    std::fs::write(&log, &good).unwrap();
    assert!(analyzer(&["audit", "verify", t.to_str().unwrap()])
        .status
        .success());
}

#[test]
fn requests_that_cannot_be_run_are_refused_clearly() {
    let t = tree().to_str().unwrap().to_string();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    for (args, want) in [
        (vec!["--case", "C", "--requester", "R"], "needs a host"),
        (
            vec![
                "--case",
                "C",
                "--requester",
                "R",
                "--host",
                "10.0.0.1",
                "--from",
                "yesterday",
            ],
            "not a UTC time",
        ),
        (
            vec![
                "--case",
                "C",
                "--requester",
                "R",
                "--host",
                "10.0.0.1",
                "--from",
                "2026-03-02T10:00:00Z",
                "--to",
                "2026-03-02T09:00:00Z",
            ],
            "before it starts",
        ),
        (
            vec![
                "--case",
                "C",
                "--requester",
                "R",
                "--host",
                "10.0.0.1",
                "--columns",
                "flow_uid,password",
            ],
            "not a column",
        ),
        (
            vec!["--case", "", "--requester", "R", "--host", "10.0.0.1"],
            "--case",
        ),
    ] {
        let mut a = vec!["extract", t.as_str()];
        a.extend(args.iter().copied());
        a.extend(["--out", o]);
        let r = analyzer(&a);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // `--host` must be an address: clap refuses anything else (no SQL in it).
    let r = analyzer(&[
        "extract",
        &t,
        "--case",
        "C",
        "--requester",
        "R",
        "--host",
        "1' OR '1'='1",
        "--out",
        o,
    ]);
    assert_eq!(r.status.code(), Some(2));
}
