//! The slab of entries and the intrusive lists that order them.
//!
//! Entries live in a `Vec<Slot>` addressed by `u32` indices; freed indices are reused.
//! Slots 0, 1 and 2 hold no entry: they are the sentinels of the three circular
//! doubly-linked lists (one per [`Segment`]), so following a link never asks whether it
//! leads to a sentinel or to an entry. Each entry sits in exactly one list, oldest first.
//! A slot carries the list links and the links of the timer wheel beside its
//! `Option<Entry>`. The segment of an entry is kept in the top two bits of its `next` link
//! and its "referenced" bit (set by a hit, read lazily by the policy, CLOCK-style) in the
//! top bit of `prev`; `Option<Entry>` costs nothing over `Entry` (the niche of the
//! `NonZeroU64` deadline), so an entry costs its key, its value and 24 bytes.

use alloc::vec::Vec;
use core::num::NonZeroU64;

use super::stats::Tier;

/// Bits of a list link that hold an id; the two above hold the entry's segment.
const LINK_BITS: u32 = 30;
const LINK_MASK: u32 = (1 << LINK_BITS) - 1;
/// The referenced bit, in `prev`.
const REFERENCED: u32 = 1 << 31;
/// Slots below this are the lists' sentinels (one per segment); entries start here.
pub(super) const FIRST: u32 = 3;
/// Most entries a cache can hold at once: every slab index fits in a link.
pub(super) const MAX_ENTRIES: usize = (LINK_MASK - FIRST) as usize;
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

    /// The slot of this segment's list sentinel.
    #[inline]
    fn sentinel(self) -> u32 {
        self as u32
    }
}

/// One cached entry.
#[derive(Debug)]
pub(super) struct Entry<K, V> {
    pub(super) key: K,
    pub(super) value: V,
    /// Nanoseconds at which the entry expires ([`NEVER`]: it does not).
    pub(super) deadline: NonZeroU64,
}

impl<K, V> Entry<K, V> {
    /// A fresh entry.
    pub(super) fn new(key: K, value: V, deadline: u64) -> Self {
        Entry {
            key,
            value,
            deadline: nonzero_deadline(deadline),
        }
    }

    /// Whether the entry has expired at `now` (nanoseconds).
    #[inline]
    pub(super) fn is_expired(&self, now: u64) -> bool {
        let d = self.deadline.get();
        d != NEVER && now >= d
    }
}

/// A deadline as stored: 0 (never produced, as TTLs are positive) is clamped to 1.
pub(super) fn nonzero_deadline(deadline: u64) -> NonZeroU64 {
    NonZeroU64::new(deadline).unwrap_or(NonZeroU64::MIN)
}

/// One place of the slab: an entry (or none, for a free slot or a sentinel) and its links.
#[derive(Debug)]
pub(super) struct Slot<K, V> {
    /// Previous (older) id in the segment's list; top bit: referenced since last looked at.
    prev: u32,
    /// Next (more recently used) id in the list; segment in the top two bits.
    next: u32,
    /// Timer-wheel links, owned by [`super::wheel`]; [`NIL`] when not in the wheel.
    pub(super) t_prev: u32,
    pub(super) t_next: u32,
    pub(super) entry: Option<Entry<K, V>>,
}

impl<K, V> Slot<K, V> {
    /// A slot holding `entry`, in no list and not in the wheel.
    pub(super) fn with(entry: Option<Entry<K, V>>) -> Self {
        Slot {
            prev: NIL,
            next: NIL,
            t_prev: NIL,
            t_next: NIL,
            entry,
        }
    }

    /// A list sentinel: an empty list of `seg`.
    fn sentinel(seg: Segment) -> Self {
        Slot {
            prev: seg.sentinel(),
            next: seg.sentinel(),
            ..Slot::with(None)
        }
    }

    /// The deadline of the entry held (in the wheel, only occupied slots are linked).
    #[inline]
    pub(super) fn deadline(&self) -> u64 {
        match &self.entry {
            Some(e) => e.deadline.get(),
            // Invariant: the wheel only links occupied slots (checked by `validate`).
            None => unreachable!("a vacant slot has no deadline"),
        }
    }
}

/// The slab and the three segment lists.
#[derive(Debug)]
pub(super) struct Store<K, V> {
    /// The sentinels (below [`FIRST`]), then the entries.
    pub(super) slots: Vec<Slot<K, V>>,
    /// Free indices of `slots`.
    free: Vec<u32>,
    /// Entries per segment.
    counts: [usize; 3],
}

impl<K, V> Store<K, V> {
    pub(super) fn new() -> Self {
        let mut slots = Vec::with_capacity(FIRST as usize);
        slots.extend(Segment::ALL.map(Slot::sentinel));
        Store {
            slots,
            free: Vec::new(),
            counts: [0; 3],
        }
    }

    /// Entries held.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.slots.len() - FIRST as usize - self.free.len()
    }

    /// Entries in `seg`.
    pub(super) fn count(&self, seg: Segment) -> usize {
        self.counts[seg as usize]
    }

    /// Heap bytes held (slab and free list).
    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<Slot<K, V>>()
            + self.free.capacity() * core::mem::size_of::<u32>()
    }

    /// The entry at `idx`.
    #[inline]
    pub(super) fn entry(&self, idx: u32) -> &Entry<K, V> {
        match self.slots.get(idx as usize) {
            Some(Slot { entry: Some(e), .. }) => e,
            // Invariant: indices come from the index table or the lists, which only hold
            // occupied slots (checked by `validate`).
            _ => unreachable!("cache index {idx} is not an occupied slot"),
        }
    }

    /// The entry at `idx`, mutably.
    #[inline]
    pub(super) fn entry_mut(&mut self, idx: u32) -> &mut Entry<K, V> {
        match self.slots.get_mut(idx as usize) {
            Some(Slot { entry: Some(e), .. }) => e,
            // Invariant: as in `entry`.
            _ => unreachable!("cache index {idx} is not an occupied slot"),
        }
    }

    /// The segment of the entry at `idx`.
    #[inline]
    pub(super) fn segment(&self, idx: u32) -> Segment {
        Segment::from_bits(self.slots[idx as usize].next >> LINK_BITS)
    }

    /// Stores `entry` (unlinked) and returns its index. The slab grows by doubling but
    /// never past `bound` entries unless full, so a cache of `n` unit entries settles at
    /// about `n` slots.
    pub(super) fn alloc(&mut self, entry: Entry<K, V>, bound: usize) -> u32 {
        if let Some(idx) = self.free.pop() {
            self.slots[idx as usize] = Slot::with(Some(entry));
            return idx;
        }
        let len = self.slots.len();
        if len == self.slots.capacity() {
            let bound = bound + FIRST as usize;
            let target = (len * 2).max(8).min(bound).max(len + 1);
            self.slots.reserve_exact(target - len);
        }
        self.slots.push(Slot::with(Some(entry)));
        // The caller keeps the number of entries below MAX_ENTRIES, so the index fits.
        len as u32
    }

    /// Takes the (already unlinked) entry at `idx` out of the slab.
    #[inline]
    pub(super) fn free(&mut self, idx: u32) -> Entry<K, V> {
        let Some(entry) = self.slots[idx as usize].entry.take() else {
            // Invariant: callers free each index they found in the table once.
            unreachable!("cache index {idx} freed twice")
        };
        self.free.push(idx);
        entry
    }

    /// Drops every entry (keeping the allocation).
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.slots.extend(Segment::ALL.map(Slot::sentinel));
        self.free.clear();
        self.counts = [0; 3];
    }

    #[inline]
    fn prev_of(&self, id: u32) -> u32 {
        self.slots[id as usize].prev & LINK_MASK
    }

    #[inline]
    fn next_of(&self, id: u32) -> u32 {
        self.slots[id as usize].next & LINK_MASK
    }

    #[inline]
    fn set_prev(&mut self, id: u32, prev: u32) {
        let s = &mut self.slots[id as usize];
        s.prev = (s.prev & !LINK_MASK) | prev;
    }

    #[inline]
    fn set_next(&mut self, id: u32, next: u32) {
        let s = &mut self.slots[id as usize];
        s.next = (s.next & !LINK_MASK) | next;
    }

    /// Links `idx` (not in any list) as the newest entry of `seg`, not referenced.
    #[inline]
    pub(super) fn push_back(&mut self, seg: Segment, idx: u32) {
        let s = seg.sentinel();
        let last = self.prev_of(s);
        let e = &mut self.slots[idx as usize];
        e.prev = last;
        e.next = s | ((seg as u32) << LINK_BITS);
        self.set_next(last, idx);
        self.set_prev(s, idx);
        self.counts[seg as usize] += 1;
    }

    /// Unlinks `idx` from its list.
    #[inline]
    pub(super) fn unlink(&mut self, idx: u32) {
        let e = &self.slots[idx as usize];
        let (prev, next) = (e.prev & LINK_MASK, e.next & LINK_MASK);
        let seg = Segment::from_bits(e.next >> LINK_BITS);
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
        self.slots[idx as usize].prev |= REFERENCED;
    }

    /// Whether `idx` was hit since it was last linked.
    #[inline]
    pub(super) fn is_referenced(&self, idx: u32) -> bool {
        self.slots[idx as usize].prev & REFERENCED != 0
    }

    /// The oldest entry of `seg`.
    #[inline]
    pub(super) fn front(&self, seg: Segment) -> Option<u32> {
        let first = self.next_of(seg.sentinel());
        (first >= FIRST).then_some(first)
    }

    /// The entry after `idx` (newer) in its list.
    #[inline]
    pub(super) fn next(&self, idx: u32) -> Option<u32> {
        let next = self.next_of(idx);
        (next >= FIRST).then_some(next)
    }

    /// Walks `seg` from oldest to newest (for `validate`), checking the links.
    pub(super) fn walk(&self, seg: Segment) -> Vec<u32> {
        let mut out = Vec::new();
        let s = seg.sentinel();
        let mut prev = s;
        let mut id = self.next_of(s);
        while id != s {
            assert!(id >= FIRST, "list {seg:?} reaches a foreign sentinel");
            assert_eq!(self.prev_of(id), prev, "broken back link at {id}");
            assert!(
                self.slots[id as usize].entry.is_some(),
                "list {seg:?} links vacant slot {id}"
            );
            assert_eq!(self.segment(id), seg, "entry {id} in the wrong list");
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
                i >= FIRST && self.slots[i as usize].entry.is_none(),
                "free index {i} is occupied or a sentinel"
            );
        }
        let vacant = self.slots[FIRST as usize..]
            .iter()
            .filter(|s| s.entry.is_none())
            .count();
        assert_eq!(vacant, self.free.len(), "free list out of sync");
    }
}
