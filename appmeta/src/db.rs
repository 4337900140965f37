//! Database logins: MySQL (and MariaDB), PostgreSQL and Microsoft SQL
//! Server (TDS). The parsers read the login exchange only: the user name
//! the client offers and whether the server accepted it, then stop. No
//! password, hash or query is read.
//!
//! - **MySQL**: the server's greeting (protocol 10), the client's
//!   handshake response (user name after the fixed 32 bytes; an SSL
//!   request instead means TLS follows), then the server's OK (`0x00`) or
//!   ERR (`0xff`) packet; authentication switches and extra rounds
//!   (`0xfe`, `0x01`) are passed over.
//! - **PostgreSQL**: the client's startup message (its `user` parameter),
//!   or an SSL/GSS request (the server's `S` means TLS follows), then the
//!   server's `AuthenticationOk` or `ErrorResponse`.
//! - **TDS**: the client's PRELOGIN, then LOGIN7 (user name in UTF-16; most
//!   clients send LOGIN7 inside TLS, so the name is often not seen), then
//!   the server's tabular answer: a LOGINACK token is a success, an ERROR
//!   token a refusal (18456 is "login failed").

use crate::event::{Events, LoginProto, LoginResult};
use crate::login::{user_name, LoginMeta, MAX_USER};
use crate::text::utf16le_lossy;
use crate::{AppMeta, AppProto, Outcome, Step};

/// Longest message read (greetings, startup messages, LOGIN7 and login
/// answers are far shorter).
pub const MAX_MSG: usize = 8192;

/// Recognises a database login from the first bytes of one direction.
pub fn detect(first: &[u8], ports: (u16, u16)) -> Outcome<AppProto> {
    let on = |p: u16| ports.0 == p || ports.1 == p;
    // MySQL greeting: 3-byte length, sequence 0, protocol 10, version text, NUL.
    if first.len() >= 5 && first[3] == 0 && first[4] == 10 {
        let len = usize::from(first[0]) | usize::from(first[1]) << 8 | usize::from(first[2]) << 16;
        if (20..MAX_MSG).contains(&len) {
            let body = &first[5..first.len().min(4 + len)];
            let ver = body.iter().position(|&c| c == 0);
            let printable = |v: &[u8]| !v.is_empty() && v.iter().all(|c| c.is_ascii_graphic());
            match ver {
                Some(n) if n <= 64 && printable(&body[..n]) => {
                    return Outcome::Parsed(AppProto::Mysql)
                }
                None if body.len() < 64 && (body.is_empty() || printable(body)) => {
                    return Outcome::Incomplete
                }
                _ => {}
            }
        }
    }
    // PostgreSQL startup message, SSL or GSS request: length, then code.
    if first.len() >= 8 {
        let len = u32::from_be_bytes([first[0], first[1], first[2], first[3]]) as usize;
        let code = u32::from_be_bytes([first[4], first[5], first[6], first[7]]);
        match code {
            80_877_103 | 80_877_104 if len == 8 => return Outcome::Parsed(AppProto::Postgres),
            0x0003_0000 if (9..MAX_MSG).contains(&len) => {
                let body = &first[8..first.len().min(len)];
                if body.starts_with(b"user\0")
                    || body.windows(6).any(|w| w == b"\0user\0")
                    || (on(5432) && body.first().is_some_and(u8::is_ascii_lowercase))
                {
                    return Outcome::Parsed(AppProto::Postgres);
                }
            }
            _ => {}
        }
    }
    // TDS PRELOGIN (0x12) or LOGIN7 (0x10), end of message, sensible length.
    if first.len() >= 8 && matches!(first[0], 0x12 | 0x10) && first[1] & !0x09 == 0 {
        let len = usize::from(u16::from_be_bytes([first[2], first[3]]));
        let prelogin_starts = first[0] == 0x12 && first[8..].first().is_some_and(|&t| t == 0);
        if (9..=32768).contains(&len) && (prelogin_starts || (first[0] == 0x10 && on(1433))) {
            return Outcome::Parsed(AppProto::Mssql);
        }
    }
    if first.len() < 8 {
        // Too short to tell: a MySQL header, a PostgreSQL length, a TDS header.
        let could = (first.len() < 4 || first[3] == 0)
            || first.first().is_some_and(|&b| b == 0)
            || first.first().is_some_and(|&b| b == 0x12 || b == 0x10);
        if could && (on(3306) || on(5432) || on(1433)) {
            return Outcome::Incomplete;
        }
    }
    Outcome::NotThis
}

/// The login state of one database connection.
#[derive(Clone, Debug)]
pub struct DbSession {
    proto: LoginProto,
    /// The client's login was read (its user, if shown).
    asked: bool,
    user: Option<String>,
    done: bool,
    /// A TDS client went to TLS for its login.
    tls_login: bool,
    /// Bytes of a direction to pass over (TLS records inside TDS).
    skip: [usize; 2],
    /// PostgreSQL: an SSL request's one-byte answer is awaited.
    pg_ssl: bool,
}

impl DbSession {
    /// A session for `proto` (`Mysql`, `Postgres` or `Mssql`).
    pub fn new(proto: LoginProto) -> DbSession {
        DbSession {
            proto,
            asked: false,
            user: None,
            done: false,
            tls_login: false,
            skip: [0; 2],
            pg_ssl: false,
        }
    }

    fn judge(&mut self, result: LoginResult, meta: &mut AppMeta, ev: &mut Events) {
        let user = self.user.take();
        LoginMeta::judge(&mut meta.login, self.proto, result, user.as_deref(), ev);
        self.done = true;
    }

    fn offered(&mut self, name: &[u8], meta: &mut AppMeta) {
        let u = user_name(name);
        if !u.is_empty() {
            meta.login.get_or_insert_with(Default::default).offered(&u);
            self.user = Some(u);
        }
    }

    /// Parses the next in-order bytes of direction `dir` (0 client).
    pub fn parse(&mut self, dir: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let d = dir.min(1);
        if self.done {
            return Step::Done;
        }
        if self.skip[d] > 0 {
            let n = self.skip[d].min(data.len());
            self.skip[d] -= n;
            return Step::Consumed(n);
        }
        match self.proto {
            LoginProto::Mysql => self.mysql(d, data, meta, ev),
            LoginProto::Postgres => self.postgres(d, data, meta, ev),
            LoginProto::Mssql => self.tds(d, data, meta, ev),
            _ => Step::Done,
        }
    }

    fn mysql(&mut self, d: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let Some(h) = data.get(..4) else {
            return Step::NeedMore;
        };
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        if len > MAX_MSG {
            return Step::Malformed;
        }
        let Some(body) = data.get(4..4 + len) else {
            return Step::NeedMore;
        };
        if d == 0 && !self.asked {
            // Handshake response 41: capabilities(4) max packet(4)
            // charset(1) filler(23), then the user name, NUL-terminated.
            let caps = body
                .get(..4)
                .map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            if len == 32 && caps & 0x800 != 0 {
                return Step::Done; // SSL request: TLS follows
            }
            if caps & 0x200 != 0 {
                if let Some(rest) = body.get(32..) {
                    let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                    self.offered(&rest[..end.min(MAX_USER)], meta);
                }
            } else if let Some(rest) = body.get(5..) {
                // Protocol 320: capabilities(2) max packet(3), user NUL.
                let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                self.offered(&rest[..end.min(MAX_USER)], meta);
            }
            self.asked = true;
        } else if d == 1 && self.asked {
            match body.first() {
                Some(0x00) => self.judge(LoginResult::Succeeded, meta, ev),
                Some(0xff) => self.judge(LoginResult::Failed, meta, ev),
                _ => {} // auth switch, more data
            }
        }
        Step::Consumed(4 + len)
    }

    fn postgres(&mut self, d: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        if d == 1 && self.pg_ssl {
            self.pg_ssl = false;
            return match data.first() {
                Some(b'S' | b'G') => {
                    self.done = true;
                    Step::Done
                }
                Some(_) => Step::Consumed(1),
                None => Step::NeedMore,
            };
        }
        if d == 0 {
            if self.asked {
                return Step::Done; // password and queries are not read
            }
            let Some(h) = data.get(..8) else {
                return Step::NeedMore;
            };
            let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let code = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
            if !(8..=MAX_MSG).contains(&len) {
                return Step::Malformed;
            }
            let Some(msg) = data.get(..len) else {
                return Step::NeedMore;
            };
            match code {
                80_877_103 | 80_877_104 => self.pg_ssl = true,
                0x0003_0000 => {
                    let mut kv = msg[8..].split(|&c| c == 0);
                    while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
                        if k == b"user" {
                            self.offered(v, meta);
                        }
                        if k.is_empty() {
                            break;
                        }
                    }
                    self.asked = true;
                }
                _ => return Step::Malformed,
            }
            return Step::Consumed(len);
        }
        // Server: type byte, then a length that counts itself.
        let Some(h) = data.get(..5) else {
            return Step::NeedMore;
        };
        let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
        if !(4..=MAX_MSG).contains(&len) {
            return Step::Malformed;
        }
        let Some(msg) = data.get(..1 + len) else {
            return Step::NeedMore;
        };
        match msg[0] {
            b'R' if msg.len() >= 9 && msg[5..9] == [0, 0, 0, 0] => {
                self.judge(LoginResult::Succeeded, meta, ev)
            }
            b'E' if self.asked => self.judge(LoginResult::Failed, meta, ev),
            _ => {}
        }
        Step::Consumed(1 + len)
    }

    fn tds(&mut self, d: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        // A TLS record sent bare on the connection (the login inside TLS).
        if matches!(data.first(), Some(0x14..=0x17)) && data.get(1) == Some(&3) {
            let Some(h) = data.get(..5) else {
                return Step::NeedMore;
            };
            if d == 0 {
                self.tls_login = true;
                self.asked = true;
            }
            let n = 5 + usize::from(u16::from_be_bytes([h[3], h[4]]));
            let take = n.min(data.len());
            self.skip[d] = n - take;
            return Step::Consumed(take);
        }
        let Some(h) = data.get(..8) else {
            return Step::NeedMore;
        };
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if len < 8 {
            return Step::Malformed;
        }
        if len > MAX_MSG {
            // A large packet (data, not login): passed over.
            let take = len.min(data.len());
            self.skip[d] = len - take;
            return Step::Consumed(take);
        }
        let Some(pkt) = data.get(..len) else {
            return Step::NeedMore;
        };
        let body = &pkt[8..];
        match (d, h[0]) {
            (0, 0x10) => {
                // LOGIN7: user name offset and length (characters) at 40.
                let at = |i: usize| {
                    body.get(i..i + 2)
                        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                };
                if let (Some(off), Some(n)) = (at(40), at(42)) {
                    if let Some(u) = body.get(off..off + 2 * n) {
                        let name = utf16le_lossy(u, MAX_USER);
                        self.offered(name.as_bytes(), meta);
                    }
                }
                self.asked = true;
            }
            (0, 0x12) if self.asked => self.tls_login = true,
            (1, 0x04) if self.asked => {
                if let Some(r) = tds_login_answer(body) {
                    self.judge(r, meta, ev);
                }
            }
            _ => {}
        }
        Step::Consumed(len)
    }
}

/// The outcome a TDS tabular answer gives a login: LOGINACK (0xAD) or an
/// ERROR token (0xAA).
fn tds_login_answer(mut b: &[u8]) -> Option<LoginResult> {
    let mut error = false;
    while let Some(&tok) = b.first() {
        let len = usize::from(u16::from_le_bytes([*b.get(1)?, *b.get(2)?]));
        match tok {
            0xAD => return Some(LoginResult::Succeeded),
            0xAA => error = true,
            0xAB | 0xE3 => {}
            _ => break,
        }
        b = b.get(3 + len..)?;
    }
    error.then_some(LoginResult::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AppEvent;

    fn run(
        proto: LoginProto,
        talk: &[(usize, Vec<u8>)],
    ) -> (AppMeta, Vec<(LoginResult, Option<String>)>) {
        let mut s = DbSession::new(proto);
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
                AppEvent::Login { result, user, .. } => Some((result, user.map(String::from))),
                _ => None,
            })
            .collect();
        (meta, r)
    }

    fn mysql_pkt(seq: u8, body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_le_bytes()[..3].to_vec();
        v.push(seq);
        v.extend_from_slice(body);
        v
    }

    fn mysql_greeting() -> Vec<u8> {
        let mut g = vec![10];
        g.extend_from_slice(b"8.0.36\0");
        g.extend_from_slice(&[1, 0, 0, 0]);
        g.extend_from_slice(&[b'a'; 8]);
        g.extend_from_slice(&[0; 20]);
        mysql_pkt(0, &g)
    }

    fn mysql_login(user: &str) -> Vec<u8> {
        let mut b = (0x0000_0200u32 | 0x8000).to_le_bytes().to_vec();
        b.extend_from_slice(&[0, 0, 0, 1, 33]);
        b.extend_from_slice(&[0; 23]);
        b.extend_from_slice(user.as_bytes());
        b.push(0);
        b.extend_from_slice(&[20]);
        b.extend_from_slice(b"SCRAMBLEDPASSWORD123");
        mysql_pkt(1, &b)
    }

    #[test]
    fn mysql_login_refused_then_accepted() {
        assert_eq!(
            detect(&mysql_greeting(), (40000, 3306)),
            Outcome::Parsed(AppProto::Mysql)
        );
        assert_eq!(
            detect(&mysql_greeting(), (40000, 9999)),
            Outcome::Parsed(AppProto::Mysql)
        );
        let mut err = vec![0xff, 0x15, 0x04];
        err.extend_from_slice(b"#28000Access denied for user 'root'");
        let (meta, r) = run(
            LoginProto::Mysql,
            &[
                (1, mysql_greeting()),
                (0, mysql_login("root")),
                (1, mysql_pkt(2, &err)),
            ],
        );
        assert_eq!(r, vec![(LoginResult::Failed, Some("root".into()))]);
        assert_eq!(meta.login.unwrap().failed_users, vec!["root"]);
        let (_, r) = run(
            LoginProto::Mysql,
            &[
                (1, mysql_greeting()),
                (0, mysql_login("app")),
                (1, mysql_pkt(2, &[0xfe, b'x', 0])),
                (0, mysql_pkt(3, b"resp")),
                (1, mysql_pkt(4, &[0, 0, 0, 2, 0, 0, 0])),
            ],
        );
        assert_eq!(r, vec![(LoginResult::Succeeded, Some("app".into()))]);
    }

    fn pg_startup(user: &str) -> Vec<u8> {
        let mut body = 0x0003_0000u32.to_be_bytes().to_vec();
        for (k, v) in [("user", user), ("database", "sales")] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        m.extend(body);
        m
    }

    fn pg_msg(t: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![t];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn postgres_logins_and_ssl() {
        assert_eq!(
            detect(&pg_startup("x"), (1, 5432)),
            Outcome::Parsed(AppProto::Postgres)
        );
        let (_, r) = run(
            LoginProto::Postgres,
            &[
                (0, pg_startup("postgres")),
                (
                    1,
                    pg_msg(
                        b'R',
                        &5u32
                            .to_be_bytes()
                            .iter()
                            .chain(b"salt")
                            .copied()
                            .collect::<Vec<_>>(),
                    ),
                ),
                (0, pg_msg(b'p', b"md5deadbeef\0")),
                (
                    1,
                    pg_msg(b'E', b"SFATAL\0C28P01\0Mpassword authentication failed\0\0"),
                ),
            ],
        );
        assert_eq!(r, vec![(LoginResult::Failed, Some("postgres".into()))]);
        let (_, r) = run(
            LoginProto::Postgres,
            &[
                (0, pg_startup("app")),
                (1, pg_msg(b'R', &0u32.to_be_bytes())),
            ],
        );
        assert_eq!(r, vec![(LoginResult::Succeeded, Some("app".into()))]);
        let ssl = [0, 0, 0, 8, 4, 210, 22, 47];
        assert_eq!(detect(&ssl, (1, 6000)), Outcome::Parsed(AppProto::Postgres));
        let (_, r) = run(
            LoginProto::Postgres,
            &[
                (0, ssl.to_vec()),
                (1, b"S".to_vec()),
                (1, vec![0x16, 3, 1, 0, 1, 0]),
            ],
        );
        assert!(r.is_empty());
    }

    fn tds(t: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![t, 1];
        p.extend_from_slice(&((body.len() + 8) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 1, 0]);
        p.extend_from_slice(body);
        p
    }

    fn login7(user: &str) -> Vec<u8> {
        let mut b = vec![0u8; 94];
        let name: Vec<u8> = user.encode_utf16().flat_map(u16::to_le_bytes).collect();
        b[40..42].copy_from_slice(&94u16.to_le_bytes());
        b[42..44].copy_from_slice(&(user.len() as u16).to_le_bytes());
        b.extend(name);
        tds(0x10, &b)
    }

    #[test]
    fn tds_logins() {
        let prelogin = tds(0x12, &[0, 0, 6, 0, 6, 0xff, 9, 0, 0, 0, 0, 0]);
        assert_eq!(
            detect(&prelogin, (1, 1433)),
            Outcome::Parsed(AppProto::Mssql)
        );
        let mut err = vec![0xAA];
        let e: Vec<u8> = [18456u32.to_le_bytes().to_vec(), vec![1, 14]].concat();
        err.extend_from_slice(&(e.len() as u16).to_le_bytes());
        err.extend(e);
        err.extend_from_slice(&[0xFD, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let (meta, r) = run(
            LoginProto::Mssql,
            &[
                (0, prelogin.clone()),
                (1, tds(0x04, &[0])),
                (0, login7("sa")),
                (1, tds(0x04, &err)),
            ],
        );
        assert_eq!(r, vec![(LoginResult::Failed, Some("sa".into()))]);
        assert_eq!(meta.login.unwrap().users, vec!["sa"]);
        // Login inside TLS: the outcome without the name.
        let mut ack = vec![0xAD, 4, 0, 1, 2, 3, 4];
        ack.extend_from_slice(&[0xFD, 0, 0]);
        let (_, r) = run(
            LoginProto::Mssql,
            &[
                (0, prelogin),
                (1, tds(0x04, &[0])),
                (0, vec![0x17, 3, 3, 0, 4, 1, 2, 3, 4]),
                (1, tds(0x04, &ack)),
            ],
        );
        assert_eq!(r, vec![(LoginResult::Succeeded, None)]);
    }

    #[test]
    fn other_protocols_are_not_databases() {
        for b in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"SSH-2.0-x\r\n",
            b"\x16\x03\x01\x00\x10abc",
        ] {
            assert_eq!(detect(b, (1, 3306)), Outcome::NotThis, "{b:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(talk in proptest::collection::vec(
            (0usize..2, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)), 0..12), p in 0usize..3) {
            let proto = [LoginProto::Mysql, LoginProto::Postgres, LoginProto::Mssql][p];
            let mut s = DbSession::new(proto);
            let mut ev = Events::new();
            let mut meta = AppMeta::default();
            for (d, bytes) in &talk {
                let _ = detect(bytes, (1, 3306));
                let mut pos = 0;
                while pos < bytes.len() {
                    match s.parse(*d, &bytes[pos..], &mut meta, &mut ev) {
                        Step::Consumed(n) => { proptest::prop_assert!(n > 0 && n <= bytes.len() - pos); pos += n }
                        _ => break,
                    }
                }
            }
        }
    }
}
