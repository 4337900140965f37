//! SMB2/3 over direct TCP (port 445): NEGOTIATE request and response, and
//! SMB3-encrypted messages (transform header) for the file traffic after it.

use crate::proto::x509::{oid, seq, tlv};
use crate::rng::Rng;

fn nbss(msg: Vec<u8>) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes()[1..]);
    out.extend(msg);
    out
}

fn header(command: u16, response: bool, message_id: u64, credits: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(&[0xFE, b'S', b'M', b'B']);
    h.extend_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes()); // credit charge
    h.extend_from_slice(&0u32.to_le_bytes()); // status
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&credits.to_le_bytes());
    h.extend_from_slice(&u32::from(response).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // next command
    h.extend_from_slice(&message_id.to_le_bytes());
    h.extend_from_slice(&0x0000_FEFFu32.to_le_bytes()); // process id
    h.extend_from_slice(&0u32.to_le_bytes()); // tree id
    h.extend_from_slice(&0u64.to_le_bytes()); // session id
    h.extend_from_slice(&[0u8; 16]);
    h
}

/// NEGOTIATE request offering SMB 2.0.2 to 3.0.2, framed for TCP.
pub fn negotiate_request(rng: &mut Rng) -> Vec<u8> {
    let dialects: [u16; 4] = [0x0202, 0x0210, 0x0300, 0x0302];
    let mut m = header(0, false, 0, 31);
    m.extend_from_slice(&36u16.to_le_bytes());
    m.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // signing enabled
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&0x7fu32.to_le_bytes());
    m.extend(rng.bytes(16));
    m.extend_from_slice(&0u64.to_le_bytes());
    for d in dialects {
        m.extend_from_slice(&d.to_le_bytes());
    }
    nbss(m)
}

/// NEGOTIATE response choosing SMB 3.0.2 with a SPNEGO token offering NTLMSSP.
pub fn negotiate_response(now_ns: u64, rng: &mut Rng) -> Vec<u8> {
    let spnego = [1, 3, 6, 1, 5, 5, 2];
    let ntlmssp = [1, 3, 6, 1, 4, 1, 311, 2, 2, 10];
    let init = tlv(0xa0, &seq(&[tlv(0xa0, &seq(&[oid(&ntlmssp)]))]));
    let token = tlv(0x60, &[oid(&spnego), init].concat());
    let mut m = header(0, true, 0, 1);
    m.extend_from_slice(&65u16.to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&0x0302u16.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend(rng.bytes(16));
    m.extend_from_slice(&0x2fu32.to_le_bytes());
    for _ in 0..3 {
        m.extend_from_slice(&8_388_608u32.to_le_bytes());
    }
    let filetime = now_ns / 100 + 116_444_736_000_000_000;
    m.extend_from_slice(&filetime.to_le_bytes());
    m.extend_from_slice(&0u64.to_le_bytes());
    m.extend_from_slice(&128u16.to_le_bytes());
    m.extend_from_slice(&(token.len() as u16).to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend(token);
    nbss(m)
}

/// The framing of one SMB3-encrypted message of `len` ciphertext bytes (the
/// NetBIOS header and the 52-byte transform header); the ciphertext follows.
pub fn transform_header(len: usize, session_id: u64, rng: &mut Rng) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&((52 + len) as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[0xFD, b'S', b'M', b'B']);
    out.extend(rng.bytes(16)); // signature
    let mut nonce = rng.bytes(11);
    nonce.extend_from_slice(&[0; 5]);
    out.extend(nonce);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&session_id.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netbios_length_covers_the_message() {
        let mut rng = Rng::new(2, 2);
        for m in [negotiate_request(&mut rng), negotiate_response(0, &mut rng)] {
            let len = u32::from_be_bytes([0, m[1], m[2], m[3]]) as usize;
            assert_eq!(len + 4, m.len());
            assert_eq!(&m[4..8], &[0xFE, b'S', b'M', b'B']);
        }
        let t = transform_header(1000, 7, &mut rng);
        assert_eq!(t.len(), 4 + 52);
        assert_eq!(u32::from_be_bytes([0, t[1], t[2], t[3]]), 1052);
    }
}
