//! The tree's audit log: one JSON line per extract in `DIR/audit/audit.log`,
//! append-only and hash-chained. Each line holds its sequence number, the
//! time, who ran what for whom, the SHA-256 of the extract's manifest, the
//! previous line's hash and its own (SHA-256 of the line's other fields,
//! keys sorted). `audit.head` repeats the last line's number and hash.
//!
//! [`verify`] finds an edited line (its hash), a removed or reordered one
//! (the numbers and the chain), and a removed last line (the head). Whoever
//! can rewrite the whole log and its head can hide a change from the log
//! alone; every extract therefore keeps its line as a receipt
//! (`AUDIT.json`), and [`verify`] checks receipts it is given against the
//! log.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::AnalyzerError;
use crate::extract::hex;

/// The hash before the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn log_path(dir: &Path) -> PathBuf {
    dir.join("audit").join("audit.log")
}

fn head_path(dir: &Path) -> PathBuf {
    dir.join("audit").join("audit.head")
}

fn aerr(e: impl std::fmt::Display) -> AnalyzerError {
    AnalyzerError::Write(format!("audit log: {e}"))
}

/// The hash of a line: SHA-256 of its fields but `hash`, keys sorted.
pub fn line_hash(fields: &Map<String, Value>) -> String {
    let mut f = fields.clone();
    f.remove("hash");
    let canon = serde_json::to_string(&Value::Object(f)).unwrap_or_default();
    hex(&Sha256::digest(canon.as_bytes()))
}

/// UTC now, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_utc() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The lines of the log (parsed), or none when it does not exist.
fn lines(dir: &Path) -> Result<Vec<String>, AnalyzerError> {
    match std::fs::read_to_string(log_path(dir)) {
        Ok(t) => Ok(t.lines().map(String::from).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(aerr(e)),
    }
}

/// Appends a line of `fields` (the record of one action); returns it whole.
pub fn append(dir: &Path, mut fields: Map<String, Value>) -> Result<Value, AnalyzerError> {
    std::fs::create_dir_all(dir.join("audit")).map_err(aerr)?;
    let prior = lines(dir)?;
    let (seq, prev) = match prior.last() {
        Some(l) => {
            let v: Value = serde_json::from_str(l).map_err(|e| {
                aerr(format!(
                    "its last line is not JSON ({e}); run `audit verify`"
                ))
            })?;
            (
                v["seq"].as_u64().unwrap_or(0) + 1,
                v["hash"].as_str().unwrap_or(GENESIS).to_string(),
            )
        }
        None => (1, GENESIS.to_string()),
    };
    fields.insert("seq".into(), json!(seq));
    fields.insert("prev".into(), json!(prev));
    let h = line_hash(&fields);
    fields.insert("hash".into(), json!(h));
    let line = serde_json::to_string(&Value::Object(fields.clone())).map_err(aerr)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir))
        .map_err(aerr)?;
    writeln!(f, "{line}").map_err(aerr)?;
    f.sync_all().map_err(aerr)?;
    let tmp = head_path(dir).with_extension("tmp");
    std::fs::write(&tmp, format!("{seq} {h}\n")).map_err(aerr)?;
    std::fs::rename(&tmp, head_path(dir)).map_err(aerr)?;
    Ok(Value::Object(fields))
}

/// Checks the log of the tree at `dir` (and the receipts of the extracts
/// in `receipts`); returns the problems found, none when it is intact.
pub fn verify(dir: &Path, receipts: &[PathBuf]) -> Result<Vec<String>, AnalyzerError> {
    let ls = lines(dir)?;
    let mut problems = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut hashes = Vec::new();
    for (i, l) in ls.iter().enumerate() {
        let n = i + 1;
        let v: Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(_) => {
                problems.push(format!("line {n}: not JSON"));
                prev = String::new();
                hashes.push(String::new());
                continue;
            }
        };
        let Some(obj) = v.as_object() else {
            problems.push(format!("line {n}: not an object"));
            continue;
        };
        if obj.get("seq").and_then(Value::as_u64) != Some(n as u64) {
            problems.push(format!(
                "line {n}: sequence number {} where {n} belongs (a line removed or moved)",
                obj.get("seq").map_or("none".into(), |s| s.to_string())
            ));
        }
        if obj.get("prev").and_then(Value::as_str) != Some(prev.as_str()) {
            problems.push(format!(
                "line {n}: does not follow the line before it (a line removed, moved or changed)"
            ));
        }
        let want = line_hash(obj);
        let has = obj.get("hash").and_then(Value::as_str).unwrap_or("");
        if has != want {
            problems.push(format!(
                "line {n}: its contents do not give its hash (changed)"
            ));
        }
        prev = has.to_string();
        hashes.push(has.to_string());
    }
    match std::fs::read_to_string(head_path(dir)) {
        Ok(h) => {
            let mut it = h.split_whitespace();
            let (seq, hash) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
            if seq != ls.len().to_string() || hashes.last().map(String::as_str) != Some(hash) {
                problems.push(format!("the log ends at line {} but its head names line {seq} (lines removed at the end, or the head changed)", ls.len()));
            }
        }
        Err(_) if ls.is_empty() => {}
        Err(_) => problems.push("the head (audit.head) is missing".into()),
    }
    for r in receipts {
        let Ok(t) = std::fs::read_to_string(r.join("AUDIT.json")) else {
            problems.push(format!("{}: no receipt (AUDIT.json)", r.display()));
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        let seq = v["seq"].as_u64().unwrap_or(0) as usize;
        let hash = v["hash"].as_str().unwrap_or("");
        if seq == 0 || hashes.get(seq - 1).map(String::as_str) != Some(hash) {
            problems.push(format!(
                "{}: its receipt (line {seq}) is not in the log as made",
                r.display()
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(case: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("action".into(), json!("extract"));
        m.insert("case".into(), json!(case));
        m
    }

    #[test]
    fn any_change_removal_or_reordering_is_found() {
        let d = tempfile::tempdir().unwrap();
        for c in ["A-1", "A-2", "A-3", "A-4"] {
            append(d.path(), rec(c)).unwrap();
        }
        assert_eq!(verify(d.path(), &[]).unwrap(), Vec::<String>::new());
        let log = log_path(d.path());
        let good = std::fs::read_to_string(&log).unwrap();
        let ls: Vec<&str> = good.lines().collect();
        let put = |v: &[&str]| std::fs::write(&log, v.join("\n") + "\n").unwrap();
        // One character of one line changed.
        put(&[ls[0], &ls[1].replace("A-2", "A-9"), ls[2], ls[3]]);
        assert!(!verify(d.path(), &[]).unwrap().is_empty());
        // A line removed (middle, then the last).
        put(&[ls[0], ls[2], ls[3]]);
        assert!(!verify(d.path(), &[]).unwrap().is_empty());
        put(&[ls[0], ls[1], ls[2]]);
        assert!(!verify(d.path(), &[]).unwrap().is_empty());
        // Two lines swapped.
        put(&[ls[0], ls[2], ls[1], ls[3]]);
        assert!(!verify(d.path(), &[]).unwrap().is_empty());
        put(&ls);
        assert!(verify(d.path(), &[]).unwrap().is_empty());
        assert_eq!(now_utc().len(), 20);
    }
}
