//! DHCP (RFC 2131, options of RFC 2132) over UDP 67 and 68: the message
//! type, the client's hardware address, host name and vendor class, the
//! address it asks for, the address offered or acknowledged, and the
//! server's identifier.

use std::net::Ipv4Addr;

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
    /// Address the client asks for (option 50).
    pub requested: Option<Ipv4Addr>,
    /// Address the server offers or acknowledges (`yiaddr`).
    pub offered: Option<Ipv4Addr>,
    /// Server identifier (option 54).
    pub server_id: Option<Ipv4Addr>,
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
            50 => m.requested = ip(v),
            54 => m.server_id = ip(v),
            _ => {}
        }
        at += 2 + len;
    }
    if m.msg_type == 0 {
        return None;
    }
    if matches!(m.msg_type, 2 | 5) {
        m.offered = yiaddr;
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
    pub requested: Option<Ipv4Addr>,
    /// Last address offered or acknowledged.
    pub offered: Option<Ipv4Addr>,
    /// Last server identifier.
    pub server_id: Option<Ipv4Addr>,
    /// Messages.
    pub messages: u32,
}

impl DhcpMeta {
    /// Adds one message and raises its event.
    pub fn add(&mut self, m: &Message, ev: &mut Events) {
        self.msg_types |= 1 << m.msg_type.min(31);
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
        assert_eq!(d.requested, Some(Ipv4Addr::new(10, 0, 0, 7)));
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
                Some(Ipv4Addr::new(10, 0, 0, 7)),
                Some(Ipv4Addr::new(10, 0, 0, 1))
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

    proptest::proptest! {
        #[test]
        fn arbitrary_options_never_panic(opts in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut m = message(1, [0; 4], [0; 6], &[]);
            m.pop();
            m.extend(&opts);
            let _ = parse(&m);
        }
    }
}
