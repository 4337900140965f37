//! Evidence extracts for police requests: the flow and alert records of a
//! host (and a peer, a port, a time window), only the columns asked for,
//! as Parquet and CSV, with a manifest that says what was asked, by whom,
//! what was run, and the SHA-256 of every file written and read.
//!
//! The same extract run twice gives byte-identical files (rows in a fixed
//! order, no time of extraction in them); when it was made, and by whom, go
//! into `AUDIT.json` beside them and into the tree's hash-chained audit log
//! ([`crate::audit`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::AnalyzerError;
use crate::output::{self, Format};

/// Flow columns an extract holds by default: who talked to whom, when, how
/// much, over what (minimisation: no application metadata unless asked).
pub const DEFAULT_FLOW_COLUMNS: [&str; 16] = [
    "sensor",
    "flow_uid",
    "piece",
    "community_id",
    "first_ts",
    "last_ts",
    "proto",
    "orig_addr",
    "orig_port",
    "resp_addr",
    "resp_port",
    "app_proto",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
];

/// Alert columns an extract holds.
pub const ALERT_COLUMNS: [&str; 14] = [
    "sensor",
    "ts",
    "signature_id",
    "signature",
    "technique_ids",
    "src_addr",
    "src_port",
    "dest_addr",
    "dest_port",
    "proto",
    "flow_uid",
    "community_id",
    "first_ts",
    "last_ts",
];

/// What an extract asks for.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Case identifier.
    pub case: String,
    /// Who asked (an investigator, a unit).
    pub requester: String,
    /// Who ran it.
    pub operator: String,
    /// The host whose records are wanted.
    pub host: Option<IpAddr>,
    /// Only its records with this peer.
    pub peer: Option<IpAddr>,
    /// Only records on this port (either side).
    pub port: Option<u16>,
    /// Window start, `YYYY-MM-DDTHH:MM:SSZ` (UTC).
    pub from: Option<String>,
    /// Window end.
    pub to: Option<String>,
    /// Flow columns; empty for [`DEFAULT_FLOW_COLUMNS`].
    pub columns: Vec<String>,
}

fn bad(what: impl Into<String>) -> AnalyzerError {
    AnalyzerError::Request(what.into())
}

/// A UTC time as the request gives it: `YYYY-MM-DDTHH:MM:SSZ` (or with a
/// space), checked digit by digit so the SQL holds nothing else.
pub fn utc(s: &str) -> Result<String, AnalyzerError> {
    let b = s.as_bytes();
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    let num = |a: usize, n: usize| s[a..a + n].parse::<u32>().unwrap_or(99);
    if !shape
        || !(1..=12).contains(&num(5, 2))
        || !(1..=31).contains(&num(8, 2))
        || num(11, 2) > 23
        || num(14, 2) > 59
        || num(17, 2) > 59
    {
        return Err(bad(format!(
            "{s:?} is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)"
        )));
    }
    Ok(format!("{}T{}Z", &s[..10], &s[11..19]))
}

impl Request {
    fn check(&self) -> Result<(), AnalyzerError> {
        if self.case.trim().is_empty() || self.requester.trim().is_empty() {
            return Err(bad("an extract needs --case and --requester"));
        }
        if self.host.is_none() && self.peer.is_none() && self.port.is_none() && self.from.is_none()
        {
            return Err(bad("an extract needs a host, a peer, a port or a time window: the whole tree is not an extract"));
        }
        if let (Some(f), Some(t)) = (&self.from, &self.to) {
            if utc(f)? > utc(t)? {
                return Err(bad(format!("the window ends ({t}) before it starts ({f})")));
            }
        }
        for c in &self.columns {
            if mekong_schema::index_of(c).is_none()
                && !matches!(c.as_str(), "sensor" | "date" | "hour")
            {
                return Err(bad(format!("{c:?} is not a column of the flow record")));
            }
        }
        Ok(())
    }

    /// The flow query, exactly as run.
    pub fn flow_sql(&self) -> Result<String, AnalyzerError> {
        self.check()?;
        let cols: Vec<&str> = if self.columns.is_empty() {
            DEFAULT_FLOW_COLUMNS.to_vec()
        } else {
            self.columns.iter().map(String::as_str).collect()
        };
        let w = self.conditions(
            "orig_addr",
            "resp_addr",
            "orig_port",
            "resp_port",
            "first_ts",
            "last_ts",
        )?;
        Ok(format!(
            "SELECT {} FROM flows WHERE {w} ORDER BY first_ts, sensor, flow_uid, piece",
            cols.join(", ")
        ))
    }

    /// The alert query, exactly as run.
    pub fn alert_sql(&self) -> Result<String, AnalyzerError> {
        self.check()?;
        let w = self.conditions(
            "src_addr",
            "dest_addr",
            "src_port",
            "dest_port",
            "first_ts",
            "last_ts",
        )?;
        Ok(format!(
            "SELECT {} FROM alerts WHERE {w} ORDER BY ts, sensor, incident, phase, signature_id, flow_uid",
            ALERT_COLUMNS.join(", ")
        ))
    }

    fn conditions(
        &self,
        a: &str,
        b: &str,
        pa: &str,
        pb: &str,
        first: &str,
        last: &str,
    ) -> Result<String, AnalyzerError> {
        let mut w = vec!["true".to_string()];
        if let Some(h) = self.host {
            w.push(format!("({a} = '{h}' OR {b} = '{h}')"));
        }
        if let Some(p) = self.peer {
            w.push(format!("({a} = '{p}' OR {b} = '{p}')"));
        }
        if let Some(p) = self.port {
            w.push(format!("({pa} = {p} OR {pb} = {p})"));
        }
        // A record belongs to the window when their spans meet; the date
        // partitions outside it are not read.
        if let Some(f) = &self.from {
            let f = utc(f)?;
            w.push(format!(
                "{last} >= TIMESTAMP '{f}' AND date >= '{}'",
                &f[..10]
            ));
        }
        if let Some(t) = &self.to {
            let t = utc(t)?;
            w.push(format!(
                "{first} <= TIMESTAMP '{t}' AND date <= '{}'",
                &t[..10]
            ));
        }
        Ok(w.join(" AND "))
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_file(p: &Path) -> Result<String, AnalyzerError> {
    let mut f = std::fs::File::open(p)
        .map_err(|e| AnalyzerError::Write(format!("{}: {e}", p.display())))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)
        .map_err(|e| AnalyzerError::Write(format!("{}: {e}", p.display())))?;
    Ok(hex(&h.finalize()))
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The Parquet files of `table` under `dir` whose date partition lies in
/// the window, sorted.
fn source_files(dir: &Path, table: &str, from: Option<&str>, to: Option<&str>) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                let q = e.path();
                if q.is_dir() {
                    walk(&q, out);
                } else if q.extension().is_some_and(|x| x == "parquet") {
                    out.push(q);
                }
            }
        }
    }
    let mut v = Vec::new();
    walk(&dir.join(table), &mut v);
    v.retain(|p| {
        let date = p
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .find_map(|c| c.strip_prefix("date="))
            .unwrap_or("");
        from.is_none_or(|f| date >= &f[..10]) && to.is_none_or(|t| date <= &t[..10])
    });
    v.sort();
    v
}

/// What each source file's footer says of its capture, by sensor: packets
/// seen and dropped (the largest counters of the sensor's files: they grow
/// through a run).
fn completeness(files: &[PathBuf]) -> BTreeMap<String, (u64, u64)> {
    let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for p in files {
        let Ok(f) = std::fs::File::open(p) else {
            continue;
        };
        let Ok(r) = SerializedFileReader::new(f) else {
            continue;
        };
        let kv = r
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        let sensor = get(mekong_schema::meta::SENSOR_ID).unwrap_or_default();
        let n = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let e = by.entry(sensor).or_default();
        e.0 = e.0.max(n(mekong_schema::meta::PACKETS_SEEN));
        e.1 = e.1.max(n(mekong_schema::meta::PACKETS_DROPPED));
    }
    by
}

/// The sensor's own checksums of a file (`_SHA256SUMS` beside it), when it wrote them.
fn sensor_sum(p: &Path) -> Option<String> {
    let sums = std::fs::read_to_string(p.parent()?.join("_SHA256SUMS")).ok()?;
    let name = p.file_name()?.to_str()?;
    sums.lines().find_map(|l| {
        l.split_once("  ")
            .filter(|(_, n)| *n == name)
            .map(|(h, _)| h.to_string())
    })
}

/// Makes the extract of `req` from the tree at `dir` into `out` (created;
/// must not hold an extract already). Returns the manifest.
pub async fn extract(dir: &Path, req: &Request, out: &Path) -> Result<Value, AnalyzerError> {
    let flow_sql = req.flow_sql()?;
    let alert_sql = req.alert_sql()?;
    if out.join("MANIFEST.json").exists() {
        return Err(bad(format!("{} holds an extract already", out.display())));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| AnalyzerError::Write(format!("{}: {e}", out.display())))?;
    let made = write_files(dir, &flow_sql, &alert_sql, out).await;
    let (written, counts) = match made {
        Ok(x) => x,
        Err(e) => {
            // No half extract is left behind: without its manifest it is none.
            for n in ["flows.parquet", "flows.csv", "alerts.parquet", "alerts.csv"] {
                let _ = std::fs::remove_file(out.join(n));
            }
            return Err(e);
        }
    };
    manifest(dir, req, out, &flow_sql, &alert_sql, written, counts)
}

type Written = (BTreeMap<String, String>, BTreeMap<&'static str, u64>);

async fn write_files(
    dir: &Path,
    flow_sql: &str,
    alert_sql: &str,
    out: &Path,
) -> Result<Written, AnalyzerError> {
    let (ctx, tables) = crate::tree::open(dir).await?;
    let mut written = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for (table, sql) in [("flows", flow_sql), ("alerts", alert_sql)] {
        if !tables.contains(&table) {
            counts.insert(table, 0u64);
            continue;
        }
        let mut n = 0;
        for (fmt, ext) in [(Format::Parquet, "parquet"), (Format::Csv, "csv")] {
            let name = format!("{table}.{ext}");
            let p = out.join(&name);
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(&p)
                    .map_err(|e| AnalyzerError::Write(format!("{}: {e}", p.display())))?,
            );
            let df = ctx.sql(sql).await?;
            n = output::write(df, fmt, &mut f).await?;
            std::io::Write::flush(&mut f).map_err(|e| AnalyzerError::Write(e.to_string()))?;
            drop(f);
            written.insert(name, sha256_file(&p)?);
        }
        counts.insert(table, n);
    }
    Ok((written, counts))
}

fn manifest(
    dir: &Path,
    req: &Request,
    out: &Path,
    flow_sql: &str,
    alert_sql: &str,
    written: BTreeMap<String, String>,
    counts: BTreeMap<&'static str, u64>,
) -> Result<Value, AnalyzerError> {
    let (from, to) = (
        req.from.as_deref().map(utc).transpose()?,
        req.to.as_deref().map(utc).transpose()?,
    );
    let mut sources = Vec::new();
    let mut all_sources = Vec::new();
    for table in ["flows", "alerts"] {
        for p in source_files(dir, table, from.as_deref(), to.as_deref()) {
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .to_string();
            let sum = sha256_file(&p)?;
            let agrees = sensor_sum(&p).map(|s| s == sum);
            sources.push(json!({"file": rel, "sha256": sum, "matches_sensor_sums": agrees}));
            all_sources.push(p);
        }
    }
    let complete = completeness(&all_sources);
    // Hour by hour within the window: what each sensor saw and dropped.
    let hour_key = |t: &Option<String>| t.as_deref().map(|t| t[..13].replace('T', " "));
    let (hf, ht) = (hour_key(&from), hour_key(&to));
    let by_hour: Vec<Value> = crate::summary::completeness(dir)
        .into_iter()
        .filter(|r| {
            let k = format!(
                "{} {}",
                r["date"].as_str().unwrap_or(""),
                r["hour"].as_str().unwrap_or("")
            );
            hf.as_ref().is_none_or(|f| &k >= f) && ht.as_ref().is_none_or(|t| &k <= t)
        })
        .collect();
    let manifest = json!({
        "mekong_extract": 1,
        "case": req.case,
        "requester": req.requester,
        "operator": req.operator,
        "request": {
            "host": req.host.map(|h| h.to_string()),
            "peer": req.peer.map(|h| h.to_string()),
            "port": req.port,
            "from_utc": from,
            "to_utc": to,
            "columns": if req.columns.is_empty() { DEFAULT_FLOW_COLUMNS.iter().map(|c| c.to_string()).collect() } else { req.columns.clone() },
        },
        "queries": {"flows": flow_sql, "alerts": alert_sql},
        "rows": counts,
        "files": written,
        "mekong_version": env!("CARGO_PKG_VERSION"),
        "sensors": complete.keys().collect::<Vec<_>>(),
        "capture_completeness": complete.iter().map(|(s, (seen, dropped))| (s.clone(), json!({"packets_seen": seen, "packets_dropped": dropped}))).collect::<serde_json::Map<_, _>>(),
        "capture_completeness_by_hour": by_hour,
        "sources": sources,
    });
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| AnalyzerError::Write(e.to_string()))?
        + "\n";
    std::fs::write(out.join("MANIFEST.json"), &text)
        .map_err(|e| AnalyzerError::Write(e.to_string()))?;
    Ok(manifest)
}

/// Re-checks an extract: every file the manifest lists has its SHA-256,
/// and the directory holds no data file it does not list. Returns the
/// problems found (none: the extract is intact).
pub fn verify(out: &Path) -> Result<Vec<String>, AnalyzerError> {
    let text = std::fs::read_to_string(out.join("MANIFEST.json"))
        .map_err(|e| bad(format!("{}: no manifest ({e})", out.display())))?;
    let m: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("the manifest is not JSON: {e}")))?;
    let files = m["files"]
        .as_object()
        .ok_or_else(|| bad("the manifest lists no files"))?;
    let mut problems = Vec::new();
    for (name, want) in files {
        let p = out.join(name);
        if name.contains('/') || name.contains("..") {
            problems.push(format!("{name}: not a file of the extract"));
            continue;
        }
        match sha256_file(&p) {
            Ok(h) if Some(h.as_str()) == want.as_str() => {}
            Ok(h) => problems.push(format!(
                "{name}: SHA-256 {h}, the manifest says {}",
                want.as_str().unwrap_or("?")
            )),
            Err(_) => problems.push(format!("{name}: missing")),
        }
    }
    if let Ok(rd) = std::fs::read_dir(out) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n != "MANIFEST.json" && n != "AUDIT.json" && !files.contains_key(&n) {
                problems.push(format!("{n}: not in the manifest"));
            }
        }
    }
    Ok(problems)
}

/// [`extract`], then the line in the tree's audit log and its receipt
/// (`AUDIT.json`) beside the extract. Returns the line.
pub async fn run_logged(dir: &Path, req: &Request, out: &Path) -> Result<Value, AnalyzerError> {
    let m = extract(dir, req, out).await?;
    let mut fields = serde_json::Map::new();
    fields.insert("action".into(), json!("extract"));
    fields.insert("time_utc".into(), json!(crate::audit::now_utc()));
    fields.insert("operator".into(), json!(req.operator));
    fields.insert("case".into(), json!(req.case));
    fields.insert("requester".into(), json!(req.requester));
    fields.insert("out".into(), json!(out.display().to_string()));
    fields.insert("queries".into(), m["queries"].clone());
    fields.insert("rows".into(), m["rows"].clone());
    fields.insert(
        "manifest_sha256".into(),
        json!(sha256_file(&out.join("MANIFEST.json"))?),
    );
    let line = crate::audit::append(dir, fields)?;
    let text = serde_json::to_string_pretty(&line)
        .map_err(|e| AnalyzerError::Write(e.to_string()))?
        + "\n";
    std::fs::write(out.join("AUDIT.json"), text)
        .map_err(|e| AnalyzerError::Write(e.to_string()))?;
    Ok(line)
}
