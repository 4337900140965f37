//! Credential guessing (T1110).
//!
//! - **Failed logins** (T1110.001): at least `brute.min_failures` failures
//!   the protocol showed (FTP `530`, Telnet `Login incorrect`, POP3 `-ERR`,
//!   IMAP `NO`, HTTP `401`/`407` to a request carrying credentials, SMTP
//!   `5xx` to `AUTH`, SMB and Kerberos refusals, a database's error) from
//!   one source against one target and service within `brute.window_s`,
//!   for one account where the protocol names it.
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
//!   many accounts. Where the protocol names the account (FTP, POP3, IMAP,
//!   SMTP, SMB/NTLM, Kerberos, databases), failures against one server
//!   spread over at least `brute.spray_min_targets` accounts with fewer than
//!   `brute.min_failures` each are spraying of that server's accounts, not
//!   guessing of one (T1110.003 instead of T1110.001).

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
    /// Accounts failed, each with its failures (hashes; at most
    /// [`MAX_ACCOUNTS`]).
    accounts: Vec<(u32, u32)>,
    /// Failures whose account the protocol does not show.
    unnamed: u64,
}

/// Accounts counted per pair, at most.
const MAX_ACCOUNTS: usize = 256;

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
            EventKind::Login {
                service,
                outcome,
                account,
            } => match outcome {
                LoginOutcome::Failed => {
                    let key = (f.orig, f.resp, service);
                    if let Slot::Live(p, _) = self.pairs.get(key, e.ts_ns) {
                        if account == 0 {
                            p.unnamed += 1;
                        } else if let Some(a) = p.accounts.iter_mut().find(|a| a.0 == account) {
                            a.1 += 1;
                        } else if p.accounts.len() < MAX_ACCOUNTS {
                            p.accounts.push((account, 1));
                        }
                    }
                    self.attempt(e, service, Kind::Failure, cx)
                }
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
        // Guessing is many failures for one account (or for accounts the
        // protocol does not name); failures over many accounts, few each,
        // are the server's accounts sprayed.
        let accounts = p.accounts.len();
        let most = p.accounts.iter().map(|a| u64::from(a.1)).max().unwrap_or(0);
        let guessed = most.max(p.unnamed);
        let sprayed = matches!(kind, Kind::Failure)
            && accounts >= self.spray_min
            && p.failures < self.min_failures * accounts as u64
            && guessed < self.min_failures;
        let technique = if sprayed { "T1110.003" } else { "T1110.001" };
        let key = Key {
            technique,
            attacker: f.orig,
            target: f.resp,
        };
        let open = p.alerted && cx.inc.is_open(&key, ts);
        if open {
            cx.inc.hit(key, ts, 1, || unreachable_draft(f));
        } else {
            let fired = match kind {
                Kind::Failure => sprayed || guessed >= self.min_failures,
                Kind::Form => p.form_posts >= self.min_form,
                Kind::Connection => p.short >= self.min_connections,
            };
            if fired {
                p.alerted = true;
                let (sig, what, n) = match kind {
                    Kind::Failure if sprayed => (
                        sid::BRUTE_SPRAY,
                        "failed logins spread over accounts",
                        p.failures,
                    ),
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
                    "accounts" => accounts,
                    "port" => f.resp_port,
                    "window_s" => secs(ts - start),
                };
                let (detector, kind_name, techniques): (_, _, &[&str]) = if sprayed {
                    ("brute.spraying", "spraying", &["T1110.003", "T1110"])
                } else {
                    ("brute.guessing", "guessing", &["T1110.001"])
                };
                let d = draft(
                    detector,
                    sig,
                    format!(
                        "MEKONG BRUTE {} password {kind_name} ({what}) against {} by {}",
                        service.name().to_ascii_uppercase(),
                        f.resp,
                        f.orig
                    ),
                    "attempted-user",
                    techniques,
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

    /// Start alerts of failed logins (account hashes) from 10.0.0.1 to
    /// 10.0.0.2, one a second.
    fn failures(accounts: &[u32]) -> Vec<(u32, String)> {
        use crate::alert::Phase;
        use crate::event::FlowRef;
        use crate::host::HostStage;
        let mut st = HostStage::new(&DetectConfig::default());
        for (i, &a) in accounts.iter().enumerate() {
            st.event(&HostEvent {
                ts_ns: (1_000 + i as u64) * S,
                flow: FlowRef {
                    uid: i as i64,
                    proto: 6,
                    vlan: 0,
                    orig: "10.0.0.1".parse().unwrap(),
                    orig_port: 40_000 + i as u16,
                    resp: "10.0.0.2".parse().unwrap(),
                    resp_port: 21,
                },
                kind: EventKind::Login {
                    service: Service::Ftp,
                    outcome: LoginOutcome::Failed,
                    account: a,
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
    fn failures_over_many_accounts_are_spraying_over_one_guessing() {
        let c = DetectConfig::default();
        let n = c.brute.min_failures as usize;
        // One account, or accounts not shown: guessing.
        assert_eq!(
            failures(&vec![7; n]),
            vec![(sid::BRUTE_FAILURES, "T1110.001".into())]
        );
        assert_eq!(
            failures(&vec![0; n]),
            vec![(sid::BRUTE_FAILURES, "T1110.001".into())]
        );
        // Failures each for another account: nothing until enough accounts,
        // then spraying.
        let few: Vec<u32> = (1..=n as u32).collect();
        assert!(failures(&few).is_empty());
        let many: Vec<u32> = (1..=c.brute.spray_min_targets).collect();
        assert_eq!(
            failures(&many),
            vec![(sid::BRUTE_SPRAY, "T1110.003".into())]
        );
        // Two accounts guessed hard: guessing.
        let two: Vec<u32> = (0..2 * n as u32).map(|i| 1 + i % 2).collect();
        assert_eq!(
            failures(&two),
            vec![(sid::BRUTE_FAILURES, "T1110.001".into())]
        );
    }

    #[test]
    fn login_paths() {
        assert!(login_path("/wp-login.php"));
        assert!(login_path("/user/Login?next=/"));
        assert!(login_path("/api/v1/auth/token"));
        assert!(!login_path("/index.html?login=1"));
        assert!(!login_path("/images/logo.png"));
    }
}
