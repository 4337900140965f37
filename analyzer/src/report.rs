//! `report`: one self-contained HTML file (styles inline, charts as
//! inline SVG, no script, nothing fetched) in Vietnamese or English:
//! totals, alerts over time by technique, alerts by technique, the top
//! attackers with their profiles and campaigns, hunt findings, and capture
//! completeness. Every figure is also in a `data-v` attribute (the raw
//! number) beside its localised text, so tests and scripts read the same
//! numbers `summary` gives.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::error::AnalyzerError;
use crate::i18n::{Lang, Text};
use crate::output::rows;

/// Techniques drawn with their own colour; the rest share one.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f",
];

/// HTML-escaped text.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(", "),
        x => x.to_string(),
    }
}

/// A number cell: the raw value for machines, the localised one for people.
fn num(lang: Lang, key: &str, v: &Value) -> String {
    let raw = v
        .as_i64()
        .or_else(|| v.as_f64().map(|f| f.round() as i64))
        .or_else(|| v.as_str().and_then(|x| x.parse().ok()))
        .unwrap_or(0);
    format!(
        "<td class=\"n\" data-k=\"{}\" data-v=\"{raw}\">{}</td>",
        esc(key),
        lang.number(raw)
    )
}

fn dec(v: &Value) -> String {
    format!(
        "<td class=\"n\">{}</td>",
        v.as_f64().map_or(String::new(), |f| format!("{f:.3}"))
    )
}

fn td(v: &str) -> String {
    format!("<td>{}</td>", esc(v))
}

fn table(head: &[&str], body: &str, t: &Text) -> String {
    if body.is_empty() {
        return format!("<p class=\"none\">{}</p>", esc(t.none));
    }
    let mut h = String::from("<table><thead><tr>");
    for c in head {
        let mut cs = c.chars();
        let cap: String = cs
            .next()
            .map(|f| f.to_uppercase().chain(cs).collect())
            .unwrap_or_default();
        let _ = write!(h, "<th>{}</th>", esc(&cap));
    }
    let _ = write!(h, "</tr></thead><tbody>{body}</tbody></table>");
    h
}

/// Stacked bars of alerts per hour and technique, as SVG.
fn chart(series: &[Value], t: &Text) -> String {
    let mut hours: Vec<String> = Vec::new();
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    let mut cell: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in series {
        let h = format!("{} {}", s(&r["date"]), s(&r["hour"]));
        if !hours.contains(&h) {
            hours.push(h.clone());
        }
        let tech = s(&r["technique"]);
        let n = r["alerts"].as_i64().unwrap_or(0);
        *totals.entry(tech.clone()).or_default() += n;
        *cell.entry((h, tech)).or_default() += n;
    }
    hours.sort();
    if hours.is_empty() {
        return format!("<p class=\"none\">{}</p>", esc(t.none));
    }
    let mut order: Vec<(String, i64)> = totals.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let colour = |tech: &str| {
        order
            .iter()
            .position(|(x, _)| x == tech)
            .map_or(PALETTE[9], |i| PALETTE[i.min(9)])
    };
    let (w, h, left, bottom, top) = (960.0, 300.0, 56.0, 40.0, 12.0);
    let per_hour: Vec<i64> = hours
        .iter()
        .map(|hr| {
            cell.iter()
                .filter(|((x, _), _)| x == hr)
                .map(|(_, n)| n)
                .sum()
        })
        .collect();
    let max = per_hour.iter().copied().max().unwrap_or(1).max(1) as f64;
    let slot = (w - left - 10.0) / hours.len() as f64;
    let bar = (slot * 0.7).max(2.0);
    let plot_h = h - bottom - top;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" class=\"chart\">"
    );
    for i in 0..=4 {
        let y = top + plot_h * (1.0 - i as f64 / 4.0);
        let v = (max * i as f64 / 4.0).round();
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" class=\"ax\">{v}</text>",
            w - 10.0,
            left - 6.0,
            y + 4.0
        );
    }
    for (i, hr) in hours.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        for (tech, _) in &order {
            let n = cell.get(&(hr.clone(), tech.clone())).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let bh = plot_h * n as f64 / max;
            y -= bh;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"{}\" data-technique=\"{}\" data-hour=\"{}\" data-v=\"{n}\"><title>{} {}: {n}</title></rect>",
                colour(tech),
                esc(tech),
                esc(hr),
                esc(hr),
                esc(tech)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"ax\">{}</text>",
            x + bar / 2.0,
            h - bottom + 16.0,
            esc(hr.rsplit(' ').next().unwrap_or(hr))
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"ax\">{}</text></svg>",
        left + (w - left) / 2.0,
        h - 6.0,
        esc(t.hour_utc)
    );
    let mut legend = String::from("<ul class=\"legend\">");
    for (i, (tech, n)) in order.iter().enumerate() {
        let _ = write!(
            legend,
            "<li><span style=\"background:{}\"></span>{} ({n})</li>",
            PALETTE[i.min(9)],
            esc(tech)
        );
    }
    legend.push_str("</ul>");
    svg + &legend
}

const STYLE: &str = "body{font-family:'DejaVu Sans',sans-serif;margin:24px;color:#222;background:#fff;font-size:13px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #1f77b4;padding-bottom:3px}\
h3{font-size:14px;margin:16px 0 6px}p.meta{color:#555;margin:2px 0}\
table{border-collapse:collapse;margin:4px 0 8px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}\
th{background:#eef3f8}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px}\
.legend span{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:middle}\
.ax{font-size:11px;fill:#444}.none{color:#777;font-style:italic}footer{margin-top:32px;color:#777}";

/// The report of the tree at `dir`, as one HTML document.
pub async fn report(dir: &Path, lang: Lang) -> Result<String, AnalyzerError> {
    let t = lang.text();
    let sum = crate::summary::summary(dir, None, None).await?;
    let att = crate::attackers::attackers(dir, 10).await?;
    let hunt = crate::hunt::hunt(dir, &[]).await?;
    let (ctx, tables) = crate::tree::open(dir).await?;
    let series = if tables.contains(&"alerts") {
        rows(
            &ctx,
            "SELECT d AS date, h AS hour, t AS technique, count(*) AS alerts FROM \
             (SELECT CAST(date AS VARCHAR) AS d, hour AS h, unnest(technique_ids) AS t FROM alerts WHERE phase = 'start') \
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .await?
    } else {
        Vec::new()
    };
    let arr = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        lang.code(),
        esc(t.title)
    );
    let _ = write!(h, "<h1>{}</h1>", esc(t.title));
    let tot = sum["totals"].get(0).cloned().unwrap_or(Value::Null);
    let _ = write!(
        h,
        "<p class=\"meta\">{}: {} – {} (UTC)</p>",
        esc(t.period),
        esc(&s(&tot["first"])),
        esc(&s(&tot["last"]))
    );
    // Totals.
    let _ = write!(
        h,
        "<h2>{}</h2>{}",
        esc(t.totals),
        table(
            &[t.flows, t.packets, t.bytes, t.sensors],
            &format!(
                "<tr>{}{}{}{}</tr>",
                num(lang, "totals.flows", &tot["flows"]),
                num(lang, "totals.packets", &tot["packets"]),
                num(lang, "totals.bytes", &tot["bytes"]),
                num(lang, "totals.sensors", &tot["sensors"])
            ),
            t
        )
    );
    // Alerts over time and by technique.
    let _ = write!(
        h,
        "<h2>{}</h2>{}",
        esc(t.alerts_over_time),
        chart(&series, t)
    );
    let mut b = String::new();
    for r in arr(&sum["alerts_by_technique"]) {
        let k = s(&r["technique"]);
        let _ = write!(
            b,
            "<tr>{}{}{}</tr>",
            td(&k),
            num(lang, &format!("technique.{k}.alerts"), &r["alerts"]),
            num(lang, &format!("technique.{k}.sources"), &r["sources"])
        );
    }
    let _ = write!(
        h,
        "<h2>{}</h2>{}",
        esc(t.alerts_by_technique),
        table(&[t.technique, t.alerts, t.sources], &b, t)
    );
    // Attackers.
    let mut b = String::new();
    for a in arr(&att["attackers"]) {
        let techs: Vec<String> = arr(&a["techniques"])
            .iter()
            .map(|x| s(&x["technique"]))
            .collect();
        let targets: Vec<String> = arr(&a["targets"])
            .iter()
            .take(5)
            .map(|x| s(&x["target"]))
            .collect();
        let tools: Vec<String> = arr(&a["tools"])
            .iter()
            .take(3)
            .map(|x| format!("{}: {}", s(&x["kind"]), s(&x["value"])))
            .collect();
        let host = s(&a["host"]);
        let _ = write!(
            b,
            "<tr>{}{}{}{}{}{}{}{}</tr>",
            num(lang, &format!("attacker.{host}.rank"), &a["rank"]),
            td(&host),
            dec(&a["score"]),
            td(&s(&a["tactics"])),
            td(&techs.join(", ")),
            td(&format!(
                "{} ({})",
                targets.join(", "),
                s(&a["targets_count"])
            )),
            num(lang, &format!("attacker.{host}.alerts"), &a["alerts"]),
            td(&tools.join("; "))
        );
    }
    let _ = write!(
        h,
        "<h2>{}</h2>{}",
        esc(t.top_attackers),
        table(
            &[
                t.rank,
                t.host,
                t.score,
                t.tactics,
                t.techniques,
                t.targets,
                t.alerts,
                t.tools
            ],
            &b,
            t
        )
    );
    let mut b = String::new();
    for c in arr(&att["campaigns"]) {
        let ev: Vec<String> = arr(&c["evidence"])
            .iter()
            .take(4)
            .map(|e| format!("{}: {}", s(&e["kind"]), s(&e["detail"])))
            .collect();
        let _ = write!(
            b,
            "<tr>{}{}{}{}</tr>",
            num(lang, "campaign", &c["campaign"]),
            td(&s(&c["hosts"])),
            td(&s(&c["techniques"])),
            td(&ev.join("; "))
        );
    }
    let _ = write!(
        h,
        "<h3>{}</h3>{}",
        esc(t.campaigns),
        table(&[t.campaign, t.hosts, t.techniques, t.evidence], &b, t)
    );
    // Hunt findings.
    let _ = write!(h, "<h2>{}</h2>", esc(t.hunt_findings));
    let mut b = String::new();
    for r in arr(&hunt["beacons"]).iter().take(10) {
        let _ = write!(
            b,
            "<tr>{}{}{}{}{}{}{}</tr>",
            td(&s(&r["client"])),
            td(&s(&r["server"])),
            td(&s(&r["port"])),
            td(&s(&r["calls"])),
            td(&s(&r["period_s"])),
            dec(&r["score"]),
            dec(&r["rita_score"])
        );
    }
    let _ = write!(
        h,
        "<h3>{}</h3>{}",
        esc(t.beacons),
        table(
            &[
                t.client,
                t.server,
                t.port,
                t.calls,
                t.period_s,
                t.score,
                t.rita_score
            ],
            &b,
            t
        )
    );
    let mut b = String::new();
    for r in arr(&hunt["slow_scans"]).iter().take(10) {
        let aim = if r["target"].is_null() {
            format!(":{}", s(&r["port"]))
        } else {
            s(&r["target"])
        };
        let _ = write!(
            b,
            "<tr>{}{}{}{}{}</tr>",
            td(&s(&r["source"])),
            td(&aim),
            td(&s(&r["targets"])),
            td(&s(&r["span_s"])),
            dec(&r["score"])
        );
    }
    let _ = write!(
        h,
        "<h3>{}</h3>{}",
        esc(t.slow_scans),
        table(&[t.source, t.host, t.targets, t.span_s, t.score], &b, t)
    );
    let mut b = String::new();
    for r in arr(&hunt["dns_tunnels"]).iter().take(10) {
        let _ = write!(
            b,
            "<tr>{}{}{}{}{}</tr>",
            td(&s(&r["domain"])),
            td(&s(&r["technique"])),
            td(&s(&r["names"])),
            td(&s(&r["clients"])),
            dec(&r["score"])
        );
    }
    let _ = write!(
        h,
        "<h3>{}</h3>{}",
        esc(t.dns_tunnels),
        table(&[t.domain, t.technique, t.names, t.client, t.score], &b, t)
    );
    let mut b = String::new();
    for r in arr(&hunt["long_connections"]).iter().take(10) {
        let _ = write!(
            b,
            "<tr>{}{}{}{}</tr>",
            td(&s(&r["client"])),
            td(&s(&r["server"])),
            td(&s(&r["port"])),
            td(&format!("{:.0}", r["seconds"].as_f64().unwrap_or(0.0)))
        );
    }
    let _ = write!(
        h,
        "<h3>{}</h3>{}",
        esc(t.long_connections),
        table(&[t.client, t.server, t.port, t.seconds], &b, t)
    );
    // Completeness.
    let mut b = String::new();
    for r in arr(&sum["capture_completeness"]) {
        let k = format!("{}.{}.{}", s(&r["sensor"]), s(&r["date"]), s(&r["hour"]));
        let _ = write!(
            b,
            "<tr>{}{}{}{}{}{}</tr>",
            td(&s(&r["sensor"])),
            td(&s(&r["date"])),
            td(&s(&r["hour"])),
            num(lang, &format!("complete.{k}.seen"), &r["packets_seen"]),
            num(
                lang,
                &format!("complete.{k}.dropped"),
                &r["packets_dropped"]
            ),
            num(
                lang,
                &format!("complete.{k}.dropped_hour"),
                &r["dropped_this_hour"]
            )
        );
    }
    let _ = write!(
        h,
        "<h2>{}</h2>{}",
        esc(t.completeness),
        table(
            &[t.sensor, t.date, t.hour, t.seen, t.dropped, t.dropped_hour],
            &b,
            t
        )
    );
    let _ = writeln!(
        h,
        "<footer>{} {}</footer></body></html>",
        esc(t.footer),
        env!("CARGO_PKG_VERSION")
    );
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_carry_their_raw_value() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            num(Lang::Vi, "k", &serde_json::json!(1234567)),
            "<td class=\"n\" data-k=\"k\" data-v=\"1234567\">1.234.567</td>"
        );
    }

    #[test]
    fn the_chart_stacks_each_hours_techniques() {
        let series = vec![
            serde_json::json!({"date": "2026-03-02", "hour": "01", "technique": "T1046", "alerts": 3}),
            serde_json::json!({"date": "2026-03-02", "hour": "01", "technique": "T1190", "alerts": 1}),
            serde_json::json!({"date": "2026-03-02", "hour": "02", "technique": "T1190", "alerts": 4}),
        ];
        let svg = chart(&series, Lang::En.text());
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("data-technique=\"T1190\" data-hour=\"2026-03-02 02\" data-v=\"4\""));
        // The tallest hour fills the plot: 4 alerts over 248 pixels.
        assert!(svg.contains("height=\"248.0\""), "{svg}");
    }
}
