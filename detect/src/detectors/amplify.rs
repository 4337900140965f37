//! Reflection and amplification (T1498.002): answers a host never asked for.
//!
//! - **UDP**: a flow whose first packet comes from a reflecting service's
//!   port (`amplification.udp_ports`: DNS, NTP, SNMP, SSDP, memcached,
//!   CLDAP...) to a host (not a multicast or broadcast group) is an
//!   unsolicited answer: the host's request, had there been one, would
//!   have opened the flow. At least
//!   `amplification.min_answers` of them from at least
//!   `amplification.min_reflectors` reflectors, carrying at least
//!   `amplification.min_bytes`, to one host within `amplification.window_s`.
//!   The evidence gives bytes in (answers) over bytes out (what the victim
//!   sent back to those reflectors, nearly always nothing).
//! - **TCP SYN-ACK reflection**: SYN-ACKs from at least
//!   `amplification.synack_min_reflectors` distinct servers, and at least
//!   `amplification.min_answers` of them, to one host that sent no SYN.
//!   Backscatter (one flooded server answering many spoofed addresses) has
//!   few reflectors per receiver and does not qualify.

use std::net::IpAddr;

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::event::{EventKind, HostEvent};
use crate::evidence;
use crate::incident::{Key, ANY};
use crate::window::{hash_ip, Distinct, Slot, Windowed};

use super::scan::unreachable_draft;

#[derive(Default)]
struct Victim {
    answers: u64,
    bytes_in: u64,
    bytes_out: u64,
    reflectors: Distinct,
    services: Vec<u16>,
    sample: Vec<IpAddr>,
}

/// The reflection detectors.
pub struct Amplify {
    on: bool,
    ports: Vec<u16>,
    min_answers: u64,
    min_reflectors: usize,
    min_bytes: u64,
    synack_min: usize,
    udp: Windowed<IpAddr, Victim>,
    synack: Windowed<IpAddr, Victim>,
}

const S: u64 = 1_000_000_000;

impl Amplify {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Amplify {
        let a = &c.amplification;
        Amplify {
            on: a.enabled,
            ports: a.udp_ports.clone(),
            min_answers: u64::from(a.min_answers),
            min_reflectors: a.min_reflectors as usize,
            min_bytes: a.min_bytes,
            synack_min: a.synack_min_reflectors as usize,
            udp: Windowed::new(a.window_s * S, 200_000),
            synack: Windowed::new(a.window_s * S, 200_000),
        }
    }

    fn unsolicited(&self, e: &HostEvent) -> bool {
        let f = &e.flow;
        // The victim's port may be a service port too (ISAKMP answers go to
        // 500); multicast and broadcast groups are no victims.
        f.proto == 17 && self.ports.contains(&f.orig_port) && !group(f.resp)
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        if !self.on {
            return;
        }
        let f = &e.flow;
        match e.kind {
            EventKind::Start {
                payload,
                from_resp,
                flags,
                ..
            } => {
                if self.unsolicited(e) {
                    self.udp_answer(e, 1, u64::from(payload), 0, cx);
                } else if f.proto == 6 && from_resp && flags & 0x12 == 0x12 {
                    self.synack(e, cx);
                }
            }
            EventKind::Volume {
                orig_pkts,
                orig_bytes,
                resp_bytes,
                ..
            } if self.unsolicited(e) => {
                self.udp_answer(e, u64::from(orig_pkts), orig_bytes, resp_bytes, cx);
            }
            _ => {}
        }
    }

    fn udp_answer(
        &mut self,
        e: &HostEvent,
        n: u64,
        bytes_in: u64,
        bytes_out: u64,
        cx: &mut Cx<'_>,
    ) {
        let f = &e.flow;
        let ts = e.ts_ns;
        let Slot::Live(v, start) = self.udp.get(f.resp, ts) else {
            return;
        };
        if v.reflectors.is_empty() {
            v.reflectors = Distinct::new(4096);
        }
        v.answers += n;
        v.bytes_in += bytes_in;
        v.bytes_out += bytes_out;
        if v.reflectors.insert(hash_ip(f.orig)) && v.sample.len() < 10 {
            v.sample.push(f.orig);
        }
        if !v.services.contains(&f.orig_port) && v.services.len() < 8 {
            v.services.push(f.orig_port);
        }
        let key = Key {
            technique: "T1498.002",
            attacker: ANY,
            target: f.resp,
        };
        if cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, n, || unreachable_draft(f));
            return;
        }
        if v.answers < self.min_answers
            || v.reflectors.len() < self.min_reflectors
            || v.bytes_in < self.min_bytes
        {
            return;
        }
        let names: Vec<&str> = v.services.iter().map(|&p| service_name(p)).collect();
        let ev = evidence! {
            "answers" => v.answers,
            "reflectors" => v.reflectors.len() as u64,
            "bytes_in" => v.bytes_in,
            "bytes_out" => v.bytes_out,
            "services" => names.clone(),
            "sample_reflectors" => v.sample.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "window_s" => secs(ts - start),
        };
        let answers = v.answers;
        let d = draft(
            "amplification.udp",
            sid::AMP_UDP,
            format!(
                "MEKONG DOS {} reflection/amplification against {}",
                names.join("/").to_ascii_uppercase(),
                f.resp
            ),
            "attempted-dos",
            &["T1498.002"],
            f.orig,
            f.resp,
            None,
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, answers, || d);
    }

    fn synack(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        let f = &e.flow;
        let ts = e.ts_ns;
        // Roles are flipped: the receiver of the SYN-ACK is the originator.
        let Slot::Live(v, start) = self.synack.get(f.orig, ts) else {
            return;
        };
        if v.reflectors.is_empty() {
            v.reflectors = Distinct::new(4096);
        }
        v.answers += 1;
        if v.reflectors.insert(hash_ip(f.resp)) && v.sample.len() < 10 {
            v.sample.push(f.resp);
        }
        let key = Key {
            technique: "T1498.002",
            attacker: ANY,
            target: f.orig,
        };
        if cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
            return;
        }
        if v.answers < self.min_answers || v.reflectors.len() < self.synack_min {
            return;
        }
        let ev = evidence! {
            "syn_acks" => v.answers,
            "reflectors" => v.reflectors.len() as u64,
            "sample_reflectors" => v.sample.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "window_s" => secs(ts - start),
        };
        let n = v.answers;
        let d = draft(
            "amplification.syn_ack",
            sid::AMP_SYNACK,
            format!("MEKONG DOS TCP SYN-ACK reflection against {}", f.orig),
            "attempted-dos",
            &["T1498.002"],
            f.resp,
            f.orig,
            None,
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, n, || d);
    }

    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.udp.sweep(now);
        self.synack.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.udp.refused + self.synack.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.udp.len() + self.synack.len()
    }
}

/// True for multicast and broadcast destinations.
fn group(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_multicast() || v.is_broadcast() || v.octets()[3] == 255,
        IpAddr::V6(v) => v.is_multicast(),
    }
}

/// The reflecting service of a port.
pub fn service_name(port: u16) -> &'static str {
    match port {
        17 => "qotd",
        19 => "chargen",
        53 => "dns",
        111 => "portmap",
        123 => "ntp",
        137 => "netbios",
        161 => "snmp",
        389 => "cldap",
        500 => "isakmp",
        1434 => "mssql-browser",
        1900 => "ssdp",
        3283 => "ard",
        3702 => "ws-discovery",
        5353 => "mdns",
        5683 => "coap",
        10001 => "ubiquiti",
        11211 => "memcached",
        27015 => "steam",
        _ => "udp",
    }
}
