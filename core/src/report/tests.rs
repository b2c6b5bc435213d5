use super::*;
use crate::Instant;
use crate::rules::default_rules;
use core::time::Duration;

fn meta() -> Meta {
    Meta {
        tool_version: "0.1.0".into(),
        host: "test-host".into(),
        target: Some(Target {
            pid: 42,
            command: Some("burn --mb 8".into()),
        }),
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    }
}

/// A 120 s run where CPU climbs above 80 % from 30 s to 80 s, and requests get slower.
fn sample_report() -> Report {
    let t0 = Instant::from_secs(1_000);
    let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
    for s in 0..120u64 {
        let now = t0.saturating_add(Duration::from_millis(s * 1000 + 3));
        let cpu = if (30..80).contains(&s) {
            95.0
        } else {
            20.0 + (s % 7) as f64
        };
        let rss = 10e6 + s as f64 * 1e5;
        assert!(rec.handle_sample(
            now,
            [
                (metrics::SYS_CPU, cpu),
                (metrics::SYS_MEM, 40.0),
                (metrics::PROC_RSS, rss),
                (metrics::LATENCY_MEAN, 5.0 + s as f64),
            ]
        ));
        rec.record_latency(Duration::from_micros(5_000 + s * 1000));
    }
    // 121 s: rates such as 120/121 per second must survive a JSON round trip exactly.
    rec.report(t0.saturating_add(Duration::from_secs(121)))
}

#[test]
fn recorder_builds_a_consistent_report() {
    let r = sample_report();
    r.validate().unwrap();
    assert_eq!(r.series.len(), 120);
    assert_eq!(r.meta.ended_at - r.meta.started_at, 121_000);
    let cpu = &r.summaries[metrics::SYS_CPU];
    assert_eq!(cpu.summary.count, 120);
    assert!((cpu.summary.max - 95.0).abs() < 1e-9);
    let lat = &r.summaries[metrics::LATENCY];
    assert_eq!(lat.summary.count, 120);
    // 5..=124 ms, p50 = 64 ms within the histogram's error.
    assert!((lat.summary.p50 - 64.0).abs() / 64.0 <= crate::stats::Histogram::RELATIVE_ERROR);
    // CPU fired (mean over 10 s > 80 for 5 s) and resolved after it dropped.
    let rec = r.recommendations.iter().find(|x| x.rule == "cpu").unwrap();
    assert_eq!(rec.state, AlertState::Resolved);
    assert!(rec.evidence.observed > 80.0);
    assert_eq!(rec.evidence.threshold, 80.0);
    assert!(rec.evidence.fired_at_ms >= rec.evidence.since_ms + 5000);
    let states: Vec<_> = r
        .alerts
        .iter()
        .filter(|a| a.rule == "cpu")
        .map(|a| a.state)
        .collect();
    assert_eq!(
        states,
        [
            AlertState::Pending,
            AlertState::Firing,
            AlertState::Resolved
        ]
    );
}

#[test]
fn json_round_trip_is_exact_and_replay_reproduces_alerts() {
    let r = sample_report();
    let text = r.to_json();
    let back = Report::from_json(&text).unwrap();
    assert_eq!(back, r);
    let (alerts, recs) = evaluate(&back.series, back.rules.clone()).unwrap();
    assert_eq!(alerts, r.alerts);
    assert_eq!(recs, r.recommendations);
}

#[test]
fn replay_with_a_higher_threshold_fires_nothing() {
    let r = sample_report();
    let mut rules = r.rules.clone();
    rules.iter_mut().find(|x| x.id == "cpu").unwrap().threshold = 99.0;
    let (alerts, recs) = evaluate(&r.series, rules).unwrap();
    assert!(alerts.iter().all(|a| a.rule != "cpu"));
    assert!(recs.iter().all(|a| a.rule != "cpu"));
}

#[test]
fn bad_input_gets_a_precise_error() {
    let good = sample_report().to_json();
    // Truncated.
    let err = Report::from_json(&good[..good.len() / 2]).unwrap_err();
    assert!(matches!(err, ReportError::Syntax { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    // Not JSON.
    let err = Report::from_json("hello\n").unwrap_err();
    assert!(
        matches!(
            err,
            ReportError::Syntax {
                line: 1,
                column: 1,
                ..
            }
        ),
        "{err:?}"
    );
    // JSON but not an object, or without / with another schema.
    assert_eq!(
        Report::from_json("[1,2]").unwrap_err(),
        ReportError::Schema { found: None }
    );
    assert_eq!(
        Report::from_json("{}").unwrap_err(),
        ReportError::Schema { found: None }
    );
    let err = Report::from_json(r#"{"schema": "perfopt.report/v2"}"#).unwrap_err();
    assert!(err.to_string().contains("perfopt.report/v2"), "{err}");
    // Right schema, wrong shape: line and column point into the file.
    let err = Report::from_json("{\"schema\": \"perfopt.report/v1\",\n \"meta\": 5}").unwrap_err();
    match err {
        ReportError::Shape { line, .. } => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
    // Well-formed but inconsistent.
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["series"]["sys_cpu_pct"].as_array_mut().unwrap().pop();
    let err = Report::from_json(&v.to_string()).unwrap_err();
    assert!(
        err.to_string()
            .contains("series.sys_cpu_pct has 119 values"),
        "{err}"
    );
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["summaries"]["sys_cpu_pct"]["count"] = 3.into();
    let err = Report::from_json(&v.to_string()).unwrap_err();
    assert!(err.to_string().contains("summaries.sys_cpu_pct"), "{err}");
}

#[test]
fn histograms_in_summaries_merge_exactly() {
    let a = sample_report();
    let b = sample_report();
    let mut h = a.summaries[metrics::LATENCY].histogram.clone();
    h.merge(&b.summaries[metrics::LATENCY].histogram);
    assert_eq!(h.count(), 240);
    assert_eq!(
        h.quantile(0.5),
        a.summaries[metrics::LATENCY].histogram.quantile(0.5)
    );
}
