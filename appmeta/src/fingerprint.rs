//! TLS client and server fingerprints: JA4 (FoxIO's specification, the
//! BSD-licensed JA4 part), JA3 and JA3S.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::text::hex;
use crate::tls::{ext, is_grease, ClientHello, ServerHello};

/// The two-character JA4 code of a TLS version.
fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// An ALPN character for JA4: ASCII as is, anything else `9`.
fn alpn_char(b: u8) -> char {
    if b.is_ascii() {
        char::from(b)
    } else {
        '9'
    }
}

/// First 12 hex digits of the SHA-256 of `s`; twelve zeros for an empty list.
fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_string();
    }
    hex(&Sha256::digest(s.as_bytes())[..6])
}

/// `v` as four lower-case hex digits (the formatter is slow in the hot path).
fn push_hex4(s: &mut String, v: u16) {
    const H: &[u8; 16] = b"0123456789abcdef";
    for shift in [12, 8, 4, 0] {
        s.push(char::from(H[usize::from((v >> shift) & 0xf)]));
    }
}

/// `v` in decimal.
fn push_dec(s: &mut String, v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(char::from(b));
    }
}

fn join_hex(values: &[u16]) -> String {
    let mut s = String::with_capacity(values.len() * 5);
    for (i, &v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_hex4(&mut s, v);
    }
    s
}

/// The JA4 fingerprint of a ClientHello, sent over QUIC when `quic`.
///
/// `a_b_c`: `a` is the transport (`t` TCP, `q` QUIC), the highest offered
/// version, `d` with a server name or `i` without, the cipher and extension
/// counts (two digits, at most 99) and the first and last characters of the
/// first ALPN protocol (`00` without ALPN); `b` is the first 12 hex digits of
/// the SHA-256 of the sorted cipher suites (4-digit hex, comma-separated);
/// `c` the same over the sorted extensions without server_name and ALPN,
/// followed by `_` and the signature algorithms in their order when there
/// are any. GREASE values are left out everywhere.
pub fn ja4(ch: &ClientHello, quic: bool) -> String {
    let versions: Vec<u16> = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .collect();
    let version = if ch.extensions.contains(&ext::SUPPORTED_VERSIONS) {
        versions.iter().copied().max().unwrap_or(0)
    } else {
        ch.version
    };
    let mut ciphers: Vec<u16> = ch
        .ciphers
        .iter()
        .copied()
        .filter(|&c| !is_grease(c))
        .collect();
    let mut exts: Vec<u16> = ch
        .extensions
        .iter()
        .copied()
        .filter(|&e| !is_grease(e))
        .collect();
    let sni = if ch.extensions.contains(&ext::SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let (a0, a1) = match ch.alpn_ends {
        Some((first, last)) => (alpn_char(first), alpn_char(last)),
        None => ('0', '0'),
    };
    let mut out = format!(
        "{}{}{}{:02}{:02}{}{}",
        if quic { 'q' } else { 't' },
        ja4_version(version),
        sni,
        ciphers.len().min(99),
        exts.len().min(99),
        a0,
        a1
    );
    ciphers.sort_unstable();
    exts.retain(|&e| e != ext::SERVER_NAME && e != ext::ALPN);
    exts.sort_unstable();
    let sigs: Vec<u16> = ch
        .sig_algs
        .iter()
        .copied()
        .filter(|&s| !is_grease(s))
        .collect();
    let mut c = join_hex(&exts);
    if !sigs.is_empty() {
        c.push('_');
        c.push_str(&join_hex(&sigs));
    }
    let _ = write!(out, "_{}_{}", hash12(&join_hex(&ciphers)), hash12(&c));
    out
}

fn push_dashed<T: Copy + Into<u32>>(s: &mut String, values: impl Iterator<Item = T>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            s.push('-');
        }
        push_dec(s, v.into());
    }
}

/// The JA3 string of a ClientHello: version, ciphers, extensions, groups
/// and point formats, decimal, dash-joined within a field, GREASE left out.
pub fn ja3_string(ch: &ClientHello) -> String {
    let mut s = String::with_capacity(
        8 + 6 * (ch.ciphers.len() + ch.extensions.len() + ch.groups.len())
            + 4 * ch.point_formats.len(),
    );
    push_dec(&mut s, u32::from(ch.version));
    s.push(',');
    push_dashed(
        &mut s,
        ch.ciphers.iter().copied().filter(|&c| !is_grease(c)),
    );
    s.push(',');
    push_dashed(
        &mut s,
        ch.extensions.iter().copied().filter(|&e| !is_grease(e)),
    );
    s.push(',');
    push_dashed(&mut s, ch.groups.iter().copied().filter(|&g| !is_grease(g)));
    s.push(',');
    push_dashed(&mut s, ch.point_formats.iter().copied());
    s
}

/// JA3: MD5 (hex) of [`ja3_string`].
pub fn ja3(ch: &ClientHello) -> String {
    hex(&Md5::digest(ja3_string(ch).as_bytes()))
}

/// The JA3S string of a ServerHello: version, cipher, extensions.
pub fn ja3s_string(sh: &ServerHello) -> String {
    let mut s = format!("{},{},", sh.version, sh.cipher);
    push_dashed(&mut s, sh.extensions.iter().copied());
    s
}

/// JA3S: MD5 (hex) of [`ja3s_string`].
pub fn ja3s(sh: &ServerHello) -> String {
    hex(&Md5::digest(ja3s_string(sh).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ClientHello of the JA4 specification's worked example (a
    /// Chrome-like hello to example.com).
    fn spec_example() -> ClientHello {
        ClientHello {
            version: 0x0303,
            ciphers: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
                0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
            ],
            sni: Some("example.com".into()),
            alpn: vec!["h2".into(), "http/1.1".into()],
            alpn_ends: Some((b'h', b'2')),
            supported_versions: vec![0x0304, 0x0303],
            sig_algs: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            ..ClientHello::default()
        }
    }

    #[test]
    fn ja4_of_the_specification_example() {
        assert_eq!(
            ja4(&spec_example(), false),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
    }

    #[test]
    fn grease_is_left_out_of_ja4() {
        let mut ch = spec_example();
        ch.ciphers.insert(0, 0x2a2a);
        ch.extensions.insert(0, 0x3a3a);
        ch.supported_versions.insert(0, 0x4a4a);
        ch.sig_algs.insert(0, 0x5a5a);
        assert_eq!(ja4(&ch, false), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn ja4_without_ciphers_extensions_or_alpn() {
        let ch = ClientHello {
            version: 0x0301,
            ..ClientHello::default()
        };
        assert_eq!(ja4(&ch, true), "q10i000000_000000000000_000000000000");
    }

    #[test]
    fn decimal_and_hex_digits_by_hand() {
        let mut s = String::new();
        for v in [0u32, 7, 10, 65535, 771, u32::MAX] {
            push_dec(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "0 7 10 65535 771 4294967295 ");
        let mut h = String::new();
        for v in [0u16, 0x0a0b, 0xffff, 0x1301] {
            push_hex4(&mut h, v);
        }
        assert_eq!(h, "00000a0bffff1301");
    }

    #[test]
    fn ja3_string_by_hand() {
        let ch = ClientHello {
            version: 771,
            ciphers: vec![0x0a0a, 4865, 4866],
            extensions: vec![0x1a1a, 0, 23, 65281, 10, 11],
            groups: vec![0x2a2a, 29, 23],
            point_formats: vec![0],
            ..ClientHello::default()
        };
        assert_eq!(ja3_string(&ch), "771,4865-4866,0-23-65281-10-11,29-23,0");
        // md5("771,4865-4866,0-23-65281-10-11,29-23,0")
        assert_eq!(
            ja3(&ch),
            hex(&Md5::digest(b"771,4865-4866,0-23-65281-10-11,29-23,0"))
        );
    }

    #[test]
    fn ja3s_string_by_hand() {
        let sh = ServerHello {
            version: 771,
            cipher: 49199,
            extensions: vec![65281, 0, 11],
            selected_version: None,
        };
        assert_eq!(ja3s_string(&sh), "771,49199,65281-0-11");
    }
}
