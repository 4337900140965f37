//! Test helpers shared by Mekong's crates.
//!
//! - [`shared_pcaps`]: where the shared real captures are (`MEKONG_PCAPS`
//!   overrides), with a clear failure when they are absent;
//! - [`tshark`], [`python_with`]: independent tools, with a clear failure when
//!   they are not installed (`scripts/setup.sh` installs them; Python is the
//!   project's own `.venv`, never the `python3` on `PATH`);
//! - [`Trace`] and [`build`]: hand-built packets written as pcap;
//! - [`read_rows`]: every Parquet file under a directory as JSON rows.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod app;
pub mod build;
pub mod netns;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};

/// Packets in a classic pcap file (either byte order).
///
/// # Panics
/// When the file is not readable or not a pcap file.
pub fn pcap_packets(path: &Path) -> usize {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(b.len() >= 24, "{}: not a pcap file", path.display());
    let little = match b[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a pcap file", path.display()),
    };
    let (mut at, mut n) = (24usize, 0usize);
    while at + 16 <= b.len() {
        let f = [b[at + 8], b[at + 9], b[at + 10], b[at + 11]];
        let caplen = if little {
            u32::from_le_bytes(f)
        } else {
            u32::from_be_bytes(f)
        } as usize;
        at += 16 + caplen;
        n += 1;
    }
    n
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The directory of the shared real captures: `$MEKONG_PCAPS`, else
/// `../shared/datasets/pcaps` next to the workspace.
///
/// # Panics
/// With instructions when the directory does not exist.
pub fn shared_pcaps() -> PathBuf {
    let dir = std::env::var_os("MEKONG_PCAPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/datasets/pcaps"));
    assert!(
        dir.join("MANIFEST.csv").is_file(),
        "the shared captures are not at {} (expected MANIFEST.csv there): check out ../shared next to the project, or set MEKONG_PCAPS to their directory",
        dir.display()
    );
    dir
}

/// The ET Open rule files: `$MEKONG_ET_OPEN`, else
/// `../shared/rules/et-open` next to the workspace; every `*.rules` file,
/// sorted (as Suricata's oracle loaded them, in file-name order).
///
/// # Panics
/// With instructions when the directory does not exist.
pub fn et_open_rules() -> Vec<PathBuf> {
    let dir = std::env::var_os("MEKONG_ET_OPEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/rules/et-open"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "ET Open is not at {} ({e}): check out ../shared next to the project, or set MEKONG_ET_OPEN to its directory",
                dir.display()
            )
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    v.sort();
    v
}

/// Suricata's recorded alerts with ET Open on the shared captures:
/// `$MEKONG_ORACLE`, else `../shared/oracles/suricata-et-open`.
///
/// # Panics
/// With instructions when the directory does not exist.
pub fn et_open_oracle() -> PathBuf {
    let dir = std::env::var_os("MEKONG_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/oracles/suricata-et-open"));
    assert!(
        dir.join("README.md").is_file(),
        "the Suricata oracle is not at {}: check out ../shared next to the project, or set MEKONG_ORACLE",
        dir.display()
    );
    dir
}

/// Every capture file under the shared directory (pcap, pcapng, cap), sorted.
pub fn shared_captures() -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng" | "cap")
            ) {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&shared_pcaps(), &mut v);
    v.sort();
    v
}

fn require(cmd: &str, args: &[&str], what: &str) {
    let ok = Command::new(cmd)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{what} is required by this test and was not found: run scripts/setup.sh (CI does)"
    );
}

/// tshark, checked to be installed.
pub fn tshark() -> Command {
    require("tshark", &["--version"], "tshark (Debian package tshark)");
    let mut c = Command::new("tshark");
    c.env("LC_ALL", "C");
    c
}

/// Debian's headless Chromium (`$MEKONG_CHROMIUM`, else `chromium`),
/// checked to be installed, with the flags a closed machine needs (no
/// sandbox as root, no GPU, no background connections) and a fresh profile
/// in `profile`.
pub fn chromium(profile: &Path) -> Command {
    let bin = std::env::var("MEKONG_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    require(&bin, &["--version"], "chromium (Debian package chromium)");
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .env("LC_ALL", "C");
    c
}

/// The project's own Python: `$MEKONG_PYTHON`, else the interpreter of the
/// `.venv` that `scripts/setup.sh` creates at the workspace root. Never the
/// `python3` a machine happens to have on `PATH`: what that one can import
/// differs from machine to machine.
pub fn project_python() -> PathBuf {
    std::env::var_os("MEKONG_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python3"))
}

/// The project's Python ([`project_python`]) with the given modules
/// importable (e.g. `pyarrow`, `duckdb`), with a clear failure naming what
/// to run when they are not there.
pub fn python_with(modules: &[&str]) -> Command {
    let py = project_python();
    let imports = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let ok = Command::new(&py)
        .args(["-c", &imports])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot import {}: run scripts/setup.sh, which installs the project's Python packages into .venv (CI does), or set MEKONG_PYTHON to an interpreter that has them",
        py.display(),
        modules.join(", ")
    );
    Command::new(py)
}

/// Suricata's EVE JSON schema: `$MEKONG_EVE_SCHEMA`, else
/// `../shared/eve/suricata-8.0.6-eve-schema.json` next to the workspace.
///
/// # Panics
/// With instructions when the file does not exist.
pub fn shared_eve_schema() -> PathBuf {
    let p = std::env::var_os("MEKONG_EVE_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/eve/suricata-8.0.6-eve-schema.json"));
    assert!(
        p.is_file(),
        "Suricata's EVE schema is not at {}: check out ../shared next to the project, or set MEKONG_EVE_SCHEMA",
        p.display()
    );
    p
}

/// Validates EVE JSON `lines` against Suricata's EVE schema with the
/// `jsonschema` package of the project's Python; panics naming the first
/// lines that fail (or when the validator cannot run).
pub fn assert_valid_eve(lines: &[String]) {
    const CHECK: &str = r#"
import sys, json, jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft202012Validator(schema) if "2020-12" in schema.get("$schema", "") else jsonschema.Draft7Validator(schema)
bad = []
n = 0
for i, line in enumerate(open(sys.argv[2])):
    n += 1
    errs = sorted(v.iter_errors(json.loads(line)), key=lambda x: x.path)
    if errs:
        bad.append((i + 1, errs[0].message[:200]))
print(json.dumps({"lines": n, "bad": bad[:5], "bad_count": len(bad)}))
"#;
    let file = std::env::temp_dir().join(format!(
        "mekong-eve-{}-{}.json",
        std::process::id(),
        lines.len()
    ));
    std::fs::write(&file, lines.join("\n")).expect("writing the EVE lines");
    let o = python_with(&["jsonschema"])
        .arg("-c")
        .arg(CHECK)
        .arg(shared_eve_schema())
        .arg(&file)
        .output()
        .expect("running the validator");
    let _ = std::fs::remove_file(&file);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("the validator's report");
    assert_eq!(v["lines"].as_u64(), Some(lines.len() as u64), "{v}");
    assert_eq!(v["bad_count"], 0, "{v}");
}

/// Every EVE JSON line the sensor wrote under `out` (its `alerts/` tree,
/// `_eve-*.json` files in path order).
pub fn eve_lines(out: &Path) -> Vec<String> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("_eve-") && n.ends_with(".json"))
            {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&out.join("alerts"), &mut files);
    files.sort();
    let mut lines = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read EVE file");
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    lines
}

/// Hand-built packets in time order, written as a nanosecond pcap.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// (time in ns since the epoch, frame).
    pub frames: Vec<(u64, Vec<u8>)>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Adds a frame at `ts_ns`.
    pub fn push(&mut self, ts_ns: u64, frame: Vec<u8>) -> &mut Self {
        self.frames.push((ts_ns, frame));
        self
    }

    /// Writes a pcap (nanosecond timestamps, Ethernet) with `linktype`.
    pub fn write_pcap(&self, path: &Path, linktype: u32) {
        let mut f = File::create(path).expect("create pcap");
        let mut h = Vec::new();
        h.extend(0xa1b2_3c4du32.to_le_bytes());
        h.extend(2u16.to_le_bytes());
        h.extend(4u16.to_le_bytes());
        h.extend(0i32.to_le_bytes());
        h.extend(0u32.to_le_bytes());
        h.extend(262_144u32.to_le_bytes());
        h.extend(linktype.to_le_bytes());
        for (ts, d) in &self.frames {
            h.extend(((ts / 1_000_000_000) as u32).to_le_bytes());
            h.extend(((ts % 1_000_000_000) as u32).to_le_bytes());
            h.extend((d.len() as u32).to_le_bytes());
            h.extend((d.len() as u32).to_le_bytes());
            h.extend_from_slice(d);
        }
        f.write_all(&h).expect("write pcap");
    }
}

/// Paths of the `.parquet` files under `dir`, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().and_then(|x| x.to_str()) == Some("parquet") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, &mut v);
    v.sort();
    v
}

/// Every row of every Parquet file under `dir`, as JSON objects; timestamp
/// columns become integers (microseconds).
pub fn read_rows(dir: &Path) -> Vec<Map<String, Value>> {
    let mut rows = Vec::new();
    for p in parquet_files(dir) {
        let file = File::open(&p).expect("open parquet");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet reader")
            .build()
            .expect("build reader");
        for batch in reader {
            let batch = batch.expect("read batch");
            let batch = timestamps_as_ints(&batch);
            let mut w = arrow_json::ArrayWriter::new(Vec::new());
            w.write(&batch).expect("to json");
            w.finish().expect("finish json");
            let v: Value = serde_json::from_slice(&w.into_inner()).unwrap_or(Value::Array(vec![]));
            if let Value::Array(a) = v {
                for r in a {
                    if let Value::Object(mut m) = r {
                        // Keep nulls explicit: absent keys mean null.
                        for f in batch.schema().fields() {
                            m.entry(f.name().clone()).or_insert(Value::Null);
                        }
                        rows.push(m);
                    }
                }
            }
        }
    }
    rows
}

fn timestamps_as_ints(b: &RecordBatch) -> RecordBatch {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if matches!(f.data_type(), DataType::Timestamp(..)) {
            let c2 = arrow_cast::cast(c.as_ref(), &DataType::Int64).expect("cast timestamp");
            fields.push(Field::new(f.name(), DataType::Int64, f.is_nullable()));
            cols.push(c2);
        } else {
            fields.push(f.as_ref().clone());
            cols.push(c.clone());
        }
    }
    let _ = cols.iter().map(|c| c.len()).sum::<usize>();
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), cols).expect("batch")
}
