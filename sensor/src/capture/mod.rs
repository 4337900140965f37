//! Reading packets: memory-mapped pcap and pcapng files (zero copy), and BPF
//! filters compiled by libpcap and applied to packets from any reader.

pub mod afpacket;
pub mod afxdp;
mod filter;
pub mod live;
mod pcap_file;
mod pcapng_file;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use thiserror::Error;

pub use afpacket::AfPacketCapture;
pub use filter::{Filter, FilterError};
pub use live::{LiveCapture, LiveError, LiveOptions, LiveStats, Source};

/// Link types Mekong decodes (values of the pcap LINKTYPE_ registry).
pub mod linktype {
    /// BSD loopback (4-byte address family).
    pub const NULL: u16 = 0;
    /// Ethernet.
    pub const ETHERNET: u16 = 1;
    /// Raw IP (as some systems number DLT_RAW).
    pub const RAW_12: u16 = 12;
    /// Raw IP (DLT_RAW on OpenBSD).
    pub const RAW_14: u16 = 14;
    /// Raw IPv4 or IPv6.
    pub const RAW: u16 = 101;
    /// OpenBSD loopback.
    pub const LOOP: u16 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u16 = 113;
    /// Raw IPv4.
    pub const IPV4: u16 = 228;
    /// Raw IPv6.
    pub const IPV6: u16 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u16 = 276;
}

/// One captured packet, borrowed from the mapped file.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Link type of the interface it was captured on.
    pub linktype: u16,
    /// Length on the wire (may exceed `data.len()` when the snapshot length cut it).
    pub orig_len: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Offset of `data` in the file (lets other threads find the packet again).
    pub offset: usize,
}

/// Errors while reading a capture file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file cannot be opened or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Not a pcap or pcapng file, or a header is inconsistent.
    #[error("{path}: not a valid capture at byte {offset}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Where the problem is.
        offset: usize,
        /// What is wrong.
        msg: String,
    },
    /// The file ends in the middle of a record (packets before it were read).
    #[error("{path}: truncated at byte {offset} ({msg}); the packets before it were read")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the incomplete record starts.
        offset: usize,
        /// What was incomplete.
        msg: String,
    },
}

/// A mapped capture file of either format.
pub struct CaptureFile {
    path: PathBuf,
    map: Arc<Mmap>,
    format: Format,
}

#[derive(Clone, Debug)]
enum Format {
    Pcap(pcap_file::Header),
    Pcapng,
}

/// Records longer than this are treated as corruption (256 MiB).
pub const MAX_RECORD: usize = 256 << 20;

impl CaptureFile {
    /// Maps `path` and reads its header.
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        let io = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; Mekong reads capture files that no
        // process is expected to truncate while they are read. A file that
        // shrinks underneath would raise SIGBUS, as with every mmap reader.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        // Read front to back: let the kernel read ahead and drop pages behind.
        let _ = map.advise(memmap2::Advice::Sequential);
        let format = if map.len() >= 4 && pcapng_file::is_pcapng(&map) {
            Format::Pcapng
        } else {
            Format::Pcap(pcap_file::Header::parse(&map).map_err(|(offset, msg)| {
                CaptureError::Format {
                    path: path.to_path_buf(),
                    offset,
                    msg,
                }
            })?)
        };
        Ok(CaptureFile {
            path: path.to_path_buf(),
            map: Arc::new(map),
            format,
        })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mapped bytes (shared with worker threads).
    pub fn bytes(&self) -> Arc<Mmap> {
        Arc::clone(&self.map)
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Iterates over the packets. A damaged record ends the iteration with an
    /// error item.
    pub fn packets(&self) -> Packets<'_> {
        let inner = match &self.format {
            Format::Pcap(h) => Inner::Pcap(pcap_file::Reader::new(&self.map, h.clone())),
            Format::Pcapng => Inner::Pcapng(pcapng_file::Reader::new(&self.map)),
        };
        Packets {
            path: &self.path,
            inner,
            done: false,
            ahead: ReadAhead::start(&self.map),
        }
    }
}

/// Bytes of the map the read-ahead thread keeps mapped ahead of the reader.
const AHEAD: usize = 64 << 20;
/// Bytes it maps at once, and the steps in which the reader reports.
const AHEAD_STEP: usize = 4 << 20;

/// A thread that fills the page tables of a mapped file ahead of the
/// reader (`MADV_POPULATE_READ`, Linux 5.14 and later), so that the
/// thread reading packets does not stop at a page fault every 16 pages:
/// on the 2-million-packet benchmark those faults were about a tenth of
/// the reading thread's time. Where the call is refused (an older kernel)
/// the thread ends at once and the reader takes its page faults. It ends
/// too when the reader is dropped or the file is mapped to its end.
struct ReadAhead {
    shared: Arc<AheadState>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The reader's offset last reported.
    reported: usize,
}

#[derive(Default)]
struct AheadState {
    /// Where the reader is.
    pos: std::sync::atomic::AtomicUsize,
    /// Set when the reader is gone.
    stop: std::sync::atomic::AtomicBool,
}

impl ReadAhead {
    fn start(map: &Arc<Mmap>) -> Option<ReadAhead> {
        if !cfg!(target_os = "linux") || map.len() <= AHEAD {
            return None;
        }
        let shared = Arc::new(AheadState::default());
        let (st, map) = (Arc::clone(&shared), Arc::clone(map));
        let thread = std::thread::Builder::new()
            .name("mekong-readahead".into())
            .spawn(move || read_ahead(&map, &st))
            .ok()?;
        Some(ReadAhead {
            shared,
            thread: Some(thread),
            reported: 0,
        })
    }

    /// The reader is at `offset`: wakes the thread each [`AHEAD_STEP`].
    #[inline]
    fn at(&mut self, offset: usize) {
        if offset >= self.reported + AHEAD_STEP {
            self.reported = offset;
            self.shared
                .pos
                .store(offset, std::sync::atomic::Ordering::Relaxed);
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn read_ahead(map: &Mmap, st: &AheadState) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut done = 0usize;
    while done < map.len() && !st.stop.load(Relaxed) {
        if done >= st.pos.load(Relaxed).saturating_add(AHEAD) {
            // Far enough ahead: wait for the reader (woken each step; the
            // timeout only bounds a missed wake-up).
            std::thread::park_timeout(std::time::Duration::from_millis(50));
            continue;
        }
        let len = AHEAD_STEP.min(map.len() - done);
        #[cfg(target_os = "linux")]
        if map
            .advise_range(memmap2::Advice::PopulateRead, done, len)
            .is_err()
        {
            return;
        }
        done += len;
    }
}

enum Inner<'a> {
    Pcap(pcap_file::Reader<'a>),
    Pcapng(pcapng_file::Reader<'a>),
}

/// Problems a format reader reports: (offset, message, truncated?).
pub(crate) type ReadProblem = (usize, String, bool);

/// Iterator over a file's packets.
pub struct Packets<'a> {
    path: &'a Path,
    inner: Inner<'a>,
    done: bool,
    /// The read-ahead of a mapped file.
    ahead: Option<ReadAhead>,
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<RawPacket<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = match &mut self.inner {
            Inner::Pcap(r) => r.next_packet(),
            Inner::Pcapng(r) => r.next_packet(),
        };
        match r {
            Ok(Some(p)) => {
                if let Some(a) = &mut self.ahead {
                    a.at(p.offset);
                }
                Some(Ok(p))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err((offset, msg, truncated)) => {
                self.done = true;
                let path = self.path.to_path_buf();
                Some(Err(if truncated {
                    CaptureError::Truncated { path, offset, msg }
                } else {
                    CaptureError::Format { path, offset, msg }
                }))
            }
        }
    }
}

/// Iterates over the packets of a capture held in memory (tests and fuzzing
/// use it; files go through [`CaptureFile`]). `name` labels errors.
pub fn packets_in<'a>(name: &'a Path, bytes: &'a [u8]) -> Result<Packets<'a>, CaptureError> {
    let inner = if pcapng_file::is_pcapng(bytes) {
        Inner::Pcapng(pcapng_file::Reader::new(bytes))
    } else {
        let h = pcap_file::Header::parse(bytes).map_err(|(offset, msg)| CaptureError::Format {
            path: name.to_path_buf(),
            offset,
            msg,
        })?;
        Inner::Pcap(pcap_file::Reader::new(bytes, h))
    };
    Ok(Packets {
        path: name,
        inner,
        done: false,
        ahead: None,
    })
}

/// Reads a packet back from a mapped file at a known offset (worker threads).
pub fn packet_at(map: &Mmap, offset: usize, caplen: usize) -> &[u8] {
    map.get(offset..offset.saturating_add(caplen))
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian pcap file of `n` Ethernet records of `len` bytes,
    /// each filled with its index.
    fn pcap(n: usize, len: usize) -> Vec<u8> {
        let mut f = Vec::with_capacity(24 + n * (16 + len));
        f.extend(0xa1b2_c3d4u32.to_le_bytes());
        f.extend(2u16.to_le_bytes());
        f.extend(4u16.to_le_bytes());
        for v in [0u32, 0, 65535, 1] {
            f.extend(v.to_le_bytes());
        }
        for i in 0..n {
            for v in [i as u32, 0, len as u32, len as u32] {
                f.extend(v.to_le_bytes());
            }
            f.extend(std::iter::repeat_n(i as u8, len));
        }
        f
    }

    /// The read-ahead changes what is mapped, never what is read: a file
    /// larger than its window gives every packet, as the bytes read into
    /// memory do; a reader dropped early stops the thread.
    #[test]
    fn read_ahead_gives_the_packets_of_the_bytes() {
        let bytes = pcap((AHEAD + 3 * AHEAD_STEP) / 1516 + 7, 1500);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.pcap");
        std::fs::write(&path, &bytes).unwrap();
        let file = CaptureFile::open(&path).unwrap();
        let digest = |it: &mut dyn Iterator<Item = Result<RawPacket<'_>, CaptureError>>| {
            it.map(|p| {
                let p = p.unwrap();
                (p.ts_ns, p.data.len(), p.data[0], p.data[p.data.len() - 1])
            })
            .collect::<Vec<_>>()
        };
        let mut mapped = file.packets();
        assert!(mapped.ahead.is_some(), "a big file is read ahead");
        let got = digest(&mut mapped);
        let want = digest(&mut packets_in(&path, &bytes).unwrap());
        assert_eq!(got.len(), bytes.len() / 1516);
        assert_eq!(got, want);
        // Dropped after a few packets: the thread is joined, nothing hangs.
        let early: Vec<_> = file.packets().take(10).collect();
        assert_eq!(early.len(), 10);
        // A small file has no read-ahead.
        let small = dir.path().join("small.pcap");
        std::fs::write(&small, pcap(3, 60)).unwrap();
        let f = CaptureFile::open(&small).unwrap();
        let mut p = f.packets();
        assert!(p.ahead.is_none());
        assert_eq!(p.by_ref().count(), 3);
    }
}
