//! Property tests: configuration files and indicator lists are hostile
//! input; address sets and the merge of worker events keep their laws.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use mekong_detect::config::{DetectConfig, IndicatorList, ListFormat, ListKind};
use mekong_detect::event::{EventKind, FlowRef, HostEvent};
use mekong_detect::host::{HostStage, Merger};
use mekong_detect::indicators::{values, Indicators};
use mekong_detect::net::{Cidr, IpSet};
use proptest::prelude::*;

const SHIPPED: &str = include_str!("../../signatures/detectors.toml");

fn list(kind: ListKind, format: ListFormat) -> IndicatorList {
    IndicatorList {
        name: "p".into(),
        path: "p".into(),
        kind,
        format,
        column: Some("value".into()),
        technique: "T1071".into(),
    }
}

fn flow(a: u8, b: u8, port: u16) -> FlowRef {
    FlowRef {
        uid: i64::from(a) << 8 | i64::from(b),
        proto: 6,
        vlan: 0,
        orig: IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)),
        orig_port: 40000,
        resp: IpAddr::V4(Ipv4Addr::new(10, 0, 1, b)),
        resp_port: port,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Arbitrary text is a configuration or an error with a message.
    #[test]
    fn any_text_parses_or_is_refused(text in "\\PC{0,300}") {
        match DetectConfig::parse(&text, Path::new("p.toml")) {
            Ok(c) => prop_assert!(c.check().is_ok()),
            Err(e) => prop_assert!(e.to_string().starts_with("p.toml: ")),
        }
    }

    /// The shipped file with bytes flipped: never a panic, and an error
    /// names the file and what is wrong.
    #[test]
    fn a_damaged_shipped_file_is_refused_cleanly(flips in proptest::collection::vec((0usize..SHIPPED.len(), any::<u8>()), 1..6)) {
        let mut b = SHIPPED.as_bytes().to_vec();
        for (i, v) in flips {
            b[i] = v;
        }
        let text = String::from_utf8_lossy(&b);
        if let Err(e) = DetectConfig::parse(&text, Path::new("d.toml")) {
            let m = e.to_string();
            prop_assert!(m.len() > "d.toml: ".len(), "{m}");
        }
    }

    /// Values out of range are refused with the field's name.
    #[test]
    fn out_of_range_values_name_their_field(v in 1.01f64..1000.0) {
        let e = DetectConfig::parse(&format!("[scan]\nmax_conversation_ratio = {v}\n"), Path::new("d.toml")).unwrap_err();
        prop_assert!(e.to_string().contains("scan.max_conversation_ratio"));
    }

    /// Arbitrary list files in every format and kind load without a panic,
    /// and every address and domain a plain list holds matches itself.
    #[test]
    fn lists_load_and_match_what_they_hold(lines in proptest::collection::vec(prop_oneof![
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,2})?",
            "[a-z]{1,10}(\\.[a-z]{1,8}){1,3}",
            "\\PC{0,40}",
        ], 0..30), sel in 0u8..24) {
        let text = lines.join("\n");
        let formats = [ListFormat::Plain, ListFormat::Csv, ListFormat::Hosts];
        let kinds = [ListKind::Auto, ListKind::Ip, ListKind::Domain, ListKind::Sni, ListKind::Ja3, ListKind::Ja4, ListKind::Hassh, ListKind::CertSha256];
        let (f, k) = (formats[usize::from(sel % 3)], kinds[usize::from(sel / 3) % 8]);
        if let Ok(v) = values(&text, f, Some("value")) {
            let mut ind = Indicators::default();
            ind.add(&list(k, f), v);
        }
        let mut ind = Indicators::default();
        ind.add(&list(ListKind::Auto, ListFormat::Plain), values(&text, ListFormat::Plain, None).unwrap());
        for l in &lines {
            let l = l.split('#').next().unwrap_or("").trim();
            if let Ok(c) = l.parse::<Cidr>() {
                prop_assert!(ind.match_ip(c.addr).is_some(), "{l}");
            } else if l.split('.').count() >= 2
                && l.split('.').all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_lowercase()))
            {
                prop_assert!(ind.match_domain(&format!("x.{l}")).is_some(), "{l}");
            }
        }
    }

    /// A set of blocks contains exactly the addresses some block contains.
    #[test]
    fn sets_agree_with_their_blocks(blocks in proptest::collection::vec((any::<u32>(), 8u8..=32), 0..20), probes in proptest::collection::vec(any::<u32>(), 0..50)) {
        let cidrs: Vec<Cidr> = blocks.iter().map(|&(a, p)| format!("{}/{p}", Ipv4Addr::from(a)).parse().unwrap()).collect();
        let set = IpSet::new(cidrs.iter().copied());
        for p in probes.iter().copied().chain(blocks.iter().map(|b| b.0)) {
            let ip = IpAddr::V4(Ipv4Addr::from(p));
            prop_assert_eq!(set.contains(ip), cidrs.iter().any(|c| c.contains(ip)));
        }
        for c in &cidrs {
            prop_assert_eq!(c.to_string().parse::<Cidr>().unwrap(), *c);
        }
    }

    /// However the events of three workers interleave in their messages,
    /// the merge releases every event once, in (time, kind, endpoints)
    /// order, and the same order every time.
    #[test]
    fn the_merge_order_does_not_depend_on_interleaving(
        evs in proptest::collection::vec((0u64..50, 0u8..3, any::<u8>(), any::<u8>()), 0..60),
        chunk in 1usize..7,
    ) {
        // Each worker's events in its own time order; a flow belongs to one worker.
        let mut per: Vec<Vec<HostEvent>> = vec![Vec::new(); 3];
        for (ts, _, a, b) in &evs {
            let w = usize::from(a % 3);
            per[w].push(HostEvent { ts_ns: *ts, flow: flow(*a, *b, 80), kind: EventKind::Accepted });
        }
        for p in &mut per {
            p.sort_by_key(|e| e.ts_ns);
        }
        let release = |chunk: usize| {
            let mut m = Merger::new(3);
            let mut out = Vec::new();
            let mut idx = [0usize; 3];
            loop {
                let mut progressed = false;
                for w in 0..3 {
                    let end = (idx[w] + chunk).min(per[w].len());
                    if idx[w] < end {
                        m.push(w, per[w][idx[w]..end].to_vec());
                        idx[w] = end;
                        progressed = true;
                    }
                    let mark = per[w].get(idx[w]).map_or(u64::MAX - 1, |e| e.ts_ns);
                    m.mark(w, mark);
                    while let Some(e) = m.pop() {
                        out.push(e);
                    }
                }
                if !progressed {
                    break;
                }
            }
            for w in 0..3 {
                m.finish(w);
            }
            while let Some(e) = m.pop() {
                out.push(e);
            }
            out
        };
        let a = release(chunk);
        let b = release(1);
        prop_assert_eq!(a.len(), evs.len());
        prop_assert!(a.windows(2).all(|w| w[0].order_key() <= w[1].order_key()));
        prop_assert_eq!(a, b);
    }

    /// Arbitrary events through every detector: no panic, and every alert
    /// names a known technique.
    #[test]
    fn any_events_through_the_detectors(evs in proptest::collection::vec((0u64..5_000, 0u8..12, any::<u8>(), any::<u8>(), any::<u16>(), any::<u8>()), 0..200)) {
        let mut stage = HostStage::new(&DetectConfig::default());
        let mut sorted = evs.clone();
        sorted.sort_by_key(|e| e.0);
        for (ms, k, a, b, port, x) in sorted {
            let kind = match k {
                0 => EventKind::Start { flags: x, payload: u32::from(x), frags: 0, from_resp: x & 1 == 1, incomplete: false },
                1 => EventKind::Accepted,
                2 => EventKind::Refused,
                3 => EventKind::Answered,
                4 => EventKind::Volume { orig_pkts: u32::from(x), resp_pkts: 1, frags: 0, orig_bytes: u64::from(port) * 1000, resp_bytes: 10 },
                5 => EventKind::Closed { established: true, orig_bytes: 100, resp_bytes: 100, orig_pkts: 5, resp_pkts: 5, duration_us: u64::from(x) * 1000, service: mekong_detect::event::Service::Ssh },
                6 => EventKind::Dns(mekong_detect::dnsname::dns_event(&format!("{a:02x}{b:02x}{port:04x}.t.example.com"), 16, 0, x & 1 == 1, 300)),
                8 => {
                    use mekong_detect::event::WinOp::*;
                    let ops = [AdminShareWrite, ServiceCreate, ServiceStart, AtJob, Task, WmiExec, DcomActivate, DcomInvoke, DrsReplicate, NetlogonAuth, AccountQuery, GroupQuery, ShareEnum, EptLookup, SmbOversizedTrans, SmbImplantPing, SmbImplantAnswer, SmbBadCompression, KrbRefused(u32::from(a)), KrbRc4Service(u32::from(b)), KrbAsRepNoPreauth(u32::from(x)), NetlogonZeroCredential, RdpConnect];
                    EventKind::Windows(ops[usize::from(x) % ops.len()])
                }
                10 => EventKind::Upload { service: if x & 1 == 0 { mekong_detect::event::Service::Smtp } else { mekong_detect::event::Service::Ftp }, orig_bytes: u64::from(port), resp_bytes: u64::from(a) },
                9 => EventKind::Dhcp(mekong_detect::event::DhcpEvent { msg_type: x % 9, mac: u32::from(a), server: Some(std::net::Ipv4Addr::new(10, 0, 0, b).into()) }),
                _ => EventKind::Login { service: mekong_detect::event::Service::Ftp, outcome: mekong_detect::event::LoginOutcome::Failed, account: u32::from(x % 8) },
            };
            stage.event(&HostEvent { ts_ns: ms * 1_000_000, flow: flow(a, b, port), kind });
        }
        stage.finish();
        for al in stage.drain() {
            prop_assert!(!al.techniques.is_empty());
            for t in &al.techniques {
                prop_assert!(mekong_detect::attack::technique(t).is_some(), "{t}");
            }
            prop_assert!(al.first_ns <= al.last_ns);
        }
    }
}
