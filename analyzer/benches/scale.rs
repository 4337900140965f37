//! The analyzer at scale: a generated tree of N flow records (default 50
//! million: two sensors, seven days, one file per hour, written with the
//! sensor's own schema and Parquet settings), then a filtered aggregate and
//! a top-talkers query run by `mekong-analyzer query` and by DuckDB (the
//! project's `.venv`) on the same files, each as its own process timed end
//! to end with its peak memory (GNU time), best of five runs.
//!
//! ```text
//! cargo build --profile dist -p mekong-analyzer          # the analyzer as shipped
//! cargo build --release -p mekong-analyzer --bench scale
//! target/release/deps/scale-* [RECORDS] [TREE_DIR]    (or: cargo bench -p mekong-analyzer --bench scale -- RECORDS)
//! MEKONG_BENCH_README=1 ... rewrites the table in analyzer/README.md
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    new_null_array, ArrayRef, BooleanArray, Int64Array, ListArray, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use mekong_analyzer::beacon_eval::Rng;

const QUERIES: [(&str, &str); 2] = [
    (
        "filtered aggregate",
        "SELECT resp_port, count(*) AS flows, sum(orig_ip_bytes) AS bytes FROM flows \
         WHERE proto = 6 AND resp_port IN (22, 445, 3389, 8080) AND orig_ip_bytes > 2000 \
         GROUP BY resp_port ORDER BY resp_port",
    ),
    (
        "top talkers",
        "SELECT orig_addr, sum(orig_ip_bytes + resp_ip_bytes) AS bytes, count(*) AS flows FROM flows \
         GROUP BY orig_addr ORDER BY bytes DESC, orig_addr LIMIT 10",
    ),
];

/// Runs of each query by each engine; the best counts. Five, as the
/// machine's timings of one query vary by a tenth from run to run.
const RUNS: usize = 5;

fn zero(dt: &DataType, n: usize) -> ArrayRef {
    match dt {
        DataType::Utf8 => Arc::new(StringArray::from(vec![""; n])),
        DataType::Boolean => Arc::new(BooleanArray::from(vec![false; n])),
        DataType::List(f) => Arc::new(ListArray::new(
            f.clone(),
            OffsetBuffer::new_zeroed(n),
            datafusion::arrow::array::new_empty_array(f.data_type()),
            None,
        )),
        _ => datafusion::arrow::compute::cast(
            &(Arc::new(Int64Array::from(vec![0i64; n])) as ArrayRef),
            dt,
        )
        .expect("a numeric column"),
    }
}

/// One hour's records of one sensor.
fn batch(
    rng: &mut Rng,
    n: usize,
    sensor: &str,
    hour_start_us: i64,
    internal: &[String],
    external: &[String],
) -> RecordBatch {
    let schema = mekong_schema::flow_schema();
    let mut uid = Vec::with_capacity(n);
    let mut orig = Vec::with_capacity(n);
    let mut resp = Vec::with_capacity(n);
    let (mut sport, mut dport, mut proto) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first, mut last, mut dur) = (Vec::new(), Vec::new(), Vec::new());
    let (mut opk, mut rpk, mut ob, mut rb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut app: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut state: Vec<Option<&str>> = Vec::with_capacity(n);
    for _ in 0..n {
        uid.push(rng.next() as i64);
        // A skewed client population: a few hosts talk most.
        let c = ((rng.f().powi(3)) * internal.len() as f64) as usize;
        orig.push(internal[c.min(internal.len() - 1)].as_str());
        resp.push(external[rng.below(external.len() as u64) as usize].as_str());
        let r = rng.below(100);
        let (p, port, a) = match r {
            0..=49 => (6u64, 443u64, Some("tls")),
            50..=59 => (6, 80, Some("http")),
            60..=79 => (17, 53, Some("dns")),
            80..=84 => (6, 22, Some("ssh")),
            85..=87 => (6, 445, Some("smb")),
            88..=89 => (6, 3389, Some("rdp")),
            90..=92 => (17, 123, None),
            93..=94 => (1, 0, None),
            _ => (6, 1024 + rng.below(60_000), None),
        };
        proto.push(p as i64);
        dport.push(port as i64);
        sport.push(1024 + rng.below(64_000) as i64);
        app.push(a);
        state.push(if p == 6 {
            Some(["SF", "SF", "SF", "S0", "REJ", "S1"][rng.below(6) as usize])
        } else {
            None
        });
        let f = hour_start_us + rng.below(3_600_000_000) as i64;
        let d = (rng.f().powi(4) * 120e6) as i64;
        first.push(f);
        last.push(f + d);
        dur.push(d);
        let op = 1 + (rng.f().powi(3) * 200.0) as i64;
        let rp = (op as f64 * rng.f() * 1.5) as i64;
        opk.push(op);
        rpk.push(rp);
        ob.push(op * (40 + rng.below(1400) as i64));
        rb.push(rp * (40 + rng.below(1400) as i64));
    }
    let i64a = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let a: ArrayRef = match f.name().as_str() {
                "flow_uid" => i64a(uid.clone()),
                "sensor_id" => Arc::new(StringArray::from(vec![sensor; n])),
                "ip_version" => i64a(vec![4; n]),
                "proto" => i64a(proto.clone()),
                "orig_addr" => Arc::new(StringArray::from(orig.clone())),
                "resp_addr" => Arc::new(StringArray::from(resp.clone())),
                "orig_port" => i64a(sport.clone()),
                "resp_port" => i64a(dport.clone()),
                "first_ts" | "last_ts" => Arc::new(
                    TimestampMicrosecondArray::from(if f.name() == "first_ts" {
                        first.clone()
                    } else {
                        last.clone()
                    })
                    .with_timezone("UTC"),
                ),
                "duration_us" => i64a(dur.clone()),
                "orig_pkts" => i64a(opk.clone()),
                "resp_pkts" => i64a(rpk.clone()),
                "orig_ip_bytes" | "orig_wire_bytes" => i64a(ob.clone()),
                "resp_ip_bytes" | "resp_wire_bytes" => i64a(rb.clone()),
                "app_proto" => Arc::new(StringArray::from(app.clone())),
                "conn_state" => Arc::new(StringArray::from(state.clone())),
                _ if f.is_nullable() => new_null_array(f.data_type(), n),
                _ => zero(f.data_type(), n),
            };
            if a.data_type() == f.data_type() {
                a
            } else {
                datafusion::arrow::compute::cast(&a, f.data_type()).expect("castable")
            }
        })
        .collect();
    RecordBatch::try_new(schema, cols).expect("the flow schema")
}

fn generate(dir: &Path, records: u64) {
    let sensors = ["hanoi", "hue"];
    let hours = 7 * 24;
    let per_file = (records / (sensors.len() as u64 * hours)).max(1) as usize;
    let internal: Vec<String> = (0..4096)
        .map(|i| format!("10.{}.{}.{}", 10 + i / 65536, (i / 256) % 256, i % 256))
        .collect();
    let external: Vec<String> = {
        let mut r = Rng(99);
        (0..200_000)
            .map(|_| {
                format!(
                    "{}.{}.{}.{}",
                    1 + r.below(222),
                    r.below(256),
                    r.below(256),
                    1 + r.below(254)
                )
            })
            .collect()
    };
    let start_us: i64 = 1_772_323_200_000_000; // 2026-03-01T00:00:00Z
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("a level")))
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    std::thread::scope(|s| {
        for (k, sensor) in sensors.iter().enumerate() {
            let (internal, external, props) = (&internal, &external, props.clone());
            s.spawn(move || {
                let mut rng = Rng(0x5EED + k as u64);
                for h in 0..hours as i64 {
                    let t = start_us + h * 3_600_000_000;
                    let day = 1 + h / 24;
                    let d = dir.join(format!(
                        "flows/sensor={sensor}/date=2026-03-{day:02}/hour={:02}",
                        h % 24
                    ));
                    std::fs::create_dir_all(&d).expect("tree directory");
                    let f = std::fs::File::create(d.join("part-00000.parquet")).expect("file");
                    let mut w =
                        ArrowWriter::try_new(f, mekong_schema::flow_schema(), Some(props.clone()))
                            .expect("writer");
                    let mut left = per_file;
                    while left > 0 {
                        let n = left.min(64 * 1024);
                        w.write(&batch(&mut rng, n, sensor, t, internal, external))
                            .expect("write");
                        left -= n;
                    }
                    w.close().expect("close");
                }
            });
        }
    });
}

/// (seconds, peak KiB) of a command, best of `runs`.
fn timed(mut make: impl FnMut() -> Command, runs: usize) -> (f64, u64, String) {
    let mut best = (f64::MAX, 0, String::new());
    for _ in 0..runs {
        let mut c = Command::new("/usr/bin/time");
        let inner = make();
        c.arg("-f").arg("MEKONG_TIME %M").arg(inner.get_program());
        c.args(inner.get_args());
        let t0 = Instant::now();
        let o = c.output().expect("GNU time (Debian package time)");
        let s = t0.elapsed().as_secs_f64();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        let kib = err
            .lines()
            .find_map(|l| l.strip_prefix("MEKONG_TIME "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if s < best.0 {
            best = (s, kib, String::from_utf8_lossy(&o.stdout).to_string());
        }
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let records: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir: PathBuf = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(format!("target/bench/analyzer-{records}")));
    let marker = dir.join(".complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let t0 = Instant::now();
        generate(&dir, records);
        std::fs::write(&marker, "").expect("marker");
        eprintln!(
            "generated {records} records in {:.0} s",
            t0.elapsed().as_secs_f64()
        );
    }
    let files: Vec<PathBuf> = walk(&dir.join("flows"));
    let total: u64 = files
        .iter()
        .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    // The shipped build (profile `dist`); `MEKONG_ANALYZER` names another.
    let analyzer = std::env::var_os("MEKONG_ANALYZER")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/dist/mekong-analyzer"));
    assert!(
        analyzer.exists(),
        "{} is missing: cargo build --profile dist -p mekong-analyzer",
        analyzer.display()
    );
    let python = std::env::var_os("MEKONG_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python3"));
    let mut table = String::from(
        "| query | mekong-analyzer | DuckDB | ratio (DuckDB time / Mekong time) | Mekong records/s | peak memory Mekong / DuckDB |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for (name, sql) in QUERIES {
        let (ms, mk, mout) = timed(
            || {
                let mut c = Command::new(&analyzer);
                c.arg("query").arg(&dir).arg(sql).args(["--format", "csv"]);
                c
            },
            RUNS,
        );
        let script = format!(
            "import duckdb; c = duckdb.connect(); \
             c.execute(\"CREATE VIEW flows AS SELECT * FROM read_parquet('{}/flows/**/*.parquet', hive_partitioning = true)\"); \
             print(c.execute(\"{}\").fetchall())",
            dir.display(),
            sql.replace('"', "\\\"")
        );
        let (ds, dk, dout) = timed(
            || {
                let mut c = Command::new(&python);
                c.args(["-c", &script]);
                c
            },
            RUNS,
        );
        let mrows = mout.lines().count().saturating_sub(1);
        let drows = dout.matches('(').count();
        assert_eq!(
            mrows, drows,
            "both engines return the same number of rows:\n{mout}\n{dout}"
        );
        eprintln!("{name}: mekong {ms:.2} s {mk} KiB, duckdb {ds:.2} s {dk} KiB");
        table.push_str(&format!(
            "| {name} | {ms:.2} s | {ds:.2} s | {:.2} | {:.0} M | {} / {} MiB |\n",
            ds / ms,
            records as f64 / ms / 1e6,
            mk / 1024,
            dk / 1024
        ));
    }
    let summary = format!(
        "{records} flow records in {} files ({:.1} GiB of Parquet), 2 sensors × 7 days × 24 hours; \
         both engines on the machine's {} cores; each query a new process, timed end to end, best of {RUNS} \
         (`{}`).\n\n{table}",
        files.len(),
        total as f64 / (1u64 << 30) as f64,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        analyzer.strip_prefix(&root).unwrap_or(&analyzer).display()
    );
    println!("{summary}");
    if std::env::var_os("MEKONG_BENCH_README").is_some() {
        let readme = root.join("analyzer/README.md");
        let text = std::fs::read_to_string(&readme).expect("analyzer/README.md");
        let (a, b) = ("<!-- scale:begin -->", "<!-- scale:end -->");
        if let (Some(i), Some(j)) = (text.find(a), text.find(b)) {
            let out = format!("{}{a}\n{summary}{}", &text[..i], &text[j..]);
            std::fs::write(&readme, out).expect("write README");
        }
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(p) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&p) {
            for e in rd.flatten() {
                let q = e.path();
                if q.is_dir() {
                    stack.push(q);
                } else if q.extension().is_some_and(|x| x == "parquet") {
                    out.push(q);
                }
            }
        }
    }
    out
}
