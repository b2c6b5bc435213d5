//! `/metrics` against the real thing: `promtool check metrics` lints the exposition of a
//! monitor and of the demo (cache, pool, limiter), and Debian's `prometheus`, started on
//! loopback with a 1 s scrape of a running `perfopt monitor --serve`, answers queries for
//! perfopt series with plausible values.
//!
//! Needs `promtool` and `prometheus` (scripts/ensure-tools.sh installs Debian's
//! `prometheus`). `PERFOPT_SKIP_PROMETHEUS=1` skips on a machine without them; the test
//! script never sets it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use perfopt_tests::{KillOnDrop, TempDir, free_port, http_get, perfopt_bin};
use serde_json::Value;

fn skip() -> bool {
    if std::env::var_os("PERFOPT_SKIP_PROMETHEUS").is_some() {
        eprintln!("PERFOPT_SKIP_PROMETHEUS is set: Prometheus test skipped");
        return true;
    }
    false
}

/// Starts `perfopt ARGS` (which must include `--serve 127.0.0.1:0`) and returns it with its
/// base URL and the rest of its output lines.
fn start(args: &[&str]) -> (KillOnDrop, String, mpsc::Receiver<String>) {
    let child = Command::new(perfopt_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn perfopt");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("perfopt printed its URL within 30 s");
        if let Some(i) = line.find("http://") {
            break line[i..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
        }
    };
    (child, url, rx)
}

fn promtool_check(exposition: &str) {
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: run scripts/ensure-tools.sh (Debian's prometheus)");
    p.stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = p.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{exposition}"
    );
}

#[test]
fn promtool_accepts_the_demo_and_monitor_expositions() {
    if skip() {
        return;
    }
    let dir = TempDir::new("promtool");
    let (_demo, url, rx) = start(&[
        "demo",
        "--duration",
        "4s",
        "--clients",
        "20",
        "--serve",
        "127.0.0.1:0",
        "--out",
        dir.path().join("r.json").to_str().unwrap(),
        "--html",
        dir.path().join("r.html").to_str().unwrap(),
    ]);
    // The final report carries every component's figures.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .expect("demo finished within 60 s")
        .contains("still serving")
    {}
    let (status, ct, body) = http_get(&format!("{url}metrics"));
    assert_eq!(status, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    for family in [
        "# TYPE perfopt_request_latency_seconds summary",
        "# TYPE perfopt_cache_hits_total counter",
        "# TYPE perfopt_cache_tier_evictions_total counter",
        "# TYPE perfopt_cache_hit_ratio gauge",
        "# TYPE perfopt_pool_in_use_connections gauge",
        "# TYPE perfopt_pool_wait_seconds summary",
        "# TYPE perfopt_limiter_rejected_total counter",
        "# TYPE perfopt_limiter_limit gauge",
        "# TYPE perfopt_process_resident_memory_bytes gauge",
    ] {
        assert!(body.contains(family), "{family} missing:\n{body}");
    }
    promtool_check(&body);

    let (_mon, url, _rx) = start(&[
        "monitor",
        "--interval",
        "250ms",
        "--serve",
        "127.0.0.1:0",
        "--out",
        dir.path().join("m.json").to_str().unwrap(),
    ]);
    std::thread::sleep(Duration::from_millis(800));
    let (_, _, body) = http_get(&format!("{url}metrics"));
    assert!(body.contains("perfopt_system_cpu_usage_ratio "), "{body}");
    promtool_check(&body);
}

fn query(prom: &str, q: &str) -> Vec<Value> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, _, body) = http_get(&format!("{prom}/api/v1/query?query={enc}"));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value_of(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn prometheus_scrapes_a_running_monitor() {
    if skip() {
        return;
    }
    let dir = TempDir::new("prometheus");
    let bin = perfopt_bin();
    let (_mon, url, _rx) = start(&[
        "monitor",
        "--interval",
        "500ms",
        "--duration",
        "120s",
        "--serve",
        "127.0.0.1:0",
        "--out",
        dir.path().join("r.json").to_str().unwrap(),
        "--",
        bin.to_str().unwrap(),
        "stress",
        "--duration",
        "120s",
        "--mib-per-sec",
        "4",
    ]);
    let target = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: perfopt\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("tsdb");
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is not installed: run scripts/ensure-tools.sh (Debian's prometheus)");
    let _prom = KillOnDrop(prom);
    let base = format!("http://127.0.0.1:{port}");

    // Wait (bounded) until Prometheus has scraped the target a few times.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && query(&base, "count_over_time(up{job=\"perfopt\"}[1m])")
                .first()
                .is_some_and(|s| value_of(s) >= 3.0);
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape perfopt 3 times in 60 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let up = query(&base, "up{job=\"perfopt\"}");
    assert_eq!(up.len(), 1);
    assert_eq!(value_of(&up[0]), 1.0, "target up");

    let names = query(&base, "count by (__name__) ({__name__=~\"perfopt_.+\"})");
    let names: Vec<String> = names
        .iter()
        .filter_map(|s| s["metric"]["__name__"].as_str().map(String::from))
        .collect();
    assert!(names.len() >= 12, "{names:?}");
    let one = |q: &str| -> f64 {
        let r = query(&base, q);
        assert_eq!(r.len(), 1, "{q}: {r:?}");
        value_of(&r[0])
    };
    let cpu = one("perfopt_system_cpu_usage_ratio");
    assert!((0.0..=1.0).contains(&cpu), "cpu {cpu}");
    let proc_cpu = one("perfopt_process_cpu_usage_ratio");
    assert!((0.0..=64.0).contains(&proc_cpu), "process cpu {proc_cpu}");
    let rss = one("perfopt_process_resident_memory_bytes");
    assert!((1e6..64e9).contains(&rss), "rss {rss}");
    let mem = one("perfopt_system_memory_usage_ratio");
    assert!(mem > 0.0 && mem < 1.0, "mem {mem}");
    let info = query(&base, "perfopt_info");
    assert_eq!(info.len(), 1);
    assert!(
        info[0]["metric"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    let rules = query(&base, "perfopt_alert_firing");
    assert!(rules.len() >= 7, "{rules:?}");
    // The RSS grows under the stress workload (4 MiB/s): Prometheus sees it rise.
    let growth = one(
        "max_over_time(perfopt_process_resident_memory_bytes[1m]) - min_over_time(perfopt_process_resident_memory_bytes[1m])",
    );
    assert!(growth > 1e6, "rss growth seen by Prometheus: {growth}");
}

/// Every series the example Grafana dashboard (docs/grafana-dashboard.json) queries is one
/// `/metrics` exposes, so the dashboard does not rot when names change.
#[test]
fn the_grafana_dashboard_queries_exposed_series() {
    use perfopt_core::report::{Meta, Recorder, metrics};
    use perfopt_core::{Duration as D, Instant as I};
    let meta = Meta {
        tool_version: "t".into(),
        host: "h".into(),
        target: None,
        started_at: 0,
        ended_at: 0,
        interval_ms: 1000,
    };
    let mut rec = Recorder::new(I::ZERO, meta, perfopt_core::rules::default_rules()).unwrap();
    let all: Vec<(&str, f64)> = metrics::ALL.iter().map(|d| (d.name, 1.0)).collect();
    rec.handle_sample(I::from_secs(1), all);
    rec.record_latency(D::from_millis(3));
    let mut report = rec.report(I::from_secs(1));
    let summary = serde_json::json!({"count": 3, "p50": 1.0, "p90": 1.0, "p99": 2.0, "p999": 2.0});
    report.components.insert("cache".into(), serde_json::json!({"hits": 1, "misses": 1, "lookups": 2, "hit_rate": 0.5, "evictions": 0, "len": 1, "capacity": 9, "l1": {"hits": 1, "misses": 1, "evictions": 0, "len": 1}, "l2": {"hits": 0, "misses": 1, "evictions": 0, "len": 0}}));
    report.components.insert("pool".into(), serde_json::json!({"in_use": 1, "idle": 1, "waiting": 0, "wait_ms": summary, "held_ms": summary}));
    report.components.insert("limiter".into(), serde_json::json!({"in_flight": 1, "queued": 0, "limit": 4, "rejected": 0, "timed_out": 0, "algorithm": "fixed", "wait_ms": summary, "latency_ms": summary}));
    let text = perfopt::prometheus::render(&report);
    let exposed: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap_or("").to_string())
        .collect();
    let dash = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/grafana-dashboard.json"
    ))
    .unwrap();
    let dash: Value = serde_json::from_str(&dash).expect("the dashboard is JSON");
    let mut used = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        assert!(
            panel["fieldConfig"]["defaults"]["unit"].is_string(),
            "every panel has a unit"
        );
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("perfopt_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                used.push(name);
            }
        }
    }
    assert!(used.len() >= 20, "{used:?}");
    for name in &used {
        assert!(
            exposed.contains(name),
            "the dashboard queries {name}, which /metrics does not expose:\n{text}"
        );
    }
}
