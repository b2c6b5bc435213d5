//! The fast path against the locked path: two limiters, one with the lock-free fast path
//! and one whose every call takes the lock, driven with the same operations, keep the same
//! statistics after every step; and under two threads the fast path never admits beyond
//! the limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

type Pending = Pin<Box<dyn Future<Output = Result<OwnedPermit, AcquireError>>>>;

/// Everything in the statistics that does not depend on the clock.
fn counts(l: &Limiter) -> [u64; 14] {
    let s = l.stats();
    [
        s.limit.into(),
        s.in_flight as u64,
        l.in_flight() as u64,
        s.waiting as u64,
        s.admitted,
        s.admitted_after_wait,
        s.rejected,
        s.timed_out,
        s.cancelled,
        s.succeeded,
        s.dropped,
        s.deadline_exceeded,
        s.ignored,
        s.peak_in_flight as u64,
    ]
}

fn poll(f: &mut Pending) -> Poll<Result<OwnedPermit, AcquireError>> {
    f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// `steps` random operations on a fast and a locked limiter with `algorithm`.
fn drive(algorithm: Algorithm, seed: u64, steps: usize) {
    let config = LimiterConfig::new(algorithm)
        .with_max_waiters(6)
        .with_max_wait(None);
    let fast = Limiter::new(config.clone()).expect("valid");
    let locked = Limiter::locked_only(config);
    let both = [&fast, &locked];
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut held: Vec<[OwnedPermit; 2]> = Vec::new();
    let mut pending: Vec<[Pending; 2]> = Vec::new();
    let outcomes = [
        Outcome::Success,
        Outcome::Success,
        Outcome::Success,
        Outcome::Dropped,
        Outcome::Timeout,
        Outcome::Ignored,
    ];
    for step in 0..steps {
        match rng.random_range(0..10) {
            0..=2 => {
                let [a, b] = both.map(|l| l.try_acquire().map(Permit::into_owned));
                match (a, b) {
                    (Ok(a), Ok(b)) => held.push([a, b]),
                    (Err(a), Err(b)) => assert_eq!(a, b),
                    (a, b) => panic!("step {step}: try_acquire {a:?} vs {b:?}"),
                }
            }
            3..=4 => {
                let mut futures = both.map(|l| {
                    let l = l.clone();
                    Box::pin(async move { l.acquire_owned().await }) as Pending
                });
                let [a, b] = &mut futures;
                match (poll(a), poll(b)) {
                    (Poll::Ready(Ok(a)), Poll::Ready(Ok(b))) => held.push([a, b]),
                    (Poll::Ready(Err(a)), Poll::Ready(Err(b))) => assert_eq!(a, b),
                    (Poll::Pending, Poll::Pending) => pending.push(futures),
                    (a, b) => panic!("step {step}: acquire {a:?} vs {b:?}"),
                }
            }
            5..=7 if !held.is_empty() => {
                let i = rng.random_range(0..held.len());
                let outcome = outcomes[rng.random_range(0..outcomes.len())];
                for permit in held.swap_remove(i) {
                    permit.release(outcome);
                }
            }
            8 if !pending.is_empty() => {
                // A queued caller gives up.
                let i = rng.random_range(0..pending.len());
                drop(pending.swap_remove(i));
            }
            _ => {
                // Queued callers take what they were granted.
                let mut still = Vec::new();
                for mut futures in pending.drain(..) {
                    let [a, b] = &mut futures;
                    match (poll(a), poll(b)) {
                        (Poll::Ready(Ok(a)), Poll::Ready(Ok(b))) => held.push([a, b]),
                        (Poll::Pending, Poll::Pending) => still.push(futures),
                        (a, b) => panic!("step {step}: waiter {a:?} vs {b:?}"),
                    }
                }
                pending = still;
            }
        }
        assert_eq!(counts(&fast), counts(&locked), "step {step}");
        fast.validate();
        locked.validate();
    }
    drop(pending);
    drop(held);
    assert_eq!(counts(&fast), counts(&locked));
    let s = fast.stats();
    assert_eq!((s.in_flight, s.waiting), (0, 0));
    assert!(s.admitted > steps as u64 / 5, "{s:?}");
    assert!(s.admitted_after_wait > 0, "callers waited: {s:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_fast_path_keeps_the_locked_paths_statistics_fixed() {
    for seed in 0..8 {
        drive(Algorithm::Fixed(4), seed, 4_000);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_fast_path_keeps_the_locked_paths_statistics_aimd() {
    // Without a latency threshold AIMD's limit depends on outcomes, in-flight counts and
    // epochs only, so the two limiters' limits are equal too.
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = 6;
    aimd.min_limit = 1;
    aimd.max_limit = 12;
    for seed in 0..8 {
        drive(Algorithm::Aimd(aimd.clone()), seed, 4_000);
    }
}

#[test]
fn two_threads_never_hold_more_than_the_limit() {
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = 3;
    aimd.max_limit = 3;
    for algorithm in [Algorithm::Fixed(3), Algorithm::Aimd(aimd)] {
        let limiter = Limiter::new(LimiterConfig::new(algorithm)).expect("valid");
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let outcomes = [Outcome::Success, Outcome::Success, Outcome::Dropped];
        std::thread::scope(|s| {
            for t in 0..3 {
                let (limiter, inside, most) = (&limiter, &inside, &most);
                s.spawn(move || {
                    for i in 0..50_000 {
                        if let Ok(permit) = limiter.try_acquire() {
                            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(n, Ordering::SeqCst);
                            std::hint::spin_loop();
                            inside.fetch_sub(1, Ordering::SeqCst);
                            permit.release(outcomes[(i + t) % 3]);
                        }
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 3);
        let s = limiter.stats();
        limiter.validate();
        assert_eq!(s.in_flight, 0);
        assert_eq!(
            s.admitted,
            s.succeeded + s.dropped + s.deadline_exceeded + s.ignored
        );
        assert_eq!(s.admitted + s.rejected, 150_000);
        assert!(s.peak_in_flight <= 3 && s.peak_in_flight >= 1);
    }
}

#[test]
fn adaptive_limiters_measure_every_permit_when_slow_and_a_sample_when_fast() {
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = 4;
    let measured = |pause: Option<Duration>, n: u64| {
        let limiter =
            Limiter::new(LimiterConfig::new(Algorithm::Aimd(aimd.clone()))).expect("valid");
        for _ in 0..n {
            let permit = limiter.try_acquire().expect("free");
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
            drop(permit);
        }
        let s = limiter.stats();
        assert_eq!((s.admitted, s.succeeded), (n, n));
        s.latency_ms.count
    };
    // Slower than one release per SAMPLE_GAP: every permit is measured.
    assert_eq!(measured(Some(SAMPLE_GAP * 2), 200), 200);
    // Back to back: about one per SAMPLE_GAP, at least one in SAMPLE_MAX.
    let n = 200_000;
    let count = measured(None, n);
    // (Fewer than all unless releases took over SAMPLE_GAP each, as on a stalled machine.)
    assert!(count < n, "{count} of {n} measured");
    assert!(
        count >= n / u64::from(SAMPLE_MAX) - 1,
        "{count} of {n} measured"
    );
}

#[test]
fn slow_permits_after_a_burst_are_measured_again_at_once() {
    // A burst samples one permit in up to SAMPLE_MAX; when releases then slow down to 1 ms,
    // the rate is re-estimated within 8 releases and every later permit is measured: AIMD's
    // latency threshold cuts the limit within the first slow permits.
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = 4;
    aimd.latency_threshold = Some(Duration::from_micros(300));
    let limiter = Limiter::new(LimiterConfig::new(Algorithm::Aimd(aimd))).expect("valid");
    for _ in 0..50_000 {
        drop(limiter.try_acquire().expect("free"));
    }
    let before = limiter.stats();
    let mut first_cut = None;
    for i in 0..100 {
        let permit = limiter.try_acquire().expect("free");
        std::thread::sleep(Duration::from_millis(1));
        drop(permit);
        if first_cut.is_none() && limiter.limit() < before.limit {
            first_cut = Some(i);
        }
    }
    let measured = limiter.stats().latency_ms.count - before.latency_ms.count;
    // Without the re-estimate, up to SAMPLE_MAX - 1 (63) of them went unmeasured.
    assert!(measured >= 91, "{measured} of 100 slow permits measured");
    assert!(
        first_cut.is_some_and(|i| i <= 9),
        "first cut at {first_cut:?}"
    );
}

#[test]
fn counts_stay_exact_past_the_words_success_field_and_beyond_its_limit_field() {
    // More fast successes than the word's 12-bit count holds: the release that finds it
    // full folds it under the lock.
    let limiter = Limiter::fixed(1).expect("valid");
    let n = fast::COUNT_MAX + 10;
    for _ in 0..n {
        drop(limiter.try_acquire().expect("free"));
    }
    let s = limiter.stats();
    assert_eq!((s.admitted, s.succeeded, s.in_flight), (n, n, 0));
    // A limit the word cannot hold: every call takes the lock, with the same answers.
    let big = u32::try_from(fast::FIELD_MAX + 1).expect("fits");
    let limiter = Limiter::fixed(big).expect("valid");
    let permits: Vec<_> = (0..3)
        .map(|_| limiter.try_acquire().expect("free"))
        .collect();
    assert_eq!(limiter.in_flight(), 3);
    drop(permits);
    let s = limiter.stats();
    assert_eq!(
        (s.admitted, s.succeeded, s.in_flight, s.limit),
        (3, 3, 0, big)
    );
    limiter.validate();
}
