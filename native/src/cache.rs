//! A thread-safe, sharded TTL cache with single-flight loading: the host of
//! [`perfopt_core::cache`].
//!
//! [`Cache`] splits its capacity over shards, each a core cache behind a `Mutex`, picked by
//! the key's hash (like quick_cache's `sync`), so threads working on different keys rarely
//! meet on a lock. It reads the clock ([`crate::clock`]) and drives each shard's expiry
//! opportunistically on writes; all policy (tiers, admission, eviction, TTL) is core's.
//!
//! [`Cache::get_or_load`] loads a missing key **once** however many tasks ask for it at the
//! same time: the first caller runs its loader, the others wait for its result. A loader
//! error reaches every waiter (as one shared `Arc<E>`) and is not cached, so the next call
//! loads again; if the loading task is dropped (cancelled, timed out, panicked), a waiting
//! caller takes over with its own loader, so nobody waits forever.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use perfopt::cache::Cache;
//! use perfopt_core::cache::CacheConfig;
//!
//! let cache: Cache<String, u64> = Cache::new(CacheConfig::new(10_000)).expect("valid");
//! let v = cache
//!     .get_or_load("user:7".to_string(), || async { Ok::<_, std::io::Error>(7) })
//!     .await
//!     .expect("loaded");
//! assert_eq!(v, 7);
//! assert_eq!(cache.get("user:7"), Some(7));
//! assert_eq!(cache.stats().hits(), 1);
//! # }
//! ```

use std::any::{Any, TypeId};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use perfopt_core::Instant;
use perfopt_core::cache::{Cache as CoreCache, DefaultHasher};
/// The core types a cache user needs, so one crate is enough: `perfopt::cache::CacheConfig`.
pub use perfopt_core::cache::{
    CacheConfig, CacheError, CacheEvent, CacheStats, Tier, TierStats, UnitWeigher, Weigher,
};
use tokio::sync::watch;

use crate::clock;

/// The error of a failed [`Cache::get_or_load`]: the loader's error, shared (one `Arc`) by
/// every caller that waited for the same load.
///
/// It displays as "the cache loader failed" and gives the loader's error as its
/// [`source`](std::error::Error::source), so error reports (`anyhow`'s `{:#}`, for one) show
/// both without repeating either. [`get_ref`](LoadError::get_ref) reaches the loader's error.
pub struct LoadError<E>(Arc<E>);

impl<E> LoadError<E> {
    /// The loader's error.
    pub fn get_ref(&self) -> &E {
        &self.0
    }

    /// The shared loader's error, as every waiting caller received it.
    pub fn into_shared(self) -> Arc<E> {
        self.0
    }
}

impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        LoadError(Arc::clone(&self.0))
    }
}

impl<E: fmt::Debug> fmt::Debug for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LoadError").field(&self.0).finish()
    }
}

impl<E> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the cache loader failed")
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LoadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Fewest weight units a shard is given when the shard count is chosen automatically.
const MIN_SHARD_CAPACITY: u64 = 256;

/// The outcome of a load, as every waiter sees it.
type Outcome<V, E> = Option<Result<V, Arc<E>>>;

/// One load in flight: waiters subscribe to `tx`; when the last `Arc` of the flight is
/// dropped without a result, their `changed()` fails and they retry.
struct Flight<V, E> {
    tx: watch::Sender<Outcome<V, E>>,
}

/// Loads in flight of one shard, by key and error type.
type Flights<K> = HashMap<(K, TypeId), Box<dyn Any + Send + Sync>>;

struct Shard<K, V, W> {
    cache: Mutex<CoreCache<K, V, W, DefaultHasher>>,
    flights: Mutex<Flights<K>>,
}

/// Locks `m`, ignoring poisoning: a shard is only mutated through core's methods, which
/// leave it consistent at every return, so a panic elsewhere cannot leave it half-changed.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sharded, thread-safe cache; see the [module documentation](self).
pub struct Cache<K, V, W = UnitWeigher> {
    shards: Box<[Shard<K, V, W>]>,
    /// Picks the shard of a key (independent of the shards' own hashers).
    hasher: DefaultHasher,
    config: CacheConfig,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache counting entries, with a shard count chosen from the machine's parallelism
    /// (fewer for small capacities).
    ///
    /// # Errors
    /// A [`CacheError`] naming the first invalid setting (see [`CacheConfig::validate`]).
    pub fn new(config: CacheConfig) -> Result<Self, CacheError> {
        Self::with_weigher(config, UnitWeigher)
    }

    /// A cache counting entries, with `shards` shards (rounded up to a power of two, at
    /// most one per unit of capacity).
    ///
    /// # Errors
    /// As [`Cache::new`].
    pub fn with_shards(config: CacheConfig, shards: usize) -> Result<Self, CacheError> {
        Self::with_weigher_and_shards(config, UnitWeigher, shards)
    }
}

impl<K, V, W> Cache<K, V, W>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    W: Weigher<K, V> + Clone,
{
    /// A cache whose capacity counts `weigher` units. Each shard holds its share of the
    /// capacity, so an entry heavier than a shard's L2 room is not kept.
    ///
    /// # Errors
    /// As [`Cache::new`].
    pub fn with_weigher(config: CacheConfig, weigher: W) -> Result<Self, CacheError> {
        let parallelism = std::thread::available_parallelism().map_or(4, usize::from);
        let by_capacity = usize::try_from(config.capacity / MIN_SHARD_CAPACITY)
            .unwrap_or(usize::MAX)
            .max(1);
        Self::with_weigher_and_shards(config, weigher, (parallelism * 4).min(by_capacity))
    }

    /// A cache with a custom weigher and shard count.
    ///
    /// # Errors
    /// As [`Cache::new`].
    pub fn with_weigher_and_shards(
        config: CacheConfig,
        weigher: W,
        shards: usize,
    ) -> Result<Self, CacheError> {
        config.validate()?;
        let max = usize::try_from(config.capacity).unwrap_or(usize::MAX);
        let n = shards.clamp(1, max.max(1)).next_power_of_two();
        // A power of two above `max` would leave a shard without capacity.
        let n = if n as u64 > config.capacity { n / 2 } else { n }.max(1);
        let mut out = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let capacity = config.capacity / n as u64 + u64::from(i < config.capacity % n as u64);
            // l1 < capacity keeps the shard's l1 below its capacity too.
            let l1 = u64::try_from(
                u128::from(config.l1_capacity) * u128::from(capacity) / u128::from(config.capacity),
            )
            .unwrap_or(0);
            let shard_config = CacheConfig {
                capacity,
                l1_capacity: l1,
                ..config.clone()
            };
            let cache = CoreCache::with_weigher_and_hasher(
                shard_config,
                weigher.clone(),
                DefaultHasher::default(),
            )?;
            out.push(Shard {
                cache: Mutex::new(cache),
                flights: Mutex::new(HashMap::new()),
            });
        }
        Ok(Cache {
            shards: out.into_boxed_slice(),
            hasher: DefaultHasher::default(),
            config,
        })
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &Shard<K, V, W> {
        let h = self.hasher.hash_one(key);
        // `shards.len()` is a power of two: the top bits pick one.
        let i = (h >> 32) as usize & (self.shards.len() - 1);
        &self.shards[i]
    }

    /// The value of `key` (a clone), if cached and not expired. Counts a hit or a miss.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let ttl = self.config.default_ttl.is_some();
        // With a default TTL every entry has a deadline: read the clock outside the lock.
        let early = ttl.then(clock::now);
        let mut shard = lock(&self.shard(key).cache);
        let now = early.unwrap_or_else(|| Self::now_if_timed(&shard));
        shard.get(now, key).cloned()
    }

    /// The time for a call on `shard` without a default TTL: the clock if some entry of the
    /// shard has a deadline (from `insert_with_ttl`), else [`Instant::ZERO`] — no entry can
    /// expire then, so the time changes nothing (core keeps the latest instant it saw) and
    /// the clock read, a good part of a cache hit, is saved.
    #[inline]
    fn now_if_timed(shard: &CoreCache<K, V, W, DefaultHasher>) -> Instant {
        if shard.poll_timeout().is_some() {
            clock::now()
        } else {
            Instant::ZERO
        }
    }

    /// The value of `key` (a clone) without counting a lookup or touching the policy.
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        lock(&self.shard(key).cache)
            .peek(clock::now(), key)
            .cloned()
    }

    /// Stores `value` under `key` with the default time to live; returns the value it
    /// replaced.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        // As in `get`: without a default TTL the clock is read only for a shard holding
        // entries with a deadline.
        let early = self.config.default_ttl.is_some().then(clock::now);
        let mut shard = lock(&self.shard(&key).cache);
        let now = early.unwrap_or_else(|| Self::now_if_timed(&shard));
        let old = shard.insert(now, key, value);
        Self::expire_due(&mut shard, now);
        old
    }

    /// Stores `value` under `key` for `ttl`; returns the value it replaced.
    ///
    /// # Errors
    /// [`CacheError::ZeroTtl`] or [`CacheError::TtlOverflow`]; nothing changes then.
    pub fn insert_with_ttl(
        &self,
        key: K,
        value: V,
        ttl: Duration,
    ) -> Result<Option<V>, CacheError> {
        let now = clock::now();
        let mut shard = lock(&self.shard(&key).cache);
        let old = shard.insert_with_ttl(now, key, value, ttl)?;
        Self::expire_due(&mut shard, now);
        Ok(old)
    }

    /// Removes `key`; returns its value if it was cached and not expired.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = lock(&self.shard(key).cache);
        // Tell the shard the time first: `remove` judges expiry by the latest instant.
        shard.handle_timeout(clock::now());
        shard.remove(key)
    }

    /// The value of `key`, computing and inserting `make()` on a miss. `make` runs outside
    /// the shard's lock, so two threads missing the same key at once may both run it (the
    /// later insert wins); use [`get_or_load`](Cache::get_or_load) for exactly-once loads.
    pub fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> V {
        if let Some(v) = self.get(&key) {
            return v;
        }
        let value = make();
        self.insert(key, value.clone());
        value
    }

    /// The value of `key`, loading it with `loader` on a miss — once, however many tasks
    /// ask at the same time (single flight; see the [module documentation](self)).
    ///
    /// # Errors
    /// A [`LoadError`] holding the loader's error, shared by every caller that waited for
    /// that load; it is not cached. `LoadError<E>` implements [`std::error::Error`] when `E`
    /// does (the loader's error is its [`source`](std::error::Error::source)), so `?` works
    /// in functions returning `anyhow::Result`, `Box<dyn Error + Send + Sync>`, or your own
    /// error enum with a `From<LoadError<E>>`:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use perfopt::cache::{Cache, LoadError};
    /// use perfopt_core::cache::CacheConfig;
    ///
    /// #[derive(Debug)]
    /// enum AppError {
    ///     Db(LoadError<std::io::Error>),
    /// }
    /// impl From<LoadError<std::io::Error>> for AppError {
    ///     fn from(e: LoadError<std::io::Error>) -> Self {
    ///         AppError::Db(e)
    ///     }
    /// }
    ///
    /// async fn name(cache: &Cache<u64, String>, id: u64) -> Result<String, AppError> {
    ///     let v = cache
    ///         .get_or_load(id, || async move {
    ///             if id == 0 {
    ///                 Err(std::io::Error::other("no user 0"))
    ///             } else {
    ///                 Ok(format!("user {id}"))
    ///             }
    ///         })
    ///         .await?;
    ///     Ok(v)
    /// }
    ///
    /// async fn boxed(cache: &Cache<u64, String>) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    ///     Ok(cache.get_or_load(1, || async { Ok::<_, std::io::Error>("one".into()) }).await?)
    /// }
    ///
    /// let cache = Cache::new(CacheConfig::new(100)).unwrap();
    /// assert_eq!(name(&cache, 7).await.unwrap(), "user 7");
    /// let AppError::Db(e) = name(&cache, 0).await.unwrap_err();
    /// assert_eq!(e.get_ref().to_string(), "no user 0");
    /// assert_eq!(boxed(&cache).await.unwrap(), "one");
    /// # }
    /// ```
    pub async fn get_or_load<F, Fut, E>(&self, key: K, loader: F) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        self.load_shared(key, loader).await.map_err(LoadError)
    }

    async fn load_shared<F, Fut, E>(&self, key: K, loader: F) -> Result<V, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        let shard = self.shard(&key);
        let flight_key = (key.clone(), TypeId::of::<E>());
        let mut loader = Some(loader);
        loop {
            // Under the flights lock: a leader inserts its value before it removes its
            // flight, so a caller that finds no flight here also finds the value.
            let role = {
                let mut flights = lock(&shard.flights);
                if let Some(v) = lock(&shard.cache).get(clock::now(), &key).cloned() {
                    return Ok(v);
                }
                let waiting = flights
                    .get(&flight_key)
                    .and_then(|f| f.downcast_ref::<Arc<Flight<V, E>>>())
                    .map(|f| f.tx.subscribe());
                match waiting {
                    Some(rx) => Role::Wait(rx),
                    None => {
                        let (tx, _) = watch::channel(None);
                        let flight = Arc::new(Flight { tx });
                        flights.insert(flight_key.clone(), Box::new(Arc::clone(&flight)));
                        Role::Lead(LeadGuard {
                            flights: &shard.flights,
                            key: Some(flight_key.clone()),
                            flight,
                        })
                    }
                }
            };
            match role {
                Role::Lead(guard) => {
                    let Some(load) = loader.take() else {
                        // Invariant: a caller leads at most once (it returns after leading).
                        unreachable!("single-flight caller led twice")
                    };
                    let result = load().await.map_err(Arc::new);
                    if let Ok(v) = &result {
                        self.insert(key, v.clone());
                    }
                    guard.finish(result.clone());
                    return result;
                }
                Role::Wait(mut rx) => {
                    loop {
                        if let Some(outcome) = rx.borrow_and_update().clone() {
                            return outcome;
                        }
                        if rx.changed().await.is_err() {
                            break;
                        }
                    }
                    if let Some(outcome) = rx.borrow().clone() {
                        return outcome;
                    }
                    // The leader was dropped without a result: try again (and maybe lead).
                }
            }
        }
    }

    /// Frees expired entries in every shard (inserts already do this for their shard).
    pub fn run_pending_tasks(&self) {
        let now = clock::now();
        for s in self.shards.iter() {
            lock(&s.cache).handle_timeout(now);
        }
    }

    /// When the earliest entry of any shard may expire (see
    /// [`perfopt_core::cache::Cache::poll_timeout`]).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.shards
            .iter()
            .filter_map(|s| lock(&s.cache).poll_timeout())
            .min()
    }

    /// Drains the eviction and expiry events of every shard (recorded only with
    /// [`CacheConfig::record_events`]).
    pub fn drain_events(&self) -> Vec<CacheEvent<K, V>> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            let mut c = lock(&s.cache);
            while let Some(e) = c.poll_event() {
                out.push(e);
            }
        }
        out
    }

    /// Statistics summed over the shards.
    pub fn stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for s in self.shards.iter() {
            total.merge(&lock(&s.cache).stats());
        }
        total
    }

    /// Entries held (including expired ones not yet freed).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.cache).len()).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Weight held.
    pub fn weight(&self) -> u64 {
        self.shards.iter().map(|s| lock(&s.cache).weight()).sum()
    }

    /// Drops every entry (statistics are kept).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            lock(&s.cache).clear();
        }
    }

    /// The settings, as given (each shard holds its share).
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    fn expire_due(shard: &mut CoreCache<K, V, W, DefaultHasher>, now: Instant) {
        if shard.poll_timeout().is_some_and(|t| t <= now) {
            shard.handle_timeout(now);
        }
    }
}

/// Fewest lookups a [`CacheSource`] hit-rate sample stands for (fewer are carried over).
pub const MIN_LOOKUPS_PER_SAMPLE: u64 = 50;

/// A [`Cache`] as a monitor component: its statistics go into the report's
/// `components.<name>` (and so into `/metrics`), and each sample gets the hit rate of the
/// last interval as [`perfopt_core::report::metrics::CACHE_HIT_RATE`], which the `cache_hit_rate` rule watches.
///
/// ```no_run
/// # async fn f(monitor: perfopt::monitor::MonitorHandle) {
/// use std::sync::Arc;
/// use perfopt::cache::{Cache, CacheSource};
/// use perfopt_core::cache::CacheConfig;
///
/// let cache: Arc<Cache<u64, String>> = Arc::new(Cache::new(CacheConfig::new(10_000)).unwrap());
/// monitor.add_component(Arc::new(CacheSource::new("cache", cache.clone())));
/// # }
/// ```
pub struct CacheSource<K, V, W = UnitWeigher> {
    name: &'static str,
    cache: Arc<Cache<K, V, W>>,
    last: Mutex<(u64, u64)>,
}

impl<K, V, W> CacheSource<K, V, W> {
    /// Reports `cache` under `components.<name>`.
    pub fn new(name: &'static str, cache: Arc<Cache<K, V, W>>) -> Self {
        CacheSource {
            name,
            cache,
            last: Mutex::new((0, 0)),
        }
    }
}

impl<K, V, W> crate::monitor::ComponentSource for CacheSource<K, V, W>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    W: Weigher<K, V> + Clone + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::to_value(self.cache.stats()).unwrap_or_default()
    }

    /// The hit rate of the lookups since the last sample that had any — weighted by
    /// lookups: an interval with fewer than [`MIN_LOOKUPS_PER_SAMPLE`] lookups gives no
    /// sample and its lookups count in the next one, so two cold misses at start-up cannot
    /// make a 0 % sample that weighs as much as a busy interval.
    fn sample(&self) -> Vec<(&'static str, f64)> {
        let s = self.cache.stats();
        let (hits, misses) = (s.hits(), s.misses());
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let (dh, dm) = (hits.saturating_sub(last.0), misses.saturating_sub(last.1));
        if dh + dm < MIN_LOOKUPS_PER_SAMPLE {
            return Vec::new();
        }
        *last = (hits, misses);
        vec![(
            perfopt_core::report::metrics::CACHE_HIT_RATE,
            dh as f64 * 100.0 / (dh + dm) as f64,
        )]
    }
}

impl<K, V, W> fmt::Debug for Cache<K, V, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

enum Role<'a, K: Hash + Eq, V, E> {
    Lead(LeadGuard<'a, K, V, E>),
    Wait(watch::Receiver<Outcome<V, E>>),
}

/// Held by the caller running the loader. Finishing publishes the outcome; dropping it
/// unfinished (cancellation, panic) removes the flight so a waiter takes over.
struct LeadGuard<'a, K: Hash + Eq, V, E> {
    flights: &'a Mutex<Flights<K>>,
    key: Option<(K, TypeId)>,
    flight: Arc<Flight<V, E>>,
}

impl<K: Hash + Eq, V, E> LeadGuard<'_, K, V, E> {
    fn finish(mut self, outcome: Result<V, Arc<E>>) {
        self.unregister();
        self.flight.tx.send_replace(Some(outcome));
    }

    /// Removes this flight from the map (once).
    fn unregister(&mut self) {
        if let Some(key) = self.key.take() {
            lock(self.flights).remove(&key);
        }
    }
}

impl<K: Hash + Eq, V, E> Drop for LeadGuard<'_, K, V, E> {
    fn drop(&mut self) {
        // Unfinished: the flight leaves the map, and with the last `Arc` its sender, so
        // every waiter's `changed()` fails and it retries.
        self.unregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::ComponentSource;

    #[test]
    fn hit_rate_samples_are_weighted_by_lookups() {
        let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(CacheConfig::new(100)).unwrap());
        let source = CacheSource::new("cache", Arc::clone(&cache));
        // No lookups: no sample.
        assert!(source.sample().is_empty());
        // Two cold misses: too few to be a sample of their own.
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2), None);
        assert!(source.sample().is_empty());
        // Then 98 hits: one sample over all 100 lookups, not 0 % then 100 %.
        cache.insert(1, 1);
        for _ in 0..98 {
            assert_eq!(cache.get(&1), Some(1));
        }
        assert_eq!(
            source.sample(),
            vec![(perfopt_core::report::metrics::CACHE_HIT_RATE, 98.0)]
        );
        // The next interval starts afresh.
        assert!(source.sample().is_empty());
        for _ in 0..MIN_LOOKUPS_PER_SAMPLE {
            assert_eq!(cache.get(&7), None);
        }
        assert_eq!(
            source.sample(),
            vec![(perfopt_core::report::metrics::CACHE_HIT_RATE, 0.0)]
        );
    }

    #[test]
    fn without_default_ttl_an_entry_ttl_still_expires() {
        // The clock is skipped for shards without timed entries; a shard with one reads it.
        let cache: Cache<u64, u64> = Cache::with_shards(CacheConfig::new(64), 1).expect("valid");
        cache.insert(1, 1);
        assert_eq!(cache.get(&1), Some(1));
        cache
            .insert_with_ttl(2, 2, Duration::from_millis(20))
            .expect("valid ttl");
        assert_eq!(cache.get(&2), Some(2));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.get(&1), Some(1));
        cache.insert(3, 3);
        assert_eq!(cache.get(&3), Some(3));
        assert_eq!(cache.stats().expirations(), 1);
    }
}
