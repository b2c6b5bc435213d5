//! The summary of a histogram in metric units.

use core::time::Duration;

use serde::{Deserialize, Serialize};

use super::Histogram;

/// Count, rate, mean, extremes and percentiles of a [`Histogram`], in metric units.
///
/// Every value is `raw / scale`: latencies recorded in microseconds and summarized with
/// `scale = 1000.0` come out in milliseconds. Percentiles carry the histogram's relative
/// error ([`Histogram::RELATIVE_ERROR`]); `count`, `min`, `max` and `mean` are exact up to
/// floating-point rounding.
///
/// Serializes as a flat object of these field names (`p999` is the 99.9th percentile).
///
/// # Example
/// ```
/// use core::time::Duration;
/// use perfopt_core::stats::{Histogram, Summary};
///
/// // Latencies in microseconds, reported in milliseconds.
/// let h: Histogram = [1_000u64, 2_000, 3_000, 4_000].into_iter().collect();
/// let s = Summary::from_histogram(&h, Duration::from_secs(2), 1_000.0);
/// assert_eq!((s.count, s.rate_per_s), (4, 2.0));
/// assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
/// // The median is 2 ms, estimated within the histogram's relative error.
/// assert!((s.p50 - 2.0).abs() <= 2.0 * Histogram::RELATIVE_ERROR);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Summary {
    /// Number of recorded values.
    pub count: u64,
    /// `count` per second of the elapsed time.
    pub rate_per_s: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

impl Summary {
    /// Summarizes `h`, recorded over `elapsed`, with every value divided by `scale`.
    ///
    /// `rate_per_s` is `count / elapsed` in seconds, or `0` if `elapsed` is zero. An empty
    /// histogram gives all zeros. A `scale` that is not a positive finite number counts as
    /// `1.0`, so the summary never holds NaN or infinity (which JSON cannot carry).
    pub fn from_histogram(h: &Histogram, elapsed: Duration, scale: f64) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        let scaled = |raw: Option<u64>| raw.map_or(0.0, |v| v as f64 / scale);
        let seconds = elapsed.as_secs_f64();
        Summary {
            count: h.count(),
            rate_per_s: if seconds > 0.0 {
                h.count() as f64 / seconds
            } else {
                0.0
            },
            mean: h.mean().map_or(0.0, |m| m / scale),
            min: scaled(h.min()),
            max: scaled(h.max()),
            p50: scaled(h.quantile(0.5)),
            p90: scaled(h.quantile(0.9)),
            p95: scaled(h.quantile(0.95)),
            p99: scaled(h.quantile(0.99)),
            p999: scaled(h.quantile(0.999)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_gives_zeros() {
        let s = Summary::from_histogram(&Histogram::new(), Duration::from_secs(1), 1.0);
        assert_eq!(s, Summary::default());
        assert_eq!(s.rate_per_s, 0.0);
    }

    #[test]
    fn percentiles_follow_the_histogram() {
        let h: Histogram = (1..=1_000u64).collect();
        let s = Summary::from_histogram(&h, Duration::from_millis(500), 1.0);
        assert_eq!(s.count, 1_000);
        assert_eq!(s.rate_per_s, 2_000.0);
        assert_eq!((s.min, s.max, s.mean), (1.0, 1_000.0, 500.5));
        // Values below 256 are exact; above, within the documented bound.
        assert_eq!(s.p50, h.quantile(0.5).unwrap() as f64);
        for (got, exact) in [
            (s.p50, 500.0),
            (s.p90, 900.0),
            (s.p95, 950.0),
            (s.p99, 990.0),
        ] {
            assert!(
                (got - exact) / exact <= Histogram::RELATIVE_ERROR,
                "{got} vs {exact}"
            );
            assert!(
                (exact - got) / exact <= Histogram::RELATIVE_ERROR,
                "{got} vs {exact}"
            );
        }
        assert_eq!(s.p999, h.quantile(0.999).unwrap() as f64);
        assert!(s.p50 <= s.p90 && s.p90 <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.p999);
    }

    #[test]
    fn zero_elapsed_and_bad_scale_stay_finite() {
        let h: Histogram = [10u64, 20].into_iter().collect();
        let s = Summary::from_histogram(&h, Duration::ZERO, 0.0);
        assert_eq!(s.rate_per_s, 0.0);
        assert_eq!((s.min, s.max), (10.0, 20.0));
        let s = Summary::from_histogram(&h, Duration::from_secs(1), f64::NAN);
        assert_eq!(s.mean, 15.0);
        let s = Summary::from_histogram(&h, Duration::from_secs(1), 4.0);
        assert_eq!((s.min, s.max, s.mean), (2.5, 5.0, 3.75));
    }

    #[test]
    fn serde_round_trip() {
        let h: Histogram = [10u64, 20, 30].into_iter().collect();
        let s = Summary::from_histogram(&h, Duration::from_secs(3), 10.0);
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.starts_with(r#"{"count":3,"rate_per_s":1.0,"mean":2.0,"#),
            "{json}"
        );
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
