//! Live capture through Linux AF_PACKET with a TPACKET_V3 ring (the
//! `netring` crate): one socket per worker, joined in a fanout group that
//! hashes each packet's flow symmetrically, so that both directions of a
//! flow reach the same socket, whose reading thread feeds one worker: no
//! hashing in user space.
//!
//! The group reassembles IPv4 fragments in the kernel before choosing a
//! socket (`PACKET_FANOUT_FLAG_DEFRAG`, as Suricata's `defrag: yes`): the
//! kernel's hash leaves the ports out of fragments, which would part a
//! fragmented datagram from the rest of its flow. A worker so receives a
//! fragmented IPv4 datagram whole, as one packet of its reassembled size
//! (libpcap delivers its fragments); IPv6 fragments are not reassembled
//! by the kernel and may reach another worker than their flow.
//!
//! The BPF filter is compiled by libpcap and attached to every socket.
//! VLAN tags, which the kernel moves out of the frame, are put back as
//! libpcap does.

use std::time::Duration;

use netring::{BpfFilter, BpfInsn, FanoutFlags, FanoutMode};

use super::live::{chain, LiveError, LiveOptions, LiveStats, Source};
use super::{linktype, RawPacket};

/// One AF_PACKET socket of a fanout group.
pub struct AfPacketCapture {
    interface: String,
    cap: netring::Capture,
    timeout: Duration,
    received: u64,
    dropped: u64,
    /// A frame with its VLAN tag put back.
    scratch: Vec<u8>,
}

/// The fanout group of `interface` for this process (one per interface).
pub fn fanout_group(interface: &str) -> u16 {
    let mut h: u32 = std::process::id();
    for b in interface.bytes() {
        h = h.wrapping_mul(31).wrapping_add(u32::from(b));
    }
    (h ^ (h >> 16)) as u16
}

/// The filter compiled by libpcap for Ethernet, as socket-filter code.
fn compile(expr: &str) -> Result<BpfFilter, String> {
    let dead = pcap::Capture::dead(pcap::Linktype(i32::from(linktype::ETHERNET)))
        .map_err(|e| e.to_string())?;
    let prog = dead.compile(expr, true).map_err(|e| e.to_string())?;
    // libpcap prints each instruction as "code jt jf k".
    let mut v = Vec::new();
    for i in prog.get_instructions() {
        let t = i.to_string();
        let f: Vec<u64> = t
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [code, jt, jf, k] = f[..] else {
            return Err(format!("unexpected instruction {t:?}"));
        };
        v.push(BpfInsn {
            code: code as u16,
            jt: jt as u8,
            jf: jf as u8,
            k: k as u32,
        });
    }
    BpfFilter::new(v).map_err(|e| e.to_string())
}

impl AfPacketCapture {
    /// Opens one socket of `interface`'s fanout group `group`; the ring
    /// holds `ring_bytes`.
    pub fn open(
        interface: &str,
        o: &LiveOptions,
        group: u16,
        ring_bytes: usize,
    ) -> Result<AfPacketCapture, LiveError> {
        let err = |msg: String| LiveError {
            interface: interface.to_string(),
            msg,
        };
        let block = 1usize << 20;
        let mut b = netring::Capture::builder()
            .interface(interface)
            .snap_len(o.snaplen)
            .block_size(block)
            .block_count((ring_bytes / block).max(4))
            .frame_size(2048)
            .block_timeout_ms(o.timeout_ms.max(1))
            .promiscuous(o.promiscuous)
            .fanout(FanoutMode::Hash, group)
            .fanout_flags(FanoutFlags::DEFRAG);
        if !o.filter.is_empty() {
            let f =
                compile(&o.filter).map_err(|e| err(format!("BPF filter {:?}: {e}", o.filter)))?;
            b = b.bpf_filter(f);
        }
        let cap = b.build().map_err(|e| err(chain(&e)))?;
        Ok(AfPacketCapture {
            interface: interface.to_string(),
            cap,
            timeout: Duration::from_millis(u64::from(o.timeout_ms.max(1))),
            received: 0,
            dropped: 0,
            scratch: Vec::with_capacity(1 << 16),
        })
    }
}

impl Source for AfPacketCapture {
    fn interface(&self) -> &str {
        &self.interface
    }

    fn read(&mut self, f: &mut dyn FnMut(&RawPacket<'_>)) -> Result<usize, LiveError> {
        let batch = self
            .cap
            .next_batch_blocking(self.timeout)
            .map_err(|e| LiveError {
                interface: self.interface.clone(),
                msg: e.to_string(),
            })?;
        let Some(batch) = batch else {
            return Ok(0);
        };
        let mut n = 0;
        for p in batch.iter() {
            let ts = p.timestamp();
            let ts_ns = u64::from(ts.sec) * 1_000_000_000 + u64::from(ts.nsec);
            let data = p.data();
            let st = p.status();
            let mut orig_len = p.original_len() as u32;
            let frame: &[u8] = if st.vlan_valid && data.len() >= 12 {
                let tpid = if st.vlan_tpid_valid && p.vlan_tpid() != 0 {
                    p.vlan_tpid()
                } else {
                    0x8100
                };
                self.scratch.clear();
                self.scratch.extend_from_slice(&data[..12]);
                self.scratch.extend_from_slice(&tpid.to_be_bytes());
                self.scratch.extend_from_slice(&p.vlan_tci().to_be_bytes());
                self.scratch.extend_from_slice(&data[12..]);
                orig_len += 4;
                &self.scratch
            } else {
                data
            };
            f(&RawPacket {
                ts_ns,
                linktype: linktype::ETHERNET,
                orig_len,
                data: frame,
                offset: 0,
            });
            n += 1;
        }
        Ok(n)
    }

    fn stats(&mut self) -> Result<LiveStats, LiveError> {
        // The kernel's counters reset at each reading: kept as totals here.
        let s = self.cap.stats().map_err(|e| LiveError {
            interface: self.interface.clone(),
            msg: e.to_string(),
        })?;
        self.received += u64::from(s.packets);
        self.dropped += u64::from(s.drops);
        Ok(LiveStats {
            received: self.received,
            dropped: self.dropped,
            if_dropped: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_what_tcpdump_compiles() {
        for expr in [
            "udp",
            "tcp port 80 or icmp",
            "vlan and host 10.0.0.1",
            "not arp",
        ] {
            let f = compile(expr).unwrap();
            let o = std::process::Command::new("tcpdump")
                .args(["-y", "EN10MB", "-s", "65535", "-dd", expr])
                .output()
                .expect("tcpdump (scripts/setup.sh installs it)");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let want: Vec<(u16, u8, u8, u32)> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| {
                    let v: Vec<u32> = l
                        .trim_matches(|c| "{ },".contains(c))
                        .split(',')
                        .map(|x| {
                            let x = x.trim();
                            match x.strip_prefix("0x") {
                                Some(h) => u32::from_str_radix(h, 16).unwrap(),
                                None => x.parse().unwrap(),
                            }
                        })
                        .collect();
                    (v[0] as u16, v[1] as u8, v[2] as u8, v[3])
                })
                .collect();
            let got: Vec<(u16, u8, u8, u32)> = f
                .instructions()
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect();
            assert_eq!(got, want, "{expr}");
        }
        assert!(compile("udp port port").is_err());
    }

    #[test]
    fn each_interface_has_its_own_group() {
        assert_ne!(fanout_group("eth1"), fanout_group("eth2"));
        assert_eq!(fanout_group("eth1"), fanout_group("eth1"));
    }
}
