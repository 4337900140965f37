//! DNS names as tunnel detection sees them: the registrable base domain, and
//! what precedes it (the part a tunnel fills with data).

use crate::event::{DnsEvent, ShortStr};
use crate::window::hash64;

/// Second-level labels under which names are registered as under a top
/// level (`example.com.vn`), and shared hosting or dynamic-DNS zones whose
/// every subdomain belongs to someone else (`x.duckdns.org`). Not the whole
/// public suffix list: the common ones of the region and of tunnels.
const SUFFIXES: &[&str] = &[
    "com.vn",
    "net.vn",
    "org.vn",
    "edu.vn",
    "gov.vn",
    "ac.vn",
    "info.vn",
    "biz.vn",
    "name.vn",
    "pro.vn",
    "health.vn",
    "int.vn",
    "co.uk",
    "org.uk",
    "ac.uk",
    "gov.uk",
    "me.uk",
    "net.uk",
    "com.au",
    "net.au",
    "org.au",
    "edu.au",
    "gov.au",
    "co.jp",
    "ne.jp",
    "or.jp",
    "ac.jp",
    "go.jp",
    "com.cn",
    "net.cn",
    "org.cn",
    "gov.cn",
    "edu.cn",
    "com.br",
    "net.br",
    "org.br",
    "com.tw",
    "org.tw",
    "co.kr",
    "or.kr",
    "co.in",
    "net.in",
    "org.in",
    "com.sg",
    "edu.sg",
    "com.my",
    "net.my",
    "co.th",
    "in.th",
    "or.th",
    "com.hk",
    "org.hk",
    "co.id",
    "or.id",
    "com.ph",
    "com.kh",
    "org.kh",
    "com.la",
    "com.mm",
    "co.nz",
    "com.mx",
    "com.ar",
    "com.tr",
    "co.za",
    "com.ru",
    "com.ua",
    "duckdns.org",
    "no-ip.org",
    "no-ip.com",
    "ddns.net",
    "hopto.org",
    "zapto.org",
    "sytes.net",
    "dynu.net",
    "freedns.org",
    "afraid.org",
    "herokuapp.com",
    "azurewebsites.net",
    "cloudfront.net",
    "appspot.com",
    "github.io",
    "ngrok.io",
    "ngrok-free.app",
    "trycloudflare.com",
    "workers.dev",
    "pages.dev",
    "blogspot.com",
    "000webhostapp.com",
    "firebaseapp.com",
    "web.app",
    "vercel.app",
    "netlify.app",
    "glitch.me",
    "repl.co",
];

/// Splits a name (dots between labels, no trailing dot) into what precedes
/// its base domain and the base domain: `a.b.t.cloudsync-api.net` gives
/// (`a.b.t`, `cloudsync-api.net`).
pub fn split_base(name: &str) -> (&str, &str) {
    let name = name.trim_end_matches('.');
    let labels = name.split('.').count();
    if labels <= 2 {
        return ("", name);
    }
    // The last two labels, or three under a listed suffix.
    let mut dots = name.rmatch_indices('.');
    let second = dots.nth(1).map(|(i, _)| i);
    let Some(i2) = second else {
        return ("", name);
    };
    let last_two = &name[i2 + 1..];
    let take_three = SUFFIXES.iter().any(|s| last_two.eq_ignore_ascii_case(s));
    let cut = if take_three {
        match dots.next() {
            Some((i3, _)) => i3,
            None => return ("", name),
        }
    } else {
        i2
    };
    (&name[..cut], &name[cut + 1..])
}

/// Shannon entropy, bits per character, of the bytes of `s` other than dots,
/// letters folded to lower case.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u16; 256];
    let mut n = 0u32;
    for b in s.bytes().filter(|&b| b != b'.') {
        let c = &mut counts[usize::from(b.to_ascii_lowercase())];
        *c = c.saturating_add(1);
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The tunnel-detection view of one DNS message's first question.
pub fn dns_event(name: &str, qtype: u16, rcode: u8, response: bool, size: usize) -> DnsEvent {
    // Lower-cased on the stack: no allocation per message.
    let name = name.trim_end_matches('.');
    let mut buf = [0u8; 256];
    let mut n = name.len().min(buf.len());
    while !name.is_char_boundary(n) {
        n -= 1;
    }
    for (d, s) in buf.iter_mut().zip(name.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..n]).unwrap_or("");
    let (sub, base) = split_base(lower);
    // One pass over the prefix: its bytes, labels and longest label.
    let (mut sub_len, mut labels, mut max_label, mut run) = (0usize, 0usize, 0usize, 0usize);
    for b in sub.bytes() {
        if b == b'.' {
            labels += 1;
            max_label = max_label.max(run);
            run = 0;
        } else {
            sub_len += 1;
            run += 1;
        }
    }
    max_label = max_label.max(run);
    if !sub.is_empty() {
        labels += 1;
    }
    let (tail, cut) = ShortStr::tail(lower);
    DnsEvent {
        response,
        qtype,
        rcode,
        base_hash: hash64(base.as_bytes()),
        name_hash: hash64(&buf[..n]),
        sub_len: sub_len.min(usize::from(u16::MAX)) as u16,
        sub_labels: labels.min(255) as u8,
        sub_entropy: entropy(sub) as f32,
        max_label: max_label.min(255) as u8,
        size: size.min(usize::from(u16::MAX)) as u16,
        base_len: base.len().min(255) as u8,
        tail,
        cut,
    }
}

/// True when `name` is `domain` or a name under it (case ignored).
pub fn under(name: &str, domain: &str) -> bool {
    let name = name.trim_end_matches('.');
    let domain = domain.trim_end_matches('.').trim_start_matches('.');
    if domain.is_empty() || name.len() < domain.len() {
        return false;
    }
    let tail = &name[name.len() - domain.len()..];
    tail.eq_ignore_ascii_case(domain)
        && (name.len() == domain.len() || name.as_bytes()[name.len() - domain.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_domains() {
        assert_eq!(
            split_base("a.b.t.cloudsync-api.net"),
            ("a.b.t", "cloudsync-api.net")
        );
        assert_eq!(split_base("www.example.com.vn"), ("www", "example.com.vn"));
        assert_eq!(split_base("example.com"), ("", "example.com"));
        assert_eq!(split_base("com"), ("", "com"));
        assert_eq!(split_base("x.y.duckdns.org"), ("x", "y.duckdns.org"));
        assert_eq!(split_base("duckdns.org"), ("", "duckdns.org"));
        assert_eq!(split_base("co.uk"), ("", "co.uk"));
        assert_eq!(split_base("a.co.uk"), ("", "a.co.uk"));
        assert_eq!(split_base("www.example.com."), ("www", "example.com"));
    }

    #[test]
    fn entropy_by_hand() {
        // "aabb": two symbols, equally likely: 1 bit.
        assert!((entropy("aa.bb") - 1.0).abs() < 1e-12);
        // The flow-record documentation's example: aaaa.bbbb.example.com = 2.858.
        assert!((entropy("aaaa.bbbb.example.com") - 2.858).abs() < 1e-3);
        assert_eq!(entropy(""), 0.0);
        assert!((entropy("AbAb") - 1.0).abs() < 1e-12, "case folded");
    }

    #[test]
    fn events_measure_the_part_before_the_base() {
        let e = dns_event("MZXW6YTBOI.ORSXG5A.t.Cloudsync-API.net", 16, 0, false, 80);
        assert_eq!(e.base(), "cloudsync-api.net");
        let long = format!("{}.t.cloudsync-api.net", "a".repeat(200));
        let l = dns_event(&long, 16, 0, false, 300);
        assert_eq!(l.base(), "cloudsync-api.net");
        assert!(
            l.cut
                && l.sample().starts_with('\u{2026}')
                && l.sample().ends_with(".t.cloudsync-api.net")
        );
        assert_eq!(l.sub_len, 201, "measured on the whole name");
        assert_eq!(e.sub_len, 10 + 7 + 1);
        assert_eq!(e.sub_labels, 3);
        assert_eq!(e.max_label, 10);
        let f = dns_event("mzxw6ytboi.orsxg5a.t.cloudsync-api.net", 16, 0, false, 80);
        assert_eq!(e.name_hash, f.name_hash, "case does not make a new name");
    }

    #[test]
    fn names_under_a_domain() {
        assert!(under("pool.minexmr.com", "minexmr.com"));
        assert!(under("minexmr.com", "minexmr.com"));
        assert!(!under("notminexmr.com", "minexmr.com"));
        assert!(under("X.NANOPOOL.ORG", "nanopool.org"));
        assert!(!under("org", "nanopool.org"));
    }
}
