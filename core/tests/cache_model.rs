//! The cache against a naive reference model, under seeded random operation sequences in
//! simulated time, with `validate()` after every step; bad settings; and the hit-ratio
//! harness that chose the policy (ignored by default, run it in release:
//! `cargo test -p perfopt-core --release --test cache_model -- --ignored --nocapture`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use perfopt_core::cache::{Cache, CacheConfig, CacheError, CacheEvent, UnitWeigher};
use perfopt_core::{Duration, Instant};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Fixed = foldhash::fast::FixedState;

// ---------------------------------------------------------------------------------------
// Model-based tests.
// ---------------------------------------------------------------------------------------

/// A value: a unique id (so replaced and expired values are told apart) and a weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Val {
    id: u64,
    weight: u64,
}

fn weigh(_: &u8, v: &Val) -> u64 {
    v.weight
}

type TestCache = Cache<u8, Val, fn(&u8, &Val) -> u64, Fixed>;

#[derive(Clone, Debug)]
enum Op {
    Get(u8),
    Peek(u8),
    Insert(u8, u64),
    InsertTtl(u8, u64, u64),
    GetOrInsert(u8, u64),
    Remove(u8),
    Advance(u64),
    Timeout,
    Clear,
}

/// The reference: every key the cache may hold, with its value and deadline. With events
/// recorded it is exact (every removal the cache makes on its own is reported); without,
/// it is a superset (evictions are silent, so a key may be gone).
struct Model {
    exact: bool,
    entries: HashMap<u8, (Val, Option<Instant>)>,
    now: Instant,
    /// The latest instant given to the cache.
    seen: Instant,
    lookups: u64,
    hits: u64,
    next_id: u64,
}

impl Model {
    fn live(&self, k: u8) -> Option<Val> {
        match self.entries.get(&k) {
            Some(&(v, d)) if d.is_none_or(|d| self.now < d) => Some(v),
            _ => None,
        }
    }

    /// Checks a value the cache returned for `k` (or its absence).
    fn check_read(&mut self, k: u8, got: Option<Val>, what: &str) {
        match got {
            Some(v) => assert_eq!(
                self.live(k),
                Some(v),
                "{what}({k}) returned {v:?}: not the last live value"
            ),
            None => {
                if self.exact {
                    assert_eq!(self.live(k), None, "{what}({k}) lost a live entry");
                }
            }
        }
    }

    fn value(&mut self, weight: u64) -> Val {
        self.next_id += 1;
        Val {
            id: self.next_id,
            weight,
        }
    }
}

fn run(config: CacheConfig, ops: &[Op]) {
    let mut cache: TestCache = Cache::with_weigher_and_hasher(
        config.clone(),
        weigh as fn(&u8, &Val) -> u64,
        Fixed::default(),
    )
    .expect("valid config");
    let mut m = Model {
        exact: config.record_events,
        entries: HashMap::new(),
        now: Instant::from_secs(1),
        seen: Instant::ZERO,
        lookups: 0,
        hits: 0,
        next_id: 0,
    };
    let ttl_of = |now: Instant, ttl: Option<Duration>| ttl.map(|t| now.saturating_add(t));
    for (step, op) in ops.iter().enumerate() {
        let now = m.now;
        if !matches!(op, Op::Remove(_) | Op::Peek(_) | Op::Advance(_) | Op::Clear) {
            m.seen = now;
        }
        match *op {
            Op::Get(k) => {
                let got = cache.get(now, &k).copied();
                m.lookups += 1;
                m.hits += u64::from(got.is_some());
                m.check_read(k, got, "get");
                // Exact: an expired entry leaves through its event.
                if got.is_none() && !m.exact {
                    m.entries.remove(&k);
                }
            }
            Op::Peek(k) => {
                let got = cache.peek(now, &k).copied();
                m.check_read(k, got, "peek");
            }
            Op::Insert(k, w) => {
                let v = m.value(w);
                let old = cache.insert(now, k, v);
                if let Some(old) = old {
                    assert_eq!(m.live(k), Some(old), "insert({k}) replaced a wrong value");
                } else if m.exact {
                    assert_eq!(m.live(k), None, "insert({k}) did not return the live value");
                }
                m.entries.insert(k, (v, ttl_of(now, config.default_ttl)));
            }
            Op::InsertTtl(k, w, ttl_ms) => {
                let v = m.value(w);
                let ttl = Duration::from_millis(ttl_ms);
                match cache.insert_with_ttl(now, k, v, ttl) {
                    Err(e) => {
                        assert_eq!(ttl_ms, 0, "unexpected error {e}");
                        assert_eq!(e, CacheError::ZeroTtl);
                    }
                    Ok(old) => {
                        if let Some(old) = old {
                            assert_eq!(m.live(k), Some(old), "insert_with_ttl({k}) replaced");
                        } else if m.exact {
                            assert_eq!(m.live(k), None, "insert_with_ttl({k}) lost the old");
                        }
                        m.entries.insert(k, (v, Some(now.saturating_add(ttl))));
                    }
                }
            }
            Op::GetOrInsert(k, w) => {
                let v = m.value(w);
                let live = m.live(k);
                let mut made = false;
                let got = cache
                    .get_or_insert_with(now, k, || {
                        made = true;
                        v
                    })
                    .copied();
                m.lookups += 1;
                if made {
                    if m.exact {
                        assert_eq!(live, None, "get_or_insert_with({k}) missed a live entry");
                    }
                    m.entries.insert(k, (v, ttl_of(now, config.default_ttl)));
                    if let Some(got) = got {
                        assert_eq!(got, v);
                    }
                } else {
                    m.hits += 1;
                    m.check_read(k, got, "get_or_insert_with");
                }
            }
            Op::Remove(k) => {
                // `remove` judges expiry by the latest instant the cache was given.
                let got = cache.remove(&k);
                let model_now = m.now;
                m.now = m.seen;
                m.check_read(k, got, "remove");
                m.now = model_now;
                if got.is_some() || !m.exact {
                    m.entries.remove(&k);
                }
            }
            Op::Advance(ms) => m.now = m.now.saturating_add(Duration::from_millis(ms)),
            Op::Timeout => {
                if let Some(at) = cache.poll_timeout() {
                    // The promised wake-up is at most one wheel tick (2^20 ns) after the
                    // earliest deadline.
                    let earliest = m.entries.values().filter_map(|&(_, d)| d).min();
                    if m.exact {
                        let tick = Duration::from_nanos(1 << 20);
                        assert!(
                            earliest.is_some_and(|e| at <= e.saturating_add(tick)),
                            "late poll_timeout {at}"
                        );
                    }
                }
                cache.handle_timeout(now);
                // Everything whose deadline is a wheel tick or more in the past is gone.
                let tick_ago = now.saturating_sub(Duration::from_nanos(1 << 20));
                let recent = m
                    .entries
                    .values()
                    .filter(|&&(_, d)| d.is_none_or(|d| d > tick_ago))
                    .count();
                assert!(
                    cache.len() <= recent,
                    "expired entries survived handle_timeout"
                );
            }
            Op::Clear => {
                cache.clear();
                m.entries.clear();
            }
        }
        // Events: every eviction and expiry names an entry the model holds.
        while let Some(event) = cache.poll_event() {
            let (k, v, expired) = match event {
                CacheEvent::Evicted { key, value, .. } => (key, value, false),
                CacheEvent::Expired { key, value, .. } => (key, value, true),
                other => panic!("unknown event {other:?}"),
            };
            let &(mv, deadline) = m
                .entries
                .get(&k)
                .unwrap_or_else(|| panic!("step {step}: event for unknown key {k}"));
            // An event may be about a value the same step replaced (insert over an
            // expired entry); only the model's current value is checked and forgotten.
            if mv == v {
                if expired {
                    assert!(deadline.is_some_and(|d| d <= m.now), "expired early: {k}");
                }
                m.entries.remove(&k);
            }
        }
        cache.validate();
        let stats = cache.stats();
        assert_eq!(stats.lookups(), m.lookups, "step {step}: lookups");
        assert_eq!(stats.hits(), m.hits, "step {step}: hits");
        assert!(stats.weight() <= config.capacity && stats.l1.weight <= config.l1_capacity);
        if m.exact {
            assert_eq!(cache.len(), m.entries.len(), "step {step}: len vs model");
        } else {
            assert!(
                cache.len() <= m.entries.len(),
                "step {step}: len above model"
            );
        }
    }
}

fn random_ops(rng: &mut StdRng, n: usize, keys: u8, max_weight: u64) -> Vec<Op> {
    (0..n)
        .map(|_| {
            let k = rng.random_range(0..keys);
            let w = rng.random_range(1..=max_weight);
            match rng.random_range(0..100) {
                0..30 => Op::Get(k),
                30..35 => Op::Peek(k),
                35..55 => Op::Insert(k, w),
                55..65 => Op::InsertTtl(k, w, rng.random_range(0..2_000)),
                65..75 => Op::GetOrInsert(k, w),
                75..80 => Op::Remove(k),
                80..93 => Op::Advance(rng.random_range(0..300)),
                93..99 => Op::Timeout,
                _ => Op::Clear,
            }
        })
        .collect()
}

fn random_config(rng: &mut StdRng, exact: bool) -> CacheConfig {
    let capacity = rng.random_range(1..40);
    CacheConfig {
        capacity,
        l1_capacity: rng.random_range(0..capacity),
        default_ttl: rng
            .random_bool(0.5)
            .then(|| Duration::from_millis(rng.random_range(1..3_000))),
        record_events: exact,
    }
}

#[test]
fn seeded_random_sequences_match_the_model() {
    for seed in 0..300 {
        let mut rng = StdRng::seed_from_u64(seed);
        let exact = seed % 2 == 0;
        let config = random_config(&mut rng, exact);
        let max_weight = if seed % 3 == 0 { 1 } else { 5 };
        let ops = random_ops(&mut rng, 600, 48, max_weight);
        run(config, &ops);
    }
}

#[test]
fn long_run_with_many_keys() {
    let mut rng = StdRng::seed_from_u64(99);
    let config = CacheConfig {
        record_events: true,
        ..CacheConfig::new(200).with_default_ttl(Duration::from_secs(2))
    };
    let ops = random_ops(&mut rng, 20_000, 255, 3);
    run(config, &ops);
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..32).prop_map(Op::Get),
        1 => (0u8..32).prop_map(Op::Peek),
        4 => (0u8..32, 1u64..5).prop_map(|(k, w)| Op::Insert(k, w)),
        2 => (0u8..32, 1u64..5, 0u64..1_500).prop_map(|(k, w, t)| Op::InsertTtl(k, w, t)),
        2 => (0u8..32, 1u64..5).prop_map(|(k, w)| Op::GetOrInsert(k, w)),
        1 => (0u8..32).prop_map(Op::Remove),
        3 => (0u64..400).prop_map(Op::Advance),
        1 => Just(Op::Timeout),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_sequence_keeps_the_invariants(
        capacity in 1u64..30,
        l1_share in 0u64..100,
        ttl_ms in proptest::option::of(1u64..2_000),
        exact in any::<bool>(),
        ops in proptest::collection::vec(op_strategy(), 0..400),
    ) {
        let config = CacheConfig {
            capacity,
            l1_capacity: capacity.saturating_sub(1) * l1_share / 100,
            default_ttl: ttl_ms.map(Duration::from_millis),
            record_events: exact,
        };
        run(config, &ops);
    }
}

#[test]
fn bad_settings_are_rejected_at_construction() {
    let new = |c: CacheConfig| Cache::<u8, u8>::new(c).map(|_| ());
    assert_eq!(
        new(CacheConfig {
            capacity: 0,
            ..CacheConfig::new(10)
        }),
        Err(CacheError::ZeroCapacity)
    );
    assert_eq!(
        new(CacheConfig {
            l1_capacity: 10,
            ..CacheConfig::new(10)
        }),
        Err(CacheError::L1TooLarge {
            l1_capacity: 10,
            capacity: 10
        })
    );
    assert_eq!(
        new(CacheConfig::new(10).with_default_ttl(Duration::ZERO)),
        Err(CacheError::ZeroTtl)
    );
    assert!(matches!(
        new(CacheConfig::new(10).with_default_ttl(Duration::MAX)),
        Err(CacheError::TtlOverflow { .. })
    ));
    assert!(new(CacheConfig::new(1)).is_ok());
    let mut c = Cache::<u8, u8>::new(CacheConfig::new(4)).expect("valid");
    assert_eq!(
        c.insert_with_ttl(Instant::ZERO, 1, 1, Duration::ZERO),
        Err(CacheError::ZeroTtl)
    );
    assert!(matches!(
        c.insert_with_ttl(Instant::MAX, 1, 1, Duration::from_secs(1)),
        Err(CacheError::TtlOverflow { .. })
    ));
    // A default TTL running past the end of time means "never expires", not a panic.
    let mut c = Cache::<u8, u8>::new(CacheConfig::new(4).with_default_ttl(Duration::from_secs(1)))
        .expect("valid");
    c.insert(Instant::MAX, 1, 1);
    assert_eq!(c.get(Instant::MAX, &1), Some(&1));
    c.validate();
}

#[test]
fn scans_do_not_flush_the_hot_set() {
    // A quick, debug-build-friendly check of scan resistance (the harness measures more).
    let capacity = 500;
    let hot = zipf_trace_small(20_000, 2_000, 0.99, 5);
    let mut c: Cache<u64, u64, UnitWeigher, Fixed> =
        Cache::with_weigher_and_hasher(CacheConfig::new(capacity), UnitWeigher, Fixed::default())
            .expect("valid");
    let t = Instant::ZERO;
    for &k in &hot {
        c.get_or_insert_with(t, k, || k);
    }
    let before = c.stats().hit_rate();
    for k in 1_000_000..1_020_000u64 {
        c.get_or_insert_with(t, k, || k);
    }
    let mut hits = 0;
    for &k in &hot[..5_000] {
        hits += usize::from(c.get(t, &k).is_some());
    }
    let after = hits as f64 / 5_000.0;
    assert!(before > 0.5, "warm-up hit rate {before}");
    assert!(
        after > 0.9 * before,
        "hit rate after a scan {after} vs {before}"
    );
    c.validate();
}

fn zipf_trace_small(len: usize, keys: usize, s: f64, seed: u64) -> Vec<u64> {
    let z = Zipf::new(keys, s);
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| z.sample(&mut rng)).collect()
}

// ---------------------------------------------------------------------------------------
// Hit-ratio harness: traces, reference policies, Bélády's MIN.
// ---------------------------------------------------------------------------------------

/// Zipf(`s`) ranks over `n` keys by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            cdf.push(sum);
        }
        cdf.iter_mut().for_each(|c| *c /= sum);
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut StdRng) -> u64 {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

const TRACE_LEN: usize = 1_000_000;
const KEYS: usize = 100_000;

fn zipf_trace(s: f64, seed: u64) -> Vec<u64> {
    let z = Zipf::new(KEYS, s);
    let mut rng = StdRng::seed_from_u64(seed);
    (0..TRACE_LEN).map(|_| z.sample(&mut rng)).collect()
}

/// Zipf 0.99 with a one-off sequential scan of 5,000 new keys after every 45,000 requests.
fn scan_trace(seed: u64) -> Vec<u64> {
    let z = Zipf::new(KEYS, 0.99);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next_new = 1u64 << 40;
    let mut out = Vec::with_capacity(TRACE_LEN);
    while out.len() < TRACE_LEN {
        for _ in 0..45_000 {
            out.push(z.sample(&mut rng));
        }
        for _ in 0..5_000 {
            out.push(next_new);
            next_new += 1;
        }
    }
    out.truncate(TRACE_LEN);
    out
}

/// A loop over `capacity + capacity / 10` keys.
fn loop_trace(capacity: usize) -> Vec<u64> {
    let n = (capacity + capacity / 10) as u64;
    (0..TRACE_LEN as u64).map(|i| i % n).collect()
}

/// Hit ratio of perfopt's cache (get, insert on miss), with a TTL far beyond the trace.
fn ours(trace: &[u64], config: CacheConfig) -> f64 {
    let mut c: Cache<u64, u64, UnitWeigher, Fixed> =
        Cache::with_weigher_and_hasher(config, UnitWeigher, Fixed::default()).expect("valid");
    let mut hits = 0usize;
    for (i, &k) in trace.iter().enumerate() {
        let now = Instant::from_nanos(i as u64 * 1_000);
        if c.get(now, &k).is_some() {
            hits += 1;
        } else {
            c.insert_with_ttl(now, k, k, Duration::from_secs(3_600))
                .expect("valid ttl");
        }
    }
    hits as f64 / trace.len() as f64
}

fn lru(trace: &[u64], capacity: usize) -> f64 {
    let mut stamp_of: HashMap<u64, usize> = HashMap::new();
    let mut by_stamp: BTreeMap<usize, u64> = BTreeMap::new();
    let mut hits = 0;
    for (t, &k) in trace.iter().enumerate() {
        if let Some(old) = stamp_of.insert(k, t) {
            by_stamp.remove(&old);
            hits += 1;
        } else if stamp_of.len() > capacity {
            let (_, victim) = by_stamp.pop_first().expect("non-empty");
            stamp_of.remove(&victim);
        }
        by_stamp.insert(t, k);
    }
    hits as f64 / trace.len() as f64
}

/// S3-FIFO (Yang et al., SOSP'23): small FIFO (10 %), main FIFO, ghost FIFO of keys.
fn s3fifo(trace: &[u64], capacity: usize) -> f64 {
    let small_cap = (capacity / 10).max(1);
    let mut freq: HashMap<u64, u8> = HashMap::new(); // resident keys
    let mut small: VecDeque<u64> = VecDeque::new();
    let mut main: VecDeque<u64> = VecDeque::new();
    let mut ghost: VecDeque<u64> = VecDeque::new();
    let mut ghost_set: HashMap<u64, usize> = HashMap::new();
    let mut hits = 0;
    let add_ghost = |k: u64, ghost: &mut VecDeque<u64>, set: &mut HashMap<u64, usize>| {
        ghost.push_back(k);
        *set.entry(k).or_default() += 1;
        if ghost.len() > capacity {
            let old = ghost.pop_front().expect("non-empty");
            if let Some(n) = set.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    set.remove(&old);
                }
            }
        }
    };
    for &k in trace {
        if let Some(f) = freq.get_mut(&k) {
            *f = (*f + 1).min(3);
            hits += 1;
            continue;
        }
        while small.len() + main.len() >= capacity {
            if small.len() >= small_cap || main.is_empty() {
                let t = small.pop_front().expect("non-empty");
                if freq[&t] > 1 {
                    freq.insert(t, 0);
                    main.push_back(t);
                } else {
                    freq.remove(&t);
                    add_ghost(t, &mut ghost, &mut ghost_set);
                }
            } else {
                let t = main.pop_front().expect("non-empty");
                let f = freq[&t];
                if f > 0 {
                    freq.insert(t, f - 1);
                    main.push_back(t);
                } else {
                    freq.remove(&t);
                }
            }
        }
        freq.insert(k, 0);
        if ghost_set.contains_key(&k) {
            main.push_back(k);
        } else {
            small.push_back(k);
        }
    }
    hits as f64 / trace.len() as f64
}

/// In-cache LFU with exact counts of the whole history and admission (a key replaces the
/// least frequent cached key only if it is now more frequent): the online policy that
/// converges to the optimum on i.i.d. traces (keep the most popular keys).
fn perfect_lfu(trace: &[u64], capacity: usize) -> f64 {
    let mut count: HashMap<u64, u64> = HashMap::new();
    let mut cached: BTreeSet<(u64, u64)> = BTreeSet::new(); // (count, key)
    let mut hits = 0;
    for &k in trace {
        let c = count.entry(k).or_default();
        *c += 1;
        let c = *c;
        if cached.remove(&(c - 1, k)) {
            hits += 1;
            cached.insert((c, k));
        } else if cached.len() < capacity {
            cached.insert((c, k));
        } else if let Some(&(least, victim)) = cached.first()
            && c > least
        {
            cached.remove(&(least, victim));
            cached.insert((c, k));
        }
    }
    hits as f64 / trace.len() as f64
}

/// Bélády's MIN with bypass: on a miss, evict the key used farthest in the future (or do
/// not admit the new key if it is that one). The offline optimum.
fn belady(trace: &[u64], capacity: usize) -> f64 {
    let mut next_use = vec![usize::MAX; trace.len()];
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, &k) in trace.iter().enumerate().rev() {
        if let Some(&j) = last.get(&k) {
            next_use[i] = j;
        }
        last.insert(k, i);
    }
    let mut cached: HashMap<u64, usize> = HashMap::new();
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut hits = 0;
    for (i, &k) in trace.iter().enumerate() {
        let nu = next_use[i];
        if let Some(old) = cached.insert(k, nu) {
            by_next.remove(&(old, k));
            by_next.insert((nu, k));
            hits += 1;
            continue;
        }
        if cached.len() > capacity {
            let &(far, victim) = by_next.last().expect("non-empty");
            if far > nu {
                by_next.pop_last();
                cached.remove(&victim);
                by_next.insert((nu, k));
            } else {
                cached.remove(&k);
            }
        } else {
            by_next.insert((nu, k));
        }
    }
    hits as f64 / trace.len() as f64
}

#[test]
#[ignore = "hit-ratio harness: minutes in debug; run in release with --ignored --nocapture"]
fn hit_ratio_harness() {
    type MakeTrace = Box<dyn Fn(usize) -> Vec<u64>>;
    let traces: Vec<(&str, MakeTrace)> = vec![
        ("zipf-0.99", Box::new(|_| zipf_trace(0.99, 7))),
        ("zipf-0.8", Box::new(|_| zipf_trace(0.8, 8))),
        ("zipf+scans", Box::new(|_| scan_trace(9))),
        ("loop", Box::new(loop_trace)),
    ];
    println!("| trace | capacity | perfopt | LRU | S3-FIFO | perfect LFU | Bélády |");
    println!("|---|---|---|---|---|---|---|");
    for (name, make) in &traces {
        for capacity in [1_000usize, 10_000] {
            let trace = make(capacity);
            let ours = ours(&trace, CacheConfig::new(capacity as u64));
            println!(
                "| {name} | {capacity} | {:.2} % | {:.2} % | {:.2} % | {:.2} % | {:.2} % |",
                100.0 * ours,
                100.0 * lru(&trace, capacity),
                100.0 * s3fifo(&trace, capacity),
                100.0 * perfect_lfu(&trace, capacity),
                100.0 * belady(&trace, capacity),
            );
        }
    }
}
