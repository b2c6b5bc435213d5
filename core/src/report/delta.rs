//! What changed in a live report since a reader's position: the unit of the live stream
//! (`/api/events`), so a viewer appends a few samples instead of re-reading the whole report.
//!
//! A reader's position is a [`Cursor`]: the time of the last sample it has and how many
//! alert records it has. [`Delta::since`] builds the change from a cursor (new samples and
//! alerts; per rollup tier only the rows from the one holding the cursor's last sample on —
//! the last row of a tier is partial and changes; the bounded parts — summaries with their
//! histograms, recommendations, components, `meta.ended_at` — whole; and where each tier
//! now starts), and [`apply`] appends it to the reader's copy and drops what the report
//! dropped by retention, so the copy stays as bounded as the report. Applying the deltas of
//! every step to the first report gives exactly the last one, so a reader that reconnects
//! with its cursor catches up without a gap.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::{
    AlertRecord, MemoryAnalysis, MetricSummary, ProfileRow, Recommendation, Report, Retention,
    Rollup, RollupRows,
};

/// A reader's position in a live report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `meta.started_at` of the report (a new run is another report).
    pub started_at: u64,
    /// `t_ms` of the last sample the reader has, `None` before the first.
    pub last_t_ms: Option<u64>,
    /// Alert records the reader has.
    pub alerts: usize,
}

impl Cursor {
    /// The position of a reader holding `report`.
    pub fn of(report: &Report) -> Cursor {
        Cursor {
            started_at: report.meta.started_at,
            last_t_ms: report.series.t_ms().last().copied(),
            alerts: report.alerts.len(),
        }
    }

    /// As text, for an SSE event id: `started_at.last_t_ms.alerts` (`-` for no sample).
    pub fn to_id(&self) -> String {
        match self.last_t_ms {
            Some(t) => format!("{}.{t}.{}", self.started_at, self.alerts),
            None => format!("{}.-.{}", self.started_at, self.alerts),
        }
    }

    /// Parses [`Cursor::to_id`]'s text; `None` if it is not one.
    pub fn from_id(id: &str) -> Option<Cursor> {
        let mut parts = id.trim().split('.');
        let started_at = parts.next()?.parse().ok()?;
        let last = parts.next()?;
        let last_t_ms = if last == "-" {
            None
        } else {
            Some(last.parse().ok()?)
        };
        let alerts = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Cursor {
            started_at,
            last_t_ms,
            alerts,
        })
    }
}

/// The change of a report since a [`Cursor`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The position this delta applies to.
    pub from: Cursor,
    /// The position after applying it.
    pub to: Cursor,
    /// `meta.ended_at` now.
    pub ended_at: u64,
    /// Times of the new samples.
    pub t_ms: Vec<u64>,
    /// Values of the new samples, per metric (metrics with no value among them left out).
    pub series: BTreeMap<String, Vec<Option<f64>>>,
    /// First `t_ms` the report keeps now (older samples were dropped by retention), `None`
    /// when it holds no sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_from_ms: Option<u64>,
    /// Per rollup tier (finest first), the new or changed rows and where the tier starts now.
    #[serde(default)]
    pub rollups: Vec<RollupDelta>,
    /// The report's retention settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// New alert records.
    pub alerts: Vec<AlertRecord>,
    /// Every summary now (bounded: one histogram per metric).
    pub summaries: BTreeMap<String, MetricSummary>,
    /// Every recommendation now.
    pub recommendations: Vec<Recommendation>,
    /// Every component snapshot now.
    pub components: BTreeMap<String, serde_json::Value>,
    /// The profile table now (bounded: the top scopes).
    pub profile: Vec<ProfileRow>,
    /// The memory analysis now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryAnalysis>,
}

/// The change of one rollup tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollupDelta {
    /// First row start the tier keeps now (older rows were dropped by its span), `None` when
    /// it has no row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_from_ms: Option<u64>,
    /// The rows from the one holding the cursor's last sample on (every row from the empty
    /// cursor): they replace the reader's rows from the first of them on.
    pub rows: Rollup,
}

/// Why a delta does not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeltaError {
    /// The reader is not at the delta's starting position (another run, or a gap): it must
    /// reload the whole report.
    Position {
        /// Where the reader is.
        reader: Cursor,
        /// Where the delta starts.
        delta: Cursor,
    },
}

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeltaError::Position { reader, delta } => write!(
                f,
                "the update starts at {} but the report on screen is at {}; reload the report",
                delta.to_id(),
                reader.to_id()
            ),
        }
    }
}

impl Delta {
    /// The change of `report` since `from`. A cursor of another run, or one ahead of the
    /// report (it lost samples), gives the whole report as a delta from the empty position
    /// (`from.last_t_ms == None`, `from.alerts == 0`): the reader then starts over.
    pub fn since(report: &Report, from: Cursor) -> Delta {
        let t = report.series.t_ms();
        let now = Cursor::of(report);
        let valid = from.started_at == now.started_at
            && from.alerts <= now.alerts
            && match from.last_t_ms {
                None => true,
                Some(last) => t.binary_search(&last).is_ok(),
            };
        let from = if valid {
            from
        } else {
            Cursor {
                started_at: now.started_at,
                last_t_ms: None,
                alerts: 0,
            }
        };
        let lo = from
            .last_t_ms
            .map_or(0, |last| t.partition_point(|&x| x <= last));
        let mut series = BTreeMap::new();
        for name in report.series.metrics() {
            if let Some(col) = report.series.column(name) {
                let part = &col[lo..];
                if part.iter().any(Option::is_some) {
                    series.insert(String::from(name), part.to_vec());
                }
            }
        }
        let rollups = report
            .rollups
            .iter()
            .map(|r| {
                let step = r.step_ms.max(1);
                let first_row = from.last_t_ms.map_or(0, |last| last - last % step);
                RollupDelta {
                    keep_from_ms: r.first_t_ms(),
                    rows: r.tail(first_row),
                }
            })
            .collect();
        Delta {
            from,
            to: now,
            ended_at: report.meta.ended_at,
            t_ms: t[lo..].to_vec(),
            series,
            series_from_ms: t.first().copied(),
            rollups,
            retention: report.retention.clone(),
            alerts: report.alerts[from.alerts..].to_vec(),
            summaries: report.summaries.clone(),
            recommendations: report.recommendations.clone(),
            components: report.components.clone(),
            profile: report.profile.clone(),
            memory: report.memory.clone(),
        }
    }

    /// Whether it carries nothing new: no sample, no alert, same end.
    pub fn is_empty_since(&self, ended_at: u64) -> bool {
        self.t_ms.is_empty() && self.alerts.is_empty() && self.ended_at == ended_at
    }
}

/// Appends `delta` to `report`.
///
/// # Errors
/// [`DeltaError::Position`] when `report` is not where the delta starts; `report` is then
/// unchanged.
pub fn apply(report: &mut Report, delta: &Delta) -> Result<(), DeltaError> {
    let here = Cursor::of(report);
    if here != delta.from {
        return Err(DeltaError::Position {
            reader: here,
            delta: delta.from,
        });
    }
    for (i, &t) in delta.t_ms.iter().enumerate() {
        let values = delta
            .series
            .iter()
            .filter_map(|(name, col)| col.get(i).copied().flatten().map(|v| (name.as_str(), v)));
        report.series.push(t, values);
    }
    if let Some(first) = delta.series_from_ms {
        report.series.drop_before(first);
    }
    report.rollups.truncate(delta.rollups.len());
    for (i, d) in delta.rollups.iter().enumerate() {
        if report
            .rollups
            .get(i)
            .is_none_or(|r| r.step_ms != d.rows.step_ms)
        {
            let empty = Rollup::new(d.rows.step_ms, d.rows.span_ms, RollupRows::default());
            match report.rollups.get_mut(i) {
                Some(r) => *r = empty,
                None => report.rollups.push(empty),
            }
        }
        report.rollups[i].splice(&d.rows, d.keep_from_ms);
    }
    report.retention = delta.retention.clone();
    report.alerts.extend(delta.alerts.iter().cloned());
    report.summaries = delta.summaries.clone();
    report.recommendations = delta.recommendations.clone();
    report.components = delta.components.clone();
    report.profile = delta.profile.clone();
    report.memory = delta.memory.clone();
    report.meta.ended_at = delta.ended_at;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;
    use crate::report::{Recorder, metrics};
    use crate::rules::default_rules;
    use alloc::string::ToString;
    use alloc::vec;
    use core::time::Duration;

    fn recorder() -> Recorder {
        let meta = crate::report::test_meta(5_000);
        Recorder::new(Instant::ZERO, meta, default_rules()).unwrap()
    }

    #[test]
    fn deltas_rebuild_the_live_report_exactly_at_any_pace() {
        let mut rec = recorder();
        let mut reader = rec.report(Instant::ZERO);
        let mut behind = reader.clone();
        for s in 1..=60u64 {
            let cpu = if (20..40).contains(&s) { 97.0 } else { 10.0 };
            let mut values = vec![(metrics::SYS_CPU, cpu)];
            if s % 7 == 0 {
                values.push((metrics::CACHE_HIT_RATE, 50.0));
            }
            rec.handle_sample(Instant::from_secs(s), values);
            rec.record_latency(Duration::from_millis(s));
            let now = rec.report(Instant::from_secs(s));
            let d = Delta::since(&now, Cursor::of(&reader));
            assert_eq!(d.t_ms.len(), 1);
            apply(&mut reader, &d).unwrap();
            assert_eq!(reader, now, "after sample {s}");
            // A reader that drops off and reconnects every 9 samples catches up without a gap.
            if s % 9 == 0 {
                let d = Delta::since(&now, Cursor::from_id(&Cursor::of(&behind).to_id()).unwrap());
                apply(&mut behind, &d).unwrap();
                assert_eq!(behind, now);
            }
        }
        assert!(reader.alerts.len() >= 2, "cpu fired and resolved");
        // An applied delta moves the cursor: applying it twice is refused.
        let final_report = rec.report(Instant::from_secs(60));
        let d = Delta::since(&final_report, Cursor::of(&behind));
        apply(&mut behind, &d).unwrap();
        assert_eq!(behind, final_report);
        let err = apply(&mut behind, &d).unwrap_err();
        assert!(err.to_string().contains("reload the report"), "{err}");
        let nothing = Delta::since(&final_report, Cursor::of(&behind));
        assert!(nothing.is_empty_since(final_report.meta.ended_at));
    }

    #[test]
    fn deltas_carry_changed_rollup_rows_and_drop_what_retention_dropped() {
        use crate::report::{Retention, TierSpec};
        let mut rec = recorder();
        // Blocks of 512 rows are dropped whole: 1 s samples cross the full-resolution span
        // after ~612 s, the 2 s tier after ~1044 s, the 4 s tier after ~2088 s.
        rec.set_retention(Retention {
            full_ms: 100_000,
            tiers: vec![
                TierSpec {
                    step_ms: 2_000,
                    span_ms: 20_000,
                },
                TierSpec {
                    step_ms: 4_000,
                    span_ms: 40_000,
                },
            ],
        })
        .unwrap();
        let mut reader = rec.report(Instant::ZERO);
        let mut behind = reader.clone();
        let mut max_series = 0;
        for s in 1..=2_600u64 {
            let mut values = vec![(metrics::SYS_CPU, (s % 97) as f64)];
            if s % 5 == 0 {
                values.push((metrics::CACHE_HIT_RATE, (s % 13) as f64));
            }
            rec.handle_sample(Instant::from_secs(s), values);
            let now = rec.report(Instant::from_secs(s));
            let d = Delta::since(&now, Cursor::of(&reader));
            assert_eq!(d.t_ms.len(), 1);
            for r in &d.rollups {
                // Only the row holding the cursor's last sample and the ones after it.
                assert!(
                    r.rows.rows().t_ms.len() <= 2,
                    "after sample {s}: {:?}",
                    r.rows.rows().t_ms
                );
            }
            apply(&mut reader, &d).unwrap();
            assert_eq!(reader, now, "after sample {s}");
            max_series = max_series.max(reader.series.len());
            // A reader that is away for a while catches up from its cursor through JSON.
            if s % 97 == 0 {
                let d = Delta::since(&now, Cursor::of(&behind));
                let text = serde_json::to_string(&d).unwrap();
                let d: Delta = serde_json::from_str(&text).unwrap();
                apply(&mut behind, &d).unwrap();
                assert_eq!(behind, now, "catching up at {s}");
            }
        }
        // Retention dropped old data on the server and the reader alike.
        assert!(max_series < 1_200, "{max_series} samples held");
        assert!(reader.series.t_ms()[0] > 400_000, "full resolution dropped");
        for r in &reader.rollups {
            assert!(
                r.rows().t_ms[0] > 0 && r.rows().t_ms.len() < 1_100,
                "tier {} dropped",
                r.step_ms
            );
        }
        // The finest tier's last row is the open one, holding the last sample; a coarser
        // tier gets a finer row when it closes.
        assert_eq!(reader.rollups[0].rows().t_ms.last(), Some(&2_600_000));
        for r in &reader.rollups[1..] {
            assert!(
                r.rows()
                    .t_ms
                    .last()
                    .is_some_and(|&t| t + 2 * r.step_ms > 2_600_000)
            );
        }
        // A reader whose last sample the server no longer holds starts over.
        let stale = Cursor {
            started_at: 5_000,
            last_t_ms: Some(1_000),
            alerts: 0,
        };
        let now = rec.report(Instant::from_secs(2_600));
        let d = Delta::since(&now, stale);
        assert_eq!(d.from.last_t_ms, None);
        let mut fresh = recorder();
        fresh.set_retention(now.retention.clone().unwrap()).unwrap();
        let mut fresh = fresh.report(Instant::ZERO);
        fresh.meta.ended_at = 0;
        apply(&mut fresh, &d).unwrap();
        assert_eq!(fresh, now);
    }

    #[test]
    fn a_stale_or_foreign_cursor_starts_over() {
        let mut rec = recorder();
        for s in 1..=5u64 {
            rec.handle_sample(Instant::from_secs(s), [(metrics::SYS_CPU, 1.0)]);
        }
        let now = rec.report(Instant::from_secs(5));
        for bad in [
            Cursor {
                started_at: 1,
                last_t_ms: Some(2000),
                alerts: 0,
            },
            Cursor {
                started_at: 5_000,
                last_t_ms: Some(2500),
                alerts: 0,
            },
            Cursor {
                started_at: 5_000,
                last_t_ms: Some(2000),
                alerts: 9,
            },
        ] {
            let d = Delta::since(&now, bad);
            assert_eq!(d.from.last_t_ms, None);
            assert_eq!(d.t_ms.len(), 5);
        }
        assert_eq!(Cursor::from_id("5000.-.0").unwrap().last_t_ms, None);
        assert_eq!(Cursor::from_id("5000.3000.2").unwrap().alerts, 2);
        for bad in ["", "x", "1.2", "1.2.3.4", "1.a.0"] {
            assert!(Cursor::from_id(bad).is_none(), "{bad}");
        }
    }
}
