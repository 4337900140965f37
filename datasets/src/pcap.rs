//! Streaming capture writers: classic pcap and pcapng, microsecond
//! timestamps, Ethernet link type. Packets are written as they are produced;
//! the capture is never held in memory.

use std::io::{self, Write};

/// Link type of every generated capture (Ethernet).
pub const LINKTYPE_ETHERNET: u16 = 1;
/// Snapshot length written in the file headers.
pub const SNAPLEN: u32 = 262_144;

/// Output container format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// libpcap format, microsecond timestamps.
    Pcap,
    /// pcapng with one Ethernet interface, microsecond timestamps.
    Pcapng,
}

/// Something that accepts timestamped frames in time order.
pub trait PacketSink {
    /// Writes one frame captured at `ts_ns` (nanoseconds since the Unix epoch).
    fn write_packet(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()>;
    /// Flushes buffered output.
    fn finish(&mut self) -> io::Result<()>;
}

/// A capture writer of either format.
pub struct CaptureWriter<W: Write> {
    out: W,
    format: Format,
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header(s) and returns the writer.
    pub fn new(mut out: W, format: Format) -> io::Result<Self> {
        match format {
            Format::Pcap => {
                let mut h = Vec::with_capacity(24);
                h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
                h.extend_from_slice(&2u16.to_le_bytes());
                h.extend_from_slice(&4u16.to_le_bytes());
                h.extend_from_slice(&0i32.to_le_bytes());
                h.extend_from_slice(&0u32.to_le_bytes());
                h.extend_from_slice(&SNAPLEN.to_le_bytes());
                h.extend_from_slice(&u32::from(LINKTYPE_ETHERNET).to_le_bytes());
                out.write_all(&h)?;
            }
            Format::Pcapng => {
                // Section header block with a shb_userappl option.
                let mut opts = Vec::new();
                push_option(&mut opts, 4, b"mekong-datasets");
                push_option(&mut opts, 0, b"");
                let mut body = Vec::new();
                body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
                body.extend_from_slice(&1u16.to_le_bytes());
                body.extend_from_slice(&0u16.to_le_bytes());
                body.extend_from_slice(&(-1i64).to_le_bytes());
                body.extend_from_slice(&opts);
                write_block(&mut out, 0x0A0D_0D0A, &body)?;
                // Interface description block: Ethernet, default microsecond resolution.
                let mut idb = Vec::new();
                idb.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                idb.extend_from_slice(&SNAPLEN.to_le_bytes());
                let mut iopts = Vec::new();
                push_option(&mut iopts, 2, b"span0");
                push_option(&mut iopts, 9, &[6]);
                push_option(&mut iopts, 0, b"");
                idb.extend_from_slice(&iopts);
                write_block(&mut out, 1, &idb)?;
            }
        }
        Ok(CaptureWriter { out, format })
    }

    /// Returns the inner writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

fn push_option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

fn write_block<W: Write>(out: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let pad = (4 - body.len() % 4) % 4;
    let total = (12 + body.len() + pad) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&[0u8; 3][..pad])?;
    out.write_all(&total.to_le_bytes())
}

impl<W: Write> PacketSink for CaptureWriter<W> {
    fn write_packet(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let us = ts_ns / 1_000;
        let len = frame.len() as u32;
        match self.format {
            Format::Pcap => {
                let mut h = [0u8; 16];
                h[0..4].copy_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
                h[4..8].copy_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
                h[8..12].copy_from_slice(&len.to_le_bytes());
                h[12..16].copy_from_slice(&len.to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(frame)
            }
            Format::Pcapng => {
                let pad = (4 - frame.len() % 4) % 4;
                let total = (32 + frame.len() + pad) as u32;
                let mut h = [0u8; 28];
                h[0..4].copy_from_slice(&6u32.to_le_bytes());
                h[4..8].copy_from_slice(&total.to_le_bytes());
                // interface id 0 at h[8..12]
                h[12..16].copy_from_slice(&((us >> 32) as u32).to_le_bytes());
                h[16..20].copy_from_slice(&(us as u32).to_le_bytes());
                h[20..24].copy_from_slice(&len.to_le_bytes());
                h[24..28].copy_from_slice(&len.to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(frame)?;
                self.out.write_all(&[0u8; 3][..pad])?;
                self.out.write_all(&total.to_le_bytes())
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_record_layout() {
        let mut w = CaptureWriter::new(Vec::new(), Format::Pcap).unwrap();
        w.write_packet(1_700_000_000_123_456_789, &[1, 2, 3])
            .unwrap();
        let b = w.into_inner();
        assert_eq!(b.len(), 24 + 16 + 3);
        assert_eq!(&b[0..4], &0xa1b2c3d4u32.to_le_bytes());
        assert_eq!(
            u32::from_le_bytes(b[24..28].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 123_456);
        assert_eq!(&b[40..], &[1, 2, 3]);
    }

    #[test]
    fn pcapng_blocks_are_aligned_and_closed() {
        let mut w = CaptureWriter::new(Vec::new(), Format::Pcapng).unwrap();
        w.write_packet(5_000, &[9; 5]).unwrap();
        let b = w.into_inner();
        // Walk the blocks: each total length appears at both ends.
        let mut off = 0;
        let mut kinds = Vec::new();
        while off < b.len() {
            let kind = u32::from_le_bytes(b[off..off + 4].try_into().unwrap());
            let total = u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap()) as usize;
            assert_eq!(total % 4, 0);
            let trailer = u32::from_le_bytes(b[off + total - 4..off + total].try_into().unwrap());
            assert_eq!(trailer as usize, total);
            kinds.push(kind);
            off += total;
        }
        assert_eq!(kinds, vec![0x0A0D0D0A, 1, 6]);
    }
}
