//! Merging the reports of many hosts into one fleet report, exactly where exactness is
//! possible.
//!
//! What [`merge`] does with each part of the inputs:
//! - **summaries**: the histograms are merged (exact: the merged histogram is the histogram
//!   of every host's values) and each summary is recomputed from its merged histogram over
//!   the fleet's span. Percentiles are never averaged.
//! - **series**: samples are placed on the common interval grid (a host's sample at absolute
//!   time `T` goes to slot `round((T - fleet start) / interval)`) and the hosts' values in a
//!   slot are combined per metric: rates, byte amounts and counts are **summed** (fleet
//!   totals: requests/s, RSS, network bytes/s, threads), percentages are **averaged**,
//!   `latency_mean_ms` is averaged **weighted by `throughput_rps`** when known, and
//!   `latency_p99_ms` takes the **maximum** (an upper bound of the fleet's p99: if no host
//!   has more than 1 % of its requests above `x`, neither has the fleet).
//! - **alerts and recommendations**: the first report's rules are replayed over the merged
//!   series (the same [`evaluate`](super::evaluate()) the viewer uses); every input must
//!   carry the same rules.
//! - **components**: integer counters and sizes are summed; `hit_rate` is recomputed from the
//!   summed `hits` and `lookups`; other fractional figures (windowed summaries, baselines)
//!   take the maximum over hosts, an upper bound; lists are dropped.
//! - **profile**: rows of the same scope add their calls and times; `p50_ms`, `p99_ms` and
//!   `max_ms` take the maximum over hosts (the rows carry no histogram: an upper bound).
//! - **rollups**: tiers of the same `step_ms` merge row by row. A host's row at `t` (from its
//!   own start) goes to the fleet row `floor((host start − fleet start + t) / step) × step`.
//!   When every host's start differs from the fleet's start by a multiple of the step (hosts
//!   started on the same minute boundary, say), rows cover the same windows and merge
//!   **exactly**: counts add, min and max are those of the rows, histograms add bucket by
//!   bucket (so percentiles of the merged rows are those of the union of the hosts' values,
//!   within the histogram's 1/32 bound), means are weighted by count. Otherwise a fleet row
//!   mixes host windows shifted by `offset mod step` (less than one step): the aggregates
//!   are still exact over the values merged, but its window is approximate by that shift.
//!   A tier span is the longest of the hosts'; `retention` is kept when every input has the
//!   same, else absent. Rollups of one metric at different scales are refused.
//! - **memory** (a leak verdict is about one process) is dropped.
//! - **meta**: `host` lists the sorted distinct hosts, the span covers every input.
//!
//! Inputs with different sampling intervals or schemas are refused with an error naming
//! the input, as merging them would mix incomparable samples. The result does not depend
//! on the order of the inputs.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::metrics::{self, Unit};
use super::tiers::merge_rollups;
use super::{MetricSummary, ProfileRow, Report, SCHEMA, Series, evaluate};

/// Why reports could not be merged. Every variant names the offending input.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MergeError {
    /// Nothing to merge.
    Empty,
    /// An input is not a v1 report.
    Schema {
        /// The input's name.
        name: String,
        /// Its `schema`.
        found: String,
    },
    /// An input was sampled at another interval than the first.
    Interval {
        /// The input's name.
        name: String,
        /// Its `meta.interval_ms`.
        interval_ms: u64,
        /// The first input's name.
        first: String,
        /// The first input's `meta.interval_ms`.
        expected_ms: u64,
    },
    /// An input records a metric in another unit than the first input that has it.
    Unit {
        /// The input's name.
        name: String,
        /// The metric.
        metric: String,
    },
    /// An input's rollups count a metric at another scale than an input before it.
    Scale {
        /// The input's name.
        name: String,
        /// The metric.
        metric: String,
    },
    /// An input was evaluated with other rules than the first.
    Rules {
        /// The input's name.
        name: String,
        /// The first input's name.
        first: String,
    },
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Empty => write!(f, "no report to merge: give at least one file"),
            MergeError::Schema { name, found } => write!(
                f,
                "{name}: schema is {found:?}, expected {SCHEMA:?}; only v1 reports merge"
            ),
            MergeError::Interval {
                name,
                interval_ms,
                first,
                expected_ms,
            } => write!(
                f,
                "{name}: sampled every {interval_ms} ms but {first} every {expected_ms} ms; \
                 merge only reports with the same --interval"
            ),
            MergeError::Unit { name, metric } => write!(
                f,
                "{name}: summaries.{metric} has another unit than in the reports before it"
            ),
            MergeError::Scale { name, metric } => write!(
                f,
                "{name}: rollups count {metric} at another scale than the reports before it; \
                 merge reports written by the same perfopt version"
            ),
            MergeError::Rules { name, first } => write!(
                f,
                "{name}: evaluated with other rules than {first}; merge reports that used \
                 the same rules"
            ),
        }
    }
}

/// How the hosts' values of one metric in one time slot combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// Fleet total.
    Sum,
    /// Plain mean over the hosts.
    Mean,
    /// Mean weighted by each host's `throughput_rps` in the slot.
    MeanByThroughput,
    /// Largest host value.
    Max,
}

/// How `metric` combines across hosts (see the module docs).
pub fn combine_of(metric: &str) -> Combine {
    match metric {
        metrics::LATENCY_P99 | metrics::MEM_LEAK | metrics::POOL_WAIT_P99 => Combine::Max,
        metrics::LATENCY_MEAN => Combine::MeanByThroughput,
        metrics::SYS_LOAD1 | metrics::SYS_CPU | metrics::SYS_MEM => Combine::Mean,
        _ => match metrics::lookup(metric).map(|d| d.unit) {
            Some(Unit::Percent | Unit::Millis) => Combine::Mean,
            Some(_) => Combine::Sum,
            // Unknown metrics: by their name's unit suffix.
            None if metric.ends_with("_pct") || metric.ends_with("_ms") => Combine::Mean,
            None if metric.ends_with("_p99_ms") => Combine::Max,
            None => Combine::Sum,
        },
    }
}

/// Merges `inputs` (a name for error messages, and the report) into one fleet report.
///
/// # Errors
/// A [`MergeError`] naming the first input that cannot be merged with the first one.
///
/// # Example
/// ```
/// use perfopt_core::report::{merge::merge, Meta, Recorder, metrics};
/// use perfopt_core::{Duration, Instant};
///
/// let host = |name: &str, ms: u64| {
///     let meta = Meta { tool_version: "0.1.0".into(), host: name.into(), target: None,
///                       started_at: 1_000_000, ended_at: 0, interval_ms: 1000 };
///     let mut rec = Recorder::new(Instant::ZERO, meta, vec![]).unwrap();
///     rec.handle_sample(Instant::from_secs(1), [(metrics::THROUGHPUT, 10.0)]);
///     rec.record_latency(Duration::from_millis(ms));
///     rec.report(Instant::from_secs(1))
/// };
/// let (a, b) = (host("a", 2), host("b", 40));
/// let fleet = merge([("a.json", &a), ("b.json", &b)]).unwrap();
/// assert_eq!(fleet.meta.host, "a, b");
/// assert_eq!(fleet.summaries["latency_ms"].summary.count, 2);
/// assert_eq!(fleet.summaries["latency_ms"].summary.max, 40.0);
/// assert_eq!(fleet.series.column("throughput_rps").unwrap(), &[Some(20.0)]);
/// ```
pub fn merge<'a>(
    inputs: impl IntoIterator<Item = (&'a str, &'a Report)>,
) -> Result<Report, MergeError> {
    let inputs: Vec<(&str, &Report)> = inputs.into_iter().collect();
    let (first_name, first) = *inputs.first().ok_or(MergeError::Empty)?;
    for &(name, r) in &inputs {
        if r.schema != SCHEMA {
            return Err(MergeError::Schema {
                name: name.to_string(),
                found: r.schema.clone(),
            });
        }
        if r.meta.interval_ms != first.meta.interval_ms {
            return Err(MergeError::Interval {
                name: name.to_string(),
                interval_ms: r.meta.interval_ms,
                first: first_name.to_string(),
                expected_ms: first.meta.interval_ms,
            });
        }
        if r.rules != first.rules {
            return Err(MergeError::Rules {
                name: name.to_string(),
                first: first_name.to_string(),
            });
        }
    }
    let started_at = inputs.iter().map(|(_, r)| r.meta.started_at).min();
    let ended_at = inputs.iter().map(|(_, r)| r.meta.ended_at).max();
    let (started_at, ended_at) = (started_at.unwrap_or(0), ended_at.unwrap_or(0));
    let elapsed = Duration::from_millis(ended_at.saturating_sub(started_at));

    let summaries = merge_summaries(&inputs, elapsed)?;
    let series = merge_series(&inputs, started_at, first.meta.interval_ms);
    let (alerts, recommendations) =
        evaluate(&series, first.rules.clone()).map_err(|_| MergeError::Rules {
            name: first_name.to_string(),
            first: first_name.to_string(),
        })?;

    let offsets: Vec<(u64, &[super::Rollup])> = inputs
        .iter()
        .map(|(_, r)| (r.meta.started_at - started_at, r.rollups.as_slice()))
        .collect();
    let rollups = merge_rollups(&offsets).map_err(|e| MergeError::Scale {
        name: inputs[e.input].0.to_string(),
        metric: e.metric,
    })?;
    // The same settings everywhere are the fleet's; otherwise none is stated.
    let retention = first.retention.clone().filter(|r| {
        inputs
            .iter()
            .all(|(_, other)| other.retention.as_ref() == Some(r))
    });

    let hosts: BTreeSet<&str> = inputs.iter().map(|(_, r)| r.meta.host.as_str()).collect();
    let mut meta = first.meta.clone();
    meta.host = hosts.into_iter().collect::<Vec<_>>().join(", ");
    meta.target = None;
    meta.started_at = started_at;
    meta.ended_at = ended_at;

    let mut components = BTreeMap::new();
    for (_, r) in &inputs {
        for (key, value) in &r.components {
            components
                .entry(key.clone())
                .and_modify(|acc: &mut serde_json::Value| merge_component(acc, value))
                .or_insert_with(|| without_lists(value));
        }
    }
    for value in components.values_mut() {
        fix_hit_rates(value);
    }

    Ok(Report {
        schema: String::from(SCHEMA),
        meta,
        series,
        summaries,
        components,
        profile: merge_profile(&inputs),
        memory: None,
        rules: first.rules.clone(),
        alerts,
        recommendations,
        rollups,
        retention,
    })
}

fn merge_summaries(
    inputs: &[(&str, &Report)],
    elapsed: Duration,
) -> Result<BTreeMap<String, MetricSummary>, MergeError> {
    let mut merged: BTreeMap<String, MetricSummary> = BTreeMap::new();
    for &(name, r) in inputs {
        for (metric, s) in &r.summaries {
            match merged.get_mut(metric) {
                Some(acc) if acc.unit != s.unit => {
                    return Err(MergeError::Unit {
                        name: name.to_string(),
                        metric: metric.clone(),
                    });
                }
                Some(acc) => acc.histogram.merge(&s.histogram),
                None => {
                    merged.insert(metric.clone(), s.clone());
                }
            }
        }
    }
    for s in merged.values_mut() {
        *s = MetricSummary::from_histogram(s.unit, core::mem::take(&mut s.histogram), elapsed);
    }
    Ok(merged)
}

fn merge_series(inputs: &[(&str, &Report)], fleet_start: u64, interval_ms: u64) -> Series {
    let interval = interval_ms.max(1);
    // slot -> metric -> one value per host (the host's last sample in the slot)
    type Slot = BTreeMap<String, Vec<(f64, Option<f64>)>>;
    let mut slots: BTreeMap<u64, Slot> = BTreeMap::new();
    for (_, r) in inputs {
        let offset = r.meta.started_at.saturating_sub(fleet_start);
        let t = r.series.t_ms();
        let mut host: BTreeMap<u64, BTreeMap<&str, f64>> = BTreeMap::new();
        for metric in r.series.metrics() {
            let Some(col) = r.series.column(metric) else {
                continue;
            };
            for (i, v) in col.iter().enumerate() {
                if let Some(v) = v {
                    let abs = t[i].saturating_add(offset);
                    let slot = (abs + interval / 2) / interval;
                    host.entry(slot).or_default().insert(metric, *v);
                }
            }
        }
        for (slot, values) in host {
            let throughput = values.get(metrics::THROUGHPUT).copied();
            let entry = slots.entry(slot).or_default();
            for (metric, v) in values {
                entry
                    .entry(metric.to_string())
                    .or_default()
                    .push((v, throughput));
            }
        }
    }
    let mut series = Series::new();
    for (slot, values) in slots {
        let combined: Vec<(String, f64)> = values
            .into_iter()
            .map(|(metric, vs)| {
                let v = combine(combine_of(&metric), &vs);
                (metric, v)
            })
            .collect();
        series.push(
            slot.saturating_mul(interval),
            combined.iter().map(|(m, v)| (m.as_str(), *v)),
        );
    }
    series
}

fn combine(how: Combine, values: &[(f64, Option<f64>)]) -> f64 {
    let n = values.len() as f64;
    match how {
        Combine::Sum => values.iter().map(|(v, _)| v).sum(),
        Combine::Max => values.iter().map(|(v, _)| *v).fold(f64::MIN, f64::max),
        Combine::Mean => values.iter().map(|(v, _)| v).sum::<f64>() / n,
        Combine::MeanByThroughput => {
            let weight: f64 = values.iter().filter_map(|(_, w)| *w).sum();
            if weight > 0.0 && values.iter().all(|(_, w)| w.is_some()) {
                values
                    .iter()
                    .map(|(v, w)| v * w.unwrap_or(0.0))
                    .sum::<f64>()
                    / weight
            } else {
                values.iter().map(|(v, _)| v).sum::<f64>() / n
            }
        }
    }
}

fn without_lists(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_array())
                .map(|(k, v)| (k.clone(), without_lists(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Adds `other` into `acc`: integers sum, other numbers take the maximum, objects recurse,
/// differing strings become `"mixed"`, lists are dropped.
fn merge_component(acc: &mut serde_json::Value, other: &serde_json::Value) {
    use serde_json::Value;
    match (acc, other) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_array() {
                    continue;
                }
                match a.get_mut(k) {
                    Some(mine) => merge_component(mine, v),
                    None => {
                        a.insert(k.clone(), without_lists(v));
                    }
                }
            }
        }
        (a @ Value::Number(_), Value::Number(b)) => {
            let sum = a.as_u64().zip(b.as_u64()).map(|(x, y)| x.saturating_add(y));
            *a = match sum {
                Some(s) if a.as_u64().is_some() => Value::from(s),
                _ => {
                    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                    serde_json::Number::from_f64(x.max(y)).map_or(Value::Null, Value::Number)
                }
            };
        }
        (a @ Value::String(_), Value::String(b)) if a.as_str() != Some(b.as_str()) => {
            *a = Value::String(String::from("mixed"));
        }
        (a @ Value::Null, b) => *a = without_lists(b),
        _ => {}
    }
}

/// Recomputes `hit_rate` wherever an object holds `hits` and `lookups` (or `misses`).
fn fix_hit_rates(value: &mut serde_json::Value) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    for v in map.values_mut() {
        fix_hit_rates(v);
    }
    let hits = map.get("hits").and_then(serde_json::Value::as_u64);
    let lookups = map
        .get("lookups")
        .and_then(serde_json::Value::as_u64)
        .or_else(|| {
            let misses = map.get("misses").and_then(serde_json::Value::as_u64)?;
            Some(hits? + misses)
        });
    if let (Some(hits), Some(lookups), true) = (hits, lookups, map.contains_key("hit_rate")) {
        let rate = if lookups == 0 {
            1.0
        } else {
            hits as f64 / lookups as f64
        };
        map.insert("hit_rate".into(), serde_json::Value::from(rate));
    }
}

fn merge_profile(inputs: &[(&str, &Report)]) -> Vec<ProfileRow> {
    let mut rows: BTreeMap<&str, ProfileRow> = BTreeMap::new();
    for (_, r) in inputs {
        for row in &r.profile {
            match rows.get_mut(row.scope.as_str()) {
                None => {
                    rows.insert(&row.scope, row.clone());
                }
                Some(acc) => {
                    acc.calls = acc.calls.saturating_add(row.calls);
                    acc.total_ms += row.total_ms;
                    acc.self_ms += row.self_ms;
                    acc.p50_ms = acc.p50_ms.max(row.p50_ms);
                    acc.p99_ms = acc.p99_ms.max(row.p99_ms);
                    acc.max_ms = acc.max_ms.max(row.max_ms);
                    acc.alloc_bytes = match (acc.alloc_bytes, row.alloc_bytes) {
                        (Some(a), Some(b)) => Some(a.saturating_add(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
        }
    }
    let mut out: Vec<ProfileRow> = rows
        .into_values()
        .map(|mut r| {
            r.mean_ms = if r.calls > 0 {
                r.total_ms / r.calls as f64
            } else {
                0.0
            };
            r
        })
        .collect();
    out.sort_by(|a, b| {
        b.total_ms
            .partial_cmp(&a.total_ms)
            .unwrap_or(core::cmp::Ordering::Equal)
            .then_with(|| a.scope.cmp(&b.scope))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;
    use crate::report::{Meta, Recorder};
    use crate::rules::default_rules;
    use crate::stats::Histogram;
    use alloc::format;
    use alloc::vec;
    use rand::{Rng, SeedableRng};

    fn meta(host: &str, started_at: u64, interval_ms: u64) -> Meta {
        Meta {
            tool_version: "0.1.0".into(),
            host: host.into(),
            target: None,
            started_at,
            ended_at: 0,
            interval_ms,
        }
    }

    /// A host that recorded `latencies_us` spread over `secs` samples.
    fn host(name: &str, start: u64, secs: u64, cpu: f64, latencies_us: &[u64]) -> Report {
        let mut rec = Recorder::new(Instant::ZERO, meta(name, start, 1000), default_rules())
            .expect("default rules are valid");
        for s in 1..=secs {
            rec.handle_sample(
                Instant::from_secs(s),
                [(metrics::SYS_CPU, cpu), (metrics::THROUGHPUT, 100.0)],
            );
        }
        for &us in latencies_us {
            rec.record_latency(Duration::from_micros(us));
        }
        rec.report(Instant::from_secs(secs))
    }

    #[test]
    fn merged_summaries_equal_one_recorder_fed_everything() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let hosts = rng.random_range(1..6usize);
            let mut all = Vec::new();
            let mut reports = Vec::new();
            for h in 0..hosts {
                let n = rng.random_range(0..400);
                let lat: Vec<u64> = (0..n).map(|_| rng.random_range(1..5_000_000)).collect();
                all.extend_from_slice(&lat);
                reports.push(host(&format!("h{h}"), 1_000_000, 10, 10.0 * h as f64, &lat));
            }
            let named: Vec<(String, &Report)> = reports
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("{i}.json"), r))
                .collect();
            let fleet = merge(named.iter().map(|(n, r)| (n.as_str(), *r))).unwrap();
            let exact: Histogram = all.iter().copied().collect();
            match fleet.summaries.get(metrics::LATENCY) {
                None => assert!(all.is_empty()),
                Some(s) => {
                    assert_eq!(s.histogram, exact);
                    let want = MetricSummary::from_histogram(
                        Unit::Millis,
                        exact.clone(),
                        Duration::from_secs(10),
                    );
                    assert_eq!(s, &want, "percentiles come from the merged histogram");
                }
            }
            // CPU: 10 samples per host, each of the host's value.
            let cpu = &fleet.summaries[metrics::SYS_CPU];
            assert_eq!(cpu.summary.count, 10 * hosts as u64);
            fleet.validate().unwrap();
            // Order does not matter.
            let back = merge(named.iter().rev().map(|(n, r)| (n.as_str(), *r))).unwrap();
            assert_eq!(back, fleet);
        }
    }

    #[test]
    fn series_align_on_the_interval_grid_and_combine_by_metric() {
        let a = host("a", 1_000_000, 3, 20.0, &[]);
        // b starts 1.2 s later: its samples land one slot later (1200 rounds to 1000).
        let b = host("b", 1_001_200, 3, 60.0, &[]);
        let fleet = merge([("a", &a), ("b", &b)]).unwrap();
        assert_eq!(fleet.series.t_ms(), &[1000, 2000, 3000, 4000]);
        let cpu = fleet.series.column(metrics::SYS_CPU).unwrap();
        assert_eq!(cpu, &[Some(20.0), Some(40.0), Some(40.0), Some(60.0)]);
        let rps = fleet.series.column(metrics::THROUGHPUT).unwrap();
        assert_eq!(rps, &[Some(100.0), Some(200.0), Some(200.0), Some(100.0)]);
        assert_eq!(fleet.meta.started_at, 1_000_000);
        assert_eq!(fleet.meta.ended_at, 1_004_200);
        assert_eq!(fleet.meta.host, "a, b");
    }

    /// A host whose CPU samples are `cpu`, one a second.
    fn host_with(name: &str, start: u64, cpu: &[f64]) -> Report {
        let mut rec = Recorder::new(Instant::ZERO, meta(name, start, 1000), Vec::new()).unwrap();
        for (i, &v) in cpu.iter().enumerate() {
            rec.handle_sample(Instant::from_secs(i as u64 + 1), [(metrics::SYS_CPU, v)]);
        }
        rec.report(Instant::from_secs(cpu.len() as u64))
    }

    #[test]
    fn merged_rollups_give_the_percentiles_of_the_union() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let a: Vec<f64> = (0..300).map(|_| rng.random_range(0.0..100.0)).collect();
        let b: Vec<f64> = (0..420).map(|_| rng.random_range(20.0..60.0)).collect();
        // b starts two minutes later: its 1-min rows cover the same minutes as a's.
        let (ra, rb) = (host_with("a", 600_000, &a), host_with("b", 720_000, &b));
        let fleet = merge([("a", &ra), ("b", &rb)]).unwrap();
        fleet.validate().unwrap();
        assert_eq!(fleet.retention, ra.retention);
        assert_eq!(fleet.rollups.len(), 2);
        let minute = &fleet.rollups[0];
        assert_eq!(minute.step_ms, 60_000);
        assert_eq!(
            minute.rows().t_ms,
            (0..10).map(|m| m * 60_000).collect::<Vec<_>>()
        );
        let col = &minute.rows().metrics[metrics::SYS_CPU];
        // Row counts add: a has 59 + 60×4 + 1 samples in minutes 0..=5, b 59 + … from 2.
        assert_eq!(col.count.iter().sum::<u64>(), 720);
        assert_eq!(col.count[3], 120, "both hosts' whole minute");
        let mean3 = (a[179..239].iter().sum::<f64>() + b[59..119].iter().sum::<f64>()) / 120.0;
        assert!((col.mean[3].unwrap() - mean3).abs() < 0.01, "mean by count");
        let mut all: Vec<f64> = a
            .iter()
            .chain(&b)
            .map(|v| (v * 100.0).round() / 100.0)
            .collect();
        all.sort_by(f64::total_cmp);
        // The minute tier holds every value (its last rows are open); the hour tier gets a
        // minute row when it closes.
        for tier in &fleet.rollups[..1] {
            for q in [0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
                let rank = ((q * all.len() as f64).ceil() as usize).max(1);
                let exact = all[rank - 1];
                let got = tier.quantile(metrics::SYS_CPU, 0, u64::MAX, q).unwrap();
                assert!(
                    (got - exact).abs() <= exact / 32.0 + 0.01,
                    "step {} q {q}: {got} vs {exact}",
                    tier.step_ms
                );
            }
        }
        // The hour tier: one row, without each host's open minute (1 sample each).
        assert_eq!(
            fleet.rollups[1].rows().metrics[metrics::SYS_CPU].count,
            vec![718]
        );
        // Order does not matter.
        assert_eq!(merge([("b", &rb), ("a", &ra)]).unwrap(), fleet);
    }

    #[test]
    fn misaligned_hosts_floor_their_rows_onto_the_fleet_grid() {
        let a = host_with("a", 0, &[10.0; 120]);
        // c starts 30 s into a's minute: its rows land on the fleet row their start falls in.
        let c = host_with("c", 30_000, &[50.0; 120]);
        let fleet = merge([("a", &a), ("c", &c)]).unwrap();
        fleet.validate().unwrap();
        let minute = &fleet.rollups[0];
        assert_eq!(minute.rows().t_ms, vec![0, 60_000, 120_000]);
        let col = &minute.rows().metrics[metrics::SYS_CPU];
        // c's row 0 (its seconds 1..59, fleet time 31..89 s) joins fleet row 0.
        assert_eq!(col.count, vec![59 + 59, 60 + 60, 1 + 1]);
        assert_eq!(col.max[0], Some(50.0));
        let mut d = host_with("d", 0, &[1.0]);
        d.rollups[0]
            .rows_mut()
            .metrics
            .get_mut(metrics::SYS_CPU)
            .unwrap()
            .scale = 7.0;
        let e = merge([("a", &a), ("d.json", &d)]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("d.json: rollups count sys_cpu_pct at another scale"),
            "{e}"
        );
    }

    #[test]
    fn latency_series_weight_and_bound() {
        let vs = [(10.0, Some(300.0)), (1.0, Some(100.0))];
        assert_eq!(combine(Combine::MeanByThroughput, &vs), 7.75);
        assert_eq!(
            combine(Combine::MeanByThroughput, &[(2.0, None), (4.0, Some(1.0))]),
            3.0
        );
        assert_eq!(combine(Combine::Max, &vs), 10.0);
        assert_eq!(combine_of(metrics::LATENCY_P99), Combine::Max);
        assert_eq!(combine_of(metrics::PROC_RSS), Combine::Sum);
        assert_eq!(combine_of(metrics::CACHE_HIT_RATE), Combine::Mean);
    }

    #[test]
    fn different_intervals_schemas_or_rules_name_the_file() {
        let a = host("a", 0, 2, 1.0, &[1]);
        let mut b = host("b", 0, 2, 1.0, &[1]);
        b.meta.interval_ms = 500;
        let e = merge([("a.json", &a), ("b.json", &b)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "b.json: sampled every 500 ms but a.json every 1000 ms; merge only reports with \
             the same --interval"
        );
        let mut c = host("c", 0, 2, 1.0, &[1]);
        c.schema = "perfopt.report/v2".into();
        let e = merge([("a.json", &a), ("c.json", &c)]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.json: schema is \"perfopt.report/v2\""),
            "{e}"
        );
        let mut d = host("d", 0, 2, 1.0, &[1]);
        d.rules[0].threshold += 1.0;
        let e = merge([("a.json", &a), ("d.json", &d)]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("d.json: evaluated with other rules"),
            "{e}"
        );
        assert_eq!(merge([]).unwrap_err(), MergeError::Empty);
    }

    #[test]
    fn components_sum_counters_and_recompute_hit_rates() {
        let mut a = host("a", 0, 1, 1.0, &[]);
        let mut b = host("b", 0, 1, 1.0, &[]);
        a.components.insert(
            "cache".into(),
            serde_json::json!({"hits": 30, "lookups": 40, "hit_rate": 0.75,
                "l1": {"hits": 10, "misses": 30, "evictions": 1},
                "algorithm": "x", "history": [1, 2]}),
        );
        b.components.insert(
            "cache".into(),
            serde_json::json!({"hits": 10, "lookups": 60, "hit_rate": 0.1667,
                "l1": {"hits": 5, "misses": 5, "evictions": 2}, "algorithm": "y",
                "wait_ms": {"p99": 3.5}}),
        );
        let fleet = merge([("a", &a), ("b", &b)]).unwrap();
        let c = &fleet.components["cache"];
        assert_eq!(c["hits"], 40);
        assert_eq!(c["lookups"], 100);
        assert_eq!(c["hit_rate"], 0.4);
        assert_eq!(c["l1"]["evictions"], 3);
        assert_eq!(c["algorithm"], "mixed");
        assert_eq!(c["wait_ms"]["p99"], 3.5);
        assert!(c.get("history").is_none(), "lists are dropped");
    }

    #[test]
    fn profile_rows_add_up() {
        let row = |calls, total: f64, p99| ProfileRow {
            scope: "s".into(),
            calls,
            total_ms: total,
            self_ms: total,
            mean_ms: total / calls as f64,
            p50_ms: 1.0,
            p99_ms: p99,
            max_ms: p99,
            alloc_bytes: None,
        };
        let mut a = host("a", 0, 1, 1.0, &[]);
        let mut b = host("b", 0, 1, 1.0, &[]);
        a.profile.push(row(10, 20.0, 5.0));
        b.profile.push(row(30, 20.0, 9.0));
        let fleet = merge([("a", &a), ("b", &b)]).unwrap();
        assert_eq!(fleet.profile.len(), 1);
        let r = &fleet.profile[0];
        assert_eq!(
            (r.calls, r.total_ms, r.mean_ms, r.p99_ms),
            (40, 40.0, 1.0, 9.0)
        );
    }
}
