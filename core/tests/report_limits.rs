//! Hostile reports (issue 11): every count and length is bounded with an error naming the
//! limit, names follow the Prometheus grammar, and the checks stay fast on huge inputs.

use perfopt_core::Instant;
use perfopt_core::report::limits::*;
use perfopt_core::report::{Meta, Recorder, Report, ReportError, Series, Target, metrics};
use perfopt_core::rules::default_rules;

fn base() -> Report {
    let meta = Meta {
        tool_version: "0.1.0".into(),
        host: "host".into(),
        target: Some(Target {
            pid: 1,
            command: Some("cmd".into()),
            exit: None,
        }),
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    };
    let t0 = Instant::from_secs(1);
    let mut rec = Recorder::new(t0, meta, default_rules()).unwrap();
    for s in 0..15u64 {
        rec.handle_sample(
            Instant::from_secs(1 + s),
            [(metrics::SYS_CPU, 95.0), (metrics::SYS_MEM, 10.0)],
        );
    }
    let r = rec.report(Instant::from_secs(20));
    r.validate().unwrap();
    assert!(!r.recommendations.is_empty() && !r.alerts.is_empty());
    r
}

/// Validates directly and (for small reports: debug builds are slow) through the JSON
/// reader; both must give the same message.
fn invalid(r: &Report) -> String {
    let direct = r.validate().unwrap_err();
    if r.alerts.len() < 10_000 && r.rules.len() < 10_000 {
        let parsed = Report::from_json(&serde_json::to_string(r).unwrap()).unwrap_err();
        assert_eq!(direct, parsed);
    }
    match direct {
        ReportError::Invalid(m) => m,
        other => panic!("not Invalid: {other:?}"),
    }
}

#[test]
fn every_count_is_bounded_with_an_error_naming_the_limit() {
    let r0 = base();
    let mut r = r0.clone();
    let rule = r.rules[0].clone();
    r.rules = (0..=MAX_RULES)
        .map(|i| perfopt_core::rules::Rule {
            id: format!("r{i}"),
            ..rule.clone()
        })
        .collect();
    let m = invalid(&r);
    assert!(
        m.contains("rules has 1001 entries") && m.contains("limit of 1000"),
        "{m}"
    );

    let mut r = r0.clone();
    let a = r.alerts[0].clone();
    r.alerts = vec![a; MAX_ALERTS + 1];
    assert!(invalid(&r).contains(&format!("alerts has {} entries", MAX_ALERTS + 1)));

    let mut r = r0.clone();
    let rec = r.recommendations[0].clone();
    r.recommendations = vec![rec; MAX_RECOMMENDATIONS + 1];
    assert!(invalid(&r).contains("recommendations has"));

    let mut r = r0.clone();
    let s = r.summaries.values().next().unwrap().clone();
    for i in 0..=MAX_METRICS {
        r.summaries.insert(format!("m{i}"), s.clone());
    }
    assert!(invalid(&r).contains("summaries has"));

    let mut r = r0.clone();
    for i in 0..=MAX_COMPONENTS {
        r.components.insert(format!("c{i}"), serde_json::json!({}));
    }
    assert!(invalid(&r).contains("components has"));

    let mut r = r0.clone();
    let mut series = Series::new();
    let names: Vec<String> = (0..=MAX_METRICS).map(|i| format!("m{i}")).collect();
    series.push(1, names.iter().map(|n| (n.as_str(), 1.0)));
    r.series = series;
    assert!(
        invalid(&r).contains("series has 1001 entries"),
        "{}",
        invalid(&r)
    );
}

#[test]
fn lengths_are_bounded() {
    let r0 = base();
    let mut r = r0.clone();
    r.meta.target.as_mut().unwrap().command = Some("x".repeat(MAX_TEXT_LEN + 1));
    let m = invalid(&r);
    assert!(
        m.contains("meta.target.command") && m.contains("limit of 16384"),
        "{m}"
    );

    let mut r = r0.clone();
    r.rules[2].advice = "y".repeat(MAX_TEXT_LEN + 1);
    assert!(invalid(&r).contains("rules[2].advice"));

    let mut r = r0.clone();
    r.meta.host = "h".repeat(MAX_NAME_LEN + 1);
    assert!(invalid(&r).contains("meta.host"));
}

#[test]
fn names_follow_the_prometheus_grammar() {
    let r0 = base();
    for bad in ["a\nperfopt_forged 1", "a-b", "1abc", "", "a b", "é"] {
        let mut r = r0.clone();
        let mut series = Series::new();
        series.push(1, [(bad, 1.0)]);
        r.series = series;
        let m = invalid(&r);
        assert!(m.contains("is not a metric name"), "{bad:?}: {m}");
        assert!(!m.contains('\n'), "one line: {m:?}");

        let mut r = r0.clone();
        let s = r.summaries.values().next().unwrap().clone();
        r.summaries.insert(bad.to_string(), s);
        assert!(invalid(&r).contains("summaries"), "{bad:?}");

        let mut r = r0.clone();
        r.rules[0].metric = bad.to_string();
        assert!(invalid(&r).contains("rules[0].metric"), "{bad:?}");
    }
    for good in ["a", "_x", "sys_cpu_pct", "A_b9"] {
        assert!(perfopt_core::report::is_metric_name(good), "{good}");
    }
}

#[test]
fn a_hundred_thousand_rules_are_rejected_quickly_by_count() {
    // The probe of the issue: 100k rules made `report show` take 23.5 s (quadratic duplicate
    // check). Now the count is checked first and the duplicate check is n log n anyway.
    let mut r = base();
    let rule = r.rules[0].clone();
    r.rules = (0..100_000)
        .map(|i| perfopt_core::rules::Rule {
            id: format!("r{i}"),
            ..rule.clone()
        })
        .collect();
    assert!(invalid(&r).contains("rules has 100000 entries"));
}
