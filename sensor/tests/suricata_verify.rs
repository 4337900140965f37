//! Suricata's own test cases (`../shared/datasets/pcaps/suricata-verify/`):
//! each case's rules on its capture give exactly the alerts its
//! `test.yaml` expects (counts by signature id or message). Cases whose
//! rules Mekong does not support, or that check no alert, are listed in
//! `NOT_RUN` with their reason (and `signatures/README.md` lists them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig};
use mekong_sensor::rules::load::{load, RuleSources};
use mekong_sensor::rules::RulesConfig;
use mekong_testkit::{eve_lines, shared_pcaps};
use serde_json::Value;

/// Cases not run, and why.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "detect-flowbits",
        "checks the flowbits of flow events, not alerts",
    ),
    (
        "detect-pcre/detect-pcre-04",
        "checks flow events' counts, not alerts",
    ),
    (
        "detect-pcre/detect-pcre-05",
        "checks flowvars of flow events (pcre named captures), not alerts",
    ),
    (
        "krb5-kerberoasting",
        "Kerberos rules: the Kerberos parser is a later layer (unsupported protocol krb5)",
    ),
    ("ssh-banner-only", "checks ssh events only"),
    ("tls-alpn-log-detect-02", "checks tls events only"),
    (
        "tls/tls-glupteba",
        "checks tls events only (its rule needs tls.subjectaltname)",
    ),
];

/// One `filter` check on alerts: the expected count of alerts whose
/// fields (dotted paths into the EVE object) have these values.
#[derive(Debug)]
struct Check {
    count: usize,
    fields: BTreeMap<String, String>,
}

fn field(v: &Value, path: &str) -> Option<String> {
    let mut x = v;
    for p in path.split('.') {
        x = x.get(p)?;
    }
    Some(match x {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// The alert checks of a `test.yaml` (its `filter` checks whose match is
/// an alert's type, sid or message; other checks are not about alerts).
fn checks(yaml: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, BTreeMap<String, String>)> = None;
    let flush = |c: Option<(usize, BTreeMap<String, String>)>, out: &mut Vec<Check>| {
        if let Some((count, m)) = c {
            let is_alert = m.get("event_type").is_some_and(|e| e == "alert")
                || m.keys().any(|k| k.starts_with("alert."));
            if is_alert {
                let fields = m
                    .into_iter()
                    .filter(|(k, _)| k != "event_type" && k != "pcap_cnt")
                    .collect();
                out.push(Check { count, fields });
            }
        }
    };
    for line in yaml.lines() {
        let t = line.trim().trim_start_matches("- ").trim();
        if t == "filter:" {
            flush(cur.take(), &mut out);
            cur = Some((0, BTreeMap::new()));
        } else if t.ends_with(':') && !t.contains(' ') && t != "match:" {
            flush(cur.take(), &mut out);
        } else if let Some((count, m)) = cur.as_mut() {
            if let Some(v) = t.strip_prefix("count:") {
                *count = v.trim().parse().unwrap_or(0);
            } else if let Some((k, v)) = t.split_once(": ") {
                m.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
            }
        }
    }
    flush(cur.take(), &mut out);
    out
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.join("test.rules").is_file() {
            v.push(p.clone());
        }
        if p.is_dir() {
            v.extend(cases(&p));
        }
    }
    v.sort();
    v
}

#[test]
fn suricata_verify_cases_give_the_expected_alerts() {
    let root = shared_pcaps().join("suricata-verify");
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases(&root) {
        let name = case
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if NOT_RUN.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let yaml = std::fs::read_to_string(case.join("test.yaml")).unwrap_or_default();
        let checks = checks(&yaml);
        assert!(
            !checks.is_empty(),
            "{name}: no alert checks; list it in NOT_RUN with the reason"
        );
        let (rules, rep) = load(
            &RuleSources {
                builtin: false,
                files: vec![case.join("test.rules")],
                ..RuleSources::default()
            },
            RulesConfig::default(),
        )
        .unwrap();
        if rep.loaded != rep.read {
            failures.push(format!("{name}: rules not loaded: {:?}", rep.skipped));
            continue;
        }
        let pcap = std::fs::read_dir(&case)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .expect("a capture");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let det = Detection {
            rules: Some(Arc::new(rules)),
            ..Default::default()
        };
        let cfg = RunConfig {
            inputs: vec![pcap],
            filter: None,
            workers: 1,
            flow: FlowConfig {
                sensor_id: Arc::from("t"),
                ..FlowConfig::default()
            },
            defrag: DefragConfig::default(),
            sink: SinkConfig::new(out.clone(), "t".into()),
            progress: false,
            detect: Some(Arc::new(det)),
        };
        run(&cfg).unwrap();
        let alerts: Vec<Value> = eve_lines(&out)
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| {
                v["alert"]["signature_id"]
                    .as_u64()
                    .is_some_and(|s| s < 9_000_000)
            })
            .collect();
        ran += 1;
        for c in &checks {
            let n = alerts
                .iter()
                .filter(|a| {
                    c.fields
                        .iter()
                        .all(|(k, want)| field(a, k).as_deref() == Some(want.as_str()))
                })
                .count();
            if n != c.count {
                failures.push(format!("{name}: {c:?}: {n} alerts"));
            }
        }
    }
    assert!(ran >= 15, "only {ran} cases ran");
    assert!(failures.is_empty(), "{failures:#?}");
}
