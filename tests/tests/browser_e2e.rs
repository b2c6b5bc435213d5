//! End to end in a real browser: `perfopt serve` a report made by monitoring a real process,
//! open the viewer in headless Chromium through chromedriver, and check that every number on
//! the page equals the report's, formatted by core. Then load a bad file through the file
//! picker: an error banner appears and the last good report stays on screen.
//!
//! Needs `chromium` and `chromedriver` (scripts/test.sh installs them). Set
//! `PERFOPT_SKIP_BROWSER=1` to skip on a machine without them; the test script never does.

use std::process::{Command, Stdio};
use std::time::Duration;

use perfopt_tests::webdriver::{Browser, expected, numbers_on_page};
use perfopt_tests::{TempDir, http_get, perfopt_bin, start_serve};
use serde_json::{Value, json};

fn skip() -> bool {
    if std::env::var_os("PERFOPT_SKIP_BROWSER").is_some() {
        eprintln!("PERFOPT_SKIP_BROWSER is set: browser test skipped");
        return true;
    }
    false
}

#[test]
fn the_viewer_shows_the_numbers_of_the_report() {
    if skip() {
        return;
    }
    let dir = TempDir::new("browser");
    let path = dir.path().join("report.json");
    let bin = perfopt_bin();
    let status = Command::new(&bin)
        .args([
            "monitor",
            "--interval",
            "500ms",
            "--duration",
            "3s",
            "--out",
        ])
        .arg(&path)
        .arg("--")
        .arg(&bin)
        .args(["stress", "--duration", "60s", "--mib-per-sec", "8"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap();

    let (_server, url) = start_serve(&path);
    let browser = Browser::start();
    // `?src=` with no value is live mode, as `/` is (not the page fetching itself).
    browser.goto(&format!("{url}?src="));
    wait_ready(&browser);
    let live = browser.execute("return !document.getElementById('live').hidden;", json!([]));
    assert_eq!(live, json!(true), "?src= alone starts live mode");
    browser.goto(&url);
    let state = browser.wait_for(
        "const s = document.body.dataset.state; return s === 'loading' || s === 'overview' ? null : s || null;",
        Duration::from_secs(30),
    );
    assert_eq!(state, json!("ready"), "page state");

    let numbers = numbers_on_page(&browser);
    for must in [
        ("sys_cpu_pct", "mean"),
        ("sys_cpu_pct", "p95"),
        ("sys_mem_pct", "mean"),
        ("proc_cpu_pct", "p95"),
        ("proc_rss_bytes", "max"),
    ] {
        assert!(
            numbers
                .iter()
                .any(|(m, s, _)| (m.as_str(), s.as_str()) == must),
            "{must:?} not on the page: {numbers:?}"
        );
    }
    for (metric, stat, text) in &numbers {
        assert_eq!(text, &expected(&report, metric, stat), "{metric}.{stat}");
    }
    let host = browser.execute(
        "return document.body.textContent.includes(arguments[0]);",
        json!([report["meta"]["host"]]),
    );
    assert_eq!(host, json!(true), "host name shown");
    let charts = browser.execute(
        "return document.querySelectorAll('#charts .chart').length;",
        json!([]),
    );
    assert!(charts.as_u64().unwrap_or(0) >= 3, "charts: {charts}");

    // A bad file through the picker: banner with the file name, the good report stays.
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, &text[..text.len() / 3]).unwrap();
    browser.upload("#file", &bad);
    browser.wait_for(
        "const e = document.getElementById('error'); return e && !e.hidden && e.textContent.includes('broken.json');",
        Duration::from_secs(15),
    );
    let banner = browser.execute(
        "return document.getElementById('error').textContent;",
        json!([]),
    );
    assert!(
        banner.as_str().unwrap_or("").contains("truncated"),
        "{banner}"
    );
    assert_eq!(
        numbers_on_page(&browser),
        numbers,
        "the last good report stays on screen"
    );

    if let Some(dir) = std::env::var_os("PERFOPT_SCREENSHOT_DIR") {
        browser.screenshot(&std::path::Path::new(&dir).join("viewer.png"));
    }
}

/// Saves a screenshot when `PERFOPT_SCREENSHOT_DIR` is set (scripts keep them as artefacts).
fn shot(browser: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("PERFOPT_SCREENSHOT_DIR") {
        let _ = std::fs::create_dir_all(&dir);
        browser.screenshot(&std::path::Path::new(&dir).join(name));
    }
}

/// An empty recorder of a 1 s run with the default rules.
fn recorder(host: &str) -> perfopt_core::report::Recorder {
    let meta = perfopt_core::report::Meta {
        tool_version: "0.1.0".into(),
        host: host.into(),
        target: None,
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    };
    perfopt_core::report::Recorder::new(
        perfopt_core::Instant::ZERO,
        meta,
        perfopt_core::rules::default_rules(),
    )
    .unwrap()
}

/// A report of `secs` samples whose `sys_cpu_pct` peaks at 60 % between 100 s and 160 s
/// (no default rule fires), with sub-millisecond latencies.
fn synthetic_report(
    secs: u64,
    host: &str,
    latency_scale: f64,
    peak: f64,
) -> perfopt_core::report::Report {
    use perfopt_core::report::metrics;
    use perfopt_core::{Duration as D, Instant as I};
    let mut rec = recorder(host);
    for s in 1..=secs {
        let cpu = if (100..160).contains(&s) {
            peak
        } else {
            20.0 + (s % 5) as f64
        };
        rec.handle_sample(
            I::from_secs(s),
            [
                (metrics::SYS_CPU, cpu),
                (metrics::SYS_MEM_AVAILABLE, 24_904_069_120.0),
                (metrics::LATENCY_P99, 0.15 * latency_scale),
                (metrics::THROUGHPUT, 120.0),
            ],
        );
        rec.record_latency(D::from_micros((150.0 * latency_scale) as u64 + s % 50));
    }
    rec.report(I::from_secs(secs))
}

fn wait_ready(browser: &Browser) {
    let state = browser.wait_for(
        "const s = document.body.dataset.state; return s === 'loading' || s === 'overview' ? null : s || null;",
        Duration::from_secs(30),
    );
    assert_eq!(state, json!("ready"), "page state");
}

#[test]
fn zoom_threshold_edit_compare_merge_and_units() {
    if skip() {
        return;
    }
    let dir = TempDir::new("browser-views");
    let before = synthetic_report(300, "before-host", 1.0, 60.0);
    let after = synthetic_report(300, "after-host", 2.0, 95.0);
    let a = dir.path().join("before.json");
    let b = dir.path().join("after.json");
    std::fs::write(&a, before.to_json()).unwrap();
    std::fs::write(&b, after.to_json()).unwrap();
    let (_server, url) = start_serve(&a);
    let browser = Browser::start();
    browser.goto(&url);
    wait_ready(&browser);

    // Units: sub-ms latencies in µs, available memory in GiB, never a bare 24904069120.
    let text = browser
        .execute("return document.body.innerText;", json!([]))
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!text.contains("24904069120"), "raw bytes on the page");
    let p99 = browser.execute(
        "const e = document.querySelector('[data-metric=\"latency_ms\"][data-stat=\"p99\"]'); return e && e.textContent;",
        json!([]),
    );
    assert!(p99.as_str().unwrap_or("").ends_with("µs"), "p99 {p99}");
    // Charts are drawn by uPlot with readable axes, the CPU threshold (80 %) off scale.
    browser.wait_for(
        "return document.querySelectorAll('#charts .uplot').length >= 2;",
        Duration::from_secs(15),
    );
    shot(&browser, "viewer-full.png");

    // Zoom on 100..160 s: the cards follow, computed by core for exactly that span.
    let zoom_ms = browser.execute(
        "return window.perfoptViewer.zoom(100000, 160000);",
        json!([]),
    );
    assert!(zoom_ms.as_f64().is_some(), "{zoom_ms}");
    browser.wait_for(
        "return document.body.dataset.spanFrom === '100000';",
        Duration::from_secs(5),
    );
    let span = perfopt_core::report::span::span_summaries(&before.series, 100_000, 160_000);
    let numbers = numbers_on_page(&browser);
    let cpu_mean = numbers
        .iter()
        .find(|(m, s, _)| m == "sys_cpu_pct" && s == "mean")
        .expect("cpu mean on the page")
        .2
        .clone();
    assert_eq!(
        cpu_mean,
        perfopt_core::report::metrics::format_value(
            span["sys_cpu_pct"].summary.mean,
            perfopt_core::report::metrics::Unit::Percent
        )
    );
    // 60 samples at 60 % (100..159 s) and the one at 160 s (20 %): both ends are in the span.
    assert_eq!(cpu_mean, "59.34 %");
    for (metric, stat, text) in &numbers {
        let s = &span[metric.as_str()];
        let v = perfopt_core::report::compare::stat_of(&s.summary, stat).unwrap();
        let unit = if stat == "rate_per_s" {
            perfopt_core::report::metrics::Unit::PerSec
        } else {
            s.unit
        };
        assert_eq!(
            text,
            &perfopt_core::report::metrics::format_value(v, unit),
            "{metric}.{stat} in the span"
        );
    }
    // Every chart follows the span.
    let scales = browser.execute(
        "return [...document.querySelectorAll('#charts .chart-plot')].map(p => p.querySelector('.uplot') ? 1 : 0).length;",
        json!([]),
    );
    assert!(scales.as_u64().unwrap_or(0) >= 2);
    assert!(
        browser
            .execute("return location.search;", json!([]))
            .as_str()
            .unwrap_or("")
            .contains("from=100000")
    );
    shot(&browser, "viewer-zoom.png");

    // A threshold edit makes an alert appear: cpu above 50 % fires in the 60 % stretch.
    browser.execute(
        "document.getElementById('zoom-reset').click(); return 1;",
        json!([]),
    );
    let edited = browser.execute(
        "const el = document.querySelector('#rules-table input[data-rule=\"cpu\"][data-field=\"threshold\"]');
         el.value = '50'; el.dispatchEvent(new Event('input', {bubbles: true}));
         const c = document.querySelector('#rules-table input[data-rule=\"cpu\"][data-field=\"clear_threshold\"]');
         c.value = '40'; c.dispatchEvent(new Event('input', {bubbles: true}));
         document.getElementById('rules-apply').click();
         return document.querySelectorAll('#alerts tr[data-rule=\"cpu\"][data-alert-state=\"firing\"]').length;",
        json!([]),
    );
    assert_eq!(edited, json!(1), "cpu fires once with the edited threshold");
    assert!(
        browser
            .execute("return location.search;", json!([]))
            .as_str()
            .unwrap_or("")
            .contains("rules=cpu%3A50")
    );
    shot(&browser, "viewer-threshold.png");

    // Compare with the after report: every figure, the p99 worse.
    browser.upload("#compare-file", &b);
    browser.wait_for(
        "return document.body.dataset.compare === 'after.json';",
        Duration::from_secs(10),
    );
    let verdict = browser.execute(
        "const r = document.querySelector('#compare tr[data-cmp-metric=\"latency_ms\"][data-cmp-stat=\"p99\"]'); return r && r.dataset.verdict;",
        json!([]),
    );
    assert_eq!(verdict, json!("worse"));
    let only = browser.execute(
        "return [...document.querySelectorAll('.only-after code')].map(c => c.dataset.rule);",
        json!([]),
    );
    assert_eq!(only, json!(["cpu"]), "cpu fired only in the after report");
    shot(&browser, "viewer-compare.png");

    // Merge: two files picked at once become one fleet report (core's merge, in wasm).
    let both = std::path::PathBuf::from(format!("{}\n{}", a.display(), b.display()));
    browser.upload("#file", &both);
    browser.wait_for(
        "return document.body.dataset.loadedSrc === 'fleet of before.json + after.json';",
        Duration::from_secs(10),
    );
    let host = browser.execute(
        "return document.querySelector('.host').textContent;",
        json!([]),
    );
    assert!(
        host.as_str()
            .unwrap_or("")
            .contains("after-host, before-host"),
        "{host}"
    );
    let count = browser.execute(
        "const e = document.querySelector('[data-metric=\"latency_ms\"][data-stat=\"p99\"]'); return e && e.textContent;",
        json!([]),
    );
    let fleet = perfopt_core::report::merge::merge([("a", &before), ("b", &after)]).unwrap();
    assert_eq!(
        count.as_str().unwrap_or(""),
        expected(&serde_json::to_value(&fleet).unwrap(), "latency_ms", "p99")
    );
    browser.execute("window.scrollTo(0, 0); return 1;", json!([]));
    shot(&browser, "viewer-merge.png");
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, "{\"schema\": \"perfopt.report/v1\", \"meta\": ").unwrap();
    let before_bad = numbers_on_page(&browser);
    browser.upload("#file", &bad);
    browser.wait_for(
        "const e = document.getElementById('error'); return e && !e.hidden && e.textContent.includes('broken.json');",
        Duration::from_secs(10),
    );
    assert_eq!(
        numbers_on_page(&browser),
        before_bad,
        "a bad file keeps the last good report"
    );
    shot(&browser, "viewer-bad-file.png");
}

#[test]
fn live_updates_arrive_over_the_stream_and_catch_up_after_a_drop() {
    if skip() {
        return;
    }
    let dir = TempDir::new("browser-live");
    let out = dir.path().join("r.json");
    let child = Command::new(perfopt_tests::perfopt_bin())
        .args([
            "monitor",
            "--interval",
            "250ms",
            "--duration",
            "30s",
            "--serve",
            "127.0.0.1:0",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = perfopt_tests::KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().unwrap().unwrap();
    let url = first[first.find("http://").unwrap()..].trim().to_string();
    let browser = Browser::start();
    browser.goto(&url);
    wait_ready(&browser);
    browser.wait_for(
        "return document.body.dataset.stream === 'open';",
        Duration::from_secs(10),
    );
    let n0 = browser
        .execute("return Number(document.body.dataset.samples);", json!([]))
        .as_u64()
        .unwrap();
    browser.wait_for(
        &format!(
            "return Number(document.body.dataset.samples) >= {};",
            n0 + 4
        ),
        Duration::from_secs(10),
    );
    // The report was fetched once (as `api/report?overview`, which is the whole report while
    // it is short); the rest came as deltas.
    let fetches = browser.execute(
        "return performance.getEntriesByType('resource').filter(e => /\\/api\\/report(\\?overview)?$/.test(e.name)).length;",
        json!([]),
    );
    assert_eq!(fetches, json!(1), "no re-download of the report");
    shot(&browser, "viewer-live.png");

    // The stream drops: the page says so, then says it is back, with no gap in the samples.
    browser.execute(
        "window.perfoptViewer.dropStream(1500); return 1;",
        json!([]),
    );
    browser.wait_for(
        "return document.body.dataset.stream === 'down';",
        Duration::from_secs(5),
    );
    let status = browser.execute(
        "return document.getElementById('stream-status').textContent;",
        json!([]),
    );
    assert!(
        status.as_str().unwrap_or("").contains("reconnecting"),
        "{status}"
    );
    shot(&browser, "viewer-live-down.png");
    browser.wait_for(
        "return document.body.dataset.stream === 'open' && document.getElementById('stream-status').textContent.includes('live again');",
        Duration::from_secs(10),
    );
    let n1 = browser
        .execute("return Number(document.body.dataset.samples);", json!([]))
        .as_u64()
        .unwrap();
    browser.wait_for(
        &format!("return Number(document.body.dataset.samples) > {n1};"),
        Duration::from_secs(10),
    );
    let t = browser.execute("return window.perfoptViewer.tMs();", json!([]));
    let t: Vec<u64> = t
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    // Sampled every 250 ms: a late sample on a loaded machine stays under 1 s, the 1.5 s drop
    // would not (and the page must equal the server's report, below: no delta lost).
    for w in t.windows(2) {
        assert!(
            w[1] > w[0] && w[1] - w[0] < 1000,
            "gap between {} and {} ms",
            w[0],
            w[1]
        );
    }
    // What the page holds equals the server's report up to the same sample.
    let (_, _, body) = perfopt_tests::http_get(&format!("{url}api/report"));
    let served = perfopt_core::report::Report::from_json(&body).unwrap();
    assert_eq!(
        &served.series.t_ms()[..t.len()],
        &t[..],
        "same samples as the server"
    );
}

/// Axis ranges crafted to break tick loops (a span of 16 at 1e17, where a step smaller than
/// one ulp never advances; 15 decades in one chart; a constant series): the page renders
/// every chart and stays responsive, whole run and zoomed to one sample. Regression test for
/// the viewer's old tick loops that never ended on such ranges (RELIABILITY.md, finding 12).
#[test]
fn crafted_axis_ranges_do_not_freeze_the_viewer() {
    if skip() {
        return;
    }
    use perfopt_core::Instant as I;
    use perfopt_core::report::metrics;
    let mut rec = recorder("crafted");
    for s in 1..=120u64 {
        rec.handle_sample(
            I::from_secs(s),
            [
                (metrics::SYS_MEM_AVAILABLE, 1e9),
                (metrics::LATENCY_P99, 1.0),
                (metrics::THROUGHPUT, 120.0),
                (metrics::SYS_CPU, 50.0),
            ],
        );
    }
    // A recorder quantises (and clamps at 2^46 units): craft the file's columns directly,
    // as a hostile file would.
    let mut v: Value = serde_json::from_str(&rec.report(I::from_secs(120)).to_json()).unwrap();
    let n = v["series"]["t_ms"].as_array().unwrap().len();
    // 1e17 and 1e17 + 16: adjacent doubles apart.
    v["series"][metrics::SYS_MEM_AVAILABLE] = json!(
        (0..n)
            .map(|i| 1e17 + (i % 2) as f64 * 16.0)
            .collect::<Vec<_>>()
    );
    // 1e-3 ms .. 1e12 ms in one chart.
    v["series"][metrics::LATENCY_P99] = json!(
        (0..n)
            .map(|i| if i % 2 == 0 { 1e-3 } else { 1e12 })
            .collect::<Vec<_>>()
    );
    // A constant series (zero-height range) stays as it is: throughput, 120/s.
    let text = v.to_string();
    let report = perfopt_core::report::Report::from_json(&text).expect("a valid report");
    assert_eq!(
        report.series.column(metrics::SYS_MEM_AVAILABLE).unwrap()[1],
        Some(1e17 + 16.0),
        "the crafted values are what the viewer gets"
    );
    let dir = TempDir::new("browser-crafted");
    let file = dir.path().join("crafted.json");
    std::fs::write(&file, &text).unwrap();
    let (_server, url) = start_serve(&file);
    let browser = Browser::start();
    browser.goto(&url);
    wait_ready(&browser);
    let charts = browser.wait_for(
        "const n = document.querySelectorAll('#charts .uplot').length; return n >= 4 ? n : null;",
        Duration::from_secs(15),
    );
    assert!(charts.as_u64().unwrap() >= 4, "{charts}");
    // Responsive: a script runs at once (a frozen tab makes chromedriver time out instead).
    let started = std::time::Instant::now();
    assert_eq!(browser.execute("return 1 + 1;", json!([])), json!(2));
    // Zoomed to a single sample's width, every chart redraws, and the page still answers.
    browser.execute("window.perfoptViewer.zoom(60000, 60001);", json!([]));
    browser.wait_for(
        "return document.body.dataset.spanFrom === '60000';",
        Duration::from_secs(10),
    );
    assert_eq!(browser.execute("return 2 + 2;", json!([])), json!(4));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the page took {:?} to answer",
        started.elapsed()
    );
    shot(&browser, "viewer-crafted-ranges.png");
}

/// A long report is drawn from the first, smallest, largest and last sample of each pixel
/// column (M4): far fewer points than samples, yet a one-sample spike and a gap are still on
/// the chart; zoomed to 100 s, every sample of the span is drawn.
#[test]
fn long_series_are_drawn_per_pixel_column_without_losing_spikes_or_gaps() {
    if skip() {
        return;
    }
    use perfopt_core::Instant as I;
    use perfopt_core::report::metrics;
    let mut rec = recorder("m4");
    for s in 1..=20_000u64 {
        let cpu = if s == 12_345 {
            99.0
        } else {
            20.0 + (s % 5) as f64
        };
        let mut values = vec![(metrics::THROUGHPUT, 100.0)];
        // A 10 s gap in the CPU series.
        if !(15_000..15_010).contains(&s) {
            values.push((metrics::SYS_CPU, cpu));
        }
        rec.handle_sample(I::from_secs(s), values);
    }
    let dir = TempDir::new("browser-m4");
    let file = dir.path().join("long.json");
    let report = rec.report(I::from_secs(20_000));
    std::fs::write(&file, report.to_json()).unwrap();
    let (_server, url) = start_serve(&file);
    let browser = Browser::start();
    browser.goto(&url);
    wait_ready(&browser);
    let plotted = |browser: &Browser| {
        browser.wait_for(
            "return window.perfoptViewer.plotted('sys_cpu_pct');",
            Duration::from_secs(15),
        )
    };
    let p = plotted(&browser);
    let ys = p["ys"].as_array().unwrap();
    let width = p["width"].as_u64().unwrap() as usize;
    assert!(
        ys.len() <= 5 * (width + 2) && ys.len() < 20_000 / 2,
        "{} points for {width} columns",
        ys.len()
    );
    let values: Vec<f64> = ys.iter().filter_map(Value::as_f64).collect();
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    assert_eq!(
        (min, max),
        (20.0, 99.0),
        "the spike and the floor are drawn"
    );
    assert!(ys.iter().any(Value::is_null), "the gap is drawn");
    // Zoomed to 100 s: every sample of the span (and one beyond each end).
    browser.execute("window.perfoptViewer.zoom(12300000, 12400000);", json!([]));
    browser.wait_for(
        "return document.body.dataset.spanFrom === '12300000';",
        Duration::from_secs(10),
    );
    let p = plotted(&browser);
    let xs: Vec<u64> = p["xs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as u64)
        .collect();
    let t0 = 1_700_000_000;
    assert_eq!(xs, (t0 + 12_299..=t0 + 12_401).collect::<Vec<_>>());
    let ys = p["ys"].as_array().unwrap();
    assert!(ys.iter().any(|y| y.as_f64() == Some(99.0)), "{ys:?}");

    // The server sends an overview first: one mean per minute, no rollups, marked.
    let (status, headers, body) =
        perfopt_tests::webdriver::http("GET", &format!("{url}api/report?overview"), None);
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-perfopt-overview") && v == "1"),
        "{headers:?}"
    );
    let overview = perfopt_core::report::Report::from_json(&body).unwrap();
    assert_eq!(overview.series.len(), 334, "20,000 s in minutes");
    assert!(overview.rollups.is_empty());
    let (_, _, whole) = http_get(&format!("{url}api/report"));
    assert_eq!(
        perfopt_core::report::Report::from_json(&whole)
            .unwrap()
            .series
            .len(),
        20_000
    );
    // A span in the URL is applied to the whole report, not to the overview drawn before
    // it: the cards of 12,300..12,400 s are those of its 101 samples (the spike included),
    // not of the two minute means the overview has there.
    use perfopt_core::report::span::span_summaries;
    let cpu_mean = |series| {
        metrics::format_value(
            span_summaries(series, 12_300_000, 12_400_000)[metrics::SYS_CPU]
                .summary
                .mean,
            metrics::Unit::Percent,
        )
    };
    let want = cpu_mean(&report.series);
    assert_ne!(want, cpu_mean(&overview.series));
    browser.goto(&format!("{url}?from=12300000&to=12400000"));
    wait_ready(&browser);
    let full_ms = browser.wait_for(
        "return window.perfoptViewer.fullMs;",
        Duration::from_secs(30),
    );
    assert!(full_ms.as_f64().is_some(), "the overview came first");
    let first = browser.execute("return window.perfoptViewer.firstView;", json!([]));
    assert_eq!(first["overview"], json!(true), "{first}");
    assert_eq!(first["samples"], json!(334), "{first}");
    assert_eq!(
        first["note"],
        json!("Overview: the mean of each 1 min while the full resolution loads…")
    );
    assert_eq!(
        browser.execute("return document.body.dataset.samples;", json!([])),
        json!("20000")
    );
    browser.wait_for(
        "return document.body.dataset.spanFrom === '12300000';",
        Duration::from_secs(10),
    );
    let mean = browser.execute(
        "const e = document.querySelector('[data-metric=\"sys_cpu_pct\"][data-stat=\"mean\"]'); return e && e.textContent;",
        json!([]),
    );
    assert_eq!(mean, json!(want));
}
