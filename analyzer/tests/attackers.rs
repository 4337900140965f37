//! `profile --attackers` on a generated tree with known truth: the port
//! scanner ranks first with its techniques in tactic order, and campaigns
//! group exactly the hosts the labels say act together (a campaign named
//! across two scenarios, and the flood's bots).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use common::{labels, rt, tree};

mod common;

/// The truth group of a host: its labels' campaign, else the most
/// specific label whose attackers contain it.
fn group(host: IpAddr) -> Option<String> {
    let mut best: Option<(u8, String)> = None;
    for l in labels() {
        for c in &l.attackers {
            if c.contains(host) && best.as_ref().is_none_or(|b| c.prefix > b.0) {
                let g = l
                    .campaign()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("label {}", l.scenario));
                best = Some((c.prefix, g));
            }
        }
    }
    best.map(|b| b.1)
}

#[test]
fn the_scanner_ranks_first_and_campaigns_follow_the_labels() {
    let r = rt()
        .block_on(mekong_analyzer::attackers::attackers(tree(), 100))
        .unwrap();
    let list = r["attackers"].as_array().unwrap();
    let scan = labels()
        .iter()
        .find(|l| l.scenario == "portscan_syn")
        .unwrap();
    let first = &list[0];
    assert_eq!(
        first["host"].as_str(),
        Some(scan.attackers[0].addr.to_string().as_str()),
        "{:#}",
        serde_json::Value::Array(list[..3].to_vec())
    );
    let techs: Vec<&str> = first["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["technique"].as_str().unwrap())
        .collect();
    for want in &scan.techniques {
        assert!(techs.contains(&want.as_str()), "{want} in {techs:?}");
    }
    // A scanner only discovers and reconnoitres.
    for t in first["techniques"].as_array().unwrap() {
        assert!(
            ["TA0007", "TA0043"].contains(&t["tactic"].as_str().unwrap()),
            "{t}"
        );
    }
    assert!(first["reach"].as_u64().unwrap() >= 1000, "{first}");
    // Every attacker's techniques run in tactic order.
    let order = |t: &str| {
        mekong_analyzer::attackers::TACTIC_ORDER
            .iter()
            .position(|x| x.0 == t)
            .unwrap_or(99)
    };
    for a in list {
        let ranks: Vec<usize> = a["techniques"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| order(t["tactic"].as_str().unwrap()))
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{a}");
    }

    // Campaigns against the truth.
    let camps = r["campaigns"].as_array().unwrap();
    let mut of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in camps.iter().enumerate() {
        assert!(!c["evidence"].as_array().unwrap().is_empty(), "{c}");
        let hosts: Vec<IpAddr> = c["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().parse().unwrap())
            .collect();
        let groups: BTreeSet<Option<String>> = hosts.iter().map(|h| group(*h)).collect();
        assert_eq!(groups.len(), 1, "campaign {c:#} mixes {groups:?}");
        assert!(groups.iter().next().unwrap().is_some(), "{c:#}");
        for h in hosts {
            of.insert(h.to_string(), i);
        }
    }
    let attackers: BTreeSet<IpAddr> = list
        .iter()
        .map(|a| a["host"].as_str().unwrap().parse().unwrap())
        .collect();
    let mut truth: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    for a in &attackers {
        if let Some(g) = group(*a) {
            truth.entry(g).or_default().insert(*a);
        }
    }
    let mut checked = 0;
    for (g, hosts) in truth.iter().filter(|(_, h)| h.len() > 1) {
        if g == "label syn_flood" {
            continue; // spoofed sources: no actor behind each
        }
        let cs: BTreeSet<Option<&usize>> = hosts.iter().map(|h| of.get(&h.to_string())).collect();
        assert_eq!(cs.len(), 1, "{g}: {hosts:?} in {cs:?}");
        assert!(
            cs.iter().next().unwrap().is_some(),
            "{g}: {hosts:?} not grouped"
        );
        checked += 1;
    }
    // recon-ssh, the UDP flood's bots (and the amplification's reflectors).
    assert!(checked >= 2, "{truth:?}");
    assert!(
        truth.get("recon-ssh").is_some_and(|h| h.len() == 2),
        "{truth:?}"
    );
}
