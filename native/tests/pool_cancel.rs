//! Cancellation of the native pool (issue 4, part 5): 100,000 `get` futures dropped at
//! random points — while queued, just after a grant, while holding the connection — against
//! a manager whose creations and checks fail now and then, leave no slot in use, no waiter
//! queued and no connection outside the pool, and later callers are served.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use perfopt::pool::{Backoff, Manager, Pool, PoolConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

mod common;
use common::{poll_then_drop, spawn_seeded};

const OPERATIONS: usize = 100_000;
const TASKS: usize = 16;
const MAX_SIZE: usize = 4;

/// A connection that counts itself alive.
#[derive(Debug)]
struct Conn {
    live: Arc<AtomicUsize>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A simulated failure.
#[derive(Debug)]
struct Simulated;

impl std::fmt::Display for Simulated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated failure")
    }
}

impl std::error::Error for Simulated {}

/// Creations and checks take a few scheduling points and fail now and then.
struct Flaky {
    live: Arc<AtomicUsize>,
    rng: Mutex<SmallRng>,
}

impl Flaky {
    fn roll(&self, percent: u32) -> (u32, bool) {
        let mut rng = self.rng.lock().expect("rng");
        (rng.random_range(0..3), rng.random_range(0..100) < percent)
    }
}

impl Manager for Flaky {
    type Connection = Conn;
    type Error = Simulated;

    fn target(&self) -> String {
        "flaky://test".into()
    }

    async fn create(&self) -> Result<Conn, Simulated> {
        let (yields, fail) = self.roll(5);
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        if fail {
            return Err(Simulated);
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        Ok(Conn {
            live: Arc::clone(&self.live),
        })
    }

    async fn check(&self, _: &mut Conn) -> Result<(), Simulated> {
        let (yields, fail) = self.roll(10);
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        if fail { Err(Simulated) } else { Ok(()) }
    }
}

async fn yields(n: u32) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

fn pool(
    live: &Arc<AtomicUsize>,
    seed: u64,
    check_after_idle: Option<Duration>,
    max_waiters: usize,
) -> Pool<Flaky> {
    let mut config = PoolConfig::new(MAX_SIZE);
    config.min_idle = 1;
    config.max_waiters = max_waiters;
    config.check_after_idle = check_after_idle;
    let mut backoff = Backoff::default();
    backoff.initial = Duration::from_micros(200);
    backoff.max = Duration::from_millis(1);
    config.create_backoff = backoff;
    config.max_wait = Some(Duration::from_millis(3));
    let manager = Flaky {
        live: Arc::clone(live),
        rng: Mutex::new(SmallRng::seed_from_u64(seed)),
    };
    Pool::new(manager, config).expect("valid settings")
}

async fn hammer(pool: &Pool<Flaky>, seed: u64) {
    spawn_seeded(
        TASKS,
        OPERATIONS / TASKS,
        seed,
        pool.clone(),
        |pool, mut rng| async move {
            let hold = rng.random_range(0..4);
            let polls = rng.random_range(1..8);
            let broken = rng.random_range(0..20) == 0;
            let use_it = async |conn: Result<perfopt::pool::Pooled<'_, Flaky>, _>| {
                if let Ok(mut conn) = conn {
                    yields(hold).await;
                    if broken {
                        conn.mark_broken();
                    }
                }
            };
            match rng.random_range(0..20) {
                0..=11 => {
                    poll_then_drop(async { use_it(pool.get().await).await }, polls).await;
                }
                12..=14 => {
                    let micros = rng.random_range(1..500);
                    let _ = tokio::time::timeout(Duration::from_micros(micros), async {
                        use_it(pool.get().await).await;
                    })
                    .await;
                }
                15..=16 => {
                    let timeout = Duration::from_micros(rng.random_range(1..3_000));
                    let got = async { use_it(pool.get_timeout(timeout).await).await };
                    poll_then_drop(got, polls).await;
                }
                17..=18 => use_it(pool.try_get()).await,
                _ => {
                    if let Some(Ok(conn)) = poll_then_drop(pool.get(), polls).await {
                        drop(conn.detach());
                    }
                }
            }
        },
    )
    .await;
}

async fn assert_clean_and_serving(pool: &Pool<Flaky>, live: &AtomicUsize) {
    // Let creations and checks already started finish.
    for _ in 0..1000 {
        let s = pool.stats();
        if s.creating == 0 && s.checking == 0 && s.in_use == 0 && s.waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    pool.validate();
    let stats = pool.stats();
    assert_eq!(stats.in_use, 0, "slots leaked: {stats:?}");
    assert_eq!(stats.waiting, 0, "waiters leaked: {stats:?}");
    assert_eq!(
        live.load(Ordering::SeqCst),
        pool.size(),
        "connections alive outside the pool"
    );
    assert!(stats.cancelled > 0, "no cancellation exercised: {stats:?}");
    eprintln!(
        "gets direct {}, waited {}, rejected {}, timed out {}, cancelled {}, created {}, \
         create failures {}, checks {}, check failures {}, closed broken {}",
        stats.gets_direct,
        stats.gets_waited,
        stats.rejected,
        stats.timed_out,
        stats.cancelled,
        stats.created,
        stats.create_failures,
        stats.checks,
        stats.check_failures,
        stats.closed_broken
    );
    // Later callers are served: all MAX_SIZE connections at once.
    let mut held = Vec::new();
    for _ in 0..MAX_SIZE {
        held.push(
            pool.get_timeout(Duration::from_secs(5))
                .await
                .expect("served"),
        );
    }
    assert_eq!(pool.in_use(), MAX_SIZE);
    drop(held);
    assert_eq!(pool.in_use(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_gets_never_leak_slots() {
    let live = Arc::new(AtomicUsize::new(0));
    // A queue shorter than the callers: some are rejected at once (backpressure).
    let pool = pool(&live, 1, Some(Duration::from_millis(1)), 12);
    hammer(&pool, 1).await;
    assert_clean_and_serving(&pool, &live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_gets_never_leak_slots_checking_every_reuse() {
    let live = Arc::new(AtomicUsize::new(0));
    let pool = pool(&live, 2, Some(Duration::ZERO), TASKS);
    hammer(&pool, 2).await;
    assert_clean_and_serving(&pool, &live).await;
    assert!(pool.stats().checks > 0);
}
