//! SMB1 and SMB2/3 over TCP (445 direct, 139 through the NetBIOS session
//! service): the dialect, commands and their status codes, NTLM session
//! setups with their outcome (user, domain and workstation, never the
//! response), tree connects with share paths, files and named pipes opened
//! or created with their names, bytes written and read, DCE/RPC over the
//! pipes (binds and requests, [`crate::dcerpc`]), SMB3 encryption and
//! compression transforms (with the out-of-range offsets SMBGhost sends),
//! and the SMB1 transactions exploits abuse (Trans2 and NT Trans counts and
//! sizes, answers whose multiplex id no request used, as DoublePulsar's).
//!
//! Messages are read from their first [`MSG_HEAD`] bytes; the rest of a
//! long one (a file's data) is passed over, so a file copy costs its
//! headers only.

use crate::dcerpc::{Association, DceRpcMeta};
use crate::event::{Events, LoginProto, LoginResult, SmbAction, SmbSign};
use crate::ntlm::NtlmMeta;
use crate::ntlmssp;
use crate::text::utf16le_lossy;
use crate::{flags, AppMeta, Outcome, Step};

/// Bytes of a message read before its rest is passed over.
pub const MSG_HEAD: usize = 4096;
/// Names kept per list of a record (shares, files, pipes).
pub const MAX_LIST: usize = 32;
/// Requests awaiting their answer, per connection.
const MAX_PENDING: usize = 64;
/// Trees and open files remembered per connection.
const MAX_OPEN: usize = 128;
/// Longest name kept, in characters.
const MAX_NAME: usize = 256;

/// `STATUS_MORE_PROCESSING_REQUIRED`: a session setup's next round.
pub const STATUS_MORE_PROCESSING: u32 = 0xC000_0016;
/// `STATUS_LOGON_FAILURE`.
pub const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;

/// Statuses that refuse a logon (MS-ERREF): bad user or password, account
/// restrictions, disabled, locked out, expired.
const LOGON_REFUSED: [u32; 11] = [
    0xC000_006D, // LOGON_FAILURE
    0xC000_006E, // ACCOUNT_RESTRICTION
    0xC000_0064, // NO_SUCH_USER
    0xC000_006A, // WRONG_PASSWORD
    0xC000_006F, // INVALID_LOGON_HOURS
    0xC000_0070, // INVALID_WORKSTATION
    0xC000_0071, // PASSWORD_EXPIRED
    0xC000_0072, // ACCOUNT_DISABLED
    0xC000_0193, // ACCOUNT_EXPIRED
    0xC000_0224, // PASSWORD_MUST_CHANGE
    0xC000_0234, // ACCOUNT_LOCKED_OUT
];

/// Statuses that are not errors: success, pending, more data, no more
/// files, and a session setup's next round.
fn is_error(status: u32) -> bool {
    !matches!(
        status,
        0 | 0x0000_0103 | 0x8000_0005 | 0x8000_0006 | STATUS_MORE_PROCESSING
    )
}

/// SMB2 commands, by number (MS-SMB2 2.2.1).
pub const SMB2_COMMANDS: [&str; 19] = [
    "NEGOTIATE",
    "SESSION_SETUP",
    "LOGOFF",
    "TREE_CONNECT",
    "TREE_DISCONNECT",
    "CREATE",
    "CLOSE",
    "FLUSH",
    "READ",
    "WRITE",
    "LOCK",
    "IOCTL",
    "CANCEL",
    "ECHO",
    "QUERY_DIRECTORY",
    "CHANGE_NOTIFY",
    "QUERY_INFO",
    "SET_INFO",
    "OPLOCK_BREAK",
];

/// `FSCTL_PIPE_TRANSCEIVE`: a named pipe's write-and-read (DCE/RPC).
const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;

/// What a flow's SMB did, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmbMeta {
    /// 1 (SMB1) or 2 (SMB2 and SMB3).
    pub version: u8,
    /// The SMB2/3 dialect the server chose (0x0202 ... 0x0311).
    pub dialect: Option<u16>,
    /// Requests.
    pub requests: u32,
    /// Commands used, one bit per command (SMB2: bit n for command n; SMB1
    /// requests are counted, not named).
    pub commands: u32,
    /// Answers with an error status.
    pub errors: u32,
    /// Session setups refused (bad user or password, locked, disabled).
    pub logon_failures: u32,
    /// Share paths connected (`\\server\share`), in order, at most
    /// [`MAX_LIST`].
    pub shares: Vec<String>,
    /// Files opened or created (not pipes), at most [`MAX_LIST`].
    pub files: Vec<String>,
    /// Named pipes opened, at most [`MAX_LIST`].
    pub pipes: Vec<String>,
    /// Files written to.
    pub files_written: u32,
    /// Bytes written to files.
    pub bytes_written: u64,
    /// Bytes read from files.
    pub bytes_read: u64,
    /// SMB3 encrypted messages (transform header).
    pub encrypted: u32,
    /// SMB3 compressed messages.
    pub compressed: u32,
    /// Compressed messages whose offset or original size does not fit
    /// the message (CVE-2020-0796, SMBGhost).
    pub bad_compression: u32,
    /// SMB1 Trans2 requests.
    pub trans2: u32,
    /// SMB1 NT Trans requests.
    pub nt_trans: u32,
    /// Largest total data count an SMB1 transaction declared.
    pub max_trans_data: u32,
    /// SMB1 answers whose multiplex id no pending request used.
    pub mid_mismatches: u32,
    /// SMB1 Trans2 SESSION_SETUP requests (an obsolete subcommand: the
    /// DoublePulsar implant's channel).
    pub trans2_session_setups: u32,
    /// Answers to them with the multiplex id moved by 16: an implant
    /// answering its ping.
    pub backdoor_answers: u32,
    /// A list was cut at [`MAX_LIST`].
    pub cut: bool,
}

fn push_distinct(list: &mut Vec<String>, v: &str, cut: &mut bool) {
    crate::push_distinct(list, v, MAX_LIST, cut)
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64le(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// `len` bytes at `off`, cut to what `b` holds.
fn slice(b: &[u8], off: usize, len: usize) -> &[u8] {
    let start = off.min(b.len());
    &b[start..off.saturating_add(len).min(b.len())]
}

/// The key of an SMB1 FID among the open files (SMB2 file ids use the
/// persistent half of their 16 bytes; the top bit keeps the two apart).
fn smb1_key(fid: u16) -> u64 {
    u64::from(fid) | 1 << 63
}

/// The share of a tree path: its last component.
pub fn share_name(path: &str) -> &str {
    path.rsplit('\\').next().unwrap_or(path)
}

#[derive(Clone, Debug)]
enum Pending {
    Setup(Option<ntlmssp::Auth>),
    Tree(String),
    Create {
        tree: u32,
        name: String,
    },
    Read(u64),
    Ioctl(u64),
    /// An SMB1 Trans2 SESSION_SETUP (subcommand 0x000e).
    Trans2SessionSetup,
    Other,
}

/// SMB1 transactions declaring more data than this are oversized: the
/// 16-bit counts of Trans2 cannot, and NT Trans requests of clients stay far
/// below it; MS17-010's exploit declares 66,512 bytes of FEA list.
pub const MAX_PLAIN_TRANS_DATA: u32 = 0xffff;

/// Trans2's obsolete SESSION_SETUP subcommand, which no client uses: the
/// DoublePulsar implant's ping and command channel.
const TRANS2_SESSION_SETUP: u16 = 0x000e;

#[derive(Clone, Debug)]
struct Open {
    key: u64,
    name: String,
    share: String,
    pipe: bool,
    written: bool,
    rpc: Association,
}

/// The parser of one SMB connection.
#[derive(Clone, Debug, Default)]
pub struct SmbSession {
    skip: [usize; 2],
    pending: Vec<(u64, Pending)>,
    trees: Vec<(u32, String)>,
    open: Vec<Open>,
}

/// Recognises SMB from a client's first bytes: a NetBIOS session message
/// holding an SMB1 or SMB2 header, or a NetBIOS session request (139).
pub fn detect(first: &[u8]) -> Outcome<()> {
    if first.len() < 8 {
        let could = first.is_empty() || matches!(first[0], 0x00 | 0x81);
        return if could && first.get(4).is_none_or(|&b| matches!(b, 0xfc..=0xff)) {
            Outcome::Incomplete
        } else {
            Outcome::NotThis
        };
    }
    match (first[0], &first[4..8]) {
        (0x00, b"\xfeSMB" | b"\xffSMB") => Outcome::Parsed(()),
        (0x81, _) => Outcome::Parsed(()),
        _ => Outcome::NotThis,
    }
}

impl SmbSession {
    fn pend(&mut self, id: u64, p: Pending) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push((id, p));
    }

    fn answer(&mut self, id: u64) -> Option<Pending> {
        let i = self.pending.iter().position(|(m, _)| *m == id)?;
        Some(self.pending.remove(i).1)
    }

    fn tree_path(&self, tree: u32) -> &str {
        self.trees
            .iter()
            .find(|t| t.0 == tree)
            .map_or("", |t| t.1.as_str())
    }

    fn opened(&mut self, key: u64, name: String, share: String, pipe: bool) {
        if let Some(o) = self.open.iter_mut().find(|o| o.key == key) {
            o.name = name;
            o.share = share;
            o.pipe = pipe;
            return;
        }
        if self.open.len() >= MAX_OPEN {
            self.open.remove(0);
        }
        self.open.push(Open {
            key,
            name,
            share,
            pipe,
            written: false,
            rpc: Association::default(),
        });
    }

    /// Parses the next in-order bytes of direction `dir` (0 from the client).
    pub fn parse(&mut self, dir: usize, data: &[u8], meta: &mut AppMeta, ev: &mut Events) -> Step {
        let d = dir.min(1);
        if self.skip[d] > 0 {
            let n = self.skip[d].min(data.len());
            self.skip[d] -= n;
            return Step::Consumed(n);
        }
        if data.len() < 4 {
            return Step::NeedMore;
        }
        let len = (usize::from(data[1]) << 16) | (usize::from(data[2]) << 8) | usize::from(data[3]);
        match data[0] {
            0x00 => {}
            // Session request, positive and negative answers, retarget, keep-alive.
            0x81..=0x85 => {
                let total = 4 + len;
                let n = total.min(data.len());
                self.skip[d] = total - n;
                return Step::Consumed(n);
            }
            _ => return Step::Malformed,
        }
        let want = len.min(MSG_HEAD);
        if data.len() < 4 + want {
            return Step::NeedMore;
        }
        let msg = &data[4..4 + want];
        let smb = meta.smb.get_or_insert_with(Default::default);
        let ok = match msg.get(..4) {
            Some(b"\xfeSMB") => {
                smb.version = 2;
                self.smb2(d, msg, meta, ev)
            }
            Some(b"\xffSMB") => {
                if smb.version == 0 {
                    smb.version = 1;
                }
                self.smb1(d, msg, meta, ev)
            }
            Some(b"\xfdSMB") => {
                smb.version = 2;
                smb.encrypted = smb.encrypted.saturating_add(1);
                true
            }
            Some(b"\xfcSMB") => {
                smb.version = 2;
                smb.compressed = smb.compressed.saturating_add(1);
                // OriginalCompressedSegmentSize, then the offset of the
                // compressed data after this 16-byte header (unchained).
                let original = u32le(msg, 4).unwrap_or(0) as u64;
                let offset = u32le(msg, 12).unwrap_or(0) as u64;
                if offset > len as u64 || original.saturating_add(offset) > u64::from(u32::MAX) {
                    smb.bad_compression = smb.bad_compression.saturating_add(1);
                    meta.anomalies |= flags::MALFORMED;
                    ev.smb_sign(SmbSign::BadCompression);
                }
                true
            }
            _ => false,
        };
        if !ok {
            return Step::Malformed;
        }
        self.skip[d] = len - want;
        Step::Consumed(4 + want)
    }

    /// One SMB2 message (compounded commands included).
    fn smb2(&mut self, d: usize, msg: &[u8], meta: &mut AppMeta, ev: &mut Events) -> bool {
        let mut at = 0usize;
        for _ in 0..16 {
            let Some(h) = msg.get(at..) else { break };
            if h.len() < 64 || &h[..4] != b"\xfeSMB" {
                return at > 0;
            }
            let next = u32le(h, 20).unwrap_or(0) as usize;
            if next > 0 && next < 64 {
                // A compound's next command inside this one's header.
                meta.anomalies |= flags::MALFORMED;
                break;
            }
            let h = if next > 0 { slice(h, 0, next) } else { h };
            self.smb2_command(d, h, meta, ev);
            if next == 0 {
                break;
            }
            at += next;
        }
        true
    }

    fn smb2_command(&mut self, d: usize, h: &[u8], meta: &mut AppMeta, ev: &mut Events) {
        let status = u32le(h, 8).unwrap_or(0);
        let cmd = u16le(h, 12).unwrap_or(0xffff);
        let response = u32le(h, 16).unwrap_or(0) & 1 != 0 || d == 1;
        let mid = u64le(h, 24).unwrap_or(0);
        let tree = u32le(h, 36).unwrap_or(0);
        let body = h.get(64..).unwrap_or_default();
        let smb = meta.smb.get_or_insert_with(Default::default);
        if !response {
            smb.requests = smb.requests.saturating_add(1);
            if cmd < 32 {
                smb.commands |= 1 << cmd;
            }
        } else if is_error(status) {
            smb.errors = smb.errors.saturating_add(1);
        }
        match (cmd, response) {
            (0, true) if status == 0 => {
                if let Some(dialect) = u16le(body, 4) {
                    smb.dialect = Some(dialect);
                    ev.smb_negotiate(dialect);
                }
            }
            (1, false) => {
                let off = usize::from(u16le(body, 12).unwrap_or(0));
                let len = usize::from(u16le(body, 14).unwrap_or(0));
                let auth = ntlmssp::find(slice(h, off, len))
                    .and_then(|m| NtlmMeta::seen(&mut meta.ntlm, m, ev));
                self.pend(mid, Pending::Setup(auth));
            }
            (1, true) => {
                if let Some(Pending::Setup(Some(auth))) = self.answer(mid) {
                    self.logon(status, Some(&auth), meta, ev);
                } else if LOGON_REFUSED.contains(&status) {
                    self.logon(status, None, meta, ev);
                }
            }
            (3, false) => {
                let off = usize::from(u16le(body, 4).unwrap_or(0));
                let len = usize::from(u16le(body, 6).unwrap_or(0));
                let path = utf16le_lossy(slice(h, off, len), MAX_NAME);
                self.pend(mid, Pending::Tree(path));
            }
            (3, true) => {
                if let Some(Pending::Tree(path)) = self.answer(mid) {
                    self.tree_answered(tree, path, status, smb, ev);
                }
            }
            (5, false) => {
                let off = usize::from(u16le(body, 44).unwrap_or(0));
                let len = usize::from(u16le(body, 46).unwrap_or(0));
                let name = utf16le_lossy(slice(h, off, len), MAX_NAME);
                self.pend(mid, Pending::Create { tree, name });
            }
            (5, true) => {
                if let Some(Pending::Create { tree, name }) = self.answer(mid) {
                    // Create action 2 (created) or 3 (overwritten).
                    let created = u32le(body, 4).is_some_and(|a| a == 2 || a == 3);
                    let key = u64le(body, 64);
                    self.create_answered(tree, name, status, created, key, smb, ev);
                }
            }
            (8, false) => {
                if let Some(key) = u64le(body, 16) {
                    self.pend(mid, Pending::Read(key));
                }
            }
            (8, true) => {
                if let Some(Pending::Read(key)) = self.answer(mid) {
                    let off = usize::from(body.get(2).copied().unwrap_or(0));
                    let len = u32le(body, 4).unwrap_or(0);
                    self.file_data(key, false, slice(h, off, len as usize), len, meta, ev);
                }
            }
            (9, false) => {
                let off = usize::from(u16le(body, 2).unwrap_or(0));
                let len = u32le(body, 4).unwrap_or(0);
                if let Some(key) = u64le(body, 16) {
                    self.file_data(key, true, slice(h, off, len as usize), len, meta, ev);
                }
            }
            (11, false) => {
                let code = u32le(body, 4).unwrap_or(0);
                let key = u64le(body, 8).unwrap_or(0);
                if code == FSCTL_PIPE_TRANSCEIVE {
                    let off = u32le(body, 24).unwrap_or(0) as usize;
                    let len = u32le(body, 28).unwrap_or(0) as usize;
                    self.pipe_data(key, slice(h, off, len), meta, ev);
                    self.pend(mid, Pending::Ioctl(key));
                }
            }
            (11, true) => {
                if let Some(Pending::Ioctl(key)) = self.answer(mid) {
                    let off = u32le(body, 32).unwrap_or(0) as usize;
                    let len = u32le(body, 36).unwrap_or(0) as usize;
                    self.pipe_data(key, slice(h, off, len), meta, ev);
                }
            }
            (_, true) => {
                let _ = self.answer(mid);
            }
            (_, false) => self.pend(mid, Pending::Other),
        }
    }

    /// A tree connect's answer (SMB1 or SMB2).
    fn tree_answered(
        &mut self,
        tree: u32,
        path: String,
        status: u32,
        smb: &mut SmbMeta,
        ev: &mut Events,
    ) {
        ev.smb_tree(&path, status);
        if status == 0 {
            push_distinct(&mut smb.shares, &path, &mut smb.cut);
            if self.trees.len() >= MAX_OPEN {
                self.trees.remove(0);
            }
            self.trees.push((tree, path));
        }
    }

    /// A create's answer (SMB2 CREATE, SMB1 NT_CREATE_ANDX): the file or
    /// pipe `name` on `tree`, opened as `key`.
    #[allow(clippy::too_many_arguments)]
    fn create_answered(
        &mut self,
        tree: u32,
        name: String,
        status: u32,
        created: bool,
        key: Option<u64>,
        smb: &mut SmbMeta,
        ev: &mut Events,
    ) {
        let path = self.tree_path(tree).to_string();
        let pipe = share_name(&path).eq_ignore_ascii_case("IPC$");
        let action = match (pipe, created) {
            (true, _) => SmbAction::OpenPipe,
            (false, true) => SmbAction::Create,
            (false, false) => SmbAction::Open,
        };
        ev.smb_file(&path, &name, action, 0, status);
        if status != 0 {
            return;
        }
        if pipe {
            push_distinct(&mut smb.pipes, &name, &mut smb.cut);
        } else {
            push_distinct(&mut smb.files, &name, &mut smb.cut);
        }
        if let Some(key) = key {
            self.opened(key, name, path, pipe);
        }
    }

    /// A session setup's answer: counted as a logon outcome when it ends
    /// the exchange (success or refusal).
    fn logon(
        &mut self,
        status: u32,
        auth: Option<&ntlmssp::Auth>,
        meta: &mut AppMeta,
        ev: &mut Events,
    ) {
        let result = if status == 0 {
            LoginResult::Succeeded
        } else if LOGON_REFUSED.contains(&status) {
            LoginResult::Failed
        } else {
            return;
        };
        if result == LoginResult::Failed {
            let smb = meta.smb.get_or_insert_with(Default::default);
            smb.logon_failures = smb.logon_failures.saturating_add(1);
        }
        if let Some(n) = meta.ntlm.as_mut() {
            n.outcome(auth, result);
        }
        let user = auth.filter(|a| !a.user.is_empty()).map(|a| {
            if a.domain.is_empty() {
                a.user.clone()
            } else {
                format!("{}\\{}", a.domain, a.user)
            }
        });
        ev.login(LoginProto::Smb, result, user.as_deref());
    }

    /// A file id whose opening was not seen (a capture that starts inside
    /// the connection): taken for a pipe of unknown name when its data is
    /// a DCE/RPC PDU.
    fn implicit(&mut self, key: u64, data: &[u8]) -> Option<usize> {
        if let Some(i) = self.open.iter().position(|o| o.key == key) {
            return Some(i);
        }
        crate::dcerpc::header(data)?;
        self.opened(key, String::new(), String::new(), true);
        self.open.iter().position(|o| o.key == key)
    }

    /// Data written to (`write`) or read from an open file or pipe.
    fn file_data(
        &mut self,
        key: u64,
        write: bool,
        data: &[u8],
        len: u32,
        meta: &mut AppMeta,
        ev: &mut Events,
    ) {
        let Some(i) = self.implicit(key, data) else {
            return;
        };
        // Opened on a tree whose connect was not seen, and carrying
        // DCE/RPC: a pipe after all.
        if !self.open[i].pipe
            && self.open[i].share.is_empty()
            && crate::dcerpc::header(data).is_some()
        {
            self.open[i].pipe = true;
            let smb = meta.smb.get_or_insert_with(Default::default);
            let name = self.open[i].name.clone();
            smb.files.retain(|f| *f != name);
            push_distinct(&mut smb.pipes, &name, &mut smb.cut);
        }
        if self.open[i].pipe {
            self.pipe_data(key, data, meta, ev);
            return;
        }
        let smb = meta.smb.get_or_insert_with(Default::default);
        let o = &mut self.open[i];
        if write {
            smb.bytes_written = smb.bytes_written.saturating_add(u64::from(len));
            if !o.written {
                o.written = true;
                smb.files_written = smb.files_written.saturating_add(1);
            }
            ev.smb_file(&o.share, &o.name, SmbAction::Write, u64::from(len), 0);
        } else {
            smb.bytes_read = smb.bytes_read.saturating_add(u64::from(len));
        }
    }

    /// DCE/RPC bytes on a named pipe.
    fn pipe_data(&mut self, key: u64, data: &[u8], meta: &mut AppMeta, ev: &mut Events) {
        let Some(i) = self.implicit(key, data) else {
            return;
        };
        let o = &mut self.open[i];
        if !o.pipe {
            return;
        }
        let rpc: &mut DceRpcMeta = meta.dcerpc.get_or_insert_with(Default::default);
        if let Some(seen) = o.rpc.pdu(data, rpc, ev) {
            if let Some(m) = seen.ntlmssp {
                NtlmMeta::seen(&mut meta.ntlm, m, ev);
            }
        }
    }

    /// One SMB1 message (the first command of an AndX chain).
    fn smb1(&mut self, d: usize, msg: &[u8], meta: &mut AppMeta, ev: &mut Events) -> bool {
        if msg.len() < 35 {
            return false;
        }
        let cmd = msg[4];
        let status = u32le(msg, 5).unwrap_or(0);
        let reply = msg[9] & 0x80 != 0 || d == 1;
        let unicode = u16le(msg, 10).unwrap_or(0) & 0x8000 != 0;
        let tid = u16le(msg, 24).unwrap_or(0);
        let mid =
            u64::from(u16le(msg, 30).unwrap_or(0)) | u64::from(u16le(msg, 26).unwrap_or(0)) << 16;
        let wct = usize::from(msg[32]);
        let words = slice(msg, 33, 2 * wct);
        let bcc_at = 33 + 2 * wct;
        let bcc = usize::from(u16le(msg, bcc_at).unwrap_or(0));
        let bytes_at = bcc_at + 2;
        let bytes = slice(msg, bytes_at, bcc);
        let text = |b: &[u8], at_abs: usize| -> String {
            if unicode {
                // Unicode strings start at an even offset from the header.
                let b = if at_abs % 2 == 1 {
                    b.get(1..).unwrap_or(&[])
                } else {
                    b
                };
                let end = b
                    .chunks_exact(2)
                    .position(|c| c == [0, 0])
                    .map_or(b.len(), |i| 2 * i);
                utf16le_lossy(&b[..end], MAX_NAME)
            } else {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                String::from_utf8_lossy(&b[..end.min(MAX_NAME)]).into_owned()
            }
        };
        let smb = meta.smb.get_or_insert_with(Default::default);
        if !reply {
            smb.requests = smb.requests.saturating_add(1);
        } else {
            if is_error(status) {
                smb.errors = smb.errors.saturating_add(1);
            }
            if !self.pending.iter().any(|(m, _)| *m == mid) {
                smb.mid_mismatches = smb.mid_mismatches.saturating_add(1);
                // DoublePulsar answers its ping with the multiplex id moved
                // by 16 (0x10 + the implant's state).
                let moved = mid.wrapping_sub(16);
                if cmd == 0x32 && matches!(self.answer(moved), Some(Pending::Trans2SessionSetup)) {
                    smb.backdoor_answers = smb.backdoor_answers.saturating_add(1);
                    ev.smb_sign(SmbSign::BackdoorAnswer);
                }
            }
        }
        match (cmd, reply) {
            // SESSION_SETUP_ANDX with extended security: the blob's length is word 7.
            (0x73, false) => {
                let auth = if wct == 12 {
                    let len = usize::from(u16le(words, 14).unwrap_or(0));
                    ntlmssp::find(slice(bytes, 0, len))
                        .and_then(|m| NtlmMeta::seen(&mut meta.ntlm, m, ev))
                } else {
                    None
                };
                self.pend(mid, Pending::Setup(auth));
            }
            (0x73, true) => {
                if let Some(Pending::Setup(Some(auth))) = self.answer(mid) {
                    self.logon(status, Some(&auth), meta, ev);
                } else if LOGON_REFUSED.contains(&status) {
                    self.logon(status, None, meta, ev);
                }
            }
            // TREE_CONNECT_ANDX: the password (word 3 bytes long), then the path.
            (0x75, false) => {
                let pw = usize::from(u16le(words, 6).unwrap_or(0));
                let path = text(bytes.get(pw..).unwrap_or(&[]), bytes_at + pw);
                self.pend(mid, Pending::Tree(path));
            }
            (0x75, true) => {
                if let Some(Pending::Tree(path)) = self.answer(mid) {
                    self.tree_answered(u32::from(tid), path, status, smb, ev);
                }
            }
            // NT_CREATE_ANDX: the name in the bytes (NameLength is word 2.5).
            (0xa2, false) => {
                let len = usize::from(u16le(words, 5).unwrap_or(0));
                let name = text(slice(bytes, 0, len + 1), bytes_at);
                let name = name.trim_start_matches('\\').to_string();
                self.pend(
                    mid,
                    Pending::Create {
                        tree: u32::from(tid),
                        name,
                    },
                );
            }
            (0xa2, true) => {
                if let Some(Pending::Create { tree, name }) = self.answer(mid) {
                    // Create action 2 (created) or 3 (overwritten).
                    let created = u32le(words, 7).is_some_and(|a| a == 2 || a == 3);
                    let key = u16le(words, 5).map(smb1_key);
                    self.create_answered(tree, name, status, created, key, smb, ev);
                }
            }
            // TRANS (named pipe transact) carries DCE/RPC: Setup[1] is the FID.
            (0x25, false) => {
                let (dcount, doff) = (u16le(words, 22).unwrap_or(0), u16le(words, 24).unwrap_or(0));
                let data = slice(msg, usize::from(doff), usize::from(dcount));
                if let Some(fid) = u16le(words, 30) {
                    self.pipe_data(smb1_key(fid), data, meta, ev);
                }
                self.pend(mid, Pending::Other);
            }
            (0x32 | 0x33, false) => {
                smb.trans2 = smb.trans2.saturating_add(1);
                let total = u32::from(u16le(words, 2).unwrap_or(0));
                smb.max_trans_data = smb.max_trans_data.max(total);
                // Setup[0], the subcommand, of a primary Trans2 request.
                let sub = (cmd == 0x32).then(|| u16le(words, 28)).flatten();
                if sub == Some(TRANS2_SESSION_SETUP) {
                    smb.trans2_session_setups = smb.trans2_session_setups.saturating_add(1);
                    ev.smb_sign(SmbSign::Trans2SessionSetup);
                    self.pend(mid, Pending::Trans2SessionSetup);
                } else {
                    self.pend(mid, Pending::Other);
                }
            }
            (0xa0 | 0xa1, false) => {
                smb.nt_trans = smb.nt_trans.saturating_add(1);
                let total = u32le(words, 7).unwrap_or(0);
                smb.max_trans_data = smb.max_trans_data.max(total);
                if cmd == 0xa0 && total > MAX_PLAIN_TRANS_DATA {
                    ev.smb_sign(SmbSign::OversizedTransaction);
                }
                self.pend(mid, Pending::Other);
            }
            // WRITE_ANDX: FID word 2, data length word 10, offset word 11.
            (0x2f, false) => {
                let fid = u16le(words, 4).unwrap_or(0);
                let len = u16le(words, 20).unwrap_or(0);
                let off = u16le(words, 22).unwrap_or(0);
                let data = slice(msg, usize::from(off), usize::from(len));
                self.file_data(smb1_key(fid), true, data, u32::from(len), meta, ev);
                self.pend(mid, Pending::Other);
            }
            (_, true) => {
                let _ = self.answer(mid);
            }
            (_, false) => self.pend(mid, Pending::Other),
        }
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dcerpc::tests::{bind, request_pdu};
    use crate::ntlmssp::tests::auth_msg;
    use crate::AppEvent;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|c| c.to_le_bytes()).collect()
    }

    /// An SMB2 message in its NetBIOS frame: the 64-byte header then `body`.
    pub(crate) fn smb2(
        cmd: u16,
        response: bool,
        status: u32,
        mid: u64,
        tree: u32,
        body: &[u8],
    ) -> Vec<u8> {
        let mut h = b"\xfeSMB".to_vec();
        h.extend(64u16.to_le_bytes());
        h.extend(1u16.to_le_bytes());
        h.extend(status.to_le_bytes());
        h.extend(cmd.to_le_bytes());
        h.extend(1u16.to_le_bytes());
        h.extend(u32::from(response).to_le_bytes());
        h.extend(0u32.to_le_bytes());
        h.extend(mid.to_le_bytes());
        h.extend(0u32.to_le_bytes());
        h.extend(tree.to_le_bytes());
        h.extend(7u64.to_le_bytes());
        h.extend([0u8; 16]);
        h.extend(body);
        let mut f = vec![0u8];
        f.extend(&(h.len() as u32).to_be_bytes()[1..]);
        f.extend(h);
        f
    }

    /// A body of `size` bytes with `(offset, bytes)` written in.
    fn body(size: usize, fields: &[(usize, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; size];
        for (at, v) in fields {
            if b.len() < at + v.len() {
                b.resize(at + v.len(), 0);
            }
            b[*at..at + v.len()].copy_from_slice(v);
        }
        b
    }

    struct Conn {
        s: SmbSession,
        meta: AppMeta,
        ev: Events,
    }

    impl Conn {
        fn new() -> Conn {
            Conn {
                s: SmbSession::default(),
                meta: AppMeta::default(),
                ev: Events::new(),
            }
        }
        fn feed(&mut self, dir: usize, b: &[u8]) {
            let mut at = 0;
            while at < b.len() {
                match self.s.parse(dir, &b[at..], &mut self.meta, &mut self.ev) {
                    Step::Consumed(n) => at += n,
                    other => panic!("{other:?} at {at}"),
                }
            }
        }
        fn events(&self) -> Vec<AppEvent<'_>> {
            (0..self.ev.len()).filter_map(|i| self.ev.get(i)).collect()
        }
    }

    /// PsExec's path over SMB2, built by hand from MS-SMB2's layouts:
    /// negotiate, a refused then an accepted NTLM session setup, a tree
    /// connect to ADMIN$, a created executable written in two pieces (the
    /// second larger than a message's head), IPC$ and svcctl with a bind
    /// and a CreateServiceW over the pipe.
    #[test]
    fn a_psexec_conversation() {
        let mut c = Conn::new();
        c.feed(
            1,
            &smb2(
                0,
                true,
                0,
                0,
                0,
                &body(65, &[(4, &0x0311u16.to_le_bytes())]),
            ),
        );
        for (mid, user, status) in [(1u64, "guess", STATUS_LOGON_FAILURE), (2, "admin", 0)] {
            let blob = auth_msg("CORP", user, "ATTACKER", 24);
            let setup = body(
                24,
                &[
                    (12, &(64u16 + 24).to_le_bytes()),
                    (14, &(blob.len() as u16).to_le_bytes()),
                ],
            );
            let mut b = setup.clone();
            b.extend(&blob);
            c.feed(0, &smb2(1, false, 0, mid, 0, &b));
            c.feed(1, &smb2(1, true, status, mid, 0, &body(8, &[])));
        }
        let tree = |c: &mut Conn, mid: u64, id: u32, path: &str| {
            let p = utf16(path);
            let mut b = body(
                8,
                &[
                    (4, &(64u16 + 8).to_le_bytes()),
                    (6, &(p.len() as u16).to_le_bytes()),
                ],
            );
            b.extend(&p);
            c.feed(0, &smb2(3, false, 0, mid, 0, &b));
            c.feed(1, &smb2(3, true, 0, mid, id, &body(16, &[])));
        };
        let create = |c: &mut Conn, mid: u64, tree: u32, name: &str, key: u64, action: u32| {
            let n = utf16(name);
            let mut b = body(
                56,
                &[
                    (44, &(64u16 + 56).to_le_bytes()),
                    (46, &(n.len() as u16).to_le_bytes()),
                ],
            );
            b.extend(&n);
            c.feed(0, &smb2(5, false, 0, mid, tree, &b));
            c.feed(
                1,
                &smb2(
                    5,
                    true,
                    0,
                    mid,
                    tree,
                    &body(88, &[(4, &action.to_le_bytes()), (64, &key.to_le_bytes())]),
                ),
            );
        };
        tree(&mut c, 3, 5, "\\\\dc1\\ADMIN$");
        create(&mut c, 4, 5, "PSEXESVC.exe", 0xabc, 2);
        let write = |c: &mut Conn, mid: u64, tree: u32, key: u64, data: &[u8]| {
            let mut b = body(
                48,
                &[
                    (2, &(64u16 + 48).to_le_bytes()),
                    (4, &(data.len() as u32).to_le_bytes()),
                    (16, &key.to_le_bytes()),
                ],
            );
            b.extend(data);
            c.feed(0, &smb2(9, false, 0, mid, tree, &b));
        };
        write(&mut c, 5, 5, 0xabc, &[0x4d; 1000]);
        write(&mut c, 6, 5, 0xabc, &vec![0x5a; 70_000]);
        tree(&mut c, 7, 9, "\\\\dc1\\IPC$");
        create(&mut c, 8, 9, "svcctl", 0xdef, 1);
        write(
            &mut c,
            9,
            9,
            0xdef,
            &bind(1, &["367abb81-9844-35f1-ad32-98f038001003"]),
        );
        write(&mut c, 10, 9, 0xdef, &request_pdu(2, 0, 12, 100));
        let smb = c.meta.smb.clone().unwrap();
        assert_eq!(smb.dialect, Some(0x0311));
        assert_eq!(smb.shares, vec!["\\\\dc1\\ADMIN$", "\\\\dc1\\IPC$"]);
        assert_eq!(smb.files, vec!["PSEXESVC.exe"]);
        assert_eq!(smb.pipes, vec!["svcctl"]);
        assert_eq!((smb.files_written, smb.bytes_written), (1, 71_000));
        assert_eq!((smb.logon_failures, smb.errors), (1, 1));
        let rpc = c.meta.dcerpc.clone().unwrap();
        assert_eq!(rpc.interfaces, vec!["svcctl"]);
        assert_eq!(rpc.operations, vec!["svcctl.RCreateServiceW"]);
        let ntlm = c.meta.ntlm.clone().unwrap();
        assert_eq!(ntlm.users, vec!["CORP\\guess", "CORP\\admin"]);
        assert_eq!(ntlm.failed_users, vec!["CORP\\guess"]);
        assert_eq!((ntlm.failures, ntlm.successes), (1, 1));
        let evs = c.events();
        assert!(evs.contains(&AppEvent::Login {
            proto: LoginProto::Smb,
            result: LoginResult::Failed,
            user: Some("CORP\\guess"),
        }));
        assert!(evs.contains(&AppEvent::SmbFile {
            share: "\\\\dc1\\ADMIN$",
            name: "PSEXESVC.exe",
            action: SmbAction::Create,
            size: 0,
            status: 0
        }));
        assert!(evs.contains(&AppEvent::SmbFile {
            share: "\\\\dc1\\ADMIN$",
            name: "PSEXESVC.exe",
            action: SmbAction::Write,
            size: 70_000,
            status: 0
        }));
        assert!(evs.contains(&AppEvent::DceRpcRequest {
            iface: Some("svcctl"),
            opnum: 12,
            op: Some("RCreateServiceW"),
            zero_credential: false,
        }));
    }

    /// An SMB1 message in its NetBIOS frame: the 32-byte header (MS-CIFS
    /// 2.2.3.1), `words` and `bytes`.
    fn smb1(cmd: u8, reply: bool, status: u32, mid: u16, words: &[u8], bytes: &[u8]) -> Vec<u8> {
        let mut h = b"\xffSMB".to_vec();
        h.push(cmd);
        h.extend(status.to_le_bytes());
        h.push(if reply { 0x98 } else { 0x18 });
        h.extend(0xc807u16.to_le_bytes());
        h.extend([0u8; 12]);
        h.extend(2048u16.to_le_bytes()); // TID
        h.extend(0xfeffu16.to_le_bytes()); // PID
        h.extend(0u16.to_le_bytes()); // UID
        h.extend(mid.to_le_bytes());
        h.push((words.len() / 2) as u8);
        h.extend(words);
        h.extend((bytes.len() as u16).to_le_bytes());
        h.extend(bytes);
        let mut f = vec![0u8];
        f.extend(&(h.len() as u32).to_be_bytes()[1..]);
        f.extend(h);
        f
    }

    /// DoublePulsar's ping (Trans2 SESSION_SETUP, multiplex id 65) answered
    /// with multiplex id 81, and EternalBlue's NT Trans declaring 66,512
    /// bytes, as the exploit sends them.
    #[test]
    fn smb1_exploit_signs() {
        let mut c = Conn::new();
        let mut trans2 = vec![0u8; 30];
        trans2[26] = 1; // SetupCount
        trans2[28..30].copy_from_slice(&0x000eu16.to_le_bytes());
        c.feed(0, &smb1(0x32, false, 0, 65, &trans2, &[0; 13]));
        c.feed(1, &smb1(0x32, true, 0xC000_0002, 81, &[], &[]));
        let mut nt = vec![0u8; 38];
        nt[7..11].copy_from_slice(&66_512u32.to_le_bytes());
        c.feed(0, &smb1(0xa0, false, 0, 66, &nt, &[]));
        let smb = c.meta.smb.clone().unwrap();
        assert_eq!(
            (smb.version, smb.trans2, smb.nt_trans, smb.max_trans_data),
            (1, 1, 1, 66_512)
        );
        assert_eq!(
            (
                smb.trans2_session_setups,
                smb.backdoor_answers,
                smb.mid_mismatches
            ),
            (1, 1, 1)
        );
        let signs: Vec<SmbSign> = c
            .events()
            .iter()
            .filter_map(|e| match e {
                AppEvent::SmbSign { sign } => Some(*sign),
                _ => None,
            })
            .collect();
        assert_eq!(
            signs,
            vec![
                SmbSign::Trans2SessionSetup,
                SmbSign::BackdoorAnswer,
                SmbSign::OversizedTransaction
            ]
        );
        // A transaction within 16-bit counts is no sign.
        let mut c = Conn::new();
        nt[7..11].copy_from_slice(&4096u32.to_le_bytes());
        c.feed(0, &smb1(0xa0, false, 0, 66, &nt, &[]));
        assert!(c.events().is_empty());
    }

    #[test]
    fn compression_offsets_past_the_message_are_flagged() {
        let mut c = Conn::new();
        let mut m = b"\xfcSMB".to_vec();
        m.extend(0xffff_ffffu32.to_le_bytes()); // original size
        m.extend(1u16.to_le_bytes()); // LZNT1
        m.extend(0u16.to_le_bytes());
        m.extend(0xffff_fff0u32.to_le_bytes()); // offset
        m.extend([0u8; 32]);
        let mut f = vec![0u8];
        f.extend(&(m.len() as u32).to_be_bytes()[1..]);
        f.extend(m);
        c.feed(0, &f);
        let smb = c.meta.smb.unwrap();
        assert_eq!((smb.compressed, smb.bad_compression), (1, 1));
        assert_ne!(c.meta.anomalies & flags::MALFORMED, 0);
    }

    /// Found by fuzzing: a compound whose next command starts inside the
    /// first one's header is malformed, not a panic.
    #[test]
    fn a_compound_pointing_inside_its_header_is_malformed() {
        let mut m = smb2(5, false, 0, 1, 1, &body(60, &[]));
        m[4 + 20..4 + 24].copy_from_slice(&8u32.to_le_bytes());
        let mut c = Conn::new();
        c.feed(0, &m);
        assert_ne!(c.meta.anomalies & flags::MALFORMED, 0);
    }

    #[test]
    fn detects_smb_and_only_smb() {
        let m = smb2(0, false, 0, 0, 0, &body(36, &[]));
        assert_eq!(detect(&m), Outcome::Parsed(()));
        assert_eq!(detect(&m[..3]), Outcome::Incomplete);
        assert_eq!(detect(b"\x00\x00\x00\x10GET / HTTP"), Outcome::NotThis);
        assert_eq!(
            detect(b"\x16\x03\x01\x02\x00\x01\x00\x01"),
            Outcome::NotThis
        );
    }

    proptest::proptest! {
        /// Arbitrary bytes after valid headers: never a panic, always progress.
        #[test]
        fn arbitrary_messages_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..400), cmd in 0u16..20, resp: bool, v1: bool) {
            let mut c = Conn::new();
            let mut m = if v1 { b"\xffSMB".to_vec() } else { smb2(cmd, resp, 0, 1, 1, &[])[4..].to_vec() };
            m.extend(&b);
            let mut f = vec![0u8];
            f.extend(&(m.len() as u32).to_be_bytes()[1..]);
            f.extend(m);
            for dir in [0, 1] {
                let mut at = 0;
                while at < f.len() {
                    match c.s.parse(dir, &f[at..], &mut c.meta, &mut c.ev) {
                        Step::Consumed(n) => { proptest::prop_assert!(n > 0); at += n }
                        _ => break,
                    }
                }
            }
        }
    }
}
