//! Reports built the same way on the host and in the browser, for the tests that check
//! that the viewer's wasm computes exactly what native code computes.

use perfopt_core::report::metrics;
use perfopt_core::report::{Meta, Recorder, Report};
use perfopt_core::{Duration, Instant};

/// The spans the fixture checks, ms since the start.
pub(crate) const SPANS: &[(u64, u64)] = &[
    (0, 600_000),
    (30_000, 90_000),
    (123_000, 123_000),
    (500_000, 900_000),
];

/// A 10-minute host report at 1 s; `k` varies the values (a second host).
pub(crate) fn host_report(host: &str, k: u64) -> Report {
    let meta = Meta {
        tool_version: "0.1.0".into(),
        host: host.into(),
        target: None,
        started_at: 1_700_000_000_000,
        ended_at: 0,
        interval_ms: 1000,
    };
    let mut rec = Recorder::new(Instant::ZERO, meta, perfopt_core::rules::default_rules())
        .expect("default rules are valid");
    for s in 1..=600u64 {
        let wave = ((s * 37 + k * 11) % 100) as f64;
        let values = [
            (metrics::SYS_CPU, 10.0 + wave * 0.7),
            (metrics::LATENCY_P99, 0.08 + wave / 900.0 + k as f64),
            (
                metrics::THROUGHPUT,
                100.0 + (s % 13) as f64 + k as f64 * 10.0,
            ),
            (metrics::PROC_RSS, 5e7 + (s * 4096) as f64),
            (metrics::CACHE_HIT_RATE, 60.0 + (wave % 40.0)),
        ];
        rec.handle_sample(Instant::from_secs(s), values);
        rec.record_latency(Duration::from_micros(
            50 + (s * 7919 + k * 104_729) % 20_000,
        ));
    }
    rec.report(Instant::from_secs(600))
}
