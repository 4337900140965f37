//! `mekong-analyzer query` over a real tree: two sensors' output of a
//! generated capture, side by side. The same queries through DuckDB on the
//! same files give the same rows (partition columns and timestamps
//! included); the address functions agree with Python's `ipaddress` on
//! every address of the tree; partition filters read only their
//! directories; every output format reads back; a bad query is an error
//! with DataFusion's message, never a panic.

use std::process::Command;

use common::tree;
use mekong_analyzer::output::Format;
use mekong_testkit::python_with;

mod common;

use common::rt;

/// Mekong's rows of `sql`, as JSON lines.
fn mekong(sql: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    rt().block_on(mekong_analyzer::query(tree(), sql, Format::Json, &mut out))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// DuckDB's rows of `sql` (tables as views over the same files), as JSON.
fn duckdb(sql: &str) -> Vec<serde_json::Value> {
    let script = r#"
import duckdb, json, sys
tree, sql = sys.argv[1], sys.argv[2]
c = duckdb.connect()
c.execute("SET TimeZone='UTC'")
for t in ("flows", "alerts"):
    c.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{tree}/{t}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)")
cur = c.execute(sql)
names = [d[0] for d in cur.description]
for row in cur.fetchall():
    print(json.dumps(dict(zip(names, [v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for v in row]))))
"#;
    let out = python_with(&["duckdb"])
        .args(["-c", script])
        .arg(tree())
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_same_queries_give_the_same_rows_as_duckdb() {
    for sql in [
        "SELECT sensor, date, hour, count(*) AS n, sum(orig_ip_bytes) AS b FROM flows GROUP BY sensor, date, hour ORDER BY sensor, date, hour",
        "SELECT app_proto, count(*) AS n, sum(resp_payload_bytes) AS b FROM flows WHERE app_proto IS NOT NULL GROUP BY app_proto ORDER BY app_proto",
        "SELECT orig_addr, count(*) AS n FROM flows WHERE sensor = 'hue' GROUP BY orig_addr ORDER BY n DESC, orig_addr LIMIT 10",
        // Timestamps: microseconds since the epoch, UTC, in each engine's words.
        "SELECT {us} AS t, flow_uid, sensor, date, hour FROM flows WHERE sensor = 'hanoi' ORDER BY t, flow_uid LIMIT 20",
        "SELECT signature_id, count(*) AS n FROM alerts GROUP BY signature_id ORDER BY signature_id",
    ] {
        let ours = mekong(&sql.replace("{us}", "CAST(first_ts AS BIGINT)"));
        let theirs = duckdb(&sql.replace("{us}", "epoch_us(first_ts)"));
        assert!(!ours.is_empty(), "{sql}: no rows");
        assert_eq!(ours, theirs, "{sql}");
    }
}

#[test]
fn address_functions_agree_with_pythons_ipaddress() {
    let rows = mekong(
        "SELECT DISTINCT orig_addr AS a, in_cidr(orig_addr, '10.10.0.0/16') AS c, is_private(orig_addr) AS p, network(orig_addr, 20) AS n FROM flows ORDER BY a",
    );
    assert!(rows.len() > 50, "{} addresses", rows.len());
    let check = r#"
import ipaddress, json, sys
bad = 0
for line in sys.stdin:
    r = json.loads(line)
    a = ipaddress.ip_address(r["a"])
    c = a in ipaddress.ip_network("10.10.0.0/16") if a.version == 4 else False
    v4 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10"]
    v6 = ["::1/128", "fc00::/7", "fe80::/10"]
    p = any(a in ipaddress.ip_network(n) for n in (v4 if a.version == 4 else v6))
    n = str(ipaddress.ip_network(f"{a}/{20 if a.version == 4 else 20}", strict=False))
    if (r["c"], r["p"], r["n"]) != (c, p, n):
        bad += 1
        print(r, c, p, n, file=sys.stderr)
print(bad)
"#;
    let input: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let mut child = python_with(&["json"])
        .args(["-c", check])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn partition_filters_read_only_their_directories() {
    let rows = mekong("EXPLAIN SELECT sum(orig_pkts) FROM flows WHERE sensor = 'hue'");
    let plan: String = rows.iter().map(|r| r.to_string()).collect();
    assert!(plan.contains("sensor=hue"), "{plan}");
    assert!(!plan.contains("sensor=hanoi"), "{plan}");
    let all = mekong("SELECT count(*) AS n FROM flows");
    let hue = mekong("SELECT count(*) AS n FROM flows WHERE sensor = 'hue'");
    let n = |r: &[serde_json::Value]| r[0]["n"].as_u64().unwrap();
    assert_eq!(n(&all), 2 * n(&hue), "two sensors read the same capture");
}

#[test]
fn every_format_reads_back() {
    let sql = "SELECT flow_uid, orig_addr, app_proto, first_ts FROM flows WHERE sensor = 'hanoi' ORDER BY flow_uid LIMIT 50";
    let d = tempfile::tempdir().unwrap();
    let rt = rt();
    for (f, ext) in [
        (Format::Csv, "csv"),
        (Format::Json, "json"),
        (Format::Parquet, "parquet"),
        (Format::Table, "txt"),
    ] {
        let p = d.path().join(format!("r.{ext}"));
        let mut file = std::fs::File::create(&p).unwrap();
        let n = rt
            .block_on(mekong_analyzer::query(tree(), sql, f, &mut file))
            .unwrap();
        assert_eq!(n, 50, "{ext}");
    }
    let check = r#"
import csv, json, sys, pyarrow.parquet as pq
d = sys.argv[1]
c = list(csv.DictReader(open(f"{d}/r.csv")))
j = [json.loads(l) for l in open(f"{d}/r.json")]
p = pq.read_table(f"{d}/r.parquet").to_pylist()
assert len(c) == len(j) == len(p) == 50, (len(c), len(j), len(p))
assert [int(r["flow_uid"]) for r in c] == [r["flow_uid"] for r in j] == [r["flow_uid"] for r in p]
assert [r["orig_addr"] for r in c] == [r["orig_addr"] for r in p]
t = open(f"{d}/r.txt").read()
assert t.strip().endswith("50 rows") and "flow_uid" in t
print("ok")
"#;
    let out = python_with(&["pyarrow"])
        .args(["-c", check])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_queries_and_trees_are_errors_not_panics() {
    let bin = env!("CARGO_BIN_EXE_mekong-analyzer");
    for (args, want) in [
        (vec!["SELEC 1"], "SQL error"),
        (vec!["SELECT nope FROM flows"], "No field named nope"),
        (vec!["SELECT * FROM nowhere"], "nowhere"),
        (vec!["SELECT in_cidr(orig_addr) FROM flows"], "in_cidr"),
    ] {
        let out = Command::new(bin)
            .arg("query")
            .arg(tree())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("mekong-analyzer: error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = Command::new(bin)
        .args(["query", "/nonexistent/tree", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a Mekong output tree"));
    // The same in Vietnamese, by flag and by environment.
    for cmd in [
        Command::new(bin)
            .args(["--lang", "vi", "query", "/nonexistent/tree", "SELECT 1"])
            .output(),
        Command::new(bin)
            .env("MEKONG_LANG", "vi")
            .args(["query", "/nonexistent/tree", "SELECT 1"])
            .output(),
    ] {
        let out = cmd.unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end(),
            "mekong-analyzer: lỗi: /nonexistent/tree không phải là cây dữ liệu của Mekong (không có tệp Parquet trong flows/ hay alerts/)"
        );
    }
    let out = Command::new(bin)
        .arg("query")
        .arg(tree())
        .args(["SELECT 1", "--format", "parquet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --out"));
    // Rows with addresses that are not addresses give null, not an error.
    let r = mekong("SELECT in_cidr('not-an-address', '10.0.0.0/8') AS a, network('10.1.2.3', 99) AS b, is_private(NULL) AS c");
    assert_eq!(r[0]["a"], serde_json::Value::Null);
}

#[test]
fn summary_numbers_are_duckdbs() {
    let s = rt()
        .block_on(mekong_analyzer::summary::summary(tree(), None, None))
        .unwrap();
    let t = &duckdb("SELECT count(*) AS flows, sum(orig_pkts + resp_pkts) AS packets, sum(orig_ip_bytes + resp_ip_bytes) AS bytes, count(DISTINCT sensor) AS sensors FROM flows")[0];
    for k in ["flows", "packets", "bytes", "sensors"] {
        assert_eq!(s["totals"][0][k], t[k], "{k}");
    }
    let top = duckdb(
        "SELECT host, sum(b) AS bytes FROM (SELECT orig_addr AS host, orig_ip_bytes + resp_ip_bytes AS b FROM flows UNION ALL SELECT resp_addr, orig_ip_bytes + resp_ip_bytes FROM flows) GROUP BY host ORDER BY bytes DESC, host LIMIT 10",
    );
    let ours: Vec<(String, u64)> = s["top_talkers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["host"].as_str().unwrap().to_string(),
                r["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let theirs: Vec<(String, u64)> = top
        .iter()
        .map(|r| {
            (
                r["host"].as_str().unwrap().to_string(),
                r["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ours, theirs);
    let by_t = duckdb(
        "SELECT t AS technique, count(*) AS alerts FROM (SELECT unnest(technique_ids) AS t FROM alerts WHERE phase = 'start') GROUP BY t ORDER BY alerts DESC, t",
    );
    let ours: Vec<(String, u64)> = s["alerts_by_technique"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["technique"].as_str().unwrap().to_string(),
                r["alerts"].as_u64().unwrap(),
            )
        })
        .collect();
    let theirs: Vec<(String, u64)> = by_t
        .iter()
        .map(|r| {
            (
                r["technique"].as_str().unwrap().to_string(),
                r["alerts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!ours.is_empty());
    assert_eq!(ours, theirs);
    // Completeness: one row per sensor and hour directory, no drops from files.
    let hours = duckdb("SELECT count(DISTINCT (sensor, date, hour)) AS n FROM flows");
    assert_eq!(
        s["capture_completeness"].as_array().unwrap().len() as u64,
        hours[0]["n"].as_u64().unwrap()
    );
    assert!(s["capture_completeness"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["packets_dropped"] == 0 && r["packets_seen"].as_u64().unwrap() > 0));
}
