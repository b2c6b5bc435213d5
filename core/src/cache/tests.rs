use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::*;

type Fixed = foldhash::fast::FixedState;

fn cache(capacity: u64, l1: u64) -> Cache<u64, u64, UnitWeigher, Fixed> {
    let config = CacheConfig {
        capacity,
        l1_capacity: l1,
        default_ttl: None,
        record_events: true,
    };
    Cache::with_weigher_and_hasher(config, UnitWeigher, Fixed::default()).expect("valid")
}

const T0: Instant = Instant::ZERO;

#[test]
fn hit_on_probation_promotes_and_l1_overflow_demotes() {
    let mut c = cache(4, 2);
    for k in 0..4 {
        c.insert(T0, k, k * 10);
    }
    c.validate();
    // All new entries are in L2; 0..3 left the window (one entry) for probation.
    assert_eq!(c.stats().l2.len, 4);
    for k in 0..3 {
        assert_eq!(c.get(T0, &k), Some(&(k * 10)));
        c.validate();
    }
    // A hit on probation promotes at once, full cache or not (L1 is the hot set from the
    // first reuse); L1's target is 2 × 3/4 = 1 beside the one-entry window, so each
    // promotion past the first demotes the oldest L1 entry.
    let s = c.stats();
    assert_eq!((s.l1.len, s.promotions(), s.demotions()), (1, 3, 2));
    assert_eq!((s.l2.hits, s.l1.misses), (3, 3));
    c.insert(T0, 4, 40);
    c.validate();
    // The candidate (3, asked for once) lost against a probation victim asked for twice:
    // it was evicted.
    assert_eq!(c.peek(T0, &3), None);
    assert_eq!(c.stats().evictions(), 1);
    // A hit in L1 counts there.
    assert_eq!(c.get(T0, &2), Some(&20));
    assert_eq!(c.stats().l1.hits, 1);
}

#[test]
fn frequent_keys_survive_a_scan() {
    let mut c = cache(100, 80);
    let mut t = T0;
    for round in 0..20 {
        for k in 0..50 {
            t = t.saturating_add(Duration::from_micros(1));
            if c.get(t, &k).is_none() {
                c.insert(t, k, round);
            }
        }
    }
    // A scan of 1,000 one-off keys.
    for k in 1_000..2_000 {
        if c.get(t, &k).is_none() {
            c.insert(t, k, 0);
        }
    }
    c.validate();
    let kept = (0..50).filter(|k| c.peek(t, k).is_some()).count();
    assert!(kept >= 48, "only {kept} of the hot keys survived the scan");
    assert!(c.len() <= 100);
}

#[test]
fn entries_expire_exactly_at_their_deadline() {
    let mut c = cache(10, 5);
    let ttl = Duration::from_millis(10);
    c.insert_with_ttl(T0, 1, 1, ttl).expect("valid ttl");
    c.insert(T0, 2, 2);
    let deadline = T0.saturating_add(ttl);
    let just_before = Instant::from_nanos(deadline.as_nanos() - 1);
    assert_eq!(c.peek(just_before, &1), Some(&1));
    assert_eq!(c.peek(deadline, &1), None);
    let wake = c.poll_timeout().expect("one deadline");
    assert!(wake >= T0 && wake <= deadline.saturating_add(Duration::from_millis(2)));
    c.handle_timeout(just_before);
    assert_eq!(c.len(), 2);
    c.handle_timeout(deadline.saturating_add(Duration::from_millis(2)));
    assert_eq!(c.len(), 1);
    assert_eq!(c.poll_timeout(), None);
    assert!(matches!(
        c.poll_event(),
        Some(CacheEvent::Expired {
            key: 1,
            value: 1,
            tier: Tier::L2
        })
    ));
    assert_eq!(c.stats().expirations(), 1);
    c.validate();
}

#[test]
fn a_read_removes_an_expired_entry() {
    let mut c = cache(10, 5);
    c.insert_with_ttl(T0, 1, 1, Duration::from_secs(1))
        .expect("valid ttl");
    let later = Instant::from_secs(2);
    assert_eq!(c.get(later, &1), None);
    assert_eq!(c.len(), 0);
    let s = c.stats();
    assert_eq!((s.misses(), s.expirations()), (1, 1));
    // Re-inserting after expiry is a new insert, not an update.
    c.insert_with_ttl(later, 1, 2, Duration::from_secs(1))
        .expect("valid ttl");
    assert_eq!(c.insert(later, 1, 3), Some(2));
    assert_eq!(c.stats().updates(), 1);
    assert_eq!(c.remove(&1), Some(3));
    // `remove` judges expiry by the latest instant seen: an expired entry returns nothing
    // and counts an expiration.
    c.insert_with_ttl(later, 5, 5, Duration::from_secs(1))
        .expect("valid ttl");
    assert_eq!(c.get(Instant::from_secs(9), &99), None);
    assert_eq!(c.remove(&5), None);
    assert_eq!(c.stats().expirations(), 2);
    c.validate();
}

#[test]
fn bad_ttl_is_an_error_and_changes_nothing() {
    let mut c = cache(10, 5);
    assert_eq!(
        c.insert_with_ttl(T0, 1, 1, Duration::ZERO),
        Err(CacheError::ZeroTtl)
    );
    assert!(matches!(
        c.insert_with_ttl(Instant::MAX, 1, 1, Duration::from_nanos(1)),
        Err(CacheError::TtlOverflow { .. })
    ));
    assert!(matches!(
        c.insert_with_ttl(T0, 1, 1, Duration::MAX),
        Err(CacheError::TtlOverflow { .. })
    ));
    assert!(c.is_empty());
    assert_eq!(c.stats().inserts(), 0);
}

#[test]
fn weighted_entries_respect_both_tiers() {
    let config = CacheConfig {
        capacity: 100,
        l1_capacity: 60,
        default_ttl: None,
        record_events: true,
    };
    let weigher = |_: &u32, v: &String| v.len() as u64;
    let mut c = Cache::with_weigher_and_hasher(config, weigher, Fixed::default()).expect("ok");
    c.insert(T0, 1, "a".repeat(30));
    c.insert(T0, 2, "b".repeat(30));
    c.insert(T0, 3, "c".repeat(30));
    for k in [1, 2, 3] {
        c.get(T0, &k);
        c.validate();
    }
    let s = c.stats();
    assert!(s.l1.weight <= 60 && s.weight() <= 100);
    // Heavier than L2's guaranteed room (40): rejected, counted, reported.
    assert_eq!(c.insert(T0, 9, "z".repeat(41)), None);
    assert!(c.peek(T0, &9).is_none());
    let events: Vec<_> = core::iter::from_fn(|| c.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(
        e,
        CacheEvent::Evicted {
            key: 9,
            tier: Tier::L2,
            ..
        }
    )));
    // Growing an L1 entry past L1 demotes; growing it past L2's room replaces it.
    c.insert(T0, 1, "a".repeat(40));
    c.validate();
    assert_eq!(c.insert(T0, 1, "a".repeat(50)).map(|v| v.len()), Some(40));
    assert!(c.peek(T0, &1).is_none());
    c.validate();
    // A zero weight counts as one.
    c.insert(T0, 7, String::new());
    c.validate();
}

#[test]
fn clear_keeps_counters_and_empties_everything() {
    let mut c = cache(50, 40);
    for k in 0..40 {
        c.insert_with_ttl(T0, k, k, Duration::from_secs(k + 1))
            .expect("valid ttl");
        c.get(T0, &k);
    }
    c.clear();
    c.validate();
    assert!(c.is_empty());
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.stats().cleared(), 40);
    c.insert(T0, 1, 1);
    c.validate();
}

#[test]
fn entry_costs_24_bytes_beside_key_and_value() {
    use core::mem::size_of;
    assert_eq!(size_of::<store::Slot<u64, u64>>(), 16 + 24);
    assert_eq!(size_of::<store::Slot<String, u64>>(), 32 + 24);
}

#[test]
fn overhead_per_entry_stays_under_48_bytes() {
    for capacity in [1_000u64, 10_000, 100_000] {
        let mut c = cache(capacity, capacity * 8 / 10);
        c.config.record_events = false;
        for k in 0..capacity * 3 {
            c.insert_with_ttl(T0, k, k, Duration::from_secs(3600))
                .expect("valid ttl");
            c.get(T0, &(k / 2));
        }
        assert_eq!(c.len() as u64, capacity);
        let total = c.heap_bytes() + core::mem::size_of_val(&c);
        let per_entry = total as f64 / capacity as f64 - 16.0;
        std::println!(
            "{capacity}: {per_entry:.1} B/entry (table {}, slab {}, sketch {}, wheel {})",
            c.table.allocation_size(),
            c.store.heap_bytes(),
            c.sketch.heap_bytes(),
            c.wheel.heap_bytes()
        );
        assert!(
            per_entry <= 48.0,
            "{capacity}: {per_entry:.1} bytes per entry"
        );
    }
}

/// xorshift64*, for the synthetic traces below (fixed seed: the test is deterministic).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Replays `trace` as get-or-insert; the window target after each sample of the climber.
fn window_path(capacity: u64, trace: &[u64]) -> Vec<u64> {
    let mut c = Cache::with_weigher_and_hasher(
        CacheConfig::new(capacity),
        UnitWeigher,
        Fixed::with_seed(7),
    )
    .expect("valid");
    let mut path = Vec::new();
    let mut last = c.window_capacity;
    for (i, &k) in trace.iter().enumerate() {
        c.get_or_insert_with(T0, k, || k);
        if c.window_capacity != last || i % c.climber.sample_len() as usize == 0 {
            last = c.window_capacity;
            path.push(last);
        }
    }
    c.validate();
    path
}

fn mean(xs: &[u64]) -> u64 {
    xs.iter().sum::<u64>() / xs.len().max(1) as u64
}

#[test]
fn recency_grows_the_window_and_frequency_shrinks_it() {
    let capacity = 1_000;
    let start = policy::HillClimber::new(capacity, ClimberTuning::default()).window();
    // Recency-heavy: a new key every 4 requests; each request picks one of the 1,500
    // newest keys, the newest most often (the offset is the smaller of two uniform
    // draws). Old keys never come back, so what was popular once is worth nothing later:
    // LRU is near-optimal and TinyLFU's admission keeps stale keys.
    let mut rng = 0x1234_5678_u64;
    let recency: Vec<u64> = (0..400_000u64)
        .map(|i| {
            let newest = i / 4;
            let back = (next_random(&mut rng) % 1_500).min(next_random(&mut rng) % 1_500);
            newest.saturating_sub(back)
        })
        .collect();
    // Frequency-heavy: a fixed skewed popularity over 20,000 keys (a key's weight halves
    // every 1,000 ranks, over a uniform floor): the past predicts the future.
    let frequency: Vec<u64> = (0..400_000u64)
        .map(|_| {
            let r = next_random(&mut rng);
            if r.is_multiple_of(4) {
                (r >> 8) % 20_000
            } else {
                let octave = ((r >> 2) & 0xFFFF).trailing_ones() as u64;
                (octave * 1_000 + (r >> 32) % 1_000) % 20_000
            }
        })
        .collect();
    let grow = window_path(capacity, &recency);
    let shrink = window_path(capacity, &frequency);
    let late = |p: &[u64]| mean(&p[p.len() / 2..]);
    assert!(
        late(&grow) > 10 * start,
        "recency: window {} -> {:?}",
        start,
        grow
    );
    assert!(
        late(&shrink) <= 3 * start,
        "frequency: window {} -> {:?}",
        start,
        shrink
    );
    // Deterministic: the same calls give the same adaptation.
    assert_eq!(grow, window_path(capacity, &recency));
}

/// The demo's complaint (issue 10): a cache far from full, answering most lookups, showed
/// L1 with 0 entries and 0 hits. Reused keys now reach L1 at their first hit after
/// admission, full cache or not, and later hits count there.
#[test]
fn reused_keys_reach_l1_before_the_cache_is_full() {
    let mut c = cache(10_000, 9_000);
    for round in 0..4 {
        for k in 0..500 {
            c.get_or_insert_with(T0, k, || k + round);
        }
    }
    c.validate();
    let s = c.stats();
    assert_eq!((s.len(), s.evictions()), (500, 0), "far from full");
    // All reused keys but the window's newest (1 % of the capacity: 100) are in L1; the
    // first hit promoted each, the two later rounds hit it there.
    let window = c.window_capacity;
    assert_eq!(window, 100);
    assert_eq!((s.l1.len, s.l2.len), (500 - window, window), "{s:?}");
    assert_eq!(s.l1.hits, 2 * (500 - window), "{s:?}");
    assert!(s.hit_rate() > 0.7);
}

/// Ghosts (keys turned away that come back soon) move the window long before the hill
/// climber's first samples: on a short recency-heavy trace, like the LIRS `backf` trace
/// (9,000 requests) where a climber sampling every 10 × capacity lookups barely moves, the
/// window opens; a frequency-heavy trace keeps it small.
#[test]
fn ghosts_open_the_window_on_a_short_recency_trace_only() {
    let capacity = 200;
    let mut rng = 0x9E37_79B9_u64;
    // Each request: one of the 300 newest keys, the newest most often; a new key every 3.
    let recency: Vec<u64> = (0..6_000u64)
        .map(|i| {
            let back = (next_random(&mut rng) % 300).min(next_random(&mut rng) % 300);
            (i / 3).saturating_sub(back)
        })
        .collect();
    // A fixed skewed popularity over 4,000 keys.
    let frequency: Vec<u64> = (0..6_000u64)
        .map(|_| {
            let r = next_random(&mut rng);
            let octave = ((r >> 2) & 0xFFFF).trailing_ones() as u64;
            (octave * 200 + (r >> 32) % 200) % 4_000
        })
        .collect();
    let run = |trace: &[u64], ghosts: bool| {
        let mut c = Cache::with_weigher_and_hasher(
            CacheConfig::new(capacity),
            UnitWeigher,
            Fixed::with_seed(7),
        )
        .expect("valid");
        let mut tuning = ClimberTuning::default();
        if !ghosts {
            tuning.ghost_gain = 0;
        }
        c.set_climber_tuning(tuning);
        let mut hits = 0;
        for &k in trace {
            hits += u64::from(c.get(T0, &k).is_some());
            if c.peek(T0, &k).is_none() {
                c.insert(T0, k, k);
            }
            c.validate();
        }
        (c.window_capacity, hits)
    };
    let start = policy::HillClimber::new(capacity, ClimberTuning::default()).window();
    let (with, hits_with) = run(&recency, true);
    let (without, hits_without) = run(&recency, false);
    let (freq, _) = run(&frequency, true);
    std::println!(
        "window from {start}: recency {with} ({hits_with} hits), without ghosts {without} \
         ({hits_without} hits); frequency {freq}"
    );
    assert!(
        with >= 10 * start,
        "recency, ghosts: window {start} -> {with}"
    );
    assert!(without < with, "without ghosts: {without}, with: {with}");
    assert!(
        hits_with > hits_without,
        "ghosts must pay: {hits_with} hits against {hits_without}"
    );
    assert!(
        freq <= 5 * start,
        "frequency, ghosts: window {start} -> {freq}"
    );
    // Deterministic for the same calls.
    assert_eq!(run(&recency, true), (with, hits_with));
}
