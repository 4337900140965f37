//! The rule parser on arbitrary text: a rule or an error, never a panic;
//! a rule prints as text that parses to the same rule; whole files load
//! (skipping what does not) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_signatures::{parse_rule, RuleSet, RuleSetOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = parse_rule(&text) {
        let printed = r.to_string();
        let again = parse_rule(&printed).expect("a printed rule parses");
        assert_eq!(again, r, "print-parse changed the rule: {printed}");
    }
    let _ = RuleSet::from_sources(&[("fuzz".into(), text.into_owned())], &RuleSetOptions::default());
});
