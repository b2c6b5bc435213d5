//! A sliding time window of rotating histogram slots.

use alloc::vec::Vec;
use core::time::Duration;

use super::{Histogram, StatsError, Summary};
use crate::Instant;

/// A histogram of the values recorded during the last `span`, with slot granularity.
///
/// The span is cut into `slots` equal slots of `span / slots` each; the slot number of an
/// instant is `now.as_nanos() / slot_width`, and every slot holds a [`Histogram`]. Slots
/// are recycled as time moves on, so memory stays bounded however long the window runs.
///
/// # Calling contract
/// - [`record`](Window::record) mutates; [`snapshot`](Window::snapshot) and
///   [`summary`](Window::summary) only read. There are no timers: a stale slot is
///   recycled lazily when it is next written, and ignored by reads.
/// - `now` never goes back between calls. If it does, the window treats the call as if it
///   happened at the newest instant seen (a value goes to the newest slot); it never
///   panics.
/// - A snapshot at `now` covers the slots numbered `(current - slots, current]`: the last
///   `span` up to `now`, where the oldest slot may already be partly outside the span.
///   Values recorded before that have disappeared.
///
/// # Example
/// ```
/// use core::time::Duration;
/// use perfopt_core::Instant;
/// use perfopt_core::stats::Window;
///
/// // One minute in six slots of ten seconds.
/// let mut w = Window::new(Duration::from_secs(60), 6)?;
/// w.record(Instant::from_secs(5), 100);
/// w.record(Instant::from_secs(30), 200);
/// assert_eq!(w.snapshot(Instant::from_secs(59)).count(), 2);
/// // At 65 s the slot [0 s, 10 s) has left the window.
/// assert_eq!(w.snapshot(Instant::from_secs(65)).count(), 1);
/// // After a gap longer than the span nothing is left.
/// assert!(w.snapshot(Instant::from_secs(500)).is_empty());
/// # Ok::<(), perfopt_core::stats::StatsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Window {
    /// `slots × slot_width`: the requested span rounded down.
    span: Duration,
    /// Width of one slot in nanoseconds (>= 1).
    slot_width: u64,
    /// `slots[n % len]` holds slot number `n`, if `numbers[n % len] == Some(n)`.
    slots: Vec<Histogram>,
    /// Slot number held by each entry of `slots`; `None` if never written.
    numbers: Vec<Option<u64>>,
    /// The newest slot number written or read, so time going back cannot corrupt slots.
    newest: Option<u64>,
}

impl Window {
    /// A window over the last `span`, in `slots` slots of `span / slots` each.
    ///
    /// The span is rounded down to a whole number of nanoseconds per slot; [`Window::span`]
    /// reports the rounded value. Memory is one (lazily grown) histogram per slot, so keep
    /// `slots` modest (tens, not millions).
    ///
    /// # Errors
    /// [`StatsError::ZeroSlots`] if `slots == 0`, [`StatsError::ZeroSpan`] if `span` is zero,
    /// [`StatsError::SpanShorterThanSlots`] if `span` is shorter than `slots` nanoseconds,
    /// and [`StatsError::SpanTooLong`] if one slot would exceed `u64::MAX` nanoseconds.
    pub fn new(span: Duration, slots: usize) -> Result<Window, StatsError> {
        if slots == 0 {
            return Err(StatsError::ZeroSlots);
        }
        if span.is_zero() {
            return Err(StatsError::ZeroSpan);
        }
        let span_nanos = span.as_nanos();
        let slot_count = slots as u128; // usize always fits in u128
        if span_nanos < slot_count {
            return Err(StatsError::SpanShorterThanSlots { span, slots });
        }
        let slot_width =
            u64::try_from(span_nanos / slot_count).map_err(|_| StatsError::SpanTooLong { span })?;
        let covered = u128::from(slot_width) * slot_count; // <= span_nanos
        let nanos_per_sec = 1_000_000_000u128;
        // `covered` is at most `span`, so its seconds fit in a u64 like span's do, and the
        // sub-second remainder fits in a u32.
        let span = Duration::new(
            (covered / nanos_per_sec) as u64,
            (covered % nanos_per_sec) as u32,
        );
        let mut histograms = Vec::with_capacity(slots);
        histograms.resize_with(slots, Histogram::new);
        Ok(Window {
            span,
            slot_width,
            slots: histograms,
            numbers: alloc::vec![None; slots],
            newest: None,
        })
    }

    /// The span the window covers: `slots × slot width` (the requested span rounded down to
    /// a whole number of nanoseconds per slot).
    pub fn span(&self) -> Duration {
        self.span
    }

    /// The width of one slot.
    pub fn slot_width(&self) -> Duration {
        Duration::from_nanos(self.slot_width)
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Records `value` at `now`.
    pub fn record(&mut self, now: Instant, value: u64) {
        self.record_n(now, value, 1);
    }

    /// Records `n` occurrences of `value` at `now`.
    pub fn record_n(&mut self, now: Instant, value: u64, n: u64) {
        let number = self.current(now);
        self.newest = Some(number);
        let position = self.position(number);
        if self.numbers[position] != Some(number) {
            self.slots[position].clear();
            self.numbers[position] = Some(number);
        }
        self.slots[position].record_n(value, n);
    }

    /// The histogram of the values recorded in the last `span` up to `now` (slot
    /// granularity). An instant earlier than one already seen reads as the newest one.
    pub fn snapshot(&self, now: Instant) -> Histogram {
        let current = self.current(now);
        let mut merged = Histogram::new();
        for (histogram, number) in self.slots.iter().zip(&self.numbers) {
            if number.is_some_and(|n| self.is_live(n, current)) {
                merged.merge(histogram);
            }
        }
        merged
    }

    /// The [`Summary`] of [`snapshot(now)`](Window::snapshot) over [`span`](Window::span),
    /// with values divided by `scale` (see [`Summary::from_histogram`]).
    pub fn summary(&self, now: Instant, scale: f64) -> Summary {
        Summary::from_histogram(&self.snapshot(now), self.span(), scale)
    }

    /// Forgets every recorded value.
    pub fn clear(&mut self) {
        for (histogram, number) in self.slots.iter_mut().zip(&mut self.numbers) {
            histogram.clear();
            *number = None;
        }
        self.newest = None;
    }

    /// The slot number `now` falls in, never older than the newest one seen.
    fn current(&self, now: Instant) -> u64 {
        let number = now.as_nanos() / self.slot_width;
        self.newest.map_or(number, |newest| newest.max(number))
    }

    /// Whether slot `number` lies in `(current - slots, current]`.
    fn is_live(&self, number: u64, current: u64) -> bool {
        number <= current && current - number < self.slot_len()
    }

    /// Index in `slots` of slot `number`.
    fn position(&self, number: u64) -> usize {
        // The remainder is below `slots.len()`, which is a usize.
        (number % self.slot_len()) as usize
    }

    fn slot_len(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Checks the internal invariants; panics with a description if one is broken.
    #[cfg(test)]
    pub(crate) fn validate(&self) {
        assert_eq!(self.slots.len(), self.numbers.len());
        assert!(self.slot_width >= 1);
        for (position, (histogram, number)) in self.slots.iter().zip(&self.numbers).enumerate() {
            histogram.validate();
            match number {
                None => assert!(histogram.is_empty(), "unused slot {position} holds values"),
                Some(n) => {
                    assert_eq!(self.position(*n), position, "slot {n} in the wrong place");
                    assert!(self.newest.is_some_and(|newest| *n <= newest));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(span_ms: u64, slots: usize) -> Window {
        Window::new(Duration::from_millis(span_ms), slots).unwrap()
    }

    #[test]
    fn construction_rejects_degenerate_shapes() {
        assert_eq!(
            Window::new(Duration::from_secs(1), 0).unwrap_err(),
            StatsError::ZeroSlots
        );
        assert_eq!(
            Window::new(Duration::ZERO, 4).unwrap_err(),
            StatsError::ZeroSpan
        );
        assert!(matches!(
            Window::new(Duration::from_nanos(3), 4),
            Err(StatsError::SpanShorterThanSlots { slots: 4, .. })
        ));
        assert!(matches!(
            Window::new(Duration::MAX, 1),
            Err(StatsError::SpanTooLong { .. })
        ));
        let w = Window::new(Duration::from_nanos(4), 4).unwrap();
        assert_eq!(w.slot_width(), Duration::from_nanos(1));
        // 10 ns in 3 slots: rounded down to 3 ns per slot.
        let w = Window::new(Duration::from_nanos(10), 3).unwrap();
        assert_eq!((w.span(), w.slots()), (Duration::from_nanos(9), 3));
    }

    #[test]
    fn values_older_than_the_span_disappear() {
        // 1 s in 4 slots of 250 ms.
        let mut w = window(1_000, 4);
        w.record(Instant::from_millis(0), 1);
        w.record(Instant::from_millis(260), 2);
        w.record(Instant::from_millis(510), 3);
        w.record(Instant::from_millis(999), 4);
        w.validate();
        assert_eq!(w.snapshot(Instant::from_millis(999)).count(), 4);
        // Slot 0 ([0, 250) ms) leaves when slot 4 begins.
        let at_1000 = w.snapshot(Instant::from_millis(1_000));
        assert_eq!((at_1000.count(), at_1000.min()), (3, Some(2)));
        // Recording in slot 4 recycles slot 0's storage.
        w.record(Instant::from_millis(1_100), 5);
        w.validate();
        let h = w.snapshot(Instant::from_millis(1_100));
        assert_eq!((h.count(), h.min(), h.max()), (4, Some(2), Some(5)));
        // At 1.6 s only slots 3..=6 remain: the values 4 and 5.
        let h = w.snapshot(Instant::from_millis(1_600));
        assert_eq!((h.count(), h.sum()), (2, 9));
    }

    #[test]
    fn a_gap_longer_than_the_span_clears_everything() {
        let mut w = window(1_000, 10);
        for t in 0..1_000 {
            w.record(Instant::from_millis(t), t);
        }
        assert_eq!(w.snapshot(Instant::from_millis(999)).count(), 1_000);
        assert!(w.snapshot(Instant::from_millis(2_000)).is_empty());
        assert_eq!(
            w.summary(Instant::from_secs(3_600), 1.0),
            Summary::default()
        );
        // Recording after the gap sees only the new value, although the old slots were
        // never overwritten one by one.
        w.record(Instant::from_millis(5_555), 42);
        w.validate();
        let h = w.snapshot(Instant::from_millis(5_555));
        assert_eq!((h.count(), h.min(), h.max()), (1, Some(42), Some(42)));
    }

    #[test]
    fn time_going_back_records_into_the_newest_slot() {
        let mut w = window(1_000, 4);
        w.record(Instant::from_millis(900), 1);
        w.record(Instant::from_millis(100), 2); // clock stepped back
        w.validate();
        let h = w.snapshot(Instant::from_millis(900));
        assert_eq!(h.count(), 2);
        // Reading at an earlier instant reads as the newest one: nothing is lost.
        assert_eq!(w.snapshot(Instant::ZERO).count(), 2);
        assert_eq!(w.snapshot(Instant::from_millis(1_999)).count(), 0);
    }

    #[test]
    fn summary_uses_span_and_scale() {
        let mut w = window(2_000, 4);
        for v in [1_000u64, 2_000, 3_000, 4_000] {
            w.record(Instant::from_millis(1_500), v);
        }
        let s = w.summary(Instant::from_millis(1_900), 1_000.0);
        assert_eq!(s.count, 4);
        assert_eq!(s.rate_per_s, 2.0);
        assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
        w.clear();
        w.validate();
        assert!(w.snapshot(Instant::from_millis(1_900)).is_empty());
    }

    #[test]
    fn instants_near_the_end_of_time_do_not_overflow() {
        let mut w = window(1_000, 3);
        w.record(Instant::MAX, 7);
        w.validate();
        assert_eq!(w.snapshot(Instant::MAX).count(), 1);
        assert_eq!(w.snapshot(Instant::ZERO).count(), 1);
    }
}
