//! Large outbound transfers (T1048, T1041).
//!
//! Payload sent from a `home_net` host to one peer outside it is summed over
//! `exfil.window_s` from the first byte, whichever side opened the flows
//! (an outsider pulling data from an inside server counts too). At least
//! `exfil.min_bytes` out, and at least `exfil.min_ratio` times the bytes
//! that came back, is an exfiltration: T1041 first when the peer is a known
//! command channel of that host (a beacon or indicator alert named it), else
//! T1048 first; both are named, since the channel alone cannot tell them
//! apart.
//!
//! Mail and files handed over by cleartext protocols (SMTP messages, FTP
//! data connections) are summed apart, per home host, external peer and
//! protocol: at least `exfil.protocol_min_bytes` (one byte by default) from
//! a host that is not one of `exfil.mail_servers` (for SMTP) or
//! `exfil.file_servers` (for FTP) is T1048.003, exfiltration over an
//! unencrypted non-C2 protocol: a workstation that mails or uploads files
//! straight out is what the technique looks like.

use std::net::IpAddr;

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::event::{EventKind, HostEvent, Service};
use crate::evidence;
use crate::incident::Key;
use crate::net::IpSet;
use crate::window::{Slot, Windowed};

use super::scan::unreachable_draft;

#[derive(Default)]
struct Pair {
    out: u64,
    inb: u64,
    flows: u64,
    alerted: bool,
}

/// The transfer detector.
pub struct Exfil {
    on: bool,
    min_bytes: u64,
    min_ratio: f64,
    allow: IpSet,
    pairs: Windowed<(IpAddr, IpAddr), Pair>,
    protocol_min: u64,
    mail_servers: IpSet,
    file_servers: IpSet,
    uploads: Windowed<(IpAddr, IpAddr, Service), Upload>,
}

#[derive(Default)]
struct Upload {
    bytes: u64,
    transfers: u64,
    alerted: bool,
}

impl Exfil {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Exfil {
        let x = &c.exfil;
        Exfil {
            on: x.enabled,
            min_bytes: x.min_bytes,
            min_ratio: x.min_ratio,
            allow: DetectConfig::set(&x.allow),
            pairs: Windowed::new(x.window_s * 1_000_000_000, 500_000),
            protocol_min: x.protocol_min_bytes,
            mail_servers: DetectConfig::set(&x.mail_servers),
            file_servers: DetectConfig::set(&x.file_servers),
            uploads: Windowed::new(x.window_s * 1_000_000_000, 100_000),
        }
    }

    /// Mail or files handed over by SMTP or FTP.
    fn upload(&mut self, e: &HostEvent, service: Service, orig: u64, resp: u64, cx: &mut Cx<'_>) {
        let f = &e.flow;
        let (host, peer, out) = match (cx.home.contains(f.orig), cx.home.contains(f.resp)) {
            (true, false) => (f.orig, f.resp, orig),
            (false, true) => (f.resp, f.orig, resp),
            _ => return,
        };
        let servers = if service == Service::Smtp {
            &self.mail_servers
        } else {
            &self.file_servers
        };
        if out == 0
            || servers.contains(host)
            || self.allow.contains(peer)
            || cx.allow.contains(peer)
            || cx.allow.contains(host)
        {
            return;
        }
        let ts = e.ts_ns;
        let Slot::Live(p, start) = self.uploads.get((host, peer, service), ts) else {
            return;
        };
        p.bytes += out;
        p.transfers += 1;
        let key = Key {
            technique: "T1048.003",
            attacker: host,
            target: peer,
        };
        if p.alerted && cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, out, || unreachable_draft(f));
            return;
        }
        if p.bytes < self.protocol_min {
            return;
        }
        p.alerted = true;
        let what = if service == Service::Smtp {
            "mail sent by SMTP"
        } else {
            "files uploaded by FTP"
        };
        let ev = evidence! {
            "service" => service.name(),
            "bytes_out" => p.bytes,
            "transfers" => p.transfers,
            "window_s" => secs(ts - start),
        };
        let bytes = p.bytes;
        let d = draft(
            "exfil.protocol",
            sid::EXFIL_PROTOCOL,
            format!("MEKONG EXFIL {what} from {host} to {peer}, not one of the organisation's servers ({bytes} bytes)"),
            "policy-violation",
            &["T1048.003", "T1048"],
            host,
            peer,
            None,
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, bytes, || d);
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        if !self.on {
            return;
        }
        if let EventKind::Upload {
            service,
            orig_bytes,
            resp_bytes,
        } = e.kind
        {
            self.upload(e, service, orig_bytes, resp_bytes, cx);
            return;
        }
        let EventKind::Volume {
            orig_bytes,
            resp_bytes,
            ..
        } = e.kind
        else {
            return;
        };
        let f = &e.flow;
        let (host, peer, out, inb) = match (cx.home.contains(f.orig), cx.home.contains(f.resp)) {
            (true, false) => (f.orig, f.resp, orig_bytes, resp_bytes),
            (false, true) => (f.resp, f.orig, resp_bytes, orig_bytes),
            _ => return,
        };
        if out == 0 || self.allow.contains(peer) || cx.allow.contains(peer) {
            return;
        }
        let ts = e.ts_ns;
        let Slot::Live(p, start) = self.pairs.get((host, peer), ts) else {
            return;
        };
        p.out += out;
        p.inb += inb;
        p.flows += 1;
        let c2 = cx.c2_peers.contains(&(host, peer));
        let techniques: &[&str] = if c2 {
            &["T1041", "T1048"]
        } else {
            &["T1048", "T1041"]
        };
        let key = Key {
            technique: techniques[0],
            attacker: host,
            target: peer,
        };
        if p.alerted && cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, out, || unreachable_draft(f));
            return;
        }
        if p.out < self.min_bytes || (p.out as f64) < self.min_ratio * (p.inb.max(1) as f64) {
            return;
        }
        p.alerted = true;
        let ratio = p.out as f64 / p.inb.max(1) as f64;
        let ev = evidence! {
            "bytes_out" => p.out,
            "bytes_in" => p.inb,
            "out_in_ratio" => (ratio * 10.0).round() / 10.0,
            "peer_is_c2" => c2,
            "port" => if f.orig == host { f.resp_port } else { f.orig_port },
            "window_s" => secs(ts - start),
        };
        let bytes = p.out;
        let d = draft(
            "exfil.volume",
            sid::EXFIL,
            format!(
                "MEKONG EXFIL {:.1} MB sent from {host} to {peer}{}",
                bytes as f64 / 1e6,
                if c2 { " (its command server)" } else { "" }
            ),
            "policy-violation",
            techniques,
            host,
            peer,
            None,
            f,
            start,
            ev,
        );
        cx.inc.hit(key, ts, bytes, || d);
    }

    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.pairs.sweep(now);
        self.uploads.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.pairs.refused + self.uploads.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.pairs.len() + self.uploads.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use crate::alert::Phase;
    use crate::config::DetectConfig;
    use crate::event::{EventKind, FlowRef, HostEvent, Service};
    use crate::host::HostStage;

    const S: u64 = 1_000_000_000;

    /// Start alerts of uploads (second, client host byte, service, bytes
    /// from the originator) from 192.168.1.x to 203.0.113.9.
    fn run(cfg: &DetectConfig, ups: &[(u64, u8, Service, u64)]) -> Vec<(u32, String)> {
        let mut st = HostStage::new(cfg);
        for &(t, c, service, bytes) in ups {
            st.event(&HostEvent {
                ts_ns: 1_000 * S + t * S,
                flow: FlowRef {
                    uid: i64::from(c),
                    proto: 6,
                    vlan: 0,
                    orig: Ipv4Addr::new(192, 168, 1, c).into(),
                    orig_port: 50_000,
                    resp: Ipv4Addr::new(203, 0, 113, 9).into(),
                    resp_port: if service == Service::Smtp { 25 } else { 40_000 },
                },
                kind: EventKind::Upload {
                    service,
                    orig_bytes: bytes,
                    resp_bytes: 10,
                },
            });
        }
        st.finish();
        st.drain()
            .into_iter()
            .filter(|a| a.phase == Phase::Start)
            .map(|a| (a.signature_id, a.techniques[0].clone()))
            .collect()
    }

    #[test]
    fn mail_and_files_straight_out_of_a_workstation() {
        let c = DetectConfig::default();
        let want = vec![(9_000_552, "T1048.003".to_string())];
        assert_eq!(run(&c, &[(0, 5, Service::Smtp, 900)]), want);
        assert_eq!(run(&c, &[(0, 5, Service::Ftp, 533)]), want);
        // A download (nothing sent out) is no upload; nor is the
        // organisation's mail server sending mail.
        assert!(run(&c, &[(0, 5, Service::Ftp, 0)]).is_empty());
        let mut m = DetectConfig::default();
        m.exfil.mail_servers = vec!["192.168.1.5".into()];
        assert!(run(&m, &[(0, 5, Service::Smtp, 900)]).is_empty());
        assert_eq!(run(&m, &[(0, 5, Service::Ftp, 900)]), want);
        // A volume threshold sums the window's transfers, once alerted.
        m.exfil.protocol_min_bytes = 1000;
        assert!(run(&m, &[(0, 6, Service::Ftp, 600)]).is_empty());
        assert_eq!(
            run(
                &m,
                &[
                    (0, 6, Service::Ftp, 600),
                    (60, 6, Service::Ftp, 600),
                    (90, 6, Service::Ftp, 600)
                ]
            ),
            want
        );
    }
}
