//! The Parquet tree as independent readers see it: pyarrow and DuckDB (from
//! PyPI) read the same rows as Mekong's own reader, `count(*)` over the tree
//! equals the run summary's record count, partitions match the records'
//! first packet hour, footers carry the provenance, and every file's SHA-256
//! matches the one written next to it. And one worker or two give the same
//! records.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use mekong_datasets::generate::{generate, Options};
use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, RunConfig, RunSummary};
use mekong_testkit::{python_with, read_rows};

/// A generated capture with every scenario (made once per test binary).
fn capture() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("parquet_tree");
        std::fs::create_dir_all(&dir).unwrap();
        let pcap = dir.join("mixed.pcap");
        let opts = Options {
            packets: 150_000,
            seed: 5,
            ..Options::default()
        };
        generate(
            &opts,
            std::fs::File::create(&pcap).unwrap(),
            std::io::sink(),
        )
        .unwrap();
        pcap
    })
}

fn sense(pcap: &Path, out: &Path, workers: usize) -> RunSummary {
    let _ = std::fs::remove_dir_all(out);
    let cfg = RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers,
        flow: FlowConfig {
            sensor_id: Arc::from("office-1"),
            ..FlowConfig::default()
        },
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(out.to_path_buf(), "office-1".into()),
        progress: false,
        detect: Some(Default::default()),
    };
    run(&cfg).unwrap()
}

const READ: &str = r#"
import sys, json, hashlib, glob, os
import pyarrow as pa, pyarrow.dataset as ds, pyarrow.parquet as pq, duckdb
root = sys.argv[1]
cols = ["flow_uid", "piece", "community_id", "orig_pkts", "resp_pkts", "orig_wire_bytes", "resp_payload_bytes"]
t = ds.dataset(os.path.join(root, "flows"), format="parquet", partitioning="hive").to_table()
pa_rows = sorted(zip(*[t.column(c).to_pylist() for c in cols], t.column("first_ts").cast(pa.int64()).to_pylist()))
glob_expr = os.path.join(root, "flows", "**", "*.parquet")
con = duckdb.connect()
n_duck = con.execute(f"select count(*) from read_parquet('{glob_expr}', hive_partitioning=1)").fetchone()[0]
dk_rows = sorted(con.execute(f"select {', '.join(cols)}, epoch_us(first_ts) from read_parquet('{glob_expr}', hive_partitioning=1)").fetchall())
bad_partition = con.execute(f"""select count(*) from read_parquet('{glob_expr}', hive_partitioning=1)
    where strftime(first_ts at time zone 'UTC', '%Y-%m-%d') <> cast(date as varchar)
       or lpad(cast(hour as varchar), 2, '0') <> strftime(first_ts at time zone 'UTC', '%H')
       or sensor <> sensor_id""").fetchone()[0]
hashes_ok = True
meta = None
files = sorted(glob.glob(glob_expr, recursive=True))
sums = {}
for d in set(os.path.dirname(f) for f in files):
    for line in open(os.path.join(d, "_SHA256SUMS")):
        h, name = line.split()
        sums[os.path.join(d, name)] = h
for f in files:
    want = sums.get(f)
    have = hashlib.sha256(open(f, "rb").read()).hexdigest()
    hashes_ok = hashes_ok and want == have
    m = pq.read_metadata(f).metadata
    meta = {k.decode(): v.decode() for k, v in m.items() if k.startswith(b"mekong.")}
    assert int(meta["mekong.records"]) == pq.read_metadata(f).num_rows
json.dump({"pyarrow": t.num_rows, "duckdb": n_duck, "same_rows": pa_rows == dk_rows, "bad_partition": bad_partition,
           "hashes_ok": hashes_ok, "files": len(files), "meta": meta,
           "pkts": sum(r[3] + r[4] for r in pa_rows), "sensors": sorted(set(t.column("sensor").to_pylist()))}, sys.stdout)
"#;

#[test]
fn pyarrow_and_duckdb_read_the_tree() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("parquet_tree/out2");
    let summary = sense(capture(), &out, 2);
    let o = python_with(&["pyarrow", "duckdb"])
        .arg("-c")
        .arg(READ)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pyarrow"].as_u64(), Some(summary.output.records));
    assert_eq!(v["duckdb"].as_u64(), Some(summary.output.records));
    assert_eq!(v["same_rows"], true);
    assert_eq!(v["bad_partition"], 0);
    assert_eq!(v["hashes_ok"], true);
    assert_eq!(v["files"].as_u64(), Some(summary.output.files.len() as u64));
    assert_eq!(v["sensors"], serde_json::json!(["office-1"]));
    let meta = &v["meta"];
    assert_eq!(
        meta["mekong.schema_version"],
        mekong_schema::SCHEMA_VERSION.to_string()
    );
    assert_eq!(meta["mekong.sensor_id"], "office-1");
    assert_eq!(meta["mekong.packets_seen"], summary.packets.to_string());
    assert!(meta["mekong.inputs"]
        .as_str()
        .unwrap()
        .contains("mixed.pcap"));
    assert_eq!(meta["mekong.first_ts"], "2026-03-02T01:00:00Z");
    // Mekong's own reader sees the same rows and packets.
    let rows = read_rows(&out.join("flows"));
    assert_eq!(rows.len() as u64, summary.output.records);
    let pkts: i64 = rows
        .iter()
        .map(|r| r["orig_pkts"].as_i64().unwrap() + r["resp_pkts"].as_i64().unwrap())
        .sum();
    assert_eq!(v["pkts"].as_i64(), Some(pkts));
    // Every IP packet of the capture is in exactly one record (the capture has no non-IP frames).
    assert_eq!(pkts as u64, summary.packets - summary.decode.total_errors());
    // No temporary file is left behind.
    let leftovers = walk(&out)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(walk(&p));
            } else {
                v.push(p);
            }
        }
    }
    v
}

#[test]
fn one_worker_and_two_workers_give_the_same_records() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("parquet_tree");
    let s1 = sense(capture(), &base.join("w1"), 1);
    let s2 = sense(capture(), &base.join("w2"), 2);
    assert_eq!(s1.output.records, s2.output.records);
    assert_eq!(
        s1.table.evicted + s2.table.evicted,
        0,
        "eviction would make the tables differ"
    );
    let canon = |dir: &Path| {
        let mut v: Vec<String> = read_rows(dir)
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        v.sort();
        v
    };
    let (a, b) = (canon(&base.join("w1")), canon(&base.join("w2")));
    assert_eq!(a.len(), b.len());
    let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
    assert!(
        first_diff.is_none(),
        "records differ:\n{}\n{}",
        a[first_diff.unwrap()],
        b[first_diff.unwrap()]
    );
}
