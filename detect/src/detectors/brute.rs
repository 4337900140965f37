//! Credential guessing (T1110).
//!
//! - **Failed logins** (T1110.001): at least `brute.min_failures` failures
//!   the protocol showed (FTP `530`, Telnet `Login incorrect`, POP3 `-ERR`,
//!   IMAP `NO`, HTTP `401`/`407` to a request carrying credentials) from
//!   one source against one target and service within `brute.window_s`.
//! - **Login-sized connections** (T1110.001), for services whose logins are
//!   encrypted (SSH, RDP, VNC, SMB, TLS) or not yet parsed (databases):
//!   at least `brute.min_connections` connections from one source to one
//!   target's service within the window that completed the handshake, got
//!   an answer, and closed within `brute.max_connection_s` having sent at
//!   most `brute.max_client_bytes`: each is one login that did not lead to
//!   a session.
//! - **Form logins** (T1110.001): at least `brute.min_form_posts` POSTs to a
//!   login path (`login`, `signin`, `logon`, `auth`, `wp-login.php`,
//!   `xmlrpc.php`...) against one target within the window.
//! - **Password spraying** (T1110.003): one source fails against (or makes
//!   login-sized connections to) at least `brute.spray_min_targets`
//!   distinct targets of one service within the window, with fewer than
//!   `brute.min_failures` attempts per target on average: few guesses each,
//!   many accounts.

use std::net::IpAddr;

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::event::{EventKind, HostEvent, LoginOutcome, Service};
use crate::evidence;
use crate::incident::{Key, ANY};
use crate::net::IpSet;
use crate::window::{hash_ip, Distinct, Slot, Windowed};

use super::scan::unreachable_draft;

#[derive(Default)]
struct Pair {
    failures: u64,
    successes: u64,
    form_posts: u64,
    short: u64,
    conns: u64,
    alerted: bool,
}

#[derive(Default)]
struct Spray {
    targets: Distinct,
    attempts: u64,
    alerted: bool,
}

/// The credential-guessing detectors.
pub struct Brute {
    on: bool,
    min_failures: u64,
    min_connections: u64,
    max_conn_us: u64,
    max_client_bytes: u64,
    spray_min: usize,
    min_form: u64,
    allow: IpSet,
    pairs: Windowed<(IpAddr, IpAddr, Service), Pair>,
    spray: Windowed<(IpAddr, Service), Spray>,
}

const S: u64 = 1_000_000_000;

/// True for services whose logins only show in the pattern of connections.
pub fn pattern_service(s: Service) -> bool {
    matches!(
        s,
        Service::Ssh
            | Service::Rdp
            | Service::Vnc
            | Service::Smb
            | Service::Mysql
            | Service::Postgres
            | Service::Mssql
            | Service::Oracle
            | Service::Redis
            | Service::Mongo
            | Service::Telnet
            | Service::Ftp
            | Service::Pop3
            | Service::Imap
            | Service::Smtp
    )
}

impl Brute {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Brute {
        let b = &c.brute;
        Brute {
            on: b.enabled,
            min_failures: u64::from(b.min_failures),
            min_connections: u64::from(b.min_connections),
            max_conn_us: b.max_connection_s * 1_000_000,
            max_client_bytes: b.max_client_bytes,
            spray_min: b.spray_min_targets as usize,
            min_form: u64::from(b.min_form_posts),
            allow: DetectConfig::set(&b.allow),
            pairs: Windowed::new(b.window_s * S, 200_000),
            spray: Windowed::new(b.window_s * S, 100_000),
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        if !self.on {
            return;
        }
        let f = &e.flow;
        if cx.allow.contains(f.orig) || self.allow.contains(f.orig) {
            return;
        }
        match e.kind {
            EventKind::Login { service, outcome } => match outcome {
                LoginOutcome::Failed => self.attempt(e, service, Kind::Failure, cx),
                LoginOutcome::Attempted => self.attempt(e, service, Kind::Form, cx),
                LoginOutcome::Succeeded => {
                    if let Some((p, _)) = self.pairs.peek(&(f.orig, f.resp, service), e.ts_ns) {
                        p.successes += 1;
                    }
                }
            },
            EventKind::Closed {
                established,
                orig_bytes,
                resp_bytes,
                duration_us,
                service,
                ..
            } => {
                let service = if service == Service::Unknown || service == Service::Tls {
                    match Service::of_tcp_port(f.resp_port) {
                        Service::Unknown => service,
                        s => s,
                    }
                } else {
                    service
                };
                if !pattern_service(service) {
                    return;
                }
                let login_sized = established
                    && resp_bytes > 0
                    && duration_us <= self.max_conn_us
                    && orig_bytes <= self.max_client_bytes;
                if login_sized {
                    self.attempt(e, service, Kind::Connection, cx);
                } else if let Some((p, _)) = self.pairs.peek(&(f.orig, f.resp, service), e.ts_ns) {
                    p.conns += 1;
                }
            }
            _ => {}
        }
    }

    fn attempt(&mut self, e: &HostEvent, service: Service, kind: Kind, cx: &mut Cx<'_>) {
        let f = &e.flow;
        let ts = e.ts_ns;
        let Slot::Live(p, start) = self.pairs.get((f.orig, f.resp, service), ts) else {
            return;
        };
        match kind {
            Kind::Failure => p.failures += 1,
            Kind::Form => p.form_posts += 1,
            Kind::Connection => p.short += 1,
        }
        p.conns += u64::from(matches!(kind, Kind::Connection));
        let key = Key {
            technique: "T1110.001",
            attacker: f.orig,
            target: f.resp,
        };
        let open = p.alerted && cx.inc.is_open(&key, ts);
        if open {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
        } else {
            let fired = match kind {
                Kind::Failure => p.failures >= self.min_failures,
                Kind::Form => p.form_posts >= self.min_form,
                Kind::Connection => p.short >= self.min_connections,
            };
            if fired {
                p.alerted = true;
                let (sig, what, n) = match kind {
                    Kind::Failure => (sid::BRUTE_FAILURES, "failed logins", p.failures),
                    Kind::Form => (sid::BRUTE_FORM, "form logins", p.form_posts),
                    Kind::Connection => {
                        (sid::BRUTE_CONNECTIONS, "login-sized connections", p.short)
                    }
                };
                let ev = evidence! {
                    "service" => service.name(),
                    "failures" => p.failures,
                    "successes" => p.successes,
                    "form_posts" => p.form_posts,
                    "login_sized_connections" => p.short,
                    "port" => f.resp_port,
                    "window_s" => secs(ts - start),
                };
                let d = draft(
                    "brute.guessing",
                    sig,
                    format!(
                        "MEKONG BRUTE {} password guessing ({what}) against {} by {}",
                        service.name().to_ascii_uppercase(),
                        f.resp,
                        f.orig
                    ),
                    "attempted-user",
                    &["T1110.001"],
                    f.orig,
                    f.resp,
                    Some(f.resp_port),
                    f,
                    start,
                    ev,
                );
                cx.inc.hit(key, ts, n, || d);
            }
        }
        if matches!(kind, Kind::Form) {
            return;
        }
        // Spraying: many targets, few attempts each.
        let Slot::Live(s, sstart) = self.spray.get((f.orig, service), ts) else {
            return;
        };
        if s.targets.is_empty() {
            s.targets = Distinct::new(65_536);
        }
        s.targets.insert(hash_ip(f.resp));
        s.attempts += 1;
        let key = Key {
            technique: "T1110.003",
            attacker: f.orig,
            target: ANY,
        };
        if s.alerted && cx.inc.is_open(&key, ts) {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
            return;
        }
        let n = s.targets.len();
        let few_each = (s.attempts as f64) < self.min_failures as f64 * n as f64;
        if n >= self.spray_min && few_each {
            s.alerted = true;
            let ev = evidence! {
                "service" => service.name(),
                "targets" => n as u64,
                "attempts" => s.attempts,
                "window_s" => secs(ts - sstart),
            };
            let attempts = s.attempts;
            let d = draft(
                "brute.spraying",
                sid::BRUTE_SPRAY,
                format!(
                    "MEKONG BRUTE {} password spraying across {n} hosts by {}",
                    service.name().to_ascii_uppercase(),
                    f.orig
                ),
                "attempted-user",
                &["T1110.003", "T1110"],
                f.orig,
                f.resp,
                Some(f.resp_port),
                f,
                sstart,
                ev,
            );
            cx.inc.hit(key, ts, attempts, || d);
        }
    }

    /// Drops state whose windows have passed.
    pub fn sweep(&mut self, now: u64) {
        self.pairs.sweep(now);
        self.spray.sweep(now);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.pairs.refused + self.spray.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.pairs.len() + self.spray.len()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Failure,
    Form,
    Connection,
}

/// True when an HTTP request target looks like a login form's.
pub fn login_path(uri: &str) -> bool {
    let path = uri
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    const WORDS: [&str; 10] = [
        "login",
        "signin",
        "sign-in",
        "logon",
        "log-in",
        "auth",
        "session",
        "wp-login.php",
        "xmlrpc.php",
        "j_security_check",
    ];
    WORDS.iter().any(|w| path.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_paths() {
        assert!(login_path("/wp-login.php"));
        assert!(login_path("/user/Login?next=/"));
        assert!(login_path("/api/v1/auth/token"));
        assert!(!login_path("/index.html?login=1"));
        assert!(!login_path("/images/logo.png"));
    }
}
