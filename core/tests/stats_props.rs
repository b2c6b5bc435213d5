//! Property and accuracy tests of `perfopt_core::stats` against exact reference answers.
//!
//! Run with `cargo test -p perfopt-core --test stats_props -- --nocapture` to see the worst
//! measured relative error of each distribution.

use core::time::Duration;

use perfopt_core::Instant;
use perfopt_core::stats::{Histogram, Window};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SAMPLES: usize = 100_000;

/// The quantiles checked: the usual percentiles, the extremes, and a fine sweep.
fn quantiles() -> Vec<f64> {
    let mut qs = vec![
        0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0,
    ];
    qs.extend((1..1_000).map(|i| f64::from(i) / 1_000.0));
    qs
}

/// The exact answer `Histogram::quantile` estimates: `sorted[ceil(q·n) - 1]`, rank clamped.
fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

fn relative_error(estimate: u64, exact: u64) -> f64 {
    if exact == 0 {
        if estimate == 0 { 0.0 } else { f64::INFINITY }
    } else {
        estimate.abs_diff(exact) as f64 / exact as f64
    }
}

/// Records `values`, checks every quantile against the sorted data and the exact
/// aggregates, and returns the worst relative error seen (and the quantile it was at).
fn check_accuracy(name: &str, mut values: Vec<u64>) -> (f64, f64) {
    let h: Histogram = values.iter().copied().collect();
    values.sort_unstable();
    assert_eq!(h.count(), values.len() as u64, "{name}: count");
    assert_eq!(h.min(), values.first().copied(), "{name}: min");
    assert_eq!(h.max(), values.last().copied(), "{name}: max");
    let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
    assert_eq!(h.sum(), sum, "{name}: sum");

    // The documented bound, and never worse than the 1 % the design promises.
    let bound = Histogram::RELATIVE_ERROR.min(0.01);
    let mut worst = (0.0f64, 0.0f64);
    for q in quantiles() {
        let exact = exact_quantile(&values, q);
        let estimate = h.quantile(q).expect("non-empty histogram");
        let error = relative_error(estimate, exact);
        assert!(
            error <= bound,
            "{name}: q={q}: estimate {estimate} vs exact {exact}: relative error {error}"
        );
        if error > worst.0 {
            worst = (error, q);
        }
    }
    eprintln!(
        "stats accuracy: {name:<22} n={} worst relative error {:.5}% at q={} (bound {:.5}%)",
        values.len(),
        worst.0 * 100.0,
        worst.1,
        Histogram::RELATIVE_ERROR * 100.0
    );
    worst
}

/// A standard normal deviate by Box–Muller.
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[test]
fn uniform_quantiles_are_within_the_bound() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    let values = (0..SAMPLES)
        .map(|_| rng.random_range(0..=10_000_000u64))
        .collect();
    let (worst, _) = check_accuracy("uniform[0, 1e7]", values);
    assert!(worst > 0.0, "uniform values above 256 cannot all be exact");
}

#[test]
fn log_normal_quantiles_are_within_the_bound() {
    // Latency-like: median 1 ms in nanoseconds, sigma 1.5 (p99.9 around 100 ms).
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    let mu = 1_000_000f64.ln();
    let values = (0..SAMPLES)
        .map(|_| (mu + 1.5 * standard_normal(&mut rng)).exp() as u64)
        .collect();
    check_accuracy("log-normal(ln 1e6, 1.5)", values);
}

#[test]
fn heavy_tail_quantiles_are_within_the_bound() {
    // Pareto with alpha 1.1 and scale 1000: a mean that barely exists, a huge tail.
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    let alpha = 1.1f64;
    let values: Vec<u64> = (0..SAMPLES)
        .map(|_| {
            let u = 1.0 - rng.random::<f64>(); // (0, 1]
            (1_000.0 * u.powf(-1.0 / alpha)) as u64 // saturating cast
        })
        .collect();
    let max = *values.iter().max().unwrap();
    assert!(max > 1_000_000, "the tail must reach far: max {max}");
    check_accuracy("pareto(alpha 1.1)", values);
}

#[test]
fn small_and_extreme_values() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0004);
    // Exact range, every power of two and its neighbours, and the top of u64.
    let mut values: Vec<u64> = (0..SAMPLES / 10)
        .map(|_| rng.random_range(0..256))
        .collect();
    for k in 0..64 {
        let p = 1u64 << k;
        values.extend([p - 1, p, p + 1]);
    }
    values.extend([u64::MAX, u64::MAX - 1]);
    check_accuracy("exact range + extremes", values);
}

#[test]
fn merged_shards_equal_the_whole() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0005);
    let values: Vec<u64> = (0..SAMPLES)
        .map(|_| {
            let bits = rng.random_range(1..64);
            rng.random_range(0..1u64 << bits)
        })
        .collect();
    let whole: Histogram = values.iter().copied().collect();
    let mut merged = Histogram::new();
    for shard in values.chunks(7_919) {
        merged.merge(&shard.iter().copied().collect());
    }
    assert_eq!(merged, whole);
    let json = serde_json::to_string(&merged).unwrap();
    let back: Histogram = serde_json::from_str(&json).unwrap();
    assert_eq!(back, whole);
}

/// Values spread over the whole range, with many in the exact range and many repeats.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..300,
        0u64..100_000,
        any::<u64>(),
        (0u32..64).prop_map(|k| 1u64 << k),
        Just(u64::MAX),
    ]
}

/// The naive window: every value kept with its time, filtered by slot number.
struct ReferenceWindow {
    slot_width: u64,
    slots: u64,
    values: Vec<(Instant, u64)>,
}

impl ReferenceWindow {
    fn snapshot(&self, now: Instant) -> Histogram {
        let current = now.as_nanos() / self.slot_width;
        self.values
            .iter()
            .filter(|(t, _)| {
                let slot = t.as_nanos() / self.slot_width;
                slot <= current && current - slot < self.slots
            })
            .map(|&(_, v)| v)
            .collect()
    }
}

proptest! {
    // No regression files: a failure prints its minimal case, which becomes a unit test.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn merge_equals_histogram_of_concatenation(
        a in prop::collection::vec(value(), 0..200),
        b in prop::collection::vec(value(), 0..200),
    ) {
        let mut merged: Histogram = a.iter().copied().collect();
        merged.merge(&b.iter().copied().collect());
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        let whole: Histogram = all.iter().copied().collect();
        prop_assert_eq!(&merged, &whole);
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            prop_assert_eq!(merged.quantile(q), whole.quantile(q));
        }
        // Merging is commutative too.
        let mut other_way: Histogram = b.iter().copied().collect();
        other_way.merge(&a.iter().copied().collect());
        prop_assert_eq!(&other_way, &whole);
    }

    #[test]
    fn aggregates_are_exact_and_quantiles_bounded(values in prop::collection::vec(value(), 1..300)) {
        let h: Histogram = values.iter().copied().collect();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        prop_assert_eq!(h.count(), values.len() as u64);
        prop_assert_eq!(h.min(), sorted.first().copied());
        prop_assert_eq!(h.max(), sorted.last().copied());
        prop_assert_eq!(h.sum(), values.iter().map(|&v| u128::from(v)).sum::<u128>());
        let bucket_total: u64 = h.buckets().map(|(_, n)| n).sum();
        prop_assert_eq!(bucket_total, h.count());
        for q in [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let exact = exact_quantile(&sorted, q);
            let estimate = h.quantile(q).unwrap();
            let error = relative_error(estimate, exact);
            prop_assert!(
                error <= Histogram::RELATIVE_ERROR,
                "q={} estimate {} exact {} error {}", q, estimate, exact, error
            );
        }
    }

    #[test]
    fn serde_round_trip_is_lossless(values in prop::collection::vec(value(), 0..100)) {
        let h: Histogram = values.iter().copied().collect();
        let json = serde_json::to_string(&h).unwrap();
        let back: Histogram = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, h);
    }

    #[test]
    fn window_matches_reference_model(
        slots in 1usize..8,
        slot_width in 1u64..1_000,
        origin in 0u64..1_000_000,
        ops in prop::collection::vec((0u64..2_500, value(), any::<bool>()), 1..200),
    ) {
        let span = Duration::from_nanos(slot_width * slots as u64);
        let mut window = Window::new(span, slots).unwrap();
        prop_assert_eq!(window.span(), span);
        let mut model = ReferenceWindow { slot_width, slots: slots as u64, values: Vec::new() };
        let mut now = origin;
        for (step, value, record) in ops {
            // Mostly small steps, sometimes a gap longer than the whole span.
            now += if step >= 2_400 { step * slot_width } else { step % (2 * slot_width) };
            let t = Instant::from_nanos(now);
            if record {
                window.record(t, value);
                model.values.push((t, value));
            }
            prop_assert_eq!(window.snapshot(t), model.snapshot(t), "at {}", now);
        }
    }
}
