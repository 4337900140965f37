//! DHCP starvation (T1499) and rogue DHCP servers (T1557.003).
//!
//! Starvation: `dhcp.starvation_min_clients` distinct client hardware
//! addresses asking for a lease (DISCOVER, REQUEST) on one network segment
//! (VLAN) within `dhcp.window_s` — a tool exhausting the pool with forged
//! addresses; an office's clients renew over hours, not a minute. Rogue
//! server: an OFFER or ACK whose server identifier (or source) is not in
//! `dhcp.servers`; with no servers configured it is not checked, since
//! redundant servers answer together by design.

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::event::{DhcpEvent, EventKind, HostEvent};
use crate::evidence;
use crate::incident::Key;
use crate::net::IpSet;
use crate::window::{Slot, Windowed};

use super::scan::unreachable_draft;

/// Distinct clients counted per segment, at most.
const MAX_CLIENTS: usize = 4096;

#[derive(Default)]
struct Segment {
    clients: Vec<u32>,
}

/// The DHCP detector.
pub struct Dhcp {
    on: bool,
    min_clients: usize,
    servers: IpSet,
    check_servers: bool,
    segments: Windowed<u16, Segment>,
}

impl Dhcp {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Dhcp {
        let d = &c.dhcp;
        Dhcp {
            on: d.enabled,
            min_clients: d.starvation_min_clients as usize,
            servers: DetectConfig::set(&d.servers),
            check_servers: !d.servers.is_empty(),
            segments: Windowed::new(d.window_s * 1_000_000_000, 4096),
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        let EventKind::Dhcp(DhcpEvent {
            msg_type,
            mac,
            server,
        }) = e.kind
        else {
            return;
        };
        if !self.on {
            return;
        }
        let f = &e.flow;
        let ts = e.ts_ns;
        match msg_type {
            1 | 3 => {
                let Slot::Live(s, start) = self.segments.get(f.vlan, ts) else {
                    return;
                };
                if !s.clients.contains(&mac) && s.clients.len() < MAX_CLIENTS {
                    s.clients.push(mac);
                }
                if s.clients.len() < self.min_clients {
                    return;
                }
                let key = Key {
                    technique: "T1499",
                    attacker: f.orig,
                    target: f.resp,
                };
                if cx.inc.is_open(&key, ts) {
                    cx.inc.hit(key, ts, 1, || unreachable_draft(f));
                    return;
                }
                let ev = evidence! {
                    "distinct_clients" => s.clients.len(),
                    "vlan" => f.vlan.saturating_sub(1),
                    "window_s" => secs(ts - start),
                };
                let d = draft(
                    "dhcp.starvation",
                    sid::DHCP_STARVATION,
                    format!(
                        "MEKONG DOS DHCP starvation: {} client addresses asking for leases",
                        s.clients.len()
                    ),
                    "attempted-dos",
                    &["T1499"],
                    f.orig,
                    f.resp,
                    Some(f.resp_port),
                    f,
                    start,
                    ev,
                );
                cx.inc.hit(key, ts, 1, || d);
            }
            2 | 5 if self.check_servers => {
                // The server is the packet's sender: the flow's originator
                // when it opened the flow with its answer, else the responder.
                let sender = server.unwrap_or(f.orig);
                if self.servers.contains(sender) || cx.allow.contains(sender) {
                    return;
                }
                let key = Key {
                    technique: "T1557.003",
                    attacker: sender,
                    target: f.resp,
                };
                if cx.inc.is_open(&key, ts) {
                    cx.inc.hit(key, ts, 1, || unreachable_draft(f));
                    return;
                }
                let ev = evidence! {
                    "server_id" => sender.to_string(),
                    "message" => if msg_type == 2 { "OFFER" } else { "ACK" },
                };
                let d = draft(
                    "dhcp.rogue",
                    sid::DHCP_ROGUE,
                    format!("MEKONG CREDENTIAL ACCESS rogue DHCP server {sender}"),
                    "attempted-admin",
                    &["T1557.003", "T1557"],
                    sender,
                    f.resp,
                    Some(f.resp_port),
                    f,
                    ts,
                    ev,
                );
                cx.inc.hit(key, ts, 1, || d);
            }
            _ => {}
        }
    }

    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.segments.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.segments.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use crate::alert::Phase;
    use crate::config::DetectConfig;
    use crate::event::{DhcpEvent, EventKind, FlowRef, HostEvent};
    use crate::host::HostStage;

    fn run(
        cfg: &DetectConfig,
        evs: &[(u64, u8, u32, Option<Ipv4Addr>)],
    ) -> Vec<(u32, Vec<String>)> {
        let mut st = HostStage::new(cfg);
        for &(ms, msg_type, mac, server) in evs {
            let flow = FlowRef {
                uid: i64::from(mac),
                proto: 17,
                vlan: 0,
                orig: Ipv4Addr::UNSPECIFIED.into(),
                orig_port: 68,
                resp: Ipv4Addr::BROADCAST.into(),
                resp_port: 67,
            };
            st.event(&HostEvent {
                ts_ns: 1_000_000_000_000 + ms * 1_000_000,
                flow,
                kind: EventKind::Dhcp(DhcpEvent {
                    msg_type,
                    mac,
                    server: server.map(std::net::IpAddr::V4),
                }),
            });
        }
        st.finish();
        st.drain()
            .into_iter()
            .filter(|a| a.phase == Phase::Start)
            .map(|a| (a.signature_id, a.techniques))
            .collect()
    }

    #[test]
    fn fifty_forged_clients_in_a_minute_starve_the_pool() {
        let c = DetectConfig::default();
        let burst: Vec<_> = (0..50).map(|i| (i * 100, 1, i as u32, None)).collect();
        assert_eq!(
            run(&c, &burst),
            vec![(9_000_901, vec!["T1499".to_string()])]
        );
        assert!(run(&c, &burst[..49]).is_empty());
        // The same 50 clients over an hour renew, they do not starve.
        let slow: Vec<_> = (0..50).map(|i| (i * 72_000, 3, i as u32, None)).collect();
        assert!(run(&c, &slow).is_empty());
    }

    #[test]
    fn offers_from_servers_not_configured_are_rogue() {
        let mut c = DetectConfig::default();
        let good = Ipv4Addr::new(10, 0, 0, 1);
        let rogue = Ipv4Addr::new(10, 0, 0, 66);
        // Not configured: not checked.
        assert!(run(&c, &[(0, 2, 1, Some(rogue))]).is_empty());
        c.dhcp.servers = vec!["10.0.0.1".into()];
        assert!(run(&c, &[(0, 2, 1, Some(good)), (1, 5, 1, Some(good))]).is_empty());
        assert_eq!(
            run(&c, &[(0, 2, 1, Some(good)), (1, 2, 1, Some(rogue))]),
            vec![(
                9_000_902,
                vec!["T1557.003".to_string(), "T1557".to_string()]
            )]
        );
    }
}
