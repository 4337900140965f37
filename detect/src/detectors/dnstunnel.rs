//! DNS tunnels and data in DNS names, per client and base domain.
//!
//! For each client and registrable base domain (`t.cloudsync-api.net` is
//! under `cloudsync-api.net`), over `dns_tunnel.window_s` from the first
//! query: the distinct names asked, the mean length and entropy of what
//! precedes the base domain, the bytes carried there, the share of TXT,
//! NULL, CNAME, MX and other data-carrying query types, and the answers'
//! sizes. A client asking at least `dns_tunnel.min_names` distinct names
//! under one base, with a mean prefix of at least
//! `dns_tunnel.min_mean_sub_len` bytes and a mean entropy of at least
//! `dns_tunnel.min_mean_entropy` bits per character, is moving data:
//!
//! - **Tunnel** (T1071.004, T1572, and T1048.003 once the names carried
//!   `dns_tunnel.exfil_min_bytes`): answers carry data back (at least a
//!   third of the queries ask for TXT, NULL, CNAME, MX, SRV or PRIVATE
//!   types, or answers average 200 bytes or more).
//! - **Data over DNS** (T1048.003, T1071.004): only the names carry data
//!   (answers are small address records), once they carried
//!   `dns_tunnel.exfil_min_bytes`.
//! - **Download through DNS** (T1071.004, T1572): whatever the names, at
//!   least `dns_tunnel.download_min_names` distinct names under one base
//!   got data-carrying answers (TXT, NULL, CNAME, MX...) averaging 200 bytes
//!   or more and `dns_tunnel.exfil_min_bytes` in all: a stager pulling a
//!   script through TXT records.
//!
//! Base domains in `dns_tunnel.allow_domains` (antivirus lookups, reverse
//! zones) are never scored. A client that answers DNS queries itself (a
//! recursive resolver or forwarder: seen as the responder of DNS answers)
//! is not scored either: the queries it forwards are scored at the client
//! that asked them first.

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::dnsname::under;
use crate::event::{EventKind, HostEvent};
use crate::evidence;
use crate::incident::Key;
use crate::net::IpSet;
use crate::window::{Distinct, Slot, Windowed};

use super::scan::unreachable_draft;

#[derive(Default)]
struct Series {
    names: Distinct,
    queries: u64,
    scored: u64,
    sum_sub_len: u64,
    sum_entropy: f64,
    data_types: u64,
    responses: u64,
    response_bytes: u64,
    data_answers: u64,
    data_answer_bytes: u64,
    samples: Vec<String>,
    base: String,
    alerted: bool,
}

/// The DNS tunnel detector.
pub struct DnsTunnel {
    on: bool,
    min_names: usize,
    min_sub: f64,
    min_entropy: f64,
    exfil_bytes: u64,
    download_names: u64,
    allow_domains: Vec<String>,
    allow: IpSet,
    series: Windowed<(std::net::IpAddr, u64), Series>,
    servers: Distinct,
}

const S: u64 = 1_000_000_000;

/// Query types whose answers can carry data.
fn data_type(qtype: u16) -> bool {
    matches!(qtype, 5 | 10 | 15 | 16 | 33 | 65399 | 255)
}

impl DnsTunnel {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> DnsTunnel {
        let d = &c.dns_tunnel;
        DnsTunnel {
            on: d.enabled,
            min_names: d.min_names as usize,
            min_sub: d.min_mean_sub_len,
            min_entropy: d.min_mean_entropy,
            exfil_bytes: d.exfil_min_bytes,
            download_names: u64::from(d.download_min_names),
            allow_domains: d.allow_domains.clone(),
            allow: DetectConfig::set(&d.allow),
            series: Windowed::new(d.window_s * S, 200_000),
            servers: Distinct::new(65_536),
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        if !self.on {
            return;
        }
        let EventKind::Dns(d) = &e.kind else {
            return;
        };
        let f = &e.flow;
        let client = f.orig;
        if d.response {
            // The responder of an answer is a DNS server.
            self.servers.insert(crate::window::hash_ip(f.resp));
        }
        if cx.allow.contains(client)
            || self.allow.contains(client)
            || self.servers.contains(crate::window::hash_ip(client))
        {
            return;
        }
        let base = d.base();
        if base.is_empty() || self.allow_domains.iter().any(|a| under(base, a)) {
            return;
        }
        let ts = e.ts_ns;
        let bkey = d.base_hash;
        if d.response {
            let Some((s, start)) = self.series.peek(&(client, bkey), ts) else {
                return;
            };
            s.responses += 1;
            s.response_bytes += u64::from(d.size);
            if data_type(d.qtype) && d.rcode == 0 {
                s.data_answers += 1;
                s.data_answer_bytes += u64::from(d.size);
            }
            let downloading = s.names.len() as u64 >= self.download_names
                && s.data_answers >= self.download_names
                && s.data_answer_bytes >= 200 * s.data_answers
                && s.data_answer_bytes >= self.exfil_bytes;
            if downloading {
                raise(s, e, start, Kind::Download, cx);
            }
            return;
        }
        let Slot::Live(s, start) = self.series.get((client, bkey), ts) else {
            return;
        };
        if s.names.is_empty() {
            s.names = Distinct::new(8192);
            s.base = base.to_string();
        }
        s.queries += 1;
        s.data_types += u64::from(data_type(d.qtype));
        if s.names.insert(d.name_hash) && d.sub_len > 0 {
            s.scored += 1;
            s.sum_sub_len += u64::from(d.sub_len);
            s.sum_entropy += f64::from(d.sub_entropy);
            if s.samples.len() < 3 {
                s.samples.push(d.sample());
            }
        }
        let n = s.names.len();
        if n < self.min_names || s.scored == 0 {
            return;
        }
        let mean_sub = s.sum_sub_len as f64 / s.scored as f64;
        let mean_ent = s.sum_entropy / s.scored as f64;
        if mean_sub < self.min_sub || mean_ent < self.min_entropy {
            return;
        }
        let two_way = s.data_types * 3 >= s.queries
            || (s.responses > 0 && s.response_bytes >= 200 * s.responses);
        let carried = s.sum_sub_len >= self.exfil_bytes;
        let kind = match (two_way, carried) {
            (true, true) => Kind::TunnelCarrying,
            (true, false) => Kind::Tunnel,
            (false, true) => Kind::Exfil,
            (false, false) => return,
        };
        raise(s, e, start, kind, cx);
    }
}

/// What a series shows.
#[derive(Clone, Copy)]
enum Kind {
    /// Answers carry data back.
    Tunnel,
    /// Both ways, and the names carried the exfiltration volume.
    TunnelCarrying,
    /// Only the names carry data.
    Exfil,
    /// Only the answers carry data.
    Download,
}

fn raise(s: &mut Series, e: &HostEvent, start: u64, kind: Kind, cx: &mut Cx<'_>) {
    let f = &e.flow;
    let ts = e.ts_ns;
    let client = f.orig;
    let n = s.names.len();
    let (sig, what, techniques): (u32, &str, &[&str]) = match kind {
        Kind::TunnelCarrying => (
            sid::DNS_TUNNEL,
            "DNS tunnel",
            &["T1071.004", "T1572", "T1048.003"],
        ),
        Kind::Tunnel => (sid::DNS_TUNNEL, "DNS tunnel", &["T1071.004", "T1572"]),
        Kind::Download => (
            sid::DNS_TUNNEL,
            "download through DNS answers",
            &["T1071.004", "T1572"],
        ),
        Kind::Exfil => (
            sid::DNS_EXFIL,
            "data exfiltration in DNS names",
            &["T1048.003", "T1071.004"],
        ),
    };
    let key = Key {
        technique: techniques[0],
        attacker: client,
        target: f.resp,
    };
    if s.alerted && cx.inc.is_open(&key, ts) {
        cx.inc.hit(key, ts, 1, || unreachable_draft(f));
        return;
    }
    s.alerted = true;
    let scored = s.scored.max(1) as f64;
    let ev = evidence! {
        "base_domain" => s.base.clone(),
        "queries" => s.queries,
        "distinct_names" => n as u64,
        "mean_prefix_len" => (s.sum_sub_len as f64 / scored * 10.0).round() / 10.0,
        "mean_prefix_entropy" => (s.sum_entropy / scored * 1000.0).round() / 1000.0,
        "bytes_in_names" => s.sum_sub_len,
        "data_type_share" => ((s.data_types as f64 / s.queries.max(1) as f64) * 1000.0).round() / 1000.0,
        "responses" => s.responses,
        "mean_response_bytes" => s.response_bytes.checked_div(s.responses).unwrap_or(0),
        "data_answers" => s.data_answers,
        "data_answer_bytes" => s.data_answer_bytes,
        "sample_names" => s.samples.clone(),
        "window_s" => secs(ts - start),
    };
    let q = s.queries;
    let d = draft(
        "dns.tunnel",
        sig,
        format!("MEKONG DNS {what} under {} by {}", s.base, client),
        "trojan-activity",
        techniques,
        client,
        f.resp,
        Some(f.resp_port),
        f,
        start,
        ev,
    );
    cx.inc.hit(key, ts, q, || d);
}

impl DnsTunnel {
    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.series.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.series.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.series.len()
    }
}
