//! The limiter's lock-free fast path: one atomic word in front of the locked core machine.
//!
//! The word packs the permits held (`in_flight`, all of them), the current `limit`, a
//! `SLOW` bit, a `SAMPLE` bit and an auxiliary field. While `SLOW` is clear the word is the
//! truth about `in_flight` and nobody waits: a caller takes a permit with one
//! compare-and-swap when `in_flight < limit` — exactly the decision the core machine's
//! `admit_untracked` makes in that state — and, under a fixed limit, hands a permit back
//! with success with one more (counting it in the auxiliary field). Everything else takes
//! the host's lock, and the first thing done under the lock is [`Fast::stop`]: it sets
//! `SLOW` (so no fast operation can change the word any more) and returns the word, which
//! the host folds into the machine (`absorb_untracked`). Before the lock is released the
//! host calls [`Fast::start`] with the machine's numbers if nobody waits; while waiters
//! are queued the word stays `SLOW` and every acquire and release goes through the machine,
//! which grants freed permits in FIFO order. The mode changes only under the lock.
//!
//! The auxiliary field is, under a fixed limit, the successes released fast since the
//! last fold; under an adaptive algorithm (whose every release goes through the lock,
//! since the algorithm must see it) the machine's epoch, which an untracked permit keeps
//! instead of an admission instant. `SAMPLE` marks the next permit taken fast as one whose
//! latency is measured.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Width of the `in_flight` and `limit` fields.
const FIELD_BITS: u32 = 20;
/// The largest `in_flight` or `limit` the word holds; beyond it the limiter stays locked.
pub(super) const FIELD_MAX: u64 = (1 << FIELD_BITS) - 1;
const LIMIT_SHIFT: u32 = FIELD_BITS;
const SLOW: u64 = 1 << (2 * FIELD_BITS);
const SAMPLE: u64 = SLOW << 1;
const AUX_SHIFT: u32 = 2 * FIELD_BITS + 2;
/// The largest auxiliary value (22 bits): a fixed limit's fast successes between folds
/// (one more takes the lock and folds), or an epoch's low bits.
pub(super) const AUX_MAX: u64 = (1 << (64 - AUX_SHIFT)) - 1;

/// A value of the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Word(u64);

impl Word {
    fn encode(in_flight: u64, limit: u64, aux: u64, sample: bool) -> Word {
        let sample = if sample { SAMPLE } else { 0 };
        Word(in_flight | (limit << LIMIT_SHIFT) | sample | (aux << AUX_SHIFT))
    }

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

    /// The auxiliary field.
    #[inline]
    pub(super) fn aux(self) -> u64 {
        self.0 >> AUX_SHIFT
    }
}

/// The fast path's shared state.
#[derive(Debug)]
pub(super) struct Fast {
    word: AtomicU64,
    /// Most permits held at once through the fast path (folded into the machine's peak).
    peak: AtomicUsize,
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

    /// Hands back an untracked permit with success under a fixed limit, if the fast path
    /// runs (and the success count has room). `false`: take the lock.
    #[inline]
    pub(super) fn try_release(&self) -> bool {
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if w & SLOW != 0 || Word(w).aux() == AUX_MAX || w & FIELD_MAX == 0 {
                return false;
            }
            let new = w - 1 + (1 << AUX_SHIFT);
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
    pub(super) fn start(&self, in_flight: usize, limit: u32, aux: u64, sample: bool) {
        let (in_flight, limit) = (in_flight as u64, u64::from(limit));
        if in_flight <= FIELD_MAX && limit <= FIELD_MAX {
            let word = Word::encode(in_flight, limit, aux & AUX_MAX, sample);
            self.word.store(word.0, Ordering::Release);
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
    let mask = AUX_MAX as u32;
    current.wrapping_sub(current.wrapping_sub(low as u32) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_is_taken_only_below_the_limit_and_never_while_stopped() {
        let fast = Fast::new();
        assert_eq!(fast.try_acquire(), None, "starts stopped");
        fast.start(0, 2, 0, true);
        let w = fast.try_acquire().expect("free");
        assert!(w.sample() && w.in_flight() == 0);
        assert!(
            !fast.try_acquire().expect("free").sample(),
            "one sample mark"
        );
        assert_eq!(fast.try_acquire(), None, "at the limit");
        assert!(fast.try_release());
        let stopped = fast.stop().expect("was running");
        assert_eq!((stopped.in_flight(), stopped.aux()), (1, 1));
        assert_eq!(fast.stop(), None);
        assert!(!fast.try_release());
        assert_eq!(fast.peak(), 2);
        fast.start(0, FIELD_MAX as u32 + 1, 0, false);
        assert_eq!(
            fast.load(),
            None,
            "a limit beyond the word keeps it stopped"
        );
    }

    #[test]
    fn full_epochs_are_recovered_from_their_low_bits() {
        let mask = AUX_MAX as u32;
        for current in [0, 5, mask, mask + 3, u32::MAX, 1 << 31] {
            for back in [0, 1, 7, mask] {
                let e = current.wrapping_sub(back);
                assert_eq!(full_epoch(current, u64::from(e & mask)), e);
            }
        }
    }
}
