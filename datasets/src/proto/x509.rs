//! A minimal DER encoder and X.509 v3 certificates with the fields analysts
//! read: subject, issuer, validity, subject alternative names. Keys and
//! signatures are random bytes of the right shape; the structure is valid DER.

use crate::rng::Rng;

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.push(0x82);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
}

/// Encodes one TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    der_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// SEQUENCE of already-encoded elements.
pub fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

fn set(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x31, &items.concat())
}

/// OBJECT IDENTIFIER from its dotted arcs.
pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut c = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut tmp = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        c.extend(tmp);
    }
    tlv(0x06, &c)
}

/// INTEGER from big-endian magnitude bytes (made positive and minimal).
pub fn integer(mag: &[u8]) -> Vec<u8> {
    let mut m: &[u8] = mag;
    while m.len() > 1 && m[0] == 0 && m[1] & 0x80 == 0 {
        m = &m[1..];
    }
    let mut c = Vec::with_capacity(m.len() + 1);
    if m.first().is_some_and(|b| b & 0x80 != 0) {
        c.push(0);
    }
    c.extend_from_slice(m);
    if c.is_empty() {
        c.push(0);
    }
    tlv(0x02, &c)
}

fn name(cn: &str, org: &str, country: &str) -> Vec<u8> {
    let attr = |arcs: &[u64], tag: u8, v: &str| set(&[seq(&[oid(arcs), tlv(tag, v.as_bytes())])]);
    seq(&[
        attr(&[2, 5, 4, 6], 0x13, country),
        attr(&[2, 5, 4, 10], 0x0c, org),
        attr(&[2, 5, 4, 3], 0x0c, cn),
    ])
}

/// UTCTime for a Unix time in seconds (valid for 1950–2049).
fn utc_time(unix: i64) -> Vec<u8> {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let s = format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        y % 100,
        m,
        d,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    tlv(0x17, s.as_bytes())
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parameters of a generated certificate.
#[derive(Clone, Debug)]
pub struct CertSpec<'a> {
    /// Subject common name (also the first SAN).
    pub subject_cn: &'a str,
    /// Subject organisation.
    pub subject_org: &'a str,
    /// Issuer common name.
    pub issuer_cn: &'a str,
    /// Issuer organisation.
    pub issuer_org: &'a str,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

/// DER bytes of an X.509 v3 certificate (RSA-2048 key, SHA-256 with RSA).
pub fn certificate(spec: &CertSpec<'_>, rng: &mut Rng) -> Vec<u8> {
    let sha256_rsa = seq(&[oid(&[1, 2, 840, 113_549, 1, 1, 11]), tlv(0x05, &[])]);
    let mut serial = rng.bytes(16);
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let mut modulus = rng.bytes(256);
    modulus[0] |= 0x80;
    let rsa_key = seq(&[integer(&modulus), integer(&[0x01, 0x00, 0x01])]);
    let mut bits = vec![0u8];
    bits.extend(rsa_key);
    let spki = seq(&[
        seq(&[oid(&[1, 2, 840, 113_549, 1, 1, 1]), tlv(0x05, &[])]),
        tlv(0x03, &bits),
    ]);
    // subjectAltName: dNSName entries.
    let san_names = seq(&[tlv(0x82, spec.subject_cn.as_bytes())]);
    let san = seq(&[oid(&[2, 5, 29, 17]), tlv(0x04, &san_names)]);
    // basicConstraints CA:FALSE (empty sequence), critical.
    let bc = seq(&[
        oid(&[2, 5, 29, 19]),
        tlv(0x01, &[0xff]),
        tlv(0x04, &seq(&[])),
    ]);
    let exts = tlv(0xa3, &seq(&[san, bc]));
    let tbs = seq(&[
        tlv(0xa0, &integer(&[2])),
        integer(&serial),
        sha256_rsa.clone(),
        name(spec.issuer_cn, spec.issuer_org, "US"),
        seq(&[utc_time(spec.not_before), utc_time(spec.not_after)]),
        name(spec.subject_cn, spec.subject_org, "VN"),
        spki,
        exts,
    ]);
    let mut sig = vec![0u8];
    sig.extend(rng.bytes(256));
    seq(&[tbs, sha256_rsa, tlv(0x03, &sig)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_encoding_matches_known_bytes() {
        // 1.2.840.113549.1.1.11 = 06 09 2A 86 48 86 F7 0D 01 01 0B
        assert_eq!(
            oid(&[1, 2, 840, 113_549, 1, 1, 11]),
            vec![0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]
        );
    }

    #[test]
    fn integers_are_positive_and_minimal() {
        assert_eq!(integer(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(integer(&[0, 0, 5]), vec![2, 1, 5]);
    }

    #[test]
    fn utc_time_of_known_date() {
        // 2026-03-02T01:00:00Z = 1772413200
        assert_eq!(utc_time(1_772_413_200), tlv(0x17, b"260302010000Z"));
    }

    #[test]
    fn certificate_is_one_outer_sequence() {
        let c = certificate(
            &CertSpec {
                subject_cn: "www.example.vn",
                subject_org: "Example",
                issuer_cn: "R11",
                issuer_org: "Let's Encrypt",
                not_before: 1_770_000_000,
                not_after: 1_780_000_000,
            },
            &mut Rng::new(1, 1),
        );
        assert_eq!(c[0], 0x30);
        assert_eq!(c[1], 0x82);
        assert_eq!(u16::from_be_bytes([c[2], c[3]]) as usize + 4, c.len());
    }
}
