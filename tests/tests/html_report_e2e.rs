//! End to end in a real browser: write a self-contained `report.html` with
//! `perfopt::html_report::write`, open it from `file://` in headless Chromium (no server at
//! all) and check that
//! - every number on the page equals the report's, formatted by core;
//! - text that tries to break out of the document (`</script>`, `<!--`) shows as text;
//! - the page requests nothing but `blob:`/`data:` URLs, does not poll, and its
//!   Content-Security-Policy blocks any request it would try;
//! - the file picker and drag and drop still open other reports, and a bad one gives the
//!   error banner while the last good report stays on screen.
//!
//! Needs `chromium` and `chromedriver` (scripts/test.sh installs them). Set
//! `PERFOPT_SKIP_BROWSER=1` to skip on a machine without them; the test script never does.
//! With `PERFOPT_SCREENSHOT_DIR` set, the page's screenshot and the HTML are saved there.

use std::path::Path;
use std::time::Duration;

use perfopt_core::Instant;
use perfopt_core::report::metrics;
use perfopt_core::report::{Meta, Recorder, Report};
use perfopt_core::rules::default_rules;
use perfopt_tests::TempDir;
use perfopt_tests::webdriver::{Browser, expected, numbers_on_page};
use serde_json::{Value, json};

/// A host name that would end the report's `<script>` element if it were not escaped.
const HOSTILE_HOST: &str = "web-1 </script><!--<script>x</script> & \"q\"";

fn skip() -> bool {
    if std::env::var_os("PERFOPT_SKIP_BROWSER").is_some() {
        eprintln!("PERFOPT_SKIP_BROWSER is set: browser test skipped");
        return true;
    }
    false
}

/// Two minutes of samples at 250 ms, a CPU spike that fires the `cpu` rule, and 2 000 request
/// latencies, as a monitored service would give.
fn sample_report(host: &str, cpu_base: f64) -> Report {
    let meta = Meta {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        host: host.into(),
        target: None,
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 250,
    };
    let t0 = Instant::from_secs(1_000);
    let mut rec = Recorder::new(t0, meta, default_rules()).expect("default rules are valid");
    let step = Duration::from_millis(250);
    let mut now = t0;
    for i in 0..480_u32 {
        now = now.saturating_add(step);
        let x = f64::from(i);
        let cpu = if (200..320).contains(&i) {
            96.0 + (x * 0.7).sin()
        } else {
            cpu_base + 10.0 * (x * 0.05).sin()
        };
        rec.handle_sample(
            now,
            [
                (metrics::SYS_CPU, cpu),
                (metrics::SYS_MEM, 41.0 + x * 0.01),
                (metrics::PROC_CPU, 55.0 + 5.0 * (x * 0.3).cos()),
                (metrics::PROC_RSS, 120e6 + 1e4 * x),
                (metrics::NET_RX, 2.5e6 + 1e5 * (x * 0.2).sin()),
                (metrics::THROUGHPUT, 180.0 + 20.0 * (x * 0.1).sin()),
                (metrics::ERROR_RATE, 0.4),
            ],
        );
    }
    for k in 0..2_000_u64 {
        rec.record_latency(Duration::from_micros(800 + (k * 7_919) % 45_000));
    }
    let report = rec.report(now.saturating_add(step));
    assert!(
        report.recommendations.iter().any(|r| r.rule == "cpu"),
        "the CPU spike fires the cpu rule"
    );
    report
}

/// Every number on the page is the report's; returns them.
fn assert_numbers_match(browser: &Browser, report: &Report) -> Vec<(String, String, String)> {
    let report: Value = serde_json::from_str(&report.to_json()).expect("report JSON");
    let numbers = numbers_on_page(browser);
    for must in [
        ("latency_ms", "p99"),
        ("latency_ms", "rate_per_s"),
        ("sys_cpu_pct", "mean"),
        ("sys_cpu_pct", "p95"),
        ("sys_mem_pct", "mean"),
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
    numbers
}

/// Waits for the end of a load attempt and returns `body[data-state]`.
fn settled_state(browser: &Browser) -> Value {
    browser.wait_for(
        "const s = document.body.dataset.state; return s === 'loading' || s === 'overview' ? null : s || null;",
        Duration::from_secs(30),
    )
}

/// Every resource the page has fetched so far; `file:` would be a sibling file, anything
/// else the network.
fn resources(browser: &Browser) -> Vec<String> {
    let v = browser.execute(
        "return performance.getEntriesByType('resource').map(e => e.name);",
        json!([]),
    );
    serde_json::from_value(v).expect("list of URLs")
}

fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[test]
fn the_html_report_opens_from_file_with_no_server() {
    if skip() {
        return;
    }
    let report = sample_report(HOSTILE_HOST, 45.0);
    let dir = TempDir::new("html-report");
    let html = dir.path().join("report.html");
    perfopt::html_report::write(&html, &report).expect("write report.html");
    let size = std::fs::metadata(&html).expect("report.html").len();
    let json_size = report.to_json().len();
    eprintln!(
        "report.html: {size} bytes ({} KiB) for a {json_size}-byte report, {} samples",
        size / 1024,
        report.series.t_ms().len()
    );
    assert!(size < 2 * 1024 * 1024, "report.html is {size} bytes");
    // Nothing else in the folder for the page to find.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);

    let browser = Browser::start();
    browser.goto(&file_url(&html));
    assert_eq!(settled_state(&browser), json!("ready"), "page state");
    let numbers = assert_numbers_match(&browser, &report);

    let page = browser.execute(
        "return {
            host: document.querySelector('#meta .host')?.textContent ?? '',
            title: document.title,
            loaded: document.body.dataset.loadedSrc,
            source: document.getElementById('source-name').textContent,
            live: document.getElementById('live').hidden,
            error: document.getElementById('error').hidden,
            charts: document.querySelectorAll('#charts .chart').length,
            recs: Array.from(document.querySelectorAll('#recommendations [data-rule]'))
                .map(e => e.dataset.rule),
            rules: document.querySelectorAll('#rules input[data-rule]').length,
            version: document.getElementById('viewer-version').textContent,
            protocol: location.protocol,
        };",
        json!([]),
    );
    assert_eq!(page["protocol"], json!("file:"));
    assert!(
        page["host"].as_str().unwrap_or("").ends_with(HOSTILE_HOST),
        "host shown as text: {page}"
    );
    assert_eq!(
        page["title"],
        json!(format!("perfopt report: {HOSTILE_HOST}"))
    );
    assert_eq!(page["loaded"], json!("report.html"), "{page}");
    assert_eq!(page["source"], json!("report.html"), "{page}");
    assert_eq!(page["live"], json!(true), "no live badge: {page}");
    assert_eq!(page["error"], json!(true), "no error banner: {page}");
    assert!(page["charts"].as_u64().unwrap_or(0) >= 3, "charts: {page}");
    assert!(
        page["recs"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("cpu"))),
        "cpu recommendation: {page}"
    );
    assert!(
        page["rules"].as_u64().unwrap_or(0) > 0,
        "rules editor: {page}"
    );
    assert_eq!(page["version"], json!(env!("CARGO_PKG_VERSION")), "{page}");

    // No request beyond blob:/data:, even after two live-poll intervals would have passed.
    std::thread::sleep(Duration::from_millis(2_500));
    let fetched = resources(&browser);
    assert!(
        fetched
            .iter()
            .all(|u| u.starts_with("blob:") || u.starts_with("data:")),
        "network requests from report.html: {fetched:?}"
    );
    eprintln!("resources fetched by report.html: {fetched:?}");

    // Re-evaluating the rules in the browser works offline too.
    let status = browser.execute(
        "document.getElementById('rules-apply').click();
         return document.getElementById('rules-status').textContent;",
        json!([]),
    );
    assert!(
        status
            .as_str()
            .unwrap_or("")
            .starts_with("Re-evaluated in the browser"),
        "{status}"
    );

    if let Some(out) = std::env::var_os("PERFOPT_SCREENSHOT_DIR") {
        let out = Path::new(&out);
        browser.screenshot(&out.join("report-html.png"));
        std::fs::copy(&html, out.join("report.html")).expect("copy report.html");
    }

    // The file picker: a truncated report gives the banner, the embedded one stays.
    let text = report.to_json();
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, &text[..text.len() / 3]).expect("write broken.json");
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

    // The file picker with a good report: it replaces the embedded one.
    let other = sample_report("picked-host", 20.0);
    let picked = dir.path().join("picked.json");
    std::fs::write(&picked, other.to_json()).expect("write picked.json");
    browser.upload("#file", &picked);
    browser.wait_for(
        "return document.body.dataset.loadedSrc === 'picked.json' && document.body.dataset.state === 'ready';",
        Duration::from_secs(15),
    );
    assert_numbers_match(&browser, &other);

    // Drag and drop (a synthetic drop of a File, as the browser would deliver it).
    let dropped = sample_report("dropped-host", 70.0);
    browser.execute(
        "const dt = new DataTransfer();
         dt.items.add(new File([arguments[0]], 'dropped.json', { type: 'application/json' }));
         window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
         return true;",
        json!([dropped.to_json()]),
    );
    browser.wait_for(
        "return document.body.dataset.loadedSrc === 'dropped.json' && document.body.dataset.state === 'ready';",
        Duration::from_secs(15),
    );
    assert_numbers_match(&browser, &dropped);
    let host = browser.execute(
        "return document.querySelector('#meta .host').textContent;",
        json!([]),
    );
    assert!(
        host.as_str().unwrap_or("").ends_with("dropped-host"),
        "{host}"
    );

    let fetched = resources(&browser);
    assert!(
        fetched
            .iter()
            .all(|u| u.starts_with("blob:") || u.starts_with("data:")),
        "network requests after opening files: {fetched:?}"
    );

    // And none is possible: the page's Content-Security-Policy blocks a request it is asked
    // to make. (Last, since Chromium lists blocked attempts in resource timing too. Resource
    // timing lists http(s) loads only, not file: or blob: ones; a sibling-file request would
    // fail anyway: the folder holds report.html alone.)
    browser.execute(
        "window.probeViolations = [];
         document.addEventListener('securitypolicyviolation',
             (e) => window.probeViolations.push(e.effectiveDirective + ' ' + e.blockedURI));
         new Image().src = 'http://127.0.0.1:9/probe.png';
         fetch('http://127.0.0.1:9/probe').catch(() => {});
         return true;",
        json!([]),
    );
    let violations = browser.wait_for(
        "return window.probeViolations.length >= 2 ? window.probeViolations : null;",
        Duration::from_secs(10),
    );
    eprintln!("blocked by the page's CSP: {violations}");
    assert!(
        violations
            .to_string()
            .contains("img-src http://127.0.0.1:9/probe.png")
            && violations
                .to_string()
                .contains("connect-src http://127.0.0.1:9/probe"),
        "{violations}"
    );
}
