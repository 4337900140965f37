//! NTLMSSP messages, wherever they are carried (SMB session setup, DCE/RPC
//! authentication verifiers, HTTP `Authorization: NTLM`): the client's
//! user, domain and workstation from the AUTHENTICATE message. The
//! challenge responses (the credential) are never read into anything.

use crate::text::utf16le_lossy;

/// The signature every NTLMSSP message begins with.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// `NTLMSSP_NEGOTIATE_UNICODE`: strings are UTF-16LE (else OEM bytes).
const NEGOTIATE_UNICODE: u32 = 0x0000_0001;

/// Longest name kept, in characters.
pub const MAX_NAME: usize = 256;

/// An NTLMSSP message's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// NEGOTIATE (1), from the client.
    Negotiate,
    /// CHALLENGE (2), from the server.
    Challenge,
    /// AUTHENTICATE (3), from the client.
    Authenticate,
}

/// Who an AUTHENTICATE message logs on as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// User name.
    pub user: String,
    /// Domain.
    pub domain: String,
    /// Workstation (the client's host name).
    pub workstation: String,
    /// An anonymous (null-session) logon: no user name.
    pub anonymous: bool,
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The bytes of the (length, max length, offset) field at `at`.
fn field(msg: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16le(msg, at)?);
    let off = u32le(msg, at + 4)? as usize;
    if len == 0 {
        return Some(&[]);
    }
    msg.get(off..off.checked_add(len)?)
}

/// The type of the message at the start of `msg`.
pub fn message_type(msg: &[u8]) -> Option<MessageType> {
    if !msg.starts_with(SIGNATURE) {
        return None;
    }
    match u32le(msg, 8)? {
        1 => Some(MessageType::Negotiate),
        2 => Some(MessageType::Challenge),
        3 => Some(MessageType::Authenticate),
        _ => None,
    }
}

/// Reads an AUTHENTICATE message starting at `msg`. `None` when it is not
/// one or its fields point outside it.
pub fn authenticate(msg: &[u8]) -> Option<Auth> {
    if message_type(msg)? != MessageType::Authenticate {
        return None;
    }
    let flags = u32le(msg, 60).unwrap_or(NEGOTIATE_UNICODE);
    let text = |b: &[u8]| -> String {
        if flags & NEGOTIATE_UNICODE != 0 {
            utf16le_lossy(b, MAX_NAME)
        } else {
            String::from_utf8_lossy(&b[..b.len().min(MAX_NAME)]).into_owned()
        }
    };
    let domain = text(field(msg, 28)?);
    let user = text(field(msg, 36)?);
    let workstation = text(field(msg, 44)?);
    Some(Auth {
        anonymous: user.is_empty(),
        user,
        domain,
        workstation,
    })
}

/// Finds an NTLMSSP message inside a security blob (SPNEGO or bare) and
/// returns it from its signature on.
pub fn find(blob: &[u8]) -> Option<&[u8]> {
    let at = blob.windows(SIGNATURE.len()).position(|w| w == SIGNATURE)?;
    blob.get(at..)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|c| c.to_le_bytes()).collect()
    }

    /// An AUTHENTICATE message, laid out as MS-NLMP 2.2.1.3 says: the
    /// fixed part (88 bytes with version and MIC), then domain, user,
    /// workstation and an NT response of `nt` bytes.
    pub(crate) fn auth_msg(domain: &str, user: &str, ws: &str, nt: usize) -> Vec<u8> {
        let (d, u, w) = (utf16(domain), utf16(user), utf16(ws));
        let mut m = Vec::new();
        m.extend_from_slice(SIGNATURE);
        m.extend(3u32.to_le_bytes());
        let base = 88u32;
        let fields = [
            (0u16, base),                                             // LM
            (nt as u16, base + (d.len() + u.len() + w.len()) as u32), // NT
            (d.len() as u16, base),                                   // domain
            (u.len() as u16, base + d.len() as u32),                  // user
            (w.len() as u16, base + (d.len() + u.len()) as u32),      // workstation
            (0, base),                                                // session key
        ];
        for (len, off) in fields {
            m.extend(len.to_le_bytes());
            m.extend(len.to_le_bytes());
            m.extend(off.to_le_bytes());
        }
        m.extend((NEGOTIATE_UNICODE | 0x0008_0000).to_le_bytes());
        m.resize(88, 0);
        m.extend(d);
        m.extend(u);
        m.extend(w);
        m.extend(std::iter::repeat_n(0xaa, nt));
        m
    }

    #[test]
    fn reads_who_authenticates_and_nothing_of_the_response() {
        let m = auth_msg("CORP", "alice", "WS01", 24);
        let mut blob = vec![0xa1, 0x82, 0x01, 0x00, 0x30];
        blob.extend(&m);
        let a = authenticate(find(&blob).unwrap()).unwrap();
        assert_eq!(
            a,
            Auth {
                user: "alice".into(),
                domain: "CORP".into(),
                workstation: "WS01".into(),
                anonymous: false,
            }
        );
        let anon = authenticate(&auth_msg("", "", "", 0)).unwrap();
        assert!(anon.anonymous);
    }

    #[test]
    fn fields_outside_the_message_are_refused() {
        let mut m = auth_msg("CORP", "alice", "WS01", 24);
        // The user field's offset past the end.
        m[40..44].copy_from_slice(&10_000u32.to_le_bytes());
        assert_eq!(authenticate(&m), None);
        assert_eq!(authenticate(&m[..30]), None);
        assert_eq!(authenticate(b"NTLMSSP\0\x02\0\0\0"), None);
        assert_eq!(
            message_type(b"NTLMSSP\0\x01\0\0\0"),
            Some(MessageType::Negotiate)
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut m = SIGNATURE.to_vec();
            m.extend(3u32.to_le_bytes());
            m.extend(&b);
            let _ = authenticate(&m);
            let _ = find(&b);
        }
    }
}
