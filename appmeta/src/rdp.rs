//! RDP's connection negotiation (MS-RDPBCGR 2.2.1.1 and 2.2.1.2): the
//! client's X.224 Connection Request with its cookie (`mstshash=` user name
//! or routing token) and the security protocols it asks for, and the
//! server's Connection Confirm with the protocol chosen (standard RDP
//! security, TLS, CredSSP) or its refusal. What follows is TLS or RDP's own
//! encryption and is not read.

use crate::event::Events;
use crate::{Outcome, Step};

/// Longest cookie kept, in bytes.
const MAX_COOKIE: usize = 128;

/// Recognises RDP from the client's first bytes: TPKT version 3, then an
/// X.224 Connection Request.
pub fn detect(first: &[u8]) -> Outcome<()> {
    if first.len() < 6 {
        return if first.first().is_none_or(|&b| b == 3) {
            Outcome::Incomplete
        } else {
            Outcome::NotThis
        };
    }
    if first[0] == 3 && first[1] == 0 && first[5] & 0xf0 == 0xe0 && usize::from(first[4]) >= 6 {
        Outcome::Parsed(())
    } else {
        Outcome::NotThis
    }
}

/// What an RDP connection's negotiation said, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RdpMeta {
    /// The cookie's value (`mstshash=` user name, else the routing token).
    pub cookie: Option<String>,
    /// Security protocols the client asks for (bits: 1 TLS, 2 CredSSP, 4
    /// RDSTLS, 8 CredSSP with early user authorisation; 0 standard RDP).
    pub requested: Option<u32>,
    /// The protocol the server chose.
    pub selected: Option<u32>,
    /// The server's refusal code (RDP_NEG_FAILURE).
    pub failure: Option<u32>,
}

/// The parser of one RDP connection's negotiation.
#[derive(Clone, Debug, Default)]
pub struct RdpSession {
    done: [bool; 2],
}

impl RdpSession {
    /// Parses the next in-order bytes of direction `dir`.
    pub fn parse(&mut self, dir: usize, data: &[u8], meta: &mut RdpMeta, ev: &mut Events) -> Step {
        let d = dir.min(1);
        if self.done[d] {
            return Step::Done;
        }
        if data.len() < 4 {
            return Step::NeedMore;
        }
        if data[0] != 3 || data[1] != 0 {
            return Step::Malformed;
        }
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        if len < 11 {
            return Step::Malformed;
        }
        let Some(pdu) = data.get(..len) else {
            return Step::NeedMore;
        };
        self.done[d] = true;
        // X.224: length indicator, code, dst-ref, src-ref, class; then the
        // RDP data.
        let code = pdu[5] & 0xf0;
        let body = &pdu[11..];
        match (d, code) {
            (0, 0xe0) => {
                let mut rest = body;
                if let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
                    let line = &body[..end];
                    if let Some(v) = line.strip_prefix(b"Cookie: ") {
                        let v = v.strip_prefix(b"mstshash=").unwrap_or(v);
                        meta.cookie = Some(crate::text::text(v, MAX_COOKIE).0);
                    }
                    rest = &body[end + 2..];
                }
                // RDP_NEG_REQ: type 1, flags, length 8, requestedProtocols.
                if rest.len() >= 8 && rest[0] == 1 {
                    meta.requested = Some(u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]));
                } else {
                    meta.requested = Some(0);
                }
                ev.rdp_request(meta.cookie.as_deref(), meta.requested.unwrap_or(0));
            }
            (1, 0xd0) => {
                // RDP_NEG_RSP (2) or RDP_NEG_FAILURE (3).
                if body.len() >= 8 {
                    let v = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                    match body[0] {
                        2 => meta.selected = Some(v),
                        3 => meta.failure = Some(v),
                        _ => {}
                    }
                } else {
                    meta.selected = Some(0);
                }
                ev.rdp_response(meta.selected, meta.failure);
            }
            _ => return Step::Malformed,
        }
        Step::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AppEvent;

    /// The client's Connection Request of a real capture (zeek's
    /// rdp-to-ssl.pcap, frame 4): cookie AWAKECODI, TLS and CredSSP asked.
    const REQUEST: &[u8] = b"\x03\x00\x00\x2f\x2a\xe0\x00\x00\x00\x00\x00Cookie: mstshash=AWAKECODI\r\n\x01\x00\x08\x00\x03\x00\x00\x00";
    /// Its Connection Confirm: CredSSP chosen.
    const CONFIRM: &[u8] =
        b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x01\x08\x00\x02\x00\x00\x00";

    #[test]
    fn a_negotiation() {
        assert_eq!(detect(REQUEST), Outcome::Parsed(()));
        assert_eq!(detect(b"GET / HTTP/1.1"), Outcome::NotThis);
        let (mut s, mut m, mut ev) = (RdpSession::default(), RdpMeta::default(), Events::new());
        assert_eq!(s.parse(0, &REQUEST[..20], &mut m, &mut ev), Step::NeedMore);
        assert_eq!(s.parse(0, REQUEST, &mut m, &mut ev), Step::Done);
        assert_eq!(s.parse(1, CONFIRM, &mut m, &mut ev), Step::Done);
        assert_eq!(m.cookie.as_deref(), Some("AWAKECODI"));
        assert_eq!(
            (m.requested, m.selected, m.failure),
            (Some(3), Some(2), None)
        );
        assert_eq!(
            ev.get(0),
            Some(AppEvent::RdpRequest {
                cookie: Some("AWAKECODI"),
                requested: 3
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..120), dir in 0usize..2) {
            let mut p = vec![3u8, 0, 0, (b.len() + 4).min(255) as u8];
            p.extend(&b);
            let (mut s, mut m, mut ev) = (RdpSession::default(), RdpMeta::default(), Events::new());
            let _ = s.parse(dir, &p, &mut m, &mut ev);
            let _ = detect(&b);
        }
    }
}
