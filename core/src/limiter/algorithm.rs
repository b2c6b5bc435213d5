//! Limit algorithms: how the concurrency limit moves with observed latency and drops.
//! The behaviour is documented on [`Algorithm`].

use core::time::Duration;

use serde::{Deserialize, Serialize};

use super::{LimiterError, Outcome};
use crate::Instant;
use crate::stats::Histogram;

/// How the concurrency limit is chosen.
///
/// - [`Algorithm::Fixed`]: a constant limit, like a semaphore or tower's `ConcurrencyLimit`.
/// - [`Algorithm::Aimd`]: additive increase, multiplicative decrease, as in TCP congestion
///   avoidance. It reacts to *drops* only (a [`Outcome::Dropped`] or [`Outcome::Timeout`]
///   release, or a measured latency above an optional threshold), so it needs to be told what "too
///   slow" means, and it finds the limit by overshooting it. A success while at least half
///   the permits are in use adds `1 / limit` (one permit per round trip); a drop multiplies
///   the limit by `backoff_ratio`, once per congestion episode: drops of permits admitted
///   before the last cut do not cut again.
/// - [`Algorithm::Gradient`]: compares the latency of each sampling interval with a
///   *baseline* latency measured at low concurrency, in the spirit of Netflix's Gradient2 and
///   Envoy's adaptive concurrency filter. It needs no threshold and keeps the queue short.
///
/// # The gradient algorithm, precisely
/// Latencies (from admission to release) are collected per interval of at least
/// `sample_interval` holding at least `min_samples` measured latencies (a host may measure
/// only some permits: see [`Limiter::release_untracked`](super::Limiter::release_untracked)).
/// At the end of an interval, with `sample` the interval's `percentile` latency (of the
/// measured permits) and `drop_share` its share of drops (of all its releases):
///
/// ```text
/// gradient = clamp(tolerance × baseline / sample, 0.5, 1.0)
/// target   = limit × min(gradient, 1 − drop_share)              if drop_share > 0
///          = limit × gradient + √limit                           otherwise
/// limit    = (1 − smoothing) × limit + smoothing × target,  clamped to [min, max]
/// ```
///
/// The `√limit` headroom lets the limit grow while latency stays within `tolerance` of the
/// baseline; once queueing pushes the latency past it, the gradient shrinks the limit. An
/// interval in which fewer than half the permits were in use never raises the limit (the
/// caller, not the limiter, bounded concurrency), so the limit cannot drift up while idle.
///
/// The baseline is measured by a **probe**: at start and then every `probe_interval`, the
/// limit is pinned to `min_limit` and the `percentile` latency of the next `min_samples`
/// permits *admitted during the probe* becomes the baseline; then the limit returns to its
/// value before the probe. Pinning concurrency low drains the downstream queue, so the
/// baseline is the latency without queueing — an estimate that, unlike an average of recent
/// latencies (Gradient2's long-term RTT), cannot drift up under sustained overload. A probe
/// costs throughput for about one round trip plus `min_samples / min_limit` service times,
/// so keep `probe_interval` long compared with that (the default is 60 s).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Algorithm {
    /// A constant limit (must be at least 1).
    Fixed(u32),
    /// Additive increase, multiplicative decrease on drops.
    Aimd(AimdConfig),
    /// Latency gradient against a probed baseline.
    Gradient(GradientConfig),
}

/// The name of an algorithm, as reported in statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlgorithmKind {
    /// [`Algorithm::Fixed`].
    Fixed,
    /// [`Algorithm::Aimd`].
    Aimd,
    /// [`Algorithm::Gradient`].
    Gradient,
}

/// Settings of [`Algorithm::Aimd`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AimdConfig {
    /// The limit at start. Default 20.
    pub initial_limit: u32,
    /// The limit never goes below this (at least 1). Default 1.
    pub min_limit: u32,
    /// The limit never goes above this. Default 1000.
    pub max_limit: u32,
    /// Factor applied to the limit on a drop, in `(0, 1)`. Default 0.9.
    pub backoff_ratio: f64,
    /// A success slower than this counts as a drop; `None` (default): only
    /// [`Outcome::Dropped`] and [`Outcome::Timeout`] releases are drops.
    pub latency_threshold: Option<Duration>,
}

impl Default for AimdConfig {
    fn default() -> Self {
        AimdConfig {
            initial_limit: 20,
            min_limit: 1,
            max_limit: 1000,
            backoff_ratio: 0.9,
            latency_threshold: None,
        }
    }
}

/// Settings of [`Algorithm::Gradient`]; [`Algorithm`] gives the formula.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GradientConfig {
    /// The limit after the first probe. Default 20.
    pub initial_limit: u32,
    /// The limit never goes below this (at least 1); probes pin the limit here. Default 4.
    pub min_limit: u32,
    /// The limit never goes above this. Default 1000.
    pub max_limit: u32,
    /// How much slower than the baseline the sampled latency may be before the limit
    /// shrinks; at least 1. Default 1.25.
    pub tolerance: f64,
    /// Shortest sampling interval. Default 100 ms.
    pub sample_interval: Duration,
    /// Fewest samples in an interval (and in a probe). Default 20.
    pub min_samples: u32,
    /// Which latency percentile of an interval is compared, in `(0, 1)`. Default 0.5.
    pub percentile: f64,
    /// Weight of a new target in the limit, in `(0, 1]`. Default 0.5.
    pub smoothing: f64,
    /// How often the baseline is probed again. Default 60 s.
    pub probe_interval: Duration,
}

impl Default for GradientConfig {
    fn default() -> Self {
        GradientConfig {
            initial_limit: 20,
            min_limit: 4,
            max_limit: 1000,
            tolerance: 1.25,
            sample_interval: Duration::from_millis(100),
            min_samples: 20,
            percentile: 0.5,
            smoothing: 0.5,
            probe_interval: Duration::from_secs(60),
        }
    }
}

/// One release, as an algorithm sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// When the permit was released.
    pub(crate) now: Instant,
    /// When the permit was admitted.
    pub(crate) admitted: Instant,
    /// Observed latency; `None` for a permit whose latency the host did not measure (see
    /// [`Limiter::release_untracked`](super::Limiter::release_untracked)): it still counts
    /// as a release with its outcome, but adds no latency.
    pub(crate) latency: Option<Duration>,
    /// How the work ended.
    pub(crate) outcome: Outcome,
    /// Permits in use just before this release.
    pub(crate) in_flight: usize,
}

/// The running state of an algorithm.
#[derive(Clone, Debug)]
pub(crate) enum LimitState {
    Fixed(u32),
    Aimd(Aimd),
    Gradient(Gradient),
}

impl LimitState {
    /// Validates `algorithm` and builds its state.
    pub(crate) fn new(algorithm: &Algorithm) -> Result<LimitState, LimiterError> {
        match algorithm {
            Algorithm::Fixed(0) => Err(LimiterError::ZeroLimit),
            Algorithm::Fixed(n) => Ok(LimitState::Fixed(*n)),
            Algorithm::Aimd(c) => {
                check_limits(c.min_limit, c.initial_limit, c.max_limit)?;
                check_ratio("backoff_ratio", c.backoff_ratio, |r| r > 0.0 && r < 1.0)?;
                if c.latency_threshold.is_some_and(|t| t.is_zero()) {
                    return Err(LimiterError::ZeroDuration("latency_threshold"));
                }
                Ok(LimitState::Aimd(Aimd {
                    config: c.clone(),
                    limit: f64::from(c.initial_limit),
                    recovery_start: Instant::ZERO,
                    epoch: 0,
                }))
            }
            Algorithm::Gradient(c) => {
                check_limits(c.min_limit, c.initial_limit, c.max_limit)?;
                check_ratio("tolerance", c.tolerance, |r| r >= 1.0)?;
                check_ratio("percentile", c.percentile, |r| r > 0.0 && r < 1.0)?;
                check_ratio("smoothing", c.smoothing, |r| r > 0.0 && r <= 1.0)?;
                if c.sample_interval.is_zero() {
                    return Err(LimiterError::ZeroDuration("sample_interval"));
                }
                if c.probe_interval.is_zero() {
                    return Err(LimiterError::ZeroDuration("probe_interval"));
                }
                if c.min_samples == 0 {
                    return Err(LimiterError::ZeroCount("min_samples"));
                }
                Ok(LimitState::Gradient(Gradient {
                    config: c.clone(),
                    limit: f64::from(c.initial_limit),
                    baseline: None,
                    probe: Some(Instant::ZERO),
                    probe_start: Instant::ZERO,
                    epoch: 0,
                    next_probe: Instant::ZERO,
                    interval: Interval::default(),
                }))
            }
        }
    }

    /// Which algorithm this is.
    pub(crate) fn kind(&self) -> AlgorithmKind {
        match self {
            LimitState::Fixed(_) => AlgorithmKind::Fixed,
            LimitState::Aimd(_) => AlgorithmKind::Aimd,
            LimitState::Gradient(_) => AlgorithmKind::Gradient,
        }
    }

    /// The current limit (at least 1).
    pub(crate) fn limit(&self) -> u32 {
        match self {
            LimitState::Fixed(n) => *n,
            LimitState::Aimd(a) => whole(a.limit, a.config.min_limit, a.config.max_limit),
            LimitState::Gradient(g) if g.probe.is_some() => g.config.min_limit,
            LimitState::Gradient(g) => whole(g.limit, g.config.min_limit, g.config.max_limit),
        }
    }

    /// The baseline latency, for algorithms that keep one.
    pub(crate) fn baseline(&self) -> Option<Duration> {
        match self {
            LimitState::Gradient(g) => g.baseline,
            _ => None,
        }
    }

    /// The algorithm's epoch and the instant it began. The epoch moves on when the meaning
    /// of "admitted before" changes: an AIMD cut (its recovery start) or the start of a
    /// gradient probe. A permit admitted in the current epoch was admitted at or after its
    /// start; one admitted in an earlier epoch, before it. Fixed: always `(0, ZERO)`.
    pub(crate) fn epoch(&self) -> (u32, Instant) {
        match self {
            LimitState::Fixed(_) => (0, Instant::ZERO),
            LimitState::Aimd(a) => (a.epoch, a.recovery_start),
            LimitState::Gradient(g) => (g.epoch, g.probe_start),
        }
    }

    /// See [`Limiter::quiet_below`](super::Limiter::quiet_below); `now` is the latest
    /// instant the machine has seen (what an unmeasured release is dated with).
    pub(crate) fn quiet_below(&self, now: Instant) -> usize {
        // A success raises AIMD's limit, and counts toward Gradient's "not app-limited",
        // from `in_flight * 2 >= limit` on: below, with `2n < limit` for every release.
        let half = |limit: f64| {
            // The smallest n with 2n >= limit (limits are finite and at least 1).
            let n = (limit / 2.0) as usize;
            if (n as f64) * 2.0 < limit { n + 1 } else { n }
        };
        match self {
            LimitState::Fixed(_) => usize::MAX,
            LimitState::Aimd(a) => half(a.limit),
            LimitState::Gradient(g) if g.decides_next(now) => 0,
            LimitState::Gradient(g) => half(g.limit),
        }
    }

    /// Takes in `n` quiet releases (see [`quiet_below`](LimitState::quiet_below)) at `now`.
    pub(crate) fn on_quiet(&mut self, n: u64, now: Instant) {
        if let LimitState::Gradient(g) = self
            && n > 0
        {
            g.interval.start.get_or_insert(now);
            g.interval.releases += n;
        }
    }

    /// Feeds one release.
    pub(crate) fn on_sample(&mut self, s: &Sample) {
        if matches!(s.outcome, Outcome::Ignored) {
            return;
        }
        match self {
            LimitState::Fixed(_) => {}
            LimitState::Aimd(a) => a.on_sample(s),
            LimitState::Gradient(g) => g.on_sample(s),
        }
    }
}

fn check_limits(min: u32, initial: u32, max: u32) -> Result<(), LimiterError> {
    if min == 0 {
        return Err(LimiterError::ZeroLimit);
    }
    if !(min <= initial && initial <= max) {
        return Err(LimiterError::LimitOrder { min, initial, max });
    }
    Ok(())
}

fn check_ratio(
    setting: &'static str,
    value: f64,
    ok: impl Fn(f64) -> bool,
) -> Result<(), LimiterError> {
    if value.is_finite() && ok(value) {
        Ok(())
    } else {
        Err(LimiterError::BadRatio { setting, value })
    }
}

/// `limit` rounded down and clamped to `[min, max]`.
fn whole(limit: f64, min: u32, max: u32) -> u32 {
    // Saturating float-to-int cast; the clamp keeps the result in the configured range.
    (limit as u32).clamp(min, max)
}

/// Square root of a non-negative `x` (core has no `f64::sqrt` without std): Newton's
/// method from a bit-level first guess, exact to a few ulps after six steps.
fn sqrt(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 0.0;
    }
    // Halving the exponent gives a guess within a factor of two.
    let mut y = f64::from_bits((x.to_bits() >> 1) + (1023_u64 << 51));
    for _ in 0..6 {
        y = 0.5 * (y + x / y);
    }
    y
}

/// AIMD state.
#[derive(Clone, Debug)]
pub(crate) struct Aimd {
    config: AimdConfig,
    limit: f64,
    /// Drops of permits admitted before this instant belong to a congestion episode the
    /// limit already reacted to (TCP's fast recovery), so they do not cut it again.
    recovery_start: Instant,
    /// Cuts so far (wrapping): the epoch of [`LimitState::epoch`].
    epoch: u32,
}

impl Aimd {
    fn on_sample(&mut self, s: &Sample) {
        let (min, max) = (
            f64::from(self.config.min_limit),
            f64::from(self.config.max_limit),
        );
        // An unmeasured latency is never "slow": only measured permits are checked.
        let slow = self
            .config
            .latency_threshold
            .is_some_and(|t| s.latency.is_some_and(|l| l > t));
        let dropped = matches!(s.outcome, Outcome::Dropped | Outcome::Timeout) || slow;
        if dropped {
            if s.admitted >= self.recovery_start {
                self.limit = (self.limit * self.config.backoff_ratio).max(min);
                self.recovery_start = s.now;
                self.epoch = self.epoch.wrapping_add(1);
            }
        } else if (s.in_flight as f64) * 2.0 >= self.limit {
            // One more permit per limit's worth of successes: +1 per round trip.
            self.limit = (self.limit + 1.0 / self.limit.max(1.0)).min(max);
        }
    }
}

/// Samples of the current interval.
#[derive(Clone, Debug, Default)]
struct Interval {
    start: Option<Instant>,
    /// Latencies of the measured releases.
    latencies: Histogram,
    /// Releases, measured or not (the drop share's denominator).
    releases: u64,
    drops: u64,
    max_in_flight: usize,
}

/// Gradient state.
#[derive(Clone, Debug)]
pub(crate) struct Gradient {
    config: GradientConfig,
    /// The limit outside probes.
    limit: f64,
    baseline: Option<Duration>,
    /// `Some(start)` while probing: only permits admitted at or after `start` count.
    probe: Option<Instant>,
    /// When the latest probe started.
    probe_start: Instant,
    /// Probes started so far (wrapping): the epoch of [`LimitState::epoch`].
    epoch: u32,
    next_probe: Instant,
    interval: Interval,
}

impl Gradient {
    /// Whether the next release dated `now` starts a probe or, counted, closes the
    /// interval (the paths of `on_sample` that decide; the others only count).
    fn decides_next(&self, now: Instant) -> bool {
        self.probe_due(now) || self.interval_closes(now)
    }

    /// Outside a probe: whether one is due at `now`.
    fn probe_due(&self, now: Instant) -> bool {
        self.probe.is_none() && now >= self.next_probe && self.baseline.is_some()
    }

    /// Whether the interval, as counted so far, closes at `now`: enough measured
    /// latencies and, outside a probe, long enough (checked before the percentile is
    /// computed: the same decisions, without a histogram scan on every release).
    fn interval_closes(&self, now: Instant) -> bool {
        if self.interval.latencies.count() < u64::from(self.config.min_samples) {
            return false;
        }
        let started = self.interval.start.unwrap_or(now);
        let short = now.saturating_duration_since(started) < self.config.sample_interval;
        self.probe.is_some() || !short
    }

    fn on_sample(&mut self, s: &Sample) {
        if let Some(start) = self.probe {
            if s.admitted < start {
                return;
            }
        } else if self.probe_due(s.now) {
            self.probe = Some(s.now);
            self.probe_start = s.now;
            self.epoch = self.epoch.wrapping_add(1);
            self.interval = Interval::default();
            return;
        }
        let interval = &mut self.interval;
        interval.start.get_or_insert(s.now);
        interval.releases += 1;
        if let Some(latency) = s.latency {
            // Nanoseconds fit in u64 for any latency below 584 years.
            interval
                .latencies
                .record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        }
        if matches!(s.outcome, Outcome::Dropped | Outcome::Timeout) {
            interval.drops += 1;
        }
        interval.max_in_flight = interval.max_in_flight.max(s.in_flight);
        if !self.interval_closes(s.now) {
            return;
        }
        let interval = &self.interval;
        let Some(p) = interval.latencies.quantile(self.config.percentile) else {
            return;
        };
        let sample = Duration::from_nanos(p.max(1));
        if self.probe.is_some() {
            self.baseline = Some(sample);
            self.probe = None;
            self.next_probe = s.now.saturating_add(self.config.probe_interval);
            self.interval = Interval::default();
            return;
        }
        let drop_share = interval.drops as f64 / interval.releases as f64;
        let app_limited = (interval.max_in_flight as f64) * 2.0 < self.limit;
        self.interval = Interval::default();
        let Some(baseline) = self.baseline else {
            return;
        };
        let c = &self.config;
        let ratio = c.tolerance * baseline.as_secs_f64() / sample.as_secs_f64();
        let gradient = ratio.clamp(0.5, 1.0);
        let target = if drop_share > 0.0 {
            self.limit * gradient.min(1.0 - drop_share)
        } else {
            self.limit * gradient + sqrt(self.limit)
        };
        if target > self.limit && app_limited {
            return;
        }
        let next = (1.0 - c.smoothing) * self.limit + c.smoothing * target;
        self.limit = next.clamp(f64::from(c.min_limit), f64::from(c.max_limit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(now_ms: u64, latency_ms: u64, outcome: Outcome, in_flight: usize) -> Sample {
        Sample {
            now: Instant::from_millis(now_ms),
            admitted: Instant::from_millis(now_ms.saturating_sub(latency_ms)),
            latency: Some(Duration::from_millis(latency_ms)),
            outcome,
            in_flight,
        }
    }

    #[test]
    fn aimd_cuts_once_per_episode_and_grows_by_one_per_round_trip() {
        let c = AimdConfig {
            initial_limit: 10,
            ..AimdConfig::default()
        };
        let mut s = LimitState::new(&Algorithm::Aimd(c)).unwrap();
        s.on_sample(&sample(100, 10, Outcome::Dropped, 10));
        assert_eq!(s.limit(), 9);
        // Admitted before the cut: same episode, no second cut.
        s.on_sample(&sample(101, 10, Outcome::Timeout, 9));
        assert_eq!(s.limit(), 9);
        for i in 0..20 {
            s.on_sample(&sample(200 + i, 10, Outcome::Success, 9));
        }
        assert_eq!(s.limit(), 11);
        // App-limited successes do not grow it.
        for i in 0..100 {
            s.on_sample(&sample(300 + i, 10, Outcome::Success, 1));
        }
        assert_eq!(s.limit(), 11);
    }

    #[test]
    fn gradient_probes_a_baseline_then_shrinks_when_latency_doubles() {
        let c = GradientConfig {
            initial_limit: 40,
            ..GradientConfig::default()
        };
        let mut s = LimitState::new(&Algorithm::Gradient(c.clone())).unwrap();
        assert_eq!(s.limit(), c.min_limit, "the first probe pins the limit");
        for i in 0..20 {
            s.on_sample(&sample(10 + i, 10, Outcome::Success, 4));
        }
        assert_eq!(s.baseline(), Some(Duration::from_millis(10)));
        assert_eq!(s.limit(), 40);
        let mut t = 100;
        for _ in 0..10 {
            for _ in 0..20 {
                t += 10;
                s.on_sample(&sample(t, 20, Outcome::Success, 40));
            }
        }
        assert!(s.limit() < 30, "limit {} did not shrink", s.limit());
    }

    #[test]
    fn sqrt_is_accurate() {
        for x in [1e-6, 0.25, 1.0, 2.0, 10.0, 144.0, 1e6, 4.2e12] {
            let y = sqrt(x);
            assert!((y * y - x).abs() <= x * 1e-12, "sqrt({x}) = {y}");
        }
        assert_eq!(sqrt(0.0), 0.0);
        assert_eq!(sqrt(-1.0), 0.0);
    }

    #[test]
    fn bad_settings_are_named() {
        let c = GradientConfig {
            tolerance: 0.5,
            ..GradientConfig::default()
        };
        assert_eq!(
            LimitState::new(&Algorithm::Gradient(c)).unwrap_err(),
            LimiterError::BadRatio {
                setting: "tolerance",
                value: 0.5
            }
        );
        let a = AimdConfig {
            min_limit: 30,
            ..AimdConfig::default()
        };
        assert!(matches!(
            LimitState::new(&Algorithm::Aimd(a)),
            Err(LimiterError::LimitOrder { .. })
        ));
        assert_eq!(
            LimitState::new(&Algorithm::Fixed(0)).unwrap_err(),
            LimiterError::ZeroLimit
        );
    }
}
