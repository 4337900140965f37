//! The hot path does not allocate per packet: once flows exist, decoding
//! and accounting packets (time moving on, timers firing and rescheduling)
//! makes no heap allocation. Checked with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mekong_sensor::capture::RawPacket;
use mekong_sensor::decode::{Decoded, Decoder, DefragConfig};
use mekong_sensor::flow::{FlowConfig, FlowTable};
use mekong_testkit::build::*;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SEC: u64 = 1_000_000_000;

/// One second of traffic: 100 UDP flows and 20 TCP connections each send a packet.
fn second(t: u64) -> Vec<(u64, Vec<u8>)> {
    let mut v = Vec::new();
    for k in 0..100u16 {
        v.push((
            t + u64::from(k) * 1000,
            udp4(
                [10, 0, 1, (k % 200) as u8],
                [10, 0, 2, 1],
                5000 + k,
                53,
                b"query",
            ),
        ));
    }
    for k in 0..20u16 {
        let seq = ((t / SEC) as u32).wrapping_mul(100).wrapping_add(1);
        v.push((
            t + 500_000 + u64::from(k),
            tcp4(
                [10, 0, 3, k as u8],
                [10, 0, 4, 1],
                40000 + k,
                443,
                seq,
                502,
                psh_ack(1),
                &[7u8; 100],
            ),
        ));
    }
    v
}

#[test]
fn steady_traffic_makes_no_allocation() {
    let cfg = FlowConfig::default();
    let mut table = FlowTable::new(cfg);
    let mut decoder = Decoder::new(DefragConfig::default());
    let mut out = Vec::with_capacity(1024);
    let t0 = 1_700_000_000 * SEC;
    let run =
        |from: u64, to: u64, table: &mut FlowTable, decoder: &mut Decoder, out: &mut Vec<_>| {
            let mut n = 0u64;
            for s in from..to {
                let pkts = second(t0 + s * SEC);
                COUNTING.store(true, Ordering::Relaxed);
                for (ts, frame) in &pkts {
                    let raw = RawPacket {
                        ts_ns: *ts,
                        linktype: 1,
                        orig_len: frame.len() as u32,
                        data: frame,
                        offset: 0,
                    };
                    if let Decoded::Packet(p) = decoder.decode(&raw) {
                        table.process(&p, out);
                        n += 1;
                    }
                }
                COUNTING.store(false, Ordering::Relaxed);
            }
            n
        };
    // Warm up: create the flows and let the timers cycle past the idle timeout.
    run(0, 200, &mut table, &mut decoder, &mut out);
    ALLOCS.store(0, Ordering::Relaxed);
    let n = run(200, 500, &mut table, &mut decoder, &mut out);
    assert_eq!(n, 300 * 120);
    assert_eq!(table.len(), 120);
    assert!(out.is_empty(), "no flow ended");
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations while accounting {n} packets"
    );
}
