//! Properties of the analyzer's parsers of what users type and records
//! hold: address blocks, base domains, request times. None panics, and
//! each answer is consistent with its input.

use mekong_analyzer::udf::{base_domain, network_of, Block};
use proptest::prelude::*;

proptest! {
    #[test]
    fn base_domain_is_a_suffix_of_at_most_three_labels(name in "[a-zA-Z0-9.-]{0,40}") {
        if let Some(d) = base_domain(&name) {
            let lower = name.trim_end_matches('.').to_ascii_lowercase();
            prop_assert!(lower.ends_with(&d), "{} {}", name, d);
            prop_assert!(d.split('.').count() <= 3);
            // Idempotent: the base domain of a base domain is itself.
            prop_assert_eq!(base_domain(&d), Some(d.clone()));
        } else {
            prop_assert!(name.trim_end_matches('.').is_empty());
        }
    }

    #[test]
    fn blocks_parse_without_panicking_and_contain_their_network(s in "[0-9a-f:./]{0,45}") {
        if let Some(b) = Block::parse(&s) {
            let (addr, prefix) = s.split_once('/').map_or((s.as_str(), None), |(a, p)| (a, Some(p)));
            let ip: std::net::IpAddr = addr.parse().unwrap();
            prop_assert!(b.contains(ip));
            if let Some(p) = prefix.and_then(|p| p.parse::<u8>().ok()) {
                let n = network_of(ip, p).unwrap();
                let base: std::net::IpAddr = n.split('/').next().unwrap().parse().unwrap();
                prop_assert!(b.contains(base));
            }
        }
    }

    #[test]
    fn request_times_are_checked_digit_by_digit(s in "[0-9TZ: -]{0,24}") {
        if let Ok(t) = mekong_analyzer::extract::utc(&s) {
            prop_assert_eq!(t.len(), 20);
            prop_assert!(t.bytes().all(|c| c.is_ascii_digit() || b"-T:Z".contains(&c)));
        }
    }
}
