//! Credential guessing (T1110.001) against SSH, RDP, FTP, Telnet (Mirai-style,
//! IoT cameras) and HTTP Basic authentication.

use crate::background::group;
use crate::engine::Source;
use crate::labels::{Cidr, Label};
use crate::proto::{http, rdp, ssh, tls};
use crate::rng::Rng;
use crate::scenarios::{at, label, Ctx, ParamSpec, Params, Scenario, ScenarioError};
use crate::sessions::{self, Exchange, MS, SEC};
use crate::tcp::{Close, Msg, Open};

/// SSH password guessing.
pub struct BruteSsh;
/// RDP password guessing (NLA).
pub struct BruteRdp;
/// FTP password guessing.
pub struct BruteFtp;
/// Telnet guessing with the Mirai credential table against IoT cameras.
pub struct BruteTelnet;
/// HTTP Basic authentication guessing.
pub struct BruteHttpBasic;

const USERS: [&str; 8] = [
    "root",
    "admin",
    "administrator",
    "user",
    "test",
    "ubuntu",
    "oracle",
    "support",
];
const PASSWORDS: [&str; 12] = [
    "123456",
    "password",
    "admin",
    "12345678",
    "qwerty",
    "123456789",
    "1q2w3e4r",
    "admin@123",
    "P@ssw0rd",
    "abc123",
    "root",
    "Vietnam@2026",
];

/// The credential table of Mirai's telnet scanner (a subset).
pub const MIRAI_CREDS: [(&str, &str); 24] = [
    ("root", "xc3511"),
    ("root", "vizxv"),
    ("root", "admin"),
    ("admin", "admin"),
    ("root", "888888"),
    ("root", "xmhdipc"),
    ("root", "default"),
    ("root", "jauntech"),
    ("root", "123456"),
    ("root", "54321"),
    ("support", "support"),
    ("root", ""),
    ("admin", "password"),
    ("root", "root"),
    ("root", "12345"),
    ("user", "user"),
    ("admin", ""),
    ("root", "pass"),
    ("admin", "admin1234"),
    ("root", "1111"),
    ("admin", "smcadmin"),
    ("admin", "1111"),
    ("root", "666666"),
    ("root", "password"),
];

const fn attempts_spec(n: &'static str, interval_ms: &'static str) -> [ParamSpec; 2] {
    [
        ParamSpec {
            key: "attempts",
            default: n,
            doc: "connections (login attempts)",
        },
        ParamSpec {
            key: "interval_ms",
            default: interval_ms,
            doc: "mean time between attempts, ms",
        },
    ]
}

/// Attempt start times: mean interval with ±30% uniform jitter.
fn schedule(t0: u64, n: u64, interval_ms: u64, rng: &mut Rng) -> Vec<u64> {
    let mut t = t0;
    (0..n)
        .map(|_| {
            let now = t;
            let j = interval_ms as f64 * (0.7 + 0.6 * rng.f64());
            t += (j * MS as f64) as u64;
            now
        })
        .collect()
}

impl Scenario for BruteSsh {
    fn name(&self) -> &'static str {
        "brute_ssh"
    }
    fn id(&self) -> u64 {
        5
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1110.001"]
    }
    fn description(&self) -> &'static str {
        "SSH password guessing from the internet, three passwords per connection"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const A: [ParamSpec; 2] = [
            ParamSpec {
                key: "attempts",
                default: "120",
                doc: "connections",
            },
            ParamSpec {
                key: "interval_ms",
                default: "1500",
                doc: "mean time between connections, ms",
            },
        ];
        const P: &[ParamSpec] = &[
            at("0.33"),
            ParamSpec {
                key: "attacker",
                default: "193.42.33.14",
                doc: "guessing address",
            },
            ParamSpec {
                key: "target",
                default: "10.10.100.22",
                doc: "SSH server",
            },
            A[0],
            A[1],
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let t_host = ctx.host(p.ip("target")?);
        let n = p.u64("attempts", 1, 1_000_000)?;
        let iv = p.u64("interval_ms", 1, 3_600_000)?;
        let rtt = rng.range(120, 220) * MS;
        let mut items: Vec<(u64, Box<dyn Source>)> = Vec::new();
        for t in schedule(p.start(ctx)?, n, iv, &mut rng) {
            let mut enc = vec![(true, 28, MS), (false, 28, MS)];
            for _ in 0..3 {
                enc.push((true, rng.range(70, 110) as usize, 2 * MS));
                enc.push((false, 44, rng.range(1_500, 2_600) * MS));
            }
            enc.push((true, 36, MS));
            let msgs =
                sessions::ssh_messages(&ssh::LIBSSH_BRUTE, &ssh::OPENSSH_SERVER, &enc, &mut rng);
            let mut cfg = sessions::tcp_config(&mut rng, &a, &t_host, 22, t, rtt);
            cfg.close = Close::ClientFin;
            items.push((t, Box::new(sessions::flow(cfg, msgs, &mut rng))));
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(a.ip)],
            vec![Cidr::host(t_host.ip)],
            Some(22),
            "tcp",
        );
        Ok((group(items), l))
    }
}

impl Scenario for BruteRdp {
    fn name(&self) -> &'static str {
        "brute_rdp"
    }
    fn id(&self) -> u64 {
        6
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1110.001"]
    }
    fn description(&self) -> &'static str {
        "RDP (NLA/CredSSP) password guessing against the jump host"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const A: [ParamSpec; 2] = [
            ParamSpec {
                key: "attempts",
                default: "80",
                doc: "connections (one password each)",
            },
            ParamSpec {
                key: "interval_ms",
                default: "3000",
                doc: "mean time between connections, ms",
            },
        ];
        const P: &[ParamSpec] = &[
            at("0.38"),
            ParamSpec {
                key: "attacker",
                default: "45.141.84.120",
                doc: "guessing address",
            },
            ParamSpec {
                key: "target",
                default: "10.10.100.33",
                doc: "RDP server",
            },
            A[0],
            A[1],
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let t_host = ctx.host(p.ip("target")?);
        let n = p.u64("attempts", 1, 1_000_000)?;
        let iv = p.u64("interval_ms", 1, 3_600_000)?;
        let rtt = rng.range(150, 250) * MS;
        let chain = sessions::cert_chain("JUMPHOST01", (ctx.start_ns / SEC) as i64, true);
        let mut items: Vec<(u64, Box<dyn Source>)> = Vec::new();
        for (i, t) in schedule(p.start(ctx)?, n, iv, &mut rng)
            .into_iter()
            .enumerate()
        {
            let user = USERS[i % 3];
            let mut msgs = vec![
                Msg::client(0, rdp::connection_request(user)),
                Msg::server(rng.range(1, 5) * MS, rdp::connection_confirm()),
            ];
            // CredSSP over TLS: NTLM negotiate, challenge, authenticate, failure.
            let ex = [
                Exchange {
                    think_ns: MS,
                    request: 60,
                    server_ns: 3 * MS,
                    response: 300,
                },
                Exchange {
                    think_ns: MS,
                    request: 640,
                    server_ns: rng.range(30, 80) * MS,
                    response: 40,
                },
            ];
            msgs.extend(sessions::tls_messages(
                &tls::PROFILES[2],
                "",
                false,
                &chain,
                &ex,
                &mut rng,
            ));
            let mut cfg = sessions::tcp_config(&mut rng, &a, &t_host, 3389, t, rtt);
            cfg.close = Close::ServerRst;
            items.push((t, Box::new(sessions::flow(cfg, msgs, &mut rng))));
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(a.ip)],
            vec![Cidr::host(t_host.ip)],
            Some(3389),
            "tcp",
        );
        Ok((group(items), l))
    }
}

impl Scenario for BruteFtp {
    fn name(&self) -> &'static str {
        "brute_ftp"
    }
    fn id(&self) -> u64 {
        7
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1110.001"]
    }
    fn description(&self) -> &'static str {
        "FTP USER/PASS guessing, one password per connection"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const A: [ParamSpec; 2] = [
            ParamSpec {
                key: "attempts",
                default: "150",
                doc: "connections (one password each)",
            },
            ParamSpec {
                key: "interval_ms",
                default: "800",
                doc: "mean time between connections, ms",
            },
        ];
        const P: &[ParamSpec] = &[
            at("0.44"),
            ParamSpec {
                key: "attacker",
                default: "185.156.73.54",
                doc: "guessing address",
            },
            ParamSpec {
                key: "target",
                default: "10.10.100.21",
                doc: "FTP server",
            },
            A[0],
            A[1],
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let t_host = ctx.host(p.ip("target")?);
        let n = p.u64("attempts", 1, 1_000_000)?;
        let iv = p.u64("interval_ms", 1, 3_600_000)?;
        let rtt = rng.range(150, 250) * MS;
        let mut items: Vec<(u64, Box<dyn Source>)> = Vec::new();
        for (i, t) in schedule(p.start(ctx)?, n, iv, &mut rng)
            .into_iter()
            .enumerate()
        {
            let user = USERS[(i / PASSWORDS.len()) % USERS.len()];
            let pass = PASSWORDS[i % PASSWORDS.len()];
            let msgs = vec![
                Msg::server(MS, b"220 (vsFTPd 3.0.3)\r\n".to_vec()),
                Msg::client(MS, format!("USER {user}\r\n").into_bytes()),
                Msg::server(MS, b"331 Please specify the password.\r\n".to_vec()),
                Msg::client(MS, format!("PASS {pass}\r\n").into_bytes()),
                Msg::server(
                    rng.range(2_000, 3_200) * MS,
                    b"530 Login incorrect.\r\n".to_vec(),
                ),
                Msg::client(MS, b"QUIT\r\n".to_vec()),
                Msg::server(MS, b"221 Goodbye.\r\n".to_vec()),
            ];
            let mut cfg = sessions::tcp_config(&mut rng, &a, &t_host, 21, t, rtt);
            cfg.close = Close::ServerFin;
            cfg.close_delay_ns = 100_000;
            items.push((t, Box::new(sessions::flow(cfg, msgs, &mut rng))));
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(a.ip)],
            vec![Cidr::host(t_host.ip)],
            Some(21),
            "tcp",
        );
        Ok((group(items), l))
    }
}

impl Scenario for BruteTelnet {
    fn name(&self) -> &'static str {
        "brute_telnet"
    }
    fn id(&self) -> u64 {
        8
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1110.001"]
    }
    fn description(&self) -> &'static str {
        "Mirai-style telnet login guessing against the camera subnet"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const P: &[ParamSpec] = &[
            at("0.50"),
            ParamSpec {
                key: "attacker",
                default: "103.145.13.77",
                doc: "infected device on the internet",
            },
            ParamSpec {
                key: "subnet",
                default: "10.10.7.0/24",
                doc: "camera block",
            },
            ParamSpec {
                key: "tries_per_host",
                default: "10",
                doc: "credential pairs tried per camera",
            },
            ParamSpec {
                key: "interval_ms",
                default: "400",
                doc: "mean time between attempts, ms",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let subnet = p.cidr("subnet")?;
        let tries = p.u64("tries_per_host", 1, MIRAI_CREDS.len() as u64)?;
        let iv = p.u64("interval_ms", 1, 3_600_000)?;
        let rtt = rng.range(120, 260) * MS;
        let cams: Vec<_> = ctx
            .net
            .cameras
            .iter()
            .filter(|c| subnet.contains(c.ip))
            .cloned()
            .collect();
        let mut jobs = Vec::new();
        for cred in MIRAI_CREDS.iter().take(tries as usize) {
            for (ci, cam) in cams.iter().enumerate() {
                jobs.push((cam.clone(), ci, *cred));
            }
        }
        let times = schedule(p.start(ctx)?, jobs.len() as u64, iv, &mut rng);
        let mut items: Vec<(u64, Box<dyn Source>)> = Vec::new();
        for ((cam, ci, (user, pass)), t) in jobs.into_iter().zip(times) {
            let mut cfg = sessions::tcp_config(&mut rng, &a, &cam, 23, t, rtt);
            // A third of the cameras have telnet closed.
            if ci % 3 == 2 {
                cfg.open = Open::Refused;
                items.push((t, Box::new(sessions::flow(cfg, vec![], &mut rng))));
                continue;
            }
            let msgs = vec![
                // IAC DO ECHO, IAC DO NAWS, IAC WILL ECHO, IAC WILL SGA
                Msg::server(
                    5 * MS,
                    vec![
                        0xff, 0xfd, 0x01, 0xff, 0xfd, 0x1f, 0xff, 0xfb, 0x01, 0xff, 0xfb, 0x03,
                    ],
                ),
                // IAC WONT ECHO, IAC WONT NAWS, IAC DO ECHO, IAC DO SGA
                Msg::client(
                    MS,
                    vec![
                        0xff, 0xfc, 0x01, 0xff, 0xfc, 0x1f, 0xff, 0xfd, 0x01, 0xff, 0xfd, 0x03,
                    ],
                ),
                Msg::server(2 * MS, b"\r\n(none) login: ".to_vec()),
                Msg::client(MS, format!("{user}\r\n").into_bytes()),
                Msg::server(2 * MS, b"Password: ".to_vec()),
                Msg::client(MS, format!("{pass}\r\n").into_bytes()),
                Msg::server(
                    rng.range(1_000, 2_500) * MS,
                    b"\r\nLogin incorrect\r\n(none) login: ".to_vec(),
                ),
            ];
            cfg.close = Close::ClientRst;
            items.push((t, Box::new(sessions::flow(cfg, msgs, &mut rng))));
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(a.ip)],
            vec![subnet],
            Some(23),
            "tcp",
        );
        Ok((group(items), l))
    }
}

impl Scenario for BruteHttpBasic {
    fn name(&self) -> &'static str {
        "brute_http_basic"
    }
    fn id(&self) -> u64 {
        9
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1110.001"]
    }
    fn description(&self) -> &'static str {
        "HTTP Basic authentication guessing on an admin page, keep-alive connections"
    }
    fn params(&self) -> &'static [ParamSpec] {
        const A: [ParamSpec; 2] = attempts_spec("200", "500");
        const P: &[ParamSpec] = &[
            at("0.55"),
            ParamSpec {
                key: "attacker",
                default: "91.240.118.29",
                doc: "guessing address",
            },
            ParamSpec {
                key: "target",
                default: "10.10.100.10",
                doc: "web server",
            },
            A[0],
            A[1],
            ParamSpec {
                key: "per_connection",
                default: "10",
                doc: "requests per keep-alive connection",
            },
        ];
        P
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let a = ctx.host(p.ip("attacker")?);
        let t_host = ctx.host(p.ip("target")?);
        let n = p.u64("attempts", 1, 1_000_000)?;
        let iv = p.u64("interval_ms", 1, 3_600_000)?;
        let per = p.u64("per_connection", 1, 1000)?;
        let rtt = rng.range(150, 250) * MS;
        let mut items: Vec<(u64, Box<dyn Source>)> = Vec::new();
        let mut t = p.start(ctx)?;
        let mut i = 0u64;
        let host = t_host.ip.to_string();
        while i < n {
            let k = per.min(n - i);
            let mut ex = Vec::new();
            for j in 0..k {
                let idx = (i + j) as usize;
                let cred = format!(
                    "{}:{}",
                    USERS[(idx / PASSWORDS.len()) % USERS.len()],
                    PASSWORDS[idx % PASSWORDS.len()]
                );
                let auth = format!("Basic {}", http::base64(cred.as_bytes()));
                let req = http::request(
                    "GET",
                    &host,
                    "/admin/",
                    "Mozilla/5.0 (Hydra)",
                    &[("Authorization", &auth)],
                    b"",
                );
                let body = b"<html><body><h1>401 Unauthorized</h1></body></html>".to_vec();
                let mut head = http::response_head(
                    401,
                    "nginx/1.24.0",
                    "text/html",
                    body.len(),
                    &[("WWW-Authenticate", "Basic realm=\"Quan tri\"")],
                );
                head.extend(body);
                ex.push((
                    if j == 0 { MS } else { iv * MS },
                    req,
                    rng.range(2, 10) * MS,
                    vec![crate::tcp::Part::Bytes(head)],
                ));
            }
            let mut cfg = sessions::tcp_config(&mut rng, &a, &t_host, 80, t, rtt);
            cfg.close = Close::ClientFin;
            items.push((
                t,
                Box::new(sessions::flow(cfg, sessions::http_messages(ex), &mut rng)),
            ));
            t += k * iv * MS + rng.range(200, 900) * MS;
            i += k;
        }
        let l = label(
            self,
            p,
            vec![Cidr::host(a.ip)],
            vec![Cidr::host(t_host.ip)],
            Some(80),
            "tcp",
        );
        Ok((group(items), l))
    }
}
