//! A bounded load test of `perfopt serve` on loopback: N requests over C keep-alive
//! connections, alternating `/api/report` and `/metrics`; prints errors, latency percentiles
//! and the server's resident memory before, during (peak) and after.
//!
//! ```text
//! cargo build -p perfopt --release && \
//! cargo run -p perfopt-tests --release --example http_load -- [REQUESTS] [CONNECTIONS] [SAMPLES]
//! ```
//! Defaults: 50000 requests, 64 connections, a 1000-sample report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use perfopt_core::report::{Meta, Recorder, Series, metrics};

fn report(samples: u64) -> perfopt_core::report::Report {
    let meta = Meta {
        tool_version: "0.1.0".into(),
        host: "load".into(),
        target: None,
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    };
    let t0 = perfopt_core::Instant::from_secs(1);
    let mut rec = Recorder::new(t0, meta, perfopt_core::rules::default_rules()).unwrap();
    rec.handle_sample(t0, [(metrics::SYS_CPU, 1.0)]);
    let mut r = rec.report(t0.saturating_add(Duration::from_secs(samples + 1)));
    let mut series = Series::new();
    for s in 0..samples {
        series.push(
            s * 1000 + 1,
            [
                (metrics::SYS_CPU, 10.0 + (s % 13) as f64 * 0.37),
                (metrics::SYS_MEM, 40.0 + (s % 7) as f64 * 0.91),
                (metrics::PROC_RSS, 1e8 + s as f64 * 12_345.0),
                (metrics::LATENCY_P99, 3.0 + (s % 11) as f64),
            ],
        );
    }
    r.series = series;
    r
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Reads one response (Content-Length bodies only); returns the status.
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body)?;
    Ok(status)
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let requests = *args.first().unwrap_or(&50_000) as usize;
    let connections = *args.get(1).unwrap_or(&64) as usize;
    let samples = *args.get(2).unwrap_or(&1_000);

    let dir = std::env::temp_dir().join(format!("perfopt-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.json");
    perfopt::report_file::save(&file, &report(samples)).unwrap();
    let exe = std::env::current_exe().unwrap();
    let bin: PathBuf = exe
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("perfopt");
    let mut server = Command::new(&bin)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (build it first)", bin.display()));
    let pid = server.id();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = &first[first.find("http://").unwrap() + 7..];
    let addr = url
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let rss_before = rss_kib(pid, "VmRSS:");

    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (next, errors, addr) = (next.clone(), errors.clone(), addr.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let stream = TcpStream::connect(&addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::with_capacity(256 * 1024, stream);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let path = if i % 2 == 0 {
                        "/api/report"
                    } else {
                        "/metrics"
                    };
                    let t = Instant::now();
                    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
                    let ok = w.write_all(req.as_bytes()).is_ok()
                        && matches!(read_response(&mut r), Ok(200));
                    lat.push(t.elapsed());
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                lat
            })
        })
        .collect();
    let mut peak = 0;
    while !workers.iter().all(|w| w.is_finished()) {
        peak = peak.max(rss_kib(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut lat: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    lat.sort();
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    let hwm = rss_kib(pid, "VmHWM:");
    let after = rss_kib(pid, "VmRSS:");
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{} requests over {connections} connections in {:.2} s ({:.0} req/s); errors {}",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        errors.load(Ordering::Relaxed)
    );
    println!(
        "latency p50 {:?}, p99 {:?}, max {:?}",
        q(0.5),
        q(0.99),
        lat[lat.len() - 1]
    );
    println!(
        "server RSS: before {} MiB, peak sampled {} MiB, high-water {} MiB, after {} MiB",
        rss_before / 1024,
        peak / 1024,
        hwm / 1024,
        after / 1024
    );
    assert_eq!(errors.load(Ordering::Relaxed), 0, "errors");
    assert_eq!(lat.len(), requests);
}
