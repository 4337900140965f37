//! Logins of the cleartext protocols whose servers speak first: Telnet,
//! POP3 and IMAP (FTP and SMTP have parsers of their own that judge logins
//! the same way). The parser reads each direction line by line and tells,
//! for every attempt, the user name offered and whether the server
//! accepted it. No password or other secret ever leaves it.
//!
//! [`LoginMeta`] is what every login-judging parser (these, FTP, SMTP, the
//! databases) keeps for the flow record.

use crate::event::{Events, LoginProto, LoginResult};
use crate::text::text;
use crate::{AppMeta, Outcome, Step};

/// Distinct user names kept per record.
pub const MAX_USERS: usize = 16;

/// Longest user name kept.
pub const MAX_USER: usize = 64;

/// The logins of a flow, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginMeta {
    /// First user name offered.
    pub user: Option<String>,
    /// Distinct user names offered, at most [`MAX_USERS`].
    pub users: Vec<String>,
    /// Attempts the server answered.
    pub attempts: u32,
    /// Attempts refused.
    pub failures: u32,
    /// Attempts accepted.
    pub successes: u32,
    /// User names of the refused attempts, at most [`MAX_USERS`].
    pub failed_users: Vec<String>,
    /// A list was cut at [`MAX_USERS`].
    pub cut: bool,
}

impl LoginMeta {
    /// A user name was offered.
    pub fn offered(&mut self, user: &str) {
        if self.user.is_none() && !user.is_empty() {
            self.user = Some(user.to_string());
        }
        crate::push_distinct(&mut self.users, user, MAX_USERS, &mut self.cut);
    }

    /// The server answered an attempt of `user`; raises the login event.
    pub fn judge(
        meta: &mut Option<Box<LoginMeta>>,
        proto: LoginProto,
        result: LoginResult,
        user: Option<&str>,
        ev: &mut Events,
    ) {
        let m = meta.get_or_insert_with(Default::default);
        if let Some(u) = user {
            m.offered(u);
        }
        m.attempts = m.attempts.saturating_add(1);
        match result {
            LoginResult::Succeeded => m.successes = m.successes.saturating_add(1),
            LoginResult::Failed => {
                m.failures = m.failures.saturating_add(1);
                if let Some(u) = user {
                    crate::push_distinct(&mut m.failed_users, u, MAX_USERS, &mut m.cut);
                }
            }
        }
        ev.login(proto, result, user.filter(|u| !u.is_empty()));
    }
}

/// A user name as kept: printable text, at most [`MAX_USER`] bytes, quotes
/// around an IMAP string removed.
pub fn user_name(b: &[u8]) -> String {
    let b = b.trim_ascii();
    let b = b
        .strip_prefix(b"\"")
        .and_then(|x| x.strip_suffix(b"\""))
        .unwrap_or(b);
    text(&b[..b.len().min(MAX_USER)], MAX_USER).0
}

/// Longest line read.
const MAX_LINE: usize = 2048;
/// Lines read per direction before the parser stops (a login exchange
/// takes a few; an interactive session is not read).
const MAX_LINES: u16 = 512;

fn has(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Recognises a login protocol from the first bytes a server sent.
pub fn detect(first: &[u8], ports: (u16, u16)) -> Outcome<LoginProto> {
    let on = |p: u16| ports.0 == p || ports.1 == p;
    if first.len() < 4 {
        let prefixes: [&[u8]; 4] = [b"220", b"+OK", b"* OK", &[0xff]];
        return if prefixes
            .iter()
            .any(|p| p.starts_with(first) || first.starts_with(p))
        {
            Outcome::Incomplete
        } else {
            Outcome::NotThis
        };
    }
    if first[0] == 0xff && (0xfb..=0xfe).contains(&first[1]) {
        return Outcome::Parsed(LoginProto::Telnet);
    }
    let line_end = first
        .iter()
        .position(|&c| c == b'\n')
        .unwrap_or(first.len());
    let line = &first[..line_end];
    if line.len() >= 4 && line.starts_with(b"220") && matches!(line[3], b' ' | b'-') {
        if on(21) || has(line, b"ftp") {
            return Outcome::Parsed(LoginProto::Ftp);
        }
        return Outcome::NotThis; // SMTP and others greet with 220 too
    }
    if line.starts_with(b"+OK") {
        return Outcome::Parsed(LoginProto::Pop3);
    }
    if line.starts_with(b"* OK") || line.starts_with(b"* PREAUTH") {
        return Outcome::Parsed(LoginProto::Imap);
    }
    if (on(23) || on(2323)) && (has(first, b"login:") || has(first, b"username:")) {
        return Outcome::Parsed(LoginProto::Telnet);
    }
    Outcome::NotThis
}

/// The login state of one connection.
#[derive(Clone, Debug)]
pub struct LoginSession {
    proto: LoginProto,
    /// 0 nothing asked, 1 a user name sent, 2 a secret sent.
    pending: u8,
    tag: [u8; 16],
    tag_len: usize,
    lines: [u16; 2],
    done: bool,
    /// The user name of the attempt under way.
    user: Option<String>,
    /// A Telnet server asked for a user name.
    prompted: bool,
    /// Attempts judged.
    pub attempts: u32,
}

/// Removes Telnet commands (IAC sequences) from a line, in place.
fn strip_telnet(line: &[u8], out: &mut [u8; MAX_LINE]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < line.len() && n < out.len() {
        let c = line[i];
        if c == 0xff {
            match line.get(i + 1) {
                Some(0xff) => {
                    out[n] = 0xff;
                    n += 1;
                    i += 2;
                }
                Some(0xfb..=0xfe) => i += 3,
                Some(0xfa) => {
                    // Subnegotiation until IAC SE.
                    let mut j = i + 2;
                    while j + 1 < line.len() && !(line[j] == 0xff && line[j + 1] == 0xf0) {
                        j += 1;
                    }
                    i = j + 2;
                }
                _ => i += 2,
            }
            continue;
        }
        if c != 0 && c != b'\r' {
            out[n] = c;
            n += 1;
        }
        i += 1;
    }
    n
}

impl LoginSession {
    /// A session for `proto`.
    pub fn new(proto: LoginProto) -> LoginSession {
        LoginSession {
            proto,
            pending: 0,
            tag: [0; 16],
            tag_len: 0,
            lines: [0; 2],
            done: false,
            user: None,
            prompted: false,
            attempts: 0,
        }
    }

    fn judge(&mut self, result: LoginResult, meta: &mut AppMeta, ev: &mut Events) {
        self.attempts += 1;
        let user = self.user.take();
        LoginMeta::judge(&mut meta.login, self.proto, result, user.as_deref(), ev);
        self.pending = 0;
        if result == LoginResult::Succeeded {
            self.done = true;
        }
    }

    /// Whether server text ending a line (or waiting without one) asks for
    /// a user name (`login:`), or for something else (`Password:`).
    fn prompt(&mut self, text: &[u8]) {
        let t = text.trim_ascii_end();
        let ends = |p: &[u8]| t.len() >= p.len() && t[t.len() - p.len()..].eq_ignore_ascii_case(p);
        if ends(b"login:") || ends(b"username:") {
            self.prompted = true;
        } else if !t.is_empty() {
            self.prompted = false;
        }
    }

    /// Parses the next in-order bytes of direction `dir` (0 client).
    pub fn parse(&mut self, dir: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let d = dir.min(1);
        if self.done || self.lines[d] >= MAX_LINES {
            return Step::Done;
        }
        let nl = match crate::line_end(data, MAX_LINE) {
            Ok(nl) => nl,
            Err(Step::Malformed) => return Step::Consumed(data.len().min(MAX_LINE)),
            Err(step) => {
                // A Telnet prompt waits on its line for the answer.
                if self.proto == LoginProto::Telnet && d == 1 {
                    self.prompt(data);
                }
                return step;
            }
        };
        self.lines[d] += 1;
        let mut buf = [0u8; MAX_LINE];
        let n = strip_telnet(&data[..nl], &mut buf);
        let line = &buf[..n];
        match (self.proto, d) {
            (LoginProto::Telnet, 0) => {
                if self.prompted && !line.trim_ascii().is_empty() {
                    self.user = Some(user_name(line));
                    self.prompted = false;
                }
            }
            (LoginProto::Telnet, _) => {
                const FAIL: [&[u8]; 5] = [
                    b"login incorrect",
                    b"login failed",
                    b"authentication failed",
                    b"incorrect password",
                    b"access denied",
                ];
                if FAIL.iter().any(|f| has(line, f)) {
                    self.judge(LoginResult::Failed, meta, ev);
                } else if has(line, b"last login") || has(line, b"busybox v") {
                    self.judge(LoginResult::Succeeded, meta, ev);
                }
                self.prompt(line);
            }
            (LoginProto::Pop3, 0) => {
                let head = &line[..line.len().min(5)];
                if has(head, b"USER ") {
                    self.pending = 1;
                    self.user = Some(user_name(&line[5..]));
                } else if has(head, b"APOP ") {
                    self.pending = 2;
                    let name = line[5..].split(|&c| c == b' ').next().unwrap_or_default();
                    self.user = Some(user_name(name));
                } else if has(head, b"PASS ") || has(head, b"AUTH ") {
                    self.pending = 2;
                }
            }
            (LoginProto::Pop3, _) => {
                if line.starts_with(b"-ERR") && self.pending > 0 {
                    self.judge(LoginResult::Failed, meta, ev);
                } else if line.starts_with(b"+OK") {
                    if self.pending == 2 {
                        self.judge(LoginResult::Succeeded, meta, ev);
                    } else {
                        self.pending = 0;
                    }
                }
            }
            (LoginProto::Imap, 0) => {
                let mut parts = line.splitn(4, |&c| c == b' ');
                let tag = parts.next().unwrap_or_default();
                let cmd = parts.next().unwrap_or_default();
                let arg = parts.next().unwrap_or_default();
                if (cmd.eq_ignore_ascii_case(b"LOGIN") || cmd.eq_ignore_ascii_case(b"AUTHENTICATE"))
                    && !tag.is_empty()
                    && tag.len() <= self.tag.len()
                {
                    self.tag[..tag.len()].copy_from_slice(tag);
                    self.tag_len = tag.len();
                    self.pending = 2;
                    self.user = cmd.eq_ignore_ascii_case(b"LOGIN").then(|| user_name(arg));
                }
            }
            (LoginProto::Imap, _) => {
                let tag = &self.tag[..self.tag_len];
                if self.pending == 2
                    && line.len() > tag.len()
                    && line.starts_with(tag)
                    && line[tag.len()] == b' '
                {
                    let rest = &line[tag.len() + 1..];
                    if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"OK") {
                        self.judge(LoginResult::Succeeded, meta, ev);
                    } else if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"NO") {
                        self.judge(LoginResult::Failed, meta, ev);
                    }
                }
            }
            // The others have parsers of their own.
            (
                LoginProto::Ftp
                | LoginProto::Smb
                | LoginProto::Smtp
                | LoginProto::Mysql
                | LoginProto::Postgres
                | LoginProto::Mssql,
                _,
            ) => return Step::Done,
        }
        Step::Consumed(nl + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AppEvent;

    fn run_meta(proto: LoginProto, talk: &[(usize, &[u8])]) -> (Vec<LoginResult>, AppMeta) {
        let mut s = LoginSession::new(proto);
        let mut ev = Events::new();
        let mut meta = AppMeta::default();
        for (d, bytes) in talk {
            let mut pos = 0;
            while pos < bytes.len() {
                match s.parse(*d, &bytes[pos..], &mut meta, &mut ev) {
                    Step::Consumed(n) => pos += n,
                    _ => break,
                }
            }
        }
        let r = ev
            .iter()
            .filter_map(|e| match e {
                AppEvent::Login { result, .. } => Some(result),
                _ => None,
            })
            .collect();
        (r, meta)
    }

    fn run(proto: LoginProto, talk: &[(usize, &[u8])]) -> Vec<LoginResult> {
        run_meta(proto, talk).0
    }

    #[test]
    fn users_are_kept_and_secrets_are_not() {
        let (r, meta) = run_meta(
            LoginProto::Imap,
            &[
                (1, b"* OK IMAP4rev1\r\n"),
                (0, b"a1 LOGIN \"bob\" s3cret\r\n"),
                (1, b"a1 NO bad\r\n"),
                (0, b"a2 LOGIN alice hunter2\r\n"),
                (1, b"a2 OK done\r\n"),
            ],
        );
        assert_eq!(r, vec![LoginResult::Failed, LoginResult::Succeeded]);
        let m = meta.login.unwrap();
        assert_eq!(m.user.as_deref(), Some("bob"));
        assert_eq!(m.users, vec!["bob", "alice"]);
        assert_eq!(m.failed_users, vec!["bob"]);
        assert_eq!((m.attempts, m.failures, m.successes), (2, 1, 1));
        assert!(!format!("{m:?}").contains("s3cret"));
        let (_, meta) = run_meta(
            LoginProto::Telnet,
            &[
                (1, b"\r\nrouter login: "),
                (0, b"admin\r\n"),
                (1, b"Password: "),
                (0, b"admin\r\n"),
                (1, b"\r\nLogin incorrect\r\n"),
            ],
        );
        assert_eq!(meta.login.unwrap().failed_users, vec!["admin"]);
    }

    #[test]
    fn telnet_prompts_without_iac() {
        let r = run(
            LoginProto::Telnet,
            &[
                (1, &[0xff, 0xfd, 0x01, 0xff, 0xfb, 0x03]),
                (1, b"\r\n(none) login: "),
                (0, b"root\r\n"),
                (1, b"Password: "),
                (0, b"xc3511\r\n"),
                (1, b"\r\nLogin incorrect\r\n(none) login: "),
            ],
        );
        assert_eq!(r, vec![LoginResult::Failed]);
    }

    #[test]
    fn pop3_and_imap() {
        let r = run(
            LoginProto::Pop3,
            &[
                (1, b"+OK ready\r\n"),
                (0, b"USER bob\r\n"),
                (1, b"+OK\r\n"),
                (0, b"PASS x\r\n"),
                (1, b"-ERR denied\r\n"),
            ],
        );
        assert_eq!(r, vec![LoginResult::Failed]);
        let r = run(
            LoginProto::Imap,
            &[
                (1, b"* OK IMAP4rev1\r\n"),
                (0, b"a1 LOGIN bob x\r\n"),
                (1, b"a1 NO [AUTHENTICATIONFAILED] bad\r\n"),
                (0, b"a2 LOGIN bob y\r\n"),
                (1, b"* CAPABILITY X\r\na2 OK done\r\n"),
            ],
        );
        assert_eq!(r, vec![LoginResult::Failed, LoginResult::Succeeded]);
    }

    #[test]
    fn greetings() {
        assert_eq!(
            detect(b"220 (vsFTPd 3.0.3)\r\n", (50000, 21)),
            Outcome::Parsed(LoginProto::Ftp)
        );
        assert_eq!(
            detect(b"220 ProFTPD Server\r\n", (50000, 2121)),
            Outcome::Parsed(LoginProto::Ftp)
        );
        assert_eq!(
            detect(b"220 mx.example ESMTP\r\n", (50000, 25)),
            Outcome::NotThis
        );
        assert_eq!(
            detect(b"+OK POP3 ready\r\n", (1, 110)),
            Outcome::Parsed(LoginProto::Pop3)
        );
        assert_eq!(
            detect(b"* OK ready\r\n", (1, 143)),
            Outcome::Parsed(LoginProto::Imap)
        );
        assert_eq!(
            detect(&[0xff, 0xfd, 0x01, 0xff], (1, 23)),
            Outcome::Parsed(LoginProto::Telnet)
        );
        assert_eq!(detect(b"22", (1, 21)), Outcome::Incomplete);
        assert_eq!(detect(b"SSH-2.0-x\r\n", (1, 22)), Outcome::NotThis);
    }

    /// Regression: fuzzing found a greeting line shorter than its code.
    #[test]
    fn r_fuzz_short_greeting_line() {
        assert_eq!(detect(b"220\nxx", (1, 21)), Outcome::NotThis);
    }
}
