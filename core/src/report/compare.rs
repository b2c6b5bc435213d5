//! Comparing two reports (before / after a change): the difference of every summary figure,
//! the rules that fired in one but not the other, and the regressions a CI gate fails on.
//!
//! The viewer's compare view and `perfopt report check --baseline` both use this module, so
//! they agree on every number.

use alloc::string::String;
use alloc::vec::Vec;

use serde::Serialize;

use super::metrics::{self, Unit};
use super::{Recommendation, Report};
use crate::stats::Summary;

/// Which way a metric gets better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Better {
    /// Smaller is better (latency, errors, CPU and memory of the watched process).
    Lower,
    /// Larger is better (cache hit rate).
    Higher,
    /// Neither: it depends on the load (throughput) or on the machine (system figures).
    Neutral,
}

/// Which way `metric` gets better.
pub fn better_of(metric: &str) -> Better {
    match metric {
        metrics::LATENCY
        | metrics::LATENCY_MEAN
        | metrics::LATENCY_P99
        | metrics::ERROR_RATE
        | metrics::PROC_CPU
        | metrics::PROC_RSS
        | metrics::MEM_LEAK => Better::Lower,
        metrics::CACHE_HIT_RATE => Better::Higher,
        _ => Better::Neutral,
    }
}

/// The summary statistics compared, in display order.
pub const STATS: &[&str] = &[
    "count",
    "rate_per_s",
    "mean",
    "min",
    "max",
    "p50",
    "p90",
    "p95",
    "p99",
    "p999",
];

/// `summary.<stat>` by name (see [`STATS`]).
pub fn stat_of(summary: &Summary, stat: &str) -> Option<f64> {
    Some(match stat {
        "count" => summary.count as f64,
        "rate_per_s" => summary.rate_per_s,
        "mean" => summary.mean,
        "min" => summary.min,
        "max" => summary.max,
        "p50" => summary.p50,
        "p90" => summary.p90,
        "p95" => summary.p95,
        "p99" => summary.p99,
        "p999" => summary.p999,
        _ => return None,
    })
}

/// One summary figure in both reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FigureDiff {
    /// Metric name.
    pub metric: String,
    /// Statistic (see [`STATS`]).
    pub stat: &'static str,
    /// Unit of `before` and `after`.
    pub unit: Unit,
    /// The figure in the first report, if it has the metric.
    pub before: Option<f64>,
    /// The figure in the second report, if it has the metric.
    pub after: Option<f64>,
    /// `after - before`, when both exist.
    pub delta: Option<f64>,
    /// `(after - before) / before * 100`, when both exist and `before` is not zero.
    pub change_pct: Option<f64>,
    /// Whether the change is for the better, the worse, or neither.
    pub verdict: Verdict,
}

/// How a figure changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Moved the good way.
    Better,
    /// Moved the bad way.
    Worse,
    /// Unchanged, neutral, or in only one report.
    Same,
}

/// The comparison of two reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Every statistic of every metric summarised in either report, metrics sorted by name.
    pub figures: Vec<FigureDiff>,
    /// Rules with a recommendation in the first report only.
    pub fired_only_before: Vec<String>,
    /// Rules with a recommendation in the second report only.
    pub fired_only_after: Vec<String>,
    /// Rules with a recommendation in both.
    pub fired_in_both: Vec<String>,
}

/// Compares the summaries and recommendations of `before` and `after`.
///
/// # Example
/// ```
/// use perfopt_core::report::{compare::compare, Meta, Recorder, metrics};
/// use perfopt_core::Instant;
/// let run = |cpu: f64| {
///     let meta = Meta { tool_version: "t".into(), host: "h".into(), target: None,
///                       started_at: 0, ended_at: 0, interval_ms: 1000 };
///     let mut rec = Recorder::new(Instant::ZERO, meta, vec![]).unwrap();
///     rec.handle_sample(Instant::from_secs(1), [(metrics::SYS_CPU, cpu)]);
///     rec.report(Instant::from_secs(1))
/// };
/// let c = compare(&run(40.0), &run(50.0));
/// let mean = c.figures.iter().find(|f| f.stat == "mean").unwrap();
/// assert_eq!((mean.delta, mean.change_pct), (Some(10.0), Some(25.0)));
/// ```
pub fn compare(before: &Report, after: &Report) -> Comparison {
    let mut names: Vec<&String> = before
        .summaries
        .keys()
        .chain(after.summaries.keys())
        .collect();
    names.sort();
    names.dedup();
    let mut figures = Vec::new();
    for name in names {
        let b = before.summaries.get(name);
        let a = after.summaries.get(name);
        let unit = a.or(b).map_or(Unit::Count, |s| s.unit);
        for &stat in STATS {
            let bv = b.and_then(|s| stat_of(&s.summary, stat));
            let av = a.and_then(|s| stat_of(&s.summary, stat));
            figures.push(figure(name, stat, unit, bv, av));
        }
    }
    let fired = |r: &Report| -> Vec<String> {
        let mut v: Vec<String> = r.recommendations.iter().map(|x| x.rule.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let (fb, fa) = (fired(before), fired(after));
    Comparison {
        figures,
        fired_only_before: fb.iter().filter(|r| !fa.contains(r)).cloned().collect(),
        fired_only_after: fa.iter().filter(|r| !fb.contains(r)).cloned().collect(),
        fired_in_both: fb.iter().filter(|r| fa.contains(r)).cloned().collect(),
    }
}

fn figure(
    metric: &str,
    stat: &'static str,
    unit: Unit,
    before: Option<f64>,
    after: Option<f64>,
) -> FigureDiff {
    let delta = before.zip(after).map(|(b, a)| a - b);
    let change_pct = before
        .zip(after)
        .filter(|(b, _)| *b != 0.0)
        .map(|(b, a)| (a - b) / b.abs() * 100.0);
    // Counts and rates say how much was measured, not how well.
    let better = if matches!(stat, "count" | "rate_per_s") {
        Better::Neutral
    } else {
        better_of(metric)
    };
    let verdict = match (better, delta) {
        (Better::Lower, Some(d)) if d < 0.0 => Verdict::Better,
        (Better::Lower, Some(d)) if d > 0.0 => Verdict::Worse,
        (Better::Higher, Some(d)) if d > 0.0 => Verdict::Better,
        (Better::Higher, Some(d)) if d < 0.0 => Verdict::Worse,
        _ => Verdict::Same,
    };
    FigureDiff {
        metric: String::from(metric),
        stat,
        unit,
        before,
        after,
        delta,
        change_pct,
        verdict,
    }
}

/// The statistics a CI gate watches: typical and tail values, not extremes or counts.
pub const GATED_STATS: &[&str] = &["mean", "p50", "p95", "p99"];

/// A gated figure that got worse by more than the allowed percentage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Regression {
    /// The figure.
    pub figure: FigureDiff,
    /// How much worse, percent of the baseline (always positive).
    pub worse_pct: f64,
}

/// The figures of [`GATED_STATS`] of metrics that have a direction ([`better_of`]) that are
/// worse in `current` than in `baseline` by more than `max_pct` percent of the baseline.
/// A baseline of zero regresses on any worsening (`worse_pct` is then infinite).
pub fn regressions(baseline: &Report, current: &Report, max_pct: f64) -> Vec<Regression> {
    compare(baseline, current)
        .figures
        .into_iter()
        .filter(|f| GATED_STATS.contains(&f.stat) && f.verdict == Verdict::Worse)
        .filter_map(|f| {
            let worse_pct = match f.change_pct {
                Some(p) => p.abs(),
                None => f64::INFINITY,
            };
            (worse_pct > max_pct).then_some(Regression {
                figure: f,
                worse_pct,
            })
        })
        .collect()
}

/// The recommendations a CI gate fails on: every rule at or above `min` severity that
/// fired during the run (still firing or since resolved).
pub fn failing_rules(
    recommendations: &[Recommendation],
    min: crate::rules::Severity,
) -> Vec<&Recommendation> {
    recommendations
        .iter()
        .filter(|r| r.severity >= min)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;
    use crate::report::Recorder;
    use crate::rules::{Severity, default_rules};
    use core::time::Duration;

    fn run(latency_ms: u64, cpu: f64, hit: f64) -> Report {
        let meta = crate::report::test_meta(0);
        let mut rec = Recorder::new(Instant::ZERO, meta, default_rules()).unwrap();
        for s in 1..=30 {
            rec.handle_sample(
                Instant::from_secs(s),
                [(metrics::SYS_CPU, cpu), (metrics::CACHE_HIT_RATE, hit)],
            );
            rec.record_latency(Duration::from_millis(latency_ms));
        }
        rec.report(Instant::from_secs(30))
    }

    #[test]
    fn every_figure_is_compared_and_rules_are_split() {
        let before = run(10, 95.0, 90.0);
        let after = run(12, 20.0, 50.0);
        let c = compare(&before, &after);
        assert_eq!(c.figures.len(), before.summaries.len() * STATS.len());
        let get = |m: &str, s: &str| {
            c.figures
                .iter()
                .find(|f| f.metric == m && f.stat == s)
                .unwrap()
        };
        let p99 = get(metrics::LATENCY, "p99");
        assert_eq!(p99.verdict, Verdict::Worse);
        assert!((p99.change_pct.unwrap() - 20.0).abs() < 1.0, "{p99:?}");
        assert_eq!(get(metrics::CACHE_HIT_RATE, "mean").verdict, Verdict::Worse);
        assert_eq!(
            get(metrics::SYS_CPU, "mean").verdict,
            Verdict::Same,
            "neutral"
        );
        assert_eq!(get(metrics::LATENCY, "count").verdict, Verdict::Same);
        assert_eq!(c.fired_only_before, ["cpu"]);
        assert_eq!(c.fired_only_after, ["cache_hit_rate"]);
        assert!(c.fired_in_both.is_empty());
    }

    #[test]
    fn regressions_respect_the_allowed_percentage() {
        let before = run(10, 10.0, 90.0);
        let after = run(12, 10.0, 90.0);
        let r = regressions(&before, &after, 10.0);
        let names: Vec<_> = r
            .iter()
            .map(|r| (r.figure.metric.as_str(), r.figure.stat))
            .collect();
        assert_eq!(
            names,
            [
                (metrics::LATENCY, "mean"),
                (metrics::LATENCY, "p50"),
                (metrics::LATENCY, "p95"),
                (metrics::LATENCY, "p99")
            ]
        );
        assert!(regressions(&before, &after, 25.0).is_empty());
        assert!(
            regressions(&after, &before, 0.0).is_empty(),
            "improvements pass"
        );
        assert!(regressions(&before, &before, 0.0).is_empty());
    }

    #[test]
    fn failing_rules_by_severity() {
        let r = run(10, 95.0, 50.0);
        let warn = failing_rules(&r.recommendations, Severity::Warning);
        assert_eq!(warn.len(), r.recommendations.len());
        assert!(
            failing_rules(&r.recommendations, Severity::Critical)
                .iter()
                .all(|x| x.severity == Severity::Critical)
        );
    }
}
