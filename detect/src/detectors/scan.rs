//! Port scans, sweeps and impossible flags.
//!
//! A *probe* is the first packet of a flow from its originator that opens
//! nothing yet: a TCP SYN without ACK, a TCP packet with neither SYN, ACK nor
//! RST (FIN, NULL and XMAS scans), or a UDP datagram of at most
//! [`MAX_UDP_PROBE`] bytes not sent from a reflection service port
//! (scanners send empty or protocol-probe payloads; bigger datagrams to
//! many ports are a flood, which the flood detector counts). A probe *held
//! a conversation* when the service
//! answered with data (or, for TCP, the prober sent data after the
//! handshake): scanners learn from handshakes, refusals and silence, not
//! from conversations.
//!
//! - **Vertical scan** (T1046, and T1595 from outside `home_net`): one
//!   source probes at least `scan.min_ports`
//!   distinct ports of one host within `scan.window_s` of its first probe,
//!   and at most `scan.max_conversation_ratio` of them held a conversation.
//! - **Horizontal sweep** (T1046, and T1595.001 from outside `home_net`):
//!   one source probes one port on at least `sweep.min_hosts` distinct hosts
//!   of one block (an IPv4 /16, an IPv6 /48) within `sweep.window_s`, at
//!   most `sweep.max_conversation_ratio` of them conversing.
//! - **ICMP and ARP host sweeps** (T1018, and T1595.001 from outside):
//!   echo, timestamp or address-mask requests to at least
//!   `sweep.icmp_min_hosts` hosts, or ARP requests for at least
//!   `sweep.arp_min_hosts` addresses, within `sweep.window_s`.
//! - **Impossible flags** (T1595): first packets with SYN+FIN, SYN+RST or
//!   FIN+RST, at least `flood.bad_flags_min` from one source within
//!   `flood.window_s`: stack fingerprinting and evasion probes.

use std::net::IpAddr;

use super::{draft, is_home, secs, sid, Cx};
use crate::config::{parse_ports, DetectConfig};
use crate::event::{EventKind, FlowRef, HostEvent};
use crate::evidence;
use crate::incident::{Key, ANY};
use crate::net::{covering_block, IpSet};
use crate::window::{hash_ip, Distinct, Slot, Windowed};

/// Largest UDP payload taken for a probe.
pub const MAX_UDP_PROBE: u32 = 512;

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;

/// What a first packet probes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// TCP SYN.
    Syn,
    /// TCP FIN alone.
    Fin,
    /// TCP without flags.
    Null,
    /// TCP FIN+PSH+URG.
    Xmas,
    /// Another TCP combination without SYN, ACK or RST.
    OtherTcp,
    /// UDP.
    Udp,
}

impl ProbeKind {
    fn index(self) -> usize {
        self as usize
    }
    const NAMES: [&'static str; 6] = ["syn", "fin", "null", "xmas", "other_tcp", "udp"];
}

/// The probe kind of a TCP flag byte on a flow's first packet.
pub fn tcp_probe(flags: u8) -> Option<ProbeKind> {
    let f = flags & 0x3f;
    if f & (SYN | ACK | RST) == SYN {
        return Some(ProbeKind::Syn);
    }
    if f & (SYN | ACK | RST) != 0 {
        return None;
    }
    Some(match f {
        0 => ProbeKind::Null,
        FIN => ProbeKind::Fin,
        x if x == FIN | PSH | URG => ProbeKind::Xmas,
        _ => ProbeKind::OtherTcp,
    })
}

/// True for flag combinations no TCP stack sends.
pub fn impossible_flags(flags: u8) -> bool {
    let f = flags & 0x3f;
    (f & (SYN | FIN) == SYN | FIN)
        || (f & (SYN | RST) == SYN | RST)
        || (f & (FIN | RST) == FIN | RST)
}

#[derive(Default)]
struct Vertical {
    ports: Distinct,
    conv: Distinct,
    kinds: [u32; 6],
    probes: u64,
    refused: u64,
    sample: Vec<u16>,
    alerted: bool,
}

#[derive(Default)]
struct Horizontal {
    hosts: Distinct,
    conv: Distinct,
    probes: u64,
    sample: Vec<IpAddr>,
    alerted: bool,
}

#[derive(Default)]
struct HostSweep {
    hosts: Distinct,
    probes: u64,
    sample: Vec<IpAddr>,
    alerted: bool,
}

#[derive(Default)]
struct Flags {
    count: u64,
    combos: Vec<u8>,
    alerted: bool,
}

/// The scan and sweep detectors.
pub struct Scans {
    on_scan: bool,
    on_sweep: bool,
    min_ports: u32,
    scan_ratio: f64,
    min_hosts: u32,
    sweep_ratio: f64,
    icmp_min: u32,
    arp_min: u32,
    bad_flags_min: u32,
    ignore_udp: Vec<(u16, u16)>,
    reflectors: Vec<u16>,
    scan_allow: IpSet,
    sweep_allow: IpSet,
    flags_allow: IpSet,
    vertical: Windowed<(IpAddr, IpAddr, u8), Vertical>,
    horizontal: Windowed<(IpAddr, u8, u16, IpAddr), Horizontal>,
    icmp: Windowed<IpAddr, HostSweep>,
    arp: Windowed<IpAddr, HostSweep>,
    flags: Windowed<IpAddr, Flags>,
}

/// Keys per table: a flood of spoofed sources fills it and is refused
/// (and counted), never grows it.
const CAP: usize = 100_000;
const S: u64 = 1_000_000_000;

impl Scans {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Scans {
        Scans {
            on_scan: c.scan.enabled,
            on_sweep: c.sweep.enabled,
            min_ports: c.scan.min_ports,
            scan_ratio: c.scan.max_conversation_ratio,
            min_hosts: c.sweep.min_hosts,
            sweep_ratio: c.sweep.max_conversation_ratio,
            icmp_min: c.sweep.icmp_min_hosts,
            arp_min: c.sweep.arp_min_hosts,
            bad_flags_min: c.flood.bad_flags_min,
            ignore_udp: parse_ports(&c.scan.ignore_udp_ports).unwrap_or_default(),
            reflectors: c.amplification.udp_ports.clone(),
            scan_allow: DetectConfig::set(&c.scan.allow),
            sweep_allow: DetectConfig::set(&c.sweep.allow),
            flags_allow: DetectConfig::set(&c.flood.allow),
            vertical: Windowed::new(c.scan.window_s * S, CAP),
            horizontal: Windowed::new(c.sweep.window_s * S, CAP),
            icmp: Windowed::new(c.sweep.window_s * S, CAP),
            arp: Windowed::new(c.sweep.window_s * S, CAP),
            flags: Windowed::new(c.flood.window_s * S, CAP),
        }
    }

    fn probe_of(&self, e: &HostEvent) -> Option<ProbeKind> {
        let EventKind::Start {
            flags,
            from_resp,
            payload,
            ..
        } = e.kind
        else {
            return None;
        };
        if from_resp {
            return None;
        }
        match e.flow.proto {
            6 => tcp_probe(flags),
            17 => {
                let f = &e.flow;
                let ignored = self
                    .ignore_udp
                    .iter()
                    .any(|&(a, b)| (a..=b).contains(&f.resp_port));
                (!ignored && payload <= MAX_UDP_PROBE && !self.reflectors.contains(&f.orig_port))
                    .then_some(ProbeKind::Udp)
            }
            _ => None,
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        let ts = e.ts_ns;
        let f = &e.flow;
        match &e.kind {
            EventKind::Start {
                flags, from_resp, ..
            } => {
                if let Some(kind) = self.probe_of(e) {
                    if cx.allow.contains(f.orig) {
                        return;
                    }
                    if self.on_scan && !self.scan_allow.contains(f.orig) {
                        self.vertical_probe(e, kind, cx);
                    }
                    if self.on_sweep && !self.sweep_allow.contains(f.orig) {
                        self.horizontal_probe(e, kind, cx);
                    }
                }
                if f.proto == 6 && !from_resp && impossible_flags(*flags) {
                    self.bad_flags(e, *flags, cx);
                }
                if matches!(f.proto, 1 | 58) && !from_resp && self.on_sweep {
                    let t = f.orig_port as u8;
                    let request = if f.proto == 1 {
                        matches!(t, 8 | 13 | 15 | 17)
                    } else {
                        t == 128
                    };
                    if request && !cx.allow.contains(f.orig) && !self.sweep_allow.contains(f.orig) {
                        self.host_sweep(e, false, cx);
                    }
                }
            }
            EventKind::Arp { reply: false }
                if self.on_sweep
                    && f.orig != f.resp
                    && !cx.allow.contains(f.orig)
                    && !self.sweep_allow.contains(f.orig) =>
            {
                self.host_sweep(e, true, cx);
            }
            EventKind::Answered | EventKind::Spoke => {
                if matches!(e.kind, EventKind::Spoke) && f.proto != 6 {
                    return;
                }
                if let Some((v, _)) = self.vertical.peek(&(f.orig, f.resp, f.proto), ts) {
                    v.conv.insert(u64::from(f.resp_port));
                }
                if let Some((h, _)) = self
                    .horizontal
                    .peek(&(f.orig, f.proto, f.resp_port, block_of(f.resp)), ts)
                {
                    h.conv.insert(hash_ip(f.resp));
                }
            }
            EventKind::Refused => {
                if let Some((v, _)) = self.vertical.peek(&(f.orig, f.resp, f.proto), ts) {
                    v.refused += 1;
                }
            }
            EventKind::Unreachable { proto, to, .. } => {
                // The ICMP flow's originator is the host that refused.
                if let Some((v, _)) = self.vertical.peek(&(*to, f.orig, *proto), ts) {
                    v.refused += 1;
                }
            }
            _ => {}
        }
    }

    fn vertical_probe(&mut self, e: &HostEvent, kind: ProbeKind, cx: &mut Cx<'_>) {
        let f = &e.flow;
        let ts = e.ts_ns;
        let Slot::Live(v, start) = self.vertical.get((f.orig, f.resp, f.proto), ts) else {
            return;
        };
        if v.ports.is_empty() {
            v.ports = Distinct::new(4096);
            v.conv = Distinct::new(4096);
        }
        v.probes += 1;
        v.kinds[kind.index()] += 1;
        if v.ports.insert(u64::from(f.resp_port)) && v.sample.len() < 32 {
            v.sample.push(f.resp_port);
        }
        let key = Key {
            technique: "T1046",
            attacker: f.orig,
            target: f.resp,
        };
        if v.alerted && cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
            return;
        }
        let n = v.ports.len();
        if n < self.min_ports as usize || v.conv.len() as f64 > self.scan_ratio * n as f64 {
            return;
        }
        v.alerted = true;
        let stealth = v.kinds[1] + v.kinds[2] + v.kinds[3] + v.kinds[4];
        let (sig, what) = if f.proto == 17 {
            (sid::SCAN_UDP, "UDP port scan")
        } else if u64::from(stealth) * 2 > v.probes {
            (sid::SCAN_STEALTH, "TCP FIN/NULL/XMAS port scan")
        } else {
            (sid::SCAN_TCP, "TCP port scan")
        };
        let mut sample = v.sample.clone();
        sample.sort_unstable();
        let kinds: serde_json::Map<String, serde_json::Value> = ProbeKind::NAMES
            .iter()
            .zip(v.kinds)
            .filter(|(_, c)| *c > 0)
            .map(|(k, c)| (k.to_string(), c.into()))
            .collect();
        let ev = evidence! {
            "distinct_ports" => n as u64,
            "probes" => v.probes,
            "conversations" => v.conv.len() as u64,
            "refused" => v.refused,
            "window_s" => secs(ts - start),
            "sample_ports" => sample,
            "probe_kinds" => serde_json::Value::Object(kinds),
        };
        let probes = v.probes;
        // From outside, scanning a host's services is also active scanning.
        let external = !is_home(cx.home, f.orig);
        let techniques: &[&str] = if external {
            &["T1046", "T1595"]
        } else {
            &["T1046"]
        };
        let d = draft(
            "scan.vertical",
            sig,
            format!("MEKONG SCAN {what} of {} by {}", f.resp, f.orig),
            "attempted-recon",
            techniques,
            f.orig,
            f.resp,
            None,
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, probes, || d);
    }

    fn horizontal_probe(&mut self, e: &HostEvent, _kind: ProbeKind, cx: &mut Cx<'_>) {
        let f = &e.flow;
        let ts = e.ts_ns;
        let Slot::Live(h, start) = self
            .horizontal
            .get((f.orig, f.proto, f.resp_port, block_of(f.resp)), ts)
        else {
            return;
        };
        if h.hosts.is_empty() {
            h.hosts = Distinct::new(65_536);
            h.conv = Distinct::new(65_536);
        }
        h.probes += 1;
        if h.hosts.insert(hash_ip(f.resp)) && h.sample.len() < 256 {
            h.sample.push(f.resp);
        }
        let key = Key {
            technique: "T1046",
            attacker: f.orig,
            target: ANY,
        };
        // One port per incident: the sweep of 445 and of 22 are two.
        let key = Key {
            target: port_marker(f.resp_port),
            ..key
        };
        if h.alerted && cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
            return;
        }
        let n = h.hosts.len();
        if n < self.min_hosts as usize || h.conv.len() as f64 > self.sweep_ratio * n as f64 {
            return;
        }
        h.alerted = true;
        let block = covering_block(&h.sample)
            .map(|b| b.to_string())
            .unwrap_or_default();
        let (sig, p) = if f.proto == 17 {
            (sid::SWEEP_UDP, "UDP")
        } else {
            (sid::SWEEP_TCP, "TCP")
        };
        let ev = evidence! {
            "distinct_hosts" => n as u64,
            "probes" => h.probes,
            "conversations" => h.conv.len() as u64,
            "port" => f.resp_port,
            "block" => block.clone(),
            "window_s" => secs(ts - start),
            "sample_hosts" => h.sample.iter().take(10).map(|a| a.to_string()).collect::<Vec<_>>(),
        };
        let probes = h.probes;
        let techniques: &[&str] = if is_home(cx.home, f.orig) {
            &["T1046"]
        } else {
            &["T1046", "T1595.001"]
        };
        let d = draft(
            "scan.horizontal",
            sig,
            format!(
                "MEKONG SCAN {p} sweep of port {} across {block} by {}",
                f.resp_port, f.orig
            ),
            "attempted-recon",
            techniques,
            f.orig,
            f.resp,
            Some(f.resp_port),
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, probes, || d);
    }

    fn host_sweep(&mut self, e: &HostEvent, arp: bool, cx: &mut Cx<'_>) {
        let f = &e.flow;
        let ts = e.ts_ns;
        let (table, min) = if arp {
            (&mut self.arp, self.arp_min)
        } else {
            (&mut self.icmp, self.icmp_min)
        };
        let Slot::Live(h, start) = table.get(f.orig, ts) else {
            return;
        };
        if h.hosts.is_empty() {
            h.hosts = Distinct::new(65_536);
        }
        h.probes += 1;
        if h.hosts.insert(hash_ip(f.resp)) && h.sample.len() < 256 {
            h.sample.push(f.resp);
        }
        let key = Key {
            technique: "T1018",
            attacker: f.orig,
            target: if arp { port_marker(1) } else { ANY },
        };
        if h.alerted && cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
            return;
        }
        let n = h.hosts.len();
        if n < min as usize {
            return;
        }
        h.alerted = true;
        let block = covering_block(&h.sample)
            .map(|b| b.to_string())
            .unwrap_or_default();
        let ev = evidence! {
            "distinct_hosts" => n as u64,
            "requests" => h.probes,
            "block" => block.clone(),
            "window_s" => secs(ts - start),
            "sample_hosts" => h.sample.iter().take(10).map(|a| a.to_string()).collect::<Vec<_>>(),
        };
        let probes = h.probes;
        let techniques: &[&str] = if is_home(cx.home, f.orig) || arp {
            &["T1018"]
        } else {
            &["T1018", "T1595.001"]
        };
        let (sig, what) = if arp {
            (sid::SWEEP_ARP, "ARP")
        } else {
            (sid::SWEEP_ICMP, "ICMP")
        };
        let d = draft(
            if arp { "sweep.arp" } else { "sweep.icmp" },
            sig,
            format!("MEKONG SCAN {what} host sweep of {block} by {}", f.orig),
            "attempted-recon",
            techniques,
            f.orig,
            f.resp,
            None,
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, probes, || d);
    }

    fn bad_flags(&mut self, e: &HostEvent, flags: u8, cx: &mut Cx<'_>) {
        let f = &e.flow;
        let ts = e.ts_ns;
        if cx.allow.contains(f.orig) || self.flags_allow.contains(f.orig) {
            return;
        }
        let Slot::Live(s, start) = self.flags.get(f.orig, ts) else {
            return;
        };
        s.count += 1;
        if !s.combos.contains(&flags) && s.combos.len() < 16 {
            s.combos.push(flags);
        }
        let key = Key {
            technique: "T1595",
            attacker: f.orig,
            target: ANY,
        };
        if s.alerted && cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
            return;
        }
        if s.count < u64::from(self.bad_flags_min) {
            return;
        }
        s.alerted = true;
        let names: Vec<String> = s.combos.iter().map(|&c| flag_names(c)).collect();
        let ev = evidence! {
            "packets" => s.count,
            "combinations" => names,
            "window_s" => secs(ts - start),
        };
        let n = s.count;
        let d = draft(
            "flags.impossible",
            sid::BAD_FLAGS,
            format!(
                "MEKONG SCAN impossible TCP flag combinations from {}",
                f.orig
            ),
            "attempted-recon",
            &["T1595"],
            f.orig,
            f.resp,
            None,
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, n, || d);
    }

    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.vertical.sweep(now);
        self.horizontal.sweep(now);
        self.icmp.sweep(now);
        self.arp.sweep(now);
        self.flags.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.vertical.refused
            + self.horizontal.refused
            + self.icmp.refused
            + self.arp.refused
            + self.flags.refused
    }

    /// Keys held, all tables together.
    pub fn keys(&self) -> usize {
        self.vertical.len()
            + self.horizontal.len()
            + self.icmp.len()
            + self.arp.len()
            + self.flags.len()
    }
}

/// The block a sweep is counted in: the IPv4 /16 or IPv6 /48 of a host.
/// Sweeps probe a network; a client trying many scattered internet hosts
/// on one port (a miner's failover pools, a browser's many servers) does
/// not concentrate in one.
pub fn block_of(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(o[0], o[1], 0, 0))
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

/// An address standing for a port in incident keys of sweeps
/// (`0.0.x.y`), so sweeps of different ports are different incidents.
fn port_marker(port: u16) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(0, 0, (port >> 8) as u8, port as u8))
}

/// Letters of a flag byte (`SF` for SYN+FIN), as in tcpdump.
pub fn flag_names(f: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

/// A hit on an open incident never builds its draft; this one stands in.
pub(crate) fn unreachable_draft(f: &FlowRef) -> crate::incident::Draft {
    draft(
        "internal",
        0,
        String::new(),
        "misc-activity",
        &[],
        f.orig,
        f.resp,
        None,
        f,
        0,
        serde_json::Map::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_kinds() {
        assert_eq!(tcp_probe(SYN), Some(ProbeKind::Syn));
        assert_eq!(
            tcp_probe(SYN | 0x40 | 0x80),
            Some(ProbeKind::Syn),
            "ECN setup SYN"
        );
        assert_eq!(tcp_probe(SYN | ACK), None);
        assert_eq!(tcp_probe(0), Some(ProbeKind::Null));
        assert_eq!(tcp_probe(FIN), Some(ProbeKind::Fin));
        assert_eq!(tcp_probe(FIN | PSH | URG), Some(ProbeKind::Xmas));
        assert_eq!(tcp_probe(ACK), None, "a midstream flow is no probe");
        assert_eq!(tcp_probe(RST), None);
        assert!(impossible_flags(SYN | FIN));
        assert!(impossible_flags(SYN | RST | ACK));
        assert!(!impossible_flags(SYN | 0x40 | 0x80));
        assert!(!impossible_flags(FIN | ACK));
        assert_eq!(flag_names(SYN | FIN), "SF");
        assert_eq!(flag_names(0), "none");
    }
}
