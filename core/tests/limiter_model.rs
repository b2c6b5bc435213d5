//! The limiter against a naive model (a `Vec` queue and a set of held permits) under seeded
//! random operation sequences in simulated time, with `validate()` after every step.
//!
//! The model reads the limit from the limiter (the algorithms are tested on their own), and
//! checks everything else: admission only below the limit and never past a waiter, the
//! bounded queue, FIFO grants, deadlines, cancellation of queued waiters and of undelivered
//! grants, stale ids, and that nothing is left in flight at the end.

use std::collections::BTreeSet;

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
    /// Cancel the n-th queued waiter.
    Cancel(usize),
    /// Cancel the waiter of the n-th permit that came from a grant, as if it was never
    /// delivered.
    DropGrant(usize),
    /// Advance the clock by this many ms and run the timers.
    Advance(u64),
    /// Jump to the limiter's own timeout.
    AdvanceToTimeout,
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
        67..75 => Op::Cancel(rng.random_range(0..64)),
        75..80 => Op::DropGrant(rng.random_range(0..64)),
        80..95 => Op::Advance(rng.random_range(0..40)),
        _ => Op::AdvanceToTimeout,
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..200).prop_map(Op::Acquire),
        1 => Just(Op::TryAcquire),
        6 => (0usize..64, 0u8..4).prop_map(|(i, o)| Op::Release(i, o)),
        1 => Just(Op::ReleaseStale),
        2 => (0usize..64).prop_map(Op::Cancel),
        1 => (0usize..64).prop_map(Op::DropGrant),
        3 => (0u64..40).prop_map(Op::Advance),
        1 => Just(Op::AdvanceToTimeout),
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
    /// Live waiters in FIFO order with their deadlines.
    queue: Vec<(WaiterId, Instant)>,
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
                    let (head, deadline) = self.queue.first().copied().expect("grant to a waiter");
                    assert_eq!(waiter, head, "grant out of FIFO order");
                    assert!(deadline > self.now, "granted after its deadline");
                    assert_eq!(permit.as_u64(), waiter.as_u64());
                    self.queue.remove(0);
                    self.held.push((permit, Some(waiter)));
                }
                LimiterEvent::TimedOut { waiter } => {
                    let i = self
                        .queue
                        .iter()
                        .position(|&(w, _)| w == waiter)
                        .expect("timed-out waiter was queued");
                    assert!(self.queue[i].1 <= self.now, "timed out early");
                    self.queue.remove(i);
                }
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
        queue: Vec::new(),
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
                        m.queue.push((w, deadline));
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
            Op::ReleaseStale if !m.released.is_empty() => {
                let p = m.released[m.released.len() / 2];
                if !m.held.iter().any(|&(h, _)| h == p) {
                    assert_eq!(
                        l.release(now, p, Outcome::Success),
                        Err(LimiterError::UnknownPermit(p))
                    );
                }
            }
            Op::Cancel(i) if !m.queue.is_empty() => {
                let (w, _) = m.queue.remove(i % m.queue.len());
                assert_eq!(l.cancel(now, w), Ok(Cancelled::Dequeued));
                assert_eq!(l.cancel(now, w), Err(LimiterError::UnknownWaiter(w)));
            }
            Op::DropGrant(i) => {
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
            Op::Advance(dt) => {
                m.now = now.saturating_add(Duration::from_millis(dt));
                l.handle_timeout(m.now);
                m.apply(&mut l);
                assert!(
                    m.queue.iter().all(|&(_, d)| d > m.now),
                    "a waiter outlived its deadline"
                );
                assert!(l.poll_timeout().is_none_or(|t| t > m.now));
            }
            Op::AdvanceToTimeout => {
                if let Some(t) = l.poll_timeout() {
                    m.now = m.now.max(t);
                    l.handle_timeout(m.now);
                }
            }
            _ => {}
        }
        m.apply(&mut l);
        m.check(&l);
    }
    // Tear down: every permit back, every waiter gone, and the limiter serves again.
    for (w, _) in core::mem::take(&mut m.queue) {
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
    let mut rng = StdRng::seed_from_u64(0xCA9CE1);
    let ops = (0..100_000).map(move |_| match rng.random_range(0..10) {
        0..4 => Op::Acquire(rng.random_range(1..50)),
        4..6 => Op::Cancel(rng.random_range(0..64)),
        6 => Op::DropGrant(rng.random_range(0..64)),
        7..9 => Op::Release(rng.random_range(0..64), 3),
        _ => Op::Advance(rng.random_range(0..5)),
    });
    run(Algorithm::Fixed(4), 32, ops);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn proptest_sequences_match_the_model(
        which in 0usize..5,
        ops in prop::collection::vec(op_strategy(), 1..300),
    ) {
        let (algorithm, max_queue) = algorithms().swap_remove(which);
        run(algorithm, max_queue, ops);
    }
}
