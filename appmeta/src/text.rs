//! Turning protocol bytes into bounded, printable column text.

use std::fmt::Write as _;

/// Appends `b` to `out` as text: valid UTF-8 is kept, control characters and
/// bytes that are not UTF-8 are written `\xHH`. Stops before `out` would pass
/// `max` bytes; returns true when the text was cut.
pub fn push_text(out: &mut String, b: &[u8], max: usize) -> bool {
    // Most values are printable ASCII: copy them at once.
    if b.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        let room = max.saturating_sub(out.len());
        let n = b.len().min(room);
        // Printable ASCII is UTF-8 at every boundary.
        out.push_str(std::str::from_utf8(&b[..n]).unwrap_or_default());
        return n < b.len();
    }
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            let need = if c.is_control() { 4 } else { c.len_utf8() };
            if out.len() + need > max {
                return true;
            }
            if c.is_control() {
                // Control characters are below U+00A0: one byte each in \xHH.
                let _ = write!(out, "\\x{:02x}", c as u32 & 0xff);
            } else {
                out.push(c);
            }
        }
        for &byte in chunk.invalid() {
            if out.len() + 4 > max {
                return true;
            }
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    false
}

/// `b` as bounded text (see [`push_text`]), with whether it was cut.
pub fn text(b: &[u8], max: usize) -> (String, bool) {
    let mut s = String::with_capacity(b.len().min(max));
    let cut = push_text(&mut s, b, max);
    (s, cut)
}

/// UTF-16LE `b` as text of at most `max_chars` characters: unpaired
/// surrogates become U+FFFD, control characters `\xHH`, an odd last byte
/// is dropped.
pub fn utf16le_lossy(b: &[u8], max_chars: usize) -> String {
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    let mut s = String::new();
    for c in char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .take(max_chars)
    {
        if c.is_control() {
            let _ = write!(s, "\\x{:02x}", c as u32 & 0xff);
        } else {
            s.push(c);
        }
    }
    s
}

/// Lower-case hexadecimal of `b`.
pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 15)]));
    }
    s
}

/// Shannon entropy of `b` in bits per byte (0 for empty input).
pub fn entropy(b: &[u8]) -> f64 {
    if b.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &x in b {
        counts[usize::from(x)] += 1;
    }
    let n = b.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invalid_bytes_are_escaped() {
        assert_eq!(
            text(b"curl/8.5\t\xff\xc3\xa9", 100).0,
            "curl/8.5\\x09\\xffé"
        );
    }

    #[test]
    fn text_is_cut_at_the_bound_on_a_character_boundary() {
        let (s, cut) = text("aé€".as_bytes(), 4);
        assert_eq!(s, "aé");
        assert!(cut);
        let (s, cut) = text(b"abcd", 4);
        assert_eq!(s, "abcd");
        assert!(!cut);
    }

    #[test]
    fn entropy_by_hand() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert_eq!(entropy(b"abab"), 1.0);
        assert_eq!(entropy(b"abcd"), 2.0);
        // "google": g 2, o 2, l 1, e 1 of 6 -> 2*(1/3)log2(3) + 2*(1/6)log2(6)
        let want = 2.0 / 3.0 * 3f64.log2() + 1.0 / 3.0 * 6f64.log2();
        assert!((entropy(b"google") - want).abs() < 1e-12);
    }
}
