//! The monitor as a library: a service reports requests through the handle; the report
//! carries them as series (throughput, mean and p99 latency, error rate) and as a whole-run
//! latency summary, and the error-rate rule fires on real failures.

use std::time::Duration;

use perfopt::monitor::{Monitor, MonitorConfig, Watch};
use perfopt_core::report::metrics;
use perfopt_core::rules::{AlertState, default_rules};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reported_by_a_service_reach_the_report() {
    let mut rules = default_rules();
    for r in &mut rules {
        // Fire quickly in this short run.
        r.for_ms = 0;
        r.window_ms = 500;
    }
    let monitor = Monitor::start(MonitorConfig {
        interval: Duration::from_millis(250),
        // Ended by the service finishing (below), not by a duration that a loaded machine
        // could outrun.
        duration: None,
        watch: Watch::Pid(std::process::id()),
        rules,
        ..MonitorConfig::default()
    })
    .unwrap();
    let handle = monitor.handle();
    let service = tokio::spawn({
        let handle = handle.clone();
        async move {
            // 10 requests every 50 ms: 2-11 ms latency, every 5th fails (20 % errors).
            for round in 0..30u64 {
                for i in 0..10u64 {
                    handle.record_request(Duration::from_millis(2 + i), i % 5 != 0);
                }
                handle.set_metric(metrics::CACHE_HIT_RATE, 50.0 + round as f64);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let waiter = tokio::spawn(async move {
        service.await.unwrap();
        // One more interval, so the last requests are in a sample.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = done_tx.send(());
    });
    let report = monitor
        .run(async {
            let _ = done_rx.await;
        })
        .await;
    waiter.await.unwrap();

    let latency = &report.summaries[metrics::LATENCY];
    assert_eq!(latency.summary.count, 300);
    assert!(
        (latency.summary.min - 2.0).abs() < 0.01,
        "{}",
        latency.summary.min
    );
    assert!(
        (latency.summary.max - 11.0).abs() < 0.05,
        "{}",
        latency.summary.max
    );
    let errors: Vec<f64> = report
        .series
        .column(metrics::ERROR_RATE)
        .unwrap()
        .iter()
        .flatten()
        .copied()
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors.iter().all(|e| (*e - 20.0).abs() < 1e-9),
        "{errors:?}"
    );
    let throughput = &report.summaries[metrics::THROUGHPUT].summary;
    assert!(throughput.mean > 50.0, "{throughput:?}");
    assert!(report.series.column(metrics::LATENCY_P99).is_some());
    // 20 % errors > 5 %: the error-rate rule fired with its evidence; the cache hit rate
    // (50-80 %) crossed below 70 % too.
    let rec = report
        .recommendations
        .iter()
        .find(|r| r.rule == "error_rate")
        .unwrap();
    assert_eq!(rec.state, AlertState::Firing);
    assert!((rec.evidence.observed - 20.0).abs() < 1e-9);
    assert!(
        report
            .recommendations
            .iter()
            .any(|r| r.rule == "cache_hit_rate")
    );
    assert!(report.meta.target.as_ref().unwrap().pid == std::process::id());
}
