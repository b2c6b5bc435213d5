//! Bélády's optimal offline replacement (MIN), the ceiling of every hit-ratio table.
//!
//! Knowing the whole trace, MIN evicts the cached key whose next request is furthest in the
//! future. This variant may also *bypass*: a missed key whose next request is further away
//! than that of every cached key is not admitted at all (online caches with an admission
//! filter, such as quick_cache and moka, can decline an insert too, so the ceiling must allow
//! it). Bypassing is what makes MIN optimal among caches that may decline; without it the
//! ratio can only be lower or equal.
//!
//! Cost: O(n log c) for n requests and capacity c, using precomputed next-use indices and an
//! ordered set of (next use, key).

use std::collections::{BTreeSet, HashMap};

/// Index standing for "never requested again"; unique per position so set entries stay
/// distinct.
const NEVER: usize = usize::MAX / 2;

/// Hits of MIN with bypass on `trace` for a cache of `capacity` entries.
pub fn hits(trace: &[u64], capacity: usize) -> u64 {
    if capacity == 0 {
        return 0;
    }
    let next = next_uses(trace);
    // key -> the index of its next request, for cached keys.
    let mut cached: HashMap<u64, usize> = HashMap::with_capacity(capacity);
    // (next request, key) of cached keys; the last element is the eviction victim.
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut hits = 0;
    for (i, (&key, &next_i)) in trace.iter().zip(&next).enumerate() {
        if let Some(slot) = cached.get_mut(&key) {
            hits += 1;
            debug_assert_eq!(*slot, i);
            by_next.remove(&(i, key));
            *slot = next_i;
            by_next.insert((next_i, key));
            continue;
        }
        if next_i >= NEVER {
            continue; // never requested again: admitting it cannot help
        }
        if cached.len() == capacity {
            let &(furthest, victim) = by_next.last().expect("a full cache is not empty");
            if furthest <= next_i {
                continue; // bypass: the new key is needed later than every cached one
            }
            by_next.pop_last();
            cached.remove(&victim);
        }
        cached.insert(key, next_i);
        by_next.insert((next_i, key));
    }
    hits
}

/// For each position, the position of the next request of the same key, or a value
/// `>= NEVER` if there is none.
fn next_uses(trace: &[u64]) -> Vec<usize> {
    let mut next = vec![0; trace.len()];
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, &key) in trace.iter().enumerate().rev() {
        next[i] = seen.insert(key, i).unwrap_or(NEVER + i);
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::{SplitMix64, zipf};

    /// Exhaustive search over every admit/evict choice: the true optimum of tiny traces.
    fn brute_force(trace: &[u64], capacity: usize, cache: &mut Vec<u64>) -> u64 {
        let Some((&key, rest)) = trace.split_first() else {
            return 0;
        };
        if cache.contains(&key) {
            return 1 + brute_force(rest, capacity, cache);
        }
        let mut best = brute_force(rest, capacity, cache); // bypass
        if cache.len() < capacity {
            cache.push(key);
            best = best.max(brute_force(rest, capacity, cache));
            cache.pop();
        } else {
            for i in 0..cache.len() {
                let old = std::mem::replace(&mut cache[i], key);
                best = best.max(brute_force(rest, capacity, cache));
                cache[i] = old;
            }
        }
        best
    }

    #[test]
    fn min_matches_exhaustive_search_on_small_random_traces() {
        let mut rng = SplitMix64::new(42);
        for round in 0..300 {
            let len = 1 + (rng.next_u64() % 12) as usize;
            let alphabet = 1 + rng.next_u64() % 6;
            let capacity = (rng.next_u64() % 4) as usize;
            let trace: Vec<u64> = (0..len).map(|_| rng.next_u64() % alphabet).collect();
            assert_eq!(
                hits(&trace, capacity),
                brute_force(&trace, capacity, &mut Vec::new()),
                "round {round}: {trace:?} at capacity {capacity}"
            );
        }
    }

    #[test]
    fn min_is_at_least_lru_and_knows_loops() {
        // A loop of c + 1 keys: LRU never hits; MIN keeps c - 1 of them between visits.
        let trace: Vec<u64> = (0..11).cycle().take(11 * 100).collect();
        let h = hits(&trace, 10);
        assert!(h > 800, "{h}");
        let z = zipf(0.9, 500, 20_000, 1);
        assert!(hits(&z, 50) > lru_hits(&z, 50));
    }

    fn lru_hits(trace: &[u64], capacity: usize) -> u64 {
        let mut order: Vec<u64> = Vec::new();
        let mut hits = 0;
        for &k in trace {
            if let Some(i) = order.iter().position(|&x| x == k) {
                hits += 1;
                order.remove(i);
            } else if order.len() == capacity {
                order.remove(0);
            }
            order.push(k);
        }
        hits
    }
}
