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
