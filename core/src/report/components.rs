//! Component figures as report series: each interval, the cache's per-tier hit rates,
//! evictions and size, the pool's in use / idle / waiting and wait p99, the limiter's
//! in-flight, queued, limit and rejections become samples of fixed metrics (see
//! [`super::metrics`]), so they are charted, summarised and checked like any other.
//!
//! A component is recognised by its figures (its name is the user's choice): a cache has
//! `l1`, `l2` and `hits`; a pool `in_use` and `idle`; a limiter `in_flight` and `limit`.
//! Counters become per-interval values (evictions and rejections per second, tier hit rates
//! of the interval's lookups — an interval without lookups gives no sample), so the host
//! keeps one [`ComponentSeries`] and feeds it every component's stats once per interval.
//! With two components of one kind, the first one sampled wins a metric.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::Value;

use super::metrics as m;

/// Remembers the counters of the last interval, to turn them into rates.
#[derive(Clone, Debug, Default)]
pub struct ComponentSeries {
    last: BTreeMap<(String, &'static str), (u64, u64)>,
    /// The component that gave a metric first keeps it.
    owner: BTreeMap<&'static str, String>,
}

impl ComponentSeries {
    /// An empty memory: the first interval gives sizes and gauges only.
    pub fn new() -> Self {
        ComponentSeries::default()
    }

    /// The series values of component `name` whose stats are `stats`, `interval_s` seconds
    /// after the previous call (for rates).
    pub fn sample(
        &mut self,
        name: &str,
        stats: &Value,
        interval_s: f64,
    ) -> Vec<(&'static str, f64)> {
        let Some(map) = stats.as_object() else {
            return Vec::new();
        };
        let num = |v: Option<&Value>| v.and_then(Value::as_f64);
        let int = |v: Option<&Value>| v.and_then(Value::as_u64);
        let mut out = Vec::new();
        if map.contains_key("l1") && map.contains_key("l2") && map.contains_key("hits") {
            for (tier, metric) in [("l1", m::CACHE_L1_HIT_RATE), ("l2", m::CACHE_L2_HIT_RATE)] {
                let t = map.get(tier);
                let hits = int(t.and_then(|t| t.get("hits")));
                let misses = int(t.and_then(|t| t.get("misses")));
                if let (Some(h), Some(mi)) = (hits, misses)
                    && let Some((dh, dm)) = self.delta2(name, metric, h, mi)
                    && dh + dm > 0
                {
                    out.push((metric, dh as f64 * 100.0 / (dh + dm) as f64));
                }
            }
            if let Some(e) = int(map.get("evictions"))
                && let Some((de, _)) = self.delta2(name, m::CACHE_EVICTIONS, e, 0)
            {
                out.push((m::CACHE_EVICTIONS, rate(de, interval_s)));
            }
            if let Some(len) = num(map.get("len")) {
                out.push((m::CACHE_ENTRIES, len));
            }
        } else if map.contains_key("in_use") && map.contains_key("idle") {
            for (field, metric) in [
                ("in_use", m::POOL_IN_USE),
                ("idle", m::POOL_IDLE),
                ("waiting", m::POOL_WAITING),
            ] {
                if let Some(v) = num(map.get(field)) {
                    out.push((metric, v));
                }
            }
            let wait = map.get("wait_ms");
            if int(wait.and_then(|w| w.get("count"))).unwrap_or(0) > 0
                && let Some(p99) = num(wait.and_then(|w| w.get("p99")))
            {
                out.push((m::POOL_WAIT_P99, p99));
            }
        } else if map.contains_key("in_flight") && map.contains_key("limit") {
            for (field, metric) in [
                ("in_flight", m::LIMITER_IN_FLIGHT),
                ("queued", m::LIMITER_QUEUED),
                ("limit", m::LIMITER_LIMIT),
            ] {
                if let Some(v) = num(map.get(field)) {
                    out.push((metric, v));
                }
            }
            if let Some(r) = int(map.get("rejected"))
                && let Some((dr, _)) = self.delta2(name, m::LIMITER_REJECTED, r, 0)
            {
                out.push((m::LIMITER_REJECTED, rate(dr, interval_s)));
            }
        }
        out.retain(|(metric, _)| {
            self.owner
                .entry(metric)
                .or_insert_with(|| String::from(name))
                .as_str()
                == name
        });
        out
    }

    /// The growth of two counters since the last call (`None` on the first call).
    fn delta2(&mut self, name: &str, metric: &'static str, a: u64, b: u64) -> Option<(u64, u64)> {
        let prev = self.last.insert((String::from(name), metric), (a, b));
        prev.map(|(pa, pb)| (a.saturating_sub(pa), b.saturating_sub(pb)))
    }
}

fn rate(n: u64, interval_s: f64) -> f64 {
    if interval_s > 0.0 {
        n as f64 / interval_s
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use serde_json::json;

    fn cache(l1: (u64, u64), l2: (u64, u64), evictions: u64, len: u64) -> Value {
        json!({"hits": l1.0 + l2.0, "misses": l2.1, "evictions": evictions, "len": len,
               "l1": {"hits": l1.0, "misses": l1.1}, "l2": {"hits": l2.0, "misses": l2.1}})
    }

    #[test]
    fn cache_tiers_give_interval_hit_rates_and_eviction_rates() {
        let mut cs = ComponentSeries::new();
        let first = cs.sample("c", &cache((10, 10), (5, 5), 3, 100), 1.0);
        assert_eq!(
            first,
            vec![(m::CACHE_ENTRIES, 100.0)],
            "no rate before a second reading"
        );
        let next = cs.sample("c", &cache((40, 20), (10, 10), 13, 120), 2.0);
        assert_eq!(
            next,
            vec![
                (m::CACHE_L1_HIT_RATE, 75.0),
                (m::CACHE_L2_HIT_RATE, 50.0),
                (m::CACHE_EVICTIONS, 5.0),
                (m::CACHE_ENTRIES, 120.0)
            ]
        );
        // No lookups in an interval: no hit-rate sample (not 0 %).
        let idle = cs.sample("c", &cache((40, 20), (10, 10), 13, 120), 1.0);
        assert_eq!(
            idle,
            vec![(m::CACHE_EVICTIONS, 0.0), (m::CACHE_ENTRIES, 120.0)]
        );
    }

    #[test]
    fn pool_and_limiter_gauges_and_rejection_rate() {
        let mut cs = ComponentSeries::new();
        let pool =
            json!({"in_use": 3, "idle": 1, "waiting": 2, "wait_ms": {"count": 4, "p99": 7.5}});
        assert_eq!(
            cs.sample("p", &pool, 1.0),
            vec![
                (m::POOL_IN_USE, 3.0),
                (m::POOL_IDLE, 1.0),
                (m::POOL_WAITING, 2.0),
                (m::POOL_WAIT_P99, 7.5)
            ]
        );
        let lim =
            |rejected: u64| json!({"in_flight": 5, "queued": 0, "limit": 8, "rejected": rejected});
        cs.sample("l", &lim(10), 1.0);
        let v = cs.sample("l", &lim(40), 0.5);
        assert!(v.contains(&(m::LIMITER_REJECTED, 60.0)), "{v:?}");
        assert!(v.contains(&(m::LIMITER_LIMIT, 8.0)), "{v:?}");
        assert!(cs.sample("x", &json!({"other": 1}), 1.0).is_empty());
        assert!(cs.sample("x", &json!(3), 1.0).is_empty());
        // A second pool does not mix into the first one's series.
        assert!(cs.sample("p2", &pool, 1.0).is_empty());
    }
}
