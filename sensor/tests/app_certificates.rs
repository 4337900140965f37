//! The certificate columns agree with OpenSSL reading the same certificate:
//! for every record of the shared captures with a server certificate,
//! tshark extracts the first certificate of the flow's Certificate message
//! (out-of-order segments put back in order, as Mekong does) and `openssl
//! x509` prints its subject and issuer (RFC 2253 order, OpenSSL's short
//! attribute names, UTF-8), validity and SHA-256 fingerprint.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use mekong_testkit::{shared_captures, tshark};

mod common;

/// (client address, client port, server address, server port) -> first certificate (DER).
fn tshark_certificates(pcap: &Path) -> BTreeMap<(String, u16, String, u16), Vec<u8>> {
    let out = tshark()
        .arg("-r")
        .arg(pcap)
        .args([
            "-n",
            // Mekong puts out-of-order segments back in order; so must tshark.
            "-o",
            "tcp.reassemble_out_of_order:TRUE",
            "-Y",
            "tls.handshake.type == 11 and tcp",
            "-T",
            "fields",
            "-E",
            "occurrence=f",
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
            "-e",
            "tls.handshake.certificate",
        ])
        .output()
        .expect("tshark runs");
    let mut certs = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 7 || c[6].is_empty() {
            continue;
        }
        let pick = |a: &str, b: &str| {
            if b.is_empty() {
                a.to_string()
            } else {
                b.to_string()
            }
        };
        let hex: String = c[6].chars().filter(char::is_ascii_hexdigit).collect();
        let der: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        // The certificate comes from the server: the flow's client is the destination.
        let key = (
            pick(c[3], c[4]),
            c[5].parse().unwrap_or(0),
            pick(c[0], c[1]),
            c[2].parse().unwrap_or(0),
        );
        certs.entry(key).or_insert(der);
    }
    certs
}

/// What OpenSSL says about a DER certificate.
struct Openssl {
    subject: String,
    issuer: String,
    not_before: i64,
    not_after: i64,
    sha256: String,
}

fn openssl_date_us(s: &str) -> i64 {
    // "Mar 30 16:44:31 2023 GMT"
    let p: Vec<&str> = s.split_whitespace().collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == p[0])
    .unwrap() as i64
        + 1;
    let day: i64 = p[1].parse().unwrap();
    let hms: Vec<i64> = p[2].split(':').map(|x| x.parse().unwrap()).collect();
    let year: i64 = p[3].parse().unwrap();
    // Days from the civil date (H. Hinnant's algorithm), written out here
    // so the test does not use the code it checks.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    (days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]) * 1_000_000
}

fn openssl(der: &[u8]) -> Openssl {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(der).unwrap();
    let out = Command::new("openssl")
        .args([
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-nameopt",
            "RFC2253,-esc_msb",
        ])
        .args([
            "-subject",
            "-issuer",
            "-startdate",
            "-enddate",
            "-fingerprint",
            "-sha256",
        ])
        .arg("-in")
        .arg(f.path())
        .output()
        .expect("openssl is installed (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("openssl printed no {k}: {text}"))
            .to_string()
    };
    Openssl {
        subject: get("subject="),
        issuer: get("issuer="),
        not_before: openssl_date_us(&get("notBefore=")),
        not_after: openssl_date_us(&get("notAfter=")),
        sha256: get("sha256 Fingerprint=").replace(':', "").to_lowercase(),
    }
}

#[test]
fn certificate_columns_agree_with_openssl() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for cap in shared_captures() {
        let dir = tempfile::tempdir().unwrap();
        let Some((_, rows)) = common::records(dir.path(), &cap) else {
            continue;
        };
        if rows.iter().all(|r| r["tls_cert_sha256"].is_null()) {
            continue;
        }
        let certs = tshark_certificates(&cap);
        // Every certificate tshark sees is in the record of its flow.
        for key in certs.keys() {
            let has = rows.iter().any(|r| {
                r["orig_addr"].as_str() == Some(key.0.as_str())
                    && r["orig_port"].as_i64() == Some(i64::from(key.1))
                    && r["resp_addr"].as_str() == Some(key.2.as_str())
                    && r["resp_port"].as_i64() == Some(i64::from(key.3))
                    && !r["tls_cert_sha256"].is_null()
            });
            if !has {
                problems.push(format!("{}: {key:?} certificate missing", cap.display()));
            }
        }
        for r in rows {
            let Some(sha) = r["tls_cert_sha256"].as_str() else {
                continue;
            };
            let key = (
                r["orig_addr"].as_str().unwrap_or("").to_string(),
                r["orig_port"].as_i64().unwrap_or(0) as u16,
                r["resp_addr"].as_str().unwrap_or("").to_string(),
                r["resp_port"].as_i64().unwrap_or(0) as u16,
            );
            let name = cap.file_name().unwrap().to_string_lossy().to_string();
            let Some(der) = certs.get(&key) else {
                problems.push(format!("{name} {key:?}: tshark shows no certificate"));
                continue;
            };
            let o = openssl(der);
            let got = |k: &str| r[k].as_str().unwrap_or("").to_string();
            for (what, ours, theirs) in [
                ("sha256", sha.to_string(), o.sha256.clone()),
                ("subject", got("tls_cert_subject"), o.subject.clone()),
                ("issuer", got("tls_cert_issuer"), o.issuer.clone()),
            ] {
                if ours != theirs {
                    problems.push(format!(
                        "{name} {key:?} {what}: {ours:?} vs openssl {theirs:?}"
                    ));
                }
            }
            let ts = |k: &str| r[k].as_i64().unwrap_or(i64::MIN);
            if (ts("tls_cert_not_before"), ts("tls_cert_not_after")) != (o.not_before, o.not_after)
            {
                problems.push(format!("{name} {key:?}: validity differs"));
            }
            checked += 1;
        }
    }
    for p in &problems {
        eprintln!("{p}");
    }
    assert!(problems.is_empty(), "{} problems", problems.len());
    assert!(checked >= 20, "only {checked} certificates checked");
}
