//! The demo's progress line: elapsed time, messages sent and delivered, the latest p99.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use perfopt_core::report::metrics;

use super::client::ClientStats;
use crate::clock;
use crate::monitor::MonitorHandle;
use crate::status_line::StatusLine;

/// Shows the progress of a run of `total` that started at `start` until aborted.
pub(super) async fn show(
    start: perfopt_core::Instant,
    total: Duration,
    stats: Arc<ClientStats>,
    handle: MonitorHandle,
) {
    let status = StatusLine::new();
    let every = Duration::from_millis(if status.is_tty() { 250 } else { 2000 });
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let elapsed = clock::now().saturating_duration_since(start).min(total);
        let p99 = handle
            .report()
            .series
            .column(metrics::LATENCY_P99)
            .and_then(|c| c.iter().rev().flatten().next().copied());
        status.show(&line(
            elapsed,
            total,
            stats.sent.load(Ordering::Relaxed),
            stats.echoed.load(Ordering::Relaxed),
            p99,
        ));
    }
}

/// `[#####.....]  12.0/20 s  sent 100  delivered 99  p99 1.20 ms`.
fn line(elapsed: Duration, total: Duration, sent: u64, echoed: u64, p99: Option<f64>) -> String {
    const WIDTH: usize = 30;
    let frac = elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9);
    let filled = ((frac * WIDTH as f64).round() as usize).min(WIDTH);
    let bar = "#".repeat(filled) + &".".repeat(WIDTH - filled);
    format!(
        "[{bar}] {:>5.1}/{:.0} s  sent {sent}  delivered {echoed}  p99 {}",
        elapsed.as_secs_f64(),
        total.as_secs_f64(),
        p99.map_or("-".to_string(), |v| format!("{v:.2} ms"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_elapsed_time() {
        let l = line(
            Duration::from_secs(10),
            Duration::from_secs(20),
            100,
            99,
            Some(1.2),
        );
        assert!(
            l.starts_with(&format!("[{}{}]", "#".repeat(15), ".".repeat(15))),
            "{l}"
        );
        assert!(l.ends_with("sent 100  delivered 99  p99 1.20 ms"), "{l}");
        let done = line(Duration::from_secs(30), Duration::from_secs(20), 0, 0, None);
        assert!(
            done.contains(&"#".repeat(30)) && done.ends_with("p99 -"),
            "{done}"
        );
    }
}
