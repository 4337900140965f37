//! A counting allocator: the bytes the process holds on its heap, and their
//! peak since the last reset.
//!
//! Resident-set figures cannot measure one stage inside a process: memory a
//! stage frees stays with the allocator and the next stage reuses it without
//! growing the resident set. Counting the bytes asked of the allocator does.

use std::alloc::{GlobalAlloc, Layout};

/// The allocator under the counting: the sensor's own (mimalloc), so that
/// the benchmark measures what `mekong-sensor` runs.
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

static LIVE: AtomicI64 = AtomicI64::new(0);
/// Counting is off until [`reset_peak`]: the timed runs share the process and
/// must not pay for the counters.
static ON: AtomicBool = AtomicBool::new(false);
static PEAK: AtomicI64 = AtomicI64::new(0);

/// The system allocator, counting live bytes.
pub struct Counting;

impl Counting {
    fn grew(by: usize) {
        if !ON.load(Ordering::Relaxed) {
            return;
        }
        let now = LIVE.fetch_add(by as i64, Ordering::Relaxed) + by as i64;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
    fn shrank(by: usize) {
        if !ON.load(Ordering::Relaxed) {
            return;
        }
        LIVE.fetch_sub(by as i64, Ordering::Relaxed);
    }
}

// SAFETY: every call forwards to the system allocator with the caller's
// arguments unchanged; the counters are plain atomics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { INNER.alloc(l) };
        if !p.is_null() {
            Self::grew(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { INNER.alloc_zeroed(l) };
        if !p.is_null() {
            Self::grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { INNER.dealloc(p, l) };
        Self::shrank(l.size());
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let q = unsafe { INNER.realloc(p, l, n) };
        if !q.is_null() {
            if n >= l.size() {
                Self::grew(n - l.size());
            } else {
                Self::shrank(l.size() - n);
            }
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated and not freed since counting began (memory freed that
/// was allocated before shows as a decrease, so read differences only).
pub fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Starts counting (once) and starts a new peak from the bytes held now.
pub fn reset_peak() {
    ON.store(true, Ordering::Relaxed);
    PEAK.store(live(), Ordering::Relaxed);
}

/// Stops counting (the next timed run must not pay for it).
pub fn stop() {
    ON.store(false, Ordering::Relaxed);
}

/// The most bytes held since [`reset_peak`].
pub fn peak() -> i64 {
    PEAK.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_buffer_counts_and_its_peak_stays_after_free() {
        // Other tests of this binary allocate meanwhile: allow them 1 MiB.
        const BIG: i64 = 16 << 20;
        const SLACK: i64 = 1 << 20;
        reset_peak();
        let before = live();
        let v = std::hint::black_box(vec![1u8; BIG as usize]);
        let held = live();
        assert!(held - before > BIG - SLACK, "{held} - {before}");
        drop(v);
        assert!(held - live() > BIG - SLACK);
        assert!(peak() - before > BIG - SLACK);
        stop();
    }
}
