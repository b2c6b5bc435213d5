//! `perfopt report show`: a report as readable tables.

use std::collections::HashMap;
use std::fmt::Write;

use perfopt_core::report::Report;
use perfopt_core::report::metrics::{self, format_value};

/// Renders `report` as plain-text tables.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.meta;
    let _ = writeln!(
        out,
        "perfopt report ({}), perfopt {}",
        clean(&report.schema),
        clean(&m.tool_version)
    );
    let _ = writeln!(out, "host      {}", clean(&m.host));
    if let Some(t) = &m.target {
        let _ = writeln!(
            out,
            "target    pid {}{}",
            t.pid,
            t.command
                .as_deref()
                .map(|c| format!("  {}", clean(c)))
                .unwrap_or_default()
        );
        if let Some(exit) = &t.exit {
            let _ = writeln!(
                out,
                "          {exit} at {:.1} s",
                exit.at_ms as f64 / 1000.0
            );
        }
    }
    let secs = report.duration().as_secs_f64();
    let _ = writeln!(
        out,
        "duration  {secs:.1} s, {} samples every {} ms",
        report.series.len(),
        m.interval_ms
    );
    let _ = writeln!(out);

    let _ = writeln!(out, "SUMMARIES");
    let header = ["metric", "count", "mean", "p50", "p95", "p99", "max"];
    let mut rows: Vec<[String; 7]> = Vec::new();
    let order = metrics::ALL.iter().map(|d| d.name);
    let known: Vec<&str> = order
        .filter(|n| report.summaries.contains_key(*n))
        .collect();
    let unknown = report
        .summaries
        .keys()
        .map(String::as_str)
        .filter(|n| metrics::lookup(n).is_none());
    for name in known.into_iter().chain(unknown) {
        let s = &report.summaries[name];
        let f = |v: f64| format_value(v, s.unit);
        let q = &s.summary;
        rows.push([
            clean(name),
            q.count.to_string(),
            f(q.mean),
            f(q.p50),
            f(q.p95),
            f(q.p99),
            f(q.max),
        ]);
    }
    table(&mut out, &header, &rows);
    let _ = writeln!(out);

    let _ = writeln!(out, "RECOMMENDATIONS");
    if report.recommendations.is_empty() {
        let _ = writeln!(out, "  none: no rule fired");
    }
    for r in &report.recommendations {
        let e = &r.evidence;
        let unit = metrics::lookup(&e.metric).map_or(metrics::Unit::Count, |d| d.unit);
        let _ = writeln!(
            out,
            "  [{}] {} ({}, {})",
            label(&r.severity),
            clean(&r.message),
            clean(&r.rule),
            label(&r.state)
        );
        let _ = writeln!(
            out,
            "      evidence: {} {} over {} s = {} (threshold {}, peak {}), breached at {:.1} s, fired at {:.1} s, {} time(s)",
            label(&e.aggregate),
            clean(&e.metric),
            e.window_s,
            format_value(e.observed, unit),
            format_value(e.threshold, unit),
            format_value(e.peak, unit),
            e.since_ms as f64 / 1000.0,
            e.fired_at_ms as f64 / 1000.0,
            e.fired_count
        );
        let _ = writeln!(out, "      advice:   {}", clean(&r.advice));
    }
    let _ = writeln!(out);

    if !report.profile.is_empty() {
        let _ = writeln!(
            out,
            "PROFILE (top {} by cumulative time)",
            report.profile.len()
        );
        let ms = |v: f64| format!("{v:.3}");
        let rows: Vec<[String; 8]> = report
            .profile
            .iter()
            .map(|p| {
                [
                    clean(&p.scope),
                    p.calls.to_string(),
                    ms(p.total_ms),
                    ms(p.self_ms),
                    ms(p.mean_ms),
                    ms(p.p50_ms),
                    ms(p.p99_ms),
                    ms(p.max_ms),
                ]
            })
            .collect();
        let header = [
            "scope", "calls", "total ms", "self ms", "mean ms", "p50 ms", "p99 ms", "max ms",
        ];
        table(&mut out, &header, &rows);
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "ALERT TIMELINE");
    if report.alerts.is_empty() {
        let _ = writeln!(out, "  none");
    }
    // Rule id -> unit, once: a lookup per alert in the rule list was rules x alerts work.
    let units: HashMap<&str, metrics::Unit> = report
        .rules
        .iter()
        .filter_map(|r| Some((r.id.as_str(), metrics::lookup(&r.metric)?.unit)))
        .collect();
    let rows: Vec<[String; 4]> = report
        .alerts
        .iter()
        .map(|a| {
            let unit = units
                .get(a.rule.as_str())
                .copied()
                .unwrap_or(metrics::Unit::Count);
            [
                format!("{:.1} s", a.at_ms as f64 / 1000.0),
                clean(&a.rule),
                label(&a.state),
                format_value(a.value, unit),
            ]
        })
        .collect();
    if !rows.is_empty() {
        table(&mut out, &["at", "rule", "state", "value"], &rows);
    }
    out
}

/// `s` safe to print on a terminal: control characters (C0, DEL, C1: escape sequences,
/// carriage returns, backspaces) and bidirectional overrides are shown as `\u{..}` escapes,
/// so a report cannot move the cursor, recolour, retitle or reorder the terminal's text.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// The serde name of an enum value (`warning`, `firing`, `mean`).
fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::from("?"),
    }
}

fn table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[String; N]]) {
    let mut width = header.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        out.push(' ');
        for (i, c) in cells.enumerate() {
            let pad = width[i] - c.chars().count();
            if i == 0 {
                let _ = write!(out, " {c}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{c}", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(out, &mut header.iter().copied());
    for r in rows {
        line(out, &mut r.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(clean("a\x1b]0;pwned\x07b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(clean("x\ry\n\u{9b}\u{7f}"), "x\\u{d}y\\u{a}\\u{9b}\\u{7f}");
        assert_eq!(clean("\u{202e}abc"), "\\u{202e}abc");
    }
}
