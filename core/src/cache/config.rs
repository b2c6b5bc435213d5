//! Settings, errors and weighers of the cache.

use core::fmt;
use core::time::Duration;

use serde::{Deserialize, Serialize};

/// The hasher a [`Cache`](super::Cache) uses unless told otherwise: foldhash, seeded per
/// instance (no_std-friendly, minimally DoS-resistant).
pub type DefaultHasher = foldhash::fast::RandomState;

/// Settings of a [`Cache`](super::Cache).
///
/// Capacities are in weight units: entries with the default [`UnitWeigher`], or whatever a
/// custom [`Weigher`] counts (bytes, say). Every entry weighs at least 1.
///
/// # Tiers
/// - **L1** (hot) holds entries that were hit again after admission to the main space (a
///   hit on probation promotes at once, full cache or not); it never holds more than
///   `l1_capacity`, and less while the adaptive admission window is large (its target is
///   `l1_capacity × (capacity − window) / capacity`).
/// - **L2** holds new entries (the admission window; hits there count as L2 hits),
///   entries admitted but not hit since, and entries demoted from L1; it holds what L1 leaves free:
///   at most `capacity - weight(L1)`, so always at least `capacity - l1_capacity`.
///
/// Both tiers together never hold more than `capacity`. [`CacheConfig::new`] picks the
/// split that measured best ([`CacheConfig::RECOMMENDED_L1_PERCENT`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// Total weight both tiers may hold. Must be at least 1.
    pub capacity: u64,
    /// Weight the hot tier (L1) may hold; must be below `capacity` so L2 has room. `0`
    /// disables L1 (every entry stays in L2).
    pub l1_capacity: u64,
    /// Time to live of entries inserted with [`Cache::insert`](super::Cache::insert);
    /// `None`: they never expire. Must not be zero.
    pub default_ttl: Option<Duration>,
    /// Queue a [`CacheEvent`](super::CacheEvent) for every eviction and expiry, to be
    /// drained with [`Cache::poll_event`](super::Cache::poll_event). Off by default: a host
    /// that turns it on must drain the queue.
    pub record_events: bool,
}

impl CacheConfig {
    /// Share of `capacity` given to L1 by [`CacheConfig::new`], in percent. Measured on the
    /// Zipf and scan traces: 90 % beats 80 % (Caffeine's) by 0.1–0.3 points and 50 % or
    /// 20 % by up to 1.5 points at 1,000 entries; above 95 % the 10,000-entry runs lose.
    pub const RECOMMENDED_L1_PERCENT: u64 = 90;

    /// A cache of `capacity` weight units, L1 at the recommended share, no TTL, no events.
    ///
    /// # Example
    /// ```
    /// use perfopt_core::cache::CacheConfig;
    ///
    /// let config = CacheConfig::new(1_000);
    /// assert_eq!(config.l1_capacity, 900);
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn new(capacity: u64) -> CacheConfig {
        // Keep at least one unit for L2; with capacity 1 L1 is 0.
        let l1 = capacity / 100 * Self::RECOMMENDED_L1_PERCENT
            + capacity % 100 * Self::RECOMMENDED_L1_PERCENT / 100;
        CacheConfig {
            capacity,
            l1_capacity: l1.min(capacity.saturating_sub(1)),
            default_ttl: None,
            record_events: false,
        }
    }

    /// This config with `default_ttl` set.
    pub fn with_default_ttl(mut self, ttl: Duration) -> CacheConfig {
        self.default_ttl = Some(ttl);
        self
    }

    /// Checks the settings; [`Cache::new`](super::Cache::new) calls this.
    ///
    /// # Errors
    /// [`CacheError::ZeroCapacity`], [`CacheError::L1TooLarge`], [`CacheError::ZeroTtl`] or
    /// [`CacheError::TtlOverflow`], for the first setting that is wrong.
    pub fn validate(&self) -> Result<(), CacheError> {
        if self.capacity == 0 {
            return Err(CacheError::ZeroCapacity);
        }
        if self.l1_capacity >= self.capacity {
            return Err(CacheError::L1TooLarge {
                l1_capacity: self.l1_capacity,
                capacity: self.capacity,
            });
        }
        if let Some(ttl) = self.default_ttl {
            check_ttl(ttl)?;
        }
        Ok(())
    }
}

/// Checks a time to live on its own (not against a `now`).
pub(super) fn check_ttl(ttl: Duration) -> Result<(), CacheError> {
    if ttl.is_zero() {
        return Err(CacheError::ZeroTtl);
    }
    if u64::try_from(ttl.as_nanos()).is_err() {
        return Err(CacheError::TtlOverflow { ttl });
    }
    Ok(())
}

/// Why a cache could not be built, or an entry could not be inserted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheError {
    /// `capacity` is zero: the cache could hold nothing.
    ZeroCapacity,
    /// `l1_capacity` is not below `capacity`, so L2 would have no room for new entries.
    L1TooLarge {
        /// The requested L1 capacity.
        l1_capacity: u64,
        /// The requested total capacity.
        capacity: u64,
    },
    /// A time to live of zero: the entry would be expired before anyone could read it.
    ZeroTtl,
    /// A time to live that does not fit the time type (more than `u64::MAX` nanoseconds,
    /// or past [`Instant::MAX`](crate::Instant::MAX) when added to `now`).
    TtlOverflow {
        /// The requested time to live.
        ttl: Duration,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::ZeroCapacity => f.write_str("cache capacity must be at least 1"),
            CacheError::L1TooLarge {
                l1_capacity,
                capacity,
            } => write!(
                f,
                "l1_capacity ({l1_capacity}) must be below capacity ({capacity}) to leave room for L2"
            ),
            CacheError::ZeroTtl => f.write_str("a time to live must be longer than zero"),
            CacheError::TtlOverflow { ttl } => {
                write!(f, "a time to live of {ttl:?} overflows the time type")
            }
        }
    }
}

impl core::error::Error for CacheError {}

/// How much of the capacity an entry takes.
///
/// The weight of an entry must not change while it is cached (the cache never hands out
/// `&mut V`, so a pure function of key and value is enough). A weight of 0 counts as 1.
/// Closures `Fn(&K, &V) -> u64` are weighers.
///
/// # Example
/// ```
/// use perfopt_core::Instant;
/// use perfopt_core::cache::{Cache, CacheConfig};
///
/// // Capacity in bytes of the values.
/// let weigher = |_k: &u32, v: &String| v.len() as u64;
/// let mut cache = Cache::with_weigher(CacheConfig::new(100), weigher)?;
/// cache.insert(Instant::ZERO, 1, "x".repeat(10));
/// assert_eq!(cache.weight(), 10);
/// # Ok::<(), perfopt_core::cache::CacheError>(())
/// ```
pub trait Weigher<K, V> {
    /// The weight of an entry.
    fn weight(&self, key: &K, value: &V) -> u64;
}

/// Every entry weighs 1: capacities count entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitWeigher;

impl<K, V> Weigher<K, V> for UnitWeigher {
    #[inline]
    fn weight(&self, _key: &K, _value: &V) -> u64 {
        1
    }
}

impl<K, V, F> Weigher<K, V> for F
where
    F: Fn(&K, &V) -> u64,
{
    #[inline]
    fn weight(&self, key: &K, value: &V) -> u64 {
        self(key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn recommended_split_leaves_room_for_l2() {
        for capacity in [1, 2, 3, 10, 99, 100, 101, 1_000, u64::MAX] {
            let c = CacheConfig::new(capacity);
            assert!(c.validate().is_ok(), "{capacity}");
            assert!(c.l1_capacity < capacity);
        }
        assert_eq!(CacheConfig::new(1_000).l1_capacity, 900);
        assert_eq!(CacheConfig::new(10).l1_capacity, 9);
        assert_eq!(CacheConfig::new(2).l1_capacity, 1);
    }

    #[test]
    fn bad_settings_are_named() {
        let mut c = CacheConfig::new(10);
        c.capacity = 0;
        assert_eq!(c.validate(), Err(CacheError::ZeroCapacity));
        let c = CacheConfig {
            l1_capacity: 10,
            ..CacheConfig::new(10)
        };
        assert!(matches!(c.validate(), Err(CacheError::L1TooLarge { .. })));
        let c = CacheConfig::new(10).with_default_ttl(Duration::ZERO);
        assert_eq!(c.validate(), Err(CacheError::ZeroTtl));
        let c = CacheConfig::new(10).with_default_ttl(Duration::MAX);
        assert!(matches!(c.validate(), Err(CacheError::TtlOverflow { .. })));
        assert!(CacheError::ZeroTtl.to_string().contains("longer than zero"));
    }
}
