//! A hierarchical timer wheel over the entries' deadlines.
//!
//! Time is cut into ticks of 2²⁰ ns (about 1.05 ms). Level `l` has 64 buckets of 64ˡ ticks
//! each; eight levels cover every `u64` nanosecond. An entry whose deadline rounds up to
//! tick `t` is placed by the highest 6-bit digit where `t` differs from `elapsed` (the tick
//! the wheel has been processed up to): level 0 holds the ticks of the current 64-tick
//! block, one per bucket; level 1 the later blocks of the current 4096-tick block; and so
//! on. So every entry of a lower level expires before any entry of a higher one, the
//! earliest bucket is found from one bitmap per level, and a bucket reached on a higher
//! level is cascaded: its entries move down to where they belong relative to the new
//! `elapsed`. An entry is cascaded at most once per level, so expiry is O(1) amortized per
//! entry; insert and remove are O(1) (intrusive doubly-linked buckets, the links kept in
//! the entries).
//!
//! The wheel only says when to look: an entry is due when the clock reaches its exact
//! deadline (checked on every read), and the wheel hands it out at the end of its tick.

use alloc::vec;
use alloc::vec::Vec;

use super::store::{NEVER, NIL, Slot};

const TICK_SHIFT: u32 = 20;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 8;
const BUCKETS: usize = LEVELS * SLOTS;
/// The `t_prev` of the first entry of bucket `b` is `BUCKET_BASE + b`.
const BUCKET_BASE: u32 = NIL - 1 - BUCKETS as u32;

/// The tick at which a deadline (in nanoseconds) has certainly passed: rounded up.
fn tick_of(deadline: u64) -> u64 {
    (deadline >> TICK_SHIFT) + u64::from(deadline & ((1 << TICK_SHIFT) - 1) != 0)
}

fn ent<K, V>(slots: &mut [Slot<K, V>], idx: u32) -> &mut Slot<K, V> {
    match slots.get_mut(idx as usize) {
        Some(s) => s,
        // Invariant: the wheel only links occupied slots; `remove` unlinks before a slot
        // is freed (checked by `validate`).
        _ => unreachable!("timer wheel links a vacant slot {idx}"),
    }
}

/// The timer wheel; see the module documentation.
#[derive(Debug)]
pub(super) struct Wheel {
    /// First entry of each bucket ([`NIL`]: empty); allocated on the first insert.
    heads: Vec<u32>,
    /// Per level, a bit per non-empty bucket.
    occupied: [u64; LEVELS],
    /// The tick processed up to.
    elapsed: u64,
    /// Entries in the wheel.
    len: usize,
}

impl Wheel {
    pub(super) fn new() -> Self {
        Wheel {
            heads: Vec::new(),
            occupied: [0; LEVELS],
            elapsed: 0,
            len: 0,
        }
    }

    /// Entries in the wheel.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        self.heads.capacity() * core::mem::size_of::<u32>()
    }

    /// The bucket for an entry due at `tick`.
    fn bucket_for(&self, tick: u64) -> usize {
        let tick = tick.max(self.elapsed);
        let diff = (tick ^ self.elapsed) | (SLOTS as u64 - 1);
        let level = ((63 - diff.leading_zeros()) / SLOT_BITS) as usize;
        let slot = ((tick >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1);
        level * SLOTS + slot
    }

    /// Adds the entry at `idx` (not in the wheel, deadline not [`NEVER`]).
    pub(super) fn insert<K, V>(&mut self, slots: &mut [Slot<K, V>], idx: u32) {
        if self.heads.is_empty() {
            self.heads = vec![NIL; BUCKETS];
        }
        let deadline = ent(slots, idx).deadline();
        debug_assert_ne!(deadline, NEVER);
        let b = self.bucket_for(tick_of(deadline));
        let head = self.heads[b];
        let e = ent(slots, idx);
        e.t_prev = BUCKET_BASE + b as u32;
        e.t_next = head;
        if head != NIL {
            ent(slots, head).t_prev = idx;
        }
        self.heads[b] = idx;
        self.occupied[b / SLOTS] |= 1 << (b % SLOTS);
        self.len += 1;
    }

    /// Takes the entry at `idx` out of the wheel; nothing happens if it is not in it.
    pub(super) fn remove<K, V>(&mut self, slots: &mut [Slot<K, V>], idx: u32) {
        let e = ent(slots, idx);
        let (prev, next) = (e.t_prev, e.t_next);
        if prev == NIL {
            return;
        }
        e.t_prev = NIL;
        e.t_next = NIL;
        if prev >= BUCKET_BASE {
            let b = (prev - BUCKET_BASE) as usize;
            self.heads[b] = next;
            if next == NIL {
                self.occupied[b / SLOTS] &= !(1 << (b % SLOTS));
            }
        } else {
            ent(slots, prev).t_next = next;
        }
        if next != NIL {
            ent(slots, next).t_prev = prev;
        }
        self.len -= 1;
    }

    /// The earliest non-empty bucket and the tick it starts at.
    fn next_bucket(&self) -> Option<(usize, u64)> {
        for (level, &bits) in self.occupied.iter().enumerate() {
            if bits == 0 {
                continue;
            }
            let shift = level as u32 * SLOT_BITS;
            let digit = (self.elapsed >> shift) & (SLOTS as u64 - 1);
            let ahead = bits & (u64::MAX << digit);
            let span = shift + SLOT_BITS;
            let mut base = (self.elapsed >> span) << span;
            let slot = if ahead != 0 {
                ahead.trailing_zeros()
            } else {
                // Not reached while the placement invariant holds; kept total anyway.
                base = base.saturating_add(1 << span);
                bits.trailing_zeros()
            };
            return Some((
                level * SLOTS + slot as usize,
                base | (u64::from(slot) << shift),
            ));
        }
        None
    }

    /// When the next bucket is due, in nanoseconds: a lower bound of the next deadline
    /// the wheel holds (reaching it may only cascade entries to lower levels).
    pub(super) fn next_expiry(&self) -> Option<u64> {
        let (_, tick) = self.next_bucket()?;
        Some(tick.saturating_mul(1 << TICK_SHIFT))
    }

    /// Takes one entry whose deadline is at or before `now` (nanoseconds) out of the
    /// wheel, cascading buckets on the way; `None` when nothing more is due.
    pub(super) fn pop_due<K, V>(&mut self, slots: &mut [Slot<K, V>], now: u64) -> Option<u32> {
        let now_tick = now >> TICK_SHIFT;
        loop {
            let next = self.next_bucket().filter(|&(_, start)| start <= now_tick);
            let Some((b, start)) = next else {
                // Nothing due up to now: moving `elapsed` there keeps every placement valid
                // (no bucket starts in between).
                self.elapsed = self.elapsed.max(now_tick);
                return None;
            };
            self.elapsed = self.elapsed.max(start);
            let head = self.heads[b];
            if b < SLOTS {
                // A level-0 bucket holds one tick, which is due.
                self.remove(slots, head);
                return Some(head);
            }
            self.heads[b] = NIL;
            self.occupied[b / SLOTS] &= !(1 << (b % SLOTS));
            let mut id = head;
            while id != NIL {
                let e = ent(slots, id);
                let next = e.t_next;
                e.t_prev = NIL;
                e.t_next = NIL;
                self.len -= 1;
                self.insert(slots, id);
                id = next;
            }
        }
    }

    /// Forgets every entry (the caller drops them).
    pub(super) fn clear(&mut self) {
        self.heads.iter_mut().for_each(|h| *h = NIL);
        self.occupied = [0; LEVELS];
        self.len = 0;
    }

    /// Checks the buckets; returns the indices in the wheel (for `validate`).
    pub(super) fn walk<K, V>(&self, slots: &[Slot<K, V>]) -> Vec<u32> {
        let mut out = Vec::new();
        for (b, &head) in self.heads.iter().enumerate() {
            let bit = self.occupied[b / SLOTS] & (1 << (b % SLOTS)) != 0;
            assert_eq!(bit, head != NIL, "occupancy bit of bucket {b}");
            let mut prev = BUCKET_BASE + b as u32;
            let mut id = head;
            while id != NIL {
                let Some(e) = slots.get(id as usize).filter(|s| s.entry.is_some()) else {
                    panic!("bucket {b} links vacant slot {id}");
                };
                assert_eq!(e.t_prev, prev, "timer back link of {id}");
                assert_ne!(e.deadline(), NEVER, "entry {id} without deadline in wheel");
                assert_eq!(
                    self.bucket_for(tick_of(e.deadline())),
                    b,
                    "entry {id} in the wrong bucket"
                );
                out.push(id);
                prev = id;
                id = e.t_next;
            }
        }
        if self.heads.is_empty() {
            assert_eq!(self.occupied, [0; LEVELS]);
        }
        assert_eq!(out.len(), self.len, "wheel length");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store::Entry;

    fn slots(deadlines: &[u64]) -> Vec<Slot<u32, ()>> {
        deadlines
            .iter()
            .enumerate()
            .map(|(i, &d)| Slot::with(Some(Entry::new(i as u32, (), d))))
            .collect()
    }

    #[test]
    fn pops_in_deadline_order_across_levels() {
        // Deadlines from 1 ns to ~10 days, deliberately unordered.
        let ds = [
            5_000_000_000,
            1,
            3_000_000,
            900_000_000_000_000,
            64 << TICK_SHIFT,
            (64 << TICK_SHIFT) + 1,
            70_000_000,
            4_096 << TICK_SHIFT,
        ];
        let mut s = slots(&ds);
        let mut w = Wheel::new();
        for i in 0..ds.len() {
            w.insert(&mut s, i as u32);
        }
        w.walk(&s);
        let mut order = ds.to_vec();
        order.sort_unstable();
        let mut got = Vec::new();
        for &d in &order {
            // Nothing is handed out before its deadline.
            if d > 1 {
                while let Some(i) = w.pop_due(&mut s, d - 1) {
                    assert!(ds[i as usize] < d, "popped {i} early");
                    got.push(ds[i as usize]);
                }
            }
            w.walk(&s);
            // The next expiry is never after an entry's deadline.
            if got.len() < order.len() {
                assert!(w.next_expiry().expect("non-empty") <= tick_of(d) << TICK_SHIFT);
            }
            let due_at = tick_of(d) << TICK_SHIFT;
            while let Some(i) = w.pop_due(&mut s, due_at) {
                got.push(ds[i as usize]);
            }
            w.walk(&s);
        }
        got.sort_unstable();
        assert_eq!(got, order);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_expiry(), None);
    }

    #[test]
    fn remove_unlinks_anywhere() {
        let ds = [10 << TICK_SHIFT; 4];
        let mut s = slots(&ds);
        let mut w = Wheel::new();
        for i in 0..4 {
            w.insert(&mut s, i);
        }
        w.remove(&mut s, 2); // middle
        w.remove(&mut s, 3); // head
        w.remove(&mut s, 0); // tail
        w.remove(&mut s, 0); // not in the wheel: no-op
        w.walk(&s);
        assert_eq!(w.pop_due(&mut s, 10 << TICK_SHIFT), Some(1));
        assert_eq!(w.pop_due(&mut s, u64::MAX), None);
    }
}
