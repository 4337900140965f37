//! The command line: scoring files end to end, listing scenarios, and clear
//! errors (exit code 1 or 2, a message naming the problem) for bad input.

mod common;

use std::process::Command;

use common::{bin, generate, scratch};

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin()).args(args).output().expect("run");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn score_reads_generated_labels_and_eve_alerts() {
    let d = scratch("cli");
    let (_, labels) = generate(
        &d,
        "s",
        &["--packets", "0", "--scenarios", "portscan_syn,brute_ssh"],
    );
    let l = mekong_datasets::labels::read_csv(std::fs::File::open(&labels).unwrap()).unwrap();
    let scan = &l[0];
    let ts = |us: u64| {
        chrono::DateTime::from_timestamp_micros(us as i64)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.6f+0000")
            .to_string()
    };
    // One true alert on the scan, a duplicate, one alert on an unrelated pair, a flow event.
    let alerts = [
        format!(r#"{{"timestamp":"{}","event_type":"alert","src_ip":"45.155.205.233","dest_ip":"10.10.100.10","alert":{{"signature_id":1,"signature":"scan","metadata":{{"mitre_technique_id":["T1046"]}}}}}}"#, ts(scan.start_us + 500_000)),
        format!(r#"{{"timestamp":"{}","event_type":"alert","src_ip":"45.155.205.233","dest_ip":"10.10.100.10","alert":{{"signature_id":1,"signature":"scan","metadata":{{"mitre_technique_id":["T1046"]}}}}}}"#, ts(scan.end_us)),
        format!(r#"{{"timestamp":"{}","event_type":"alert","src_ip":"8.8.8.8","dest_ip":"10.10.1.10","alert":{{"signature_id":2,"signature":"other","metadata":{{"mitre_technique_id":["T1046"]}}}}}}"#, ts(scan.end_us)),
        r#"{"timestamp":"2026-03-02T01:00:00.000000+0000","event_type":"flow","src_ip":"1.1.1.1","dest_ip":"2.2.2.2"}"#.to_string(),
    ];
    let eve = d.join("alerts.jsonl");
    std::fs::write(&eve, alerts.join("\n")).unwrap();
    let (code, out, err) = run(&[
        "score",
        "--labels",
        labels.to_str().unwrap(),
        "--alerts",
        eve.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["alerts"], 3);
    assert_eq!(v["total"]["labels"], 2);
    assert_eq!(v["total"]["true_positives"], 1);
    assert_eq!(v["total"]["false_negatives"], 1);
    assert_eq!(v["total"]["false_positives"], 1);
    assert_eq!(v["total"]["precision"], 0.5);
    assert_eq!(v["total"]["recall"], 0.5);
    let (code, table, _) = run(&[
        "score",
        "--labels",
        labels.to_str().unwrap(),
        "--alerts",
        eve.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        table.contains("MISSED") && table.contains("detected (2 alerts)"),
        "{table}"
    );
}

#[test]
fn bad_alert_lines_are_reported_by_line() {
    let d = scratch("cli");
    let (_, labels) = generate(&d, "b", &["--packets", "0", "--scenarios", "icmp_sweep"]);
    let eve = d.join("bad.jsonl");
    std::fs::write(&eve, "{\"event_type\":\"flow\"}\n{oops\n").unwrap();
    let (code, _, err) = run(&[
        "score",
        "--labels",
        labels.to_str().unwrap(),
        "--alerts",
        eve.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("line 2") && err.contains("not JSON"), "{err}");
    let (code, _, err) = run(&[
        "score",
        "--labels",
        "/nonexistent/l.csv",
        "--alerts",
        eve.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/l.csv"), "{err}");
}

#[test]
fn generation_errors_are_clear_and_leave_no_file() {
    let d = scratch("cli");
    let out = d.join("never.pcap");
    let lab = d.join("never.csv");
    let _ = std::fs::remove_file(&out);
    let cases: [(&[&str], &str); 5] = [
        (
            &["--scenarios", "portscan_xmas"],
            "unknown scenario \"portscan_xmas\"",
        ),
        (
            &["--set", "portscan_syn.speed=9"],
            "has no parameter \"speed\"",
        ),
        (
            &["--set", "portscan_syn.rate=fast"],
            "\"fast\" is not a whole number",
        ),
        (
            &["--scenarios", "icmp_sweep", "--set", "portscan_syn.rate=5"],
            "not selected",
        ),
        (&["--duration", "soon"], "bad duration"),
    ];
    for (args, msg) in cases {
        let mut a = vec![
            "generate",
            "--out",
            out.to_str().unwrap(),
            "--labels",
            lab.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        let (code, _, err) = run(&a);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(!out.exists(), "a failed run left {}", out.display());
    }
    let (code, _, err) = run(&["generate", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--labels"));
}

#[test]
fn scenarios_lists_every_scenario_with_parameters() {
    let (code, out, _) = run(&["scenarios"]);
    assert_eq!(code, 0);
    for s in mekong_datasets::scenarios::ALL {
        assert!(out.contains(s.name()), "{}", s.name());
        for t in s.techniques() {
            assert!(out.contains(t));
        }
    }
    assert!(out.contains("interval_s"));
}

#[test]
fn parameters_change_the_scenario() {
    let d = scratch("cli");
    let (_, labels) = generate(
        &d,
        "p",
        &[
            "--packets",
            "0",
            "--scenarios",
            "portscan_syn",
            "--set",
            "portscan_syn.ports=1-100",
            "--set",
            "portscan_syn.open=22",
        ],
    );
    let l = mekong_datasets::labels::read_csv(std::fs::File::open(&labels).unwrap()).unwrap();
    // 100 probes, 99 RST answers, one SYN-ACK answered by a RST: 201 packets.
    assert_eq!(l[0].packets, 201);
    assert!(l[0]
        .params
        .contains(&("ports".to_string(), "1-100".to_string())));
}
