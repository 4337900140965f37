//! `profile --host`: one host's behaviour over the tree: its roles (as
//! client, as server), peers, services, volumes, the techniques it used or
//! suffered with first and last seen, its tools (JA4, JA3, HASSH, HTTP
//! user agents, SSH banners, RDP cookies, mining agents), and an hourly
//! timeline.

use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::AnalyzerError;
use crate::output::rows;

/// The profile of `host` in the tree at `dir`.
pub async fn host(dir: &Path, host: IpAddr) -> Result<Value, AnalyzerError> {
    let (ctx, tables) = crate::tree::open(dir).await?;
    let h = host.to_string();
    let mut p = serde_json::Map::new();
    p.insert("host".into(), json!(h));
    if tables.contains(&"flows") {
        p.insert("roles".into(), Value::Array(rows(&ctx, &format!(
            "SELECT CASE WHEN orig_addr = '{h}' THEN 'client' ELSE 'server' END AS role, count(*) AS flows, \
             count(DISTINCT CASE WHEN orig_addr = '{h}' THEN resp_addr ELSE orig_addr END) AS peers, \
             sum(CASE WHEN orig_addr = '{h}' THEN orig_ip_bytes ELSE resp_ip_bytes END) AS bytes_sent, \
             sum(CASE WHEN orig_addr = '{h}' THEN resp_ip_bytes ELSE orig_ip_bytes END) AS bytes_received, \
             min(first_ts) AS first, max(last_ts) AS last \
             FROM flows WHERE orig_addr = '{h}' OR resp_addr = '{h}' GROUP BY 1 ORDER BY 1"
        )).await?));
        p.insert("peers".into(), Value::Array(rows(&ctx, &format!(
            "SELECT CASE WHEN orig_addr = '{h}' THEN resp_addr ELSE orig_addr END AS peer, count(*) AS flows, \
             sum(orig_ip_bytes + resp_ip_bytes) AS bytes, min(first_ts) AS first, max(last_ts) AS last \
             FROM flows WHERE orig_addr = '{h}' OR resp_addr = '{h}' GROUP BY 1 ORDER BY flows DESC, peer LIMIT 20"
        )).await?));
        p.insert("services".into(), Value::Array(rows(&ctx, &format!(
            "SELECT CASE WHEN orig_addr = '{h}' THEN 'used' ELSE 'offered' END AS side, proto, resp_port AS port, \
             app_proto, count(*) AS flows, count(DISTINCT CASE WHEN orig_addr = '{h}' THEN resp_addr ELSE orig_addr END) AS peers \
             FROM flows WHERE orig_addr = '{h}' OR resp_addr = '{h}' GROUP BY 1, 2, 3, 4 ORDER BY flows DESC, port LIMIT 20"
        )).await?));
        let mut tools = Vec::new();
        for (kind, col) in [
            ("ja4", "tls_ja4"),
            ("ja3", "tls_ja3"),
            ("hassh", "ssh_hassh"),
            ("ssh_banner", "ssh_client_banner"),
            ("http_user_agent", "http_user_agent"),
            ("rdp_cookie", "rdp_cookie"),
            ("mining_agent", "mining_agent"),
            ("smb_workstation", "ntlm_workstation"),
        ] {
            for mut r in rows(&ctx, &format!(
                "SELECT {col} AS value, count(*) AS flows, min(first_ts) AS first, max(last_ts) AS last FROM flows \
                 WHERE orig_addr = '{h}' AND {col} IS NOT NULL GROUP BY 1 ORDER BY flows DESC, value LIMIT 5"
            )).await? {
                r["kind"] = json!(kind);
                tools.push(r);
            }
        }
        p.insert("tools".into(), Value::Array(tools));
        p.insert("timeline".into(), Value::Array(rows(&ctx, &format!(
            "SELECT date, hour, count(*) AS flows, sum(orig_ip_bytes + resp_ip_bytes) AS bytes, \
             count(DISTINCT CASE WHEN orig_addr = '{h}' THEN resp_addr ELSE orig_addr END) AS peers \
             FROM flows WHERE orig_addr = '{h}' OR resp_addr = '{h}' GROUP BY date, hour ORDER BY date, hour"
        )).await?));
    }
    if tables.contains(&"alerts") {
        p.insert("techniques".into(), Value::Array(rows(&ctx, &format!(
            "SELECT t AS technique, CASE WHEN src_addr = '{h}' THEN 'used' ELSE 'suffered' END AS side, \
             count(*) AS alerts, min(first_ts) AS first, max(last_ts) AS last FROM \
             (SELECT unnest(technique_ids) AS t, src_addr, first_ts, last_ts FROM alerts \
              WHERE (src_addr = '{h}' OR dest_addr = '{h}') AND phase = 'start') \
             GROUP BY 1, 2 ORDER BY first, technique"
        )).await?));
    }
    Ok(Value::Object(p))
}
