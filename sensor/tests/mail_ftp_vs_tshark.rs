//! The FTP, SMTP and login columns agree with tshark's dissection of the
//! same packets, on every shared capture that holds those protocols.
//!
//! Per connection (addresses and ports, either way round):
//! - `ftp.request.command` (upper case) = `ftp_commands`;
//!   `ftp.response.code` = `ftp_reply_codes`; the arguments of `USER` =
//!   `login_users`; the arguments of `RETR`, `STOR`, `STOU`, `APPE`, `DELE`
//!   = `ftp_files`;
//! - a connection tshark dissects as `ftp-data` is a record with `app_proto`
//!   `ftp-data` whose `ftp_control_uid` is the `flow_uid` of the connection
//!   that holds tshark's `ftp-data.setup-frame`;
//! - the first `EHLO`/`HELO` parameter = `smtp_helo`; the `MAIL` and
//!   `RCPT` commands = `smtp_mail_from` and `smtp_rcpt_to`; the first `AUTH`
//!   mechanism = `smtp_auth_mechanism`; `smtp.auth.username` (tshark decodes
//!   the base64) = `login_users`.
//!
//! A value Mekong holds that tshark does not show fails, and so does one
//! tshark shows that Mekong lacks, except the kinds [`excused`] names with
//! their reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::Row;
use mekong_testkit::{shared_captures, tshark};
use serde_json::Value;

mod common;

const FIELDS: [&str; 13] = [
    "frame.number",
    "ftp.request.command",
    "ftp.request.arg",
    "ftp.response.code",
    "ftp-data.setup-frame",
    "smtp.req.command",
    "smtp.req.parameter",
    "smtp.auth.username",
    "tcp.analysis.lost_segment",
    "ftp",
    "ftp-data",
    "tcp.analysis.retransmission",
    "tcp.analysis.spurious_retransmission",
];

type Conn = ((String, u16), (String, u16));

fn conn(a: (String, u16), b: (String, u16)) -> Conn {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[derive(Debug, Default, PartialEq)]
struct Seen {
    commands: BTreeSet<String>,
    codes: BTreeSet<String>,
    users: BTreeSet<String>,
    files: BTreeSet<String>,
    /// The connection announcing this data connection.
    control: Option<Conn>,
    helo: Option<String>,
    mail: u64,
    rcpt: u64,
    mechanism: Option<String>,
    lost: bool,
    /// tshark saw retransmitted segments with data (it does not dissect them).
    retrans: bool,
    midstream: bool,
    /// Mekong: this record's uid, and the control uid it names.
    uid: Option<i64>,
    control_uid: Option<i64>,
}

fn tshark_seen(pcap: &Path) -> BTreeMap<Conn, Seen> {
    let mut cmd = tshark();
    cmd.arg("-r").arg(pcap).args([
        "-n",
        "-Y",
        "ftp || ftp-data || smtp || tcp.analysis.lost_segment || (tcp.len > 0 && (tcp.analysis.retransmission || tcp.analysis.spurious_retransmission))",
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "aggregator=|",
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
        "-e",
        "tcp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.dst",
        "-e",
        "tcp.dstport",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut by: BTreeMap<Conn, Seen> = BTreeMap::new();
    let mut frames: BTreeMap<u64, Conn> = BTreeMap::new();
    let mut setups: Vec<(Conn, u64)> = Vec::new();
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 6 + FIELDS.len() {
            continue;
        }
        let addr = |v4: &str, v6: &str| if v6.is_empty() { v4 } else { v6 }.to_string();
        let (Ok(sp), Ok(dp)) = (c[2].parse::<u16>(), c[5].parse::<u16>()) else {
            continue;
        };
        let key = conn((addr(c[0], c[1]), sp), (addr(c[3], c[4]), dp));
        let v = |i: usize| -> Vec<&str> { c[6 + i].split('|').filter(|s| !s.is_empty()).collect() };
        if let Some(n) = v(0).first().and_then(|n| n.parse().ok()) {
            frames.insert(n, key.clone());
        }
        let e = by.entry(key.clone()).or_default();
        if !v(8).is_empty() {
            e.lost = true;
        }
        if !v(11).is_empty() || !v(12).is_empty() {
            e.retrans = true;
        }
        let (cmds, args) = (v(1), v(2));
        for (i, cm) in cmds.iter().enumerate() {
            let up = cm.to_ascii_uppercase();
            let arg = args.get(i).copied().unwrap_or("");
            match up.as_str() {
                "USER" => {
                    e.users.insert(arg.to_string());
                }
                "RETR" | "STOR" | "STOU" | "APPE" | "DELE" if !arg.is_empty() => {
                    e.files.insert(arg.to_string());
                }
                _ => {}
            }
            e.commands.insert(up);
        }
        e.codes.extend(v(3).iter().map(|s| s.to_string()));
        if let Some(f) = v(4).first().and_then(|n| n.parse().ok()) {
            setups.push((key.clone(), f));
        }
        let (scmds, params) = (v(5), v(6));
        for (i, cm) in scmds.iter().enumerate() {
            let p = params.get(i).copied().unwrap_or("");
            match cm.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" if e.helo.is_none() => e.helo = Some(p.to_string()),
                "MAIL" => e.mail += 1,
                "RCPT" => e.rcpt += 1,
                "AUTH" if e.mechanism.is_none() => {
                    let m = p.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    e.mechanism = Some(m);
                }
                _ => {}
            }
        }
        // tshark shows `AUTH LOGIN` user names in base64, `AUTH PLAIN`'s decoded.
        e.users.extend(v(7).iter().map(|s| decoded(s)));
    }
    for (data, frame) in setups {
        if let Some(ctl) = frames.get(&frame) {
            if let Some(e) = by.get_mut(&data) {
                e.control = Some(ctl.clone());
            }
        }
    }
    by
}

/// A base64 user name decoded (when it is base64 of text), else as given.
fn decoded(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|t| !t.is_empty() && t.chars().all(|c| !c.is_control()))
        .unwrap_or_else(|| s.to_string())
}

fn list(r: &Row, k: &str) -> Vec<String> {
    r.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn s<'a>(r: &'a Row, k: &str) -> Option<&'a str> {
    r.get(k).and_then(Value::as_str)
}

fn mekong_seen(rows: &[Row]) -> BTreeMap<Conn, Seen> {
    let mut by: BTreeMap<Conn, Seen> = BTreeMap::new();
    for r in rows {
        let port = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0) as u16;
        let key = conn(
            (
                s(r, "orig_addr").unwrap_or("").to_string(),
                port("orig_port"),
            ),
            (
                s(r, "resp_addr").unwrap_or("").to_string(),
                port("resp_port"),
            ),
        );
        let e = by.entry(key).or_default();
        e.commands.extend(list(r, "ftp_commands"));
        e.codes.extend(list(r, "ftp_reply_codes"));
        e.users.extend(list(r, "login_users"));
        e.files.extend(list(r, "ftp_files"));
        e.uid = r.get("flow_uid").and_then(Value::as_i64);
        e.control_uid = e
            .control_uid
            .or_else(|| r.get("ftp_control_uid").and_then(Value::as_i64));
        if e.helo.is_none() {
            e.helo = s(r, "smtp_helo").map(String::from);
        }
        e.mail += r.get("smtp_mail_from").and_then(Value::as_u64).unwrap_or(0);
        e.rcpt += r.get("smtp_rcpt_to").and_then(Value::as_u64).unwrap_or(0);
        if e.mechanism.is_none() {
            e.mechanism = s(r, "smtp_auth_mechanism").map(String::from);
        }
        if !s(r, "history").unwrap_or("").starts_with('S') {
            e.midstream = true;
        }
    }
    by
}

/// Why a value Mekong holds that tshark does not show is no defect.
const RETRANS: &str = "the value is in a retransmitted segment (whose original the capture lacks): tshark does not dissect retransmissions, Mekong reassembles them";

/// Misses that do not fail the test, with their reason.
fn excused(theirs: &Seen, ours: Option<&Seen>) -> Option<&'static str> {
    if theirs.lost {
        return Some("the capture lost segments of this connection: Mekong's parsers stop at a gap, tshark dissects each packet on its own");
    }
    let Some(ours) = ours else {
        return Some("no record for the connection");
    };
    if ours.midstream {
        return Some("the capture starts inside the connection: Mekong's in-order stream starts at the first segment it sees, tshark dissects each packet on its own");
    }
    None
}

#[test]
fn ftp_smtp_and_login_columns_agree_with_tshark() {
    let mut checked = 0usize;
    let mut wrong = Vec::new();
    let mut extra = Vec::new();
    let mut retrans_excused = 0usize;
    let mut excuses: BTreeMap<&str, usize> = BTreeMap::new();
    let mut links = 0;
    for pcap in shared_captures() {
        let theirs = tshark_seen(&pcap);
        if theirs.values().all(|t| {
            t.commands.is_empty()
                && t.codes.is_empty()
                && t.control.is_none()
                && t.helo.is_none()
                && t.mail == 0
        }) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let Some((_, rows)) = common::records(dir.path(), &pcap) else {
            continue;
        };
        let ours = mekong_seen(&rows);
        let name = pcap.file_name().unwrap().to_string_lossy().to_string();
        for (key, t) in &theirs {
            let o = ours.get(key);
            let empty = Seen::default();
            let m = o.unwrap_or(&empty);
            let mut miss = |what: String| match excused(t, o) {
                Some(why) => *excuses.entry(why).or_default() += 1,
                None => wrong.push(format!("{name} {key:?}: {what}")),
            };
            macro_rules! cmp {
                ($kind:literal, $f:ident) => {{
                    checked += t.$f.len();
                    for v in m.$f.difference(&t.$f) {
                        if t.retrans {
                            retrans_excused += 1;
                        } else {
                            extra.push(format!(
                                "{name} {key:?} {}: Mekong has {v:?}, tshark not",
                                $kind
                            ));
                        }
                    }
                    for v in t.$f.difference(&m.$f) {
                        miss(format!("{}: tshark has {v:?}, Mekong not", $kind));
                    }
                }};
            }
            cmp!("ftp command", commands);
            cmp!("ftp reply code", codes);
            cmp!("user", users);
            cmp!("ftp file", files);
            for (kind, a, b) in [
                ("smtp helo", &t.helo, &m.helo),
                ("smtp auth mechanism", &t.mechanism, &m.mechanism),
            ] {
                if a.is_some() || b.is_some() {
                    checked += 1;
                    if a != b {
                        miss(format!("{kind}: tshark {a:?}, Mekong {b:?}"));
                    }
                }
            }
            for (kind, a, b) in [("smtp mail", t.mail, m.mail), ("smtp rcpt", t.rcpt, m.rcpt)] {
                if a > 0 || b > 0 {
                    checked += 1;
                    if a != b {
                        miss(format!("{kind}: tshark {a}, Mekong {b}"));
                    }
                }
            }
            if let Some(ctl) = &t.control {
                checked += 1;
                let want = ours.get(ctl).and_then(|c| c.uid);
                if want.is_none() || m.control_uid != want {
                    miss(format!(
                        "ftp-data of {ctl:?}: Mekong links {:?}, control uid {want:?}",
                        m.control_uid
                    ));
                } else {
                    links += 1;
                }
            }
        }
    }
    if retrans_excused > 0 {
        excuses.insert(RETRANS, retrans_excused);
    }
    println!("{checked} values checked against tshark, {links} data connections linked; excused misses: {excuses:#?}");
    assert!(checked > 100, "too few values checked: {checked}");
    assert!(links >= 1, "no FTP data connection linked");
    wrong.extend(extra);
    assert!(
        wrong.is_empty(),
        "{} differences:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
