//! The leak verdict on generated RSS series in simulated time (one sample per second):
//! a 2 MB/h leak under noise and GC sawtooth is found within 60 minutes; a sawtooth with no
//! net growth, a step (a cache warming up) and flat noise are not leaks.

use perfopt_core::leak::{LeakConfig, Verdict, analyze};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MB: f64 = 1e6;
/// Sample noise, ±MB (uniform), on top of the sawtooth.
const NOISE: f64 = 1.0;

/// `minutes` of samples: base + f(t) + a GC sawtooth (`saw` MB over `period` s) + uniform
/// noise of ±`noise` MB.
fn series(
    minutes: u64,
    seed: u64,
    saw: f64,
    period: u64,
    noise: f64,
    f: impl Fn(f64) -> f64,
) -> Vec<(u64, f64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..minutes * 60)
        .map(|s| {
            let t = s as f64;
            let sawtooth = saw * MB * ((s % period) as f64 / period as f64);
            let jitter = rng.random_range(-noise..=noise) * MB;
            (s * 1000, 200.0 * MB + f(t) + sawtooth + jitter)
        })
        .collect()
}

fn verdict_at(samples: &[(u64, f64)]) -> perfopt_core::leak::LeakReport {
    analyze(samples, &LeakConfig::default())
}

#[test]
fn a_2_mb_per_hour_leak_under_noise_is_found_within_an_hour() {
    for seed in 0..50 {
        let leak = |t: f64| 2.0 * MB * t / 3600.0;
        let samples = series(60, seed, 20.0, 40, NOISE, leak);
        let r = verdict_at(&samples);
        assert_eq!(r.verdict, Verdict::Leak, "seed {seed}: {r:?}");
        assert!((r.slope_mb_per_h - 2.0).abs() < 1.0, "seed {seed}: {r:?}");
    }
}

#[test]
fn the_leak_is_not_called_before_there_is_data() {
    let samples = series(3, 1, 20.0, 40, NOISE, |t| 2.0 * MB * t / 3600.0);
    assert_eq!(verdict_at(&samples).verdict, Verdict::InsufficientData);
}

#[test]
fn a_sawtooth_with_no_net_growth_is_not_a_leak() {
    for seed in 0..50 {
        let r = verdict_at(&series(60, seed, 50.0, 40, NOISE, |_| 0.0));
        assert_eq!(r.verdict, Verdict::None, "seed {seed}: {r:?}");
    }
}

#[test]
fn a_step_like_a_cache_warming_up_is_not_a_leak() {
    // 60 MB added between minute 10 and minute 15, then flat — wherever the step falls.
    for (seed, step_at) in [(1, 10.0), (2, 20.0), (3, 30.0), (4, 35.0), (5, 45.0)] {
        let step = move |t: f64| {
            let start = step_at * 60.0;
            (60.0 * MB * ((t - start) / 300.0)).clamp(0.0, 60.0 * MB)
        };
        let r = verdict_at(&series(60, seed, 10.0, 40, NOISE, step));
        assert_ne!(r.verdict, Verdict::Leak, "step at {step_at} min: {r:?}");
    }
}

#[test]
fn flat_noise_is_not_a_leak() {
    for seed in 0..50 {
        let r = verdict_at(&series(60, seed, 0.0, 1, 5.0, |_| 0.0));
        assert_eq!(r.verdict, Verdict::None, "seed {seed}: {r:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Fast verdicts for steep growth (default settings, one sample a second).

/// The first second at which the verdict over the samples so far names growth or a leak.
fn first_growth(samples: &[(u64, f64)], config: &LeakConfig) -> Option<u64> {
    (1..=samples.len()).find_map(|n| {
        let r = analyze(&samples[..n], config);
        matches!(r.verdict, Verdict::Growth | Verdict::Leak).then_some(samples[n - 1].0 / 1000)
    })
}

#[test]
fn steep_growth_is_named_within_60_seconds() {
    // 23 MB to 690 MB in 85 s (about 8 MB/s), with ±1 MB noise, then flat.
    let config = LeakConfig {
        limit_bytes: Some(2e9),
        ..LeakConfig::default()
    };
    for seed in 0..20 {
        let mut rng = StdRng::seed_from_u64(seed);
        let samples: Vec<(u64, f64)> = (0..120u64)
            .map(|s| {
                let grown = (s.min(85) as f64) * (690.0 - 23.0) / 85.0;
                let jitter = rng.random_range(-NOISE..=NOISE);
                (s * 1000, (23.0 + grown + jitter) * MB)
            })
            .collect();
        let at = first_growth(&samples, &config).expect("growth named");
        assert!(at <= 60, "seed {seed}: named after {at} s");
        let r = analyze(&samples[..61], &config);
        assert_eq!(r.verdict, Verdict::Growth, "seed {seed}: {r:?}");
        // 7.85 MB/s is about 28,000 MB/h.
        assert!((r.slope_mb_per_h - 28_250.0).abs() < 2_000.0, "{r:?}");
        let eta = r.projected_exhaustion_s.expect("projection");
        assert!(eta > 100.0 && eta < 300.0, "{r:?}");
    }
}

#[test]
fn a_fast_sawtooth_with_no_net_growth_is_never_called_growth() {
    // GC-style: 150 MB allocated over each period, then freed; periods of a few seconds.
    for (seed, period) in [(1, 2), (2, 3), (3, 4), (4, 5), (5, 7), (6, 9)] {
        let samples = series(10, seed, 150.0, period, NOISE, |_| 0.0);
        assert_eq!(
            first_growth(&samples, &LeakConfig::default()),
            None,
            "period {period} s"
        );
    }
}

#[test]
fn a_one_time_step_is_never_called_growth() {
    // 200 MB added within 2 s, at several points, then flat, under the usual sawtooth.
    for (seed, at) in [(1, 5.0), (2, 30.0), (3, 61.0), (4, 200.0)] {
        let step = move |t: f64| (200.0 * MB * (t - at) / 2.0).clamp(0.0, 200.0 * MB);
        let samples = series(10, seed, 20.0, 40, NOISE, step);
        assert_eq!(
            first_growth(&samples, &LeakConfig::default()),
            None,
            "step at {at} s"
        );
    }
}

#[test]
fn a_long_sawtooth_is_not_growth_once_it_has_returned_to_old_heights() {
    // 150 MB over 2 minutes, then freed: the first ramp is indistinguishable from growth,
    // later ramps only reach the heights already seen.
    let samples = series(20, 7, 150.0, 120, NOISE, |_| 0.0);
    let config = LeakConfig::default();
    for n in (130..samples.len()).step_by(5) {
        let r = analyze(&samples[..n], &config);
        assert!(
            !matches!(r.verdict, Verdict::Growth | Verdict::Leak),
            "at {n} s: {r:?}"
        );
    }
}
