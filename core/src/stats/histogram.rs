//! A log-linear, mergeable histogram of `u64` values (HdrHistogram-style buckets).
//!
//! Layout: values below 256 get one bucket each (exact). Above that, every power of two
//! `[2^k, 2^(k+1))` is split into 128 equal sub-buckets, so a bucket's width is at most
//! 1/128 of its lowest value. The bucket index comes from bit arithmetic alone:
//!
//! ```text
//! shift = max(0, bit_length(v) - 8)
//! index = shift * 128 + (v >> shift)
//! ```
//!
//! which gives 256 exact buckets plus 56 × 128 log-linear ones: 7,424 in all, covering the
//! whole `u64` range. Counts live in a `Vec<u64>` grown on demand up to the highest index
//! seen, so a histogram of small values stays small.

use alloc::vec::Vec;

pub use wire::HistogramError;

mod wire;

/// log2 of the number of linear sub-buckets per power of two.
const SUB_BITS: u32 = 7;
/// Linear sub-buckets per power of two (above the exact range).
const SUB_COUNT: u32 = 1 << SUB_BITS;
/// Values below this get a bucket of their own.
const EXACT_LIMIT: u32 = 2 * SUB_COUNT;
/// Number of buckets needed to cover `0..=u64::MAX`.
const BUCKET_COUNT: u32 = EXACT_LIMIT + (64 - (SUB_BITS + 1)) * SUB_COUNT;

/// A log-linear histogram of `u64` values with a bounded relative error.
///
/// Values below 256 are recorded exactly; larger values fall into one of 128 equal-width
/// sub-buckets of their power of two. A bucket therefore spans at most `1/128` of its own
/// lower bound, and a quantile reported as the bucket's midpoint (clamped to the recorded
/// `[min, max]`) is within **`1/256` ≈ 0.39 %** of the exact answer: see
/// [`Histogram::RELATIVE_ERROR`]. `count`, `sum`, `min` and `max` are exact.
///
/// Merging is exact: `a.merge(&b)` equals the histogram of every value recorded in `a` and
/// in `b`, so histograms from many windows, threads or hosts can be combined without loss.
///
/// Counters saturate instead of overflowing (at 2^64 recorded values, far beyond any
/// real workload); the sum is kept in a `u128` and saturates too.
///
/// # Serialization
/// A histogram serializes as
/// `{"count":N,"sum":S,"min":m,"max":M,"buckets":[[index,count],...]}` with `min` and
/// `max` omitted when empty, and `sum` an integer (a decimal string in the practically
/// unreachable case that it exceeds `u64::MAX`). Deserialization validates the
/// input (see [`HistogramError`]) so a decoded histogram always upholds the invariants.
///
/// # Example
/// ```
/// use perfopt_core::stats::Histogram;
///
/// let mut h = Histogram::new();
/// for v in 1..=1000u64 {
///     h.record(v);
/// }
/// assert_eq!(h.count(), 1000);
/// assert_eq!((h.min(), h.max()), (Some(1), Some(1000)));
/// let p99 = h.quantile(0.99).unwrap();
/// // The exact p99 is 990; the estimate is within the documented bound.
/// assert!((p99 as f64 - 990.0).abs() <= 990.0 * Histogram::RELATIVE_ERROR);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// Count per bucket. Invariant: empty, or the last element is non-zero (so the derived
    /// `PartialEq` compares contents, not capacity history).
    counts: Vec<u64>,
    /// Total number of recorded values (= sum of `counts` unless saturated).
    count: u64,
    /// Exact sum of recorded values (saturating).
    sum: u128,
    /// Smallest recorded value; `u64::MAX` when empty.
    min: u64,
    /// Largest recorded value; `0` when empty.
    max: u64,
}

impl Histogram {
    /// Upper bound of the relative error of [`Histogram::quantile`]: `1/256` (≈ 0.39 %).
    ///
    /// A bucket above the exact range starts at `128·w` and is `w` wide, so its midpoint is
    /// at most `w/2` from any value in it: a relative error of at most `(w/2)/(128·w)`.
    pub const RELATIVE_ERROR: f64 = 1.0 / (2.0 * SUB_COUNT as f64);

    /// Number of buckets: valid indices are `0..BUCKET_COUNT`.
    pub const BUCKET_COUNT: u32 = BUCKET_COUNT;

    /// An empty histogram. Does not allocate.
    pub const fn new() -> Self {
        Histogram {
            counts: Vec::new(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one occurrence of `value`.
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `n` occurrences of `value`. `n == 0` is a no-op.
    pub fn record_n(&mut self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let index = Self::bucket_index(value) as usize;
        if index >= self.counts.len() {
            self.counts.resize(index + 1, 0);
        }
        self.counts[index] = self.counts[index].saturating_add(n);
        self.count = self.count.saturating_add(n);
        self.sum = self.sum.saturating_add(u128::from(value) * u128::from(n));
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Smallest recorded value (exact), or `None` if empty.
    pub fn min(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.min)
    }

    /// Largest recorded value (exact), or `None` if empty.
    pub fn max(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.max)
    }

    /// Exact sum of the recorded values, saturating at `u128::MAX`.
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// Arithmetic mean of the recorded values, or `None` if empty.
    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.sum as f64 / self.count as f64)
    }

    /// Estimates the `q`-quantile, `q` in `[0, 1]`.
    ///
    /// The rank is `ceil(q · count)` clamped to `[1, count]`, so the exact answer is
    /// `sorted[rank - 1]` of the recorded values. The estimate is the midpoint of the bucket
    /// holding that rank, clamped to `[min, max]`; it is within
    /// [`Histogram::RELATIVE_ERROR`] of the exact answer, and exact for values below 256,
    /// for the lowest rank (`min`) and for the highest (`max`). `q` outside `[0, 1]` is
    /// clamped and NaN counts as `0`.
    ///
    /// Returns `None` if the histogram is empty.
    ///
    /// # Example
    /// ```
    /// use perfopt_core::stats::Histogram;
    ///
    /// let h: Histogram = [10u64, 20, 30, 40].into_iter().collect();
    /// assert_eq!(h.quantile(0.5), Some(20)); // rank ceil(0.5 * 4) = 2
    /// assert_eq!(h.quantile(1.0), Some(40));
    /// assert_eq!(Histogram::new().quantile(0.5), None);
    /// ```
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = ceil_to_u64(q * self.count as f64).clamp(1, self.count);
        if rank == 1 {
            return Some(self.min);
        }
        if rank == self.count {
            return Some(self.max);
        }
        let mut seen = 0u64;
        for (index, &n) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(n);
            if seen >= rank {
                let (low, high) = Self::bucket_bounds(index as u32);
                let mid = low + (high - low) / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        // Only reachable if the bucket counts saturated below `count`.
        Some(self.max)
    }

    /// Adds every value recorded in `other` to `self`. Exact: the result equals the
    /// histogram of both inputs' values.
    pub fn merge(&mut self, other: &Histogram) {
        if other.is_empty() {
            return;
        }
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, &theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(theirs);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Forgets every recorded value, keeping the allocation for reuse.
    pub fn clear(&mut self) {
        self.counts.clear();
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }

    /// The non-empty buckets as `(bucket index, count)`, in ascending index order.
    pub fn buckets(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(index, &n)| (index as u32, n))
    }

    /// The bucket that `value` is recorded in.
    pub const fn bucket_index(value: u64) -> u32 {
        let bits = u64::BITS - value.leading_zeros();
        let shift = bits.saturating_sub(SUB_BITS + 1);
        // `value >> shift` < 256, and `shift` <= 56, so this fits comfortably in a u32.
        shift * SUB_COUNT + (value >> shift) as u32
    }

    /// The inclusive `(low, high)` range of values recorded in bucket `index`.
    ///
    /// # Panics
    /// If `index >= Histogram::BUCKET_COUNT`.
    pub const fn bucket_bounds(index: u32) -> (u64, u64) {
        assert!(index < BUCKET_COUNT, "histogram bucket index out of range");
        if index < EXACT_LIMIT {
            return (index as u64, index as u64);
        }
        let shift = index / SUB_COUNT - 1;
        let mantissa = (index % SUB_COUNT + SUB_COUNT) as u64;
        let low = mantissa << shift;
        // `low + (2^shift - 1)` is at most u64::MAX for the last bucket: no overflow.
        (low, low + ((1u64 << shift) - 1))
    }

    /// Checks the internal invariants; panics with a description if one is broken.
    #[cfg(test)]
    pub(crate) fn validate(&self) {
        assert!(
            self.counts.last().is_none_or(|&n| n > 0),
            "trailing zero bucket"
        );
        assert!(self.counts.len() <= BUCKET_COUNT as usize);
        let total: u64 = self.counts.iter().sum();
        assert_eq!(total, self.count, "bucket counts do not add up to count");
        if self.is_empty() {
            assert_eq!((self.sum, self.min, self.max), (0, u64::MAX, 0));
        } else {
            let first = self.counts.iter().position(|&n| n > 0).unwrap() as u32;
            let last = (self.counts.len() - 1) as u32;
            assert_eq!(
                Self::bucket_index(self.min),
                first,
                "min not in first bucket"
            );
            assert_eq!(Self::bucket_index(self.max), last, "max not in last bucket");
            assert!(self.sum >= u128::from(self.min) * u128::from(self.count));
            assert!(self.sum <= u128::from(self.max) * u128::from(self.count));
        }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Extend<u64> for Histogram {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, values: I) {
        for value in values {
            self.record(value);
        }
    }
}

impl FromIterator<u64> for Histogram {
    fn from_iter<I: IntoIterator<Item = u64>>(values: I) -> Self {
        let mut h = Histogram::new();
        h.extend(values);
        h
    }
}

/// `ceil(x)` as a `u64` without `std` (non-positive and NaN give 0; saturates).
fn ceil_to_u64(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    let truncated = x as u64; // saturating cast
    if (truncated as f64) < x {
        truncated.saturating_add(1)
    } else {
        truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn powers_and_neighbours() -> Vec<u64> {
        let mut values = vec![
            0,
            1,
            2,
            127,
            128,
            129,
            255,
            256,
            257,
            u64::MAX,
            u64::MAX - 1,
        ];
        for k in 0..64 {
            let p = 1u64 << k;
            values.extend([p - 1, p, p + 1, p | (p >> 1), p.wrapping_mul(3) / 2]);
        }
        values
    }

    #[test]
    fn every_value_lies_within_its_bucket() {
        for v in powers_and_neighbours() {
            let index = Histogram::bucket_index(v);
            assert!(index < BUCKET_COUNT, "{v} -> {index}");
            let (low, high) = Histogram::bucket_bounds(index);
            assert!(
                low <= v && v <= high,
                "{v} not in bucket {index} = [{low}, {high}]"
            );
        }
        assert_eq!(Histogram::bucket_index(u64::MAX), BUCKET_COUNT - 1);
        assert_eq!(Histogram::bucket_bounds(BUCKET_COUNT - 1).1, u64::MAX);
    }

    #[test]
    fn buckets_tile_the_whole_range_without_gaps() {
        let mut next = 0u64;
        for index in 0..BUCKET_COUNT {
            let (low, high) = Histogram::bucket_bounds(index);
            assert_eq!(low, next, "gap before bucket {index}");
            assert!(high >= low);
            assert_eq!(Histogram::bucket_index(low), index);
            assert_eq!(Histogram::bucket_index(high), index);
            // Width bound behind RELATIVE_ERROR: at most low/128 above the exact range.
            if index >= EXACT_LIMIT {
                assert!(high - low < low / 128, "bucket {index} too wide");
            }
            next = high.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bucket must end at u64::MAX");
    }

    #[test]
    fn small_values_are_exact() {
        let h: Histogram = (0..256u64).collect();
        for v in 0..256u64 {
            // rank v + 1 of 256 values 0..=255.
            let q = (v + 1) as f64 / 256.0;
            assert_eq!(h.quantile(q), Some(v));
        }
        assert_eq!(h.buckets().count(), 256);
        h.validate();
    }

    #[test]
    fn empty_histogram_reports_nothing() {
        let h = Histogram::new();
        assert!(h.is_empty());
        assert_eq!((h.count(), h.sum()), (0, 0));
        assert_eq!((h.min(), h.max(), h.mean()), (None, None, None));
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.buckets().next(), None);
        assert_eq!(h, Histogram::default());
    }

    #[test]
    fn quantile_clamps_q_and_uses_min_and_max() {
        let h: Histogram = [1_000u64, 2_000, 1_000_000].into_iter().collect();
        assert_eq!(h.quantile(-1.0), Some(1_000));
        assert_eq!(h.quantile(f64::NAN), Some(1_000));
        assert_eq!(h.quantile(0.0), Some(1_000));
        assert_eq!(h.quantile(2.0), Some(1_000_000));
        assert_eq!(h.quantile(1.0), Some(1_000_000));
        let mid = h.quantile(0.5).unwrap();
        assert!(mid.abs_diff(2_000) as f64 <= 2_000.0 * Histogram::RELATIVE_ERROR);
        assert_eq!(h.mean(), Some(1_003_000.0 / 3.0));
    }

    #[test]
    fn record_n_matches_repeated_record_and_zero_is_noop() {
        let mut a = Histogram::new();
        a.record_n(12_345, 3);
        a.record_n(99, 0);
        let b: Histogram = [12_345u64; 3].into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(a.sum(), 3 * 12_345);
        a.validate();
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let mut h = Histogram::new();
        h.record_n(u64::MAX, u64::MAX);
        h.record(u64::MAX);
        assert_eq!(h.count(), u64::MAX); // saturated
        assert_eq!(
            h.sum(),
            u128::from(u64::MAX) * u128::from(u64::MAX) + u128::from(u64::MAX)
        );
        assert_eq!(h.quantile(0.5), Some(u64::MAX));
    }

    #[test]
    fn merge_and_clear_keep_canonical_form() {
        let mut a: Histogram = [5u64, 1_000_000].into_iter().collect();
        let b: Histogram = [7u64, 3].into_iter().collect();
        a.merge(&b);
        a.validate();
        let all: Histogram = [5u64, 1_000_000, 7, 3].into_iter().collect();
        assert_eq!(a, all);
        a.clear();
        a.validate();
        assert_eq!(a, Histogram::new());
        a.record(4);
        assert_eq!(a, [4u64].into_iter().collect());
        let mut empty = Histogram::new();
        empty.merge(&Histogram::new());
        assert_eq!(empty, Histogram::new());
    }

    #[test]
    fn ceil_helper_matches_definition() {
        assert_eq!(ceil_to_u64(0.0), 0);
        assert_eq!(ceil_to_u64(-3.5), 0);
        assert_eq!(ceil_to_u64(f64::NAN), 0);
        assert_eq!(ceil_to_u64(0.1), 1);
        assert_eq!(ceil_to_u64(2.0), 2);
        assert_eq!(ceil_to_u64(2.000_001), 3);
        assert_eq!(ceil_to_u64(1e30), u64::MAX);
    }
}
