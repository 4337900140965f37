//! The compact events that flow workers send to the host stage.
//!
//! A worker sees the packets of the flows its address pairs hash to; a
//! detector that counts across flows (scans, sweeps, guessing, floods,
//! beacons) must see every flow of a host. So workers turn what matters into
//! small, plain events (a flow started, a probe was refused, a login failed,
//! a DNS name was asked) stamped with packet time, and the host stage merges
//! them from every worker in packet-time order. Events are `Copy`, hold no
//! heap data (names are cut to an inline buffer), and are only raised for
//! packets that change what a detector knows, never for every packet.

use std::fmt;
use std::net::IpAddr;

/// A flow as events name it: its identifier and its endpoints, originator
/// first (for ICMP the ports are type and code, as in the flow record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowRef {
    /// `flow_uid` of the flow's records (0 when the event has no flow, ARP).
    pub uid: i64,
    /// IP protocol (0 for ARP).
    pub proto: u8,
    /// Outer VLAN id + 1 (0 untagged).
    pub vlan: u16,
    /// Originator address.
    pub orig: IpAddr,
    /// Originator port.
    pub orig_port: u16,
    /// Responder address.
    pub resp: IpAddr,
    /// Responder port.
    pub resp_port: u16,
}

/// Application services that detectors tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Service {
    /// Not known.
    Unknown = 0,
    /// SSH.
    Ssh,
    /// RDP.
    Rdp,
    /// FTP control.
    Ftp,
    /// Telnet.
    Telnet,
    /// HTTP (basic, digest, NTLM or form authentication).
    Http,
    /// SMB.
    Smb,
    /// MySQL.
    Mysql,
    /// PostgreSQL.
    Postgres,
    /// Microsoft SQL Server (TDS).
    Mssql,
    /// Oracle (TNS).
    Oracle,
    /// Redis.
    Redis,
    /// MongoDB.
    Mongo,
    /// VNC.
    Vnc,
    /// POP3.
    Pop3,
    /// IMAP.
    Imap,
    /// SMTP submission.
    Smtp,
    /// TLS of an unknown service.
    Tls,
    /// DNS.
    Dns,
    /// Kerberos.
    Kerberos,
}

impl Service {
    /// Lower-case name (evidence, configuration keys).
    pub fn name(self) -> &'static str {
        match self {
            Service::Unknown => "unknown",
            Service::Ssh => "ssh",
            Service::Rdp => "rdp",
            Service::Ftp => "ftp",
            Service::Telnet => "telnet",
            Service::Http => "http",
            Service::Smb => "smb",
            Service::Mysql => "mysql",
            Service::Postgres => "postgresql",
            Service::Mssql => "mssql",
            Service::Oracle => "oracle",
            Service::Redis => "redis",
            Service::Mongo => "mongodb",
            Service::Vnc => "vnc",
            Service::Pop3 => "pop3",
            Service::Imap => "imap",
            Service::Smtp => "smtp",
            Service::Tls => "tls",
            Service::Dns => "dns",
            Service::Kerberos => "kerberos",
        }
    }

    /// The service usually found on a TCP port.
    pub fn of_tcp_port(port: u16) -> Service {
        match port {
            22 | 2222 => Service::Ssh,
            3389 => Service::Rdp,
            21 => Service::Ftp,
            23 | 2323 => Service::Telnet,
            80 | 8080 | 8000 | 8008 | 8888 => Service::Http,
            139 | 445 => Service::Smb,
            3306 => Service::Mysql,
            5432 => Service::Postgres,
            1433 => Service::Mssql,
            1521 => Service::Oracle,
            6379 => Service::Redis,
            27017 => Service::Mongo,
            5900..=5903 => Service::Vnc,
            110 => Service::Pop3,
            143 => Service::Imap,
            587 | 465 => Service::Smtp,
            53 => Service::Dns,
            _ => Service::Unknown,
        }
    }

    /// True when logins over it are encrypted, so failures show only in the
    /// pattern of connections.
    pub fn encrypted(self) -> bool {
        matches!(
            self,
            Service::Ssh | Service::Rdp | Service::Tls | Service::Smb | Service::Vnc
        )
    }
}

/// A string cut to `N` bytes, held inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> ShortStr<N> {
    /// The last `N` bytes of `s` (cut at a character boundary), and whether
    /// anything was cut off.
    pub fn tail(s: &str) -> (Self, bool) {
        let n = N.min(255);
        if s.len() <= n {
            return (ShortStr::new(s), false);
        }
        let mut start = s.len() - n;
        while !s.is_char_boundary(start) {
            start += 1;
        }
        (ShortStr::new(&s[start..]), true)
    }

    /// The first `N` bytes of `s` (cut at a character boundary).
    pub fn new(s: &str) -> Self {
        let mut n = s.len().min(N).min(255);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        let mut bytes = [0u8; N];
        bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        ShortStr {
            len: n as u8,
            bytes,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl<const N: usize> Default for ShortStr<N> {
    fn default() -> Self {
        ShortStr {
            len: 0,
            bytes: [0; N],
        }
    }
}

impl<const N: usize> fmt::Debug for ShortStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What a DNS message said, reduced to what tunnel detection needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DnsEvent {
    /// A response (else a query).
    pub response: bool,
    /// Query type.
    pub qtype: u16,
    /// Response code (responses).
    pub rcode: u8,
    /// Hash of the registrable domain the name is under (series are keyed
    /// by it).
    pub base_hash: u64,
    /// Hash of the whole name, lower-cased (distinct names are counted by it).
    pub name_hash: u64,
    /// Bytes of the name before the base domain, dots left out (what a
    /// tunnel carries).
    pub sub_len: u16,
    /// Labels before the base domain.
    pub sub_labels: u8,
    /// Shannon entropy of the characters before the base domain, bits.
    pub sub_entropy: f32,
    /// The longest label's length.
    pub max_label: u8,
    /// Size of the DNS message, bytes.
    pub size: u16,
    /// The name's last bytes, lower-cased: the base domain and what
    /// precedes it, for evidence.
    pub tail: ShortStr<72>,
    /// Bytes of the base domain at the end of `tail`.
    pub base_len: u8,
    /// The name was longer than `tail`.
    pub cut: bool,
}

impl DnsEvent {
    /// The base domain (`cloudsync-api.net`), as far as `tail` holds it.
    pub fn base(&self) -> &str {
        let t = self.tail.as_str();
        let n = usize::from(self.base_len).min(t.len());
        let mut start = t.len() - n;
        while !t.is_char_boundary(start) {
            start += 1;
        }
        &t[start..]
    }

    /// The name for evidence: its tail, `…` before it when cut.
    pub fn sample(&self) -> String {
        if self.cut {
            format!("\u{2026}{}", self.tail.as_str())
        } else {
            self.tail.as_str().to_string()
        }
    }
}

/// What a login attempt came to, as the protocol showed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Refused (FTP 530, Telnet "Login incorrect", HTTP 401 to credentials...).
    Failed,
    /// Accepted.
    Succeeded,
    /// Tried, outcome not shown (a form login answered without a redirect).
    Attempted,
}

/// A finding of a flow-level detector (indicator match, mining protocol,
/// abnormal flags), deduplicated by the host stage like any other.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Detector name.
    pub detector: &'static str,
    /// Signature id.
    pub signature_id: u32,
    /// Message.
    pub signature: String,
    /// Techniques, primary first.
    pub techniques: Vec<String>,
    /// Classification (Suricata classtype).
    pub classtype: &'static str,
    /// The host to blame is the responder (for example a client reached a
    /// listed server: the attacker is the server).
    pub attacker_is_resp: bool,
    /// Evidence.
    pub evidence: serde_json::Map<String, serde_json::Value>,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// A flow's first packet.
    Start {
        /// TCP flags of the packet (0 for other protocols).
        flags: u8,
        /// Its payload bytes.
        payload: u32,
        /// IP fragments it was made of (0 when not fragmented).
        frags: u16,
        /// The packet came from the responder: a capture that starts with
        /// a SYN-ACK (the SYN was never seen, as backscatter and reflected
        /// SYN-ACKs are).
        from_resp: bool,
        /// The datagram's fragments never all arrived.
        incomplete: bool,
    },
    /// The responder answered a SYN with SYN-ACK.
    Accepted,
    /// The responder refused: a RST before any SYN-ACK.
    Refused,
    /// An ICMP destination-unreachable message from the responder of this
    /// (ICMP) flow quoting a packet that went the other way: a probe of
    /// `port` over `proto` from `to` was refused.
    Unreachable {
        /// Protocol of the quoted packet.
        proto: u8,
        /// Who sent the quoted packet (the prober).
        to: IpAddr,
        /// Destination port of the quoted packet.
        port: u16,
    },
    /// The first payload from the responder: a service answered.
    Answered,
    /// The first payload from the originator.
    Spoke,
    /// Mail or files handed over by a cleartext transfer protocol: an SMTP
    /// message (`orig_bytes` its size) or the bytes of an FTP data
    /// connection each way.
    Upload {
        /// SMTP or FTP.
        service: Service,
        /// Bytes the originator sent.
        orig_bytes: u64,
        /// Bytes the responder sent.
        resp_bytes: u64,
    },
    /// A TCP connection closed (FIN both ways, or RST).
    Closed {
        /// The three-way handshake completed.
        established: bool,
        /// Payload bytes from the originator.
        orig_bytes: u64,
        /// Payload bytes from the responder.
        resp_bytes: u64,
        /// Packets from the originator.
        orig_pkts: u32,
        /// Packets from the responder.
        resp_pkts: u32,
        /// First to last packet, µs.
        duration_us: u64,
        /// The service the flow spoke, when recognised.
        service: Service,
    },
    /// The flow carried more: packets and payload bytes since the last
    /// volume event of the flow (raised every few hundred packets or
    /// megabyte of payload, so floods and transfers are seen as they go).
    Volume {
        /// Packets from the originator.
        orig_pkts: u32,
        /// Packets from the responder.
        resp_pkts: u32,
        /// Fragments among them.
        frags: u32,
        /// Payload bytes from the originator.
        orig_bytes: u64,
        /// Payload bytes from the responder.
        resp_bytes: u64,
    },
    /// A DNS message.
    Dns(DnsEvent),
    /// A login over `service` and its outcome.
    Login {
        /// Service.
        service: Service,
        /// Outcome.
        outcome: LoginOutcome,
        /// A hash of the account tried (0 when the protocol does not show it).
        account: u32,
    },
    /// An ARP request (`orig` asks who has `resp`) or reply (`orig` is at
    /// its hardware address, told to `resp`).
    Arp {
        /// A reply rather than a request.
        reply: bool,
    },
    /// A flow-level finding.
    Finding(Box<Finding>),
    /// A signature matched (the host stage's owner applies thresholds and
    /// raises the alert).
    Rule(Box<RuleHit>),
    /// A Windows remote operation, from the originator (the client) to the
    /// responder, read from SMB and DCE/RPC.
    Windows(WinOp),
    /// A DHCP message.
    Dhcp(DhcpEvent),
}

/// A DHCP message as the DHCP detector needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DhcpEvent {
    /// Message type (1 DISCOVER, 2 OFFER, 3 REQUEST, 5 ACK ...).
    pub msg_type: u8,
    /// A hash of the client hardware address.
    pub mac: u32,
    /// The server identifier (offers and acknowledgements), or the
    /// answering server's address (DHCPv6).
    pub server: Option<std::net::IpAddr>,
}

/// Windows remote operations that detectors tell apart (from SMB writes
/// and DCE/RPC requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WinOp {
    /// An executable or script written to an administrative share
    /// (`ADMIN$`, `C$` ...).
    AdminShareWrite,
    /// A service created (svcctl `RCreateService*`).
    ServiceCreate,
    /// A service started (svcctl `RStartService*`).
    ServiceStart,
    /// An `at` job added (atsvc `NetrJobAdd`).
    AtJob,
    /// A scheduled task registered or run (ITaskSchedulerService).
    Task,
    /// A WMI method executed (IWbemServices `ExecMethod`).
    WmiExec,
    /// A DCOM object activated remotely (IRemoteSCMActivator, IActivation).
    DcomActivate,
    /// A DCOM automation call (IDispatch `Invoke`).
    DcomInvoke,
    /// Directory replication asked (drsuapi `DRSGetNCChanges`).
    DrsReplicate,
    /// A Netlogon secure-channel challenge or authentication.
    NetlogonAuth,
    /// A SAM query of accounts (users, names, an account's groups).
    AccountQuery,
    /// A SAM query of groups and their members.
    GroupQuery,
    /// Shares enumerated (srvsvc `NetrShareEnum`).
    ShareEnum,
    /// Endpoints listed from the endpoint mapper (`ept_lookup`).
    EptLookup,
    /// An SMB1 transaction declaring more data than any client sends
    /// (EternalBlue).
    SmbOversizedTrans,
    /// An SMB1 Trans2 SESSION_SETUP (DoublePulsar's channel).
    SmbImplantPing,
    /// An implant answering it.
    SmbImplantAnswer,
    /// An SMB3 compression transform out of range (SMBGhost).
    SmbBadCompression,
    /// A Netlogon challenge or authentication carrying an all-zero client
    /// credential (Zerologon, CVE-2020-1472).
    NetlogonZeroCredential,
    /// An RDP connection request (client to server).
    RdpConnect,
    /// A Kerberos logon refused for an unknown, revoked or wrongly
    /// authenticated principal (a hash of the principal's name).
    KrbRefused(u32),
    /// A ticket asked with RC4 alone for a service (a hash of the service
    /// principal's name): what Kerberoasting asks.
    KrbRc4Service(u32),
    /// An AS-REP answering a request without pre-authentication (a hash of
    /// the principal): AS-REP roasting's material.
    KrbAsRepNoPreauth(u32),
}

/// What every alert of one signature says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    /// Generator id.
    pub gid: u32,
    /// Signature id.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// Message.
    pub msg: String,
    /// The rule's action (`alert`, `drop`...): Mekong only alerts.
    pub action: String,
    /// Classtype (empty when none).
    pub classtype: String,
    /// The classtype's description.
    pub category: String,
    /// Priority.
    pub severity: u8,
    /// Metadata, values grouped by key in order (as EVE writes them).
    pub metadata: Vec<(String, Vec<String>)>,
    /// ATT&CK technique ids (from metadata, or the documented classtype
    /// mapping).
    pub techniques: Vec<String>,
    /// `target`: `Some(true)` the source is the target, `Some(false)` the
    /// destination.
    pub target_is_src: Option<bool>,
}

/// A signature's match: the rule, and the packet or message's direction.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleHit {
    /// The rule's index in its rule set.
    pub rule: u32,
    /// What its alerts say.
    pub meta: std::sync::Arc<RuleMeta>,
    /// Source of the packet or message.
    pub src: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// From the client.
    pub to_server: bool,
    /// Application protocol of the flow (`http`...), when known.
    pub app_proto: Option<&'static str>,
    /// Matched in the stream (else a packet or a transaction).
    pub stream: bool,
}

/// One event: when, which flow, what.
#[derive(Clone, Debug, PartialEq)]
pub struct HostEvent {
    /// Packet time, ns since the epoch.
    pub ts_ns: u64,
    /// The flow.
    pub flow: FlowRef,
    /// What happened.
    pub kind: EventKind,
}

impl HostEvent {
    /// A rank of the kind, for ordering events of the same time.
    pub fn kind_rank(&self) -> u8 {
        match &self.kind {
            EventKind::Start { .. } => 0,
            EventKind::Accepted => 1,
            EventKind::Refused => 2,
            EventKind::Unreachable { .. } => 3,
            EventKind::Answered => 4,
            EventKind::Spoke => 5,
            EventKind::Closed { .. } => 6,
            EventKind::Volume { .. } => 7,
            EventKind::Dns(_) => 8,
            EventKind::Login { .. } => 9,
            EventKind::Arp { .. } => 10,
            EventKind::Finding(_) => 11,
            EventKind::Rule(_) => 12,
            EventKind::Windows(_) => 13,
            EventKind::Dhcp(_) => 14,
            EventKind::Upload { .. } => 15,
        }
    }

    /// The key that orders events of the same packet time independently of
    /// which worker saw them: kind, then the flow's endpoints.
    pub fn order_key(&self) -> (u64, u8, [u8; 16], [u8; 16], u16, u16, u8, u16) {
        fn b(a: IpAddr) -> [u8; 16] {
            match a {
                IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
                IpAddr::V6(v) => v.octets(),
            }
        }
        let f = &self.flow;
        (
            self.ts_ns,
            self.kind_rank(),
            b(f.orig),
            b(f.resp),
            f.orig_port,
            f.resp_port,
            f.proto,
            f.vlan,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_cut_at_character_boundaries() {
        let s = ShortStr::<4>::new("ab\u{e9}\u{e9}");
        assert_eq!(s.as_str(), "ab\u{e9}");
        assert_eq!(ShortStr::<8>::new("abc").as_str(), "abc");
        assert_eq!(ShortStr::<8>::default().as_str(), "");
    }

    #[test]
    fn events_stay_small() {
        // Events cross threads by the hundred thousand: keep them compact.
        assert!(
            std::mem::size_of::<HostEvent>() <= 256,
            "{}",
            std::mem::size_of::<HostEvent>()
        );
    }
}
