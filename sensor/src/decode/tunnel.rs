//! Tunnel headers: GRE (with checksum, key and sequence fields), ERSPAN type
//! II and III, VXLAN and Geneve. Each function returns what the tunnel
//! carries, or `None` when the header is not what it claims.

use super::TunnelKind;

/// What a tunnel carries.
pub(crate) enum Inner<'a> {
    /// A payload of this EtherType (IPv4, IPv6, MPLS...).
    EtherType(u16, &'a [u8]),
    /// A whole Ethernet frame.
    Ethernet(&'a [u8]),
}

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

fn be24(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([0, b[o], b[o + 1], b[o + 2]])
}

/// UDP port of VXLAN.
pub(crate) const VXLAN_PORT: u16 = 4789;
/// UDP port of VXLAN-GPE (RFC 9616 draft lineage): VXLAN with a next-protocol field.
pub(crate) const VXLAN_GPE_PORT: u16 = 4790;
/// UDP port of Geneve.
pub(crate) const GENEVE_PORT: u16 = 6081;

/// GRE version 0 (and the ERSPAN it may carry).
pub(crate) fn gre(b: &[u8]) -> Option<(TunnelKind, Option<u32>, Inner<'_>)> {
    if b.len() < 4 {
        return None;
    }
    let flags = be16(b, 0);
    if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
        return None; // version 1 (PPTP) or source routing
    }
    let proto = be16(b, 2);
    let mut off = 4;
    if flags & 0x8000 != 0 {
        off += 4;
    }
    let mut key = None;
    if flags & 0x2000 != 0 {
        if b.len() < off + 4 {
            return None;
        }
        key = Some(u32::from_be_bytes([
            b[off],
            b[off + 1],
            b[off + 2],
            b[off + 3],
        ]));
        off += 4;
    }
    if flags & 0x1000 != 0 {
        off += 4;
    }
    let rest = b.get(off..)?;
    match proto {
        0x6558 => Some((TunnelKind::Gre, key, Inner::Ethernet(rest))),
        0x88BE => {
            // ERSPAN type II: 8-byte header, version 1.
            if rest.len() < 8 || rest[0] >> 4 != 1 {
                return None;
            }
            let session = u32::from(be16(rest, 2) & 0x03ff);
            Some((
                TunnelKind::Erspan,
                Some(session),
                Inner::Ethernet(&rest[8..]),
            ))
        }
        0x22EB => {
            // ERSPAN type III: 12-byte header, version 2, optional 8-byte subheader.
            if rest.len() < 12 || rest[0] >> 4 != 2 {
                return None;
            }
            let session = u32::from(be16(rest, 2) & 0x03ff);
            let hdr = if rest[11] & 0x01 != 0 { 20 } else { 12 };
            Some((
                TunnelKind::Erspan,
                Some(session),
                Inner::Ethernet(rest.get(hdr..)?),
            ))
        }
        _ => Some((TunnelKind::Gre, key, Inner::EtherType(proto, rest))),
    }
}

/// VXLAN: 8-byte header with the I flag, then an Ethernet frame; with the P
/// flag (VXLAN-GPE) the fourth byte names the payload (1 IPv4, 2 IPv6,
/// 3 Ethernet, 5 MPLS).
pub(crate) fn vxlan(b: &[u8]) -> Option<(u32, Inner<'_>)> {
    if b.len() < 8 || b[0] & 0x08 == 0 {
        return None;
    }
    let vni = be24(b, 4);
    let rest = &b[8..];
    if b[0] & 0x04 == 0 {
        return Some((vni, Inner::Ethernet(rest)));
    }
    Some(match b[3] {
        1 => (vni, Inner::EtherType(0x0800, rest)),
        2 => (vni, Inner::EtherType(0x86DD, rest)),
        3 => (vni, Inner::Ethernet(rest)),
        5 => (vni, Inner::EtherType(0x8847, rest)),
        _ => return None,
    })
}

/// Geneve version 0: 8-byte header, options, then the payload of its protocol type.
pub(crate) fn geneve(b: &[u8]) -> Option<(u32, Inner<'_>)> {
    if b.len() < 8 || b[0] >> 6 != 0 {
        return None;
    }
    let opt = usize::from(b[0] & 0x3f) * 4;
    let proto = be16(b, 2);
    let vni = be24(b, 4);
    let rest = b.get(8 + opt..)?;
    Some(match proto {
        0x6558 => (vni, Inner::Ethernet(rest)),
        p => (vni, Inner::EtherType(p, rest)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_with_key_and_sequence() {
        let mut b = vec![0x30, 0x00, 0x08, 0x00, 0, 0, 0, 42, 0, 0, 0, 7];
        b.extend([0x45, 0]);
        let (kind, key, inner) = gre(&b).unwrap();
        assert_eq!(kind, TunnelKind::Gre);
        assert_eq!(key, Some(42));
        assert!(matches!(inner, Inner::EtherType(0x0800, [0x45, 0])));
    }

    #[test]
    fn erspan_two_and_three() {
        let mut b = vec![0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1];
        b.extend([0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0]);
        b.extend([0xAA; 14]);
        let (kind, id, inner) = gre(&b).unwrap();
        assert_eq!((kind, id), (TunnelKind::Erspan, Some(5)));
        assert!(matches!(inner, Inner::Ethernet(e) if e.len() == 14));
        let mut c = vec![0x00, 0x00, 0x22, 0xEB];
        c.extend([0x20, 0x00, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x01]);
        c.extend([0u8; 8]);
        c.extend([0xBB; 14]);
        let (_, id, inner) = gre(&c).unwrap();
        assert_eq!(id, Some(9));
        assert!(matches!(inner, Inner::Ethernet(e) if e[0] == 0xBB));
    }

    #[test]
    fn vxlan_and_geneve_headers() {
        let v = [0x08, 0, 0, 0, 0x00, 0x10, 0x01, 0x00, 0xCC];
        let (vni, _) = vxlan(&v).unwrap();
        assert_eq!(vni, 0x1001);
        assert!(vxlan(&[0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        let g = [
            0x01, 0x00, 0x65, 0x58, 0x00, 0x00, 0x2a, 0x00, 1, 2, 3, 4, 0xDD,
        ];
        let (vni, inner) = geneve(&g).unwrap();
        assert_eq!(vni, 42);
        assert!(matches!(inner, Inner::Ethernet([0xDD])));
        assert!(geneve(&[0x3f, 0, 0x65, 0x58, 0, 0, 0, 0]).is_none());
    }
}
