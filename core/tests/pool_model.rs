//! The pool against a naive host model under seeded random operation sequences in
//! simulated time, with `validate()` after every step.
//!
//! The model is what a host knows: the set of open connections, which it handed out, which
//! creations and checks it was asked for, and a `Vec` of waiters in arrival order. Every
//! action must make sense against it (no grant of a connection in use, no close of a
//! connection handed out, grants in FIFO order, timeouts only when due, never more slots
//! than `max_size`), and at the end nothing may be left in use or queued.

mod common;

use std::collections::BTreeSet;

use common::{QueueStep, Waiters, advanced, churn, queue_step, queue_step_strategy, release_stale};
use perfopt_core::pool::{
    Backoff, Cancelled, CloseCause, CreateFailure, Get, Health, Pool, PoolAction, PoolConfig,
    PoolError, PoolStats, Rejection, SlotId, WaiterId,
};
use perfopt_core::{Duration, Instant};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Debug)]
enum Op {
    /// Get with a deadline this many ms ahead (0: do not wait).
    Get(u64),
    /// Return the n-th connection handed out, broken or not.
    Release(usize, bool),
    /// Return a connection that was already returned.
    ReleaseStale,
    /// Cancel a waiter, drop the n-th undelivered grant (the get future went away), or
    /// move the clock.
    Queue(QueueStep),
    /// Deliver the n-th undelivered grant.
    Deliver(usize),
    /// Finish the n-th creation: 0 ok, 1 transient failure, 2 fatal failure.
    Create(usize, u8),
    /// Finish the n-th check, healthy or not.
    Check(usize, bool),
}

fn op(rng: &mut StdRng) -> Op {
    match rng.random_range(0..100) {
        0..25 => Op::Get(if rng.random_bool(0.1) {
            0
        } else {
            rng.random_range(1..300)
        }),
        25..40 => Op::Release(rng.random_range(0..64), rng.random_bool(0.1)),
        40..42 => Op::ReleaseStale,
        42..52 => Op::Deliver(rng.random_range(0..64)),
        52..64 => Op::Create(rng.random_range(0..64), {
            let r = rng.random_range(0..20);
            if r < 16 {
                0
            } else if r < 19 {
                1
            } else {
                2
            }
        }),
        64..70 => Op::Check(rng.random_range(0..64), rng.random_bool(0.85)),
        _ => Op::Queue(queue_step(rng, 200)),
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u64..300).prop_map(Op::Get),
        3 => (0usize..64, any::<bool>()).prop_map(|(i, b)| Op::Release(i, b)),
        1 => Just(Op::ReleaseStale),
        2 => (0usize..64).prop_map(Op::Deliver),
        3 => (0usize..64, 0u8..3).prop_map(|(i, k)| Op::Create(i, k)),
        1 => (0usize..64, any::<bool>()).prop_map(|(i, b)| Op::Check(i, b)),
        6 => queue_step_strategy(200).prop_map(Op::Queue),
    ]
}

/// The naive host model.
#[derive(Default)]
struct Model {
    now: Instant,
    max_waiters: usize,
    leak_threshold: Option<Duration>,
    open: BTreeSet<SlotId>,
    creating: Vec<SlotId>,
    checking: Vec<SlotId>,
    /// Handed out and delivered: (slot, since).
    held: Vec<(SlotId, Instant)>,
    /// Granted but not yet delivered.
    undelivered: Vec<(WaiterId, SlotId, Instant)>,
    queue: Waiters,
    returned: Vec<SlotId>,
}

impl Model {
    fn in_use(&self, s: SlotId) -> bool {
        self.held.iter().any(|&(h, _)| h == s) || self.undelivered.iter().any(|&(_, h, _)| h == s)
    }

    fn apply(&mut self, p: &mut Pool) {
        while let Some(a) = p.poll_action() {
            match a {
                PoolAction::Create(s) => {
                    assert!(!self.open.contains(&s) && !self.creating.contains(&s));
                    self.creating.push(s);
                }
                PoolAction::Check(s) => {
                    assert!(
                        self.open.contains(&s) && !self.in_use(s),
                        "check of a used slot"
                    );
                    assert!(!self.checking.contains(&s));
                    self.checking.push(s);
                }
                PoolAction::Close { slot, cause } => {
                    assert!(self.open.remove(&slot), "close of a slot not open");
                    assert!(!self.in_use(slot), "close of a slot handed out");
                    if let Some(i) = self.checking.iter().position(|&c| c == slot) {
                        assert_eq!(cause, CloseCause::Broken);
                        self.checking.remove(i);
                    }
                }
                PoolAction::Grant { waiter, slot } => {
                    self.queue.granted(waiter, self.now);
                    assert!(self.open.contains(&slot) && !self.in_use(slot));
                    assert!(!self.checking.contains(&slot));
                    self.undelivered.push((waiter, slot, self.now));
                }
                PoolAction::TimedOut { waiter, .. } => self.queue.timed_out(waiter, self.now),
                PoolAction::Failed { waiter, failure } => {
                    assert_eq!(failure, CreateFailure::Fatal);
                    self.queue.remove(waiter);
                }
                PoolAction::LeakSuspected { slot, held_for } => {
                    assert!(self.in_use(slot), "leak report of a slot not in use");
                    assert!(held_for >= self.leak_threshold.expect("leak detection on"));
                }
                other => panic!("unknown action {other:?}"),
            }
        }
    }

    fn check(&self, p: &Pool, max_size: usize) {
        p.validate();
        assert_eq!(
            p.size(),
            self.open.len() + self.creating.len(),
            "slots not conserved"
        );
        assert!(p.size() <= max_size, "above max_size");
        assert_eq!(p.in_use(), self.held.len() + self.undelivered.len());
        assert_eq!(p.waiting(), self.queue.len(), "waiters not conserved");
        assert!(self.queue.len() <= self.max_waiters);
        assert_eq!(
            p.idle() + self.checking.len() + p.in_use(),
            self.open.len(),
            "open connections neither idle, checked nor in use"
        );
    }
}

fn config(variant: usize) -> PoolConfig {
    let mut c = PoolConfig::default();
    c.max_size = [1, 3, 5, 4][variant];
    c.min_idle = [0, 1, 2, 4][variant];
    c.max_waiters = [2, 6, 10, 8][variant];
    c.max_concurrent_creates = [1, 1, 2, 4][variant];
    c.max_lifetime = Some(Duration::from_millis([2_000, 800, 5_000, 1_500][variant]));
    c.lifetime_jitter = Duration::from_millis(100);
    c.idle_timeout = Some(Duration::from_millis([300, 500, 1_000, 200][variant]));
    c.check_after_idle =
        [None, Some(Duration::from_millis(100)), Some(Duration::ZERO)][variant % 3];
    c.leak_threshold = Some(Duration::from_millis(700));
    c.create_backoff = Backoff::default();
    c.seed = variant as u64;
    c
}

fn run(config: PoolConfig, ops: impl IntoIterator<Item = Op>) -> PoolStats {
    let max_size = config.max_size;
    let mut m = Model {
        max_waiters: config.max_waiters,
        leak_threshold: config.leak_threshold,
        ..Model::default()
    };
    let mut p = Pool::new(config, Instant::ZERO).expect("valid config");
    m.apply(&mut p);
    m.check(&p, max_size);
    for op in ops {
        let now = m.now;
        match op {
            Op::Get(ahead) => {
                let deadline = now.saturating_add(Duration::from_millis(ahead));
                let queue_was_empty = m.queue.is_empty();
                match p.get(now, deadline) {
                    Get::Ready(s) => {
                        assert!(queue_was_empty, "a get overtook a waiter");
                        assert!(m.open.contains(&s) && !m.in_use(s) && !m.checking.contains(&s));
                        m.held.push((s, now));
                    }
                    Get::Queued(w) => {
                        assert!(deadline > now && m.queue.len() < m.max_waiters);
                        m.queue.push(w, deadline);
                    }
                    Get::Rejected(Rejection::WouldWait) => assert!(deadline <= now),
                    Get::Rejected(Rejection::QueueFull) => {
                        assert!(deadline > now && m.queue.len() >= m.max_waiters)
                    }
                    other => panic!("unknown answer {other:?}"),
                }
            }
            Op::Release(i, broken) if !m.held.is_empty() => {
                let (s, _) = m.held.remove(i % m.held.len());
                let health = if broken {
                    Health::Broken
                } else {
                    Health::Healthy
                };
                p.release(now, s, health).expect("held slot returns");
                m.returned.push(s);
            }
            Op::ReleaseStale => release_stale(
                &m.returned,
                |s| m.in_use(s),
                |s| p.release(now, s, Health::Healthy),
                PoolError::UnknownSlot,
            ),
            Op::Queue(QueueStep::Cancel(i)) => {
                let cancel = |w| p.cancel(now, w);
                m.queue
                    .cancel(i, cancel, Cancelled::Dequeued, PoolError::UnknownWaiter);
            }
            Op::Queue(QueueStep::DropGrant(i)) if !m.undelivered.is_empty() => {
                let (w, s, _) = m.undelivered.remove(i % m.undelivered.len());
                assert_eq!(p.cancel(now, w), Ok(Cancelled::Released(s)));
                m.returned.push(s);
            }
            Op::Deliver(i) if !m.undelivered.is_empty() => {
                let (_, s, since) = m.undelivered.remove(i % m.undelivered.len());
                m.held.push((s, since));
            }
            Op::Create(i, kind) if !m.creating.is_empty() => {
                let s = m.creating.remove(i % m.creating.len());
                match kind {
                    0 => {
                        p.handle_created(now, s).expect("creating");
                        m.open.insert(s);
                    }
                    1 => p
                        .handle_create_failed(now, s, CreateFailure::Transient)
                        .expect("creating"),
                    _ => p
                        .handle_create_failed(now, s, CreateFailure::Fatal)
                        .expect("creating"),
                }
                // Finishing twice is an error.
                assert_eq!(p.handle_created(now, s), Err(PoolError::UnknownSlot(s)));
            }
            Op::Check(i, healthy) if !m.checking.is_empty() => {
                let s = m.checking.remove(i % m.checking.len());
                let health = if healthy {
                    Health::Healthy
                } else {
                    Health::Broken
                };
                p.handle_checked(now, s, health).expect("checking");
                if !healthy {
                    m.checking.push(s); // its Close (cause Broken) removes it
                }
            }
            Op::Queue(step) => {
                if let Some(t) = advanced(&step, now, p.poll_timeout()) {
                    m.now = t;
                    p.handle_timeout(t);
                    m.apply(&mut p);
                    m.queue.assert_none_overdue(t);
                }
            }
            _ => {}
        }
        m.apply(&mut p);
        m.check(&p, max_size);
    }
    // Tear down: cancel waiters, return everything, finish every creation and check.
    for w in m.queue.drain() {
        assert_eq!(p.cancel(m.now, w), Ok(Cancelled::Dequeued));
    }
    for (w, s, _) in std::mem::take(&mut m.undelivered) {
        assert_eq!(p.cancel(m.now, w), Ok(Cancelled::Released(s)));
    }
    for (s, _) in std::mem::take(&mut m.held) {
        p.release(m.now, s, Health::Healthy).expect("held");
    }
    m.apply(&mut p);
    for _ in 0..100 {
        if let Some(s) = m.creating.pop() {
            p.handle_created(m.now, s).expect("creating");
            m.open.insert(s);
        } else if let Some(s) = m.checking.pop() {
            p.handle_checked(m.now, s, Health::Healthy)
                .expect("checking");
        } else {
            break;
        }
        m.apply(&mut p);
        assert!(m.undelivered.is_empty() && m.queue.is_empty());
    }
    m.check(&p, max_size);
    assert_eq!((p.in_use(), p.waiting()), (0, 0), "leaked slots");
    assert!(m.creating.is_empty() && m.checking.is_empty());
    // Later callers are served: directly, or after a check or a creation.
    let stats = p.stats(m.now);
    let later = m.now.saturating_add(Duration::from_secs(60));
    match p.get(m.now, later) {
        Get::Ready(s) => m.held.push((s, m.now)),
        Get::Queued(w) => {
            m.queue.push(w, later);
            m.apply(&mut p);
            for _ in 0..50 {
                if let Some(s) = m.creating.pop() {
                    p.handle_created(m.now, s).expect("creating");
                    m.open.insert(s);
                } else if let Some(s) = m.checking.pop() {
                    p.handle_checked(m.now, s, Health::Healthy)
                        .expect("checking");
                } else if let Some(t) = p.poll_timeout() {
                    m.now = m.now.max(t); // a creation backoff
                    p.handle_timeout(m.now);
                }
                m.apply(&mut p);
                if !m.undelivered.is_empty() {
                    break;
                }
            }
            assert_eq!(m.undelivered.len(), 1, "a later caller was not served");
        }
        other => panic!("{other:?}"),
    }
    m.apply(&mut p);
    m.check(&p, max_size);
    stats
}

#[test]
fn seeded_random_sequences_match_the_model() {
    for variant in 0..4 {
        let mut total = run(config(variant), []);
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed * 31 + variant as u64);
            let ops: Vec<Op> = (0..400).map(|_| op(&mut rng)).collect();
            let s = run(config(variant), ops);
            total.gets_waited += s.gets_waited;
            total.timed_out += s.timed_out;
            total.cancelled += s.cancelled;
            total.closed_expired += s.closed_expired;
            total.closed_idle += s.closed_idle;
            total.closed_broken += s.closed_broken;
            total.failed += s.failed;
            total.leaks += s.leaks;
            total.checks += s.checks;
            total.reused += s.reused;
        }
        eprintln!(
            "variant {variant}: waited {}, timed out {}, cancelled {}, failed {}, closed \
             expired/idle/broken {}/{}/{}, leaks {}, checks {}, reused {}",
            total.gets_waited,
            total.timed_out,
            total.cancelled,
            total.failed,
            total.closed_expired,
            total.closed_idle,
            total.closed_broken,
            total.leaks,
            total.checks,
            total.reused
        );
        // Every path is reached (not a vacuous pass).
        assert!(total.gets_waited > 50 && total.timed_out > 20 && total.cancelled > 20);
        assert!(total.closed_expired > 5 && total.closed_broken > 20 && total.failed > 5);
        assert!(total.leaks > 5 && total.reused > 50);
        if config(variant).check_after_idle.is_some() {
            assert!(total.checks > 20);
        }
    }
}

#[test]
fn many_cancellations_leave_no_slot_behind() {
    // 100,000 gets and grants dropped at random points, in one long run.
    let ops = churn(0xD20B, 20, Op::Queue, |rng| match rng.random_range(0..8) {
        0..4 => Op::Get(rng.random_range(1..100)),
        4 => Op::Deliver(rng.random_range(0..64)),
        5 => Op::Release(rng.random_range(0..64), false),
        6 => Op::Create(rng.random_range(0..64), 0),
        _ => Op::Check(rng.random_range(0..64), true),
    });
    let s = run(config(2), ops);
    assert!(s.cancelled > 10_000, "{s:?}");
}

proptest! {
    #![proptest_config(common::model_cases())]

    #[test]
    fn proptest_sequences_match_the_model(
        variant in 0usize..4,
        ops in prop::collection::vec(op_strategy(), 1..300),
    ) {
        run(config(variant), ops);
    }
}
