//! The detector configuration: thresholds, windows and allow-lists of every
//! detector, read from one TOML file (`signatures/detectors.toml` documents
//! every field with its default).
//!
//! The defaults live here, in the `Default` implementations, and nowhere
//! else: a test checks that the shipped file says exactly these values. A
//! file may set any subset; unknown keys, wrong types and values out of
//! range are errors that name the field (and, for syntax, the line).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::net::{Cidr, IpSet};

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown or of the wrong type
    /// (the message names the key and the line).
    #[error("{path}: {msg}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        msg: String,
    },
    /// A value is out of range.
    #[error("{path}: {field}: {msg}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The field, as `section.key`.
        field: String,
        /// What is wrong.
        msg: String,
    },
}

/// Networks: what is home, and who is never an attacker.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// The protected networks (Suricata's `HOME_NET`): transfers leave them,
    /// beacons call out of them.
    pub home_net: Vec<String>,
    /// Sources never alerted as attackers by any detector (monitoring
    /// systems, vulnerability scanners of the team itself).
    pub allow: Vec<String>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            home_net: vec![
                "10.0.0.0/8".into(),
                "172.16.0.0/12".into(),
                "192.168.0.0/16".into(),
                "fc00::/7".into(),
            ],
            allow: Vec::new(),
        }
    }
}

/// Alert deduplication.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// An incident (one attacker, target and technique) stays open while
    /// new evidence comes within this many seconds of the last; its evidence
    /// is counted, not alerted again.
    pub dedup_window_s: u64,
    /// Most incidents open at once; beyond it the oldest is closed early.
    pub max_open: usize,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            dedup_window_s: 3600,
            max_open: 100_000,
        }
    }
}

/// Vertical port scans: one source probing many ports of one host.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Detector on.
    pub enabled: bool,
    /// Window from the first probe, seconds.
    pub window_s: u64,
    /// Distinct ports probed within the window that make a scan.
    pub min_ports: u32,
    /// Most of the probed ports that may have held a conversation (data
    /// from the service, or from the prober after the handshake) for the
    /// probes to count as a scan, as a share.
    pub max_conversation_ratio: f64,
    /// UDP destination ports that do not count (traceroute's range).
    pub ignore_udp_ports: Vec<String>,
    /// Sources never alerted by this detector.
    pub allow: Vec<String>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            enabled: true,
            window_s: 300,
            min_ports: 15,
            max_conversation_ratio: 0.2,
            ignore_udp_ports: vec!["33434-33534".into()],
            allow: Vec::new(),
        }
    }
}

/// Horizontal sweeps of one port, and ICMP and ARP host sweeps.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SweepConfig {
    /// Detector on.
    pub enabled: bool,
    /// Window from the first probe, seconds.
    pub window_s: u64,
    /// Distinct hosts of one block (an IPv4 /16, an IPv6 /48) probed on
    /// one port (TCP or UDP) within the window.
    pub min_hosts: u32,
    /// Most of the probed hosts that may have held a conversation, as a share.
    pub max_conversation_ratio: f64,
    /// Distinct hosts sent an ICMP echo (or timestamp, address-mask) request.
    pub icmp_min_hosts: u32,
    /// Distinct addresses asked for in ARP requests.
    pub arp_min_hosts: u32,
    /// Sources never alerted by this detector.
    pub allow: Vec<String>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            enabled: true,
            window_s: 300,
            min_hosts: 25,
            max_conversation_ratio: 0.3,
            icmp_min_hosts: 25,
            arp_min_hosts: 40,
            allow: Vec::new(),
        }
    }
}

/// Credential guessing.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BruteConfig {
    /// Detector on.
    pub enabled: bool,
    /// Window from the first attempt, seconds.
    pub window_s: u64,
    /// Failed logins the protocol showed (FTP 530, Telnet "Login
    /// incorrect", HTTP 401 to credentials...) against one target.
    pub min_failures: u32,
    /// Short login-sized connections to one target's encrypted login
    /// service (SSH, RDP, SMB, VNC, databases over TLS) or to a database
    /// port, within the window.
    pub min_connections: u32,
    /// Longest a connection may last to count as one login attempt, seconds.
    pub max_connection_s: u64,
    /// Most payload bytes from the client in such a connection.
    pub max_client_bytes: u64,
    /// Distinct targets of one service a source failed against (or made
    /// login-sized connections to) within the window: password spraying.
    pub spray_min_targets: u32,
    /// Form logins (POST to a login path) to one target within the window.
    pub min_form_posts: u32,
    /// Sources never alerted by this detector.
    pub allow: Vec<String>,
}

impl Default for BruteConfig {
    fn default() -> Self {
        BruteConfig {
            enabled: true,
            window_s: 600,
            min_failures: 5,
            min_connections: 10,
            max_connection_s: 60,
            max_client_bytes: 16_384,
            spray_min_targets: 10,
            min_form_posts: 20,
            allow: Vec::new(),
        }
    }
}

/// Floods and abnormal TCP flags.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FloodConfig {
    /// Detector on.
    pub enabled: bool,
    /// Rates are measured over windows of this many seconds.
    pub window_s: u64,
    /// SYNs per second to one host (new connections not completed).
    pub syn_rate: u32,
    /// Distinct sources among them for the flood to be called spoofed.
    pub spoofed_min_sources: u32,
    /// UDP packets per second to one host.
    pub udp_rate: u32,
    /// ICMP packets per second to one host.
    pub icmp_rate: u32,
    /// IP fragments per second to one host.
    pub frag_rate: u32,
    /// TCP packets with an impossible flag combination (SYN+FIN, SYN+RST,
    /// no flags, FIN+PSH+URG) from one source within the window.
    pub bad_flags_min: u32,
    /// Sources never alerted by this detector (floods from spoofed sources
    /// are keyed by their victim).
    pub allow: Vec<String>,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            enabled: true,
            window_s: 5,
            syn_rate: 300,
            spoofed_min_sources: 100,
            udp_rate: 1500,
            icmp_rate: 500,
            frag_rate: 300,
            bad_flags_min: 10,
            allow: Vec::new(),
        }
    }
}

/// Reflection and amplification: answers without requests.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AmplificationConfig {
    /// Detector on.
    pub enabled: bool,
    /// Window from the first unsolicited answer, seconds.
    pub window_s: u64,
    /// Unsolicited answers (a flow whose first packet came from a reflector
    /// service port) to one host within the window.
    pub min_answers: u32,
    /// Distinct reflectors among them.
    pub min_reflectors: u32,
    /// Bytes of them.
    pub min_bytes: u64,
    /// Services that reflect: UDP source ports (DNS 53, NTP 123, SNMP 161,
    /// SSDP 1900, memcached 11211, CLDAP 389, chargen 19, QOTD 17, portmap
    /// 111, NetBIOS 137, WS-Discovery 3702, mDNS 5353, ISAKMP 500, ...).
    pub udp_ports: Vec<u16>,
    /// SYN-ACKs from this many distinct servers to one host that sent no
    /// SYN (TCP reflection).
    pub synack_min_reflectors: u32,
}

impl Default for AmplificationConfig {
    fn default() -> Self {
        AmplificationConfig {
            enabled: true,
            window_s: 30,
            min_answers: 100,
            min_reflectors: 3,
            min_bytes: 200_000,
            udp_ports: vec![
                17, 19, 53, 69, 111, 123, 137, 161, 177, 389, 500, 520, 1434, 1900, 3283, 3478,
                3702, 4500, 5351, 5353, 5683, 10001, 11211, 27015, 32414, 37810,
            ],
            synack_min_reflectors: 20,
        }
    }
}

/// DNS tunnels and data over DNS.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DnsTunnelConfig {
    /// Detector on.
    pub enabled: bool,
    /// Window from the first query of a client under a base domain, seconds.
    pub window_s: u64,
    /// Distinct names asked by one client under one base domain.
    pub min_names: u32,
    /// Mean length of what precedes the base domain (dots left out), bytes.
    pub min_mean_sub_len: f64,
    /// Mean entropy of what precedes the base domain, bits per character.
    pub min_mean_entropy: f64,
    /// Bytes carried in names before the base domain, summed, for data over
    /// DNS (T1048.003).
    pub exfil_min_bytes: u64,
    /// Distinct names under one base whose answers carried data (TXT, NULL
    /// and the like, averaging 200 bytes or more, at least `exfil_min_bytes`
    /// in all): a download through DNS even when the names are short.
    pub download_min_names: u32,
    /// Base domains never alerted (antivirus and CDN lookups that encode
    /// data in names by design).
    pub allow_domains: Vec<String>,
    /// Clients never alerted by this detector.
    pub allow: Vec<String>,
}

impl Default for DnsTunnelConfig {
    fn default() -> Self {
        DnsTunnelConfig {
            enabled: true,
            window_s: 300,
            min_names: 30,
            min_mean_sub_len: 24.0,
            min_mean_entropy: 3.3,
            exfil_min_bytes: 4096,
            download_min_names: 15,
            allow_domains: vec![
                "mcafee.com".into(),
                "sophosxl.net".into(),
                "e5.sk".into(),
                "trendmicro.com".into(),
                "in-addr.arpa".into(),
                "ip6.arpa".into(),
            ],
            allow: Vec::new(),
        }
    }
}

/// Beaconing: one client calling one server and port at regular intervals.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BeaconConfig {
    /// Detector on.
    pub enabled: bool,
    /// Connections (flow starts) scored, the most recent ones.
    pub min_connections: u32,
    /// Connection starts remembered per client, server and port (the
    /// sliding window of the score).
    pub history: u32,
    /// Starts older than this are forgotten, seconds.
    pub window_s: u64,
    /// Shortest median interval, seconds (faster repetition is not a beacon
    /// but a session).
    pub min_interval_s: f64,
    /// Longest median interval, seconds.
    pub max_interval_s: f64,
    /// Score (0 to 1) from which a series is a beacon.
    pub min_score: f64,
    /// Distinct clients of the same server and port beyond which it is a
    /// shared service, not a command server.
    pub max_clients: u32,
    /// Only calls from `home_net` to outside it.
    pub outbound_only: bool,
    /// Server ports never scored (DNS, NTP: periodic by design).
    pub ignore_ports: Vec<u16>,
    /// Servers never alerted.
    pub allow: Vec<String>,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        BeaconConfig {
            enabled: true,
            min_connections: 10,
            history: 32,
            window_s: 6 * 3600,
            min_interval_s: 5.0,
            max_interval_s: 3600.0,
            min_score: 0.85,
            max_clients: 3,
            outbound_only: true,
            ignore_ports: vec![53, 123, 5353, 137, 138, 1900],
            allow: Vec::new(),
        }
    }
}

/// Large outbound transfers.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExfilConfig {
    /// Detector on.
    pub enabled: bool,
    /// Window from the first outbound byte to a peer, seconds.
    pub window_s: u64,
    /// Payload bytes from one home host to one external peer.
    pub min_bytes: u64,
    /// Bytes out over bytes in, at least.
    pub min_ratio: f64,
    /// Peers never alerted (backup and upload services of the organisation).
    pub allow: Vec<String>,
    /// Bytes of mail (SMTP messages) or files (FTP data connections) a home
    /// host hands to one external peer, in the window, before it alerts
    /// (T1048.003): cleartext mail and file transfers straight out of a
    /// host that is no mail or file server are the technique itself.
    pub protocol_min_bytes: u64,
    /// The organisation's mail servers (their SMTP out is not alerted).
    pub mail_servers: Vec<String>,
    /// The organisation's file-transfer servers (their FTP out is not alerted).
    pub file_servers: Vec<String>,
}

impl Default for ExfilConfig {
    fn default() -> Self {
        ExfilConfig {
            enabled: true,
            window_s: 3600,
            min_bytes: 10_000_000,
            min_ratio: 5.0,
            allow: Vec::new(),
            protocol_min_bytes: 1,
            mail_servers: Vec::new(),
            file_servers: Vec::new(),
        }
    }
}

/// Windows lateral movement, credential access and discovery over SMB and
/// DCE/RPC.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WindowsConfig {
    /// Detector on.
    pub enabled: bool,
    /// Window in which an executable written to an administrative share and
    /// a service created or started on the same host are one operation,
    /// seconds (also the window of the counts below).
    pub window_s: u64,
    /// Distinct SAM account and group queries from one client to one server
    /// within the window that make an enumeration.
    pub sam_min_queries: u32,
    /// Endpoint-mapper lookups (`ept_lookup`) that make an endpoint dump.
    pub epm_min_lookups: u32,
    /// Netlogon challenges and authentications from one client within
    /// `netlogon_window_s` that make a Zerologon-style burst.
    pub netlogon_burst: u32,
    /// Window of the Netlogon burst, seconds.
    pub netlogon_window_s: u64,
    /// Distinct principals refused by one KDC to one client within the
    /// window (unknown, revoked, wrong password) that make a spray or a
    /// user enumeration.
    pub krb_spray_min_principals: u32,
    /// Distinct services whose tickets one client asks with RC4 alone
    /// within the window that make Kerberoasting.
    pub kerberoast_min_services: u32,
    /// AS-REPs to requests without pre-authentication, for distinct
    /// principals, that make AS-REP roasting.
    pub asrep_min_accounts: u32,
    /// Domain controllers (addresses, CIDR blocks): the hosts allowed to ask
    /// for directory replication. Hosts seen serving replication are
    /// learned as controllers too.
    pub domain_controllers: Vec<String>,
    /// Clients never alerted (management servers).
    pub allow: Vec<String>,
    /// Internal hosts one internal client opens RDP sessions to, in the
    /// window, before it alerts (T1021.001).
    pub rdp_min_targets: u32,
    /// The organisation's administration (jump) hosts: when set, an RDP
    /// session between internal hosts from any other client alerts.
    pub rdp_jump_hosts: Vec<String>,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        WindowsConfig {
            enabled: true,
            window_s: 600,
            sam_min_queries: 3,
            epm_min_lookups: 3,
            netlogon_burst: 20,
            netlogon_window_s: 60,
            krb_spray_min_principals: 5,
            kerberoast_min_services: 3,
            asrep_min_accounts: 1,
            domain_controllers: Vec::new(),
            allow: Vec::new(),
            rdp_min_targets: 3,
            rdp_jump_hosts: Vec::new(),
        }
    }
}

/// Exploitation signs one flow shows: Heartbleed, SIGRed.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExploitConfig {
    /// Detector on.
    pub enabled: bool,
}

impl Default for ExploitConfig {
    fn default() -> Self {
        ExploitConfig { enabled: true }
    }
}

/// DHCP starvation and rogue servers.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DhcpConfig {
    /// Detector on.
    pub enabled: bool,
    /// Window of the count, seconds.
    pub window_s: u64,
    /// Distinct client hardware addresses asking (DISCOVER, REQUEST) on one
    /// network segment within the window that make a starvation.
    pub starvation_min_clients: u32,
    /// The network's DHCP servers (addresses, CIDR blocks): an offer or
    /// acknowledgement from any other is a rogue server. Empty: not checked
    /// (redundant servers answering together are normal).
    pub servers: Vec<String>,
}

impl Default for DhcpConfig {
    fn default() -> Self {
        DhcpConfig {
            enabled: true,
            window_s: 60,
            starvation_min_clients: 50,
            servers: Vec::new(),
        }
    }
}

/// Cryptocurrency mining.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MiningConfig {
    /// Detector on.
    pub enabled: bool,
    /// Domain suffixes of mining pools (DNS names and TLS server names
    /// under them alert).
    pub pool_domains: Vec<String>,
}

impl Default for MiningConfig {
    fn default() -> Self {
        MiningConfig {
            enabled: true,
            pool_domains: [
                "nanopool.org",
                "minexmr.com",
                "supportxmr.com",
                "moneroocean.stream",
                "hashvault.pro",
                "2miners.com",
                "f2pool.com",
                "ethermine.org",
                "nicehash.com",
                "minergate.com",
                "herominers.com",
                "c3pool.com",
                "xmrpool.eu",
                "viabtc.com",
                "antpool.com",
                "slushpool.com",
                "braiins.com",
                "poolin.com",
                "unmineable.com",
                "kryptex.network",
                "woolypooly.com",
                "miningpoolhub.com",
                "zpool.ca",
                "prohashing.com",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// The format of an indicator file.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListFormat {
    /// One value a line; `#` starts a comment.
    #[default]
    Plain,
    /// CSV with a header row; `column` names the column of values.
    Csv,
    /// Hosts-file lines (`0.0.0.0 bad.example`): the names after the address.
    Hosts,
}

/// What an indicator list holds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// Decide per value: addresses and blocks, hashes by length, else domains.
    #[default]
    Auto,
    /// Addresses and CIDR blocks.
    Ip,
    /// Domains; a name matches a listed domain or any name under it.
    Domain,
    /// TLS server names (exact, case ignored).
    Sni,
    /// JA3 fingerprints (32 hex digits).
    Ja3,
    /// JA4 fingerprints.
    Ja4,
    /// HASSH fingerprints (client or server).
    Hassh,
    /// SHA-256 of certificates (64 hex digits).
    CertSha256,
}

/// One indicator list.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IndicatorList {
    /// Name given in alerts.
    pub name: String,
    /// The file (relative paths are from the configuration file's directory).
    pub path: PathBuf,
    /// What it holds.
    #[serde(default)]
    pub kind: ListKind,
    /// Its format.
    #[serde(default)]
    pub format: ListFormat,
    /// The column of values in a CSV list.
    #[serde(default)]
    pub column: Option<String>,
    /// ATT&CK technique of a match.
    #[serde(default = "default_list_technique")]
    pub technique: String,
}

fn default_list_technique() -> String {
    "T1071".into()
}

/// Every detector's settings.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Networks.
    pub net: NetConfig,
    /// Deduplication.
    pub alerts: AlertConfig,
    /// Vertical port scans.
    pub scan: ScanConfig,
    /// Sweeps.
    pub sweep: SweepConfig,
    /// Credential guessing.
    pub brute: BruteConfig,
    /// Floods.
    pub flood: FloodConfig,
    /// Reflection and amplification.
    pub amplification: AmplificationConfig,
    /// DNS tunnels.
    pub dns_tunnel: DnsTunnelConfig,
    /// Beaconing.
    pub beacon: BeaconConfig,
    /// Large transfers out.
    pub exfil: ExfilConfig,
    /// Windows lateral movement, credential access and discovery.
    pub windows: WindowsConfig,
    /// Mining.
    pub mining: MiningConfig,
    /// DHCP starvation and rogue servers.
    pub dhcp: DhcpConfig,
    /// Exploitation signs of one flow.
    pub exploit: ExploitConfig,
    /// Indicator lists.
    pub indicators: Vec<IndicatorList>,
    /// Directory of the file (indicator paths are relative to it).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Port ranges as `a-b` or single ports.
pub fn parse_ports(v: &[String]) -> Result<Vec<(u16, u16)>, String> {
    v.iter()
        .map(|s| {
            let s = s.trim();
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let a: u16 = a
                .trim()
                .parse()
                .map_err(|_| format!("bad port range {s:?}"))?;
            let b: u16 = b
                .trim()
                .parse()
                .map_err(|_| format!("bad port range {s:?}"))?;
            if a > b {
                return Err(format!("bad port range {s:?}"));
            }
            Ok((a, b))
        })
        .collect()
}

impl DetectConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<DetectConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = DetectConfig::parse(&text, path)?;
        c.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(c)
    }

    /// Parses and checks configuration text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<DetectConfig, ConfigError> {
        let c: DetectConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            msg: e.to_string().trim_end().replace('\n', " "),
        })?;
        c.check().map_err(|(field, msg)| ConfigError::Value {
            path: path.to_path_buf(),
            field,
            msg,
        })?;
        Ok(c)
    }

    /// Checks every value; the error names the field.
    pub fn check(&self) -> Result<(), (String, String)> {
        fn blocks(field: &str, v: &[String]) -> Result<(), (String, String)> {
            for s in v {
                s.parse::<Cidr>()
                    .map_err(|e| (field.to_string(), e.to_string()))?;
            }
            Ok(())
        }
        fn at_least<T: PartialOrd + std::fmt::Display>(
            field: &str,
            v: T,
            min: T,
        ) -> Result<(), (String, String)> {
            if v < min {
                return Err((field.into(), format!("must be at least {min} (got {v})")));
            }
            Ok(())
        }
        fn share(field: &str, v: f64) -> Result<(), (String, String)> {
            if !(0.0..=1.0).contains(&v) {
                return Err((field.into(), format!("must be between 0 and 1 (got {v})")));
            }
            Ok(())
        }
        fn window(field: &str, v: u64) -> Result<(), (String, String)> {
            if v == 0 || v > 30 * 86_400 {
                return Err((
                    field.into(),
                    format!("must be between 1 and 2592000 seconds (got {v})"),
                ));
            }
            Ok(())
        }
        blocks("net.home_net", &self.net.home_net)?;
        blocks("net.allow", &self.net.allow)?;
        window("alerts.dedup_window_s", self.alerts.dedup_window_s)?;
        at_least("alerts.max_open", self.alerts.max_open, 1)?;
        window("scan.window_s", self.scan.window_s)?;
        at_least("scan.min_ports", self.scan.min_ports, 2)?;
        share(
            "scan.max_conversation_ratio",
            self.scan.max_conversation_ratio,
        )?;
        parse_ports(&self.scan.ignore_udp_ports)
            .map_err(|m| ("scan.ignore_udp_ports".into(), m))?;
        blocks("scan.allow", &self.scan.allow)?;
        window("sweep.window_s", self.sweep.window_s)?;
        at_least("sweep.min_hosts", self.sweep.min_hosts, 2)?;
        share(
            "sweep.max_conversation_ratio",
            self.sweep.max_conversation_ratio,
        )?;
        at_least("sweep.icmp_min_hosts", self.sweep.icmp_min_hosts, 2)?;
        at_least("sweep.arp_min_hosts", self.sweep.arp_min_hosts, 2)?;
        blocks("sweep.allow", &self.sweep.allow)?;
        window("brute.window_s", self.brute.window_s)?;
        at_least("brute.min_failures", self.brute.min_failures, 1)?;
        at_least("brute.min_connections", self.brute.min_connections, 2)?;
        window("brute.max_connection_s", self.brute.max_connection_s)?;
        at_least("brute.spray_min_targets", self.brute.spray_min_targets, 2)?;
        at_least("brute.min_form_posts", self.brute.min_form_posts, 2)?;
        blocks("brute.allow", &self.brute.allow)?;
        window("flood.window_s", self.flood.window_s)?;
        for (f, v) in [
            ("flood.syn_rate", self.flood.syn_rate),
            ("flood.udp_rate", self.flood.udp_rate),
            ("flood.icmp_rate", self.flood.icmp_rate),
            ("flood.frag_rate", self.flood.frag_rate),
            ("flood.bad_flags_min", self.flood.bad_flags_min),
            ("flood.spoofed_min_sources", self.flood.spoofed_min_sources),
        ] {
            at_least(f, v, 1)?;
        }
        blocks("flood.allow", &self.flood.allow)?;
        window("amplification.window_s", self.amplification.window_s)?;
        at_least(
            "amplification.min_answers",
            self.amplification.min_answers,
            1,
        )?;
        at_least(
            "amplification.min_reflectors",
            self.amplification.min_reflectors,
            1,
        )?;
        at_least(
            "amplification.synack_min_reflectors",
            self.amplification.synack_min_reflectors,
            1,
        )?;
        window("dns_tunnel.window_s", self.dns_tunnel.window_s)?;
        at_least("dns_tunnel.min_names", self.dns_tunnel.min_names, 2)?;
        at_least(
            "dns_tunnel.download_min_names",
            self.dns_tunnel.download_min_names,
            2,
        )?;
        at_least(
            "dns_tunnel.min_mean_sub_len",
            self.dns_tunnel.min_mean_sub_len,
            0.0,
        )?;
        at_least(
            "dns_tunnel.min_mean_entropy",
            self.dns_tunnel.min_mean_entropy,
            0.0,
        )?;
        blocks("dns_tunnel.allow", &self.dns_tunnel.allow)?;
        for d in &self.dns_tunnel.allow_domains {
            if d.trim().is_empty() || d.contains(char::is_whitespace) {
                return Err((
                    "dns_tunnel.allow_domains".into(),
                    format!("bad domain {d:?}"),
                ));
            }
        }
        at_least("beacon.min_connections", self.beacon.min_connections, 4)?;
        at_least(
            "beacon.history",
            self.beacon.history,
            self.beacon.min_connections,
        )
        .map_err(|(f, _)| (f, "must be at least beacon.min_connections".to_string()))?;
        if self.beacon.history > 1024 {
            return Err(("beacon.history".into(), "must be at most 1024".into()));
        }
        window("beacon.window_s", self.beacon.window_s)?;
        at_least("beacon.min_interval_s", self.beacon.min_interval_s, 0.001)?;
        if self.beacon.max_interval_s <= self.beacon.min_interval_s {
            return Err((
                "beacon.max_interval_s".into(),
                "must be above beacon.min_interval_s".into(),
            ));
        }
        share("beacon.min_score", self.beacon.min_score)?;
        at_least("beacon.max_clients", self.beacon.max_clients, 1)?;
        blocks("beacon.allow", &self.beacon.allow)?;
        window("exfil.window_s", self.exfil.window_s)?;
        at_least("exfil.min_bytes", self.exfil.min_bytes, 1)?;
        at_least("exfil.min_ratio", self.exfil.min_ratio, 0.0)?;
        blocks("exfil.allow", &self.exfil.allow)?;
        at_least("exfil.protocol_min_bytes", self.exfil.protocol_min_bytes, 1)?;
        blocks("exfil.mail_servers", &self.exfil.mail_servers)?;
        blocks("exfil.file_servers", &self.exfil.file_servers)?;
        window("dhcp.window_s", self.dhcp.window_s)?;
        at_least(
            "dhcp.starvation_min_clients",
            u64::from(self.dhcp.starvation_min_clients),
            2,
        )?;
        blocks("dhcp.servers", &self.dhcp.servers)?;
        window("windows.window_s", self.windows.window_s)?;
        window("windows.netlogon_window_s", self.windows.netlogon_window_s)?;
        at_least(
            "windows.sam_min_queries",
            u64::from(self.windows.sam_min_queries),
            1,
        )?;
        at_least(
            "windows.epm_min_lookups",
            u64::from(self.windows.epm_min_lookups),
            1,
        )?;
        at_least(
            "windows.netlogon_burst",
            u64::from(self.windows.netlogon_burst),
            2,
        )?;
        at_least(
            "windows.krb_spray_min_principals",
            u64::from(self.windows.krb_spray_min_principals),
            2,
        )?;
        at_least(
            "windows.kerberoast_min_services",
            u64::from(self.windows.kerberoast_min_services),
            1,
        )?;
        at_least(
            "windows.asrep_min_accounts",
            u64::from(self.windows.asrep_min_accounts),
            1,
        )?;
        blocks(
            "windows.domain_controllers",
            &self.windows.domain_controllers,
        )?;
        blocks("windows.allow", &self.windows.allow)?;
        at_least(
            "windows.rdp_min_targets",
            u64::from(self.windows.rdp_min_targets),
            1,
        )?;
        blocks("windows.rdp_jump_hosts", &self.windows.rdp_jump_hosts)?;
        for (i, l) in self.indicators.iter().enumerate() {
            let f = format!("indicators[{i}]");
            if l.name.trim().is_empty() {
                return Err((format!("{f}.name"), "must not be empty".into()));
            }
            if !crate::attack::valid_id(&l.technique) {
                return Err((
                    format!("{f}.technique"),
                    format!(
                        "{:?} is not an ATT&CK technique id (T1071, T1071.004)",
                        l.technique
                    ),
                ));
            }
            if l.format == ListFormat::Csv && l.column.is_none() {
                return Err((
                    format!("{f}.column"),
                    "a CSV list needs the name of its column of values".into(),
                ));
            }
        }
        Ok(())
    }

    /// A set from a checked list of blocks.
    pub fn set(v: &[String]) -> IpSet {
        IpSet::new(v.iter().filter_map(|s| s.parse::<Cidr>().ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<DetectConfig, ConfigError> {
        DetectConfig::parse(t, Path::new("d.toml"))
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(parse("").unwrap(), DetectConfig::default());
    }

    #[test]
    fn the_shipped_file_states_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../signatures/detectors.toml");
        let c = DetectConfig::load(Path::new(path)).expect("signatures/detectors.toml loads");
        let d = DetectConfig {
            base_dir: c.base_dir.clone(),
            ..DetectConfig::default()
        };
        assert_eq!(
            c, d,
            "signatures/detectors.toml and the defaults in detect/src/config.rs differ"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse("[scan]\nmin_ports = 0\n").unwrap_err().to_string();
        assert!(
            e.contains("scan.min_ports") && e.contains("at least 2"),
            "{e}"
        );
        let e = parse("[scan]\nmin_portz = 3\n").unwrap_err().to_string();
        assert!(e.contains("min_portz"), "{e}");
        let e = parse("[scan]\nmin_ports = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("min_ports") && e.contains("line 2"), "{e}");
        let e = parse("[net]\nhome_net = [\"10.0.0.0/99\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("net.home_net"), "{e}");
        let e = parse("[beacon]\nmin_score = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("beacon.min_score"), "{e}");
        let e = parse("[[indicators]]\nname = \"x\"\npath = \"x.csv\"\nformat = \"csv\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("indicators[0].column"), "{e}");
        let e = parse("[[indicators]]\nname = \"x\"\npath = \"x\"\ntechnique = \"T10\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("indicators[0].technique"), "{e}");
        let e = parse("[scan]\nignore_udp_ports = [\"9-1\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("scan.ignore_udp_ports"), "{e}");
        let e = DetectConfig::load(Path::new("/nonexistent/d.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/d.toml"), "{e}");
    }

    #[test]
    fn ports_parse() {
        assert_eq!(
            parse_ports(&["53".into(), "33434-33534".into()]).unwrap(),
            vec![(53, 53), (33434, 33534)]
        );
        assert!(parse_ports(&["x".into()]).is_err());
    }
}
