//! Overhead of the limiter and the pool against what users combine today (issue 4, part 6):
//! limiter acquire+release vs `tokio::sync::Semaphore`; pool get+return vs deadpool (managed,
//! trivial manager) and bb8; one task, and two tasks on a two-worker runtime (contended).
//!
//! ```text
//! cargo bench -p perfopt --bench limiter_pool -- --warm-up-time 1 --measurement-time 3 --sample-size 20
//! ```
//!
//! Every contender keeps its library's default per-checkout behaviour: deadpool recycles
//! (an async `recycle` call) on every get, bb8 tests on checkout (an async `is_valid` call),
//! perfopt checks only connections idle longer than `check_after_idle` (500 ms). The
//! managers do no I/O, so the numbers are the pools' own bookkeeping.

#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use perfopt::limiter::{AimdConfig, Algorithm, GradientConfig, Limiter, LimiterConfig};
use perfopt::pool::{Manager, Pool, PoolConfig};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// One operation under test: acquire and release, or get and return.
trait Op: Send + Sync + 'static {
    fn once(&self) -> impl Future<Output = ()> + Send;
}

struct Sem(Semaphore);

impl Op for Sem {
    async fn once(&self) {
        drop(self.0.acquire().await.expect("open"));
    }
}

/// The semaphore plus what measuring each permit's latency costs: two clock reads.
struct SemTimed(Semaphore);

impl Op for SemTimed {
    async fn once(&self) {
        let permit = self.0.acquire().await.expect("open");
        let start = perfopt::clock::now();
        drop(permit);
        std::hint::black_box(perfopt::clock::now().saturating_duration_since(start));
    }
}

struct Lim(Limiter);

impl Op for Lim {
    async fn once(&self) {
        drop(self.0.acquire().await.expect("admitted"));
    }
}

struct LimRun(Limiter);

impl Op for LimRun {
    async fn once(&self) {
        self.0.run(async {}).await.expect("admitted");
    }
}

/// perfopt's pool with a manager that does no I/O.
struct Trivial;

impl Manager for Trivial {
    type Connection = u64;
    type Error = Infallible;

    fn target(&self) -> String {
        "trivial".into()
    }

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn check(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }
}

struct Ours(Pool<Trivial>);

impl Op for Ours {
    async fn once(&self) {
        let mut conn = self.0.get().await.expect("a connection");
        *conn += 1;
    }
}

struct DpManager;

impl deadpool::managed::Manager for DpManager {
    type Type = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn recycle(
        &self,
        _: &mut u64,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

struct Dp(deadpool::managed::Pool<DpManager>);

impl Op for Dp {
    async fn once(&self) {
        let mut conn = self.0.get().await.expect("a connection");
        *conn += 1;
    }
}

struct Bb8Manager;

impl bb8::ManageConnection for Bb8Manager {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

struct Bb8(bb8::Pool<Bb8Manager>);

impl Op for Bb8 {
    async fn once(&self) {
        let mut conn = self.0.get().await.expect("a connection");
        *conn += 1;
    }
}

fn single_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn two_workers() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `tasks` tasks on two workers each run `iters / tasks` operations; the time for all.
fn contended<O: Op>(rt: &Runtime, op: &Arc<O>, iters: u64, tasks: u64) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..tasks)
            .map(|_| {
                let op = Arc::clone(op);
                tokio::spawn(async move {
                    for _ in 0..iters.div_ceil(tasks) {
                        op.once().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        start.elapsed()
    })
}

const PERMITS: u32 = 64;
const POOL_SIZE: usize = 8;

fn limiter(c: &mut Criterion) {
    let one = single_thread();
    let two = two_workers();
    let fixed = || Limiter::new(LimiterConfig::new(Algorithm::Fixed(PERMITS))).expect("valid");
    let sem = Arc::new(Sem(Semaphore::new(PERMITS as usize)));
    let timed = Arc::new(SemTimed(Semaphore::new(PERMITS as usize)));
    let lim = Arc::new(Lim(fixed()));
    let run = Arc::new(LimRun(fixed()));
    let mut gradient = GradientConfig::default();
    gradient.initial_limit = PERMITS;
    let gradient = Arc::new(Lim(Limiter::new(LimiterConfig::new(Algorithm::Gradient(
        gradient,
    )))
    .expect("valid")));

    let mut aimd = AimdConfig::default();
    aimd.initial_limit = PERMITS;
    aimd.max_limit = PERMITS * 2;
    let aimd = Arc::new(Lim(
        Limiter::new(LimiterConfig::new(Algorithm::Aimd(aimd))).expect("valid")
    ));

    let mut group = c.benchmark_group("limiter_acquire_release");
    group.bench_function("1task/tokio_semaphore", |b| {
        b.to_async(&one).iter(|| sem.once());
    });
    group.bench_function("1task/tokio_semaphore_timed", |b| {
        b.to_async(&one).iter(|| timed.once());
    });
    group.bench_function("1task/perfopt_limiter", |b| {
        b.to_async(&one).iter(|| lim.once());
    });
    group.bench_function("1task/perfopt_limiter_gradient", |b| {
        b.to_async(&one).iter(|| gradient.once());
    });
    group.bench_function("1task/perfopt_limiter_aimd", |b| {
        b.to_async(&one).iter(|| aimd.once());
    });
    group.bench_function("1task/perfopt_limiter_run", |b| {
        b.to_async(&one).iter(|| run.once());
    });
    group.bench_function("2threads/tokio_semaphore", |b| {
        b.iter_custom(|iters| contended(&two, &sem, iters, 2));
    });
    group.bench_function("2threads/perfopt_limiter", |b| {
        b.iter_custom(|iters| contended(&two, &lim, iters, 2));
    });
    group.bench_function("2threads_64tasks/tokio_semaphore", |b| {
        b.iter_custom(|iters| contended(&two, &sem, iters, 64));
    });
    group.bench_function("2threads_64tasks/perfopt_limiter", |b| {
        b.iter_custom(|iters| contended(&two, &lim, iters, 64));
    });
    group.finish();
}

fn pool(c: &mut Criterion) {
    let one = single_thread();
    let two = two_workers();
    let ours = |rt: &Runtime| {
        let pool =
            rt.block_on(async { Pool::new(Trivial, PoolConfig::new(POOL_SIZE)).expect("valid") });
        Arc::new(Ours(pool))
    };
    let deadpool = || {
        Arc::new(Dp(deadpool::managed::Pool::builder(DpManager)
            .max_size(POOL_SIZE)
            .build()
            .expect("valid")))
    };
    let bb8 = |rt: &Runtime| {
        let pool = rt.block_on(
            bb8::Pool::builder()
                .max_size(POOL_SIZE as u32)
                .build(Bb8Manager),
        );
        Arc::new(Bb8(pool.expect("valid")))
    };

    let mut group = c.benchmark_group("pool_get_return");
    let (o, d, b8) = (ours(&one), deadpool(), bb8(&one));
    group.bench_function("1task/perfopt", |b| b.to_async(&one).iter(|| o.once()));
    group.bench_function("1task/deadpool", |b| b.to_async(&one).iter(|| d.once()));
    group.bench_function("1task/bb8", |b| b.to_async(&one).iter(|| b8.once()));
    let (o, d, b8) = (ours(&two), deadpool(), bb8(&two));
    group.bench_function("2threads/perfopt", |b| {
        b.iter_custom(|iters| contended(&two, &o, iters, 2));
    });
    group.bench_function("2threads/deadpool", |b| {
        b.iter_custom(|iters| contended(&two, &d, iters, 2));
    });
    group.bench_function("2threads/bb8", |b| {
        b.iter_custom(|iters| contended(&two, &b8, iters, 2));
    });
    group.finish();
}

/// Where the time goes: the clock read, an uncontended lock, and the core machines alone
/// (no driver, no clock: time is an argument).
fn breakdown(c: &mut Criterion) {
    use perfopt_core::Instant as CoreInstant;
    use perfopt_core::limiter::{self as core_limiter, Acquire, Outcome};
    use perfopt_core::pool::{self as core_pool, Get, Health, PoolAction};

    let mut group = c.benchmark_group("breakdown");
    group.bench_function("clock_now", |b| b.iter(perfopt::clock::now));
    group.bench_function("std_instant_now", |b| b.iter(Instant::now));
    let mutex = std::sync::Mutex::new(0u64);
    group.bench_function("mutex_lock_unlock", |b| {
        b.iter(|| *mutex.lock().expect("lock") += 1);
    });
    let config = core_limiter::LimiterConfig::new(Algorithm::Fixed(PERMITS));
    let mut limiter = core_limiter::Limiter::new(config).expect("valid");
    let mut t = 0u64;
    group.bench_function("core_limiter_acquire_release", |b| {
        b.iter(|| {
            t += 100;
            let Acquire::Admitted(permit) =
                limiter.acquire(CoreInstant::from_nanos(t), CoreInstant::MAX)
            else {
                unreachable!("a permit is free")
            };
            let done = CoreInstant::from_nanos(t + 50);
            limiter
                .release(done, permit, Outcome::Success)
                .expect("held");
        });
    });
    let mut pool =
        core_pool::Pool::new(core_pool::PoolConfig::default(), CoreInstant::ZERO).expect("valid");
    let _ = pool.get(CoreInstant::ZERO, CoreInstant::MAX);
    while let Some(action) = pool.poll_action() {
        match action {
            PoolAction::Create(slot) => pool.handle_created(CoreInstant::ZERO, slot).expect("ok"),
            PoolAction::Grant { slot, .. } => {
                pool.release(CoreInstant::ZERO, slot, Health::Healthy)
                    .expect("ok");
            }
            _ => {}
        }
    }
    let mut t = 0u64;
    group.bench_function("core_pool_get_release", |b| {
        b.iter(|| {
            t += 100;
            let Get::Ready(slot) = pool.get(CoreInstant::from_nanos(t), CoreInstant::MAX) else {
                unreachable!("a connection is idle")
            };
            let done = CoreInstant::from_nanos(t + 50);
            pool.release(done, slot, Health::Healthy).expect("in use");
            while pool.poll_action().is_some() {}
        });
    });
    group.finish();
}

criterion_group!(benches, limiter, pool, breakdown);

/// Interleaved rounds (`LIMITER_POOL_ROUNDS=7 cargo bench -p perfopt --bench limiter_pool`):
/// every contender runs `OPS` operations per round, contenders alternate within each round,
/// and each keeps its best round — drift in the machine's load hits all of them alike.
fn rounds(n: usize) {
    const OPS: u64 = 200_000;
    let one = single_thread();
    let two = two_workers();
    let fixed = || Limiter::new(LimiterConfig::new(Algorithm::Fixed(PERMITS))).expect("valid");
    let mut gradient = GradientConfig::default();
    gradient.initial_limit = PERMITS;
    let mut aimd = AimdConfig::default();
    aimd.initial_limit = PERMITS;
    aimd.max_limit = PERMITS * 2;
    let adaptive = |a| Arc::new(Lim(Limiter::new(LimiterConfig::new(a)).expect("valid")));
    let sem = Arc::new(Sem(Semaphore::new(PERMITS as usize)));
    let lim = Arc::new(Lim(fixed()));
    let grad = adaptive(Algorithm::Gradient(gradient));
    let aimd = adaptive(Algorithm::Aimd(aimd));
    let pool_on = |rt: &Runtime| {
        Arc::new(Ours(rt.block_on(async {
            Pool::new(Trivial, PoolConfig::new(POOL_SIZE)).expect("valid")
        })))
    };
    let dp = || {
        Arc::new(Dp(deadpool::managed::Pool::builder(DpManager)
            .max_size(POOL_SIZE)
            .build()
            .expect("valid")))
    };
    let (ours1, dp1, ours2, dp2) = (pool_on(&one), dp(), pool_on(&two), dp());
    let single = |op: &dyn Fn() -> Duration| op().as_nanos() as f64 / OPS as f64;
    macro_rules! one_task {
        ($op:expr) => {
            &|| {
                one.block_on(async {
                    let start = Instant::now();
                    for _ in 0..OPS {
                        $op.once().await;
                    }
                    start.elapsed()
                })
            }
        };
    }
    let names = [
        "1task/semaphore",
        "1task/limiter_fixed",
        "1task/limiter_aimd",
        "1task/limiter_gradient",
        "2threads_64tasks/semaphore",
        "2threads_64tasks/limiter_fixed",
        "1task/pool_perfopt",
        "1task/pool_deadpool",
        "2threads/pool_perfopt",
        "2threads/pool_deadpool",
    ];
    let mut rows: Vec<[f64; 10]> = Vec::with_capacity(n);
    for _ in 0..n {
        rows.push([
            single(one_task!(sem)),
            single(one_task!(lim)),
            single(one_task!(aimd)),
            single(one_task!(grad)),
            single(&|| contended(&two, &sem, OPS, 64)),
            single(&|| contended(&two, &lim, OPS, 64)),
            single(one_task!(ours1)),
            single(one_task!(dp1)),
            single(&|| contended(&two, &ours2, OPS, 2)),
            single(&|| contended(&two, &dp2, OPS, 2)),
        ]);
    }
    // Contended rounds are bimodal (both workers busy, or one worker running every task),
    // so the ratio of two bests can pair a lucky round with an unlucky one: the paired
    // ratios (each round against its peer in the same round) say more.
    println!(
        "{n} interleaved rounds of {OPS} operations: best ns/op, ratio of bests, and the \
         median (min-max) of per-round ratios to its peer"
    );
    let peer = [0, 0, 0, 0, 4, 4, 7, 7, 9, 9];
    for i in 0..names.len() {
        let best = |j: usize| rows.iter().map(|r| r[j]).fold(f64::INFINITY, f64::min);
        let mut paired: Vec<f64> = rows.iter().map(|r| r[i] / r[peer[i]]).collect();
        paired.sort_by(f64::total_cmp);
        println!(
            "  {:<32} {:>8.1} ns  {:>5.2}x  median {:>5.2}x ({:.2}-{:.2})",
            names[i],
            best(i),
            best(i) / best(peer[i]),
            paired[paired.len() / 2],
            paired[0],
            paired[paired.len() - 1]
        );
    }
}

fn main() {
    if let Some(n) = std::env::var("LIMITER_POOL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        rounds(n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
