//! Reading packets: memory-mapped pcap and pcapng files (zero copy), and BPF
//! filters compiled by libpcap and applied to packets from any reader.

mod filter;
mod pcap_file;
mod pcapng_file;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use thiserror::Error;

pub use filter::{Filter, FilterError};

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
        }
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
            Ok(Some(p)) => Some(Ok(p)),
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
    })
}

/// Reads a packet back from a mapped file at a known offset (worker threads).
pub fn packet_at(map: &Mmap, offset: usize, caplen: usize) -> &[u8] {
    map.get(offset..offset.saturating_add(caplen))
        .unwrap_or(&[])
}
