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
use perfopt_tests::{TempDir, perfopt_bin, start_serve};
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
    browser.goto(&url);
    let state = browser.wait_for(
        "const s = document.body.dataset.state; return s === 'loading' ? null : s || null;",
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
        "return document.querySelectorAll('#charts svg').length;",
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
