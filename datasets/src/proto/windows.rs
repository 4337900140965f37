//! SMB2 in the clear (SMB 3.0.2 signed, not encrypted), NTLMSSP inside
//! SPNEGO, and DCE/RPC over named pipes: what a Windows client says to a
//! file server, and what PsExec says to a server it takes over. Every
//! message is framed for TCP 445 (NetBIOS session header).

use crate::proto::x509::{oid, seq, tlv};
use crate::rng::Rng;

/// NT status: success.
pub const STATUS_SUCCESS: u32 = 0;
/// NT status: more processing required (the NTLM challenge).
pub const STATUS_MORE_PROCESSING: u32 = 0xC000_0016;
/// NT status: logon failure.
pub const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;

fn nbss(msg: Vec<u8>) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes()[1..]);
    out.extend(msg);
    out
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// One SMB2 connection's counters: message ids, session and tree ids.
#[derive(Clone, Debug)]
pub struct Smb2 {
    mid: u64,
    /// The server has given the session id (requests carry it from then on).
    active: bool,
    /// Session id the server gave.
    pub session: u64,
    /// Tree id of the last tree connected.
    pub tree: u32,
}

/// A file id the server gave.
pub type FileId = [u8; 16];

impl Smb2 {
    /// A connection; the session id is chosen now, as the server's.
    pub fn new(rng: &mut Rng) -> Smb2 {
        Smb2 {
            mid: 0,
            active: false,
            session: rng.next_u64() | 1,
            tree: 0,
        }
    }

    fn header(&self, cmd: u16, response: bool, status: u32, mid: u64, session: u64) -> Vec<u8> {
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(&[0xFE, b'S', b'M', b'B']);
        h.extend_from_slice(&64u16.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes()); // credit charge
        h.extend_from_slice(&status.to_le_bytes());
        h.extend_from_slice(&cmd.to_le_bytes());
        h.extend_from_slice(&(if response { 1u16 } else { 31 }).to_le_bytes());
        h.extend_from_slice(&u32::from(response).to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // next command
        h.extend_from_slice(&mid.to_le_bytes());
        h.extend_from_slice(&0x0000_FEFFu32.to_le_bytes());
        h.extend_from_slice(&self.tree.to_le_bytes());
        h.extend_from_slice(&session.to_le_bytes());
        h.extend_from_slice(&[0u8; 16]);
        h
    }

    /// A request of `cmd` with `body`, and its message id.
    fn request(&mut self, cmd: u16, body: &[u8]) -> (Vec<u8>, u64) {
        self.mid += 1;
        let session = if self.active { self.session } else { 0 };
        let mut m = self.header(cmd, false, 0, self.mid, session);
        m.extend_from_slice(body);
        (nbss(m), self.mid)
    }

    fn response(&self, cmd: u16, status: u32, mid: u64, body: &[u8]) -> Vec<u8> {
        let mut m = self.header(cmd, true, status, mid, self.session);
        m.extend_from_slice(body);
        nbss(m)
    }

    /// SESSION_SETUP request carrying `blob`.
    pub fn session_setup(&mut self, blob: &[u8]) -> (Vec<u8>, u64) {
        let mut b = Vec::new();
        b.extend_from_slice(&25u16.to_le_bytes());
        b.push(0); // flags
        b.push(1); // signing enabled
        b.extend_from_slice(&1u32.to_le_bytes()); // capabilities: DFS
        b.extend_from_slice(&0u32.to_le_bytes()); // channel
        b.extend_from_slice(&88u16.to_le_bytes());
        b.extend_from_slice(&(blob.len() as u16).to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(blob);
        self.request(1, &b)
    }

    /// SESSION_SETUP response with `status` and `blob`.
    pub fn session_setup_response(&mut self, mid: u64, status: u32, blob: &[u8]) -> Vec<u8> {
        self.active = true;
        let mut b = Vec::new();
        b.extend_from_slice(&9u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&72u16.to_le_bytes());
        b.extend_from_slice(&(blob.len() as u16).to_le_bytes());
        b.extend_from_slice(blob);
        self.response(1, status, mid, &b)
    }

    /// TREE_CONNECT request for `path` (`\\server\share`).
    pub fn tree_connect(&mut self, path: &str) -> (Vec<u8>, u64) {
        let p = utf16(path);
        let mut b = Vec::new();
        b.extend_from_slice(&9u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&72u16.to_le_bytes());
        b.extend_from_slice(&(p.len() as u16).to_le_bytes());
        b.extend(p);
        self.request(3, &b)
    }

    /// TREE_CONNECT response; the tree id is set here (a pipe share when `ipc`).
    pub fn tree_connect_response(&mut self, mid: u64, ipc: bool, rng: &mut Rng) -> Vec<u8> {
        self.tree = (rng.next_u32() & 0xffff) | 1;
        let mut b = Vec::new();
        b.extend_from_slice(&16u16.to_le_bytes());
        b.push(if ipc { 2 } else { 1 });
        b.push(0);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0x001f_01ffu32.to_le_bytes());
        self.response(3, 0, mid, &b)
    }

    /// CREATE request for `name` (a file, or a pipe on `IPC$`); `create`
    /// overwrites or creates, else the file is opened.
    pub fn create(&mut self, name: &str, create: bool) -> (Vec<u8>, u64) {
        let n = utf16(name);
        let mut b = Vec::new();
        b.extend_from_slice(&57u16.to_le_bytes());
        b.push(0); // security flags
        b.push(0); // oplock
        b.extend_from_slice(&2u32.to_le_bytes()); // impersonation
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&(if create { 0x0013_019fu32 } else { 0x0012_0089 }).to_le_bytes());
        b.extend_from_slice(&0x80u32.to_le_bytes()); // normal file
        b.extend_from_slice(&7u32.to_le_bytes()); // share all
        b.extend_from_slice(&(if create { 5u32 } else { 1 }).to_le_bytes()); // overwrite-if / open
        b.extend_from_slice(&0x40u32.to_le_bytes()); // non-directory
        b.extend_from_slice(&120u16.to_le_bytes());
        b.extend_from_slice(&(n.len() as u16).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend(n);
        self.request(5, &b)
    }

    /// CREATE response: the file id.
    pub fn create_response(&self, mid: u64, size: u64, rng: &mut Rng) -> (Vec<u8>, FileId) {
        let mut id = [0u8; 16];
        id.copy_from_slice(&rng.bytes(16));
        let mut b = Vec::new();
        b.extend_from_slice(&89u16.to_le_bytes());
        b.push(0);
        b.push(0);
        b.extend_from_slice(&1u32.to_le_bytes()); // opened
        for _ in 0..4 {
            b.extend_from_slice(&132_000_000_000_000_000u64.to_le_bytes());
        }
        b.extend_from_slice(&size.next_multiple_of(4096).to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&0x80u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&id);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        (self.response(5, 0, mid, &b), id)
    }

    /// WRITE request of `data` at `offset`.
    pub fn write(&mut self, id: &FileId, offset: u64, data: &[u8]) -> (Vec<u8>, u64) {
        let mut b = Vec::new();
        b.extend_from_slice(&49u16.to_le_bytes());
        b.extend_from_slice(&112u16.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        b.extend_from_slice(id);
        b.extend_from_slice(&[0u8; 16]);
        b.extend_from_slice(data);
        self.request(9, &b)
    }

    /// WRITE response for `count` bytes.
    pub fn write_response(&self, mid: u64, count: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&17u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&count.to_le_bytes());
        b.extend_from_slice(&[0u8; 8]);
        self.response(9, 0, mid, &b)
    }

    /// READ request of `len` bytes at `offset`.
    pub fn read(&mut self, id: &FileId, offset: u64, len: u32) -> (Vec<u8>, u64) {
        let mut b = Vec::new();
        b.extend_from_slice(&49u16.to_le_bytes());
        b.push(0x50);
        b.push(0);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        b.extend_from_slice(id);
        b.extend_from_slice(&[0u8; 17]);
        self.request(8, &b)
    }

    /// READ response carrying `data`.
    pub fn read_response(&self, mid: u64, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&17u16.to_le_bytes());
        b.push(80);
        b.push(0);
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&[0u8; 8]);
        b.extend_from_slice(data);
        self.response(8, 0, mid, &b)
    }

    /// CLOSE request.
    pub fn close(&mut self, id: &FileId) -> (Vec<u8>, u64) {
        let mut b = Vec::new();
        b.extend_from_slice(&24u16.to_le_bytes());
        b.extend_from_slice(&[0u8; 6]);
        b.extend_from_slice(id);
        self.request(6, &b)
    }

    /// CLOSE response.
    pub fn close_response(&self, mid: u64) -> Vec<u8> {
        let mut b = vec![0u8; 60];
        b[..2].copy_from_slice(&60u16.to_le_bytes());
        self.response(6, 0, mid, &b)
    }
}

/// NTLMSSP NEGOTIATE inside a SPNEGO NegTokenInit.
pub fn spnego_negotiate() -> Vec<u8> {
    let mut n = b"NTLMSSP\0".to_vec();
    n.extend_from_slice(&1u32.to_le_bytes());
    n.extend_from_slice(&0xe208_8297u32.to_le_bytes());
    n.extend_from_slice(&[0u8; 16]);
    let ntlm_oid = oid(&[1, 3, 6, 1, 4, 1, 311, 2, 2, 10]);
    let init = seq(&[tlv(0xa0, &seq(&[ntlm_oid])), tlv(0xa2, &tlv(0x04, &n))]);
    tlv(
        0x60,
        &[oid(&[1, 3, 6, 1, 5, 5, 2]), tlv(0xa0, &init)].concat(),
    )
}

/// NTLMSSP CHALLENGE from `domain`'s server, inside a SPNEGO NegTokenResp.
pub fn spnego_challenge(domain: &str, rng: &mut Rng) -> Vec<u8> {
    let name = utf16(domain);
    let mut info = Vec::new();
    for (ty, v) in [(2u16, &name), (1, &name)] {
        info.extend_from_slice(&ty.to_le_bytes());
        info.extend_from_slice(&(v.len() as u16).to_le_bytes());
        info.extend_from_slice(v);
    }
    info.extend_from_slice(&[0, 0, 0, 0]);
    let mut c = b"NTLMSSP\0".to_vec();
    c.extend_from_slice(&2u32.to_le_bytes());
    let name_off = 56u32;
    let len = name.len() as u16;
    c.extend_from_slice(&len.to_le_bytes());
    c.extend_from_slice(&len.to_le_bytes());
    c.extend_from_slice(&name_off.to_le_bytes());
    c.extend_from_slice(&0xe28a_8215u32.to_le_bytes());
    c.extend(rng.bytes(8));
    c.extend_from_slice(&[0u8; 8]);
    let info_off = name_off + name.len() as u32;
    c.extend_from_slice(&(info.len() as u16).to_le_bytes());
    c.extend_from_slice(&(info.len() as u16).to_le_bytes());
    c.extend_from_slice(&info_off.to_le_bytes());
    c.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]); // version
    c.extend(name);
    c.extend(info);
    neg_token_resp(Some(1), &c)
}

/// NTLMSSP AUTHENTICATE of `domain\user` from `workstation`, inside a
/// SPNEGO NegTokenResp. The responses are random bytes (no credential).
pub fn spnego_authenticate(domain: &str, user: &str, workstation: &str, rng: &mut Rng) -> Vec<u8> {
    let (d, u, w) = (utf16(domain), utf16(user), utf16(workstation));
    let lm = vec![0u8; 24];
    let nt = rng.bytes(24);
    let key = rng.bytes(16);
    let base = 88u32;
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend_from_slice(&3u32.to_le_bytes());
    let mut off = base;
    let mut fields = Vec::new();
    for part in [&lm, &nt, &d, &u, &w, &key] {
        fields.push((part.len() as u16, off));
        off += part.len() as u32;
    }
    for (len, o) in [
        fields[0], fields[1], fields[2], fields[3], fields[4], fields[5],
    ] {
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&o.to_le_bytes());
    }
    m.extend_from_slice(&0xe288_8215u32.to_le_bytes());
    m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
    m.extend_from_slice(&[0u8; 16]); // MIC
    for part in [lm, nt, d, u, w, key] {
        m.extend(part);
    }
    neg_token_resp(None, &m)
}

fn neg_token_resp(state: Option<u8>, token: &[u8]) -> Vec<u8> {
    let mut items = Vec::new();
    if let Some(s) = state {
        items.push(tlv(0xa0, &tlv(0x0a, &[s])));
        items.push(tlv(0xa1, &oid(&[1, 3, 6, 1, 4, 1, 311, 2, 2, 10])));
    }
    items.push(tlv(0xa2, &tlv(0x04, token)));
    tlv(0xa1, &seq(&items))
}

/// The final SPNEGO answer: accept-completed (0) or reject (2).
pub fn spnego_result(accepted: bool) -> Vec<u8> {
    tlv(
        0xa1,
        &seq(&[tlv(0xa0, &tlv(0x0a, &[if accepted { 0 } else { 2 }]))]),
    )
}

fn uuid_le(u: &str) -> Vec<u8> {
    let hex: String = u.chars().filter(|c| *c != '-').collect();
    let b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let mut out = Vec::with_capacity(16);
    out.extend(b[..4].iter().rev());
    out.extend(b[4..6].iter().rev());
    out.extend(b[6..8].iter().rev());
    out.extend(&b[8..]);
    out
}

/// The NDR transfer syntax.
const NDR: &str = "8a885d04-1ceb-11c9-9fe8-08002b104860";
/// svcctl's interface.
pub const SVCCTL: &str = "367abb81-9844-35f1-ad32-98f038001003";

fn pdu(ptype: u8, call: u32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
    b.extend_from_slice(&((16 + body.len()) as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&call.to_le_bytes());
    b.extend_from_slice(body);
    b
}

/// A DCE/RPC bind to interface `iface` (version `major`).
pub fn rpc_bind(call: u32, iface: &str, major: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&0u16.to_le_bytes()); // context id
    b.extend_from_slice(&[1, 0]);
    b.extend(uuid_le(iface));
    b.extend_from_slice(&major.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend(uuid_le(NDR));
    b.extend_from_slice(&2u32.to_le_bytes());
    pdu(11, call, &b)
}

/// Its acceptance, naming the pipe.
pub fn rpc_bind_ack(call: u32, pipe: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&0x1234u32.to_le_bytes());
    let addr = format!("\\PIPE\\{pipe}\0");
    b.extend_from_slice(&(addr.len() as u16).to_le_bytes());
    b.extend_from_slice(addr.as_bytes());
    while (b.len() + 16) % 4 != 0 {
        b.push(0);
    }
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend(uuid_le(NDR));
    b.extend_from_slice(&2u32.to_le_bytes());
    pdu(12, call, &b)
}

/// A request of `opnum` with `stub`.
pub fn rpc_request(call: u32, opnum: u16, stub: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(stub.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&opnum.to_le_bytes());
    b.extend_from_slice(stub);
    pdu(0, call, &b)
}

/// A response with `stub`.
pub fn rpc_response(call: u32, stub: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(stub.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(stub);
    pdu(2, call, &b)
}

fn ndr_string(out: &mut Vec<u8>, s: &str) {
    let w: Vec<u16> = s.encode_utf16().chain([0]).collect();
    for v in [w.len() as u32, 0, w.len() as u32] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for c in w {
        out.extend_from_slice(&c.to_le_bytes());
    }
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The NDR stub of an svcctl (MS-SCMR) call PsExec makes, request or
/// response: OpenSCManagerW (15), CreateServiceW (12), StartServiceW
/// (19), CloseServiceHandle (0); zeros for others.
pub fn svcctl_stub(opnum: u16, request: bool, service: &str, path: &str) -> Vec<u8> {
    let handle = [0x11u8; 20];
    let mut b = Vec::new();
    match (opnum, request) {
        (15, true) => {
            b.extend_from_slice(&0x0002_0000u32.to_le_bytes());
            ndr_string(&mut b, "\\\\TARGET");
            b.extend_from_slice(&0u32.to_le_bytes()); // database: NULL
            b.extend_from_slice(&0x000f_003fu32.to_le_bytes());
        }
        (12, true) => {
            b.extend_from_slice(&handle);
            ndr_string(&mut b, service);
            b.extend_from_slice(&0x0002_0004u32.to_le_bytes());
            ndr_string(&mut b, service);
            for v in [0x000f_01ffu32, 0x10, 3, 0] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            ndr_string(&mut b, path);
            for _ in 0..7 {
                b.extend_from_slice(&0u32.to_le_bytes()); // NULLs and sizes
            }
        }
        (19, true) => {
            b.extend_from_slice(&handle);
            b.extend_from_slice(&[0u8; 8]); // argc 0, argv NULL
        }
        (0, true) => b.extend_from_slice(&handle),
        (15, false) | (0, false) => {
            b.extend_from_slice(&handle);
            b.extend_from_slice(&[0u8; 4]);
        }
        (12, false) => {
            b.extend_from_slice(&[0u8; 4]); // tag id: NULL
            b.extend_from_slice(&handle);
            b.extend_from_slice(&[0u8; 4]);
        }
        (19, false) => b.extend_from_slice(&[0u8; 4]),
        _ => b.extend_from_slice(&[0u8; 24]),
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_pdus_carry_their_lengths() {
        let mut rng = Rng::new(3, 3);
        let mut s = Smb2::new(&mut rng);
        let (m, mid) = s.tree_connect("\\\\fs\\ADMIN$");
        assert_eq!(mid, 1);
        assert_eq!(
            u32::from_be_bytes([0, m[1], m[2], m[3]]) as usize + 4,
            m.len()
        );
        let bind = rpc_bind(1, SVCCTL, 2);
        assert_eq!(u16::from_le_bytes([bind[8], bind[9]]) as usize, bind.len());
        let ack = rpc_bind_ack(1, "svcctl");
        assert_eq!(u16::from_le_bytes([ack[8], ack[9]]) as usize, ack.len());
        assert_eq!(uuid_le(SVCCTL)[..4], [0x81, 0xbb, 0x7a, 0x36]);
        let a = spnego_authenticate("CORP", "bob", "WS1", &mut rng);
        assert!(a.windows(8).any(|w| w == b"NTLMSSP\0"));
    }
}
