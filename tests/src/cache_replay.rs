//! Replaying a trace against a cache as get-or-insert, shared by the cache benchmark and
//! the cache examples: a `get`, and on a miss an `insert`, counting the hits.
//!
//! Generic over closures (no `dyn`), so each cache's lookup is inlined into the loop and
//! the timed work is the same as a hand-written loop. The peer caches are only
//! dev-dependencies of this crate, hence the closures.

/// Replays `keys` in order through `lookup`, which returns whether the key was a hit and
/// inserts it on a miss; the number of hits.
#[inline]
pub fn replay(keys: &[u64], mut lookup: impl FnMut(u64) -> bool) -> u64 {
    replay_indexed(keys, |_, k| lookup(k))
}

/// As [`replay`], with the index of each request in `keys` passed to `lookup` (for a
/// virtual clock, or periodic maintenance).
#[inline]
pub fn replay_indexed(keys: &[u64], mut lookup: impl FnMut(usize, u64) -> bool) -> u64 {
    let mut hits = 0u64;
    for (i, &k) in keys.iter().enumerate() {
        if lookup(i, k) {
            hits += 1;
        }
    }
    hits
}

/// Runs `work` on two scoped threads, one on `first` and one on `second`; the sum of
/// their results (total hits).
///
/// # Panics
/// If `work` panics on the spawned thread.
pub fn on_two_threads(first: &[u64], second: &[u64], work: impl Fn(&[u64]) -> u64 + Sync) -> u64 {
    std::thread::scope(|s| {
        let other = s.spawn(|| work(second));
        let mine = work(first);
        mine + other.join().expect("bench thread does not panic")
    })
}
