//! Memory-leak verdict from a resident-memory (RSS) series.
//!
//! Memory of a healthy service is not flat: allocators and garbage collectors make a
//! sawtooth, caches warm up in a step, load makes noise. A leak is *sustained growth of the
//! floor*. [`analyze`] therefore
//!
//! 1. skips the warm-up (the first [`LeakConfig::warmup`]),
//! 2. follows the **lower envelope**: the minimum of each [`LeakConfig::envelope`] bucket, so
//!    a sawtooth counts by its troughs,
//! 3. fits a **Theil–Sen** line (median of pairwise slopes: robust to outliers) and measures
//!    the fit by **Kendall's τ** (how consistently later troughs are higher), which must
//!    reach [`LeakConfig::min_fit`] and be significant (3 σ of τ under no trend),
//! 4. asks the growth to be **sustained**: each half of the envelope must have a slope of at
//!    least a quarter of the whole (a step, like a cache warming up, leaves one half flat),
//! 5. and compares the slope with [`LeakConfig::min_slope_mb_per_h`].
//!
//! With a memory limit it projects the time until the floor reaches it.
//!
//! The envelope is bounded ([`Envelope`] keeps at most 256 points by merging neighbouring
//! buckets as a run grows), so the analysis costs the same after a month as after an hour.
//!
//! Steep growth gets a faster answer: [`FastGrowth`] watches the floor of 5-second buckets
//! over the last 50 s and names steady growth above 1 MB/s (3600 MB/h) [`Verdict::Growth`] about 55 s
//! after it starts, without the warm-up; a sawtooth shorter than the window, a step, and a
//! longer sawtooth that only returns to earlier heights are not called growth.
//!
//! # Example
//! ```
//! use perfopt_core::leak::{analyze, LeakConfig, Verdict};
//!
//! // 2 hours, one sample a second, growing 20 MB/h from 100 MB.
//! let samples: Vec<(u64, f64)> = (0..7200u64)
//!     .map(|s| (s * 1000, 100e6 + s as f64 * 20e6 / 3600.0))
//!     .collect();
//! let report = analyze(&samples, &LeakConfig::default());
//! assert_eq!(report.verdict, Verdict::Leak);
//! assert!((report.slope_mb_per_h - 20.0).abs() < 0.5);
//! ```

use alloc::vec::Vec;
use core::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakConfig {
    /// Samples in this first stretch are ignored.
    pub warmup: Duration,
    /// Width of the buckets whose minimum makes the lower envelope.
    pub envelope: Duration,
    /// Envelope points needed for any verdict.
    pub min_points: usize,
    /// Growth below this (MB per hour, 1 MB = 10^6 bytes) is not a leak.
    pub min_slope_mb_per_h: f64,
    /// Kendall's τ needed to call the growth consistent (0..1); τ must also be at least three
    /// standard deviations above zero, its spread when there is no trend.
    pub min_fit: f64,
    /// Memory limit in bytes, for the projection (total memory, a cgroup limit, …).
    pub limit_bytes: Option<f64>,
    /// Fast check: the trailing span watched for steep growth.
    #[serde(default = "default_fast_window")]
    pub fast_window: Duration,
    /// Fast check: width of the buckets whose minimum is the floor.
    #[serde(default = "default_fast_bucket")]
    pub fast_bucket: Duration,
    /// Fast check: growth below this (MB per hour) is left to the slow analysis.
    #[serde(default = "default_fast_min_slope")]
    pub fast_min_slope_mb_per_h: f64,
}

fn default_fast_window() -> Duration {
    Duration::from_secs(50)
}

fn default_fast_bucket() -> Duration {
    Duration::from_secs(5)
}

fn default_fast_min_slope() -> f64 {
    LeakConfig::DEFAULT_FAST_MIN_SLOPE_MB_PER_H
}

impl LeakConfig {
    /// The default [`LeakConfig::min_slope_mb_per_h`], also the `memory_leak` rule's threshold.
    pub const DEFAULT_MIN_SLOPE_MB_PER_H: f64 = 1.0;
    /// The default [`LeakConfig::fast_min_slope_mb_per_h`]: 3600 MB/h, 1 MB/s. Slower
    /// growth is the slow analysis' to judge (a GC ramp of 20 MB over 40 s is 0.5 MB/s).
    pub const DEFAULT_FAST_MIN_SLOPE_MB_PER_H: f64 = 3600.0;
}

impl Default for LeakConfig {
    fn default() -> Self {
        LeakConfig {
            warmup: Duration::from_secs(120),
            envelope: Duration::from_secs(60),
            min_points: 8,
            min_slope_mb_per_h: LeakConfig::DEFAULT_MIN_SLOPE_MB_PER_H,
            min_fit: 0.4,
            limit_bytes: None,
            fast_window: default_fast_window(),
            fast_bucket: default_fast_bucket(),
            fast_min_slope_mb_per_h: default_fast_min_slope(),
        }
    }
}

/// The verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Sustained, consistent growth of the memory floor above the minimum slope.
    Leak,
    /// Steep, steady growth of the floor over the fast window (see [`FastGrowth`]): too
    /// recent to call a leak, fast enough to act on now.
    Growth,
    /// Enough data, and no leak by the criteria.
    None,
    /// Too short a series after the warm-up to tell.
    InsufficientData,
}

/// The analysis, with the numbers behind the verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Theil–Sen slope of the lower envelope, MB per hour.
    pub slope_mb_per_h: f64,
    /// Slope of the recent half of the envelope, MB per hour.
    pub recent_slope_mb_per_h: f64,
    /// Kendall's τ of the envelope against time (−1..1).
    pub fit: f64,
    /// Envelope points used.
    pub points: usize,
    /// The fitted floor at the last sample, bytes.
    pub floor_bytes: f64,
    /// Seconds until the fitted floor reaches `limit_bytes`, when leaking and a limit is set.
    pub projected_exhaustion_s: Option<f64>,
}

/// Analyses `samples` of `(t_ms, rss_bytes)`, in increasing time. Non-finite values are
/// skipped. Work and memory are bounded: the envelope keeps at most
/// [`Envelope::MAX_POINTS`] points (see [`Envelope`]), whatever the length of `samples`.
pub fn analyze(samples: &[(u64, f64)], config: &LeakConfig) -> LeakReport {
    let mut envelope = Envelope::new(config);
    let mut fast = FastGrowth::new(config);
    for &(t, v) in samples {
        let _ = (envelope.push(t, v), fast.push(t, v));
    }
    combine(analyze_envelope(&envelope.points(), config), &fast, config)
}

/// The slow verdict over `envelope` (lower-envelope points `(t_ms, bytes)`), then the fast
/// growth check: a `Leak` stands; otherwise steep growth in the fast window makes it
/// [`Verdict::Growth`].
pub(crate) fn combine(slow: LeakReport, fast: &FastGrowth, config: &LeakConfig) -> LeakReport {
    if slow.verdict == Verdict::Leak {
        return slow;
    }
    match fast.analyze(config) {
        Some(growth) => growth,
        None => slow,
    }
}

/// The slow, robust verdict over lower-envelope points `(t_ms, bytes)`.
pub(crate) fn analyze_envelope(envelope: &[(f64, f64)], config: &LeakConfig) -> LeakReport {
    let mut report = LeakReport {
        verdict: Verdict::InsufficientData,
        slope_mb_per_h: 0.0,
        recent_slope_mb_per_h: 0.0,
        fit: 0.0,
        points: envelope.len(),
        floor_bytes: envelope.last().map_or(0.0, |p| p.1),
        projected_exhaustion_s: None,
    };
    if envelope.len() < config.min_points.max(4) {
        return report;
    }
    let (slope, intercept) = theil_sen(envelope);
    let (recent_slope, _) = theil_sen(&envelope[envelope.len() / 2..]);
    let fit = kendall_tau(envelope);
    let last_t = envelope.last().map_or(0.0, |p| p.0);
    report.slope_mb_per_h = slope * PER_MS_TO_MB_PER_H;
    report.recent_slope_mb_per_h = recent_slope * PER_MS_TO_MB_PER_H;
    report.fit = fit;
    report.floor_bytes = intercept + slope * last_t;
    let leaking = report.slope_mb_per_h >= config.min_slope_mb_per_h
        && fit >= config.min_fit
        && significant(fit, envelope.len())
        && grows_in_both_halves(envelope, slope);
    report.verdict = if leaking {
        Verdict::Leak
    } else {
        Verdict::None
    };
    if leaking {
        report.projected_exhaustion_s = projection(config, report.floor_bytes, slope);
    }
    report
}

const PER_MS_TO_MB_PER_H: f64 = 3_600_000.0 / 1e6;

/// τ at least three of its standard deviations under no trend above zero.
fn significant(tau: f64, n: usize) -> bool {
    let n = n as f64;
    let tau_sigma_sq = 2.0 * (2.0 * n + 5.0) / (9.0 * n * (n - 1.0));
    tau > 0.0 && tau * tau >= 9.0 * tau_sigma_sq
}

/// Seconds until `floor` growing at `slope` bytes/ms reaches the configured limit.
fn projection(config: &LeakConfig, floor: f64, slope_per_ms: f64) -> Option<f64> {
    let limit = config.limit_bytes?;
    let remaining = (limit - floor).max(0.0);
    Some(remaining / (slope_per_ms * 1000.0))
}

/// The lower envelope, built one sample at a time with bounded memory: the minimum of each
/// [`LeakConfig::envelope`] bucket after the warm-up. When it would exceed
/// [`Envelope::MAX_POINTS`] points, neighbouring buckets are merged (each keeps the smaller
/// minimum) and the bucket width doubles, so a run of any length costs `O(1)` amortised per
/// sample and at most `MAX_POINTS` points to analyse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    warmup_ms: u64,
    bucket_ms: u64,
    max_points: usize,
    origin: Option<u64>,
    /// Finished buckets: (bucket index, t at the minimum, minimum).
    done: Vec<(u64, u64, f64)>,
    current: Option<(u64, u64, f64)>,
    last_t: u64,
}

impl Envelope {
    /// The most points kept.
    pub const MAX_POINTS: usize = 256;

    /// An empty envelope with the warm-up and bucket width of `config`.
    pub fn new(config: &LeakConfig) -> Envelope {
        Envelope {
            warmup_ms: u64::try_from(config.warmup.as_millis()).unwrap_or(u64::MAX),
            bucket_ms: u64::try_from(config.envelope.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            max_points: Self::MAX_POINTS,
            origin: None,
            done: Vec::new(),
            current: None,
            last_t: 0,
        }
    }

    /// The current bucket width (it doubles as the run grows).
    pub fn bucket_ms(&self) -> u64 {
        self.bucket_ms
    }

    /// Adds a sample; samples must come in increasing time. Non-finite values are skipped.
    /// Returns `true` when the sample closed a bucket (the finished points changed).
    pub fn push(&mut self, t: u64, v: f64) -> bool {
        if !v.is_finite() {
            return false;
        }
        let origin = *self
            .origin
            .get_or_insert_with(|| t.saturating_add(self.warmup_ms));
        self.last_t = t;
        if t < origin {
            return false;
        }
        let bucket = (t - origin) / self.bucket_ms.max(1);
        match &mut self.current {
            Some((b, bt, min)) if *b == bucket => {
                if v < *min {
                    *bt = t;
                    *min = v;
                }
                false
            }
            _ => {
                let closed = match self.current.take() {
                    Some(done) => {
                        self.done.push(done);
                        true
                    }
                    None => false,
                };
                self.current = Some((bucket, t, v));
                if self.done.len() >= self.max_points.max(2) {
                    self.halve();
                }
                closed
            }
        }
    }

    /// The finished points `(t_ms, bytes)` (without the bucket being filled).
    pub fn finished(&self) -> Vec<(f64, f64)> {
        self.done.iter().map(|&(_, t, v)| (t as f64, v)).collect()
    }

    /// Checks what deserialization cannot: a positive width and increasing buckets.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let increasing = self.done.windows(2).all(|w| w[0].0 < w[1].0);
        if self.bucket_ms == 0 || !increasing || self.done.len() > self.max_points.max(2) {
            return Err("memory.state.envelope is inconsistent");
        }
        Ok(())
    }

    /// Merges neighbouring buckets: half the points, twice the width.
    fn halve(&mut self) {
        self.bucket_ms = self.bucket_ms.saturating_mul(2);
        let mut merged: Vec<(u64, u64, f64)> = Vec::with_capacity(self.done.len() / 2 + 1);
        for &(b, t, v) in &self.done {
            let b = b / 2;
            match merged.last_mut() {
                Some(last) if last.0 == b => {
                    if v < last.2 {
                        *last = (b, t, v);
                    }
                }
                _ => merged.push((b, t, v)),
            }
        }
        if let Some((b, t, v)) = self.current.take() {
            let mut cur = (b / 2, t, v);
            if let Some(last) = merged.last()
                && last.0 == cur.0
            {
                if last.2 <= cur.2 {
                    cur = *last;
                }
                merged.pop();
            }
            self.current = Some(cur);
        }
        self.done = merged;
    }

    /// The envelope points `(t_ms, bytes)`; the last bucket counts once it is at least half
    /// full in time.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let mut out = self.finished();
        if let (Some((b, bt, min)), Some(origin)) = (self.current, self.origin) {
            let bucket_start = origin.saturating_add(b.saturating_mul(self.bucket_ms));
            if self.last_t.saturating_sub(bucket_start) >= self.bucket_ms / 2 {
                out.push((bt as f64, min));
            }
        }
        out
    }
}

/// The incremental analysis state a report carries so that `--resume` continues it exactly
/// (both parts are bounded: at most [`Envelope::MAX_POINTS`] points and one fast window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakState {
    /// The bounded lower envelope.
    pub envelope: Envelope,
    /// The fast growth window.
    pub fast: FastGrowth,
}

impl LeakState {
    /// Checks what deserialization cannot.
    ///
    /// # Errors
    /// What is inconsistent.
    pub fn check(&self) -> Result<(), &'static str> {
        self.envelope.check()?;
        self.fast.check()
    }
}

/// The fast check for steep growth: minima of short buckets
/// ([`LeakConfig::fast_bucket`]) over the last [`LeakConfig::fast_window`], no warm-up.
/// Growth is named when the floor rises steeply ([`LeakConfig::fast_min_slope_mb_per_h`]),
/// steadily (Kendall's τ ≥ 0.8 and significant), in every third of the window (not a step),
/// over the whole window (a sawtooth shorter than the window shows a drop in it), and with
/// the latest floor above the highest value seen before the window (a longer sawtooth only
/// returns to old heights; growth makes new ones). Memory and work are bounded by the
/// window. The first ramp of a sawtooth longer than the window is growth while it lasts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FastGrowth {
    window_ms: u64,
    bucket_ms: u64,
    /// (bucket index, t at the minimum, minimum, maximum) of recent buckets; bucket `i`
    /// covers `[i·bucket_ms, (i+1)·bucket_ms)`.
    buckets: alloc::collections::VecDeque<(u64, u64, f64, f64)>,
    /// Highest value of the buckets that left the window.
    old_max: Option<f64>,
}

impl FastGrowth {
    /// An empty detector with the settings of `config`.
    pub fn new(config: &LeakConfig) -> FastGrowth {
        FastGrowth {
            window_ms: u64::try_from(config.fast_window.as_millis()).unwrap_or(u64::MAX),
            bucket_ms: u64::try_from(config.fast_bucket.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            buckets: alloc::collections::VecDeque::new(),
            old_max: None,
        }
    }

    /// Adds a sample; samples must come in increasing time. Non-finite values are skipped.
    /// Returns `true` when the sample started a new bucket (the finished ones changed).
    pub fn push(&mut self, t: u64, v: f64) -> bool {
        if !v.is_finite() {
            return false;
        }
        let bucket_ms = self.bucket_ms.max(1);
        let bucket = t / bucket_ms;
        let started = match self.buckets.back_mut() {
            Some((b, bt, min, max)) if *b == bucket => {
                if v < *min {
                    *bt = t;
                    *min = v;
                }
                *max = max.max(v);
                false
            }
            _ => {
                self.buckets.push_back((bucket, t, v, v));
                true
            }
        };
        let keep = self.window_ms / bucket_ms;
        while let Some(&(b, _, _, max)) = self.buckets.front() {
            if bucket.saturating_sub(b) <= keep {
                break;
            }
            self.old_max = Some(self.old_max.map_or(max, |m| m.max(max)));
            self.buckets.pop_front();
        }
        started
    }

    /// Checks what deserialization cannot: a positive width and a bounded window.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let bounded =
            self.bucket_ms > 0 && self.buckets.len() as u64 <= self.window_ms / self.bucket_ms + 2;
        if !bounded {
            return Err("memory.state.fast is inconsistent");
        }
        Ok(())
    }

    /// The growth verdict, if the window shows steep steady growth.
    pub fn analyze(&self, config: &LeakConfig) -> Option<LeakReport> {
        // Finished buckets only: the current one may hold a single sample.
        let n = self.buckets.len().checked_sub(1)?;
        let points: Vec<(f64, f64)> = self
            .buckets
            .iter()
            .take(n)
            .map(|&(_, t, min, _)| (t as f64, min))
            .collect();
        // The whole window: any sawtooth shorter than it shows a drop.
        let needed = usize::try_from(self.window_ms / self.bucket_ms.max(1))
            .unwrap_or(usize::MAX)
            .max(6);
        if points.len() < needed {
            return None;
        }
        let (slope, intercept) = theil_sen(&points);
        let fit = kendall_tau(&points);
        let slope_mb_per_h = slope * PER_MS_TO_MB_PER_H;
        let last_t = points.last().map_or(0.0, |p| p.0);
        let floor = intercept + slope * last_t;
        let growing = slope_mb_per_h >= config.fast_min_slope_mb_per_h
            && fit >= 0.8
            && significant(fit, points.len())
            && grows_in_every_third(&points, slope)
            && points
                .last()
                .is_some_and(|&(_, floor)| self.old_max.is_none_or(|old| floor > old));
        growing.then(|| LeakReport {
            verdict: Verdict::Growth,
            slope_mb_per_h,
            recent_slope_mb_per_h: theil_sen(&points[points.len() / 2..]).0 * PER_MS_TO_MB_PER_H,
            fit,
            points: points.len(),
            floor_bytes: floor,
            projected_exhaustion_s: projection(config, floor, slope),
        })
    }
}

/// Steady growth: each third of the points has a Theil–Sen slope of at least half the
/// whole one (a step, even on top of a sawtooth ramp, lifts one third only).
fn grows_in_every_third(points: &[(f64, f64)], slope: f64) -> bool {
    let n = points.len();
    [0..n / 3, n / 3..2 * n / 3, 2 * n / 3..n]
        .into_iter()
        .all(|r| theil_sen(&points[r]).0 >= slope / 2.0)
}

/// Sustained growth: each half of the envelope has its own Theil–Sen slope of at least a
/// quarter of the whole one. A step (a cache warming up) leaves one half flat; a leak raises
/// both.
fn grows_in_both_halves(envelope: &[(f64, f64)], slope: f64) -> bool {
    let mid = envelope.len() / 2;
    let (first, _) = theil_sen(&envelope[..mid]);
    let (second, _) = theil_sen(&envelope[mid..]);
    first >= slope / 4.0 && second >= slope / 4.0
}

/// Minimum of each envelope bucket after the warm-up, as `(t_ms, bytes)` at the minimum.
#[cfg(test)]
fn lower_envelope(samples: &[(u64, f64)], config: &LeakConfig) -> Vec<(f64, f64)> {
    let mut e = Envelope::new(config);
    for &(t, v) in samples {
        let _ = e.push(t, v);
    }
    e.points()
}

/// Theil–Sen: median of pairwise slopes, and median of `y − slope·x` as the intercept.
fn theil_sen(points: &[(f64, f64)]) -> (f64, f64) {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            if b.0 > a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    let slope = median(&mut slopes).unwrap_or(0.0);
    let mut residuals: Vec<f64> = points.iter().map(|p| p.1 - slope * p.0).collect();
    (slope, median(&mut residuals).unwrap_or(0.0))
}

/// Kendall's τ-a of y against x (points sorted by x).
fn kendall_tau(points: &[(f64, f64)]) -> f64 {
    let (mut concordant, mut discordant) = (0i64, 0i64);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let s = (b.0 - a.0) * (b.1 - a.1);
            if s > 0.0 {
                concordant += 1;
            } else if s < 0.0 {
                discordant += 1;
            }
        }
    }
    let n = points.len() as f64;
    let pairs = n * (n - 1.0) / 2.0;
    if pairs == 0.0 {
        0.0
    } else {
        (concordant - discordant) as f64 / pairs
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if values.len() % 2 == 1 {
        Some(m)
    } else {
        // The largest of the lower half.
        let lower = values[..mid]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        Some((lower + m) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn estimators_on_exact_data() {
        let line: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 3.0 + 2.0 * i as f64)).collect();
        assert_eq!(theil_sen(&line), (2.0, 3.0));
        assert_eq!(kendall_tau(&line), 1.0);
        let down: Vec<(f64, f64)> = line.iter().map(|&(x, y)| (x, -y)).collect();
        assert_eq!(kendall_tau(&down), -1.0);
        // One wild outlier does not move the robust slope.
        let mut noisy = line.clone();
        noisy[7].1 = 1e9;
        assert_eq!(theil_sen(&noisy).0, 2.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 4.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn envelope_takes_the_minimum_of_each_bucket_after_warmup() {
        let cfg = LeakConfig {
            warmup: Duration::from_secs(10),
            envelope: Duration::from_secs(10),
            ..LeakConfig::default()
        };
        let samples: Vec<(u64, f64)> = (0..40u64)
            .map(|s| (s * 1000, (s % 10) as f64 + 100.0))
            .collect();
        let env = lower_envelope(&samples, &cfg);
        assert_eq!(
            env,
            vec![(10_000.0, 100.0), (20_000.0, 100.0), (30_000.0, 100.0)]
        );
    }

    #[test]
    fn too_little_data_is_said_so() {
        let r = analyze(&[(0, 1.0), (1000, 2.0)], &LeakConfig::default());
        assert_eq!(r.verdict, Verdict::InsufficientData);
        assert_eq!(
            analyze(&[], &LeakConfig::default()).verdict,
            Verdict::InsufficientData
        );
    }

    #[test]
    fn projection_to_the_limit() {
        let cfg = LeakConfig {
            limit_bytes: Some(200e6),
            ..LeakConfig::default()
        };
        // 100 MB/h from 100 MB for an hour: floor ~200 MB... use 36 MB/h over 1 h from 100 MB.
        let samples: Vec<(u64, f64)> = (0..3600u64)
            .map(|s| (s * 1000, 100e6 + s as f64 * 36e6 / 3600.0))
            .collect();
        let r = analyze(&samples, &cfg);
        assert_eq!(r.verdict, Verdict::Leak);
        // Floor at the end ~136 MB; 64 MB to go at 36 MB/h = 6400 s.
        let eta = r.projected_exhaustion_s.unwrap();
        assert!((eta - 6400.0).abs() < 100.0, "{eta}");
    }
}
