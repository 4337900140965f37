//! Stream buffers under a global budget: every buffer a flow holds (the
//! unparsed start of a direction, or segments waiting for a hole to fill)
//! comes from here, all of one size, and the total held is capped.

/// Buffers of one size, counted against a budget.
#[derive(Debug)]
pub struct BufPool {
    size: usize,
    budget: usize,
    held: usize,
    free: Vec<Vec<u8>>,
    /// Most bytes held at once.
    pub peak: usize,
    /// Requests refused because the budget was used up.
    pub refused: u64,
}

/// Free buffers kept for reuse at most.
const KEEP_FREE: usize = 1024;

impl BufPool {
    /// A pool of `size`-byte buffers holding at most `budget` bytes.
    pub fn new(size: usize, budget: usize) -> BufPool {
        BufPool {
            size: size.max(64),
            budget,
            held: 0,
            free: Vec::new(),
            peak: 0,
            refused: 0,
        }
    }

    /// Size of every buffer.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bytes held by flows now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// An empty buffer with capacity [`size`](Self::size), or `None` when
    /// the budget is used up.
    pub fn get(&mut self) -> Option<Vec<u8>> {
        if self.held + self.size > self.budget {
            self.refused += 1;
            return None;
        }
        self.held += self.size;
        self.peak = self.peak.max(self.held);
        Some(
            self.free
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.size)),
        )
    }

    /// Gives a buffer back.
    pub fn put(&mut self, mut b: Vec<u8>) {
        self.held = self.held.saturating_sub(self.size);
        if self.free.len() < KEEP_FREE && b.capacity() >= self.size {
            b.clear();
            self.free.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_caps_what_is_held() {
        let mut p = BufPool::new(1024, 3000);
        let a = p.get().expect("first");
        let b = p.get().expect("second");
        assert!(p.get().is_none(), "a third would pass the budget");
        assert_eq!(p.refused, 1);
        assert_eq!(p.held(), 2048);
        p.put(a);
        assert!(p.get().is_some(), "room again after a buffer came back");
        p.put(b);
        assert_eq!(p.peak, 2048);
    }
}
