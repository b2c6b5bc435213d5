//! Prints the hit-ratio table of `BENCHMARKS.md` (section "Cache"): every trace of
//! `perfopt_tests::traces` at every capacity, for each peer, perfopt's cache and Bélády's
//! optimum.
//!
//! ```text
//! cargo run --release -p perfopt-tests --example cache_hit_ratio
//! ```
//!
//! Each request is a get-or-insert: a `get`, and on a miss an `insert` of the key. Hit
//! ratios are deterministic (fixed seed) except moka's, whose frequency sketch is seeded at
//! random per cache: it moves by a few hundredths of a percent between runs.

use std::num::NonZeroUsize;
use std::time::Instant;

use perfopt_core::cache::{Cache, CacheConfig, UnitWeigher};
use perfopt_tests::belady;
use perfopt_tests::cache_replay::{replay, replay_indexed};
use perfopt_tests::traces::{self, CAPACITIES, percent};

fn main() {
    let only: Option<String> = std::env::args().nth(1);
    println!(
        "| trace | capacity | LRU | quick_cache unsync | quick_cache sync | moka sync | perfopt core | perfopt native | Bélády |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for capacity in CAPACITIES {
        for trace in traces::suite(capacity) {
            if only.as_deref().is_some_and(|o| o != trace.name) {
                continue;
            }
            let t0 = Instant::now();
            let keys = &trace.keys;
            let cells = [
                Some(lru_hits(keys, capacity)),
                Some(quick_unsync_hits(keys, capacity)),
                Some(quick_sync_hits(keys, capacity)),
                Some(moka_hits(keys, capacity)),
                ours_hits(keys, capacity),
                Some(native_hits(keys, capacity)),
                Some(belady::hits(keys, capacity)),
            ];
            let best_peer = cells[..4].iter().flatten().max().copied().unwrap_or(0);
            let mut row = format!("| {} | {capacity} |", trace.name);
            for (i, cell) in cells.iter().enumerate() {
                match cell {
                    Some(h) if i < 4 && *h == best_peer => {
                        row += &format!(" **{:.2} %** |", percent(*h, keys.len()));
                    }
                    Some(h) => row += &format!(" {:.2} % |", percent(*h, keys.len())),
                    None => row += " — |",
                }
            }
            println!("{row}");
            eprintln!("  ({} at {capacity}: {:.1?})", trace.name, t0.elapsed());
        }
    }
    let split = CacheConfig::new(CAPACITIES[0] as u64);
    println!(
        "\nperfopt: `CacheConfig::new(capacity)`, L1 = {} % of the entries, L2 the rest.",
        split.l1_capacity * 100 / split.capacity
    );
}

fn lru_hits(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = lru::LruCache::new(NonZeroUsize::new(capacity).expect("capacity > 0"));
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.put(k, k);
            false
        }
    })
}

fn quick_unsync_hits(trace: &[u64], capacity: usize) -> u64 {
    let mut cache = quick_cache::unsync::Cache::new(capacity);
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    })
}

fn quick_sync_hits(trace: &[u64], capacity: usize) -> u64 {
    let cache = quick_cache::sync::Cache::new(capacity);
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    })
}

/// moka applies reads and writes to its policy in batches; running the pending tasks after
/// every insert settles each eviction before the next request, so the ratio measures its
/// policy (TinyLFU admission + LRU), not the batching.
fn moka_hits(trace: &[u64], capacity: usize) -> u64 {
    let cache = moka::sync::Cache::new(capacity as u64);
    let settle_every: usize = std::env::var("MOKA_SETTLE_EVERY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    replay_indexed(trace, |i, k| {
        let hit = cache.get(&k).is_some();
        if !hit {
            cache.insert(k, k);
        }
        if i % settle_every == 0 {
            cache.run_pending_tasks();
        }
        hit
    })
}

/// perfopt's cache: `perfopt_core::cache::Cache` with `capacity` entries in all and the
/// recommended split of `CacheConfig::new` (printed below the table), no TTL.
/// The hasher is foldhash with a fixed seed (the default is seeded per cache) so that the
/// frequency sketch's collisions, and with them the ratio, are the same on every run.
fn ours_hits(trace: &[u64], capacity: usize) -> Option<u64> {
    let config = CacheConfig::new(capacity as u64);
    let hasher = foldhash::fast::FixedState::with_seed(traces::SEED);
    let mut cache = Cache::with_weigher_and_hasher(config, UnitWeigher, hasher)
        .expect("a capacity above zero is valid");
    let now = perfopt_core::Instant::ZERO;
    Some(replay(trace, |k| {
        cache.get(now, &k).is_some() || {
            cache.insert(now, k, k);
            false
        }
    }))
}

/// perfopt's thread-safe cache (`perfopt::cache::Cache`, sharded as it chooses by default;
/// capacity and L1 split as [`ours_hits`]), used from one thread. Its hashers are seeded
/// per cache, so this column, like quick_cache sync's and moka's, moves slightly between
/// runs.
fn native_hits(trace: &[u64], capacity: usize) -> u64 {
    let cache = perfopt::cache::Cache::new(CacheConfig::new(capacity as u64))
        .expect("a capacity above zero is valid");
    replay(trace, |k| {
        cache.get(&k).is_some() || {
            cache.insert(k, k);
            false
        }
    })
}
