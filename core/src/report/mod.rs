//! The versioned report model (`"schema": "perfopt.report/v1"`) and the [`Recorder`] that
//! builds one from samples.
//!
//! A [`Report`] is plain data with a stable JSON form documented in `docs/report-format.md`.
//! [`Report::from_json`] parses *and validates* one, with errors that carry line and column.
//! Summaries carry their histograms, so the summaries of two reports merge exactly.

mod encoding;
mod recorder;
mod series;
mod tiers;

pub mod compare;
pub mod components;
pub mod delta;
pub mod merge;
pub mod metrics;
pub mod span;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

pub use recorder::{Footprint, MAX_ALERTS, Recorder, evaluate};
pub use series::Series;
pub use tiers::{Retention, Rollup, RollupColumn, RollupRows, TierSpec, rollup_bucket};

use crate::rules::{Aggregate, AlertState, Rule, Severity};
use crate::stats::{Histogram, Summary};
use metrics::Unit;

/// The schema id every v1 report carries.
pub const SCHEMA: &str = "perfopt.report/v1";

/// A whole report. Field order is the JSON order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Who, what and when.
    pub meta: Meta,
    /// Full-resolution columnar time series (the most recent `retention.full_ms`): `t_ms`
    /// plus one array per metric, all the same length.
    pub series: Series,
    /// Rollup tiers (1 min, 1 h by default), finest first; absent in older reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollups: Vec<Rollup>,
    /// How long each tier keeps its data; absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Whole-run summary of each metric, with its histogram.
    pub summaries: BTreeMap<String, MetricSummary>,
    /// Component statistics (`cache`, `pool`, `limiter`), present when used.
    #[serde(default)]
    pub components: BTreeMap<String, serde_json::Value>,
    /// Profile rows, sorted by cumulative time (empty until scopes are recorded).
    #[serde(default)]
    pub profile: Vec<ProfileRow>,
    /// Memory analysis (leak verdict), when a process's RSS was watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryAnalysis>,
    /// The rules the run was evaluated with.
    pub rules: Vec<Rule>,
    /// Timeline of rule state changes.
    pub alerts: Vec<AlertRecord>,
    /// One entry per rule that fired, with its evidence.
    pub recommendations: Vec<Recommendation>,
}

/// Who recorded the report, what it watched and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// perfopt version that wrote it.
    pub tool_version: String,
    /// Host name of the machine.
    pub host: String,
    /// The watched process, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Start, milliseconds since the Unix epoch.
    pub started_at: u64,
    /// End, milliseconds since the Unix epoch.
    pub ended_at: u64,
    /// Sampling interval, milliseconds.
    pub interval_ms: u64,
}

/// The watched process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Its process id.
    pub pid: u32,
    /// Its command line, when perfopt started it or could read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// How and when it ended, when it ended before the run did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<TargetExit>,
}

/// How the watched process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetExit {
    /// When perfopt saw it end, milliseconds since the run's start.
    pub at_ms: u64,
    /// Its exit code, when it exited (and the code could be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The signal that killed it, when a signal did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

impl fmt::Display for TargetExit {
    /// `exited with code 3`, `killed by signal 9`, or `exited` (how is unknown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (_, Some(s)) => write!(f, "killed by signal {s}"),
            (Some(c), None) => write!(f, "exited with code {c}"),
            (None, None) => f.write_str("exited"),
        }
    }
}

/// A metric's whole-run summary, in the metric's unit, with the histogram it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Unit of every value below.
    pub unit: Unit,
    /// count, rate/s, mean, min, max and percentiles.
    #[serde(flatten)]
    pub summary: Summary,
    /// Histogram of `round(value * unit.scale())`.
    pub histogram: Histogram,
}

impl MetricSummary {
    /// The summary of `histogram` over `elapsed`, in `unit`.
    pub fn from_histogram(unit: Unit, histogram: Histogram, elapsed: core::time::Duration) -> Self {
        MetricSummary {
            unit,
            summary: Summary::from_histogram(&histogram, elapsed, unit.scale()),
            histogram,
        }
    }
}

/// Memory analysis of a run. The per-interval snapshots are the series columns
/// `proc_rss_bytes`, `proc_virt_bytes`, `sys_mem_pct` and `sys_mem_available_bytes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryAnalysis {
    /// The series the verdict was computed from (`proc_rss_bytes`).
    pub metric: String,
    /// The verdict and the numbers behind it.
    pub leak: crate::leak::LeakReport,
    /// The settings used.
    pub config: crate::leak::LeakConfig,
    /// The bounded analysis state, for resuming (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::leak::LeakState>,
}

/// One profiled scope: a row of the top-N table (like `print_stats(20)`), times in ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileRow {
    /// Scope (or `tracing` span) name.
    pub scope: String,
    /// Completed calls.
    pub calls: u64,
    /// Cumulative wall time, including nested scopes.
    pub total_ms: f64,
    /// Time not spent in nested scopes (equal to `total_ms` where nesting is unknown).
    pub self_ms: f64,
    /// Mean time per call.
    pub mean_ms: f64,
    /// Median time per call.
    pub p50_ms: f64,
    /// 99th percentile time per call.
    pub p99_ms: f64,
    /// Longest call.
    pub max_ms: f64,
    /// Bytes allocated inside the scope, when the counting allocator is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc_bytes: Option<u64>,
}

/// One state change of one rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Rule id.
    pub rule: String,
    /// New state.
    pub state: AlertState,
    /// Milliseconds since the start of the report.
    pub at_ms: u64,
    /// The aggregated value that caused the change.
    pub value: f64,
}

/// A rule that fired, what to do about it, and the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Rule id.
    pub rule: String,
    /// Severity of the rule.
    pub severity: Severity,
    /// `firing` if it still fired at the end of the run, else `resolved`.
    pub state: AlertState,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub advice: String,
    /// The measurements behind it.
    pub evidence: Evidence,
}

/// The measurements behind a recommendation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Metric name.
    pub metric: String,
    /// How it was aggregated over the window.
    pub aggregate: Aggregate,
    /// The aggregated value when the rule fired.
    pub observed: f64,
    /// The most extreme aggregated value while pending or firing.
    pub peak: f64,
    /// The rule's threshold.
    pub threshold: f64,
    /// The rule's window, seconds.
    pub window_s: f64,
    /// When the breach began, ms since the start of the report.
    pub since_ms: u64,
    /// When the rule fired, ms since the start of the report.
    pub fired_at_ms: u64,
    /// How many times it fired during the run.
    pub fired_count: u32,
}

/// Why a report could not be read.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ReportError {
    /// Not JSON, or cut short.
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// JSON, but not a perfopt v1 report.
    Schema {
        /// The `schema` found, if any.
        found: Option<String>,
    },
    /// A v1 report with a missing field or a value of the wrong type.
    Shape {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Well-formed, but inconsistent (for example series of unequal length).
    Invalid(String),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Syntax {
                line,
                column,
                message,
            } => {
                write!(
                    f,
                    "not valid JSON at line {line}, column {column}: {message}"
                )
            }
            ReportError::Schema { found: Some(s) } => write!(
                f,
                "schema is {s:?}, expected {SCHEMA:?} (not a perfopt v1 report)"
            ),
            ReportError::Schema { found: None } => {
                write!(
                    f,
                    "no \"schema\" field: not a perfopt report (expected {SCHEMA:?})"
                )
            }
            ReportError::Shape {
                line,
                column,
                message,
            } => {
                write!(f, "bad report at line {line}, column {column}: {message}")
            }
            ReportError::Invalid(msg) => write!(f, "inconsistent report: {msg}"),
        }
    }
}

/// Whether a syntax error at `line`:`column` (as serde_json counts: lines from 1, columns in
/// bytes) means the text was cut short: the error is at (or past) the last character that is
/// not white space, and that character can end a cut inside a number or a literal (`12.`,
/// `1e`, `tr`). An extra `}` or a trailing comma at the end is a syntax error, not a cut.
fn at_end(text: &str, line: usize, column: usize) -> bool {
    let trimmed = text.trim_end();
    let Some(&last) = trimmed.as_bytes().last() else {
        return false;
    };
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    line_start.saturating_add(column) >= trimmed.len()
        && (last.is_ascii_alphanumeric() || matches!(last, b'.' | b'+' | b'-'))
}

impl Report {
    /// Parses and validates a report.
    ///
    /// # Errors
    /// [`ReportError::Syntax`] for text that is not JSON (or is truncated),
    /// [`ReportError::Schema`] for JSON without the v1 schema id, [`ReportError::Shape`] for
    /// missing fields and wrong types, [`ReportError::Invalid`] for inconsistent data.
    ///
    /// # Example
    /// ```
    /// use perfopt_core::report::{Report, ReportError};
    /// let err = Report::from_json("{\"schema\": \"other/v9\"}").unwrap_err();
    /// assert!(matches!(err, ReportError::Schema { .. }));
    /// let err = Report::from_json("{\"schema\": ").unwrap_err();
    /// assert!(err.to_string().contains("line 1, column 11"));
    /// ```
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        let probe: Probe = serde_json::from_str(text).map_err(|e| {
            if e.is_data() {
                // Valid JSON, but not an object: no schema to be had.
                return ReportError::Schema { found: None };
            }
            // A file cut inside a number ("12.") is a syntax error at its very end: truncated too.
            let cut = at_end(text, e.line(), e.column()) && {
                let m = e.to_string();
                m.contains("invalid number") || m.contains("expected ident")
            };
            let message = if e.is_eof() || cut {
                String::from("unexpected end of input (is the file truncated?)")
            } else {
                strip_position(&e)
            };
            ReportError::Syntax {
                line: e.line(),
                column: e.column(),
                message,
            }
        })?;
        match probe.schema {
            Some(serde_json::Value::String(s)) if s == SCHEMA => {}
            Some(serde_json::Value::String(s)) => {
                return Err(ReportError::Schema { found: Some(s) });
            }
            Some(other) => {
                return Err(ReportError::Schema {
                    found: Some(other.to_string()),
                });
            }
            None => return Err(ReportError::Schema { found: None }),
        }
        let report: Report = serde_json::from_str(text).map_err(|e| ReportError::Shape {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e),
        })?;
        report.validate()?;
        Ok(report)
    }

    /// The report as compact JSON: what files, checkpoints and `/api/report` hold (a month
    /// of rollups pretty-printed is several times larger and slower to parse).
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys into a String cannot fail.
        serde_json::to_string(self).expect("report serializes")
    }

    /// The report as pretty-printed JSON, for people (`perfopt report show --format json`).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// Checks what the types cannot: every count and length within [`limits`], names in the
    /// Prometheus grammar, equal series lengths, increasing time, sane meta, valid rules.
    /// Every check is linear or n·log n in the size of the report.
    ///
    /// # Errors
    /// [`ReportError::Invalid`] naming the first inconsistency (and the limit, if one is
    /// exceeded).
    pub fn validate(&self) -> Result<(), ReportError> {
        let bad = |m: String| Err(ReportError::Invalid(m));
        if self.schema != SCHEMA {
            return Err(ReportError::Schema {
                found: Some(self.schema.clone()),
            });
        }
        self.check_limits().map_err(ReportError::Invalid)?;
        if self.meta.ended_at < self.meta.started_at {
            return bad(format!(
                "meta.ended_at ({}) is before meta.started_at ({})",
                self.meta.ended_at, self.meta.started_at
            ));
        }
        self.series.validate().map_err(ReportError::Invalid)?;
        for (i, r) in self.rollups.iter().enumerate() {
            r.validate(&format!("rollups[{i}]"))
                .map_err(ReportError::Invalid)?;
        }
        if let Some(state) = self.memory.as_ref().and_then(|m| m.state.as_ref()) {
            state
                .check()
                .map_err(|e| ReportError::Invalid(String::from(e)))?;
        }
        if let Some(r) = &self.retention {
            r.validate().map_err(ReportError::Invalid)?;
        }
        for (name, s) in &self.summaries {
            if s.summary.count != s.histogram.count() {
                return bad(format!(
                    "summaries.{name}: count {} differs from its histogram's {}",
                    s.summary.count,
                    s.histogram.count()
                ));
            }
        }
        crate::rules::RuleEngine::new(self.rules.clone())
            .map_err(|e| ReportError::Invalid(format!("rules: {e}")))?;
        Ok(())
    }

    /// Counts, lengths and names against [`limits`].
    fn check_limits(&self) -> Result<(), String> {
        use limits::*;
        let count = |what: &str, n: usize, max: usize| {
            if n > max {
                Err(format!(
                    "{what} has {n} entries, more than the limit of {max}"
                ))
            } else {
                Ok(())
            }
        };
        count("rules", self.rules.len(), MAX_RULES)?;
        count("alerts", self.alerts.len(), MAX_ALERTS)?;
        count(
            "recommendations",
            self.recommendations.len(),
            MAX_RECOMMENDATIONS,
        )?;
        count("summaries", self.summaries.len(), MAX_METRICS)?;
        count("components", self.components.len(), MAX_COMPONENTS)?;
        count("profile", self.profile.len(), MAX_PROFILE_ROWS)?;
        count("series.t_ms", self.series.len(), MAX_SAMPLES)?;
        let columns = self.series.metrics().count();
        count("series", columns, MAX_METRICS)?;
        let cells = self.series.len().saturating_mul(columns);
        if cells > MAX_SERIES_CELLS {
            return Err(format!(
                "series has {} samples x {columns} metrics = {cells} values, more than the \
                 limit of {MAX_SERIES_CELLS}",
                self.series.len()
            ));
        }
        let m = &self.meta;
        text("meta.tool_version", &m.tool_version, MAX_NAME_LEN)?;
        text("meta.host", &m.host, MAX_NAME_LEN)?;
        if let Some(c) = m.target.as_ref().and_then(|t| t.command.as_deref()) {
            text("meta.target.command", c, MAX_TEXT_LEN)?;
        }
        for name in self.series.metrics() {
            metric_name("series", name)?;
        }
        for name in self.summaries.keys() {
            metric_name("summaries", name)?;
        }
        for name in self.components.keys() {
            metric_name("components", name)?;
        }
        for (i, p) in self.profile.iter().enumerate() {
            text(&format!("profile[{i}].scope"), &p.scope, MAX_NAME_LEN)?;
        }
        for (i, r) in self.rules.iter().enumerate() {
            text(&format!("rules[{i}].id"), &r.id, MAX_NAME_LEN)?;
            metric_name(&format!("rules[{i}].metric"), &r.metric)?;
            text(&format!("rules[{i}].message"), &r.message, MAX_TEXT_LEN)?;
            text(&format!("rules[{i}].advice"), &r.advice, MAX_TEXT_LEN)?;
        }
        for (i, a) in self.alerts.iter().enumerate() {
            text(&format!("alerts[{i}].rule"), &a.rule, MAX_NAME_LEN)?;
        }
        for (i, r) in self.recommendations.iter().enumerate() {
            text(&format!("recommendations[{i}].rule"), &r.rule, MAX_NAME_LEN)?;
            metric_name(
                &format!("recommendations[{i}].evidence.metric"),
                &r.evidence.metric,
            )?;
            text(
                &format!("recommendations[{i}].message"),
                &r.message,
                MAX_TEXT_LEN,
            )?;
            text(
                &format!("recommendations[{i}].advice"),
                &r.advice,
                MAX_TEXT_LEN,
            )?;
        }
        if let Some(mem) = &self.memory {
            metric_name("memory.metric", &mem.metric)?;
        }
        Ok(())
    }

    /// The whole-run duration, from `meta`.
    pub fn duration(&self) -> core::time::Duration {
        core::time::Duration::from_millis(self.meta.ended_at.saturating_sub(self.meta.started_at))
    }

    /// A smaller copy to draw first while the whole report loads: `series` replaced by the
    /// per-step means of the finest rollup tier that reaches back to the first sample in at
    /// most `max_rows` rows (one sample per row, at the row's start), no rollups, everything
    /// else (summaries, rules, alerts, memory, …) as is. `None` when there is nothing
    /// smaller: the series has at most `max_rows` samples, or no tier qualifies.
    pub fn overview(&self, max_rows: usize) -> Option<Report> {
        let first = *self.series.t_ms().first()?;
        if self.series.len() <= max_rows {
            return None;
        }
        let tier = self
            .rollups
            .iter()
            .find(|r| r.len() <= max_rows && r.first_t_ms().is_some_and(|t| t <= first))?
            .rows();
        let columns = tier
            .metrics
            .iter()
            .filter(|(_, c)| c.mean.iter().any(Option::is_some))
            .map(|(name, c)| (name.clone(), c.mean.clone()))
            .collect();
        Some(Report {
            schema: self.schema.clone(),
            meta: self.meta.clone(),
            series: Series::from_parts(tier.t_ms.clone(), columns),
            rollups: Vec::new(),
            retention: self.retention.clone(),
            summaries: self.summaries.clone(),
            components: self.components.clone(),
            profile: self.profile.clone(),
            memory: self.memory.clone(),
            rules: self.rules.clone(),
            alerts: self.alerts.clone(),
            recommendations: self.recommendations.clone(),
        })
    }
}

/// Upper bounds on what a report may hold. [`Report::validate`] rejects a report past any of
/// them with an error naming the limit. They are far above what a run produces (a week of
/// one-second samples is 604,800 samples; the default rule set has 7 rules) and low enough that
/// every tool reading a report stays fast and small.
pub mod limits {
    /// Rules.
    pub const MAX_RULES: usize = 1_000;
    /// Alert state changes.
    pub const MAX_ALERTS: usize = 1_000_000;
    /// Recommendations (at most one per rule).
    pub const MAX_RECOMMENDATIONS: usize = MAX_RULES;
    /// Series metrics, and summaries.
    pub const MAX_METRICS: usize = 1_000;
    /// Samples (entries of `series.t_ms`).
    pub const MAX_SAMPLES: usize = 10_000_000;
    /// Samples times series metrics.
    pub const MAX_SERIES_CELLS: usize = 100_000_000;
    /// Components.
    pub const MAX_COMPONENTS: usize = 64;
    /// Profile rows.
    pub const MAX_PROFILE_ROWS: usize = 10_000;
    /// Bytes of a name (metric, rule id, scope, host).
    pub const MAX_NAME_LEN: usize = 256;
    /// Bytes of a text (message, advice, command line).
    pub const MAX_TEXT_LEN: usize = 16 * 1024;
}

fn text(what: &str, s: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        return Err(format!(
            "{what} is {} bytes long, more than the limit of {max}",
            s.len()
        ));
    }
    Ok(())
}

/// A metric name in the Prometheus grammar (without colons): `[a-zA-Z_][a-zA-Z0-9_]*`, at most
/// [`limits::MAX_NAME_LEN`] bytes.
pub fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= limits::MAX_NAME_LEN
}

fn metric_name(what: &str, name: &str) -> Result<(), String> {
    if is_metric_name(name) {
        return Ok(());
    }
    let shown: String = name.chars().take(40).collect();
    Err(format!(
        "{what}: {shown:?} is not a metric name (use a-z, A-Z, 0-9 and _, not starting with a \
         digit, at most {} bytes)",
        limits::MAX_NAME_LEN
    ))
}

/// The `schema` of a JSON object, reading nothing else into memory.
struct Probe {
    schema: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Probe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Probe, A::Error> {
                let mut schema = None;
                while let Some(key) = map.next_key::<alloc::borrow::Cow<'de, str>>()? {
                    if key == "schema" {
                        schema = Some(map.next_value()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Probe { schema })
            }
        }
        d.deserialize_map(V)
    }
}

/// serde_json appends " at line L column C" to its messages; we report those separately.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Metadata for a report built in a unit test: tool "t", host "h", no target, 1 s interval.
#[cfg(test)]
pub(crate) fn test_meta(started_at: u64) -> Meta {
    Meta {
        tool_version: "t".into(),
        host: "h".into(),
        target: None,
        started_at,
        ended_at: 0,
        interval_ms: 1000,
    }
}

#[cfg(test)]
mod tests;
