//! A side table by flow-table slot: the rule stage's state of each flow,
//! found by index (no hashing on the per-packet path), boxed so that empty
//! slots cost one pointer.

/// State by slot.
#[derive(Debug)]
pub struct Slots<T> {
    v: Vec<Option<Box<T>>>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots { v: Vec::new() }
    }
}

impl<T: Default> Slots<T> {
    /// The state of `slot`, if any.
    pub fn get(&self, slot: &u32) -> Option<&T> {
        self.v.get(*slot as usize).and_then(|x| x.as_deref())
    }

    /// The state of `slot`, if any, to change.
    pub fn get_mut(&mut self, slot: &u32) -> Option<&mut T> {
        self.v
            .get_mut(*slot as usize)
            .and_then(|x| x.as_deref_mut())
    }

    /// The state of `slot`, made when absent.
    pub fn get_or_default(&mut self, slot: u32) -> &mut T {
        let i = slot as usize;
        if self.v.len() <= i {
            // Grows by doubling: slots come from a bounded flow table.
            let n = (i + 1).next_power_of_two();
            self.v.resize_with(n, || None);
        }
        self.v[i].get_or_insert_with(Default::default)
    }

    /// Takes the state of `slot` away.
    pub fn remove(&mut self, slot: &u32) -> Option<T> {
        self.v
            .get_mut(*slot as usize)
            .and_then(Option::take)
            .map(|b| *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hold_and_forget() {
        let mut s: Slots<Vec<u8>> = Slots::default();
        assert!(s.get(&7).is_none());
        s.get_or_default(7).push(1);
        s.get_or_default(7).push(2);
        assert_eq!(s.get(&7), Some(&vec![1, 2]));
        assert!(s.get(&3).is_none());
        s.get_mut(&7).unwrap().push(3);
        assert_eq!(s.remove(&7), Some(vec![1, 2, 3]));
        assert!(s.get(&7).is_none() && s.remove(&7).is_none());
        assert!(s.get(&1_000_000).is_none());
    }
}
