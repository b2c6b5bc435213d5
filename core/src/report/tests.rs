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
            exit: None,
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
    // Cut anywhere, inside a number ("12.") or a string, it is still called truncated.
    for cut in (1..good.len()).step_by(97) {
        let err = Report::from_json(&good[..cut]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
    }
    for cut in [
        "{\"a\": 12.",
        "{\"a\": 12.\n",
        "{\"a\": 12.\r\n",
        "{\"a\": 1e",
        "{\"a\": tr",
    ] {
        let err = Report::from_json(cut).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{cut:?}: {err}");
    }
    // Errors at the very end that are not a cut keep their own message, also after
    // multi-byte characters (serde_json counts columns in bytes).
    for (bad, says) in [
        ("{\"schema\":\"x\"}}", "trailing characters"),
        ("{\"schema\":\"x\",}", "trailing comma"),
        ("{\"a\":\"éééééé\",\"b\":1 x}", "expected `,` or `}`"),
        ("{\"a\": 1 x", "expected `,` or `}`"),
    ] {
        let err = Report::from_json(bad).unwrap_err().to_string();
        assert!(
            err.contains(says) && !err.contains("truncated"),
            "{bad}: {err}"
        );
    }
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

// ---------------------------------------------------------------------------------------
// Tiered retention

use crate::leak::LeakConfig;

/// A deterministic pseudo-random sequence (SplitMix64), for noisy test signals.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `secs` one-second samples of a noisy CPU, a growing RSS and a thread count.
fn feed(rec: &mut Recorder, t0: Instant, from: u64, to: u64, rng: &mut Rng) {
    for s in from..to {
        let cpu = 20.0 + 60.0 * rng.next();
        let rss = 300e6 + s as f64 * 1000.0 + (rng.next() * 1e6).round();
        let now = t0.saturating_add(Duration::from_millis(s * 1000 + (s % 3)));
        assert!(rec.handle_sample(
            now,
            [
                (metrics::SYS_CPU, cpu),
                (metrics::PROC_RSS, rss),
                (metrics::PROC_THREADS, 8.0),
            ]
        ));
    }
}

fn small_retention() -> Retention {
    Retention {
        full_ms: 600_000,
        tiers: alloc::vec![
            TierSpec {
                step_ms: 60_000,
                span_ms: 3 * 3_600_000,
            },
            TierSpec {
                step_ms: 600_000,
                span_ms: 24 * 3_600_000,
            },
        ],
    }
}

#[test]
fn rollup_percentiles_match_the_raw_span_within_the_histogram_bound() {
    let t0 = Instant::from_secs(10);
    let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
    let mut rng = Rng(7);
    feed(&mut rec, t0, 0, 7200, &mut rng);
    let series = rec.series();
    let report = rec.report(t0.saturating_add(Duration::from_secs(7200)));
    let minutes = &report.rollups[0];
    let hours = &report.rollups[1];
    assert_eq!((minutes.step_ms, hours.step_ms), (60_000, 3_600_000));
    assert_eq!(minutes.rows().t_ms.len(), 120);
    let raw = |from: u64, to: u64| -> Vec<f64> {
        let col = series.column(metrics::SYS_CPU).unwrap();
        let mut v: Vec<f64> = series
            .t_ms()
            .iter()
            .zip(col)
            .filter(|(t, _)| **t >= from && **t < to)
            .filter_map(|(_, v)| *v)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    // Every minute row: exact count, min, max and mean.
    let col = &minutes.rows().metrics[metrics::SYS_CPU];
    for (i, &t) in minutes.rows().t_ms.iter().enumerate() {
        let v = raw(t, t + 60_000);
        assert_eq!(col.count[i], v.len() as u64);
        assert_eq!(col.min[i], Some(v[0]));
        assert_eq!(col.max[i], v.last().copied());
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((col.mean[i].unwrap() - mean).abs() < 1e-9, "{i}");
    }
    // Percentiles of any span of minutes, and of the hours, within 1/32 (+ resolution).
    for (tier, from, to) in [
        (minutes, 0, 7_200_000),
        (minutes, 13 * 60_000, 50 * 60_000),
        (minutes, 61 * 60_000, 62 * 60_000),
        (hours, 0, 3_600_000),
        (hours, 0, 7_200_000),
    ] {
        let v = raw(from, to);
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            let exact = v[rank - 1];
            let est = tier.quantile(metrics::SYS_CPU, from, to, q).unwrap();
            assert!(
                (est - exact).abs() <= exact / 32.0 + 0.01,
                "q{q} over {from}..{to} step {}: {est} vs {exact}",
                tier.step_ms
            );
        }
    }
    // Hours are exact merges of their minutes.
    let h = &hours.rows().metrics[metrics::SYS_CPU];
    assert_eq!(h.count[0], col.count[..60].iter().sum::<u64>());
    assert_eq!(
        h.max[0],
        col.max[..60].iter().copied().flatten().reduce(f64::max)
    );
}

#[test]
fn full_resolution_is_bounded_by_its_span_and_rollups_by_theirs() {
    let t0 = Instant::from_secs(10);
    let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
    rec.set_retention(small_retention()).unwrap();
    let mut rng = Rng(1);
    feed(&mut rec, t0, 0, 5 * 3600, &mut rng);
    let r = rec.report(t0.saturating_add(Duration::from_secs(5 * 3600)));
    // 10 minutes of samples, plus at most one block being dropped.
    assert!(r.series.len() >= 600, "{}", r.series.len());
    assert!(r.series.len() <= 600 + 512, "{}", r.series.len());
    assert_eq!(*r.series.t_ms().last().unwrap(), (5 * 3600 - 1) * 1000 + 2);
    // 3 h of minutes (plus a block), 5 h of 10-minute rows.
    assert!(r.rollups[0].rows().t_ms.len() <= 180 + 512);
    assert!(r.rollups[0].rows().t_ms.len() >= 180);
    assert_eq!(r.rollups[1].rows().t_ms.len(), 30);
    // Whole-run summaries still count every sample.
    assert_eq!(r.summaries[metrics::SYS_CPU].summary.count, 5 * 3600);
    assert!(rec.set_retention(Retention::default()).is_err());
}

#[test]
fn full_resolution_takes_under_4_bytes_a_value() {
    let t0 = Instant::from_secs(10);
    let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
    let mut rng = Rng(3);
    feed(&mut rec, t0, 0, 3600, &mut rng);
    let f = rec.footprint();
    assert_eq!(f.samples, 3600);
    let per_value = f.full_bytes as f64 / f.values as f64;
    assert!(per_value <= 4.0, "{per_value} bytes a value ({f:?})");
}

#[test]
fn old_reports_without_tiers_still_load_and_resume() {
    let r = sample_report();
    let mut v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.remove("rollups").unwrap();
    obj.remove("retention").unwrap();
    let old = Report::from_json(&v.to_string()).unwrap();
    assert!(old.rollups.is_empty() && old.retention.is_none());
    assert_eq!(old.series, r.series);
    // Resuming an old report rebuilds its rollups from the series.
    let t0 = Instant::from_secs(1_000);
    let rec = Recorder::resume(t0, Duration::ZERO, &old).unwrap();
    let again = rec.report(t0.saturating_add(Duration::from_secs(121)));
    assert_eq!(again.rollups, r.rollups);
}

#[test]
fn a_resumed_report_continues_as_if_never_stopped() {
    let t0 = Instant::from_secs(10);
    let make = || {
        let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
        rec.set_retention(small_retention()).unwrap();
        rec
    };
    let mut straight = make();
    let mut rng = Rng(5);
    feed(&mut straight, t0, 0, 1800, &mut rng);
    let mut first = make();
    let mut rng = Rng(5);
    feed(&mut first, t0, 0, 1000, &mut rng);
    let checkpoint = Report::from_json(
        &first
            .report(t0.saturating_add(Duration::from_secs(1000)))
            .to_json(),
    )
    .unwrap();
    // The process restarts 1000 s into the report, on a clock that began after the report.
    let t1 = Instant::from_secs(5);
    let mut resumed = Recorder::resume(
        t1.saturating_add(Duration::from_secs(1000)),
        Duration::from_secs(1000),
        &checkpoint,
    )
    .unwrap();
    feed(&mut resumed, t1, 1000, 1800, &mut rng);
    let end = Duration::from_secs(1800);
    let (a, b) = (
        straight.report(t0.saturating_add(end)),
        resumed.report(t1.saturating_add(end)),
    );
    assert_eq!(a.series, b.series);
    assert_eq!(a.rollups, b.rollups);
    assert_eq!(a.summaries, b.summaries);
    assert_eq!(a.alerts, b.alerts);
    assert_eq!(a.recommendations, b.recommendations);
    assert_eq!(a.memory, b.memory);
    assert_eq!(a, b);
}

#[test]
fn inconsistent_rollups_are_rejected() {
    let good = sample_report().to_json();
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["rollups"][0]["metrics"]["sys_cpu_pct"]["count"][0] = 7.into();
    let err = Report::from_json(&v.to_string()).unwrap_err();
    assert!(
        err.to_string().contains("rollups[0].metrics.sys_cpu_pct"),
        "{err}"
    );
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["rollups"][0]["t_ms"][0] = 5.into();
    let err = Report::from_json(&v.to_string()).unwrap_err();
    assert!(err.to_string().contains("multiple of step_ms"), "{err}");
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["retention"]["tiers"][1]["step_ms"] = 90_000.into();
    assert!(Report::from_json(&v.to_string()).is_err());
}

#[test]
fn leak_work_stays_bounded_over_a_long_run() {
    let t0 = Instant::from_secs(10);
    let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
    rec.set_leak_config(LeakConfig::default());
    let mut rng = Rng(9);
    // 12 h of a 5 MB/h leak: the envelope stays within its bound and still calls it.
    for s in 0..12 * 3600u64 {
        let rss = 300e6 + s as f64 * 5e6 / 3600.0 + rng.next() * 1e6;
        rec.handle_sample(
            t0.saturating_add(Duration::from_secs(s)),
            [(metrics::PROC_RSS, rss)],
        );
    }
    let r = rec.report(t0.saturating_add(Duration::from_secs(12 * 3600)));
    let leak = &r.memory.unwrap().leak;
    assert!(leak.points <= crate::leak::Envelope::MAX_POINTS, "{leak:?}");
    assert!(
        leak.points >= crate::leak::Envelope::MAX_POINTS / 2,
        "{leak:?}"
    );
    assert_eq!(leak.verdict, crate::leak::Verdict::Leak, "{leak:?}");
    assert!((leak.slope_mb_per_h - 5.0).abs() < 0.5, "{leak:?}");
}

#[test]
fn latest_is_the_report_without_its_history() {
    let t0 = Instant::from_secs(5);
    let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
    let retention = Retention {
        full_ms: 1_800_000,
        ..small_retention()
    };
    rec.set_retention(retention).unwrap();
    let mut rng = Rng(7);
    // A metric seen once, 1,000 s before the end: still in the full-resolution series
    // (30 min here), but older than the rules' window (the default rules look back at most
    // 300 s; samples are kept for 360-720 s) — `latest` leaves it out rather than report it
    // stale.
    let once = 4 * 3600 - 1000;
    feed(&mut rec, t0, 0, once, &mut rng);
    let at = t0.saturating_add(Duration::from_millis(once * 1000 + 500));
    assert!(rec.handle_sample(at, [(metrics::SYS_LOAD1, 3.0)]));
    feed(&mut rec, t0, once + 1, 4 * 3600, &mut rng);
    // A last sample with one metric only: the others come from earlier samples.
    let last = t0.saturating_add(Duration::from_secs(4 * 3600));
    assert!(rec.handle_sample(last, [(metrics::SYS_MEM, 41.5)]));
    let now = last.saturating_add(Duration::from_millis(500));
    let full = rec.report(now);
    let latest = rec.latest(now);
    assert_eq!(latest.series.len(), 1);
    assert_eq!(
        latest.series.t_ms(),
        &full.series.t_ms()[full.series.len() - 1..]
    );
    assert!(latest.rollups.is_empty() && !full.rollups.is_empty());
    assert!(full.series.column(metrics::SYS_LOAD1).is_some());
    assert!(
        latest.series.column(metrics::SYS_LOAD1).is_none(),
        "stale metric exported"
    );
    // Each other metric's latest value is the full series' last value that is not null.
    for name in full.series.metrics().filter(|m| *m != metrics::SYS_LOAD1) {
        let want = full
            .series
            .column(name)
            .unwrap()
            .iter()
            .rev()
            .flatten()
            .next();
        assert_eq!(
            latest.series.column(name).map(|c| c[0].unwrap()).as_ref(),
            want,
            "{name}"
        );
    }
    assert_eq!(
        latest.series.column(metrics::SYS_MEM).unwrap(),
        &[Some(41.5)]
    );
    // Everything else is the same as the whole report's.
    let strip = |mut r: Report| {
        r.series = Series::new();
        r.rollups.clear();
        r
    };
    assert_eq!(strip(latest), strip(full));
}

#[test]
fn an_overview_draws_the_run_from_its_finest_rollup() {
    let t0 = Instant::from_secs(5);
    let mut rec = Recorder::new(t0, meta(), default_rules()).unwrap();
    let mut rng = Rng(11);
    feed(&mut rec, t0, 0, 2 * 3600 + 30, &mut rng);
    let full = rec.report(t0.saturating_add(Duration::from_secs(2 * 3600 + 30)));
    assert!(full.series.len() > 7000 && !full.rollups.is_empty());
    let minute = &full.rollups[0];
    assert_eq!(minute.step_ms, 60_000);

    let o = full
        .overview(5000)
        .expect("2 h at 1 s with a minute tier has an overview");
    // One sample per minute row (the open one included), its mean.
    assert_eq!(o.series.t_ms(), minute.rows().t_ms.as_slice());
    assert_eq!(o.series.len(), 121);
    for name in [metrics::SYS_CPU, metrics::PROC_RSS, metrics::PROC_THREADS] {
        assert_eq!(
            o.series.column(name).unwrap(),
            minute.rows().metrics[name].mean.as_slice()
        );
    }
    // The mean of minute 10's samples, from the full series.
    let t = full.series.t_ms();
    let cpu = full.series.column(metrics::SYS_CPU).unwrap();
    let in_row: Vec<f64> = (0..t.len())
        .filter(|&i| (600_000..660_000).contains(&t[i]))
        .filter_map(|i| cpu[i])
        .collect();
    let mean = in_row.iter().sum::<f64>() / in_row.len() as f64;
    let got = o.series.column(metrics::SYS_CPU).unwrap()[10].unwrap();
    assert!((got - mean).abs() < 0.01, "{got} vs {mean}");
    assert!(o.rollups.is_empty());
    o.validate().expect("an overview is a valid report");
    assert!(o.to_json().len() * 10 < full.to_json().len());
    // Everything but the series and the rollups is the whole report's.
    let strip = |mut r: Report| {
        r.series = Series::new();
        r.rollups.clear();
        r
    };
    assert_eq!(strip(o), strip(full.clone()));

    // Nothing smaller to send: a short series, no tier small enough, no rollups.
    assert!(full.overview(full.series.len()).is_none());
    // The hour tier gets a minute row once it closes: hours 0 and 1 so far.
    let hours = full.overview(100).expect("the hour tier");
    assert_eq!(hours.series.t_ms(), &[0, 3_600_000]);
    assert!(full.overview(1).is_none(), "no tier of one row");
    let mut no_rollups = full.clone();
    no_rollups.rollups.clear();
    assert!(no_rollups.overview(5000).is_none());
}
