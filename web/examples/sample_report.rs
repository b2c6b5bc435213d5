//! Prints a realistic sample report (JSON) for trying the viewer page.
//!
//! ```text
//! cargo run -p perfopt-web --example sample_report > /tmp/viewer/sample.json
//! cargo run -p perfopt-web --example sample_report -- 86400 > /tmp/viewer/day.json
//! ```
//!
//! The optional argument is the run length in seconds (default 180).
//!
//! A three-minute run of a watched process sampled every second, built with core's
//! [`Recorder`] and the default rules: a CPU burst from 60 s to 110 s (the `cpu` rule fires
//! and resolves), an error burst around 90 s (`error_rate` fires and resolves), latency that
//! climbs past 1 s from 140 s on (`response_time` still firing), slowly growing RSS,
//! a few missed samples (nulls) and per-request latencies for `summaries.latency_ms`.

use perfopt_core::report::{Meta, Recorder, Target, metrics as m};
use perfopt_core::rules::default_rules;
use perfopt_core::{Duration, Instant};

/// A tiny deterministic pseudo-random generator (xorshift64*), so the sample is stable.
struct Noise(u64);

impl Noise {
    /// A value uniform in `[0, 1)`.
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A value uniform in `[-a, a)`.
    fn jitter(&mut self, a: f64) -> f64 {
        (self.next() * 2.0 - 1.0) * a
    }
}

fn main() {
    let started_at = 1_767_225_600_000; // 2026-01-01 00:00:00 UTC
    let meta = Meta {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        host: "build-07.example.internal".into(),
        target: Some(Target {
            pid: 48_213,
            command: Some("chat-server --port 8080 --workers 4".into()),
            exit: None,
        }),
        started_at,
        ended_at: 0,
        interval_ms: 1000,
    };
    let t0 = Instant::from_secs(50_000);
    let mut rec = Recorder::new(t0, meta, default_rules()).expect("default rules are valid");
    let mut rng = Noise(0x9E37_79B9_7F4A_7C15);
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|a| {
            a.parse()
                .expect("the argument is the run length in seconds")
        })
        .unwrap_or(180);
    for s in 0..seconds {
        let sf = s as f64;
        let burst = (60..110).contains(&s);
        let sys_cpu = if burst {
            91.0 + rng.jitter(5.0)
        } else {
            32.0 + rng.jitter(8.0)
        };
        let proc_cpu = if burst {
            310.0 + rng.jitter(25.0)
        } else {
            85.0 + rng.jitter(15.0)
        };
        let slow = s >= 140;
        let latency_mean = if slow {
            600.0 + (sf - 140.0).min(60.0) * 25.0 + rng.jitter(40.0)
        } else {
            45.0 + rng.jitter(10.0) + if burst { 60.0 } else { 0.0 }
        };
        let latency_p99 = latency_mean * (3.2 + rng.jitter(0.3));
        let errors = if (85..100).contains(&s) {
            8.0 + rng.jitter(2.0)
        } else {
            0.4 + rng.jitter(0.3)
        };
        let rps = if slow {
            120.0 + rng.jitter(10.0)
        } else {
            240.0 + rng.jitter(20.0)
        };
        // RSS: a sawtooth that grows about 20 MiB a minute.
        let rss = 180.0 * 1_048_576.0 + sf * 350_000.0 + (s % 20) as f64 * 900_000.0;
        let mut values = vec![
            (m::SYS_CPU, sys_cpu),
            (m::SYS_MEM, 58.0 + sf.min(300.0) * 0.06 + rng.jitter(0.8)),
            (
                m::SYS_LOAD1,
                1.5 + if burst { 3.2 } else { 0.0 } + rng.jitter(0.3),
            ),
            (m::NET_RX, 2.4e6 + rng.jitter(4e5)),
            (m::NET_TX, 5.1e6 + rng.jitter(8e5)),
            (m::DISK_READ, 1.2e5 + rng.jitter(1e5)),
            (m::DISK_WRITE, 8.0e5 + rng.jitter(3e5)),
            (m::PROC_CPU, proc_cpu),
            (m::PROC_RSS, rss),
            (m::PROC_VIRT, 1.4e9 + sf * 1e6),
            (m::PROC_THREADS, if burst { 24.0 } else { 16.0 }),
            (m::THROUGHPUT, rps),
            (m::LATENCY_MEAN, latency_mean),
            (m::LATENCY_P99, latency_p99),
            (m::ERROR_RATE, errors.max(0.0)),
            (m::CACHE_HIT_RATE, 86.0 + rng.jitter(4.0)),
        ];
        // Missed samples: the process metrics drop out for a few seconds.
        if (120..124).contains(&s) {
            values.retain(|(name, _)| !name.starts_with("proc_"));
        }
        let now = t0.saturating_add(Duration::from_millis(s * 1000));
        assert!(rec.handle_sample(now, values), "samples are 1 s apart");
        for _ in 0..rps as u64 {
            let ms = (latency_mean * (0.3 + rng.next() * 1.4)).max(0.1);
            rec.record_latency(Duration::from_micros((ms * 1000.0) as u64));
        }
    }
    let report = rec.report(t0.saturating_add(Duration::from_secs(seconds)));
    println!("{}", report.to_json());
}
