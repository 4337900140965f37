//! The few fields of an X.509 certificate (RFC 5280) a flow record keeps:
//! subject, issuer, validity and the SHA-256 of the DER bytes. A small DER
//! walker: definite lengths only, every length checked against its parent.

use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

use crate::reader::Reader;
use crate::text::hex;

/// Longest subject or issuer text kept.
pub const MAX_NAME: usize = 512;

/// Fields of a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject, RFC 4514 style (last RDN first: `CN=...,O=...,C=...`), with
    /// OpenSSL's short names for attributes RFC 4514 does not name.
    pub subject: String,
    /// Issuer, RFC 4514 style.
    pub issuer: String,
    /// notBefore, µs since the epoch (UTC).
    pub not_before_us: Option<i64>,
    /// notAfter, µs since the epoch (UTC).
    pub not_after_us: Option<i64>,
    /// SHA-256 of the DER bytes, lower-case hex.
    pub sha256: String,
    /// The subject or issuer was cut to [`MAX_NAME`].
    pub truncated: bool,
}

/// One DER element: tag and contents.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

fn tlv<'a>(r: &mut Reader<'a>) -> Option<Tlv<'a>> {
    let tag = r.u8()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in the fields read here
    }
    let first = r.u8()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(r.u8()?);
        }
        len
    };
    Some(Tlv {
        tag,
        body: r.take(len)?,
    })
}

fn expect<'a>(r: &mut Reader<'a>, tag: u8) -> Option<&'a [u8]> {
    let t = tlv(r)?;
    (t.tag == tag).then_some(t.body)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// Parses the certificate `der`.
pub fn parse(der: &[u8]) -> Option<CertInfo> {
    let mut outer = Reader::new(der);
    let cert = expect(&mut outer, SEQUENCE)?;
    let mut c = Reader::new(cert);
    let tbs = expect(&mut c, SEQUENCE)?;
    let mut t = Reader::new(tbs);
    let mut first = tlv(&mut t)?;
    if first.tag == 0xa0 {
        first = tlv(&mut t)?; // version, then the serial number
    }
    if first.tag != 0x02 {
        return None;
    }
    expect(&mut t, SEQUENCE)?; // signature algorithm
    let issuer = expect(&mut t, SEQUENCE)?;
    let validity = expect(&mut t, SEQUENCE)?;
    let subject = expect(&mut t, SEQUENCE)?;
    let mut v = Reader::new(validity);
    let not_before_us = tlv(&mut v).and_then(time_us);
    let not_after_us = tlv(&mut v).and_then(time_us);
    let mut info = CertInfo {
        not_before_us,
        not_after_us,
        sha256: hex(&Sha256::digest(der)),
        ..CertInfo::default()
    };
    info.truncated |= name(subject, &mut info.subject)?;
    info.truncated |= name(issuer, &mut info.issuer)?;
    Some(info)
}

/// Writes a Name as RFC 4514 text; returns whether it was cut.
fn name(body: &[u8], out: &mut String) -> Option<bool> {
    let mut rdns: Vec<&[u8]> = Vec::new();
    let mut r = Reader::new(body);
    while !r.is_empty() {
        rdns.push(expect(&mut r, SET)?);
        if rdns.len() > 64 {
            return None;
        }
    }
    let mut cut = false;
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let mut set = Reader::new(rdn);
        let mut k = 0;
        while !set.is_empty() {
            let atv = expect(&mut set, SEQUENCE)?;
            let mut a = Reader::new(atv);
            let oid = expect(&mut a, 0x06)?;
            let value = tlv(&mut a)?;
            if k > 0 {
                out.push('+');
            }
            k += 1;
            attribute(oid, out);
            out.push('=');
            push_value(value, out);
        }
        if out.len() > MAX_NAME {
            cut = true;
            break;
        }
    }
    if out.len() > MAX_NAME {
        let mut end = MAX_NAME;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        cut = true;
    }
    Some(cut)
}

/// Attribute names: RFC 4514's, and OpenSSL's short names for the others
/// common in server certificates (extended-validation ones especially);
/// any other attribute is written as its dotted OID.
fn attribute(oid: &[u8], out: &mut String) {
    const MS_EV: [u8; 9] = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02];
    const PKCS9: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09];
    const PILOT: [u8; 9] = [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01];
    let short = match oid {
        [0x55, 0x04, x] => match x {
            3 => "CN",
            4 => "SN",
            5 => "serialNumber",
            6 => "C",
            7 => "L",
            8 => "ST",
            9 => "street",
            10 => "O",
            11 => "OU",
            12 => "title",
            13 => "description",
            15 => "businessCategory",
            17 => "postalCode",
            41 => "name",
            42 => "GN",
            43 => "initials",
            44 => "generationQualifier",
            46 => "dnQualifier",
            65 => "pseudonym",
            97 => "organizationIdentifier",
            _ => "",
        },
        [p @ .., 0x01, x] if p == MS_EV => match x {
            1 => "jurisdictionL",
            2 => "jurisdictionST",
            3 => "jurisdictionC",
            _ => "",
        },
        [p @ .., 0x01] if p == PKCS9 => "emailAddress",
        [p @ .., 0x19] if p == PILOT => "DC",
        [p @ .., 0x01] if p == PILOT => "UID",
        _ => "",
    };
    if short.is_empty() {
        dotted_oid(oid, out);
    } else {
        out.push_str(short);
    }
}

/// Writes an OID in dotted-decimal form.
pub fn dotted_oid(oid: &[u8], out: &mut String) {
    let mut arc: u64 = 0;
    let mut first = true;
    for &b in oid {
        if arc > u64::MAX >> 7 {
            out.push('?');
            return;
        }
        arc = (arc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if first {
                let (x, y) = if arc < 80 {
                    (arc / 40, arc % 40)
                } else {
                    (2, arc - 80)
                };
                let _ = write!(out, "{x}.{y}");
                first = false;
            } else {
                let _ = write!(out, ".{arc}");
            }
            arc = 0;
        }
    }
}

/// Calls `f` with each character of a string value, by its ASN.1 type;
/// false for types that are not strings.
fn each_char(v: Tlv<'_>, f: &mut dyn FnMut(char)) -> bool {
    const R: char = char::REPLACEMENT_CHARACTER;
    match v.tag {
        // UTF8String, PrintableString, IA5String, NumericString, VisibleString
        0x0c | 0x13 | 0x16 | 0x12 | 0x1a => {
            for chunk in v.body.utf8_chunks() {
                chunk.valid().chars().for_each(&mut *f);
                chunk.invalid().iter().for_each(|_| f(R));
            }
        }
        // T61String, read as Latin-1
        0x14 => v.body.iter().for_each(|&b| f(char::from(b))),
        // BMPString (UTF-16BE)
        0x1e => char::decode_utf16(
            v.body
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .for_each(|c| f(c.unwrap_or(R))),
        // UniversalString (UTF-32BE)
        0x1c => v.body.chunks_exact(4).for_each(|c| {
            f(char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).unwrap_or(R))
        }),
        _ => return false,
    }
    true
}

fn push_value(v: Tlv<'_>, out: &mut String) {
    let start = out.len();
    let mut count = 0usize;
    if !each_char(v, &mut |_| count += 1) {
        out.push('#');
        let _ = write!(out, "{:02x}", v.tag);
        let _ = write!(out, "{:02x}", v.body.len().min(0x7f));
        out.push_str(&hex(&v.body[..v.body.len().min(MAX_NAME / 2)]));
        return;
    }
    let mut i = 0usize;
    each_char(v, &mut |c| {
        let first = i == 0;
        i += 1;
        if out.len() - start > MAX_NAME {
            return;
        }
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if first => out.push_str("\\#"),
            ' ' if first || i == count => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{b:02x}");
                }
            }
            c => out.push(c),
        }
    });
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |a, &d| a * 10 + i64::from(d - b'0')))
}

/// UTCTime or GeneralizedTime (with `Z`) as µs since the epoch.
fn time_us(t: Tlv<'_>) -> Option<i64> {
    let b = t.body;
    let (year, rest) = match t.tag {
        0x17 => {
            let yy = digits(b.get(..2)?)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, b.get(2..)?)
        }
        0x18 => (digits(b.get(..4)?)?, b.get(4..)?),
        _ => return None,
    };
    let rest = rest.strip_suffix(b"Z")?;
    let month = digits(rest.get(..2)?)?;
    let day = digits(rest.get(2..4)?)?;
    let hour = digits(rest.get(4..6)?)?;
    let min = digits(rest.get(6..8)?)?;
    let sec = match rest.get(8..10) {
        Some(s) => digits(s)?,
        None => 0,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec;
    secs.checked_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_by_hand() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 30), 20_787);
    }

    #[test]
    fn times_of_both_kinds() {
        let utc = Tlv {
            tag: 0x17,
            body: b"260101000000Z",
        };
        // 2026-01-01T00:00:00Z = 1767225600 s
        assert_eq!(time_us(utc), Some(1_767_225_600_000_000));
        let gen = Tlv {
            tag: 0x18,
            body: b"20500101000001Z",
        };
        assert_eq!(time_us(gen), Some(2_524_608_001_000_000));
        let old = Tlv {
            tag: 0x17,
            body: b"991231235959Z",
        };
        assert_eq!(time_us(old), Some(946_684_799_000_000));
        assert_eq!(
            time_us(Tlv {
                tag: 0x17,
                body: b"2613"
            }),
            None
        );
    }

    #[test]
    fn oids_in_dotted_form() {
        let mut s = String::new();
        dotted_oid(
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            &mut s,
        );
        assert_eq!(s, "1.2.840.113549.1.9.1");
    }

    #[test]
    fn special_characters_are_escaped() {
        let mut s = String::new();
        push_value(
            Tlv {
                tag: 0x0c,
                body: b" a,b+c\\ ",
            },
            &mut s,
        );
        assert_eq!(s, "\\ a\\,b\\+c\\\\\\ ");
    }
}
