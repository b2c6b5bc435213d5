//! Property tests of the tiered report: whatever the samples (gaps, missing metrics,
//! negative and huge values, runs longer than every span), the series and rollups of a
//! report survive a JSON round trip exactly, and a recorder resumed from the report gives
//! the same report back.

use core::time::Duration;

use perfopt_core::Instant;
use perfopt_core::report::{Meta, Recorder, Report, Retention, TierSpec, metrics};
use perfopt_core::rules::default_rules;
use proptest::prelude::*;

const NAMES: [&str; 4] = [
    metrics::SYS_CPU,
    metrics::PROC_RSS,
    metrics::LATENCY_MEAN,
    "custom_metric",
];

fn meta() -> Meta {
    Meta {
        tool_version: "0.1.0".into(),
        host: "h".into(),
        target: None,
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    }
}

fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        3 => Just(None),
        5 => (-1e3f64..1e3).prop_map(Some),
        2 => (0f64..1e12).prop_map(Some),
        1 => Just(Some(f64::NAN)),
        1 => Just(Some(1e300)),
    ]
}

fn samples() -> impl Strategy<Value = Vec<(u64, [Option<f64>; 4])>> {
    prop::collection::vec((1u64..90_000, [value(), value(), value(), value()]), 1..400)
}

fn retention() -> impl Strategy<Value = Retention> {
    (10_000u64..600_000, 1u64..30, 2u64..5, 1u64..40).prop_map(|(full, step, mult, span)| {
        let step_ms = step * 10_000;
        Retention {
            full_ms: full,
            tiers: vec![
                TierSpec {
                    step_ms,
                    span_ms: step_ms * span,
                },
                TierSpec {
                    step_ms: step_ms * mult,
                    span_ms: step_ms * mult * span * 2,
                },
            ],
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn series_and_rollups_round_trip_through_json_and_resume(
        samples in samples(),
        retention in retention(),
    ) {
        let t0 = Instant::from_secs(100);
        let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
        rec.set_retention(retention).unwrap();
        let mut t = 0u64;
        for (gap, values) in &samples {
            t += gap;
            let present: Vec<(&str, f64)> = NAMES
                .iter()
                .zip(values)
                .filter_map(|(n, v)| v.map(|v| (*n, v)))
                .collect();
            prop_assert!(rec.handle_sample(t0.saturating_add(Duration::from_millis(t)), present));
        }
        let end = t0.saturating_add(Duration::from_millis(t + 1));
        let report = rec.report(end);
        let back = Report::from_json(&report.to_json()).unwrap();
        prop_assert_eq!(&back.series, &report.series);
        prop_assert_eq!(&back.rollups, &report.rollups);
        prop_assert_eq!(&back, &report);
        let resumed = Recorder::resume(t0, Duration::ZERO, &back).unwrap();
        let again = resumed.report(end);
        prop_assert_eq!(&again.series, &report.series);
        prop_assert_eq!(&again.rollups, &report.rollups);
        prop_assert_eq!(&again.summaries, &report.summaries);
    }
}
