//! JA4 agrees with the values FoxIO's ja4 repository publishes for its test
//! captures (those in the shared datasets), TCP and QUIC alike: every
//! published fingerprint is found, on the right flow, with its server name.

use std::collections::BTreeMap;

use mekong_testkit::shared_pcaps;

mod common;

#[test]
fn ja4_agrees_with_the_published_values() {
    let text = include_str!("expected/ja4.csv");
    let mut by_capture: BTreeMap<&str, Vec<Vec<&str>>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        assert_eq!(c.len(), 8, "{line}");
        by_capture.entry(c[0]).or_default().push(c);
    }
    let mut checked = 0;
    for (capture, expected) in by_capture {
        let dir = tempfile::tempdir().unwrap();
        let pcap = shared_pcaps().join("benign").join(capture);
        let (_, rows) = common::records(dir.path(), &pcap).expect("the capture reads");
        for e in expected {
            let proto = if e[1] == "tcp" { 6 } else { 17 };
            let found: Vec<_> = rows
                .iter()
                .filter(|r| {
                    r["proto"].as_i64() == Some(proto)
                        && r["orig_addr"].as_str() == Some(e[2])
                        && r["orig_port"].as_i64().map(|p| p.to_string()).as_deref() == Some(e[3])
                        && r["resp_addr"].as_str() == Some(e[4])
                        && r["resp_port"].as_i64().map(|p| p.to_string()).as_deref() == Some(e[5])
                })
                .collect();
            assert!(!found.is_empty(), "{capture}: no record for {e:?}");
            for r in found {
                assert_eq!(r["tls_ja4"].as_str(), Some(e[7]), "{capture} {e:?}");
                assert_eq!(r["tls_sni"].as_str(), Some(e[6]), "{capture} {e:?}");
                let want_proto = if proto == 6 { "tls" } else { "quic" };
                assert_eq!(r["app_proto"].as_str(), Some(want_proto));
                checked += 1;
            }
        }
    }
    assert!(checked >= 94, "checked {checked}");
}
