//! A generational slab: `u64` keys that never alias a removed entry.
//!
//! Used by the wait queue (waiters and held permits) and the pool (slots). A key is
//! `generation << 32 | index`; removing an entry bumps the generation of its index, so a
//! stale key (a released permit used twice, a slot id kept after it was closed) misses
//! instead of reaching the entry that reuses the index. Generations wrap after 2³² reuses of
//! one index, far beyond any realistic reuse of a stale key.

use alloc::vec::Vec;

/// One place in the slab.
#[derive(Clone, Debug)]
enum Entry<T> {
    /// Holds a value.
    Occupied { generation: u32, value: T },
    /// Free; `next` is the next free index (`u32::MAX` ends the list).
    Vacant { generation: u32, next: u32 },
}

/// A slab of `T` with generational `u64` keys; see the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// Head of the free list (`u32::MAX`: empty).
    free: u32,
    len: usize,
}

const NONE: u32 = u32::MAX;

fn split(key: u64) -> (usize, u32) {
    // The low half is the index, the high half the generation: both fit by construction.
    ((key & 0xFFFF_FFFF) as usize, (key >> 32) as u32)
}

fn join(index: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | index as u64
}

impl<T> Slab<T> {
    /// An empty slab.
    pub(crate) const fn new() -> Self {
        Slab {
            entries: Vec::new(),
            free: NONE,
            len: 0,
        }
    }

    /// Number of values held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `value` and returns its key.
    ///
    /// # Panics
    /// If the slab would hold more than `u32::MAX - 1` values at once (far beyond any
    /// limiter or pool: memory runs out first).
    pub(crate) fn insert(&mut self, value: T) -> u64 {
        self.len += 1;
        if self.free != NONE {
            let index = self.free as usize;
            let entry = &mut self.entries[index];
            let Entry::Vacant { generation, next } = *entry else {
                unreachable!("the free list only links vacant entries");
            };
            self.free = next;
            *entry = Entry::Occupied { generation, value };
            return join(index, generation);
        }
        let index = self.entries.len();
        assert!(index < NONE as usize, "slab index space exhausted");
        self.entries.push(Entry::Occupied {
            generation: 0,
            value,
        });
        join(index, 0)
    }

    /// The value under `key`, if it is still there.
    pub(crate) fn get(&self, key: u64) -> Option<&T> {
        let (index, gen_wanted) = split(key);
        match self.entries.get(index) {
            Some(Entry::Occupied { generation, value }) if *generation == gen_wanted => Some(value),
            _ => None,
        }
    }

    /// The value under `key`, mutably, if it is still there.
    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let (index, gen_wanted) = split(key);
        match self.entries.get_mut(index) {
            Some(Entry::Occupied { generation, value }) if *generation == gen_wanted => Some(value),
            _ => None,
        }
    }

    /// Removes and returns the value under `key`, if it is still there.
    pub(crate) fn remove(&mut self, key: u64) -> Option<T> {
        let (index, gen_wanted) = split(key);
        let entry = self.entries.get_mut(index)?;
        match entry {
            Entry::Occupied { generation, .. } if *generation == gen_wanted => {}
            _ => return None,
        }
        let vacant = Entry::Vacant {
            generation: gen_wanted.wrapping_add(1),
            next: self.free,
        };
        let Entry::Occupied { value, .. } = core::mem::replace(entry, vacant) else {
            unreachable!("checked occupied just above");
        };
        // `index` came from a key this slab issued, so it fits in u32.
        self.free = index as u32;
        self.len -= 1;
        Some(value)
    }

    /// Every `(key, value)` held, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| match entry {
                Entry::Occupied { generation, value } => Some((join(index, *generation), value)),
                Entry::Vacant { .. } => None,
            })
    }

    /// Every `(key, value)` held, mutably, in index order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut T)> + '_ {
        self.entries
            .iter_mut()
            .enumerate()
            .filter_map(|(index, entry)| match entry {
                Entry::Occupied { generation, value } => Some((join(index, *generation), value)),
                Entry::Vacant { .. } => None,
            })
    }

    /// Checks the free list and the count; panics on a broken invariant.
    #[cfg(any(test, feature = "validate"))]
    pub(crate) fn validate(&self) {
        let occupied = self
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Occupied { .. }))
            .count();
        assert_eq!(occupied, self.len, "slab count out of step");
        let mut free = 0;
        let mut at = self.free;
        while at != NONE {
            match self.entries.get(at as usize) {
                Some(Entry::Vacant { next, .. }) => at = *next,
                _ => panic!("free list reaches an occupied or missing entry"),
            }
            free += 1;
            assert!(free <= self.entries.len(), "free list has a cycle");
        }
        assert_eq!(free + occupied, self.entries.len(), "lost slab entries");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_miss_after_reuse() {
        let mut s = Slab::new();
        let a = s.insert(1);
        let b = s.insert(2);
        assert_eq!(s.remove(a), Some(1));
        assert_eq!(s.remove(a), None);
        let c = s.insert(3);
        assert_ne!(a, c, "a reused index has a new generation");
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(c), Some(&3));
        assert_eq!(s.get(b), Some(&2));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().count(), 2);
        s.validate();
    }
}
