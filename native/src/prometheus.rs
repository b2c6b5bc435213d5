//! The Prometheus text exposition format (version 0.0.4) of a report.
//!
//! Conventions (<https://prometheus.io/docs/practices/naming/>):
//! - every name matches `[a-zA-Z_:][a-zA-Z0-9_:]*`; names taken from the report (unknown
//!   series metrics, unknown component fields) are sanitised, and two sources that sanitise
//!   to the same name get distinct names (`_2`, `_3`, … in sorted order), so a scrape never
//!   holds two `# TYPE` lines of one family;
//! - label values and HELP texts are escaped (`\\`, `\"`, `\n`), so no report content can
//!   forge a line;
//! - base units: seconds (not ms), bytes, ratios 0–1 (not percent);
//! - monotonic totals are `counter`s named `…_total`; the whole-run request latency is a
//!   `summary` with `quantile` labels, `_sum` and `_count`; windowed component latencies are
//!   summaries with quantiles only (their counts are not monotonic);
//! - one hit-ratio gauge family per cache, labelled by window: `perfopt_cache_hit_ratio{
//!   window="last_interval"}` (the series) and `{window="run"}` (since the start);
//! - a component's figures carry its name as the `name` label, so two caches (or pools) of
//!   one service are two label sets of one family; cache tiers add `tier`.
//!
//! Every family has a HELP text that names its unit.

use std::collections::BTreeMap;
use std::fmt::Write;

use perfopt_core::report::{Report, metrics};
use perfopt_core::rules::AlertState;

/// The Content-Type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    Summary,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Summary => "summary",
        }
    }
}

struct Family {
    kind: Kind,
    help: String,
    /// Which report item owns the name (to tell a collision from a second label set).
    owner: String,
    /// `(suffix, labels, value)`: suffix is "" or `_sum` / `_count` for summaries.
    samples: Vec<(&'static str, Labels, f64)>,
}

/// The families of one exposition, with collision-free names.
#[derive(Default)]
struct Registry {
    families: BTreeMap<String, Family>,
}

impl Registry {
    /// The family for `wanted` (already valid or sanitised here) owned by `owner`. A name
    /// taken by another owner, or clashing with a summary's `_sum`/`_count`, gets `_2`, `_3`, ….
    fn family(&mut self, wanted: &str, owner: &str, kind: Kind, help: &str) -> &mut Family {
        let base = sanitize(wanted);
        let mut name = base.clone();
        let mut n = 1;
        loop {
            match self.families.get(&name) {
                Some(f) if f.owner == owner && f.kind == kind => break,
                None if !self.clashes(&name, kind) => break,
                _ => {
                    n += 1;
                    name = format!("{base}_{n}");
                }
            }
        }
        self.families.entry(name).or_insert_with(|| Family {
            kind,
            help: help.to_string(),
            owner: owner.to_string(),
            samples: Vec::new(),
        })
    }

    /// Whether a new family `name` of `kind` would emit a sample name another family emits.
    fn clashes(&self, name: &str, kind: Kind) -> bool {
        let mine: Vec<String> = match kind {
            Kind::Summary => vec![
                name.to_string(),
                format!("{name}_sum"),
                format!("{name}_count"),
            ],
            _ => vec![name.to_string()],
        };
        self.families.iter().any(|(other, f)| {
            let theirs: Vec<String> = match f.kind {
                Kind::Summary => vec![
                    other.clone(),
                    format!("{other}_sum"),
                    format!("{other}_count"),
                ],
                _ => vec![other.clone()],
            };
            theirs.iter().any(|t| mine.contains(t))
        })
    }

    fn gauge(&mut self, name: &str, owner: &str, help: &str, labels: Labels, v: f64) {
        self.family(name, owner, Kind::Gauge, help)
            .samples
            .push(("", labels, v));
    }

    fn counter(&mut self, name: &str, owner: &str, help: &str, labels: Labels, v: f64) {
        self.family(name, owner, Kind::Counter, help)
            .samples
            .push(("", labels, v));
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (name, f) in &self.families {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {name} {}", f.kind.name());
            for (suffix, labels, v) in &f.samples {
                out.push_str(name);
                out.push_str(suffix);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", number(*v));
            }
        }
        out
    }
}

type Labels = Vec<(&'static str, String)>;

/// How a known series metric is exposed: name, factor to the base unit, HELP.
const SERIES: &[(&str, &str, f64, &str)] = &[
    (
        metrics::SYS_CPU,
        "perfopt_system_cpu_usage_ratio",
        0.01,
        "System CPU usage in the last interval, ratio of all cores (0-1)",
    ),
    (
        metrics::SYS_MEM,
        "perfopt_system_memory_usage_ratio",
        0.01,
        "System memory in use, ratio of total (0-1)",
    ),
    (
        metrics::SYS_MEM_AVAILABLE,
        "perfopt_system_memory_available_bytes",
        1.0,
        "System memory available to new processes, bytes",
    ),
    (
        metrics::SYS_LOAD1,
        "perfopt_system_load1",
        1.0,
        "One-minute load average (runnable tasks)",
    ),
    (
        metrics::NET_RX,
        "perfopt_network_receive_bytes_per_second",
        1.0,
        "Network receive rate over all interfaces in the last interval, bytes per second",
    ),
    (
        metrics::NET_TX,
        "perfopt_network_transmit_bytes_per_second",
        1.0,
        "Network transmit rate over all interfaces in the last interval, bytes per second",
    ),
    (
        metrics::DISK_READ,
        "perfopt_disk_read_bytes_per_second",
        1.0,
        "Disk read rate of all processes in the last interval, bytes per second",
    ),
    (
        metrics::DISK_WRITE,
        "perfopt_disk_write_bytes_per_second",
        1.0,
        "Disk write rate of all processes in the last interval, bytes per second",
    ),
    (
        metrics::PROC_CPU,
        "perfopt_process_cpu_usage_ratio",
        0.01,
        "Target process CPU usage in the last interval, ratio of one core (can exceed 1)",
    ),
    (
        metrics::PROC_RSS,
        "perfopt_process_resident_memory_bytes",
        1.0,
        "Target process resident set size, bytes",
    ),
    (
        metrics::PROC_VIRT,
        "perfopt_process_virtual_memory_bytes",
        1.0,
        "Target process virtual memory size, bytes",
    ),
    (
        metrics::PROC_THREADS,
        "perfopt_process_threads",
        1.0,
        "Target process threads",
    ),
    (
        metrics::THROUGHPUT,
        "perfopt_requests_per_second",
        1.0,
        "Requests completed per second in the last interval",
    ),
    (
        metrics::LATENCY_MEAN,
        "perfopt_interval_request_latency_mean_seconds",
        0.001,
        "Mean request latency in the last interval, seconds",
    ),
    (
        metrics::LATENCY_P99,
        "perfopt_interval_request_latency_p99_seconds",
        0.001,
        "99th percentile request latency in the last interval, seconds",
    ),
    (
        metrics::ERROR_RATE,
        "perfopt_interval_request_error_ratio",
        0.01,
        "Failed requests in the last interval, ratio of requests (0-1)",
    ),
    (
        metrics::MEM_LEAK,
        "perfopt_process_memory_growth_bytes_per_second",
        1e6 / 3600.0,
        "Growth of the target's RSS floor while a leak is suspected (0 when not), bytes per second",
    ),
];

/// Series of component figures that `/metrics` exposes from the components themselves
/// (as counters, gauges and summaries), so not twice.
const EXPOSED_BY_COMPONENTS: &[&str] = &[
    metrics::CACHE_EVICTIONS,
    metrics::CACHE_ENTRIES,
    metrics::POOL_IN_USE,
    metrics::POOL_IDLE,
    metrics::POOL_WAITING,
    metrics::POOL_WAIT_P99,
    metrics::LIMITER_IN_FLIGHT,
    metrics::LIMITER_QUEUED,
    metrics::LIMITER_LIMIT,
    metrics::LIMITER_REJECTED,
];

/// Renders the report: the latest value of every series metric as a gauge in base units,
/// the whole-run request latency as a summary, every component's figures, each rule's state
/// as `perfopt_alert_firing{rule,severity}` and `perfopt_info{version,host}`.
pub fn render(report: &Report) -> String {
    registry(report).render()
}

/// The kind of an [`ExportedSample`], as in the Prometheus text format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonic total (its name ends in `_total`).
    Counter,
    /// One line of a summary: a `quantile`-labelled value, or its `_sum` / `_count`.
    Summary,
}

/// One sample of the `/metrics` exposition, for other exporters (the `metrics`-crate bridge,
/// `perfopt::metrics_bridge`, feature `metrics`): the same names, labels and values as [`render`] writes.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportedSample {
    /// The sample's full name (with `_sum` / `_count` for a summary's parts).
    pub name: String,
    /// Its family's kind.
    pub kind: ExportKind,
    /// Its family's HELP text.
    pub help: String,
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// The value, in base units.
    pub value: f64,
}

/// Every sample [`render`] would write, as data.
pub fn samples(report: &Report) -> Vec<ExportedSample> {
    let reg = registry(report);
    let mut out = Vec::new();
    for (name, f) in &reg.families {
        let kind = match f.kind {
            Kind::Gauge => ExportKind::Gauge,
            Kind::Counter => ExportKind::Counter,
            Kind::Summary => ExportKind::Summary,
        };
        for (suffix, labels, v) in &f.samples {
            out.push(ExportedSample {
                name: format!("{name}{suffix}"),
                kind,
                help: f.help.clone(),
                labels: labels.clone(),
                value: *v,
            });
        }
    }
    out
}

fn registry(report: &Report) -> Registry {
    let mut reg = Registry::default();
    // Names made from report content are registered last, so perfopt's own names never
    // move to make room for them.
    let mut later: Vec<Later> = Vec::new();
    reg.gauge(
        "perfopt_info",
        "info",
        "perfopt build and host; always 1",
        vec![
            ("version", report.meta.tool_version.clone()),
            ("host", report.meta.host.clone()),
        ],
        1.0,
    );
    for name in report.series.metrics() {
        let Some(last) = report
            .series
            .column(name)
            .and_then(|col| col.iter().rev().flatten().next().copied())
        else {
            continue;
        };
        let owner = format!("series:{name}");
        if EXPOSED_BY_COMPONENTS.contains(&name) {
            continue;
        }
        if let Some(tier) = match name {
            metrics::CACHE_L1_HIT_RATE => Some("l1"),
            metrics::CACHE_L2_HIT_RATE => Some("l2"),
            _ => None,
        } {
            reg.gauge(
                "perfopt_cache_tier_hit_ratio",
                "cache_tier_hit_ratio",
                "Cache hits of one tier, ratio of the lookups that tier saw (0-1), in the last interval",
                vec![("tier", tier.into()), ("window", "last_interval".into())],
                last / 100.0,
            );
        } else if name == metrics::CACHE_HIT_RATE {
            reg.gauge(
                "perfopt_cache_hit_ratio",
                "cache_hit_ratio",
                "Cache hits, ratio of lookups (0-1), per window: last_interval (the report series) or run (since the start)",
                vec![("window", "last_interval".into())],
                last / 100.0,
            );
        } else if let Some(&(_, prom, factor, help)) = SERIES.iter().find(|s| s.0 == name) {
            reg.gauge(prom, &owner, help, Vec::new(), last * factor);
        } else {
            let unit = metrics::lookup(name).map_or("", |d| d.unit.label());
            let unit = if unit.is_empty() { "none" } else { unit };
            let help = format!("perfopt series metric {name} (unit: {unit})");
            later.push((format!("perfopt_{name}"), owner, help, Vec::new(), last));
        }
    }
    if let Some(s) = report.summaries.get(metrics::LATENCY) {
        let f = reg.family(
            "perfopt_request_latency_seconds",
            "latency",
            Kind::Summary,
            "Request latency over the whole run, seconds",
        );
        let q = &s.summary;
        for (quantile, v) in [
            ("0.5", q.p50),
            ("0.9", q.p90),
            ("0.95", q.p95),
            ("0.99", q.p99),
            ("0.999", q.p999),
        ] {
            f.samples
                .push(("", vec![("quantile", quantile.to_string())], v / 1000.0));
        }
        // The histogram holds microseconds.
        let sum = s.histogram.sum() as f64 / 1e6;
        f.samples.push(("_sum", Vec::new(), sum));
        f.samples.push(("_count", Vec::new(), q.count as f64));
    }
    for (component, stats) in &report.components {
        components::render(&mut reg, &mut later, component, stats);
    }
    for rule in &report.rules {
        let state = report
            .alerts
            .iter()
            .rev()
            .find(|a| a.rule == rule.id)
            .map(|a| a.state);
        let severity = serde_json::to_value(rule.severity)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_else(|| "unknown".into());
        reg.gauge(
            "perfopt_alert_firing",
            "alert_firing",
            "1 while the rule fires, else 0",
            vec![("rule", rule.id.clone()), ("severity", severity)],
            f64::from(u8::from(state == Some(AlertState::Firing))),
        );
    }
    for (name, owner, help, labels, v) in later {
        reg.gauge(&name, &owner, &help, labels, v);
    }
    reg
}

/// A gauge to register after perfopt's own families: name, owner, help, labels, value.
type Later = (String, String, String, Labels, f64);

/// The figures of the cache, pool and limiter components.
mod components {
    use super::{Kind, Labels, Later, Registry};

    /// `(field, exposed name without prefix, kind, factor, help)`.
    type Spec = (&'static str, &'static str, Kind, f64, &'static str);

    const CACHE: &[Spec] = &[
        (
            "lookups",
            "lookups_total",
            Kind::Counter,
            1.0,
            "Cache lookups",
        ),
        (
            "hits",
            "hits_total",
            Kind::Counter,
            1.0,
            "Cache lookups answered from the cache",
        ),
        (
            "misses",
            "misses_total",
            Kind::Counter,
            1.0,
            "Cache lookups the cache could not answer",
        ),
        (
            "inserts",
            "inserts_total",
            Kind::Counter,
            1.0,
            "New cache entries stored",
        ),
        (
            "updates",
            "updates_total",
            Kind::Counter,
            1.0,
            "Cache inserts that replaced a value",
        ),
        (
            "evictions",
            "evictions_total",
            Kind::Counter,
            1.0,
            "Cache entries evicted to make room",
        ),
        (
            "expirations",
            "expirations_total",
            Kind::Counter,
            1.0,
            "Cache entries whose time to live ran out",
        ),
        (
            "removals",
            "removals_total",
            Kind::Counter,
            1.0,
            "Cache entries removed explicitly",
        ),
        (
            "cleared",
            "cleared_total",
            Kind::Counter,
            1.0,
            "Cache entries dropped by clear",
        ),
        (
            "promotions",
            "promotions_total",
            Kind::Counter,
            1.0,
            "Cache entries promoted into a hotter tier",
        ),
        (
            "demotions",
            "demotions_total",
            Kind::Counter,
            1.0,
            "Cache entries demoted to a colder tier",
        ),
        (
            "len",
            "entries",
            Kind::Gauge,
            1.0,
            "Cache entries now (expired ones not yet collected included)",
        ),
        (
            "weight",
            "weight",
            Kind::Gauge,
            1.0,
            "Total weight of the cache entries now (entries unless a weigher is set)",
        ),
        (
            "capacity",
            "capacity",
            Kind::Gauge,
            1.0,
            "Cache capacity, both tiers (entries unless a weigher is set)",
        ),
        (
            "l1_capacity",
            "l1_capacity",
            Kind::Gauge,
            1.0,
            "Capacity of the cache's hot tier (entries unless a weigher is set)",
        ),
    ];

    const TIER: &[Spec] = &[
        (
            "hits",
            "hits_total",
            Kind::Counter,
            1.0,
            "Lookups answered by this cache tier",
        ),
        (
            "misses",
            "misses_total",
            Kind::Counter,
            1.0,
            "Lookups this cache tier could not answer",
        ),
        (
            "inserts",
            "inserts_total",
            Kind::Counter,
            1.0,
            "New entries stored in this cache tier",
        ),
        (
            "updates",
            "updates_total",
            Kind::Counter,
            1.0,
            "Inserts that replaced a value in this cache tier",
        ),
        (
            "evictions",
            "evictions_total",
            Kind::Counter,
            1.0,
            "Entries evicted from this cache tier",
        ),
        (
            "expirations",
            "expirations_total",
            Kind::Counter,
            1.0,
            "Entries expired in this cache tier",
        ),
        (
            "removals",
            "removals_total",
            Kind::Counter,
            1.0,
            "Entries removed from this cache tier",
        ),
        (
            "cleared",
            "cleared_total",
            Kind::Counter,
            1.0,
            "Entries of this cache tier dropped by clear",
        ),
        (
            "promotions",
            "promotions_total",
            Kind::Counter,
            1.0,
            "Entries promoted into this cache tier",
        ),
        (
            "demotions",
            "demotions_total",
            Kind::Counter,
            1.0,
            "Entries demoted from this cache tier",
        ),
        (
            "len",
            "entries",
            Kind::Gauge,
            1.0,
            "Entries in this cache tier now",
        ),
        (
            "weight",
            "weight",
            Kind::Gauge,
            1.0,
            "Total weight of this cache tier now",
        ),
    ];

    const POOL: &[Spec] = &[
        (
            "max_size",
            "max_connections",
            Kind::Gauge,
            1.0,
            "Pool size bound, connections",
        ),
        (
            "min_idle",
            "min_idle_connections",
            Kind::Gauge,
            1.0,
            "Pool idle floor, connections",
        ),
        (
            "idle",
            "idle_connections",
            Kind::Gauge,
            1.0,
            "Pool connections idle now",
        ),
        (
            "in_use",
            "in_use_connections",
            Kind::Gauge,
            1.0,
            "Pool connections handed out now",
        ),
        (
            "creating",
            "creating_connections",
            Kind::Gauge,
            1.0,
            "Pool connections being created now",
        ),
        (
            "checking",
            "checking_connections",
            Kind::Gauge,
            1.0,
            "Pool connections being health-checked now",
        ),
        (
            "waiting",
            "waiters",
            Kind::Gauge,
            1.0,
            "Callers waiting for a pool connection now",
        ),
        (
            "gets_direct",
            "gets_direct_total",
            Kind::Counter,
            1.0,
            "Pool gets served at once from an idle connection",
        ),
        (
            "gets_waited",
            "gets_waited_total",
            Kind::Counter,
            1.0,
            "Pool gets served after waiting",
        ),
        (
            "rejected",
            "rejected_total",
            Kind::Counter,
            1.0,
            "Pool gets refused at once",
        ),
        (
            "timed_out",
            "timed_out_total",
            Kind::Counter,
            1.0,
            "Pool waiters whose deadline passed",
        ),
        (
            "failed",
            "failed_total",
            Kind::Counter,
            1.0,
            "Pool waiters failed by a fatal creation failure",
        ),
        (
            "cancelled",
            "cancelled_total",
            Kind::Counter,
            1.0,
            "Pool waiters the caller gave up on",
        ),
        (
            "created",
            "created_total",
            Kind::Counter,
            1.0,
            "Pool connections created",
        ),
        (
            "create_failures",
            "create_failures_total",
            Kind::Counter,
            1.0,
            "Pool connection creations that failed",
        ),
        (
            "reused",
            "reused_total",
            Kind::Counter,
            1.0,
            "Pool checkouts of a connection used before",
        ),
        (
            "checks",
            "checks_total",
            Kind::Counter,
            1.0,
            "Pool health checks run",
        ),
        (
            "check_failures",
            "check_failures_total",
            Kind::Counter,
            1.0,
            "Pool health checks failed",
        ),
        (
            "closed_broken",
            "closed_broken_total",
            Kind::Counter,
            1.0,
            "Pool connections closed as broken",
        ),
        (
            "closed_expired",
            "closed_expired_total",
            Kind::Counter,
            1.0,
            "Pool connections closed at the end of their lifetime",
        ),
        (
            "closed_idle",
            "closed_idle_total",
            Kind::Counter,
            1.0,
            "Pool connections closed after idling",
        ),
        (
            "leaks",
            "leaks_total",
            Kind::Counter,
            1.0,
            "Pool checkouts held longer than the leak threshold",
        ),
        (
            "wait_ms",
            "wait_seconds",
            Kind::Summary,
            0.001,
            "Time waited gets waited for a pool connection over the stats window, seconds",
        ),
        (
            "held_ms",
            "held_seconds",
            Kind::Summary,
            0.001,
            "Time a pool connection was held per checkout over the stats window, seconds",
        ),
    ];

    const LIMITER: &[Spec] = &[
        (
            "limit",
            "limit",
            Kind::Gauge,
            1.0,
            "Limiter concurrency limit now, permits",
        ),
        (
            "in_flight",
            "in_flight",
            Kind::Gauge,
            1.0,
            "Limiter permits held now",
        ),
        (
            "queued",
            "queued",
            Kind::Gauge,
            1.0,
            "Callers queued for a limiter permit now",
        ),
        (
            "max_queue",
            "max_queue",
            Kind::Gauge,
            1.0,
            "Limiter queue bound, callers",
        ),
        (
            "peak_in_flight",
            "peak_in_flight",
            Kind::Gauge,
            1.0,
            "Most limiter permits held at once since the start",
        ),
        (
            "admitted",
            "admitted_total",
            Kind::Counter,
            1.0,
            "Limiter permits issued",
        ),
        (
            "admitted_after_wait",
            "admitted_after_wait_total",
            Kind::Counter,
            1.0,
            "Limiter permits issued to a caller that waited",
        ),
        (
            "rejected",
            "rejected_total",
            Kind::Counter,
            1.0,
            "Limiter acquisitions refused at once (load shed)",
        ),
        (
            "timed_out",
            "timed_out_total",
            Kind::Counter,
            1.0,
            "Limiter waiters whose deadline passed",
        ),
        (
            "cancelled",
            "cancelled_total",
            Kind::Counter,
            1.0,
            "Limiter waiters the caller gave up on",
        ),
        (
            "succeeded",
            "succeeded_total",
            Kind::Counter,
            1.0,
            "Limited calls that succeeded",
        ),
        (
            "dropped",
            "dropped_total",
            Kind::Counter,
            1.0,
            "Limited calls that were dropped (overload signal)",
        ),
        (
            "deadline_exceeded",
            "deadline_exceeded_total",
            Kind::Counter,
            1.0,
            "Limited calls that timed out",
        ),
        (
            "ignored",
            "ignored_total",
            Kind::Counter,
            1.0,
            "Limited calls whose outcome was ignored",
        ),
        (
            "baseline_ms",
            "baseline_latency_seconds",
            Kind::Gauge,
            0.001,
            "The gradient limiter's baseline latency, seconds",
        ),
        (
            "latency_ms",
            "latency_seconds",
            Kind::Summary,
            0.001,
            "Latency from limiter admission to release over the stats window, seconds",
        ),
        (
            "wait_ms",
            "wait_seconds",
            Kind::Summary,
            0.001,
            "Time limiter waiters spent queued before a grant over the stats window, seconds",
        ),
    ];

    /// Recognises a component by its figures (its name is the user's choice).
    fn kind_of(
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> (&'static str, &'static [Spec]) {
        if map.contains_key("l1") && map.contains_key("l2") && map.contains_key("hits") {
            ("cache", CACHE)
        } else if map.contains_key("in_use") && map.contains_key("idle") {
            ("pool", POOL)
        } else if map.contains_key("in_flight") && map.contains_key("limit") {
            ("limiter", LIMITER)
        } else {
            ("component", &[])
        }
    }

    pub(super) fn render(
        reg: &mut Registry,
        later: &mut Vec<Later>,
        component: &str,
        stats: &serde_json::Value,
    ) {
        let Some(map) = stats.as_object() else { return };
        let (kind, specs) = kind_of(map);
        let name_label = || -> Labels { vec![("name", component.to_string())] };
        for (field, value) in map {
            if let Some(&(_, exposed, k, factor, help)) = specs.iter().find(|s| s.0 == field) {
                let family = format!("perfopt_{kind}_{exposed}");
                emit(reg, &family, k, help, name_label(), value, factor);
                continue;
            }
            if kind == "cache" && field == "hit_rate" {
                if let Some(v) = value.as_f64() {
                    reg.gauge(
                        "perfopt_cache_hit_ratio",
                        "cache_hit_ratio",
                        "Cache hits, ratio of lookups (0-1), per window: last_interval (the report series) or run (since the start)",
                        vec![("name", component.to_string()), ("window", "run".into())],
                        v,
                    );
                }
                continue;
            }
            if kind == "cache" && (field == "l1" || field == "l2") {
                let Some(tier) = value.as_object() else {
                    continue;
                };
                for &(f, exposed, k, factor, help) in TIER {
                    if let Some(v) = tier.get(f) {
                        let labels = vec![("name", component.to_string()), ("tier", field.clone())];
                        emit(
                            reg,
                            &format!("perfopt_cache_tier_{exposed}"),
                            k,
                            help,
                            labels,
                            v,
                            factor,
                        );
                    }
                }
                continue;
            }
            if kind == "limiter" && field == "algorithm" {
                if let Some(a) = value.as_str() {
                    reg.gauge(
                        "perfopt_limiter_info",
                        "limiter_info",
                        "The limiter's algorithm; always 1",
                        vec![
                            ("name", component.to_string()),
                            ("algorithm", a.to_string()),
                        ],
                        1.0,
                    );
                }
                continue;
            }
            // Anything else numeric: a gauge under a sanitised, collision-free name.
            if let Some(v) = value.as_f64() {
                let family = format!("perfopt_{kind}_{field}");
                let help =
                    format!("Component figure {kind}.{field} (unit as reported by the component)");
                let owner = format!("component:{kind}.{field}");
                later.push((family, owner, help, name_label(), v));
            }
        }
    }

    fn emit(
        reg: &mut Registry,
        family: &str,
        kind: Kind,
        help: &str,
        labels: Labels,
        value: &serde_json::Value,
        factor: f64,
    ) {
        match kind {
            Kind::Summary => {
                let Some(s) = value.as_object() else { return };
                if s.get("count")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0)
                    == 0
                {
                    return;
                }
                let f = reg.family(family, family, Kind::Summary, help);
                for (q, key) in [
                    ("0.5", "p50"),
                    ("0.9", "p90"),
                    ("0.99", "p99"),
                    ("0.999", "p999"),
                ] {
                    if let Some(v) = s.get(key).and_then(serde_json::Value::as_f64) {
                        let mut l = labels.clone();
                        l.push(("quantile", q.to_string()));
                        f.samples.push(("", l, v * factor));
                    }
                }
            }
            Kind::Counter => {
                if let Some(v) = value.as_f64() {
                    reg.counter(family, family, help, labels, v * factor);
                }
            }
            Kind::Gauge => {
                if let Some(v) = value.as_f64() {
                    reg.gauge(family, family, help, labels, v * factor);
                }
            }
        }
    }
}

/// `s` as a valid metric name: every character outside `[a-zA-Z0-9_:]` becomes `_`, and a
/// leading digit gets a `_` in front.
fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Whether `s` matches the metric name grammar `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
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

    fn report() -> Report {
        let meta = Meta {
            tool_version: "t".into(),
            host: "h\"ost\\\nX".into(),
            target: None,
            started_at: 0,
            ended_at: 0,
            interval_ms: 1000,
        };
        let mut rec =
            Recorder::new(Instant::ZERO, meta, perfopt_core::rules::default_rules()).unwrap();
        for s in 1..=10 {
            rec.handle_sample(
                Instant::from_secs(s),
                [
                    (metrics::SYS_CPU, 99.5),
                    (metrics::CACHE_HIT_RATE, 75.0),
                    (metrics::LATENCY_P99, 12.0),
                ],
            );
            rec.record_latency(Duration::from_millis(s));
        }
        rec.report(Instant::from_secs(10))
    }

    /// `(name, labels text, value)` of every sample line; asserts the line grammar.
    fn samples(text: &str) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (head, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok() || value == "NaN", "{line}");
            let (name, labels) = match head.find('{') {
                Some(i) => (&head[..i], &head[i..]),
                None => (head, ""),
            };
            assert!(valid_name(name), "{line}");
            out.push((name.to_string(), labels.to_string(), value.to_string()));
        }
        out
    }

    #[test]
    fn conventions_base_units_counters_and_summaries() {
        let mut report = report();
        report.components.insert(
            "profiles".into(),
            serde_json::json!({"hit_rate": 0.5, "hits": 3, "lookups": 6, "evictions": 2,
                "len": 10, "capacity": 100,
                "l1": {"hits": 3, "evictions": 1, "len": 4}, "l2": {"hits": 0, "len": 6}}),
        );
        report.components.insert(
            "db".into(),
            serde_json::json!({"in_use": 2, "idle": 1, "waiting": 0, "gets_waited": 7,
                "wait_ms": {"count": 7, "p50": 1.5, "p90": 2.0, "p99": 4.0, "p999": 4.0}}),
        );
        report.components.insert(
            "limiter".into(),
            serde_json::json!({"limit": 8, "in_flight": 3, "queued": 1, "rejected": 5,
                "algorithm": "gradient", "latency_ms": {"count": 0}, "limit_history": []}),
        );
        let text = render(&report);
        let has = |l: &str| assert!(text.contains(l), "missing {l:?} in\n{text}");
        has("# TYPE perfopt_system_cpu_usage_ratio gauge\nperfopt_system_cpu_usage_ratio 0.995\n");
        has("perfopt_interval_request_latency_p99_seconds 0.012\n");
        has("# TYPE perfopt_request_latency_seconds summary\n");
        has("perfopt_request_latency_seconds{quantile=\"0.99\"} 0.01");
        has("perfopt_request_latency_seconds_count 10\n");
        has("perfopt_request_latency_seconds_sum 0.055\n");
        has("# TYPE perfopt_cache_hit_ratio gauge\n");
        has("perfopt_cache_hit_ratio{window=\"last_interval\"} 0.75\n");
        has("perfopt_cache_hit_ratio{name=\"profiles\",window=\"run\"} 0.5\n");
        has(
            "# TYPE perfopt_cache_evictions_total counter\nperfopt_cache_evictions_total{name=\"profiles\"} 2\n",
        );
        has("perfopt_cache_tier_evictions_total{name=\"profiles\",tier=\"l1\"} 1\n");
        has("perfopt_cache_tier_entries{name=\"profiles\",tier=\"l2\"} 6\n");
        has("perfopt_pool_in_use_connections{name=\"db\"} 2\n");
        has("perfopt_pool_gets_waited_total{name=\"db\"} 7\n");
        has("perfopt_pool_wait_seconds{name=\"db\",quantile=\"0.99\"} 0.004\n");
        has("perfopt_limiter_rejected_total{name=\"limiter\"} 5\n");
        has("perfopt_limiter_info{name=\"limiter\",algorithm=\"gradient\"} 1\n");
        has("perfopt_alert_firing{rule=\"cpu\",severity=\"warning\"} 1\n");
        has("perfopt_alert_firing{rule=\"memory\",severity=\"critical\"} 0\n");
        // The host name is escaped, not a forged line.
        has("perfopt_info{version=\"t\",host=\"h\\\"ost\\\\\\nX\"} 1\n");
        assert!(
            !text.contains("latency_seconds{name=\"limiter\""),
            "empty window summary left out"
        );
        // Every family has HELP and TYPE once, and every sample belongs to the family above.
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split_whitespace().nth(2).unwrap();
            assert!(seen.insert(name.to_string()), "{name} twice");
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} without HELP"
            );
        }
        for (name, _, _) in samples(&text) {
            let family = ["_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| seen.contains(*f)))
                .unwrap_or(&name);
            assert!(seen.contains(family), "{name} has no TYPE");
        }
    }

    #[test]
    fn hostile_names_cannot_forge_lines_or_collide() {
        let mut report = report();
        report.series = perfopt_core::report::Series::new();
        report.series.push(
            1000,
            [
                ("a-b", 1.0),
                ("a_b", 2.0),
                ("a.b", 3.0),
                ("x\nperfopt_evil 666\n", 4.0),
                ("9lives", 5.0),
                ("request_latency_seconds_count", 6.0),
            ],
        );
        let text = render(&report);
        assert!(!text.contains("\nperfopt_evil"), "{text}");
        let names: Vec<String> = samples(&text).into_iter().map(|s| s.0).collect();
        for want in [
            "perfopt_a_b",
            "perfopt_a_b_2",
            "perfopt_a_b_3",
            "perfopt_9lives",
            "perfopt_request_latency_seconds_count_2",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), types.len(), "{types:?}");
        // A custom series named like the summary's `_count` does not duplicate it.
        let text = render(&report);
        assert_eq!(
            text.matches("\nperfopt_request_latency_seconds_count ")
                .count(),
            1,
            "{text}"
        );
    }
}
