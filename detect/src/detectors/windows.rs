//! Windows lateral movement, credential access and discovery, from the SMB
//! and DCE/RPC operations the workers read (one [`WinOp`] per operation,
//! client to server):
//!
//! - an executable written to an administrative share and a service
//!   created or started on the same server within `windows.window_s`:
//!   PsExec-style execution (T1021.002, T1569.002); a service created
//!   without it: remote service execution (T1569.002);
//! - an `at` job (T1053.002) or a scheduled task registered or run
//!   (T1053.005) remotely, with T1021.002 when carried over SMB;
//! - a WMI method executed (T1047) and a DCOM object activated then
//!   driven through `IDispatch` (T1021.003);
//! - directory replication asked by a host that is not a domain controller
//!   (`windows.domain_controllers`, and hosts seen serving replication):
//!   DCSync (T1003.006);
//! - `windows.netlogon_burst` Netlogon challenges or authentications from
//!   one client within `windows.netlogon_window_s`: Zerologon's brute force
//!   of the secure channel (T1210); one carrying an all-zero client
//!   credential is Zerologon itself, alerted at once (T1210);
//! - RDP between internal hosts (T1021.001): one client opening sessions
//!   to `windows.rdp_min_targets` internal hosts within `windows.window_s`,
//!   or, when `windows.rdp_jump_hosts` is set, any session from a client
//!   that is not one of them;
//! - `windows.sam_min_queries` distinct SAM queries of accounts and groups
//!   (T1087.002, with T1069.002 when groups are asked), share enumeration
//!   (T1135), `windows.epm_min_lookups` endpoint-mapper lookups (T1046).

use std::net::IpAddr;

use hashbrown::HashSet;

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::event::{EventKind, HostEvent, WinOp};
use crate::evidence;
use crate::incident::{Key, ANY};
use crate::net::IpSet;
use crate::window::{Slot, Windowed};

use super::scan::unreachable_draft;

/// Hosts learned as domain controllers, at most.
const MAX_DCS: usize = 4096;

#[derive(Default)]
struct Pair {
    /// Time of the last executable written to an administrative share.
    admin_write: Option<u64>,
    /// A DCOM object was activated on the server.
    dcom: bool,
    /// Distinct SAM queries (bits of the operations), accounts and groups.
    sam: u32,
    groups: bool,
    epm: u32,
    netlogon: Vec<u64>,
    /// Distinct refused principals, RC4 services, AS-REP accounts (hashes).
    refused: Vec<u32>,
    rc4: Vec<u32>,
    asrep: Vec<u32>,
}

/// Distinct names counted per pair, at most.
const MAX_NAMES: usize = 256;

fn add_distinct(v: &mut Vec<u32>, x: u32) {
    if !v.contains(&x) && v.len() < MAX_NAMES {
        v.push(x);
    }
}

/// The Windows operations detector.
pub struct Windows {
    on: bool,
    window_ns: u64,
    sam_min: u32,
    epm_min: u32,
    netlogon_burst: usize,
    netlogon_ns: u64,
    spray_min: usize,
    roast_min: usize,
    asrep_min: usize,
    dcs: IpSet,
    learned_dcs: HashSet<IpAddr>,
    allow: IpSet,
    pairs: Windowed<(IpAddr, IpAddr), Pair>,
    rdp_min: usize,
    jump_hosts: IpSet,
    jump_set: bool,
    rdp: Windowed<IpAddr, Vec<IpAddr>>,
}

/// Ports over which an operation is carried by SMB.
fn over_smb(port: u16) -> bool {
    port == 445 || port == 139
}

impl Windows {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Windows {
        let w = &c.windows;
        Windows {
            on: w.enabled,
            window_ns: w.window_s * 1_000_000_000,
            sam_min: w.sam_min_queries,
            epm_min: w.epm_min_lookups,
            netlogon_burst: w.netlogon_burst as usize,
            netlogon_ns: w.netlogon_window_s * 1_000_000_000,
            spray_min: w.krb_spray_min_principals as usize,
            roast_min: w.kerberoast_min_services as usize,
            asrep_min: w.asrep_min_accounts as usize,
            dcs: DetectConfig::set(&w.domain_controllers),
            learned_dcs: HashSet::new(),
            allow: DetectConfig::set(&w.allow),
            pairs: Windowed::new(w.window_s * 1_000_000_000, 200_000),
            rdp_min: w.rdp_min_targets as usize,
            jump_hosts: DetectConfig::set(&w.rdp_jump_hosts),
            jump_set: !w.rdp_jump_hosts.is_empty(),
            rdp: Windowed::new(w.window_s * 1_000_000_000, 100_000),
        }
    }

    /// An RDP session between internal hosts.
    fn rdp(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        let f = &e.flow;
        let (client, server) = (f.orig, f.resp);
        if !cx.home.contains(client)
            || !cx.home.contains(server)
            || cx.allow.contains(client)
            || self.allow.contains(client)
            || self.jump_hosts.contains(client)
        {
            return;
        }
        let ts = e.ts_ns;
        let Slot::Live(servers, start) = self.rdp.get(client, ts) else {
            return;
        };
        if !servers.contains(&server) && servers.len() < MAX_NAMES {
            servers.push(server);
        }
        let n = servers.len();
        if !(self.jump_set || n >= self.rdp_min) {
            return;
        }
        let key = Key {
            technique: "T1021.001",
            attacker: client,
            target: ANY,
        };
        if cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
            return;
        }
        let why = if self.jump_set {
            "from a host that is not an administration host"
        } else {
            "to many internal hosts"
        };
        let ev = evidence! {
            "rdp_servers" => n,
            "last_server" => server.to_string(),
            "jump_hosts_set" => self.jump_set,
            "window_s" => secs(ts - start),
        };
        let d = draft(
            "windows.rdp",
            sid::WIN_RDP,
            format!("MEKONG LATERAL internal RDP {why}: {client} to {n} host(s)"),
            "policy-violation",
            &["T1021.001"],
            client,
            server,
            Some(f.resp_port),
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, 1, || d);
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        let EventKind::Windows(op) = e.kind else {
            return;
        };
        if !self.on {
            return;
        }
        if op == WinOp::RdpConnect {
            return self.rdp(e, cx);
        }
        let f = &e.flow;
        let (client, server) = (f.orig, f.resp);
        if op == WinOp::DrsReplicate && self.learned_dcs.len() < MAX_DCS {
            // Whoever serves replication is a domain controller.
            self.learned_dcs.insert(server);
        }
        if cx.allow.contains(client) || self.allow.contains(client) {
            return;
        }
        let ts = e.ts_ns;
        let Slot::Live(p, start) = self.pairs.get((client, server), ts) else {
            return;
        };
        let smb = over_smb(f.resp_port);
        let fire: Option<(u32, &'static str, Vec<&'static str>, String, &'static str)> = match op {
            WinOp::AdminShareWrite => {
                p.admin_write = Some(ts);
                None
            }
            WinOp::ServiceCreate | WinOp::ServiceStart => {
                let wrote = p
                    .admin_write
                    .is_some_and(|t| ts.saturating_sub(t) <= self.window_ns);
                if wrote {
                    Some((
                        sid::WIN_PSEXEC,
                        "windows.psexec",
                        vec!["T1021.002", "T1569.002"],
                        format!("MEKONG LATERAL executable written to an administrative share of {server} and run as a service"),
                        "attempted-admin",
                    ))
                } else if op == WinOp::ServiceCreate {
                    let mut t = vec!["T1569.002"];
                    if smb {
                        t.push("T1021.002");
                    }
                    Some((
                        sid::WIN_SERVICE,
                        "windows.service",
                        t,
                        format!("MEKONG LATERAL remote service created on {server}"),
                        "attempted-admin",
                    ))
                } else {
                    None
                }
            }
            WinOp::AtJob | WinOp::Task => {
                let mut t = vec![if op == WinOp::AtJob {
                    "T1053.002"
                } else {
                    "T1053.005"
                }];
                if smb {
                    t.push("T1021.002");
                }
                Some((
                    sid::WIN_TASK,
                    "windows.task",
                    t,
                    format!("MEKONG LATERAL remote scheduled task on {server}"),
                    "attempted-admin",
                ))
            }
            WinOp::WmiExec => Some((
                sid::WIN_WMI,
                "windows.wmi",
                vec!["T1047", "T1021.003"],
                format!("MEKONG LATERAL WMI method executed on {server}"),
                "attempted-admin",
            )),
            WinOp::DcomActivate => {
                p.dcom = true;
                None
            }
            WinOp::DcomInvoke if p.dcom => Some((
                sid::WIN_DCOM,
                "windows.dcom",
                vec!["T1021.003"],
                format!("MEKONG LATERAL DCOM object activated and driven on {server}"),
                "attempted-admin",
            )),
            WinOp::DcomInvoke => None,
            WinOp::DrsReplicate => {
                let dc = self.dcs.contains(client) || self.learned_dcs.contains(&client);
                (!dc).then(|| {
                    (
                        sid::WIN_DCSYNC,
                        "windows.dcsync",
                        vec!["T1003.006"],
                        format!("MEKONG CREDENTIAL ACCESS directory replication asked of {server} by {client}, not a domain controller"),
                        "credential-theft",
                    )
                })
            }
            WinOp::NetlogonAuth => {
                p.netlogon
                    .retain(|&t| ts.saturating_sub(t) <= self.netlogon_ns);
                if p.netlogon.len() < self.netlogon_burst {
                    p.netlogon.push(ts);
                }
                (p.netlogon.len() >= self.netlogon_burst).then(|| {
                    (
                        sid::WIN_ZEROLOGON,
                        "windows.netlogon",
                        vec!["T1210"],
                        format!("MEKONG EXPLOIT burst of Netlogon authentications to {server} (Zerologon)"),
                        "attempted-admin",
                    )
                })
            }
            WinOp::NetlogonZeroCredential => Some((
                sid::WIN_ZEROLOGON_ZERO,
                "windows.zerologon",
                vec!["T1210"],
                format!("MEKONG EXPLOIT Netlogon authentication with a zero credential to {server} (Zerologon, CVE-2020-1472)"),
                "attempted-admin",
            )),
            WinOp::RdpConnect => None,
            WinOp::AccountQuery | WinOp::GroupQuery => {
                p.sam = p.sam.saturating_add(1);
                p.groups |= op == WinOp::GroupQuery;
                (p.sam >= self.sam_min).then(|| {
                    let mut t = vec!["T1087.002"];
                    if p.groups {
                        t.push("T1069.002");
                    }
                    (
                        sid::WIN_SAM,
                        "windows.sam",
                        t,
                        format!("MEKONG DISCOVERY accounts and groups enumerated from {server}"),
                        "attempted-recon",
                    )
                })
            }
            WinOp::ShareEnum => Some((
                sid::WIN_SHARES,
                "windows.shares",
                vec!["T1135"],
                format!("MEKONG DISCOVERY shares of {server} enumerated"),
                "attempted-recon",
            )),
            WinOp::SmbOversizedTrans
            | WinOp::SmbImplantPing
            | WinOp::SmbImplantAnswer
            | WinOp::SmbBadCompression => {
                let (sig, what) = match op {
                    WinOp::SmbOversizedTrans => (
                        sid::WIN_SMB_OVERSIZED,
                        "an oversized SMB1 transaction (MS17-010, EternalBlue)",
                    ),
                    WinOp::SmbImplantPing => (
                        sid::WIN_SMB_IMPLANT_PING,
                        "an SMB1 Trans2 SESSION_SETUP, the DoublePulsar implant's channel",
                    ),
                    WinOp::SmbImplantAnswer => (
                        sid::WIN_SMB_IMPLANT,
                        "an SMB implant answering its ping (DoublePulsar)",
                    ),
                    _ => (
                        sid::WIN_SMB_COMPRESSION,
                        "an SMB3 compression transform out of range (CVE-2020-0796, SMBGhost)",
                    ),
                };
                Some((
                    sig,
                    "windows.smb_exploit",
                    vec!["T1210"],
                    format!("MEKONG EXPLOIT {what} against {server}"),
                    "attempted-admin",
                ))
            }
            WinOp::KrbRefused(user) => {
                add_distinct(&mut p.refused, user);
                (p.refused.len() >= self.spray_min).then(|| {
                    (
                        sid::WIN_KRB_SPRAY,
                        "windows.krb_spray",
                        vec!["T1110.003", "T1110"],
                        format!("MEKONG CREDENTIAL ACCESS logons for many principals refused by {server} (Kerberos spraying or user enumeration)"),
                        "attempted-user",
                    )
                })
            }
            WinOp::KrbRc4Service(spn) => {
                add_distinct(&mut p.rc4, spn);
                (p.rc4.len() >= self.roast_min).then(|| {
                    (
                        sid::WIN_KERBEROAST,
                        "windows.kerberoast",
                        vec!["T1558.003"],
                        format!("MEKONG CREDENTIAL ACCESS service tickets asked of {server} with RC4 only (Kerberoasting)"),
                        "credential-theft",
                    )
                })
            }
            WinOp::KrbAsRepNoPreauth(user) => {
                add_distinct(&mut p.asrep, user);
                (p.asrep.len() >= self.asrep_min).then(|| {
                    (
                        sid::WIN_ASREP,
                        "windows.asrep_roast",
                        vec!["T1558.004"],
                        format!("MEKONG CREDENTIAL ACCESS AS-REP without pre-authentication from {server} (AS-REP roasting)"),
                        "credential-theft",
                    )
                })
            }
            WinOp::EptLookup => {
                p.epm = p.epm.saturating_add(1);
                (p.epm >= self.epm_min).then(|| {
                    (
                        sid::WIN_EPM,
                        "windows.epm",
                        vec!["T1046"],
                        format!("MEKONG DISCOVERY RPC endpoints of {server} listed"),
                        "attempted-recon",
                    )
                })
            }
        };
        let Some((sig, detector, techniques, msg, classtype)) = fire else {
            return;
        };
        let key = Key {
            technique: techniques[0],
            attacker: client,
            target: server,
        };
        if cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
            return;
        }
        let ev = evidence! {
            "operation" => format!("{op:?}"),
            "server_port" => f.resp_port,
            "over_smb" => smb,
            "sam_queries" => p.sam,
            "epm_lookups" => p.epm,
            "netlogon_in_window" => p.netlogon.len(),
            "principals_refused" => p.refused.len(),
            "rc4_services" => p.rc4.len(),
            "asrep_accounts" => p.asrep.len(),
            "window_s" => secs(ts - start),
        };
        let d = draft(
            detector,
            sig,
            msg,
            classtype,
            &techniques,
            client,
            server,
            Some(f.resp_port),
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, 1, || d);
    }

    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.pairs.sweep(now);
        self.rdp.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.pairs.refused + self.rdp.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.pairs.len() + self.learned_dcs.len() + self.rdp.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use crate::alert::Phase;
    use crate::config::DetectConfig;
    use crate::event::{EventKind, FlowRef, HostEvent, WinOp};
    use crate::host::HostStage;

    const S: u64 = 1_000_000_000;

    fn flow(client: u8, server: u8, port: u16) -> FlowRef {
        FlowRef {
            uid: i64::from(client) << 8 | i64::from(server),
            proto: 6,
            vlan: 0,
            orig: Ipv4Addr::new(10, 0, 0, client).into(),
            orig_port: 50000,
            resp: Ipv4Addr::new(10, 0, 1, server).into(),
            resp_port: port,
        }
    }

    /// The start alerts (signature id, techniques) of `ops` at (second,
    /// client, server, port).
    fn run(cfg: &DetectConfig, ops: &[(u64, u8, u8, u16, WinOp)]) -> Vec<(u32, Vec<String>)> {
        let mut st = HostStage::new(cfg);
        for &(t, c, s, port, op) in ops {
            st.event(&HostEvent {
                ts_ns: 1_000 * S + t * S,
                flow: flow(c, s, port),
                kind: EventKind::Windows(op),
            });
        }
        st.finish();
        st.drain()
            .into_iter()
            .filter(|a| a.phase == Phase::Start)
            .map(|a| (a.signature_id, a.techniques))
            .collect()
    }

    fn t(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_executable_on_an_admin_share_run_as_a_service_is_psexec() {
        use WinOp::*;
        let c = DetectConfig::default();
        // Written, then started 30 s later over a second connection.
        assert_eq!(
            run(
                &c,
                &[
                    (0, 1, 1, 445, AdminShareWrite),
                    (30, 1, 1, 445, ServiceStart)
                ]
            ),
            vec![(9_000_801, t(&["T1021.002", "T1569.002"]))]
        );
        // Started past the window: no PsExec (a start alone says nothing).
        assert!(run(
            &c,
            &[
                (0, 1, 1, 445, AdminShareWrite),
                (700, 1, 1, 445, ServiceStart)
            ]
        )
        .is_empty());
        // A service created without a write: remote service execution,
        // with SMB named only when it went over SMB.
        assert_eq!(
            run(
                &c,
                &[
                    (0, 1, 1, 445, ServiceCreate),
                    (0, 2, 1, 49_670, ServiceCreate)
                ]
            ),
            vec![
                (9_000_802, t(&["T1569.002", "T1021.002"])),
                (9_000_802, t(&["T1569.002"])),
            ]
        );
    }

    #[test]
    fn replication_is_dcsync_only_from_a_host_that_is_not_a_controller() {
        use WinOp::DrsReplicate;
        let mut c = DetectConfig::default();
        c.windows.domain_controllers = vec!["10.0.0.9".into()];
        // The configured controller replicates from 10.0.1.5; another host
        // asks too: DCSync.
        let got = run(
            &c,
            &[
                (0, 9, 5, 49_667, DrsReplicate),
                (10, 7, 5, 49_667, DrsReplicate),
            ],
        );
        assert_eq!(got, vec![(9_000_811, t(&["T1003.006"]))]);
        // 10.0.1.5 served replication, so it is a controller: its own
        // requests to 10.0.1.6 are replication between controllers.
        let mut st = HostStage::new(&c);
        let mut f = flow(9, 5, 49_667);
        st.event(&HostEvent {
            ts_ns: S,
            flow: f,
            kind: EventKind::Windows(DrsReplicate),
        });
        f.orig = f.resp;
        f.resp = Ipv4Addr::new(10, 0, 1, 6).into();
        st.event(&HostEvent {
            ts_ns: 2 * S,
            flow: f,
            kind: EventKind::Windows(DrsReplicate),
        });
        st.finish();
        assert!(st.drain().is_empty());
    }

    #[test]
    fn zerologon_and_internal_rdp() {
        use WinOp::*;
        let c = DetectConfig::default();
        assert_eq!(
            run(&c, &[(0, 1, 1, 49_668, NetlogonZeroCredential)]),
            vec![(9_000_813, t(&["T1210"]))]
        );
        // One client to three internal hosts: fan-out; to two: nothing.
        let fan = [
            (0, 1, 1, 3389, RdpConnect),
            (5, 1, 2, 3389, RdpConnect),
            (9, 1, 2, 3389, RdpConnect),
            (20, 1, 3, 3389, RdpConnect),
        ];
        assert_eq!(run(&c, &fan), vec![(9_000_806, t(&["T1021.001"]))]);
        assert!(run(&c, &fan[..3]).is_empty());
        // Three hosts past the window: nothing.
        assert!(run(
            &c,
            &[
                (0, 1, 1, 3389, RdpConnect),
                (700, 1, 2, 3389, RdpConnect),
                (1400, 1, 3, 3389, RdpConnect)
            ]
        )
        .is_empty());
        // Jump hosts set: one session from elsewhere alerts, theirs do not.
        let mut j = DetectConfig::default();
        j.windows.rdp_jump_hosts = vec!["10.0.0.1".into()];
        assert!(run(&j, &fan).is_empty());
        assert_eq!(
            run(&j, &[(0, 2, 1, 3389, RdpConnect)]),
            vec![(9_000_806, t(&["T1021.001"]))]
        );
    }

    #[test]
    fn netlogon_bursts_sam_enumeration_and_endpoint_dumps_need_their_counts() {
        use WinOp::*;
        let c = DetectConfig::default();
        let burst: Vec<_> = (0..20).map(|i| (i, 1, 1, 49_668, NetlogonAuth)).collect();
        assert_eq!(run(&c, &burst), vec![(9_000_812, t(&["T1210"]))]);
        assert!(run(&c, &burst[..19]).is_empty());
        let slow: Vec<_> = (0..20)
            .map(|i| (i * 30, 1, 1, 49_668, NetlogonAuth))
            .collect();
        assert!(run(&c, &slow).is_empty(), "20 in ten minutes is no burst");
        assert!(run(
            &c,
            &[(0, 1, 1, 445, AccountQuery), (1, 1, 1, 445, AccountQuery)]
        )
        .is_empty());
        assert_eq!(
            run(
                &c,
                &[
                    (0, 1, 1, 445, AccountQuery),
                    (1, 1, 1, 445, GroupQuery),
                    (2, 1, 1, 445, AccountQuery)
                ]
            ),
            vec![(9_000_821, t(&["T1087.002", "T1069.002"]))]
        );
        assert_eq!(
            run(
                &c,
                &[
                    (0, 1, 1, 135, EptLookup),
                    (1, 1, 1, 135, EptLookup),
                    (2, 1, 1, 135, EptLookup)
                ]
            ),
            vec![(9_000_823, t(&["T1046"]))]
        );
        assert_eq!(
            run(&c, &[(0, 1, 1, 445, ShareEnum)]),
            vec![(9_000_822, t(&["T1135"]))]
        );
    }

    #[test]
    fn kerberos_spraying_kerberoasting_and_asrep_roasting() {
        use WinOp::*;
        let c = DetectConfig::default();
        // Five distinct principals refused; the same one refused five
        // times is a guessing matter, not a spray.
        let spray: Vec<_> = (0..5)
            .map(|i| (i, 1, 1, 88, KrbRefused(i as u32)))
            .collect();
        assert_eq!(
            run(&c, &spray),
            vec![(9_000_841, t(&["T1110.003", "T1110"]))]
        );
        let same: Vec<_> = (0..5).map(|i| (i, 1, 1, 88, KrbRefused(7))).collect();
        assert!(run(&c, &same).is_empty());
        let roast: Vec<_> = (0..3)
            .map(|i| (i, 1, 1, 88, KrbRc4Service(100 + i as u32)))
            .collect();
        assert_eq!(run(&c, &roast), vec![(9_000_842, t(&["T1558.003"]))]);
        assert!(run(&c, &roast[..2]).is_empty());
        assert_eq!(
            run(&c, &[(0, 1, 1, 88, KrbAsRepNoPreauth(5))]),
            vec![(9_000_843, t(&["T1558.004"]))]
        );
    }

    #[test]
    fn dcom_needs_its_activation_and_wmi_and_tasks_fire_at_once() {
        use WinOp::*;
        let c = DetectConfig::default();
        assert!(run(&c, &[(0, 1, 1, 49_700, DcomInvoke)]).is_empty());
        // Activation through the endpoint mapper's port, automation on the
        // port it handed out: the same two hosts.
        assert_eq!(
            run(
                &c,
                &[(0, 1, 1, 135, DcomActivate), (1, 1, 1, 49_700, DcomInvoke)]
            ),
            vec![(9_000_805, t(&["T1021.003"]))]
        );
        assert_eq!(
            run(&c, &[(0, 1, 1, 49_700, WmiExec)]),
            vec![(9_000_804, t(&["T1047", "T1021.003"]))]
        );
        assert_eq!(
            run(&c, &[(0, 1, 1, 445, AtJob)]),
            vec![(9_000_803, t(&["T1053.002", "T1021.002"]))]
        );
        assert_eq!(
            run(&c, &[(0, 1, 1, 49_700, Task)]),
            vec![(9_000_803, t(&["T1053.005"]))]
        );
    }
}
