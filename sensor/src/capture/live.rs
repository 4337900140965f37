//! Live capture from an interface through libpcap: a large kernel buffer,
//! nanosecond timestamps, the BPF filter in the kernel, and libpcap's own
//! counters (received, dropped by the kernel, dropped by the interface).

use std::os::fd::AsRawFd;

use pcap::{Active, Capture, Precision};
use thiserror::Error;

use super::RawPacket;

/// An interface that could not be opened or set up.
#[derive(Debug, Error)]
#[error("capture on {interface}: {msg}")]
pub struct LiveError {
    /// The interface.
    pub interface: String,
    /// libpcap's message.
    pub msg: String,
}

/// How an interface is opened.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Bytes kept of each packet.
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Kernel buffer, bytes.
    pub buffer_bytes: u32,
    /// Longest wait for packets before the read returns, ms.
    pub timeout_ms: u32,
    /// BPF filter ("" for none).
    pub filter: String,
}

/// An error and its causes, each once.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut m = e.to_string();
    let mut s = e.source();
    while let Some(c) = s {
        let t = c.to_string();
        if !m.contains(&t) {
            m.push_str(": ");
            m.push_str(&t);
        }
        s = c.source();
    }
    m
}

/// A live packet source: an interface opened by libpcap, one socket of an
/// AF_PACKET fanout group, or the AF_XDP socket of one receive queue.
pub trait Source: Send {
    /// The interface.
    fn interface(&self) -> &str;
    /// Hands the packets that are waiting to `f`, after waiting up to the
    /// timeout for some; returns how many (0 when none came).
    fn read(&mut self, f: &mut dyn FnMut(&RawPacket<'_>)) -> Result<usize, LiveError>;
    /// The counters since it was opened.
    fn stats(&mut self) -> Result<LiveStats, LiveError>;
}

/// The capture's own counters, since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets the kernel passed the filter (libpcap's `ps_recv`).
    pub received: u64,
    /// Packets dropped because the buffer was full (`ps_drop`).
    pub dropped: u64,
    /// Packets the interface dropped (`ps_ifdrop`).
    pub if_dropped: u64,
}

/// One open interface.
pub struct LiveCapture {
    interface: String,
    cap: Capture<Active>,
    linktype: u16,
    /// 32-bit counters of libpcap, widened: (last raw value, total).
    wide: [(u32, u64); 3],
    timeout_ms: i32,
    /// The last read found a packet: the ring may hold more.
    pending: bool,
}

impl LiveCapture {
    /// Opens `interface` (this needs CAP_NET_RAW, and CAP_NET_ADMIN for
    /// promiscuous mode).
    pub fn open(interface: &str, o: &LiveOptions) -> Result<LiveCapture, LiveError> {
        let err = |msg: String| LiveError {
            interface: interface.to_string(),
            msg,
        };
        let cap = Capture::from_device(interface)
            .map_err(|e| err(e.to_string()))?
            .promisc(o.promiscuous)
            .snaplen(o.snaplen.min(i32::MAX as u32) as i32)
            .buffer_size(o.buffer_bytes.min(i32::MAX as u32) as i32)
            .timeout(o.timeout_ms.max(1) as i32)
            .precision(Precision::Nano)
            .open()
            .map_err(|e| err(e.to_string()))?;
        // Non-blocking, with the wait done here: libpcap's own wait on a
        // TPACKET_V3 ring has no timeout while no packet comes, and an idle
        // link must still let the reader see a stop.
        let mut cap = cap.setnonblock().map_err(|e| err(e.to_string()))?;
        if !o.filter.is_empty() {
            cap.filter(&o.filter, true)
                .map_err(|e| err(format!("BPF filter {:?}: {e}", o.filter)))?;
        }
        let linktype = u16::try_from(cap.get_datalink().0).unwrap_or(u16::MAX);
        Ok(LiveCapture {
            interface: interface.to_string(),
            cap,
            linktype,
            wide: [(0, 0); 3],
            timeout_ms: o.timeout_ms.clamp(1, 60_000) as i32,
            pending: true,
        })
    }

    /// The interface's name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The link type (pcap's LINKTYPE_ value).
    pub fn linktype(&self) -> u16 {
        self.linktype
    }

    /// Waits for the next packet up to the timeout: `Ok(None)` when none
    /// came; an error when the interface went away.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, LiveError> {
        // After a packet, more may wait in the ring's current block, which
        // poll does not report: read on until the ring is empty, then wait.
        if !self.pending {
            if !self.wait()? {
                return Ok(None);
            }
            self.pending = true;
        }
        match self.cap.next_packet() {
            Ok(p) => {
                let ts = &p.header.ts;
                // Nanosecond precision: tv_usec holds nanoseconds.
                let ts_ns = (ts.tv_sec.max(0) as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(ts.tv_usec.max(0) as u64);
                Ok(Some(RawPacket {
                    ts_ns,
                    linktype: self.linktype,
                    orig_len: p.header.len,
                    data: p.data,
                    offset: 0,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => {
                self.pending = false;
                Ok(None)
            }
            Err(e) => Err(LiveError {
                interface: self.interface.clone(),
                msg: e.to_string(),
            }),
        }
    }

    /// Waits up to the timeout for the ring to have packets.
    fn wait(&mut self) -> Result<bool, LiveError> {
        let mut fd = libc::pollfd {
            fd: self.cap.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, owned by this frame, for the duration
        // of the call.
        #[allow(unsafe_code)]
        let n = unsafe { libc::poll(&mut fd, 1, self.timeout_ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(LiveError {
                interface: self.interface.clone(),
                msg: e.to_string(),
            });
        }
        if fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
            && fd.revents & libc::POLLIN == 0
        {
            return Err(LiveError {
                interface: self.interface.clone(),
                msg: "the interface went down or away".into(),
            });
        }
        Ok(n > 0)
    }

    /// The counters since the capture was opened (libpcap's 32-bit
    /// counters widened across wrap-arounds: read at least every few
    /// minutes at line rate).
    pub fn stats(&mut self) -> Result<LiveStats, LiveError> {
        let s = self.cap.stats().map_err(|e| LiveError {
            interface: self.interface.clone(),
            msg: e.to_string(),
        })?;
        for (i, raw) in [s.received, s.dropped, s.if_dropped]
            .into_iter()
            .enumerate()
        {
            let (last, total) = &mut self.wide[i];
            *total += u64::from(raw.wrapping_sub(*last));
            *last = raw;
        }
        Ok(LiveStats {
            received: self.wide[0].1,
            dropped: self.wide[1].1,
            if_dropped: self.wide[2].1,
        })
    }
}

/// Packets handed over by one [`Source::read`] of libpcap at most, so
/// that the reader looks at its clock between them.
const READ_MAX: usize = 1024;

impl Source for LiveCapture {
    fn interface(&self) -> &str {
        &self.interface
    }

    fn read(&mut self, f: &mut dyn FnMut(&RawPacket<'_>)) -> Result<usize, LiveError> {
        let mut n = 0;
        while n < READ_MAX {
            match self.next_packet()? {
                Some(p) => f(&p),
                None => break,
            }
            n += 1;
        }
        Ok(n)
    }

    fn stats(&mut self) -> Result<LiveStats, LiveError> {
        LiveCapture::stats(self)
    }
}
