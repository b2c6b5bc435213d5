//! The one place in perfopt that reads the clock.
//!
//! Core takes time as an argument ([`perfopt_core::Instant`]: nanoseconds since an origin the
//! host picks). Here the origin is the first use of the clock in this process, read from the
//! monotonic clock; wall-clock time is read only to stamp reports.
//!
//! [`now`] is on the hot paths (a pool checkout reads it twice, a measured permit twice, a
//! cache with TTLs once a lookup), where `clock_gettime` costs 20–35 ns on the machines we
//! measure. So it reads the CPU's time-stamp counter through `quanta` (about 12 ns; the
//! monotonic clock where no reliable TSC exists) and turns ticks into nanoseconds from an
//! anchor on the monotonic clock that each thread renews every [`ANCHOR_NS`]. The counter's
//! calibration error therefore stays within microseconds of the monotonic clock instead of
//! growing with the process's age (NTP slews the monotonic clock, not the TSC), and
//! [`to_std`] deadlines for tokio's timers stay where core put them. Each thread's readings
//! never go back; across threads they agree within the calibration error over one anchor
//! span (core machines take the latest instant they have seen, so a reading a little behind
//! is harmless).

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use perfopt_core::Instant;

/// How long a thread converts counter ticks from one anchor before it reads the monotonic
/// clock again (one `clock_gettime` per thread per 50 ms).
pub const ANCHOR_NS: u64 = 50_000_000;

fn origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

/// The counter (calibrated once per process, lazily: up to a few ms on first use).
fn counter() -> &'static quanta::Clock {
    static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();
    COUNTER.get_or_init(quanta::Clock::new)
}

/// The monotonic clock itself, in nanoseconds since the origin.
fn monotonic_ns() -> u64 {
    u64::try_from(origin().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A thread's anchor: a counter reading, the monotonic time at it, and the latest value
/// this thread returned.
#[derive(Clone, Copy)]
struct Anchor {
    raw: u64,
    ns: u64,
    last: u64,
}

thread_local! {
    static ANCHOR: Cell<Option<Anchor>> = const { Cell::new(None) };
}

/// Monotonic now, as core's time type: cheap enough for every checkout and permit.
#[inline]
pub fn now() -> Instant {
    let counter = counter();
    let raw = counter.raw();
    let ns = ANCHOR.with(|cell| {
        let previous = cell.get();
        // `delta_as_nanos` is 0 if the counter read behind the anchor (another core's
        // counter a little behind): the anchor's time, never earlier.
        let anchor = match previous.map(|a| (a, counter.delta_as_nanos(a.raw, raw))) {
            Some((a, delta)) if delta < ANCHOR_NS => Anchor {
                last: a.last.max(a.ns + delta),
                ..a
            },
            _ => {
                let ns = monotonic_ns();
                let last = previous.map_or(ns, |a| a.last.max(ns));
                Anchor { raw, ns, last }
            }
        };
        cell.set(Some(anchor));
        anchor.last
    });
    Instant::from_nanos(ns)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `now` read between two readings of the monotonic clock lies between them, within
    /// `slack_ns` (the counter's calibration error over one anchor span).
    fn bracketed(slack_ns: u64) {
        let before = monotonic_ns();
        let ours = now().as_nanos();
        let after = monotonic_ns();
        assert!(
            ours + slack_ns >= before && ours <= after + slack_ns,
            "now() = {ours} ns outside [{before}, {after}] ± {slack_ns} ns"
        );
    }

    #[test]
    fn readings_follow_the_monotonic_clock_across_anchor_renewals_and_never_go_back() {
        let mut last = now();
        let stop = monotonic_ns() + 3 * ANCHOR_NS;
        let mut reads = 0u64;
        // Three anchor spans of busy reading, then sleeps across a renewal.
        while monotonic_ns() < stop {
            let t = now();
            assert!(t >= last, "went back: {t:?} after {last:?}");
            last = t;
            reads += 1;
            if reads.is_multiple_of(4096) {
                bracketed(1_000_000);
            }
        }
        for _ in 0..3 {
            std::thread::sleep(std::time::Duration::from_nanos(ANCHOR_NS + 5_000_000));
            bracketed(1_000_000);
            let t = now();
            assert!(t >= last);
            last = t;
        }
    }

    #[test]
    fn threads_agree_with_the_monotonic_clock_and_to_std_maps_back() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    let mut last = now();
                    for i in 0..200_000u32 {
                        let t = now();
                        assert!(t >= last);
                        last = t;
                        if i.is_multiple_of(20_000) {
                            bracketed(1_000_000);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let at = now().saturating_add(core::time::Duration::from_millis(10));
        let std_at = to_std(at);
        let ahead = std_at.saturating_duration_since(std::time::Instant::now());
        assert!(
            ahead <= core::time::Duration::from_millis(11)
                && ahead >= core::time::Duration::from_millis(8),
            "a deadline 10 ms ahead maps {ahead:?} ahead"
        );
    }
}
