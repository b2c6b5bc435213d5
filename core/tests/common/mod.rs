//! What the limiter's and the pool's model tests share: the model of a machine's waiter
//! queue (FIFO grants before the deadline, timeouts only when due, cancellation) and the
//! random steps that move it. Each test keeps its own resource model.

#![allow(dead_code)] // Each test crate uses what it needs.

use perfopt_core::wait::WaiterId;
use perfopt_core::{Duration, Instant};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Live waiters in arrival order, with their deadlines.
#[derive(Default)]
pub(crate) struct Waiters(Vec<(WaiterId, Instant)>);

impl Waiters {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A caller queued until `deadline`.
    pub(crate) fn push(&mut self, waiter: WaiterId, deadline: Instant) {
        self.0.push((waiter, deadline));
    }

    /// The machine granted `waiter` at `now`: it must be the oldest live waiter, and its
    /// deadline still ahead.
    pub(crate) fn granted(&mut self, waiter: WaiterId, now: Instant) {
        let (head, deadline) = *self.0.first().expect("grant to a waiter");
        assert_eq!(waiter, head, "grant out of FIFO order");
        assert!(deadline > now, "granted after its deadline");
        self.0.remove(0);
    }

    /// The machine timed `waiter` out at `now`: only once its deadline has come.
    pub(crate) fn timed_out(&mut self, waiter: WaiterId, now: Instant) {
        let deadline = self.remove(waiter);
        assert!(deadline <= now, "timed out early");
    }

    /// `waiter` left the queue (failed, say); its deadline.
    pub(crate) fn remove(&mut self, waiter: WaiterId) -> Instant {
        let i = self
            .0
            .iter()
            .position(|&(w, _)| w == waiter)
            .expect("the waiter was queued");
        self.0.remove(i).1
    }

    /// Takes the `i`-th waiter (modulo), for the caller to cancel.
    pub(crate) fn take(&mut self, i: usize) -> Option<WaiterId> {
        (!self.0.is_empty()).then(|| self.0.remove(i % self.0.len()).0)
    }

    /// Cancels the `i`-th waiter (modulo), if any, through `cancel` (the machine's): the
    /// first call must answer `dequeued`, a second one `unknown` (the waiter is gone).
    pub(crate) fn cancel<T, E>(
        &mut self,
        i: usize,
        mut cancel: impl FnMut(WaiterId) -> Result<T, E>,
        dequeued: T,
        unknown: impl Fn(WaiterId) -> E,
    ) where
        T: PartialEq + core::fmt::Debug,
        E: PartialEq + core::fmt::Debug,
    {
        if let Some(w) = self.take(i) {
            assert_eq!(cancel(w), Ok(dequeued), "cancel of a queued waiter");
            assert_eq!(cancel(w), Err(unknown(w)), "second cancel");
        }
    }

    /// Every waiter, for tear-down.
    pub(crate) fn drain(&mut self) -> Vec<WaiterId> {
        self.0.drain(..).map(|(w, _)| w).collect()
    }

    /// After the machine handled the timeouts due at `now`, nobody waits past a deadline.
    pub(crate) fn assert_none_overdue(&self, now: Instant) {
        assert!(
            self.0.iter().all(|&(_, d)| d > now),
            "a waiter outlived its deadline"
        );
    }
}

/// Hands back a resource returned before (the middle one of `returned`), unless it is
/// `in_use` again: the machine's `release` must refuse it as `unknown`.
pub(crate) fn release_stale<R: Copy, E>(
    returned: &[R],
    in_use: impl Fn(R) -> bool,
    release: impl FnOnce(R) -> Result<(), E>,
    unknown: impl Fn(R) -> E,
) where
    E: PartialEq + core::fmt::Debug,
{
    if let Some(&r) = returned.get(returned.len() / 2)
        && !in_use(r)
    {
        assert_eq!(release(r), Err(unknown(r)), "a stale id was taken back");
    }
}

/// A step on the queue's side of a machine.
#[derive(Clone, Debug)]
pub(crate) enum QueueStep {
    /// Cancel the n-th queued waiter.
    Cancel(usize),
    /// Drop the n-th grant not yet taken by its caller, as if the caller went away.
    DropGrant(usize),
    /// Advance the clock by this many ms and run the timers.
    Advance(u64),
    /// Jump to the machine's own timeout.
    AdvanceToTimeout,
}

/// A random queue step (`advance_ms`: the longest advance), weighted as the seeded model
/// runs use them: cancellations 6, dropped grants 4, advances 15, jumps 5 in 30.
pub(crate) fn queue_step(rng: &mut StdRng, advance_ms: u64) -> QueueStep {
    match rng.random_range(0..30) {
        0..6 => QueueStep::Cancel(rng.random_range(0..64)),
        6..10 => QueueStep::DropGrant(rng.random_range(0..64)),
        10..25 => QueueStep::Advance(rng.random_range(0..advance_ms)),
        _ => QueueStep::AdvanceToTimeout,
    }
}

/// The 100,000 steps of a cancellation churn from `seed`: in ten, two cancellations, one
/// dropped grant, one advance of up to `advance_ms`, and six of the machine's own (`own`).
pub(crate) fn churn<Op>(
    seed: u64,
    advance_ms: u64,
    queue: impl Fn(QueueStep) -> Op,
    mut own: impl FnMut(&mut StdRng) -> Op,
) -> impl Iterator<Item = Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..100_000).map(move |_| match rng.random_range(0..10) {
        0..2 => queue(QueueStep::Cancel(rng.random_range(0..64))),
        2 => queue(QueueStep::DropGrant(rng.random_range(0..64))),
        3 => queue(QueueStep::Advance(rng.random_range(0..advance_ms))),
        _ => own(&mut rng),
    })
}

/// The same steps for proptest.
pub(crate) fn queue_step_strategy(advance_ms: u64) -> impl Strategy<Value = QueueStep> {
    prop_oneof![
        2 => (0usize..64).prop_map(QueueStep::Cancel),
        1 => (0usize..64).prop_map(QueueStep::DropGrant),
        3 => (0u64..advance_ms).prop_map(QueueStep::Advance),
        1 => Just(QueueStep::AdvanceToTimeout),
    ]
}

/// The clock after a time step from `now`: `Advance` moves it on, `AdvanceToTimeout` to the
/// machine's next timeout (`poll_timeout`) if later; `None` for the other steps. The caller
/// then runs the machine's `handle_timeout` at the new time.
pub(crate) fn advanced(
    step: &QueueStep,
    now: Instant,
    poll_timeout: Option<Instant>,
) -> Option<Instant> {
    match *step {
        QueueStep::Advance(ms) => Some(now.saturating_add(Duration::from_millis(ms))),
        QueueStep::AdvanceToTimeout => poll_timeout.map(|t| now.max(t)),
        _ => None,
    }
}

/// Proptest settings of the model tests: 64 sequences, no regression files.
pub(crate) fn model_cases() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
