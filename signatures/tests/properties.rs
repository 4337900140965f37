//! Property tests of the rule language: content modifiers against a naive
//! search written here, parse-print-parse, and the parser and matcher on
//! arbitrary input (errors, never panics).

use mekong_signatures::compile::Point;
use mekong_signatures::engine::{Input, PayloadBuffers, Scratch};
use mekong_signatures::state::{FlowVars, Xbits};
use mekong_signatures::{parse_rule, RuleSet, RuleSetOptions};
use proptest::prelude::*;

fn set(rules: &str) -> RuleSet {
    let (s, rep) = RuleSet::from_sources(&[("t".into(), rules.into())], &RuleSetOptions::default());
    assert_eq!(rep.loaded, rep.read, "{:?}", rep.skipped);
    s
}

/// Does `rules` (one rule) match `payload` as a UDP packet?
fn matches(s: &RuleSet, payload: &[u8]) -> bool {
    let inp = Input {
        point: Point::Packet,
        to_server: true,
        src: "10.0.0.1".parse().unwrap(),
        sport: 40000,
        dst: "10.0.0.2".parse().unwrap(),
        dport: 9,
        proto: 17,
        established: false,
        app: None,
        pkt: None,
        stream_bytes: [0, 0],
        ts_ns: 0,
        payload: true,
    };
    let mut hits = Vec::new();
    s.inspect(
        &inp,
        &PayloadBuffers { payload, pkt: None },
        &mut FlowVars::default(),
        &mut Xbits::default(),
        &mut Scratch::default(),
        &mut hits,
    );
    !hits.is_empty()
}

/// Starts of `needle` in `hay`.
fn starts(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    (0..=hay.len().saturating_sub(needle.len()))
        .filter(|&i| hay.len() >= needle.len() && &hay[i..i + needle.len()] == needle)
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x} ")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// offset/depth: a match iff an occurrence starts at or after `offset`
    /// and ends within `offset + depth`.
    #[test]
    fn offset_and_depth(hay in proptest::collection::vec(0u8..4, 0..40),
                        needle in proptest::collection::vec(0u8..4, 1..4),
                        offset in 0usize..20, extra in 0usize..20) {
        let depth = needle.len() + extra;
        let s = set(&format!("alert udp any any -> any any (msg:\"p\"; content:\"|{}|\"; offset:{offset}; depth:{depth}; sid:1;)", hex(&needle)));
        let want = starts(&hay, &needle).iter().any(|&i| i >= offset && i + needle.len() <= offset + depth);
        prop_assert_eq!(matches(&s, &hay), want);
    }

    /// distance/within after a first content: some pair of occurrences
    /// with the second starting at least `distance` after the first's end
    /// and ending within `distance + within` of it.
    #[test]
    fn distance_and_within(hay in proptest::collection::vec(0u8..3, 0..40),
                           a in proptest::collection::vec(0u8..3, 1..3),
                           b in proptest::collection::vec(0u8..3, 1..3),
                           distance in 0usize..6, extra in 0usize..6) {
        let within = b.len() + extra;
        let s = set(&format!("alert udp any any -> any any (msg:\"p\"; content:\"|{}|\"; content:\"|{}|\"; distance:{distance}; within:{within}; sid:1;)", hex(&a), hex(&b)));
        let want = starts(&hay, &a).iter().any(|&i| {
            let end = i + a.len();
            starts(&hay, &b).iter().any(|&j| j >= end + distance && j + b.len() <= end + distance + within)
        });
        prop_assert_eq!(matches(&s, &hay), want);
    }

    /// A negated content: a match iff the needle is absent.
    #[test]
    fn negation(hay in proptest::collection::vec(0u8..3, 0..30),
                needle in proptest::collection::vec(0u8..3, 1..4)) {
        let s = set(&format!("alert udp any any -> any any (msg:\"p\"; content:!\"|{}|\"; sid:1;)", hex(&needle)));
        prop_assert_eq!(matches(&s, &hay), starts(&hay, &needle).is_empty());
    }

    /// nocase: ASCII letters in any case.
    #[test]
    fn nocase(hay in "[a-cA-C]{0,30}", needle in "[a-c]{1,4}") {
        let s = set(&format!("alert udp any any -> any any (msg:\"p\"; content:\"{needle}\"; nocase; sid:1;)"));
        let want = hay.to_ascii_lowercase().contains(&needle);
        prop_assert_eq!(matches(&s, hay.as_bytes()), want);
    }

    /// startswith / endswith.
    #[test]
    fn anchors(hay in proptest::collection::vec(0u8..3, 0..20),
               needle in proptest::collection::vec(0u8..3, 1..4)) {
        let s1 = set(&format!("alert udp any any -> any any (msg:\"p\"; content:\"|{}|\"; startswith; sid:1;)", hex(&needle)));
        let s2 = set(&format!("alert udp any any -> any any (msg:\"p\"; content:\"|{}|\"; endswith; sid:1;)", hex(&needle)));
        prop_assert_eq!(matches(&s1, &hay), hay.starts_with(&needle));
        prop_assert_eq!(matches(&s2, &hay), hay.ends_with(&needle));
    }

    /// Whatever the text, parsing gives a rule or an error; a rule prints
    /// as text that parses to the same rule.
    #[test]
    fn parse_print_parse(text in "alert (tcp|udp|http|dns) (any|\\$HOME_NET|!10\\.0\\.0\\.0/8) (any|80|\\[1:1024\\]) (->|<>) any any \\((msg:\"[a-z ]{0,8}\"; )?(content:\"[a-z|0-9 ]{0,8}\"; )?(nocase; |depth:[0-9]{1,2}; |offset:[0-9]; )?(pcre:\"/[a-z.*]{1,6}/[iR]{0,2}\"; )?(flow:(to_server|established,to_client); )?sid:[1-9][0-9]{0,4};\\)") {
        if let Ok(r) = parse_rule(&text) {
            let printed = r.to_string();
            let again = parse_rule(&printed);
            prop_assert!(again.is_ok(), "{printed}: {:?}", again.err());
            prop_assert_eq!(again.ok(), Some(r));
        }
    }

    /// The application keywords print as they parse, whatever their values.
    #[test]
    fn application_keywords_parse_print_parse(text in "alert (smb|dcerpc|krb5|ftp) any any -> any any \\((dcerpc\\.opnum:[0-9]{1,3}(-[0-9]{1,3})?(,[0-9]{1,4}){0,3}; |krb5_err_code:[0-9]{1,2}; |krb5_msg_type:[0-9]{1,2}; |dcerpc\\.iface:[0-9a-fA-F]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(,any_frag)?; |smb\\.share; content:\"[A-Z$]{1,6}\"; |ftp\\.command_data; content:\"[a-z]{1,6}\"; |krb5\\.sname; content:\"[a-z/]{1,8}\"; ){1,3}sid:[1-9][0-9]{0,4};\\)") {
        if let Ok(r) = parse_rule(&text) {
            let printed = r.to_string();
            let again = parse_rule(&printed);
            prop_assert!(again.is_ok(), "{printed}: {:?}", again.err());
            prop_assert_eq!(again.ok(), Some(r));
        }
        let _ = RuleSet::from_sources(&[("t".into(), text)], &RuleSetOptions::default());
    }

    /// Arbitrary text never panics the parser or the loader.
    #[test]
    fn arbitrary_text_is_an_error_not_a_panic(text in ".{0,200}") {
        let _ = parse_rule(&text);
        let _ = RuleSet::from_sources(&[("t".into(), text)], &RuleSetOptions::default());
    }
}
