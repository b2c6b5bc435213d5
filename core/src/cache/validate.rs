//! The invariant check behind every model-based test.

use alloc::vec;
use core::hash::{BuildHasher, Hash};

use super::store::{NEVER, Segment};
use super::{Cache, Weigher};

impl<K: Hash + Eq, V, W: Weigher<K, V>, S: BuildHasher> Cache<K, V, W, S> {
    /// Checks every invariant; panics naming the broken one. Test support, not API.
    ///
    /// Checked: each entry is in exactly one segment list with consistent links, and in
    /// the index table under its key; segment weights and counts match the entries; the
    /// timer wheel holds exactly the entries with a deadline, each in its right bucket;
    /// L1, the window and the whole cache are within their capacities; and the statistics
    /// add up (lookups per tier, and each tier's length from its counters).
    #[doc(hidden)]
    pub fn validate(&self) {
        self.store.check_free();
        let mut seen = vec![false; self.store.slots.len()];
        let mut listed = 0;
        for seg in Segment::ALL {
            let ids = self.store.walk(seg);
            let mut weight = 0;
            for &i in &ids {
                assert!(!seen[i as usize], "entry {i} is in two lists");
                seen[i as usize] = true;
                weight += self.weight_of(i);
            }
            assert_eq!(weight, self.weights[seg as usize], "weight of {seg:?}");
            listed += ids.len();
        }
        assert_eq!(listed, self.store.len(), "an entry is in no list");
        assert_eq!(self.table.len(), self.store.len(), "index table size");
        for &i in &self.table {
            let key = &self.store.entry(i).key;
            assert_eq!(
                self.find(self.hasher.hash_one(key), key),
                Some(i),
                "entry {i} not found under its key"
            );
        }
        let timed = self.wheel.walk(&self.store.slots).len();
        let with_deadline = self
            .store
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref())
            .filter(|e| e.deadline.get() != NEVER)
            .count();
        assert_eq!(timed, with_deadline, "wheel vs entries with a deadline");

        let protected = self.weights[Segment::Protected as usize];
        assert!(protected <= self.l1_target, "L1 over its target");
        assert!(
            self.l1_target <= self.config.l1_capacity,
            "L1 target over capacity"
        );
        assert!(
            self.window_capacity == self.climber.window()
                && self.window_capacity <= self.config.capacity,
            "window target out of range"
        );
        assert!(self.weight() <= self.config.capacity, "cache over capacity");
        assert!(self.store.len() <= self.max_entries, "too many entries");
        assert!(
            self.sketch.entries() <= self.max_entries.max(1),
            "sketch oversized"
        );

        let s = self.stats();
        let (l1, l2) = (s.l1, s.l2);
        assert_eq!(l2.hits + l2.misses, l1.misses, "L2 lookups != L1 misses");
        assert_eq!(s.lookups(), l1.hits + l1.misses, "lookups");
        assert_eq!(l1.inserts, 0, "inserts go to L2");
        assert_eq!(
            (l2.promotions, l2.demotions),
            (0, 0),
            "L2 has no tier below"
        );
        let net = |t: &super::TierStats, inflow: u64, outflow: u64| {
            i128::from(t.inserts) + i128::from(inflow)
                - i128::from(outflow)
                - i128::from(t.evictions)
                - i128::from(t.expirations)
                - i128::from(t.removals)
                - i128::from(t.cleared)
        };
        assert_eq!(
            net(&l1, l1.promotions, l1.demotions),
            i128::from(l1.len),
            "L1 counters do not add up to its length"
        );
        assert_eq!(
            net(&l2, l1.demotions, l1.promotions),
            i128::from(l2.len),
            "L2 counters do not add up to its length"
        );
        assert_eq!(s.len(), self.store.len() as u64);
    }
}
