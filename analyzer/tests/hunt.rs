//! `hunt` on a generated tree with known truth: the labelled beacon ranks
//! first (both scores reported), the miner's hours-long connection is a
//! long connection, and an allow-list applied to past data removes what it
//! names.

use common::{labels, rt, tree};

mod common;

fn label(name: &str) -> &'static mekong_datasets::labels::Label {
    labels()
        .iter()
        .find(|l| l.scenario == name)
        .unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn the_labelled_beacon_ranks_first_and_allow_lists_apply_to_the_past() {
    let h = rt()
        .block_on(mekong_analyzer::hunt::hunt(tree(), &[]))
        .unwrap();
    let b = label("beacon_https");
    let (c, s) = (
        b.attackers[0].addr.to_string(),
        b.targets[0].addr.to_string(),
    );
    let first = &h["beacons"][0];
    assert_eq!(
        (first["client"].as_str(), first["server"].as_str()),
        (Some(c.as_str()), Some(s.as_str())),
        "{h:#}"
    );
    assert_eq!(first["technique"], "T1071.001");
    assert!(first["score"].as_f64().unwrap() >= 0.8, "{first}");
    assert!(first["rita_score"].as_f64().is_some());
    // The label's interval: 60 s with uniform jitter of 10%.
    let period = first["period_s"].as_f64().unwrap();
    assert!((54.0..=66.0).contains(&period), "{period}");
    assert!(!first["evidence"].as_array().unwrap().is_empty());
    let m = label("mining_stratum");
    let pool = m.targets[0].addr.to_string();
    assert!(
        h["long_connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["server"] == pool.as_str()),
        "{:#}",
        h["long_connections"]
    );
    let allow = [mekong_analyzer::udf::Block::parse(&format!("{s}/32")).unwrap()];
    let h = rt()
        .block_on(mekong_analyzer::hunt::hunt(tree(), &allow))
        .unwrap();
    assert!(h["beacons"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["server"] != s.as_str()));
}

#[test]
fn the_profile_of_a_labelled_attacker_names_its_techniques_tools_and_victim() {
    let l = label("lateral_psexec");
    let (a, t) = (l.attackers[0].addr, l.targets[0].addr.to_string());
    let p = rt()
        .block_on(mekong_analyzer::profile::host(tree(), a))
        .unwrap();
    let used: Vec<&str> = p["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["side"] == "used")
        .map(|r| r["technique"].as_str().unwrap())
        .collect();
    for want in l.techniques.iter() {
        assert!(used.contains(&want.as_str()), "{want} in {used:?}");
    }
    assert!(p["peers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["peer"] == t.as_str()));
    assert!(p["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "smb_workstation" && r["value"] == "ATTACKER-PC"));
    assert_eq!(p["roles"][0]["role"], "client");
    // Its victim suffered them.
    let v = rt()
        .block_on(mekong_analyzer::profile::host(tree(), l.targets[0].addr))
        .unwrap();
    assert!(v["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["side"] == "suffered" && r["technique"] == "T1021.002"));
}

#[test]
fn a_scan_spread_over_hours_and_the_tunnels_domains_rank_first() {
    let h = rt()
        .block_on(mekong_analyzer::hunt::hunt(tree(), &[]))
        .unwrap();
    // Every finding has a technique, a score in [0, 1] and evidence.
    for kind in [
        "beacons",
        "long_connections",
        "rare_destinations",
        "slow_scans",
        "dns_tunnels",
    ] {
        let v = h[kind].as_array().unwrap();
        assert!(!v.is_empty(), "{kind}");
        for f in v {
            assert!(
                f["technique"].as_str().is_some_and(|t| t.starts_with('T')),
                "{kind}: {f}"
            );
            assert!(
                (0.0..=1.0).contains(&f["score"].as_f64().unwrap()),
                "{kind}: {f}"
            );
            assert!(!f["evidence"].is_null(), "{kind}: {f}");
        }
    }
    // The slow scan: one port every 50 s for two hours (the tree's
    // settings in tests/common).
    let l = label("portscan_connect");
    let first = &h["slow_scans"][0];
    assert_eq!(
        first["source"].as_str(),
        Some(l.attackers[0].addr.to_string().as_str()),
        "{:#}",
        h["slow_scans"]
    );
    assert_eq!(first["kind"], "vertical");
    assert_eq!(
        first["target"].as_str(),
        Some(l.targets[0].addr.to_string().as_str())
    );
    assert_eq!(first["targets"], 150);
    assert!(first["span_s"].as_f64().unwrap() >= 7000.0, "{first}");
    assert_eq!(first["technique"], "T1046");
    // The two DNS tunnels of the labels, by their base domains.
    let want: std::collections::BTreeSet<String> = ["dns_tunnel", "exfil_dns"]
        .iter()
        .map(|s| {
            let d = label(s)
                .params
                .iter()
                .find(|(k, _)| k == "domain")
                .map(|(_, v)| v.clone())
                .unwrap();
            mekong_analyzer::udf::base_domain(&d).unwrap()
        })
        .collect();
    let top: std::collections::BTreeSet<String> = h["dns_tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|r| r["domain"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(top, want, "{:#}", h["dns_tunnels"]);
    let exfil = mekong_analyzer::udf::base_domain(
        &label("exfil_dns")
            .params
            .iter()
            .find(|(k, _)| k == "domain")
            .unwrap()
            .1,
    )
    .unwrap();
    let e = h["dns_tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["domain"] == exfil.as_str())
        .unwrap();
    assert_eq!(e["technique"], "T1048.003", "{e}");
    let tunnel = h["dns_tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .find(|r| r["domain"] != exfil.as_str())
        .unwrap();
    assert_eq!(tunnel["technique"], "T1071.004", "{tunnel}");
}
