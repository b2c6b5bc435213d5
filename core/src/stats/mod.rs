//! Statistics: histograms, sliding windows, summaries, counters and gauges.
//!
//! - [`Histogram`]: a log-linear (HdrHistogram-style) histogram of `u64` values with exact
//!   count, sum, min and max, quantiles within [`Histogram::RELATIVE_ERROR`] (1/256), and
//!   exact merging, so histograms from many windows or hosts combine without loss.
//! - [`Window`]: the histogram of the last `span`, kept in rotating slots.
//! - [`Summary`]: count, rate, mean, min, max and p50…p99.9 of a histogram in metric units.
//! - [`Counter`] and [`Gauge`]: a monotonic count and a last value.
//!
//! Everything here is a plain value: no clock is read (a [`Window`] takes `now`), nothing
//! is shared between threads, and every type serializes with serde.

mod counter;
mod histogram;
mod summary;
mod window;

use core::fmt;
use core::time::Duration;

pub use counter::{Counter, Gauge};
pub use histogram::{Histogram, HistogramError};
pub use summary::Summary;
pub use window::Window;

/// Why a statistics structure could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatsError {
    /// A window needs at least one slot.
    ZeroSlots,
    /// A window's span must be longer than zero.
    ZeroSpan,
    /// A window's span must be at least one nanosecond per slot.
    SpanShorterThanSlots {
        /// The requested span.
        span: Duration,
        /// The requested number of slots.
        slots: usize,
    },
    /// One slot of the window would be longer than `u64::MAX` nanoseconds.
    SpanTooLong {
        /// The requested span.
        span: Duration,
    },
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsError::ZeroSlots => f.write_str("a window needs at least one slot"),
            StatsError::ZeroSpan => f.write_str("a window's span must be longer than zero"),
            StatsError::SpanShorterThanSlots { span, slots } => write!(
                f,
                "a window's span ({span:?}) must be at least one nanosecond per slot ({slots} slots)"
            ),
            StatsError::SpanTooLong { span } => write!(
                f,
                "a window's span ({span:?}) is too long: one slot would exceed u64::MAX nanoseconds"
            ),
        }
    }
}

impl core::error::Error for StatsError {}
