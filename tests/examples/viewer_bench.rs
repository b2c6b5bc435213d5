//! Browser benchmark of the viewer on a 24-hour report at 1 s (86,400 samples per series):
//! time from navigation to interactive (cards and the first charts drawn, from the server's
//! overview), to the whole report on screen, core's span
//! recomputation after a zoom, the tab's memory, and the viewer's wasm size gzipped.
//!
//! ```text
//! cargo build -p perfopt && cargo run -p perfopt-tests --example viewer_bench [-- RUNS]
//! ```
//! (RSS is left out: the leak analysis re-run every minute makes a debug build slow to
//! generate the report; the virtual size stands in as the process memory series.)
//! Needs chromium and chromedriver (scripts/ensure-tools.sh). Each run opens the page in a
//! fresh tab; the table gives the best and the median of RUNS (default 5).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use perfopt_core::report::{Meta, Recorder, metrics};
use perfopt_core::{Duration as D, Instant as I};
use perfopt_tests::webdriver::Browser;
use perfopt_tests::{TempDir, http_get, start_serve};
use serde_json::json;

const SAMPLES: u64 = 86_400;

fn day_report() -> perfopt_core::report::Report {
    let meta = Meta {
        tool_version: "0.1.0".into(),
        host: "bench-host".into(),
        target: None,
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    };
    let mut rec = Recorder::new(I::ZERO, meta, perfopt_core::rules::default_rules()).unwrap();
    for s in 1..=SAMPLES {
        let day = (s as f64 / 86_400.0 * std::f64::consts::TAU).sin();
        let noise = ((s * 7919) % 101) as f64 / 100.0;
        rec.handle_sample(
            I::from_secs(s),
            [
                (metrics::SYS_CPU, 40.0 + 30.0 * day + 10.0 * noise),
                (metrics::SYS_MEM, 55.0 + 5.0 * day),
                (metrics::SYS_MEM_AVAILABLE, 8e9 - 1e9 * day),
                (metrics::NET_RX, 2e6 + 1e6 * noise),
                (metrics::NET_TX, 1e6 + 5e5 * noise),
                (metrics::PROC_CPU, 80.0 + 40.0 * day),
                (metrics::PROC_VIRT, 3e9 + 1e7 * noise),
                (metrics::THROUGHPUT, 1000.0 + 400.0 * day),
                (metrics::LATENCY_MEAN, 0.4 + 0.2 * noise),
                (metrics::LATENCY_P99, 2.0 + 3.0 * noise),
                (metrics::ERROR_RATE, 0.1 * noise),
                (metrics::CACHE_HIT_RATE, 85.0 + 10.0 * day),
            ],
        );
        rec.record_latency(D::from_micros(200 + (s * 104_729) % 5000));
    }
    rec.report(I::from_secs(SAMPLES))
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let t = Instant::now();
    let report = day_report();
    let json = report.to_json();
    eprintln!(
        "report: {} samples x {} series, {:.1} MB JSON, built in {:.1} s",
        report.series.len(),
        report.series.metrics().count(),
        json.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let dir = TempDir::new("viewer-bench");
    let path = dir.path().join("day.json");
    std::fs::write(&path, &json).unwrap();
    let (_server, url) = start_serve(&path);

    // The viewer's wasm, gzipped as a server would send it.
    let wasm = Command::new("curl")
        .args(["-s", &format!("{url}pkg/perfopt_web_bg.wasm")])
        .output()
        .unwrap()
        .stdout;
    let mut gz = Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    gz.stdin.take().unwrap().write_all(&wasm).unwrap();
    let gzipped = gz.wait_with_output().unwrap().stdout.len();
    let (_, _, uplot) = http_get(&format!("{url}vendor/uPlot.iife.min.js"));

    let mut ready = Vec::new();
    let mut full = Vec::new();
    let mut warm = Vec::new();
    let mut warm_full = Vec::new();
    let mut zoom_1h = Vec::new();
    let mut zoom_all = Vec::new();
    let mut heap = Vec::new();
    let mut wasm_mem = Vec::new();
    // Opens the viewer on the report: ms from navigation to interactive, and to the whole
    // report on screen.
    let open = |browser: &Browser| {
        browser.goto(&format!("{url}?src=api/report"));
        let wait = |what: &str| {
            browser
                .wait_for(
                    &format!("return window.perfoptViewer && window.perfoptViewer.{what};"),
                    Duration::from_secs(120),
                )
                .as_f64()
                .unwrap()
        };
        (wait("readyMs"), wait("fullMs"))
    };
    for _ in 0..runs {
        let browser = Browser::start();
        // The overview first, then the whole report: zooms are measured on the whole one.
        let (r, f) = open(&browser);
        ready.push(r);
        full.push(f);
        let first = browser.execute("return window.perfoptViewer.firstMarks;", json!([]));
        eprintln!("first view milestones (ms since navigation): {first}");
        let loads = browser.execute(
            "return performance.getEntriesByType('resource').map(e => `${e.name.replace(location.origin, '')} ${e.startTime.toFixed(0)}-${e.responseEnd.toFixed(0)}`).join(', ');",
            json!([]),
        );
        eprintln!(
            "resources (ms since navigation): {}",
            loads.as_str().unwrap_or("")
        );
        let nav = browser.execute(
            "const n = performance.getEntriesByType('navigation')[0]; return `responseEnd ${n.responseEnd.toFixed(0)}, domInteractive ${n.domInteractive.toFixed(0)}, DOMContentLoaded ${n.domContentLoadedEventStart.toFixed(0)}-${n.domContentLoadedEventEnd.toFixed(0)}, ` + performance.getEntriesByType('paint').map(p => `${p.name} ${p.startTime.toFixed(0)}`).join(', ');",
            json!([]),
        );
        eprintln!("page (ms since navigation): {}", nav.as_str().unwrap_or(""));
        let marks = browser.execute("return window.perfoptViewer.marks;", json!([]));
        eprintln!("milestones (ms since navigation): {marks}");
        let mut best1 = f64::MAX;
        let mut bestall = f64::MAX;
        for k in 0..5u64 {
            let from = 3_600_000 * (k + 3);
            let z = browser.execute(
                &format!(
                    "return window.perfoptViewer.zoom({from}, {});",
                    from + 3_600_000
                ),
                json!([]),
            );
            best1 = best1.min(z.as_f64().unwrap());
            let z = browser.execute("return window.perfoptViewer.zoom(0, 86400000);", json!([]));
            bestall = bestall.min(z.as_f64().unwrap());
        }
        zoom_1h.push(best1);
        zoom_all.push(bestall);
        let h = browser.execute(
            "return performance.memory ? performance.memory.usedJSHeapSize : null;",
            json!([]),
        );
        heap.push(h.as_f64().unwrap_or(f64::NAN) / 1048576.0);
        let w = browser.execute("return window.perfoptViewer.wasmMemoryBytes ? window.perfoptViewer.wasmMemoryBytes() : null;", json!([]));
        wasm_mem.push(w.as_f64().unwrap_or(f64::NAN) / 1048576.0);
        // The same page opened again in this browser (its processes already started; the
        // server sends `no-store`, so everything is downloaded again).
        browser.goto("about:blank");
        let (r, f) = open(&browser);
        warm.push(r);
        warm_full.push(f);
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (v[0], v[v.len() / 2])
    };
    println!(
        "viewer benchmark: 24 h at 1 s ({SAMPLES} samples/series, {} series), {runs} runs, headless Chromium",
        report.series.metrics().count()
    );
    println!("| measure | best | median | target |");
    println!("|---|---|---|---|");
    let (b, m) = stat(&mut ready);
    println!(
        "| navigation to interactive (cards + visible charts), fresh browser | {b:.0} ms | {m:.0} ms | ≤ 500 ms |"
    );
    let (b, m) = stat(&mut full);
    println!(
        "| navigation to the whole report on screen (after the overview) | {b:.0} ms | {m:.0} ms | recorded |"
    );
    let (b, m) = stat(&mut warm);
    println!(
        "| the same, page opened again in the running browser: interactive | {b:.0} ms | {m:.0} ms | ≤ 500 ms |"
    );
    let (b, m) = stat(&mut warm_full);
    println!("| the same: whole report on screen | {b:.0} ms | {m:.0} ms | recorded |");
    let (b, m) = stat(&mut zoom_1h);
    println!(
        "| zoom recomputation, 1 h span (core spanSummaries) | {b:.1} ms | {m:.1} ms | ≤ 50 ms |"
    );
    let (b, m) = stat(&mut zoom_all);
    println!("| zoom recomputation, whole 24 h | {b:.1} ms | {m:.1} ms | ≤ 50 ms |");
    let (b, m) = stat(&mut heap);
    println!("| JS heap used after zooms | {b:.1} MiB | {m:.1} MiB | recorded |");
    let (b, m) = stat(&mut wasm_mem);
    println!("| wasm linear memory | {b:.1} MiB | {m:.1} MiB | recorded |");
    println!(
        "| viewer wasm | {} KB raw, {} KB gzip -9 | | ≤ 200 KB gzip |",
        wasm.len() / 1000,
        gzipped / 1000
    );
    println!(
        "| uPlot (vendored) | {} KB raw | | offline |",
        uplot.len() / 1000
    );
}
