//! perfopt-web: the wasm-bindgen face of `perfopt-core` for the report viewer.
//!
//! It only wraps: parsing and validation, rule evaluation and value formatting are core's, so
//! the browser shows exactly what the terminal (`perfopt report show`) shows. It does not
//! fetch, draw or touch the DOM — `www/app.js` does that.
//!
//! JS API (names as exported):
//! - `ParsedReport.parse(text)` → a parsed, validated report, or throws an `Error` whose
//!   message says what is wrong and where (line and column for JSON errors);
//! - `report.data()` → the report as a plain JS object (the JSON model, exactly as
//!   `JSON.parse` would give it);
//! - `report.evaluate(rules)` → `{alerts, recommendations}` re-evaluated with `rules`
//!   (an array of rule objects, e.g. `report.data().rules` with edited thresholds); throws
//!   an `Error` naming the rule and field when a rule is malformed or invalid;
//! - `report.spanSummaries(fromMs, toMs)` → `{metric: summary}` of the series samples with
//!   `fromMs <= t_ms <= toMs` (core's `span_summaries`: what the cards show after a zoom);
//! - `report.applyDelta(text)` → appends one `/api/events` delta (core's `delta::apply`);
//!   throws when the report on screen is not where the delta starts (reload then);
//! - `report.cursor()` → the report's position for `/api/events?from=`;
//! - `report.summaries()` → the report's summaries (after deltas: the live ones);
//! - `mergeReports(texts, names)` → a `ParsedReport` of the fleet (core's `merge`), or
//!   throws an `Error` naming the file that cannot be merged;
//! - `compareReports(before, after)` → core's `Comparison` (every summary figure in both,
//!   the difference, and the rules fired in only one);
//! - `formatValue(value, unit)` → the value as perfopt shows it (`"12.35 %"`);
//! - `metricInfo(name)` → `{name, unit, help}` or `undefined`;
//! - `allMetrics()` → `[{name, unit, help}, …]`, every metric perfopt knows, in display order;
//! - `defaultRules()` → the default rule set;
//! - `toolVersion()` → this crate's version;
//! - `new WasmCache(capacity, l1, ttlMs)` → core's two-tier TTL cache (see [`WasmCache`]).
//!
//! Values cross the boundary as JSON text (`serde_json` on this side, the browser's `JSON`
//! on the other): plain objects come out exactly as `JSON.parse` of a report file gives them,
//! integers beyond 2^53 (histogram sums) become numbers instead of errors, and serde_json's
//! code is shared with parsing, which keeps the module small.
//!
//! The wasm tests in `tests/web.rs` run in headless Chromium:
//! `cargo test -p perfopt-web --target wasm32-unknown-unknown --tests`.

mod cache;
mod clock;

pub use cache::WasmCache;

use perfopt_core::report::metrics::{self, Unit};
use perfopt_core::report::{self, Report};
use perfopt_core::rules::{self, Rule};
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// A report parsed and validated by perfopt-core.
#[wasm_bindgen]
pub struct ParsedReport {
    inner: Report,
}

#[wasm_bindgen]
impl ParsedReport {
    /// Parses and validates report JSON.
    ///
    /// # Errors
    /// An `Error` with core's one-line description (with line and column for JSON errors).
    pub fn parse(text: &str) -> Result<ParsedReport, JsError> {
        // One pass for a good report (a day at 1 s is ~25 MB): read it whole, then validate;
        // only a report that does not read goes through `from_json` again for its precise
        // error (schema first, then line and column).
        match serde_json::from_str::<Report>(text) {
            Ok(inner) => {
                inner.validate().map_err(|e| JsError::new(&e.to_string()))?;
                Ok(ParsedReport { inner })
            }
            Err(_) => Err(JsError::new(&match Report::from_json(text) {
                Err(e) => e.to_string(),
                Ok(_) => String::from("the report could not be read"),
            })),
        }
    }

    /// The report as a plain JS object, the same as `JSON.parse` of its JSON text.
    ///
    /// # Errors
    /// Only if the browser's `JSON.parse` rejects core's JSON, which it never does.
    pub fn data(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner)
    }

    /// The alert timeline and recommendations the report's series gives under `rules`.
    ///
    /// # Errors
    /// When `rules` is not an array of valid rules: the message names the rule (index and
    /// id) and what is wrong with it.
    pub fn evaluate(&self, rules: JsValue) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Evaluation {
            alerts: Vec<report::AlertRecord>,
            recommendations: Vec<report::Recommendation>,
        }
        let rules = rules_from_js(&rules)?;
        let (alerts, recommendations) = report::evaluate(&self.inner.series, rules)
            .map_err(|e| JsError::new(&e.to_string()))?;
        to_js(&Evaluation {
            alerts,
            recommendations,
        })
    }
}

#[wasm_bindgen]
impl ParsedReport {
    /// Summaries of the series samples with `from_ms <= t_ms <= to_ms`.
    ///
    /// # Errors
    /// Never in practice: summaries are plain data.
    #[wasm_bindgen(js_name = spanSummaries)]
    pub fn span_summaries(&self, from_ms: f64, to_ms: f64) -> Result<JsValue, JsError> {
        let ms = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v as u64
            } else {
                0
            }
        };
        to_js(&report::span::span_summaries(
            &self.inner.series,
            ms(from_ms),
            ms(to_ms),
        ))
    }

    /// The report's summaries now.
    ///
    /// # Errors
    /// Never in practice: summaries are plain data.
    pub fn summaries(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.summaries)
    }

    /// Appends a live delta (the JSON of one `/api/events` event).
    ///
    /// # Errors
    /// When the text is not a delta, or the report is not where the delta starts.
    #[wasm_bindgen(js_name = applyDelta)]
    pub fn apply_delta(&mut self, text: &str) -> Result<(), JsError> {
        let delta: report::delta::Delta =
            serde_json::from_str(text).map_err(|e| JsError::new(&format!("bad update: {e}")))?;
        report::delta::apply(&mut self.inner, &delta).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The report's position, as `/api/events?from=` takes it.
    pub fn cursor(&self) -> String {
        report::delta::Cursor::of(&self.inner).to_id()
    }
}

/// Merges reports (JSON texts, with names for error messages) into one fleet report.
///
/// # Errors
/// An `Error` naming the file that does not parse or cannot be merged.
#[wasm_bindgen(js_name = mergeReports)]
pub fn merge_reports(texts: Vec<String>, names: Vec<String>) -> Result<ParsedReport, JsError> {
    if names.len() != texts.len() {
        return Err(JsError::new("mergeReports: give one name per report"));
    }
    let mut reports = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let name = names.get(i).map_or("?", String::as_str);
        reports.push(Report::from_json(text).map_err(|e| JsError::new(&format!("{name}: {e}")))?);
    }
    let named = names.iter().map(String::as_str).zip(reports.iter());
    report::merge::merge(named)
        .map(|inner| ParsedReport { inner })
        .map_err(|e| JsError::new(&e.to_string()))
}

/// Compares two reports: every summary figure in both, and the rules fired in only one.
///
/// # Errors
/// Never in practice: the comparison is plain data.
#[wasm_bindgen(js_name = compareReports)]
pub fn compare_reports(before: &ParsedReport, after: &ParsedReport) -> Result<JsValue, JsError> {
    to_js(&report::compare::compare(&before.inner, &after.inner))
}

/// Shows `value` in `unit` (a unit name from the report, such as `"percent"`) as perfopt
/// does everywhere. An unknown unit shows the bare number.
#[wasm_bindgen(js_name = formatValue)]
pub fn format_value(value: f64, unit: &str) -> String {
    match parse_unit(unit) {
        Some(u) => metrics::format_value(value, u),
        None => metrics::format_value(value, Unit::Count),
    }
}

/// `{name, unit, help}` of a known metric, or `undefined`.
///
/// # Errors
/// Never in practice: the definitions are plain data.
#[wasm_bindgen(js_name = metricInfo)]
pub fn metric_info(name: &str) -> Result<JsValue, JsError> {
    match metrics::lookup(name) {
        Some(d) => to_js(&Info::from(d)),
        None => Ok(JsValue::UNDEFINED),
    }
}

/// `[{name, unit, help}, …]`: every metric perfopt knows, in display order.
///
/// # Errors
/// Never in practice: the definitions are plain data.
#[wasm_bindgen(js_name = allMetrics)]
pub fn all_metrics() -> Result<JsValue, JsError> {
    let all: Vec<Info> = metrics::ALL.iter().map(Info::from).collect();
    to_js(&all)
}

/// The default rule set, as plain objects.
///
/// # Errors
/// Never in practice: the rules are plain data.
#[wasm_bindgen(js_name = defaultRules)]
pub fn default_rules() -> Result<JsValue, JsError> {
    to_js(&rules::default_rules())
}

/// The version of perfopt this viewer was built from.
#[wasm_bindgen(js_name = toolVersion)]
pub fn tool_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A metric definition as JS sees it.
#[derive(Serialize)]
struct Info {
    name: &'static str,
    unit: Unit,
    help: &'static str,
}

impl From<&metrics::MetricDef> for Info {
    fn from(d: &metrics::MetricDef) -> Self {
        Info {
            name: d.name,
            unit: d.unit,
            help: d.help,
        }
    }
}

/// `value` as a plain JS object, through JSON text.
fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|_| JsError::new("JSON.parse rejected perfopt's JSON"))
}

/// Reads an array of rule objects, one rule at a time so an error can name the rule.
fn rules_from_js(rules: &JsValue) -> Result<Vec<Rule>, JsError> {
    let array = rules
        .dyn_ref::<js_sys::Array>()
        .ok_or_else(|| JsError::new("rules: expected an array of rule objects"))?;
    array
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let id = js_sys::Reflect::get(&value, &JsValue::from_str("id"))
                .ok()
                .and_then(|id| id.as_string());
            let text = js_sys::JSON::stringify(&value)
                .ok()
                .and_then(|s| s.as_string());
            parse_rule(i, id.as_deref(), text.as_deref()).map_err(|msg| JsError::new(&msg))
        })
        .collect()
}

/// Parses rule number `index` from its JSON text (`None`: not representable as JSON).
fn parse_rule(index: usize, id: Option<&str>, text: Option<&str>) -> Result<Rule, String> {
    let name = match id {
        Some(id) => format!("rules[{index}] ({id:?})"),
        None => format!("rules[{index}]"),
    };
    let text = text.ok_or_else(|| format!("{name}: expected a rule object"))?;
    serde_json::from_str(text).map_err(|e| {
        // serde_json appends " at line L column C" of our own one-line text: not useful.
        let msg = e.to_string();
        let msg = msg.rfind(" at line ").map_or(msg.as_str(), |at| &msg[..at]);
        format!("{name}: {msg}")
    })
}

fn parse_unit(unit: &str) -> Option<Unit> {
    serde_json::from_value(serde_json::Value::String(unit.to_string())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_by_their_json_names() {
        assert_eq!(parse_unit("percent"), Some(Unit::Percent));
        assert_eq!(parse_unit("bytes_per_sec"), Some(Unit::BytesPerSec));
        assert_eq!(parse_unit("furlongs"), None);
        // An unknown unit formats as a count: whole counts without decimals.
        assert_eq!(format_value(1.0, "furlongs"), "1");
        assert_eq!(format_value(1.5, "furlongs"), "1.50");
        assert_eq!(format_value(50.0, "percent"), "50.00 %");
    }

    #[test]
    fn rule_errors_name_the_rule_and_the_field() {
        let good = serde_json::to_string(&rules::default_rules()[1]).unwrap();
        assert_eq!(parse_rule(0, Some("cpu"), Some(&good)).unwrap().id, "cpu");
        let bad = good.replace("\"threshold\":80.0", "\"threshold\":\"high\"");
        let err = parse_rule(3, Some("cpu"), Some(&bad)).unwrap_err();
        assert!(
            err.starts_with("rules[3] (\"cpu\"): invalid type: string \"high\""),
            "{err}"
        );
        assert!(!err.contains("line"), "{err}");
        let err = parse_rule(1, None, Some("{\"id\":\"x\"}")).unwrap_err();
        assert!(err.starts_with("rules[1]: missing field"), "{err}");
        let err = parse_rule(2, None, None).unwrap_err();
        assert_eq!(err, "rules[2]: expected a rule object");
    }
}
