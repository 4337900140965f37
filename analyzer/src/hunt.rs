//! `hunt`: what a streaming sensor cannot see, over hours or days of the
//! tree: beaconing scored on every connection of a pair with microsecond
//! timing, long connections, rare destinations, slow scans and DNS
//! tunnelling per base domain. Each finding has a
//! technique, a score and its evidence rows (flow ids).
//!
//! Beacons are scored two ways on the same connections, so the difference
//! can be measured:
//!
//! - **RITA's way** (its v5 scoring, as documented): the mean of four
//!   parts: the intervals' Bowley skew and median absolute deviation, the
//!   same for the sizes, the regularity of the hourly histogram, and the
//!   pair's duration over the data set's.
//! - **Mekong's**: intervals folded on the estimated period, so a missed
//!   call (an interval of two or three periods) is not irregularity; jitter
//!   measured as the folded residuals' median against the period; sizes by
//!   their median absolute deviation; the share of the data set's span the
//!   calls cover; a confidence that grows with the number of calls; and
//!   exclusivity: a server many clients call on that port is a service
//!   (updates, time, telemetry), not one implant's channel.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array1;
use serde_json::{json, Value};

use crate::error::AnalyzerError;
use crate::output::rows;

/// Calls a pair needs before it is scored.
pub const MIN_CALLS: usize = 8;

/// One connection of a pair: start (µs) and bytes sent by the client.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// Start, µs since the epoch.
    pub ts_us: i64,
    /// Bytes the client sent.
    pub bytes: f64,
    /// Its flow id.
    pub uid: i64,
}

fn median(v: &Array1<f64>) -> f64 {
    let mut s = v.to_vec();
    if s.is_empty() {
        return 0.0;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn quantile(v: &Array1<f64>, q: f64) -> f64 {
    let mut s = v.to_vec();
    if s.is_empty() {
        return 0.0;
    }
    s.sort_by(f64::total_cmp);
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// Median absolute deviation about the median.
pub fn mad(v: &Array1<f64>) -> f64 {
    let m = median(v);
    median(&v.mapv(|x| (x - m).abs()))
}

/// Bowley's (quartile) skewness, 0 for a symmetric or degenerate spread.
pub fn bowley(v: &Array1<f64>) -> f64 {
    let (q1, q2, q3) = (quantile(v, 0.25), quantile(v, 0.5), quantile(v, 0.75));
    if (q3 - q1).abs() < f64::EPSILON {
        0.0
    } else {
        (q1 + q3 - 2.0 * q2) / (q3 - q1)
    }
}

fn spread_score(v: &Array1<f64>) -> f64 {
    let m = median(v);
    let madm = if m.abs() > 0.0 {
        (1.0 - mad(v) / m).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let skew = (1.0 - bowley(v).abs()).clamp(0.0, 1.0);
    (skew + madm) / 2.0
}

/// RITA's score of a pair's calls over a data set spanning `span_us`.
pub fn rita_score(calls: &[Call], span_us: f64) -> f64 {
    let ts = Array1::from_iter(calls.iter().map(|c| c.ts_us as f64));
    let iv = Array1::from_iter(ts.windows(2).into_iter().map(|w| w[1] - w[0]));
    let sizes = Array1::from_iter(calls.iter().map(|c| c.bytes));
    let first = calls.first().map_or(0, |c| c.ts_us);
    let last = calls.last().map_or(0, |c| c.ts_us);
    // Hourly histogram over the hours the pair spans.
    let hours = ((last - first) / 3_600_000_000 + 1).max(1) as usize;
    let mut h = vec![0f64; hours];
    for c in calls {
        let i = ((c.ts_us - first) / 3_600_000_000) as usize;
        h[i.min(hours - 1)] += 1.0;
    }
    let h = Array1::from_vec(h);
    let mean = h.mean().unwrap_or(0.0);
    let cv = if mean > 0.0 { h.std(0.0) / mean } else { 1.0 };
    let hist = (1.0 - cv).clamp(0.0, 1.0);
    let dur = ((last - first) as f64 / span_us.max(1.0)).clamp(0.0, 1.0);
    (spread_score(&iv) + spread_score(&sizes) + hist + dur) / 4.0
}

/// Mekong's score of a pair's calls (see the module documentation);
/// `clients` is how many clients call that server and port.
pub fn mekong_score(calls: &[Call], span_us: f64, clients: usize) -> (f64, f64) {
    let ts = Array1::from_iter(calls.iter().map(|c| c.ts_us as f64));
    let iv = Array1::from_iter(ts.windows(2).into_iter().map(|w| w[1] - w[0]));
    if iv.is_empty() {
        return (0.0, 0.0);
    }
    // The period: the median of intervals no longer than 1.5 times the
    // smallest quartile's, so missed calls do not stretch it.
    let q1 = quantile(&iv, 0.25).max(1.0);
    let short = Array1::from_iter(iv.iter().copied().filter(|&x| x <= 1.5 * q1));
    let period = median(&short).max(1.0);
    let folded = iv.mapv(|x| {
        let k = (x / period).round().max(1.0);
        (x - k * period).abs() / period
    });
    // A jitter of a tenth of the period scores 0.5.
    let jitter = median(&folded);
    let regular = (1.0 / (1.0 + (jitter / 0.1).powi(2))).clamp(0.0, 1.0);
    let missed = iv.iter().filter(|&&x| x > 1.5 * period).count() as f64 / iv.len() as f64;
    let sizes = Array1::from_iter(calls.iter().map(|c| c.bytes));
    let ms = median(&sizes);
    let size = if ms > 0.0 {
        (1.0 - mad(&sizes) / ms).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let first = calls.first().map_or(0, |c| c.ts_us);
    let last = calls.last().map_or(0, |c| c.ts_us);
    let cover = ((last - first) as f64 / span_us.max(1.0)).clamp(0.0, 1.0);
    let confidence = 1.0 - (-(calls.len() as f64) / 20.0).exp();
    let exclusive = 1.0 / (clients.max(1) as f64).sqrt();
    let score = (0.45 * regular * (1.0 - 0.5 * missed)
        + 0.2 * size
        + 0.2 * cover.sqrt()
        + 0.15 * confidence)
        * exclusive;
    (score.clamp(0.0, 1.0), period / 1e6)
}

type Pair = (String, String, i64, i64);

/// Every finding of the tree at `dir`, best first within each kind;
/// servers (or server blocks) in `allow` are never reported.
pub async fn hunt(dir: &Path, allow: &[crate::udf::Block]) -> Result<Value, AnalyzerError> {
    let (ctx, _) = crate::tree::open(dir).await?;
    let allowed = |a: &str| {
        a.parse()
            .is_ok_and(|ip| allow.iter().any(|b| b.contains(ip)))
    };
    let span = rows(
        &ctx,
        "SELECT CAST(min(first_ts) AS BIGINT) AS a, CAST(max(last_ts) AS BIGINT) AS b FROM flows",
    )
    .await?;
    let span_us = (span[0]["b"].as_i64().unwrap_or(0) - span[0]["a"].as_i64().unwrap_or(0)) as f64;
    // Calls: the first record of every flow from a private client.
    let calls = rows(&ctx, "SELECT orig_addr AS c, resp_addr AS s, CAST(resp_port AS BIGINT) AS p, CAST(proto AS BIGINT) AS t, \
        CAST(first_ts AS BIGINT) AS ts, CAST(orig_ip_bytes AS BIGINT) AS b, flow_uid AS u FROM flows \
        WHERE piece = 0 AND proto IN (6, 17) AND is_private(orig_addr) AND NOT is_private(resp_addr) \
        ORDER BY c, s, p, t, ts").await?;
    let mut pairs: BTreeMap<Pair, Vec<Call>> = BTreeMap::new();
    let mut clients: BTreeMap<(String, i64), std::collections::BTreeSet<String>> = BTreeMap::new();
    for r in &calls {
        let c = r["c"].as_str().unwrap_or("").to_string();
        let s = r["s"].as_str().unwrap_or("").to_string();
        let p = r["p"].as_i64().unwrap_or(0);
        let t = r["t"].as_i64().unwrap_or(0);
        clients.entry((s.clone(), p)).or_default().insert(c.clone());
        let call = Call {
            ts_us: r["ts"].as_i64().unwrap_or(0),
            bytes: r["b"].as_f64().unwrap_or(0.0),
            uid: r["u"].as_i64().unwrap_or(0),
        };
        pairs.entry((c, s, p, t)).or_default().push(call);
    }
    let mut beacons = Vec::new();
    for ((c, s, p, t), mut v) in pairs {
        if v.len() < MIN_CALLS || allowed(&s) || p == 53 || p == 123 {
            continue;
        }
        v.sort_by_key(|x| x.ts_us);
        // Calls within 5 s of the last are one call (a burst of connections).
        let mut merged: Vec<Call> = Vec::new();
        for x in v {
            match merged.last() {
                Some(l) if x.ts_us - l.ts_us < 5_000_000 => {}
                _ => merged.push(x),
            }
        }
        if merged.len() < MIN_CALLS {
            continue;
        }
        let n = clients.get(&(s.clone(), p)).map_or(1, |x| x.len());
        let (score, period_s) = mekong_score(&merged, span_us, n);
        let rita = rita_score(&merged, span_us);
        beacons.push(json!({
            "technique": if p == 443 || p == 80 { "T1071.001" } else { "T1071" },
            "client": c, "server": s, "port": p, "proto": t,
            "score": (score * 1000.0).round() / 1000.0,
            "rita_score": (rita * 1000.0).round() / 1000.0,
            "calls": merged.len(), "period_s": (period_s * 1000.0).round() / 1000.0,
            "clients_of_server": n,
            "evidence": merged.iter().take(20).map(|x| x.uid).collect::<Vec<_>>(),
        }));
    }
    beacons.sort_by(|a, b| {
        b["score"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&a["score"].as_f64().unwrap_or(0.0))
    });
    // A flow's records (active-timeout pieces) share its flow_uid.
    let long = rows(&ctx, "SELECT flow_uid AS evidence, min(orig_addr) AS client, min(resp_addr) AS server, min(resp_port) AS port, \
        sum(duration_us) / 1000000.0 AS seconds, count(*) AS records FROM flows \
        WHERE is_private(orig_addr) AND NOT is_private(resp_addr) GROUP BY flow_uid \
        HAVING sum(duration_us) >= 3600000000 ORDER BY seconds DESC, evidence LIMIT 20").await?;
    let long: Vec<Value> = long
        .into_iter()
        .filter(|r| !allowed(r["server"].as_str().unwrap_or("")))
        .map(|mut r| {
            r["technique"] = json!("T1071");
            r["score"] = json!(
                (r["seconds"].as_f64().unwrap_or(0.0) / span_us.max(1.0) * 1e6).clamp(0.0, 1.0)
            );
            r
        })
        .collect();
    let rare = rows(&ctx, "SELECT resp_addr AS server, min(orig_addr) AS client, count(*) AS flows, \
        sum(orig_ip_bytes) AS bytes_out, min(flow_uid) AS evidence FROM flows \
        WHERE is_private(orig_addr) AND NOT is_private(resp_addr) AND proto = 6 AND resp_payload_bytes > 0 \
        GROUP BY resp_addr HAVING count(DISTINCT orig_addr) = 1 ORDER BY bytes_out DESC LIMIT 20").await?;
    let rare: Vec<Value> = rare
        .into_iter()
        .filter(|r| !allowed(r["server"].as_str().unwrap_or("")))
        .map(|mut r| {
            r["technique"] = json!("T1071");
            // 10 MB sent to a server no one else uses scores fully.
            let bytes = r["bytes_out"].as_f64().unwrap_or(0.0).max(1.0);
            r["score"] = json!(((bytes.log10() / 7.0).clamp(0.0, 1.0) * 1000.0).round() / 1000.0);
            r
        })
        .collect();
    let slow = slow_scans(&ctx, &allowed).await?;
    let dns = dns_tunnels(&ctx).await?;
    Ok(json!({
        "beacons": beacons, "long_connections": long, "rare_destinations": rare,
        "slow_scans": slow, "dns_tunnels": dns,
    }))
}

/// Distinct ports (on one host) or hosts (on one port) a slow scan must
/// reach to be reported.
pub const SLOW_SCAN_MIN_TARGETS: i64 = 20;

/// Scans spread over time: one source trying many ports of one host
/// (vertical) or one port of many hosts (horizontal) with connections that
/// mostly fail (no answer, refused, reset), at any pace. The score grows
/// with the targets reached and with the time the scan was spread over
/// (an hour or more scores fully): what a sensor's minute-long windows
/// cannot add up. `sensor_alerted` says whether the sensor saw it anyway.
async fn slow_scans(
    ctx: &datafusion::prelude::SessionContext,
    allowed: &dyn Fn(&str) -> bool,
) -> Result<Vec<Value>, AnalyzerError> {
    let failed = "conn_state IN ('S0', 'REJ', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH', 'RSTR')";
    let mut out = Vec::new();
    for (kind, key, spread) in [
        ("vertical", "resp_addr", "resp_port"),
        ("horizontal", "resp_port", "resp_addr"),
    ] {
        let r = rows(ctx, &format!(
            "SELECT orig_addr AS source, CAST({key} AS VARCHAR) AS aim, count(DISTINCT {spread}) AS targets,              count(*) AS attempts, sum(CASE WHEN {failed} THEN 1 ELSE 0 END) AS failed,              CAST(min(first_ts) AS BIGINT) AS a, CAST(max(first_ts) AS BIGINT) AS b,              array_agg(flow_uid ORDER BY first_ts) AS uids FROM flows              WHERE proto = 6 AND piece = 0 GROUP BY 1, 2              HAVING count(DISTINCT {spread}) >= {SLOW_SCAN_MIN_TARGETS}              AND sum(CASE WHEN {failed} THEN 1 ELSE 0 END) * 2 >= count(*)"
        )).await?;
        for x in r {
            let src = x["source"].as_str().unwrap_or("").to_string();
            let aim = x["aim"].as_str().unwrap_or("").to_string();
            if allowed(&src) || (kind == "vertical" && allowed(&aim)) {
                continue;
            }
            let targets = x["targets"].as_f64().unwrap_or(0.0);
            let span_s = (x["b"].as_i64().unwrap_or(0) - x["a"].as_i64().unwrap_or(0)) as f64 / 1e6;
            let breadth = (targets.log10() / 3.0).clamp(0.0, 1.0);
            let slowness = (span_s / 3600.0).clamp(0.0, 1.0);
            let score = 0.5 * breadth + 0.5 * slowness;
            let uids: Vec<Value> = x["uids"]
                .as_array()
                .map(|u| u.iter().take(20).cloned().collect())
                .unwrap_or_default();
            out.push(json!({
                "technique": "T1046", "kind": kind, "source": src,
                "target": if kind == "vertical" { json!(aim) } else { Value::Null },
                "port": if kind == "horizontal" { json!(aim.parse::<i64>().ok()) } else { Value::Null },
                "targets": targets as i64, "attempts": x["attempts"], "failed": x["failed"],
                "first": crate::output::utc_us(x["a"].as_i64().unwrap_or(0)),
                "last": crate::output::utc_us(x["b"].as_i64().unwrap_or(0)),
                "span_s": span_s.round(),
                "probes_per_minute": if span_s > 0.0 { ((x["attempts"].as_f64().unwrap_or(0.0) / span_s * 60.0) * 100.0).round() / 100.0 } else { 0.0 },
                "score": (score * 1000.0).round() / 1000.0,
                "evidence": uids,
            }));
        }
    }
    // Whether the sensor alerted a scan by the same source.
    let alerted: std::collections::BTreeSet<String> = if out.is_empty() {
        Default::default()
    } else {
        rows(
            ctx,
            "SELECT DISTINCT src_addr AS s FROM alerts WHERE array_has(technique_ids, 'T1046')",
        )
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r["s"].as_str().map(str::to_string))
        .collect()
    };
    for f in &mut out {
        let s = f["source"].as_str().unwrap_or("").to_string();
        f["sensor_alerted"] = json!(alerted.contains(&s));
    }
    out.sort_by(|a, b| {
        b["score"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&a["score"].as_f64().unwrap_or(0.0))
    });
    out.truncate(50);
    Ok(out)
}

/// Answer bytes per query (beyond the repeated question) below which a
/// domain's long names are exfiltration (T1048.003) rather than a
/// two-way tunnel (T1071.004): one A record is 16.
pub const DNS_EXFIL_MAX_ANSWER_BYTES: f64 = 40.0;

/// Names a base domain needs before it is judged a tunnel.
pub const DNS_TUNNEL_MIN_NAMES: i64 = 50;

/// DNS tunnelling judged per base domain over the whole tree: many
/// distinct names under one domain, long and random-looking (the first
/// query name's length and entropy), from few clients. The score is the
/// mean of three parts: distinct names (1,000 or more score fully), the
/// mean length of what precedes the base domain (40 characters or more),
/// and the mean entropy (4 bits per character or more; English-like
/// names are near 3). T1071.004, and T1048.003 when long names get small
/// answers ([`DNS_EXFIL_MAX_ANSWER_BYTES`]): the data goes out only.
async fn dns_tunnels(
    ctx: &datafusion::prelude::SessionContext,
) -> Result<Vec<Value>, AnalyzerError> {
    let r = rows(ctx, &format!(
        "SELECT d AS domain, count(*) AS queries, count(DISTINCT dns_query) AS names,          count(DISTINCT orig_addr) AS clients, avg(CAST(dns_qname_len AS DOUBLE) - length(d)) AS sub_len,          avg(dns_qname_entropy) AS entropy, sum(orig_payload_bytes) AS bytes_out,          sum(resp_payload_bytes) AS bytes_in, sum(CASE WHEN dns_qtype IN (16, 10, 65399) THEN 1 ELSE 0 END) AS txt_null,          min(first_ts) AS first, max(last_ts) AS last, min(orig_addr) AS client,          array_agg(flow_uid ORDER BY first_ts) AS uids FROM          (SELECT base_domain(dns_query) AS d, * FROM flows WHERE dns_query IS NOT NULL AND resp_port = 53)          WHERE d IS NOT NULL GROUP BY d HAVING count(DISTINCT dns_query) >= {DNS_TUNNEL_MIN_NAMES}"
    )).await?;
    let mut out: Vec<Value> = r
        .into_iter()
        .map(|mut x| {
            let names = x["names"].as_f64().unwrap_or(0.0);
            let sub = x["sub_len"].as_f64().unwrap_or(0.0);
            let ent = x["entropy"].as_f64().unwrap_or(0.0);
            let score = ((names.log10() / 3.0).clamp(0.0, 1.0)
                + (sub / 40.0).clamp(0.0, 1.0)
                + ((ent - 2.0) / 2.0).clamp(0.0, 1.0))
                / 3.0;
            // An answer repeats its question: what it adds is what came
            // back. Long names answered with little carry data out.
            let queries = x["queries"].as_f64().unwrap_or(0.0).max(1.0);
            let back = (x["bytes_in"].as_f64().unwrap_or(0.0)
                - x["bytes_out"].as_f64().unwrap_or(0.0))
                / queries;
            x["answer_bytes_per_query"] = json!((back * 10.0).round() / 10.0);
            let exfil = sub >= 30.0 && back < DNS_EXFIL_MAX_ANSWER_BYTES;
            x["technique"] = json!(if exfil { "T1048.003" } else { "T1071.004" });
            x["score"] = json!((score * 1000.0).round() / 1000.0);
            x["sub_len"] = json!((sub * 10.0).round() / 10.0);
            x["entropy"] = json!((ent * 100.0).round() / 100.0);
            let uids: Vec<Value> = x["uids"]
                .as_array()
                .map(|u| u.iter().take(20).cloned().collect())
                .unwrap_or_default();
            x["evidence"] = json!(uids);
            if let Some(o) = x.as_object_mut() {
                o.remove("uids");
            }
            x
        })
        .collect();
    out.sort_by(|a, b| {
        b["score"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&a["score"].as_f64().unwrap_or(0.0))
    });
    out.truncate(50);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(ts_s: &[f64], bytes: f64) -> Vec<Call> {
        ts_s.iter()
            .enumerate()
            .map(|(i, &t)| Call {
                ts_us: (t * 1e6) as i64,
                bytes: bytes + (i % 3) as f64,
                uid: i as i64,
            })
            .collect()
    }

    #[test]
    fn robust_statistics_by_hand() {
        let v = Array1::from(vec![1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!(median(&v), 3.0);
        assert_eq!(mad(&v), 1.0); // |x - 3| = 2 1 0 1 97
        assert_eq!(bowley(&Array1::from(vec![1.0, 2.0, 3.0, 4.0, 5.0])), 0.0);
        assert!(bowley(&Array1::from(vec![1.0, 1.0, 1.0, 2.0, 10.0])) > 0.0);
    }

    #[test]
    fn a_beacon_with_missed_calls_stays_a_beacon_for_mekong() {
        let span = 6.0 * 3600.0 * 1e6;
        // Every 60 s ± 2 s for 5 hours, a third of the calls missed.
        let mut t = Vec::new();
        let mut x = 0.0;
        for i in 0..300 {
            x += 60.0 + ((i * 37) % 5) as f64 - 2.0;
            if i % 3 != 0 {
                t.push(x);
            }
        }
        let b = calls(&t, 400.0);
        let (m, period) = mekong_score(&b, span, 1);
        assert!((period - 60.0).abs() < 3.0, "{period}");
        assert!(m > 0.8, "{m}");
        // Human browsing: bursts at random times.
        let mut y = 0.0;
        let r: Vec<f64> = (0..200)
            .map(|i| {
                y += [5.0, 300.0, 40.0, 1200.0, 9.0, 77.0][i % 6];
                y
            })
            .collect();
        let h = calls(&r, 900.0);
        assert!(mekong_score(&h, span, 1).0 < 0.6);
        // A popular service called as regularly is not one implant's channel.
        assert!(mekong_score(&b, span, 50).0 < 0.2);
        assert!(rita_score(&b, span) <= 1.0);
    }
}
