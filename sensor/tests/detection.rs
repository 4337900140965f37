//! Detection against known truth: a generated capture with every attack
//! scenario is scored against its ground-truth labels; benign traffic alone
//! raises (almost) nothing; the first alert of every scan, sweep, guessing
//! and flood comes within its detector's window of the attack's start; one
//! worker and two raise the same alerts; a spoofed SYN flood that overflows
//! the flow table is still alerted; every EVE line validates against
//! Suricata's own schema; and independent readers (pyarrow, DuckDB) read the
//! alert table and join it to the flows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use mekong_datasets::generate::{generate, Options};
use mekong_datasets::labels::Label;
use mekong_datasets::score::{read_alerts, score, technique_matches, MatchRule};
use mekong_detect::config::DetectConfig;
use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig, RunSummary};
use mekong_testkit::{assert_valid_eve, eve_lines, python_with};
use serde_json::Value;

/// Techniques the behavioural detectors are not the tool for: exploits of
/// web applications are named by request contents, which is the rule
/// engine's work (Suricata-syntax signatures), not a count across flows.
const RULE_ENGINE_TECHNIQUES: [&str; 1] = ["T1190"];

fn workdir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("detection");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A capture with every scenario, and its labels (made once).
fn mixed() -> &'static (PathBuf, Vec<Label>) {
    static P: OnceLock<(PathBuf, Vec<Label>)> = OnceLock::new();
    P.get_or_init(|| {
        let pcap = workdir().join("mixed.pcap");
        let opts = Options {
            packets: 300_000,
            seed: 11,
            ..Options::default()
        };
        let s = generate(
            &opts,
            std::fs::File::create(&pcap).unwrap(),
            std::io::sink(),
        )
        .unwrap();
        (pcap, s.labels)
    })
}

fn config(pcap: &Path, out: &Path, workers: usize, max_flows: usize) -> RunConfig {
    let _ = std::fs::remove_dir_all(out);
    RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers,
        flow: FlowConfig {
            sensor_id: Arc::from("t"),
            max_flows,
            ..FlowConfig::default()
        },
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(out.to_path_buf(), "t".into()),
        progress: false,
        detect: Some(Arc::new(Detection::default())),
    }
}

/// The mixed capture through one worker (run once).
fn mixed_run() -> &'static (PathBuf, RunSummary) {
    static R: OnceLock<(PathBuf, RunSummary)> = OnceLock::new();
    R.get_or_init(|| {
        let out = workdir().join("w1");
        let s = run(&config(&mixed().0, &out, 1, 1_000_000)).unwrap();
        (out, s)
    })
}

fn alerts_of(out: &Path) -> Vec<mekong_datasets::score::Alert> {
    let text = eve_lines(out).join("\n");
    read_alerts(text.as_bytes()).unwrap()
}

#[test]
fn every_technique_is_found_with_its_precision() {
    let (_, labels) = mixed();
    let (out, summary) = mixed_run();
    let alerts = alerts_of(out);
    assert_eq!(alerts.len() as u64, summary.output.alerts);
    let report = score(labels, &alerts, &MatchRule::default());
    let mut checked = 0;
    for row in &report.techniques {
        if RULE_ENGINE_TECHNIQUES.contains(&row.technique.as_str()) {
            assert_eq!(row.false_positives, 0, "{row:?}");
            continue;
        }
        let (p, r) = (row.precision.unwrap_or(0.0), row.recall.unwrap_or(0.0));
        assert!(
            r >= 0.95 && p >= 0.95,
            "{}: precision {p}, recall {r}: {row:?}",
            row.technique
        );
        checked += 1;
    }
    // Every behavioural scenario of the generator is a labelled technique here.
    assert!(
        checked >= 11,
        "{checked} techniques checked: {:?}",
        report.techniques
    );
    for l in &report.labels {
        let rule = RULE_ENGINE_TECHNIQUES
            .iter()
            .any(|t| technique_matches(t, &l.technique));
        assert!(
            l.detected || rule,
            "label {} ({}) missed",
            l.label_id,
            l.scenario
        );
    }
    assert_eq!(
        report.total.false_positives, 0,
        "false positives at lines {:?}",
        report.false_positive_lines
    );
}

/// The window of the detector that alerts on each scenario, seconds.
fn window_of(scenario: &str, c: &DetectConfig) -> Option<u64> {
    Some(match scenario {
        "portscan_syn" | "portscan_connect" => c.scan.window_s,
        "sweep_port" | "icmp_sweep" => c.sweep.window_s,
        s if s.starts_with("brute_") => c.brute.window_s,
        "syn_flood" | "udp_flood" => c.flood.window_s,
        "dns_amplification" => c.amplification.window_s,
        _ => return None,
    })
}

#[test]
fn the_first_alert_comes_within_the_detectors_window() {
    let (_, labels) = mixed();
    let (out, _) = mixed_run();
    let alerts = alerts_of(out);
    let cfg = DetectConfig::default();
    let rule = MatchRule::default();
    let mut checked = 0;
    for l in labels {
        let Some(w) = window_of(&l.scenario, &cfg) else {
            continue;
        };
        let first = alerts
            .iter()
            .filter(|a| mekong_datasets::score::matches(a, l, &rule))
            .map(|a| a.ts_us)
            .min()
            .unwrap_or_else(|| panic!("{} not alerted", l.scenario));
        let delay_s = first.saturating_sub(l.start_us) as f64 / 1e6;
        assert!(
            delay_s <= w as f64,
            "{}: first alert {delay_s:.1} s after the attack started, window {w} s",
            l.scenario
        );
        checked += 1;
    }
    assert!(checked >= 11, "{checked} scenarios checked");
}

#[test]
fn benign_traffic_raises_at_most_one_alert() {
    let pcap = workdir().join("benign.pcap");
    let opts = Options {
        packets: 2_000_000,
        seed: 12,
        scenarios: Vec::new(),
        ..Options::default()
    };
    generate(
        &opts,
        std::fs::File::create(&pcap).unwrap(),
        std::io::sink(),
    )
    .unwrap();
    let out = workdir().join("benign");
    let s = run(&config(&pcap, &out, 1, 1_000_000)).unwrap();
    assert!(s.packets >= 2_000_000);
    let lines = eve_lines(&out);
    assert!(
        lines.len() <= 1,
        "benign traffic raised {} alerts:\n{}",
        lines.len(),
        lines.join("\n")
    );
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn one_worker_and_two_raise_the_same_alerts() {
    let (out1, s1) = mixed_run();
    let out2 = workdir().join("w2");
    let s2 = run(&config(&mixed().0, &out2, 2, 1_000_000)).unwrap();
    assert_eq!(s1.table.evicted + s2.table.evicted, 0);
    let sorted = |d: &Path| {
        let mut v = eve_lines(d);
        v.sort();
        v
    };
    let (a, b) = (sorted(out1), sorted(&out2));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len(), "alert counts differ");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
}

#[test]
fn a_flood_that_overflows_the_table_is_still_alerted() {
    let pcap = workdir().join("synflood.pcap");
    let mut opts = Options {
        packets: 0,
        seed: 13,
        scenarios: vec!["syn_flood".into()],
        ..Options::default()
    };
    opts.params = vec![("syn_flood".into(), "at".into(), "0".into())];
    let g = generate(
        &opts,
        std::fs::File::create(&pcap).unwrap(),
        std::io::sink(),
    )
    .unwrap();
    let out = workdir().join("synflood");
    let bound = 2_000;
    let s = run(&config(&pcap, &out, 1, bound)).unwrap();
    assert!(s.table.evicted > 10_000, "{:?}", s.table);
    assert!(s.table.peak_flows <= bound as u64);
    let alerts = alerts_of(&out);
    let report = score(&g.labels, &alerts, &MatchRule::default());
    assert!(report.labels[0].detected, "{report:?}");
    assert_eq!(report.total.false_positives, 0, "{report:?}");
    // The host stage's state stays bounded too: spoofed sources are counted
    // in a capped set, not one key each.
    assert!(s.host.peak_state_keys < 50_000, "{:?}", s.host);
}

#[test]
fn eve_lines_validate_against_suricatas_schema() {
    let (out, _) = mixed_run();
    let lines = eve_lines(out);
    assert!(lines.len() > 20);
    assert_valid_eve(&lines);
    // Suricata's alert fields are all there.
    for line in &lines {
        let e: Value = serde_json::from_str(line).unwrap();
        for k in ["timestamp", "event_type", "src_ip", "dest_ip", "proto"] {
            assert!(e.get(k).is_some(), "{k} missing: {line}");
        }
        let a = &e["alert"];
        for k in [
            "action",
            "gid",
            "signature_id",
            "rev",
            "signature",
            "category",
            "severity",
        ] {
            assert!(a.get(k).is_some(), "alert.{k} missing: {line}");
        }
        assert!(a["metadata"]["mitre_technique_id"]
            .as_array()
            .is_some_and(|t| !t.is_empty()));
        assert!(a["metadata"]["mitre_tactic_id"]
            .as_array()
            .is_some_and(|t| !t.is_empty()));
        assert!(a["context"]["mekong"]["evidence"].is_object());
        if e.get("flow_id").is_some() {
            assert!(e["community_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("1:")));
        }
    }
}

#[test]
fn independent_readers_read_the_alerts_and_join_them_to_flows() {
    let (out, summary) = mixed_run();
    const READ: &str = r#"
import sys, json, os, pyarrow.dataset as ds, duckdb
root = sys.argv[1]
t = ds.dataset(os.path.join(root, "alerts"), format="parquet", partitioning="hive").to_table()
con = duckdb.connect()
a = os.path.join(root, "alerts", "**", "*.parquet")
f = os.path.join(root, "flows", "**", "*.parquet")
n = con.execute(f"select count(*) from read_parquet('{a}', hive_partitioning=1)").fetchone()[0]
starts = con.execute(f"select count(*) from read_parquet('{a}') where phase = 'start' and flow_uid is not null").fetchone()[0]
joined = con.execute(f"""select count(distinct a.incident) from read_parquet('{a}') a
    join read_parquet('{f}') fl on fl.flow_uid = a.flow_uid
    where a.phase = 'start' and fl.alert_count > 0 and list_contains(fl.alert_techniques, a.technique_ids[1])""").fetchone()[0]
flagged = con.execute(f"select sum(alert_count) from read_parquet('{f}')").fetchone()[0]
by_tech = dict(con.execute(f"select technique_ids[1], count(*) from read_parquet('{a}') group by 1").fetchall())
json.dump({"pyarrow": t.num_rows, "duckdb": n, "starts": starts, "joined": joined, "flagged": int(flagged or 0), "by_tech": by_tech}, sys.stdout)
"#;
    let o = python_with(&["pyarrow", "duckdb"])
        .arg("-c")
        .arg(READ)
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pyarrow"].as_u64(), Some(summary.output.alerts));
    assert_eq!(v["duckdb"].as_u64(), Some(summary.output.alerts));
    // Every start alert names a flow whose record counts it.
    assert!(v["starts"].as_u64().unwrap() > 10);
    assert_eq!(v["joined"], v["starts"], "{v}");
    assert_eq!(v["flagged"], v["starts"], "{v}");
    // The run summary counts alerts by technique as the table does.
    let by: BTreeMap<String, u64> = serde_json::from_value(v["by_tech"].clone()).unwrap();
    assert_eq!(by, summary.alerts_by_technique);
}
