//! Scoring of detections against ground-truth labels.
//!
//! # Matching rule
//! An alert matches a label when all of these hold:
//! 1. **Technique**: one of the alert's `alert.metadata.mitre_technique_id`
//!    values equals one of the label's techniques, or one is the parent of the
//!    other (`T1110` matches `T1110.001` both ways; siblings such as
//!    `T1498.001` and `T1498.002` do not match). Comparison ignores case.
//! 2. **Endpoints**: one of the alert's `src_ip`/`dest_ip` lies in the label's
//!    attacker set and the other in its target set (either orientation, so an
//!    alert raised on a reply still matches). Sets hold addresses or CIDR
//!    blocks; a spoofed-source label uses `0.0.0.0/0`.
//! 3. **Time**: the alert's `timestamp` lies in
//!    `[start − slack_before, end + slack_after]` of the label.
//!
//! # Counting
//! - A label is a **true positive** when at least one alert matches it, else a
//!   **false negative**. Further alerts on a detected label are duplicates:
//!   they neither add true positives nor count as false positives.
//! - An alert that matches no label is a **false positive**. It is counted in
//!   the row of the first label technique it relates to by rule 1, else in the
//!   row of its own first technique (`(none)` when it has none).
//! - Labels are counted in the row of their primary (first) technique.
//! - precision = TP / (TP + FP) and recall = TP / labels; both are absent
//!   (null) when their denominator is zero.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::labels::Label;

/// One alert as read from an EVE line.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// 1-based line number in the input.
    pub line: u64,
    /// Timestamp, microseconds since the Unix epoch.
    pub ts_us: u64,
    /// Source address.
    pub src_ip: IpAddr,
    /// Destination address.
    pub dest_ip: IpAddr,
    /// `alert.signature_id`, when present.
    pub signature_id: Option<u64>,
    /// `alert.signature`.
    pub signature: String,
    /// ATT&CK technique ids, upper case.
    pub techniques: Vec<String>,
}

/// An alerts file that cannot be read.
#[derive(Debug, Error)]
#[error("alerts line {line}: {msg}")]
pub struct AlertError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub msg: String,
}

/// Parses an EVE timestamp: Suricata's `2026-03-02T01:10:00.123456+0000` or
/// RFC 3339.
pub fn parse_timestamp(s: &str) -> Option<u64> {
    let dt = chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()?;
    u64::try_from(dt.timestamp_micros()).ok()
}

fn techniques_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => vec![s.trim().to_ascii_uppercase()],
        _ => Vec::new(),
    }
}

/// Reads EVE JSON lines; events other than alerts are skipped, blank lines
/// ignored. A line that is not JSON, or an alert without a valid timestamp or
/// addresses, is an error naming the line.
pub fn read_alerts<R: BufRead>(input: R) -> Result<Vec<Alert>, AlertError> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line_no = i as u64 + 1;
        let err = |msg: String| AlertError { line: line_no, msg };
        let line = line.map_err(|e| err(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| err(format!("not JSON: {e}")))?;
        match v.get("event_type").and_then(Value::as_str) {
            Some("alert") => {}
            Some(_) => continue,
            None if v.get("alert").is_some() => {}
            None => continue,
        }
        let ts = v
            .get("timestamp")
            .and_then(Value::as_str)
            .ok_or_else(|| err("no timestamp".into()))?;
        let ts_us = parse_timestamp(ts).ok_or_else(|| err(format!("bad timestamp {ts:?}")))?;
        let ip = |k: &str| -> Result<IpAddr, AlertError> {
            let s = v
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| err(format!("no {k}")))?;
            s.parse().map_err(|_| err(format!("bad {k} {s:?}")))
        };
        let alert = v
            .get("alert")
            .ok_or_else(|| err("no alert object".into()))?;
        out.push(Alert {
            line: line_no,
            ts_us,
            src_ip: ip("src_ip")?,
            dest_ip: ip("dest_ip")?,
            signature_id: alert.get("signature_id").and_then(Value::as_u64),
            signature: alert
                .get("signature")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            techniques: techniques_of(
                alert
                    .get("metadata")
                    .and_then(|m| m.get("mitre_technique_id")),
            ),
        });
    }
    Ok(out)
}

/// Time tolerance of the matching rule.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MatchRule {
    /// Microseconds an alert may precede the label's start.
    pub slack_before_us: u64,
    /// Microseconds an alert may follow the label's end.
    pub slack_after_us: u64,
}

impl Default for MatchRule {
    fn default() -> Self {
        MatchRule {
            slack_before_us: 1_000_000,
            slack_after_us: 300_000_000,
        }
    }
}

fn parent(t: &str) -> &str {
    t.split('.').next().unwrap_or(t)
}

/// Rule 1: equal, or one is the parent of the other.
pub fn technique_matches(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
    a == b || parent(&a) == b || parent(&b) == a
}

/// True when `alert` matches `label` under `rule`.
pub fn matches(alert: &Alert, label: &Label, rule: &MatchRule) -> bool {
    let tech = alert
        .techniques
        .iter()
        .any(|a| label.techniques.iter().any(|l| technique_matches(a, l)));
    let inside = |ip: IpAddr, set: &[crate::labels::Cidr]| set.iter().any(|c| c.contains(ip));
    let ends = (inside(alert.src_ip, &label.attackers) && inside(alert.dest_ip, &label.targets))
        || (inside(alert.dest_ip, &label.attackers) && inside(alert.src_ip, &label.targets));
    let time = alert.ts_us + rule.slack_before_us >= label.start_us
        && alert.ts_us <= label.end_us.saturating_add(rule.slack_after_us);
    tech && ends && time
}

/// Counts for one technique.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Row {
    /// Technique id (or `(none)`, or `all` for the total).
    pub technique: String,
    /// Labels whose primary technique this is.
    pub labels: u64,
    /// Labels matched by at least one alert.
    pub true_positives: u64,
    /// Labels matched by no alert.
    pub false_negatives: u64,
    /// Alerts that match no label.
    pub false_positives: u64,
    /// Alerts that match a label of this row.
    pub matched_alerts: u64,
    /// TP / (TP + FP), absent when undefined.
    pub precision: Option<f64>,
    /// TP / labels, absent when undefined.
    pub recall: Option<f64>,
}

impl Row {
    fn finish(&mut self) {
        let d = self.true_positives + self.false_positives;
        self.precision = (d > 0).then(|| self.true_positives as f64 / d as f64);
        self.recall = (self.labels > 0).then(|| self.true_positives as f64 / self.labels as f64);
    }
}

/// The outcome of one label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelOutcome {
    /// Label id.
    pub label_id: u32,
    /// Scenario name.
    pub scenario: String,
    /// Primary technique.
    pub technique: String,
    /// Matched by at least one alert.
    pub detected: bool,
    /// Number of alerts that matched it.
    pub alerts: u64,
}

/// The full scoring report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The time tolerance used.
    pub rule: MatchRule,
    /// Alerts read.
    pub alerts: u64,
    /// One row per technique, sorted by technique id.
    pub techniques: Vec<Row>,
    /// Sum over all rows.
    pub total: Row,
    /// One outcome per label.
    pub labels: Vec<LabelOutcome>,
    /// Line numbers of the false-positive alerts (at most 1000).
    pub false_positive_lines: Vec<u64>,
}

/// Scores `alerts` against `labels`.
pub fn score(labels: &[Label], alerts: &[Alert], rule: &MatchRule) -> Report {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut hits = vec![0u64; labels.len()];
    let mut fp_lines = Vec::new();
    let mut fp_rows: Vec<String> = Vec::new();
    for a in alerts {
        let mut matched = false;
        for (i, l) in labels.iter().enumerate() {
            if matches(a, l, rule) {
                hits[i] += 1;
                matched = true;
            }
        }
        if !matched {
            let t = a
                .techniques
                .iter()
                .find_map(|at| {
                    labels
                        .iter()
                        .flat_map(|l| l.techniques.first())
                        .find(|lt| technique_matches(at, lt))
                        .map(|lt| lt.to_ascii_uppercase())
                })
                .or_else(|| a.techniques.first().cloned())
                .unwrap_or_else(|| "(none)".to_string());
            fp_rows.push(t);
            if fp_lines.len() < 1000 {
                fp_lines.push(a.line);
            }
        }
    }
    let mut outcomes = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        let t = l
            .techniques
            .first()
            .map(|t| t.to_ascii_uppercase())
            .unwrap_or_default();
        let r = rows.entry(t.clone()).or_insert_with(|| Row {
            technique: t.clone(),
            ..Row::default()
        });
        r.labels += 1;
        r.matched_alerts += hits[i];
        if hits[i] > 0 {
            r.true_positives += 1;
        } else {
            r.false_negatives += 1;
        }
        outcomes.push(LabelOutcome {
            label_id: l.id,
            scenario: l.scenario.clone(),
            technique: t,
            detected: hits[i] > 0,
            alerts: hits[i],
        });
    }
    for t in fp_rows {
        rows.entry(t.clone())
            .or_insert_with(|| Row {
                technique: t.clone(),
                ..Row::default()
            })
            .false_positives += 1;
    }
    let mut total = Row {
        technique: "all".into(),
        ..Row::default()
    };
    let mut techniques: Vec<Row> = rows.into_values().collect();
    for r in &mut techniques {
        r.finish();
        total.labels += r.labels;
        total.true_positives += r.true_positives;
        total.false_negatives += r.false_negatives;
        total.false_positives += r.false_positives;
        total.matched_alerts += r.matched_alerts;
    }
    total.finish();
    Report {
        rule: *rule,
        alerts: alerts.len() as u64,
        techniques,
        total,
        labels: outcomes,
        false_positive_lines: fp_lines,
    }
}

impl Report {
    /// A plain-text table for terminals.
    pub fn to_table(&self) -> String {
        let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
        let mut s = format!(
            "{:<12} {:>6} {:>5} {:>5} {:>5} {:>9} {:>7}\n",
            "technique", "labels", "TP", "FN", "FP", "precision", "recall"
        );
        for r in self.techniques.iter().chain(std::iter::once(&self.total)) {
            s.push_str(&format!(
                "{:<12} {:>6} {:>5} {:>5} {:>5} {:>9} {:>7}\n",
                r.technique,
                r.labels,
                r.true_positives,
                r.false_negatives,
                r.false_positives,
                f(r.precision),
                f(r.recall)
            ));
        }
        s.push_str(&format!(
            "\nalerts read: {}, matching a label: {}, false positives: {}\n\n",
            self.alerts, self.total.matched_alerts, self.total.false_positives
        ));
        for o in &self.labels {
            s.push_str(&format!(
                "label {:>3} {:<18} {:<10} {}\n",
                o.label_id,
                o.scenario,
                o.technique,
                if o.detected {
                    format!("detected ({} alerts)", o.alerts)
                } else {
                    "MISSED".to_string()
                }
            ));
        }
        s
    }
}
