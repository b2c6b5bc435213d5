//! The one place in perfopt-web that reads the time.
//!
//! The clock is `Date.now()`: milliseconds since the Unix epoch, the scale every `now_ms`
//! argument of the JS API uses, so a caller may pass its own `Date.now()` or let the wrapper
//! read it, and both agree. Wall-clock time can step back; core's machines never go back in
//! time (they keep the latest instant they were given), so a step back only delays expiry.

use perfopt_core::Instant;

/// Now, on the `Date.now()` scale.
pub(crate) fn now() -> Instant {
    instant_from_millis(js_sys::Date::now()).unwrap_or(Instant::ZERO)
}

/// `ms` milliseconds after the origin, to the nanosecond; `None` unless `ms` is a finite,
/// non-negative number (a value past [`Instant::MAX`] saturates to it).
pub(crate) fn instant_from_millis(ms: f64) -> Option<Instant> {
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    // `as` saturates at u64::MAX for values that do not fit.
    Some(Instant::from_nanos((ms * 1e6) as u64))
}

/// An instant in milliseconds after the origin (what `poll_timeout` hands back to JS).
pub(crate) fn millis(t: Instant) -> f64 {
    t.as_nanos() as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_convert_both_ways_and_bad_numbers_are_refused() {
        let t = instant_from_millis(1_500.25).unwrap();
        assert_eq!(t.as_nanos(), 1_500_250_000);
        assert_eq!(millis(t), 1_500.25);
        assert_eq!(instant_from_millis(0.0), Some(Instant::ZERO));
        assert_eq!(instant_from_millis(1e300), Some(Instant::MAX));
        assert_eq!(instant_from_millis(-1.0), None);
        assert_eq!(instant_from_millis(f64::NAN), None);
        assert_eq!(instant_from_millis(f64::INFINITY), None);
    }
}
