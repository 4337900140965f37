//! Per-transaction application events: every HTTP request and response of a
//! keep-alive connection, every DNS message, every TLS hello and
//! certificate, every SSH banner and key exchange, every login outcome.
//!
//! A flow record keeps the first of each (and counts); detectors and rules
//! see every transaction. Parsers push events into an [`Events`] buffer the
//! caller owns and clears: text goes into one reused string and events into
//! one reused list, so steady-state parsing allocates nothing. Readers get
//! borrowed [`AppEvent`]s.

use std::ops::Range;

use crate::text::push_text;

/// Longest text kept of one field of an event.
pub const MAX_FIELD: usize = 1024;

/// Protocols whose logins the parsers judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginProto {
    /// FTP (`USER`/`PASS`, then `230` or `530`).
    Ftp,
    /// Telnet (a `login:` prompt, then the shell or `Login incorrect`).
    Telnet,
    /// POP3 (`USER`/`PASS` or `APOP`, then `+OK` or `-ERR`).
    Pop3,
    /// IMAP (`LOGIN`, then `OK` or `NO`).
    Imap,
    /// SMTP `AUTH`, then `235` or a `5xx`.
    Smtp,
    /// MySQL (handshake response, then OK or ERR).
    Mysql,
    /// PostgreSQL (startup message, then AuthenticationOk or an error).
    Postgres,
    /// Microsoft SQL Server (TDS LOGIN7, then LOGINACK or an error).
    Mssql,
    /// SMB session setup (NTLM or Kerberos), judged by the answer's status.
    Smb,
}

/// Signs of SMB exploitation a parser reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmbSign {
    /// An SMB1 NT Trans request declaring more than 65,535 bytes of data
    /// (MS17-010, EternalBlue).
    OversizedTransaction,
    /// An SMB1 Trans2 SESSION_SETUP request (DoublePulsar's ping and
    /// command channel, EternalBlue's check).
    Trans2SessionSetup,
    /// An answer to one with the multiplex id moved by 16: the implant
    /// answering.
    BackdoorAnswer,
    /// An SMB3 compression transform whose offset or size does not fit the
    /// message (CVE-2020-0796, SMBGhost).
    BadCompression,
}

/// What an SMB event did to a file or pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmbAction {
    /// Opened an existing file.
    Open,
    /// Created (or overwrote) a file.
    Create,
    /// Opened a named pipe (on `IPC$`).
    OpenPipe,
    /// Wrote bytes to a file.
    Write,
}

/// What a login came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginResult {
    /// Refused.
    Failed,
    /// Accepted.
    Succeeded,
}

/// One application event, borrowed from the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEvent<'a> {
    /// An HTTP request head.
    HttpRequest {
        /// Method.
        method: &'a str,
        /// Request target.
        uri: &'a str,
        /// Host header.
        host: Option<&'a str>,
        /// User-Agent header.
        user_agent: Option<&'a str>,
        /// The scheme of the Authorization header (`Basic`, `NTLM`...);
        /// the credentials themselves are never kept.
        auth_scheme: Option<&'a str>,
        /// Content-Type header.
        content_type: Option<&'a str>,
        /// Declared body length.
        content_length: Option<u64>,
    },
    /// An HTTP response head.
    HttpResponse {
        /// Status code.
        status: u16,
        /// Content-Type header.
        content_type: Option<&'a str>,
        /// A WWW-Authenticate or Proxy-Authenticate header was present.
        challenge: bool,
    },
    /// A DNS message.
    Dns {
        /// A response (else a query).
        response: bool,
        /// Transaction id.
        id: u16,
        /// First question's name.
        qname: Option<&'a str>,
        /// First question's type.
        qtype: u16,
        /// Response code.
        rcode: u8,
        /// Answer records.
        answers: u16,
        /// Message size, bytes.
        size: u32,
    },
    /// A TLS ClientHello (over TCP or in QUIC's Initial).
    TlsClientHello {
        /// Server name.
        sni: Option<&'a str>,
        /// JA3.
        ja3: Option<&'a str>,
        /// JA4.
        ja4: Option<&'a str>,
    },
    /// A TLS ServerHello.
    TlsServerHello {
        /// JA3S.
        ja3s: Option<&'a str>,
        /// Negotiated version.
        version: u16,
        /// Chosen cipher.
        cipher: u16,
    },
    /// The server's certificate (TLS 1.2 and below).
    TlsCertificate {
        /// Subject, RFC 4514.
        subject: &'a str,
        /// Issuer, RFC 4514.
        issuer: &'a str,
        /// SHA-256 of the DER, hex.
        sha256: &'a str,
    },
    /// An SSH version banner.
    SshBanner {
        /// 0 client, 1 server.
        dir: u8,
        /// The banner line.
        banner: &'a str,
    },
    /// An SSH KEXINIT.
    SshKexinit {
        /// 0 client, 1 server.
        dir: u8,
        /// HASSH (client) or HASSHServer.
        hassh: &'a str,
    },
    /// A login and its outcome.
    Login {
        /// Protocol.
        proto: LoginProto,
        /// Outcome.
        result: LoginResult,
        /// The user name offered, when the protocol shows it (never the
        /// secret).
        user: Option<&'a str>,
    },
    /// An FTP command (`arg` is never given for `PASS` and `ACCT`).
    FtpCommand {
        /// The command, upper case (`USER`, `STOR`, `PASV` ...).
        command: &'a str,
        /// Its argument.
        arg: Option<&'a str>,
    },
    /// An FTP data channel announced: by the server's `227`/`229` answer
    /// (passive) or the client's `PORT`/`EPRT` (active). The data connection
    /// goes to `addr` (the control connection's server when `None`) on
    /// `port`.
    FtpData {
        /// Address the data connection goes to.
        addr: Option<std::net::IpAddr>,
        /// Its port.
        port: u16,
        /// Active mode (the server connects to the client).
        active: bool,
    },
    /// A TLS heartbeat record.
    TlsHeartbeat {
        /// 0 from the client, 1 from the server.
        dir: u8,
        /// Record length.
        len: u32,
        /// Payload length a request in the clear declares.
        claimed: Option<u16>,
        /// A sign of Heartbleed ([`crate::heartbeat`]).
        leak: bool,
    },
    /// A DNS message over TCP too long to read whole.
    DnsLong {
        /// Its length.
        len: u16,
        /// A response.
        response: bool,
        /// Type of its first answer record, when the message's start shows it.
        answer_type: Option<u16>,
    },
    /// A mining client's first request (stratum or a pool's JSON-RPC login).
    Mining {
        /// Its method.
        method: &'a str,
        /// The miner's agent, when it sent one.
        agent: Option<&'a str>,
    },
    /// An SMTP message handed over (`DATA` to the final dot, or `BDAT`
    /// chunks to `LAST`).
    SmtpMessage {
        /// Bytes of the message read.
        size: u64,
        /// Recipients given for it.
        rcpts: u32,
        /// Attachments named in its MIME parts.
        attachments: u32,
    },
    /// The raw head of an HTTP request (`dir` 0) or response (1), start
    /// line to blank line, right after its `HttpRequest`/`HttpResponse`
    /// (only when raw data is wanted: [`Events::want_raw`]).
    HttpHead {
        /// 0 request, 1 response.
        dir: u8,
        /// The head as received (at most [`MAX_RAW`] bytes).
        head: &'a [u8],
        /// A body follows.
        body: bool,
    },
    /// Body bytes of the current HTTP message of `dir`, de-chunked, as
    /// they arrive (raw data wanted only).
    HttpBody {
        /// 0 request, 1 response.
        dir: u8,
        /// The bytes.
        data: &'a [u8],
    },
    /// The current HTTP message of `dir` ended (raw data wanted only).
    HttpBodyEnd {
        /// 0 request, 1 response.
        dir: u8,
    },
    /// The DER of the server's certificate, after its `TlsCertificate`
    /// (raw data wanted only).
    TlsCertDer {
        /// DER.
        der: &'a [u8],
    },
    /// The SMB2/3 dialect a server chose.
    SmbNegotiate {
        /// Dialect (0x0202 ... 0x0311).
        dialect: u16,
    },
    /// An SMB tree connect's answer.
    SmbTree {
        /// The path (`\\server\share`).
        share: &'a str,
        /// NT status of the answer.
        status: u32,
    },
    /// A file or pipe opened, created or written over SMB.
    SmbFile {
        /// The tree's path.
        share: &'a str,
        /// The file or pipe name.
        name: &'a str,
        /// What was done.
        action: SmbAction,
        /// Bytes written (writes).
        size: u64,
        /// NT status of the answer (0 for writes, read from the request).
        status: u32,
    },
    /// A sign of SMB exploitation.
    SmbSign {
        /// Which.
        sign: SmbSign,
    },
    /// An RDP client's connection request.
    RdpRequest {
        /// Its cookie (`mstshash=` user name or routing token).
        cookie: Option<&'a str>,
        /// Security protocols asked for (bits: 1 TLS, 2 CredSSP, 8 CredSSP EX).
        requested: u32,
    },
    /// An RDP server's connection confirm.
    RdpResponse {
        /// The protocol chosen.
        selected: Option<u32>,
        /// The refusal code.
        failure: Option<u32>,
    },
    /// A DHCP message.
    Dhcp {
        /// Message type (1 DISCOVER, 2 OFFER, 3 REQUEST, 5 ACK, 6 NAK ...).
        msg_type: u8,
        /// Client hardware address.
        client_mac: Option<&'a str>,
        /// Host name.
        hostname: Option<&'a str>,
        /// Address asked for.
        requested: Option<std::net::IpAddr>,
        /// Address offered or acknowledged.
        offered: Option<std::net::IpAddr>,
        /// Server identifier (DHCPv4 option 54).
        server_id: Option<std::net::IpAddr>,
        /// DHCPv6 (its message types: 1 SOLICIT, 2 ADVERTISE, 3 REQUEST,
        /// 7 REPLY ...).
        v6: bool,
    },
    /// A Kerberos message.
    Kerberos {
        /// Message type (10 AS-REQ, 11 AS-REP, 12 TGS-REQ, 13 TGS-REP, 30
        /// KRB-ERROR).
        msg_type: u8,
        /// Client principal.
        cname: Option<&'a str>,
        /// Realm.
        realm: Option<&'a str>,
        /// Service principal.
        sname: Option<&'a str>,
        /// Error code (KRB-ERROR).
        error_code: Option<i32>,
        /// The request carries pre-authentication.
        preauth: bool,
        /// The request asks for RC4 (`rc4-hmac`, 23) and nothing else.
        rc4_only: bool,
        /// Encryption type of the ticket granted (replies).
        ticket_etype: Option<i32>,
    },
    /// An NTLM AUTHENTICATE message (its responses are never kept).
    NtlmAuth {
        /// User name.
        user: &'a str,
        /// Domain.
        domain: &'a str,
        /// Workstation.
        workstation: &'a str,
        /// Anonymous.
        anonymous: bool,
    },
    /// A DCE/RPC bind (or alter context) to an interface.
    DceRpcBind {
        /// The interface's name, when Mekong names it.
        iface: Option<&'a str>,
        /// Its UUID.
        uuid: &'a str,
    },
    /// A DCE/RPC request.
    DceRpcRequest {
        /// The interface (name, else UUID) of its context, when bound on
        /// this connection.
        iface: Option<&'a str>,
        /// Operation number.
        opnum: u16,
        /// The operation's name, when Mekong names it.
        op: Option<&'a str>,
        /// A Netlogon challenge or authentication whose client challenge or
        /// credential is all zeros (Zerologon, CVE-2020-1472).
        zero_credential: bool,
    },
}

/// Longest raw field copied into an event (heads, body pieces, DER).
pub const MAX_RAW: usize = 64 * 1024;

type Span = Range<u32>;

#[derive(Clone, Debug)]
enum Raw {
    HttpRequest {
        method: Span,
        uri: Span,
        host: Option<Span>,
        user_agent: Option<Span>,
        auth_scheme: Option<Span>,
        content_type: Option<Span>,
        content_length: Option<u64>,
    },
    HttpResponse {
        status: u16,
        content_type: Option<Span>,
        challenge: bool,
    },
    Dns {
        response: bool,
        id: u16,
        qname: Option<Span>,
        qtype: u16,
        rcode: u8,
        answers: u16,
        size: u32,
    },
    TlsClientHello {
        sni: Option<Span>,
        ja3: Option<Span>,
        ja4: Option<Span>,
    },
    TlsServerHello {
        ja3s: Option<Span>,
        version: u16,
        cipher: u16,
    },
    TlsCertificate {
        subject: Span,
        issuer: Span,
        sha256: Span,
    },
    SshBanner {
        dir: u8,
        banner: Span,
    },
    SshKexinit {
        dir: u8,
        hassh: Span,
    },
    Login {
        proto: LoginProto,
        result: LoginResult,
        user: Option<Span>,
    },
    FtpCommand {
        command: Span,
        arg: Option<Span>,
    },
    FtpData {
        addr: Option<std::net::IpAddr>,
        port: u16,
        active: bool,
    },
    SmtpMessage {
        size: u64,
        rcpts: u32,
        attachments: u32,
    },
    Mining {
        method: Span,
        agent: Option<Span>,
    },
    TlsHeartbeat {
        dir: u8,
        len: u32,
        claimed: Option<u16>,
        leak: bool,
    },
    DnsLong {
        len: u16,
        response: bool,
        answer_type: Option<u16>,
    },
    HttpHead {
        dir: u8,
        head: Span,
        body: bool,
    },
    HttpBody {
        dir: u8,
        data: Span,
    },
    HttpBodyEnd {
        dir: u8,
    },
    TlsCertDer {
        der: Span,
    },
    SmbNegotiate {
        dialect: u16,
    },
    SmbTree {
        share: Span,
        status: u32,
    },
    SmbFile {
        share: Span,
        name: Span,
        action: SmbAction,
        size: u64,
        status: u32,
    },
    SmbSign {
        sign: SmbSign,
    },
    RdpRequest {
        cookie: Option<Span>,
        requested: u32,
    },
    RdpResponse {
        selected: Option<u32>,
        failure: Option<u32>,
    },
    Dhcp {
        msg_type: u8,
        client_mac: Option<Span>,
        hostname: Option<Span>,
        requested: Option<std::net::IpAddr>,
        offered: Option<std::net::IpAddr>,
        server_id: Option<std::net::IpAddr>,
        v6: bool,
    },
    Kerberos {
        msg_type: u8,
        cname: Option<Span>,
        realm: Option<Span>,
        sname: Option<Span>,
        error_code: Option<i32>,
        preauth: bool,
        rc4_only: bool,
        ticket_etype: Option<i32>,
    },
    NtlmAuth {
        user: Span,
        domain: Span,
        workstation: Span,
        anonymous: bool,
    },
    DceRpcBind {
        iface: Option<Span>,
        uuid: Span,
    },
    DceRpcRequest {
        iface: Option<Span>,
        opnum: u16,
        op: Option<Span>,
        zero_credential: bool,
    },
}

/// A buffer of events, reused.
#[derive(Clone, Debug, Default)]
pub struct Events {
    text: String,
    raw: Vec<u8>,
    list: Vec<Raw>,
    /// Events refused because the buffer held [`MAX_EVENTS`] already.
    pub dropped: u64,
    /// Raise the raw events too (HTTP heads and bodies, certificate DER):
    /// the rule engine wants them; without rules they cost nothing.
    pub want_raw: bool,
}

/// Events a buffer holds before the caller takes them (one packet's worth
/// is far fewer).
pub const MAX_EVENTS: usize = 4096;

impl Events {
    /// An empty buffer.
    pub fn new() -> Events {
        Events::default()
    }

    /// Forgets every event, keeping the memory.
    pub fn clear(&mut self) {
        self.text.clear();
        self.raw.clear();
        self.list.clear();
    }

    fn raw_span(&mut self, b: &[u8]) -> Span {
        let start = self.raw.len();
        self.raw.extend_from_slice(&b[..b.len().min(MAX_RAW)]);
        start as u32..self.raw.len() as u32
    }

    fn r(&self, r: &Span) -> &[u8] {
        self.raw
            .get(r.start as usize..r.end as usize)
            .unwrap_or_default()
    }

    /// Adds the raw head of an HTTP message (when raw data is wanted).
    pub fn http_head(&mut self, dir: u8, head: &[u8], body: bool) {
        if self.want_raw {
            let head = self.raw_span(head);
            self.push(Raw::HttpHead { dir, head, body });
        }
    }

    /// Adds body bytes of an HTTP message (when raw data is wanted).
    pub fn http_body(&mut self, dir: u8, data: &[u8]) {
        if self.want_raw && !data.is_empty() {
            let data = self.raw_span(data);
            self.push(Raw::HttpBody { dir, data });
        }
    }

    /// The HTTP message of `dir` ended (when raw data is wanted).
    pub fn http_body_end(&mut self, dir: u8) {
        if self.want_raw {
            self.push(Raw::HttpBodyEnd { dir });
        }
    }

    /// Adds a certificate's DER (when raw data is wanted).
    pub fn tls_cert_der(&mut self, der: &[u8]) {
        if self.want_raw {
            let der = self.raw_span(der);
            self.push(Raw::TlsCertDer { der });
        }
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn bytes(&mut self, b: &[u8]) -> Span {
        let start = self.text.len();
        push_text(&mut self.text, b, start + MAX_FIELD);
        start as u32..self.text.len() as u32
    }

    fn str(&mut self, s: &str) -> Span {
        self.bytes(s.as_bytes())
    }

    fn opt(&mut self, b: Option<&[u8]>) -> Option<Span> {
        b.map(|b| self.bytes(b))
    }

    fn opt_str(&mut self, s: Option<&str>) -> Option<Span> {
        s.map(|s| self.str(s))
    }

    fn push(&mut self, r: Raw) {
        if self.list.len() >= MAX_EVENTS {
            self.dropped += 1;
            return;
        }
        self.list.push(r);
    }

    /// Adds an HTTP request.
    #[allow(clippy::too_many_arguments)]
    pub fn http_request(
        &mut self,
        method: &[u8],
        uri: &[u8],
        host: Option<&[u8]>,
        user_agent: Option<&[u8]>,
        auth_scheme: Option<&[u8]>,
        content_type: Option<&[u8]>,
        content_length: Option<u64>,
    ) {
        if self.list.len() >= MAX_EVENTS {
            self.dropped += 1;
            return;
        }
        let r = Raw::HttpRequest {
            method: self.bytes(method),
            uri: self.bytes(uri),
            host: self.opt(host),
            user_agent: self.opt(user_agent),
            auth_scheme: self.opt(auth_scheme),
            content_type: self.opt(content_type),
            content_length,
        };
        self.push(r);
    }

    /// Adds an HTTP response.
    pub fn http_response(&mut self, status: u16, content_type: Option<&[u8]>, challenge: bool) {
        let content_type = self.opt(content_type);
        self.push(Raw::HttpResponse {
            status,
            content_type,
            challenge,
        });
    }

    /// Adds a DNS message.
    #[allow(clippy::too_many_arguments)]
    pub fn dns(
        &mut self,
        response: bool,
        id: u16,
        qname: Option<&str>,
        qtype: u16,
        rcode: u8,
        answers: u16,
        size: u32,
    ) {
        let qname = self.opt_str(qname);
        self.push(Raw::Dns {
            response,
            id,
            qname,
            qtype,
            rcode,
            answers,
            size,
        });
    }

    /// Adds a ClientHello.
    pub fn tls_client_hello(&mut self, sni: Option<&str>, ja3: Option<&str>, ja4: Option<&str>) {
        let r = Raw::TlsClientHello {
            sni: self.opt_str(sni),
            ja3: self.opt_str(ja3),
            ja4: self.opt_str(ja4),
        };
        self.push(r);
    }

    /// Adds a ServerHello.
    pub fn tls_server_hello(&mut self, ja3s: Option<&str>, version: u16, cipher: u16) {
        let ja3s = self.opt_str(ja3s);
        self.push(Raw::TlsServerHello {
            ja3s,
            version,
            cipher,
        });
    }

    /// Adds a certificate.
    pub fn tls_certificate(&mut self, subject: &str, issuer: &str, sha256: &str) {
        let r = Raw::TlsCertificate {
            subject: self.str(subject),
            issuer: self.str(issuer),
            sha256: self.str(sha256),
        };
        self.push(r);
    }

    /// Adds an SSH banner of direction `dir`.
    pub fn ssh_banner(&mut self, dir: u8, banner: &str) {
        let banner = self.str(banner);
        self.push(Raw::SshBanner { dir, banner });
    }

    /// Adds an SSH KEXINIT's HASSH of direction `dir`.
    pub fn ssh_kexinit(&mut self, dir: u8, hassh: &str) {
        let hassh = self.str(hassh);
        self.push(Raw::SshKexinit { dir, hassh });
    }

    /// Adds a login outcome.
    pub fn login(&mut self, proto: LoginProto, result: LoginResult, user: Option<&str>) {
        let user = self.opt_str(user);
        self.push(Raw::Login {
            proto,
            result,
            user,
        });
    }

    /// Adds an FTP command.
    pub fn ftp_command(&mut self, command: &str, arg: Option<&[u8]>) {
        let r = Raw::FtpCommand {
            command: self.str(command),
            arg: self.opt(arg),
        };
        self.push(r);
    }

    /// Adds an FTP data channel announced.
    pub fn ftp_data(&mut self, addr: Option<std::net::IpAddr>, port: u16, active: bool) {
        self.push(Raw::FtpData { addr, port, active });
    }

    /// Adds a TLS heartbeat record.
    pub fn tls_heartbeat(&mut self, dir: u8, h: &crate::heartbeat::Heartbeat) {
        self.push(Raw::TlsHeartbeat {
            dir,
            len: h.len,
            claimed: h.claimed,
            leak: h.leak,
        });
    }

    /// Adds a DNS message over TCP too long to read whole.
    pub fn dns_long(&mut self, len: u16, response: bool, answer_type: Option<u16>) {
        self.push(Raw::DnsLong {
            len,
            response,
            answer_type,
        });
    }

    /// Adds a mining client's first request.
    pub fn mining(&mut self, method: &str, agent: Option<&str>) {
        let r = Raw::Mining {
            method: self.str(method),
            agent: self.opt_str(agent),
        };
        self.push(r);
    }

    /// Adds an SMTP message handed over.
    pub fn smtp_message(&mut self, size: u64, rcpts: u32, attachments: u32) {
        self.push(Raw::SmtpMessage {
            size,
            rcpts,
            attachments,
        });
    }

    /// Adds the dialect an SMB server chose.
    pub fn smb_negotiate(&mut self, dialect: u16) {
        self.push(Raw::SmbNegotiate { dialect });
    }

    /// Adds an SMB tree connect's answer.
    pub fn smb_tree(&mut self, share: &str, status: u32) {
        let share = self.str(share);
        self.push(Raw::SmbTree { share, status });
    }

    /// Adds a file or pipe action over SMB.
    pub fn smb_file(&mut self, share: &str, name: &str, action: SmbAction, size: u64, status: u32) {
        let r = Raw::SmbFile {
            share: self.str(share),
            name: self.str(name),
            action,
            size,
            status,
        };
        self.push(r);
    }

    /// Adds a sign of SMB exploitation.
    pub fn smb_sign(&mut self, sign: SmbSign) {
        self.push(Raw::SmbSign { sign });
    }

    /// Adds an RDP connection request.
    pub fn rdp_request(&mut self, cookie: Option<&str>, requested: u32) {
        let cookie = self.opt_str(cookie);
        self.push(Raw::RdpRequest { cookie, requested });
    }

    /// Adds an RDP connection confirm.
    pub fn rdp_response(&mut self, selected: Option<u32>, failure: Option<u32>) {
        self.push(Raw::RdpResponse { selected, failure });
    }

    /// Adds a DHCP message.
    pub fn dhcp(&mut self, m: &crate::dhcp::Message) {
        let r = Raw::Dhcp {
            msg_type: m.msg_type,
            client_mac: self.opt_str(m.client_mac.as_deref()),
            hostname: self.opt_str(m.hostname.as_deref()),
            requested: m.requested,
            offered: m.offered,
            server_id: m.server_id,
            v6: m.v6,
        };
        self.push(r);
    }

    /// Adds a Kerberos message.
    pub fn kerberos(&mut self, m: &crate::kerberos::Message) {
        let r = Raw::Kerberos {
            msg_type: m.msg_type,
            cname: self.opt_str(m.cname.as_deref()),
            realm: self.opt_str(m.realm.as_deref()),
            sname: self.opt_str(m.sname.as_deref()),
            error_code: m.error_code,
            preauth: m.preauth,
            rc4_only: m.etypes == [crate::kerberos::RC4_HMAC],
            ticket_etype: m.ticket_etype,
        };
        self.push(r);
    }

    /// Adds an NTLM AUTHENTICATE message's names.
    pub fn ntlm_auth(&mut self, user: &str, domain: &str, workstation: &str, anonymous: bool) {
        let r = Raw::NtlmAuth {
            user: self.str(user),
            domain: self.str(domain),
            workstation: self.str(workstation),
            anonymous,
        };
        self.push(r);
    }

    /// Adds a DCE/RPC bind to an interface.
    pub fn dcerpc_bind(&mut self, iface: Option<&str>, uuid: &str) {
        let r = Raw::DceRpcBind {
            iface: self.opt_str(iface),
            uuid: self.str(uuid),
        };
        self.push(r);
    }

    /// Adds a DCE/RPC request.
    pub fn dcerpc_request(
        &mut self,
        iface: Option<&str>,
        opnum: u16,
        op: Option<&str>,
        zero_credential: bool,
    ) {
        let r = Raw::DceRpcRequest {
            iface: self.opt_str(iface),
            opnum,
            op: self.opt_str(op),
            zero_credential,
        };
        self.push(r);
    }

    fn s(&self, r: &Span) -> &str {
        self.text
            .get(r.start as usize..r.end as usize)
            .unwrap_or_default()
    }

    fn o(&self, r: &Option<Span>) -> Option<&str> {
        r.as_ref().map(|r| self.s(r))
    }

    /// The `i`th event.
    pub fn get(&self, i: usize) -> Option<AppEvent<'_>> {
        Some(match self.list.get(i)? {
            Raw::HttpRequest {
                method,
                uri,
                host,
                user_agent,
                auth_scheme,
                content_type,
                content_length,
            } => AppEvent::HttpRequest {
                method: self.s(method),
                uri: self.s(uri),
                host: self.o(host),
                user_agent: self.o(user_agent),
                auth_scheme: self.o(auth_scheme),
                content_type: self.o(content_type),
                content_length: *content_length,
            },
            Raw::HttpResponse {
                status,
                content_type,
                challenge,
            } => AppEvent::HttpResponse {
                status: *status,
                content_type: self.o(content_type),
                challenge: *challenge,
            },
            Raw::Dns {
                response,
                id,
                qname,
                qtype,
                rcode,
                answers,
                size,
            } => AppEvent::Dns {
                response: *response,
                id: *id,
                qname: self.o(qname),
                qtype: *qtype,
                rcode: *rcode,
                answers: *answers,
                size: *size,
            },
            Raw::TlsClientHello { sni, ja3, ja4 } => AppEvent::TlsClientHello {
                sni: self.o(sni),
                ja3: self.o(ja3),
                ja4: self.o(ja4),
            },
            Raw::TlsServerHello {
                ja3s,
                version,
                cipher,
            } => AppEvent::TlsServerHello {
                ja3s: self.o(ja3s),
                version: *version,
                cipher: *cipher,
            },
            Raw::TlsCertificate {
                subject,
                issuer,
                sha256,
            } => AppEvent::TlsCertificate {
                subject: self.s(subject),
                issuer: self.s(issuer),
                sha256: self.s(sha256),
            },
            Raw::SshBanner { dir, banner } => AppEvent::SshBanner {
                dir: *dir,
                banner: self.s(banner),
            },
            Raw::SshKexinit { dir, hassh } => AppEvent::SshKexinit {
                dir: *dir,
                hassh: self.s(hassh),
            },
            Raw::Login {
                proto,
                result,
                user,
            } => AppEvent::Login {
                proto: *proto,
                result: *result,
                user: self.o(user),
            },
            Raw::FtpCommand { command, arg } => AppEvent::FtpCommand {
                command: self.s(command),
                arg: self.o(arg),
            },
            Raw::FtpData { addr, port, active } => AppEvent::FtpData {
                addr: *addr,
                port: *port,
                active: *active,
            },
            Raw::TlsHeartbeat {
                dir,
                len,
                claimed,
                leak,
            } => AppEvent::TlsHeartbeat {
                dir: *dir,
                len: *len,
                claimed: *claimed,
                leak: *leak,
            },
            Raw::DnsLong {
                len,
                response,
                answer_type,
            } => AppEvent::DnsLong {
                len: *len,
                response: *response,
                answer_type: *answer_type,
            },
            Raw::Mining { method, agent } => AppEvent::Mining {
                method: self.s(method),
                agent: self.o(agent),
            },
            Raw::SmtpMessage {
                size,
                rcpts,
                attachments,
            } => AppEvent::SmtpMessage {
                size: *size,
                rcpts: *rcpts,
                attachments: *attachments,
            },
            Raw::HttpHead { dir, head, body } => AppEvent::HttpHead {
                dir: *dir,
                head: self.r(head),
                body: *body,
            },
            Raw::HttpBody { dir, data } => AppEvent::HttpBody {
                dir: *dir,
                data: self.r(data),
            },
            Raw::HttpBodyEnd { dir } => AppEvent::HttpBodyEnd { dir: *dir },
            Raw::TlsCertDer { der } => AppEvent::TlsCertDer { der: self.r(der) },
            Raw::SmbNegotiate { dialect } => AppEvent::SmbNegotiate { dialect: *dialect },
            Raw::SmbTree { share, status } => AppEvent::SmbTree {
                share: self.s(share),
                status: *status,
            },
            Raw::SmbFile {
                share,
                name,
                action,
                size,
                status,
            } => AppEvent::SmbFile {
                share: self.s(share),
                name: self.s(name),
                action: *action,
                size: *size,
                status: *status,
            },
            Raw::SmbSign { sign } => AppEvent::SmbSign { sign: *sign },
            Raw::RdpRequest { cookie, requested } => AppEvent::RdpRequest {
                cookie: self.o(cookie),
                requested: *requested,
            },
            Raw::RdpResponse { selected, failure } => AppEvent::RdpResponse {
                selected: *selected,
                failure: *failure,
            },
            Raw::Dhcp {
                msg_type,
                client_mac,
                hostname,
                requested,
                offered,
                server_id,
                v6,
            } => AppEvent::Dhcp {
                msg_type: *msg_type,
                client_mac: self.o(client_mac),
                hostname: self.o(hostname),
                requested: *requested,
                offered: *offered,
                server_id: *server_id,
                v6: *v6,
            },
            Raw::Kerberos {
                msg_type,
                cname,
                realm,
                sname,
                error_code,
                preauth,
                rc4_only,
                ticket_etype,
            } => AppEvent::Kerberos {
                msg_type: *msg_type,
                cname: self.o(cname),
                realm: self.o(realm),
                sname: self.o(sname),
                error_code: *error_code,
                preauth: *preauth,
                rc4_only: *rc4_only,
                ticket_etype: *ticket_etype,
            },
            Raw::NtlmAuth {
                user,
                domain,
                workstation,
                anonymous,
            } => AppEvent::NtlmAuth {
                user: self.s(user),
                domain: self.s(domain),
                workstation: self.s(workstation),
                anonymous: *anonymous,
            },
            Raw::DceRpcBind { iface, uuid } => AppEvent::DceRpcBind {
                iface: self.o(iface),
                uuid: self.s(uuid),
            },
            Raw::DceRpcRequest {
                iface,
                opnum,
                op,
                zero_credential,
            } => AppEvent::DceRpcRequest {
                iface: self.o(iface),
                opnum: *opnum,
                op: self.o(op),
                zero_credential: *zero_credential,
            },
        })
    }

    /// Every event, in order.
    pub fn iter(&self) -> impl Iterator<Item = AppEvent<'_>> {
        (0..self.list.len()).filter_map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_borrow_their_text() {
        let mut e = Events::new();
        e.http_request(
            b"GET",
            b"/a",
            Some(b"example.com"),
            None,
            Some(b"Basic"),
            None,
            None,
        );
        e.dns(false, 7, Some("example.com"), 1, 0, 0, 29);
        e.http_response(401, None, true);
        let v: Vec<AppEvent<'_>> = e.iter().collect();
        assert_eq!(v.len(), 3);
        assert!(matches!(
            v[0],
            AppEvent::HttpRequest {
                uri: "/a",
                host: Some("example.com"),
                auth_scheme: Some("Basic"),
                ..
            }
        ));
        assert!(matches!(
            v[1],
            AppEvent::Dns {
                id: 7,
                qname: Some("example.com"),
                ..
            }
        ));
        assert!(matches!(
            v[2],
            AppEvent::HttpResponse {
                status: 401,
                challenge: true,
                ..
            }
        ));
        e.clear();
        assert!(e.is_empty());
    }

    #[test]
    fn fields_are_bounded_and_printable() {
        let mut e = Events::new();
        let long = vec![b'a'; 5000];
        e.http_request(b"GET", &long, None, Some(b"x\x01y"), None, None, None);
        let Some(AppEvent::HttpRequest {
            uri, user_agent, ..
        }) = e.get(0)
        else {
            panic!()
        };
        assert_eq!(uri.len(), MAX_FIELD);
        assert_eq!(user_agent, Some("x\\x01y"));
    }
}
