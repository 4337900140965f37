//! Bounded state for counting: distinct values up to a cap, and keyed state
//! that lives for a window of packet time from its first event.

use std::hash::Hash;
use std::net::IpAddr;

use hashbrown::HashMap;

/// A 64-bit hash of a value (splitmix64 over its bytes), the same in every
/// run: distinct counting and incident ids rely on it.
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(w));
    }
    h
}

/// splitmix64's finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of an address.
pub fn hash_ip(a: IpAddr) -> u64 {
    match a {
        IpAddr::V4(v) => mix(u64::from(u32::from(v))),
        IpAddr::V6(v) => hash64(&v.octets()),
    }
}

/// Distinct 64-bit values, exactly up to `cap`, then only counted as
/// "at least `cap`" (a flood cannot grow it).
#[derive(Clone, Debug, Default)]
pub struct Distinct {
    seen: Vec<u64>,
    cap: usize,
}

impl Distinct {
    /// An empty set remembering at most `cap` values.
    pub fn new(cap: usize) -> Distinct {
        Distinct {
            seen: Vec::new(),
            cap: cap.max(1),
        }
    }

    /// Adds `v`; true when it was new (and remembered).
    pub fn insert(&mut self, v: u64) -> bool {
        if self.seen.len() >= self.cap {
            return false;
        }
        match self.seen.binary_search(&v) {
            Ok(_) => false,
            Err(i) => {
                self.seen.insert(i, v);
                true
            }
        }
    }

    /// True when `v` is remembered.
    pub fn contains(&self, v: u64) -> bool {
        self.seen.binary_search(&v).is_ok()
    }

    /// Values remembered (at most the cap).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// True when the cap is reached.
    pub fn full(&self) -> bool {
        self.seen.len() >= self.cap
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.seen.clear();
    }
}

/// State per key, each living for `window` ns from its first event, in a
/// table of at most `cap` keys.
#[derive(Debug)]
pub struct Windowed<K, S> {
    map: HashMap<K, (u64, S)>,
    window: u64,
    cap: usize,
    last_sweep: u64,
    /// Keys refused because the table was full of live windows.
    pub refused: u64,
}

/// What [`Windowed::get`] found.
pub enum Slot<'a, S> {
    /// The key's state (new or reset when its window had passed) and the
    /// start of its window.
    Live(&'a mut S, u64),
    /// The table is full.
    Full,
}

impl<K: Hash + Eq + Copy, S: Default> Windowed<K, S> {
    /// A table of windows of `window_ns`.
    pub fn new(window_ns: u64, cap: usize) -> Self {
        Windowed {
            map: HashMap::new(),
            window: window_ns.max(1),
            cap: cap.max(1),
            last_sweep: 0,
            refused: 0,
        }
    }

    /// The state of `key` at `ts`: a fresh one when the key is new or its
    /// window ended.
    pub fn get(&mut self, key: K, ts: u64) -> Slot<'_, S> {
        if self.map.len() >= self.cap && !self.map.contains_key(&key) {
            // Full: expired windows are dropped at most once a second of
            // packet time (a flood of new keys must not rescan the table
            // for each), else the key is refused and counted.
            self.sweep(ts);
            if self.map.len() >= self.cap {
                self.refused += 1;
                return Slot::Full;
            }
        }
        let w = self.window;
        let e = self.map.entry(key).or_insert_with(|| (ts, S::default()));
        if ts.saturating_sub(e.0) > w {
            *e = (ts, S::default());
        }
        Slot::Live(&mut e.1, e.0)
    }

    /// The state of `key`, if its window is live at `ts`.
    pub fn peek(&mut self, key: &K, ts: u64) -> Option<(&mut S, u64)> {
        let w = self.window;
        match self.map.get_mut(key) {
            Some(e) if ts.saturating_sub(e.0) <= w => Some((&mut e.1, e.0)),
            _ => None,
        }
    }

    /// Drops windows that ended before `ts` (at most once a second of
    /// packet time).
    pub fn sweep(&mut self, ts: u64) {
        if ts.saturating_sub(self.last_sweep) < 1_000_000_000 {
            return;
        }
        self.last_sweep = ts;
        let w = self.window;
        self.map
            .retain(|_, (start, _)| ts.saturating_sub(*start) <= w);
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Median of a slice (sorted in place); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// The `q` quantile (linear interpolation) of a slice, sorted in place.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let f = pos - lo as f64;
    v[lo] * (1.0 - f) + v[hi] * f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_counts_up_to_its_cap() {
        let mut d = Distinct::new(3);
        assert!(d.insert(5));
        assert!(!d.insert(5));
        assert!(d.insert(1));
        assert!(d.insert(9));
        assert!(d.full());
        assert!(!d.insert(7), "beyond the cap nothing is remembered");
        assert_eq!(d.len(), 3);
        assert!(d.contains(1) && !d.contains(7));
    }

    #[test]
    fn windows_restart_after_their_length() {
        let mut w: Windowed<u32, u32> = Windowed::new(10, 2);
        let Slot::Live(s, start) = w.get(1, 100) else {
            panic!()
        };
        *s += 1;
        assert_eq!(start, 100);
        let Slot::Live(s, _) = w.get(1, 110) else {
            panic!()
        };
        assert_eq!(*s, 1, "still in the window");
        let Slot::Live(s, start) = w.get(1, 111) else {
            panic!()
        };
        assert_eq!((*s, start), (0, 111), "a new window");
        let _ = w.get(2, 111);
        assert!(matches!(w.get(3, 112), Slot::Full));
        assert_eq!(w.refused, 1);
    }

    #[test]
    fn quantiles() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&mut v), 2.5);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut v, 1.0), 4.0);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn hashes_are_stable() {
        assert_eq!(hash64(b"abc"), hash64(b"abc"));
        assert_ne!(hash64(b"abc"), hash64(b"abd"));
        assert_ne!(
            hash_ip("10.0.0.1".parse().unwrap()),
            hash_ip("10.0.0.2".parse().unwrap())
        );
    }
}
