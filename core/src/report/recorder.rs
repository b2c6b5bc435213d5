//! [`Recorder`]: the sans-IO brain of a monitor. The host feeds it samples and request
//! latencies; it keeps the series, whole-run histograms and the rule engine, and builds the
//! [`Report`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::metrics::{self, Unit};
use super::{
    AlertRecord, Evidence, MemoryAnalysis, Meta, MetricSummary, Recommendation, Report, SCHEMA,
    Series,
};
use crate::Instant;
use crate::leak::{self, LeakConfig, Verdict};
use crate::rules::{Rule, RuleEngine, RuleError};
use crate::stats::Histogram;

/// Builds a report from samples.
///
/// # Calling contract
/// - [`Recorder::handle_sample`] (mutates) appends one sample of metric values at `now`,
///   records them in whole-run histograms and evaluates the rules over the series. Call it
///   once per sampling interval with a later `now` each time.
/// - [`Recorder::record_latency`] (mutates) adds one request latency to the whole-run
///   latency histogram; hosts call it as requests finish, in any order.
/// - [`Recorder::poll_alert`] drains the rule state changes, oldest first.
/// - [`Recorder::report`] builds the report at `now` without changing the recorder.
///
/// Rules are evaluated at the sample's time *relative to the start*, truncated to the
/// millisecond, exactly as [`evaluate`] replays a saved series: re-evaluating a report with
/// its own rules reproduces its alerts.
///
/// # Example
/// ```
/// use perfopt_core::{Duration, Instant};
/// use perfopt_core::report::{metrics, Meta, Recorder};
/// use perfopt_core::rules::default_rules;
///
/// let meta = Meta { tool_version: "0.1.0".into(), host: "h".into(), target: None,
///                   started_at: 1_700_000_000_000, ended_at: 0, interval_ms: 1000 };
/// let t0 = Instant::from_secs(100);
/// let mut rec = Recorder::new(t0, meta, default_rules()).unwrap();
/// for s in 0..20 {
///     rec.handle_sample(t0.saturating_add(Duration::from_secs(s)), [(metrics::SYS_CPU, 97.0)]);
/// }
/// let report = rec.report(t0.saturating_add(Duration::from_secs(20)));
/// assert_eq!(report.recommendations[0].rule, "cpu");
/// assert_eq!(report.meta.ended_at, 1_700_000_020_000);
/// ```
#[derive(Clone, Debug)]
pub struct Recorder {
    start: Instant,
    meta: Meta,
    series: Series,
    histograms: BTreeMap<String, (Unit, Histogram)>,
    latency_us: Histogram,
    engine: RuleEngine,
    alerts: Vec<AlertRecord>,
    unpolled: VecDeque<AlertRecord>,
    leak: LeakConfig,
    leak_slope: Option<f64>,
    leak_next_ms: u64,
}

impl Recorder {
    /// A recorder whose report starts at `start` (`meta.started_at` is the same moment in
    /// Unix milliseconds), evaluating `rules`.
    ///
    /// # Errors
    /// The first invalid rule.
    pub fn new(start: Instant, meta: Meta, rules: Vec<Rule>) -> Result<Recorder, RuleError> {
        Ok(Recorder {
            start,
            meta,
            series: Series::new(),
            histograms: BTreeMap::new(),
            latency_us: Histogram::new(),
            engine: RuleEngine::new(rules)?,
            alerts: Vec::new(),
            unpolled: VecDeque::new(),
            leak: LeakConfig::default(),
            leak_slope: None,
            leak_next_ms: 0,
        })
    }

    /// Sets how the target's RSS is analysed for leaks (see [`crate::leak`]). The verdict is
    /// refreshed once per [`LeakConfig::envelope`] and recorded as the metric
    /// [`metrics::MEM_LEAK`] (the slope in MB/h while a leak is suspected, else 0), which the
    /// `memory_leak` rule watches.
    pub fn set_leak_config(&mut self, config: LeakConfig) {
        self.leak = config;
    }

    /// Appends a sample at `now` and evaluates the rules. Returns `false` and ignores the
    /// sample if `now` is not after the previous sample (to the millisecond).
    pub fn handle_sample<'a>(
        &mut self,
        now: Instant,
        values: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> bool {
        let t_ms = now.saturating_duration_since(self.start).as_millis();
        let t_ms = u64::try_from(t_ms).unwrap_or(u64::MAX);
        if self.series.t_ms().last().is_some_and(|&last| t_ms <= last) {
            return false;
        }
        let mut values: Vec<(&str, f64)> = values.into_iter().collect();
        if let Some(&(_, rss)) = values.iter().find(|(n, _)| *n == metrics::PROC_RSS) {
            self.update_leak(t_ms, rss);
        }
        if let Some(slope) = self.leak_slope {
            values.push((metrics::MEM_LEAK, slope));
        }
        self.series.push(t_ms, values.iter().copied());
        for &(name, v) in &values {
            if !v.is_finite() {
                continue;
            }
            let unit = metrics::lookup(name).map_or(Unit::Count, |d| d.unit);
            let (_, h) = self
                .histograms
                .entry(String::from(name))
                .or_insert_with(|| (unit, Histogram::new()));
            h.record(to_raw(v, unit));
        }
        self.engine
            .handle_tick(Instant::from_millis(t_ms), &self.series);
        drain_alerts(&mut self.engine, |a| {
            self.alerts.push(a.clone());
            self.unpolled.push_back(a);
        });
        true
    }

    fn update_leak(&mut self, t_ms: u64, rss: f64) {
        if t_ms < self.leak_next_ms {
            return;
        }
        let envelope_ms = u64::try_from(self.leak.envelope.as_millis()).unwrap_or(u64::MAX);
        self.leak_next_ms = t_ms.saturating_add(envelope_ms.max(1));
        let mut samples = self.rss_samples();
        samples.push((t_ms, rss));
        let report = leak::analyze(&samples, &self.leak);
        self.leak_slope = match report.verdict {
            Verdict::Leak => Some(report.slope_mb_per_h),
            Verdict::None => Some(0.0),
            _ => None,
        };
    }

    fn rss_samples(&self) -> Vec<(u64, f64)> {
        let Some(col) = self.series.column(metrics::PROC_RSS) else {
            return Vec::new();
        };
        self.series
            .t_ms()
            .iter()
            .zip(col)
            .filter_map(|(&t, v)| v.map(|v| (t, v)))
            .collect()
    }

    /// Adds one request latency to the whole-run latency summary (`summaries.latency_ms`).
    pub fn record_latency(&mut self, latency: Duration) {
        self.latency_us
            .record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Merges a histogram of request latencies in microseconds.
    pub fn merge_latency_us(&mut self, histogram: &Histogram) {
        self.latency_us.merge(histogram);
    }

    /// The next rule state change, oldest first.
    pub fn poll_alert(&mut self) -> Option<AlertRecord> {
        self.unpolled.pop_front()
    }

    /// The series so far.
    pub fn series(&self) -> &Series {
        &self.series
    }

    /// The rules being evaluated.
    pub fn rules(&self) -> &[Rule] {
        self.engine.rules()
    }

    /// Recommendations for every rule that has fired so far.
    pub fn recommendations(&self) -> Vec<Recommendation> {
        recommendations(&self.engine)
    }

    /// The report as of `now`.
    pub fn report(&self, now: Instant) -> Report {
        let elapsed = now.saturating_duration_since(self.start);
        let mut meta = self.meta.clone();
        meta.ended_at = meta
            .started_at
            .saturating_add(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        let mut summaries: BTreeMap<String, MetricSummary> = self
            .histograms
            .iter()
            .map(|(name, (unit, h))| {
                (
                    name.clone(),
                    MetricSummary::from_histogram(*unit, h.clone(), elapsed),
                )
            })
            .collect();
        if !self.latency_us.is_empty() {
            summaries.insert(
                String::from(metrics::LATENCY),
                MetricSummary::from_histogram(Unit::Millis, self.latency_us.clone(), elapsed),
            );
        }
        Report {
            schema: String::from(SCHEMA),
            meta,
            series: self.series.clone(),
            summaries,
            components: BTreeMap::new(),
            profile: Vec::new(),
            memory: self
                .series
                .column(metrics::PROC_RSS)
                .map(|_| MemoryAnalysis {
                    metric: String::from(metrics::PROC_RSS),
                    leak: leak::analyze(&self.rss_samples(), &self.leak),
                    config: self.leak.clone(),
                }),
            rules: self.engine.rules().to_vec(),
            alerts: self.alerts.clone(),
            recommendations: self.recommendations(),
        }
    }
}

/// Replays `series` through `rules` in simulated time, as [`Recorder`] does live: the alert
/// timeline and recommendations those rules would have given. The browser viewer uses it to
/// re-evaluate a report with edited thresholds.
///
/// # Errors
/// The first invalid rule.
pub fn evaluate(
    series: &Series,
    rules: Vec<Rule>,
) -> Result<(Vec<AlertRecord>, Vec<Recommendation>), RuleError> {
    let mut engine = RuleEngine::new(rules)?;
    let mut alerts = Vec::new();
    for &t in series.t_ms() {
        engine.handle_tick(Instant::from_millis(t), series);
        drain_alerts(&mut engine, |a| alerts.push(a));
    }
    Ok((alerts, recommendations(&engine)))
}

fn drain_alerts(engine: &mut RuleEngine, mut sink: impl FnMut(AlertRecord)) {
    while let Some(ev) = engine.poll_event() {
        sink(AlertRecord {
            rule: engine.rules()[ev.rule].id.clone(),
            state: ev.state,
            at_ms: ev.at.as_millis(),
            value: ev.value,
        });
    }
}

fn recommendations(engine: &RuleEngine) -> Vec<Recommendation> {
    let mut out: Vec<Recommendation> = engine
        .findings()
        .map(|f| {
            let rule = &engine.rules()[f.rule];
            Recommendation {
                rule: rule.id.clone(),
                severity: rule.severity,
                state: f.state,
                message: rule.message.clone(),
                advice: rule.advice.clone(),
                evidence: Evidence {
                    metric: rule.metric.clone(),
                    aggregate: rule.aggregate,
                    observed: f.observed,
                    peak: f.peak,
                    threshold: rule.threshold,
                    window_s: rule.window_ms as f64 / 1000.0,
                    since_ms: f.since.as_millis(),
                    fired_at_ms: f.fired_at.as_millis(),
                    fired_count: f.fired_count,
                },
            }
        })
        .collect();
    // Most severe first, then the earliest to fire.
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.evidence.fired_at_ms.cmp(&b.evidence.fired_at_ms))
    });
    out
}

/// `round(value * unit.scale())` as a histogram value; negative values count as zero.
pub(crate) fn to_raw(value: f64, unit: Unit) -> u64 {
    let scaled = value * unit.scale();
    if scaled > 0.0 {
        // `as` saturates for values beyond u64 and the +0.5 rounds half up.
        (scaled + 0.5) as u64
    } else {
        0
    }
}
