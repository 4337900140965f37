//! Mekong's shipped rules (signatures/rules/mekong.rules) on the shared
//! captures: each attack capture whose technique a signature catches best
//! raises that technique (the MANIFEST's label), and the benign captures
//! raise no shipped-rule alert.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig};
use mekong_sensor::rules::load::{load, RuleSources};
use mekong_sensor::rules::RulesConfig;
use mekong_testkit::{assert_valid_eve, eve_lines, shared_pcaps};
use serde_json::Value;

/// Capture, and the technique of its MANIFEST labels the shipped rules
/// must name.
const EXPECTED: &[(&str, &str)] = &[
    (
        "web-attack/CVE-2021-41773_apache_exploit_success.pcap",
        "T1190",
    ),
    ("web-attack/log4j-attack.pcap", "T1190"),
    ("web-attack/log4j-user_agent.pcap", "T1190"),
    ("web-attack/ndpi_WebattackSQLinj.pcap", "T1190"),
    ("web-attack/ndpi_sql_injection.pcap", "T1190"),
    ("web-attack/ndpi_xss.pcap", "T1190"),
    ("web-attack/zeek_cooper-grill-dvwa.pcapng", "T1190"),
    ("web-attack/ndpi_log4j-webapp-exploit.pcap", "T1190"),
    ("web-attack/ndpi_log4j-webapp-exploit.pcap", "T1105"),
    ("web-attack/ndpi_dotenv.pcap", "T1552.001"),
    ("exploit/zeek_heartbleed.pcap", "T1212"),
    ("mining/cgminer.g0.pcapng", "T1496"),
    ("mining/ndpi_mining.pcapng", "T1496"),
    ("c2/asyncrat_cd010953.pcap", "T1573.002"),
    ("scan/nmap_80_w_service_detection.pcap", "T1595.002"),
];

/// The shipped rules' alerts on `pcap`: (sid, technique) pairs.
fn shipped(pcap: &Path) -> BTreeSet<(u64, String)> {
    pairs(&shipped_lines(pcap))
}

/// The (sid, technique) pairs of the shipped rules' EVE lines.
fn pairs(lines: &[String]) -> BTreeSet<(u64, String)> {
    let mut v = BTreeSet::new();
    for l in lines {
        let a: Value = serde_json::from_str(l).unwrap();
        let sid = a["alert"]["signature_id"].as_u64().unwrap_or(0);
        if !(9_100_000..9_200_000).contains(&sid) {
            continue;
        }
        for t in a["alert"]["metadata"]["mitre_technique_id"]
            .as_array()
            .into_iter()
            .flatten()
        {
            v.insert((sid, t.as_str().unwrap_or("").to_string()));
        }
    }
    v
}

/// Every EVE line of a run with the shipped rules on `pcap`.
fn shipped_lines(pcap: &Path) -> Vec<String> {
    let (rules, rep) = load(
        &RuleSources {
            builtin: true,
            ..RuleSources::default()
        },
        RulesConfig::default(),
    )
    .unwrap();
    assert_eq!(rep.loaded, rep.read);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers: 1,
        flow: FlowConfig::default(),
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(out.clone(), "t".into()),
        progress: false,
        detect: Some(Arc::new(Detection {
            rules: Some(Arc::new(rules)),
            ..Default::default()
        })),
    };
    run(&cfg).unwrap();
    eve_lines(&out)
}

#[test]
fn the_shipped_rules_name_the_techniques_of_the_attack_captures() {
    let root = shared_pcaps();
    let manifest = std::fs::read_to_string(root.join("MANIFEST.csv")).unwrap();
    let mut missing = Vec::new();
    for (file, tech) in EXPECTED {
        // The technique is the capture's own label, not one chosen here.
        let row = manifest
            .lines()
            .find(|l| l.starts_with(&format!("{file},")))
            .unwrap_or_else(|| panic!("{file} is in the MANIFEST"));
        assert!(row.contains(tech), "{file}: {tech} is one of its labels");
        let got = shipped(&root.join(file));
        if !got.iter().any(|(_, t)| t == tech) {
            missing.push(format!("{file}: no {tech} (got {got:?})"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn the_benign_captures_raise_no_shipped_rule_alert() {
    let root = shared_pcaps().join("benign");
    let mut n = 0;
    let mut raised = Vec::new();
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let p = e.path();
        if !p
            .extension()
            .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "trace")
        {
            continue;
        }
        n += 1;
        let got = shipped(&p);
        if !got.is_empty() {
            raised.push(format!("{}: {got:?}", p.display()));
        }
    }
    assert!(n > 0, "benign captures in {}", root.display());
    assert!(raised.is_empty(), "{raised:#?}");
}

#[test]
fn rule_alerts_are_valid_eve() {
    // Rule alerts of the web attacks, Heartbleed and the miners: every
    // line validates against Suricata's EVE schema and carries the rule's
    // fields.
    let root = shared_pcaps();
    let mut lines = Vec::new();
    for (file, _) in EXPECTED {
        lines.extend(
            shipped_lines(&root.join(file))
                .into_iter()
                .filter(|l| l.contains("\"signature_id\":91")),
        );
    }
    assert!(lines.len() > 20, "{} rule alerts", lines.len());
    assert_valid_eve(&lines);
    for l in &lines {
        let e: Value = serde_json::from_str(l).unwrap();
        let a = &e["alert"];
        assert_eq!(e["event_type"], "alert");
        assert_eq!(a["gid"], 1);
        assert!(a["rev"].as_u64().unwrap() >= 1);
        assert!(a["signature"].as_str().unwrap().starts_with("MEKONG "));
        assert!(a["category"].as_str().is_some_and(|c| !c.is_empty()), "{l}");
        assert!(a["metadata"]["mitre_technique_id"].is_array(), "{l}");
        assert!(e["flow_id"].is_u64() || e["flow_id"].is_i64(), "{l}");
        assert!(
            e["community_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("1:")),
            "{l}"
        );
        assert!(e["direction"].is_string(), "{l}");
    }
}
