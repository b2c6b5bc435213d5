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
//!   (an array of rule objects, e.g. `report.data().rules` with edited thresholds);
//! - `formatValue(value, unit)` → the value as perfopt shows it (`"12.35 %"`);
//! - `metricInfo(name)` → `{name, unit, help}` or `undefined`;
//! - `allMetrics()` → `[{name, unit, help}, …]`, every metric perfopt knows, in display order;
//! - `defaultRules()` → the default rule set;
//! - `toolVersion()` → this crate's version.

use perfopt_core::report::metrics::{self, Unit};
use perfopt_core::report::{self, Report};
use perfopt_core::rules::{self, Rule};
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

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
        Report::from_json(text)
            .map(|inner| ParsedReport { inner })
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// The report as a plain JS object, the same as `JSON.parse` of its JSON text.
    ///
    /// It goes through JSON text on purpose: histogram sums and other integers beyond 2^53
    /// become (rounded) numbers, as `JSON.parse` makes them, instead of failing.
    ///
    /// # Errors
    /// Only if the browser's `JSON.parse` rejects core's JSON, which it never does.
    pub fn data(&self) -> Result<JsValue, JsError> {
        let text = serde_json::to_string(&self.inner).map_err(|e| JsError::new(&e.to_string()))?;
        js_sys::JSON::parse(&text).map_err(|_| JsError::new("JSON.parse rejected the report"))
    }

    /// The alert timeline and recommendations the report's series gives under `rules`.
    ///
    /// # Errors
    /// When `rules` is not an array of valid rules: the message names the rule and field.
    pub fn evaluate(&self, rules: JsValue) -> Result<JsValue, JsError> {
        let rules: Vec<Rule> = serde_wasm_bindgen::from_value(rules)
            .map_err(|e| JsError::new(&format!("rules: {e}")))?;
        let (alerts, recommendations) =
            report::evaluate(&self.inner.series, rules).map_err(|e| JsError::new(&e.to_string()))?;
        #[derive(Serialize)]
        struct Evaluation {
            alerts: Vec<report::AlertRecord>,
            recommendations: Vec<report::Recommendation>,
        }
        to_js(&Evaluation { alerts, recommendations })
    }
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

fn parse_unit(unit: &str) -> Option<Unit> {
    serde_json::from_value(serde_json::Value::String(unit.to_string())).ok()
}

/// `{name, unit, help}` of a known metric, or `undefined`.
#[wasm_bindgen(js_name = metricInfo)]
pub fn metric_info(name: &str) -> Result<JsValue, JsError> {
    match metrics::lookup(name) {
        Some(d) => to_js(&Info::from(d)),
        None => Ok(JsValue::UNDEFINED),
    }
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
        Info { name: d.name, unit: d.unit, help: d.help }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_by_their_json_names() {
        assert_eq!(parse_unit("percent"), Some(Unit::Percent));
        assert_eq!(parse_unit("bytes_per_sec"), Some(Unit::BytesPerSec));
        assert_eq!(parse_unit("furlongs"), None);
        assert_eq!(format_value(1.0, "furlongs"), "1.00");
        assert_eq!(format_value(50.0, "percent"), "50.00 %");
    }
}
