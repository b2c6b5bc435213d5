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
}

impl LeakConfig {
    /// The default [`LeakConfig::min_slope_mb_per_h`], also the `memory_leak` rule's threshold.
    pub const DEFAULT_MIN_SLOPE_MB_PER_H: f64 = 1.0;
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
/// skipped.
pub fn analyze(samples: &[(u64, f64)], config: &LeakConfig) -> LeakReport {
    let envelope = lower_envelope(samples, config);
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
    let per_ms_to_mb_per_h = 3_600_000.0 / 1e6;
    let (slope, intercept) = theil_sen(&envelope);
    let (recent_slope, _) = theil_sen(&envelope[envelope.len() / 2..]);
    let fit = kendall_tau(&envelope);
    let last_t = envelope.last().map_or(0.0, |p| p.0);
    report.slope_mb_per_h = slope * per_ms_to_mb_per_h;
    report.recent_slope_mb_per_h = recent_slope * per_ms_to_mb_per_h;
    report.fit = fit;
    report.floor_bytes = intercept + slope * last_t;
    // τ's standard deviation when there is no trend; ask for 3 of them on top of `min_fit`.
    let n = envelope.len() as f64;
    let tau_sigma_sq = 2.0 * (2.0 * n + 5.0) / (9.0 * n * (n - 1.0));
    let significant = fit > 0.0 && fit * fit >= 9.0 * tau_sigma_sq;
    let leaking = report.slope_mb_per_h >= config.min_slope_mb_per_h
        && fit >= config.min_fit
        && significant
        && grows_in_both_halves(&envelope, slope);
    report.verdict = if leaking {
        Verdict::Leak
    } else {
        Verdict::None
    };
    if leaking && let Some(limit) = config.limit_bytes {
        let remaining = (limit - report.floor_bytes).max(0.0);
        report.projected_exhaustion_s = Some(remaining / (slope * 1000.0));
    }
    report
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
fn lower_envelope(samples: &[(u64, f64)], config: &LeakConfig) -> Vec<(f64, f64)> {
    let Some(&(t0, _)) = samples.first() else {
        return Vec::new();
    };
    let warmup_ms = u64::try_from(config.warmup.as_millis()).unwrap_or(u64::MAX);
    let bucket_ms = u64::try_from(config.envelope.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let start = t0.saturating_add(warmup_ms);
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut current: Option<(u64, u64, f64)> = None; // (bucket, t, min)
    for &(t, v) in samples.iter().filter(|(t, v)| *t >= start && v.is_finite()) {
        let bucket = (t - start) / bucket_ms;
        match &mut current {
            Some((b, bt, min)) if *b == bucket => {
                if v < *min {
                    *bt = t;
                    *min = v;
                }
            }
            _ => {
                if let Some((_, bt, min)) = current.take() {
                    out.push((bt as f64, min));
                }
                current = Some((bucket, t, v));
            }
        }
    }
    // The last bucket may be partial; keep it only if it is at least half full in time.
    if let Some((b, bt, min)) = current {
        let last_t = samples.last().map_or(0, |s| s.0);
        let bucket_start = start + b * bucket_ms;
        if last_t.saturating_sub(bucket_start) >= bucket_ms / 2 {
            out.push((bt as f64, min));
        }
    }
    out
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
