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
    for (component, stats) in &report.components {
        render_component(&mut out, component, stats);
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

/// A component's numeric statistics as gauges: top-level numbers as
/// `perfopt_<component>_<field>`, numbers one object down (cache tiers) in their own family,
/// labelled with the object's key: `perfopt_cache_tier_hits{tier="l1"}` (so totals and parts
/// are never summed together). Summaries and lists are left to the report.
fn render_component(out: &mut String, component: &str, stats: &serde_json::Value) {
    let Some(map) = stats.as_object() else { return };
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut lines: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (field, value) in map {
        let name = format!("perfopt_{}_{}", safe(component), safe(field));
        if let Some(v) = value.as_f64() {
            lines
                .entry(name)
                .or_default()
                .push(format!(" {}", number(v)));
        } else if let Some(inner) = value.as_object() {
            let label = if component == "cache" { "tier" } else { "part" };
            for (k, v) in inner {
                if let Some(v) = v.as_f64() {
                    let name = format!("perfopt_{}_{label}_{}", safe(component), safe(k));
                    lines.entry(name).or_default().push(format!(
                        "{{{label}=\"{}\"}} {}",
                        safe(field),
                        number(v)
                    ));
                }
            }
        }
    }
    for (name, samples) in lines {
        let _ = writeln!(out, "# TYPE {name} gauge");
        for s in samples {
            let _ = writeln!(out, "{name}{s}");
        }
    }
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
        let mut report = rec.report(Instant::from_secs(10));
        report.components.insert(
            "cache".into(),
            serde_json::json!({"hit_rate": 0.5, "l1": {"hits": 3}, "l2": {"hits": 1}, "name": "x"}),
        );
        let text = render(&report);
        assert!(
            text.contains("# TYPE perfopt_cache_hit_rate gauge\nperfopt_cache_hit_rate 0.5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "perfopt_cache_tier_hits{tier=\"l1\"} 3\nperfopt_cache_tier_hits{tier=\"l2\"} 1\n"
            ),
            "{text}"
        );
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
