//! Every shared real capture through the detectors: each attack capture
//! raises the techniques its MANIFEST row expects where the evidence is
//! behavioural, the benign captures raise nothing, and every other capture
//! raises nothing either unless this file says why. Where a MANIFEST
//! technique is not raised, the table gives the reason: another layer's
//! work (rules, protocol parsers still to come) or too little traffic for
//! a behaviour.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use mekong_datasets::score::technique_matches;
use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig};
use mekong_testkit::{eve_lines, shared_pcaps};
use serde_json::Value;

/// (capture, techniques it must raise, techniques it may raise besides, why).
const EXPECT: &[(&str, &[&str], &[&str], &str)] = &[
    ("bruteforce/zeek_ftp_bruteforce.pcap", &["T1110.001"], &[], "FTP 530 replies"),
    ("bruteforce/zeek_sshguess.pcap", &["T1110.001"], &[], "11 login-sized SSH connections in a minute"),
    ("dns-tunnel/ndpi_dns-tunnel-iodine.pcap", &["T1071.004", "T1572"], &["T1048.003"], "iodine: long random names, NULL answers"),
    ("dns-tunnel/pcapattack_cmds_over_dns_txt.pcap", &["T1071.004", "T1572"], &[], "a script pulled through TXT answers"),
    ("dos/stopddos_amp.TCP.reflection.SYNACK.pcap", &["T1498.002"], &[], "SYN-ACKs from many servers to a host that sent no SYN"),
    ("dos/stopddos_amp.UDP.isakmp.pcap", &["T1498.002"], &[], "IKE answers from 2,767 reflectors"),
    ("dos/stopddos_amp.dns.RRSIG.fragmented.pcap", &["T1498.002"], &[], "fragmented DNS answers without queries"),
    ("dos/stopddos_pkt.TCP.synflood.spoofed.pcap", &["T1498.001"], &["T1499.001"], "spoofed SYN flood (T1499.002 of the MANIFEST is its sibling T1499.001 here: the exhaustion is of the TCP stack, not of the service)"),
    ("mining/cgminer.g0.pcapng", &["T1496"], &[], "stratum mining.subscribe"),
    ("mining/ndpi_mining.pcapng", &["T1496"], &[], "stratum and pool names"),
    ("mining/xmr-eu1.nanopool.org.pcapng", &["T1496"], &[], "Monero pool login, nanopool.org"),
    ("scan/masscan_tcp_0_1000.pcap", &["T1046"], &["T1595"], "1,001 ports of one host"),
    ("scan/masscan_udp_0_1000.pcap", &["T1046"], &["T1595"], "1,001 UDP ports of one host"),
    ("scan/ppa_portscan.pcap", &["T1046"], &["T1595"], "SYNs to 25 ports"),
    ("scan/zeek_nmap-vsn.pcap", &[], &["T1018"], "nmap's ARP host discovery of the /24 is alerted (T1018); its version probes hit too few ports for T1046"),
    ("exploit/SMBGhost_PrivEsc_Loopback.pcapng", &["T1210"], &[], "an SMB3 compression transform whose offset is past the message (the privilege escalation, T1068, is its effect on the host)"),
    ("exploit/doublepulsar-backdoor-connect-win7.pcap", &["T1210"], &[], "Trans2 SESSION_SETUP pings, answered with the multiplex id moved by 16"),
    ("exploit/eternalblue-success-unpatched-win7.pcap", &["T1210"], &[], "Trans2 SESSION_SETUP and an NT Trans declaring 66,512 bytes"),
    ("bruteforce/CA_kerbrute_passwordspray_kerberos_AS-REQ.pcapng", &["T1110.003"], &["T1110"], "AS-REQs for 9 principals refused (unknown, wrong password) by one KDC"),
    ("lateral/401trg_smb_at_schedule.pcap", &["T1053.002", "T1021.002"], &[], "atsvc NetrJobAdd over an SMB pipe"),
    ("lateral/401trg_smb_net_user.pcap", &["T1087.002"], &["T1069.002"], "SAMR lookups of a user and its groups"),
    ("lateral/401trg_smb_psexec_add_user.pcap", &["T1021.002", "T1569.002"], &[], "PSEXESVC.exe written to ADMIN$, then svcctl creates and starts it (the user added, T1136.001, is inside PsExec's own pipe)"),
    ("lateral/401trg_smb_psexec_mimikatz_ticket_dump.pcap", &["T1021.002", "T1569.002"], &[], "PsExec as above (what mimikatz did, T1003.001 and T1558, happened on the host)"),
    ("lateral/Discovery_dcerp_srvsvc_NetShareEnum.pcapng", &["T1135"], &[], "srvsvc NetrShareEnum"),
    ("lateral/LM_WMI_ProcessCallCreate.pcapng", &["T1047", "T1021.003"], &[], "IWbemServices ExecMethod after DCOM activation"),
    ("exfil/agenttesla_c2-ftp_f9421792.pcap", &["T1048.003"], &["T1048"], "a stolen-passwords file stored by FTP on an external server over a passive data connection"),
    ("exploit/zeek_heartbleed.pcap", &["T1190"], &[], "a heartbeat request declaring 16,365 bytes of payload in a 16,368-byte record: no room for the padding, the classic Heartbleed probe"),
];

/// Captures whose MANIFEST techniques no behavioural detector can see, and why.
const NOT_BEHAVIOURAL: &[(&str, &str)] = &[
    ("dns-tunnel/ndpi_dns-exf.pcap", "2 packets: no behaviour"),
    (
        "dos/ppa_dosattack.pcap",
        "100 SYNs from random sources to random destinations in 4 ms: no host is flooded",
    ),
    (
        "scan/nmap_80",
        "one port of one host; OS-detection probes are 7",
    ),
    (
        "scan/simple-scan_",
        "9 or 10 probes: below the thresholds (15 ports, 25 hosts, as Zeek's scan policy)",
    ),
    (
        "scan/ppa_osfingerprinting.pcap",
        "a few ICMP fingerprinting probes",
    ),
    (
        "c2/",
        "fewer than 10 calls per channel for beaconing; C2 contents are the rule engine's",
    ),
    (
        "exfil/ndpi_icmp-tunnel.pcap",
        "an ICMP tunnel: payload in echo messages is the rule engine's",
    ),
    (
        "exploit/eternalblue-failed-patched-win7.pcap",
        "no SMB connection in the capture: NetBIOS name and browser broadcasts only",
    ),
    (
        "exploit/zeek_SMBGhost.pcap",
        "one SMB 3.1.1 negotiate offering compression, as every Windows 10 client sends: the scanner's check, no transform",
    ),
    (
        "lateral/DCSync_krbtgt_dcerpc_smb.pcapng",
        "the capture starts inside the replication connection: its bind, which names drsuapi, is not in it",
    ),
    (
        "lateral/Discovery_impacket_rpcdump.pcapng",
        "the capture starts inside the endpoint-mapper connection and loses segments: one of its 8 lookups is in order",
    ),
    (
        "lateral/Discovery_privgroups_domain_admins_samr.pcapng",
        "the capture loses the segments after the SAMR bind: its one lookup is past the gap",
    ),
    (
        "lateral/LM_dcom_mmc20.application_dcerpc.pcapng",
        "the capture starts inside the DCOM connections: the activation and IDispatch binds are not in it",
    ),
    ("web-attack/", "request contents: the rule engine's"),
    (
        "robustness/sv_ipv6-kill-router-gateway.pcap",
        "a forged router advertisement: ICMPv6 neighbour discovery is not parsed",
    ),
    (
        "benign/ndpi_tor.pcap",
        "Tor is a policy matter, found with an indicator list of relays",
    ),
];

fn manifest() -> Vec<(String, String)> {
    let path = shared_pcaps().join("MANIFEST.csv");
    let mut rd = csv::Reader::from_path(&path).expect("MANIFEST.csv");
    let headers = rd.headers().expect("header").clone();
    let file = headers
        .iter()
        .position(|h| h == "file")
        .expect("file column");
    let exp = headers
        .iter()
        .position(|h| h == "expected_detections")
        .expect("expected_detections column");
    rd.records()
        .map(|r| {
            let r = r.expect("row");
            (r[file].to_string(), r[exp].to_string())
        })
        .collect()
}

/// Techniques of the start alerts raised on `pcap`.
fn techniques(pcap: &Path) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers: 1,
        flow: FlowConfig {
            sensor_id: Arc::from("t"),
            ..FlowConfig::default()
        },
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(out.clone(), "t".into()),
        progress: false,
        detect: Some(Arc::new(Detection::default())),
    };
    if run(&cfg).is_err() {
        return BTreeSet::new();
    }
    let mut set = BTreeSet::new();
    for line in eve_lines(&out) {
        let v: Value = serde_json::from_str(&line).unwrap();
        for t in v["alert"]["metadata"]["mitre_technique_id"]
            .as_array()
            .into_iter()
            .flatten()
        {
            set.insert(t.as_str().unwrap_or_default().to_string());
        }
    }
    set
}

#[test]
fn shared_captures_raise_what_their_behaviour_shows() {
    let mut problems = Vec::new();
    let mut raised: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let rows = manifest();
    let captures: Vec<&(String, String)> = rows
        .iter()
        .filter(|(f, _)| !f.starts_with("suricata-verify/"))
        .filter(|(f, _)| {
            matches!(
                Path::new(f).extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap" | "trace")
            )
        })
        .collect();
    assert!(captures.len() > 100, "{} captures", captures.len());
    for (file, expected) in &captures {
        let got = techniques(&shared_pcaps().join(file));
        let row = EXPECT.iter().find(|(f, ..)| f == file);
        match row {
            Some((_, must, may, _)) => {
                for t in *must {
                    if !got.iter().any(|g| technique_matches(g, t)) {
                        problems.push(format!("{file}: {t} not raised (raised {got:?})"));
                    }
                    // What we must raise is what the MANIFEST expects.
                    assert!(
                        expected.split(';').any(|e| technique_matches(e.trim(), t)),
                        "{file}: {t} is not in the MANIFEST's {expected:?}"
                    );
                }
                for g in &got {
                    if !must.iter().chain(*may).any(|t| technique_matches(g, t)) {
                        problems.push(format!("{file}: {g} raised, not expected"));
                    }
                }
            }
            None => {
                if !got.is_empty() {
                    problems.push(format!(
                        "{file}: raised {got:?}, expected nothing from its behaviour"
                    ));
                }
                let benign = expected.trim().starts_with("none");
                if !benign {
                    let why = NOT_BEHAVIOURAL.iter().find(|(p, _)| file.starts_with(p));
                    if why.is_none() {
                        problems.push(format!("{file}: MANIFEST expects {expected:?} and nothing says why it is not raised"));
                    }
                }
            }
        }
        raised.insert(file.to_string(), got);
    }
    for (f, ..) in EXPECT {
        assert!(raised.contains_key(*f), "{f} is not in the MANIFEST");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
