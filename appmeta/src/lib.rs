//! Mekong's application-metadata parsers.
//!
//! What flows say about themselves: the names they resolve (DNS), the TLS
//! ClientHello and its fingerprints (JA4, JA3, JA3S) and the server's
//! certificate, HTTP/1.x request and response heads, SSH banners and
//! HASSH, and the ClientHello inside QUIC Initial packets.
//!
//! Every parser is a pure function (or a small state machine) over bytes:
//! it returns an [`Outcome`] or a [`Step`], never panics, and allocates only
//! within bounds set by its input and the constants of its module. The
//! sensor feeds them the in-order bytes of each direction of a flow and
//! keeps what they find in an [`AppMeta`], one per flow record.

pub mod db;
pub mod dcerpc;
pub mod dhcp;
pub mod dns;
pub mod event;
pub mod fingerprint;
pub mod ftp;
pub mod heartbeat;
pub mod http;
pub mod kerberos;
pub mod login;
pub mod mining;
pub mod ntlm;
pub mod ntlmssp;
pub mod quic;
pub mod rdp;
pub mod reader;
pub mod session;
pub mod smb;
pub mod smtp;
pub mod ssh;
pub mod text;
pub mod tls;
pub mod tls_session;
pub mod x509;

pub use event::{AppEvent, Events};
pub use session::{AppSession, UdpSession};

/// The result of parsing a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Parsed.
    Parsed(T),
    /// More bytes are needed to decide.
    Incomplete,
    /// Not this protocol.
    NotThis,
    /// This protocol, but broken.
    Malformed,
}

/// What a stream parser did with the bytes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Used this many bytes from the start (more than zero); call again with the rest.
    Consumed(usize),
    /// Needs more bytes than were given; call again with them and more.
    NeedMore,
    /// Has all it wants from this direction.
    Done,
    /// The bytes break the protocol: stop parsing this direction.
    Malformed,
}

/// The end of the line at the start of `data` (the index of its `\n`), or
/// the step to return: more bytes while fewer than `max` are there without
/// one, malformed beyond.
pub(crate) fn line_end(data: &[u8], max: usize) -> Result<usize, Step> {
    match data.iter().take(max).position(|&c| c == b'\n') {
        Some(nl) => Ok(nl),
        None if data.len() >= max => Err(Step::Malformed),
        None => Err(Step::NeedMore),
    }
}

/// Longest list kept in a record column.
pub const MAX_LIST: usize = 32;

/// Appends `v` to `list` unless it is empty or there already; a list full
/// at `max` sets `cut` instead.
pub(crate) fn push_distinct(list: &mut Vec<String>, v: &str, max: usize, cut: &mut bool) {
    if v.is_empty() || list.iter().any(|x| x == v) {
        return;
    }
    if list.len() >= max {
        *cut = true;
        return;
    }
    list.push(v.to_string());
}

/// Bits of the `app_anomalies` column (defined with the schema).
pub use mekong_schema::app_anomaly as flags;

/// Application protocols recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppProto {
    /// DNS over UDP or TCP.
    Dns,
    /// TLS over TCP.
    Tls,
    /// HTTP/1.x.
    Http,
    /// SSH.
    Ssh,
    /// QUIC (v1 or v2).
    Quic,
    /// FTP control.
    Ftp,
    /// An FTP data connection (announced on its control connection).
    FtpData,
    /// SMTP (and submission).
    Smtp,
    /// Telnet.
    Telnet,
    /// POP3.
    Pop3,
    /// IMAP.
    Imap,
    /// SMB1 or SMB2/3 (445, or 139 through the NetBIOS session service).
    Smb,
    /// DCE/RPC over TCP (the endpoint mapper on 135 and the ports it hands out).
    DceRpc,
    /// Kerberos (UDP and TCP 88).
    Kerberos,
    /// DHCP (UDP 67 and 68).
    Dhcp,
    /// RDP (its connection negotiation).
    Rdp,
    /// MySQL or MariaDB (its login).
    Mysql,
    /// PostgreSQL (its login).
    Postgres,
    /// Microsoft SQL Server's TDS (its login).
    Mssql,
    /// A mining protocol (stratum, a pool's JSON-RPC login) on any port.
    Mining,
}

impl AppProto {
    /// The value of the `app_proto` column.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Dns => "dns",
            AppProto::Tls => "tls",
            AppProto::Http => "http",
            AppProto::Ssh => "ssh",
            AppProto::Quic => "quic",
            AppProto::Ftp => "ftp",
            AppProto::FtpData => "ftp-data",
            AppProto::Smtp => "smtp",
            AppProto::Telnet => "telnet",
            AppProto::Pop3 => "pop3",
            AppProto::Imap => "imap",
            AppProto::Smb => "smb",
            AppProto::DceRpc => "dcerpc",
            AppProto::Kerberos => "krb5",
            AppProto::Dhcp => "dhcp",
            AppProto::Rdp => "rdp",
            AppProto::Mysql => "mysql",
            AppProto::Postgres => "pgsql",
            AppProto::Mssql => "tds",
            AppProto::Mining => "mining",
        }
    }
}

/// The application metadata of one flow record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppMeta {
    /// Protocol recognised.
    pub proto: Option<AppProto>,
    /// `app_anomalies` bits ([`flags`]).
    pub anomalies: u32,
    /// DNS.
    pub dns: Option<dns::DnsMeta>,
    /// TLS (over TCP, or from QUIC's Initial).
    pub tls: Option<tls_session::TlsMeta>,
    /// HTTP/1.x.
    pub http: Option<http::HttpMeta>,
    /// SSH.
    pub ssh: Option<ssh::SshMeta>,
    /// QUIC version.
    pub quic_version: Option<u32>,
    /// SMB.
    pub smb: Option<Box<smb::SmbMeta>>,
    /// DCE/RPC (over TCP or SMB named pipes).
    pub dcerpc: Option<Box<dcerpc::DceRpcMeta>>,
    /// NTLM authentications (over SMB or DCE/RPC).
    pub ntlm: Option<Box<ntlm::NtlmMeta>>,
    /// Kerberos.
    pub krb: Option<Box<kerberos::KrbMeta>>,
    /// DHCP.
    pub dhcp: Option<Box<dhcp::DhcpMeta>>,
    /// RDP.
    pub rdp: Option<Box<rdp::RdpMeta>>,
    /// Logins judged (FTP, Telnet, POP3, IMAP, SMTP, databases).
    pub login: Option<Box<login::LoginMeta>>,
    /// FTP control or data connection.
    pub ftp: Option<Box<ftp::FtpMeta>>,
    /// SMTP.
    pub smtp: Option<Box<smtp::SmtpMeta>>,
    /// A mining protocol.
    pub mining: Option<Box<mining::MiningMeta>>,
    /// TLS heartbeat records.
    pub heartbeat: Option<heartbeat::HeartbeatMeta>,
}

impl AppMeta {
    /// Starts the next record of the same flow: counts restart, what
    /// identifies the flow (names, fingerprints, first messages) stays.
    pub fn new_piece(&mut self) {
        if let Some(d) = &mut self.dns {
            d.new_piece();
        }
        if let Some(h) = &mut self.http {
            h.requests = 0;
            h.responses = 0;
        }
        if let Some(l) = &mut self.login {
            let user = l.user.take();
            **l = login::LoginMeta {
                user,
                ..Default::default()
            };
        }
        self.anomalies = 0;
    }
}
