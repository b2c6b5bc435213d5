//! The one place in perfopt that reads the clock.
//!
//! Core takes time as an argument ([`perfopt_core::Instant`]: nanoseconds since an origin the
//! host picks). Here the origin is the first use of the clock in this process, read from the
//! monotonic clock; wall-clock time is read only to stamp reports.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use perfopt_core::Instant;

fn origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

/// Monotonic now, as core's time type.
pub fn now() -> Instant {
    let nanos = origin().elapsed().as_nanos();
    Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Monotonic now for a permit's latency (the adaptive limiter reads it twice per permit).
/// Same origin as [`now`]. Today it is the same monotonic clock as [`now`]; it is the one
/// place to switch to a cheaper (TSC-based) clock, measured by the `breakdown/clock_*` rows
/// of `native/benches/limiter_pool.rs`.
#[inline]
pub fn fast_now() -> Instant {
    now()
}

/// Wall-clock now, in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The monotonic deadline for a core instant, for `tokio::time::sleep_until`.
pub fn to_std(at: Instant) -> std::time::Instant {
    origin() + std::time::Duration::from_nanos(at.as_nanos())
}
