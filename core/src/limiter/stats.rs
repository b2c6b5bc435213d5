//! Statistics of a [`Limiter`](super::Limiter).

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::AlgorithmKind;
use crate::Instant;
use crate::stats::Summary;

/// A limiter's statistics at one instant; serializes as the report's `components.limiter`.
///
/// Counts are totals since the limiter was built; `latency_ms` and `wait_ms` cover the last
/// [`LimiterConfig::stats_window`](super::LimiterConfig::stats_window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LimiterStats {
    /// Which algorithm sets the limit.
    pub algorithm: AlgorithmKind,
    /// The current limit.
    pub limit: u32,
    /// Permits held now.
    pub in_flight: usize,
    /// Waiters queued now.
    pub waiting: usize,
    /// The queue's bound.
    pub max_waiters: usize,
    /// Permits issued (at once or after waiting).
    pub admitted: u64,
    /// Of `admitted`, those issued to a waiter.
    pub admitted_after_wait: u64,
    /// Acquisitions refused at once (queue full, or no permit for a caller that would not wait).
    pub rejected: u64,
    /// Waiters whose deadline passed in the queue.
    pub timed_out: u64,
    /// Waiters the host gave up on.
    pub cancelled: u64,
    /// Releases with [`Outcome::Success`](super::Outcome::Success).
    pub succeeded: u64,
    /// Releases with [`Outcome::Dropped`](super::Outcome::Dropped).
    pub dropped: u64,
    /// Releases with [`Outcome::Timeout`](super::Outcome::Timeout).
    pub deadline_exceeded: u64,
    /// Releases with [`Outcome::Ignored`](super::Outcome::Ignored), cancellations included.
    pub ignored: u64,
    /// Most permits held at once.
    pub peak_in_flight: usize,
    /// The gradient algorithm's baseline latency in milliseconds, once probed.
    pub baseline_ms: Option<f64>,
    /// Latency from admission to release, in milliseconds, over the window, of the permits
    /// whose latency was measured (a host may measure a sample: the tokio host measures
    /// every permit below 100,000 releases a second, about one per 10 µs above).
    pub latency_ms: Summary,
    /// Time waiters spent queued before a grant, in milliseconds, over the window.
    pub wait_ms: Summary,
    /// The limit over time: one point per change, oldest first (bounded).
    pub limit_history: Vec<LimitPoint>,
}

/// The limit from `at_ms` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitPoint {
    /// Milliseconds since the host's origin.
    pub at_ms: u64,
    /// The limit.
    pub limit: u32,
}

impl LimitPoint {
    pub(super) fn new(at: Instant, limit: u32) -> LimitPoint {
        LimitPoint {
            at_ms: at.as_millis(),
            limit,
        }
    }
}

/// Running totals.
#[derive(Clone, Debug, Default)]
pub(super) struct Counters {
    pub(super) admitted: u64,
    pub(super) admitted_after_wait: u64,
    pub(super) rejected: u64,
    pub(super) timed_out: u64,
    pub(super) cancelled: u64,
    pub(super) succeeded: u64,
    pub(super) dropped: u64,
    pub(super) deadline_exceeded: u64,
    pub(super) ignored: u64,
    pub(super) peak_in_flight: usize,
}
