//! Benign background traffic of the office: web browsing (DNS then HTTPS or
//! HTTP), DNS lookups of many record types, file shares (SMB3 encrypted, and
//! SMB2 in the clear with an NTLM logon and a Kerberos one), intranet web,
//! NTP, SSH administration, pings, DHCP renewals, mail submitted to the
//! office's server, a database client, and the odd refused or unanswered
//! connection. Sessions arrive as a Poisson process at a rate calibrated so
//! the background fills its packet budget over the capture duration.

use std::net::IpAddr;
use std::rc::Rc;

use crate::engine::{Burst, Event, OwnerStats, Source, Spawner};
use crate::net::{Client, ExternalServer, Host, Network};
use crate::proto::dns::{self, qtype, rcode, RData, Record};
use crate::proto::{http, ntp, ssh, tls};
use crate::rng::Rng;
use crate::sessions::{self, Exchange, Timed, MS, SEC};
use crate::tcp::{Close, Open};

/// Kinds of background session and their shares of arrivals.
const MIX: [(Kind, f64); 14] = [
    (Kind::Web, 0.47),
    (Kind::Domain, 0.02),
    (Kind::Dhcp, 0.01),
    (Kind::Mail, 0.01),
    (Kind::Db, 0.01),
    (Kind::Dns, 0.14),
    (Kind::Smb, 0.07),
    (Kind::Intranet, 0.08),
    (Kind::Ntp, 0.06),
    (Kind::Ping, 0.04),
    (Kind::Ssh, 0.025),
    (Kind::BigDns, 0.02),
    (Kind::Refused, 0.01),
    (Kind::Dead, 0.005),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Web,
    Domain,
    Dhcp,
    Mail,
    Db,
    Dns,
    Smb,
    Intranet,
    Ntp,
    Ping,
    Ssh,
    BigDns,
    Refused,
    Dead,
}

/// Builds background sessions.
pub struct Factory {
    net: Rc<Network>,
    kinds: crate::rng::Weighted,
    start_unix: i64,
    max_flow_bytes: f64,
}

/// Sources to spawn, each with its start time.
pub type Group = Vec<(u64, Box<dyn Source>)>;

fn burst(v: Vec<Timed>) -> Box<dyn Source> {
    Box::new(Burst::new(v))
}

/// A source that spawns a fixed list of (time, source) pairs.
pub fn group(mut items: Group) -> Box<dyn Source> {
    items.sort_by_key(|i| i.0);
    let mut it = items.into_iter();
    Box::new(Spawner::new(move || it.next()))
}

impl Factory {
    /// A factory over the network; `start_ns` is the capture start. The
    /// heavy tail of flow sizes is cut at one hundredth of the background's
    /// packet budget (at least 1 MB), so that a small capture is not one
    /// download.
    pub fn new(net: Rc<Network>, start_ns: u64, budget_packets: u64) -> Factory {
        Factory {
            net,
            kinds: crate::rng::Weighted::from_weights(MIX.iter().map(|m| m.1)),
            start_unix: (start_ns / SEC) as i64,
            max_flow_bytes: (budget_packets as f64 * 1448.0 / 100.0).clamp(1e6, 40e6),
        }
    }

    /// One session starting at `t`.
    pub fn session(&self, rng: &mut Rng, t: u64) -> Box<dyn Source> {
        let kind = MIX[self.kinds.sample(rng)].0;
        let net = &self.net;
        let c = &net.clients[rng.below(net.clients.len() as u64) as usize];
        match kind {
            Kind::Web => self.web(rng, c, t),
            Kind::Dns => burst(self.dns_only(rng, &c.v4, t)),
            Kind::BigDns => burst(self.big_dns(rng, &c.v4, t)),
            Kind::Smb => self.smb(rng, &c.v4, t),
            Kind::Intranet => self.intranet(rng, c, t),
            Kind::Ntp => burst(self.ntp(rng, &c.v4, t)),
            Kind::Ping => burst(self.ping(rng, &c.v4, t)),
            Kind::Ssh => self.ssh(rng, t),
            Kind::Domain => self.domain(rng, &c.v4, t),
            Kind::Dhcp => burst(self.dhcp(rng, &c.v4, t)),
            Kind::Mail => self.mail(rng, &c.v4, t),
            Kind::Db => self.db(rng, &c.v4, t),
            Kind::Refused | Kind::Dead => {
                let s = net.pick_server(rng);
                let port = *rng.pick(&[8080, 8443, 81, 8000]);
                let mut cfg = sessions::tcp_config(rng, &c.v4, &s.v4, port, t, s.rtt_ns);
                cfg.open = if kind == Kind::Refused {
                    Open::Refused
                } else {
                    Open::Unanswered { retries: 2 }
                };
                Box::new(sessions::flow(cfg, vec![], rng))
            }
        }
    }

    fn addr_answers(&self, rng: &mut Rng, s: &ExternalServer, v6: bool) -> Vec<Record> {
        let mut out = Vec::new();
        let mut owner = s.name.clone();
        if rng.chance(0.3) {
            let cname = format!(
                "{}.cdn.cloudedge{}.net",
                s.name.replace('.', "-"),
                rng.below(4)
            );
            out.push(Record {
                name: owner.clone(),
                ttl: 300,
                data: RData::Cname(cname.clone()),
            });
            owner = cname;
        }
        let ttl = *rng.pick(&[60, 300, 600, 3600]);
        let data = match (v6, s.v6, s.v4.ip) {
            (true, Some(a), _) => RData::Aaaa(a),
            (_, _, IpAddr::V4(a)) => RData::A(a),
            _ => RData::A(std::net::Ipv4Addr::new(192, 0, 2, 1)),
        };
        out.push(Record {
            name: owner,
            ttl,
            data,
        });
        out
    }

    fn upstream(&self, rng: &mut Rng, miss: f64) -> Option<(&Host, u64)> {
        rng.chance(miss)
            .then(|| (rng.pick(&self.net.upstream_dns), rng.range(8, 30) * MS))
    }

    fn web(&self, rng: &mut Rng, c: &Client, t: u64) -> Box<dyn Source> {
        let net = &self.net;
        let s = net.pick_server(rng);
        let use_v6 = c.v6.is_some() && s.v6.is_some() && rng.chance(0.6);
        let (client, server) = match (use_v6, c.v6, s.v6) {
            (true, Some(a), Some(b)) => (c.v4.with_ip(IpAddr::V6(a)), s.v4.with_ip(IpAddr::V6(b))),
            _ => (c.v4.clone(), s.v4.clone()),
        };
        let q = dns::Message::query(
            rng.next_u32() as u16,
            &s.name,
            if use_v6 { qtype::AAAA } else { qtype::A },
        );
        let a = dns::Message::answer(&q, rcode::NOERROR, self.addr_answers(rng, s, use_v6));
        let up = self.upstream(rng, 0.35);
        let (frames, t_ans) = sessions::dns_lookup(rng, &c.v4, &net.resolver, up, t, &q, &a);
        let mut items: Group = vec![(t, burst(frames))];
        let conns = 1 + (rng.exp(0.8) as u64).min(5);
        let mut tc = t_ans + rng.range(100_000, 2_000_000);
        let https = s.https && (!s.http || rng.chance(0.7));
        for _ in 0..conns {
            let f = if https {
                self.https_conn(rng, c, &client, &server, s, tc)
            } else {
                self.http_conn(rng, c, &client, &server, s, tc)
            };
            items.push((tc, f));
            tc += rng.range(1, 300) * MS;
        }
        group(items)
    }

    fn close_mode(rng: &mut Rng) -> (Close, u64) {
        let x = rng.f64();
        if x < 0.55 {
            (Close::ClientFin, rng.range(1, 2_000) * MS)
        } else if x < 0.85 {
            (Close::ServerFin, rng.range(5, 60) * SEC)
        } else if x < 0.97 {
            (Close::ClientRst, rng.range(1, 500) * MS)
        } else {
            (Close::Open, 0)
        }
    }

    fn body_size(&self, rng: &mut Rng) -> usize {
        let x = if rng.chance(0.01) {
            rng.pareto(2_000_000.0, 1.3)
        } else {
            rng.lognormal(9_000.0, 1.7)
        };
        x.min(self.max_flow_bytes) as usize
    }

    fn https_conn(
        &self,
        rng: &mut Rng,
        c: &Client,
        client: &Host,
        server: &Host,
        s: &ExternalServer,
        t: u64,
    ) -> Box<dyn Source> {
        let profile = &tls::PROFILES[c.tls_profile];
        let n = 1 + (rng.exp(1.5) as usize).min(30);
        let ex: Vec<Exchange> = (0..n)
            .map(|i| Exchange {
                think_ns: if i == 0 {
                    rng.range(1, 20) * MS
                } else {
                    (rng.exp(2.0) * SEC as f64) as u64
                },
                request: rng.lognormal(450.0, 0.5) as usize,
                server_ns: rng.range(2, 150) * MS,
                response: self.body_size(rng) + 60,
            })
            .collect();
        let chain = sessions::cert_chain(&s.name, self.start_unix, false);
        let msgs = sessions::tls_messages(profile, &s.name, s.tls13, &chain, &ex, rng);
        let mut cfg = sessions::tcp_config(rng, client, server, 443, t, s.rtt_ns);
        (cfg.close, cfg.close_delay_ns) = Self::close_mode(rng);
        cfg.retransmit_chance = 0.03;
        Box::new(sessions::flow(cfg, msgs, rng))
    }

    fn uri(rng: &mut Rng) -> (String, &'static str) {
        match rng.below(5) {
            0 => (
                format!("/tin-tuc/2026/03/bai-viet-{}.html", rng.below(90_000)),
                "text/html; charset=utf-8",
            ),
            1 => (
                format!("/static/js/app.{:08x}.js", rng.next_u32()),
                "application/javascript",
            ),
            2 => (
                format!("/api/v1/items?page={}&size=20", rng.below(50)),
                "application/json",
            ),
            3 => (
                format!("/downloads/tai-lieu-{}.bin", rng.below(5000)),
                "application/octet-stream",
            ),
            _ => ("/".to_string(), "text/html; charset=utf-8"),
        }
    }

    fn http_conn(
        &self,
        rng: &mut Rng,
        c: &Client,
        client: &Host,
        server: &Host,
        s: &ExternalServer,
        t: u64,
    ) -> Box<dyn Source> {
        let ua = http::USER_AGENTS[c.ua % http::USER_AGENTS.len()];
        let n = 1 + (rng.exp(1.5) as usize).min(20);
        let mut ex = Vec::new();
        for i in 0..n {
            let (uri, ct) = Self::uri(rng);
            let ct_kind = ct.split(';').next().unwrap_or(ct);
            let req = http::request(
                "GET",
                &s.name,
                &uri,
                ua,
                &[("Accept-Encoding", "identity")],
                b"",
            );
            let (status, len) = if rng.chance(0.05) {
                (404, 150)
            } else {
                (200, self.body_size(rng))
            };
            let resp =
                sessions::http_response(status, http::SERVERS[s.server_sw], ct_kind, len, rng);
            let think = if i == 0 {
                rng.range(1, 20) * MS
            } else {
                (rng.exp(1.5) * SEC as f64) as u64
            };
            ex.push((think, req, rng.range(2, 150) * MS, resp));
        }
        let mut cfg = sessions::tcp_config(rng, client, server, 80, t, s.rtt_ns);
        (cfg.close, cfg.close_delay_ns) = Self::close_mode(rng);
        cfg.retransmit_chance = 0.03;
        Box::new(sessions::flow(cfg, sessions::http_messages(ex), rng))
    }

    fn dns_only(&self, rng: &mut Rng, c: &Host, t: u64) -> Vec<Timed> {
        let net = &self.net;
        let s = net.pick_server(rng);
        let domain = s.name.trim_start_matches("www.").to_string();
        let id = rng.next_u32() as u16;
        let x = rng.f64();
        let (q, answers, rc) = if x < 0.45 {
            let q = dns::Message::query(id, &s.name, qtype::A);
            let a = self.addr_answers(rng, s, false);
            (q, a, rcode::NOERROR)
        } else if x < 0.6 {
            let q = dns::Message::query(id, &s.name, qtype::AAAA);
            let a = if s.v6.is_some() {
                self.addr_answers(rng, s, true)
            } else {
                vec![]
            };
            (q, a, rcode::NOERROR)
        } else if x < 0.72 {
            let q = dns::Message::query(id, &domain, qtype::MX);
            let a = (0..rng.range(1, 3))
                .map(|i| Record {
                    name: domain.clone(),
                    ttl: 3600,
                    data: RData::Mx(10 * (i as u16 + 1), format!("mx{}.{domain}", i + 1)),
                })
                .collect();
            (q, a, rcode::NOERROR)
        } else if x < 0.84 {
            let q = dns::Message::query(id, &domain, qtype::TXT);
            let a = vec![
                Record {
                    name: domain.clone(),
                    ttl: 3600,
                    data: RData::Txt(vec![
                        b"v=spf1 include:_spf.google.com include:mailgun.org ~all".to_vec(),
                    ]),
                },
                Record {
                    name: domain.clone(),
                    ttl: 3600,
                    data: RData::Txt(vec![format!(
                        "google-site-verification={:016x}{:016x}",
                        rng.next_u64(),
                        rng.next_u64()
                    )
                    .into_bytes()]),
                },
            ];
            (q, a, rcode::NOERROR)
        } else if x < 0.94 {
            let name = format!("www.{domain}");
            let q = dns::Message::query(id, &name, qtype::CNAME);
            let a = vec![Record {
                name: name.clone(),
                ttl: 600,
                data: RData::Cname(format!("{domain}.edgekey.net")),
            }];
            (q, a, rcode::NOERROR)
        } else {
            let name = format!(
                "wpad.{}",
                *rng.pick(&["so-tt.local", "office.local", "corp.local"])
            );
            (
                dns::Message::query(id, &name, qtype::A),
                vec![],
                rcode::NXDOMAIN,
            )
        };
        let a = dns::Message::answer(&q, rc, answers);
        let up = self.upstream(rng, 0.4);
        sessions::dns_lookup(rng, c, &net.resolver, up, t, &q, &a).0
    }

    /// A TXT answer large enough to be fragmented (DKIM keys, verification records).
    fn big_dns(&self, rng: &mut Rng, c: &Host, t: u64) -> Vec<Timed> {
        let net = &self.net;
        let s = net.pick_server(rng);
        let name = format!(
            "selector{}._domainkey.{}",
            rng.below(3),
            s.name.trim_start_matches("www.")
        );
        let mut q = dns::Message::query(rng.next_u32() as u16, &name, qtype::TXT);
        q.edns = Some(4096);
        let strings: Vec<Vec<u8>> = (0..rng.range(7, 14))
            .map(|_| {
                let mut v = b"p=".to_vec();
                v.extend((0..250).map(|_| {
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [rng.below(64) as usize]
                }));
                v
            })
            .collect();
        let a = dns::Message::answer(
            &q,
            rcode::NOERROR,
            vec![Record {
                name: name.clone(),
                ttl: 3600,
                data: RData::Txt(strings),
            }],
        );
        let up = Some((rng.pick(&net.upstream_dns), rng.range(8, 30) * MS));
        sessions::dns_lookup(rng, c, &net.resolver, up, t, &q, &a).0
    }

    fn smb(&self, rng: &mut Rng, c: &Host, t: u64) -> Box<dyn Source> {
        let n = 1 + (rng.exp(3.0) as usize).min(40);
        let ops: Vec<(usize, usize, u64)> = (0..n)
            .map(|_| {
                let big = rng.pareto(8_000.0, 1.1).min(self.max_flow_bytes) as usize;
                if rng.chance(0.7) {
                    (
                        rng.range(100, 400) as usize,
                        big,
                        (rng.exp(0.5) * SEC as f64) as u64,
                    )
                } else {
                    (
                        big,
                        rng.range(80, 200) as usize,
                        (rng.exp(0.5) * SEC as f64) as u64,
                    )
                }
            })
            .collect();
        let msgs = sessions::smb_messages(t, &ops, rng);
        let mut cfg = sessions::tcp_config(rng, c, &self.net.file_server, 445, t, 0);
        cfg.close = if rng.chance(0.7) {
            Close::ClientFin
        } else {
            Close::Open
        };
        cfg.close_delay_ns = rng.range(1, 30) * SEC;
        Box::new(sessions::flow(cfg, msgs, rng))
    }

    /// A domain member at work: a Kerberos logon and service ticket, then
    /// documents read and saved on the file server over SMB2 (NTLM).
    fn domain(&self, rng: &mut Rng, c: &Host, t: u64) -> Box<dyn Source> {
        use crate::sessions_win::{self as sw, SmbOp};
        let net = &self.net;
        let user = format!("user{:03}", rng.below(400));
        let mut items: Group = vec![(
            t,
            burst(sw::krb_logon(
                rng,
                c,
                &net.dc,
                t,
                &user,
                "cifs/fs01.corp.local",
            )),
        )];
        let docs = [
            "budget_2027.xlsx",
            "minutes.docx",
            "report.pdf",
            "plan.pptx",
        ];
        let doc = *rng.pick(&docs);
        let read = rng.range(20_000, 400_000) as usize;
        let ops = [
            SmbOp::Tree(r"\\FS01\shared", false),
            SmbOp::Read(doc, read),
            SmbOp::Write("notes.txt", rng.range(500, 8_000) as usize),
        ];
        let t1 = t + 200 * MS;
        let ws = format!("WS{:04}", rng.below(10_000));
        let msgs = sw::smb_session(t1, &user, &ws, true, &ops, rng);
        let mut cfg = sessions::tcp_config(rng, c, &net.file_server, 445, t1, 0);
        cfg.close = Close::ClientFin;
        items.push((t1, Box::new(sessions::flow(cfg, msgs, rng))));
        group(items)
    }

    /// A DHCP renewal: REQUEST and ACK with the domain controller.
    fn dhcp(&self, rng: &mut Rng, c: &Host, t: u64) -> Vec<Timed> {
        use crate::proto::mail;
        let dc = &self.net.dc;
        let IpAddr::V4(ip) = c.ip else {
            return Vec::new();
        };
        let IpAddr::V4(server) = dc.ip else {
            return Vec::new();
        };
        let xid = rng.next_u32();
        let name = format!("WS{:04}", rng.below(10_000));
        let req = mail::dhcp(3, xid, c.mac, Some(&name), [0; 4], None);
        let ack = mail::dhcp(5, xid, c.mac, None, ip.octets(), Some(server.octets()));
        let mut v: Vec<Timed> = sessions::udp_frames(rng, c, dc, 68, 67, &req)
            .into_iter()
            .map(|f| (t, f))
            .collect();
        let back = t + rng.range(1, 5) * MS;
        v.extend(
            sessions::udp_frames(rng, dc, c, 67, 68, &ack)
                .into_iter()
                .map(|f| (back, f)),
        );
        v
    }

    /// Mail submitted to the office's server (587, AUTH LOGIN).
    fn mail(&self, rng: &mut Rng, c: &Host, t: u64) -> Box<dyn Source> {
        use crate::proto::mail;
        let user = format!("user{:03}", rng.below(400));
        let from = format!("{user}@corp.local");
        let msg = mail::mime_message(
            &from,
            "partner@example.vn",
            "invoice",
            "invoice.pdf",
            rng.range(2_000, 60_000) as usize,
            rng,
        );
        let lines = mail::smtp_session(
            "mail.corp.local",
            "WS",
            Some((&user, "S3cret!pass")),
            &from,
            &["partner@example.vn"],
            &msg,
        );
        let msgs = crate::sessions_win::smtp_messages(lines, rng);
        let mut cfg = sessions::tcp_config(rng, c, &self.net.mail, 587, t, 0);
        cfg.close = Close::ClientFin;
        Box::new(sessions::flow(cfg, msgs, rng))
    }

    /// A database client: a MySQL login and a query.
    fn db(&self, rng: &mut Rng, c: &Host, t: u64) -> Box<dyn Source> {
        let msgs = crate::sessions_win::mysql_messages("inventory_app", true, rng);
        let mut cfg = sessions::tcp_config(rng, c, &self.net.db, 3306, t, 0);
        cfg.close = Close::ClientFin;
        Box::new(sessions::flow(cfg, msgs, rng))
    }

    fn intranet(&self, rng: &mut Rng, c: &Client, t: u64) -> Box<dyn Source> {
        let ua = http::USER_AGENTS[c.ua % 5];
        let n = 1 + (rng.exp(2.0) as usize).min(15);
        let ex = (0..n)
            .map(|i| {
                let (uri, ct) = Self::uri(rng);
                let ct_kind = ct.split(';').next().unwrap_or(ct);
                let req = http::request(
                    "GET",
                    "intranet.so-tt.local",
                    &uri,
                    ua,
                    &[("Cookie", &format!("PHPSESSID={:016x}", rng.next_u64()))],
                    b"",
                );
                let len = rng.lognormal(6_000.0, 1.2).min(2e6) as usize;
                let resp =
                    sessions::http_response(200, "Apache/2.4.62 (Debian)", ct_kind, len, rng);
                let think = if i == 0 {
                    0
                } else {
                    (rng.exp(3.0) * SEC as f64) as u64
                };
                (think, req, rng.range(1, 40) * MS, resp)
            })
            .collect();
        let mut cfg = sessions::tcp_config(rng, &c.v4, &self.net.intranet, 80, t, 0);
        (cfg.close, cfg.close_delay_ns) = Self::close_mode(rng);
        Box::new(sessions::flow(cfg, sessions::http_messages(ex), rng))
    }

    fn ntp(&self, rng: &mut Rng, c: &Host, t: u64) -> Vec<Timed> {
        let net = &self.net;
        let (client, server, rtt, stratum) = if rng.chance(0.15) {
            (
                net.ntp.clone(),
                rng.pick(&net.upstream_ntp).clone(),
                rng.range(20, 40) * MS,
                2,
            )
        } else {
            (c.clone(), net.ntp.clone(), rng.range(200_000, 900_000), 3)
        };
        let req = ntp::client(t);
        let resp = ntp::server(
            &req,
            t + rtt / 2,
            t + rtt / 2 + 30_000,
            stratum,
            [10, 10, 0, 123],
        );
        let mut out = Vec::new();
        for f in sessions::udp_frames(rng, &client, &server, 123, 123, &req) {
            out.push((t, f));
        }
        for f in sessions::udp_frames(rng, &server, &client, 123, 123, &resp) {
            out.push((t + rtt, f));
        }
        out
    }

    fn ping(&self, rng: &mut Rng, c: &Host, t: u64) -> Vec<Timed> {
        let net = &self.net;
        let (to, rtt) = if rng.chance(0.5) {
            let s = net.pick_server(rng);
            (s.v4.clone(), s.rtt_ns)
        } else {
            (
                rng.pick(&[
                    net.file_server.clone(),
                    net.intranet.clone(),
                    net.resolver.clone(),
                ])
                .clone(),
                rng.range(200_000, 700_000),
            )
        };
        let size = if rng.chance(0.1) {
            2_000
        } else if c.ttl > 64 {
            32
        } else {
            56
        };
        sessions::ping(rng, c, &to, t, 4, size, rtt)
    }

    fn ssh(&self, rng: &mut Rng, t: u64) -> Box<dyn Source> {
        let net = &self.net;
        // A handful of administrators.
        let admin = &net.clients[rng.below(6) as usize * 37 % net.clients.len()].v4;
        let server = if rng.chance(0.7) {
            net.ssh_bastion.clone()
        } else {
            net.dmz_ssh.clone()
        };
        let n = rng.range(20, 300) as usize;
        let mut enc = vec![
            (true, 32, 5 * MS),
            (false, 32, MS),
            (true, 80, 10 * MS),
            (false, 40, 2 * MS),
            (true, 120, SEC),
            (false, 20, 3 * MS),
        ];
        for _ in 0..n {
            let think = (rng.exp(0.8) * SEC as f64) as u64;
            enc.push((true, 4, think));
            enc.push((
                false,
                if rng.chance(0.1) {
                    rng.range(200, 4000) as usize
                } else {
                    4
                },
                200_000,
            ));
        }
        let msgs = sessions::ssh_messages(&ssh::OPENSSH_CLIENT, &ssh::OPENSSH_SERVER, &enc, rng);
        let mut cfg = sessions::tcp_config(rng, admin, &server, 22, t, 0);
        cfg.close = Close::ClientFin;
        Box::new(sessions::flow(cfg, msgs, rng))
    }
}

/// The background as one source: Poisson arrivals of sessions until the
/// packet budget is spent.
pub struct Background {
    factory: Factory,
    rng: Rng,
    next: u64,
    mean_gap_ns: f64,
    budget: u64,
    stats: Rc<OwnerStats>,
}

impl Background {
    /// Arrivals from `start_ns` with mean gap `mean_gap_ns`, stopping once
    /// `stats` shows `budget` background packets written.
    pub fn new(
        factory: Factory,
        rng: Rng,
        start_ns: u64,
        mean_gap_ns: f64,
        budget: u64,
        stats: Rc<OwnerStats>,
    ) -> Background {
        Background {
            factory,
            rng,
            next: start_ns,
            mean_gap_ns,
            budget,
            stats,
        }
    }

    /// Mean packets per session, measured on a pilot sample of `n` sessions
    /// with its own generator (deterministic).
    pub fn mean_packets_per_session(factory: &Factory, seed: u64, n: usize) -> f64 {
        let mut rng = Rng::new(seed, 0x9170);
        let mut total = 0u64;
        for i in 0..n {
            let mut s = factory.session(&mut rng, 1_000_000_000 + i as u64);
            total += count_packets(&mut s);
        }
        total as f64 / n.max(1) as f64
    }
}

/// Drains a source and its children, counting packets without writing them.
pub fn count_packets(s: &mut Box<dyn Source>) -> u64 {
    let mut n = 0;
    let mut stack: Vec<Box<dyn Source>> = Vec::new();
    loop {
        while s.next_time().is_some() {
            match s.fire() {
                Event::Packet(_) => n += 1,
                Event::Spawn(c) => stack.push(c),
                Event::Idle => {}
            }
        }
        match stack.pop() {
            Some(c) => *s = c,
            None => return n,
        }
    }
}

impl Source for Background {
    fn next_time(&self) -> Option<u64> {
        (self.stats.packets.get() < self.budget).then_some(self.next)
    }

    fn fire(&mut self) -> Event {
        let t = self.next;
        let s = self.factory.session(&mut self.rng, t);
        self.next = t + (self.rng.exp(self.mean_gap_ns) as u64).max(1);
        Event::Spawn(s)
    }
}
