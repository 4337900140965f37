//! `summary`: what a tree holds, at a glance: totals, top talkers, top
//! services, the protocol mix, alerts by technique and by tactic, and how
//! complete the capture was (packets seen and dropped per sensor and hour,
//! from the files' footers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::{json, Value};

use crate::error::AnalyzerError;
use crate::extract::utc;
use crate::output::rows;

/// Packets seen and dropped per (sensor, date, hour) directory: the
/// largest counters of its files (they are cumulative through a run), and
/// the drops that hour added to the hour before.
pub fn completeness(dir: &Path) -> Vec<Value> {
    let mut by: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    let mut stack = vec![dir.join("flows")];
    let mut files: Vec<PathBuf> = Vec::new();
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    files.push(p);
                }
            }
        }
    }
    for p in files {
        let part = |k: &str| {
            p.components()
                .filter_map(|c| c.as_os_str().to_str())
                .find_map(|c| c.strip_prefix(k).map(String::from))
                .unwrap_or_default()
        };
        let key = (part("sensor="), part("date="), part("hour="));
        let Ok(f) = std::fs::File::open(&p) else {
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
        let n = |k: &str| {
            kv.iter()
                .find(|e| e.key == k)
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let e = by.entry(key).or_default();
        e.0 = e.0.max(n(mekong_schema::meta::PACKETS_SEEN));
        e.1 = e.1.max(n(mekong_schema::meta::PACKETS_DROPPED));
    }
    let mut out = Vec::new();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for ((s, d, h), (seen, dropped)) in by {
        let before = last.insert(s.clone(), dropped).unwrap_or(0);
        out.push(json!({
            "sensor": s, "date": d, "hour": h,
            "packets_seen": seen, "packets_dropped": dropped,
            "dropped_this_hour": dropped.saturating_sub(before),
        }));
    }
    out
}

/// The summary of the tree at `dir`, within [from, to] when given.
pub async fn summary(
    dir: &Path,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Value, AnalyzerError> {
    let (ctx, tables) = crate::tree::open(dir).await?;
    let mut w = vec!["true".to_string()];
    if let Some(f) = from {
        w.push(format!("last_ts >= TIMESTAMP '{}'", utc(f)?));
    }
    if let Some(t) = to {
        w.push(format!("first_ts <= TIMESTAMP '{}'", utc(t)?));
    }
    let fw = w.join(" AND ");
    let aw = fw
        .replace("last_ts >=", "ts >=")
        .replace("first_ts <=", "ts <=");
    let mut s = serde_json::Map::new();
    if tables.contains(&"flows") {
        s.insert("totals".into(), Value::Array(rows(&ctx, &format!(
            "SELECT count(*) AS flows, sum(orig_pkts + resp_pkts) AS packets, sum(orig_ip_bytes + resp_ip_bytes) AS bytes, \
             count(DISTINCT sensor) AS sensors, min(first_ts) AS first, max(last_ts) AS last FROM flows WHERE {fw}"
        )).await?));
        s.insert("top_talkers".into(), Value::Array(rows(&ctx, &format!(
            "SELECT host, sum(bytes) AS bytes, sum(flows) AS flows FROM ( \
               SELECT orig_addr AS host, sum(orig_ip_bytes + resp_ip_bytes) AS bytes, count(*) AS flows FROM flows WHERE {fw} GROUP BY orig_addr \
               UNION ALL SELECT resp_addr AS host, sum(orig_ip_bytes + resp_ip_bytes) AS bytes, count(*) AS flows FROM flows WHERE {fw} GROUP BY resp_addr) \
             GROUP BY host ORDER BY bytes DESC, host LIMIT 10"
        )).await?));
        s.insert("top_services".into(), Value::Array(rows(&ctx, &format!(
            "SELECT proto, resp_port, app_proto, count(*) AS flows, count(DISTINCT resp_addr) AS servers, sum(orig_ip_bytes + resp_ip_bytes) AS bytes \
             FROM flows WHERE {fw} GROUP BY proto, resp_port, app_proto ORDER BY flows DESC, resp_port LIMIT 10"
        )).await?));
        s.insert("protocols".into(), Value::Array(rows(&ctx, &format!(
            "SELECT coalesce(app_proto, '(none)') AS app_proto, count(*) AS flows, sum(orig_ip_bytes + resp_ip_bytes) AS bytes \
             FROM flows WHERE {fw} GROUP BY 1 ORDER BY flows DESC, 1"
        )).await?));
        s.insert(
            "capture_completeness".into(),
            Value::Array(completeness(dir)),
        );
    }
    if tables.contains(&"alerts") {
        s.insert("alerts_by_technique".into(), Value::Array(rows(&ctx, &format!(
            "SELECT t AS technique, count(*) AS alerts, count(DISTINCT src_addr) AS sources FROM \
               (SELECT unnest(technique_ids) AS t, src_addr FROM alerts WHERE {aw} AND phase = 'start') GROUP BY t ORDER BY alerts DESC, t"
        )).await?));
        s.insert("alerts_by_tactic".into(), Value::Array(rows(&ctx, &format!(
            "SELECT t AS tactic, count(*) AS alerts FROM \
               (SELECT unnest(tactic_names) AS t FROM alerts WHERE {aw} AND phase = 'start') GROUP BY t ORDER BY alerts DESC, t"
        )).await?));
    }
    Ok(Value::Object(s))
}

/// The summary as text, section by section.
pub fn text(s: &Value) -> String {
    let mut out = String::new();
    for (name, v) in s.as_object().into_iter().flatten() {
        out.push_str(&format!("{}\n", name.replace('_', " ")));
        for r in v.as_array().into_iter().flatten() {
            let cells: Vec<String> = r
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), String::from)))
                .collect();
            out.push_str(&format!("  {}\n", cells.join("  ")));
        }
        out.push('\n');
    }
    out
}
