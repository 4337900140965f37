//! Protocol recognition and the per-connection parser of a flow.

use crate::dcerpc::{self, DceRpcSession};
use crate::dns;
use crate::event::{Events, LoginProto};
use crate::ftp::FtpSession;
use crate::http::{self, HttpSession};
use crate::login::{self, LoginSession};
use crate::quic::{self, QuicSession, QuicStep};
use crate::smb::{self, SmbSession};
use crate::smtp::{self, SmtpSession};
use crate::ssh::{self, SshSession};
use crate::tls;
use crate::tls_session::{TlsMeta, TlsSession};
use crate::{flags, AppMeta, AppProto, Outcome, Step};

/// Well-known DNS ports: DNS, multicast DNS, LLMNR.
pub const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

/// Recognises the protocol of a TCP stream from the first bytes of one
/// direction, whatever the ports (DNS over TCP only on its ports).
pub fn detect_stream(first: &[u8], ports: (u16, u16)) -> Outcome<AppProto> {
    let mut incomplete = false;
    for (proto, outcome) in [
        (AppProto::Tls, tls::detect(first)),
        (AppProto::Ssh, ssh::detect(first)),
        (AppProto::Http, http::detect(first)),
        (AppProto::Smb, smb::detect(first)),
        (AppProto::DceRpc, dcerpc::detect(first)),
        (AppProto::Rdp, crate::rdp::detect(first)),
        (AppProto::Mining, crate::mining::detect(first)),
    ] {
        match outcome {
            Outcome::Parsed(()) => return Outcome::Parsed(proto),
            Outcome::Incomplete => incomplete = true,
            _ => {}
        }
    }
    match login::detect(first, ports) {
        Outcome::Parsed(p) => {
            return Outcome::Parsed(match p {
                LoginProto::Ftp => AppProto::Ftp,
                LoginProto::Telnet => AppProto::Telnet,
                LoginProto::Pop3 => AppProto::Pop3,
                LoginProto::Imap => AppProto::Imap,
                _ => return Outcome::NotThis,
            })
        }
        Outcome::Incomplete => incomplete = true,
        _ => {}
    }
    match smtp::detect(first, ports) {
        Outcome::Parsed(()) => return Outcome::Parsed(AppProto::Smtp),
        Outcome::Incomplete => incomplete = true,
        _ => {}
    }
    match crate::db::detect(first, ports) {
        Outcome::Parsed(p) => return Outcome::Parsed(p),
        Outcome::Incomplete => incomplete = true,
        _ => {}
    }
    if incomplete {
        return Outcome::Incomplete;
    }
    if ports.0 == 53 || ports.1 == 53 {
        return Outcome::Parsed(AppProto::Dns);
    }
    if ports.0 == 88 || ports.1 == 88 {
        if let Outcome::Parsed(()) = crate::kerberos::detect_tcp(first) {
            return Outcome::Parsed(AppProto::Kerberos);
        }
    }
    Outcome::NotThis
}

/// DNS over TCP: messages preceded by a 16-bit length. Messages longer
/// than [`DNS_TCP_READ`] (zone transfers, and SIGRed's oversized answers)
/// are not read whole: their start gives the event, the rest is passed over.
#[derive(Clone, Debug, Default)]
pub struct DnsTcpSession {
    skip: [usize; 2],
}

/// Longest DNS-over-TCP message read whole.
pub const DNS_TCP_READ: usize = 4096;

impl DnsTcpSession {
    fn parse(&mut self, dir: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let d = dir.min(1);
        if self.skip[d] > 0 {
            let n = self.skip[d].min(data.len());
            self.skip[d] -= n;
            return Step::Consumed(n);
        }
        let Some(len) = data
            .get(..2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return Step::NeedMore;
        };
        let m = meta.dns.get_or_insert_with(Default::default);
        m.tcp_longest = Some(m.tcp_longest.unwrap_or(0).max(len as u16));
        if len > DNS_TCP_READ {
            // The header, question and first answer's type are in the start.
            if data.len() < (2 + len).min(600) {
                return Step::NeedMore;
            }
            let (response, answer_type) = dns::first_answer_type(&data[2..]);
            ev.dns_long(len as u16, response, answer_type);
            let n = (2 + len).min(data.len());
            self.skip[d] = 2 + len - n;
            return Step::Consumed(n);
        }
        let Some(msg) = data.get(2..2 + len) else {
            return Step::NeedMore;
        };
        match dns::parse(msg) {
            Outcome::Parsed(m) => {
                meta.dns.get_or_insert_with(Default::default).add(&m);
                dns::event(&m, len, ev);
                Step::Consumed(2 + len)
            }
            _ => Step::Malformed,
        }
    }
}

/// The parser of a TCP connection once its protocol is known.
#[derive(Clone, Debug)]
pub enum AppSession {
    /// TLS.
    Tls(TlsSession),
    /// HTTP/1.x.
    Http(Box<HttpSession>),
    /// SSH.
    Ssh(SshSession),
    /// DNS over TCP.
    Dns(DnsTcpSession),
    /// Telnet, POP3 or IMAP logins.
    Login(LoginSession),
    /// FTP control.
    Ftp(Box<FtpSession>),
    /// SMTP.
    Smtp(Box<SmtpSession>),
    /// A database login (MySQL, PostgreSQL, TDS).
    Db(crate::db::DbSession),
    /// A mining protocol.
    Mining(crate::mining::MiningSession),
    /// SMB.
    Smb(Box<SmbSession>),
    /// DCE/RPC over TCP.
    DceRpc(Box<DceRpcSession>),
    /// Kerberos over TCP.
    Kerberos(KrbTcpSession),
    /// RDP's negotiation.
    Rdp(crate::rdp::RdpSession),
}

/// Kerberos over TCP: records preceded by a 32-bit length; records longer
/// than [`KRB_RECORD_MAX`] are passed over.
#[derive(Clone, Debug, Default)]
pub struct KrbTcpSession {
    skip: [usize; 2],
}

/// Longest Kerberos record read (tickets with large PACs run to a few KiB).
pub const KRB_RECORD_MAX: usize = 8000;

impl KrbTcpSession {
    fn parse(&mut self, dir: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let d = dir.min(1);
        if self.skip[d] > 0 {
            let n = self.skip[d].min(data.len());
            self.skip[d] -= n;
            return Step::Consumed(n);
        }
        let Some(len) = data
            .get(..4)
            .map(|b| (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff) as usize)
        else {
            return Step::NeedMore;
        };
        if len > KRB_RECORD_MAX {
            let n = (4 + len).min(data.len());
            self.skip[d] = 4 + len - n;
            return Step::Consumed(n);
        }
        let Some(rec) = data.get(4..4 + len) else {
            return Step::NeedMore;
        };
        match crate::kerberos::parse(rec) {
            Some(m) => meta.krb.get_or_insert_with(Default::default).add(&m, ev),
            None => return Step::Malformed,
        }
        Step::Consumed(4 + len)
    }
}

impl AppSession {
    /// A session for `proto`, its metadata started in `meta`.
    pub fn new(proto: AppProto, meta: &mut AppMeta) -> Option<AppSession> {
        meta.proto = Some(proto);
        Some(match proto {
            AppProto::Tls => {
                meta.tls = Some(TlsMeta::default());
                AppSession::Tls(TlsSession::default())
            }
            AppProto::Http => {
                meta.http = Some(Default::default());
                AppSession::Http(Box::default())
            }
            AppProto::Ssh => {
                meta.ssh = Some(Default::default());
                AppSession::Ssh(SshSession::default())
            }
            AppProto::Dns => {
                meta.dns = Some(Default::default());
                AppSession::Dns(DnsTcpSession::default())
            }
            AppProto::Ftp => {
                meta.ftp = Some(Default::default());
                AppSession::Ftp(Box::default())
            }
            AppProto::Smtp => {
                meta.smtp = Some(Default::default());
                AppSession::Smtp(Box::default())
            }
            AppProto::Mysql => AppSession::Db(crate::db::DbSession::new(LoginProto::Mysql)),
            AppProto::Postgres => AppSession::Db(crate::db::DbSession::new(LoginProto::Postgres)),
            AppProto::Mssql => AppSession::Db(crate::db::DbSession::new(LoginProto::Mssql)),
            AppProto::Mining => {
                meta.mining = Some(Default::default());
                AppSession::Mining(Default::default())
            }
            AppProto::Telnet => AppSession::Login(LoginSession::new(LoginProto::Telnet)),
            AppProto::Pop3 => AppSession::Login(LoginSession::new(LoginProto::Pop3)),
            AppProto::Imap => AppSession::Login(LoginSession::new(LoginProto::Imap)),
            AppProto::Smb => {
                meta.smb = Some(Default::default());
                AppSession::Smb(Box::default())
            }
            AppProto::DceRpc => {
                meta.dcerpc = Some(Default::default());
                AppSession::DceRpc(Box::default())
            }
            AppProto::Kerberos => {
                meta.krb = Some(Default::default());
                AppSession::Kerberos(KrbTcpSession::default())
            }
            AppProto::Rdp => {
                meta.rdp = Some(Default::default());
                AppSession::Rdp(Default::default())
            }
            AppProto::Quic | AppProto::Dhcp | AppProto::FtpData => return None,
        })
    }

    /// Parses the next in-order bytes of direction `dir` (0 from the originator).
    /// Transactions go to `ev`.
    pub fn parse(&mut self, dir: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let anomalies = &mut meta.anomalies;
        let step = match self {
            AppSession::Tls(s) => s.parse(
                dir,
                data,
                meta.tls.get_or_insert_with(Default::default),
                anomalies,
                ev,
            ),
            AppSession::Http(s) => {
                let step = s.parse(
                    dir,
                    data,
                    meta.http.get_or_insert_with(Default::default),
                    anomalies,
                    ev,
                );
                http_ntlm(s, meta, ev);
                step
            }
            AppSession::Ssh(s) => s.parse(
                dir,
                data,
                meta.ssh.get_or_insert_with(Default::default),
                anomalies,
                ev,
            ),
            AppSession::Dns(s) => s.parse(dir, data, meta, ev),
            AppSession::Login(s) => s.parse(dir, data, meta, ev),
            AppSession::Ftp(s) => s.parse(dir, data, meta, ev),
            AppSession::Smtp(s) => s.parse(dir, data, meta, ev),
            AppSession::Db(s) => s.parse(dir, data, meta, ev),
            AppSession::Mining(s) => s.parse(
                dir,
                data,
                meta.mining.get_or_insert_with(Default::default),
                ev,
            ),
            AppSession::Smb(s) => s.parse(dir, data, meta, ev),
            AppSession::DceRpc(s) => s.parse(dir, data, meta, ev),
            AppSession::Kerberos(s) => s.parse(dir, data, meta, ev),
            AppSession::Rdp(s) => {
                s.parse(dir, data, meta.rdp.get_or_insert_with(Default::default), ev)
            }
        };
        if step == Step::Malformed {
            meta.anomalies |= flags::MALFORMED;
        }
        step
    }
}

/// NTLM over HTTP: an AUTHENTICATE in a request's Authorization is
/// recorded; the status answering it tells its outcome (401 or 407
/// refused, below 400 accepted).
fn http_ntlm(s: &mut HttpSession, meta: &mut AppMeta, ev: &mut Events) {
    if let Some(msg) = s.ntlm_msg.take() {
        if let Some(a) = crate::ntlm::NtlmMeta::seen(&mut meta.ntlm, &msg, ev) {
            s.ntlm_auth = Some(a);
        }
    }
    let Some(status) = s.last_status.take() else {
        return;
    };
    let Some(a) = s.ntlm_auth.take() else {
        return;
    };
    let result = match status {
        401 | 407 => crate::event::LoginResult::Failed,
        200..=399 => crate::event::LoginResult::Succeeded,
        _ => return,
    };
    if let Some(n) = meta.ntlm.as_mut() {
        n.outcome(Some(&a), result);
    }
}

/// The parser of a UDP flow.
#[derive(Clone, Debug)]
pub enum UdpSession {
    /// DNS: every datagram a message.
    Dns,
    /// QUIC: the Initial packets until the ClientHello and ServerHello are whole.
    Quic(Box<QuicFlow>),
    /// Kerberos: every datagram a message.
    Kerberos,
    /// DHCP: every datagram a message.
    Dhcp,
    /// DHCPv6: every datagram a message.
    Dhcp6,
}

/// Server datagrams read for a ServerHello before giving up.
const QUIC_SERVER_DATAGRAMS: u8 = 8;

/// A QUIC flow's Initial packets and which hellos are done.
#[derive(Clone, Debug, Default)]
pub struct QuicFlow {
    session: QuicSession,
    done: [bool; 2],
    seen: [u8; 2],
}

/// What a datagram did to a UDP session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpStep {
    /// More datagrams may say more.
    Continue,
    /// Nothing more to learn from this flow.
    Done,
}

impl UdpSession {
    /// Recognises the protocol of a UDP flow from a datagram of direction
    /// `dir` (0 from the originator), starting `meta`.
    pub fn detect(
        data: &[u8],
        dir: usize,
        ports: (u16, u16),
        meta: &mut AppMeta,
    ) -> Option<UdpSession> {
        let on_dns_port = DNS_PORTS.contains(&ports.0) || DNS_PORTS.contains(&ports.1);
        // On its ports, every datagram is taken for DNS: one that does not
        // parse is flagged malformed (DNS ports carrying something else are
        // what tunnel and evasion hunts look for).
        if on_dns_port {
            meta.proto = Some(AppProto::Dns);
            return Some(UdpSession::Dns);
        }
        let dhcp_ports = |p: u16| p == 67 || p == 68;
        if (dhcp_ports(ports.0) || dhcp_ports(ports.1)) && crate::dhcp::parse(data).is_some() {
            meta.proto = Some(AppProto::Dhcp);
            return Some(UdpSession::Dhcp);
        }
        let dhcp6_ports = |p: u16| p == 546 || p == 547;
        if (dhcp6_ports(ports.0) || dhcp6_ports(ports.1)) && crate::dhcp::parse6(data).is_some() {
            meta.proto = Some(AppProto::Dhcp);
            return Some(UdpSession::Dhcp6);
        }
        if (ports.0 == 88 || ports.1 == 88) && crate::kerberos::parse(data).is_some() {
            meta.proto = Some(AppProto::Kerberos);
            return Some(UdpSession::Kerberos);
        }
        if dir == 0 {
            if let Outcome::Parsed(version) = quic::detect(data) {
                meta.proto = Some(AppProto::Quic);
                meta.quic_version = Some(version);
                return Some(UdpSession::Quic(Box::default()));
            }
        }
        if !on_dns_port && dns::looks_like_query(data) {
            meta.proto = Some(AppProto::Dns);
            return Some(UdpSession::Dns);
        }
        None
    }

    /// Reads a datagram of direction `dir`; transactions go to `ev`.
    pub fn datagram(
        &mut self,
        dir: usize,
        data: &[u8],
        meta: &mut AppMeta,
        ev: &mut Events,
    ) -> UdpStep {
        match self {
            UdpSession::Dhcp => {
                match crate::dhcp::parse(data) {
                    Some(m) => meta.dhcp.get_or_insert_with(Default::default).add(&m, ev),
                    None => meta.anomalies |= flags::MALFORMED,
                }
                UdpStep::Continue
            }
            UdpSession::Dhcp6 => {
                match crate::dhcp::parse6(data) {
                    Some(m) => meta.dhcp.get_or_insert_with(Default::default).add(&m, ev),
                    None => meta.anomalies |= flags::MALFORMED,
                }
                UdpStep::Continue
            }
            UdpSession::Kerberos => {
                match crate::kerberos::parse(data) {
                    Some(m) => meta.krb.get_or_insert_with(Default::default).add(&m, ev),
                    None => meta.anomalies |= flags::MALFORMED,
                }
                UdpStep::Continue
            }
            UdpSession::Dns => {
                match dns::parse(data) {
                    Outcome::Parsed(m) => {
                        meta.dns.get_or_insert_with(Default::default).add(&m);
                        dns::event(&m, data.len(), ev);
                    }
                    _ => meta.anomalies |= flags::MALFORMED,
                }
                UdpStep::Continue
            }
            UdpSession::Quic(q) => {
                let d = dir.min(1);
                if q.done[d] {
                    return UdpStep::Continue;
                }
                q.seen[d] = q.seen[d].saturating_add(1);
                match q.session.datagram(data, d, &mut meta.anomalies) {
                    QuicStep::Hello => {
                        q.done[d] = true;
                        let tls = meta.tls.get_or_insert_with(Default::default);
                        match q.session.hello(d) {
                            Some(body) if d == 0 => {
                                let ok = tls.client_hello(body, true, &mut meta.anomalies);
                                if ok {
                                    tls.client_event(ev);
                                }
                            }
                            Some(body) => match tls::server_hello(body) {
                                Some(sh) => {
                                    tls.server_hello(&sh);
                                    tls.server_event(ev);
                                }
                                None => meta.anomalies |= flags::MALFORMED,
                            },
                            None => {}
                        }
                    }
                    QuicStep::Malformed => q.done[d] = true,
                    QuicStep::NeedMore | QuicStep::Ignored => {}
                }
                // The server's hello comes in its first datagrams, if at all.
                if q.seen[1] >= QUIC_SERVER_DATAGRAMS {
                    q.done[1] = true;
                }
                if q.done[0] && q.done[1] {
                    UdpStep::Done
                } else {
                    UdpStep::Continue
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlmssp::tests::auth_msg;
    use base64::Engine;

    fn feed(s: &mut AppSession, meta: &mut AppMeta, ev: &mut Events, dir: usize, b: &[u8]) {
        let mut pos = 0;
        while pos < b.len() {
            match s.parse(dir, &b[pos..], meta, ev) {
                Step::Consumed(n) => pos += n,
                _ => break,
            }
        }
    }

    #[test]
    fn ntlm_over_http_is_recorded_with_its_outcome() {
        let b64 = |m: &[u8]| base64::engine::general_purpose::STANDARD.encode(m);
        let mut meta = AppMeta::default();
        let mut ev = Events::new();
        let mut s = AppSession::new(AppProto::Http, &mut meta).unwrap();
        for (user, status) in [("guess", 401), ("alice", 200)] {
            let req = format!(
                "GET /ews HTTP/1.1\r\nHost: mail\r\nAuthorization: NTLM {}\r\n\r\n",
                b64(&auth_msg("CORP", user, "WS7", 24))
            );
            feed(&mut s, &mut meta, &mut ev, 0, req.as_bytes());
            let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
            feed(&mut s, &mut meta, &mut ev, 1, resp.as_bytes());
        }
        // Negotiate wraps the same message in SPNEGO: found by its signature.
        let spnego = [
            &[0xa1, 0x81, 0x90, 0x30][..],
            &auth_msg("CORP", "bob", "WS7", 24),
        ]
        .concat();
        let req = format!(
            "GET / HTTP/1.1\r\nAuthorization: Negotiate {}\r\n\r\n",
            b64(&spnego)
        );
        feed(&mut s, &mut meta, &mut ev, 0, req.as_bytes());
        let n = meta.ntlm.unwrap();
        assert_eq!(n.users, vec!["CORP\\guess", "CORP\\alice", "CORP\\bob"]);
        assert_eq!((n.attempts, n.failures, n.successes), (3, 1, 1));
        assert_eq!(n.failed_users, vec!["CORP\\guess"]);
        assert_eq!(n.workstation.as_deref(), Some("WS7"));
    }
}
