//! The demo's text summary: the seed's four sections (tasks through the limiter, cache and
//! pool statistics, collected metrics, the optimization report), beside [`crate::show`],
//! which renders any report.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;

use perfopt_core::pool::PoolStats;
use perfopt_core::report::Report;
use perfopt_core::report::metrics::{self, Unit, format_value};

use crate::demo::client::ClientStats;
use crate::demo::server::ServerStats;
use crate::demo::{Backend, DemoConfig};

/// The SQLite pool's statistics as readable figures.
fn pool_section(out: &mut String, p: &PoolStats, db_path: &Path) {
    let gets = p.gets_direct + p.gets_waited;
    let share = |n: u64| {
        if gets > 0 {
            format_value(n as f64 * 100.0 / gets as f64, Unit::Percent)
        } else {
            "-".to_string()
        }
    };
    let _ = writeln!(out, "  SQLite pool ({}):", db_path.display());
    let _ = writeln!(
        out,
        "    connections  {} of {} (idle {}, in use {}, min idle {})  created {}  closed {}",
        p.idle + p.in_use + p.creating + p.checking,
        p.max_size,
        p.idle,
        p.in_use,
        p.min_idle,
        p.created,
        p.closed_broken + p.closed_expired + p.closed_idle
    );
    let _ = writeln!(
        out,
        "    gets         {gets}  served at once {} ({})  after waiting {} ({})  refused {}  timed out {}",
        p.gets_direct,
        share(p.gets_direct),
        p.gets_waited,
        share(p.gets_waited),
        p.rejected,
        p.timed_out
    );
    let _ = writeln!(
        out,
        "    wait         p50 {}  p99 {}  max {}   held p50 {}  p99 {}",
        format_value(p.wait_ms.p50, Unit::Millis),
        format_value(p.wait_ms.p99, Unit::Millis),
        format_value(p.wait_ms.max, Unit::Millis),
        format_value(p.held_ms.p50, Unit::Millis),
        format_value(p.held_ms.p99, Unit::Millis)
    );
    if p.create_failures + p.check_failures + p.leaks > 0 {
        let _ = writeln!(
            out,
            "    failures     creations {}  checks {}  suspected leaks {}",
            p.create_failures, p.check_failures, p.leaks
        );
    }
}

pub(crate) fn render(
    config: &DemoConfig,
    report: &Report,
    backend: &Backend,
    server: &ServerStats,
    clients: &ClientStats,
    db_path: &std::path::Path,
) -> String {
    let mut out = String::new();
    let secs = report.duration().as_secs_f64();
    let l = backend.limiter.stats();
    let _ = writeln!(
        out,
        "\n=== 1. Tasks run through the limiter ({:?}) ===",
        config.limiter
    );
    let _ = writeln!(
        out,
        "  commands {}  admitted {}  rejected {}  timed out {}  limit now {}  errors sent {}",
        server.commands.load(Ordering::Relaxed),
        l.admitted,
        l.rejected,
        l.timed_out,
        backend.limiter.limit(),
        server.errors.load(Ordering::Relaxed)
    );
    let c = backend.cache.stats();
    let _ = writeln!(
        out,
        "\n=== 2. Cache statistics (capacity {}) ===",
        config.cache_size
    );
    let lookups = c.hits() + c.misses();
    let _ = writeln!(
        out,
        "  lookups {lookups}  hits {}  misses {}  hit rate {}  entries {}",
        c.hits(),
        c.misses(),
        format_value(
            if lookups > 0 {
                c.hits() as f64 * 100.0 / lookups as f64
            } else {
                f64::NAN
            },
            Unit::Percent
        ),
        backend.cache.len()
    );
    pool_section(&mut out, &backend.pool.stats(), db_path);
    let _ = writeln!(
        out,
        "\n=== 3. Collected metrics ({secs:.1} s, {} samples) ===",
        report.series.len()
    );
    if let Some(lat) = report.summaries.get(metrics::LATENCY) {
        let s = &lat.summary;
        let _ = writeln!(
            out,
            "  delivery latency  avg {}  p50 {}  p95 {}  p99 {}  max {}",
            format_value(s.mean, Unit::Millis),
            format_value(s.p50, Unit::Millis),
            format_value(s.p95, Unit::Millis),
            format_value(s.p99, Unit::Millis),
            format_value(s.max, Unit::Millis)
        );
        let _ = writeln!(
            out,
            "  throughput        {}",
            format_value(s.rate_per_s, Unit::PerSec)
        );
    }
    let _ = writeln!(
        out,
        "  clients           {} connected, {} failed to log in, {} login retries after ERR busy",
        server.connections.load(Ordering::Relaxed),
        clients.failed_clients.load(Ordering::Relaxed),
        clients.retries.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "  messages          sent {}  delivered back {}  lost {}  broadcast deliveries {}  dropped {}",
        clients.sent.load(Ordering::Relaxed),
        clients.echoed.load(Ordering::Relaxed),
        clients.lost.load(Ordering::Relaxed),
        server.delivered.load(Ordering::Relaxed),
        server.dropped.load(Ordering::Relaxed)
    );
    for (label, name) in [
        ("CPU (process)", metrics::PROC_CPU),
        ("memory (system)", metrics::SYS_MEM),
        ("RSS", metrics::PROC_RSS),
        ("errors", metrics::ERROR_RATE),
    ] {
        if let Some(m) = report.summaries.get(name) {
            let _ = writeln!(
                out,
                "  {label:<17} mean {}  max {}",
                format_value(m.summary.mean, m.unit),
                format_value(m.summary.max, m.unit)
            );
        }
    }
    if !report.profile.is_empty() {
        let _ = writeln!(out, "  top scopes by cumulative time:");
        for row in report.profile.iter().take(6) {
            let _ = writeln!(
                out,
                "    {:<22} calls {:>8}  total {:>9.1} ms  p99 {:>7.3} ms",
                row.scope, row.calls, row.total_ms, row.p99_ms
            );
        }
    }
    let _ = writeln!(out, "\n=== 4. Optimization report ===");
    if report.recommendations.is_empty() {
        let _ = writeln!(out, "  no rule fired: nothing to recommend for this load");
    }
    for r in &report.recommendations {
        let unit = metrics::lookup(&r.evidence.metric).map_or(Unit::Count, |d| d.unit);
        let _ = writeln!(
            out,
            "  [{:?}] {} observed {} vs threshold {} ({})\n      advice: {}",
            r.severity,
            r.message,
            format_value(r.evidence.observed, unit),
            format_value(r.evidence.threshold, unit),
            if r.state == perfopt_core::rules::AlertState::Firing {
                "still firing"
            } else {
                "resolved"
            },
            r.advice
        );
    }
    out
}
