//! `perfopt report merge` and `perfopt report check`: the fleet and CI side of reports.
//!
//! The logic is core's ([`perfopt_core::report::merge`], [`perfopt_core::report::compare`]);
//! this module reads the files, names them in errors and prints one line per finding.

use std::fmt;
use std::path::{Path, PathBuf};

use perfopt_core::report::compare::{failing_rules, regressions};
use perfopt_core::report::merge::merge;
use perfopt_core::report::metrics::format_value;
use perfopt_core::report::{Report, evaluate};
use perfopt_core::rules::{Comparison, Rule, RuleEngine, Severity};

use crate::report_file;

/// A problem with the inputs (exit code 2 in the CLI).
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Reads every file and merges them into one fleet report (see
/// [`perfopt_core::report::merge`]).
///
/// # Errors
/// One line naming the file that cannot be read or merged.
pub fn merge_files(paths: &[PathBuf]) -> Result<Report, InputError> {
    if paths.len() < 2 {
        return Err(InputError(String::from(
            "give at least two reports to merge (perfopt report merge A.json B.json … -o fleet.json)",
        )));
    }
    let mut reports = Vec::with_capacity(paths.len());
    for p in paths {
        reports.push(report_file::load(p).map_err(|e| InputError(e.to_string()))?);
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    merge(names.iter().map(String::as_str).zip(reports.iter()))
        .map_err(|e| InputError(e.to_string()))
}

/// What `report check` looks at.
#[derive(Debug, Default)]
pub struct CheckConfig {
    /// Re-evaluate the report's series with these rules instead of its own (a JSON array of
    /// rules, as `perfopt rules` prints).
    pub rules: Option<PathBuf>,
    /// Compare with this earlier report.
    pub baseline: Option<PathBuf>,
    /// Allowed worsening of a gated figure, percent of the baseline.
    pub max_regression_pct: f64,
    /// The least severity that fails the check.
    pub fail_on: Option<Severity>,
}

/// The outcome of a check: one line per failing rule or regression.
#[derive(Debug)]
pub struct CheckOutcome {
    /// `FAIL …` lines, rules first, then regressions.
    pub failures: Vec<String>,
    /// A one-line summary of what was checked.
    pub summary: String,
}

/// Checks `file`: its rules (or `config.rules`) must not have fired at `fail_on` severity or
/// above, and against `config.baseline` no gated figure may be worse by more than
/// `config.max_regression_pct` percent.
///
/// # Errors
/// One line naming the file (report, rules or baseline) that cannot be used.
pub fn check(file: &Path, config: &CheckConfig) -> Result<CheckOutcome, InputError> {
    let report = report_file::load(file).map_err(|e| InputError(e.to_string()))?;
    let (rules, recommendations) = match &config.rules {
        None => (report.rules.clone(), report.recommendations.clone()),
        Some(path) => {
            let rules = load_rules(path)?;
            let (_, recs) = evaluate(&report.series, rules.clone())
                .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
            (rules, recs)
        }
    };
    let min = config.fail_on.unwrap_or(Severity::Critical);
    let mut failures = Vec::new();
    for r in failing_rules(&recommendations, min) {
        let e = &r.evidence;
        let unit = perfopt_core::report::metrics::lookup(&e.metric)
            .map_or(perfopt_core::report::metrics::Unit::Count, |d| d.unit);
        let cmp = rules
            .iter()
            .find(|x| x.id == r.rule)
            .map_or(">", |x| match x.comparison {
                Comparison::Below => "<",
                _ => ">",
            });
        let state = if r.state == perfopt_core::rules::AlertState::Firing {
            "still firing at the end"
        } else {
            "resolved before the end"
        };
        let aggregate = serde_json::to_value(e.aggregate)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        failures.push(format!(
            "FAIL rule {} ({}): {} {aggregate} of {} over {} s was {} {cmp} {} at t = {:.0} s, \
             fired {}x, {state}",
            r.rule,
            severity_name(r.severity),
            r.message,
            e.metric,
            e.window_s,
            format_value(e.observed, unit),
            format_value(e.threshold, unit),
            e.fired_at_ms as f64 / 1000.0,
            e.fired_count,
        ));
    }
    let rule_count = failures.len();
    let mut summary = format!(
        "{}: {} rule(s) evaluated, {rule_count} fired at {} or above",
        file.display(),
        rules.len(),
        severity_name(min)
    );
    if let Some(path) = &config.baseline {
        let baseline = report_file::load(path).map_err(|e| InputError(e.to_string()))?;
        let regs = regressions(&baseline, &report, config.max_regression_pct);
        for r in &regs {
            let f = &r.figure;
            let show = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format_value(v, f.unit));
            let change = if r.worse_pct.is_finite() {
                format!("{:+.1} %", f.change_pct.unwrap_or(0.0))
            } else {
                String::from("from 0")
            };
            failures.push(format!(
                "FAIL regression {} {}: {} -> {} ({change}, allowed {} %) against {}",
                f.metric,
                f.stat,
                show(f.before),
                show(f.after),
                config.max_regression_pct,
                path.display()
            ));
        }
        summary.push_str(&format!(
            "; {} regression(s) over {} % against {}",
            regs.len(),
            config.max_regression_pct,
            path.display()
        ));
    }
    Ok(CheckOutcome { failures, summary })
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        _ => "critical",
    }
}

/// Reads a rules file: a JSON array of rules.
fn load_rules(path: &Path) -> Result<Vec<Rule>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError(if e.kind() == std::io::ErrorKind::NotFound {
            format!("{}: no such file (check the path)", path.display())
        } else {
            format!("{}: cannot read: {e}", path.display())
        })
    })?;
    let rules: Vec<Rule> = serde_json::from_str(&text).map_err(|e| {
        InputError(format!(
            "{}: not a rules file (a JSON array of rules, as `perfopt rules` prints): {e}",
            path.display()
        ))
    })?;
    RuleEngine::new(rules.clone()).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    Ok(rules)
}

/// Parses `10%`, `10 %`, `10` or `2.5%` as a percentage.
///
/// # Errors
/// A message saying what is expected.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a percentage: use a number such as 10% or 2.5%"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse() {
        assert_eq!(parse_percent("10%"), Ok(10.0));
        assert_eq!(parse_percent(" 2.5 % "), Ok(2.5));
        assert_eq!(parse_percent("0"), Ok(0.0));
        assert!(parse_percent("-1%").is_err());
        assert!(parse_percent("ten").is_err());
        assert!(parse_percent("NaN").is_err());
    }
}
