//! The SMB, DCE/RPC, FTP and Kerberos rule keywords (`smb.share`,
//! `smb.named_pipe`, `dcerpc.iface`, `dcerpc.opnum`, `ftp.command`,
//! `ftp.command_data`, `krb5.sname`, `krb5.cname`, `krb5_msg_type`,
//! `krb5_err_code`) on the shared captures that hold those protocols: each
//! rule alerts on exactly the captures where tshark shows what it asks for.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig};
use mekong_sensor::rules::load::{load, RuleSources};
use mekong_sensor::rules::RulesConfig;
use mekong_testkit::{eve_lines, shared_pcaps, tshark};
use serde_json::Value;

/// Captures read, each a complete conversation of its protocol.
const CAPTURES: &[&str] = &[
    "lateral/401trg_smb_at_schedule.pcap",
    "lateral/401trg_smb_net_user.pcap",
    "lateral/401trg_smb_psexec_add_user.pcap",
    "lateral/401trg_smb_psexec_mimikatz_ticket_dump.pcap",
    "lateral/Discovery_dcerp_srvsvc_NetShareEnum.pcapng",
    "benign/zeek_smb2readwrite.pcap",
    "bruteforce/CA_kerbrute_passwordspray_kerberos_AS-REQ.pcapng",
    "bruteforce/zeek_ftp_bruteforce.pcap",
    "exfil/agenttesla_c2-ftp_f9421792.pcap",
];

/// (sid, rule, tshark filter of the frames it must alert on).
const RULES: &[(u32, &str, &str)] = &[
    (
        1,
        r#"alert smb any any -> any any (msg:"admin share"; smb.share; content:"ADMIN$"; nocase; sid:1;)"#,
        r#"smb2.tree contains "ADMIN$" || smb.path contains "ADMIN$""#,
    ),
    (
        2,
        r#"alert smb any any -> any any (msg:"svcctl pipe"; smb.named_pipe; content:"svcctl"; sid:2;)"#,
        r#"smb2.filename contains "svcctl" || smb.file contains "svcctl""#,
    ),
    (
        3,
        r#"alert dcerpc any any -> any any (msg:"service created"; dcerpc.iface:367abb81-9844-35f1-ad32-98f038001003; dcerpc.opnum:12,24,44-45; sid:3;)"#,
        r#"svcctl && dcerpc.opnum in {12, 24, 44, 45} && dcerpc.pkt_type == 0"#,
    ),
    (
        4,
        r#"alert dcerpc any any -> any any (msg:"samr"; dcerpc.iface:12345778-1234-abcd-ef00-0123456789ac; sid:4;)"#,
        r#"samr && dcerpc.pkt_type == 0"#,
    ),
    (
        5,
        r#"alert ftp any any -> any any (msg:"ftp upload"; ftp.command; content:"STOR"; sid:5;)"#,
        r#"ftp.request.command == "STOR""#,
    ),
    (
        6,
        r#"alert ftp any any -> any any (msg:"ftp user"; ftp.command; content:"USER"; ftp.command_data; content:"husband"; sid:6;)"#,
        r#"ftp.request.command == "USER" && ftp.request.arg contains "husband""#,
    ),
    (
        7,
        r#"alert krb5 any any -> any any (msg:"preauth failed"; krb5_err_code:24; sid:7;)"#,
        r#"kerberos.error_code == 24"#,
    ),
    (
        8,
        r#"alert krb5 any any -> any any (msg:"as-req for a tgt"; krb5_msg_type:10; krb5.sname; content:"krbtgt/"; sid:8;)"#,
        r#"kerberos.msg_type == 10 && kerberos.SNameString == "krbtgt""#,
    ),
];

fn tshark_has(pcap: &Path, filter: &str) -> bool {
    let out = tshark()
        .arg("-r")
        .arg(pcap)
        .args(["-n", "-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark takes {filter:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

fn sids(pcap: &Path, rules: &Path) -> BTreeSet<u32> {
    let dir = tempfile::tempdir().unwrap();
    let (set, rep) = load(
        &RuleSources {
            builtin: false,
            files: vec![rules.to_path_buf()],
            ..RuleSources::default()
        },
        RulesConfig::default(),
    )
    .expect("the rules load");
    assert_eq!(rep.loaded, RULES.len(), "every rule loads: {rep:?}");
    let rc = RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers: 1,
        flow: FlowConfig {
            sensor_id: Arc::from("test"),
            ..FlowConfig::default()
        },
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(dir.path().join("out"), "test".into()),
        progress: false,
        detect: Some(Arc::new(Detection {
            rules: Some(Arc::new(set)),
            ..Default::default()
        })),
    };
    run(&rc).expect("the capture reads");
    eve_lines(&dir.path().join("out"))
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|a| a["alert"]["signature_id"].as_u64())
        .map(|s| s as u32)
        .collect()
}

#[test]
fn application_keywords_alert_where_tshark_shows_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("app.rules");
    let text: Vec<&str> = RULES.iter().map(|r| r.1).collect();
    std::fs::write(&rules, text.join("\n")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut alerted = BTreeSet::new();
    let root = shared_pcaps();
    for &name in CAPTURES {
        let pcap = root.join(name);
        let got = sids(&pcap, &rules);
        for &(sid, _, filter) in RULES {
            let want = tshark_has(&pcap, filter);
            checked += 1;
            if want != got.contains(&sid) {
                wrong.push(format!(
                    "{name}: sid {sid}: tshark {want}, Mekong {}",
                    got.contains(&sid)
                ));
            }
            if want {
                alerted.insert(sid);
            }
        }
    }
    println!("{checked} (rule, capture) pairs checked; rules that alert somewhere: {alerted:?}");
    assert_eq!(
        checked,
        RULES.len() * CAPTURES.len(),
        "a capture is missing"
    );
    assert_eq!(
        alerted.len(),
        RULES.len(),
        "every rule must alert somewhere"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
