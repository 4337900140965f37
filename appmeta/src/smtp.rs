//! SMTP (and submission on 587): the client's `EHLO` name, `STARTTLS`,
//! the `AUTH` mechanism with the user name and outcome, `MAIL FROM` and
//! `RCPT TO` counts, and every message handed over with its size and the
//! file names of its attachments.
//!
//! Addresses and message text are not kept: only counts, sizes and
//! attachment names. `AUTH PLAIN` and `AUTH LOGIN` carry the user name in
//! base64; the parser decodes at most the first 72 bytes of the exchange's
//! first line, keeps the name and drops the rest on the spot; the lines
//! after it (the password) are never decoded. After `STARTTLS` is accepted the
//! connection is encrypted and the parser stops.

use base64::Engine;

use crate::event::{Events, LoginProto, LoginResult};
use crate::login::{user_name, LoginMeta};
use crate::text::text;
use crate::{AppMeta, Outcome, Step, MAX_LIST};

/// Longest command or reply line read.
const MAX_LINE: usize = 4096;
/// Lines of commands and replies read per direction before the parser stops
/// (message lines are not counted).
pub const MAX_LINES: u32 = 4096;
/// Longest attachment name kept.
const MAX_NAME: usize = 256;
/// Longest message-header line read for attachment names; longer lines
/// are counted and passed over.
const MAX_DATA_LINE: usize = 4096;

/// What the SMTP conversation of a flow said, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmtpMeta {
    /// The first `EHLO`/`HELO` name.
    pub helo: Option<String>,
    /// The server accepted `STARTTLS`.
    pub starttls: bool,
    /// The first `AUTH` mechanism (`PLAIN`, `LOGIN`, `CRAM-MD5`, `XOAUTH2` ...).
    pub auth_mechanism: Option<String>,
    /// `MAIL FROM` commands.
    pub mail_from: u32,
    /// `RCPT TO` commands.
    pub rcpt_to: u32,
    /// Messages handed over.
    pub messages: u32,
    /// Their sizes, in order, at most [`MAX_LIST`].
    pub message_sizes: Vec<i64>,
    /// File names of attachments, each once, at most [`MAX_LIST`].
    pub attachments: Vec<String>,
    /// A list or name was cut at its bound.
    pub cut: bool,
}

/// Recognises SMTP from the first bytes of either side: a `220` greeting
/// naming SMTP (or on a mail port), or a client's `EHLO`/`HELO`.
pub fn detect(first: &[u8], ports: (u16, u16)) -> Outcome<()> {
    let on = |p: u16| ports.0 == p || ports.1 == p;
    let line_end = first.iter().position(|&c| c == b'\n');
    let Some(nl) = line_end else {
        let n = first.len().min(4);
        let could = [&b"220"[..], b"EHLO", b"HELO"].iter().any(|p| {
            let k = n.min(p.len());
            first[..k].eq_ignore_ascii_case(&p[..k])
        });
        return if could && first.len() < MAX_LINE {
            Outcome::Incomplete
        } else {
            Outcome::NotThis
        };
    };
    let line = &first[..nl];
    let has = |n: &[u8]| line.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    if line.len() >= 4 && line.starts_with(b"220") && matches!(line[3], b' ' | b'-') {
        if has(b"smtp") || has(b"mail") || on(25) || on(587) || on(2525) {
            return Outcome::Parsed(());
        }
        return Outcome::NotThis;
    }
    let head = &line[..line.len().min(5)];
    if head.eq_ignore_ascii_case(b"EHLO ") || head.eq_ignore_ascii_case(b"HELO ") {
        return Outcome::Parsed(());
    }
    Outcome::NotThis
}

/// What a reply will answer, in command order (pipelining).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Other,
    StartTls,
    Auth,
    Data,
}

/// Commands whose reply is awaited, at most this many.
const QUEUE: usize = 32;

/// The SMTP state of one connection.
#[derive(Clone, Debug, Default)]
pub struct SmtpSession {
    lines: [u32; 2],
    asked: [Option<Asked>; QUEUE],
    head: usize,
    queued: usize,
    greeted: bool,
    /// In an `AUTH` exchange: 0 no, else the client lines read in it + 1.
    auth: u8,
    /// `AUTH LOGIN` (the next client line is the user name).
    auth_login: bool,
    user: Option<String>,
    /// Reading a message: its bytes so far.
    data: Option<u64>,
    /// The message is sent by `DATA` (ends at a lone dot).
    dot: bool,
    /// `BDAT` bytes still to pass over, and whether the chunk is the last.
    bdat: u64,
    bdat_last: bool,
    /// In the headers of the message or of a MIME part.
    headers: bool,
    /// Attachments named in the current message.
    attached: u32,
    /// The current MIME part's headers named its file.
    part_named: bool,
    /// Recipients of the current transaction.
    rcpts: u32,
    done: bool,
}

fn decode_user(b64: &[u8], plain: bool) -> Option<String> {
    let b64 = b64.trim_ascii();
    // A user name is short: decode only the first 96 base64 bytes (72
    // bytes of text), so most of a PLAIN blob's password stays undecoded.
    let take = b64.len().min(96) & !3;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&b64[..take])
        .ok()
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(b64.get(..b64.len().min(96))?)
                .ok()
        })?;
    let name = if plain {
        // authzid NUL authcid NUL password: the authcid only.
        let mut parts = raw.split(|&c| c == 0);
        let authzid = parts.next()?;
        let authcid = parts.next()?;
        if authcid.is_empty() {
            authzid
        } else {
            authcid
        }
    } else {
        &raw[..]
    };
    let name = name.split(|&c| c == 0).next().unwrap_or_default();
    (!name.is_empty()).then(|| user_name(name))
}

/// The value of `key=` in a MIME header line (`filename="a b.pdf"`,
/// `name=x.exe`, `filename*=utf-8''x.zip`).
fn header_param(line: &[u8]) -> Option<&[u8]> {
    let lower_find = |needle: &[u8]| {
        line.windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle))
    };
    let (at, len) = [&b"filename*="[..], b"filename=", b"name="]
        .iter()
        .find_map(|k| lower_find(k).map(|a| (a, k.len())))?;
    if len == 5 && at > 0 && line[at - 1].is_ascii_alphanumeric() {
        return None; // `xname=`
    }
    let mut v = &line[at + len..];
    if len == 10 {
        // RFC 2231: charset'language'value.
        if let Some(q) = v.iter().rposition(|&c| c == b'\'') {
            v = &v[q + 1..];
        }
    }
    let v = if let Some(rest) = v.strip_prefix(b"\"") {
        &rest[..rest.iter().position(|&c| c == b'"').unwrap_or(rest.len())]
    } else {
        &v[..v
            .iter()
            .position(|&c| c == b';' || c == b' ' || c == b'\t' || c == b'\r')
            .unwrap_or(v.len())]
    };
    (!v.is_empty()).then_some(v)
}

impl SmtpSession {
    fn push(&mut self, a: Asked) {
        if self.queued < QUEUE {
            self.asked[(self.head + self.queued) % QUEUE] = Some(a);
            self.queued += 1;
        }
    }

    fn pop(&mut self) -> Asked {
        if self.queued == 0 {
            return Asked::Other;
        }
        let a = self.asked[self.head].take().unwrap_or(Asked::Other);
        self.head = (self.head + 1) % QUEUE;
        self.queued -= 1;
        a
    }

    fn judge(&mut self, result: LoginResult, meta: &mut AppMeta, ev: &mut Events) {
        let user = self.user.take();
        LoginMeta::judge(
            &mut meta.login,
            LoginProto::Smtp,
            result,
            user.as_deref(),
            ev,
        );
        self.auth = 0;
    }

    fn end_message(&mut self, meta: &mut AppMeta, ev: &mut Events) {
        self.dot = false;
        let Some(size) = self.data.take() else {
            return;
        };
        let m = meta.smtp.get_or_insert_with(Default::default);
        m.messages = m.messages.saturating_add(1);
        if m.message_sizes.len() < MAX_LIST {
            m.message_sizes.push(size as i64);
        } else {
            m.cut = true;
        }
        ev.smtp_message(size, self.rcpts, self.attached);
        self.rcpts = 0;
        self.attached = 0;
        self.bdat = 0;
        self.bdat_last = false;
    }

    fn start_message(&mut self) {
        self.data = Some(0);
        self.headers = true;
        self.part_named = false;
        self.attached = 0;
    }

    /// Parses the next in-order bytes of direction `dir` (0 client).
    pub fn parse(&mut self, dir: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let d = dir.min(1);
        if self.done || self.lines[d] >= MAX_LINES {
            return Step::Done;
        }
        if d == 0 && self.bdat > 0 {
            let n = (self.bdat.min(data.len() as u64)) as usize;
            self.bdat -= n as u64;
            if let Some(s) = &mut self.data {
                *s += n as u64;
            }
            if self.bdat == 0 && self.bdat_last {
                self.end_message(meta, ev);
            }
            return Step::Consumed(n.max(1).min(data.len()));
        }
        if d == 0 && self.dot {
            return self.message_line(data, meta, ev);
        }
        let nl = match crate::line_end(data, MAX_LINE) {
            Ok(nl) => nl,
            Err(Step::Malformed) => return Step::Malformed,
            Err(step) => return step,
        };
        self.lines[d] += 1;
        let line = data[..nl].strip_suffix(b"\r").unwrap_or(&data[..nl]);
        if d == 0 {
            self.command(line, meta);
            if self.bdat == 0 && self.bdat_last {
                self.end_message(meta, ev); // `BDAT 0 LAST`
            }
        } else {
            self.reply(line, meta, ev);
        }
        Step::Consumed(nl + 1)
    }

    fn message_line(&mut self, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let Some(nl) = data.iter().take(MAX_DATA_LINE).position(|&c| c == b'\n') else {
            if data.len() >= MAX_DATA_LINE {
                // A long body line: counted, not read.
                if let Some(s) = &mut self.data {
                    *s += data.len() as u64;
                }
                self.headers = false;
                return Step::Consumed(data.len());
            }
            return Step::NeedMore;
        };
        let line = data[..nl].strip_suffix(b"\r").unwrap_or(&data[..nl]);
        if line == b"." {
            self.end_message(meta, ev);
            return Step::Consumed(nl + 1);
        }
        if let Some(s) = &mut self.data {
            *s += nl as u64 + 1;
        }
        if line.is_empty() {
            self.headers = false;
        } else if line.starts_with(b"--") && line.len() > 2 && !self.headers {
            self.headers = true; // a MIME boundary: part headers follow
            self.part_named = false;
        } else if self.headers && !self.part_named {
            if let Some(v) = header_param(line) {
                self.part_named = true;
                let m = meta.smtp.get_or_insert_with(Default::default);
                let (name, cut) = text(v, MAX_NAME);
                m.cut |= cut;
                crate::push_distinct(&mut m.attachments, &name, MAX_LIST, &mut m.cut);
                self.attached = self.attached.saturating_add(1);
            }
        }
        Step::Consumed(nl + 1)
    }

    fn command(&mut self, line: &[u8], meta: &mut AppMeta) {
        if self.auth > 0 {
            // A line of the AUTH exchange: the user name for LOGIN's first,
            // PLAIN's blob; never anything after it.
            if self.auth == 1 && self.user.is_none() {
                self.user = decode_user(line, !self.auth_login);
            }
            self.auth = self.auth.saturating_add(1);
            if line == b"*" {
                self.auth = 0; // the client cancelled
            }
            self.push(Asked::Auth);
            return;
        }
        let mut words = line.splitn(3, |&c| c == b' ');
        let verb = words.next().unwrap_or_default();
        let arg = words.next();
        let upper = |w: &[u8], s: &str| w.eq_ignore_ascii_case(s.as_bytes());
        let m = meta.smtp.get_or_insert_with(Default::default);
        if upper(verb, "EHLO") || upper(verb, "HELO") {
            if m.helo.is_none() {
                let (h, cut) = text(line[5.min(line.len())..].trim_ascii(), 256);
                m.cut |= cut;
                m.helo = Some(h);
            }
            self.push(Asked::Other);
        } else if upper(verb, "STARTTLS") {
            self.push(Asked::StartTls);
        } else if upper(verb, "AUTH") {
            let mech = arg.unwrap_or_default();
            if m.auth_mechanism.is_none() && !mech.is_empty() {
                m.auth_mechanism = Some(text(&mech.to_ascii_uppercase(), 32).0);
            }
            self.auth_login = upper(mech, "LOGIN");
            self.user = None;
            self.auth = 1;
            if let Some(initial) = words.next().filter(|w| *w != b"=") {
                self.user = decode_user(initial, !self.auth_login);
                self.auth = 2;
            }
            self.push(Asked::Auth);
        } else if upper(verb, "MAIL") {
            m.mail_from = m.mail_from.saturating_add(1);
            self.rcpts = 0;
            self.push(Asked::Other);
        } else if upper(verb, "RCPT") {
            m.rcpt_to = m.rcpt_to.saturating_add(1);
            self.rcpts = self.rcpts.saturating_add(1);
            self.push(Asked::Other);
        } else if upper(verb, "DATA") {
            self.start_message();
            self.dot = true;
            self.push(Asked::Data);
        } else if upper(verb, "BDAT") {
            let size = arg
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|a| a.parse::<u64>().ok());
            if let Some(size) = size {
                if self.data.is_none() {
                    self.start_message();
                    self.headers = false;
                }
                self.bdat = size;
                self.bdat_last = words.next().is_some_and(|w| upper(w.trim_ascii(), "LAST"));
            }
            self.push(Asked::Other);
        } else {
            self.push(Asked::Other);
        }
    }

    fn reply(&mut self, line: &[u8], meta: &mut AppMeta, ev: &mut Events) {
        let digits = line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit);
        let last = line.len() == 3 || line.get(3) == Some(&b' ');
        if !digits || !last {
            return;
        }
        let code = u16::from(line[0] - b'0') * 100
            + u16::from(line[1] - b'0') * 10
            + u16::from(line[2] - b'0');
        if !self.greeted {
            self.greeted = true;
            if code == 220 || code == 554 {
                return;
            }
        }
        match self.pop() {
            Asked::StartTls if code == 220 => {
                meta.smtp.get_or_insert_with(Default::default).starttls = true;
                self.done = true;
            }
            Asked::Auth => match code {
                334 => {}
                235 => self.judge(LoginResult::Succeeded, meta, ev),
                500..=599 => self.judge(LoginResult::Failed, meta, ev),
                _ => self.auth = 0,
            },
            // Refused: the client sends no message.
            Asked::Data if code != 354 && self.data == Some(0) => {
                self.data = None;
                self.dot = false;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AppEvent;

    fn run(talk: &[(usize, &[u8])]) -> (AppMeta, Vec<String>) {
        let mut s = SmtpSession::default();
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
        (meta, ev.iter().map(|e| format!("{e:?}")).collect())
    }

    const MSG: &[u8] = b"From: a@example.org\r\nSubject: report\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n..dot\r\n--b1\r\nContent-Type: application/zip;\r\n name=\"db dump.zip\"\r\nContent-Disposition: attachment; filename=\"db dump.zip\"\r\n\r\nUEsDBA==\r\n--b1\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n\r\nJVBER\r\n--b1--\r\n.\r\n";

    #[test]
    fn a_submission_with_auth_and_a_message() {
        // "AGJvYgBodW50ZXIy" is base64 of "\0bob\0hunter2".
        let (meta, evs) = run(&[
            (1, b"220 mx.example.org ESMTP\r\n"),
            (0, b"EHLO ws17.corp.local\r\n"),
            (1, b"250-mx.example.org\r\n250 AUTH PLAIN LOGIN\r\n"),
            (0, b"AUTH PLAIN AGJvYgBodW50ZXIy\r\n"),
            (1, b"535 5.7.8 bad credentials\r\n"),
            (0, b"AUTH LOGIN\r\n"),
            (1, b"334 VXNlcm5hbWU6\r\n"),
            (0, b"YWxpY2U=\r\n"),
            (1, b"334 UGFzc3dvcmQ6\r\n"),
            (0, b"c2VjcmV0\r\n"),
            (1, b"235 ok\r\n"),
            (0, b"MAIL FROM:<a@example.org> SIZE=600\r\nRCPT TO:<x@example.net>\r\nRCPT TO:<y@example.net>\r\nDATA\r\n"),
            (1, b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            (0, MSG),
            (1, b"250 queued\r\n"),
            (0, b"QUIT\r\n"),
        ]);
        let m = meta.smtp.unwrap();
        assert_eq!(m.helo.as_deref(), Some("ws17.corp.local"));
        assert_eq!(m.auth_mechanism.as_deref(), Some("PLAIN"));
        assert_eq!((m.mail_from, m.rcpt_to, m.messages), (1, 2, 1));
        // Every byte of the message up to (not including) the final dot line.
        assert_eq!(m.message_sizes, vec![MSG.len() as i64 - 3]);
        assert_eq!(m.attachments, vec!["db dump.zip", "r%C3%A9sum%C3%A9.pdf"]);
        assert!(!m.starttls);
        let l = meta.login.unwrap();
        assert_eq!(l.users, vec!["bob", "alice"]);
        assert_eq!(l.failed_users, vec!["bob"]);
        assert_eq!((l.failures, l.successes), (1, 1));
        let all = evs.join("\n");
        assert!(!all.contains("hunter2") && !all.contains("secret"), "{all}");
        assert!(all.contains("SmtpMessage { size: "), "{all}");
        assert!(all.contains("rcpts: 2, attachments: 2"), "{all}");
    }

    #[test]
    fn starttls_stops_and_bdat_counts() {
        let (meta, _) = run(&[
            (1, b"220 mx ESMTP\r\n"),
            (0, b"EHLO a\r\nSTARTTLS\r\n"),
            (1, b"250 mx\r\n220 go ahead\r\n"),
            (0, b"\x16\x03\x01\x00\x05hello"),
        ]);
        assert!(meta.smtp.unwrap().starttls);
        let (meta, evs) = run(&[
            (1, b"220 mx ESMTP\r\n"),
            (
                0,
                b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabc",
            ),
            (1, b"250 mx\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"),
        ]);
        assert_eq!(meta.smtp.unwrap().message_sizes, vec![8]);
        assert!(evs
            .iter()
            .any(|e| e.contains("SmtpMessage { size: 8, rcpts: 1")));
    }

    #[test]
    fn detection() {
        assert_eq!(
            detect(b"220 mx.example.org ESMTP Postfix\r\n", (4, 25)),
            Outcome::Parsed(())
        );
        assert_eq!(detect(b"220 host ready\r\n", (4, 587)), Outcome::Parsed(()));
        assert_eq!(detect(b"220 host ready\r\n", (4, 9999)), Outcome::NotThis);
        assert_eq!(detect(b"EHLO x\r\n", (4, 9999)), Outcome::Parsed(()));
        assert_eq!(detect(b"22", (4, 25)), Outcome::Incomplete);
        assert_eq!(detect(b"GET / HTTP/1.1\r\n", (4, 25)), Outcome::NotThis);
        assert!(matches!(
            SmtpSession::default().parse(0, b"x", &mut AppMeta::default(), &mut Events::new()),
            Step::NeedMore
        ));
        let _ = AppEvent::SmtpMessage {
            size: 0,
            rcpts: 0,
            attachments: 0,
        };
    }

    #[test]
    fn user_names_decode_without_the_secret() {
        assert_eq!(
            decode_user(b"AGJvYgBodW50ZXIy", true).as_deref(),
            Some("bob")
        );
        assert_eq!(decode_user(b"YWxpY2U=", false).as_deref(), Some("alice"));
        assert_eq!(decode_user(b"!!!", false), None);
        assert_eq!(header_param(b"Content-Type: text/plain; charset=x"), None);
        assert_eq!(header_param(b" name=a.exe"), Some(&b"a.exe"[..]));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_talk_never_panics(talk in proptest::collection::vec(
            (0usize..2, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)), 0..20)) {
            let mut s = SmtpSession::default();
            let mut ev = Events::new();
            let mut meta = AppMeta::default();
            for (d, bytes) in &talk {
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
