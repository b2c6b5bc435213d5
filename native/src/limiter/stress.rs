//! Stress test of the fast path against the locked path: std threads on the fast path (try_acquire / release) racing tokio
//! tasks that queue, wait with real wakers (no re-polling), time out, are cancelled, and
//! release with congestion outcomes (AIMD limit changes). Checks: never more than the bound
//! held, no task hangs (a lost wake-up hangs a `max_wait: None` waiter), everything drains,
//! and the statistics match what the callers saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

#[derive(Default)]
struct Check {
    inside: AtomicUsize,
    most: AtomicUsize,
    bound: usize,
    acquired: AtomicU64,
    // success, dropped, timeout, ignored
    out: [AtomicU64; 4],
}

impl Check {
    fn enter(&self) {
        let n = self.inside.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(n, SeqCst);
        assert!(n <= self.bound, "{n} held > bound {}", self.bound);
        self.acquired.fetch_add(1, SeqCst);
    }
    /// Called before the permit is released.
    fn leave(&self, o: Outcome) {
        self.inside.fetch_sub(1, SeqCst);
        let i = match o {
            Outcome::Success => 0,
            Outcome::Dropped => 1,
            Outcome::Timeout => 2,
            _ => 3,
        };
        self.out[i].fetch_add(1, SeqCst);
    }
}

const OUTCOMES: [Outcome; 6] = [
    Outcome::Success,
    Outcome::Success,
    Outcome::Success,
    Outcome::Success,
    Outcome::Dropped,
    Outcome::Ignored,
];

async fn hold(rng: &mut SmallRng) {
    match rng.random_range(0..4) {
        0 => {}
        1 => tokio::task::yield_now().await,
        2 => std::hint::spin_loop(),
        _ => tokio::time::sleep(Duration::from_micros(rng.random_range(1..200))).await,
    }
}

fn stress(algorithm: Algorithm, bound: usize, max_wait: Option<Duration>, seed: u64) {
    let config = LimiterConfig::new(algorithm)
        .with_max_waiters(1_000)
        .with_max_wait(max_wait);
    let limiter = Limiter::new(config).expect("valid");
    let check = Arc::new(Check {
        bound,
        ..Check::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Two std threads on the fast path.
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (limiter, check, stop) = (limiter.clone(), check.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(seed ^ (t + 100));
                let mut n = 0u64;
                while !stop.load(SeqCst) && n < 400_000 {
                    n += 1;
                    if let Ok(permit) = limiter.try_acquire() {
                        check.enter();
                        for _ in 0..rng.random_range(0..20) {
                            std::hint::spin_loop();
                        }
                        let o = OUTCOMES[rng.random_range(0..OUTCOMES.len())];
                        check.leave(o);
                        permit.release(o);
                    } else {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    // A monitor checking the machine's invariants (a waiter never waits while a permit is
    // free; permits conserved) under the lock, folded, while everything runs.
    let monitor = {
        let (limiter, stop) = (limiter.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                limiter.validate();
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    let result = rt.block_on(async {
        let tasks: Vec<_> = (0..24u64)
            .map(|t| {
                let (limiter, check) = (limiter.clone(), check.clone());
                tokio::spawn(async move {
                    let mut rng = SmallRng::seed_from_u64(seed * 1_000 + t);
                    for _ in 0..1_500 {
                        let o = OUTCOMES[rng.random_range(0..OUTCOMES.len())];
                        match rng.random_range(0..5) {
                            // Wait as long as it takes (with `max_wait: None`: a lost wake-up hangs).
                            0 | 1 => match limiter.acquire().await {
                                Ok(permit) => {
                                    check.enter();
                                    hold(&mut rng).await;
                                    check.leave(o);
                                    permit.release(o);
                                }
                                Err(e) => assert!(e.is_rejection() || e.is_timeout(), "{e:?}"),
                            },
                            // Cancelled while queued or just granted.
                            2 => {
                                let d = Duration::from_micros(rng.random_range(1..300));
                                if let Ok(Ok(permit)) =
                                    tokio::time::timeout(d, limiter.acquire()).await
                                {
                                    check.enter();
                                    hold(&mut rng).await;
                                    check.leave(o);
                                    permit.release(o);
                                }
                            }
                            3 => {
                                let d = Duration::from_micros(rng.random_range(1..500));
                                if let Ok(permit) = limiter.acquire_timeout(d).await {
                                    let permit = permit.into_owned();
                                    check.enter();
                                    let check = check.clone();
                                    // Released on another task.
                                    tokio::spawn(async move {
                                        tokio::task::yield_now().await;
                                        check.leave(o);
                                        permit.release(o);
                                    })
                                    .await
                                    .unwrap();
                                }
                            }
                            _ => {
                                if let Ok(permit) = limiter.try_acquire() {
                                    check.enter();
                                    hold(&mut rng).await;
                                    check.leave(o);
                                    permit.release(o);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        let all = futures_util::future::join_all(tasks);
        tokio::time::timeout(Duration::from_secs(120), all).await
    });
    stop.store(true, SeqCst);
    for t in threads {
        t.join().expect("thread");
    }
    monitor.join().expect("validate() failed during the run");
    let waiting = limiter.waiting();
    let in_flight = limiter.in_flight();
    let s = limiter.stats();
    let res = result.unwrap_or_else(|_| {
        panic!("a task hung (lost wake-up?): waiting {waiting}, in_flight {in_flight}, {s:?}")
    });
    for r in res {
        r.expect("task");
    }
    // Let the timer task settle.
    for _ in 0..200 {
        if limiter.waiting() == 0 && limiter.in_flight() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    limiter.validate();
    let s = limiter.stats();
    assert_eq!((s.in_flight, s.waiting), (0, 0), "{s:?}");
    let out: Vec<u64> = check.out.iter().map(|a| a.load(SeqCst)).collect();
    let acquired = check.acquired.load(SeqCst);
    assert_eq!(s.succeeded, out[0], "{s:?}");
    assert_eq!(s.dropped, out[1], "{s:?}");
    assert_eq!(s.deadline_exceeded, out[2], "{s:?}");
    // Grants handed back by `cancel` count as admitted and ignored.
    assert_eq!(s.ignored - out[3], s.admitted - acquired, "{s:?}");
    assert_eq!(
        s.admitted,
        s.succeeded + s.dropped + s.deadline_exceeded + s.ignored
    );
    assert!(s.peak_in_flight <= bound, "{s:?}");
    assert!(s.admitted_after_wait > 0 && s.cancelled > 0, "{s:?}");
    eprintln!("most held {} / {bound}; {s:?}", check.most.load(SeqCst));
}

#[test]
fn stress_fixed_no_max_wait() {
    for seed in 0..2 {
        stress(Algorithm::Fixed(3), 3, None, seed);
    }
}

#[test]
fn stress_fixed_max_wait() {
    stress(Algorithm::Fixed(3), 3, Some(Duration::from_micros(300)), 7);
}

#[test]
fn stress_aimd() {
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = 3;
    aimd.min_limit = 1;
    aimd.max_limit = 4;
    for seed in 0..2 {
        stress(Algorithm::Aimd(aimd.clone()), 4, None, seed);
    }
}
