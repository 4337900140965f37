//! The rule language on hand-built packets: each case is a conversation
//! written byte by byte, rules written for it, and the alerts (sid and
//! count) worked out by hand from Suricata's documented semantics —
//! relative chains and their backtracking, negations, buffer boundaries,
//! a match cut across TCP segments, HTTP buffers, flowbits, header
//! keywords, and thresholds over time.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::table::SEC;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig};
use mekong_sensor::rules::load::{load, RuleSources};
use mekong_sensor::rules::RulesConfig;
use mekong_testkit::build::*;
use mekong_testkit::{eve_lines, Trace};
use serde_json::Value;

const T0: u64 = 1_772_413_200 * SEC;
const MS: u64 = 1_000_000;
const CLIENT: [u8; 4] = [198, 51, 100, 7];
const SERVER: [u8; 4] = [10, 1, 0, 5];

/// A TCP conversation: handshake, then each message (`true`: from the
/// client) in one or more segments, each acknowledged by the other side,
/// then FIN both ways. `at` is the start time.
fn conversation(t: &mut Trace, at: u64, sport: u16, dport: u16, msgs: &[(bool, &[&[u8]])]) {
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let mut ts = at;
    let mut tick = || {
        ts += MS;
        ts
    };
    t.push(
        tick(),
        tcp4(CLIENT, SERVER, sport, dport, cs, 64240, syn(), b""),
    );
    t.push(
        tick(),
        tcp4(
            SERVER,
            CLIENT,
            dport,
            sport,
            ss,
            64240,
            syn_ack(cs + 1),
            b"",
        ),
    );
    cs += 1;
    ss += 1;
    t.push(
        tick(),
        tcp4(CLIENT, SERVER, sport, dport, cs, 64240, ack(ss), b""),
    );
    for (from_client, segs) in msgs {
        for s in *segs {
            if *from_client {
                t.push(
                    tick(),
                    tcp4(CLIENT, SERVER, sport, dport, cs, 64240, psh_ack(ss), s),
                );
                cs += s.len() as u32;
                t.push(
                    tick(),
                    tcp4(SERVER, CLIENT, dport, sport, ss, 64240, ack(cs), b""),
                );
            } else {
                t.push(
                    tick(),
                    tcp4(SERVER, CLIENT, dport, sport, ss, 64240, psh_ack(cs), s),
                );
                ss += s.len() as u32;
                t.push(
                    tick(),
                    tcp4(CLIENT, SERVER, sport, dport, cs, 64240, ack(ss), b""),
                );
            }
        }
    }
    t.push(
        tick(),
        tcp4(CLIENT, SERVER, sport, dport, cs, 64240, fin_ack(ss), b""),
    );
    t.push(
        tick(),
        tcp4(
            SERVER,
            CLIENT,
            dport,
            sport,
            ss,
            64240,
            fin_ack(cs + 1),
            b"",
        ),
    );
    t.push(
        tick(),
        tcp4(
            CLIENT,
            SERVER,
            sport,
            dport,
            cs + 1,
            64240,
            ack(ss + 1),
            b"",
        ),
    );
}

/// Alerts by sid of `rules` over `t` (a threshold.config when given).
fn alerts(t: &Trace, rules: &str, threshold: Option<&str>) -> BTreeMap<u64, usize> {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("t.pcap");
    t.write_pcap(&pcap, 1);
    let rf = dir.path().join("t.rules");
    std::fs::File::create(&rf)
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    let th = threshold.map(|s| {
        let p: PathBuf = dir.path().join("threshold.config");
        std::fs::write(&p, s).unwrap();
        p
    });
    let (set, rep) = load(
        &RuleSources {
            builtin: false,
            files: vec![rf],
            threshold: th,
            vars: vec![("HOME_NET".into(), "[10.0.0.0/8]".into())],
            ..RuleSources::default()
        },
        RulesConfig::default(),
    )
    .unwrap();
    assert_eq!(rep.loaded, rep.read, "every rule loads: {:?}", rep.skipped);
    let out = dir.path().join("out");
    let cfg = RunConfig {
        inputs: vec![pcap],
        filter: None,
        workers: 1,
        flow: FlowConfig {
            sensor_id: Arc::from("t"),
            ..FlowConfig::default()
        },
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(out.clone(), "t".into()),
        progress: false,
        detect: Some(Arc::new(Detection {
            rules: Some(Arc::new(set)),
            ..Default::default()
        })),
    };
    run(&cfg).unwrap();
    let mut m = BTreeMap::new();
    for l in eve_lines(&out) {
        let v: Value = serde_json::from_str(&l).unwrap();
        // The rules of these cases have sids 1000-8999 (the behavioural
        // detectors' are far above).
        if let Some(s) = v["alert"]["signature_id"].as_u64() {
            if (1000..9000).contains(&s) {
                *m.entry(s).or_insert(0) += 1;
            }
        }
    }
    m
}

fn expect(got: &BTreeMap<u64, usize>, want: &[(u64, usize)]) {
    let want: BTreeMap<u64, usize> = want.iter().copied().collect();
    assert_eq!(got, &want);
}

fn one_message(payload: &[&[u8]]) -> Trace {
    let mut t = Trace::new();
    conversation(&mut t, T0, 40000, 9999, &[(true, payload)]);
    t
}

#[test]
fn content_modifiers_at_their_boundaries() {
    // "GET /index.html": GET at 0..3, "index" at 5..10, "html" ends at 15.
    let t = one_message(&[b"GET /index.html"]);
    let rules = r#"
alert tcp any any -> any any (msg:"depth 3 holds GET"; content:"GET"; depth:3; sid:1001;)
alert tcp any any -> any any (msg:"offset 1 depth 3 misses GET"; content:"GET"; offset:1; depth:3; sid:1002;)
alert tcp any any -> any any (msg:"offset 5 starts at index"; content:"index"; offset:5; depth:5; sid:1003;)
alert tcp any any -> any any (msg:"offset 6 is past it"; content:"index"; offset:6; sid:1004;)
alert tcp any any -> any any (msg:"startswith"; content:"GET /"; startswith; sid:1005;)
alert tcp any any -> any any (msg:"endswith"; content:".html"; endswith; sid:1006;)
alert tcp any any -> any any (msg:"endswith fails"; content:"index"; endswith; sid:1007;)
alert tcp any any -> any any (msg:"nocase"; content:"get /INDEX"; nocase; sid:1008;)
alert tcp any any -> any any (msg:"case matters"; content:"get"; sid:1009;)
alert tcp any any -> any any (msg:"hex"; content:"|47 45 54 20|/"; sid:1010;)
alert tcp any any -> any any (msg:"isdataat 14 (last byte)"; content:"GET"; isdataat:14; sid:1011;)
alert tcp any any -> any any (msg:"isdataat 15 (past the end)"; content:"GET"; isdataat:15; sid:1012;)
alert tcp any any -> any any (msg:"negated isdataat after html"; content:"html"; isdataat:!1,relative; sid:1013;)
"#;
    expect(
        &alerts(&t, rules, None),
        &[
            (1001, 1),
            (1003, 1),
            (1005, 1),
            (1006, 1),
            (1008, 1),
            (1010, 1),
            (1011, 1),
            (1013, 1),
        ],
    );
}

#[test]
fn relative_chains_backtrack_and_negations_hold() {
    // "abcXXxyz axab": "abc" ends at 3, "xyz" starts at 5 (distance 2).
    let t = one_message(&[b"abcXXxyz axab"]);
    let rules = r#"
alert tcp any any -> any any (msg:"distance 2 within 5"; content:"abc"; content:"xyz"; distance:2; within:5; sid:1101;)
alert tcp any any -> any any (msg:"distance 3 is past xyz"; content:"abc"; content:"xyz"; distance:3; sid:1102;)
alert tcp any any -> any any (msg:"within 4 is too short"; content:"abc"; content:"xyz"; within:4; sid:1103;)
alert tcp any any -> any any (msg:"backtracking: the second a"; content:"a"; content:"b"; distance:0; within:1; content:"ab"; distance:-2; within:2; sid:1104;)
alert tcp any any -> any any (msg:"negated absent"; content:"abc"; content:!"evil"; sid:1105;)
alert tcp any any -> any any (msg:"negated present"; content:"abc"; content:!"xyz"; sid:1106;)
alert tcp any any -> any any (msg:"negated relative, past the window"; content:"abc"; content:!"xyz"; distance:0; within:4; sid:1107;)
alert tcp any any -> any any (msg:"pcre relative"; content:"abc"; pcre:"/^XX/R"; sid:1108;)
alert tcp any any -> any any (msg:"pcre relative fails"; content:"abc"; pcre:"/^xyz/R"; sid:1109;)
alert tcp any any -> any any (msg:"pcre back-reference"; pcre:"/(X)\1xyz/"; sid:1110;)
alert tcp any any -> any any (msg:"pcre lookahead"; pcre:"/ax(?=ab)/"; sid:1111;)
"#;
    // 1104: "a" at 0 is followed by "b" at 1 (within 1 of its end), and
    // "ab" sits at 0. 1107: within 4 of the end of "abc" (offset 3) only
    // offsets 3..7 are searched; "xyz" ends at 8, so it is absent there
    // and the negation holds.
    expect(
        &alerts(&t, rules, None),
        &[
            (1101, 1),
            (1104, 1),
            (1105, 1),
            (1107, 1),
            (1108, 1),
            (1110, 1),
            (1111, 1),
        ],
    );
}

#[test]
fn byte_keywords_read_the_numbers() {
    // A length-prefixed record: 00 05 "hello" 00 00 00 2a "ok".
    let t = one_message(&[b"\x00\x05hello\x00\x00\x00\x2aok"]);
    let rules = r#"
alert tcp any any -> any any (msg:"byte_test = 5"; byte_test:2,=,5,0; sid:1201;)
alert tcp any any -> any any (msg:"byte_test > 5 fails"; byte_test:2,>,5,0; sid:1202;)
alert tcp any any -> any any (msg:"byte_jump over the string"; byte_jump:2,0; content:"|00 00 00 2a|"; within:4; sid:1203;)
alert tcp any any -> any any (msg:"byte_extract then distance"; byte_extract:2,0,len; content:"|00|"; distance:len; within:1; sid:1204;)
alert tcp any any -> any any (msg:"byte_math"; byte_extract:2,0,len; byte_math:bytes 4,offset 7,oper +,rvalue len,result sum; byte_test:1,=,sum,0,relative; sid:1205;)
alert tcp any any -> any any (msg:"string byte_test"; content:"hello"; byte_test:1,=,42,3,relative; sid:1206;)
"#;
    // 1204: len = 5; "|00|" must start 5 bytes after the extracted field
    // (offset 2 + 5 = 7): byte 7 is 00. 1205: 0x2a + 5 = 47, and the byte
    // after the 4 read (offset 11, "o" = 0x6f = 111) is not 47: no alert.
    // 1206: 3 bytes after "hello" is 0x2a = 42.
    expect(
        &alerts(&t, rules, None),
        &[(1201, 1), (1203, 1), (1204, 1), (1206, 1)],
    );
}

#[test]
fn a_match_cut_across_tcp_segments_is_found_in_the_stream() {
    // "EVIL-PAYLOAD" sent as "EVI" + "L-PAY" + "LOAD": no packet holds it,
    // the acknowledged stream does.
    let t = one_message(&[b"EVI", b"L-PAY", b"LOAD"]);
    let rules = r#"
alert tcp any any -> any any (msg:"stream match"; flow:established,to_server; content:"EVIL-PAYLOAD"; sid:1301;)
alert tcp any any -> any any (msg:"packet only: no segment has it"; flow:established,to_server,no_stream; content:"EVIL-PAYLOAD"; sid:1302;)
alert tcp any any -> any any (msg:"packet only, one segment"; flow:established,to_server,no_stream; content:"L-PAY"; sid:1303;)
alert tcp any any -> any any (msg:"dsize of a segment"; dsize:5; content:"PAY"; sid:1304;)
alert tcp any any -> any any (msg:"to_client sees nothing"; flow:to_client; content:"EVIL"; sid:1305;)
"#;
    expect(&alerts(&t, rules, None), &[(1301, 1), (1303, 1), (1304, 1)]);
}

#[test]
fn http_buffers_of_every_transaction() {
    let req1 = b"GET /a/../admin/%70anel?x=1 HTTP/1.1\r\nHost: Shop.Example\r\nUser-Agent: sqlmap/1.7\r\nCookie: sess=abc\r\n\r\n";
    let resp1 =
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\nnope";
    let req2 = b"POST /login HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 9\r\n\r\nuser=root";
    let resp2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut t = Trace::new();
    conversation(
        &mut t,
        T0,
        40001,
        80,
        &[
            (true, &[req1]),
            (false, &[resp1]),
            (true, &[req2]),
            (false, &[resp2]),
        ],
    );
    let rules = r#"
alert http any any -> any any (msg:"normalised uri"; http.uri; content:"/admin/panel"; startswith; sid:1401;)
alert http any any -> any any (msg:"raw uri keeps the dots"; http.uri.raw; content:"/a/../"; startswith; sid:1402;)
alert http any any -> any any (msg:"host is lowercased"; http.host; content:"shop.example"; bsize:12; sid:1403;)
alert http any any -> any any (msg:"user agent"; http.user_agent; content:"sqlmap"; startswith; sid:1404;)
alert http any any -> any any (msg:"cookie"; http.cookie; content:"sess=abc"; sid:1405;)
alert http any any -> any any (msg:"method, every request"; http.method; content:"P"; startswith; sid:1406;)
alert http any any -> any any (msg:"request body"; flow:to_server; http.request_body; content:"user=root"; sid:1407;)
alert http any any -> any any (msg:"status 404"; http.stat_code; content:"404"; sid:1408;)
alert http any any -> any any (msg:"response body"; flow:to_client; file.data; content:"nope"; sid:1409;)
alert http any any -> any any (msg:"legacy modifier"; content:"/admin/panel"; http_uri; sid:1410;)
alert http any any -> any any (msg:"header name"; http.header_names; content:"|0d 0a|Cookie|0d 0a|"; sid:1411;)
alert http any any -> any any (msg:"request line"; http.request_line; content:"POST /login HTTP/1.1"; bsize:20; sid:1412;)
alert http any any -> any any (msg:"urilen"; urilen:6; sid:1413;)
alert http any any -> any any (msg:"content type"; http.content_type; content:"text/plain"; sid:1414;)
"#;
    // 1413: only "/login" is 6 bytes long. 1406: POST only.
    expect(
        &alerts(&t, rules, None),
        &[
            (1401, 1),
            (1402, 1),
            (1403, 2),
            (1404, 1),
            (1405, 1),
            (1406, 1),
            (1407, 1),
            (1408, 1),
            (1409, 1),
            (1410, 1),
            (1411, 1),
            (1412, 1),
            (1413, 1),
            (1414, 1),
        ],
    );
}

#[test]
fn gzip_bodies_are_inspected_decoded() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"<html>secret-marker</html>").unwrap();
    let body = gz.finish().unwrap();
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&body);
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut t = Trace::new();
    conversation(&mut t, T0, 40002, 80, &[(true, &[req]), (false, &[&resp])]);
    let rules = r#"
alert http any any -> any any (msg:"decoded body"; file.data; content:"secret-marker"; sid:1501;)
alert tcp any any -> any any (msg:"raw stream has no plain marker"; content:"secret-marker"; sid:1502;)
"#;
    expect(&alerts(&t, rules, None), &[(1501, 1)]);
}

#[test]
fn flowbits_carry_state_between_directions() {
    let mut t = Trace::new();
    conversation(
        &mut t,
        T0,
        40003,
        7000,
        &[(true, &[b"HELLO v1"]), (false, &[b"WELCOME"])],
    );
    let rules = r#"
alert tcp any any -> any any (msg:"set"; flow:to_server; content:"HELLO"; flowbits:set,hello; flowbits:noalert; sid:1601;)
alert tcp any any -> any any (msg:"isset"; flow:to_client; content:"WELCOME"; flowbits:isset,hello; sid:1602;)
alert tcp any any -> any any (msg:"isnotset"; flow:to_client; content:"WELCOME"; flowbits:isnotset,hello; sid:1603;)
alert tcp any any -> any any (msg:"or-ed names"; flow:to_client; content:"WELCOME"; flowbits:isset,nope|hello; sid:1604;)
alert tcp any any -> any any (msg:"never set"; flow:to_client; content:"WELCOME"; flowbits:isset,other; sid:1605;)
"#;
    expect(&alerts(&t, rules, None), &[(1602, 1), (1604, 1)]);
}

#[test]
fn header_keywords_on_udp_and_tcp() {
    let mut t = Trace::new();
    t.push(T0, udp4(CLIENT, SERVER, 5353, 161, b"\x30\x26public"));
    t.push(
        T0 + MS,
        tcp4(CLIENT, SERVER, 40004, 22, 1, 1024, syn(), b""),
    );
    let rules = r#"
alert udp any any -> $HOME_NET 161 (msg:"udp dsize and content"; dsize:8; content:"public"; sid:1701;)
alert udp any any -> $HOME_NET !161 (msg:"port negation"; content:"public"; sid:1702;)
alert tcp any any -> $HOME_NET 22 (msg:"SYN"; flags:S; ttl:64; sid:1703;)
alert tcp any any -> $HOME_NET 22 (msg:"SYN+ACK is not"; flags:SA; sid:1704;)
alert ip any any -> any any (msg:"ip_proto"; ip_proto:17; sid:1705;)
alert tcp $EXTERNAL_NET any -> $HOME_NET any (msg:"variables"; flags:S,12; sid:1706;)
alert tcp $HOME_NET any -> any any (msg:"wrong side"; flags:S; sid:1707;)
"#;
    expect(
        &alerts(&t, rules, None),
        &[(1701, 1), (1703, 1), (1705, 1), (1706, 1)],
    );
}

/// `n` UDP packets carrying "PING", 10 s apart.
fn pings(n: u64) -> Trace {
    let mut t = Trace::new();
    for i in 0..n {
        t.push(
            T0 + i * 10 * SEC,
            udp4(CLIENT, SERVER, 5000 + i as u16, 7, b"PING"),
        );
    }
    t
}

#[test]
fn thresholds_count_over_time() {
    // Six packets at 0, 10, ..., 50 s.
    let t = pings(6);
    let rules = r#"
alert udp any any -> any 7 (msg:"limit 1 per 60 s"; content:"PING"; threshold:type limit,track by_src,count 1,seconds 60; sid:1801;)
alert udp any any -> any 7 (msg:"every 3rd in 60 s"; content:"PING"; threshold:type threshold,track by_src,count 3,seconds 60; sid:1802;)
alert udp any any -> any 7 (msg:"both: once at the 2nd"; content:"PING"; threshold:type both,track by_dst,count 2,seconds 60; sid:1803;)
alert udp any any -> any 7 (msg:"detection_filter after 4"; content:"PING"; detection_filter:track by_src,count 4,seconds 60; sid:1804;)
alert udp any any -> any 7 (msg:"limit 1 per 15 s"; content:"PING"; threshold:type limit,track by_src,count 1,seconds 15; sid:1805;)
alert udp any any -> any 7 (msg:"suppressed"; content:"PING"; sid:1806;)
alert udp any any -> any 7 (msg:"rate limited by threshold.config"; content:"PING"; sid:1807;)
"#;
    let config = "suppress gen_id 1, sig_id 1806, track by_src, ip 198.51.100.7\n\
                  threshold gen_id 1, sig_id 1807, type limit, track by_src, count 2, seconds 3600\n";
    // 1802: the 3rd and the 6th. 1804: the 5th and 6th (more than 4 seen).
    // 1805: a window opens at 0 s (covers 10 s), at 20 s (30 s), at 40 s.
    expect(
        &alerts(&t, rules, Some(config)),
        &[
            (1801, 1),
            (1802, 2),
            (1803, 1),
            (1804, 2),
            (1805, 3),
            (1807, 2),
        ],
    );
}

#[test]
fn dns_and_transforms() {
    // A DNS query for "Evil.Example.com" (labels 4, 7, 3).
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in ["Evil", "Example", "com"] {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut t = Trace::new();
    t.push(T0, udp4(CLIENT, SERVER, 5300, 53, &q));
    let rules = r#"
alert dns any any -> any any (msg:"dns.query as dotted text"; dns.query; content:"Evil.Example.com"; bsize:16; sid:1901;)
alert dns any any -> any any (msg:"case matters"; dns.query; content:"evil.example"; sid:1902;)
alert dns any any -> any any (msg:"to_lowercase"; dns.query; to_lowercase; content:"evil.example.com"; sid:1903;)
alert dns any any -> any any (msg:"dotprefix"; dns.query; dotprefix; content:".example.com"; endswith; sid:1904;)
alert dns any any -> any any (msg:"dotprefix whole name"; dns.query; dotprefix; content:".Evil."; startswith; sid:1905;)
"#;
    expect(&alerts(&t, rules, None), &[(1901, 1), (1903, 1), (1905, 1)]);
}
