//! Throughput of the caches of `tests/benches/cache.rs`, measured *interleaved*: each round
//! replays the same requests once per cache, in a rotating order, and each cache's best
//! round is kept. On a shared machine whose load changes from minute to minute this gives
//! steadier ratios than criterion's one-cache-after-another runs (the criterion bench is
//! the reference for absolute timings; this is the cross-check of the ratios).
//!
//! ```text
//! cargo run --release -p perfopt-tests --example cache_throughput [ROUNDS]
//! ```

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant as Clock};

use perfopt_core::Instant;
use perfopt_core::cache::{Cache, CacheConfig};
use perfopt_tests::cache_replay::{on_two_threads, replay, replay_indexed};
use perfopt_tests::traces::{self, CAPACITIES, KEYS};

/// Requests replayed per round (as `REQUESTS` in `benches/cache.rs`).
const REQUESTS: usize = 200_000;
/// Default TTL of the "with TTL" variants.
const TTL: Duration = Duration::from_secs(60);

type Run = fn(&[u64], usize) -> u64;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let trace = traces::zipf(0.99, KEYS, REQUESTS, traces::SEED);
    let one: [(&str, Run); 5] = [
        ("quick_cache_unsync", quick_unsync),
        ("lru", lru_run),
        ("moka_sync", moka_run),
        ("perfopt_core_ttl", ours_ttl),
        ("perfopt_core_no_ttl", ours_no_ttl),
    ];
    let two: [(&str, Run); 4] = [
        ("quick_cache_sync", quick_sync2),
        ("moka_sync", moka2),
        ("perfopt_native", native2),
        ("perfopt_native_ttl", native2_ttl),
    ];
    for (group, caches) in [
        ("get_or_insert_1thread", &one[..]),
        ("get_or_insert_2threads", &two[..]),
    ] {
        println!("\n{group}, best of {rounds} interleaved rounds\n");
        println!(
            "| capacity | cache | M requests/s (best) | × {} |",
            caches[0].0
        );
        println!("|---:|---|---:|---:|");
        for capacity in CAPACITIES {
            let mut best = vec![Duration::MAX; caches.len()];
            for round in 0..rounds {
                for i in 0..caches.len() {
                    let j = (i + round) % caches.len();
                    let t0 = Clock::now();
                    black_box((caches[j].1)(&trace, capacity));
                    best[j] = best[j].min(t0.elapsed());
                }
            }
            let mreq = |d: Duration| REQUESTS as f64 / d.as_secs_f64() / 1e6;
            let base = mreq(best[0]);
            let mut rows: Vec<(&str, f64)> = caches
                .iter()
                .zip(&best)
                .map(|((name, _), &d)| (*name, mreq(d)))
                .collect();
            rows.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (name, m) in rows {
                println!("| {capacity} | {name} | {m:.2} | {:.2} |", m / base);
            }
        }
    }
}

fn lru_run(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = lru::LruCache::new(NonZeroUsize::new(capacity).expect("capacity > 0"));
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.put(k, k);
            false
        }
    })
}

fn quick_unsync(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = quick_cache::unsync::Cache::new(capacity);
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    })
}

fn moka_run(trace: &[u64], capacity: usize) -> u64 {
    let cache = moka::sync::Cache::new(capacity as u64);
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    })
}

fn ours(trace: &[u64], config: CacheConfig) -> u64 {
    let mut cache = Cache::new(config).expect("a capacity above zero is valid");
    replay_indexed(trace, |i, k| {
        let now = Instant::from_nanos(i as u64 * 1_000);
        cache.get(now, &k).is_some() || {
            cache.insert(now, k, k);
            false
        }
    })
}

fn ours_ttl(trace: &[u64], capacity: usize) -> u64 {
    ours(
        trace,
        CacheConfig::new(capacity as u64).with_default_ttl(TTL),
    )
}

fn ours_no_ttl(trace: &[u64], capacity: usize) -> u64 {
    ours(trace, CacheConfig::new(capacity as u64))
}

/// Runs `work` on two scoped threads, one per half of the trace; total hits.
fn on_halves(trace: &[u64], work: impl Fn(&[u64]) -> u64 + Sync) -> u64 {
    let (first, second) = trace.split_at(trace.len() / 2);
    on_two_threads(first, second, work)
}

fn quick_sync2(trace: &[u64], capacity: usize) -> u64 {
    let cache = quick_cache::sync::Cache::new(capacity);
    on_halves(trace, |keys| {
        replay(keys, |k| {
            cache.get(&k).is_some() || {
                cache.insert(k, k);
                false
            }
        })
    })
}

fn moka2(trace: &[u64], capacity: usize) -> u64 {
    let cache = moka::sync::Cache::new(capacity as u64);
    on_halves(trace, |keys| {
        replay(keys, |k| {
            cache.get(&k).is_some() || {
                cache.insert(k, k);
                false
            }
        })
    })
}

fn native(trace: &[u64], config: CacheConfig) -> u64 {
    let cache = perfopt::cache::Cache::new(config).expect("a capacity above zero is valid");
    on_halves(trace, |keys| {
        replay(keys, |k| {
            cache.get(&k).is_some() || {
                cache.insert(k, k);
                false
            }
        })
    })
}

fn native2(trace: &[u64], capacity: usize) -> u64 {
    native(trace, CacheConfig::new(capacity as u64))
}

fn native2_ttl(trace: &[u64], capacity: usize) -> u64 {
    native(
        trace,
        CacheConfig::new(capacity as u64).with_default_ttl(TTL),
    )
}
