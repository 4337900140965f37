//! The detection stage of the workers: it turns what a packet, a stream or
//! an application event changes into compact events for the host stage
//! (`mekong_detect::event`), and runs the detections one flow shows alone
//! (indicator lists, mining protocols and pool names).
//!
//! Events are raised only for packets that change what a detector knows: a
//! flow's first packet, the first SYN-ACK, RST, payload of each side, the
//! close of a connection, every 256 packets or mebibyte of a flow, ICMP
//! errors, DNS messages, logins, HTTP authentication. Per-flow state (the
//! service a flow speaks, pending HTTP requests with credentials, volume
//! snapshots) lives in side tables by slot.

use std::sync::Arc;

use hashbrown::HashMap;
use mekong_appmeta::event::{LoginProto, LoginResult, SmbAction, SmbSign};
use mekong_appmeta::AppEvent;
use mekong_detect::detectors::brute::login_path;
use mekong_detect::dnsname::dns_event;
use mekong_detect::event::{EventKind, FlowRef, LoginOutcome, Service, WinOp};
use mekong_detect::flowside::FlowDetectors;

use crate::decode::{tcp_flags as F, PacketView, Transport};
use crate::flow::FlowSummary;
use crate::stage::{FlowCtx, RecordExtras, Stage, StageOut};

/// Packets between two volume events of a flow.
pub const VOLUME_PKTS: u64 = 256;
/// Payload bytes between two volume events of a flow.
pub const VOLUME_BYTES: u64 = 1 << 20;

#[derive(Clone, Copy, Default)]
struct Snapshot {
    pkts: [u64; 2],
    frags: u64,
    bytes: [u64; 2],
}

/// HTTP requests awaiting their responses: a bit per request, set when it
/// carried credentials.
#[derive(Clone, Copy, Default)]
struct Pending {
    bits: u64,
    len: u8,
}

/// The workers' detection stage.
pub struct DetectStage {
    fd: Arc<FlowDetectors>,
    service: Vec<u8>,
    http: HashMap<u32, Pending>,
    /// By slot: the last AS-REQ's principal (hashed) and whether it was
    /// pre-authenticated, for the answer on the same flow.
    krb: HashMap<u32, (u32, bool)>,
    volume: HashMap<u32, Snapshot>,
    /// Events raised.
    pub events: u64,
}

fn service_of(b: u8) -> Service {
    const ALL: [Service; 20] = [
        Service::Unknown,
        Service::Ssh,
        Service::Rdp,
        Service::Ftp,
        Service::Telnet,
        Service::Http,
        Service::Smb,
        Service::Mysql,
        Service::Postgres,
        Service::Mssql,
        Service::Oracle,
        Service::Redis,
        Service::Mongo,
        Service::Vnc,
        Service::Pop3,
        Service::Imap,
        Service::Smtp,
        Service::Tls,
        Service::Dns,
        Service::Kerberos,
    ];
    ALL.get(usize::from(b)).copied().unwrap_or(Service::Unknown)
}

/// FNV-1a of `s` lower-cased (principal names are case-insensitive), with
/// no allocation.
fn hash_lower(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193)
    })
}

/// An administrative share (`ADMIN$`, `C$` ...): a hidden share other than
/// `IPC$`.
fn admin_share(path: &str) -> bool {
    let share = mekong_appmeta::smb::share_name(path);
    share.ends_with('$') && !share.eq_ignore_ascii_case("IPC$")
}

/// A file name of something Windows runs.
fn executable(name: &str) -> bool {
    const EXT: [&str; 11] = [
        "exe", "dll", "sys", "bat", "cmd", "ps1", "vbs", "js", "scr", "msi", "hta",
    ];
    name.rsplit_once('.')
        .is_some_and(|(_, e)| EXT.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The operation a DCE/RPC request is, for the Windows detector (MS-SCMR,
/// MS-TSCH, MS-WMI, MS-DCOM, MS-DRSR, MS-NRPC, MS-SAMR, MS-SRVS, MS-RPCE
/// operation numbers).
fn win_op(iface: &str, opnum: u16) -> Option<WinOp> {
    Some(match (iface, opnum) {
        ("svcctl", 12 | 24 | 44 | 45) => WinOp::ServiceCreate,
        ("svcctl", 19 | 31) => WinOp::ServiceStart,
        ("atsvc", 0) => WinOp::AtJob,
        ("ITaskSchedulerService", 1 | 12) => WinOp::Task,
        ("IWbemServices", 24 | 25) => WinOp::WmiExec,
        ("IRemoteSCMActivator", 3 | 4) | ("IActivation", 0) => WinOp::DcomActivate,
        ("IDispatch", 6) => WinOp::DcomInvoke,
        ("drsuapi", 3) => WinOp::DrsReplicate,
        ("netlogon", 4 | 5 | 15 | 26) => WinOp::NetlogonAuth,
        ("samr", 13 | 17 | 18 | 34 | 36 | 39 | 40) => WinOp::AccountQuery,
        ("samr", 11 | 15 | 16 | 19 | 25 | 27 | 33) => WinOp::GroupQuery,
        ("srvsvc", 15 | 36) => WinOp::ShareEnum,
        ("epmapper", 2) => WinOp::EptLookup,
        _ => return None,
    })
}

fn login_service(p: LoginProto) -> Service {
    match p {
        LoginProto::Ftp => Service::Ftp,
        LoginProto::Telnet => Service::Telnet,
        LoginProto::Pop3 => Service::Pop3,
        LoginProto::Imap => Service::Imap,
        LoginProto::Smb => Service::Smb,
        LoginProto::Smtp => Service::Smtp,
        LoginProto::Mysql => Service::Mysql,
        LoginProto::Postgres => Service::Postgres,
        LoginProto::Mssql => Service::Mssql,
    }
}

/// The quoted packet of an ICMP or ICMPv6 error: (protocol, source,
/// destination port).
fn quoted(v6: bool, payload: &[u8]) -> Option<(u8, std::net::IpAddr, u16)> {
    if !v6 {
        let b = payload;
        if b.len() < 20 || b[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(b[0] & 15) * 4;
        let proto = b[9];
        let src = std::net::IpAddr::from([b[12], b[13], b[14], b[15]]);
        let l4 = b.get(ihl..ihl + 4)?;
        Some((proto, src, u16::from_be_bytes([l4[2], l4[3]])))
    } else {
        let b = payload;
        if b.len() < 44 || b[0] >> 4 != 6 {
            return None;
        }
        let mut src = [0u8; 16];
        src.copy_from_slice(&b[8..24]);
        let proto = b[6];
        Some((
            proto,
            std::net::IpAddr::from(src),
            u16::from_be_bytes([b[42], b[43]]),
        ))
    }
}

impl DetectStage {
    /// A stage matching flows against `fd`.
    pub fn new(fd: Arc<FlowDetectors>) -> DetectStage {
        DetectStage {
            fd,
            service: Vec::new(),
            // Sized so that flows reaching the volume steps, or sending
            // credentials, do not make the maps grow in steady traffic.
            http: HashMap::with_capacity(1024),
            krb: HashMap::new(),
            volume: HashMap::with_capacity(4096),
            events: 0,
        }
    }

    /// Matches flows against new detectors and indicator lists from now
    /// on (a reload); what the stage knows of each flow stays.
    pub fn set_detectors(&mut self, fd: Arc<FlowDetectors>) {
        self.fd = fd;
    }

    fn set_service(&mut self, slot: u32, s: Service) {
        let i = slot as usize;
        if self.service.len() <= i {
            self.service.resize(i + 1, 0);
        }
        // A recognised application protocol wins over TLS alone.
        let cur = self.service[i];
        if cur == 0 || cur == Service::Tls as u8 {
            self.service[i] = s as u8;
        }
    }

    fn service(&self, slot: u32) -> Service {
        service_of(self.service.get(slot as usize).copied().unwrap_or(0))
    }
}

impl Stage for DetectStage {
    fn on_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
        let e = f.entry;
        let ts = f.ts_ns;
        let before = out.events.len();
        let flags = match p.transport {
            Transport::Tcp(t) => t.flags,
            _ => 0,
        };
        if f.new {
            let flow = f.flow();
            out.event(
                ts,
                flow,
                EventKind::Start {
                    flags,
                    payload: p.payload_len,
                    frags: p.frags,
                    from_resp: f.dir == 1,
                    incomplete: p.anomalies & mekong_schema::anomaly::FRAGMENT_INCOMPLETE != 0,
                },
            );
            if !self.fd.indicators.is_empty() {
                if let Some(x) = self.fd.flow_start(flow.orig, flow.resp) {
                    out.alert(ts, flow, x);
                }
            }
        } else if f.dir == 1 && e.key.proto == 6 {
            let r = &e.dir[1];
            if flags & (F::SYN | F::ACK) == F::SYN | F::ACK && r.flags[1] == 1 {
                out.event(ts, f.flow(), EventKind::Accepted);
            }
            if flags & F::RST != 0 && r.flags[2] == 1 && r.flags[1] == 0 {
                out.event(ts, f.flow(), EventKind::Refused);
            }
        }
        if p.payload_len > 0 {
            if f.dir == 1 && e.dir[1].payload_pkts == 1 {
                out.event(ts, f.flow(), EventKind::Answered);
            } else if f.dir == 0 && e.dir[0].payload_pkts == 1 && e.key.proto == 6 {
                out.event(ts, f.flow(), EventKind::Spoke);
            }
        }
        if let Transport::Icmp { v6, kind, .. } = p.transport {
            let error = if v6 { kind == 1 } else { kind == 3 };
            if error {
                if let Some((proto, to, port)) = quoted(v6, p.payload) {
                    out.event(ts, f.flow(), EventKind::Unreachable { proto, to, port });
                }
            }
        }
        if f.closed && e.key.proto == 6 {
            let (o, r) = (&e.dir[0], &e.dir[1]);
            let established = o.flags[1] > 0 && r.flags[1] > 0 && o.flags[4] > 0;
            out.event(
                ts,
                f.flow(),
                EventKind::Closed {
                    established,
                    orig_bytes: o.payload_bytes,
                    resp_bytes: r.payload_bytes,
                    orig_pkts: o.pkts.min(u64::from(u32::MAX)) as u32,
                    resp_pkts: r.pkts.min(u64::from(u32::MAX)) as u32,
                    duration_us: e.last_ns.saturating_sub(e.first_ns) / 1000,
                    service: self.service(f.slot),
                },
            );
        }
        // Volume: when the flow's packets cross a multiple of VOLUME_PKTS or
        // its payload a multiple of VOLUME_BYTES.
        let n = e.pkts();
        let added = u64::from(p.frags.max(1));
        let bytes = e.dir[0].payload_bytes + e.dir[1].payload_bytes;
        let pb = u64::from(p.payload_len);
        let crossed = n / VOLUME_PKTS != n.saturating_sub(added) / VOLUME_PKTS
            || bytes / VOLUME_BYTES != bytes.saturating_sub(pb) / VOLUME_BYTES;
        if crossed && !f.new {
            // The flow's first packet was reported by its start event; the
            // first volume event counts from the one after it (its payload
            // bytes, which the start event also carried, are counted again:
            // at most one packet's worth in a mebibyte).
            let first_dir = usize::from(e.key.proto == 6 && e.tcp.history().starts_with('^'));
            let snap = self.volume.entry(f.slot).or_insert_with(|| {
                let mut s = Snapshot::default();
                s.pkts[first_dir] = 1;
                s
            });
            let now = Snapshot {
                pkts: [e.dir[0].pkts, e.dir[1].pkts],
                frags: u64::from(e.dir[0].frags) + u64::from(e.dir[1].frags),
                bytes: [e.dir[0].payload_bytes, e.dir[1].payload_bytes],
            };
            let d = |a: u64, b: u64| a.saturating_sub(b);
            let c32 = |v: u64| v.min(u64::from(u32::MAX)) as u32;
            let kind = EventKind::Volume {
                orig_pkts: c32(d(now.pkts[0], snap.pkts[0])),
                resp_pkts: c32(d(now.pkts[1], snap.pkts[1])),
                frags: c32(d(now.frags, snap.frags)),
                orig_bytes: d(now.bytes[0], snap.bytes[0]),
                resp_bytes: d(now.bytes[1], snap.bytes[1]),
            };
            *snap = now;
            out.event(ts, f.flow(), kind);
        }
        self.events += (out.events.len() - before) as u64;
    }

    fn on_app_event(&mut self, f: &FlowCtx<'_>, ev: &AppEvent<'_>, out: &mut StageOut<'_>) {
        let ts = f.ts_ns;
        let before = out.events.len();
        match *ev {
            AppEvent::Dns {
                response,
                qname: Some(name),
                qtype,
                rcode,
                size,
                ..
            } => {
                let de = dns_event(name, qtype, rcode, response, size as usize);
                let flow = f.flow();
                out.event(ts, flow, EventKind::Dns(de));
                if !response {
                    if let Some(x) = self.fd.dns_query(name) {
                        out.alert(ts, flow, x);
                    }
                }
            }
            AppEvent::HttpRequest {
                method,
                uri,
                host,
                auth_scheme,
                ..
            } => {
                self.set_service(f.slot, Service::Http);
                let creds = auth_scheme.is_some_and(|s| {
                    ["basic", "digest", "ntlm", "negotiate"]
                        .iter()
                        .any(|k| s.eq_ignore_ascii_case(k))
                });
                if method == "POST" && login_path(uri) {
                    out.event(
                        ts,
                        f.flow(),
                        EventKind::Login {
                            service: Service::Http,
                            outcome: LoginOutcome::Attempted,
                            account: 0,
                        },
                    );
                }
                if creds || self.http.contains_key(&f.slot) {
                    let q = self.http.entry(f.slot).or_default();
                    if q.len < 64 {
                        q.bits |= u64::from(creds) << q.len;
                        q.len += 1;
                    }
                }
                if let Some(h) = host {
                    if let Some(x) = self.fd.http_host(h) {
                        out.alert(ts, f.flow(), x);
                    }
                }
            }
            AppEvent::HttpResponse { status, .. } => {
                if let Some(q) = self.http.get_mut(&f.slot) {
                    if q.len > 0 {
                        let creds = q.bits & 1 == 1;
                        q.bits >>= 1;
                        q.len -= 1;
                        let outcome = match status {
                            401 | 407 => Some(LoginOutcome::Failed),
                            200..=399 => Some(LoginOutcome::Succeeded),
                            _ => None,
                        };
                        if let (true, Some(outcome)) = (creds, outcome) {
                            out.event(
                                ts,
                                f.flow(),
                                EventKind::Login {
                                    service: Service::Http,
                                    outcome,
                                    account: 0,
                                },
                            );
                        }
                    }
                }
            }
            AppEvent::TlsClientHello { sni, ja3, ja4 } => {
                self.set_service(f.slot, Service::Tls);
                if let Some(x) = self.fd.tls_client(sni, ja3, ja4) {
                    out.alert(ts, f.flow(), x);
                }
            }
            AppEvent::TlsCertificate { sha256, .. } => {
                if let Some(x) = self.fd.certificate(sha256) {
                    out.alert(ts, f.flow(), x);
                }
            }
            AppEvent::SshBanner { .. } => self.set_service(f.slot, Service::Ssh),
            AppEvent::RdpRequest { .. } => {
                self.set_service(f.slot, Service::Rdp);
                out.event(ts, f.flow(), EventKind::Windows(WinOp::RdpConnect));
            }
            AppEvent::SshKexinit { dir, hassh } => {
                if let Some(x) = self.fd.hassh(hassh, dir == 0) {
                    out.alert(ts, f.flow(), x);
                }
            }
            AppEvent::SmbFile {
                share,
                name,
                action,
                ..
            } if matches!(action, SmbAction::Write | SmbAction::Create)
                && admin_share(share)
                && executable(name) =>
            {
                out.event(ts, f.flow(), EventKind::Windows(WinOp::AdminShareWrite));
            }
            AppEvent::Dhcp {
                msg_type,
                client_mac,
                server_id,
                v6,
                ..
            } => {
                // DHCPv6 in DHCPv4's terms: SOLICIT asks like DISCOVER,
                // ADVERTISE offers, REPLY acknowledges; the server is the
                // sender of its answers.
                let (msg_type, server_id) = match (v6, msg_type) {
                    (false, t) => (t, server_id),
                    (true, 1 | 3) => (msg_type, None),
                    (true, 2 | 7) => {
                        let (orig, resp) = f.entry.addrs();
                        let sender = if f.dir == 0 { orig } else { resp };
                        (if msg_type == 2 { 2 } else { 5 }, Some(sender))
                    }
                    (true, _) => (0, None),
                };
                let e = mekong_detect::event::DhcpEvent {
                    msg_type,
                    mac: hash_lower(client_mac.unwrap_or("")),
                    server: server_id,
                };
                out.event(ts, f.flow(), EventKind::Dhcp(e));
            }
            AppEvent::SmbSign { sign } => {
                let op = match sign {
                    SmbSign::OversizedTransaction => WinOp::SmbOversizedTrans,
                    SmbSign::Trans2SessionSetup => WinOp::SmbImplantPing,
                    SmbSign::BackdoorAnswer => WinOp::SmbImplantAnswer,
                    SmbSign::BadCompression => WinOp::SmbBadCompression,
                };
                out.event(ts, f.flow(), EventKind::Windows(op));
            }
            AppEvent::Kerberos {
                msg_type,
                cname,
                sname,
                error_code,
                preauth,
                rc4_only,
                ..
            } => {
                use mekong_appmeta::kerberos as k;
                self.set_service(f.slot, Service::Kerberos);
                let h = |s: Option<&str>| hash_lower(s.unwrap_or(""));
                let account =
                    cname.map_or_else(|| self.krb.get(&f.slot).map_or(0, |e| e.0), hash_lower);
                let login = |out: &mut StageOut<'_>, outcome| {
                    out.event(
                        ts,
                        f.flow(),
                        EventKind::Login {
                            service: Service::Kerberos,
                            outcome,
                            account,
                        },
                    );
                };
                match msg_type {
                    k::AS_REQ => {
                        self.krb.insert(f.slot, (h(cname), preauth));
                    }
                    k::TGS_REQ if rc4_only => {
                        out.event(
                            ts,
                            f.flow(),
                            EventKind::Windows(WinOp::KrbRc4Service(h(sname))),
                        );
                    }
                    k::AS_REP => {
                        if let Some((user, pre)) = self.krb.remove(&f.slot) {
                            if !pre {
                                out.event(
                                    ts,
                                    f.flow(),
                                    EventKind::Windows(WinOp::KrbAsRepNoPreauth(user)),
                                );
                            }
                        }
                        login(out, LoginOutcome::Succeeded);
                    }
                    k::KRB_ERROR => {
                        let code = error_code.unwrap_or(0);
                        if matches!(
                            code,
                            k::ERR_C_PRINCIPAL_UNKNOWN
                                | k::ERR_CLIENT_REVOKED
                                | k::ERR_PREAUTH_FAILED
                        ) {
                            let user = self.krb.get(&f.slot).map_or(h(cname), |e| e.0);
                            out.event(ts, f.flow(), EventKind::Windows(WinOp::KrbRefused(user)));
                        }
                        if code == k::ERR_PREAUTH_FAILED {
                            login(out, LoginOutcome::Failed);
                        }
                    }
                    _ => {}
                }
            }
            AppEvent::DceRpcRequest {
                iface: Some(iface),
                opnum,
                zero_credential,
                ..
            } => {
                if let Some(op) = win_op(iface, opnum) {
                    out.event(ts, f.flow(), EventKind::Windows(op));
                }
                if zero_credential {
                    out.event(
                        ts,
                        f.flow(),
                        EventKind::Windows(WinOp::NetlogonZeroCredential),
                    );
                }
            }
            AppEvent::SmtpMessage { size, .. } => out.event(
                ts,
                f.flow(),
                EventKind::Upload {
                    service: Service::Smtp,
                    orig_bytes: size,
                    resp_bytes: 0,
                },
            ),
            AppEvent::TlsHeartbeat {
                dir,
                len,
                claimed,
                leak,
            } => {
                if let Some(x) = self.fd.heartbeat(dir, len, claimed, leak) {
                    out.alert(ts, f.flow(), x);
                }
            }
            AppEvent::DnsLong {
                len,
                response,
                answer_type,
            } => {
                if let Some(x) = self.fd.dns_long(len, response, answer_type) {
                    out.alert(ts, f.flow(), x);
                }
            }
            AppEvent::Mining { method, agent } => {
                if let Some(x) = self.fd.mining_client(method, agent) {
                    out.alert(ts, f.flow(), x);
                }
            }
            AppEvent::Login {
                proto,
                result,
                user,
            } => {
                let service = login_service(proto);
                self.set_service(f.slot, service);
                out.event(
                    ts,
                    f.flow(),
                    EventKind::Login {
                        service,
                        outcome: match result {
                            LoginResult::Failed => LoginOutcome::Failed,
                            LoginResult::Succeeded => LoginOutcome::Succeeded,
                        },
                        account: user.map_or(0, hash_lower),
                    },
                );
            }
            _ => {}
        }
        self.events += (out.events.len() - before) as u64;
    }

    fn on_flow_end(
        &mut self,
        slot: u32,
        s: &FlowSummary,
        last: bool,
        rec: &mut RecordExtras,
        out: &mut StageOut<'_>,
    ) {
        // An FTP data connection's bytes, as the files it carried.
        let ftp_data = rec
            .app
            .as_ref()
            .is_some_and(|a| a.proto == Some(mekong_appmeta::AppProto::FtpData));
        if ftp_data {
            let flow = FlowRef {
                uid: s.uid,
                proto: s.proto,
                vlan: s.vlan.map_or(0, |v| v.wrapping_add(1)),
                orig: s.orig,
                orig_port: s.orig_port,
                resp: s.resp,
                resp_port: s.resp_port,
            };
            out.event(
                (s.last_us.max(0) as u64) * 1000,
                flow,
                EventKind::Upload {
                    service: Service::Ftp,
                    orig_bytes: s.dir[0].payload_bytes,
                    resp_bytes: s.dir[1].payload_bytes,
                },
            );
        }
        if !last {
            // The next record's counts start from zero.
            self.volume.remove(&slot);
        }
    }

    fn on_forget(&mut self, slot: u32) {
        if let Some(s) = self.service.get_mut(slot as usize) {
            *s = 0;
        }
        self.http.remove(&slot);
        self.krb.remove(&slot);
        self.volume.remove(&slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_errors_name_the_probe() {
        // Port unreachable quoting a UDP datagram 10.0.0.1:5000 -> 10.0.0.2:161.
        let mut q = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        q.extend_from_slice(&[0x13, 0x88, 0, 161, 0, 8, 0, 0]);
        assert_eq!(
            quoted(false, &q),
            Some((17, "10.0.0.1".parse().unwrap(), 161))
        );
        assert_eq!(quoted(false, &q[..10]), None);
        assert_eq!(quoted(true, &q), None);
    }

    #[test]
    fn service_bytes_round_trip() {
        for s in [Service::Ssh, Service::Tls, Service::Dns, Service::Imap] {
            assert_eq!(service_of(s as u8), s);
        }
    }
}
