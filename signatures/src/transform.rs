//! Transforms of a buffer before its contents are matched (`dotprefix`,
//! `to_lowercase`, `url_decode`, `to_sha256`...).

use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

use crate::rule::Transform;

/// Applies `tf` to `input`, in order, into `out`.
pub fn apply(tf: &[Transform], input: &[u8], out: &mut Vec<u8>) {
    thread_local! {
        // The second buffer of the chain, kept per thread: transforms
        // allocate nothing once it is big enough.
        static TMP: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    out.clear();
    out.extend_from_slice(input);
    TMP.with(|cell| {
        let mut tmp = cell.take();
        for t in tf {
            tmp.clear();
            one(t, out, &mut tmp);
            std::mem::swap(out, &mut tmp);
        }
        cell.replace(tmp);
    });
}

fn one(t: &Transform, b: &[u8], o: &mut Vec<u8>) {
    match t {
        Transform::DotPrefix => {
            o.push(b'.');
            o.extend_from_slice(b);
        }
        Transform::ToLowercase => o.extend(b.iter().map(u8::to_ascii_lowercase)),
        Transform::ToUppercase => o.extend(b.iter().map(u8::to_ascii_uppercase)),
        Transform::StripWhitespace => {
            o.extend(b.iter().copied().filter(|c| !c.is_ascii_whitespace()))
        }
        Transform::CompressWhitespace => {
            let mut prev_ws = false;
            for &c in b {
                if c.is_ascii_whitespace() {
                    if !prev_ws {
                        o.push(b' ');
                    }
                    prev_ws = true;
                } else {
                    o.push(c);
                    prev_ws = false;
                }
            }
        }
        Transform::UrlDecode => {
            let mut i = 0;
            while i < b.len() {
                let c = b[i];
                if c == b'%' && i + 2 < b.len() {
                    let h = |x: u8| char::from(x).to_digit(16);
                    if let (Some(a), Some(d)) = (h(b[i + 1]), h(b[i + 2])) {
                        o.push((a * 16 + d) as u8);
                        i += 3;
                        continue;
                    }
                }
                o.push(if c == b'+' { b' ' } else { c });
                i += 1;
            }
        }
        Transform::ToMd5 => o.extend_from_slice(&Md5::digest(b)),
        Transform::ToSha1 => o.extend_from_slice(&Sha1::digest(b)),
        Transform::ToSha256 => o.extend_from_slice(&Sha256::digest(b)),
        Transform::HeaderLowercase => {
            // Names (up to the colon of each line) lower-cased.
            let mut in_name = true;
            for &c in b {
                if c == b'\n' {
                    in_name = true;
                    o.push(c);
                } else if c == b':' {
                    in_name = false;
                    o.push(c);
                } else if in_name {
                    o.push(c.to_ascii_lowercase());
                } else {
                    o.push(c);
                }
            }
        }
        Transform::StripPseudoHeaders => o.extend_from_slice(b),
        Transform::Xor(key) => {
            o.extend(b.iter().zip(key.iter().cycle()).map(|(x, k)| x ^ k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tf: &[Transform], s: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        apply(tf, s, &mut o);
        o
    }

    #[test]
    fn transforms_by_hand() {
        assert_eq!(t(&[Transform::DotPrefix], b"evil.com"), b".evil.com");
        assert_eq!(
            t(&[Transform::ToLowercase, Transform::DotPrefix], b"A.B"),
            b".a.b"
        );
        assert_eq!(t(&[Transform::StripWhitespace], b" a b\t\r\nc "), b"abc");
        assert_eq!(t(&[Transform::CompressWhitespace], b"a  b\t\tc"), b"a b c");
        assert_eq!(t(&[Transform::UrlDecode], b"a%20b+c%zz%4"), b"a b c%zz%4");
        assert_eq!(
            t(&[Transform::ToMd5], b"abc"),
            [
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
                0x7f, 0x72
            ]
        );
        assert_eq!(t(&[Transform::Xor(vec![0x01])], b"\x00\x01"), b"\x01\x00");
        assert_eq!(
            t(&[Transform::HeaderLowercase], b"Host: A\r\nX-Y: B"),
            b"host: A\r\nx-y: B"
        );
    }
}
