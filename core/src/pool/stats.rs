//! Statistics of a [`Pool`](super::Pool).

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// A pool's statistics at one instant; serializes as the report's `components.pool`.
///
/// Counts are totals since the pool was built; `wait_ms` and `held_ms` cover the last
/// [`PoolConfig::stats_window`](super::PoolConfig::stats_window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// The size bound.
    pub max_size: usize,
    /// The idle floor.
    pub min_idle: usize,
    /// Connections idle now.
    pub idle: usize,
    /// Connections handed out now (grants not yet delivered included).
    pub in_use: usize,
    /// Connections being created now.
    pub creating: usize,
    /// Connections being checked now.
    pub checking: usize,
    /// Waiters queued now.
    pub waiting: usize,
    /// The queue's bound.
    pub max_waiters: usize,
    /// Gets served at once from an idle connection.
    pub gets_direct: u64,
    /// Gets served after waiting.
    pub gets_waited: u64,
    /// Gets refused at once (queue full, or nothing free for a caller that would not wait).
    pub rejected: u64,
    /// Waiters whose deadline passed.
    pub timed_out: u64,
    /// Waiters failed at once by a fatal creation failure.
    pub failed: u64,
    /// Waiters the host gave up on.
    pub cancelled: u64,
    /// Connections created.
    pub created: u64,
    /// Creations that failed.
    pub create_failures: u64,
    /// Checkouts of a connection that had been used before.
    pub reused: u64,
    /// Health checks run.
    pub checks: u64,
    /// Health checks failed (those connections were closed as broken).
    pub check_failures: u64,
    /// Connections closed because they were broken (returned broken or failed a check).
    pub closed_broken: u64,
    /// Connections closed at the end of their lifetime.
    pub closed_expired: u64,
    /// Connections closed after idling beyond `min_idle`.
    pub closed_idle: u64,
    /// Connections closed because the pool was closed.
    pub closed_shutdown: u64,
    /// Checkouts held longer than the leak threshold.
    pub leaks: u64,
    /// How long waited gets waited, in milliseconds, over the window.
    pub wait_ms: Summary,
    /// How long connections were held per checkout, in milliseconds, over the window.
    pub held_ms: Summary,
}

/// Running totals.
#[derive(Clone, Debug, Default)]
pub(super) struct Counters {
    pub(super) gets_direct: u64,
    pub(super) gets_waited: u64,
    pub(super) rejected: u64,
    pub(super) timed_out: u64,
    pub(super) failed: u64,
    pub(super) cancelled: u64,
    pub(super) created: u64,
    pub(super) create_failures: u64,
    pub(super) reused: u64,
    pub(super) checks: u64,
    pub(super) check_failures: u64,
    pub(super) closed_broken: u64,
    pub(super) closed_expired: u64,
    pub(super) closed_idle: u64,
    pub(super) closed_shutdown: u64,
    pub(super) leaks: u64,
}
