//! Summaries of a span of a report's series: what the viewer's cards show after a zoom.
//!
//! [`span_summaries`] builds, for each series metric, the same histogram the
//! [`Recorder`](super::Recorder) builds over a whole run (every sample's value, scaled by
//! its unit), but only from the samples with `from_ms <= t_ms <= to_ms`. Over a report's
//! whole span it reproduces the report's series summaries exactly. The whole-run request
//! latency (`latency_ms`, one value per request) is not in the series, so a span has the
//! per-interval `latency_mean_ms` and `latency_p99_ms` instead.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::time::Duration;

use super::metrics::{self, Unit};
use super::{MetricSummary, Series};
use crate::stats::Histogram;

/// Summaries of every series metric over the samples with `from_ms <= t_ms <= to_ms`
/// (milliseconds since the report start). Rates are per second of `to_ms - from_ms`.
/// Metrics without a sample in the span are left out.
///
/// # Example
/// ```
/// use perfopt_core::report::{span::span_summaries, Series};
/// let mut s = Series::new();
/// for i in 0..10u64 {
///     s.push(i * 1000, [("sys_cpu_pct", i as f64)]);
/// }
/// let sum = span_summaries(&s, 2000, 4000);
/// assert_eq!(sum["sys_cpu_pct"].summary.count, 3);
/// assert_eq!(sum["sys_cpu_pct"].summary.mean, 3.0);
/// ```
pub fn span_summaries(
    series: &Series,
    from_ms: u64,
    to_ms: u64,
) -> BTreeMap<String, MetricSummary> {
    let t = series.t_ms();
    let lo = t.partition_point(|&x| x < from_ms);
    let hi = t.partition_point(|&x| x <= to_ms).max(lo);
    let elapsed = Duration::from_millis(to_ms.saturating_sub(from_ms));
    let mut out = BTreeMap::new();
    for name in series.metrics() {
        let Some(col) = series.column(name) else {
            continue;
        };
        let unit = metrics::lookup(name).map_or(Unit::Count, |d| d.unit);
        let mut h = Histogram::new();
        for v in col[lo..hi].iter().flatten() {
            h.record(to_raw(*v, unit));
        }
        if !h.is_empty() {
            out.insert(
                String::from(name),
                MetricSummary::from_histogram(unit, h, elapsed),
            );
        }
    }
    out
}

/// `round(value * unit.scale())` as a histogram value; negative values count as zero.
fn to_raw(value: f64, unit: super::metrics::Unit) -> u64 {
    let scaled = value * unit.scale();
    if scaled > 0.0 {
        // `as` saturates for values beyond u64 and the +0.5 rounds half up.
        (scaled + 0.5) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;
    use crate::report::Recorder;

    #[test]
    fn the_whole_span_reproduces_the_report_summaries() {
        let meta = crate::report::test_meta(0);
        let mut rec = Recorder::new(Instant::ZERO, meta, crate::rules::default_rules()).unwrap();
        for s in 1..=50u64 {
            let x = (s * 7919 % 101) as f64;
            rec.handle_sample(
                Instant::from_secs(s),
                [
                    (metrics::SYS_CPU, x / 1.3),
                    (metrics::PROC_RSS, 1e6 + x * 4096.0),
                    (metrics::LATENCY_P99, x / 97.0),
                    ("custom_thing", x),
                ],
            );
        }
        let report = rec.report(Instant::from_secs(50));
        let span = span_summaries(&report.series, 0, 50_000);
        for (name, s) in &span {
            assert_eq!(s, &report.summaries[name], "{name}");
        }
        assert_eq!(span.len(), report.summaries.len());
        // A part: exactly the samples inside, both ends included.
        let part = span_summaries(&report.series, 10_000, 19_000);
        assert_eq!(part[metrics::SYS_CPU].summary.count, 10);
        assert_eq!(part[metrics::SYS_CPU].summary.rate_per_s, 10.0 / 9.0);
        let empty = span_summaries(&report.series, 60_000, 70_000);
        assert!(empty.is_empty());
        let reversed = span_summaries(&report.series, 20_000, 10_000);
        assert!(reversed.is_empty());
    }
}
