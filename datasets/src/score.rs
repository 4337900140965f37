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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Cidr;

    const S: u64 = 1_000_000; // one second in microseconds
    const T0: u64 = 1_772_413_200 * S;

    fn label(id: u32, tech: &[&str], att: &str, tgt: &str, start: u64, end: u64) -> Label {
        Label {
            id,
            scenario: format!("s{id}"),
            techniques: tech.iter().map(|t| t.to_string()).collect(),
            attackers: att.split(';').map(|a| a.parse::<Cidr>().unwrap()).collect(),
            targets: tgt.split(';').map(|a| a.parse::<Cidr>().unwrap()).collect(),
            target_port: None,
            protocol: "tcp".into(),
            start_us: start,
            end_us: end,
            packets: 1,
            params: vec![],
        }
    }

    fn eve(ts_s: u64, src: &str, dst: &str, tech: &[&str]) -> String {
        let us = ts_s * S;
        let dt = chrono::DateTime::from_timestamp_micros(us as i64).unwrap();
        let ts = dt.format("%Y-%m-%dT%H:%M:%S%.6f+0000");
        let t: Vec<String> = tech.iter().map(|t| format!("\"{t}\"")).collect();
        format!(
            r#"{{"timestamp":"{ts}","flow_id":1,"event_type":"alert","src_ip":"{src}","src_port":1,"dest_ip":"{dst}","dest_port":2,"proto":"TCP","alert":{{"signature_id":9,"signature":"x","category":"c","severity":2,"metadata":{{"mitre_technique_id":[{}]}}}}}}"#,
            t.join(",")
        )
    }

    fn alerts(lines: &[String]) -> Vec<Alert> {
        read_alerts(lines.join("\n").as_bytes()).unwrap()
    }

    #[test]
    fn suricata_timestamps_parse() {
        assert_eq!(
            parse_timestamp("2026-03-02T01:00:00.000001+0000"),
            Some(T0 + 1)
        );
        assert_eq!(
            parse_timestamp("2026-03-02T08:00:00.5+0700"),
            Some(T0 + S / 2)
        );
        assert_eq!(parse_timestamp("2026-03-02T01:00:00Z"), Some(T0));
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn technique_parent_rule() {
        assert!(technique_matches("T1110", "T1110.001"));
        assert!(technique_matches("t1110.001", "T1110"));
        assert!(technique_matches("T1046", "T1046"));
        assert!(!technique_matches("T1498.001", "T1498.002"));
        assert!(!technique_matches("T1046", "T1018"));
    }

    /// Two labels, eight alerts; every count below is worked out by hand.
    #[test]
    fn arithmetic_on_a_hand_written_case() {
        let s0 = T0 / S;
        let labels = vec![
            label(
                1,
                &["T1046"],
                "45.0.0.1",
                "10.0.0.5",
                T0 + 100 * S,
                T0 + 200 * S,
            ),
            label(
                2,
                &["T1110.001"],
                "45.0.0.2",
                "10.0.0.0/24",
                T0 + 1000 * S,
                T0 + 1100 * S,
            ),
            label(
                3,
                &["T1071.004", "T1572"],
                "10.0.1.7",
                "10.0.0.53",
                T0 + 5000 * S,
                T0 + 6000 * S,
            ),
        ];
        let a = alerts(&[
            // 1: matches label 1 (inside the window).
            eve(s0 + 150, "45.0.0.1", "10.0.0.5", &["T1046"]),
            // 2: duplicate on label 1, reversed orientation.
            eve(s0 + 160, "10.0.0.5", "45.0.0.1", &["T1046"]),
            // 3: label 1's endpoints and technique, but 400 s after its end (slack 300): FP in T1046.
            eve(s0 + 600, "45.0.0.1", "10.0.0.5", &["T1046"]),
            // 4: parent technique T1110 on label 2, target inside the /24: match.
            eve(s0 + 1050, "45.0.0.2", "10.0.0.77", &["T1110"]),
            // 5: right time and technique for label 2, wrong attacker: FP, counted in row T1110.001.
            eve(s0 + 1050, "45.9.9.9", "10.0.0.77", &["T1110"]),
            // 6: sibling technique of nothing labelled: FP in its own row.
            eve(s0 + 150, "45.0.0.1", "10.0.0.5", &["T1498.001"]),
            // 7: no technique at all: FP in (none).
            eve(s0 + 150, "45.0.0.1", "10.0.0.5", &[]),
            // 8: second technique of label 3 matches it.
            eve(s0 + 5500, "10.0.1.7", "10.0.0.53", &["T1572"]),
        ]);
        let r = score(&labels, &a, &MatchRule::default());
        let row = |t: &str| {
            r.techniques
                .iter()
                .find(|x| x.technique == t)
                .unwrap()
                .clone()
        };
        let t1046 = row("T1046");
        assert_eq!(
            (
                t1046.labels,
                t1046.true_positives,
                t1046.false_negatives,
                t1046.false_positives
            ),
            (1, 1, 0, 1)
        );
        assert_eq!(t1046.matched_alerts, 2);
        assert_eq!(t1046.precision, Some(0.5));
        assert_eq!(t1046.recall, Some(1.0));
        let t1110 = row("T1110.001");
        assert_eq!(
            (t1110.labels, t1110.true_positives, t1110.false_positives),
            (1, 1, 1)
        );
        let t1498 = row("T1498.001");
        assert_eq!(
            (
                t1498.labels,
                t1498.false_positives,
                t1498.precision,
                t1498.recall
            ),
            (0, 1, Some(0.0), None)
        );
        let none = row("(none)");
        assert_eq!(none.false_positives, 1);
        let t1071 = row("T1071.004");
        assert_eq!((t1071.labels, t1071.true_positives), (1, 1));
        // Totals: 3 labels all detected; 4 false positives (alerts 3, 5, 6, 7).
        assert_eq!(
            (
                r.total.labels,
                r.total.true_positives,
                r.total.false_negatives,
                r.total.false_positives
            ),
            (3, 3, 0, 4)
        );
        assert_eq!(r.total.precision, Some(3.0 / 7.0));
        assert_eq!(r.false_positive_lines, vec![3, 5, 6, 7]);
        assert_eq!(
            r.labels.iter().map(|o| o.alerts).collect::<Vec<_>>(),
            vec![2, 1, 1]
        );
    }

    #[test]
    fn missed_labels_and_slack_edges() {
        let s0 = T0 / S;
        let labels = vec![label(
            1,
            &["T1046"],
            "1.1.1.1",
            "2.2.2.2",
            T0 + 100 * S,
            T0 + 200 * S,
        )];
        // Exactly at start - 1 s and end + 300 s: both inside the slack.
        let a = alerts(&[
            eve(s0 + 99, "1.1.1.1", "2.2.2.2", &["T1046"]),
            eve(s0 + 500, "1.1.1.1", "2.2.2.2", &["T1046"]),
        ]);
        let r = score(&labels, &a, &MatchRule::default());
        assert_eq!(r.total.false_positives, 0);
        assert_eq!(r.labels[0].alerts, 2);
        // One second further on either side: no match; the label is missed.
        let a = alerts(&[
            eve(s0 + 98, "1.1.1.1", "2.2.2.2", &["T1046"]),
            eve(s0 + 501, "1.1.1.1", "2.2.2.2", &["T1046"]),
        ]);
        let r = score(&labels, &a, &MatchRule::default());
        assert_eq!(
            (
                r.total.true_positives,
                r.total.false_negatives,
                r.total.false_positives
            ),
            (0, 1, 2)
        );
        assert_eq!(r.total.recall, Some(0.0));
    }

    #[test]
    fn empty_inputs_give_undefined_ratios() {
        let r = score(&[], &[], &MatchRule::default());
        assert_eq!(r.total.precision, None);
        assert_eq!(r.total.recall, None);
        assert!(r.techniques.is_empty());
    }

    #[test]
    fn non_alert_events_are_skipped_and_bad_lines_named() {
        let text = format!(
            "{}\n\n{{\"event_type\":\"flow\",\"src_ip\":\"1.1.1.1\"}}\n",
            eve(1_772_413_300, "1.1.1.1", "2.2.2.2", &["T1046"])
        );
        assert_eq!(read_alerts(text.as_bytes()).unwrap().len(), 1);
        let bad = format!(
            "{}\n{{not json\n",
            eve(1_772_413_300, "1.1.1.1", "2.2.2.2", &["T1046"])
        );
        assert_eq!(read_alerts(bad.as_bytes()).unwrap_err().line, 2);
        let no_ip = r#"{"event_type":"alert","timestamp":"2026-03-02T01:00:00Z","src_ip":"1.1.1.1","alert":{}}"#;
        let e = read_alerts(no_ip.as_bytes()).unwrap_err();
        assert!(e.msg.contains("dest_ip"), "{e}");
        let single = r#"{"event_type":"alert","timestamp":"2026-03-02T01:00:00Z","src_ip":"1.1.1.1","dest_ip":"2.2.2.2","alert":{"metadata":{"mitre_technique_id":"t1046"}}}"#;
        assert_eq!(
            read_alerts(single.as_bytes()).unwrap()[0].techniques,
            vec!["T1046"]
        );
    }
}
