//! The limiter's lock-free fast path: one atomic word in front of the locked core machine.
//!
//! The word packs the permits held (`in_flight`, all of them), the current `limit`, a
//! `SLOW` bit, a `SAMPLE` bit, the release mode, the machine's epoch (low bits) and a count
//! of successes released fast. While `SLOW` is clear the word is the truth about
//! `in_flight` and nobody waits: a caller takes a permit with one compare-and-swap when
//! `in_flight < limit` — exactly the decision the core machine's `admit_untracked` makes in
//! that state — and hands back an unmeasured permit with success with one more, when the
//! release is *quiet* (the core machine's `quiet_below`): under a fixed limit always
//! ([`Release::Any`]); under an adaptive algorithm ([`Release::Half`]) when the permit
//! was admitted in the current epoch and fewer than half the limit were held (then the
//! algorithm would decide nothing on it). Everything else takes the host's lock, and the
//! first thing done under the lock is [`Fast::stop`]: it sets `SLOW` (so no fast operation
//! can change the word any more) and returns the word, which the host folds into the
//! machine (`absorb_untracked`). Before the lock is released the host calls [`Fast::start`]
//! with the machine's numbers if nobody waits; while waiters are queued the word stays
//! `SLOW` and every acquire and release goes through the machine, which grants freed
//! permits in FIFO order. The mode changes only under the lock.
//!
//! The success count starts where the host says: it takes the lock when the count is full,
//! so an adaptive algorithm's host starts it the releases before its next sampled permit
//! short of full. `SAMPLE` marks the next permit taken fast as one whose latency is
//! measured.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Width of the `in_flight` and `limit` fields.
const FIELD_BITS: u32 = 18;
/// The largest `in_flight` or `limit` the word holds; beyond it the limiter stays locked.
pub(super) const FIELD_MAX: u64 = (1 << FIELD_BITS) - 1;
const LIMIT_SHIFT: u32 = FIELD_BITS;
const SLOW: u64 = 1 << (2 * FIELD_BITS);
const SAMPLE: u64 = SLOW << 1;
const ANY: u64 = SLOW << 2;
const HALF: u64 = SLOW << 3;
const EPOCH_SHIFT: u32 = 2 * FIELD_BITS + 4;
const SMALL_BITS: u32 = 12;
/// The largest epoch's low bits: a permit's epoch is recovered from them (see
/// [`full_epoch`]) if fewer than 4,096 epochs passed while it was held.
pub(super) const EPOCH_MAX: u64 = (1 << SMALL_BITS) - 1;
const COUNT_SHIFT: u32 = EPOCH_SHIFT + SMALL_BITS;
/// The most successes the word counts between folds (one more takes the lock and folds).
pub(super) const COUNT_MAX: u64 = (1 << SMALL_BITS) - 1;

/// Which releases the fast path takes (see the module's notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Release {
    /// None: every release takes the lock.
    Locked,
    /// Every unmeasured success (a fixed limit).
    Any,
    /// Unmeasured successes of current-epoch permits while `2 × in_flight < limit`.
    Half,
}

/// A value of the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Word(u64);

impl Word {
    /// Permits held.
    #[inline]
    pub(super) fn in_flight(self) -> usize {
        (self.0 & FIELD_MAX) as usize
    }

    /// The limit.
    #[inline]
    fn limit(self) -> u64 {
        (self.0 >> LIMIT_SHIFT) & FIELD_MAX
    }

    /// Whether the permit taken from this word is to be measured.
    #[inline]
    pub(super) fn sample(self) -> bool {
        self.0 & SAMPLE != 0
    }

    /// The epoch's low bits.
    #[inline]
    pub(super) fn epoch(self) -> u64 {
        (self.0 >> EPOCH_SHIFT) & EPOCH_MAX
    }

    /// The success count.
    #[inline]
    pub(super) fn count(self) -> u64 {
        self.0 >> COUNT_SHIFT
    }

    /// Whether an unmeasured success of a permit admitted in epoch `epoch` may be released
    /// fast from this word.
    #[inline]
    fn quiet(self, epoch: u64) -> bool {
        if self.0 & SLOW != 0 || self.count() == COUNT_MAX || self.in_flight() == 0 {
            return false;
        }
        self.0 & ANY != 0
            || (self.0 & HALF != 0
                && self.epoch() == epoch
                && 2 * (self.in_flight() as u64) < self.limit())
    }
}

/// The fast path's shared state.
#[derive(Debug)]
pub(super) struct Fast {
    word: AtomicU64,
    /// Most permits held at once through the fast path (folded into the machine's peak).
    peak: AtomicUsize,
}

/// What [`Fast::start`] runs the fast path with.
#[derive(Clone, Copy, Debug)]
pub(super) struct Start {
    pub(super) in_flight: usize,
    pub(super) limit: u32,
    pub(super) epoch: u32,
    /// Where the success count starts (`COUNT_MAX - count` fast successes before a fold).
    pub(super) count: u64,
    pub(super) sample: bool,
    pub(super) release: Release,
}

impl Fast {
    /// Stopped (`SLOW`) until the host first calls [`start`](Fast::start).
    pub(super) fn new() -> Fast {
        Fast {
            word: AtomicU64::new(SLOW),
            peak: AtomicUsize::new(0),
        }
    }

    /// Takes a permit if the fast path runs and one is free; returns the word it was taken
    /// from (its epoch and sample mark). `None`: take the lock.
    #[inline]
    pub(super) fn try_acquire(&self) -> Option<Word> {
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if w & SLOW != 0 || w & FIELD_MAX >= Word(w).limit() {
                return None;
            }
            // One more held; the sample mark goes with this permit.
            let new = (w + 1) & !SAMPLE;
            match self
                .word
                .compare_exchange_weak(w, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    let held = Word(new).in_flight();
                    if held > self.peak.load(Ordering::Relaxed) {
                        self.peak.fetch_max(held, Ordering::Relaxed);
                    }
                    return Some(Word(w));
                }
                Err(now) => w = now,
            }
        }
    }

    /// Hands back an unmeasured permit admitted in epoch `epoch` (low bits) with success, if
    /// the release is quiet (see [`Release`]) and the count has room. `false`: take the lock.
    #[inline]
    pub(super) fn try_release(&self, epoch: u64) -> bool {
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if !Word(w).quiet(epoch) {
                return false;
            }
            let new = w - 1 + (1 << COUNT_SHIFT);
            match self
                .word
                .compare_exchange_weak(w, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
    }

    /// Under the host's lock: stops the fast path and returns the word if it was running
    /// (the host folds it into the machine); `None` if it was stopped already.
    #[inline]
    pub(super) fn stop(&self) -> Option<Word> {
        let w = self.word.fetch_or(SLOW, Ordering::AcqRel);
        (w & SLOW == 0).then_some(Word(w))
    }

    /// Under the host's lock, with nobody waiting: runs the fast path from the machine's
    /// numbers. Stays stopped if they do not fit the word.
    #[inline]
    pub(super) fn start(&self, s: Start) {
        let (in_flight, limit) = (s.in_flight as u64, u64::from(s.limit));
        if in_flight <= FIELD_MAX && limit <= FIELD_MAX {
            let mut word = in_flight
                | (limit << LIMIT_SHIFT)
                | ((u64::from(s.epoch) & EPOCH_MAX) << EPOCH_SHIFT)
                | (s.count.min(COUNT_MAX) << COUNT_SHIFT);
            word |= match s.release {
                Release::Locked => 0,
                Release::Any => ANY,
                Release::Half => HALF,
            };
            if s.sample {
                word |= SAMPLE;
            }
            self.word.store(word, Ordering::Release);
        }
    }

    /// Under the host's lock: whether the fast path runs (the word is the truth about
    /// `in_flight`), and the word.
    pub(super) fn load(&self) -> Option<Word> {
        let w = self.word.load(Ordering::Acquire);
        (w & SLOW == 0).then_some(Word(w))
    }

    /// Most permits held at once through the fast path.
    pub(super) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

/// The full epoch of a permit admitted in an epoch whose low bits are `low`, given the
/// machine's `current` epoch: the latest epoch not after `current` with those low bits.
pub(super) fn full_epoch(current: u32, low: u64) -> u32 {
    let mask = EPOCH_MAX as u32;
    current.wrapping_sub(current.wrapping_sub(low as u32) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(fast: &Fast, in_flight: usize, limit: u32, release: Release, sample: bool) {
        fast.start(Start {
            in_flight,
            limit,
            epoch: 5,
            count: 0,
            sample,
            release,
        });
    }

    #[test]
    fn a_permit_is_taken_only_below_the_limit_and_never_while_stopped() {
        let fast = Fast::new();
        assert_eq!(fast.try_acquire(), None, "starts stopped");
        start(&fast, 0, 2, Release::Any, true);
        let w = fast.try_acquire().expect("free");
        assert!(w.sample() && w.in_flight() == 0 && w.epoch() == 5);
        assert!(
            !fast.try_acquire().expect("free").sample(),
            "one sample mark"
        );
        assert_eq!(fast.try_acquire(), None, "at the limit");
        assert!(fast.try_release(0), "any epoch under Any");
        let stopped = fast.stop().expect("was running");
        assert_eq!((stopped.in_flight(), stopped.count()), (1, 1));
        assert_eq!(fast.stop(), None);
        assert!(!fast.try_release(5));
        assert_eq!(fast.peak(), 2);
        start(&fast, 0, FIELD_MAX as u32 + 1, Release::Any, false);
        assert_eq!(
            fast.load(),
            None,
            "a limit beyond the word keeps it stopped"
        );
    }

    #[test]
    fn adaptive_releases_go_fast_only_below_half_the_limit_in_the_current_epoch() {
        let fast = Fast::new();
        start(&fast, 2, 6, Release::Half, false);
        assert!(!fast.try_release(4), "another epoch");
        assert!(fast.try_release(5), "2 × 2 < 6");
        start(&fast, 3, 6, Release::Half, false);
        assert!(!fast.try_release(5), "2 × 3 = 6: the algorithm decides");
        start(&fast, 2, 6, Release::Locked, false);
        assert!(!fast.try_release(5), "locked mode");
        // A count started short of full admits that many fast releases, then the lock.
        fast.start(Start {
            in_flight: 1,
            limit: 100,
            epoch: 5,
            count: COUNT_MAX - 2,
            sample: false,
            release: Release::Half,
        });
        for _ in 0..3 {
            let _ = fast.try_acquire().expect("free");
        }
        assert!(fast.try_release(5) && fast.try_release(5));
        assert!(!fast.try_release(5), "count full: fold first");
        assert_eq!(fast.stop().map(Word::count), Some(COUNT_MAX));
    }

    #[test]
    fn full_epochs_are_recovered_from_their_low_bits() {
        let mask = EPOCH_MAX as u32;
        for current in [0, 5, mask, mask + 3, u32::MAX, 1 << 31] {
            for back in [0, 1, 7, mask] {
                let e = current.wrapping_sub(back);
                assert_eq!(full_epoch(current, u64::from(e & mask)), e);
            }
        }
    }
}
