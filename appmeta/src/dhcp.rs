//! DHCP (RFC 2131, options of RFC 2132) over UDP 67 and 68, and DHCPv6
//! (RFC 8415) over UDP 546 and 547: the message type, the client's
//! hardware address, host name and vendor class, the address it asks for,
//! the address offered or acknowledged, and the server's identifier.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::event::Events;

/// The magic cookie before the options.
const COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Longest text option kept, in bytes.
const MAX_TEXT: usize = 128;

/// DHCP message types (option 53), by number.
pub const TYPES: [&str; 9] = [
    "DISCOVER",
    "OFFER",
    "REQUEST",
    "DECLINE",
    "ACK",
    "NAK",
    "RELEASE",
    "INFORM",
    "FORCERENEW",
];

/// DHCPv6 message types, by number.
pub const TYPES6: [&str; 13] = [
    "SOLICIT",
    "ADVERTISE",
    "REQUEST",
    "CONFIRM",
    "RENEW",
    "REBIND",
    "REPLY",
    "RELEASE",
    "DECLINE",
    "RECONFIGURE",
    "INFORMATION-REQUEST",
    "RELAY-FORW",
    "RELAY-REPL",
];

/// The fields of one DHCP message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Message type (option 53: 1 DISCOVER ... 8 INFORM).
    pub msg_type: u8,
    /// Client hardware address (Ethernet), `aa:bb:cc:dd:ee:ff`.
    pub client_mac: Option<String>,
    /// Host name (option 12).
    pub hostname: Option<String>,
    /// Vendor class (option 60).
    pub vendor_class: Option<String>,
    /// Address the client asks for (option 50; DHCPv6: an IA address of
    /// the client's message).
    pub requested: Option<IpAddr>,
    /// Address the server offers or acknowledges (`yiaddr`; DHCPv6: an IA
    /// address of ADVERTISE or REPLY).
    pub offered: Option<IpAddr>,
    /// Server identifier (option 54).
    pub server_id: Option<IpAddr>,
    /// A DHCPv6 message (its types are [`TYPES6`]).
    pub v6: bool,
}

fn ip(b: &[u8]) -> Option<Ipv4Addr> {
    let a: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

/// Parses one DHCP message; `None` when it is not one (BOOTP without the
/// cookie or without a message type, or cut short).
pub fn parse(b: &[u8]) -> Option<Message> {
    if b.len() < 240 || !matches!(b[0], 1 | 2) || b[236..240] != COOKIE {
        return None;
    }
    let mut m = Message::default();
    if b[1] == 1 && b[2] == 6 {
        let mac = &b[28..34];
        m.client_mac = Some(
            mac.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        );
    }
    let yiaddr = ip(&b[16..20]).filter(|a| !a.is_unspecified());
    let mut at = 240;
    while at < b.len() {
        let code = b[at];
        if code == 255 {
            break;
        }
        if code == 0 {
            at += 1;
            continue;
        }
        let len = usize::from(*b.get(at + 1)?);
        let v = b.get(at + 2..at + 2 + len)?;
        let text = |v: &[u8]| crate::text::text(v, MAX_TEXT).0;
        match code {
            53 if len == 1 => m.msg_type = v[0],
            12 => m.hostname = Some(text(v)),
            60 => m.vendor_class = Some(text(v)),
            50 => m.requested = ip(v).map(IpAddr::V4),
            54 => m.server_id = ip(v).map(IpAddr::V4),
            _ => {}
        }
        at += 2 + len;
    }
    if m.msg_type == 0 {
        return None;
    }
    if matches!(m.msg_type, 2 | 5) {
        m.offered = yiaddr.map(IpAddr::V4);
    }
    Some(m)
}

/// The Ethernet address a DUID carries (types 1, LLT, and 3, LL).
fn duid_mac(d: &[u8]) -> Option<String> {
    let ty = u16::from_be_bytes([*d.first()?, *d.get(1)?]);
    let hw = u16::from_be_bytes([*d.get(2)?, *d.get(3)?]);
    let mac = match ty {
        1 => d.get(8..)?,
        3 => d.get(4..)?,
        _ => return None,
    };
    (hw == 1 && mac.len() == 6).then(|| {
        mac.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// A domain name in DNS wire form (DHCPv6's client FQDN), dotted.
fn wire_name(mut b: &[u8]) -> String {
    let mut out = String::new();
    while let Some((&l, rest)) = b.split_first() {
        let l = usize::from(l);
        if l == 0 || l > rest.len() || l > 63 {
            break;
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&crate::text::text(&rest[..l], MAX_TEXT).0);
        b = &rest[l..];
        if out.len() >= MAX_TEXT {
            break;
        }
    }
    out
}

/// Parses one DHCPv6 message (relayed messages are not unwrapped); `None`
/// when it is not one.
pub fn parse6(b: &[u8]) -> Option<Message> {
    let t = *b.first()?;
    if !(1..=13).contains(&t) || b.len() < 4 {
        return None;
    }
    let mut m = Message {
        msg_type: t,
        v6: true,
        ..Message::default()
    };
    if t >= 12 {
        return Some(m); // relay: the client's message is inside
    }
    let server = matches!(t, 2 | 7);
    let mut at = 4;
    while at < b.len() {
        let h = b.get(at..at + 4)?;
        let code = u16::from_be_bytes([h[0], h[1]]);
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let v = b.get(at + 4..at + 4 + len)?;
        match code {
            1 => m.client_mac = duid_mac(v),
            // IA_NA: IAID, T1, T2, then IAADDR options (address first).
            3 if len >= 12 => {
                let mut o = &v[12..];
                while o.len() >= 4 {
                    let c = u16::from_be_bytes([o[0], o[1]]);
                    let l = usize::from(u16::from_be_bytes([o[2], o[3]]));
                    let Some(ov) = o.get(4..4 + l) else { break };
                    if c == 5 && l >= 16 {
                        let a: [u8; 16] = ov[..16].try_into().ok()?;
                        let a = Some(IpAddr::V6(Ipv6Addr::from(a)));
                        if server {
                            m.offered = a;
                        } else {
                            m.requested = a;
                        }
                    }
                    o = &o[4 + l..];
                }
            }
            // Vendor class: enterprise number, then length-prefixed data.
            16 if len >= 6 => {
                let l = usize::from(u16::from_be_bytes([v[4], v[5]]));
                if let Some(d) = v.get(6..6 + l) {
                    m.vendor_class = Some(crate::text::text(d, MAX_TEXT).0);
                }
            }
            // Client FQDN: flags, then the name in wire form.
            39 if len >= 2 => m.hostname = Some(wire_name(&v[1..])).filter(|h| !h.is_empty()),
            _ => {}
        }
        at += 4 + len;
    }
    Some(m)
}

/// What the DHCP of a flow said, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhcpMeta {
    /// Message types seen, one bit each (1 << type).
    pub msg_types: u32,
    /// First client hardware address.
    pub client_mac: Option<String>,
    /// First host name.
    pub hostname: Option<String>,
    /// First vendor class.
    pub vendor_class: Option<String>,
    /// Last address asked for.
    pub requested: Option<IpAddr>,
    /// Last address offered or acknowledged.
    pub offered: Option<IpAddr>,
    /// Last server identifier.
    pub server_id: Option<IpAddr>,
    /// Messages.
    pub messages: u32,
    /// DHCPv6 (the bits of `msg_types` are [`TYPES6`]' numbers).
    pub v6: bool,
}

impl DhcpMeta {
    /// Adds one message and raises its event.
    pub fn add(&mut self, m: &Message, ev: &mut Events) {
        self.msg_types |= 1 << m.msg_type.min(31);
        self.v6 |= m.v6;
        self.messages = self.messages.saturating_add(1);
        if self.client_mac.is_none() {
            self.client_mac.clone_from(&m.client_mac);
        }
        if self.hostname.is_none() {
            self.hostname.clone_from(&m.hostname);
        }
        if self.vendor_class.is_none() {
            self.vendor_class.clone_from(&m.vendor_class);
        }
        self.requested = m.requested.or(self.requested);
        self.offered = m.offered.or(self.offered);
        self.server_id = m.server_id.or(self.server_id);
        ev.dhcp(m);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::AppEvent;

    /// A DHCP message as RFC 2131 lays it out, with `options` after the cookie.
    pub(crate) fn message(
        op: u8,
        yiaddr: [u8; 4],
        mac: [u8; 6],
        options: &[(u8, &[u8])],
    ) -> Vec<u8> {
        let mut b = vec![0u8; 236];
        b[0] = op;
        b[1] = 1;
        b[2] = 6;
        b[16..20].copy_from_slice(&yiaddr);
        b[28..34].copy_from_slice(&mac);
        b.extend(COOKIE);
        for (c, v) in options {
            b.push(*c);
            b.push(v.len() as u8);
            b.extend_from_slice(v);
        }
        b.push(255);
        b
    }

    #[test]
    fn discover_and_ack() {
        let mac = [0x00, 0x0c, 0x29, 0x42, 0x3c, 0xfa];
        let d = parse(&message(
            1,
            [0; 4],
            mac,
            &[
                (53, &[1]),
                (12, b"WS01"),
                (60, b"MSFT 5.0"),
                (50, &[10, 0, 0, 7]),
            ],
        ))
        .unwrap();
        assert_eq!(d.msg_type, 1);
        assert_eq!(d.client_mac.as_deref(), Some("00:0c:29:42:3c:fa"));
        assert_eq!(
            (d.hostname.as_deref(), d.vendor_class.as_deref()),
            (Some("WS01"), Some("MSFT 5.0"))
        );
        assert_eq!(d.requested, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))));
        assert_eq!(d.offered, None);
        let a = parse(&message(
            2,
            [10, 0, 0, 7],
            mac,
            &[(53, &[5]), (54, &[10, 0, 0, 1])],
        ))
        .unwrap();
        assert_eq!(
            (a.msg_type, a.offered, a.server_id),
            (
                5,
                Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
                Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
            )
        );
        let mut meta = DhcpMeta::default();
        let mut ev = Events::new();
        meta.add(&d, &mut ev);
        meta.add(&a, &mut ev);
        assert_eq!((meta.messages, meta.msg_types), (2, 1 << 1 | 1 << 5));
        assert!(matches!(
            ev.get(1),
            Some(AppEvent::Dhcp { msg_type: 5, .. })
        ));
    }

    #[test]
    fn bootp_and_broken_options_are_refused() {
        let mac = [1, 2, 3, 4, 5, 6];
        assert_eq!(
            parse(&message(1, [0; 4], mac, &[])),
            None,
            "no message type: BOOTP"
        );
        let mut m = message(1, [0; 4], mac, &[(53, &[1])]);
        m.truncate(m.len() - 2);
        m.push(12);
        m.push(200);
        assert_eq!(parse(&m), None, "an option past the end");
        assert_eq!(parse(&[1; 100]), None);
    }

    /// A DHCPv6 message of `t` with its options.
    fn message6(t: u8, options: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![t, 0x12, 0x34, 0x56];
        for (c, v) in options {
            b.extend(c.to_be_bytes());
            b.extend((v.len() as u16).to_be_bytes());
            b.extend(v);
        }
        b
    }

    #[test]
    fn dhcpv6_solicit_and_reply() {
        // DUID-LLT: type 1, Ethernet, time, the address.
        let duid = [
            &[0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d][..],
            &[0x00, 0x0c, 0x29, 0x42, 0x3c, 0xfa],
        ]
        .concat();
        let fqdn = [&[0u8][..], b"\x04WS01\x04corp\x05local\x00"].concat();
        let vendor = [&311u32.to_be_bytes()[..], &[0, 8], b"MSFT 5.0"].concat();
        let addr: Ipv6Addr = "2001:db8::17".parse().unwrap();
        let iaaddr = [
            &5u16.to_be_bytes()[..],
            &24u16.to_be_bytes(),
            &addr.octets(),
            &[0; 8],
        ]
        .concat();
        let ia = [&[0u8; 12][..], &iaaddr].concat();
        let s = parse6(&message6(
            1,
            &[(1, duid.clone()), (39, fqdn), (16, vendor), (3, ia.clone())],
        ))
        .unwrap();
        assert_eq!(s.msg_type, 1);
        assert_eq!(s.client_mac.as_deref(), Some("00:0c:29:42:3c:fa"));
        assert_eq!(s.hostname.as_deref(), Some("WS01.corp.local"));
        assert_eq!(s.vendor_class.as_deref(), Some("MSFT 5.0"));
        assert_eq!(s.requested, Some(IpAddr::V6(addr)));
        let r = parse6(&message6(7, &[(1, duid), (3, ia)])).unwrap();
        assert_eq!(
            (r.msg_type, r.offered, r.requested),
            (7, Some(IpAddr::V6(addr)), None)
        );
        assert_eq!(parse6(&[0, 1, 2, 3]), None);
        assert_eq!(
            parse6(
                &message6(1, &[(1, vec![0, 1])])
                    .into_iter()
                    .chain([0, 3, 0, 9])
                    .collect::<Vec<_>>()
            ),
            None,
            "an option past the end"
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_dhcpv6_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse6(&b);
        }

        #[test]
        fn arbitrary_options_never_panic(opts in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut m = message(1, [0; 4], [0; 6], &[]);
            m.pop();
            m.extend(&opts);
            let _ = parse(&m);
        }
    }
}
