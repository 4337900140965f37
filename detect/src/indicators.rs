//! Indicator lists: addresses, blocks, domains, TLS server names and
//! fingerprints (JA3, JA4, HASSH, certificate SHA-256), in the formats
//! public threat-intelligence feeds publish:
//!
//! - one value a line, `#` starting a comment (also after a value);
//! - CSV with a header row, the configuration naming the column of values;
//! - hosts-file lines (`0.0.0.0 bad.example another.example`).
//!
//! A domain matches the name itself and every name under it. Values that
//! are none of the kinds a list may hold are skipped and counted by line
//! (a feed with a bad line still loads); a file that cannot be read, or a
//! CSV without the named column, is an error.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;

use crate::config::{IndicatorList, ListFormat, ListKind};
use crate::net::{Cidr, IpSet};

/// An indicator list that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndicatorError {
    /// The file could not be read.
    #[error("indicator list {name:?}: {path}: {source}")]
    Io {
        /// List name.
        name: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the configured format.
    #[error("indicator list {name:?}: {path}: {msg}")]
    Format {
        /// List name.
        name: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

/// What kind of value matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Matched {
    /// An address or block.
    Ip,
    /// A domain.
    Domain,
    /// A TLS server name.
    Sni,
    /// JA3.
    Ja3,
    /// JA4.
    Ja4,
    /// HASSH.
    Hassh,
    /// Certificate SHA-256.
    CertSha256,
}

impl Matched {
    /// Name in alerts.
    pub fn name(self) -> &'static str {
        match self {
            Matched::Ip => "ip",
            Matched::Domain => "domain",
            Matched::Sni => "tls_sni",
            Matched::Ja3 => "ja3",
            Matched::Ja4 => "ja4",
            Matched::Hassh => "hassh",
            Matched::CertSha256 => "tls_cert_sha256",
        }
    }
}

/// A match: which list, which entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// List name.
    pub list: String,
    /// The entry that matched (the listed domain, block or fingerprint).
    pub entry: String,
    /// Its kind.
    pub kind: Matched,
    /// The list's technique.
    pub technique: String,
}

/// Counts of one loaded list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListStats {
    /// List name.
    pub name: String,
    /// Values loaded.
    pub loaded: u64,
    /// Lines skipped because their value is no kind the list may hold.
    pub skipped: u64,
    /// The first skipped lines (line numbers).
    pub skipped_lines: Vec<u64>,
}

#[derive(Debug, Default)]
struct List {
    name: String,
    technique: String,
    ips: Vec<Cidr>,
    set: IpSet,
}

/// Every loaded list, ready to match.
#[derive(Debug, Default)]
pub struct Indicators {
    lists: Vec<List>,
    domains: HashMap<String, usize>,
    exact: HashMap<(u8, String), usize>,
    /// What each list held.
    pub stats: Vec<ListStats>,
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A JA4 fingerprint: `t13d1516h2_8daaf6152771_b186095e22b6`.
fn is_ja4(s: &str) -> bool {
    let p: Vec<&str> = s.split('_').collect();
    p.len() == 3
        && p[0].len() == 10
        && matches!(p[0].as_bytes()[0], b't' | b'q' | b'd')
        && is_hex(p[1], 12)
        && is_hex(p[2], 12)
}

/// A domain name: labels of letters, digits, `-` and `_`, at least two.
fn domain_of(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches("*.").trim_start_matches('.');
    let s = s.trim_end_matches('.');
    if s.len() > 253 || !s.contains('.') {
        return None;
    }
    let ok = s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (ok && s.parse::<IpAddr>().is_err()).then(|| s.to_ascii_lowercase())
}

const EXACT_SNI: u8 = 1;
const EXACT_JA3: u8 = 2;
const EXACT_JA4: u8 = 3;
const EXACT_HASSH: u8 = 4;
const EXACT_CERT: u8 = 5;

impl Indicators {
    /// Loads the configured lists (relative paths from `base`).
    pub fn load(lists: &[IndicatorList], base: &Path) -> Result<Indicators, IndicatorError> {
        let mut ind = Indicators::default();
        for l in lists {
            let path = if l.path.is_absolute() {
                l.path.clone()
            } else {
                base.join(&l.path)
            };
            let text = std::fs::read(&path).map_err(|source| IndicatorError::Io {
                name: l.name.clone(),
                path: path.clone(),
                source,
            })?;
            let text = String::from_utf8_lossy(&text);
            let values = values(&text, l.format, l.column.as_deref()).map_err(|msg| {
                IndicatorError::Format {
                    name: l.name.clone(),
                    path: path.clone(),
                    msg,
                }
            })?;
            ind.add(l, values);
        }
        Ok(ind)
    }

    /// Adds a list from its values (with their line numbers).
    pub fn add(&mut self, l: &IndicatorList, values: Vec<(u64, String)>) {
        let idx = self.lists.len();
        let mut list = List {
            name: l.name.clone(),
            technique: l.technique.clone(),
            ..List::default()
        };
        let mut st = ListStats {
            name: l.name.clone(),
            ..ListStats::default()
        };
        for (line, v) in values {
            let v = v.trim();
            let took = self.take(idx, &mut list, l.kind, v);
            if took {
                st.loaded += 1;
            } else {
                st.skipped += 1;
                if st.skipped_lines.len() < 10 {
                    st.skipped_lines.push(line);
                }
            }
        }
        list.set = IpSet::new(list.ips.iter().copied());
        self.lists.push(list);
        self.stats.push(st);
    }

    fn take(&mut self, idx: usize, list: &mut List, kind: ListKind, v: &str) -> bool {
        let lower = v.to_ascii_lowercase();
        macro_rules! exact {
            ($k:expr, $s:expr) => {{
                self_exact(&mut self.exact, $k, $s, idx);
                true
            }};
        }
        match kind {
            ListKind::Ip => match v.parse::<Cidr>() {
                Ok(c) => {
                    list.ips.push(c);
                    true
                }
                Err(_) => false,
            },
            ListKind::Domain => match domain_of(v) {
                Some(d) => {
                    self.domains.entry(d).or_insert(idx);
                    true
                }
                None => false,
            },
            ListKind::Sni => match domain_of(v) {
                Some(d) => exact!(EXACT_SNI, d),
                None => false,
            },
            ListKind::Ja3 if is_hex(&lower, 32) => exact!(EXACT_JA3, lower),
            ListKind::Hassh if is_hex(&lower, 32) => exact!(EXACT_HASSH, lower),
            ListKind::CertSha256 if is_hex(&lower.replace(':', ""), 64) => {
                exact!(EXACT_CERT, lower.replace(':', ""))
            }
            ListKind::Ja4 if is_ja4(&lower) => exact!(EXACT_JA4, lower),
            ListKind::Ja3 | ListKind::Hassh | ListKind::CertSha256 | ListKind::Ja4 => false,
            ListKind::Auto => {
                if let Ok(c) = v.parse::<Cidr>() {
                    list.ips.push(c);
                    true
                } else if is_hex(&lower, 32) {
                    // An MD5 fingerprint: JA3 or HASSH, which look alike.
                    self_exact(&mut self.exact, EXACT_JA3, lower.clone(), idx);
                    self_exact(&mut self.exact, EXACT_HASSH, lower, idx);
                    true
                } else if is_hex(&lower.replace(':', ""), 64) {
                    exact!(EXACT_CERT, lower.replace(':', ""))
                } else if is_ja4(&lower) {
                    exact!(EXACT_JA4, lower)
                } else if let Some(d) = domain_of(v) {
                    self.domains.entry(d).or_insert(idx);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// True when no list holds anything.
    pub fn is_empty(&self) -> bool {
        self.lists.iter().all(|l| l.set.is_empty())
            && self.domains.is_empty()
            && self.exact.is_empty()
    }

    fn hit(&self, idx: usize, entry: String, kind: Matched) -> Hit {
        let l = &self.lists[idx];
        Hit {
            list: l.name.clone(),
            entry,
            kind,
            technique: l.technique.clone(),
        }
    }

    /// The first list holding `ip`.
    pub fn match_ip(&self, ip: IpAddr) -> Option<Hit> {
        for (i, l) in self.lists.iter().enumerate() {
            if l.set.contains(ip) {
                let entry = l
                    .ips
                    .iter()
                    .find(|c| c.contains(ip))
                    .map(|c| {
                        if c.prefix == if c.addr.is_ipv4() { 32 } else { 128 } {
                            c.addr.to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .unwrap_or_default();
                return Some(self.hit(i, entry, Matched::Ip));
            }
        }
        None
    }

    /// The listed domain `name` is or is under.
    pub fn match_domain(&self, name: &str) -> Option<Hit> {
        if self.domains.is_empty() {
            return None;
        }
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        let mut s = lower.as_str();
        loop {
            if let Some(&i) = self.domains.get(s) {
                return Some(self.hit(i, s.to_string(), Matched::Domain));
            }
            match s.find('.') {
                Some(d) => s = &s[d + 1..],
                None => return None,
            }
        }
    }

    /// A TLS server name: listed exactly, or under a listed domain.
    pub fn match_sni(&self, sni: &str) -> Option<Hit> {
        let lower = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(&i) = self.exact.get(&(EXACT_SNI, lower.clone())) {
            return Some(self.hit(i, lower, Matched::Sni));
        }
        self.match_domain(&lower)
    }

    fn exact_hit(&self, k: u8, v: &str, kind: Matched) -> Option<Hit> {
        if self.exact.is_empty() {
            return None;
        }
        let lower = v.to_ascii_lowercase();
        self.exact
            .get(&(k, lower.clone()))
            .map(|&i| self.hit(i, lower, kind))
    }

    /// A JA3 fingerprint.
    pub fn match_ja3(&self, v: &str) -> Option<Hit> {
        self.exact_hit(EXACT_JA3, v, Matched::Ja3)
    }

    /// A JA4 fingerprint.
    pub fn match_ja4(&self, v: &str) -> Option<Hit> {
        self.exact_hit(EXACT_JA4, v, Matched::Ja4)
    }

    /// A HASSH (client or server).
    pub fn match_hassh(&self, v: &str) -> Option<Hit> {
        self.exact_hit(EXACT_HASSH, v, Matched::Hassh)
    }

    /// A certificate's SHA-256.
    pub fn match_cert(&self, v: &str) -> Option<Hit> {
        self.exact_hit(EXACT_CERT, v, Matched::CertSha256)
    }
}

fn self_exact(m: &mut HashMap<(u8, String), usize>, k: u8, v: String, idx: usize) {
    m.entry((k, v)).or_insert(idx);
}

/// The values of a list file with their line numbers.
pub fn values(
    text: &str,
    format: ListFormat,
    column: Option<&str>,
) -> Result<Vec<(u64, String)>, String> {
    let strip = |l: &str| -> String {
        let l = l.split('#').next().unwrap_or("");
        l.trim().to_string()
    };
    match format {
        ListFormat::Plain => Ok(text
            .lines()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, strip(l)))
            .filter(|(_, v)| !v.is_empty())
            .collect()),
        ListFormat::Hosts => {
            let mut out = Vec::new();
            for (i, l) in text.lines().enumerate() {
                let l = strip(l);
                let mut parts = l.split_whitespace();
                let first = parts.next();
                let rest: Vec<&str> = parts.collect();
                match (first, rest.is_empty()) {
                    (None, _) => {}
                    // A bare name (some feeds drop the address).
                    (Some(n), true) if n.parse::<IpAddr>().is_err() => {
                        out.push((i as u64 + 1, n.to_string()))
                    }
                    (Some(_), _) => {
                        for n in rest {
                            if !matches!(
                                n,
                                "localhost"
                                    | "localhost.localdomain"
                                    | "local"
                                    | "broadcasthost"
                                    | "ip6-localhost"
                                    | "ip6-loopback"
                                    | "0.0.0.0"
                            ) {
                                out.push((i as u64 + 1, n.to_string()));
                            }
                        }
                    }
                }
            }
            Ok(out)
        }
        ListFormat::Csv => {
            let col = column.ok_or("a CSV list needs `column`")?;
            // Feeds put comment lines (`#`) before the header; skip them.
            let body: String = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with('#') {
                        ""
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let mut rd = csv::ReaderBuilder::new()
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(body.as_bytes());
            let headers = rd
                .headers()
                .map_err(|e| format!("CSV header: {e}"))?
                .clone();
            let idx = headers
                .iter()
                .position(|h| h.trim_matches('"').eq_ignore_ascii_case(col))
                .ok_or_else(|| {
                    format!(
                        "no column {col:?} in the header (columns: {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    )
                })?;
            let mut out = Vec::new();
            for rec in rd.records() {
                let rec = rec.map_err(|e| format!("CSV: {e}"))?;
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                if let Some(v) = rec.get(idx) {
                    if !v.trim().is_empty() {
                        out.push((line, v.trim().to_string()));
                    }
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(kind: ListKind) -> IndicatorList {
        IndicatorList {
            name: "test".into(),
            path: "x".into(),
            kind,
            format: ListFormat::Plain,
            column: None,
            technique: "T1071".into(),
        }
    }

    fn ind(kind: ListKind, text: &str, format: ListFormat, column: Option<&str>) -> Indicators {
        let mut i = Indicators::default();
        i.add(&list(kind), values(text, format, column).unwrap());
        i
    }

    #[test]
    fn plain_lists_with_comments() {
        let i = ind(
            ListKind::Auto,
            "# feed\n91.215.85.17\n45.0.0.0/8 # block\n\nevil.example\nnot a value\n",
            ListFormat::Plain,
            None,
        );
        assert_eq!(i.stats[0].loaded, 3);
        assert_eq!(
            (i.stats[0].skipped, i.stats[0].skipped_lines.clone()),
            (1, vec![6])
        );
        let h = i.match_ip("91.215.85.17".parse().unwrap()).unwrap();
        assert_eq!((h.entry.as_str(), h.kind), ("91.215.85.17", Matched::Ip));
        assert_eq!(
            i.match_ip("45.1.2.3".parse().unwrap()).unwrap().entry,
            "45.0.0.0/8"
        );
        assert!(i.match_ip("8.8.8.8".parse().unwrap()).is_none());
        assert_eq!(
            i.match_domain("a.b.EVIL.example.").unwrap().entry,
            "evil.example"
        );
        assert!(i.match_domain("notevil.example").is_none());
        assert_eq!(i.match_sni("x.evil.example").unwrap().kind, Matched::Domain);
    }

    #[test]
    fn csv_lists_name_their_column() {
        let text = "# abuse.ch style\n\"first_seen\",\"ja3_md5\",\"reason\"\n2024-01-01,E7D705A3286E19EA42F587B344EE6865,Dridex\n2024-01-02,zz,bad\n";
        let i = ind(ListKind::Ja3, text, ListFormat::Csv, Some("ja3_md5"));
        assert_eq!(i.stats[0].loaded, 1);
        assert_eq!(i.stats[0].skipped, 1);
        assert!(i.match_ja3("e7d705a3286e19ea42f587b344ee6865").is_some());
        let e = values(text, ListFormat::Csv, Some("sha1")).unwrap_err();
        assert!(e.contains("no column \"sha1\""), "{e}");
    }

    #[test]
    fn hosts_files() {
        let i = ind(
            ListKind::Domain,
            "127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example # two\nbare.example\n",
            ListFormat::Hosts,
            None,
        );
        assert_eq!(i.stats[0].loaded, 3);
        assert!(i.match_domain("ads.example").is_some());
        assert!(i.match_domain("localhost").is_none());
    }

    #[test]
    fn fingerprints_by_kind() {
        let i = ind(
            ListKind::Auto,
            "t13d1516h2_8daaf6152771_b186095e22b6\nAA:BB:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99\n",
            ListFormat::Plain,
            None,
        );
        assert_eq!(i.stats[0].loaded, 2);
        assert!(i
            .match_ja4("T13D1516H2_8DAAF6152771_B186095E22B6")
            .is_some());
        assert!(i
            .match_cert("aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899")
            .is_some());
        assert!(i.match_hassh("aabbccddeeff00112233445566778899").is_none());
    }

    #[test]
    fn a_missing_file_names_the_list_and_path() {
        let mut l = list(ListKind::Ip);
        l.path = "/nonexistent/feed.txt".into();
        let e = Indicators::load(&[l], Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"test\"") && e.contains("/nonexistent/feed.txt"),
            "{e}"
        );
    }
}
