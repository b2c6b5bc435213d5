//! Throughput of the caches of `tests/benches/cache.rs`, measured *interleaved*: each round
//! replays the same requests once per cache, in a rotating order, and each cache's best
//! round is kept. On a shared machine whose load changes from minute to minute this gives
//! steadier ratios than criterion's one-cache-after-another runs (the criterion bench is
//! the reference for absolute timings; this is the cross-check of the ratios).
//!
//! Three groups: one thread on Zipf 0.99 (capacities 1,000 and 10,000), one thread on two
//! real traces of `../shared/traces/` (gcc and web12, each at 10 % of its distinct keys:
//! perfopt core with and without TTL against quick_cache::unsync), and two threads on
//! Zipf 0.99. An optional second argument keeps only the groups whose name contains it
//! (`zipf_1thread`, `traces_1thread`, `2threads`), e.g. to count instructions of one group
//! under callgrind.
//!
//! ```text
//! cargo run --release -p perfopt-tests --example cache_throughput [ROUNDS [GROUP]]
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

/// Real traces replayed by the `traces_1thread` group, each at [`TRACE_PERCENT`] % of its
/// distinct keys: mid-sized ones (gcc: 515,683 requests, recency-heavy; web12: 95,607), so
/// a round stays well under a second per cache.
const REAL: [&str; 2] = ["gcc", "web12"];
/// Cache size of the real-trace rows, in per cent of the trace's distinct keys.
const TRACE_PERCENT: usize = 10;

/// A trace to replay and the capacity to replay it at.
struct Workload {
    name: &'static str,
    keys: Vec<u64>,
    capacity: usize,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
    let only = args.next().unwrap_or_default();
    let zipf = traces::zipf(0.99, KEYS, REQUESTS, traces::SEED);
    let on_zipf = || {
        CAPACITIES
            .iter()
            .map(|&capacity| Workload {
                name: "zipf-0.99",
                keys: zipf.clone(),
                capacity,
            })
            .collect::<Vec<_>>()
    };
    let one: [(&str, Run); 5] = [
        ("quick_cache_unsync", quick_unsync),
        ("lru", lru_run),
        ("moka_sync", moka_run),
        ("perfopt_core_ttl", ours_ttl),
        ("perfopt_core_no_ttl", ours_no_ttl),
    ];
    let on_traces: [(&str, Run); 3] = [
        ("quick_cache_unsync", quick_unsync),
        ("perfopt_core_ttl", ours_ttl),
        ("perfopt_core_no_ttl", ours_no_ttl),
    ];
    let two: [(&str, Run); 4] = [
        ("quick_cache_sync", quick_sync2),
        ("moka_sync", moka2),
        ("perfopt_native", native2),
        ("perfopt_native_ttl", native2_ttl),
    ];
    let groups: [(&str, &[(&str, Run)]); 3] = [
        ("get_or_insert_zipf_1thread", &one),
        ("get_or_insert_traces_1thread", &on_traces),
        ("get_or_insert_zipf_2threads", &two),
    ];
    for (group, caches) in groups {
        if !group.contains(only.as_str()) {
            continue;
        }
        let workloads = if group.contains("traces") {
            real_workloads()
        } else {
            on_zipf()
        };
        println!("\n{group}, best of {rounds} interleaved rounds\n");
        println!(
            "| trace | capacity | cache | M requests/s (best) | × {} |",
            caches[0].0
        );
        println!("|---|---:|---|---:|---:|");
        for w in &workloads {
            let mut best = vec![Duration::MAX; caches.len()];
            for round in 0..rounds {
                for i in 0..caches.len() {
                    let j = (i + round) % caches.len();
                    let t0 = Clock::now();
                    black_box((caches[j].1)(&w.keys, w.capacity));
                    best[j] = best[j].min(t0.elapsed());
                }
            }
            let mreq = |d: Duration| w.keys.len() as f64 / d.as_secs_f64() / 1e6;
            let base = mreq(best[0]);
            let mut rows: Vec<(&str, f64)> = caches
                .iter()
                .zip(&best)
                .map(|((name, _), &d)| (*name, mreq(d)))
                .collect();
            rows.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (name, m) in rows {
                println!(
                    "| {} | {} | {name} | {m:.2} | {:.2} |",
                    w.name,
                    w.capacity,
                    m / base
                );
            }
        }
    }
}

/// The [`REAL`] traces at [`TRACE_PERCENT`] % of their distinct keys.
///
/// # Panics
/// If a trace cannot be read (the message says where it was looked for).
fn real_workloads() -> Vec<Workload> {
    REAL.iter()
        .map(|&name| {
            let trace = traces::read_real_trace(name).unwrap_or_else(|e| panic!("{e}"));
            let capacity = traces::size_for(traces::distinct(&trace.keys), TRACE_PERCENT);
            Workload {
                name: trace.name,
                keys: trace.keys,
                capacity,
            }
        })
        .collect()
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
