//! Counters and gauges: the two scalar metric kinds.

use serde::{Deserialize, Serialize};

/// A monotonic count of events (requests served, bytes sent, errors seen).
///
/// Only goes up; adding saturates at `u64::MAX` instead of wrapping. A rate is the
/// difference of two readings divided by the time between them.
///
/// # Example
/// ```
/// use perfopt_core::stats::Counter;
///
/// let mut errors = Counter::new();
/// errors.incr();
/// errors.add(2);
/// assert_eq!(errors.get(), 3);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Counter(u64);

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Counter(0)
    }

    /// Adds `n` (saturating).
    pub fn add(&mut self, n: u64) {
        self.0 = self.0.saturating_add(n);
    }

    /// Adds one (saturating).
    pub fn incr(&mut self) {
        self.add(1);
    }

    /// The current count.
    pub const fn get(&self) -> u64 {
        self.0
    }
}

/// The last observed value of a quantity that goes up and down (CPU %, RSS, queue length).
///
/// # Example
/// ```
/// use perfopt_core::stats::Gauge;
///
/// let mut cpu = Gauge::new();
/// cpu.set(42.5);
/// cpu.set(17.0);
/// assert_eq!(cpu.get(), 17.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Gauge(f64);

impl Gauge {
    /// A gauge at zero.
    pub const fn new() -> Self {
        Gauge(0.0)
    }

    /// Replaces the value.
    pub fn set(&mut self, value: f64) {
        self.0 = value;
    }

    /// The last value set (zero if never set).
    pub const fn get(&self) -> f64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_is_monotonic_and_saturates() {
        let mut c = Counter::new();
        c.add(5);
        c.incr();
        assert_eq!(c.get(), 6);
        c.add(u64::MAX);
        assert_eq!(c.get(), u64::MAX);
        c.incr();
        assert_eq!(c.get(), u64::MAX);
        assert_eq!(serde_json::to_string(&Counter::new()).unwrap(), "0");
    }

    #[test]
    fn gauge_keeps_the_last_value() {
        let mut g = Gauge::default();
        assert_eq!(g.get(), 0.0);
        g.set(3.5);
        g.set(-1.25);
        assert_eq!(g.get(), -1.25);
        let back: Gauge = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
    }
}
