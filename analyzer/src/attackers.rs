//! `profile --attackers`: the hosts that attack, ranked, each with its
//! method fingerprint (techniques in ATT&CK tactic order, targets and
//! ports, timing, tools, infrastructure), and campaigns: attackers linked
//! by evidence that they act together, with that evidence.
//!
//! An attacker is the source of an alert. Its score (documented in the
//! README) adds the breadth of what it did to the breadth of where it did
//! it:
//!
//! `4·tactics + 2·techniques + 3·log2(1 + targets) + 3·log2(1 + reach) + log2(1 + alerts)`
//!
//! where techniques are counted by their base (T1110.001 and T1110.003 are
//! one), targets are the alerts' destinations, and reach is the number of
//! distinct TCP (address, port) pairs, and of other protocols' addresses,
//! the host sent to in its targets' networks (/24, or /64 for IPv6): a
//! scanner's reach is every port it probed, a UDP flood's to random ports
//! is its one victim.
//!
//! Two attackers are linked when one of these holds (each link is kept as
//! evidence, and campaigns are the linked groups):
//! - **together**: the same technique on the same target in overlapping
//!   time (a botnet's flood, a distributed brute force);
//! - **network**: outside addresses in the same /24 (or /48) with a
//!   shared target;
//! - **tool**: a shared client fingerprint (JA4, HASSH, SSH banner, HTTP
//!   user agent, RDP cookie) that at most [`RARE_TOOL_HOSTS`] hosts of the
//!   tree use, and a shared target;
//! - **infrastructure**: the same outside server in command-and-control or
//!   exfiltration alerts (two implants of one operator).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::AnalyzerError;
use crate::output::rows;
use crate::udf::{network_of, private};

/// A tool value used by at most this many hosts links the attackers that
/// share it; a commoner one (a browser's JA4) says nothing.
pub const RARE_TOOL_HOSTS: i64 = 3;

/// Attackers whose reach, tools and links are computed (the highest
/// scored by their alerts alone).
pub const TOP: usize = 200;

/// ATT&CK's enterprise tactics in kill-chain order.
pub const TACTIC_ORDER: [(&str, &str); 14] = [
    ("TA0043", "Reconnaissance"),
    ("TA0042", "Resource Development"),
    ("TA0001", "Initial Access"),
    ("TA0002", "Execution"),
    ("TA0003", "Persistence"),
    ("TA0004", "Privilege Escalation"),
    ("TA0005", "Defense Evasion"),
    ("TA0006", "Credential Access"),
    ("TA0007", "Discovery"),
    ("TA0008", "Lateral Movement"),
    ("TA0009", "Collection"),
    ("TA0011", "Command and Control"),
    ("TA0010", "Exfiltration"),
    ("TA0040", "Impact"),
];

fn tactic_rank(t: &str) -> usize {
    TACTIC_ORDER
        .iter()
        .position(|(id, _)| *id == t)
        .unwrap_or(TACTIC_ORDER.len())
}

/// The base of a technique id (`T1110.003` → `T1110`).
pub fn base(t: &str) -> &str {
    t.split('.').next().unwrap_or(t)
}

/// One alert incident, as the analysis needs it.
#[derive(Clone, Debug)]
struct Incident {
    src: String,
    dst: String,
    dport: Option<i64>,
    /// (technique, tactic) pairs.
    techs: Vec<(String, String)>,
    a: i64,
    b: i64,
}

/// A technique's tactic, alerts, first and last seen (µs).
type TechSeen = (String, u64, i64, i64);
/// An attacker's index and the first and last time (µs) of an interval.
type Span = (usize, i64, i64);

#[derive(Default)]
struct Acc {
    incidents: u64,
    /// technique → (tactic, alerts, first, last)
    techs: BTreeMap<String, TechSeen>,
    targets: BTreeMap<String, u64>,
    ports: BTreeMap<i64, u64>,
    first: i64,
    last: i64,
    hours: BTreeSet<i64>,
    /// Outside servers of C2 and exfiltration alerts.
    infra: BTreeSet<String>,
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn net(a: &str) -> Option<String> {
    let ip: IpAddr = a.parse().ok()?;
    if ip.is_unspecified() || ip.is_multicast() {
        return None;
    }
    network_of(ip, if ip.is_ipv4() { 24 } else { 48 })
}

fn utc(us: i64) -> String {
    crate::output::utc_us(us)
}

fn log2p(x: f64) -> f64 {
    (1.0 + x).log2()
}

/// Every attacker of the tree at `dir`, best first, and the campaigns
/// they form.
pub async fn attackers(dir: &Path, top: usize) -> Result<Value, AnalyzerError> {
    let (ctx, tables) = crate::tree::open(dir).await?;
    if !tables.contains(&"alerts") {
        return Ok(json!({"attackers": [], "campaigns": []}));
    }
    // One row per incident (a detector's start, updates and end share it).
    let inc = rows(
        &ctx,
        "SELECT first_value(src_addr) AS src, first_value(dest_addr) AS dst, \
         CAST(first_value(dest_port) AS BIGINT) AS dport, first_value(technique_ids) AS techs, \
         first_value(tactic_ids) AS tacs, CAST(min(first_ts) AS BIGINT) AS a, \
         CAST(max(last_ts) AS BIGINT) AS b FROM alerts \
         WHERE src_addr IS NOT NULL AND cardinality(technique_ids) > 0 \
         GROUP BY sensor, incident",
    )
    .await?;
    let incidents: Vec<Incident> = inc
        .iter()
        .map(|r| {
            let techs = strs(&r["techs"]);
            let tacs = strs(&r["tacs"]);
            // Tactics are listed per technique; where the lists differ in
            // length, each technique takes the alert's earliest tactic.
            let first_tac = tacs
                .iter()
                .min_by_key(|t| tactic_rank(t))
                .cloned()
                .unwrap_or_default();
            let techs = techs
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let tac = if tacs.len() == techs.len() {
                        tacs[i].clone()
                    } else {
                        first_tac.clone()
                    };
                    (t.clone(), tac)
                })
                .collect();
            Incident {
                src: r["src"].as_str().unwrap_or("").to_string(),
                dst: r["dst"].as_str().unwrap_or("").to_string(),
                dport: r["dport"].as_i64(),
                techs,
                a: r["a"].as_i64().unwrap_or(0),
                b: r["b"].as_i64().unwrap_or(0),
            }
        })
        .collect();
    let mut by: BTreeMap<String, Acc> = BTreeMap::new();
    for i in &incidents {
        let acc = by.entry(i.src.clone()).or_insert_with(|| Acc {
            first: i64::MAX,
            last: i64::MIN,
            ..Acc::default()
        });
        acc.incidents += 1;
        acc.first = acc.first.min(i.a);
        acc.last = acc.last.max(i.b);
        let mut h = i.a / 3_600_000_000;
        while h <= i.b / 3_600_000_000 && acc.hours.len() < 24 * 400 {
            acc.hours.insert(h % 24);
            h += 1;
        }
        if !i.dst.is_empty() {
            *acc.targets.entry(i.dst.clone()).or_default() += 1;
        }
        if let Some(p) = i.dport {
            *acc.ports.entry(p).or_default() += 1;
        }
        for (t, tac) in &i.techs {
            let e = acc
                .techs
                .entry(t.clone())
                .or_insert_with(|| (tac.clone(), 0, i64::MAX, i64::MIN));
            e.1 += 1;
            e.2 = e.2.min(i.a);
            e.3 = e.3.max(i.b);
            if (tac == "TA0011" || tac == "TA0010")
                && i.dst.parse::<IpAddr>().is_ok_and(|d| !private(d))
            {
                acc.infra.insert(i.dst.clone());
            }
        }
    }
    let base_score = |a: &Acc| {
        let tactics: BTreeSet<&str> = a.techs.values().map(|v| v.0.as_str()).collect();
        let bases: BTreeSet<&str> = a.techs.keys().map(|t| base(t)).collect();
        4.0 * tactics.len() as f64
            + 2.0 * bases.len() as f64
            + 3.0 * log2p(a.targets.len() as f64)
            + log2p(a.incidents as f64)
    };
    let mut order: Vec<(&String, f64)> = by.iter().map(|(h, a)| (h, base_score(a))).collect();
    order.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(y.0)));
    order.truncate(TOP.max(top));
    let hosts: Vec<String> = order.iter().map(|(h, _)| (*h).clone()).collect();
    let list = hosts
        .iter()
        .filter(|h| h.parse::<IpAddr>().is_ok())
        .map(|h| format!("'{h}'"))
        .collect::<Vec<_>>()
        .join(", ");
    // Reach: distinct (address, port) opened per destination network.
    let mut reach: BTreeMap<String, u64> = BTreeMap::new();
    let mut tools: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    if !list.is_empty() && tables.contains(&"flows") {
        let nets = rows(&ctx, &format!(
            "SELECT orig_addr AS host, network(resp_addr, CASE WHEN strpos(resp_addr, ':') > 0 THEN 64 ELSE 24 END) AS net, \
             count(DISTINCT CASE WHEN proto = 6 THEN concat(resp_addr, '|', CAST(resp_port AS VARCHAR)) ELSE resp_addr END) AS reach \
             FROM flows WHERE orig_addr IN ({list}) GROUP BY 1, 2"
        )).await?;
        for r in nets {
            let h = r["host"].as_str().unwrap_or("");
            let n = r["net"].as_str().unwrap_or("");
            let Some(acc) = by.get(h) else { continue };
            let aimed = acc.targets.keys().any(|t| {
                t.parse::<IpAddr>()
                    .ok()
                    .and_then(|ip| network_of(ip, if ip.is_ipv4() { 24 } else { 64 }))
                    .is_some_and(|tn| tn == n)
            });
            if aimed {
                *reach.entry(h.to_string()).or_default() += r["reach"].as_u64().unwrap_or(0);
            }
        }
        for (kind, col) in [
            ("ja4", "tls_ja4"),
            ("hassh", "ssh_hassh"),
            ("ssh_banner", "ssh_client_banner"),
            ("http_user_agent", "http_user_agent"),
            ("rdp_cookie", "rdp_cookie"),
        ] {
            let t = rows(&ctx, &format!(
                "WITH v AS (SELECT {col} AS value, count(DISTINCT orig_addr) AS hosts FROM flows \
                 WHERE {col} IS NOT NULL GROUP BY 1) \
                 SELECT f.orig_addr AS host, f.{col} AS value, count(*) AS flows, min(v.hosts) AS hosts \
                 FROM flows f JOIN v ON f.{col} = v.value WHERE f.orig_addr IN ({list}) \
                 GROUP BY 1, 2 ORDER BY flows DESC, value"
            )).await?;
            for mut r in t {
                let h = r["host"].as_str().unwrap_or("").to_string();
                r["kind"] = json!(kind);
                if let Some(o) = r.as_object_mut() {
                    o.remove("host");
                }
                tools.entry(h).or_default().push(r);
            }
        }
    }
    // Scores with reach, and the fingerprints.
    let mut ranked: Vec<(String, f64)> = hosts
        .iter()
        .filter_map(|h| {
            let a = by.get(h)?;
            let r = reach
                .get(h)
                .copied()
                .unwrap_or(0)
                .max(a.targets.len() as u64);
            Some((h.clone(), base_score(a) + 3.0 * log2p(r as f64)))
        })
        .collect();
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut out = Vec::new();
    for (rank, (h, score)) in ranked.iter().enumerate().take(top) {
        let Some(a) = by.get(h) else { continue };
        let mut techs: Vec<(&String, &TechSeen)> = a.techs.iter().collect();
        techs.sort_by(|x, y| {
            tactic_rank(&x.1 .0)
                .cmp(&tactic_rank(&y.1 .0))
                .then(x.1 .2.cmp(&y.1 .2))
                .then(x.0.cmp(y.0))
        });
        let mut tactics: Vec<&str> = Vec::new();
        for (_, v) in &techs {
            if !tactics.contains(&v.0.as_str()) {
                tactics.push(&v.0);
            }
        }
        let mut targets: Vec<(&String, &u64)> = a.targets.iter().collect();
        targets.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
        let mut ports: Vec<(&i64, &u64)> = a.ports.iter().collect();
        ports.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
        let dur = (a.last - a.first).max(0) as f64 / 1e6;
        out.push(json!({
            "rank": rank + 1,
            "host": h,
            "score": (score * 100.0).round() / 100.0,
            "alerts": a.incidents,
            "reach": reach.get(h).copied().unwrap_or(0),
            "tactics": tactics,
            "techniques": techs.iter().map(|(t, v)| json!({
                "technique": t, "tactic": v.0, "alerts": v.1, "first": utc(v.2), "last": utc(v.3),
            })).collect::<Vec<_>>(),
            "targets_count": a.targets.len(),
            "targets": targets.iter().take(10).map(|(t, n)| json!({"target": t, "alerts": n})).collect::<Vec<_>>(),
            "ports": ports.iter().take(10).map(|(p, _)| **p).collect::<Vec<_>>(),
            "timing": {
                "first": utc(a.first), "last": utc(a.last), "duration_s": (dur * 1000.0).round() / 1000.0,
                "hours_utc": a.hours.iter().collect::<Vec<_>>(),
            },
            "tools": tools.get(h).cloned().unwrap_or_default(),
            "infrastructure": {
                "network": net(h),
                "servers": a.infra.iter().collect::<Vec<_>>(),
            },
        }));
    }
    let campaigns = campaigns(&ranked, &by, &incidents, &tools);
    Ok(json!({"attackers": out, "campaigns": campaigns}))
}

struct Uf(Vec<usize>);

impl Uf {
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

fn campaigns(
    ranked: &[(String, f64)],
    by: &BTreeMap<String, Acc>,
    incidents: &[Incident],
    tools: &BTreeMap<String, Vec<Value>>,
) -> Vec<Value> {
    let idx: BTreeMap<&str, usize> = ranked
        .iter()
        .enumerate()
        .map(|(i, (h, _))| (h.as_str(), i))
        .collect();
    let mut uf = Uf((0..ranked.len()).collect());
    let mut evidence: Vec<(usize, usize, Value)> = Vec::new();
    let mut link = |uf: &mut Uf, a: usize, b: usize, e: Value| {
        uf.join(a, b);
        evidence.push((a.min(b), a.max(b), e));
    };
    // together: (base technique, target) → the attackers' intervals.
    let mut spans: BTreeMap<(String, String), Vec<Span>> = BTreeMap::new();
    for i in incidents {
        let Some(&k) = idx.get(i.src.as_str()) else {
            continue;
        };
        if i.dst.is_empty() {
            continue;
        }
        let mut seen = BTreeSet::new();
        for (t, _) in &i.techs {
            let b = base(t).to_string();
            if seen.insert(b.clone()) {
                spans
                    .entry((b, i.dst.clone()))
                    .or_default()
                    .push((k, i.a, i.b));
            }
        }
    }
    let mut done: BTreeSet<(usize, usize, &'static str)> = BTreeSet::new();
    for ((t, target), v) in &spans {
        for x in 0..v.len() {
            for y in x + 1..v.len() {
                let ((a, a0, a1), (b, b0, b1)) = (v[x], v[y]);
                if a == b || a0.max(b0) > a1.min(b1) {
                    continue;
                }
                if done.insert((a.min(b), a.max(b), "together")) {
                    link(
                        &mut uf,
                        a,
                        b,
                        json!({
                            "hosts": [ranked[a.min(b)].0, ranked[a.max(b)].0], "kind": "together",
                            "detail": format!("{t} on {target}, {} to {}", utc(a0.max(b0)), utc(a1.min(b1))),
                        }),
                    );
                }
            }
        }
    }
    let hosts: Vec<(&str, &Acc)> = ranked
        .iter()
        .filter_map(|(h, _)| by.get(h).map(|a| (h.as_str(), a)))
        .collect();
    let rare = |h: &str| -> BTreeSet<(String, String)> {
        tools
            .get(h)
            .map(|v| {
                v.iter()
                    .filter(|t| t["hosts"].as_i64().is_some_and(|n| n <= RARE_TOOL_HOSTS))
                    .map(|t| {
                        (
                            t["kind"].as_str().unwrap_or("").to_string(),
                            t["value"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    for x in 0..hosts.len() {
        for y in x + 1..hosts.len() {
            let ((ha, a), (hb, b)) = (hosts[x], hosts[y]);
            let shared: Vec<&String> = a
                .targets
                .keys()
                .filter(|t| b.targets.contains_key(*t))
                .collect();
            if !shared.is_empty() {
                // Office neighbours share a network by design: only
                // outside addresses are linked by theirs.
                let outside = |h: &str| h.parse::<IpAddr>().is_ok_and(|ip| !private(ip));
                if let (true, Some(na), Some(nb)) = (outside(ha) && outside(hb), net(ha), net(hb)) {
                    if na == nb {
                        link(
                            &mut uf,
                            x,
                            y,
                            json!({
                                "hosts": [ha, hb], "kind": "network",
                                "detail": format!("both in {na}, both aimed at {}", shared[0]),
                            }),
                        );
                    }
                }
                let (ra, rb) = (rare(ha), rare(hb));
                if let Some((k, v)) = ra.intersection(&rb).next() {
                    link(
                        &mut uf,
                        x,
                        y,
                        json!({
                            "hosts": [ha, hb], "kind": "tool",
                            "detail": format!("{k} {v:?}, both aimed at {}", shared[0]),
                        }),
                    );
                }
            }
            if let Some(s) = a.infra.intersection(&b.infra).next() {
                link(
                    &mut uf,
                    x,
                    y,
                    json!({
                        "hosts": [ha, hb], "kind": "infrastructure",
                        "detail": format!("both reached {s} in command-and-control or exfiltration"),
                    }),
                );
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..ranked.len() {
        let r = uf.find(i);
        groups.entry(r).or_default().push(i);
    }
    let mut out = Vec::new();
    for (_, members) in groups.into_iter().filter(|(_, m)| m.len() > 1) {
        let set: BTreeSet<usize> = members.iter().copied().collect();
        let names: Vec<&str> = members.iter().map(|&i| ranked[i].0.as_str()).collect();
        let mut techs: BTreeMap<String, String> = BTreeMap::new();
        let mut targets: BTreeSet<String> = BTreeSet::new();
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for h in &names {
            if let Some(a) = by.get(*h) {
                for (t, v) in &a.techs {
                    techs.insert(t.clone(), v.0.clone());
                }
                targets.extend(a.targets.keys().cloned());
                first = first.min(a.first);
                last = last.max(a.last);
            }
        }
        let mut techs: Vec<(String, String)> = techs.into_iter().collect();
        techs.sort_by(|x, y| {
            tactic_rank(&x.1)
                .cmp(&tactic_rank(&y.1))
                .then(x.0.cmp(&y.0))
        });
        let ev: Vec<&Value> = evidence
            .iter()
            .filter(|(a, b, _)| set.contains(a) && set.contains(b))
            .map(|(_, _, e)| e)
            .take(50)
            .collect();
        out.push(json!({
            "campaign": out.len() + 1,
            "hosts": names,
            "techniques": techs.iter().map(|t| &t.0).collect::<Vec<_>>(),
            "targets": targets.iter().take(20).collect::<Vec<_>>(),
            "first": utc(first), "last": utc(last),
            "evidence": ev,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactics_order_the_kill_chain_and_bases_group_sub_techniques() {
        assert!(tactic_rank("TA0043") < tactic_rank("TA0001"));
        assert!(tactic_rank("TA0011") < tactic_rank("TA0010"));
        assert_eq!(tactic_rank("TA9999"), TACTIC_ORDER.len());
        assert_eq!(base("T1110.003"), "T1110");
        assert_eq!(base("T1046"), "T1046");
    }

    #[test]
    fn networks_link_siblings_but_not_the_unspecified_address() {
        assert_eq!(net("45.155.205.233"), net("45.155.205.7"));
        assert_ne!(net("45.155.205.233"), net("45.155.206.7"));
        assert_eq!(net("0.0.0.0"), None);
        assert_eq!(net("2001:db8:1:2::1"), net("2001:db8:1:ff::9"));
    }

    #[test]
    fn union_find_groups_transitively() {
        let mut u = Uf((0..5).collect());
        u.join(0, 3);
        u.join(3, 4);
        assert_eq!(u.find(4), u.find(0));
        assert_ne!(u.find(1), u.find(0));
    }
}
