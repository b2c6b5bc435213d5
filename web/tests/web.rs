//! The viewer's wasm API, tested in headless Chromium against real reports built by core.
//!
//! Run from the workspace root (needs `wasm-bindgen-test-runner` 0.2.130 from
//! `cargo install wasm-bindgen-cli --version =0.2.130` and `chromedriver` on `PATH`;
//! `.cargo/config.toml` sets the runner):
//!
//! ```text
//! cargo test -p perfopt-web --target wasm32-unknown-unknown --tests
//! ```
//!
//! On the host this file compiles to nothing: the API hands out `JsValue`s, which exist only
//! in a JS engine.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, JSON, Object, Reflect};
use perfopt_core::report::metrics::{self, Unit};
use perfopt_core::report::{AlertRecord, Meta, Recommendation, Recorder, Report, SCHEMA, Target};
use perfopt_core::rules::{self, AlertState, Rule};
use perfopt_core::{Duration, Instant};
use perfopt_web::{
    ParsedReport, all_metrics, default_rules, format_value, metric_info, tool_version,
};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsError, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const SAMPLES: u64 = 120;

/// A 120 s run with the default rules: CPU above 80 % from 30 s to 80 s (`cpu` fires and
/// resolves), error rate above 5 % from 90 s to the end (`error_rate` still firing), a
/// missing memory sample, growing RSS and one recorded latency per second.
fn sample_report() -> Report {
    let meta = Meta {
        tool_version: "0.1.0".into(),
        host: "wasm-test-host".into(),
        target: Some(Target {
            pid: 4242,
            command: Some("server --port 1".into()),
            exit: None,
        }),
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    };
    let t0 = Instant::from_secs(500);
    let mut rec = Recorder::new(t0, meta, rules::default_rules()).expect("default rules");
    for s in 0..SAMPLES {
        let cpu = if (30..80).contains(&s) {
            95.0
        } else {
            20.0 + (s % 7) as f64
        };
        let errors = if s >= 90 { 12.0 } else { 0.5 };
        let mut values = vec![
            (metrics::SYS_CPU, cpu),
            (metrics::PROC_RSS, 50e6 + s as f64 * 1e5),
            (metrics::LATENCY_MEAN, 10.0 + s as f64),
            (metrics::ERROR_RATE, errors),
        ];
        if s != 17 {
            values.push((metrics::SYS_MEM, 40.0 + (s % 3) as f64));
        }
        let now = t0.saturating_add(Duration::from_millis(s * 1000 + 7));
        assert!(rec.handle_sample(now, values));
        rec.record_latency(Duration::from_micros(2_000 + s * 500));
    }
    rec.report(t0.saturating_add(Duration::from_secs(SAMPLES)))
}

fn parsed(report: &Report) -> ParsedReport {
    ParsedReport::parse(&report.to_json())
        .unwrap_or_else(|e| panic!("parse failed: {}", message(e)))
}

/// The message of the `Error` a wasm function threw.
fn message(err: JsError) -> String {
    let value: JsValue = err.into();
    value
        .dyn_into::<js_sys::Error>()
        .expect("a JS Error")
        .message()
        .into()
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).expect("Reflect::get on an object")
}

fn stringify(value: &JsValue) -> String {
    JSON::stringify(value)
        .expect("plain data stringifies")
        .as_string()
        .expect("a string")
}

/// What `evaluate` returns, read back into core's types.
#[derive(Deserialize)]
struct Evaluation {
    alerts: Vec<AlertRecord>,
    recommendations: Vec<Recommendation>,
}

fn evaluate(report: &ParsedReport, rules: &JsValue) -> Evaluation {
    let out = report
        .evaluate(rules.clone())
        .unwrap_or_else(|e| panic!("evaluate failed: {}", message(e)));
    serde_json::from_str(&stringify(&out)).expect("evaluate returns alerts and recommendations")
}

fn rules_of(data: &JsValue) -> Array {
    get(data, "rules")
        .dyn_into::<Array>()
        .expect("rules is an array")
}

fn rule_by_id(rules: &Array, id: &str) -> JsValue {
    rules
        .iter()
        .find(|r| get(r, "id").as_string().as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no rule {id}"))
}

fn set(obj: &JsValue, key: &str, value: JsValue) {
    assert!(Reflect::set(obj, &JsValue::from_str(key), &value).expect("Reflect::set"));
}

#[wasm_bindgen_test]
fn parse_round_trips_the_report_through_js() {
    let report = sample_report();
    let data = parsed(&report).data().expect("data()");

    assert_eq!(get(&data, "schema").as_string().as_deref(), Some(SCHEMA));
    let meta = get(&data, "meta");
    assert_eq!(
        get(&meta, "host").as_string().as_deref(),
        Some("wasm-test-host")
    );
    assert_eq!(get(&get(&meta, "target"), "pid").as_f64(), Some(4242.0));
    assert_eq!(
        get(&meta, "ended_at").as_f64().unwrap() - get(&meta, "started_at").as_f64().unwrap(),
        (SAMPLES * 1000) as f64
    );

    // Columnar series: t_ms plus one array per metric, all SAMPLES long, null for a gap.
    let series = get(&data, "series");
    let series_obj: &Object = series.unchecked_ref();
    let keys: Vec<String> = Object::keys(series_obj)
        .iter()
        .map(|k| k.as_string().unwrap())
        .collect();
    for name in [
        "t_ms",
        metrics::SYS_CPU,
        metrics::SYS_MEM,
        metrics::PROC_RSS,
    ] {
        assert!(
            keys.iter().any(|k| k == name),
            "series lacks {name}: {keys:?}"
        );
    }
    for key in &keys {
        let column = get(&series, key).dyn_into::<Array>().expect("an array");
        assert_eq!(column.length() as u64, SAMPLES, "series.{key}");
    }
    let t_ms = get(&series, "t_ms").dyn_into::<Array>().unwrap();
    assert_eq!(
        t_ms.get(1).as_f64(),
        Some(1007.0),
        "samples were taken 7 ms into each second"
    );
    let mem = get(&series, metrics::SYS_MEM).dyn_into::<Array>().unwrap();
    assert!(mem.get(17).is_null(), "the missed sample is null");
    assert_eq!(mem.get(18).as_f64(), Some(40.0));

    // Summaries carry their unit and stats as plain numbers.
    let summaries = get(&data, "summaries");
    let cpu = get(&summaries, metrics::SYS_CPU);
    assert_eq!(get(&cpu, "unit").as_string().as_deref(), Some("percent"));
    assert_eq!(get(&cpu, "count").as_f64(), Some(SAMPLES as f64));
    assert_eq!(get(&cpu, "max").as_f64(), Some(95.0));
    let latency = get(&summaries, metrics::LATENCY);
    assert_eq!(get(&latency, "unit").as_string().as_deref(), Some("millis"));
    assert_eq!(get(&latency, "rate_per_s").as_f64(), Some(1.0));

    // What JS sees is the report: stringified by the browser, core reads back the very same
    // report, to the last bit of every float (sys_mem_pct's rate, 119/120, needs serde_json's
    // `float_roundtrip`). Parts first, for a readable failure.
    let back = Report::from_json(&stringify(&data)).expect("JS copy parses");
    assert_eq!(back.meta, report.meta);
    assert_eq!(back.series, report.series);
    for (name, summary) in &report.summaries {
        assert_eq!(
            back.summaries[name].summary, summary.summary,
            "summaries.{name}"
        );
    }
    assert_eq!(back, report);
}

#[wasm_bindgen_test]
fn evaluate_with_the_reports_rules_reproduces_its_alerts() {
    let report = sample_report();
    let p = parsed(&report);
    let data = p.data().unwrap();
    let out = evaluate(&p, &rules_of(&data).into());

    assert_eq!(out.alerts, report.alerts);
    assert_eq!(out.recommendations, report.recommendations);
    // And the report did have something to reproduce.
    let cpu: Vec<AlertState> = out
        .alerts
        .iter()
        .filter(|a| a.rule == "cpu")
        .map(|a| a.state)
        .collect();
    assert_eq!(
        cpu,
        [
            AlertState::Pending,
            AlertState::Firing,
            AlertState::Resolved
        ]
    );
    let error_rate = out
        .recommendations
        .iter()
        .find(|r| r.rule == "error_rate")
        .unwrap();
    assert_eq!(error_rate.state, AlertState::Firing);
    assert_eq!(error_rate.evidence.threshold, 5.0);
    // Rules the series has no data for stay silent.
    assert!(out.alerts.iter().all(|a| a.rule != "cache_hit_rate"));

    // defaultRules() is what the report was recorded with, so it gives the same answer.
    let defaults = default_rules().unwrap();
    let out = evaluate(&p, &defaults);
    assert_eq!(out.alerts, report.alerts);
}

#[wasm_bindgen_test]
fn a_raised_threshold_silences_only_its_rule() {
    let report = sample_report();
    let p = parsed(&report);
    let rules = rules_of(&p.data().unwrap());
    let cpu = rule_by_id(&rules, "cpu");
    set(&cpu, "threshold", JsValue::from_f64(99.0));
    set(&cpu, "clear_threshold", JsValue::from_f64(90.0));
    let out = evaluate(&p, &rules.into());

    assert!(
        out.alerts.iter().all(|a| a.rule != "cpu"),
        "{:?}",
        out.alerts
    );
    assert!(out.recommendations.iter().all(|r| r.rule != "cpu"));
    // The other rules are evaluated exactly as before.
    let others: Vec<&AlertRecord> = report.alerts.iter().filter(|a| a.rule != "cpu").collect();
    assert!(!others.is_empty());
    assert_eq!(out.alerts.iter().collect::<Vec<_>>(), others);

    // Lowering `for` to zero makes CPU fire at the first breaching sample instead.
    let rules = rules_of(&p.data().unwrap());
    set(&rule_by_id(&rules, "cpu"), "for_ms", JsValue::from_f64(0.0));
    let out = evaluate(&p, &rules.into());
    let cpu: Vec<&AlertRecord> = out.alerts.iter().filter(|a| a.rule == "cpu").collect();
    assert_eq!(cpu[0].state, AlertState::Pending);
    assert_eq!(cpu[1].state, AlertState::Firing);
    assert_eq!(cpu[0].at_ms, cpu[1].at_ms);
}

#[wasm_bindgen_test]
fn invalid_rules_are_errors_that_name_the_rule() {
    let p = parsed(&sample_report());
    let err = |rules: JsValue| message(p.evaluate(rules).expect_err("an error"));

    let rules = rules_of(&p.data().unwrap());
    set(
        &rule_by_id(&rules, "cpu"),
        "clear_threshold",
        JsValue::from_f64(95.0),
    );
    let msg = err(rules.into());
    assert!(
        msg.contains("\"cpu\"") && msg.contains("clear_threshold"),
        "{msg}"
    );

    let rules = rules_of(&p.data().unwrap());
    set(&rules.get(1), "threshold", JsValue::from_str("high"));
    let msg = err(rules.into());
    assert!(
        msg.starts_with("rules[1] (\"cpu\"): invalid type: string \"high\""),
        "{msg}"
    );

    let rules = rules_of(&p.data().unwrap());
    let first: Object = rules.get(0).unchecked_into();
    Reflect::delete_property(&first, &"metric".into()).unwrap();
    let msg = err(rules.into());
    assert!(
        msg.contains("rules[0]") && msg.contains("missing field `metric`"),
        "{msg}"
    );

    let msg = err(JsValue::from_str("cpu > 80"));
    assert!(msg.contains("expected an array"), "{msg}");
}

#[wasm_bindgen_test]
fn bad_reports_give_precise_errors() {
    let good = sample_report().to_json();
    let err = |text: &str| match ParsedReport::parse(text) {
        Ok(_) => panic!("{text:.40} parsed"),
        Err(e) => message(e),
    };

    let msg = err(&good[..good.len() / 2]);
    assert!(msg.starts_with("not valid JSON at line "), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");

    let msg = err("hello\n");
    assert!(
        msg.starts_with("not valid JSON at line 1, column 1"),
        "{msg}"
    );

    let msg = err("{\"schema\": \"perfopt.report/v2\", \"meta\": {}}");
    assert!(
        msg.contains("perfopt.report/v2") && msg.contains("expected"),
        "{msg}"
    );
    let msg = err("{}");
    assert!(msg.contains("no \"schema\" field"), "{msg}");
    let msg = err("[1, 2]");
    assert!(msg.contains("not a perfopt report"), "{msg}");

    let msg = err("{\"schema\": \"perfopt.report/v1\",\n \"meta\": 5}");
    assert!(msg.starts_with("bad report at line 2"), "{msg}");

    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["series"][metrics::SYS_CPU].as_array_mut().unwrap().pop();
    let msg = err(&v.to_string());
    assert!(msg.contains("series.sys_cpu_pct has 119 values"), "{msg}");
}

#[wasm_bindgen_test]
fn format_value_is_cores() {
    let units = [
        Unit::Percent,
        Unit::Bytes,
        Unit::BytesPerSec,
        Unit::Millis,
        Unit::PerSec,
        Unit::Count,
    ];
    let values = [
        0.0,
        0.004,
        1.005,
        12.345,
        999.5,
        1023.9,
        1024.0,
        3.5 * 1048576.0,
        -7.25,
        6.02e23,
    ];
    for unit in units {
        let name = serde_json::to_value(unit).unwrap();
        let name = name.as_str().unwrap();
        for v in values {
            assert_eq!(
                format_value(v, name),
                metrics::format_value(v, unit),
                "{v} {name}"
            );
        }
        assert_eq!(format_value(f64::NAN, name), "-");
    }
    assert_eq!(format_value(12.345, "percent"), "12.35 %");
    assert_eq!(format_value(2048.0, "bytes_per_sec"), "2.0 KiB/s");
    assert_eq!(format_value(3.0, "no_such_unit"), "3");
}

#[wasm_bindgen_test]
fn metric_info_and_all_metrics_describe_cores_metrics() {
    let cpu = metric_info(metrics::SYS_CPU).unwrap();
    assert_eq!(
        get(&cpu, "name").as_string().as_deref(),
        Some(metrics::SYS_CPU)
    );
    assert_eq!(get(&cpu, "unit").as_string().as_deref(), Some("percent"));
    assert!(get(&cpu, "help").as_string().unwrap().contains("CPU"));
    let rss = metric_info(metrics::PROC_RSS).unwrap();
    assert_eq!(get(&rss, "unit").as_string().as_deref(), Some("bytes"));
    assert!(metric_info("no_such_metric").unwrap().is_undefined());

    let all = all_metrics().unwrap().dyn_into::<Array>().unwrap();
    assert_eq!(all.length() as usize, metrics::ALL.len());
    for (js, def) in all.iter().zip(metrics::ALL) {
        assert_eq!(get(&js, "name").as_string().as_deref(), Some(def.name));
        let unit = serde_json::to_value(def.unit).unwrap();
        assert_eq!(get(&js, "unit").as_string().as_deref(), unit.as_str());
    }
}

#[wasm_bindgen_test]
fn default_rules_are_cores() {
    let js = default_rules().unwrap();
    assert!(Array::is_array(&js));
    let rules: Vec<Rule> = serde_json::from_str(&stringify(&js)).unwrap();
    assert_eq!(rules, rules::default_rules());
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    for id in [
        "response_time",
        "cpu",
        "memory",
        "cache_hit_rate",
        "error_rate",
        "p99_latency",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let cpu = rule_by_id(&js.dyn_into().unwrap(), "cpu");
    assert_eq!(get(&cpu, "threshold").as_f64(), Some(80.0));
    assert_eq!(
        get(&cpu, "comparison").as_string().as_deref(),
        Some("above")
    );
    assert_eq!(tool_version(), env!("CARGO_PKG_VERSION"));
}

mod shared;

/// `fixtures/expected.json`: written from native results by `tests/native_fixture.rs`.
fn native_expected() -> serde_json::Value {
    serde_json::from_str(include_str!("fixtures/expected.json")).expect("fixture JSON")
}

/// Equal as data: numbers compare as f64 (JS writes `5` where Rust writes `5.0`).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn js_to_json(v: &JsValue) -> serde_json::Value {
    serde_json::from_str(&stringify(v)).expect("plain data")
}

#[wasm_bindgen_test]
fn span_summaries_equal_the_native_result() {
    let report = shared::host_report("a", 0);
    let p = parsed(&report);
    let want = native_expected();
    let spans = want["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), shared::SPANS.len());
    for span in spans {
        let (from, to) = (span["from"].as_f64().unwrap(), span["to"].as_f64().unwrap());
        let got = js_to_json(&p.span_summaries(from, to).expect("spanSummaries"));
        assert!(same(&got, &span["summaries"]), "span {from}..{to}: {got}");
    }
    // The whole span reproduces the report's own series summaries.
    let whole = js_to_json(&p.span_summaries(0.0, 600_000.0).unwrap());
    let own = js_to_json(&p.summaries().unwrap());
    for (metric, s) in whole.as_object().unwrap() {
        assert!(same(&s["p99"], &own[metric]["p99"]), "{metric}");
        assert!(same(&s["histogram"], &own[metric]["histogram"]), "{metric}");
    }
}

#[wasm_bindgen_test]
fn merge_in_the_browser_is_exact_and_equals_native() {
    let a = shared::host_report("a", 0);
    let b = shared::host_report("b", 1);
    let fleet = perfopt_web::merge_reports(
        vec![a.to_json(), b.to_json()],
        vec!["a.json".into(), "b.json".into()],
    )
    .unwrap_or_else(|e| panic!("merge failed: {}", message(e)));
    let got = js_to_json(&fleet.summaries().unwrap());
    assert!(same(&got, &native_expected()["merged_summaries"]), "{got}");
    // Exact: the merged latency histogram is the sum of the two.
    let mut h = a.summaries[metrics::LATENCY].histogram.clone();
    h.merge(&b.summaries[metrics::LATENCY].histogram);
    let merged: perfopt_core::stats::Histogram =
        serde_json::from_value(got[metrics::LATENCY]["histogram"].clone()).unwrap();
    assert_eq!(merged, h);
    // Another interval: the error names the file.
    let mut c = shared::host_report("c", 2);
    c.meta.interval_ms = 500;
    let err = perfopt_web::merge_reports(
        vec![a.to_json(), c.to_json()],
        vec!["a.json".into(), "c.json".into()],
    )
    .err()
    .map(message)
    .expect("refused");
    assert!(err.starts_with("c.json: sampled every 500 ms"), "{err}");
}

#[wasm_bindgen_test]
fn deltas_and_compare_through_the_api() {
    let report = shared::host_report("a", 0);
    // The reader has the first 300 samples; a delta brings the rest.
    let keep = 300;
    let mut partial = shared::host_report("a", 0);
    {
        let t: Vec<u64> = partial.series.t_ms()[..keep].to_vec();
        let mut s = perfopt_core::report::Series::new();
        for (i, &tm) in t.iter().enumerate() {
            let vals: Vec<(String, f64)> = partial
                .series
                .metrics()
                .filter_map(|m| {
                    partial
                        .series
                        .column(m)
                        .and_then(|c| c[i])
                        .map(|v| (m.to_string(), v))
                })
                .collect();
            s.push(tm, vals.iter().map(|(m, v)| (m.as_str(), *v)));
        }
        partial.series = s;
        partial.alerts.retain(|a| a.at_ms <= t[keep - 1]);
    }
    let mut p = parsed(&partial);
    let from = perfopt_core::report::delta::Cursor::of(&partial);
    let delta = perfopt_core::report::delta::Delta::since(&report, from);
    p.apply_delta(&serde_json::to_string(&delta).unwrap())
        .unwrap_or_else(|e| panic!("applyDelta: {}", message(e)));
    assert_eq!(
        p.cursor(),
        perfopt_core::report::delta::Cursor::of(&report).to_id()
    );
    let err = p
        .apply_delta(&serde_json::to_string(&delta).unwrap())
        .err()
        .map(message)
        .expect("a delta applies once");
    assert!(err.contains("reload the report"), "{err}");
    // Compare: every figure, with the difference.
    let c = js_to_json(&perfopt_web::compare_reports(&parsed(&report), &p).unwrap());
    let figures = c["figures"].as_array().unwrap();
    assert_eq!(figures.len(), report.summaries.len() * 10);
    assert!(
        figures
            .iter()
            .all(|f| f["delta"] == 0.0 || f["delta"].is_null()),
        "same data, no difference"
    );
}
