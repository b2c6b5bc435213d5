//! Statistics and events of the cache.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

/// One of the two tiers of a [`Cache`](super::Cache).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tier {
    /// The hot tier: entries hit again after they entered the cache.
    L1,
    /// The tier of new entries and entries demoted from L1.
    L2,
}

/// Something the cache did on its own, drained with
/// [`Cache::poll_event`](super::Cache::poll_event) when
/// [`CacheConfig::record_events`](super::CacheConfig::record_events) is on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheEvent<K, V> {
    /// The entry was evicted to make room (or was too heavy to keep at all).
    Evicted {
        /// Its key.
        key: K,
        /// Its value.
        value: V,
        /// The tier it was evicted from.
        tier: Tier,
    },
    /// The entry's time to live ran out.
    Expired {
        /// Its key.
        key: K,
        /// Its value.
        value: V,
        /// The tier it expired in.
        tier: Tier,
    },
}

/// Counters and sizes of one tier.
///
/// A lookup first asks L1, then L2: an L1 miss is an L2 lookup, so
/// `l1.hits + l1.misses` is the number of lookups and `l2.hits + l2.misses == l1.misses`.
/// New entries always enter L2, entries move to L1 only by promotion and back by
/// demotion, so for each tier, over the cache's life:
///
/// `len == inserts + promotions_in - promotions_out - evictions - expirations - removals - cleared`
///
/// where for L1 `promotions_in = promotions` and `promotions_out = demotions`, and for L2
/// `promotions_in = l1.demotions` and `promotions_out = l1.promotions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TierStats {
    /// Lookups answered by this tier.
    pub hits: u64,
    /// Lookups this tier could not answer (passed on to L2, or missed).
    pub misses: u64,
    /// New entries stored in this tier (always 0 for L1).
    pub inserts: u64,
    /// Inserts that replaced the value of an entry living in this tier.
    pub updates: u64,
    /// Entries evicted from this tier to make room.
    pub evictions: u64,
    /// Entries whose time to live ran out in this tier.
    pub expirations: u64,
    /// Entries removed by [`Cache::remove`](super::Cache::remove) (or replaced by an entry
    /// too heavy to keep).
    pub removals: u64,
    /// Entries dropped by [`Cache::clear`](super::Cache::clear).
    pub cleared: u64,
    /// Entries promoted from L2 into this tier (always 0 for L2).
    pub promotions: u64,
    /// Entries demoted from this tier to L2 (always 0 for L2).
    pub demotions: u64,
    /// Entries in this tier now (including expired ones not yet collected).
    pub len: u64,
    /// Their total weight.
    pub weight: u64,
}

impl TierStats {
    /// Adds `other`'s counters and sizes to these (for sharded caches).
    pub fn merge(&mut self, other: &TierStats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.inserts += other.inserts;
        self.updates += other.updates;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
        self.removals += other.removals;
        self.cleared += other.cleared;
        self.promotions += other.promotions;
        self.demotions += other.demotions;
        self.len += other.len;
        self.weight += other.weight;
    }
}

/// Statistics of a [`Cache`](super::Cache): per tier and in total.
///
/// Totals: `hits == l1.hits + l2.hits`, `misses == l2.misses`, `lookups == hits + misses`;
/// the other totals are the sums of the tiers. Serialized as a flat JSON object with both
/// tiers nested (`"l1": {…}`, `"l2": {…}`) and the derived `lookups` and `hit_rate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CacheStats {
    /// The hot tier.
    pub l1: TierStats,
    /// The tier of new and demoted entries.
    pub l2: TierStats,
    /// Capacity of both tiers together.
    pub capacity: u64,
    /// Capacity of L1.
    pub l1_capacity: u64,
}

impl CacheStats {
    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.l1.hits + self.l2.hits
    }

    /// Lookups the cache could not answer.
    pub fn misses(&self) -> u64 {
        self.l2.misses
    }

    /// All lookups: `hits() + misses()`.
    pub fn lookups(&self) -> u64 {
        self.hits() + self.misses()
    }

    /// `hits / lookups`, in `[0, 1]`; 1.0 before the first lookup (nothing has missed yet,
    /// so a "hit rate too low" rule does not fire on an idle cache).
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.lookups();
        if lookups == 0 {
            1.0
        } else {
            self.hits() as f64 / lookups as f64
        }
    }

    /// New entries stored.
    pub fn inserts(&self) -> u64 {
        self.l1.inserts + self.l2.inserts
    }

    /// Inserts that replaced a value.
    pub fn updates(&self) -> u64 {
        self.l1.updates + self.l2.updates
    }

    /// Entries evicted.
    pub fn evictions(&self) -> u64 {
        self.l1.evictions + self.l2.evictions
    }

    /// Entries expired.
    pub fn expirations(&self) -> u64 {
        self.l1.expirations + self.l2.expirations
    }

    /// Entries removed on request.
    pub fn removals(&self) -> u64 {
        self.l1.removals + self.l2.removals
    }

    /// Entries dropped by `clear`.
    pub fn cleared(&self) -> u64 {
        self.l1.cleared + self.l2.cleared
    }

    /// Promotions from L2 to L1.
    pub fn promotions(&self) -> u64 {
        self.l1.promotions
    }

    /// Demotions from L1 to L2.
    pub fn demotions(&self) -> u64 {
        self.l1.demotions
    }

    /// Entries held (both tiers).
    pub fn len(&self) -> u64 {
        self.l1.len + self.l2.len
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Weight held (both tiers).
    pub fn weight(&self) -> u64 {
        self.l1.weight + self.l2.weight
    }

    /// Adds `other` to these statistics: counters, sizes and capacities (the stats of a
    /// sharded cache are the merge of its shards').
    pub fn merge(&mut self, other: &CacheStats) {
        self.l1.merge(&other.l1);
        self.l2.merge(&other.l2);
        self.capacity += other.capacity;
        self.l1_capacity += other.l1_capacity;
    }
}

impl Serialize for CacheStats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("CacheStats", 18)?;
        s.serialize_field("capacity", &self.capacity)?;
        s.serialize_field("l1_capacity", &self.l1_capacity)?;
        s.serialize_field("len", &self.len())?;
        s.serialize_field("weight", &self.weight())?;
        s.serialize_field("lookups", &self.lookups())?;
        s.serialize_field("hits", &self.hits())?;
        s.serialize_field("misses", &self.misses())?;
        s.serialize_field("hit_rate", &self.hit_rate())?;
        s.serialize_field("inserts", &self.inserts())?;
        s.serialize_field("updates", &self.updates())?;
        s.serialize_field("evictions", &self.evictions())?;
        s.serialize_field("expirations", &self.expirations())?;
        s.serialize_field("removals", &self.removals())?;
        s.serialize_field("cleared", &self.cleared())?;
        s.serialize_field("promotions", &self.promotions())?;
        s.serialize_field("demotions", &self.demotions())?;
        s.serialize_field("l1", &self.l1)?;
        s.serialize_field("l2", &self.l2)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_json_round_trip() {
        let stats = CacheStats {
            l1: TierStats {
                hits: 3,
                misses: 7,
                promotions: 2,
                len: 2,
                weight: 2,
                ..TierStats::default()
            },
            l2: TierStats {
                hits: 2,
                misses: 5,
                inserts: 9,
                evictions: 1,
                len: 6,
                weight: 6,
                ..TierStats::default()
            },
            capacity: 10,
            l1_capacity: 8,
        };
        assert_eq!((stats.hits(), stats.misses(), stats.lookups()), (5, 5, 10));
        assert!((stats.hit_rate() - 0.5).abs() < 1e-12);
        assert!((CacheStats::default().hit_rate() - 1.0).abs() < 1e-12);
        let json = serde_json::to_value(stats).expect("serializable");
        assert_eq!(json["hit_rate"], 0.5);
        assert_eq!(json["l1"]["promotions"], 2);
        assert_eq!(json["len"], 8);
        let back: CacheStats = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, stats);
        let mut sum = stats;
        sum.merge(&stats);
        assert_eq!(sum.lookups(), 20);
        assert_eq!(sum.capacity, 20);
    }
}
