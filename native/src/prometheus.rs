//! The Prometheus text exposition format (version 0.0.4) of a report.

use std::fmt::Write;

use perfopt_core::report::{Report, metrics};
use perfopt_core::rules::AlertState;

/// The Content-Type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the latest value of every series metric as a gauge, the whole-run latency as a
/// summary, and each rule's state as `perfopt_alert_firing{rule,severity}` (1 when firing).
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for name in report.series.metrics() {
        let Some(col) = report.series.column(name) else {
            continue;
        };
        let Some(last) = col.iter().rev().flatten().next() else {
            continue;
        };
        let help = metrics::lookup(name).map_or("perfopt metric", |d| d.help);
        let _ = writeln!(out, "# HELP perfopt_{name} {help}");
        let _ = writeln!(out, "# TYPE perfopt_{name} gauge");
        let _ = writeln!(out, "perfopt_{name} {}", number(*last));
    }
    if let Some(s) = report.summaries.get(metrics::LATENCY) {
        let name = "perfopt_request_latency_ms";
        let _ = writeln!(out, "# HELP {name} Request latency over the whole run, ms");
        let _ = writeln!(out, "# TYPE {name} summary");
        let q = &s.summary;
        for (quantile, v) in [
            ("0.5", q.p50),
            ("0.9", q.p90),
            ("0.95", q.p95),
            ("0.99", q.p99),
            ("0.999", q.p999),
        ] {
            let _ = writeln!(out, "{name}{{quantile=\"{quantile}\"}} {}", number(v));
        }
        let sum = s.histogram.sum() as f64 / s.unit.scale();
        let _ = writeln!(out, "{name}_sum {}", number(sum));
        let _ = writeln!(out, "{name}_count {}", q.count);
    }
    let _ = writeln!(
        out,
        "# HELP perfopt_alert_firing 1 while the rule fires, else 0"
    );
    let _ = writeln!(out, "# TYPE perfopt_alert_firing gauge");
    for rule in &report.rules {
        let state = report
            .alerts
            .iter()
            .rev()
            .find(|a| a.rule == rule.id)
            .map(|a| a.state);
        let firing = u8::from(state == Some(AlertState::Firing));
        let severity = serde_json::to_value(rule.severity).ok();
        let severity = severity
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or("unknown");
        let _ = writeln!(
            out,
            "perfopt_alert_firing{{rule=\"{}\",severity=\"{severity}\"}} {firing}",
            rule.id
        );
    }
    out
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfopt_core::report::{Meta, Recorder};
    use perfopt_core::{Duration, Instant};

    #[test]
    fn renders_gauges_summary_and_alerts() {
        let meta = Meta {
            tool_version: "t".into(),
            host: "h".into(),
            target: None,
            started_at: 0,
            ended_at: 0,
            interval_ms: 1000,
        };
        let mut rec =
            Recorder::new(Instant::ZERO, meta, perfopt_core::rules::default_rules()).unwrap();
        for s in 1..=10 {
            rec.handle_sample(Instant::from_secs(s), [(metrics::SYS_CPU, 99.5)]);
            rec.record_latency(Duration::from_millis(s));
        }
        let text = render(&rec.report(Instant::from_secs(10)));
        assert!(
            text.contains("# TYPE perfopt_sys_cpu_pct gauge\nperfopt_sys_cpu_pct 99.5\n"),
            "{text}"
        );
        assert!(
            text.contains("perfopt_request_latency_ms_count 10\n"),
            "{text}"
        );
        assert!(
            text.contains("perfopt_request_latency_ms_sum 55\n"),
            "{text}"
        );
        assert!(
            text.contains("perfopt_alert_firing{rule=\"cpu\",severity=\"warning\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("perfopt_alert_firing{rule=\"memory\",severity=\"critical\"} 0\n"),
            "{text}"
        );
        // Every sample line is `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok() || value == "NaN", "{line}");
        }
    }
}
