//! A two-tier, weight-bounded TTL cache with scan-resistant eviction (W-TinyLFU).
//!
//! [`Cache`] is a `&mut self` state machine: every call that depends on time takes `now`,
//! nothing reads a clock, spawns or locks. It holds at most
//! [`CacheConfig::capacity`] weight units in two tiers and tells the host when entries
//! expire. The thread-safe, sharded host with single-flight loading is `perfopt::cache`.
//!
//! # Policy: adaptive W-TinyLFU, mapped onto two tiers
//! A frequency sketch (count-min, 4-bit counters, halved after 64 increments per entry)
//! estimates how often each key was asked for lately, hits and misses alike. The cache is
//! cut in three segments, each a FIFO queue whose entries carry a "referenced" bit set by
//! hits (CLOCK: a hit in the window or in L1 touches no list, the policy reads the bit
//! when the entry reaches the front — a second chance instead of an LRU move):
//!
//! | segment | tier | holds |
//! |---|---|---|
//! | window | L2 | every new entry; an adaptive share of the capacity (1 % at first) |
//! | probation | L2 | entries admitted from the window, not hit since |
//! | protected | L1 | entries hit again after they were admitted (at most `l1_capacity`) |
//!
//! **What the tiers mean.** L1 is the *hot* set: entries that proved themselves by a hit
//! after the admission filter let them into the main space. L2 is everything else: the
//! newest entries (window) and those admitted but not asked for since (probation). A hit
//! on probation moves the entry to L1 at once, so L1 fills as soon as keys are reused, full
//! cache or not; hits on entries still in the window count as L2 hits (they are recent,
//! not yet proven). When L1 is over its target, its oldest unreferenced entry is
//! **demoted** to probation. Evictions only ever take L2 entries.
//!
//! An entry pushed out of the window is a *candidate* for the main space. When the cache is
//! full, the candidate is compared with the *victim*, the oldest unreferenced probation
//! entry: the candidate replaces the victim only if the sketch counts it at least two
//! requests more (otherwise the candidate is evicted; a frequent candidate wins once in 512
//! anyway, against hash flooding). The margin of one request discounts the request that
//! just brought the candidate in: under a loop longer than the cache, every key is equally
//! frequent, and without it each candidate would evict the resident key needed soonest
//! (LRU's failure); with it the resident set stays, as under LIRS or quick_cache. One-off
//! keys and scans therefore pass through the window without flushing the frequently used
//! entries — the scan resistance plain LRU lacks.
//!
//! **Adaptation.** How large the window should be depends on the workload: recency-heavy
//! traffic (keys popular for a while, then never again) wants a large window, where the
//! cache behaves like LRU; frequency-heavy traffic wants a small one, so most of the cache
//! is guarded by admission. A hill climber (as Caffeine's) samples the hit rate every
//! `10 × capacity` lookups (at least 512) and moves the window by a step (3 % of the
//! capacity at first, decaying by 1 % a sample) in the direction that last raised the hit
//! rate, reversing when it fell and restarting the step when the hit rate jumps by 5
//! points. L1's target shrinks with the main space (`l1_capacity × main / capacity`).
//!
//! The climber alone is slow: a short trace ends before it has taken a few samples. So,
//! as ARC does with its ghost lists, the cache also remembers (by a 15-bit fingerprint, in
//! a table of one slot per eight entries) the keys it lately turned away: candidates that
//! admission *rejected*, and main-space *victims*. A miss on a rejected key that returns
//! within `capacity` lookups says the window was too small to keep it; a miss on a recent
//! victim says the main space was. Each such return moves the window at once, towards the
//! half that would have kept the key, weighted as ARC's `|B2| / |B1|` (the other kind's
//! ghosts over this kind's, so the evidence the policy makes plenty of weighs less per
//! return) and by a gain of 8 entries per unit; older returns (a loop longer than the
//! cache) count for nothing. Measured on the whole suite: mean gap to Bélády 5.42 → 4.31
//! points, worst row against the best of LRU, quick_cache and moka −19.6 → −5.5; with the
//! admission margin (and the gain halved from 16) 4.31 → 3.91 points, rows more than 2.0
//! below 5 → 1: cpp at 61 entries, −2.44 against moka's 63.87 in the last full run (moka
//! varies between runs: −1.72 against its 63.14 the run before); the next worst, cpp at
//! 122, is −1.96 (short traces, whose figures move by a few points with the gain). With
//! 4-bit sketch counters (at most 15) and the margin, a victim counted 14 or 15 is replaced
//! only through the 1-in-512 path.
//! Decisions depend only on the sequence of calls (integer arithmetic, no clock), so a
//! replay adapts identically. The choices are measured on the whole real-trace suite of
//! `BENCHMARKS.md` (`tests/examples/cache_hit_ratio.rs`), not guessed.

//! # Expiry
//! Each entry has a deadline (from [`CacheConfig::default_ttl`] or
//! [`Cache::insert_with_ttl`]). An entry is never returned at or after its deadline; it is
//! removed when a read finds it expired, or by [`Cache::handle_timeout`], which pops due
//! entries from a hierarchical timer wheel in O(1) amortized per entry. Until
//! then an expired entry still counts in [`Cache::len`] and [`Cache::weight`].
//!
//! # Memory
//! 24 bytes per entry beside the key and value (links, deadline, segment and referenced
//! bits), plus the index table (5 bytes per bucket, 8–11 per entry) and the sketch (16
//! four-bit counters per entry rounded to a power of two, at most 14 bytes), plus 2 KiB of
//! timer wheel once a TTL is used, plus the ghost table (half a byte per entry, at most
//! 16 KiB): about 40–48 bytes per entry in all; see
//! [`Cache::heap_bytes`].

mod config;
mod ghost;
mod policy;
mod sketch;
mod stats;
mod store;
mod validate;
mod wheel;

use alloc::collections::VecDeque;
use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::time::Duration;

use hashbrown::{HashTable, hash_table};

#[doc(hidden)]
pub use policy::ClimberTuning;

pub use config::{CacheConfig, CacheError, DefaultHasher, UnitWeigher, Weigher};
pub use stats::{CacheEvent, CacheStats, Tier, TierStats};

use crate::Instant;
use sketch::Sketch;
use store::{Entry, NEVER, Segment, Store};
use wheel::Wheel;

/// The cache state machine. See the [module documentation](self) for the policy.
///
/// # Calling contract
/// - **Mutating calls** take `now`: [`get`](Cache::get) (counts a hit or miss, marks the
///   entry for promotion), [`get_or_insert_with`](Cache::get_or_insert_with),
///   [`insert`](Cache::insert), [`insert_with_ttl`](Cache::insert_with_ttl),
///   [`handle_timeout`](Cache::handle_timeout); [`remove`](Cache::remove) judges expiry
///   by the latest `now` seen, [`clear`](Cache::clear) needs no time. Each call settles everything at once: an insert
///   evicts what no longer fits before it returns.
/// - **Reading**: [`peek`](Cache::peek) looks without counting or reordering;
///   [`stats`](Cache::stats), [`len`](Cache::len), [`weight`](Cache::weight).
/// - **Draining**: with [`CacheConfig::record_events`], drain
///   [`poll_event`](Cache::poll_event) after mutating calls; the queue grows until drained.
/// - **Timers**: [`poll_timeout`](Cache::poll_timeout) says when the next entry may expire;
///   calling [`handle_timeout`](Cache::handle_timeout) then frees expired entries. Calling
///   it is optional (an expired entry is never returned), early or late calls are harmless.
/// - **Time** never goes back between calls. If it does, nothing panics; entries may then
///   expire as of the latest instant seen.
///
/// # Example
/// ```
/// use core::time::Duration;
/// use perfopt_core::Instant;
/// use perfopt_core::cache::{Cache, CacheConfig};
///
/// let config = CacheConfig::new(1_000).with_default_ttl(Duration::from_secs(60));
/// let mut cache = Cache::new(config)?;
/// let t0 = Instant::from_secs(1);
/// assert_eq!(cache.get(t0, "user:7"), None); // a miss
/// cache.insert(t0, "user:7", 7);
/// assert_eq!(cache.get(t0, "user:7"), Some(&7)); // a hit
///
/// // A shorter TTL for one entry; the host wakes when told to.
/// cache.insert_with_ttl(t0, "otp", 123_456, Duration::from_secs(5))?;
/// let wake = cache.poll_timeout().expect("an entry expires");
/// assert!(wake <= t0.saturating_add(Duration::from_secs(5)));
/// let later = t0.saturating_add(Duration::from_secs(6));
/// cache.handle_timeout(later);
/// assert_eq!(cache.peek(later, "otp"), None);
///
/// let stats = cache.stats();
/// assert_eq!((stats.hits(), stats.misses(), stats.expirations()), (1, 1, 1));
/// # Ok::<(), perfopt_core::cache::CacheError>(())
/// ```
pub struct Cache<K, V, W = UnitWeigher, S = DefaultHasher> {
    config: CacheConfig,
    /// Target weight of the window segment (set by `climber`).
    window_capacity: u64,
    /// Most weight L1 may hold now: `l1_capacity` scaled to the main space.
    l1_target: u64,
    climber: policy::HillClimber,
    /// Heaviest entry kept: what L2 always has room for.
    max_entry_weight: u64,
    /// Most entries held at once.
    max_entries: usize,
    /// Slab indices, hashed by key.
    table: HashTable<u32>,
    store: Store<K, V>,
    /// Weight per segment.
    weights: [u64; 3],
    wheel: Wheel,
    sketch: Sketch,
    /// Keys lately turned away, by fingerprint: evidence for moving the window.
    ghosts: ghost::Ghosts,
    /// Ghost evidence not yet acted on, in thousandths of an entry (+ grows the window).
    ghost_credit: i64,
    /// How long a ghost counts, in lookups (`None`: ghosts are off); from the tuning.
    ghost_max_age: Option<u64>,
    events: VecDeque<CacheEvent<K, V>>,
    /// Counters of L1 and L2 (`len`/`weight` filled in by `stats`).
    counters: [TierStats; 2],
    /// Hash of the last key a `get` missed: its insert is not counted twice.
    pending_miss: Option<u64>,
    /// xorshift state for the admission tie-break against hash flooding.
    rng: u64,
    /// The latest `now` seen, in nanoseconds (time never goes back).
    latest: u64,
    weigher: W,
    hasher: S,
}

impl<K: Hash + Eq, V> Cache<K, V> {
    /// A cache counting entries (every entry weighs 1).
    ///
    /// # Errors
    /// A [`CacheError`] naming the first invalid setting (see [`CacheConfig::validate`]).
    pub fn new(config: CacheConfig) -> Result<Self, CacheError> {
        Self::with_weigher_and_hasher(config, UnitWeigher, DefaultHasher::default())
    }
}

impl<K: Hash + Eq, V, W: Weigher<K, V>> Cache<K, V, W> {
    /// A cache whose capacity counts `weigher` units.
    ///
    /// # Errors
    /// As [`Cache::new`].
    pub fn with_weigher(config: CacheConfig, weigher: W) -> Result<Self, CacheError> {
        Self::with_weigher_and_hasher(config, weigher, DefaultHasher::default())
    }
}

impl<K: Hash + Eq, V, W: Weigher<K, V>, S: BuildHasher> Cache<K, V, W, S> {
    /// A cache with a custom weigher and hasher (a fixed-seed hasher makes runs
    /// reproducible).
    ///
    /// # Errors
    /// As [`Cache::new`].
    pub fn with_weigher_and_hasher(
        config: CacheConfig,
        weigher: W,
        hasher: S,
    ) -> Result<Self, CacheError> {
        config.validate()?;
        let max_entry_weight = config.capacity - config.l1_capacity;
        let climber = policy::HillClimber::new(config.capacity, ClimberTuning::default());
        let window_capacity = climber.window();
        let max_entries = usize::try_from(config.capacity)
            .unwrap_or(usize::MAX)
            .min(store::MAX_ENTRIES);
        let rng = hasher.hash_one(0x5EED_u64) | 1;
        Ok(Cache {
            climber,
            l1_target: policy::l1_target(config.capacity, config.l1_capacity, window_capacity),
            sketch: Sketch::new(
                max_entries.min(policy::INITIAL_SKETCH_ENTRIES),
                ClimberTuning::default().sketch_sample_factor,
            ),
            ghosts: ghost::Ghosts::new(max_entries.min(policy::INITIAL_SKETCH_ENTRIES)),
            ghost_credit: 0,
            ghost_max_age: policy::ghost_max_age(max_entries, &ClimberTuning::default()),
            config,
            window_capacity,
            max_entry_weight,
            max_entries,
            table: HashTable::new(),
            store: Store::new(),
            weights: [0; 3],
            wheel: Wheel::new(),
            events: VecDeque::new(),
            counters: [TierStats::default(); 2],
            pending_miss: None,
            rng,
            latest: 0,
            weigher,
            hasher,
        })
    }

    /// Replaces the hill climber's settings (a fresh climber, window and L1 target as
    /// for a new cache). For the benchmark's parameter sweeps; not API.
    #[doc(hidden)]
    pub fn set_climber_tuning(&mut self, tuning: ClimberTuning) {
        self.climber = policy::HillClimber::new(self.config.capacity, tuning);
        self.ghost_max_age = policy::ghost_max_age(self.max_entries, &tuning);
        self.sketch = Sketch::new(self.sketch.entries(), tuning.sketch_sample_factor);
        self.window_capacity = self.climber.window();
        self.l1_target = policy::l1_target(
            self.config.capacity,
            self.config.l1_capacity,
            self.window_capacity,
        );
        self.shrink_l1();
        self.evict_overflow();
    }

    /// The value of `key` if it is cached and not expired at `now`.
    ///
    /// Counts a hit or a miss (per tier), records the access in the frequency sketch, and
    /// moves the entry up: a hit on probation promotes it to L1. An expired entry found
    /// here is removed (an expiration) and the lookup is a miss.
    pub fn get<Q>(&mut self, now: Instant, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.observe(now);
        let hash = self.hasher.hash_one(key);
        self.sketch.increment(hash);
        if let Some(idx) = self.find(hash, key) {
            if !self.store.entry(idx).is_expired(now) {
                self.on_hit(idx);
                return Some(&self.store.entry(idx).value);
            }
            self.expire(idx, hash);
        }
        self.pending_miss = Some(hash);
        self.counters[0].misses += 1;
        self.counters[1].misses += 1;
        self.tune_window(false);
        if let Some(ghost) = self.take_ghost(hash) {
            self.ghost_nudge(ghost);
        }
        None
    }

    /// The value of `key` if it is cached and not expired at `now`, without counting a
    /// lookup, touching the sketch or moving the entry.
    pub fn peek<Q>(&self, now: Instant, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let idx = self.find(self.hasher.hash_one(key), key)?;
        let e = self.store.entry(idx);
        (!e.is_expired(now.as_nanos().max(self.latest))).then_some(&e.value)
    }

    /// Whether `key` is cached and not expired at `now` (as [`peek`](Cache::peek)).
    pub fn contains_key<Q>(&self, now: Instant, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peek(now, key).is_some()
    }

    /// Stores `value` under `key` with the default time to live, and returns the value it
    /// replaced (if that one had not expired).
    ///
    /// A new entry enters L2 and may evict others (or itself, if the policy prefers what
    /// is cached). An entry heavier than `capacity - l1_capacity` is not kept: it counts as
    /// inserted and evicted at once. A default TTL that would run past
    /// [`Instant::MAX`] means "never expires".
    pub fn insert(&mut self, now: Instant, key: K, value: V) -> Option<V> {
        let deadline = match self.config.default_ttl {
            Some(ttl) => now.checked_add(ttl).map_or(NEVER, Instant::as_nanos),
            None => NEVER,
        };
        self.insert_at(now, key, value, deadline)
    }

    /// As [`insert`](Cache::insert), with this entry's own time to live.
    ///
    /// # Errors
    /// [`CacheError::ZeroTtl`] for a zero `ttl`, [`CacheError::TtlOverflow`] if `now + ttl`
    /// is past [`Instant::MAX`]. Nothing changes then.
    pub fn insert_with_ttl(
        &mut self,
        now: Instant,
        key: K,
        value: V,
        ttl: Duration,
    ) -> Result<Option<V>, CacheError> {
        config::check_ttl(ttl)?;
        let deadline = now
            .checked_add(ttl)
            .ok_or(CacheError::TtlOverflow { ttl })?;
        Ok(self.insert_at(now, key, value, deadline.as_nanos()))
    }

    /// The value of `key`, inserting `make()` (with the default time to live) on a miss:
    /// [`get`](Cache::get) and [`insert`](Cache::insert) in one lookup of the index.
    ///
    /// Counts a hit or a miss like `get`. Returns `None` only when the new value was not
    /// kept: heavier than `capacity - l1_capacity`, or refused at once by the admission
    /// policy (possible while the admission window is closed; see the module
    /// documentation). It then went to an [`CacheEvent::Evicted`] event, if recorded.
    ///
    /// # Example
    /// ```
    /// use perfopt_core::Instant;
    /// use perfopt_core::cache::{Cache, CacheConfig};
    ///
    /// let mut cache = Cache::new(CacheConfig::new(100))?;
    /// let mut loads = 0;
    /// for _ in 0..3 {
    ///     let v = cache.get_or_insert_with(Instant::ZERO, "k", || {
    ///         loads += 1;
    ///         42
    ///     });
    ///     assert_eq!(v, Some(&42));
    /// }
    /// assert_eq!(loads, 1);
    /// assert_eq!((cache.stats().hits(), cache.stats().misses()), (2, 1));
    /// # Ok::<(), perfopt_core::cache::CacheError>(())
    /// ```
    pub fn get_or_insert_with(
        &mut self,
        now: Instant,
        key: K,
        make: impl FnOnce() -> V,
    ) -> Option<&V> {
        let now = self.observe(now);
        let hash = self.hasher.hash_one(&key);
        self.sketch.increment(hash);
        // Taken before the lookup (a cached key has no ghost), acted on if it misses.
        let ghost = self.take_ghost(hash);
        let slots = &self.store.slots;
        let hasher = &self.hasher;
        let found = self.table.entry(
            hash,
            |&i| matches!(&slots[i as usize].entry, Some(e) if e.key == key),
            |&i| policy::rehash(slots, hasher, i),
        );
        let vacant = match found {
            hash_table::Entry::Occupied(o) => {
                let idx = *o.get();
                if !self.store.entry(idx).is_expired(now) {
                    self.on_hit(idx);
                    return Some(&self.store.entry(idx).value);
                }
                self.expire(idx, hash);
                None
            }
            hash_table::Entry::Vacant(v) => Some(v),
        };
        let value = make();
        let weight = self.weigher.weight(&key, &value).max(1);
        let deadline = match self.config.default_ttl {
            Some(ttl) => Instant::from_nanos(now)
                .checked_add(ttl)
                .map_or(NEVER, Instant::as_nanos),
            None => NEVER,
        };
        self.counters[0].misses += 1;
        self.counters[1].misses += 1;
        self.counters[1].inserts += 1;
        if weight > self.max_entry_weight {
            self.tune_window(false);
            self.reject(key, value);
            return None;
        }
        let entry = Entry::new(key, value, deadline);
        let idx = match vacant {
            Some(v) => {
                let idx = self.store.alloc(entry, self.max_entries + 1);
                v.insert(idx);
                self.tune_window(false);
                self.link_new(idx, weight);
                idx
            }
            None => {
                self.tune_window(false);
                self.insert_new(hash, entry, weight)
            }
        };
        if let Some(ghost) = ghost {
            self.ghost_nudge(ghost);
        }
        // The admission policy may have refused the new entry at once.
        self.store.slots[idx as usize]
            .entry
            .as_ref()
            .map(|e| &e.value)
    }

    /// Removes `key` and returns its value, if it was cached and not expired as of the
    /// latest `now` the cache was given (an expired entry is removed too, as an
    /// expiration, and `None` is returned). It takes no `now` of its own: call it after a
    /// time-taking call (`get`, `insert`, `handle_timeout`) of the same instant.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let idx = self.find(hash, key)?;
        if self.store.entry(idx).is_expired(self.latest) {
            self.expire(idx, hash);
            return None;
        }
        let (entry, seg) = self.remove_index(idx, hash);
        self.tier_counters(seg).removals += 1;
        Some(entry.value)
    }

    /// Frees expired entries (events are queued when recorded): every entry whose deadline
    /// is a wheel tick (2²⁰ ns, ~1 ms) or more before `now`, and those of earlier ticks;
    /// an entry expired within the current tick is freed by a later call (it is never
    /// returned meanwhile). Cheap when nothing is due; safe to call at any time.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.observe(now);
        while let Some(idx) = self.wheel.pop_due(&mut self.store.slots, now) {
            let hash = self.hasher.hash_one(&self.store.entry(idx).key);
            self.expire(idx, hash);
        }
    }

    /// When to call [`handle_timeout`](Cache::handle_timeout) next, or `None` if no entry
    /// has a deadline: the end of the timer-wheel tick (2²⁰ ns, ~1 ms) holding the earliest
    /// deadline, so at most one tick after it — or earlier, when the wheel must move far
    /// entries down a level (a spurious wake-up, harmless).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wheel.next_expiry().map(Instant::from_nanos)
    }

    /// The next eviction or expiry event, oldest first (only with
    /// [`CacheConfig::record_events`]).
    pub fn poll_event(&mut self) -> Option<CacheEvent<K, V>> {
        self.events.pop_front()
    }

    /// Entries held, including expired ones not collected yet.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// Total weight held (both tiers).
    pub fn weight(&self) -> u64 {
        self.weights.iter().sum()
    }

    /// The settings the cache was built with.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Drops every entry (no events), counted as `cleared`; statistics are kept.
    pub fn clear(&mut self) {
        self.counters[0].cleared += self.store.count(Segment::Protected) as u64;
        self.counters[1].cleared +=
            (self.store.count(Segment::Window) + self.store.count(Segment::Probation)) as u64;
        self.table.clear();
        self.store.clear();
        self.wheel.clear();
        self.sketch.clear();
        self.ghosts.clear();
        self.ghost_credit = 0;
        self.weights = [0; 3];
        self.pending_miss = None;
    }

    /// Statistics per tier, with current sizes.
    pub fn stats(&self) -> CacheStats {
        let [mut l1, mut l2] = self.counters;
        l1.len = self.store.count(Segment::Protected) as u64;
        l1.weight = self.weights[Segment::Protected as usize];
        l2.len = (self.store.count(Segment::Window) + self.store.count(Segment::Probation)) as u64;
        l2.weight =
            self.weights[Segment::Window as usize] + self.weights[Segment::Probation as usize];
        CacheStats {
            l1,
            l2,
            capacity: self.config.capacity,
            l1_capacity: self.config.l1_capacity,
        }
    }

    /// Bytes this cache has allocated on the heap: the entries (keys and values inline,
    /// not what they own), the index table, the sketch, the timer wheel and the event
    /// queue. With `size_of::<Cache>()` this is the whole memory of the cache.
    pub fn heap_bytes(&self) -> usize {
        self.table.allocation_size()
            + self.store.heap_bytes()
            + self.sketch.heap_bytes()
            + self.ghosts.heap_bytes()
            + self.wheel.heap_bytes()
            + self.events.capacity() * core::mem::size_of::<CacheEvent<K, V>>()
    }

    /// The slab index of `key`.
    #[inline]
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slots = &self.store.slots;
        self.table
            .find(
                hash,
                |&i| matches!(&slots[i as usize].entry, Some(e) if e.key.borrow() == key),
            )
            .copied()
    }

    /// Counts a hit on the live entry at `idx` and marks it referenced.
    #[inline]
    fn on_hit(&mut self, idx: u32) {
        let seg = self.store.segment(idx);
        self.tune_window(true);
        match seg.tier() {
            Tier::L1 => self.counters[0].hits += 1,
            Tier::L2 => {
                self.counters[0].misses += 1;
                self.counters[1].hits += 1;
            }
        }
        if seg == Segment::Probation {
            // A hit on probation promotes at once, so L1 is the hot set even while the
            // cache is not full (no eviction has walked probation yet).
            self.promote(idx);
        } else {
            self.on_access(idx);
        }
    }

    /// Counts a lookup for the hill climber; at the end of a sample, moves the window and
    /// L1's target (the segments follow at the next eviction).
    #[inline]
    fn tune_window(&mut self, hit: bool) {
        if let Some(window) = self.climber.record(hit) {
            self.window_capacity = window;
            self.l1_target =
                policy::l1_target(self.config.capacity, self.config.l1_capacity, window);
            self.shrink_l1();
        }
    }

    /// Records `now` (nanoseconds) as the latest instant and returns the instant to use.
    #[inline]
    fn observe(&mut self, now: Instant) -> u64 {
        self.latest = self.latest.max(now.as_nanos());
        self.latest
    }

    fn insert_at(&mut self, now: Instant, key: K, value: V, deadline: u64) -> Option<V> {
        let now = self.observe(now);
        let hash = self.hasher.hash_one(&key);
        if self.pending_miss.take() != Some(hash) {
            self.sketch.increment(hash);
        }
        let weight = self.weigher.weight(&key, &value).max(1);
        let slots = &self.store.slots;
        let hasher = &self.hasher;
        let found = self.table.entry(
            hash,
            |&i| matches!(&slots[i as usize].entry, Some(e) if e.key == key),
            |&i| policy::rehash(slots, hasher, i),
        );
        let vacant = match found {
            hash_table::Entry::Occupied(o) => {
                let idx = *o.get();
                if !self.store.entry(idx).is_expired(now) {
                    return Some(self.update(idx, hash, value, weight, deadline));
                }
                self.expire(idx, hash);
                None
            }
            hash_table::Entry::Vacant(v) => Some(v),
        };
        self.counters[1].inserts += 1;
        if weight > self.max_entry_weight {
            self.reject(key, value);
            return None;
        }
        let entry = Entry::new(key, value, deadline);
        match vacant {
            Some(v) => {
                let idx = self.store.alloc(entry, self.max_entries + 1);
                v.insert(idx);
                self.link_new(idx, weight);
            }
            None => {
                self.insert_new(hash, entry, weight);
            }
        }
        None
    }

    /// Counts and reports a new value too heavy to keep (its insert is already counted).
    fn reject(&mut self, key: K, value: V) {
        self.counters[1].evictions += 1;
        self.emit(CacheEvent::Evicted {
            key,
            value,
            tier: Tier::L2,
        });
    }

    /// Removes the entry at `idx` as expired.
    fn expire(&mut self, idx: u32, hash: u64) {
        let (entry, seg) = self.remove_index(idx, hash);
        self.tier_counters(seg).expirations += 1;
        self.emit(CacheEvent::Expired {
            key: entry.key,
            value: entry.value,
            tier: seg.tier(),
        });
    }

    fn tier_counters(&mut self, seg: Segment) -> &mut TierStats {
        match seg.tier() {
            Tier::L1 => &mut self.counters[0],
            Tier::L2 => &mut self.counters[1],
        }
    }

    fn emit(&mut self, event: CacheEvent<K, V>) {
        if self.config.record_events {
            self.events.push_back(event);
        }
    }
}

impl<K, V, W, S> fmt::Debug for Cache<K, V, W, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config)
            .field("len", &self.store.len())
            .field("weight", &self.weights.iter().sum::<u64>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
