//! TLS records and handshake messages (RFC 5246, RFC 8446): ClientHello,
//! ServerHello and the first certificate of a Certificate message.
//!
//! The functions work on the first bytes of one direction of a stream.
//! [`handshake_bytes`] joins the handshake records (borrowing when one
//! record holds everything, copying into a caller's scratch buffer when a
//! message spans records), then [`messages`] splits them; the last message
//! may be partial.

use crate::reader::{u16s, Reader};
use crate::text::text;
use crate::Outcome;

/// Record content type of handshake records.
pub const HANDSHAKE: u8 = 22;
/// Largest record body allowed (2^14 plus the expansion TLS 1.2 allows).
pub const MAX_RECORD: usize = 16384 + 2048;
/// Handshake message types.
pub mod msg {
    /// ClientHello.
    pub const CLIENT_HELLO: u8 = 1;
    /// ServerHello.
    pub const SERVER_HELLO: u8 = 2;
    /// Certificate.
    pub const CERTIFICATE: u8 = 11;
}
/// Extension types used here.
pub mod ext {
    /// server_name.
    pub const SERVER_NAME: u16 = 0;
    /// supported_groups (elliptic curves).
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// ec_point_formats.
    pub const EC_POINT_FORMATS: u16 = 11;
    /// signature_algorithms.
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// application_layer_protocol_negotiation.
    pub const ALPN: u16 = 16;
    /// supported_versions.
    pub const SUPPORTED_VERSIONS: u16 = 43;
}

/// Longest server name kept.
pub const MAX_SNI: usize = 255;
/// Longest ALPN protocol name kept.
pub const MAX_ALPN: usize = 64;

/// True for the GREASE values of RFC 8701 (0x0a0a, 0x1a1a, ... 0xfafa).
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Does the stream start like TLS? `Incomplete` below 6 bytes; `Parsed`
/// for a handshake record of version 3.0 to 3.4 (TLS 1.3 sends 3.1 or
/// 3.3) whose first message is a ClientHello or ServerHello, or for an
/// SSLv2-format ClientHello.
pub fn detect(b: &[u8]) -> Outcome<()> {
    if is_sslv2_hello(b) {
        return Outcome::Parsed(());
    }
    let prefix_ok = b.iter().take(3).enumerate().all(|(i, &x)| match i {
        0 => x == HANDSHAKE,
        1 => x == 3,
        _ => x <= 4,
    });
    if !prefix_ok {
        return Outcome::NotThis;
    }
    let Some(&kind) = b.get(5) else {
        return Outcome::Incomplete;
    };
    let len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    if len == 0 || len > MAX_RECORD {
        return Outcome::NotThis;
    }
    match kind {
        msg::CLIENT_HELLO | msg::SERVER_HELLO => Outcome::Parsed(()),
        _ => Outcome::NotThis,
    }
}

/// The handshake bytes at the start of a stream.
#[derive(Debug)]
pub struct Handshake<'a> {
    /// Handshake message bytes, record headers removed.
    pub bytes: &'a [u8],
    /// A record other than handshake or a warning alert followed
    /// (ChangeCipherSpec, fatal alert, application data, or a record that
    /// is not TLS): no more handshake bytes will come in the clear.
    pub ended: bool,
    /// The records ended with one that is not TLS.
    pub broken: bool,
}

/// Record content types.
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;

/// Joins the bodies of the handshake records at the start of `stream`
/// (the last may be partial), skipping warning alerts (servers send
/// `unrecognized_name` before their ServerHello). `Malformed` when the
/// first record is not TLS.
pub fn handshake_bytes<'a>(stream: &'a [u8], scratch: &'a mut Vec<u8>) -> Outcome<Handshake<'a>> {
    let mut r = Reader::new(stream);
    let mut first: Option<(usize, usize)> = None;
    let mut many = false;
    let mut ended = false;
    let mut broken = false;
    let mut records = 0usize;
    scratch.clear();
    while r.left() >= 5 {
        let at = r.pos();
        let (Some(kind), Some(major), Some(_minor), Some(len)) = (r.u8(), r.u8(), r.u8(), r.u16())
        else {
            break;
        };
        let len = usize::from(len);
        if major != 3 || !(CHANGE_CIPHER_SPEC..=24).contains(&kind) || len > MAX_RECORD {
            if records == 0 {
                return Outcome::Malformed;
            }
            ended = true;
            broken = true;
            break;
        }
        records += 1;
        let start = at + 5;
        let end = (start + len).min(stream.len());
        if kind == ALERT && stream.get(start) == Some(&1) {
            if r.skip(len).is_none() {
                break;
            }
            continue;
        }
        if kind != HANDSHAKE {
            ended = true;
            break;
        }
        match first {
            None => first = Some((start, end)),
            Some((s0, e0)) => {
                if !many {
                    many = true;
                    scratch.extend_from_slice(&stream[s0..e0]);
                }
                scratch.extend_from_slice(&stream[start..end]);
            }
        }
        if r.skip(len).is_none() {
            break;
        }
    }
    let bytes: &'a [u8] = match first {
        _ if many => scratch.as_slice(),
        Some((s0, e0)) => &stream[s0..e0],
        None => &[],
    };
    Outcome::Parsed(Handshake {
        bytes,
        ended,
        broken,
    })
}

/// An SSLv2-format ClientHello (sent by old clients and some malware to
/// reach SSL 3 and TLS servers): version and cipher specs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sslv2Hello {
    /// Highest version the client supports.
    pub version: u16,
    /// Cipher specs that name TLS cipher suites (first byte zero).
    pub ciphers: Vec<u16>,
}

/// True when `b` starts like an SSLv2-format ClientHello: a 2-byte record
/// header with the high bit set, message type 1, version 2.0 or 3.x.
pub fn is_sslv2_hello(b: &[u8]) -> bool {
    b.len() >= 5
        && b[0] & 0x80 != 0
        && b[2] == 1
        && ((b[3] == 3 && b[4] <= 4) || (b[3] == 0 && b[4] == 2))
}

/// Parses an SSLv2-format ClientHello: `Incomplete` until the record is whole.
pub fn sslv2_hello(b: &[u8]) -> Outcome<Sslv2Hello> {
    if !is_sslv2_hello(b) {
        return Outcome::NotThis;
    }
    let len = usize::from(u16::from_be_bytes([b[0] & 0x7f, b[1]]));
    let Some(body) = b.get(2..2 + len) else {
        return Outcome::Incomplete;
    };
    let mut r = Reader::new(body);
    let (Some(_), Some(version), Some(spec_len), Some(_sid), Some(_challenge)) =
        (r.u8(), r.u16(), r.u16(), r.u16(), r.u16())
    else {
        return Outcome::Malformed;
    };
    let Some(specs) = r.take(usize::from(spec_len)) else {
        return Outcome::Malformed;
    };
    let ciphers = specs
        .chunks_exact(3)
        .filter(|c| c[0] == 0)
        .map(|c| u16::from_be_bytes([c[1], c[2]]))
        .collect();
    Outcome::Parsed(Sslv2Hello { version, ciphers })
}

/// One handshake message; `body` is shorter than `len` when the message
/// continues beyond the bytes available.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// Message type.
    pub kind: u8,
    /// Declared body length.
    pub len: usize,
    /// The body bytes available.
    pub body: &'a [u8],
}

impl Message<'_> {
    /// True when the whole body is available.
    pub fn complete(&self) -> bool {
        self.body.len() == self.len
    }
}

/// The handshake messages in `hs`, the last possibly partial.
pub fn messages(hs: &[u8]) -> impl Iterator<Item = Message<'_>> + '_ {
    let mut r = Reader::new(hs);
    std::iter::from_fn(move || {
        let kind = r.u8()?;
        let len = r.u24()? as usize;
        let take = len.min(r.left());
        let body = r.take(take)?;
        Some(Message { kind, len, body })
    })
}

/// What a ClientHello offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// legacy_version.
    pub version: u16,
    /// Cipher suites, in order, GREASE included.
    pub ciphers: Vec<u16>,
    /// Extension types, in order, GREASE included.
    pub extensions: Vec<u16>,
    /// server_name (host_name), as text.
    pub sni: Option<String>,
    /// ALPN protocols, in order, as text.
    pub alpn: Vec<String>,
    /// First and last bytes of the first ALPN protocol (for JA4).
    pub alpn_ends: Option<(u8, u8)>,
    /// supported_versions, in order, GREASE included.
    pub supported_versions: Vec<u16>,
    /// supported_groups, in order.
    pub groups: Vec<u16>,
    /// ec_point_formats.
    pub point_formats: Vec<u8>,
    /// signature_algorithms, in order.
    pub sig_algs: Vec<u16>,
    /// A value was cut to its bound.
    pub truncated: bool,
}

impl ClientHello {
    /// Versions offered: supported_versions without GREASE, else the legacy version.
    pub fn offered_versions(&self) -> Vec<u16> {
        let v: Vec<u16> = self
            .supported_versions
            .iter()
            .copied()
            .filter(|&v| !is_grease(v))
            .collect();
        if v.is_empty() {
            vec![self.version]
        } else {
            v
        }
    }
}

/// Parses a ClientHello body (after the 4-byte handshake header).
pub fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut r = Reader::new(body);
    let mut ch = ClientHello {
        version: r.u16()?,
        ..ClientHello::default()
    };
    r.skip(32)?;
    r.vec8()?;
    ch.ciphers = u16s(r.vec16()?).collect();
    r.vec8()?;
    if r.is_empty() {
        return Some(ch);
    }
    let mut exts = Reader::new(r.vec16()?);
    while !exts.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        ch.extensions.push(kind);
        let mut d = Reader::new(data);
        match kind {
            ext::SERVER_NAME => {
                let mut list = Reader::new(d.vec16()?);
                while !list.is_empty() {
                    let name_type = list.u8()?;
                    let name = list.vec16()?;
                    if name_type == 0 && ch.sni.is_none() {
                        let (s, cut) = text(name, MAX_SNI);
                        ch.truncated |= cut;
                        ch.sni = Some(s);
                    }
                }
            }
            ext::ALPN => {
                let mut list = Reader::new(d.vec16()?);
                while !list.is_empty() {
                    let p = list.vec8()?;
                    if ch.alpn_ends.is_none() {
                        if let (Some(&a), Some(&z)) = (p.first(), p.last()) {
                            ch.alpn_ends = Some((a, z));
                        }
                    }
                    let (s, cut) = text(p, MAX_ALPN);
                    ch.truncated |= cut;
                    ch.alpn.push(s);
                }
            }
            ext::SUPPORTED_VERSIONS => ch.supported_versions = u16s(d.vec8()?).collect(),
            ext::SUPPORTED_GROUPS => ch.groups = u16s(d.vec16()?).collect(),
            ext::EC_POINT_FORMATS => ch.point_formats = d.vec8()?.to_vec(),
            ext::SIGNATURE_ALGORITHMS => ch.sig_algs = u16s(d.vec16()?).collect(),
            _ => {}
        }
    }
    Some(ch)
}

/// What a ServerHello chose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// legacy_version.
    pub version: u16,
    /// Cipher suite.
    pub cipher: u16,
    /// Extension types, in order.
    pub extensions: Vec<u16>,
    /// supported_versions (TLS 1.3).
    pub selected_version: Option<u16>,
}

impl ServerHello {
    /// The version in use: supported_versions, else the legacy version.
    pub fn negotiated(&self) -> u16 {
        self.selected_version.unwrap_or(self.version)
    }
}

/// Parses a ServerHello body.
pub fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader::new(body);
    let mut sh = ServerHello {
        version: r.u16()?,
        ..ServerHello::default()
    };
    r.skip(32)?;
    r.vec8()?;
    sh.cipher = r.u16()?;
    r.u8()?;
    if r.is_empty() {
        return Some(sh);
    }
    let mut exts = Reader::new(r.vec16()?);
    while !exts.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        sh.extensions.push(kind);
        if kind == ext::SUPPORTED_VERSIONS {
            sh.selected_version = Reader::new(data).u16();
        }
    }
    Some(sh)
}

/// The first certificate (DER) of a Certificate message body (TLS 1.2 and
/// below): `Incomplete` until its bytes are available, `Malformed` when
/// the lengths do not fit together.
pub fn first_certificate(body: &[u8], declared_len: usize) -> Outcome<&[u8]> {
    let mut r = Reader::new(body);
    let (Some(list_len), Some(cert_len)) = (r.u24(), r.u24()) else {
        return if body.len() >= declared_len {
            Outcome::Malformed
        } else {
            Outcome::Incomplete
        };
    };
    let (list_len, cert_len) = (list_len as usize, cert_len as usize);
    if list_len + 3 != declared_len || cert_len + 3 > list_len || cert_len == 0 {
        return Outcome::Malformed;
    }
    match r.take(cert_len) {
        Some(der) => Outcome::Parsed(der),
        None => Outcome::Incomplete,
    }
}
