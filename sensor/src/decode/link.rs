//! Link layers and the shims between them and IP: Ethernet II, 802.1Q/802.1ad
//! tags, MPLS label stacks (with or without a pseudowire control word),
//! PPPoE sessions, Linux cooked captures v1 and v2, BSD loopback, raw IP.

use super::{Ctx, Reason};
use crate::capture::linktype as lt;

/// Why peeling stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A frame that carries no IP (ARP, LLC, ...).
    NotIp,
    /// A header was cut short or invalid.
    Error(Reason),
}

fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Returns the bytes starting at the (outermost) IP header.
pub(crate) fn ip_start<'a>(ctx: &mut Ctx, linktype: u16, b: &'a [u8]) -> Result<&'a [u8], Stop> {
    match linktype {
        lt::ETHERNET => ethernet(ctx, b),
        lt::LINUX_SLL => {
            if b.len() < 16 {
                return Err(Stop::Error(Reason::TruncatedLink));
            }
            ethertype(ctx, be16(b, 14), &b[16..])
        }
        lt::LINUX_SLL2 => {
            if b.len() < 20 {
                return Err(Stop::Error(Reason::TruncatedLink));
            }
            ethertype(ctx, be16(b, 0), &b[20..])
        }
        lt::NULL | lt::LOOP => {
            if b.len() < 4 {
                return Err(Stop::Error(Reason::TruncatedLink));
            }
            // The family is in host order for NULL, network order for LOOP;
            // accept either: AF_INET is 2 everywhere, AF_INET6 is 10, 24, 28 or 30.
            let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let fam = if le < 256 { le } else { be };
            match fam {
                2 | 10 | 24 | 28 | 30 => raw_ip(&b[4..]),
                _ => Err(Stop::NotIp),
            }
        }
        lt::RAW | lt::RAW_12 | lt::RAW_14 | lt::IPV4 | lt::IPV6 => raw_ip(b),
        _ => Err(Stop::Error(Reason::UnsupportedLinkType)),
    }
}

fn raw_ip(b: &[u8]) -> Result<&[u8], Stop> {
    match b.first().map(|x| x >> 4) {
        Some(4) | Some(6) => Ok(b),
        Some(_) => Err(Stop::NotIp),
        None => Err(Stop::Error(Reason::TruncatedLink)),
    }
}

/// An Ethernet II frame (without FCS).
pub(crate) fn ethernet<'a>(ctx: &mut Ctx, b: &'a [u8]) -> Result<&'a [u8], Stop> {
    if b.len() < 14 {
        return Err(Stop::Error(Reason::TruncatedLink));
    }
    let et = be16(b, 12);
    if et < 0x0600 {
        return Err(Stop::NotIp); // 802.3 length field: LLC/SNAP
    }
    ethertype(ctx, et, &b[14..])
}

/// Follows an EtherType through VLAN tags, MPLS and PPPoE to IP.
pub(crate) fn ethertype<'a>(ctx: &mut Ctx, mut et: u16, mut b: &'a [u8]) -> Result<&'a [u8], Stop> {
    // Every step consumes at least four bytes, so this ends.
    loop {
        match et {
            0x0800 | 0x86DD => return Ok(b),
            0x8100 | 0x88A8 | 0x9100 => {
                if b.len() < 4 {
                    return Err(Stop::Error(Reason::TruncatedShim));
                }
                ctx.push_vlan(be16(b, 0) & 0x0fff);
                et = be16(b, 2);
                b = &b[4..];
            }
            0x8847 | 0x8848 => {
                loop {
                    if b.len() < 4 {
                        return Err(Stop::Error(Reason::TruncatedShim));
                    }
                    let bottom = b[2] & 1 == 1;
                    b = &b[4..];
                    if bottom {
                        break;
                    }
                }
                match b.first().map(|x| x >> 4) {
                    Some(4) | Some(6) => return Ok(b),
                    Some(0) => {
                        // Pseudowire control word, then an Ethernet frame.
                        if b.len() < 4 {
                            return Err(Stop::Error(Reason::TruncatedShim));
                        }
                        return ethernet(ctx, &b[4..]);
                    }
                    Some(_) => return Err(Stop::NotIp),
                    None => return Err(Stop::Error(Reason::TruncatedShim)),
                }
            }
            0x8864 => {
                if b.len() < 8 {
                    return Err(Stop::Error(Reason::TruncatedShim));
                }
                let ppp = be16(b, 6);
                b = &b[8..];
                et = match ppp {
                    0x0021 => 0x0800,
                    0x0057 => 0x86DD,
                    _ => return Err(Stop::NotIp),
                };
            }
            _ => return Err(Stop::NotIp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(et: u16, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend(et.to_be_bytes());
        v.extend_from_slice(rest);
        v
    }

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn qinq_records_both_tags() {
        let mut rest = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00];
        rest.extend(IP);
        let f = eth(0x88A8, &rest);
        let mut ctx = Ctx::default();
        let ip = ip_start(&mut ctx, lt::ETHERNET, &f).unwrap();
        assert_eq!(ip, &IP);
        assert_eq!((ctx.vlan, ctx.inner_vlan), (Some(100), Some(200)));
    }

    #[test]
    fn mpls_stack_then_ip() {
        let mut rest = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
        rest.extend(IP);
        let f = eth(0x8847, &rest);
        assert_eq!(
            ip_start(&mut Ctx::default(), lt::ETHERNET, &f).unwrap(),
            &IP
        );
    }

    #[test]
    fn cooked_captures() {
        let mut sll = vec![0u8; 14];
        sll.extend(0x0800u16.to_be_bytes());
        sll.extend(IP);
        assert_eq!(
            ip_start(&mut Ctx::default(), lt::LINUX_SLL, &sll).unwrap(),
            &IP
        );
        let mut sll2 = 0x86DDu16.to_be_bytes().to_vec();
        sll2.extend([0u8; 18]);
        sll2.extend([0x60, 0, 0, 0]);
        assert_eq!(
            ip_start(&mut Ctx::default(), lt::LINUX_SLL2, &sll2).unwrap()[0],
            0x60
        );
    }

    #[test]
    fn short_and_foreign_frames() {
        assert_eq!(
            ip_start(&mut Ctx::default(), lt::ETHERNET, &[0; 10]),
            Err(Stop::Error(Reason::TruncatedLink))
        );
        assert_eq!(
            ip_start(&mut Ctx::default(), lt::ETHERNET, &eth(0x0806, &[0; 28])),
            Err(Stop::NotIp)
        );
        assert_eq!(
            ip_start(&mut Ctx::default(), lt::ETHERNET, &eth(0x8100, &[0, 1])),
            Err(Stop::Error(Reason::TruncatedShim))
        );
        assert_eq!(
            ip_start(&mut Ctx::default(), 147, &[0; 40]),
            Err(Stop::Error(Reason::UnsupportedLinkType))
        );
    }
}
