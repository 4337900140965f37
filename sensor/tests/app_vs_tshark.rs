//! Mekong's application columns agree with tshark's own dissection of the
//! same packets, on every shared real capture.
//!
//! For each record, the first frame inside it (same 5-tuple, time within
//! the record) on which tshark shows a field must carry the value the
//! record holds: `dns.qry.name` = `dns_query`,
//! `tls.handshake.extensions_server_name` = `tls_sni`, `tls.handshake.ja3`
//! = `tls_ja3`, `tls.handshake.ja3s` = `tls_ja3s`, `http.host`,
//! `http.request.uri`, `http.user_agent` = `http_host`, `http_uri`,
//! `http_user_agent`, and `ssh.protocol` = `ssh_client_banner` (frames from
//! the originator) or `ssh_server_banner` (from the responder).
//!
//! Disagreements fail the test. A record where tshark shows a value and
//! Mekong has none is a miss; misses fail the test too, except the kinds
//! listed in [`excused`], each with its reason.

use std::collections::BTreeMap;
use std::path::Path;

use common::Row;
use mekong_testkit::{shared_captures, tshark};
use serde_json::Value;

mod common;

/// tshark fields extracted, after the frame's time and addresses.
const FIELDS: [&str; 9] = [
    "dns.qry.name",
    "tls.handshake.extensions_server_name",
    "tls.handshake.ja3",
    "tls.handshake.ja3s",
    "http.host",
    "http.request.uri",
    "http.user_agent",
    "ssh.protocol",
    "ssh.protocol",
];

/// The record column each field is compared with (the second
/// `ssh.protocol` is the responder's banner).
const COLUMNS: [&str; 9] = [
    "dns_query",
    "tls_sni",
    "tls_ja3",
    "tls_ja3s",
    "http_host",
    "http_uri",
    "http_user_agent",
    "ssh_client_banner",
    "ssh_server_banner",
];

/// A frame as tshark dissects it.
#[derive(Debug)]
struct Frame {
    number: u64,
    t_us: i64,
    src: String,
    sport: u16,
    dst: String,
    dport: u16,
    values: [Option<String>; 8],
}

/// `1290000000.123456789` to µs, without floating point.
fn epoch_us(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let mut f = frac.to_string();
    f.truncate(6);
    while f.len() < 6 {
        f.push('0');
    }
    Some(secs.parse::<i64>().ok()? * 1_000_000 + f.parse::<i64>().ok()?)
}

fn tshark_frames(pcap: &Path) -> Vec<Frame> {
    let mut cmd = tshark();
    cmd.arg("-r").arg(pcap).args([
        "-n",
        "-Y",
        "not icmp and not icmpv6",
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=f",
        "-e",
        "frame.number",
        "-e",
        "frame.time_epoch",
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
        "-e",
        "tcp.srcport",
        "-e",
        "udp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.dst",
        "-e",
        "tcp.dstport",
        "-e",
        "udp.dstport",
    ]);
    for f in &FIELDS[..8] {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut frames = Vec::new();
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 18 {
            continue;
        }
        let (Ok(number), Some(t_us)) = (c[0].parse(), epoch_us(c[1])) else {
            continue;
        };
        let addr = |v4: &str, v6: &str| {
            if !v6.is_empty() {
                v6.to_string()
            } else {
                v4.to_string()
            }
        };
        let port = |tcp: &str, udp: &str| tcp.parse().or_else(|_| udp.parse()).unwrap_or(0u16);
        let values = std::array::from_fn(|i| {
            let v = c[10 + i];
            (!v.is_empty()).then(|| v.to_string())
        });
        frames.push(Frame {
            number,
            t_us,
            src: addr(c[2], c[3]),
            sport: port(c[4], c[5]),
            dst: addr(c[6], c[7]),
            dport: port(c[8], c[9]),
            values,
        });
    }
    frames
}

fn s<'a>(r: &'a Row, k: &str) -> Option<&'a str> {
    r.get(k).and_then(Value::as_str)
}

fn n(r: &Row, k: &str) -> i64 {
    r.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// tshark's text for a field.
fn normalise(field: usize, v: &str) -> String {
    match field {
        0 if v == "<Root>" => String::new(),
        0 => collapse(v),
        _ => v.to_string(),
    }
}

/// Runs of U+FFFD as one (tshark decodes invalid UTF-8 in names lossily).
fn collapse(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if !(c == '\u{fffd}' && out.ends_with('\u{fffd}')) {
            out.push(c);
        }
    }
    out
}

/// A DNS name as tshark writes it: Mekong writes bytes outside printable
/// ASCII as RFC 1035's `\DDD` (decimal) and escapes `.` and `\` inside
/// labels; tshark writes control bytes as octal escapes, bytes above 127 as
/// U+FFFD, and dots and backslashes as they are.
fn dns_as_tshark(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let d: u32 = v[i + 1..i + 4].parse().unwrap_or(0);
            if d >= 0x80 {
                out.push('\u{fffd}');
            } else if d < 0x20 || d == 0x7f {
                out.push_str(&format!("\\{d:03o}"));
            } else {
                out.push(char::from_u32(d).unwrap_or('?'));
            }
            i += 4;
        } else if b[i] == b'\\' && i + 1 < b.len() {
            out.push(char::from(b[i + 1]));
            i += 2;
        } else {
            out.push(char::from(b[i]));
            i += 1;
        }
    }
    collapse(&out)
}

/// Misses the test accepts, with the reason (returned when excused).
fn excused(record: &Row, column: &str, want: &str) -> Option<&'static str> {
    let udp = n(record, "proto") == 17;
    let port = |p: i64| n(record, "orig_port") == p || n(record, "resp_port") == p;
    if udp && port(1900) && column.starts_with("http_") {
        return Some("SSDP: HTTP-like messages over UDP, which Mekong does not read as HTTP");
    }
    if column.starts_with("tls_")
        && s(record, "app_proto").is_none()
        && (port(1194) || want.is_empty())
    {
        return Some("TLS inside OpenVPN's control channel, which Mekong does not unwrap");
    }
    let dns_port = [53, 5353, 5355].iter().any(|&p| port(p));
    if column == "dns_query" && udp && !dns_port && s(record, "app_proto").is_none() {
        return Some("DNS off its ports that fails Mekong's strict query test (tshark decodes it by conversation)");
    }
    if column == "tls_ja3" && n(record, "app_anomalies") & 1 != 0 {
        return Some("malformed ClientHello: Mekong flags it and gives no fingerprint, tshark hashes what it read before the error");
    }
    None
}

#[test]
fn application_columns_agree_with_tshark() {
    let mut compared: BTreeMap<&str, usize> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let mut misses = Vec::new();
    let mut excused_n: BTreeMap<&str, usize> = BTreeMap::new();
    for cap in shared_captures() {
        let name = cap
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let frames = tshark_frames(&cap);
        if frames.iter().all(|f| f.values.iter().all(Option::is_none)) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let Some((_, rows)) = common::records(dir.path(), &cap) else {
            continue;
        };
        // Records by unordered address/port pair.
        let mut by_pair: BTreeMap<(String, u16, String, u16), Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            let (Some(a), Some(b)) = (s(r, "orig_addr"), s(r, "resp_addr")) else {
                continue;
            };
            let (pa, pb) = (n(r, "orig_port") as u16, n(r, "resp_port") as u16);
            let k = if (a, pa) <= (b, pb) {
                (a.to_string(), pa, b.to_string(), pb)
            } else {
                (b.to_string(), pb, a.to_string(), pa)
            };
            by_pair.entry(k).or_default().push(r);
        }
        // The first frame with each field, per record.
        let mut first: BTreeMap<(usize, usize), (&Frame, String)> = BTreeMap::new();
        let mut record_ids: BTreeMap<*const Row, usize> = BTreeMap::new();
        for f in &frames {
            let k = if (f.src.as_str(), f.sport) <= (f.dst.as_str(), f.dport) {
                (f.src.clone(), f.sport, f.dst.clone(), f.dport)
            } else {
                (f.dst.clone(), f.dport, f.src.clone(), f.sport)
            };
            let Some(recs) = by_pair.get(&k) else {
                continue;
            };
            let Some(r) = recs
                .iter()
                .find(|r| n(r, "first_ts") <= f.t_us && f.t_us <= n(r, "last_ts"))
            else {
                continue;
            };
            let next_id = record_ids.len();
            let id = *record_ids.entry(*r as *const Row).or_insert(next_id);
            let from_orig =
                s(r, "orig_addr") == Some(f.src.as_str()) && n(r, "orig_port") as u16 == f.sport;
            for (i, v) in f.values.iter().enumerate() {
                let Some(v) = v else { continue };
                // ssh.protocol goes to the banner of the side that sent it.
                let col = if i == 7 && !from_orig { 8 } else { i };
                first.entry((id, col)).or_insert((f, normalise(i, v)));
            }
        }
        let records: BTreeMap<usize, &Row> = record_ids
            .iter()
            .map(|(p, id)| (*id, rows.iter().find(|r| std::ptr::eq(*r, *p)).unwrap()))
            .collect();
        for ((id, col), (frame, want)) in &first {
            let r = records[id];
            let column = COLUMNS[*col];
            *compared.entry(column).or_default() += 1;
            if column == "dns_query" && want == "<Unknown extended label>" {
                // Not a name: the message uses an obsolete label type, which
                // Mekong counts as malformed (and takes the next query's name).
                if n(r, "app_anomalies") & 1 != 0 {
                    *excused_n
                        .entry("obsolete extended label type, flagged malformed")
                        .or_default() += 1;
                } else {
                    misses.push(format!(
                        "{name} frame {}: extended label not flagged",
                        frame.number
                    ));
                }
                continue;
            }
            let got = s(r, column).map(|g| {
                if column == "dns_query" {
                    dns_as_tshark(g)
                } else {
                    g.to_string()
                }
            });
            match got.as_deref() {
                Some(got) if got == want => {}
                Some(got) => disagreements.push(format!(
                    "{name} frame {}: {column} = {got:?}, tshark {:?}",
                    frame.number, want
                )),
                None => match excused(r, column, want) {
                    Some(why) => *excused_n.entry(why).or_default() += 1,
                    None => misses.push(format!(
                        "{name} frame {}: {column} missing (tshark {want:?}; app_proto {:?}, app_anomalies {})",
                        frame.number,
                        s(r, "app_proto"),
                        n(r, "app_anomalies")
                    )),
                },
            }
        }
    }
    eprintln!("compared: {compared:?}");
    eprintln!("excused misses: {excused_n:?}");
    for d in &disagreements {
        eprintln!("DISAGREE {d}");
    }
    for m in &misses {
        eprintln!("MISS {m}");
    }
    for c in COLUMNS {
        assert!(
            compared.get(c).copied().unwrap_or(0) > 0,
            "nothing compared for {c}"
        );
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements",
        disagreements.len()
    );
    assert!(misses.is_empty(), "{} misses", misses.len());
}
