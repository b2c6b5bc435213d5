//! Columnar time series: one `t_ms` column and one column per metric.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Instant;
use crate::rules::{Aggregate, MetricSource};

/// Columnar time series. In JSON: `{"t_ms": [0, 1000, …], "<metric>": [1.5, null, …], …}`;
/// `t_ms` is milliseconds since the start of the report, strictly increasing, and every
/// metric column has the same length (`null` where a sample lacked the metric).
///
/// As a [`MetricSource`] it reads `now` as an [`Instant`] whose origin is the report start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    t_ms: Vec<u64>,
    columns: BTreeMap<String, Vec<Option<f64>>>,
}

impl Series {
    /// An empty series.
    pub fn new() -> Self {
        Series::default()
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.t_ms.len()
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.t_ms.is_empty()
    }

    /// The time column, ms since the report start.
    pub fn t_ms(&self) -> &[u64] {
        &self.t_ms
    }

    /// The column of `metric`, if any sample had it.
    pub fn column(&self, metric: &str) -> Option<&[Option<f64>]> {
        self.columns.get(metric).map(Vec::as_slice)
    }

    /// Metric names, sorted.
    pub fn metrics(&self) -> impl Iterator<Item = &str> + '_ {
        self.columns.keys().map(String::as_str)
    }

    /// Appends one sample at `t_ms`. Metrics not in `values` get `null`; a new metric gets
    /// `null` for every earlier sample. Non-finite values are stored as `null`.
    ///
    /// Returns `false` (and appends nothing) if `t_ms` is not after the last sample.
    pub fn push<'a>(
        &mut self,
        t_ms: u64,
        values: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> bool {
        if self.t_ms.last().is_some_and(|&last| t_ms <= last) {
            return false;
        }
        let n = self.t_ms.len();
        self.t_ms.push(t_ms);
        for (name, v) in values {
            let col = self
                .columns
                .entry(String::from(name))
                .or_insert_with(|| vec![None; n]);
            let v = v.is_finite().then_some(v);
            if col.len() == n {
                col.push(v);
            } else if let Some(last) = col.last_mut() {
                // The same metric twice in one sample: the last value wins.
                *last = v;
            }
        }
        for col in self.columns.values_mut() {
            if col.len() == n {
                col.push(None);
            }
        }
        true
    }

    /// One row at the last sample's time with each metric's latest value (the last one that
    /// is not `null`); empty when `self` is.
    pub fn latest(&self) -> Series {
        let Some(&t) = self.t_ms.last() else {
            return Series::new();
        };
        let columns = self
            .columns
            .iter()
            .filter_map(|(name, col)| {
                let v = col.iter().rev().flatten().next()?;
                Some((name.clone(), vec![Some(*v)]))
            })
            .collect();
        Series {
            t_ms: vec![t],
            columns,
        }
    }

    /// A series from its columns (the caller guarantees equal lengths).
    pub(crate) fn from_parts(t_ms: Vec<u64>, columns: BTreeMap<String, Vec<Option<f64>>>) -> Self {
        Series { t_ms, columns }
    }

    /// Drops the samples before `t_ms` (and columns left with no value at all).
    pub(crate) fn drop_before(&mut self, t_ms: u64) {
        let n = self.t_ms.partition_point(|&t| t < t_ms);
        if n == 0 {
            return;
        }
        self.t_ms.drain(..n);
        self.columns.retain(|_, col| {
            col.drain(..n);
            col.iter().any(Option::is_some)
        });
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(w) = self.t_ms.windows(2).position(|w| w[1] <= w[0]) {
            return Err(format!("series.t_ms is not increasing at index {}", w + 1));
        }
        for (name, col) in &self.columns {
            if col.len() != self.t_ms.len() {
                return Err(format!(
                    "series.{name} has {} values but series.t_ms has {}",
                    col.len(),
                    self.t_ms.len()
                ));
            }
        }
        Ok(())
    }

    /// The index range of samples with `t` in `(end - window, end]`.
    fn window_range(&self, window: Duration, end_ms: u64) -> core::ops::Range<usize> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let hi = self.t_ms.partition_point(|&t| t <= end_ms);
        let lo = match end_ms.checked_sub(window_ms) {
            Some(start) => self.t_ms.partition_point(|&t| t <= start),
            None => 0,
        };
        lo..hi.max(lo)
    }
}

impl MetricSource for Series {
    fn aggregate(
        &self,
        metric: &str,
        aggregate: Aggregate,
        window: Duration,
        now: Instant,
    ) -> Option<f64> {
        let col = self.columns.get(metric)?;
        let range = self.window_range(window, now.as_millis());
        let mut values = col[range].iter().flatten().copied();
        match aggregate {
            Aggregate::Mean => {
                let (mut sum, mut n) = (0.0, 0u32);
                for v in values {
                    sum += v;
                    n += 1;
                }
                (n > 0).then(|| sum / f64::from(n))
            }
            Aggregate::Max => values.reduce(f64::max),
            Aggregate::Min => values.reduce(f64::min),
            Aggregate::Last => values.next_back(),
        }
    }
}

impl Serialize for Series {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.columns.len() + 1))?;
        map.serialize_entry("t_ms", &self.t_ms)?;
        for (name, col) in &self.columns {
            map.serialize_entry(name, col)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Series {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Series;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with a \"t_ms\" array and one number array per metric")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Series, A::Error> {
                let mut t_ms = None;
                let mut columns = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "t_ms" {
                        t_ms = Some(map.next_value::<Vec<u64>>()?);
                    } else {
                        let col = map.next_value::<Vec<Option<f64>>>()?;
                        columns.insert(key, col);
                    }
                }
                let t_ms = t_ms.ok_or_else(|| serde::de::Error::missing_field("t_ms"))?;
                Ok(Series { t_ms, columns })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_fills_gaps_with_null() {
        let mut s = Series::new();
        assert!(s.push(0, [("a", 1.0)]));
        assert!(s.push(1000, [("b", 2.0)]));
        assert!(s.push(2000, [("a", f64::NAN), ("b", 3.0)]));
        assert!(!s.push(2000, [("a", 1.0)]), "time must increase");
        assert_eq!(s.column("a").unwrap(), &[Some(1.0), None, None]);
        assert_eq!(s.column("b").unwrap(), &[None, Some(2.0), Some(3.0)]);
        s.validate().unwrap();
    }

    #[test]
    fn aggregates_cover_the_trailing_window_only() {
        let mut s = Series::new();
        for i in 0..10u64 {
            s.push(i * 1000, [("m", i as f64)]);
        }
        let at = |ms| Instant::from_millis(ms);
        let w = Duration::from_secs(3);
        // (6000, 9000] -> 7, 8, 9
        assert_eq!(s.aggregate("m", Aggregate::Mean, w, at(9000)), Some(8.0));
        assert_eq!(s.aggregate("m", Aggregate::Min, w, at(9000)), Some(7.0));
        assert_eq!(s.aggregate("m", Aggregate::Max, w, at(9500)), Some(9.0));
        assert_eq!(s.aggregate("m", Aggregate::Last, w, at(4200)), Some(4.0));
        assert_eq!(s.aggregate("m", Aggregate::Mean, w, at(1000)), Some(0.5));
        assert_eq!(s.aggregate("x", Aggregate::Mean, w, at(1000)), None);
        assert_eq!(s.aggregate("m", Aggregate::Mean, w, at(20_000)), None);
    }

    #[test]
    fn json_round_trip_and_validation() {
        let mut s = Series::new();
        s.push(0, [("cpu", 1.5)]);
        s.push(1000, [("mem", 2.0)]);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"t_ms":[0,1000],"cpu":[1.5,null],"mem":[null,2.0]}"#
        );
        let back: Series = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        let bad: Series = serde_json::from_str(r#"{"t_ms":[0,1000],"cpu":[1]}"#).unwrap();
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("series.cpu has 1 values")
        );
        let bad: Series = serde_json::from_str(r#"{"t_ms":[5,5]}"#).unwrap();
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<Series>(r#"{"cpu":[1]}"#).is_err());
    }
}
