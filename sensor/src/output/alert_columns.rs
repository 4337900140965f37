//! The alert record's row.

use mekong_detect::alert::Alert;
use mekong_detect::attack;

use super::columns::Columns;

/// An alert on its way to the output, with what the sensor adds.
#[derive(Clone, Debug)]
pub struct AlertOut {
    /// The alert.
    pub alert: Alert,
    /// Community ID of the flow that raised it.
    pub community_id: Option<String>,
}

/// Appends one alert record.
pub fn append(cols: &mut Columns, a: &AlertOut, sensor_id: &str) {
    cols.append_with(|w| {
        let al = &a.alert;
        let (category, severity) = al.category();
        w.ts("ts", Some((al.ts_ns / 1000) as i64));
        w.str("sensor_id", Some(sensor_id));
        w.built("incident", |b| {
            use std::fmt::Write as _;
            let _ = write!(b, "{:016x}", al.incident);
        });
        w.str("phase", Some(al.phase.name()));
        w.str("detector", Some(al.detector));
        w.str("action", Some("allowed"));
        w.u32("gid", Some(al.gid));
        w.u32("signature_id", Some(al.signature_id));
        w.u32("rev", Some(al.rev));
        w.str("signature", Some(&al.signature));
        w.str("classtype", Some(al.classtype()));
        w.str("category", Some(category));
        w.u8("severity", Some(severity));
        w.list_str("technique_ids", Some(&al.techniques));
        let names: Vec<&str> = al
            .techniques
            .iter()
            .filter_map(|t| attack::technique(t).map(|x| x.name))
            .collect();
        w.list_strs("technique_names", Some(&names));
        let tactics = al.tactics();
        w.list_strs("tactic_ids", Some(&tactics));
        let tnames: Vec<&str> = tactics
            .iter()
            .filter_map(|t| attack::tactic_name(t))
            .collect();
        w.list_strs("tactic_names", Some(&tnames));
        w.built("src_addr", |b| {
            use std::fmt::Write as _;
            let _ = write!(b, "{}", al.src);
        });
        w.u16("src_port", al.src_port);
        w.built("dest_addr", |b| {
            use std::fmt::Write as _;
            let _ = write!(b, "{}", al.dst);
        });
        w.u16("dest_port", al.dst_port);
        w.u8("proto", Some(al.proto));
        w.i64("flow_uid", al.flow.map(|f| f.uid));
        w.str("community_id", a.community_id.as_deref());
        w.ts("first_ts", Some((al.first_ns / 1000) as i64));
        w.ts("last_ts", Some((al.last_ns / 1000) as i64));
        w.i64("count", Some(al.count.min(i64::MAX as u64) as i64));
        w.built("evidence", |b| {
            b.push_str(&serde_json::Value::Object(al.evidence.clone()).to_string());
        });
    });
}
