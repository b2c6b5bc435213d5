//! [`Recorder`]: the sans-IO brain of a monitor. The host feeds it samples and request
//! latencies; it keeps the series, whole-run histograms and the rule engine, and builds the
//! [`Report`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::encoding::{dequantise, quantise};
use super::metrics::{self, Unit};
use super::tiers::{Retention, TierStore, Tiers};
use super::{
    AlertRecord, Evidence, MemoryAnalysis, Meta, MetricSummary, Recommendation, Report, SCHEMA,
    Series,
};
use crate::Instant;
use crate::leak::{self, Envelope, FastGrowth, LeakConfig, LeakReport, LeakState, Verdict};
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
    /// Report time at `start` (non-zero for a resumed report).
    offset: Duration,
    meta: Meta,
    retention: Retention,
    tiers: Tiers,
    /// The recent samples the rules look at (longest rule window and a margin).
    recent: Series,
    recent_ms: u64,
    last_t: Option<u64>,
    histograms: BTreeMap<String, (Unit, Histogram)>,
    latency_us: Histogram,
    engine: RuleEngine,
    alerts: Vec<AlertRecord>,
    unpolled: VecDeque<AlertRecord>,
    /// Recommendations of a resumed report, for rules that have not fired since.
    prior_recommendations: Vec<Recommendation>,
    leak: LeakConfig,
    state: LeakState,
    /// The slow verdict over the finished envelope points.
    slow: LeakReport,
    leak_slope: Option<f64>,
}

/// At most this many alert records are kept (the oldest go first).
pub const MAX_ALERTS: usize = 10_000;

/// How much memory the retained data takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Full-resolution samples held.
    pub samples: usize,
    /// Full-resolution values held (samples × metrics present).
    pub values: usize,
    /// Bytes of the encoded full-resolution tier (times, values, per-column overhead).
    pub full_bytes: usize,
    /// Bytes of the encoded rollup tiers.
    pub rollup_bytes: usize,
}

impl Recorder {
    /// A recorder whose report starts at `start` (`meta.started_at` is the same moment in
    /// Unix milliseconds), evaluating `rules`, with the default [`Retention`].
    ///
    /// # Errors
    /// The first invalid rule.
    pub fn new(start: Instant, meta: Meta, rules: Vec<Rule>) -> Result<Recorder, RuleError> {
        let engine = RuleEngine::new(rules)?;
        let longest = engine
            .rules()
            .iter()
            .map(|r| r.window_ms)
            .max()
            .unwrap_or(0);
        let leak = LeakConfig::default();
        let retention = Retention::default();
        Ok(Recorder {
            start,
            offset: Duration::ZERO,
            meta,
            tiers: Tiers::new(&retention),
            retention,
            recent: Series::new(),
            recent_ms: longest.saturating_add(60_000),
            last_t: None,
            histograms: BTreeMap::new(),
            latency_us: Histogram::new(),
            engine,
            alerts: Vec::new(),
            unpolled: VecDeque::new(),
            prior_recommendations: Vec::new(),
            state: LeakState {
                envelope: Envelope::new(&leak),
                fast: FastGrowth::new(&leak),
            },
            slow: leak::analyze_envelope(&[], &leak),
            leak,
            leak_slope: None,
        })
    }

    /// Continues `report`: its full-resolution series, rollups, whole-run summaries, alert
    /// timeline, recommendations and leak settings, evaluating its rules (whose state is
    /// rebuilt by replaying the series). `now` on the caller's clock is `elapsed` after
    /// `report.meta.started_at`; later samples must come after the report's last one.
    ///
    /// # Errors
    /// Invalid rules or retention settings in the report, in one line.
    pub fn resume(now: Instant, elapsed: Duration, report: &Report) -> Result<Recorder, String> {
        let mut rec = Recorder::new(now, report.meta.clone(), report.rules.clone())
            .map_err(|e| format!("rules: {e}"))?;
        rec.offset = elapsed;
        if let Some(r) = &report.retention {
            r.validate()?;
            rec.retention = r.clone();
        }
        rec.tiers = Tiers::new(&rec.retention);
        let have_rollups = !report.rollups.is_empty();
        if have_rollups {
            rec.tiers.rollups = report.rollups.iter().map(TierStore::from_rollup).collect();
        }
        let series = &report.series;
        let columns: Vec<(&str, &[Option<f64>])> = series
            .metrics()
            .filter_map(|m| series.column(m).map(|c| (m, c)))
            .collect();
        let mut values = Vec::new();
        for (i, &t) in series.t_ms().iter().enumerate() {
            values.clear();
            values.extend(
                columns
                    .iter()
                    .filter_map(|&(m, c)| c[i].map(|v| (m, quantise(v, scale_of(m)), scale_of(m)))),
            );
            rec.tiers.full.push(t, &values);
            if !have_rollups {
                rec.tiers.roll(t, &values);
            }
            rec.engine.handle_tick(Instant::from_millis(t), series);
            while rec.engine.poll_event().is_some() {}
        }
        rec.last_t = series.t_ms().last().copied();
        rec.recent = series.clone();
        rec.trim_recent();
        rec.alerts.clone_from(&report.alerts);
        rec.prior_recommendations
            .clone_from(&report.recommendations);
        for (name, s) in &report.summaries {
            if name == metrics::LATENCY {
                rec.latency_us = s.histogram.clone();
            } else {
                rec.histograms
                    .insert(name.clone(), (s.unit, s.histogram.clone()));
            }
        }
        match &report.memory {
            Some(m) => {
                rec.set_leak_config(m.config.clone());
                if let Some(state) = &m.state {
                    rec.state = state.clone();
                    rec.refresh_leak(true);
                }
            }
            None => rec.set_leak_config(LeakConfig::default()),
        }
        Ok(rec)
    }

    /// Sets the retention of the tiers. Only before the first sample.
    ///
    /// # Errors
    /// Invalid settings, or samples already recorded.
    pub fn set_retention(&mut self, retention: Retention) -> Result<(), String> {
        retention.validate()?;
        if self.last_t.is_some() {
            return Err(String::from(
                "retention can only be set before the first sample",
            ));
        }
        self.tiers = Tiers::new(&retention);
        self.retention = retention;
        Ok(())
    }

    /// Sets how the target's RSS is analysed for leaks (see [`crate::leak`]). The slow
    /// verdict is refreshed once per [`LeakConfig::envelope`], the fast growth check once
    /// per [`LeakConfig::fast_bucket`]; the result is recorded as the metric
    /// [`metrics::MEM_LEAK`] (the slope in MB/h while a leak or steep growth is seen, else
    /// 0), which the `memory_leak` rule watches. The analysis is rebuilt from the
    /// full-resolution samples held.
    pub fn set_leak_config(&mut self, config: LeakConfig) {
        self.state = LeakState {
            envelope: Envelope::new(&config),
            fast: FastGrowth::new(&config),
        };
        self.leak = config;
        if self.last_t.is_some() {
            let series = self.tiers.full.to_series();
            if let Some(col) = series.column(metrics::PROC_RSS) {
                for (&t, v) in series.t_ms().iter().zip(col) {
                    if let Some(v) = v {
                        let _ = (self.state.envelope.push(t, *v), self.state.fast.push(t, *v));
                    }
                }
            }
        }
        self.refresh_leak(true);
    }

    /// Appends a sample at `now` and evaluates the rules. Returns `false` and ignores the
    /// sample if `now` is not after the previous sample (to the millisecond).
    ///
    /// Values are kept at their unit's resolution (0.01 for percentages, rates and counts,
    /// 1 µs for milliseconds, 1 byte): the value stored, evaluated and reported is
    /// `round(value × scale) / scale`. Non-finite values are dropped; a metric given twice
    /// keeps its last value. `O(metrics + rule windows)` per sample, whatever the run's
    /// length.
    pub fn handle_sample<'a>(
        &mut self,
        now: Instant,
        values: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> bool {
        let t_ms = self.elapsed(now).as_millis();
        let t_ms = u64::try_from(t_ms).unwrap_or(u64::MAX);
        if self.last_t.is_some_and(|last| t_ms <= last) {
            return false;
        }
        self.last_t = Some(t_ms);
        let mut kept: Vec<(&str, f64)> = Vec::new();
        for (name, v) in values {
            match kept.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = v,
                None => kept.push((name, v)),
            }
        }
        let mut values = kept;
        values.retain(|(_, v)| v.is_finite());
        if let Some(&(_, rss)) = values.iter().find(|(n, _)| *n == metrics::PROC_RSS) {
            self.update_leak(t_ms, rss);
        }
        if let Some(slope) = self.leak_slope
            && !values.iter().any(|(n, _)| *n == metrics::MEM_LEAK)
        {
            values.push((metrics::MEM_LEAK, slope));
        }
        let quantised: Vec<(&str, i64, f64)> = values
            .iter()
            .map(|&(name, v)| {
                let scale = scale_of(name);
                (name, quantise(v, scale), scale)
            })
            .collect();
        self.tiers.push(t_ms, &quantised);
        self.recent.push(
            t_ms,
            quantised
                .iter()
                .map(|&(name, q, scale)| (name, dequantise(q, scale))),
        );
        for &(name, q, _) in &quantised {
            let unit = metrics::lookup(name).map_or(Unit::Count, |d| d.unit);
            let (_, h) = self
                .histograms
                .entry(String::from(name))
                .or_insert_with(|| (unit, Histogram::new()));
            h.record(u64::try_from(q).unwrap_or(0));
        }
        self.engine
            .handle_tick(Instant::from_millis(t_ms), &self.recent);
        drain_alerts(&mut self.engine, |a| {
            self.alerts.push(a.clone());
            self.unpolled.push_back(a);
        });
        if self.alerts.len() > MAX_ALERTS + MAX_ALERTS / 8 {
            let excess = self.alerts.len() - MAX_ALERTS;
            self.alerts.drain(..excess);
        }
        while self.unpolled.len() > MAX_ALERTS {
            self.unpolled.pop_front();
        }
        self.trim_recent();
        true
    }

    /// Records that the watched process ended at `now` (with its exit `code` or the `signal`
    /// that killed it, as far as known): the report's `meta.target.exit`. Nothing happens
    /// when the report has no target.
    pub fn set_target_exit(&mut self, now: Instant, code: Option<i32>, signal: Option<i32>) {
        let at_ms = u64::try_from(self.elapsed(now).as_millis()).unwrap_or(u64::MAX);
        if let Some(target) = &mut self.meta.target {
            target.exit = Some(super::TargetExit {
                at_ms,
                code,
                signal,
            });
        }
    }

    /// Report time at `now`.
    fn elapsed(&self, now: Instant) -> Duration {
        self.offset
            .saturating_add(now.saturating_duration_since(self.start))
    }

    /// Drops rule-window samples no rule can see any more, a chunk at a time.
    fn trim_recent(&mut self) {
        let (Some(&first), Some(last)) = (self.recent.t_ms().first(), self.last_t) else {
            return;
        };
        if last.saturating_sub(first) > self.recent_ms.saturating_mul(2) {
            self.recent.drop_before(last.saturating_sub(self.recent_ms));
        }
    }

    fn update_leak(&mut self, t_ms: u64, rss: f64) {
        let closed = self.state.envelope.push(t_ms, rss);
        let started = self.state.fast.push(t_ms, rss);
        if closed {
            self.refresh_leak(true);
        } else if started {
            self.refresh_leak(false);
        }
    }

    /// Recomputes the recorded slope from finished buckets only, so it is a function of the
    /// analysis state (and a resumed run records the same values as an uninterrupted one).
    fn refresh_leak(&mut self, slow_too: bool) {
        if slow_too {
            self.slow = leak::analyze_envelope(&self.state.envelope.finished(), &self.leak);
        }
        let report = leak::combine(self.slow.clone(), &self.state.fast, &self.leak);
        self.leak_slope = match report.verdict {
            Verdict::Leak | Verdict::Growth => Some(report.slope_mb_per_h),
            Verdict::None => Some(0.0),
            _ => None,
        };
    }

    /// The leak analysis now: bounded work (at most [`Envelope::MAX_POINTS`] points).
    fn leak_report(&self) -> LeakReport {
        leak::combine(
            leak::analyze_envelope(&self.state.envelope.points(), &self.leak),
            &self.state.fast,
            &self.leak,
        )
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

    /// The full-resolution series held (decoded: `O(retained samples)`).
    pub fn series(&self) -> Series {
        self.tiers.full.to_series()
    }

    /// The retention settings.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// How much the retained data takes.
    pub fn footprint(&self) -> Footprint {
        let (full_bytes, values) = self.tiers.full.footprint();
        Footprint {
            samples: self.tiers.full.len(),
            values,
            full_bytes,
            rollup_bytes: self.tiers.heap_bytes() - full_bytes,
        }
    }

    /// The rules being evaluated.
    pub fn rules(&self) -> &[Rule] {
        self.engine.rules()
    }

    /// Recommendations for every rule that has fired so far (and, after a resume, those of
    /// the resumed report for rules that have not fired again).
    pub fn recommendations(&self) -> Vec<Recommendation> {
        let mut out = recommendations(&self.engine);
        for prior in &self.prior_recommendations {
            if !out.iter().any(|r| r.rule == prior.rule) {
                out.push(prior.clone());
            }
        }
        sort_recommendations(&mut out);
        out
    }

    /// The report as of `now`: `O(retained points)`, independent of the run's length.
    pub fn report(&self, now: Instant) -> Report {
        self.build(now, true)
    }

    /// The report as of `now` without its history: `series` holds one row, each metric's
    /// latest value within the rules' window, and there are no rollups; summaries, rules,
    /// alerts, recommendations and the memory analysis are those of
    /// [`report`](Recorder::report). What a scrape of the current figures needs
    /// (`/metrics`), at a cost that does not grow with the run's length.
    pub fn latest(&self, now: Instant) -> Report {
        self.build(now, false)
    }

    fn build(&self, now: Instant, history: bool) -> Report {
        let elapsed = self.elapsed(now);
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
        let (series, rollups) = if history {
            let rollups = self.tiers.rollups.iter().map(TierStore::to_rollup);
            (self.tiers.full.to_series(), rollups.collect())
        } else {
            (self.recent.latest(), Vec::new())
        };
        let watched_rss = self.histograms.contains_key(metrics::PROC_RSS);
        Report {
            schema: String::from(SCHEMA),
            meta,
            series,
            rollups,
            retention: Some(self.retention.clone()),
            summaries,
            components: BTreeMap::new(),
            profile: Vec::new(),
            memory: watched_rss.then(|| MemoryAnalysis {
                metric: String::from(metrics::PROC_RSS),
                leak: self.leak_report(),
                config: self.leak.clone(),
                state: Some(self.state.clone()),
            }),
            rules: self.engine.rules().to_vec(),
            alerts: self.alerts.clone(),
            recommendations: self.recommendations(),
        }
    }
}

/// Histogram units per unit of `metric` (unknown metrics count in hundredths).
pub(crate) fn scale_of(metric: &str) -> f64 {
    metrics::lookup(metric)
        .map_or(Unit::Count, |d| d.unit)
        .scale()
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
    sort_recommendations(&mut out);
    out
}

/// Most severe first, then the earliest to fire.
fn sort_recommendations(out: &mut [Recommendation]) {
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.evidence.fired_at_ms.cmp(&b.evidence.fired_at_ms))
    });
}
