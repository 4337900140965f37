//! Each scenario really shows the behaviour its label claims, measured with
//! tshark's own dissection of the capture (SYN counts, distinct ports, beacon
//! intervals, DNS name lengths and entropy, bytes out...), never with the
//! generator's bookkeeping. Expected values come from the label's parameters.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::{fields, generate, scratch, Table};
use mekong_datasets::labels::{read_csv, Label};

const FIELDS: [&str; 43] = [
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ip.flags.mf",
    "ip.frag_offset",
    "ip.len",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.flags.reset",
    "tcp.len",
    "udp.srcport",
    "udp.dstport",
    "icmp.type",
    "dns.flags.response",
    "dns.qry.name",
    "dns.qry.type",
    "http.request.method",
    "http.request.uri",
    "http.user_agent",
    "http.authorization",
    "http.response.code",
    "http.request.line",
    "ftp.request.command",
    "ftp.response.code",
    "ssh.protocol",
    "rdp.rt_cookie",
    "mime_multipart.header.content-disposition",
    "frame.len",
    "smb2.cmd",
    "smb2.tree",
    "smb2.filename",
    "smb2.write_length",
    "dcerpc.opnum",
    "kerberos.msg_type",
    "kerberos.ENCTYPE",
    "kerberos.SNameString",
    "kerberos.error_code",
    "kerberos.CNameString",
    "dhcp.option.dhcp",
    "dhcp.hw.mac_addr",
    "smtp.req.command",
];

struct Capture {
    pcap: PathBuf,
    labels: Vec<Label>,
    table: Table,
}

fn capture() -> &'static Capture {
    static C: OnceLock<Capture> = OnceLock::new();
    C.get_or_init(|| {
        let d = scratch("truth");
        let (pcap, labels) = generate(&d, "truth", &["--packets", "150000", "--seed", "9"]);
        let labels = read_csv(std::fs::File::open(labels).unwrap()).unwrap();
        let table = fields(&pcap, "", &FIELDS);
        Capture {
            pcap,
            labels,
            table,
        }
    })
}

/// One packet's fields, by name.
struct P<'a> {
    t: &'a Table,
    r: &'a [String],
}

impl P<'_> {
    fn s(&self, f: &str) -> &str {
        self.t.first(self.r, f)
    }
    fn all(&self, f: &str) -> &str {
        &self.r[self.t.col(f)]
    }
    fn ip(&self, f: &str) -> Option<IpAddr> {
        self.s(f).parse().ok()
    }
    fn n(&self, f: &str) -> u64 {
        self.s(f).parse().unwrap_or(0)
    }
    fn flag(&self, f: &str) -> bool {
        matches!(self.s(f), "1" | "True")
    }
    fn ts_us(&self) -> u64 {
        let s = self.s("frame.time_epoch");
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        a.parse::<u64>().unwrap() * 1_000_000 + format!("{b:0<6}")[..6].parse::<u64>().unwrap()
    }
    fn syn_only(&self) -> bool {
        self.flag("tcp.flags.syn") && !self.flag("tcp.flags.ack")
    }
}

fn packets() -> impl Iterator<Item = P<'static>> {
    let c = capture();
    c.table.rows.iter().map(move |r| P { t: &c.table, r })
}

fn label(name: &str) -> &'static Label {
    capture()
        .labels
        .iter()
        .find(|l| l.scenario == name)
        .unwrap_or_else(|| panic!("no label {name}"))
}

fn param<T: std::str::FromStr>(l: &Label, k: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    l.params
        .iter()
        .find(|p| p.0 == k)
        .unwrap_or_else(|| panic!("no param {k}"))
        .1
        .parse()
        .unwrap()
}

fn attacker(l: &Label) -> IpAddr {
    l.attackers[0].addr
}

fn target(l: &Label) -> IpAddr {
    l.targets[0].addr
}

fn in_set(ip: Option<IpAddr>, set: &[mekong_datasets::labels::Cidr]) -> bool {
    ip.is_some_and(|ip| set.iter().any(|c| c.contains(ip)))
}

/// Asserts every packet of a scenario lies inside its label's time window.
fn within(l: &Label, ps: &[P<'_>]) {
    assert!(!ps.is_empty(), "{}: no packets", l.scenario);
    for p in ps {
        let t = p.ts_us();
        assert!(
            t >= l.start_us && t <= l.end_us,
            "{}: packet at {t} outside [{}, {}]",
            l.scenario,
            l.start_us,
            l.end_us
        );
    }
}

fn from_to<'a>(src: IpAddr, dst: IpAddr) -> impl Fn(&P<'a>) -> bool {
    move |p: &P<'a>| p.ip("ip.src") == Some(src) && p.ip("ip.dst") == Some(dst)
}

fn port_count(l: &Label, key: &str) -> usize {
    let spec: String = param(l, key);
    spec.split(',')
        .map(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            (a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()).count()
        })
        .sum()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn entropy(s: &str) -> f64 {
    let mut m: HashMap<char, usize> = HashMap::new();
    for c in s.chars() {
        *m.entry(c).or_default() += 1;
    }
    let n = s.chars().count() as f64;
    -m.values()
        .map(|&k| k as f64 / n)
        .map(|p| p * p.log2())
        .sum::<f64>()
}

#[test]
fn portscan_syn_probes_every_port_once() {
    let l = label("portscan_syn");
    let (a, t) = (attacker(l), target(l));
    let syns: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| p.syn_only())
        .collect();
    let ports: BTreeSet<u64> = syns.iter().map(|p| p.n("tcp.dstport")).collect();
    assert_eq!(syns.len(), port_count(l, "ports"));
    assert_eq!(ports.len(), port_count(l, "ports"));
    within(l, &syns);
    // The open ports, and only they, answer SYN-ACK.
    let open: BTreeSet<u64> = packets()
        .filter(from_to(t, a))
        .filter(|p| p.flag("tcp.flags.syn") && p.flag("tcp.flags.ack"))
        .map(|p| p.n("tcp.srcport"))
        .collect();
    let expect: BTreeSet<u64> = param::<String>(l, "open")
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(open, expect);
    // Rate: probes spread over ports/rate seconds.
    let rate: f64 = param(l, "rate");
    let span = (syns.last().unwrap().ts_us() - syns[0].ts_us()) as f64 / 1e6;
    assert!(
        (span - (syns.len() as f64 - 1.0) / rate).abs() < 0.01,
        "span {span}"
    );
}

#[test]
fn portscan_connect_completes_handshakes_on_open_ports() {
    let l = label("portscan_connect");
    let (a, t) = (attacker(l), target(l));
    let syns: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| p.syn_only())
        .collect();
    let ports: BTreeSet<u64> = syns.iter().map(|p| p.n("tcp.dstport")).collect();
    assert_eq!(ports.len(), port_count(l, "ports"));
    within(l, &syns);
    // Third packet of the handshake (pure ACK) only towards open ports.
    let acked: BTreeSet<u64> = packets()
        .filter(from_to(a, t))
        .filter(|p| {
            !p.flag("tcp.flags.syn")
                && p.flag("tcp.flags.ack")
                && !p.flag("tcp.flags.reset")
                && p.n("tcp.len") == 0
        })
        .map(|p| p.n("tcp.dstport"))
        .collect();
    // Open ports that were probed (3389 is open but outside 1-1000).
    let expect: BTreeSet<u64> = param::<String>(l, "open")
        .split(',')
        .map(|x| x.parse().unwrap())
        .filter(|p| ports.contains(p))
        .collect();
    assert!(!expect.is_empty());
    assert_eq!(acked, expect);
}

#[test]
fn sweep_probes_one_port_on_every_address() {
    let l = label("sweep_port");
    let a = attacker(l);
    let port: u64 = param(l, "port");
    let syns: Vec<P> = packets()
        .filter(|p| {
            p.ip("ip.src") == Some(a)
                && p.syn_only()
                && p.n("tcp.dstport") == port
                && in_set(p.ip("ip.dst"), &l.targets)
        })
        .collect();
    let dsts: BTreeSet<IpAddr> = syns.iter().filter_map(|p| p.ip("ip.dst")).collect();
    assert_eq!(dsts.len(), 254);
    assert_eq!(syns.len(), 254);
    within(l, &syns);
    let answers = packets()
        .filter(|p| {
            p.ip("ip.dst") == Some(a)
                && p.n("tcp.srcport") == port
                && in_set(p.ip("ip.src"), &l.targets)
        })
        .count();
    assert!(answers > 50, "{answers} hosts answered");
}

#[test]
fn icmp_sweep_pings_every_address() {
    let l = label("icmp_sweep");
    let a = attacker(l);
    let req: Vec<P> = packets()
        .filter(|p| {
            p.ip("ip.src") == Some(a)
                && p.s("icmp.type") == "8"
                && in_set(p.ip("ip.dst"), &l.targets)
        })
        .collect();
    let dsts: BTreeSet<IpAddr> = req.iter().filter_map(|p| p.ip("ip.dst")).collect();
    assert_eq!(dsts.len(), 254);
    within(l, &req);
    let replies = packets()
        .filter(|p| p.ip("ip.dst") == Some(a) && p.s("icmp.type") == "0")
        .count();
    assert!(replies > 20 && replies < 254, "{replies} replies");
}

#[test]
fn ssh_brute_force_is_many_short_sessions_from_a_tool() {
    let l = label("brute_ssh");
    let (a, t) = (attacker(l), target(l));
    let syns: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| p.syn_only() && p.n("tcp.dstport") == 22)
        .collect();
    assert_eq!(syns.len() as u64, param::<u64>(l, "attempts"));
    within(l, &syns);
    let banners: Vec<String> = packets()
        .filter(from_to(a, t))
        .map(|p| p.s("ssh.protocol").to_string())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(banners.len() as u64, param::<u64>(l, "attempts"));
    assert!(
        banners.iter().all(|b| b.contains("libssh")),
        "{:?}",
        &banners[..1]
    );
}

#[test]
fn rdp_brute_force_sends_a_cookie_per_attempt() {
    let l = label("brute_rdp");
    let (a, t) = (attacker(l), target(l));
    let cookies: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| !p.s("rdp.rt_cookie").is_empty())
        .collect();
    assert_eq!(cookies.len() as u64, param::<u64>(l, "attempts"));
    within(l, &cookies);
}

#[test]
fn ftp_brute_force_fails_every_password() {
    let l = label("brute_ftp");
    let (a, t) = (attacker(l), target(l));
    let pass: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| p.s("ftp.request.command") == "PASS")
        .collect();
    assert_eq!(pass.len() as u64, param::<u64>(l, "attempts"));
    within(l, &pass);
    let denied = packets()
        .filter(from_to(t, a))
        .filter(|p| p.s("ftp.response.code") == "530")
        .count();
    assert_eq!(denied as u64, param::<u64>(l, "attempts"));
}

#[test]
fn telnet_brute_force_covers_the_cameras() {
    let l = label("brute_telnet");
    let a = attacker(l);
    let syns: Vec<P> = packets()
        .filter(|p| p.ip("ip.src") == Some(a) && p.syn_only() && p.n("tcp.dstport") == 23)
        .collect();
    let hosts: BTreeSet<IpAddr> = syns.iter().filter_map(|p| p.ip("ip.dst")).collect();
    assert!(hosts.iter().all(|h| l.targets[0].contains(*h)));
    let tries: usize = param(l, "tries_per_host");
    assert_eq!(syns.len(), hosts.len() * tries);
    assert_eq!(hosts.len(), 20);
    within(l, &syns);
}

#[test]
fn http_basic_brute_force_is_answered_401() {
    let l = label("brute_http_basic");
    let (a, t) = (attacker(l), target(l));
    let auth: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| p.s("http.authorization").starts_with("Basic "))
        .collect();
    assert_eq!(auth.len() as u64, param::<u64>(l, "attempts"));
    within(l, &auth);
    let denied = packets()
        .filter(from_to(t, a))
        .filter(|p| p.s("http.response.code") == "401")
        .count();
    assert_eq!(denied as u64, param::<u64>(l, "attempts"));
}

#[test]
fn syn_flood_comes_from_spoofed_sources_at_the_rate() {
    let l = label("syn_flood");
    let t = target(l);
    let port: u64 = param(l, "port");
    let (s, e) = (l.start_us, l.end_us);
    let syns: Vec<P> = packets()
        .filter(|p| p.ip("ip.dst") == Some(t) && p.syn_only() && p.n("tcp.dstport") == port)
        .filter(|p| (s..=e).contains(&p.ts_us()))
        .collect();
    let expect = param::<u64>(l, "rate") * param::<u64>(l, "seconds");
    assert_eq!(syns.len() as u64, expect);
    let sources: BTreeSet<IpAddr> = syns.iter().filter_map(|p| p.ip("ip.src")).collect();
    assert!(
        sources.len() as u64 > expect * 99 / 100,
        "{} sources",
        sources.len()
    );
    let span = (syns.last().unwrap().ts_us() - syns[0].ts_us()) as f64 / 1e6;
    assert!((span - param::<f64>(l, "seconds")).abs() < 0.1, "{span}");
}

#[test]
fn udp_flood_volume() {
    let l = label("udp_flood");
    let t = target(l);
    let dg: Vec<P> = packets()
        .filter(|p| {
            in_set(p.ip("ip.src"), &l.attackers)
                && p.ip("ip.dst") == Some(t)
                && !p.s("udp.dstport").is_empty()
        })
        .collect();
    assert_eq!(
        dg.len() as u64,
        param::<u64>(l, "rate") * param::<u64>(l, "seconds")
    );
    within(l, &dg);
    let bytes: u64 = dg.iter().map(|p| p.n("ip.len")).sum();
    assert!(bytes / dg.len() as u64 > 500);
}

#[test]
fn dns_amplification_answers_are_large_and_fragmented() {
    let l = label("dns_amplification");
    let t = target(l);
    let pk: Vec<P> = packets()
        .filter(|p| in_set(p.ip("ip.src"), &l.attackers) && p.ip("ip.dst") == Some(t))
        .collect();
    within(l, &pk);
    let first_frags = pk.iter().filter(|p| p.n("ip.frag_offset") == 0).count() as u64;
    assert_eq!(
        first_frags,
        param::<u64>(l, "rate") * param::<u64>(l, "seconds")
    );
    assert!(pk.iter().filter(|p| p.flag("ip.flags.mf")).count() as u64 >= first_frags);
    let bytes: u64 = pk.iter().map(|p| p.n("ip.len")).sum();
    // An ANY query is about 60 bytes: each answer is over 50 times larger.
    assert!(
        bytes / first_frags > 3000,
        "{} bytes per answer",
        bytes / first_frags
    );
    let from_53 = pk.iter().filter(|p| p.n("udp.srcport") == 53).count() as u64;
    assert_eq!(from_53, first_frags);
}

#[test]
fn dns_tunnel_names_are_long_and_random() {
    let l = label("dns_tunnel");
    let c = attacker(l);
    let domain: String = param(l, "domain");
    let q: Vec<P> = packets()
        .filter(|p| {
            p.ip("ip.src") == Some(c)
                && p.s("dns.flags.response") == "0"
                && p.s("dns.qry.name").ends_with(&domain)
        })
        .collect();
    assert_eq!(q.len() as u64, param::<u64>(l, "queries"));
    within(l, &q);
    assert!(q.iter().all(|p| p.s("dns.qry.type") == "16"));
    let mean_len =
        q.iter().map(|p| p.s("dns.qry.name").len()).sum::<usize>() as f64 / q.len() as f64;
    assert!(mean_len > 150.0, "mean name length {mean_len}");
    let sub: String = q
        .iter()
        .take(50)
        .map(|p| {
            p.s("dns.qry.name")
                .trim_end_matches(&domain)
                .replace('.', "")
        })
        .collect();
    assert!(entropy(&sub) > 4.5, "entropy {}", entropy(&sub));
    // Every query reaches the resolver, which asks the domain's name server.
    assert!(q.iter().all(|p| in_set(p.ip("ip.dst"), &l.targets)));
    let upstream = packets()
        .filter(|p| {
            p.ip("ip.dst") == Some(l.targets[1].addr) && p.s("dns.qry.name").ends_with(&domain)
        })
        .count();
    assert_eq!(upstream, q.len());
}

#[test]
fn beacons_are_periodic_with_bounded_jitter_over_hours() {
    let l = label("beacon_https");
    let (c, c2) = (attacker(l), target(l));
    // The exfiltration scenario later uploads to the same server: leave its connection out.
    let upload = label("exfil_https").start_us;
    let syns: Vec<P> = packets()
        .filter(from_to(c, c2))
        .filter(|p| p.syn_only() && p.ts_us() != upload)
        .collect();
    assert_eq!(syns.len() as u64, param::<u64>(l, "beacons"));
    within(l, &syns);
    let iv: f64 = param(l, "interval_s");
    let jitter: f64 = param(l, "jitter");
    let gaps: Vec<f64> = syns
        .windows(2)
        .map(|w| (w[1].ts_us() - w[0].ts_us()) as f64 / 1e6)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!((mean - iv).abs() < iv * 0.02, "mean interval {mean}");
    assert!(gaps
        .iter()
        .all(|g| *g >= iv * (1.0 - jitter) - 0.001 && *g <= iv * (1.0 + jitter) + 0.001));
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    // Uniform jitter of ±j·iv has standard deviation j·iv/√3.
    assert!((sd - jitter * iv / 3f64.sqrt()).abs() < 0.6, "sd {sd}");
    assert!(
        (l.end_us - l.start_us) as f64 / 3.6e9 > 2.0,
        "beaconing lasts over two hours"
    );
}

#[test]
fn https_exfiltration_moves_the_bytes_out() {
    let l = label("exfil_https");
    let (c, c2) = (attacker(l), target(l));
    let (s, e) = (l.start_us, l.end_us);
    let win = |p: &P| (s..=e).contains(&p.ts_us());
    let out: u64 = packets()
        .filter(from_to(c, c2))
        .filter(win)
        .map(|p| p.n("tcp.len"))
        .sum();
    let back: u64 = packets()
        .filter(from_to(c2, c))
        .filter(win)
        .map(|p| p.n("tcp.len"))
        .sum();
    let bytes: u64 = param(l, "bytes");
    assert!(out >= bytes && out < bytes + bytes / 50, "{out} bytes out");
    assert!(back * 100 < out, "{back} bytes back");
}

#[test]
fn dns_exfiltration_carries_the_file_in_names() {
    let l = label("exfil_dns");
    let c = attacker(l);
    let domain: String = param(l, "domain");
    let q: Vec<P> = packets()
        .filter(|p| {
            p.ip("ip.src") == Some(c)
                && p.s("dns.flags.response") == "0"
                && p.s("dns.qry.name").ends_with(&domain)
        })
        .collect();
    within(l, &q);
    let bytes: u64 = param(l, "bytes");
    assert_eq!(q.len() as u64, bytes.div_ceil(60));
    // Hex data labels: everything before the sequence-number label.
    let carried: usize = q
        .iter()
        .map(|p| {
            let name = p.s("dns.qry.name");
            let labels: Vec<&str> = name
                .trim_end_matches(&domain)
                .trim_end_matches('.')
                .split('.')
                .collect();
            labels[..labels.len() - 1]
                .iter()
                .map(|x| x.len())
                .sum::<usize>()
                / 2
        })
        .sum();
    assert_eq!(carried as u64, bytes);
}

fn requests(l: &Label) -> Vec<P<'static>> {
    let (a, t) = (attacker(l), target(l));
    packets()
        .filter(from_to(a, t))
        .filter(|p| !p.s("http.request.method").is_empty())
        .collect()
}

#[test]
fn sql_injection_requests_carry_sql() {
    let l = label("web_sqli");
    let r = requests(l);
    assert_eq!(r.len() as u64, param::<u64>(l, "requests"));
    within(l, &r);
    for p in &r {
        let uri = url_decode(p.s("http.request.uri")).to_ascii_uppercase();
        assert!(
            ["SELECT", " OR ", " AND ", "ORDER BY", "WAITFOR", "'--"]
                .iter()
                .any(|k| uri.contains(k)),
            "{uri}"
        );
        assert!(p.s("http.user_agent").starts_with("sqlmap"));
    }
}

#[test]
fn traversal_requests_climb_directories() {
    let l = label("web_traversal");
    let r = requests(l);
    assert_eq!(r.len() as u64, param::<u64>(l, "requests"));
    within(l, &r);
    for p in &r {
        let uri = url_decode(&url_decode(p.s("http.request.uri")));
        assert!(uri.contains("..") || uri.contains("php://"), "{uri}");
    }
}

#[test]
fn log4shell_requests_carry_jndi_lookups() {
    let l = label("web_log4shell");
    let r = requests(l);
    assert_eq!(r.len() as u64, param::<u64>(l, "requests"));
    within(l, &r);
    for p in &r {
        let text = url_decode(&format!(
            "{} {}",
            p.s("http.request.uri"),
            p.all("http.request.line")
        ));
        let jndi = text.contains("${jndi:")
            || (text.contains("${${") && text.contains("ndi") || text.contains("${::-j}"));
        assert!(
            jndi && ["dap://", "dns://", "rmi://"]
                .iter()
                .any(|s| text.contains(s)),
            "{text}"
        );
    }
}

#[test]
fn web_shell_is_uploaded_then_used() {
    let l = label("web_shell_upload");
    let r = requests(l);
    within(l, &r);
    let uploads = r
        .iter()
        .filter(|p| {
            p.s("http.request.method") == "POST"
                && p.all("mime_multipart.header.content-disposition")
                    .contains("filename=\"cmd.php\"")
        })
        .count();
    assert_eq!(uploads, 1);
    let uses = r
        .iter()
        .filter(|p| p.s("http.request.uri").starts_with("/uploads/cmd.php?c="))
        .count();
    assert_eq!(uses, 6);
}

#[test]
fn miner_speaks_stratum_for_hours() {
    let c = capture();
    let l = label("mining_stratum");
    let (m, pool) = (attacker(l), target(l));
    let t = fields(
        &c.pcap,
        &format!("tcp.port == {} && tcp.len > 0", param::<u64>(l, "port")),
        &["frame.time_epoch", "ip.src", "tcp.payload"],
    );
    let mut counts: HashMap<(&str, bool), usize> = HashMap::new();
    let mut first = f64::MAX;
    let mut last = 0f64;
    for r in &t.rows {
        let bytes: Vec<u8> = (0..r[2].len() / 2)
            .filter_map(|i| u8::from_str_radix(&r[2][2 * i..2 * i + 2], 16).ok())
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let from_miner = r[1] == m.to_string();
        assert!(from_miner || r[1] == pool.to_string());
        for method in [
            "mining.subscribe",
            "mining.authorize",
            "mining.submit",
            "mining.notify",
        ] {
            *counts.entry((method, from_miner)).or_default() += text.matches(method).count();
        }
        let ts: f64 = r[0].parse().unwrap();
        first = first.min(ts);
        last = last.max(ts);
    }
    assert_eq!(counts[&("mining.subscribe", true)], 1);
    assert_eq!(counts[&("mining.authorize", true)], 1);
    let hours = (last - first) / 3600.0;
    assert!(hours > 1.5, "{hours} h");
    // Shares at the configured mean interval (Poisson: within 25 %).
    let expect = (last - first) / param::<f64>(l, "submit_interval_s");
    let subs = counts[&("mining.submit", true)] as f64;
    assert!(
        (subs - expect).abs() < expect * 0.25,
        "{subs} shares, expected about {expect}"
    );
    assert!(
        counts[&("mining.notify", false)] as f64
            > (last - first) / param::<f64>(l, "job_interval_s") * 0.75
    );
}

#[test]
fn every_label_names_its_technique_and_a_real_window() {
    let c = capture();
    assert_eq!(c.labels.len(), mekong_datasets::scenarios::ALL.len());
    for l in &c.labels {
        assert!(l.techniques[0].starts_with('T'));
        assert!(l.end_us > l.start_us, "{}", l.scenario);
        assert!(l.packets > 0);
    }
}

#[test]
fn psexec_writes_its_service_to_admin_share_then_creates_and_starts_it() {
    let l = label("lateral_psexec");
    let (a, t) = (attacker(l), target(l));
    let ps: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| !p.s("smb2.cmd").is_empty())
        .collect();
    within(l, &ps);
    let created: Vec<&P> = ps
        .iter()
        .filter(|p| p.s("smb2.cmd") == "5" && p.s("smb2.filename") == "PSEXESVC.exe")
        .collect();
    assert_eq!(created.len(), 1);
    assert!(
        created[0].s("smb2.tree").ends_with("\\ADMIN$"),
        "{}",
        created[0].s("smb2.tree")
    );
    let written: u64 = ps
        .iter()
        .filter(|p| p.s("smb2.cmd") == "9" && p.s("smb2.tree").ends_with("ADMIN$"))
        .map(|p| p.n("smb2.write_length"))
        .sum();
    assert_eq!(written, param::<u64>(l, "bytes"));
    let ops: Vec<u64> = ps
        .iter()
        .filter(|p| !p.s("dcerpc.opnum").is_empty())
        .map(|p| p.n("dcerpc.opnum"))
        .collect();
    // svcctl: OpenSCManagerW, CreateServiceW, StartServiceW, CloseServiceHandle.
    assert_eq!(ops, vec![15, 12, 19, 0]);
}

#[test]
fn kerberoasting_asks_rc4_tickets_for_each_service() {
    let l = label("kerberoast");
    let (a, t) = (attacker(l), target(l));
    let reqs: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| p.all("kerberos.msg_type").split('|').any(|m| m == "12"))
        .collect();
    within(l, &reqs);
    assert_eq!(reqs.len() as u64, param::<u64>(l, "services"));
    let mut spns = BTreeSet::new();
    for p in &reqs {
        assert_eq!(p.all("kerberos.ENCTYPE"), "23", "RC4 alone is asked");
        // The TGT's krbtgt/REALM comes first; the service asked, after.
        let names: Vec<&str> = p.all("kerberos.SNameString").split('|').collect();
        spns.insert(names[2..].join("/"));
    }
    assert_eq!(spns.len() as u64, param::<u64>(l, "services"));
    let reps = packets()
        .filter(from_to(t, a))
        .filter(|p| p.all("kerberos.msg_type").split('|').any(|m| m == "13"))
        .count();
    assert_eq!(reps as u64, param::<u64>(l, "services"));
}

#[test]
fn spraying_tries_each_account_once_and_is_refused() {
    let l = label("spray_kerberos");
    let (a, t) = (attacker(l), target(l));
    let reqs: Vec<P> = packets()
        .filter(from_to(a, t))
        .filter(|p| p.s("kerberos.msg_type") == "10")
        .collect();
    within(l, &reqs);
    let users: BTreeSet<&str> = reqs.iter().map(|p| p.s("kerberos.CNameString")).collect();
    assert_eq!(users.len() as u64, param::<u64>(l, "accounts"));
    assert_eq!(reqs.len(), users.len(), "one try per account");
    let refused = packets()
        .filter(from_to(t, a))
        .filter(|p| p.s("kerberos.msg_type") == "30" && p.s("kerberos.error_code") == "24")
        .count();
    assert_eq!(refused, users.len());
}

#[test]
fn dhcp_starvation_discovers_from_many_addresses_quickly() {
    let l = label("dhcp_starvation");
    let ds: Vec<P> = packets()
        .filter(|p| {
            p.s("dhcp.option.dhcp") == "1"
                && p.s("udp.dstport") == "67"
                && p.s("ip.src") == "0.0.0.0"
        })
        .filter(|p| {
            let t = p.ts_us();
            t >= l.start_us && t <= l.end_us
        })
        .collect();
    let n = param::<u64>(l, "clients");
    let macs: BTreeSet<&str> = ds.iter().map(|p| p.s("dhcp.hw.mac_addr")).collect();
    assert_eq!(ds.len() as u64, n);
    assert_eq!(macs.len() as u64, n);
    let span_s = (l.end_us - l.start_us) as f64 / 1e6;
    let rate = param::<f64>(l, "rate");
    assert!((span_s - (n as f64 - 1.0) / rate).abs() < 0.01, "{span_s}");
}

#[test]
fn smtp_exfiltration_sends_the_files_out() {
    let l = label("exfil_smtp");
    let (a, t) = (attacker(l), target(l));
    let out: Vec<P> = packets().filter(from_to(a, t)).collect();
    within(l, &out);
    let bytes: u64 = out.iter().map(|p| p.n("tcp.len")).sum();
    let (n, size) = (param::<u64>(l, "messages"), param::<u64>(l, "bytes"));
    // Base64 carries 3 bytes in 4 characters, in lines of 76 plus CR LF.
    assert!(bytes >= n * size * 4 / 3, "{bytes}");
    assert!(bytes <= n * (size * 4 / 3 * 78 / 76 + 2_000), "{bytes}");
    assert_eq!(
        out.iter()
            .filter(|p| p.all("smtp.req.command").split('|').any(|c| c == "DATA"))
            .count() as u64,
        n
    );
}
