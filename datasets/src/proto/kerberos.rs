//! Kerberos 5 (RFC 4120) messages in DER: AS-REQ with or without
//! pre-authentication, TGS-REQ carrying its TGT, the KDC's AS-REP, TGS-REP
//! and KRB-ERROR. Encrypted parts are random bytes of the right shape.

use crate::proto::x509::{seq, tlv};
use crate::rng::Rng;

/// AES256-CTS-HMAC-SHA1-96.
pub const AES256: i64 = 18;
/// AES128-CTS-HMAC-SHA1-96.
pub const AES128: i64 = 17;
/// RC4-HMAC: the ticket encryption Kerberoasting asks for.
pub const RC4: i64 = 23;

/// DER INTEGER.
pub fn int(v: i64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut i = 0;
    while i < 7 && ((b[i] == 0 && b[i + 1] & 0x80 == 0) || (b[i] == 0xff && b[i + 1] & 0x80 != 0)) {
        i += 1;
    }
    tlv(0x02, &b[i..])
}

fn ctx(n: u8, v: &[u8]) -> Vec<u8> {
    tlv(0xa0 + n, v)
}

fn gstr(s: &str) -> Vec<u8> {
    tlv(0x1b, s.as_bytes())
}

fn time(s: &str) -> Vec<u8> {
    tlv(0x18, s.as_bytes())
}

/// PrincipalName of `kind` (1 principal, 2 service) from `/`-joined parts.
fn principal(kind: i64, name: &str) -> Vec<u8> {
    let parts: Vec<Vec<u8>> = name.split('/').map(gstr).collect();
    seq(&[ctx(0, &int(kind)), ctx(1, &seq(&parts))])
}

fn encrypted(etype: i64, len: usize, rng: &mut Rng) -> Vec<u8> {
    seq(&[
        ctx(0, &int(etype)),
        ctx(1, &int(2)),
        ctx(2, &tlv(0x04, &rng.bytes(len))),
    ])
}

fn ticket(realm: &str, sname: &str, etype: i64, rng: &mut Rng) -> Vec<u8> {
    tlv(
        0x61,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &gstr(realm)),
            ctx(2, &principal(2, sname)),
            ctx(3, &encrypted(etype, 900, rng)),
        ]),
    )
}

fn req_body(
    cname: Option<&str>,
    realm: &str,
    sname: &str,
    etypes: &[i64],
    rng: &mut Rng,
) -> Vec<u8> {
    let mut items = vec![ctx(0, &tlv(0x03, &[0, 0x40, 0x81, 0x00, 0x10]))];
    if let Some(c) = cname {
        items.push(ctx(1, &principal(1, c)));
    }
    items.push(ctx(2, &gstr(realm)));
    items.push(ctx(3, &principal(2, sname)));
    items.push(ctx(5, &time("20370913024805Z")));
    items.push(ctx(7, &int(i64::from(rng.next_u32() >> 1))));
    let et: Vec<Vec<u8>> = etypes.iter().map(|&e| int(e)).collect();
    items.push(ctx(8, &seq(&et)));
    seq(&items)
}

/// An AS-REQ of `user@realm` for `krbtgt/REALM`; with `preauth`, an
/// encrypted timestamp (PA-ENC-TIMESTAMP) in AES256.
pub fn as_req(user: &str, realm: &str, preauth: bool, etypes: &[i64], rng: &mut Rng) -> Vec<u8> {
    let mut items = vec![ctx(1, &int(5)), ctx(2, &int(10))];
    if preauth {
        let pa = seq(&[
            ctx(1, &int(2)),
            ctx(2, &tlv(0x04, &encrypted(AES256, 56, rng))),
        ]);
        items.push(ctx(3, &seq(&[pa])));
    }
    items.push(ctx(
        4,
        &req_body(Some(user), realm, &format!("krbtgt/{realm}"), etypes, rng),
    ));
    tlv(0x6a, &seq(&items))
}

/// A TGS-REQ for `spn` carrying the TGT of `realm`.
pub fn tgs_req(realm: &str, spn: &str, etypes: &[i64], rng: &mut Rng) -> Vec<u8> {
    let ap = tlv(
        0x6e,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(14)),
            ctx(2, &tlv(0x03, &[0, 0, 0, 0, 0])),
            ctx(3, &ticket(realm, &format!("krbtgt/{realm}"), AES256, rng)),
            ctx(4, &encrypted(AES256, 150, rng)),
        ]),
    );
    let pa = seq(&[ctx(1, &int(1)), ctx(2, &tlv(0x04, &ap))]);
    tlv(
        0x6c,
        &seq(&[
            ctx(1, &int(5)),
            ctx(2, &int(12)),
            ctx(3, &seq(&[pa])),
            ctx(4, &req_body(None, realm, spn, etypes, rng)),
        ]),
    )
}

/// The KDC's reply (AS-REP when `as_rep`, else TGS-REP) with a ticket for
/// `sname` encrypted in `etype`.
pub fn rep(
    as_rep: bool,
    user: &str,
    realm: &str,
    sname: &str,
    etype: i64,
    rng: &mut Rng,
) -> Vec<u8> {
    tlv(
        if as_rep { 0x6b } else { 0x6d },
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(if as_rep { 11 } else { 13 })),
            ctx(3, &gstr(realm)),
            ctx(4, &principal(1, user)),
            ctx(5, &ticket(realm, sname, etype, rng)),
            ctx(6, &encrypted(etype, 300, rng)),
        ]),
    )
}

/// A KRB-ERROR with `code` (6 unknown principal, 24 pre-authentication
/// failed, 25 pre-authentication required) about `user`.
pub fn error(code: i64, user: &str, realm: &str) -> Vec<u8> {
    tlv(
        0x7e,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(30)),
            ctx(4, &time("20261201083000Z")),
            ctx(5, &int(123_456)),
            ctx(6, &int(code)),
            ctx(7, &gstr(realm)),
            ctx(8, &principal(1, user)),
            ctx(9, &gstr(realm)),
            ctx(10, &principal(2, &format!("krbtgt/{realm}"))),
        ]),
    )
}

/// A message framed for TCP 88 (a 4-byte length first).
pub fn tcp_record(m: &[u8]) -> Vec<u8> {
    let mut v = (m.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(m);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal() {
        assert_eq!(int(5), vec![2, 1, 5]);
        assert_eq!(int(128), vec![2, 2, 0, 128]);
        assert_eq!(int(-1), vec![2, 1, 0xff]);
        let mut rng = Rng::new(1, 1);
        let m = as_req("alice", "CORP.LOCAL", true, &[AES256, RC4], &mut rng);
        assert_eq!(m[0], 0x6a);
    }
}
