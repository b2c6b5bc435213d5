//! The limiter against a naive model (a `Vec` queue and a set of held permits) under seeded
//! random operation sequences in simulated time, with `validate()` after every step.
//!
//! The model reads the limit from the limiter (the algorithms are tested on their own), and
//! checks everything else: admission only below the limit and never past a waiter, the
//! bounded queue, FIFO grants, deadlines, cancellation of queued waiters and of undelivered
//! grants, stale ids, and that nothing is left in flight at the end.

use std::collections::BTreeSet;

mod common;

use common::{QueueStep, Waiters, advanced, churn, queue_step, queue_step_strategy, release_stale};
use perfopt_core::limiter::{
    Acquire, AimdConfig, Algorithm, Cancelled, GradientConfig, Limiter, LimiterConfig,
    LimiterError, LimiterEvent, LimiterStats, Outcome, PermitId, Rejection, WaiterId,
};
use perfopt_core::{Duration, Instant};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Debug)]
enum Op {
    /// Acquire with a deadline this many ms ahead (0: do not wait).
    Acquire(u64),
    TryAcquire,
    /// Release the n-th held permit (modulo) with an outcome.
    Release(usize, u8),
    /// Release a permit that was already released.
    ReleaseStale,
    /// Cancel a waiter, drop a grant (the waiter of the n-th permit that came from a
    /// grant, as if it was never delivered), or move the clock.
    Queue(QueueStep),
}

fn op(rng: &mut StdRng) -> Op {
    match rng.random_range(0..100) {
        0..30 => Op::Acquire(if rng.random_bool(0.1) {
            0
        } else {
            rng.random_range(1..200)
        }),
        30..35 => Op::TryAcquire,
        35..65 => Op::Release(rng.random_range(0..64), rng.random_range(0..4)),
        65..67 => Op::ReleaseStale,
        _ => Op::Queue(queue_step(rng, 40)),
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..200).prop_map(Op::Acquire),
        1 => Just(Op::TryAcquire),
        6 => (0usize..64, 0u8..4).prop_map(|(i, o)| Op::Release(i, o)),
        1 => Just(Op::ReleaseStale),
        7 => queue_step_strategy(40).prop_map(Op::Queue),
    ]
}

fn outcome(n: u8) -> Outcome {
    match n {
        0 => Outcome::Dropped,
        1 => Outcome::Timeout,
        2 => Outcome::Ignored,
        _ => Outcome::Success,
    }
}

/// The naive model.
struct Model {
    now: Instant,
    max_queue: usize,
    /// Held permits: (permit, came from a grant to this waiter).
    held: Vec<(PermitId, Option<WaiterId>)>,
    queue: Waiters,
    released: Vec<PermitId>,
    issued: BTreeSet<u64>,
}

impl Model {
    /// Applies the limiter's events: grants in FIFO order, timeouts only when due.
    fn apply(&mut self, l: &mut Limiter) {
        while let Some(ev) = l.poll_event() {
            match ev {
                LimiterEvent::Granted { waiter, permit } => {
                    // Waiters ahead whose deadline passed time out first; the grant goes
                    // to the oldest live waiter.
                    self.queue.granted(waiter, self.now);
                    assert_eq!(permit.as_u64(), waiter.as_u64());
                    self.held.push((permit, Some(waiter)));
                }
                LimiterEvent::TimedOut { waiter } => self.queue.timed_out(waiter, self.now),
                other => panic!("unknown event {other:?}"),
            }
        }
    }

    fn check(&self, l: &Limiter) {
        l.validate();
        assert_eq!(l.in_flight(), self.held.len(), "permits not conserved");
        assert_eq!(l.waiting(), self.queue.len(), "waiters not conserved");
        assert!(self.queue.len() <= self.max_queue);
        if !self.queue.is_empty() {
            assert!(
                self.held.len() >= l.limit() as usize,
                "waiter beside a free permit"
            );
        }
    }
}

fn run(algorithm: Algorithm, max_queue: usize, ops: impl IntoIterator<Item = Op>) -> LimiterStats {
    let mut config = LimiterConfig::new(algorithm);
    config.max_waiters = max_queue;
    let mut l = Limiter::new(config).expect("valid config");
    let mut m = Model {
        now: Instant::ZERO,
        max_queue,
        held: Vec::new(),
        queue: Waiters::default(),
        released: Vec::new(),
        issued: BTreeSet::new(),
    };
    for op in ops {
        let now = m.now;
        match op {
            Op::Acquire(_) | Op::TryAcquire => {
                let deadline = match op {
                    Op::Acquire(a) => now.saturating_add(Duration::from_millis(a)),
                    _ => Instant::ZERO,
                };
                let free = m.queue.is_empty() && m.held.len() < l.limit() as usize;
                let got = if matches!(op, Op::TryAcquire) {
                    l.try_acquire(now)
                        .map_or(Acquire::Rejected(Rejection::WouldWait), Acquire::Admitted)
                } else {
                    l.acquire(now, deadline)
                };
                match got {
                    Acquire::Admitted(p) => {
                        assert!(free, "admitted without a free permit or past a waiter");
                        assert!(m.issued.insert(p.as_u64()), "permit id reused");
                        m.held.push((p, None));
                    }
                    Acquire::Queued(w) => {
                        assert!(!free && deadline > now && m.queue.len() < max_queue);
                        m.queue.push(w, deadline);
                    }
                    Acquire::Rejected(Rejection::WouldWait) => assert!(!free && deadline <= now),
                    Acquire::Rejected(Rejection::QueueFull) => {
                        assert!(!free && deadline > now && m.queue.len() >= max_queue)
                    }
                    other => panic!("unknown answer {other:?}"),
                }
            }
            Op::Release(i, o) if !m.held.is_empty() => {
                let (p, _) = m.held.remove(i % m.held.len());
                l.release(now, p, outcome(o)).expect("held permit releases");
                m.released.push(p);
            }
            Op::ReleaseStale => release_stale(
                &m.released,
                |p| m.held.iter().any(|&(h, _)| h == p),
                |p| l.release(now, p, Outcome::Success),
                LimiterError::UnknownPermit,
            ),
            Op::Queue(QueueStep::Cancel(i)) => {
                let cancel = |w| l.cancel(now, w);
                m.queue
                    .cancel(i, cancel, Cancelled::Dequeued, LimiterError::UnknownWaiter);
            }
            Op::Queue(QueueStep::DropGrant(i)) => {
                let granted: Vec<usize> = (0..m.held.len())
                    .filter(|&k| m.held[k].1.is_some())
                    .collect();
                if !granted.is_empty() {
                    let k = granted[i % granted.len()];
                    let (p, w) = m.held.remove(k);
                    let w = w.expect("filtered on grants");
                    assert_eq!(l.cancel(now, w), Ok(Cancelled::Released(p)));
                    m.released.push(p);
                }
            }
            Op::Queue(step) => {
                if let Some(t) = advanced(&step, now, l.poll_timeout()) {
                    m.now = t;
                    l.handle_timeout(t);
                    m.apply(&mut l);
                    m.queue.assert_none_overdue(t);
                    assert!(l.poll_timeout().is_none_or(|next| next > t));
                }
            }
            _ => {}
        }
        m.apply(&mut l);
        m.check(&l);
    }
    // Tear down: every permit back, every waiter gone, and the limiter serves again.
    for w in m.queue.drain() {
        assert_eq!(l.cancel(m.now, w), Ok(Cancelled::Dequeued));
    }
    while let Some((p, _)) = m.held.pop() {
        l.release(m.now, p, Outcome::Ignored).expect("held");
        m.apply(&mut l);
        // Released permits may be granted to nobody: the queue is empty.
        assert!(m.queue.is_empty());
    }
    m.check(&l);
    assert_eq!((l.in_flight(), l.waiting()), (0, 0), "leaked permits");
    assert!(matches!(
        l.acquire(m.now, Instant::MAX),
        Acquire::Admitted(_)
    ));
    let s = l.stats(m.now);
    assert_eq!(s.in_flight, 1);
    s
}

fn algorithms() -> Vec<(Algorithm, usize)> {
    // Config structs are #[non_exhaustive]: start from the defaults and set fields.
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = 4;
    aimd.min_limit = 1;
    aimd.max_limit = 8;
    aimd.latency_threshold = Some(Duration::from_millis(30));
    let mut gradient = GradientConfig::default();
    gradient.initial_limit = 4;
    gradient.min_limit = 1;
    gradient.max_limit = 8;
    gradient.min_samples = 3;
    gradient.sample_interval = Duration::from_millis(20);
    gradient.probe_interval = Duration::from_millis(500);
    vec![
        (Algorithm::Fixed(1), 3),
        (Algorithm::Fixed(3), 8),
        (Algorithm::Fixed(2), 0),
        (Algorithm::Aimd(aimd), 6),
        (Algorithm::Gradient(gradient), 6),
    ]
}

#[test]
fn seeded_random_sequences_match_the_model() {
    for (algorithm, max_queue) in algorithms() {
        let (mut waited, mut timed_out, mut cancelled, mut rejected, mut limits) = (0, 0, 0, 0, 0);
        for seed in 0..60 {
            let mut rng = StdRng::seed_from_u64(seed);
            let ops: Vec<Op> = (0..400).map(|_| op(&mut rng)).collect();
            let s = run(algorithm.clone(), max_queue, ops);
            waited += s.admitted_after_wait;
            timed_out += s.timed_out;
            cancelled += s.cancelled;
            rejected += s.rejected;
            limits += s.limit_history.len() - 1;
        }
        // The sequences reach every path (not a vacuous pass).
        if max_queue > 0 {
            assert!(
                waited > 100 && timed_out > 100 && cancelled > 100,
                "{algorithm:?}"
            );
        }
        assert!(rejected > 100, "{algorithm:?}");
        if !matches!(algorithm, Algorithm::Fixed(_)) {
            assert!(
                limits > 20,
                "{algorithm:?}: the limit hardly moved ({limits})"
            );
        }
        eprintln!(
            "{algorithm:?}: waited {waited}, timed out {timed_out}, cancelled {cancelled}, rejected {rejected}, limit changes {limits}"
        );
    }
}

#[test]
fn many_cancellations_leave_nothing_in_flight() {
    // 100,000 waiters and holders dropped at random points, in one long run.
    let ops = churn(0xCA9CE1, 5, Op::Queue, |rng| match rng.random_range(0..3) {
        0..2 => Op::Acquire(rng.random_range(1..50)),
        _ => Op::Release(rng.random_range(0..64), 3),
    });
    let s = run(Algorithm::Fixed(4), 32, ops);
    assert!(s.cancelled > 10_000, "{s:?}");
}

proptest! {
    #![proptest_config(common::model_cases())]

    #[test]
    fn proptest_sequences_match_the_model(
        which in 0usize..5,
        ops in prop::collection::vec(op_strategy(), 1..300),
    ) {
        let (algorithm, max_queue) = algorithms().swap_remove(which);
        run(algorithm, max_queue, ops);
    }
}
