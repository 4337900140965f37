//! pcapng (draft-ietf-opsawg-pcapng): sections, interfaces with their own
//! link types and timestamp resolutions, enhanced, simple and obsolete packet
//! blocks. Other blocks (name resolution, statistics, decryption secrets,
//! custom) are skipped. Both byte orders.

use super::{RawPacket, ReadProblem, MAX_RECORD};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

/// True when the file starts with a section header block.
pub fn is_pcapng(b: &[u8]) -> bool {
    b.len() >= 4 && u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == SHB
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u16,
    snaplen: u32,
    /// Timestamp units per second.
    units: u64,
    /// Offset added to timestamps, seconds.
    offset_s: i64,
}

/// Sequential block reader.
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    be: bool,
    ifaces: Vec<Interface>,
}

impl<'a> Reader<'a> {
    /// A reader at the start of the file.
    pub fn new(b: &'a [u8]) -> Self {
        Reader {
            b,
            pos: 0,
            be: false,
            ifaces: Vec::new(),
        }
    }

    fn u16_at(&self, off: usize) -> u16 {
        let x = [self.b[off], self.b[off + 1]];
        if self.be {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        }
    }

    fn u32_at(&self, off: usize) -> u32 {
        let x = [
            self.b[off],
            self.b[off + 1],
            self.b[off + 2],
            self.b[off + 3],
        ];
        if self.be {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    }

    /// The next packet, `None` at the end, or a problem.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'a>>, ReadProblem> {
        loop {
            let start = self.pos;
            let b = self.b;
            if start == b.len() {
                return Ok(None);
            }
            if b.len() - start < 12 {
                return Err((start, "incomplete block header".into(), true));
            }
            let raw_type = u32::from_le_bytes([b[start], b[start + 1], b[start + 2], b[start + 3]]);
            if raw_type == SHB {
                // The byte-order magic decides how to read this section.
                if b.len() - start < 16 {
                    return Err((start, "incomplete section header".into(), true));
                }
                let bom = &b[start + 8..start + 12];
                self.be = match bom {
                    [0x1A, 0x2B, 0x3C, 0x4D] => true,
                    [0x4D, 0x3C, 0x2B, 0x1A] => false,
                    _ => return Err((start + 8, "bad byte-order magic".into(), false)),
                };
                self.ifaces.clear();
            }
            let kind = self.u32_at(start);
            let total = self.u32_at(start + 4) as usize;
            if total < 12 || !total.is_multiple_of(4) || total > MAX_RECORD {
                return Err((start, format!("block length {total} is invalid"), false));
            }
            if b.len() - start < total {
                return Err((
                    start,
                    format!("block of {total} bytes, {} left", b.len() - start),
                    true,
                ));
            }
            if self.u32_at(start + total - 4) as usize != total {
                return Err((
                    start,
                    "block trailer length differs from its header".into(),
                    false,
                ));
            }
            self.pos = start + total;
            let body = start + 8..start + total - 4;
            match kind {
                SHB => {}
                IDB => self.interface(body)?,
                EPB | OPB => {
                    let (iface, ts_hi, ts_lo, cap, orig, data) = if kind == EPB {
                        if body.len() < 20 {
                            return Err((start, "enhanced packet block too short".into(), false));
                        }
                        let s = body.start;
                        (
                            self.u32_at(s) as usize,
                            self.u32_at(s + 4),
                            self.u32_at(s + 8),
                            self.u32_at(s + 12) as usize,
                            self.u32_at(s + 16),
                            s + 20,
                        )
                    } else {
                        if body.len() < 20 {
                            return Err((start, "packet block too short".into(), false));
                        }
                        let s = body.start;
                        (
                            usize::from(self.u16_at(s)),
                            self.u32_at(s + 4),
                            self.u32_at(s + 8),
                            self.u32_at(s + 12) as usize,
                            self.u32_at(s + 16),
                            s + 20,
                        )
                    };
                    if data + cap > body.end {
                        return Err((
                            start,
                            format!("captured length {cap} exceeds the block"),
                            false,
                        ));
                    }
                    let Some(i) = self.ifaces.get(iface).copied() else {
                        return Err((
                            start,
                            format!("packet on undeclared interface {iface}"),
                            false,
                        ));
                    };
                    let ts = (u64::from(ts_hi) << 32) | u64::from(ts_lo);
                    return Ok(Some(RawPacket {
                        ts_ns: to_ns(ts, i),
                        linktype: i.linktype,
                        orig_len: super::pcap_file::plausible_len(orig, cap as u32),
                        data: &b[data..data + cap],
                        offset: data,
                    }));
                }
                SPB => {
                    let Some(i) = self.ifaces.first().copied() else {
                        return Err((
                            start,
                            "simple packet block before any interface".into(),
                            false,
                        ));
                    };
                    if body.len() < 4 {
                        return Err((start, "simple packet block too short".into(), false));
                    }
                    let orig = self.u32_at(body.start);
                    let room = body.len() - 4;
                    let snap = if i.snaplen == 0 {
                        usize::MAX
                    } else {
                        i.snaplen as usize
                    };
                    let cap = (orig as usize).min(snap).min(room);
                    let data = body.start + 4;
                    return Ok(Some(RawPacket {
                        ts_ns: 0,
                        linktype: i.linktype,
                        orig_len: super::pcap_file::plausible_len(orig, cap as u32),
                        data: &b[data..data + cap],
                        offset: data,
                    }));
                }
                _ => {}
            }
        }
    }

    fn interface(&mut self, body: std::ops::Range<usize>) -> Result<(), ReadProblem> {
        if body.len() < 8 {
            return Err((
                body.start,
                "interface description block too short".into(),
                false,
            ));
        }
        let s = body.start;
        let mut iface = Interface {
            linktype: self.u16_at(s),
            snaplen: self.u32_at(s + 4),
            units: 1_000_000,
            offset_s: 0,
        };
        let mut o = s + 8;
        while o + 4 <= body.end {
            let code = self.u16_at(o);
            let len = usize::from(self.u16_at(o + 2));
            let v = o + 4;
            if code == 0 || v + len > body.end {
                break;
            }
            match (code, len) {
                (9, 1) => {
                    let r = self.b[v];
                    let exp = u32::from(r & 0x7f);
                    iface.units = if r & 0x80 == 0 {
                        10u64.checked_pow(exp).unwrap_or(1_000_000)
                    } else {
                        1u64.checked_shl(exp).unwrap_or(1_000_000)
                    }
                    .max(1);
                }
                (14, 8) => {
                    let hi = u64::from(self.u32_at(v));
                    let lo = u64::from(self.u32_at(v + 4));
                    iface.offset_s = if self.be {
                        (hi << 32 | lo) as i64
                    } else {
                        (lo << 32 | hi) as i64
                    };
                }
                _ => {}
            }
            o = v + len.div_ceil(4) * 4;
        }
        self.ifaces.push(iface);
        Ok(())
    }
}

fn to_ns(ts: u64, i: Interface) -> u64 {
    let ns = (u128::from(ts) * 1_000_000_000 / u128::from(i.units)) as i128
        + i128::from(i.offset_s) * 1_000_000_000;
    ns.clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let pad = (4 - body.len() % 4) % 4;
        let total = (12 + body.len() + pad) as u32;
        let mut v = kind.to_le_bytes().to_vec();
        v.extend(total.to_le_bytes());
        v.extend_from_slice(body);
        v.extend(std::iter::repeat_n(0, pad));
        v.extend(total.to_le_bytes());
        v
    }

    fn shb() -> Vec<u8> {
        let mut b = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        b.extend(1u16.to_le_bytes());
        b.extend(0u16.to_le_bytes());
        b.extend((-1i64).to_le_bytes());
        block(SHB, &b)
    }

    fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut b = linktype.to_le_bytes().to_vec();
        b.extend(0u16.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        if let Some(r) = tsresol {
            b.extend(9u16.to_le_bytes());
            b.extend(1u16.to_le_bytes());
            b.extend([r, 0, 0, 0]);
            b.extend([0, 0, 0, 0]);
        }
        block(IDB, &b)
    }

    fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut b = iface.to_le_bytes().to_vec();
        b.extend(((ts >> 32) as u32).to_le_bytes());
        b.extend((ts as u32).to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        block(EPB, &b)
    }

    #[test]
    fn interfaces_have_their_own_link_type_and_resolution() {
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(idb(101, Some(9)));
        f.extend(block(4, b"name resolution"));
        f.extend(epb(0, 1_500_000, b"eth"));
        f.extend(epb(1, 2_000_000_123, b"raw ip"));
        let mut r = Reader::new(&f);
        let a = r.next_packet().unwrap().unwrap();
        assert_eq!(
            (a.linktype, a.ts_ns, a.data),
            (1, 1_500_000_000, &b"eth"[..])
        );
        let b = r.next_packet().unwrap().unwrap();
        assert_eq!(
            (b.linktype, b.ts_ns, b.data),
            (101, 2_000_000_123, &b"raw ip"[..])
        );
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn power_of_two_resolution() {
        let mut f = shb();
        f.extend(idb(1, Some(0x80 | 10))); // 1/1024 s
        f.extend(epb(0, 2048, b"x"));
        let p = Reader::new(&f).next_packet().unwrap().unwrap();
        assert_eq!(p.ts_ns, 2_000_000_000);
    }

    #[test]
    fn damage_is_reported_not_panicked() {
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(epb(3, 0, b"x"));
        assert!(!Reader::new(&f).next_packet().unwrap_err().2);
        let mut g = shb();
        g.extend(idb(1, None));
        let e = epb(0, 0, b"abcdef");
        g.extend_from_slice(&e[..e.len() - 3]);
        assert!(Reader::new(&g).next_packet().unwrap_err().2);
        let mut h = shb();
        h[4] = 13; // not a multiple of 4
        assert!(Reader::new(&h).next_packet().is_err());
    }
}
