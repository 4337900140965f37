//! Alerts: what a detector names (technique, attacker, victim, evidence),
//! and their EVE JSON form, which Suricata's own schema accepts.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::attack;
use crate::event::FlowRef;

/// Where an alert stands in its incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The first alert of an incident, raised when its threshold was crossed.
    Start,
    /// The incident closed (its window passed without new evidence, or the
    /// input ended) with more evidence than its first alert carried: the
    /// totals.
    Update,
}

impl Phase {
    /// The value of `mekong.phase` and the `phase` column.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Update => "update",
        }
    }
}

/// Suricata classification types Mekong's detectors use: (classtype,
/// category, priority), as in Suricata's `classification.config`.
pub const CLASSTYPES: [(&str, &str, u8); 12] = [
    ("attempted-recon", "Attempted Information Leak", 2),
    ("network-scan", "Detection of a Network Scan", 3),
    ("attempted-dos", "Attempted Denial of Service", 2),
    (
        "denial-of-service",
        "Detection of a Denial of Service Attack",
        2,
    ),
    ("unsuccessful-user", "Unsuccessful User Privilege Gain", 1),
    ("attempted-user", "Attempted User Privilege Gain", 1),
    ("trojan-activity", "A Network Trojan was detected", 1),
    (
        "command-and-control",
        "Malware Command and Control Activity Detected",
        1,
    ),
    (
        "policy-violation",
        "Potential Corporate Privacy Violation",
        1,
    ),
    ("coin-mining", "Crypto Currency Mining Activity Detected", 2),
    ("bad-unknown", "Potentially Bad Traffic", 2),
    ("misc-activity", "Misc activity", 3),
];

/// Category and priority of a classtype (`misc-activity` when unknown).
pub fn classification(classtype: &str) -> (&'static str, u8) {
    CLASSTYPES
        .iter()
        .find(|(c, _, _)| *c == classtype)
        .map(|(_, cat, p)| (*cat, *p))
        .unwrap_or(("Misc activity", 3))
}

/// One alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Packet time of the event that raised it (for an update, of the
    /// incident's last evidence), ns.
    pub ts_ns: u64,
    /// Incident identifier, shared by the start and update of an incident.
    pub incident: u64,
    /// Start or update.
    pub phase: Phase,
    /// Detector name (`scan.vertical`, `brute.failed_logins`...).
    pub detector: &'static str,
    /// Generator id (1, as Suricata's rules).
    pub gid: u32,
    /// Signature id.
    pub signature_id: u32,
    /// Revision.
    pub rev: u32,
    /// Message.
    pub signature: String,
    /// Suricata classtype.
    pub classtype: &'static str,
    /// ATT&CK technique ids, primary first.
    pub techniques: Vec<String>,
    /// The attacker.
    pub src: IpAddr,
    /// Attacker port, when one port matters.
    pub src_port: Option<u16>,
    /// The victim.
    pub dst: IpAddr,
    /// Victim port, when one port matters.
    pub dst_port: Option<u16>,
    /// IP protocol (0 when several or none).
    pub proto: u8,
    /// The flow whose event raised the alert.
    pub flow: Option<FlowRef>,
    /// First evidence, ns.
    pub first_ns: u64,
    /// Last evidence, ns.
    pub last_ns: u64,
    /// How much evidence (probes, attempts, packets, queries: the
    /// detector's documentation says which).
    pub count: u64,
    /// The evidence: counts, ports, interval statistics, sample names.
    pub evidence: Map<String, Value>,
    /// For a signature's alert: what the rule says (classtype, category,
    /// metadata...), and the direction of the packet or message.
    pub rule: Option<RuleAlert>,
}

/// A signature's part of an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleAlert {
    /// The rule.
    pub meta: std::sync::Arc<crate::event::RuleMeta>,
    /// From the client.
    pub to_server: bool,
    /// Application protocol, when known.
    pub app_proto: Option<&'static str>,
    /// Matched in the stream.
    pub stream: bool,
}

/// Suricata's EVE timestamp: `2026-03-02T01:10:00.123456+0000`.
pub fn eve_timestamp(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let us = (ns % 1_000_000_000) / 1000;
    let (y, m, d, hh, mm, ss) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{us:06}+0000")
}

/// RFC 3339 with microseconds, UTC (`2026-03-02T01:10:00.123456Z`).
pub fn rfc3339(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let us = (ns % 1_000_000_000) / 1000;
    let (y, m, d, hh, mm, ss) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{us:06}Z")
}

/// (year, month, day, hour, minute, second) of a Unix time (UTC), by
/// Howard Hinnant's days-to-civil algorithm.
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// EVE's name of an IP protocol.
pub fn proto_name(proto: u8) -> String {
    match proto {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "IPv6-ICMP".into(),
        47 => "GRE".into(),
        132 => "SCTP".into(),
        p => p.to_string(),
    }
}

impl Alert {
    /// Category and severity (Suricata priority) from the classtype (a
    /// rule's own for a signature's alert).
    pub fn category(&self) -> (&str, u8) {
        match &self.rule {
            Some(r) => (r.meta.category.as_str(), r.meta.severity),
            None => classification(self.classtype),
        }
    }

    /// The classtype.
    pub fn classtype(&self) -> &str {
        match &self.rule {
            Some(r) => r.meta.classtype.as_str(),
            None => self.classtype,
        }
    }

    /// The tactic ids of the techniques, in technique order, without repeats.
    pub fn tactics(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        for t in &self.techniques {
            if let Some(x) = attack::technique(t) {
                if !v.contains(&x.tactic) {
                    v.push(x.tactic);
                }
            }
        }
        v
    }

    /// The EVE JSON `alert` event. `community_id` is the flow's Community
    /// ID (computed by the caller, which owns the flow keys); `host` the
    /// sensor id. The evidence goes under `alert.context.mekong`: Suricata's
    /// schema admits no other top-level key, and `alert.context` is its
    /// place for extra context.
    pub fn to_eve(&self, host: &str, community_id: Option<&str>) -> Value {
        let (category, severity) = self.category();
        let techs: Vec<&str> = self.techniques.iter().map(String::as_str).collect();
        let names: Vec<&str> = techs
            .iter()
            .filter_map(|t| attack::technique(t).map(|x| x.name))
            .collect();
        let tactics = self.tactics();
        let tactic_names: Vec<&str> = tactics
            .iter()
            .filter_map(|t| attack::tactic_name(t))
            .collect();
        let mut metadata = Map::new();
        let list = |v: &[&str]| Value::Array(v.iter().map(|s| Value::from(*s)).collect());
        if !techs.is_empty() {
            metadata.insert("mitre_technique_id".into(), list(&techs));
        }
        if !names.is_empty() {
            metadata.insert("mitre_technique_name".into(), list(&names));
        }
        if !tactics.is_empty() {
            metadata.insert("mitre_tactic_id".into(), list(&tactics));
        }
        if !tactic_names.is_empty() {
            metadata.insert("mitre_tactic_name".into(), list(&tactic_names));
        }
        if let Some(r) = &self.rule {
            for (k, vs) in &r.meta.metadata {
                if !metadata.contains_key(k) {
                    metadata.insert(
                        k.clone(),
                        Value::Array(vs.iter().map(|v| Value::from(v.as_str())).collect()),
                    );
                }
            }
        }
        metadata.insert("detector".into(), list(&[self.detector]));
        let mut mekong = Map::new();
        mekong.insert("incident".into(), format!("{:016x}", self.incident).into());
        mekong.insert("phase".into(), self.phase.name().into());
        mekong.insert("detector".into(), self.detector.into());
        mekong.insert("first_seen".into(), rfc3339(self.first_ns).into());
        mekong.insert("last_seen".into(), rfc3339(self.last_ns).into());
        mekong.insert("count".into(), self.count.into());
        if let Some(f) = &self.flow {
            mekong.insert("flow_uid".into(), f.uid.into());
        }
        mekong.insert("evidence".into(), Value::Object(self.evidence.clone()));
        let mut alert = json!({
            "action": "allowed",
            "gid": self.gid,
            "signature_id": self.signature_id,
            "rev": self.rev,
            "signature": self.signature,
            "category": category,
            "severity": severity,
            "metadata": metadata,
            "source": {"ip": self.src.to_string()},
            "target": {"ip": self.dst.to_string()},
            "context": {"mekong": mekong},
        });
        if let Some(p) = self.src_port {
            alert["source"]["port"] = p.into();
        }
        if let Some(p) = self.dst_port {
            alert["target"]["port"] = p.into();
        }
        let mut ev = Map::new();
        ev.insert("timestamp".into(), eve_timestamp(self.ts_ns).into());
        if let Some(f) = &self.flow {
            ev.insert("flow_id".into(), f.uid.into());
        }
        ev.insert("event_type".into(), "alert".into());
        ev.insert("src_ip".into(), self.src.to_string().into());
        let ported = matches!(self.proto, 6 | 17 | 132);
        if ported {
            if let Some(p) = self.src_port {
                ev.insert("src_port".into(), p.into());
            }
        }
        ev.insert("dest_ip".into(), self.dst.to_string().into());
        if ported {
            if let Some(p) = self.dst_port {
                ev.insert("dest_port".into(), p.into());
            }
        }
        if self.proto != 0 {
            ev.insert("proto".into(), proto_name(self.proto).into());
        }
        if let Some(c) = community_id {
            ev.insert("community_id".into(), c.into());
        }
        if let Some(r) = &self.rule {
            ev.insert(
                "direction".into(),
                if r.to_server {
                    "to_server"
                } else {
                    "to_client"
                }
                .into(),
            );
            if let Some(a) = r.app_proto {
                ev.insert("app_proto".into(), a.into());
            }
            ev.insert(
                "pkt_src".into(),
                if r.stream { "stream" } else { "wire/pcap" }.into(),
            );
        }
        ev.insert("host".into(), host.into());
        ev.insert("alert".into(), alert);
        Value::Object(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_suricata_writes_them() {
        // 2026-03-02T01:10:00.123456 UTC
        let ns = 1_772_413_800_123_456_789;
        assert_eq!(eve_timestamp(ns), "2026-03-02T01:10:00.123456+0000");
        assert_eq!(rfc3339(ns), "2026-03-02T01:10:00.123456Z");
        assert_eq!(eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
        // A leap day.
        assert_eq!(
            rfc3339(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn classifications_follow_suricata() {
        assert_eq!(
            classification("attempted-recon"),
            ("Attempted Information Leak", 2)
        );
        assert_eq!(classification("nonsense").1, 3);
    }
}
