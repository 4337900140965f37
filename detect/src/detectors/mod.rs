//! The behavioural detectors of the host stage. Each sees every event in
//! packet-time order and reports hits to the incidents; each is documented
//! in `signatures/README.md` with the rule of what fires it.

pub mod amplify;
pub mod beacon;
pub mod brute;
pub mod dhcp;
pub mod dnstunnel;
pub mod exfil;
pub mod flood;
pub mod scan;
pub mod windows;

use std::net::IpAddr;

use hashbrown::HashSet;
use serde_json::{Map, Value};

use crate::event::FlowRef;
use crate::incident::{Draft, Incidents};
use crate::net::IpSet;

/// What every detector shares while it handles an event.
pub struct Cx<'a> {
    /// The incidents.
    pub inc: &'a mut Incidents,
    /// `home_net`.
    pub home: &'a IpSet,
    /// Sources never alerted.
    pub allow: &'a IpSet,
    /// (home host, peer) pairs known as command channels (a beacon or an
    /// indicator match): a large transfer to one is exfiltration over C2.
    pub c2_peers: &'a mut HashSet<(IpAddr, IpAddr)>,
}

/// Signature ids of the detectors (gid 1, range 9,000,000-9,000,999).
pub mod sid {
    /// TCP vertical port scan.
    pub const SCAN_TCP: u32 = 9_000_101;
    /// UDP vertical port scan.
    pub const SCAN_UDP: u32 = 9_000_102;
    /// FIN, NULL or XMAS vertical scan.
    pub const SCAN_STEALTH: u32 = 9_000_103;
    /// TCP horizontal sweep of one port.
    pub const SWEEP_TCP: u32 = 9_000_111;
    /// UDP horizontal sweep of one port.
    pub const SWEEP_UDP: u32 = 9_000_112;
    /// ICMP host sweep.
    pub const SWEEP_ICMP: u32 = 9_000_121;
    /// ARP host sweep.
    pub const SWEEP_ARP: u32 = 9_000_122;
    /// Impossible TCP flag combinations.
    pub const BAD_FLAGS: u32 = 9_000_131;
    /// Failed logins shown by the protocol.
    pub const BRUTE_FAILURES: u32 = 9_000_201;
    /// Login-sized connections to an encrypted login service.
    pub const BRUTE_CONNECTIONS: u32 = 9_000_202;
    /// Password spraying across targets.
    pub const BRUTE_SPRAY: u32 = 9_000_203;
    /// Form logins.
    pub const BRUTE_FORM: u32 = 9_000_204;
    /// SYN flood.
    pub const FLOOD_SYN: u32 = 9_000_301;
    /// UDP flood.
    pub const FLOOD_UDP: u32 = 9_000_302;
    /// ICMP flood.
    pub const FLOOD_ICMP: u32 = 9_000_303;
    /// Fragment flood.
    pub const FLOOD_FRAG: u32 = 9_000_304;
    /// UDP reflection/amplification.
    pub const AMP_UDP: u32 = 9_000_311;
    /// TCP SYN-ACK reflection.
    pub const AMP_SYNACK: u32 = 9_000_312;
    /// DNS tunnel.
    pub const DNS_TUNNEL: u32 = 9_000_401;
    /// Data in DNS names.
    pub const DNS_EXFIL: u32 = 9_000_402;
    /// Beacon.
    pub const BEACON: u32 = 9_000_501;
    /// Large outbound transfer.
    pub const EXFIL: u32 = 9_000_551;
    /// PsExec-style: an executable on an administrative share run as a service.
    pub const WIN_PSEXEC: u32 = 9_000_801;
    /// A remote service created.
    pub const WIN_SERVICE: u32 = 9_000_802;
    /// A remote scheduled task or `at` job.
    pub const WIN_TASK: u32 = 9_000_803;
    /// A WMI method executed remotely.
    pub const WIN_WMI: u32 = 9_000_804;
    /// DCOM activation and automation.
    pub const WIN_DCOM: u32 = 9_000_805;
    /// Directory replication from a host that is not a domain controller.
    pub const WIN_DCSYNC: u32 = 9_000_811;
    /// A burst of Netlogon authentications.
    pub const WIN_ZEROLOGON: u32 = 9_000_812;
    /// Netlogon with a zero credential (Zerologon).
    pub const WIN_ZEROLOGON_ZERO: u32 = 9_000_813;
    /// Internal RDP fan-out or from a host that is not a jump host.
    pub const WIN_RDP: u32 = 9_000_806;
    /// Mail or files sent out by a cleartext protocol from a host that is
    /// not a mail or file server.
    pub const EXFIL_PROTOCOL: u32 = 9_000_552;
    /// Heartbleed.
    pub const EXPLOIT_HEARTBLEED: u32 = 9_000_851;
    /// SIGRed.
    pub const EXPLOIT_SIGRED: u32 = 9_000_852;
    /// An oversized SMB1 transaction (EternalBlue).
    pub const WIN_SMB_OVERSIZED: u32 = 9_000_831;
    /// An SMB1 Trans2 SESSION_SETUP (DoublePulsar's channel).
    pub const WIN_SMB_IMPLANT_PING: u32 = 9_000_832;
    /// An SMB implant answering its ping.
    pub const WIN_SMB_IMPLANT: u32 = 9_000_833;
    /// An SMB3 compression transform out of range (SMBGhost).
    pub const WIN_SMB_COMPRESSION: u32 = 9_000_834;
    /// Kerberos logons refused for many principals.
    pub const WIN_KRB_SPRAY: u32 = 9_000_841;
    /// Service tickets asked with RC4 only.
    pub const WIN_KERBEROAST: u32 = 9_000_842;
    /// AS-REPs without pre-authentication.
    pub const WIN_ASREP: u32 = 9_000_843;
    /// SAM account and group enumeration.
    pub const WIN_SAM: u32 = 9_000_821;
    /// Share enumeration.
    pub const WIN_SHARES: u32 = 9_000_822;
    /// Endpoint-mapper dump.
    pub const WIN_EPM: u32 = 9_000_823;
    /// DHCP starvation.
    pub const DHCP_STARVATION: u32 = 9_000_901;
    /// A rogue DHCP server.
    pub const DHCP_ROGUE: u32 = 9_000_902;
    /// Stratum or pool login on any port.
    pub const MINING_PROTOCOL: u32 = 9_000_601;
    /// A mining pool's name.
    pub const MINING_POOL: u32 = 9_000_602;
    /// Indicator list matches, by kind (ip, domain, sni, ja3, ja4, hassh, cert).
    pub const INDICATOR: [u32; 7] = [
        9_000_701, 9_000_702, 9_000_703, 9_000_704, 9_000_705, 9_000_706, 9_000_707,
    ];
}

/// A draft of the common shape.
#[allow(clippy::too_many_arguments)]
pub(crate) fn draft(
    detector: &'static str,
    signature_id: u32,
    signature: String,
    classtype: &'static str,
    techniques: &[&str],
    src: IpAddr,
    dst: IpAddr,
    dst_port: Option<u16>,
    flow: &FlowRef,
    first_ns: u64,
    evidence: Map<String, Value>,
) -> Draft {
    Draft {
        detector,
        signature_id,
        signature,
        classtype,
        techniques: techniques.iter().map(|t| t.to_string()).collect(),
        src,
        src_port: None,
        dst,
        dst_port,
        proto: flow.proto,
        // ARP has no flow: its events carry flow id 0.
        flow: (flow.uid != 0).then_some(*flow),
        first_ns,
        evidence,
    }
}

/// Evidence as a JSON object from pairs.
#[macro_export]
macro_rules! evidence {
    ($($k:expr => $v:expr),* $(,)?) => {{
        let mut m = serde_json::Map::new();
        $( m.insert($k.to_string(), serde_json::Value::from($v)); )*
        m
    }};
}

/// Seconds, for evidence.
pub(crate) fn secs(ns: u64) -> f64 {
    (ns as f64 / 1e9 * 1e6).round() / 1e6
}

/// True when `a` is in `home`.
pub(crate) fn is_home(home: &IpSet, a: IpAddr) -> bool {
    home.contains(a)
}
