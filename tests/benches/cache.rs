//! Timed cache benchmarks of `BENCHMARKS.md` (section "Cache"): perfopt's caches beside
//! the peers, in one run.
//!
//! ```text
//! cargo bench -p perfopt-tests --bench cache -- --warm-up-time 1 --measurement-time 3 --sample-size 10
//! ```
//!
//! Every iteration builds a fresh cache and replays the first [`REQUESTS`] requests of the
//! suite's `zipf-0.99` trace (100k keys, fixed seed) as get-or-insert: a `get`, and on a
//! miss an `insert`. Throughput is in requests per second.
//!
//! - `get_or_insert_1thread/<capacity>`: one thread; `lru`, quick_cache unsync, moka sync
//!   and perfopt's `&mut self` core cache, with a 60 s default TTL (virtual time advances
//!   1 µs per request, so the TTL bookkeeping runs but nothing expires) and without.
//! - `get_or_insert_2threads/<capacity>`: two threads sharing one cache, each replaying
//!   half of the requests; quick_cache sync, moka sync and perfopt's sharded native cache.
//!
//! Hit ratios are not measured here (they do not depend on time): see the
//! `cache_hit_ratio` example.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use perfopt_core::Instant;
use perfopt_core::cache::{Cache, CacheConfig};
use perfopt_tests::cache_replay::{on_two_threads, replay, replay_indexed};
use perfopt_tests::traces::{self, CAPACITIES, KEYS};

/// Requests replayed per iteration.
const REQUESTS: usize = 200_000;
/// Default TTL of the "with TTL" variants.
const TTL: Duration = Duration::from_secs(60);

fn trace() -> Vec<u64> {
    // The same generator and seed as the suite's `zipf-0.99`, so this is its prefix.
    traces::zipf(0.99, KEYS, REQUESTS, traces::SEED)
}

fn single_thread(c: &mut Criterion) {
    let trace = trace();
    for capacity in CAPACITIES {
        let mut g = c.benchmark_group("get_or_insert_1thread");
        g.throughput(Throughput::Elements(REQUESTS as u64));
        let id = |name: &str| BenchmarkId::new(name, capacity);
        g.bench_function(id("lru"), |b| b.iter(|| lru_run(&trace, capacity)));
        g.bench_function(id("quick_cache_unsync"), |b| {
            b.iter(|| quick_unsync_run(&trace, capacity))
        });
        g.bench_function(id("moka_sync"), |b| b.iter(|| moka_run(&trace, capacity)));
        g.bench_function(id("perfopt_core_ttl"), |b| {
            b.iter(|| {
                ours_run(
                    &trace,
                    CacheConfig::new(capacity as u64).with_default_ttl(TTL),
                )
            })
        });
        g.bench_function(id("perfopt_core_no_ttl"), |b| {
            b.iter(|| ours_run(&trace, CacheConfig::new(capacity as u64)))
        });
        g.finish();
    }
}

fn two_threads(c: &mut Criterion) {
    let trace = trace();
    let (first, second) = trace.split_at(REQUESTS / 2);
    for capacity in CAPACITIES {
        let mut g = c.benchmark_group("get_or_insert_2threads");
        g.throughput(Throughput::Elements(REQUESTS as u64));
        let id = |name: &str| BenchmarkId::new(name, capacity);
        g.bench_function(id("quick_cache_sync"), |b| {
            b.iter(|| {
                let cache = quick_cache::sync::Cache::new(capacity);
                on_two_threads(first, second, |keys| {
                    replay(keys, |k| {
                        cache.get(&k).is_some() || {
                            cache.insert(k, k);
                            false
                        }
                    })
                })
            })
        });
        g.bench_function(id("moka_sync"), |b| {
            b.iter(|| {
                let cache = moka::sync::Cache::new(capacity as u64);
                on_two_threads(first, second, |keys| {
                    replay(keys, |k| {
                        cache.get(&k).is_some() || {
                            cache.insert(k, k);
                            false
                        }
                    })
                })
            })
        });
        g.bench_function(id("perfopt_native"), |b| {
            b.iter(|| native_run(first, second, CacheConfig::new(capacity as u64)))
        });
        g.bench_function(id("perfopt_native_ttl"), |b| {
            b.iter(|| {
                native_run(
                    first,
                    second,
                    CacheConfig::new(capacity as u64).with_default_ttl(TTL),
                )
            })
        });
        g.finish();
    }
}

fn native_run(first: &[u64], second: &[u64], config: CacheConfig) -> u64 {
    let cache = perfopt::cache::Cache::new(config).expect("a capacity above zero is valid");
    on_two_threads(first, second, |keys| {
        replay(keys, |k| {
            cache.get(&k).is_some() || {
                cache.insert(k, k);
                false
            }
        })
    })
}

fn lru_run(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = lru::LruCache::new(NonZeroUsize::new(capacity).expect("capacity > 0"));
    black_box(replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.put(k, k);
            false
        }
    }))
}

fn quick_unsync_run(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = quick_cache::unsync::Cache::new(capacity);
    black_box(replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    }))
}

fn moka_run(trace: &[u64], capacity: usize) -> u64 {
    let cache = moka::sync::Cache::new(capacity as u64);
    black_box(replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    }))
}

fn ours_run(trace: &[u64], config: CacheConfig) -> u64 {
    let mut cache = Cache::new(config).expect("a capacity above zero is valid");
    black_box(replay_indexed(trace, |i, k| {
        let now = Instant::from_nanos(i as u64 * 1_000);
        cache.get(now, &k).is_some() || {
            cache.insert(now, k, k);
            false
        }
    }))
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = single_thread, two_threads
}
criterion_main!(benches);
