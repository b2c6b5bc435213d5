//! Long-run benchmark: 30 simulated days of one sample a second through core's
//! [`Recorder`], in virtual time, with the 13 metrics `perfopt monitor --pid` records.
//!
//! Runs 30 days (`--days N` for another length) and prints, at days 1, 7 and 30, every 5 days
//! after that, and the last day (every 3 days with `--every-3-days`): the heap held by the
//! whole process (a counting allocator), the recorder's own estimate of its encoded tiers,
//! full-resolution bytes per value, the mean cost of a sample over the last simulated hour,
//! the time to build a report (best of 6, in two rounds) and a `latest` one (what
//! `/metrics` reads), a live update
//! (the delta since the previous sample, from a report built for it: what the live stream
//! sends each second), and a report built and written as JSON (best of 3 each).
//! `--write FILE` saves the last day's report (for `perfopt report show FILE`).
//!
//! ```text
//! cargo run --release -p perfopt-core --example long_run
//! ```

#![allow(unsafe_code)] // A GlobalAlloc is an unsafe trait; it only forwards to `System`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as WallClock;

use perfopt_core::report::delta::{Cursor, Delta};
use perfopt_core::report::{Meta, Recorder, Target, metrics};
use perfopt_core::rules::default_rules;
use perfopt_core::{Duration, Instant};

/// Counts the bytes currently allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// SplitMix64, for deterministic noise.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One sample of a busy-ish server at second `s`: a daily load cycle plus noise, a GC
/// sawtooth on the target's RSS, counters that move by page-sized amounts.
fn sample(s: u64, rng: &mut Rng) -> [(&'static str, f64); 12] {
    let day = (s % 86_400) as f64 / 86_400.0;
    let load = 0.5 + 0.4 * (day * std::f64::consts::TAU).sin();
    let rss = 400e6 + ((s % 30) as f64) * 2e6 + (rng.unit() * 64.0).floor() * 4096.0;
    [
        (metrics::SYS_CPU, 100.0 * load * (0.8 + 0.4 * rng.unit())),
        (metrics::SYS_MEM, 55.0 + 5.0 * load + rng.unit()),
        (
            metrics::SYS_MEM_AVAILABLE,
            7e9 - load * 1e9 - (rng.unit() * 1e4).floor() * 4096.0,
        ),
        (metrics::SYS_LOAD1, (load * 4.0 * 100.0).round() / 100.0),
        (metrics::NET_RX, (load * 2e6 * (0.5 + rng.unit())).floor()),
        (metrics::NET_TX, (load * 5e6 * (0.5 + rng.unit())).floor()),
        (
            metrics::DISK_READ,
            if rng.unit() < 0.9 {
                0.0
            } else {
                (rng.unit() * 1e3).floor() * 4096.0
            },
        ),
        (metrics::DISK_WRITE, (rng.unit() * 50.0).floor() * 4096.0),
        (metrics::PROC_CPU, 80.0 * load * (0.7 + 0.6 * rng.unit())),
        (metrics::PROC_RSS, rss),
        (metrics::PROC_VIRT, 1.2e9 + (rss - 400e6)),
        (metrics::PROC_THREADS, 24.0 + (rng.unit() * 3.0).floor()),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1).cloned());
    let every_3 = args.iter().any(|a| a == "--every-3-days");
    let days: u64 = args
        .iter()
        .position(|a| a == "--days")
        .and_then(|i| args.get(i + 1))
        .map_or(30, |d| d.parse().expect("--days N: a whole number of days"));
    let meta = Meta {
        tool_version: "bench".into(),
        host: "sim".into(),
        target: Some(Target {
            pid: 1,
            command: Some("server".into()),
            exit: None,
        }),
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    };
    let t0 = Instant::from_secs(1);
    let base = LIVE.load(Ordering::Relaxed);
    let mut rec = Recorder::new(t0, meta, default_rules()).expect("default rules");
    let mut rng = Rng(42);
    println!(
        "{:>4} {:>10} {:>10} {:>10} {:>9} {:>11} {:>10} {:>12} {:>10} {:>10} {:>10}",
        "day",
        "heap MB",
        "full MB",
        "rollup MB",
        "B/value",
        "ns/sample",
        "full rows",
        "report ms",
        "latest ms",
        "delta ms",
        "json ms"
    );
    let mut hour_start = WallClock::now();
    for s in 0..days * 86_400 {
        if s % 3600 == 0 {
            hour_start = WallClock::now();
        }
        let now = t0.saturating_add(Duration::from_secs(s));
        let values = sample(s, &mut rng);
        rec.handle_sample(now, values);
        let day_end = (s + 1) % 86_400 == 0;
        let day = (s + 1) / 86_400;
        let shown = matches!(day, 1 | 7 | 30) || (day > 30 && day % 5 == 0) || day == days;
        if day_end && (shown || (every_3 && day % 3 == 0)) {
            let per_sample = hour_start.elapsed().as_nanos() as f64 / 3600.0;
            let end = t0.saturating_add(Duration::from_secs(s + 1));
            let mut best = f64::INFINITY;
            let mut rows = 0;
            for _ in 0..3 {
                let w = WallClock::now();
                let report = rec.report(end);
                best = best.min(w.elapsed().as_secs_f64() * 1000.0);
                rows = report.series.len();
                if day == days
                    && let Some(path) = &write
                {
                    std::fs::write(path, report.to_json()).expect("write the report");
                }
            }
            let mut latest = f64::INFINITY;
            for _ in 0..3 {
                let w = WallClock::now();
                let report = rec.latest(end);
                latest = latest.min(w.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(report.series.len(), 1);
            }
            let (mut delta, mut json) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..3 {
                let w = WallClock::now();
                let report = rec.report(end);
                best = best.min(w.elapsed().as_secs_f64() * 1000.0);
                let mut from = Cursor::of(&report);
                from.last_t_ms = from.last_t_ms.map(|t| t - 1000);
                let d = Delta::since(&report, from);
                delta = delta.min(w.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(d.t_ms.len(), 1, "one new sample");
                let w = WallClock::now();
                let text = rec.report(end).to_json();
                json = json.min(w.elapsed().as_secs_f64() * 1000.0);
                assert!(text.len() > 1000);
            }
            let f = rec.footprint();
            println!(
                "{day:>4} {:>10.2} {:>10.2} {:>10.2} {:>9.2} {:>11.0} {:>10} {:>12.1} {:>10.3} {:>10.2} {:>10.0}",
                (LIVE.load(Ordering::Relaxed) - base) as f64 / 1e6,
                f.full_bytes as f64 / 1e6,
                f.rollup_bytes as f64 / 1e6,
                f.full_bytes as f64 / f.values as f64,
                per_sample,
                rows,
                best,
                latest,
                delta,
                json
            );
        }
    }
}
