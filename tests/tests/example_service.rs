//! The example service (`native/examples/service.rs`: axum + perfopt's limiter layer, cache,
//! SQLite pool, tracing profiler, request middleware and the viewer under `/perf/`) under a
//! bounded load on loopback: no request fails, the monitor sees every request, the viewer
//! mounts under the prefix, and `/perf/metrics` passes `promtool check metrics`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use perfopt_tests::{KillOnDrop, http_get};

const REQUESTS_PER_THREAD: u64 = 500;
const THREADS: u64 = 4;

fn example_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/service
    let bin = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .join("examples")
        .join(format!("service{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (it builds the examples)",
        bin.display()
    );
    bin
}

#[test]
fn the_example_service_serves_a_bounded_load_and_valid_metrics() {
    let mut child = Command::new(example_bin())
        .args(["--addr", "127.0.0.1:0", "--users", "2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the example service");
    let stdout = child.stdout.take().expect("piped stdout");
    let _guard = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("service: listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the service printed its address within 60 s");

    // Bounded load: 4 threads × 500 requests over 2,000 users (each key twice on average).
    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                for i in 0..REQUESTS_PER_THREAD {
                    let id = (i * 7 + t * 131) % 2000 + 1;
                    let sent = Instant::now();
                    let (status, _, body) = http_get(&format!("{url}/user/{id}"));
                    latencies.push(sent.elapsed());
                    assert_eq!(status, 200, "GET /user/{id}: {body}");
                    assert_eq!(body, format!("user {id}\n"));
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("load thread"))
        .collect();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "example service: {} requests in {:?}, p99 {:?} (client side, debug build)",
        latencies.len(),
        started.elapsed(),
        p99
    );

    // A missing user is the service's own 404, not a failure.
    let (status, _, body) = http_get(&format!("{url}/user/999999"));
    assert_eq!((status, body.as_str()), (404, "no user 999999\n"));

    // The monitor saw every request: wait for a sample that includes them (events, not time).
    let total = THREADS * REQUESTS_PER_THREAD + 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = http_get(&format!("{url}/perf/api/report"));
        assert_eq!(status, 200);
        let report: serde_json::Value = serde_json::from_str(&body).expect("report JSON");
        let count = report["summaries"]["latency_ms"]["count"]
            .as_u64()
            .unwrap_or(0);
        if count >= total {
            assert_eq!(count, total, "every request once");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the monitor counted {count} of {total} requests after 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The viewer and API under the prefix; the service's other paths stay its own.
    let (status, ct, _) = http_get(&format!("{url}/perf/"));
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    let (status, _, _) = http_get(&format!("{url}/perf"));
    assert_eq!(status, 308, "the bare prefix redirects to {url}/perf/");
    let (status, _, _) = http_get(&format!("{url}/elsewhere"));
    assert_eq!(status, 404);

    // /metrics follows Prometheus' conventions: promtool (Debian's `prometheus` package,
    // installed by scripts/test.sh) checks it.
    let (status, _, metrics) = http_get(&format!("{url}/perf/metrics"));
    assert_eq!(status, 200);
    assert!(metrics.contains("perfopt_cache_"), "{metrics}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: run scripts/test.sh (it installs Debian's prometheus)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write metrics to promtool");
    let out = promtool.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
