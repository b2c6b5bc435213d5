//! Sanity of the cache benchmark harness (`BENCHMARKS.md`, section "Cache"): the trace
//! generator reproduces the reference numbers of issue 3, Bélády's optimum bounds every
//! cache, and perfopt's cache sits between LRU and the optimum.
//!
//! The full table comes from `cargo run --release -p perfopt-tests --example cache_hit_ratio`.

use std::num::NonZeroUsize;

use perfopt_core::Instant;
use perfopt_core::cache::{Cache, CacheConfig, UnitWeigher};
use perfopt_tests::belady;
use perfopt_tests::traces::{self, KEYS, REAL_PERCENTS, REQUESTS, SEED, percent};

fn lru_hits(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = lru::LruCache::new(NonZeroUsize::new(capacity).expect("capacity > 0"));
    let mut hits = 0;
    for &k in trace {
        if cache.get(&k).is_some() {
            hits += 1;
        } else {
            cache.put(k, k);
        }
    }
    hits
}

fn ours_hits(trace: &[u64], capacity: usize) -> u64 {
    let config = CacheConfig::new(capacity as u64);
    let hasher = foldhash::fast::FixedState::with_seed(SEED);
    let mut cache = Cache::with_weigher_and_hasher(config, UnitWeigher, hasher).expect("valid");
    let mut hits = 0;
    for &k in trace {
        if cache.get(Instant::ZERO, &k).is_some() {
            hits += 1;
        } else {
            cache.insert(Instant::ZERO, k, k);
        }
    }
    hits
}

/// Issue 3 measured, on Zipf 0.99 over 100k keys at capacity 1,000: LRU 48.96 %,
/// Bélády 65.2 %. Our generator (exact inverse CDF over ranks) gives the same within
/// sampling noise.
#[test]
fn generator_reproduces_the_reference_numbers() {
    let trace = traces::zipf(0.99, KEYS, REQUESTS, SEED);
    let lru = percent(lru_hits(&trace, 1_000), trace.len());
    let min = percent(belady::hits(&trace, 1_000), trace.len());
    assert!((lru - 48.96).abs() < 0.5, "LRU {lru:.2} %");
    assert!((min - 65.2).abs() < 0.5, "Bélády {min:.2} %");
}

#[test]
fn every_cache_sits_below_belady_and_ours_above_lru() {
    let n = 100_000;
    for capacity in [1_000, 10_000] {
        for trace in traces::suite_prefix(capacity, n) {
            let keys = &trace.keys;
            let (lru, ours, min) = (
                lru_hits(keys, capacity),
                ours_hits(keys, capacity),
                belady::hits(keys, capacity),
            );
            let name = trace.name;
            assert!(lru <= min, "{name} at {capacity}: LRU {lru} > MIN {min}");
            assert!(ours <= min, "{name} at {capacity}: ours {ours} > MIN {min}");
            assert!(ours >= lru, "{name} at {capacity}: ours {ours} < LRU {lru}");
            if name.starts_with("loop") {
                assert_eq!(lru, 0, "LRU never hits a loop larger than itself");
                assert!(percent(ours, n) > 50.0, "{name} at {capacity}: ours {ours}");
            }
        }
    }
}

/// A real trace (LIRS's `cpp`, copied from `../shared/traces` into `tests/data` so this
/// runs anywhere) at 5, 10 and 25 % of its distinct keys: Bélády bounds every cache, and
/// perfopt stays within 3.5 points of the best of LRU and quick_cache (today 2.8 below at
/// 10 %; issue 10 aims at 2.0 on every row of the whole suite, measured by the
/// `cache_hit_ratio` example, not here).
#[test]
fn belady_bounds_every_cache_on_a_real_trace() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cpp.txt.gz");
    let keys = traces::read_gz_keys(&path).expect("tests/data/cpp.txt.gz is readable");
    assert_eq!((keys.len(), traces::distinct(&keys)), (9_047, 1_223));
    for p in REAL_PERCENTS {
        let capacity = traces::size_for(traces::distinct(&keys), p);
        let mut quick = quick_cache::unsync::Cache::new(capacity);
        let mut quick_hits = 0;
        for &k in &keys {
            if quick.get(&k).is_some() {
                quick_hits += 1;
            } else {
                quick.insert(k, k);
            }
        }
        let (lru, ours, min) = (
            lru_hits(&keys, capacity),
            ours_hits(&keys, capacity),
            belady::hits(&keys, capacity),
        );
        for (name, hits) in [("LRU", lru), ("quick_cache", quick_hits), ("perfopt", ours)] {
            assert!(hits <= min, "cpp at {capacity}: {name} {hits} > MIN {min}");
        }
        let best = percent(lru.max(quick_hits), keys.len());
        let ours = percent(ours, keys.len());
        assert!(
            ours >= best - 3.5,
            "cpp at {capacity}: ours {ours:.2} % vs best peer {best:.2} %"
        );
    }
}
