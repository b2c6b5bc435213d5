//! The slab of entries and the intrusive lists that order them.
//!
//! Entries live in a `Vec<Option<Entry>>` addressed by `u32` indices; freed indices are
//! reused. Each entry sits in exactly one of three circular doubly-linked lists (one per
//! [`Segment`]), oldest first, and carries the links of the
//! timer wheel. Links are `u32`: ids below [`MAX_ENTRIES`] are slab indices, the three ids
//! just above are the lists' sentinels. The segment of an entry is kept in the top two bits
//! of its `next` link and its "referenced" bit (set by a hit, read lazily by the policy,
//! CLOCK-style) in the top bit of `prev`; `Option<Entry>` costs nothing over `Entry` (the
//! niche of the `NonZeroU64` deadline), so an entry costs its key, its value and 24 bytes.

use alloc::vec::Vec;
use core::num::NonZeroU64;

use super::stats::Tier;

/// Bits of a list link that hold an id; the two above hold the entry's segment.
const LINK_BITS: u32 = 30;
const LINK_MASK: u32 = (1 << LINK_BITS) - 1;
/// The referenced bit, in `prev`.
const REFERENCED: u32 = 1 << 31;
/// Id of the sentinel of segment 0; segments 1 and 2 follow.
const SENTINEL_BASE: u32 = LINK_MASK - 3;
/// Most entries a cache can hold at once: every slab index is below the sentinels.
pub(super) const MAX_ENTRIES: usize = SENTINEL_BASE as usize;
/// "No link" for the timer links of an entry that is not in the wheel.
pub(super) const NIL: u32 = u32::MAX;
/// The deadline of an entry that never expires.
pub(super) const NEVER: u64 = u64::MAX;

/// Where an entry sits in the eviction policy (W-TinyLFU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Segment {
    /// The admission window (L2): every new entry starts here.
    Window = 0,
    /// The probation part of the main space (L2): admitted, not hit since.
    Probation = 1,
    /// The protected part of the main space (L1): hit while on probation.
    Protected = 2,
}

impl Segment {
    pub(super) const ALL: [Segment; 3] = [Segment::Window, Segment::Probation, Segment::Protected];

    #[inline]
    fn from_bits(bits: u32) -> Segment {
        match bits {
            0 => Segment::Window,
            1 => Segment::Probation,
            _ => Segment::Protected,
        }
    }

    /// The tier this segment belongs to.
    pub(super) fn tier(self) -> Tier {
        match self {
            Segment::Window | Segment::Probation => Tier::L2,
            Segment::Protected => Tier::L1,
        }
    }

    #[inline]
    fn sentinel(self) -> u32 {
        SENTINEL_BASE + self as u32
    }
}

/// One cached entry.
#[derive(Debug)]
pub(super) struct Entry<K, V> {
    pub(super) key: K,
    pub(super) value: V,
    /// Nanoseconds at which the entry expires ([`NEVER`]: it does not).
    pub(super) deadline: NonZeroU64,
    /// Previous (older) id in the segment's list; top bit: referenced since last looked at.
    prev: u32,
    /// Next (more recently used) id in the list; segment in the top two bits.
    next: u32,
    /// Timer-wheel links, owned by [`super::wheel`]; [`NIL`] when not in the wheel.
    pub(super) t_prev: u32,
    pub(super) t_next: u32,
}

impl<K, V> Entry<K, V> {
    /// A fresh, unlinked entry.
    pub(super) fn new(key: K, value: V, deadline: u64) -> Self {
        Entry {
            key,
            value,
            deadline: nonzero_deadline(deadline),
            prev: NIL,
            next: NIL,
            t_prev: NIL,
            t_next: NIL,
        }
    }

    /// Whether the entry has expired at `now` (nanoseconds).
    #[inline]
    pub(super) fn is_expired(&self, now: u64) -> bool {
        let d = self.deadline.get();
        d != NEVER && now >= d
    }

    #[inline]
    pub(super) fn segment(&self) -> Segment {
        Segment::from_bits(self.next >> LINK_BITS)
    }
}

/// A deadline as stored: 0 (never produced, as TTLs are positive) is clamped to 1.
pub(super) fn nonzero_deadline(deadline: u64) -> NonZeroU64 {
    NonZeroU64::new(deadline).unwrap_or(NonZeroU64::MIN)
}

/// Links of a list sentinel.
#[derive(Clone, Copy, Debug)]
struct Sentinel {
    prev: u32,
    next: u32,
}

/// The slab and the three segment lists.
#[derive(Debug)]
pub(super) struct Store<K, V> {
    pub(super) slots: Vec<Option<Entry<K, V>>>,
    /// Free indices of `slots`.
    free: Vec<u32>,
    sentinels: [Sentinel; 3],
    /// Entries per segment.
    counts: [usize; 3],
}

impl<K, V> Store<K, V> {
    pub(super) fn new() -> Self {
        let mut sentinels = [Sentinel { prev: 0, next: 0 }; 3];
        for seg in Segment::ALL {
            sentinels[seg as usize] = Sentinel {
                prev: seg.sentinel(),
                next: seg.sentinel(),
            };
        }
        Store {
            slots: Vec::new(),
            free: Vec::new(),
            sentinels,
            counts: [0; 3],
        }
    }

    /// Entries held.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Entries in `seg`.
    pub(super) fn count(&self, seg: Segment) -> usize {
        self.counts[seg as usize]
    }

    /// Heap bytes held (slab and free list).
    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<Option<Entry<K, V>>>()
            + self.free.capacity() * core::mem::size_of::<u32>()
    }

    /// The entry at `idx`.
    #[inline]
    pub(super) fn entry(&self, idx: u32) -> &Entry<K, V> {
        match self.slots.get(idx as usize) {
            Some(Some(e)) => e,
            // Invariant: indices come from the index table or the lists, which only hold
            // occupied slots (checked by `validate`).
            _ => unreachable!("cache index {idx} is not an occupied slot"),
        }
    }

    /// The entry at `idx`, mutably.
    #[inline]
    pub(super) fn entry_mut(&mut self, idx: u32) -> &mut Entry<K, V> {
        match self.slots.get_mut(idx as usize) {
            Some(Some(e)) => e,
            // Invariant: as in `entry`.
            _ => unreachable!("cache index {idx} is not an occupied slot"),
        }
    }

    /// Stores `entry` (unlinked) and returns its index. The slab grows by doubling but
    /// never past `bound` slots unless full, so a cache of `n` unit entries settles at
    /// about `n` slots.
    pub(super) fn alloc(&mut self, entry: Entry<K, V>, bound: usize) -> u32 {
        if let Some(idx) = self.free.pop() {
            self.slots[idx as usize] = Some(entry);
            return idx;
        }
        let len = self.slots.len();
        if len == self.slots.capacity() {
            let target = (len * 2).max(8).min(bound).max(len + 1);
            self.slots.reserve_exact(target - len);
        }
        self.slots.push(Some(entry));
        // The caller keeps the number of entries below MAX_ENTRIES, so the index fits.
        len as u32
    }

    /// Takes the (already unlinked) entry at `idx` out of the slab.
    #[inline]
    pub(super) fn free(&mut self, idx: u32) -> Entry<K, V> {
        let Some(entry) = self.slots[idx as usize].take() else {
            // Invariant: callers free each index they found in the table once.
            unreachable!("cache index {idx} freed twice")
        };
        self.free.push(idx);
        entry
    }

    /// Drops every entry (keeping the allocation).
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.sentinels = Store::<K, V>::new().sentinels;
        self.counts = [0; 3];
    }

    #[inline]
    fn prev_of(&self, id: u32) -> u32 {
        if id >= SENTINEL_BASE {
            self.sentinels[(id - SENTINEL_BASE) as usize].prev
        } else {
            self.entry(id).prev & LINK_MASK
        }
    }

    #[inline]
    fn next_of(&self, id: u32) -> u32 {
        if id >= SENTINEL_BASE {
            self.sentinels[(id - SENTINEL_BASE) as usize].next
        } else {
            self.entry(id).next & LINK_MASK
        }
    }

    #[inline]
    fn set_prev(&mut self, id: u32, prev: u32) {
        if id >= SENTINEL_BASE {
            self.sentinels[(id - SENTINEL_BASE) as usize].prev = prev;
        } else {
            let e = self.entry_mut(id);
            e.prev = (e.prev & !LINK_MASK) | prev;
        }
    }

    #[inline]
    fn set_next(&mut self, id: u32, next: u32) {
        if id >= SENTINEL_BASE {
            self.sentinels[(id - SENTINEL_BASE) as usize].next = next;
        } else {
            let e = self.entry_mut(id);
            e.next = (e.next & !LINK_MASK) | next;
        }
    }

    /// Links `idx` (not in any list) as the newest entry of `seg`, not referenced.
    #[inline]
    pub(super) fn push_back(&mut self, seg: Segment, idx: u32) {
        let s = seg.sentinel();
        let last = self.prev_of(s);
        let e = self.entry_mut(idx);
        e.prev = last;
        e.next = s | ((seg as u32) << LINK_BITS);
        self.set_next(last, idx);
        self.set_prev(s, idx);
        self.counts[seg as usize] += 1;
    }

    /// Unlinks `idx` from its list.
    #[inline]
    pub(super) fn unlink(&mut self, idx: u32) {
        let e = self.entry(idx);
        let (prev, next, seg) = (e.prev & LINK_MASK, e.next & LINK_MASK, e.segment());
        self.set_next(prev, next);
        self.set_prev(next, prev);
        self.counts[seg as usize] -= 1;
    }

    /// Moves `idx` to the newest end of `seg`, clearing its referenced bit.
    #[inline]
    pub(super) fn move_to_back(&mut self, idx: u32, seg: Segment) {
        self.unlink(idx);
        self.push_back(seg, idx);
    }

    /// Marks `idx` as referenced (a hit): O(1), no list is touched.
    #[inline]
    pub(super) fn touch(&mut self, idx: u32) {
        self.entry_mut(idx).prev |= REFERENCED;
    }

    /// Whether `idx` was hit since it was last linked.
    #[inline]
    pub(super) fn is_referenced(&self, idx: u32) -> bool {
        self.entry(idx).prev & REFERENCED != 0
    }

    /// The oldest entry of `seg`.
    #[inline]
    pub(super) fn front(&self, seg: Segment) -> Option<u32> {
        let first = self.sentinels[seg as usize].next;
        (first < SENTINEL_BASE).then_some(first)
    }

    /// The entry after `idx` (newer) in its list.
    #[inline]
    pub(super) fn next(&self, idx: u32) -> Option<u32> {
        let next = self.next_of(idx);
        (next < SENTINEL_BASE).then_some(next)
    }

    /// Walks `seg` from oldest to newest (for `validate`), checking the links.
    pub(super) fn walk(&self, seg: Segment) -> Vec<u32> {
        let mut out = Vec::new();
        let s = seg.sentinel();
        let mut prev = s;
        let mut id = self.next_of(s);
        while id != s {
            assert!(
                id < SENTINEL_BASE,
                "list {seg:?} reaches a foreign sentinel"
            );
            assert_eq!(self.prev_of(id), prev, "broken back link at {id}");
            assert_eq!(
                self.entry(id).segment(),
                seg,
                "entry {id} in the wrong list"
            );
            out.push(id);
            assert!(out.len() <= self.slots.len(), "cycle in list {seg:?}");
            prev = id;
            id = self.next_of(id);
        }
        assert_eq!(
            self.prev_of(s),
            prev,
            "sentinel of {seg:?} has a stale tail"
        );
        assert_eq!(out.len(), self.counts[seg as usize], "count of {seg:?}");
        out
    }

    /// Checks the free list against the slab (for `validate`).
    pub(super) fn check_free(&self) {
        for &i in &self.free {
            assert!(
                self.slots[i as usize].is_none(),
                "free index {i} is occupied"
            );
        }
        let vacant = self.slots.iter().filter(|s| s.is_none()).count();
        assert_eq!(vacant, self.free.len(), "free list out of sync");
    }
}
