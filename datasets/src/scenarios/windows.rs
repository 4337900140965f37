//! Scenarios of the Windows domain and its services: PsExec-style lateral
//! movement (T1021.002, T1569.002), Kerberoasting (T1558.003), password
//! spraying against Kerberos (T1110.003), DHCP starvation (T1499), and a
//! workstation mailing files out (T1048.003).

use crate::background::group;
use crate::engine::{Burst, Source};
use crate::labels::{Cidr, Label};
use crate::net::Host;
use crate::proto::{kerberos, mail};
use crate::rng::Rng;
use crate::scenarios::{at, label, Ctx, ParamSpec, Params, Scenario, ScenarioError};
use crate::sessions::{self, MS, SEC};
use crate::sessions_win::{self as sw, SmbOp, REALM};
use crate::tcp::Close;

/// PsExec: an executable copied to `ADMIN$`, then run as a service.
pub struct LateralPsexec;
/// Kerberoasting: service tickets asked with RC4 only.
pub struct Kerberoast;
/// Password spraying against the KDC.
pub struct SprayKerberos;
/// DHCP starvation: DISCOVERs from many made-up hardware addresses.
pub struct DhcpStarvation;
/// A workstation mailing a file straight to an outside mail server.
pub struct ExfilSmtp;

/// Service principals a domain's accounts run (Kerberoasting's targets).
pub const SPNS: [&str; 8] = [
    "MSSQLSvc/sql01.corp.local:1433",
    "HTTP/intranet.corp.local",
    "MSSQLSvc/sql02.corp.local:1433",
    "exchangeMDB/mail.corp.local",
    "FIMService/fim.corp.local",
    "HTTP/sharepoint.corp.local",
    "TERMSRV/rds01.corp.local",
    "CIFS/backup.corp.local",
];

/// Account names a sprayer tries.
pub const SPRAY_USERS: [&str; 16] = [
    "administrator",
    "nguyen.van.an",
    "tran.thi.binh",
    "le.van.cuong",
    "pham.thi.dung",
    "hoang.van.em",
    "vu.thi.giang",
    "dang.van.hai",
    "bui.thi.hoa",
    "do.van.khanh",
    "ho.thi.lan",
    "ngo.van.minh",
    "duong.thi.nga",
    "ly.van.phuc",
    "svc_backup",
    "helpdesk",
];

fn count(p: &Params, key: &str, max: u64) -> Result<u64, ScenarioError> {
    p.u64(key, 1, max)
}

impl Scenario for LateralPsexec {
    fn name(&self) -> &'static str {
        "lateral_psexec"
    }
    fn id(&self) -> u64 {
        22
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1021.002", "T1569.002"]
    }
    fn description(&self) -> &'static str {
        "PsExec from a compromised workstation: NTLM logon, PSEXESVC.exe written to ADMIN$, then svcctl creates and starts it"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.40"),
            ParamSpec {
                key: "client",
                default: "10.10.2.37",
                doc: "compromised workstation",
            },
            ParamSpec {
                key: "target",
                default: "10.10.3.50",
                doc: "host taken over",
            },
            ParamSpec {
                key: "user",
                default: "administrator",
                doc: "account used",
            },
            ParamSpec {
                key: "bytes",
                default: "180000",
                doc: "size of the service executable written",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let client = ctx.host(p.ip("client")?);
        let target = ctx.host(p.ip("target")?);
        let size = p.u64("bytes", 1, 50_000_000)? as usize;
        let t0 = p.start(ctx)?;
        let name = format!("WS{}", target.ip.to_string().replace('.', "-"));
        let admin = format!("\\\\{name}\\ADMIN$");
        let ipc = format!("\\\\{name}\\IPC$");
        let ops = [
            SmbOp::Tree(&admin, false),
            SmbOp::Write("PSEXESVC.exe", size),
            SmbOp::Tree(&ipc, true),
            // OpenSCManagerW, CreateServiceW, StartServiceW, CloseServiceHandle.
            SmbOp::Rpc("svcctl", crate::proto::windows::SVCCTL, &[15, 12, 19, 0]),
        ];
        let user = p.str("user").to_string();
        let msgs = sw::smb_session(t0, &user, "ATTACKER-PC", true, &ops, &mut rng);
        let mut cfg = sessions::tcp_config(&mut rng, &client, &target, 445, t0, 0);
        cfg.close = Close::ClientFin;
        let l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(target.ip)],
            Some(445),
            "tcp",
        );
        Ok((Box::new(sessions::flow(cfg, msgs, &mut rng)), l))
    }
}

impl Scenario for Kerberoast {
    fn name(&self) -> &'static str {
        "kerberoast"
    }
    fn id(&self) -> u64 {
        23
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1558.003"]
    }
    fn description(&self) -> &'static str {
        "service tickets for several service accounts asked over TCP 88 with RC4 only, and granted in RC4"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.55"),
            ParamSpec {
                key: "client",
                default: "10.10.1.77",
                doc: "compromised workstation",
            },
            ParamSpec {
                key: "services",
                default: "6",
                doc: "service principals asked (at most 8)",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let client = ctx.host(p.ip("client")?);
        let dc = ctx.net.dc.clone();
        let n = count(p, "services", SPNS.len() as u64)? as usize;
        let t0 = p.start(ctx)?;
        let mut msgs = Vec::new();
        for spn in &SPNS[..n] {
            let req = kerberos::tgs_req(REALM, spn, &[kerberos::RC4], &mut rng);
            let rep = kerberos::rep(false, "alice", REALM, spn, kerberos::RC4, &mut rng);
            msgs.push(crate::tcp::Msg::client(
                rng.range(50, 300) * MS,
                kerberos::tcp_record(&req),
            ));
            msgs.push(crate::tcp::Msg::server(2 * MS, kerberos::tcp_record(&rep)));
        }
        let mut cfg = sessions::tcp_config(&mut rng, &client, &dc, 88, t0, 0);
        cfg.close = Close::ClientFin;
        let l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(dc.ip)],
            Some(88),
            "tcp",
        );
        Ok((Box::new(sessions::flow(cfg, msgs, &mut rng)), l))
    }
}

impl Scenario for SprayKerberos {
    fn name(&self) -> &'static str {
        "spray_kerberos"
    }
    fn id(&self) -> u64 {
        24
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1110.003"]
    }
    fn description(&self) -> &'static str {
        "one password tried against many accounts: AS-REQs with pre-authentication over UDP 88, each refused (error 24)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.62"),
            ParamSpec {
                key: "client",
                default: "10.10.3.88",
                doc: "sprayer",
            },
            ParamSpec {
                key: "accounts",
                default: "12",
                doc: "accounts tried (at most 16)",
            },
            ParamSpec {
                key: "interval_ms",
                default: "1500",
                doc: "time between attempts",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let client = ctx.host(p.ip("client")?);
        let dc = ctx.net.dc.clone();
        let n = count(p, "accounts", SPRAY_USERS.len() as u64)? as usize;
        let gap = p.u64("interval_ms", 1, 600_000)? * MS;
        let t0 = p.start(ctx)?;
        let mut pk = Vec::new();
        for (i, user) in SPRAY_USERS[..n].iter().enumerate() {
            let req = kerberos::as_req(
                user,
                REALM,
                true,
                &[kerberos::AES256, kerberos::RC4],
                &mut rng,
            );
            let err = kerberos::error(24, user, REALM);
            pk.extend(sw::krb_udp(
                &mut rng,
                &client,
                &dc,
                t0 + i as u64 * gap,
                &req,
                &err,
            ));
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(dc.ip)],
            Some(88),
            "udp",
        );
        Ok((Box::new(Burst::new(pk)), l))
    }
}

impl Scenario for DhcpStarvation {
    fn name(&self) -> &'static str {
        "dhcp_starvation"
    }
    fn id(&self) -> u64 {
        25
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1499"]
    }
    fn description(&self) -> &'static str {
        "DISCOVERs from hundreds of made-up hardware addresses in seconds, to exhaust the DHCP pool"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.70"),
            ParamSpec {
                key: "attacker",
                default: "10.10.2.99",
                doc: "the host sending them (its address is not in the packets)",
            },
            ParamSpec {
                key: "clients",
                default: "200",
                doc: "made-up hardware addresses",
            },
            ParamSpec {
                key: "rate",
                default: "40",
                doc: "DISCOVERs per second",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let attacker = ctx.host(p.ip("attacker")?);
        let n = count(p, "clients", 100_000)?;
        let rate = p.u64("rate", 1, 100_000)?;
        let t0 = p.start(ctx)?;
        let unspec: std::net::IpAddr = std::net::Ipv4Addr::UNSPECIFIED.into();
        let bcast = Host::internal(
            std::net::Ipv4Addr::BROADCAST.into(),
            [0xff; 6],
            attacker.vlan,
            64,
        );
        let mut pk = Vec::new();
        for i in 0..n {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&rng.bytes(6));
            mac[0] = (mac[0] & 0xfe) | 0x02;
            let from = Host::internal(unspec, mac, attacker.vlan, 64);
            let m = mail::dhcp(1, rng.next_u32(), mac, None, [0; 4], None);
            let t = t0 + i * SEC / rate;
            for f in sessions::udp_frames(&mut rng, &from, &bcast, 68, 67, &m) {
                pk.push((t, f));
            }
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(unspec)],
            vec![Cidr::host(std::net::Ipv4Addr::BROADCAST.into())],
            Some(67),
            "udp",
        );
        Ok((Box::new(Burst::new(pk)), l))
    }
}

impl Scenario for ExfilSmtp {
    fn name(&self) -> &'static str {
        "exfil_smtp"
    }
    fn id(&self) -> u64 {
        26
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1048.003"]
    }
    fn description(&self) -> &'static str {
        "a workstation (no mail server) mails an archive straight to an outside mail server over SMTP, in the clear"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.48"),
            ParamSpec {
                key: "client",
                default: "10.10.4.21",
                doc: "workstation",
            },
            ParamSpec {
                key: "server",
                default: "185.117.73.12",
                doc: "outside mail server",
            },
            ParamSpec {
                key: "bytes",
                default: "250000",
                doc: "size of the attached file",
            },
            ParamSpec {
                key: "messages",
                default: "2",
                doc: "messages sent, a minute apart",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let client = ctx.host(p.ip("client")?);
        let server = Host::external(p.ip("server")?, 64, 13);
        let size = p.u64("bytes", 1, 20_000_000)? as usize;
        let n = count(p, "messages", 100)?;
        let t0 = p.start(ctx)?;
        let mut items = Vec::new();
        for i in 0..n {
            let t = t0 + i * 60 * SEC;
            let msg = mail::mime_message(
                "it@corp.local",
                "drop@protonmail.example",
                "backup",
                &format!("db_export_{i}.zip"),
                size,
                &mut rng,
            );
            let lines = mail::smtp_session(
                "mx.example.net",
                "WS21",
                None,
                "it@corp.local",
                &["drop@protonmail.example"],
                &msg,
            );
            let msgs = sw::smtp_messages(lines, &mut rng);
            let mut cfg = sessions::tcp_config(&mut rng, &client, &server, 25, t, 40 * MS);
            cfg.close = Close::ClientFin;
            items.push((
                t,
                Box::new(sessions::flow(cfg, msgs, &mut rng)) as Box<dyn Source>,
            ));
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(client.ip)],
            vec![Cidr::host(server.ip)],
            Some(25),
            "tcp",
        );
        Ok((group(items), l))
    }
}
