//! The rule engine against a naive reference model, under seeded random inputs in simulated
//! time: same state changes at the same ticks, and the invariants of each transition.

use perfopt_core::rules::{
    Aggregate, AlertState, Comparison, MetricSource, Rule, RuleEngine, Severity,
};
use perfopt_core::{Duration, Instant};
use proptest::prelude::*;

struct One(Option<f64>);
impl MetricSource for One {
    fn aggregate(&self, _: &str, _: Aggregate, _: Duration, _: Instant) -> Option<f64> {
        self.0
    }
}

fn rule(comparison: Comparison, threshold: f64, clear: f64, for_ms: u64) -> Rule {
    Rule {
        id: "r".into(),
        metric: "m".into(),
        aggregate: Aggregate::Last,
        window_ms: 1000,
        comparison,
        threshold,
        clear_threshold: clear,
        for_ms,
        severity: Severity::Warning,
        message: String::new(),
        advice: String::new(),
    }
}

/// The naive model: a breach run start and a firing flag, nothing else.
fn model(r: &Rule, ticks: &[(u64, Option<f64>)]) -> Vec<(u64, AlertState)> {
    let breached = |v: f64| match r.comparison {
        Comparison::Above => v > r.threshold,
        _ => v < r.threshold,
    };
    let cleared = |v: f64| match r.comparison {
        Comparison::Above => v < r.clear_threshold,
        _ => v > r.clear_threshold,
    };
    let (mut firing, mut run_start, mut out) = (false, None::<u64>, Vec::new());
    for &(t, v) in ticks {
        let Some(v) = v else { continue };
        if firing {
            if cleared(v) {
                firing = false;
                out.push((t, AlertState::Resolved));
            }
            continue;
        }
        if breached(v) {
            let start = *run_start.get_or_insert_with(|| {
                out.push((t, AlertState::Pending));
                t
            });
            if t - start >= r.for_ms {
                firing = true;
                run_start = None;
                out.push((t, AlertState::Firing));
            }
        } else if run_start.take().is_some() {
            out.push((t, AlertState::Inactive));
        }
    }
    out
}

fn ticks() -> impl Strategy<Value = Vec<(u64, Option<f64>)>> {
    prop::collection::vec(
        (1u64..3_000, prop::option::weighted(0.9, 0.0f64..100.0)),
        1..300,
    )
    .prop_map(|steps| {
        let mut t = 0;
        steps
            .into_iter()
            .map(|(dt, v)| {
                t += dt;
                (t, v)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn engine_matches_the_model(
        ticks in ticks(),
        above in any::<bool>(),
        threshold in 20.0f64..80.0,
        gap in 0.0f64..20.0,
        for_ms in prop::sample::select(vec![0u64, 1_000, 5_000, 20_000]),
    ) {
        let r = if above {
            rule(Comparison::Above, threshold, threshold - gap, for_ms)
        } else {
            rule(Comparison::Below, threshold, threshold + gap, for_ms)
        };
        let mut engine = RuleEngine::new(vec![r.clone()]).unwrap();
        let mut got = Vec::new();
        for &(t, v) in &ticks {
            engine.handle_tick(Instant::from_millis(t), &One(v));
            while let Some(ev) = engine.poll_event() {
                got.push((ev.at.as_millis(), ev.state));
            }
        }
        prop_assert_eq!(&got, &model(&r, &ticks));
        // Transition invariants: only legal successors, and firing waits `for_ms`.
        let mut prev = AlertState::Inactive;
        let mut pending_at = 0;
        for &(t, s) in &got {
            let legal = matches!(
                (prev, s),
                (AlertState::Inactive | AlertState::Resolved, AlertState::Pending)
                    | (AlertState::Pending, AlertState::Inactive | AlertState::Firing)
                    | (AlertState::Firing, AlertState::Resolved)
            );
            prop_assert!(legal, "{:?} -> {:?}", prev, s);
            if s == AlertState::Pending {
                pending_at = t;
            }
            if s == AlertState::Firing {
                prop_assert!(t - pending_at >= for_ms);
            }
            prev = s;
        }
    }
}

#[test]
fn noisy_input_around_the_threshold_fires_once() {
    // A value that hovers around 80 with ±3 of noise for ten minutes, sampled every second:
    // one firing, no resolve, because the clear threshold (70) is never crossed.
    let r = rule(Comparison::Above, 80.0, 70.0, 5_000);
    let mut engine = RuleEngine::new(vec![r]).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut firings = 0;
    let mut resolves = 0;
    for s in 0..600u64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 600) as f64 / 100.0 - 3.0;
        let v = if s < 60 { 50.0 } else { 82.0 + noise };
        engine.handle_tick(Instant::from_secs(s), &One(Some(v)));
        while let Some(ev) = engine.poll_event() {
            firings += usize::from(ev.state == AlertState::Firing);
            resolves += usize::from(ev.state == AlertState::Resolved);
        }
    }
    assert_eq!((firings, resolves), (1, 0));
}
