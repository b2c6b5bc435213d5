#![allow(missing_docs)]
use criterion::{Criterion, criterion_group, criterion_main};
use perfopt_core::Instant;
use perfopt_core::limiter::{Acquire, Algorithm, Limiter, LimiterConfig, Outcome};
use std::sync::Mutex;

fn internals(c: &mut Criterion) {
    c.bench_function("clock_now", |b| b.iter(|| perfopt::clock::now()));
    c.bench_function("std_instant_now", |b| b.iter(|| std::time::Instant::now()));
    let m = Mutex::new(0u64);
    c.bench_function("mutex_lock_unlock", |b| b.iter(|| *m.lock().unwrap() += 1));
    let mut l = Limiter::new(LimiterConfig::with_algorithm(Algorithm::Fixed(64))).unwrap();
    let mut t = 0u64;
    c.bench_function("core_acquire_release", |b| {
        b.iter(|| {
            t += 100;
            let now = Instant::from_nanos(t);
            let Acquire::Admitted(p) = l.acquire(now, Instant::MAX) else {
                panic!()
            };
            l.release(Instant::from_nanos(t + 50), p, Outcome::Success)
                .unwrap();
        })
    });
    let mut pool =
        perfopt_core::pool::Pool::new(perfopt_core::pool::PoolConfig::default(), Instant::ZERO)
            .unwrap();
    let _ = pool.get(Instant::ZERO, Instant::MAX);
    while let Some(a) = pool.poll_action() {
        match a {
            perfopt_core::pool::PoolAction::Create(s) => {
                pool.handle_created(Instant::ZERO, s).unwrap()
            }
            perfopt_core::pool::PoolAction::Grant { slot, .. } => pool
                .release(Instant::ZERO, slot, perfopt_core::pool::Health::Healthy)
                .unwrap(),
            _ => {}
        }
    }
    let mut t = 0u64;
    c.bench_function("core_pool_get_release", |b| {
        b.iter(|| {
            t += 100;
            let perfopt_core::pool::Get::Ready(s) = pool.get(Instant::from_nanos(t), Instant::MAX)
            else {
                panic!()
            };
            pool.release(
                Instant::from_nanos(t + 50),
                s,
                perfopt_core::pool::Health::Healthy,
            )
            .unwrap();
            while pool.poll_action().is_some() {}
        })
    });
}
criterion_group!(benches, internals);
criterion_main!(benches);
