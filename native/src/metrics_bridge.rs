//! perfopt's figures through the [`metrics`] crate facade (feature `metrics`), for a service
//! that already exports with `metrics-exporter-prometheus`, StatsD, OpenTelemetry or any other
//! `metrics` recorder: the same names, labels and values as perfopt's own `/metrics`
//! ([`crate::prometheus::samples`]) — gauges as gauges, `_total` counters as counters
//! (`absolute`), a summary's quantiles, `_sum` and `_count` as gauges (the facade has no
//! summary type).
//!
//! ```no_run
//! # async fn f(monitor: perfopt::monitor::MonitorHandle) {
//! use std::time::Duration;
//!
//! // After installing the service's own `metrics` recorder:
//! let exporter = perfopt::metrics_bridge::spawn(monitor, Duration::from_secs(10));
//! # drop(exporter);
//! # }
//! ```

use std::time::Duration;

use perfopt_core::report::Report;

use crate::monitor::MonitorHandle;
use crate::prometheus::{ExportKind, samples};

/// Hands every figure of `report` to the installed `metrics` recorder once. Returns how many
/// samples it exported.
pub fn export(report: &Report) -> usize {
    let all = samples(report);
    for s in &all {
        let labels: Vec<metrics::Label> = s
            .labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, v.clone()))
            .collect();
        match s.kind {
            ExportKind::Counter => {
                // Counters are whole totals; `absolute` keeps the recorder at perfopt's value.
                metrics::counter!(s.name.clone(), labels).absolute(s.value.max(0.0) as u64);
            }
            ExportKind::Gauge | ExportKind::Summary => {
                metrics::gauge!(s.name.clone(), labels).set(s.value);
            }
        }
    }
    all.len()
}

/// A task that exports the monitor's latest figures ([`MonitorHandle::latest`], as
/// `/metrics` does) every `every` (only when a new sample was taken since the last export).
/// Abort the handle to stop it.
pub fn spawn(monitor: MonitorHandle, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(100)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = None;
        loop {
            ticks.tick().await;
            let version = monitor.samples_taken();
            if last == Some(version) {
                continue;
            }
            last = Some(version);
            let monitor = monitor.clone();
            // Reading the figures is the heavy part: off the async threads.
            let _ = tokio::task::spawn_blocking(move || export(&monitor.latest())).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use perfopt_core::Instant;
    use perfopt_core::report::metrics as m;
    use perfopt_core::report::{Meta, Recorder};
    use perfopt_core::rules::default_rules;

    fn report() -> Report {
        let meta = Meta {
            tool_version: "t".into(),
            host: "h".into(),
            target: None,
            started_at: 0,
            ended_at: 0,
            interval_ms: 1000,
        };
        let mut rec = Recorder::new(Instant::ZERO, meta, default_rules()).unwrap();
        let mut now = Instant::ZERO;
        for i in 0..5u64 {
            rec.record_latency(Duration::from_millis(10 + i));
            now = Instant::ZERO.saturating_add(Duration::from_secs(i + 1));
            rec.handle_sample(now, [(m::SYS_CPU, 42.0)]);
        }
        rec.report(now)
    }

    #[test]
    fn the_bridge_exports_what_metrics_exposes() {
        let report = report();
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let n = metrics::with_local_recorder(&recorder, || export(&report));
        let snapshot = snapshotter.snapshot().into_vec();
        let expected = samples(&report);
        assert_eq!(n, expected.len());
        assert!(n > 5, "{n}");
        // Every exported sample reached the recorder with its value.
        for e in &expected {
            let found = snapshot.iter().find(|(key, _, _, _)| {
                key.key().name() == e.name
                    && e.labels
                        .iter()
                        .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == v))
            });
            let (_, _, _, value) = found.unwrap_or_else(|| panic!("{} not exported", e.name));
            match (e.kind, value) {
                (ExportKind::Counter, DebugValue::Counter(c)) => {
                    assert_eq!(*c, e.value as u64, "{}", e.name);
                }
                (ExportKind::Gauge | ExportKind::Summary, DebugValue::Gauge(g)) => {
                    assert_eq!(g.into_inner(), e.value, "{}", e.name);
                }
                (kind, other) => panic!("{}: {kind:?} exported as {other:?}", e.name),
            }
        }
        // The CPU gauge in base units (a 0-1 ratio or percent, as /metrics has it).
        let text = crate::prometheus::render(&report);
        assert!(
            expected.iter().all(|e| text.contains(&e.name)),
            "every bridged name is also on /metrics"
        );
    }
}
