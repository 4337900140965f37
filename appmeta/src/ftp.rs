//! FTP control connections: every command and reply code, the user names
//! offered and whether the server accepted them, the files named by
//! transfers, and the data channels each side announced (`PASV`/`EPSV`
//! answers, `PORT`/`EPRT` commands) so the sensor can link the data
//! connections to their control connection.
//!
//! Passwords (`PASS`, `ACCT`) are never kept nor raised. The parser reads
//! both directions line by line, up to [`MAX_LINES`] each; after a
//! successful `AUTH TLS` the connection is encrypted and it stops.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::event::{Events, LoginProto, LoginResult};
use crate::login::{user_name, LoginMeta};
use crate::text::text;
use crate::{AppMeta, Step, MAX_LIST};

/// Longest line read.
const MAX_LINE: usize = 2048;
/// Lines read per direction before the parser stops.
pub const MAX_LINES: u32 = 4096;
/// Longest file name kept.
const MAX_NAME: usize = 256;

/// What the FTP control connection of a flow said, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FtpMeta {
    /// Commands the client used, each once, in order.
    pub commands: Vec<String>,
    /// Reply codes the server gave, each once, in order.
    pub reply_codes: Vec<u16>,
    /// Files named by `RETR`, `STOR`, `STOU`, `APPE`, `DELE`, each once.
    pub files: Vec<String>,
    /// Uploads asked for (`STOR`, `STOU`, `APPE`).
    pub uploads: u32,
    /// Downloads asked for (`RETR`).
    pub downloads: u32,
    /// Data channels announced (passive answers and active commands).
    pub data_channels: u32,
    /// On a data connection: the `flow_uid` of its control connection.
    pub control_uid: Option<i64>,
    /// A list was cut at its bound.
    pub cut: bool,
}

/// The FTP state of one control connection.
#[derive(Clone, Debug, Default)]
pub struct FtpSession {
    lines: [u32; 2],
    /// A user name was sent (1) or a password too (2).
    pending: u8,
    user: Option<String>,
    /// `AUTH TLS`/`AUTH SSL` asked, its answer awaited.
    tls_asked: bool,
    done: bool,
}

/// `h1,h2,h3,h4,p1,p2` (as `PORT` and the `227` answer give them).
fn host_port(s: &[u8]) -> Option<(IpAddr, u16)> {
    let mut n = [0u8; 6];
    let mut parts = s.split(|&c| c == b',');
    for v in &mut n {
        let p = parts.next()?.trim_ascii();
        if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *v = std::str::from_utf8(p).ok()?.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let addr = IpAddr::V4(Ipv4Addr::new(n[0], n[1], n[2], n[3]));
    Some((addr, u16::from_be_bytes([n[4], n[5]])))
}

/// The digits-and-commas run of a `227` answer (`(h1,...,p2)` or bare).
fn passive(line: &[u8]) -> Option<(IpAddr, u16)> {
    let start = line.iter().skip(4).position(u8::is_ascii_digit)? + 4;
    let end = line[start..]
        .iter()
        .position(|&c| !(c.is_ascii_digit() || c == b',' || c == b' '))
        .map_or(line.len(), |e| start + e);
    host_port(&line[start..end])
}

/// `|proto|addr|port|` of `EPRT` (the delimiter is the first byte) or
/// `(|||port|)` of a `229` answer.
fn extended(s: &[u8]) -> Option<(Option<IpAddr>, u16)> {
    let s = s.trim_ascii();
    let d = *s.first()?;
    let mut f = s[1..].split(|&c| c == d);
    let proto = f.next()?;
    let addr = f.next()?;
    let port = f.next()?;
    let port: u16 = std::str::from_utf8(port).ok()?.trim().parse().ok()?;
    let addr = std::str::from_utf8(addr).ok()?;
    let addr = match proto {
        b"" if addr.is_empty() => None,
        b"1" => Some(IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?)),
        b"2" => Some(IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)),
        _ => return None,
    };
    Some((addr, port))
}

impl FtpSession {
    fn judge(&mut self, result: LoginResult, meta: &mut AppMeta, ev: &mut Events) {
        let user = self.user.take();
        LoginMeta::judge(
            &mut meta.login,
            LoginProto::Ftp,
            result,
            user.as_deref(),
            ev,
        );
        self.pending = 0;
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
            Err(step) => return step,
        };
        self.lines[d] += 1;
        let line = data[..nl].strip_suffix(b"\r").unwrap_or(&data[..nl]);
        let ftp = meta.ftp.get_or_insert_with(Default::default);
        if d == 0 {
            self.command(line, meta, ev);
        } else {
            // Only the last line of a reply (`230 ` rather than `230-`)
            // carries the code that counts.
            let code = (line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit))
                .then(|| u16::from(line[0] - b'0') * 100 + u16::from(line[1] - b'0') * 10)
                .map(|c| c + u16::from(line[2] - b'0'));
            let last = line.len() == 3 || line.get(3) == Some(&b' ');
            if let (Some(code), true) = (code, last) {
                if !ftp.reply_codes.contains(&code) {
                    if ftp.reply_codes.len() < MAX_LIST {
                        ftp.reply_codes.push(code);
                    } else {
                        ftp.cut = true;
                    }
                }
                self.reply(code, line, meta, ev);
            }
        }
        Step::Consumed(nl + 1)
    }

    fn command(&mut self, line: &[u8], meta: &mut AppMeta, ev: &mut Events) {
        let (verb, arg) = match line.iter().position(|&c| c == b' ') {
            Some(sp) => (&line[..sp], Some(&line[sp + 1..])),
            None => (line, None),
        };
        if verb.is_empty() || verb.len() > 8 || !verb.iter().all(u8::is_ascii_alphabetic) {
            return; // not a command (Telnet noise, binary)
        }
        let mut up = [0u8; 8];
        for (o, c) in up.iter_mut().zip(verb) {
            *o = c.to_ascii_uppercase();
        }
        let verb = std::str::from_utf8(&up[..verb.len()]).unwrap_or("");
        let ftp = meta.ftp.get_or_insert_with(Default::default);
        crate::push_distinct(&mut ftp.commands, verb, MAX_LIST, &mut ftp.cut);
        let secret = matches!(verb, "PASS" | "ACCT");
        ev.ftp_command(verb, if secret { None } else { arg });
        let arg = arg.unwrap_or_default();
        match verb {
            "USER" => {
                self.pending = 1;
                let u = user_name(arg);
                meta.login.get_or_insert_with(Default::default).offered(&u);
                self.user = Some(u);
            }
            "PASS" => self.pending = 2,
            "AUTH" => {
                let a = arg.trim_ascii();
                self.tls_asked = a.eq_ignore_ascii_case(b"TLS") || a.eq_ignore_ascii_case(b"SSL");
            }
            "RETR" | "STOR" | "STOU" | "APPE" | "DELE" => {
                match verb {
                    "RETR" => ftp.downloads = ftp.downloads.saturating_add(1),
                    "DELE" => {}
                    _ => ftp.uploads = ftp.uploads.saturating_add(1),
                }
                let (name, cut) = text(arg, MAX_NAME);
                ftp.cut |= cut;
                crate::push_distinct(&mut ftp.files, &name, MAX_LIST, &mut ftp.cut);
            }
            "PORT" => {
                if let Some((addr, port)) = host_port(arg) {
                    self.data(Some(addr), port, true, meta, ev);
                }
            }
            "EPRT" => {
                if let Some((Some(addr), port)) = extended(arg) {
                    self.data(Some(addr), port, true, meta, ev);
                }
            }
            _ => {}
        }
    }

    fn data(
        &mut self,
        addr: Option<IpAddr>,
        port: u16,
        active: bool,
        meta: &mut AppMeta,
        ev: &mut Events,
    ) {
        if port == 0 {
            return;
        }
        let ftp = meta.ftp.get_or_insert_with(Default::default);
        ftp.data_channels = ftp.data_channels.saturating_add(1);
        ev.ftp_data(addr, port, active);
    }

    fn reply(&mut self, code: u16, line: &[u8], meta: &mut AppMeta, ev: &mut Events) {
        match code {
            230 if self.pending > 0 => self.judge(LoginResult::Succeeded, meta, ev),
            530 if self.pending > 0 => self.judge(LoginResult::Failed, meta, ev),
            227 => {
                if let Some((addr, port)) = passive(line) {
                    self.data(Some(addr), port, false, meta, ev);
                }
            }
            229 => {
                let open = line.iter().position(|&c| c == b'(');
                let close = line.iter().rposition(|&c| c == b')');
                if let (Some(o), Some(c)) = (open, close) {
                    if let Some((addr, port)) = line.get(o + 1..c).and_then(extended) {
                        self.data(addr, port, false, meta, ev);
                    }
                }
            }
            234 if self.tls_asked => self.done = true,
            _ => {
                if code >= 300 {
                    self.tls_asked = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AppEvent;

    fn run(talk: &[(usize, &[u8])]) -> (AppMeta, Vec<String>) {
        let mut s = FtpSession::default();
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
        let evs = ev.iter().map(|e| format!("{e:?}")).collect();
        (meta, evs)
    }

    #[test]
    fn a_session_with_logins_transfers_and_data_channels() {
        let (meta, evs) = run(&[
            (1, b"220 (vsFTPd 3.0.3)\r\n"),
            (0, b"USER root\r\n"),
            (1, b"331 Please specify the password.\r\n"),
            (0, b"PASS 123456\r\n"),
            (1, b"530-Login\r\n530 Login incorrect.\r\n"),
            (0, b"USER anonymous\r\npass guest@\r\n"),
            (1, b"230 Login successful.\r\n"),
            (0, b"PASV\r\n"),
            (1, b"227 Entering Passive Mode (192,168,1,5,195,80).\r\n"),
            (0, b"STOR secrets.zip\r\n"),
            (1, b"150 Ok to send data.\r\n226 Transfer complete.\r\n"),
            (0, b"EPSV\r\n"),
            (1, b"229 Entering Extended Passive Mode (|||40001|)\r\n"),
            (0, b"RETR /etc/passwd\r\nPORT 10,0,0,9,4,1\r\n"),
            (0, b"EPRT |2|fe80::1|5282|\r\nQUIT\r\n"),
        ]);
        let f = meta.ftp.unwrap();
        assert_eq!(
            f.commands,
            vec!["USER", "PASS", "PASV", "STOR", "EPSV", "RETR", "PORT", "EPRT", "QUIT"]
        );
        assert_eq!(f.reply_codes, vec![220, 331, 530, 230, 227, 150, 226, 229]);
        assert_eq!(f.files, vec!["secrets.zip", "/etc/passwd"]);
        assert_eq!((f.uploads, f.downloads, f.data_channels), (1, 1, 4));
        let l = meta.login.unwrap();
        assert_eq!(l.users, vec!["root", "anonymous"]);
        assert_eq!(l.failed_users, vec!["root"]);
        assert_eq!((l.attempts, l.failures, l.successes), (2, 1, 1));
        // 195 * 256 + 80 = 50000; 4 * 256 + 1 = 1025.
        for want in [
            "FtpData { addr: Some(192.168.1.5), port: 50000, active: false }",
            "FtpData { addr: None, port: 40001, active: false }",
            "FtpData { addr: Some(10.0.0.9), port: 1025, active: true }",
            "FtpData { addr: Some(fe80::1), port: 5282, active: true }",
        ] {
            assert!(evs.iter().any(|e| e == want), "{want} in {evs:?}");
        }
        let all = evs.join("\n");
        assert!(!all.contains("123456") && !all.contains("guest@"), "{all}");
        assert!(all.contains("FtpCommand { command: \"PASS\", arg: None }"));
    }

    #[test]
    fn auth_tls_stops_the_parser() {
        let mut s = FtpSession::default();
        let mut ev = Events::new();
        let mut meta = AppMeta::default();
        assert_eq!(
            s.parse(0, b"AUTH TLS\r\n", &mut meta, &mut ev),
            Step::Consumed(10)
        );
        assert_eq!(
            s.parse(1, b"234 Proceed.\r\n", &mut meta, &mut ev),
            Step::Consumed(14)
        );
        assert_eq!(s.parse(0, b"\x16\x03\x01", &mut meta, &mut ev), Step::Done);
        assert!(ev.iter().any(|e| matches!(
            e,
            AppEvent::FtpCommand {
                command: "AUTH",
                ..
            }
        )));
    }

    #[test]
    fn hostile_addresses_are_refused() {
        assert_eq!(host_port(b"256,0,0,1,1,1"), None);
        assert_eq!(host_port(b"1,2,3,4,5"), None);
        assert_eq!(host_port(b"1,2,3,4,5,6,7"), None);
        assert_eq!(passive(b"227 =1,2,3,4,0,21"), host_port(b"1,2,3,4,0,21"));
        assert_eq!(extended(b"|3|x|1|"), None);
        assert_eq!(extended(b"|1|1.2.3.4|99999|"), None);
        assert_eq!(extended(b""), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_lines_never_panic(talk in proptest::collection::vec(
            (0usize..2, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)), 0..20)) {
            let mut s = FtpSession::default();
            let mut ev = Events::new();
            let mut meta = AppMeta::default();
            for (d, bytes) in &talk {
                let mut pos = 0;
                while pos < bytes.len() {
                    match s.parse(*d, &bytes[pos..], &mut meta, &mut ev) {
                        Step::Consumed(n) => { proptest::prop_assert!(n > 0); pos += n }
                        _ => break,
                    }
                }
            }
            if let Some(f) = &meta.ftp {
                proptest::prop_assert!(f.commands.len() <= MAX_LIST && f.files.len() <= MAX_LIST);
            }
        }
    }
}
