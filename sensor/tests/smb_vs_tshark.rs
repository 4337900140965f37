//! The SMB, DCE/RPC, NTLM, Kerberos, DHCP and RDP columns agree with tshark's
//! dissection of the same packets, on every shared capture that holds those
//! protocols.
//!
//! Per connection (the record's addresses and ports, either way round),
//! what tshark shows across its frames is compared with the record's
//! lists:
//! - `smb2.tree` (every frame of a tree names it) and SMB1's `smb.path`
//!   (tree connects) = `smb_shares`;
//! - `smb2.filename` of CREATE requests whose answer (same `smb2.msg_id`)
//!   has status 0 = `smb_files` ∪ `smb_pipes`;
//! - `dcerpc.cn_bind_to_uuid` = `dcerpc_interfaces` (names mapped back to
//!   their UUIDs);
//! - `dcerpc.opnum` of requests = the opnums of `dcerpc_operations`;
//! - `ntlmssp.auth.username` = the users of `ntlm_users`, and tshark's
//!   `NULL` (an empty user name) = a record with `ntlm_anonymous` above 0;
//! - `kerberos.SNameString` of requests (components joined with `/`) =
//!   `krb_snames`; `kerberos.error_code` = `krb_error_codes`;
//!   `krb_cname` (the first client principal) is one of the flow's
//!   `kerberos.CNameString`;
//! - `dhcp_client_mac`, `dhcp_hostname`, `dhcp_vendor_class` (the first of
//!   each) are among the flow's `dhcp.hw.mac_addr`,
//!   `dhcp.option.hostname`, `dhcp.option.vendor_class_id` (DHCPv6:
//!   `dhcpv6.duidllt.link_layer_addr` or `dhcpv6.duidll.link_layer_addr`,
//!   `dhcpv6.client_domain`, `dhcpv6.vendorclass.data`), and present
//!   whenever tshark shows one;
//! - `rdp.rt_cookie` (its value after `Cookie: mstshash=`) = `rdp_cookie`,
//!   `rdp.negReq.requestedProtocols` = `rdp_requested_protocols`,
//!   `rdp.negReq.selectedProtocol` = `rdp_selected_protocol`.
//!
//! A value Mekong holds that tshark does not show fails the test. A value
//! tshark shows that Mekong lacks is a miss; misses fail too, except the
//! kinds [`excused`] names, each with its reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::Row;
use mekong_appmeta::dcerpc::IFACES;
use mekong_testkit::{shared_captures, tshark};
use serde_json::Value;

mod common;

const FIELDS: [&str; 29] = [
    "smb2.tree",
    "smb2.cmd",
    "smb2.flags.response",
    "smb2.nt_status",
    "smb2.filename",
    "dcerpc.cn_bind_to_uuid",
    "dcerpc.pkt_type",
    "dcerpc.opnum",
    "ntlmssp.auth.username",
    "tcp.analysis.lost_segment",
    "tcp.stream",
    "smb2.msg_id",
    "smb.path",
    "kerberos.msg_type",
    "kerberos.SNameString",
    "kerberos.error_code",
    "kerberos.CNameString",
    "udp.srcport",
    "udp.dstport",
    "dhcp.hw.mac_addr",
    "dhcp.option.hostname",
    "dhcp.option.vendor_class_id",
    "rdp.rt_cookie",
    "rdp.negReq.requestedProtocols",
    "rdp.negReq.selectedProtocol",
    "dhcpv6.duidllt.link_layer_addr",
    "dhcpv6.duidll.link_layer_addr",
    "dhcpv6.client_domain",
    "dhcpv6.vendorclass.data",
];

/// A connection: the sorted (address, port) pair.
type Conn = ((String, u16), (String, u16));

fn conn(a: (String, u16), b: (String, u16)) -> Conn {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// What tshark shows of one connection.
#[derive(Debug, Default)]
struct Seen {
    shares: BTreeSet<String>,
    files: BTreeSet<String>,
    uuids: BTreeSet<String>,
    opnums: BTreeSet<u16>,
    users: BTreeSet<String>,
    snames: BTreeSet<String>,
    krb_errors: BTreeSet<String>,
    cnames: BTreeSet<String>,
    /// DHCP client addresses, host names, vendor classes.
    dhcp: [BTreeSet<String>; 3],
    /// RDP cookies, requested and selected protocols (decimal).
    rdp: BTreeSet<String>,
    /// tshark reports a lost segment (the capture missed bytes).
    lost: bool,
    /// Mekong: a record of the connection began without the client's SYN.
    midstream: bool,
    /// CREATE requests by message id, and the status of each answer.
    creates: BTreeMap<u64, String>,
    answers: BTreeMap<u64, u64>,
}

fn tshark_seen(pcap: &Path) -> BTreeMap<Conn, Seen> {
    let mut cmd = tshark();
    cmd.arg("-r").arg(pcap).args([
        "-n",
        "-Y",
        "smb || smb2 || dcerpc || ntlmssp || kerberos || dhcp || dhcpv6 || rdp || tcp.analysis.lost_segment",
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "aggregator=|",
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
        "-e",
        "tcp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.dst",
        "-e",
        "tcp.dstport",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut by: BTreeMap<Conn, Seen> = BTreeMap::new();
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < 6 + FIELDS.len() {
            continue;
        }
        let addr = |v4: &str, v6: &str| if v6.is_empty() { v4 } else { v6 }.to_string();
        // TCP ports, else UDP's (the last two fields).
        let port = |tcp: &str, udp: &str| tcp.parse::<u16>().or_else(|_| udp.parse::<u16>());
        let (Ok(sp), Ok(dp)) = (port(c[2], c[6 + 17]), port(c[5], c[6 + 18])) else {
            continue;
        };
        let key = conn((addr(c[0], c[1]), sp), (addr(c[3], c[4]), dp));
        let v = |i: usize| -> Vec<&str> { c[6 + i].split('|').filter(|s| !s.is_empty()).collect() };
        let e = by.entry(key).or_default();
        e.shares.extend(v(0).iter().map(|s| s.to_string()));
        e.shares.extend(v(12).iter().map(|s| s.to_string()));
        let (cmds, resp, status) = (v(1), v(2), v(3));
        // CREATE requests and answers, paired by message id afterwards.
        let mids = v(11);
        if let Some(i) = cmds.iter().position(|c| *c == "5") {
            let mid = mids.get(i).and_then(|m| parse_int(m));
            let is_resp = resp.get(i).is_some_and(|r| *r == "1" || *r == "True");
            match (mid, is_resp) {
                (Some(m), false) => {
                    if let Some(n) = v(4).first() {
                        e.creates.insert(m, n.to_string());
                    }
                }
                (Some(m), true) => {
                    // Answers carry one status per command of the frame.
                    let st = status.get(i).or(status.first()).and_then(|s| parse_int(s));
                    e.answers.insert(m, st.unwrap_or(u64::MAX));
                }
                _ => {}
            }
        }
        e.uuids.extend(v(5).iter().map(|s| s.to_lowercase()));
        let (types, ops) = (v(6), v(7));
        if types.contains(&"0") {
            e.opnums
                .extend(ops.iter().filter_map(|o| o.parse::<u16>().ok()));
        }
        e.users.extend(v(8).iter().map(|s| s.to_string()));
        if !v(9).is_empty() {
            e.lost = true;
        }
        let krb_type = v(13);
        if krb_type.iter().any(|t| *t == "10" || *t == "12") {
            // One request per datagram or record here: its components. A
            // TGS-REQ carries the TGT in an AP-REQ (type 14), whose
            // `krbtgt/REALM` tshark lists first.
            let mut sn = v(14);
            if krb_type.contains(&"14") && sn.len() >= 4 && sn[0].eq_ignore_ascii_case("krbtgt") {
                sn.drain(..2);
            }
            if !sn.is_empty() {
                e.snames.insert(sn.join("/"));
            }
        }
        e.cnames.extend(v(16).iter().map(|s| s.to_string()));
        e.krb_errors.extend(v(15).iter().map(|s| s.to_string()));
        for i in 0..3 {
            e.dhcp[i].extend(v(19 + i).iter().map(|s| s.to_string()));
        }
        // DHCPv6: the DUID's link-layer address, the client FQDN, the vendor class.
        e.dhcp[0].extend(v(25).iter().chain(v(26).iter()).map(|s| s.to_string()));
        // tshark ends a fully qualified name with the root's dot; the
        // record keeps the name.
        e.dhcp[1].extend(v(27).iter().map(|s| s.trim_end_matches('.').to_string()));
        e.dhcp[2].extend(v(28).iter().map(|s| s.to_string()));
        for c in v(22) {
            let c = c.strip_prefix("Cookie: ").unwrap_or(c);
            e.rdp.insert(format!(
                "cookie {}",
                c.strip_prefix("mstshash=").unwrap_or(c)
            ));
        }
        for (i, k) in ["requested", "selected"].iter().enumerate() {
            for x in v(23 + i) {
                e.rdp
                    .insert(format!("{k} {}", parse_int(x).unwrap_or(u64::MAX)));
            }
        }
    }
    for e in by.values_mut() {
        let ok: Vec<String> = e
            .creates
            .iter()
            .filter(|(m, _)| e.answers.get(m) == Some(&0))
            .map(|(_, n)| n.clone())
            .collect();
        e.files.extend(ok);
    }
    by
}

fn parse_int(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn list(r: &Row, k: &str) -> Vec<String> {
    r.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn s<'a>(r: &'a Row, k: &str) -> Option<&'a str> {
    r.get(k).and_then(Value::as_str)
}

/// What Mekong's records say of each connection.
fn mekong_seen(rows: &[Row]) -> BTreeMap<Conn, Seen> {
    let mut by: BTreeMap<Conn, Seen> = BTreeMap::new();
    for r in rows {
        let port = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0) as u16;
        let key = conn(
            (
                s(r, "orig_addr").unwrap_or("").to_string(),
                port("orig_port"),
            ),
            (
                s(r, "resp_addr").unwrap_or("").to_string(),
                port("resp_port"),
            ),
        );
        let e = by.entry(key).or_default();
        e.shares.extend(list(r, "smb_shares"));
        e.files.extend(list(r, "smb_files"));
        e.files.extend(list(r, "smb_pipes"));
        for i in list(r, "dcerpc_interfaces") {
            let uuid = IFACES
                .iter()
                .find(|f| f.name == i)
                .map_or(i.clone(), |f| f.uuid.to_string());
            e.uuids.insert(uuid);
        }
        for op in list(r, "dcerpc_operations") {
            let Some((iface, name)) = op.rsplit_once('.') else {
                continue;
            };
            let n = name.parse::<u16>().ok().or_else(|| {
                IFACES
                    .iter()
                    .find(|f| f.name == iface)
                    .and_then(|f| f.ops.iter().find(|(_, o)| *o == name))
                    .map(|(n, _)| *n)
            });
            e.opnums.extend(n);
        }
        if r.get("ntlm_anonymous").and_then(Value::as_u64).unwrap_or(0) > 0 {
            e.users.insert("NULL".to_string());
        }
        if !s(r, "history").unwrap_or("").starts_with('S') {
            e.midstream = true;
        }
        e.snames.extend(list(r, "krb_snames"));
        if let Some(c) = s(r, "rdp_cookie") {
            e.rdp.insert(format!("cookie {c}"));
        }
        for (k, col) in [
            ("requested", "rdp_requested_protocols"),
            ("selected", "rdp_selected_protocol"),
        ] {
            if let Some(x) = r.get(col).and_then(Value::as_u64) {
                e.rdp.insert(format!("{k} {x}"));
            }
        }
        for (i, k) in ["dhcp_client_mac", "dhcp_hostname", "dhcp_vendor_class"]
            .iter()
            .enumerate()
        {
            if let Some(v) = s(r, k) {
                e.dhcp[i].insert(v.to_string());
            }
        }
        if let Some(c) = s(r, "krb_cname") {
            e.cnames.insert(c.to_string());
        }
        for c in r
            .get("krb_error_codes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            e.krb_errors.extend(c.as_i64().map(|c| c.to_string()));
        }
        for u in list(r, "ntlm_users") {
            let user = u.rsplit_once('\\').map_or(u.as_str(), |(_, u)| u);
            e.users.insert(user.to_string());
        }
    }
    by
}

/// Misses that do not fail the test, with their reason; `None` for a miss
/// that is a defect.
fn excused(kind: &str, theirs: &Seen, ours: Option<&Seen>) -> Option<&'static str> {
    if theirs.lost {
        return Some("the capture lost segments of this connection: Mekong's parsers stop at a gap, tshark dissects each packet on its own");
    }
    let Some(ours) = ours else {
        return Some("no record for the connection");
    };
    if ours.midstream {
        return Some("the capture starts inside the connection (no handshake): Mekong's in-order stream starts at the first segment it sees and stops at a hole, tshark dissects each packet on its own");
    }
    let _ = kind;
    None
}

#[test]
fn windows_kerberos_and_dhcp_columns_agree_with_tshark() {
    let mut checked = 0usize;
    let mut disagreements = Vec::new();
    let mut misses = Vec::new();
    let mut excuses: BTreeMap<&str, usize> = BTreeMap::new();
    for pcap in shared_captures() {
        let theirs = tshark_seen(&pcap);
        if theirs.values().all(|t| {
            t.shares.is_empty()
                && t.snames.is_empty()
                && t.krb_errors.is_empty()
                && t.dhcp.iter().all(BTreeSet::is_empty)
                && t.rdp.is_empty()
                && t.files.is_empty()
                && t.uuids.is_empty()
                && t.opnums.is_empty()
                && t.users.is_empty()
        }) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let Some((_, rows)) = common::records(dir.path(), &pcap) else {
            continue;
        };
        let ours = mekong_seen(&rows);
        let name = pcap.file_name().unwrap().to_string_lossy().to_string();
        for (key, t) in &theirs {
            let o = ours.get(key);
            let empty = Seen::default();
            let m = o.unwrap_or(&empty);
            macro_rules! cmp {
                ($kind:literal, $f:ident) => {{
                    checked += t.$f.len();
                    for v in m.$f.difference(&t.$f) {
                        disagreements.push(format!(
                            "{name} {key:?} {}: Mekong has {v:?}, tshark not",
                            $kind
                        ));
                    }
                    for v in t.$f.difference(&m.$f) {
                        match excused($kind, t, o) {
                            Some(why) => *excuses.entry(why).or_default() += 1,
                            None => misses.push(format!(
                                "{name} {key:?} {}: tshark has {v:?}, Mekong not",
                                $kind
                            )),
                        }
                    }
                }};
            }
            cmp!("share", shares);
            cmp!("file", files);
            cmp!("interface", uuids);
            cmp!("opnum", opnums);
            cmp!("ntlm user", users);
            cmp!("kerberos service", snames);
            cmp!("kerberos error", krb_errors);
            cmp!("rdp", rdp);
            // DHCP's first values: among tshark's, and there when it shows one.
            for (i, kind) in ["dhcp client", "dhcp host name", "dhcp vendor class"]
                .iter()
                .enumerate()
            {
                checked += t.dhcp[i].len().min(1);
                for v in m.dhcp[i].difference(&t.dhcp[i]) {
                    disagreements.push(format!(
                        "{name} {key:?} {kind}: Mekong has {v:?}, tshark not"
                    ));
                }
                if !t.dhcp[i].is_empty() && m.dhcp[i].is_empty() {
                    misses.push(format!(
                        "{name} {key:?} {kind}: tshark has {:?}, Mekong not",
                        t.dhcp[i]
                    ));
                }
            }
            // Mekong keeps the first client principal: it must be one
            // tshark shows.
            checked += usize::from(!m.cnames.is_empty());
            for v in m.cnames.difference(&t.cnames) {
                disagreements.push(format!(
                    "{name} {key:?} kerberos client: Mekong has {v:?}, tshark not"
                ));
            }
        }
    }
    println!("{checked} values checked against tshark; excused misses: {excuses:#?}");
    assert!(checked > 50, "too few values checked: {checked}");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
