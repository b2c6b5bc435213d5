//! Ghosts: the keys the policy recently turned away, remembered by a fingerprint only, so a
//! miss on one of them says which half of the cache made the wrong call (as ARC's B1/B2
//! lists do).
//!
//! - A candidate that TinyLFU admission **rejected** and that is asked for again soon: the
//!   recency half (the window) was too small to keep it. The window grows.
//! - A main-space **victim** (evicted from probation for a candidate, or when the window
//!   overflowed) asked for again soon: the frequency half was too small. The window shrinks.
//!
//! The table is direct-mapped (one 32-bit fingerprint per slot, a new ghost overwrites an
//! old one), about one slot per cache entry: 4 bytes an entry, O(1) per operation, and old
//! ghosts fade as new ones land on their slots. A false match costs one nudge of the window,
//! which the next nudges and the hill climber correct.

use alloc::vec;
use alloc::vec::Vec;

/// Which decision a ghost records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ghost {
    /// Rejected by admission: evidence for a larger window.
    Rejected,
    /// Evicted from the main space: evidence for a smaller window.
    Victim,
}

/// The ghost table; see the module documentation.
#[derive(Debug)]
pub(super) struct Ghosts {
    /// `fingerprint (15 bits) << 17 | kind << 16 | stamp (16 bits)`, 0 for an empty slot.
    slots: Vec<u32>,
    /// Lookups per stamp unit, as a shift: a stamp counts lookups `>> shift`.
    shift: u32,
    /// Ghosts of each kind in the table ([`Ghost::Rejected`], [`Ghost::Victim`]).
    counts: [u32; 2],
}

/// Most slots (16 KiB): past 32,768 entries the table samples fewer of the keys turned
/// away, which the ratio weighting tolerates (a sample of the returns), and the cache's
/// overhead stays within 48 bytes an entry.
const MAX_SLOTS: usize = 4096;
const KIND_BIT: u32 = 1 << 16;
const STAMP_MASK: u32 = 0xFFFF;

#[inline]
fn slot_and_fingerprint(hash: u64, len: usize) -> (usize, u32) {
    // The index table and the sketch use the low bits; take the slot from the middle
    // (scaled to the length by a multiply, so any length works) and the fingerprint from
    // the top (never 0: its top bit is forced on).
    let slot = ((u64::from((hash >> 20) as u32) * len as u64) >> 32) as usize;
    let fingerprint = ((hash >> 50) as u32 | 0x4000) << 17;
    (slot, fingerprint)
}

impl Ghosts {
    /// A table for a cache of about `entries` entries: a slot per eight entries (half a
    /// byte an entry, at most [`MAX_SLOTS`]). Measured on the whole trace suite: one slot per two entries gave a
    /// larger mean gap to Bélády (4.53 against 4.40 points at the same gain); the returns
    /// the smaller table sees are a sample, and the ratio weighting keeps it unbiased.
    pub(super) fn new(entries: usize) -> Ghosts {
        let len = (entries / 8).clamp(1, MAX_SLOTS);
        Ghosts {
            slots: vec![0; len],
            // About 1,024 stamp units per table length of lookups (ages are compared with
            // about twice the length).
            shift: (usize::BITS - len.leading_zeros()).saturating_sub(10),
            counts: [0; 2],
        }
    }

    /// Slots in the table.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every ghost.
    pub(super) fn clear(&mut self) {
        self.slots.fill(0);
        self.counts = [0; 2];
    }

    /// Remembers that the key of `hash` was turned away as `kind`, `lookups` into the run.
    #[inline]
    pub(super) fn record(&mut self, hash: u64, kind: Ghost, lookups: u64) {
        let (slot, fingerprint) = slot_and_fingerprint(hash, self.slots.len());
        let stamp = (lookups >> self.shift) as u32 & STAMP_MASK;
        let bit = if kind == Ghost::Victim { KIND_BIT } else { 0 };
        let old = core::mem::replace(&mut self.slots[slot], fingerprint | bit | stamp);
        self.forget(old);
        self.counts[kind as usize] += 1;
    }

    fn forget(&mut self, old: u32) {
        if old != 0 {
            self.counts[usize::from(old & KIND_BIT != 0)] -= 1;
        }
    }

    /// Ghosts of `kind` in the table.
    pub(super) fn count(&self, kind: Ghost) -> u32 {
        self.counts[kind as usize]
    }

    /// The ghost of the key of `hash` if it was recorded at most `max_age` lookups before
    /// `lookups`; forgotten as it is returned (or found too old).
    #[inline]
    pub(super) fn take(&mut self, hash: u64, lookups: u64, max_age: u64) -> Option<Ghost> {
        let (slot, fingerprint) = slot_and_fingerprint(hash, self.slots.len());
        let old = self.slots[slot];
        if old == 0 || old & !(KIND_BIT | STAMP_MASK) != fingerprint {
            return None;
        }
        self.slots[slot] = 0;
        self.forget(old);
        let now = (lookups >> self.shift) as u32;
        let age = u64::from(now.wrapping_sub(old) & STAMP_MASK) << self.shift;
        if age > max_age {
            return None;
        }
        Some(if old & KIND_BIT == 0 {
            Ghost::Rejected
        } else {
            Ghost::Victim
        })
    }

    /// Bytes on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u64 = 0xDEAD_BEEF_1234_5678;
    const B: u64 = 0x1111_2222_3333_4444;

    #[test]
    fn a_ghost_is_found_once_while_young() {
        let mut g = Ghosts::new(800);
        assert_eq!(g.len(), 100);
        g.record(A, Ghost::Rejected, 10);
        g.record(B, Ghost::Victim, 11);
        assert_eq!(g.take(A, 20, 100), Some(Ghost::Rejected));
        assert_eq!(g.take(A, 20, 100), None);
        assert_eq!(g.take(B, 111, 100), Some(Ghost::Victim));
        // Too old: not evidence, and forgotten.
        g.record(A, Ghost::Victim, 10);
        assert_eq!(g.take(A, 200, 100), None);
        assert_eq!(g.take(A, 20, 100), None);
        // Same slot, another fingerprint: not a ghost; a new ghost replaces the old one.
        let (a2, b2) = (0x8000_0000_0010_0000, 0x4000_0000_0010_0000);
        g.record(a2, Ghost::Victim, 0);
        assert_eq!(g.take(b2, 1, 100), None);
        g.record(b2, Ghost::Rejected, 1);
        assert_eq!(g.take(a2, 2, 100), None);
        assert_eq!(g.take(b2, 2, 100), Some(Ghost::Rejected));
    }
}
