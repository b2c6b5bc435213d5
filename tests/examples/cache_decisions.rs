//! A fingerprint of every decision perfopt core's cache makes on the hit-ratio suite: for
//! each trace × size and each way of calling the cache (get + insert without TTL, the same
//! with a short TTL and a moving clock, `get_or_insert_with`, a weigher, events on), a
//! digest of the hit/miss sequence, of the evicted and expired keys in order, and the final
//! statistics. A pure-speed change must leave every line of its output unchanged:
//!
//! ```text
//! cargo run --release -p perfopt-tests --example cache_decisions > before.txt
//! # change the cache
//! cargo run --release -p perfopt-tests --example cache_decisions > after.txt
//! diff before.txt after.txt
//! ```

use std::time::Duration;

use perfopt_core::Instant;
use perfopt_core::cache::{Cache, CacheConfig, CacheEvent, Tier, Weigher};
use perfopt_tests::traces::{self, CAPACITIES, REAL_PERCENTS, REAL_TRACES};

/// FNV-1a over 64-bit words.
struct Digest(u64);

impl Digest {
    fn new() -> Digest {
        Digest(0xCBF2_9CE4_8422_2325)
    }

    fn add(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01B3);
        }
    }
}

/// Weighs keys 1 to 4 units.
#[derive(Clone, Copy)]
struct Varied;

impl Weigher<u64, u64> for Varied {
    fn weight(&self, key: &u64, _value: &u64) -> u64 {
        1 + key % 4
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    GetInsert,
    GetInsertTtl,
    GetOrInsert,
    GetOrInsertTtl,
    Weighted,
}

fn run(keys: &[u64], capacity: usize, mode: Mode) -> String {
    let mut config = CacheConfig::new(capacity as u64);
    config.record_events = true;
    if matches!(mode, Mode::GetInsertTtl | Mode::GetOrInsertTtl) {
        // Short enough that the replays see expirations.
        config = config.with_default_ttl(Duration::from_micros(capacity as u64 * 7));
    }
    let hasher = foldhash::fast::FixedState::with_seed(traces::SEED);
    let mut cache = Cache::with_weigher_and_hasher(config, Varied, hasher).expect("valid");
    let weighted = matches!(mode, Mode::Weighted);
    let mut seq = Digest::new();
    let mut events = Digest::new();
    let mut hits = 0u64;
    for (i, &k) in keys.iter().enumerate() {
        let now = Instant::from_nanos(i as u64 * 1_000);
        // Unit weights unless `Weighted`: keys are mapped to multiples of 4.
        let k = if weighted { k } else { k.wrapping_mul(4) };
        let hit = match mode {
            Mode::GetInsert | Mode::GetInsertTtl | Mode::Weighted => {
                cache.get(now, &k).is_some() || {
                    cache.insert(now, k, k);
                    false
                }
            }
            Mode::GetOrInsert | Mode::GetOrInsertTtl => {
                let mut missed = false;
                cache.get_or_insert_with(now, k, || {
                    missed = true;
                    k
                });
                !missed
            }
        };
        hits += u64::from(hit);
        seq.add(u64::from(hit));
        if i % 4096 == 0 {
            cache.handle_timeout(now);
        }
        while let Some(e) = cache.poll_event() {
            match e {
                CacheEvent::Evicted { key, tier, .. } => {
                    events.add(key);
                    events.add(1 + u64::from(tier == Tier::L1));
                }
                CacheEvent::Expired { key, tier, .. } => {
                    events.add(key);
                    events.add(10 + u64::from(tier == Tier::L1));
                }
                _ => events.add(u64::MAX),
            }
        }
    }
    cache.validate();
    let s = cache.stats();
    format!(
        "hits {hits} seq {:016x} events {:016x} len {} weight {} l1 {:?} l2 {:?}",
        seq.0,
        events.0,
        cache.len(),
        cache.weight(),
        s.l1,
        s.l2
    )
}

fn main() {
    let mut jobs: Vec<(String, Vec<u64>, Vec<usize>)> = Vec::new();
    for capacity in CAPACITIES {
        for trace in traces::suite(capacity) {
            jobs.push((trace.name.to_string(), trace.keys, vec![capacity]));
        }
    }
    for name in REAL_TRACES {
        match traces::read_real_trace(name) {
            Ok(trace) => {
                let distinct = traces::distinct(&trace.keys);
                let sizes = REAL_PERCENTS
                    .iter()
                    .map(|&p| traces::size_for(distinct, p))
                    .collect();
                jobs.push((trace.name.to_string(), trace.keys, sizes));
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    for (name, keys, sizes) in &jobs {
        for &capacity in sizes {
            for mode in [
                Mode::GetInsert,
                Mode::GetInsertTtl,
                Mode::GetOrInsert,
                Mode::GetOrInsertTtl,
                Mode::Weighted,
            ] {
                println!("{name}@{capacity} {mode:?}: {}", run(keys, capacity, mode));
            }
        }
    }
}
