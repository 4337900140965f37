//! QUIC Initial packets (RFC 9000, RFC 9001; version 2 in RFC 9369): the
//! client's Initial packets are protected with keys anyone can derive from
//! the Destination Connection ID and the version's published salt. This
//! module removes the protection, reads the CRYPTO frames and puts the
//! ClientHello back together.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use sha2::Sha256;

use crate::reader::Reader;
use crate::{flags, Outcome};

/// QUIC version 1.
pub const V1: u32 = 1;
/// QUIC version 2.
pub const V2: u32 = 0x6b33_43cf;
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// Bytes of CRYPTO data put back together at most.
pub const MAX_CRYPTO: usize = 16 * 1024;
/// Separate CRYPTO ranges remembered at most.
const MAX_RANGES: usize = 32;

/// Keys protecting one direction's Initial packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// AEAD key.
    pub key: [u8; 16],
    /// AEAD IV.
    pub iv: [u8; 12],
    /// Header-protection key.
    pub hp: [u8; 16],
}

fn expand_label(secret: &[u8], label: &str, out: &mut [u8]) -> Option<()> {
    let hk = Hkdf::<Sha256>::from_prk(secret).ok()?;
    let full = [b"tls13 ", label.as_bytes()].concat();
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&(out.len() as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(&full);
    info.push(0);
    hk.expand(&info, out).ok()
}

/// The client's Initial keys for `version` and the Destination Connection
/// ID of its first Initial packet; `None` for other versions.
pub fn client_keys(version: u32, dcid: &[u8]) -> Option<Keys> {
    initial_keys(version, dcid, false)
}

/// The Initial keys of the client, or of the server when `server`, for
/// `version` and the Destination Connection ID of the client's first
/// Initial packet; `None` for other versions.
pub fn initial_keys(version: u32, dcid: &[u8], server: bool) -> Option<Keys> {
    let (salt, prefix) = match version {
        V1 => (&SALT_V1, "quic"),
        V2 => (&SALT_V2, "quicv2"),
        _ => return None,
    };
    let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), dcid);
    let mut client = [0u8; 32];
    expand_label(
        &initial,
        if server { "server in" } else { "client in" },
        &mut client,
    )?;
    let mut k = Keys {
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&client, &format!("{prefix} key"), &mut k.key)?;
    expand_label(&client, &format!("{prefix} iv"), &mut k.iv)?;
    expand_label(&client, &format!("{prefix} hp"), &mut k.hp)?;
    Some(k)
}

/// The long-header packet type bits of an Initial packet.
fn initial_type(version: u32) -> u8 {
    if version == V2 {
        1
    } else {
        0
    }
}

/// Does the datagram start with a QUIC v1 or v2 Initial packet?
pub fn detect(b: &[u8]) -> Outcome<u32> {
    let mut r = Reader::new(b);
    let (Some(first), Some(version)) = (r.u8(), r.u32()) else {
        return Outcome::NotThis;
    };
    if first & 0xc0 != 0xc0 || !matches!(version, V1 | V2) {
        return Outcome::NotThis;
    }
    if (first >> 4) & 3 != initial_type(version) || b.len() < 1200 {
        // Clients pad Initial datagrams to 1,200 bytes (RFC 9000, 14.1).
        return Outcome::NotThis;
    }
    Outcome::Parsed(version)
}

/// The Initial packets of a connection, both ways: their protection
/// removed, their CRYPTO frames put back in order, per direction.
#[derive(Clone, Debug, Default)]
pub struct QuicSession {
    /// Version of the client's first Initial packet.
    pub version: Option<u32>,
    /// Keys of the client (0) and server (1) Initial packets.
    keys: [Option<Keys>; 2],
    crypto: [Vec<u8>; 2],
    ranges: [Vec<(usize, usize)>; 2],
    scratch: Vec<u8>,
}

/// What a datagram did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuicStep {
    /// More Initial packets are needed for the hello.
    NeedMore,
    /// The direction's hello is complete (see [`QuicSession::hello`]).
    Hello,
    /// The datagram was not a decryptable Initial packet.
    Ignored,
    /// The CRYPTO data cannot be the hello.
    Malformed,
}

impl QuicSession {
    /// Reads one datagram of the client (`d` 0) or the server (`d` 1); it
    /// may hold several coalesced packets. The server's packets can only be
    /// read after the client's first Initial packet.
    pub fn datagram(&mut self, b: &[u8], d: usize, anomalies: &mut u32) -> QuicStep {
        let d = d.min(1);
        let mut rest = b;
        let mut any = false;
        while rest.len() > 5 && rest[0] & 0x80 != 0 {
            match self.packet(rest, d) {
                Some((used, initial)) => {
                    any |= initial;
                    rest = &rest[used..];
                }
                None => break,
            }
        }
        if !any {
            return QuicStep::Ignored;
        }
        match self.hello_len(d) {
            Some(Ok(_)) => QuicStep::Hello,
            Some(Err(())) => {
                *anomalies |= flags::MALFORMED;
                QuicStep::Malformed
            }
            None => QuicStep::NeedMore,
        }
    }

    /// The body of the ClientHello (`d` 0) or ServerHello (`d` 1) once its
    /// bytes are all there.
    pub fn hello(&self, d: usize) -> Option<&[u8]> {
        let d = d.min(1);
        match self.hello_len(d) {
            Some(Ok(len)) => self.crypto[d].get(4..4 + len),
            _ => None,
        }
    }

    fn hello_len(&self, d: usize) -> Option<Result<usize, ()>> {
        let have = match self.ranges[d].first() {
            Some(&(0, end)) => end,
            _ => return None,
        };
        if have < 4 {
            return None;
        }
        let c = &self.crypto[d];
        let want = if d == 0 {
            crate::tls::msg::CLIENT_HELLO
        } else {
            crate::tls::msg::SERVER_HELLO
        };
        if c[0] != want {
            return Some(Err(()));
        }
        let len = u32::from_be_bytes([0, c[1], c[2], c[3]]) as usize;
        if 4 + len > MAX_CRYPTO {
            return Some(Err(()));
        }
        (have >= 4 + len).then_some(Ok(len))
    }

    /// One long-header packet: returns its length and whether it was a
    /// decrypted client Initial.
    fn packet(&mut self, b: &[u8], d: usize) -> Option<(usize, bool)> {
        let mut r = Reader::new(b);
        let first = r.u8()?;
        let version = r.u32()?;
        let dcid = r.vec8()?;
        let _scid = r.vec8()?;
        if dcid.len() > 20 || !matches!(version, V1 | V2) {
            return None;
        }
        let is_initial = (first >> 4) & 3 == initial_type(version);
        if is_initial {
            let token_len = r.varint()?;
            r.skip(usize::try_from(token_len).ok()?)?;
        } else {
            let retry = if version == V2 { 0 } else { 3 };
            if (first >> 4) & 3 == retry {
                return None; // Retry has no length field
            }
        }
        let len = usize::try_from(r.varint()?).ok()?;
        let pn_at = r.pos();
        let end = pn_at.checked_add(len)?;
        if end > b.len() {
            return None;
        }
        if !is_initial {
            return Some((end, false));
        }
        if self.version.is_none() {
            if d != 0 {
                return Some((end, false));
            }
            self.version = Some(version);
            self.keys = [
                initial_keys(version, dcid, false),
                initial_keys(version, dcid, true),
            ];
        }
        let keys = self.keys[d].clone()?;
        let ok = self.unprotect(&b[..end], pn_at, first, &keys, d);
        Some((end, ok))
    }

    fn unprotect(&mut self, pkt: &[u8], pn_at: usize, first: u8, k: &Keys, d: usize) -> bool {
        let Some(sample) = pkt.get(pn_at + 4..pn_at + 20) else {
            return false;
        };
        let hp = aes::Aes128::new(GenericArray::from_slice(&k.hp));
        let mut mask = GenericArray::clone_from_slice(sample);
        hp.encrypt_block(&mut mask);
        let first = first ^ (mask[0] & 0x0f);
        let pn_len = usize::from(first & 3) + 1;
        let Some(pn_bytes) = pkt.get(pn_at..pn_at + pn_len) else {
            return false;
        };
        let mut header = Vec::with_capacity(pn_at + pn_len);
        header.push(first);
        header.extend_from_slice(&pkt[1..pn_at]);
        let mut pn: u64 = 0;
        for (i, &b) in pn_bytes.iter().enumerate() {
            let v = b ^ mask[1 + i];
            header.push(v);
            pn = (pn << 8) | u64::from(v);
        }
        let body = &pkt[pn_at + pn_len..];
        if body.len() < 16 {
            return false;
        }
        let (ct, tag) = body.split_at(body.len() - 16);
        let mut nonce = k.iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(ct);
        let aead = Aes128Gcm::new(GenericArray::from_slice(&k.key));
        let opened = aead.decrypt_in_place_detached(
            GenericArray::from_slice(&nonce),
            &header,
            &mut self.scratch,
            GenericArray::from_slice(tag),
        );
        if opened.is_err() {
            return false;
        }
        let frames = std::mem::take(&mut self.scratch);
        self.frames(&frames, d);
        self.scratch = frames;
        true
    }

    fn frames(&mut self, b: &[u8], d: usize) {
        let mut r = Reader::new(b);
        while let Some(kind) = r.varint() {
            match kind {
                0x00 | 0x01 => {} // PADDING, PING
                0x02 | 0x03 => {
                    // ACK: largest, delay, range count, first range, ranges, ECN counts.
                    let (Some(_), Some(_), Some(n), Some(_)) =
                        (r.varint(), r.varint(), r.varint(), r.varint())
                    else {
                        return;
                    };
                    for _ in 0..n.min(256) * 2 {
                        if r.varint().is_none() {
                            return;
                        }
                    }
                    if kind == 0x03 && (0..3).any(|_| r.varint().is_none()) {
                        return;
                    }
                }
                0x06 => {
                    let (Some(off), Some(len)) = (r.varint(), r.varint()) else {
                        return;
                    };
                    let Some(data) = usize::try_from(len).ok().and_then(|l| r.take(l)) else {
                        return;
                    };
                    self.place(off, data, d);
                }
                0x1c => {
                    let (Some(_), Some(_), Some(len)) = (r.varint(), r.varint(), r.varint()) else {
                        return;
                    };
                    if usize::try_from(len).ok().and_then(|l| r.skip(l)).is_none() {
                        return;
                    }
                }
                _ => return, // not allowed in Initial packets
            }
        }
    }

    /// Puts CRYPTO data at its offset (within [`MAX_CRYPTO`]); the first copy of a byte wins.
    fn place(&mut self, off: u64, data: &[u8], d: usize) {
        let Ok(start) = usize::try_from(off) else {
            return;
        };
        if start >= MAX_CRYPTO || data.is_empty() {
            return;
        }
        let end = (start + data.len()).min(MAX_CRYPTO);
        let (crypto, ranges) = (&mut self.crypto[d], &mut self.ranges[d]);
        if crypto.len() < end {
            crypto.resize(end, 0);
        }
        // Write only the parts not yet covered.
        let mut pos = start;
        while pos < end {
            let covered = ranges.iter().find(|&&(s, e)| s <= pos && pos < e);
            match covered {
                Some(&(_, e)) => pos = e,
                None => {
                    let next = ranges
                        .iter()
                        .filter(|&&(s, _)| s > pos)
                        .map(|&(s, _)| s)
                        .min()
                        .unwrap_or(end)
                        .min(end);
                    crypto[pos..next].copy_from_slice(&data[pos - start..next - start]);
                    pos = next;
                }
            }
        }
        if ranges.len() >= MAX_RANGES {
            return;
        }
        ranges.push((start, end));
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for &(s, e) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *ranges = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::hex;

    #[test]
    fn version_1_keys_of_rfc_9001_appendix_a() {
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        let k = client_keys(V1, &dcid).expect("v1");
        assert_eq!(hex(&k.key), "1f369613dd76d5467730efcbe3b1a22d");
        assert_eq!(hex(&k.iv), "fa044b2f42a3fd3b46fb255c");
        assert_eq!(hex(&k.hp), "9f50449e04a0e810283a1e9933adedd2");
    }

    #[test]
    fn version_2_keys_of_rfc_9369_appendix_a() {
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        let k = client_keys(V2, &dcid).expect("v2");
        assert_eq!(hex(&k.key), "8b1a0bc121284290a29e0971b5cd045d");
        assert_eq!(hex(&k.iv), "91f73e2351d8fa91660e909f");
        assert_eq!(hex(&k.hp), "45b95e15235d6f45a6b19cbcb0294ba9");
    }

    #[test]
    fn other_versions_have_no_keys() {
        assert!(client_keys(0xff00_001d, &[1, 2, 3]).is_none());
    }

    #[test]
    fn crypto_data_out_of_order_and_overlapping() {
        let mut s = QuicSession::default();
        s.place(4, b"efgh", 0);
        s.place(0, b"abcdXX", 0);
        s.place(8, b"ij", 0);
        assert_eq!(&s.crypto[0][..10], b"abcdefghij");
        assert_eq!(s.ranges[0], vec![(0, 10)]);
    }
}
