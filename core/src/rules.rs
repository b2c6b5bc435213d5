//! Alert rules as data, and the state machine that evaluates them.
//!
//! A [`Rule`] names a metric, how to aggregate it over a trailing window, a comparison with a
//! threshold, a *clear* threshold (hysteresis), how long the condition must hold before the
//! alert fires, a severity and advice. The [`RuleEngine`] keeps one [`AlertState`] per rule:
//!
//! ```text
//!            breach                 held for `for_ms`
//! Inactive ─────────▶ Pending ─────────────────────────▶ Firing
//!    ▲                  │ no breach                       │ value crosses the clear threshold
//!    └──────────────────┘                                 ▼
//!                     Resolved ◀──────────────────────────┘
//!     (a new breach from Resolved goes to Pending again, as from Inactive)
//! ```
//!
//! Hysteresis stops a value that hovers around the threshold from flapping a firing alert;
//! `for_ms` stops a single spike from firing one. Missing data (`None`) changes nothing.
//!
//! # Calling contract
//! [`RuleEngine::handle_tick`] mutates: it evaluates every rule at `now` against a
//! [`MetricSource`]. [`RuleEngine::poll_event`] drains the state changes it produced, oldest
//! first. Time must not go back between ticks; ticks may be irregular.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Instant;

/// How a rule compares the aggregated value with its thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Comparison {
    /// Breached when the value is strictly above the threshold; cleared when it falls below
    /// the clear threshold.
    Above,
    /// Breached when the value is strictly below the threshold; cleared when it rises above
    /// the clear threshold.
    Below,
}

/// How a metric's samples in the window become one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Aggregate {
    /// Arithmetic mean of the samples.
    Mean,
    /// Largest sample.
    Max,
    /// Smallest sample.
    Min,
    /// Most recent sample.
    Last,
}

/// How urgent a firing rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now; `perfopt report check` fails on it.
    Critical,
}

/// The state of one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertState {
    /// Not breached.
    Inactive,
    /// Breached, waiting for `for_ms` to pass.
    Pending,
    /// Breached for at least `for_ms`.
    Firing,
    /// Was firing, then cleared.
    Resolved,
}

/// One alert rule. Plain data: it serializes to and from JSON as written below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable snake_case id, such as `cpu`.
    pub id: String,
    /// Metric name, such as `sys_cpu_pct` (see [`crate::report::metrics`]).
    pub metric: String,
    /// How samples in the window are combined.
    pub aggregate: Aggregate,
    /// Trailing window, in milliseconds.
    pub window_ms: u64,
    /// Direction of the comparison.
    pub comparison: Comparison,
    /// Breach threshold, in the metric's unit.
    pub threshold: f64,
    /// Clear threshold: a firing alert resolves once the value is past it (on the safe side).
    pub clear_threshold: f64,
    /// How long the breach must hold before the alert fires, in milliseconds.
    pub for_ms: u64,
    /// How urgent it is.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it.
    pub advice: String,
}

/// Why a rule set was rejected.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RuleError {
    /// The id is empty or not snake_case.
    BadId(String),
    /// Two rules share an id.
    DuplicateId(String),
    /// A threshold is NaN or infinite.
    NotFinite(String),
    /// The clear threshold is on the breached side of the threshold, so the alert could never
    /// resolve.
    ClearOnWrongSide(String),
    /// The window is zero.
    ZeroWindow(String),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::BadId(id) => {
                write!(
                    f,
                    "rule id {id:?} must be non-empty snake_case (a-z, 0-9, _)"
                )
            }
            RuleError::DuplicateId(id) => write!(f, "rule id {id:?} appears twice"),
            RuleError::NotFinite(id) => {
                write!(
                    f,
                    "rule {id:?}: threshold and clear_threshold must be finite numbers"
                )
            }
            RuleError::ClearOnWrongSide(id) => write!(
                f,
                "rule {id:?}: clear_threshold must not be past threshold (<= threshold for \
                 \"above\", >= threshold for \"below\")"
            ),
            RuleError::ZeroWindow(id) => write!(f, "rule {id:?}: window_ms must be > 0"),
        }
    }
}

impl Rule {
    /// The trailing window as a [`Duration`].
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }

    fn validate(&self) -> Result<(), RuleError> {
        let id_ok = !self.id.is_empty()
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !id_ok {
            return Err(RuleError::BadId(self.id.clone()));
        }
        if !self.threshold.is_finite() || !self.clear_threshold.is_finite() {
            return Err(RuleError::NotFinite(self.id.clone()));
        }
        let wrong_side = match self.comparison {
            Comparison::Above => self.clear_threshold > self.threshold,
            Comparison::Below => self.clear_threshold < self.threshold,
        };
        if wrong_side {
            return Err(RuleError::ClearOnWrongSide(self.id.clone()));
        }
        if self.window_ms == 0 {
            return Err(RuleError::ZeroWindow(self.id.clone()));
        }
        Ok(())
    }

    fn breached(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Above => value > self.threshold,
            Comparison::Below => value < self.threshold,
        }
    }

    fn cleared(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Above => value < self.clear_threshold,
            Comparison::Below => value > self.clear_threshold,
        }
    }
}

/// The default rule set: the seed's four rules (mean response time > 1 s, CPU > 80 %,
/// memory > 85 %, cache hit rate < 70 %) plus error rate, p99 latency and memory leak (the
/// slope of the process's RSS floor from [`crate::leak`], MB/h).
pub fn default_rules() -> Vec<Rule> {
    #[allow(clippy::too_many_arguments)]
    fn rule(
        id: &str,
        metric: &str,
        aggregate: Aggregate,
        window_s: u64,
        comparison: Comparison,
        threshold: f64,
        clear_threshold: f64,
        for_s: u64,
        severity: Severity,
        message: &str,
        advice: &str,
    ) -> Rule {
        Rule {
            id: id.to_string(),
            metric: metric.to_string(),
            aggregate,
            window_ms: window_s * 1000,
            comparison,
            threshold,
            clear_threshold,
            for_ms: for_s * 1000,
            severity,
            message: message.to_string(),
            advice: advice.to_string(),
        }
    }
    use crate::report::metrics as m;
    use Aggregate::Mean;
    use Comparison::{Above, Below};
    use Severity::{Critical, Warning};
    [
        rule(
            "response_time",
            m::LATENCY_MEAN,
            Mean,
            10,
            Above,
            1000.0,
            800.0,
            5,
            Warning,
            "Mean response time is above 1 s.",
            "Move blocking work off the async executor, bound concurrency with a limiter, \
             and cache repeated lookups.",
        ),
        rule(
            "cpu",
            m::SYS_CPU,
            Mean,
            10,
            Above,
            80.0,
            70.0,
            5,
            Warning,
            "CPU usage is above 80 %.",
            "Profile the hottest scopes and optimise compute-heavy code paths, or add cores.",
        ),
        rule(
            "memory",
            m::SYS_MEM,
            Mean,
            10,
            Above,
            85.0,
            80.0,
            5,
            Critical,
            "Memory usage is above 85 %.",
            "Look for leaks (steady RSS growth), bound caches and pools, or add memory.",
        ),
        rule(
            "cache_hit_rate",
            m::CACHE_HIT_RATE,
            Mean,
            30,
            Below,
            70.0,
            75.0,
            10,
            Warning,
            "Cache hit rate is below 70 %.",
            "Grow the cache, lengthen TTLs of stable data, or check that keys are not \
             unique per request.",
        ),
        rule(
            "error_rate",
            m::ERROR_RATE,
            Mean,
            10,
            Above,
            5.0,
            2.0,
            5,
            Critical,
            "More than 5 % of requests fail.",
            "Check the error log and downstream dependencies; add timeouts and retries with \
             backoff.",
        ),
        rule(
            "p99_latency",
            m::LATENCY_P99,
            Mean,
            30,
            Above,
            2000.0,
            1500.0,
            10,
            Warning,
            "p99 latency is above 2 s.",
            "Find the slow tail: profile the slowest scopes, look for lock contention and \
             queueing; bound the wait queue.",
        ),
        rule(
            "memory_leak",
            m::MEM_LEAK,
            Aggregate::Last,
            300,
            Above,
            crate::leak::LeakConfig::DEFAULT_MIN_SLOPE_MB_PER_H,
            crate::leak::LeakConfig::DEFAULT_MIN_SLOPE_MB_PER_H / 2.0,
            0,
            Critical,
            "Resident memory keeps growing: a leak is suspected.",
            "Take heap profiles a few minutes apart and compare them; look for caches, maps \
             and queues without bounds, and for tasks or connections that are never dropped.",
        ),
    ]
    .into()
}

/// Where the engine reads aggregated metric values from.
pub trait MetricSource {
    /// The aggregate of `metric` over the window `(now - window, now]`, or `None` if there is
    /// no sample in it.
    fn aggregate(
        &self,
        metric: &str,
        aggregate: Aggregate,
        window: Duration,
        now: Instant,
    ) -> Option<f64>;
}

/// A state change of one rule.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    /// Index of the rule in the engine's rule list.
    pub rule: usize,
    /// The new state.
    pub state: AlertState,
    /// When the change happened.
    pub at: Instant,
    /// The aggregated value that caused it.
    pub value: f64,
}

/// What a rule that fired has shown: the basis of a recommendation.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Index of the rule in the engine's rule list.
    pub rule: usize,
    /// The rule's current state (`Firing` or `Resolved`).
    pub state: AlertState,
    /// The value when the rule fired.
    pub observed: f64,
    /// The most extreme value seen while pending or firing.
    pub peak: f64,
    /// When the breach that led to firing began.
    pub since: Instant,
    /// When it fired.
    pub fired_at: Instant,
    /// How many times the rule has fired.
    pub fired_count: u32,
}

#[derive(Clone, Debug)]
struct Slot {
    state: AlertState,
    breach_since: Instant,
    peak: f64,
    finding: Option<Finding>,
}

/// Evaluates a set of [`Rule`]s over time. See the [module docs](self) for the states.
///
/// # Example
/// ```
/// use perfopt_core::{Duration, Instant};
/// use perfopt_core::rules::{default_rules, AlertState, Aggregate, MetricSource, RuleEngine};
///
/// struct Cpu(f64);
/// impl MetricSource for Cpu {
///     fn aggregate(&self, metric: &str, _: Aggregate, _: Duration, _: Instant) -> Option<f64> {
///         (metric == "sys_cpu_pct").then_some(self.0)
///     }
/// }
///
/// let mut engine = RuleEngine::new(default_rules()).unwrap();
/// for s in 0..=5 {
///     engine.handle_tick(Instant::from_secs(s), &Cpu(95.0));
/// }
/// let cpu = engine.rules().iter().position(|r| r.id == "cpu").unwrap();
/// assert_eq!(engine.state(cpu), AlertState::Firing);
/// ```
#[derive(Clone, Debug)]
pub struct RuleEngine {
    rules: Vec<Rule>,
    slots: Vec<Slot>,
    events: VecDeque<AlertEvent>,
    last_tick: Option<Instant>,
}

impl RuleEngine {
    /// An engine for `rules`, all `Inactive`.
    ///
    /// # Errors
    /// A [`RuleError`] naming the first invalid rule.
    pub fn new(rules: Vec<Rule>) -> Result<RuleEngine, RuleError> {
        // A set of the ids seen: n log n, where comparing with every earlier rule took
        // 23 s for 100k rules.
        let mut seen = BTreeSet::new();
        for r in &rules {
            r.validate()?;
            if !seen.insert(r.id.as_str()) {
                return Err(RuleError::DuplicateId(r.id.clone()));
            }
        }
        let slots = rules
            .iter()
            .map(|_| Slot {
                state: AlertState::Inactive,
                breach_since: Instant::ZERO,
                peak: 0.0,
                finding: None,
            })
            .collect();
        Ok(RuleEngine {
            rules,
            slots,
            events: VecDeque::new(),
            last_tick: None,
        })
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The current state of rule `index`.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn state(&self, index: usize) -> AlertState {
        self.slots[index].state
    }

    /// Evaluates every rule at `now`. A `now` earlier than the previous tick is ignored.
    pub fn handle_tick(&mut self, now: Instant, source: &impl MetricSource) {
        if self.last_tick.is_some_and(|last| now < last) {
            return;
        }
        self.last_tick = Some(now);
        for (i, (rule, slot)) in self.rules.iter().zip(&mut self.slots).enumerate() {
            let Some(value) = source.aggregate(&rule.metric, rule.aggregate, rule.window(), now)
            else {
                continue;
            };
            if value.is_nan() {
                continue;
            }
            let mut emit = |state: AlertState| {
                self.events.push_back(AlertEvent {
                    rule: i,
                    state,
                    at: now,
                    value,
                })
            };
            let worse = |a: f64, b: f64| match rule.comparison {
                Comparison::Above => a.max(b),
                Comparison::Below => a.min(b),
            };
            match slot.state {
                AlertState::Inactive | AlertState::Resolved => {
                    if rule.breached(value) {
                        slot.breach_since = now;
                        slot.peak = value;
                        slot.state = AlertState::Pending;
                        emit(AlertState::Pending);
                    }
                }
                AlertState::Pending => {
                    if !rule.breached(value) {
                        slot.state = AlertState::Inactive;
                        emit(AlertState::Inactive);
                    } else {
                        slot.peak = worse(slot.peak, value);
                    }
                }
                AlertState::Firing => {
                    if rule.cleared(value) {
                        slot.state = AlertState::Resolved;
                        if let Some(f) = &mut slot.finding {
                            f.state = AlertState::Resolved;
                        }
                        emit(AlertState::Resolved);
                    } else {
                        slot.peak = worse(slot.peak, value);
                        if let Some(f) = &mut slot.finding {
                            f.peak = worse(f.peak, value);
                        }
                    }
                }
            }
            // Fire in the same tick as the breach when `for_ms` is zero.
            if slot.state == AlertState::Pending
                && now.saturating_duration_since(slot.breach_since)
                    >= Duration::from_millis(rule.for_ms)
            {
                slot.state = AlertState::Firing;
                let fired_count = slot.finding.as_ref().map_or(0, |f| f.fired_count) + 1;
                let peak = slot
                    .finding
                    .as_ref()
                    .map_or(slot.peak, |f| worse(f.peak, slot.peak));
                slot.finding = Some(Finding {
                    rule: i,
                    state: AlertState::Firing,
                    observed: value,
                    peak,
                    since: slot.breach_since,
                    fired_at: now,
                    fired_count,
                });
                emit(AlertState::Firing);
            }
        }
    }

    /// The next state change, oldest first.
    pub fn poll_event(&mut self) -> Option<AlertEvent> {
        self.events.pop_front()
    }

    /// Every rule that has fired at least once, with its latest firing.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> + '_ {
        self.slots.iter().filter_map(|s| s.finding.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    struct Const(f64);
    impl MetricSource for Const {
        fn aggregate(&self, _: &str, _: Aggregate, _: Duration, _: Instant) -> Option<f64> {
            Some(self.0)
        }
    }

    fn one_rule(for_s: u64) -> RuleEngine {
        let mut r = default_rules().remove(1); // cpu: > 80, clear < 70
        r.for_ms = for_s * 1000;
        RuleEngine::new(vec![r]).unwrap()
    }

    fn drain(e: &mut RuleEngine) -> Vec<(u64, AlertState)> {
        core::iter::from_fn(|| e.poll_event())
            .map(|ev| (ev.at.as_millis() / 1000, ev.state))
            .collect()
    }

    #[test]
    fn for_duration_is_honoured() {
        let mut e = one_rule(5);
        for s in 0..5 {
            e.handle_tick(Instant::from_secs(s), &Const(90.0));
            assert_ne!(e.state(0), AlertState::Firing, "fired early at {s}s");
        }
        e.handle_tick(Instant::from_secs(5), &Const(90.0));
        assert_eq!(e.state(0), AlertState::Firing);
        assert_eq!(
            drain(&mut e),
            vec![(0, AlertState::Pending), (5, AlertState::Firing)]
        );
        let f = e.findings().next().unwrap();
        assert_eq!(
            (f.since, f.fired_at),
            (Instant::ZERO, Instant::from_secs(5))
        );
    }

    #[test]
    fn a_dip_while_pending_restarts_the_clock() {
        let mut e = one_rule(5);
        let values = [90.0, 90.0, 90.0, 79.0, 90.0, 90.0, 90.0, 90.0, 90.0, 90.0];
        for (s, v) in values.iter().enumerate() {
            e.handle_tick(Instant::from_secs(s as u64), &Const(*v));
        }
        // Breach restarted at 4 s, so it fires at 9 s, not at 5 s.
        assert_eq!(
            drain(&mut e),
            vec![
                (0, AlertState::Pending),
                (3, AlertState::Inactive),
                (4, AlertState::Pending),
                (9, AlertState::Firing)
            ]
        );
    }

    #[test]
    fn flapping_around_the_threshold_does_not_flap_the_alert() {
        let mut e = one_rule(0);
        for s in 0..100u64 {
            let v = if s % 2 == 0 { 81.0 } else { 75.0 };
            e.handle_tick(Instant::from_secs(s), &Const(v));
        }
        assert_eq!(
            drain(&mut e),
            vec![(0, AlertState::Pending), (0, AlertState::Firing)]
        );
        e.handle_tick(Instant::from_secs(100), &Const(69.0));
        assert_eq!(drain(&mut e), vec![(100, AlertState::Resolved)]);
        e.handle_tick(Instant::from_secs(101), &Const(85.0));
        assert_eq!(e.state(0), AlertState::Firing);
        assert_eq!(e.findings().next().unwrap().fired_count, 2);
        assert_eq!(e.findings().next().unwrap().peak, 85.0);
    }

    #[test]
    fn missing_data_and_time_going_back_change_nothing() {
        struct Nothing;
        impl MetricSource for Nothing {
            fn aggregate(&self, _: &str, _: Aggregate, _: Duration, _: Instant) -> Option<f64> {
                None
            }
        }
        let mut e = one_rule(0);
        e.handle_tick(Instant::from_secs(10), &Const(90.0));
        e.handle_tick(Instant::from_secs(11), &Nothing);
        e.handle_tick(Instant::from_secs(5), &Const(0.0));
        assert_eq!(e.state(0), AlertState::Firing);
    }

    #[test]
    fn bad_rules_are_rejected() {
        let base = default_rules().remove(1);
        type Case = (fn(&mut Rule), &'static str);
        let cases: [Case; 4] = [
            (|r| r.id = "CPU!".into(), "snake_case"),
            (|r| r.threshold = f64::NAN, "finite"),
            (|r| r.clear_threshold = 90.0, "clear_threshold"),
            (|r| r.window_ms = 0, "window_ms"),
        ];
        for (mutate, needle) in cases {
            let mut r = base.clone();
            mutate(&mut r);
            let err = RuleEngine::new(vec![r]).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        let dup = RuleEngine::new(vec![base.clone(), base]).unwrap_err();
        assert_eq!(dup, RuleError::DuplicateId("cpu".into()));
    }

    #[test]
    fn duplicate_check_is_not_quadratic() {
        // 200k distinct rules: with a pairwise check this takes minutes (2e10 comparisons).
        let base = default_rules().remove(1);
        let many: Vec<Rule> = (0..200_000)
            .map(|i| Rule {
                id: alloc::format!("r{i}"),
                ..base.clone()
            })
            .collect();
        let mut dup = many.clone();
        dup.push(Rule {
            id: "r123456".into(),
            ..base
        });
        assert_eq!(RuleEngine::new(many).unwrap().rules().len(), 200_000);
        assert_eq!(
            RuleEngine::new(dup).unwrap_err(),
            RuleError::DuplicateId("r123456".into())
        );
    }

    #[test]
    fn default_rules_are_valid_and_cover_the_seed() {
        let e = RuleEngine::new(default_rules()).unwrap();
        let ids: Vec<&str> = e.rules().iter().map(|r| r.id.as_str()).collect();
        for id in [
            "response_time",
            "cpu",
            "memory",
            "cache_hit_rate",
            "error_rate",
            "p99_latency",
        ] {
            assert!(ids.contains(&id), "{id} missing");
        }
    }
}
