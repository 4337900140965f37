//! Indicator lists in every format and kind: arbitrary files load or are
//! refused, and whatever loads can be matched against.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_detect::config::{IndicatorList, ListFormat, ListKind};
use mekong_detect::indicators::{values, Indicators};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(data);
    let format = [ListFormat::Plain, ListFormat::Csv, ListFormat::Hosts][usize::from(sel % 3)];
    let kinds = [ListKind::Auto, ListKind::Ip, ListKind::Domain, ListKind::Sni, ListKind::Ja3, ListKind::Ja4, ListKind::Hassh, ListKind::CertSha256];
    let kind = kinds[usize::from(sel / 3) % kinds.len()];
    let Ok(vals) = values(&text, format, Some("value")) else { return };
    let list = IndicatorList {
        name: "fuzz".into(),
        path: "fuzz".into(),
        kind,
        format,
        column: Some("value".into()),
        technique: "T1071".into(),
    };
    let mut ind = Indicators::default();
    ind.add(&list, vals);
    for probe in text.split_whitespace().take(16) {
        let _ = ind.match_domain(probe);
        let _ = ind.match_sni(probe);
        let _ = ind.match_ja3(probe);
        let _ = ind.match_ja4(probe);
        let _ = ind.match_cert(probe);
        if let Ok(ip) = probe.parse() {
            let _ = ind.match_ip(ip);
        }
    }
});
