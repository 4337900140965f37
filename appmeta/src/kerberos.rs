//! Kerberos 5 (RFC 4120) over UDP and TCP 88: the message type, the client
//! principal and realm, the service principal, the encryption types the
//! client asks for and those of the tickets it gets, pre-authentication,
//! and error codes. Tickets, authenticators and encrypted parts (the
//! credential material) are never read.
//!
//! The messages are DER; only the fields above are walked, each bounded.

use crate::event::Events;

/// AS-REQ.
pub const AS_REQ: u8 = 10;
/// AS-REP.
pub const AS_REP: u8 = 11;
/// TGS-REQ.
pub const TGS_REQ: u8 = 12;
/// TGS-REP.
pub const TGS_REP: u8 = 13;
/// KRB-ERROR.
pub const KRB_ERROR: u8 = 30;

/// `rc4-hmac`: the encryption type Kerberoasting and AS-REP roasting ask
/// for, as its hashes crack fastest.
pub const RC4_HMAC: i32 = 23;
/// `PA-ENC-TIMESTAMP`: the client's pre-authentication.
const PA_ENC_TIMESTAMP: i64 = 2;
/// `KDC_ERR_C_PRINCIPAL_UNKNOWN`.
pub const ERR_C_PRINCIPAL_UNKNOWN: i32 = 6;
/// `KDC_ERR_CLIENT_REVOKED` (disabled or locked account).
pub const ERR_CLIENT_REVOKED: i32 = 18;
/// `KDC_ERR_PREAUTH_FAILED`: a wrong password.
pub const ERR_PREAUTH_FAILED: i32 = 24;
/// `KDC_ERR_PREAUTH_REQUIRED`: the first round of every password logon.
pub const ERR_PREAUTH_REQUIRED: i32 = 25;

/// Longest principal kept, in bytes.
const MAX_NAME: usize = 256;
/// Encryption types read from one request.
const MAX_ETYPES: usize = 16;

/// The fields of one Kerberos message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Message type ([`AS_REQ`] ...).
    pub msg_type: u8,
    /// Client principal (components joined with `/`).
    pub cname: Option<String>,
    /// Realm (of the request body, the reply's client, or the error).
    pub realm: Option<String>,
    /// Service principal (components joined with `/`).
    pub sname: Option<String>,
    /// Encryption types the client asks for, in order.
    pub etypes: Vec<i32>,
    /// Encryption type of the ticket's encrypted part (replies).
    pub ticket_etype: Option<i32>,
    /// Error code (KRB-ERROR).
    pub error_code: Option<i32>,
    /// The request carries pre-authentication (`PA-ENC-TIMESTAMP`).
    pub preauth: bool,
}

/// One DER element: (tag, content, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&l, b) = b.split_first()?;
    let (len, b) = if l < 0x80 {
        (usize::from(l), b)
    } else {
        let n = usize::from(l & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n].iter().fold(0usize, |a, &x| a << 8 | usize::from(x));
        (len, &b[n..])
    };
    if b.len() < len {
        return None;
    }
    Some((tag, &b[..len], &b[len..]))
}

/// The elements of a constructed content, as (tag, content).
fn elements(mut b: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (t, c, rest) = tlv(b)?;
        b = rest;
        Some((t, c))
    })
    .take(64)
}

/// The content of the SEQUENCE field `[n]` of a SEQUENCE's content.
fn field(seq: &[u8], n: u8) -> Option<&[u8]> {
    let (_, inner) = elements(seq).find(|(t, _)| *t == 0xa0 | n)?;
    Some(inner)
}

fn integer(b: &[u8]) -> Option<i64> {
    let (t, c, _) = tlv(b)?;
    if t != 0x02 {
        return None;
    }
    int_content(c)
}

/// A DER INTEGER's content (two's complement, at most 8 bytes).
fn int_content(c: &[u8]) -> Option<i64> {
    if c.is_empty() || c.len() > 8 {
        return None;
    }
    let neg = c[0] & 0x80 != 0;
    let v = c
        .iter()
        .fold(if neg { -1i64 } else { 0 }, |a, &x| a << 8 | i64::from(x));
    Some(v)
}

fn string(b: &[u8]) -> Option<String> {
    let (t, c, _) = tlv(b)?;
    if !matches!(t, 0x1b | 0x0c | 0x16 | 0x13) {
        return None;
    }
    let (s, _) = crate::text::text(c, MAX_NAME);
    Some(s)
}

/// `PrincipalName ::= SEQUENCE { name-type [0], name-string [1] SEQUENCE OF
/// KerberosString }`, components joined with `/`.
fn principal(b: &[u8]) -> Option<String> {
    let (t, seq, _) = tlv(b)?;
    if t != 0x30 {
        return None;
    }
    let (t, names, _) = tlv(field(seq, 1)?)?;
    if t != 0x30 {
        return None;
    }
    let mut out = String::new();
    for (i, (t, c)) in elements(names).enumerate() {
        if t != 0x1b && t != 0x0c {
            continue;
        }
        if i > 0 {
            out.push('/');
        }
        crate::text::push_text(&mut out, c, MAX_NAME);
    }
    Some(out)
}

/// The etype of an `EncryptedData ::= SEQUENCE { etype [0] ... }`.
fn enc_etype(b: &[u8]) -> Option<i32> {
    let (t, seq, _) = tlv(b)?;
    if t != 0x30 {
        return None;
    }
    integer(field(seq, 0)?).and_then(|v| i32::try_from(v).ok())
}

/// Parses one message (a UDP datagram, or a TCP record without its length).
pub fn parse(b: &[u8]) -> Option<Message> {
    let (app, body, _) = tlv(b)?;
    let msg_type = match app {
        0x6a => AS_REQ,
        0x6b => AS_REP,
        0x6c => TGS_REQ,
        0x6d => TGS_REP,
        0x7e => KRB_ERROR,
        _ => return None,
    };
    let (t, seq, _) = tlv(body)?;
    if t != 0x30 {
        return None;
    }
    let mut m = Message {
        msg_type,
        ..Message::default()
    };
    match msg_type {
        AS_REQ | TGS_REQ => {
            if let Some(pa) = field(seq, 3).and_then(tlv) {
                for (t, pd) in elements(pa.1) {
                    if t == 0x30 && field(pd, 1).and_then(integer) == Some(PA_ENC_TIMESTAMP) {
                        m.preauth = true;
                    }
                }
            }
            let (t, req, _) = tlv(field(seq, 4)?)?;
            if t != 0x30 {
                return None;
            }
            m.cname = field(req, 1).and_then(principal);
            m.realm = field(req, 2).and_then(string);
            m.sname = field(req, 3).and_then(principal);
            if let Some((0x30, et, _)) = field(req, 8).and_then(tlv) {
                m.etypes = elements(et)
                    .filter(|(t, _)| *t == 0x02)
                    .take(MAX_ETYPES)
                    .filter_map(|(_, c)| int_content(c).and_then(|v| i32::try_from(v).ok()))
                    .collect();
            }
        }
        AS_REP | TGS_REP => {
            m.realm = field(seq, 3).and_then(string);
            m.cname = field(seq, 4).and_then(principal);
            // Ticket ::= [APPLICATION 1] SEQUENCE { ..., sname [2], enc-part [3] }
            if let Some((0x61, tk, _)) = field(seq, 5).and_then(tlv) {
                if let Some((0x30, tseq, _)) = tlv(tk) {
                    m.sname = field(tseq, 2).and_then(principal);
                    m.ticket_etype = field(tseq, 3).and_then(enc_etype);
                }
            }
        }
        _ => {
            m.error_code = field(seq, 6)
                .and_then(integer)
                .and_then(|v| i32::try_from(v).ok());
            m.realm = field(seq, 9).and_then(string);
            m.cname = field(seq, 8).and_then(principal);
            m.sname = field(seq, 10).and_then(principal);
        }
    }
    Some(m)
}

/// Recognises Kerberos over TCP: a 4-byte record length, then a message.
pub fn detect_tcp(first: &[u8]) -> crate::Outcome<()> {
    use crate::Outcome;
    if first.len() < 6 {
        return Outcome::Incomplete;
    }
    let len = u32::from_be_bytes([first[0], first[1], first[2], first[3]]) as usize;
    if !(2..=1 << 20).contains(&len) || !matches!(first[4], 0x6a..=0x6d | 0x7e) {
        return Outcome::NotThis;
    }
    Outcome::Parsed(())
}

/// What the Kerberos of a flow said, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KrbMeta {
    /// Message types seen, one bit each (1 << type).
    pub msg_types: u32,
    /// First client principal.
    pub cname: Option<String>,
    /// First realm.
    pub realm: Option<String>,
    /// Distinct service principals asked for, at most [`MAX_LIST`].
    pub snames: Vec<String>,
    /// Encryption types the first request asked for.
    pub request_etypes: Vec<i32>,
    /// Distinct encryption types of the tickets granted.
    pub ticket_etypes: Vec<i32>,
    /// Distinct error codes.
    pub error_codes: Vec<i32>,
    /// Requests (AS and TGS).
    pub requests: u32,
    /// Errors answered.
    pub errors: u32,
    /// A list was cut.
    pub cut: bool,
}

/// Longest list kept in a record.
pub const MAX_LIST: usize = 16;

impl KrbMeta {
    /// Adds one message and raises its event.
    pub fn add(&mut self, m: &Message, ev: &mut Events) {
        self.msg_types |= 1 << m.msg_type.min(31);
        if self.cname.is_none() {
            self.cname.clone_from(&m.cname);
        }
        if self.realm.is_none() {
            self.realm.clone_from(&m.realm);
        }
        let push = |l: &mut Vec<String>, v: &str, cut: &mut bool| {
            if !l.iter().any(|x| x == v) {
                if l.len() < MAX_LIST {
                    l.push(v.to_string());
                } else {
                    *cut = true;
                }
            }
        };
        let push_i = |l: &mut Vec<i32>, v: i32| {
            if !l.contains(&v) && l.len() < MAX_LIST {
                l.push(v);
            }
        };
        if matches!(m.msg_type, AS_REQ | TGS_REQ) {
            self.requests = self.requests.saturating_add(1);
            if self.request_etypes.is_empty() {
                self.request_etypes = m.etypes.clone();
            }
            if let Some(s) = &m.sname {
                push(&mut self.snames, s, &mut self.cut);
            }
        }
        if let Some(e) = m.ticket_etype {
            push_i(&mut self.ticket_etypes, e);
        }
        if let Some(c) = m.error_code {
            self.errors = self.errors.saturating_add(1);
            push_i(&mut self.error_codes, c);
        }
        ev.kerberos(m);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::AppEvent;

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend((content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn ctx(n: u8, inner: &[u8]) -> Vec<u8> {
        der(0xa0 | n, inner)
    }

    fn int(v: i64) -> Vec<u8> {
        let b = v.to_be_bytes();
        let skip = b.iter().take_while(|&&x| x == 0).count().min(7);
        let mut c = b[skip..].to_vec();
        if c[0] & 0x80 != 0 {
            c.insert(0, 0);
        }
        der(0x02, &c)
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        der(0x30, &parts.concat())
    }

    fn name(parts: &[&str]) -> Vec<u8> {
        let strings: Vec<Vec<u8>> = parts.iter().map(|p| der(0x1b, p.as_bytes())).collect();
        seq(&[ctx(0, &int(1)), ctx(1, &seq(&strings))])
    }

    /// An AS-REQ or TGS-REQ as RFC 4120 5.4.1 lays it out.
    pub(crate) fn request(
        tgs: bool,
        user: &str,
        realm: &str,
        service: &[&str],
        etypes: &[i64],
        preauth: bool,
    ) -> Vec<u8> {
        let mut padata = Vec::new();
        if preauth {
            padata.push(seq(&[
                ctx(1, &int(PA_ENC_TIMESTAMP)),
                ctx(2, &der(0x04, &[0x30, 0])),
            ]));
        }
        padata.push(seq(&[ctx(1, &int(128)), ctx(2, &der(0x04, &[0x30, 0]))]));
        let et: Vec<Vec<u8>> = etypes.iter().map(|&e| int(e)).collect();
        let body = seq(&[
            ctx(0, &der(0x03, &[0, 0x40, 0x81, 0, 0x10])),
            ctx(1, &name(&[user])),
            ctx(2, &der(0x1b, realm.as_bytes())),
            ctx(3, &name(service)),
            ctx(5, &der(0x18, b"20370913024805Z")),
            ctx(7, &int(12345)),
            ctx(8, &seq(&et)),
        ]);
        let s = seq(&[
            ctx(1, &int(5)),
            ctx(2, &int(if tgs { 12 } else { 10 })),
            ctx(3, &seq(&padata)),
            ctx(4, &body),
        ]);
        der(if tgs { 0x6c } else { 0x6a }, &s)
    }

    /// A KRB-ERROR with `code`.
    pub(crate) fn error(code: i64, realm: &str) -> Vec<u8> {
        let s = seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(30)),
            ctx(4, &der(0x18, b"20240101000000Z")),
            ctx(5, &int(7)),
            ctx(6, &int(code)),
            ctx(9, &der(0x1b, realm.as_bytes())),
            ctx(10, &name(&["krbtgt", realm])),
        ]);
        der(0x7e, &s)
    }

    /// A TGS-REP whose ticket is encrypted with `etype`.
    pub(crate) fn reply(user: &str, realm: &str, service: &[&str], etype: i64) -> Vec<u8> {
        let enc = seq(&[
            ctx(0, &int(etype)),
            ctx(1, &int(2)),
            ctx(2, &der(0x04, &[0xee; 40])),
        ]);
        let ticket = der(
            0x61,
            &seq(&[
                ctx(0, &int(5)),
                ctx(1, &der(0x1b, realm.as_bytes())),
                ctx(2, &name(service)),
                ctx(3, &enc),
            ]),
        );
        let s = seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(13)),
            ctx(3, &der(0x1b, realm.as_bytes())),
            ctx(4, &name(&[user])),
            ctx(5, &ticket),
            ctx(
                6,
                &seq(&[ctx(0, &int(18)), ctx(2, &der(0x04, &[0xdd; 20]))]),
            ),
        ]);
        der(0x6d, &s)
    }

    #[test]
    fn requests_replies_and_errors() {
        let r = parse(&request(
            false,
            "bob",
            "CORP.LOCAL",
            &["krbtgt", "CORP.LOCAL"],
            &[18, 17, 23],
            true,
        ))
        .unwrap();
        assert_eq!(r.msg_type, AS_REQ);
        assert_eq!(r.cname.as_deref(), Some("bob"));
        assert_eq!(r.realm.as_deref(), Some("CORP.LOCAL"));
        assert_eq!(r.sname.as_deref(), Some("krbtgt/CORP.LOCAL"));
        assert_eq!(r.etypes, vec![18, 17, 23]);
        assert!(r.preauth);
        let t = parse(&request(
            true,
            "bob",
            "CORP.LOCAL",
            &["MSSQLSvc", "db1.corp.local:1433"],
            &[23],
            false,
        ))
        .unwrap();
        assert_eq!((t.msg_type, t.preauth), (TGS_REQ, false));
        assert_eq!(t.sname.as_deref(), Some("MSSQLSvc/db1.corp.local:1433"));
        let e = parse(&error(24, "CORP.LOCAL")).unwrap();
        assert_eq!((e.msg_type, e.error_code), (KRB_ERROR, Some(24)));
        let p = parse(&reply("bob", "CORP.LOCAL", &["MSSQLSvc", "db1"], 23)).unwrap();
        assert_eq!((p.msg_type, p.ticket_etype), (TGS_REP, Some(23)));
        assert_eq!(p.sname.as_deref(), Some("MSSQLSvc/db1"));
        assert_eq!(p.cname.as_deref(), Some("bob"));
        let mut meta = KrbMeta::default();
        let mut ev = Events::new();
        meta.add(&t, &mut ev);
        meta.add(&p, &mut ev);
        assert_eq!((meta.requests, meta.ticket_etypes.clone()), (1, vec![23]));
        assert!(matches!(
            ev.get(0),
            Some(AppEvent::Kerberos {
                msg_type: TGS_REQ,
                rc4_only: true,
                ..
            })
        ));
    }

    #[test]
    fn truncated_and_foreign_bytes_are_refused() {
        let r = request(false, "bob", "CORP", &["krbtgt", "CORP"], &[18], false);
        for n in 0..r.len() {
            let _ = parse(&r[..n]);
        }
        assert_eq!(parse(b"\x16\x03\x01\x00\x05hello"), None);
        assert_eq!(
            detect_tcp(b"\0\0\0\x10\x6a\x0e"),
            crate::Outcome::Parsed(())
        );
        assert_eq!(detect_tcp(b"\0\0\0\x10GET "), crate::Outcome::NotThis);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300), app in 0usize..5) {
            let tag = [0x6a, 0x6b, 0x6c, 0x6d, 0x7e][app];
            let mut m = vec![tag, 0x82, (b.len() >> 8) as u8, b.len() as u8];
            m.extend(&b);
            let _ = parse(&m);
            let _ = parse(&b);
        }
    }
}
