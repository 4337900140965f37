//! The classic libpcap format: a 24-byte file header, then records of a
//! 16-byte header and the captured bytes. Both byte orders, microsecond and
//! nanosecond variants.

use super::{RawPacket, ReadProblem, MAX_RECORD};

/// The parsed file header.
#[derive(Clone, Debug)]
pub struct Header {
    big_endian: bool,
    nanos: bool,
    linktype: u16,
}

fn u32_at(b: &[u8], off: usize, be: bool) -> u32 {
    let x = [b[off], b[off + 1], b[off + 2], b[off + 3]];
    if be {
        u32::from_be_bytes(x)
    } else {
        u32::from_le_bytes(x)
    }
}

impl Header {
    /// Parses the file header; errors carry (offset, message).
    pub fn parse(b: &[u8]) -> Result<Header, (usize, String)> {
        if b.len() < 24 {
            return Err((
                0,
                format!("file of {} bytes is shorter than a pcap header", b.len()),
            ));
        }
        let magic = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let (big_endian, nanos) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            m => {
                return Err((
                    0,
                    format!("unknown magic number 0x{m:08x} (neither pcap nor pcapng)"),
                ))
            }
        };
        let network = u32_at(b, 20, big_endian);
        Ok(Header {
            big_endian,
            nanos,
            linktype: (network & 0xffff) as u16,
        })
    }
}

/// The length on the wire, or the captured length when the header's value is
/// impossible (no link carries frames over 256 KiB; fuzzed files do).
pub(crate) fn plausible_len(orig: u32, caplen: u32) -> u32 {
    if orig > 256 * 1024 {
        caplen
    } else {
        orig.max(caplen)
    }
}

/// Sequential record reader.
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    h: Header,
}

impl<'a> Reader<'a> {
    /// A reader positioned after the file header.
    pub fn new(b: &'a [u8], h: Header) -> Self {
        Reader { b, pos: 24, h }
    }

    /// The next packet, `None` at the end, or a problem.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'a>>, ReadProblem> {
        let b = self.b;
        let start = self.pos;
        if start == b.len() {
            return Ok(None);
        }
        if b.len() - start < 16 {
            return Err((start, "incomplete record header".into(), true));
        }
        let be = self.h.big_endian;
        let sec = u64::from(u32_at(b, start, be));
        let frac = u64::from(u32_at(b, start + 4, be));
        let incl = u32_at(b, start + 8, be) as usize;
        let orig = u32_at(b, start + 12, be);
        if incl > MAX_RECORD {
            return Err((start, format!("record claims {incl} captured bytes"), false));
        }
        let data_start = start + 16;
        if b.len() - data_start < incl {
            return Err((
                start,
                format!("record of {incl} bytes, {} left", b.len() - data_start),
                true,
            ));
        }
        let frac_ns = if self.h.nanos {
            frac
        } else {
            frac.saturating_mul(1000)
        };
        self.pos = data_start + incl;
        Ok(Some(RawPacket {
            ts_ns: sec * 1_000_000_000 + frac_ns,
            linktype: self.h.linktype,
            orig_len: plausible_len(orig, incl as u32),
            data: &b[data_start..data_start + incl],
            offset: data_start,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(be: bool, nanos: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut f = Vec::new();
        f.extend(w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        f.extend(w16(2));
        f.extend(w16(4));
        f.extend(w32(0));
        f.extend(w32(0));
        f.extend(w32(65535));
        f.extend(w32(1));
        for (s, frac, d) in records {
            f.extend(w32(*s));
            f.extend(w32(*frac));
            f.extend(w32(d.len() as u32));
            f.extend(w32(d.len() as u32 + 10));
            f.extend_from_slice(d);
        }
        f
    }

    #[test]
    fn reads_both_byte_orders_and_resolutions() {
        for (be, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
            let f = file(be, nanos, &[(10, 5, b"abc"), (11, 0, b"")]);
            let h = Header::parse(&f).unwrap();
            let mut r = Reader::new(&f, h);
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!(p.ts_ns, 10_000_000_000 + if nanos { 5 } else { 5_000 });
            assert_eq!(p.data, b"abc");
            assert_eq!(p.orig_len, 13);
            assert_eq!(p.linktype, 1);
            assert!(r.next_packet().unwrap().is_some());
            assert!(r.next_packet().unwrap().is_none());
        }
    }

    #[test]
    fn truncation_and_garbage_are_reported() {
        let mut f = file(false, false, &[(1, 0, b"abcdef")]);
        f.truncate(f.len() - 2);
        let mut r = Reader::new(&f, Header::parse(&f).unwrap());
        let e = r.next_packet().unwrap_err();
        assert_eq!(e.0, 24);
        assert!(e.2);
        assert!(Header::parse(b"hello world, this is not a capture").is_err());
        assert!(Header::parse(b"\xd4\xc3").is_err());
        let mut big = file(false, false, &[]);
        big.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let e = Reader::new(&big, Header::parse(&big).unwrap())
            .next_packet()
            .unwrap_err();
        assert!(!e.2, "an absurd length is corruption, not truncation");
    }
}
