//! The alert record: one row per alert, beside the flow record, written as
//! Parquet under `alerts/sensor=ID/date=YYYY-MM-DD/hour=HH/` (the hour of
//! the alert's time) and, the same alerts, as Suricata EVE JSON lines.
//!
//! ```
//! let s = mekong_schema::alert::alert_schema();
//! assert_eq!(s.field(0).name(), "ts");
//! assert!(s.field_with_name("technique_ids").is_ok());
//! ```

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_schema::{Field, Schema, SchemaRef};

use crate::{f, meta, FieldSpec, Ty};

/// Version of the alert-record schema (additive changes bump it).
pub const ALERT_SCHEMA_VERSION: u32 = 1;

fn build() -> Vec<FieldSpec> {
    use Ty::*;
    [
        f("ts", TsUs, false, "µs", "When the alert was raised: packet time of the evidence that crossed the detector's threshold (for an `update`, of the incident's last evidence), UTC."),
        f("sensor_id", Str, false, "", "Sensor that raised it."),
        f("incident", Str, false, "", "Identifier of the incident (16 hex digits): one attacker, target and technique within the deduplication window. The `start` and `update` alerts of an incident share it. Each alert of a rule is an incident of its own (`start`); the rule's `threshold` and `threshold.config` decide how many are raised."),
        f("phase", Str, false, "", "`start`: the first alert of the incident, raised as its threshold was crossed, with the evidence so far; `update`: the incident closed with more evidence than its first alert carried, and this row carries the totals."),
        f("detector", Str, false, "", "The detector: `scan.vertical`, `scan.horizontal`, `sweep.icmp`, `sweep.arp`, `flags.impossible`, `brute.guessing`, `brute.spraying`, `flood`, `amplification.udp`, `amplification.syn_ack`, `dns.tunnel`, `beacon`, `exfil.volume`, `mining.protocol`, `mining.pool`, `indicator` (see signatures/README.md); `rule` for a Suricata-syntax rule."),
        f("action", Str, false, "", "Always `allowed`: Mekong is passive and blocks nothing."),
        f("gid", U32, false, "", "Generator id (1; a rule's `gid` when it sets one)."),
        f("signature_id", U32, false, "", "Signature id: 9,000,000 to 9,000,999 for Mekong's detectors, 9,100,000 and up for Mekong's shipped rules, the rule's sid for any other rule."),
        f("rev", U32, false, "", "Revision of the signature."),
        f("signature", Str, false, "", "The alert's message."),
        f("classtype", Str, false, "", "Suricata classtype (`attempted-recon`, `attempted-dos`...)."),
        f("category", Str, false, "", "Category of the classtype, as Suricata's classification.config names it."),
        f("severity", U8, false, "", "Priority of the classtype: 1 high, 2 medium, 3 low."),
        f("technique_ids", ListStr, false, "", "MITRE ATT&CK technique ids, primary first (`T1046`, `T1110.001`)."),
        f("technique_names", ListStr, false, "", "Their names, as ET rules write them (`Network_Service_Discovery`)."),
        f("tactic_ids", ListStr, false, "", "Their tactics' ids (`TA0007`), each once."),
        f("tactic_names", ListStr, false, "", "The tactics' names (`Discovery`)."),
        f("src_addr", Str, false, "", "The attacker (for reflection, a reflector; for a flood from spoofed sources, one of them)."),
        f("src_port", U16, true, "", "The attacker's port, when one matters."),
        f("dest_addr", Str, false, "", "The victim."),
        f("dest_port", U16, true, "", "The victim's port, when one matters."),
        f("proto", U8, false, "", "IP protocol of the flow that raised the alert (0 for ARP)."),
        f("flow_uid", I64, true, "", "`flow_uid` of the flow whose evidence raised the alert (joins the flow records); the other flows of a host-level alert are those of its attacker and victim between `first_ts` and `last_ts`."),
        f("community_id", Str, true, "", "Community ID v1 of that flow."),
        f("first_ts", TsUs, false, "µs", "First evidence of the incident."),
        f("last_ts", TsUs, false, "µs", "Last evidence known when the row was written."),
        f("count", I64, false, "", "Evidence counted: probes (scans, sweeps), attempts (guessing), packets (floods), answers (reflection), queries (DNS tunnels), connections (beacons), bytes (transfers), matches (indicators, mining)."),
        f("evidence", Str, false, "", "The detector's evidence as a JSON object: counts, ports, rates, interval statistics, sample names and hosts (documented per detector in signatures/README.md); for a rule, its action (`drop` and `reject` rules alert only), the direction, the application protocol and whether the stream or a packet matched. No payload and no credential."),
    ]
    .into_iter()
    .map(|(_, s)| s)
    .collect()
}

fn specs() -> &'static [FieldSpec] {
    static S: OnceLock<Vec<FieldSpec>> = OnceLock::new();
    S.get_or_init(build)
}

/// Every column of the alert record, in order.
pub fn fields() -> impl Iterator<Item = &'static FieldSpec> {
    specs().iter()
}

/// The Arrow schema of alert records.
pub fn alert_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let fields: Vec<Field> = fields()
            .map(|s| Field::new(&s.name, s.ty.data_type(), s.nullable))
            .collect();
        let meta = HashMap::from([(
            meta::SCHEMA_VERSION.to_string(),
            ALERT_SCHEMA_VERSION.to_string(),
        )]);
        Arc::new(Schema::new_with_metadata(fields, meta))
    })
    .clone()
}

/// The alert record's reference as Markdown (`docs/alert-record.md`).
pub fn render_markdown() -> String {
    let mut s = String::new();
    s.push_str("# The alert record\n\n");
    s.push_str("<!-- Generated from schema/src/alert.rs by `cargo test -p mekong-schema`; do not edit. -->\n\n");
    s.push_str(&format!(
        "Schema version {ALERT_SCHEMA_VERSION}. One row per alert, written by `mekong-sensor` as Parquet under \
`alerts/sensor=ID/date=YYYY-MM-DD/hour=HH/` (the partition is the hour of `ts`, UTC), beside the flow \
records; the same alerts are written as Suricata EVE JSON lines (`_eve-NNNNN.json` in the same \
directory, see the sensor's README). Alerts are deduplicated: one incident per attacker, target and \
technique per window, alerted when it starts and, if it grew, once more with its totals when it closes.\n\n"
    ));
    s.push_str("| Column | Type | Null | Unit | Meaning |\n|---|---|---|---|---|\n");
    for spec in fields() {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            spec.name,
            spec.ty.name(),
            if spec.nullable { "yes" } else { "no" },
            spec.unit,
            spec.doc.replace('|', "\\|")
        ));
    }
    s.push_str("\nEvery file's footer carries the same provenance keys as the flow record's (`mekong.schema_version` is the alert schema's version).\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for s in fields() {
            assert!(seen.insert(s.name.clone()), "duplicate {}", s.name);
        }
        assert_eq!(alert_schema().fields().len(), seen.len());
    }

    #[test]
    fn document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/alert-record.md");
        let want = render_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/alert-record.md is out of date: run `UPDATE_DOCS=1 cargo test -p mekong-schema`"
        );
    }
}
