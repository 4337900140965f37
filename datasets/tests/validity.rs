//! Every generated capture opens in tshark with no malformed packet and no
//! bad checksum, and generation is deterministic.

mod common;

use common::{fields, fields_with, generate, scratch, tshark};

/// Packets tshark flags: malformed, expert errors, or a bad IP/TCP/UDP/ICMP checksum.
const BAD: &str = "_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0 || icmp.checksum.status == 0 || icmpv6.checksum.status == 0";

fn check_clean(pcap: &std::path::Path) -> usize {
    let mut c = tshark();
    c.arg("-r").arg(pcap);
    c.args([
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
    ]);
    c.args([
        "-Y",
        BAD,
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "_ws.col.Protocol",
        "-e",
        "_ws.col.Info",
    ]);
    let out = c.output().expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = bad.lines().take(20).collect();
    assert!(
        bad.trim().is_empty(),
        "tshark flags packets in {}:\n{}",
        pcap.display(),
        lines.join("\n")
    );
    // Count what tshark read, to compare with the generator.
    let n = fields(pcap, "", &["frame.number"]).rows.len();
    assert!(n > 0);
    n
}

#[test]
fn pcap_with_every_scenario_is_clean() {
    let d = scratch("validity");
    let (pcap, labels) = generate(&d, "all", &["--packets", "160000", "--seed", "3"]);
    let n = check_clean(&pcap);
    let labels = mekong_datasets::labels::read_csv(std::fs::File::open(labels).unwrap()).unwrap();
    assert_eq!(labels.len(), mekong_datasets::scenarios::ALL.len());
    // The capture holds about what was asked for (background fills the rest).
    assert!((150_000..=175_000).contains(&n), "{n} packets");
    // Checksums were really verified, not skipped: tshark marks them good.
    let t = fields_with(
        &pcap,
        &["tcp.check_checksum:TRUE", "udp.check_checksum:TRUE"],
        "(tcp || udp) && !icmp",
        &["tcp.checksum.status", "udp.checksum.status"],
    );
    let good = |v: &str| v == "1" || v == "Good";
    assert!(
        t.rows.iter().all(|r| good(&r[0]) || good(&r[1])),
        "checksums not verified"
    );
}

#[test]
fn pcapng_is_clean_and_holds_the_same_packets() {
    let d = scratch("validity");
    let (a, _) = generate(
        &d,
        "small",
        &[
            "--packets",
            "20000",
            "--seed",
            "5",
            "--scenarios",
            "portscan_syn,dns_tunnel,brute_ftp",
        ],
    );
    let (b, _) = generate(
        &d,
        "small-ng",
        &[
            "--packets",
            "20000",
            "--seed",
            "5",
            "--scenarios",
            "portscan_syn,dns_tunnel,brute_ftp",
            "--format",
            "pcapng",
        ],
    );
    check_clean(&b);
    let fa = fields(&a, "", &["frame.time_epoch", "frame.len", "frame.md5_hash"]);
    let fb = fields(&b, "", &["frame.time_epoch", "frame.len", "frame.md5_hash"]);
    assert_eq!(fa.rows, fb.rows);
}

#[test]
fn same_seed_same_bytes_other_seed_other_capture() {
    let d = scratch("determinism");
    let args = ["--packets", "30000", "--seed", "11"];
    let (a, la) = generate(&d, "a", &args);
    let (b, lb) = generate(&d, "b", &args);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(std::fs::read(&la).unwrap(), std::fs::read(&lb).unwrap());
    let (c, lc) = generate(&d, "c", &["--packets", "30000", "--seed", "12"]);
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    assert_ne!(std::fs::read(&la).unwrap(), std::fs::read(&lc).unwrap());
}

#[test]
fn a_scenario_does_not_depend_on_the_others() {
    let d = scratch("determinism");
    let (_, l_all) = generate(&d, "with-all", &["--packets", "0", "--seed", "4"]);
    let (_, l_one) = generate(
        &d,
        "alone",
        &["--packets", "0", "--seed", "4", "--scenarios", "brute_ssh"],
    );
    let all = mekong_datasets::labels::read_csv(std::fs::File::open(l_all).unwrap()).unwrap();
    let one = mekong_datasets::labels::read_csv(std::fs::File::open(l_one).unwrap()).unwrap();
    let in_all = all.iter().find(|l| l.scenario == "brute_ssh").unwrap();
    assert_eq!(in_all, &one[0]);
}

/// The benign background holds what an office network carries, counted by
/// tshark's own dissectors.
#[test]
fn background_has_the_promised_mix() {
    let d = scratch("validity");
    let (pcap, _) = generate(
        &d,
        "background",
        &["--packets", "60000", "--seed", "21", "--scenarios", "none"],
    );
    let f = [
        "ipv6.src",
        "vlan.id",
        "ip.flags.mf",
        "tls.handshake.type",
        "tls.handshake.extensions_server_name",
        "tls.handshake.extensions_alpn_str",
        "tls.handshake.extensions.supported_version",
        "tls.handshake.certificate",
        "http.request.method",
        "http.response.code",
        "dns.qry.type",
        "dns.flags.response",
        "ntp.flags.mode",
        "ssh.protocol",
        "smb2.cmd",
        "icmp.type",
        "tcp.flags.fin",
        "tcp.flags.reset",
        "tcp.flags.syn",
        "ip.src",
    ];
    let t = fields(&pcap, "", &f);
    let count = |col: &str, pred: &dyn Fn(&str) -> bool| {
        t.rows.iter().filter(|r| pred(&r[t.col(col)])).count()
    };
    let has = |v: &str, x: &str| v.split('|').any(|p| p == x);
    let nonempty = |v: &str| !v.is_empty();
    assert!(count("ipv6.src", &nonempty) > 100, "IPv6");
    assert!(count("vlan.id", &|v| has(v, "40")) > 1000, "VLAN 40 tagged");
    assert!(
        count("ip.flags.mf", &|v| has(v, "1") || has(v, "True")) > 10,
        "IPv4 fragments"
    );
    assert!(
        count("tls.handshake.extensions_server_name", &nonempty) > 100,
        "SNI"
    );
    assert!(
        count("tls.handshake.extensions_alpn_str", &|v| v.contains("h2")) > 100,
        "ALPN"
    );
    assert!(
        count("tls.handshake.certificate", &nonempty) > 10,
        "TLS 1.2 certificates"
    );
    // ServerHellos choosing TLS 1.3 carry supported_versions 0x0304; TLS 1.2 ones do not.
    let sh13 = t
        .rows
        .iter()
        .filter(|r| {
            has(&r[t.col("tls.handshake.type")], "2")
                && r[t.col("tls.handshake.extensions.supported_version")] == "0x0304"
        })
        .count();
    let sh12 = t
        .rows
        .iter()
        .filter(|r| {
            has(&r[t.col("tls.handshake.type")], "2")
                && r[t.col("tls.handshake.extensions.supported_version")].is_empty()
        })
        .count();
    assert!(sh13 > 50 && sh12 > 10, "TLS 1.3 {sh13}, TLS 1.2 {sh12}");
    assert!(
        count("http.request.method", &|v| v == "GET") > 100,
        "HTTP requests"
    );
    assert!(
        count("http.response.code", &|v| v == "200") > 100,
        "HTTP responses"
    );
    for (qt, name) in [
        ("1", "A"),
        ("28", "AAAA"),
        ("5", "CNAME"),
        ("15", "MX"),
        ("16", "TXT"),
    ] {
        let answered = t
            .rows
            .iter()
            .filter(|r| r[t.col("dns.qry.type")] == qt && r[t.col("dns.flags.response")] == "1")
            .count();
        assert!(answered > 5, "DNS {name} answers: {answered}");
    }
    assert!(
        count("ntp.flags.mode", &|v| v == "4") > 10,
        "NTP server replies"
    );
    assert!(
        count("ssh.protocol", &|v| v.starts_with("SSH-2.0-OpenSSH")) > 2,
        "SSH banners"
    );
    assert!(count("smb2.cmd", &|v| has(v, "0")) > 10, "SMB2 NEGOTIATE");
    assert!(
        count("icmp.type", &|v| has(v, "8")) > 10 && count("icmp.type", &|v| has(v, "0")) > 10,
        "ICMP echo"
    );
    assert!(
        count("tcp.flags.fin", &|v| v == "1" || v == "True") > 100,
        "FIN teardown"
    );
    assert!(
        count("tcp.flags.reset", &|v| v == "1" || v == "True") > 10,
        "RST teardown"
    );
    let hosts: std::collections::BTreeSet<&str> = t
        .rows
        .iter()
        .map(|r| r[t.col("ip.src")].split('|').next().unwrap_or(""))
        .filter(|s| s.starts_with("10.10."))
        .collect();
    assert!(hosts.len() > 200, "{} internal hosts", hosts.len());
}
