//! Live capture through Linux AF_XDP (the `netring` crate): an XDP program
//! on the interface redirects every packet of each receive queue to an
//! AF_XDP socket of that queue, whose frames live in memory shared with
//! the kernel (a UMEM per socket). Each socket's reading thread dispatches
//! packets to the workers by Mekong's own flow hash, as with libpcap:
//! receive queues are filled by the card's hash, which need not keep both
//! directions of a flow on one queue.
//!
//! The program is netring's built-in redirect, attached in the mode the
//! configuration asks (`capture.xdp_mode`): the kernel's choice (the
//! driver's native XDP where it has one), native only, or generic (SKB)
//! only. It stays attached while any socket is open and is removed when
//! the last one closes. Redirected packets no longer reach the host's own
//! network stack, which a SPAN port does not need.
//!
//! AF_XDP has no socket filter: the BPF filter, compiled by libpcap, is
//! applied here to each packet. Packets carry no kernel timestamp: each is
//! stamped with the clock when read. A frame holds at most
//! [`FRAME_BYTES`] less the kernel's headroom; the kernel drops a longer
//! packet and counts it with the packets lost for want of a frame.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netring::xdp::{Queues, XdpCapture, XdpCaptureGuard, XdpFlags};
use netring::{XdpMode, XdpSocket};

use super::filter::Filter;
use super::live::{chain, LiveError, LiveOptions, LiveStats, Source};
use super::{linktype, RawPacket};
use crate::config::XdpAttach;

/// Size of one UMEM frame, bytes.
pub const FRAME_BYTES: usize = 4096;

/// One AF_XDP socket (one receive queue).
pub struct AfXdpCapture {
    interface: String,
    queue: u32,
    sock: XdpSocket,
    filter: Option<Filter>,
    snaplen: usize,
    timeout: Duration,
    /// Packets that passed the filter (what libpcap counts as received).
    passed: u64,
    /// The program stays attached while any socket lives.
    _guard: Arc<XdpCaptureGuard>,
}

fn err(interface: &str, e: impl std::fmt::Display) -> LiveError {
    LiveError {
        interface: interface.to_string(),
        msg: e.to_string(),
    }
}

/// Frames per socket: `ring_bytes` shared between `queues` sockets, the
/// power of two at or below the share, between 1024 and 262144.
pub fn frames_per_socket(ring_bytes: usize, queues: usize) -> usize {
    let n = (ring_bytes / FRAME_BYTES / queues.max(1)).clamp(1024, 1 << 18);
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// The attach flags of a mode: none lets the kernel choose.
fn flags(mode: XdpAttach) -> XdpFlags {
    match mode {
        XdpAttach::Auto => XdpFlags::empty(),
        XdpAttach::Native => XdpFlags::DRV_MODE,
        XdpAttach::Generic => XdpFlags::SKB_MODE,
    }
}

/// Opens a socket on every receive queue of `interface` and attaches the
/// redirect program in `mode`; `ring_bytes` of frames are shared between
/// the sockets.
pub fn open_all(
    interface: &str,
    o: &LiveOptions,
    mode: XdpAttach,
    ring_bytes: usize,
) -> Result<Vec<AfXdpCapture>, LiveError> {
    let queues = Queues::Auto
        .resolve(interface)
        .map_err(|e| err(interface, e))?;
    let cap = XdpCapture::builder()
        .interface(interface)
        .queues(Queues::Auto)
        .mode(XdpMode::Rx)
        .frame_size(FRAME_BYTES)
        .frame_count(frames_per_socket(ring_bytes, queues.len()))
        .promiscuous(o.promiscuous)
        .attach_flags(flags(mode))
        .build()
        .map_err(|e| err(interface, hint(format!("AF_XDP: {}", chain(&e)))))?;
    let ids = cap.queue_ids().to_vec();
    let (socks, guard) = cap.into_parts();
    let guard = Arc::new(guard);
    let mut v = Vec::with_capacity(socks.len());
    for (sock, queue) in socks.into_iter().zip(ids) {
        let filter = if o.filter.is_empty() {
            None
        } else {
            Some(Filter::new(&o.filter).map_err(|e| err(interface, e))?)
        };
        v.push(AfXdpCapture {
            interface: interface.to_string(),
            queue,
            sock,
            filter,
            snaplen: o.snaplen as usize,
            timeout: Duration::from_millis(u64::from(o.timeout_ms.max(1))),
            passed: 0,
            _guard: Arc::clone(&guard),
        });
    }
    Ok(v)
}

/// What an unprivileged sensor lacks, added to the kernel's refusal.
fn hint(msg: String) -> String {
    if msg.contains("XDP_UMEM_REG") && msg.contains("os error 105") {
        format!(
            "{msg} (the frames are locked memory: raise RLIMIT_MEMLOCK, \
             `LimitMEMLOCK=infinity` in a systemd unit, give CAP_IPC_LOCK, \
             or lower capture.buffer_mib)"
        )
    } else if msg.contains("failed to create map")
        || (msg.contains("XDP loader") && msg.contains("os error 1)"))
    {
        format!(
            "{msg} (AF_XDP needs CAP_BPF besides CAP_NET_RAW and \
             CAP_NET_ADMIN, to load its XDP program)"
        )
    } else {
        msg
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// How long an empty ring is left to fill before the reader waits on it.
const GATHER: Duration = Duration::from_micros(200);

/// Batches taken at most in one read (64 packets each).
const BATCHES: usize = 16;

/// Hands the packets of `batch` that pass `filter` to `f`, cut to
/// `snaplen`; returns how many.
fn deliver(
    batch: &netring::XdpBatch<'_>,
    filter: &mut Option<Filter>,
    snaplen: usize,
    passed: &mut u64,
    f: &mut dyn FnMut(&RawPacket<'_>),
) -> usize {
    let mut n = 0;
    for p in batch.iter() {
        let whole = p.data();
        if let Some(flt) = filter.as_mut() {
            // A packet the filter cannot judge is kept.
            if !flt.matches(linktype::ETHERNET, whole).unwrap_or(true) {
                continue;
            }
        }
        *passed += 1;
        f(&RawPacket {
            ts_ns: now_ns(),
            linktype: linktype::ETHERNET,
            orig_len: whole.len() as u32,
            data: &whole[..whole.len().min(snaplen)],
            offset: 0,
        });
        n += 1;
    }
    n
}

impl AfXdpCapture {
    /// Takes what the ring holds, up to [`BATCHES`] batches: (packets
    /// delivered, packets taken).
    fn drain(&mut self, f: &mut dyn FnMut(&RawPacket<'_>)) -> (usize, usize) {
        let (mut n, mut got) = (0, 0);
        for _ in 0..BATCHES {
            let Some(batch) = self.sock.next_batch() else {
                break;
            };
            got += batch.len();
            n += deliver(&batch, &mut self.filter, self.snaplen, &mut self.passed, f);
        }
        (n, got)
    }

    /// The receive queue this socket reads.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Whether the kernel writes packets straight into the frames (a
    /// driver with zero-copy AF_XDP) rather than copying them there.
    pub fn zero_copy(&self) -> bool {
        self.sock.is_zerocopy()
    }
}

impl Source for AfXdpCapture {
    fn interface(&self) -> &str {
        &self.interface
    }

    fn read(&mut self, f: &mut dyn FnMut(&RawPacket<'_>)) -> Result<usize, LiveError> {
        // What the ring holds, without a system call (netring's blocking
        // read polls whenever its cached count is empty, which it is after
        // every batch).
        let (mut n, got) = self.drain(f);
        if got > 0 {
            return Ok(n);
        }
        // An empty ring: let packets gather for a moment (one wake-up for
        // many packets, as TPACKET_V3's block timeout does), then wait.
        std::thread::sleep(GATHER);
        let (m, got) = self.drain(f);
        if got > 0 {
            return Ok(m);
        }
        let batch = self
            .sock
            .next_batch_blocking(self.timeout)
            .map_err(|e| err(&self.interface, format!("AF_XDP queue {}: {e}", self.queue)))?;
        if let Some(batch) = batch {
            n += deliver(&batch, &mut self.filter, self.snaplen, &mut self.passed, f);
        }
        Ok(n)
    }

    fn stats(&mut self) -> Result<LiveStats, LiveError> {
        let s = self
            .sock
            .statistics()
            .map_err(|e| err(&self.interface, e))?;
        // Lost for want of a free frame (or too long for one), and for
        // want of room in the receive ring; `rx_fill_ring_empty_descs`
        // counts again what the first already holds.
        let dropped = s.rx_dropped + s.rx_ring_full;
        Ok(LiveStats {
            received: self.passed + dropped,
            dropped,
            if_dropped: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_the_buffer_between_queues_within_bounds() {
        // 256 MiB of 4 KiB frames on one queue: 65536 frames.
        assert_eq!(frames_per_socket(256 << 20, 1), 65_536);
        assert_eq!(frames_per_socket(256 << 20, 4), 16_384);
        // At least 1024 frames, at most 2^18, always a power of two.
        assert_eq!(frames_per_socket(1 << 20, 8), 1024);
        assert_eq!(frames_per_socket(4 << 30, 1), 1 << 18);
        assert_eq!(frames_per_socket(300 << 20, 1), 65_536);
        assert_eq!(frames_per_socket(1 << 30, 0), 1 << 18);
    }

    #[test]
    fn refusals_name_what_is_missing() {
        let m = hint(
            "AF_XDP: setsockopt(XDP_UMEM_REG) failed: No buffer space available (os error 105)"
                .into(),
        );
        assert!(
            m.contains("RLIMIT_MEMLOCK") && m.contains("buffer_mib"),
            "{m}"
        );
        let m = hint(
            "AF_XDP: XDP loader (aya): map error: failed to create map `xsks_map` with code -1"
                .into(),
        );
        assert!(m.contains("CAP_BPF"), "{m}");
        let m = hint("AF_XDP: interface not found".into());
        assert_eq!(m, "AF_XDP: interface not found");
    }

    #[test]
    fn modes_map_to_the_kernels_attach_flags() {
        assert_eq!(flags(XdpAttach::Auto).bits(), 0);
        assert_eq!(flags(XdpAttach::Generic).bits(), 1 << 1);
        assert_eq!(flags(XdpAttach::Native).bits(), 1 << 2);
    }
}
