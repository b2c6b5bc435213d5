//! End to end: `perfopt demo` runs the real chat server under real load on loopback and
//! writes a report whose latency, cache, pool, limiter and profile sections hold data, plus
//! a self-contained HTML report. Out-of-range flags get one clear line and exit code 2.

use std::process::{Command, Stdio};

use perfopt_core::report::{Report, metrics};
use perfopt_tests::{TempDir, perfopt_bin};

#[test]
fn a_short_demo_fills_every_section_of_the_report() {
    let dir = TempDir::new("demo");
    let out = dir.path().join("report.json");
    let html = dir.path().join("report.html");
    let output = Command::new(perfopt_bin())
        .args(["demo", "--duration", "5s", "--clients", "20", "--out"])
        .arg(&out)
        .arg("--html")
        .arg(&html)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for section in [
        "1. Tasks run through the limiter",
        "2. Cache statistics",
        "3. Collected metrics",
        "4. Optimization report",
    ] {
        assert!(stdout.contains(section), "{section} missing:\n{stdout}");
    }
    let report: Report = perfopt::report_file::load(&out).unwrap();
    let latency = &report.summaries[metrics::LATENCY].summary;
    // 20 clients x 5 msg/s x 5 s = 500 messages, each one delivery-latency sample.
    assert!(latency.count >= 400, "{latency:?}");
    assert!(latency.p99 > 0.0 && latency.p99 < 5_000.0, "{latency:?}");
    let cache = &report.components["cache"];
    assert!(
        cache["l1"]["hits"].as_u64().unwrap() + cache["l2"]["hits"].as_u64().unwrap() > 0,
        "{cache}"
    );
    let pool = &report.components["pool"];
    assert!(pool["created"].as_u64().unwrap() >= 1, "{pool}");
    let limiter = &report.components["limiter"];
    assert!(limiter["admitted"].as_u64().unwrap() >= 500, "{limiter}");
    let scopes: Vec<&str> = report.profile.iter().map(|p| p.scope.as_str()).collect();
    for s in ["chat.broadcast", "chat.mentions", "db.load_profile"] {
        assert!(scopes.contains(&s), "{s} not profiled: {scopes:?}");
    }
    assert!(report.series.column(metrics::CACHE_HIT_RATE).is_some());
    assert!(report.series.column(metrics::PROC_RSS).is_some());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("perfopt") && page.len() > 10_000);
}

#[test]
fn out_of_range_demo_flags_are_rejected() {
    for (flag, value, needle) in [
        ("--clients", "0", "--clients 0 is out of range"),
        ("--rate", "0", "--rate 0 is out of range"),
        ("--pool-size", "1000", "--pool-size 1000 is out of range"),
        ("--cache-size", "0", "--cache-size 0 is out of range"),
    ] {
        let o = Command::new(perfopt_bin())
            .args(["demo", flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }
}
