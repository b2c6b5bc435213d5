//! `WasmCache`: perfopt-core's two-tier TTL cache, usable from JS.
//!
//! Keys are strings, values any JS value (held by reference, as a `Map` would). The policy,
//! expiry and statistics are core's ([`perfopt_core::cache`]); this wrapper only converts
//! numbers and errors at the boundary.
//!
//! ```js
//! const cache = new WasmCache(1000, 800, 60_000); // 1,000 entries, L1 800, TTL 60 s
//! cache.insert("user:7", { name: "Ada" });
//! cache.get("user:7");            // { name: "Ada" }
//! cache.get("user:7", t + 61_000); // undefined: expired at that time
//! cache.stats();                  // { l1: {hits, misses, …}, l2: {…}, lookups, hit_rate, … }
//! ```
//!
//! **Time.** Every `now_ms` is optional and on the `Date.now()` scale (milliseconds since
//! the Unix epoch); left out, the wrapper reads `Date.now()` itself (`clock.rs`). Time
//! never goes back for the cache: an earlier `now_ms` than one already seen counts as the
//! latest one.

use core::time::Duration;

use perfopt_core::Instant;
use perfopt_core::cache::{Cache, CacheConfig};
use wasm_bindgen::prelude::*;

use crate::clock;

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A bounded two-tier cache with TTL and per-tier statistics (perfopt-core's `Cache`).
#[wasm_bindgen]
pub struct WasmCache {
    inner: Cache<String, JsValue>,
}

#[wasm_bindgen]
impl WasmCache {
    /// A cache of `capacity` entries, `l1` of them in the hot tier (`undefined`: core's
    /// recommended share), entries living `ttl_ms` milliseconds unless inserted with their
    /// own TTL (`undefined` or `null`: they never expire).
    ///
    /// # Errors
    /// An `Error` when `capacity` is not a whole number above zero, `l1` is not a whole
    /// number below `capacity`, or `ttl_ms` is not a number above zero that fits the time
    /// type; the message names the setting.
    #[wasm_bindgen(constructor)]
    pub fn new(capacity: f64, l1: Option<f64>, ttl_ms: Option<f64>) -> Result<WasmCache, JsError> {
        let config = config(capacity, l1, ttl_ms).map_err(|e| JsError::new(&e))?;
        let inner = Cache::new(config).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(WasmCache { inner })
    }

    /// The value of `key`, or `undefined` when it is not cached or has expired at `now_ms`.
    /// Counts a hit or a miss.
    ///
    /// # Errors
    /// An `Error` when `now_ms` is given and is not a finite number ≥ 0.
    pub fn get(&mut self, key: &str, now_ms: Option<f64>) -> Result<JsValue, JsError> {
        let now = now(now_ms)?;
        Ok(self
            .inner
            .get(now, key)
            .cloned()
            .unwrap_or(JsValue::UNDEFINED))
    }

    /// As [`get`](WasmCache::get), without counting a lookup or moving the entry.
    ///
    /// # Errors
    /// As [`get`](WasmCache::get).
    pub fn peek(&self, key: &str, now_ms: Option<f64>) -> Result<JsValue, JsError> {
        let now = now(now_ms)?;
        Ok(self
            .inner
            .peek(now, key)
            .cloned()
            .unwrap_or(JsValue::UNDEFINED))
    }

    /// Stores `value` under `key` with the default TTL; returns the value it replaced, or
    /// `undefined`.
    ///
    /// # Errors
    /// As [`get`](WasmCache::get).
    pub fn insert(
        &mut self,
        key: String,
        value: JsValue,
        now_ms: Option<f64>,
    ) -> Result<JsValue, JsError> {
        let now = now(now_ms)?;
        Ok(self
            .inner
            .insert(now, key, value)
            .unwrap_or(JsValue::UNDEFINED))
    }

    /// Stores `value` under `key`, living `ttl_ms` milliseconds; returns the value it
    /// replaced, or `undefined`.
    ///
    /// # Errors
    /// An `Error` when `ttl_ms` is not above zero or overflows the time type, or `now_ms`
    /// is not a finite number ≥ 0. Nothing changes then.
    #[wasm_bindgen(js_name = insertWithTtl)]
    pub fn insert_with_ttl(
        &mut self,
        key: String,
        value: JsValue,
        ttl_ms: f64,
        now_ms: Option<f64>,
    ) -> Result<JsValue, JsError> {
        let now = now(now_ms)?;
        let ttl = ttl(ttl_ms).map_err(|e| JsError::new(&e))?;
        let old = self
            .inner
            .insert_with_ttl(now, key, value, ttl)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(old.unwrap_or(JsValue::UNDEFINED))
    }

    /// Removes `key`; returns its value, or `undefined` if it was not cached (or expired).
    pub fn remove(&mut self, key: &str) -> JsValue {
        self.inner.remove(key).unwrap_or(JsValue::UNDEFINED)
    }

    /// Entries held, including expired ones not collected yet.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no entry is held.
    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Drops every entry; statistics are kept.
    pub fn clear(&mut self) {
        self.inner.clear();
    }

    /// Frees the entries expired at `now_ms` (optional: an expired entry is never
    /// returned anyway; this returns their memory and counts the expirations).
    ///
    /// # Errors
    /// As [`get`](WasmCache::get).
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now_ms: Option<f64>) -> Result<(), JsError> {
        let now = now(now_ms)?;
        self.inner.handle_timeout(now);
        Ok(())
    }

    /// When to call `handleTimeout` next (`Date.now()` scale, ms), or `undefined` if no
    /// entry expires.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(clock::millis)
    }

    /// Statistics as a plain object: `l1` and `l2` (`hits`, `misses`, `inserts`,
    /// `updates`, `evictions`, `expirations`, `removals`, `cleared`, `promotions`,
    /// `demotions`, `len`, `weight`), `capacity`, `l1_capacity`, and the totals `hits`,
    /// `misses`, `lookups`, `hit_rate` — the JSON form of core's `CacheStats`, as in a
    /// report's `components.cache`.
    ///
    /// # Errors
    /// Never in practice: statistics are plain numbers.
    pub fn stats(&self) -> Result<JsValue, JsError> {
        crate::to_js(&self.inner.stats())
    }
}

/// The instant of an optional `now_ms`, reading the clock when it is left out.
fn now(now_ms: Option<f64>) -> Result<Instant, JsError> {
    match now_ms {
        None => Ok(clock::now()),
        Some(ms) => clock::instant_from_millis(ms).ok_or_else(|| {
            JsError::new(&format!("now_ms: expected a finite number ≥ 0, got {ms}"))
        }),
    }
}

/// The cache settings from the constructor's JS numbers.
fn config(capacity: f64, l1: Option<f64>, ttl_ms: Option<f64>) -> Result<CacheConfig, String> {
    let capacity = whole("capacity", capacity)?;
    let mut config = CacheConfig::new(capacity);
    if let Some(l1) = l1 {
        config.l1_capacity = whole("l1", l1)?;
    }
    if let Some(ms) = ttl_ms {
        config.default_ttl = Some(ttl(ms)?);
    }
    // Core names what is wrong with the combination (capacity 0, l1 ≥ capacity, TTL 0).
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// `value` as a whole number of entries.
fn whole(name: &str, value: f64) -> Result<u64, String> {
    if value.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&value) {
        Ok(value as u64)
    } else {
        Err(format!("{name}: expected a whole number ≥ 0, got {value}"))
    }
}

/// A TTL in milliseconds as a `Duration` (zero is left for core to refuse, by name).
fn ttl(ms: f64) -> Result<Duration, String> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(format!(
            "ttl_ms: expected a number of milliseconds > 0, got {ms}"
        ));
    }
    Duration::try_from_secs_f64(ms / 1e3)
        .map_err(|_| format!("ttl_ms: {ms} ms overflows the time type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_js_numbers_are_checked_and_named() {
        let c = config(1_000.0, None, None).unwrap();
        let recommended = CacheConfig::new(1_000).l1_capacity;
        assert_eq!(
            (c.capacity, c.l1_capacity, c.default_ttl),
            (1_000, recommended, None)
        );
        let c = config(10.0, Some(2.0), Some(1_500.0)).unwrap();
        assert_eq!(c.l1_capacity, 2);
        assert_eq!(c.default_ttl, Some(Duration::from_millis(1_500)));

        let err = |r: Result<CacheConfig, String>| r.unwrap_err();
        assert!(err(config(0.0, None, None)).contains("capacity must be at least 1"));
        assert!(err(config(1.5, None, None)).starts_with("capacity: expected a whole number"));
        assert!(err(config(-3.0, None, None)).starts_with("capacity:"));
        assert!(err(config(f64::NAN, None, None)).starts_with("capacity:"));
        assert!(err(config(10.0, Some(10.0), None)).contains("l1_capacity (10)"));
        assert!(err(config(10.0, Some(-1.0), None)).starts_with("l1:"));
        assert!(err(config(10.0, None, Some(0.0))).contains("longer than zero"));
        assert!(err(config(10.0, None, Some(-5.0))).starts_with("ttl_ms:"));
        assert!(err(config(10.0, None, Some(f64::INFINITY))).starts_with("ttl_ms:"));
        assert!(err(config(10.0, None, Some(1e300))).contains("overflows"));
    }
}
