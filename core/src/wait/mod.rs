//! The wait queue shared by the [limiter](crate::limiter) and the [pool](crate::pool): a
//! bounded FIFO of waiters with deadlines, cancellation, and the ids and answers both
//! machines hand out.
//!
//! A waiter is queued by `WaitQueue::enqueue` and leaves the queue in one of three ways:
//! it is **granted** the resource at the head of the queue (`WaitQueue::grant_head`),
//! its **deadline passes** (`WaitQueue::expire`, or `WaitQueue::head` meeting it first),
//! or the host **cancels** it (`WaitQueue::cancel`). A granted entry stays in the queue's
//! slab, carrying the machine's grant `G`, until the machine removes it: that is how a grant
//! the host could not deliver is found again and handed back.
//!
//! The queue holds no resource logic (what is free, what a grant is, what a timeout
//! reports): the machines keep that. It reads no clock; `now` is an argument.
//!
//! Cancelling from the middle of the queue is O(log n): the entry leaves the slab and the
//! deadline index at once, its key stays in the FIFO as a stale key skipped later, and the
//! FIFO is compacted once stale keys outnumber live waiters.

pub(crate) mod slab;

use alloc::collections::{BTreeSet, VecDeque};

use crate::Instant;
use slab::Slab;

/// A queued caller of a limiter or a pool. A limiter's permit granted to it has the same
/// number ([`limiter::PermitId::as_u64`](crate::limiter::PermitId::as_u64)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaiterId(pub(crate) u64);

impl WaiterId {
    /// The id as a number, unique among live waiters (for host-side maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Why a call that may wait (a limiter's `acquire`, a pool's `get`) was refused at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The wait queue holds `max_waiters` waiters: the system is overloaded (backpressure).
    QueueFull,
    /// Nothing was free and the caller would not wait (its deadline had passed, or it used
    /// a `try_` call).
    WouldWait,
    /// The pool was closed.
    Closed,
}

/// What a machine's `cancel` did. `T` is what a granted waiter held (a limiter's
/// [`PermitId`](crate::limiter::PermitId), a pool's [`SlotId`](crate::pool::SlotId)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cancelled<T> {
    /// The waiter was still queued; it left the queue.
    Dequeued,
    /// The waiter had been granted this resource, which the host had not delivered; it
    /// was released (a permit with `Outcome::Ignored`, a slot as healthy).
    Released(T),
}

/// One entry: a waiter still queued, or one granted `G`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry<G> {
    Queued {
        enqueued: Instant,
        deadline: Instant,
    },
    Granted(G),
}

/// The bounded FIFO of waiters; see the [module documentation](self).
#[derive(Clone, Debug)]
pub(crate) struct WaitQueue<G> {
    entries: Slab<Entry<G>>,
    /// FIFO of keys; keys no longer `Queued` are stale and skipped.
    fifo: VecDeque<u64>,
    /// Live waiters (the non-stale part of `fifo`).
    queued: usize,
    /// `(deadline, key)` of every queued waiter with a finite deadline.
    deadlines: BTreeSet<(Instant, u64)>,
    max_waiters: usize,
}

impl<G: Copy> WaitQueue<G> {
    /// An empty queue holding at most `max_waiters` waiters.
    pub(crate) const fn new(max_waiters: usize) -> Self {
        WaitQueue {
            entries: Slab::new(),
            fifo: VecDeque::new(),
            queued: 0,
            deadlines: BTreeSet::new(),
            max_waiters,
        }
    }

    /// Waiters queued now.
    #[inline]
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// The queue's bound.
    pub(crate) fn max_waiters(&self) -> usize {
        self.max_waiters
    }

    /// The entry under `key`.
    #[cfg(any(test, feature = "validate"))]
    pub(crate) fn get(&self, key: u64) -> Option<&Entry<G>> {
        self.entries.get(key)
    }

    /// Every entry, queued and granted.
    #[cfg(any(test, feature = "validate"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Entry<G>)> + '_ {
        self.entries.iter()
    }

    /// Queues a caller at `now` until `deadline` ([`Instant::MAX`]: none), unless the
    /// deadline has passed ([`Rejection::WouldWait`]) or the queue is full.
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        deadline: Instant,
    ) -> Result<WaiterId, Rejection> {
        if deadline <= now {
            return Err(Rejection::WouldWait);
        }
        if self.queued >= self.max_waiters {
            return Err(Rejection::QueueFull);
        }
        let key = self.entries.insert(Entry::Queued {
            enqueued: now,
            deadline,
        });
        self.fifo.push_back(key);
        self.queued += 1;
        if deadline < Instant::MAX {
            self.deadlines.insert((deadline, key));
        }
        Ok(WaiterId(key))
    }

    /// Stores a grant that never waited (a limiter's permit admitted at once) and returns
    /// its key, so held grants and waiters share one id space.
    #[inline]
    pub(crate) fn insert_granted(&mut self, grant: G) -> u64 {
        self.entries.insert(Entry::Granted(grant))
    }

    /// Removes the granted entry under `key` and returns its grant; `None` (nothing
    /// changes) if `key` is queued or unknown.
    #[inline]
    pub(crate) fn remove_granted(&mut self, key: u64) -> Option<G> {
        match self.entries.get(key) {
            Some(&Entry::Granted(g)) => {
                self.entries.remove(key);
                Some(g)
            }
            _ => None,
        }
    }

    /// Cancels waiter `key`: a queued waiter leaves the queue ([`Cancelled::Dequeued`]); a
    /// granted one is only reported ([`Cancelled::Released`] with its grant) — the machine
    /// releases the grant, which removes the entry. `None` if the key is unknown.
    pub(crate) fn cancel(&mut self, key: u64) -> Option<Cancelled<G>> {
        match *self.entries.get(key)? {
            Entry::Queued { deadline, .. } => {
                self.entries.remove(key);
                self.deadlines.remove(&(deadline, key));
                self.queued -= 1;
                self.compact();
                Some(Cancelled::Dequeued)
            }
            Entry::Granted(g) => Some(Cancelled::Released(g)),
        }
    }

    /// The live head of the queue. Stale keys are dropped; heads whose deadline is at or
    /// before `now` leave the queue and are passed to `timed_out` with their enqueue
    /// instant, so a waiter past its deadline is never granted.
    #[inline]
    pub(crate) fn head(
        &mut self,
        now: Instant,
        mut timed_out: impl FnMut(WaiterId, Instant),
    ) -> Option<WaiterId> {
        while let Some(&key) = self.fifo.front() {
            match self.entries.get(key) {
                Some(&Entry::Queued { deadline, enqueued }) if deadline <= now => {
                    self.fifo.pop_front();
                    self.remove_queued(key, deadline);
                    timed_out(WaiterId(key), enqueued);
                }
                Some(Entry::Queued { .. }) => return Some(WaiterId(key)),
                _ => {
                    self.fifo.pop_front();
                }
            }
        }
        None
    }

    /// Grants `grant` to the head returned by the last [`head`](Self::head) (no other call
    /// in between); returns the head and when it was queued.
    pub(crate) fn grant_head(&mut self, grant: G) -> Option<(WaiterId, Instant)> {
        let key = self.fifo.pop_front()?;
        let entry = self.entries.get_mut(key)?;
        let Entry::Queued { enqueued, deadline } = *entry else {
            return None;
        };
        *entry = Entry::Granted(grant);
        self.deadlines.remove(&(deadline, key));
        self.queued -= 1;
        Some((WaiterId(key), enqueued))
    }

    /// Times out every waiter whose deadline is at or before `now`, passing each to
    /// `timed_out` with its enqueue instant (earliest deadline first).
    pub(crate) fn expire(&mut self, now: Instant, mut timed_out: impl FnMut(WaiterId, Instant)) {
        while let Some(&(deadline, key)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            if let Some(&Entry::Queued { enqueued, .. }) = self.entries.get(key) {
                self.remove_queued(key, deadline);
                timed_out(WaiterId(key), enqueued);
            } else {
                self.deadlines.pop_first();
            }
        }
        self.compact();
    }

    /// Removes every queued waiter in FIFO order, passing each to `failed`.
    pub(crate) fn drain(&mut self, mut failed: impl FnMut(WaiterId)) {
        while let Some(key) = self.fifo.pop_front() {
            if let Some(&Entry::Queued { deadline, .. }) = self.entries.get(key) {
                self.remove_queued(key, deadline);
                failed(WaiterId(key));
            }
        }
    }

    /// The earliest waiter deadline.
    #[inline]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Forgets queued entry `key` (its FIFO key, if still there, becomes stale).
    fn remove_queued(&mut self, key: u64, deadline: Instant) {
        self.entries.remove(key);
        self.deadlines.remove(&(deadline, key));
        self.queued -= 1;
    }

    /// Drops stale keys once they outnumber live waiters, so the FIFO stays O(waiters).
    fn compact(&mut self) {
        if self.fifo.len() > 2 * self.queued + 32 {
            let entries = &self.entries;
            self.fifo
                .retain(|&k| matches!(entries.get(k), Some(Entry::Queued { .. })));
        }
    }

    /// Checks the queue's invariants; panics naming the broken one.
    #[cfg(any(test, feature = "validate"))]
    pub(crate) fn validate(&self) {
        self.entries.validate();
        let mut queued = 0;
        let mut with_deadline = 0;
        for (key, entry) in self.entries.iter() {
            if let Entry::Queued { deadline, .. } = *entry {
                queued += 1;
                if deadline < Instant::MAX {
                    with_deadline += 1;
                }
                assert_eq!(
                    self.deadlines.contains(&(deadline, key)),
                    deadline < Instant::MAX,
                    "waiter {key} missing from the deadline index"
                );
                assert_eq!(
                    self.fifo.iter().filter(|&&k| k == key).count(),
                    1,
                    "waiter {key} not queued exactly once"
                );
            }
        }
        assert_eq!(queued, self.queued, "waiters not conserved");
        assert_eq!(
            self.deadlines.len(),
            with_deadline,
            "stale deadline entries"
        );
        assert!(self.queued <= self.max_waiters, "queue above its bound");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: u64) -> Instant {
        Instant::from_millis(t)
    }

    #[test]
    fn fifo_deadlines_cancel_and_compaction() {
        let mut q: WaitQueue<u8> = WaitQueue::new(100);
        assert_eq!(q.enqueue(ms(5), ms(5)), Err(Rejection::WouldWait));
        let ws: alloc::vec::Vec<_> = (0..80)
            .map(|i| q.enqueue(ms(0), ms(10 + i)).unwrap())
            .collect();
        // Cancel most from the middle: the FIFO compacts, order is kept.
        for w in &ws[1..70] {
            assert_eq!(q.cancel(w.0), Some(Cancelled::Dequeued));
            assert_eq!(q.cancel(w.0), None);
        }
        q.validate();
        assert!(q.fifo.len() <= 2 * q.queued() + 32);
        let mut late = alloc::vec::Vec::new();
        assert_eq!(q.head(ms(0), |w, _| late.push(w)), Some(ws[0]));
        assert_eq!(q.grant_head(7), Some((ws[0], ms(0))));
        assert_eq!(q.cancel(ws[0].0), Some(Cancelled::Released(7)));
        assert_eq!(q.remove_granted(ws[0].0), Some(7));
        // Heads past their deadline time out instead of being granted.
        assert_eq!(q.head(ms(81), |w, _| late.push(w)), Some(ws[72]));
        assert_eq!(late, [ws[70], ws[71]]);
        q.expire(ms(85), |w, _| late.push(w));
        assert_eq!(late.len(), 6);
        assert_eq!(q.next_deadline(), Some(ms(86)));
        let mut failed = 0;
        q.drain(|_| failed += 1);
        assert_eq!((failed, q.queued(), q.next_deadline()), (4, 0, None));
        q.validate();
    }

    #[test]
    fn full_queue_rejects() {
        let mut q: WaitQueue<()> = WaitQueue::new(1);
        assert!(q.enqueue(ms(0), Instant::MAX).is_ok());
        assert_eq!(q.enqueue(ms(0), Instant::MAX), Err(Rejection::QueueFull));
        assert_eq!(q.next_deadline(), None);
        q.validate();
    }
}
