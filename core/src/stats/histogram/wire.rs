//! The serialized form of a [`Histogram`] and its validation.
//!
//! `{"count":N,"sum":S,"min":m,"max":M,"buckets":[[index,count],...]}`: only the non-empty
//! buckets are written. Reading checks every invariant the in-memory type relies on, so a
//! corrupt or hand-edited report is rejected with a [`HistogramError`] instead of producing
//! wrong quantiles later.

use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::{BUCKET_COUNT, Histogram};

/// Why a serialized histogram was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HistogramError {
    /// A bucket index is not below [`Histogram::BUCKET_COUNT`].
    IndexOutOfRange {
        /// The offending index.
        index: u32,
    },
    /// Bucket indices are not strictly ascending.
    IndicesNotAscending {
        /// The index before the offending one.
        previous: u32,
        /// The offending index.
        index: u32,
    },
    /// A bucket is listed with a zero count.
    ZeroBucketCount {
        /// The bucket's index.
        index: u32,
    },
    /// The bucket counts do not add up to `count`.
    CountMismatch {
        /// The declared count.
        count: u64,
        /// The sum of the bucket counts.
        buckets: u128,
    },
    /// `min` or `max` is missing although the histogram is not empty.
    MissingMinMax,
    /// `min`, `max` or a non-zero `sum` is present although the histogram is empty.
    EmptyWithValues,
    /// `min` is not in the first non-empty bucket.
    MinOutsideFirstBucket {
        /// The declared minimum.
        min: u64,
        /// The first non-empty bucket.
        index: u32,
    },
    /// `max` is not in the last non-empty bucket.
    MaxOutsideLastBucket {
        /// The declared maximum.
        max: u64,
        /// The last non-empty bucket.
        index: u32,
    },
    /// `min` is greater than `max`.
    MinAboveMax {
        /// The declared minimum.
        min: u64,
        /// The declared maximum.
        max: u64,
    },
    /// `sum` is outside `[count · min, count · max]`.
    SumOutOfRange {
        /// The declared sum.
        sum: u128,
    },
}

impl fmt::Display for HistogramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HistogramError::IndexOutOfRange { index } => write!(
                f,
                "invalid histogram: bucket index {index} out of range (must be < {BUCKET_COUNT})"
            ),
            HistogramError::IndicesNotAscending { previous, index } => write!(
                f,
                "invalid histogram: bucket indices must be strictly ascending, {index} follows {previous}"
            ),
            HistogramError::ZeroBucketCount { index } => {
                write!(f, "invalid histogram: bucket {index} has a zero count")
            }
            HistogramError::CountMismatch { count, buckets } => write!(
                f,
                "invalid histogram: bucket counts add up to {buckets} but count is {count}"
            ),
            HistogramError::MissingMinMax => {
                f.write_str("invalid histogram: min and max are required when count > 0")
            }
            HistogramError::EmptyWithValues => {
                f.write_str("invalid histogram: an empty histogram has no min, no max and sum 0")
            }
            HistogramError::MinOutsideFirstBucket { min, index } => write!(
                f,
                "invalid histogram: min {min} is not in the first non-empty bucket {index}"
            ),
            HistogramError::MaxOutsideLastBucket { max, index } => write!(
                f,
                "invalid histogram: max {max} is not in the last non-empty bucket {index}"
            ),
            HistogramError::MinAboveMax { min, max } => {
                write!(f, "invalid histogram: min {min} is greater than max {max}")
            }
            HistogramError::SumOutOfRange { sum } => write!(
                f,
                "invalid histogram: sum {sum} is outside [count * min, count * max]"
            ),
        }
    }
}

impl core::error::Error for HistogramError {}

/// The wire form of a histogram, validated by `Histogram::from_repr` on the way in.
#[derive(Serialize, Deserialize)]
struct Repr<B> {
    count: u64,
    sum: Sum,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<u64>,
    buckets: B,
}

/// Borrowed view of the non-empty buckets, serialized as `[[index, count], ...]`.
struct BucketsRef<'a>(&'a Histogram);

impl Serialize for BucketsRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.buckets())
    }
}

impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Repr {
            count: self.count,
            sum: Sum(self.sum),
            min: self.min(),
            max: self.max(),
            buckets: BucketsRef(self),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = Repr::<Vec<(u32, u64)>>::deserialize(deserializer)?;
        Histogram::from_repr(repr).map_err(de::Error::custom)
    }
}

impl Histogram {
    /// Validates the wire form and builds the histogram it describes.
    fn from_repr(repr: Repr<Vec<(u32, u64)>>) -> Result<Self, HistogramError> {
        let Repr {
            count,
            sum: Sum(sum),
            min,
            max,
            buckets,
        } = repr;
        let mut previous: Option<u32> = None;
        let mut total: u128 = 0;
        for &(index, n) in &buckets {
            if index >= BUCKET_COUNT {
                return Err(HistogramError::IndexOutOfRange { index });
            }
            if let Some(previous) = previous.filter(|&p| p >= index) {
                return Err(HistogramError::IndicesNotAscending { previous, index });
            }
            if n == 0 {
                return Err(HistogramError::ZeroBucketCount { index });
            }
            previous = Some(index);
            total += u128::from(n);
        }
        if total != u128::from(count) {
            return Err(HistogramError::CountMismatch {
                count,
                buckets: total,
            });
        }
        let (Some(&(first, _)), Some(&(last, _))) = (buckets.first(), buckets.last()) else {
            // count == total == 0: nothing recorded.
            if min.is_some() || max.is_some() || sum != 0 {
                return Err(HistogramError::EmptyWithValues);
            }
            return Ok(Histogram::new());
        };
        let (Some(min), Some(max)) = (min, max) else {
            return Err(HistogramError::MissingMinMax);
        };
        if min > max {
            return Err(HistogramError::MinAboveMax { min, max });
        }
        if Histogram::bucket_index(min) != first {
            return Err(HistogramError::MinOutsideFirstBucket { min, index: first });
        }
        if Histogram::bucket_index(max) != last {
            return Err(HistogramError::MaxOutsideLastBucket { max, index: last });
        }
        let (count128, min128, max128) = (u128::from(count), u128::from(min), u128::from(max));
        if sum < count128 * min128 || sum > count128 * max128 {
            return Err(HistogramError::SumOutOfRange { sum });
        }
        let mut counts = alloc::vec![0; last as usize + 1];
        for (index, n) in buckets {
            counts[index as usize] = n;
        }
        Ok(Histogram {
            counts,
            count,
            sum,
            min,
            max,
        })
    }
}

/// The exact sum on the wire: an integer when it fits in a `u64` (every format and every
/// JSON reader handles that), otherwise its decimal digits as a string, so a sum past
/// 2^64 survives `serde_json::Value`, `#[serde(flatten)]` and JavaScript exactly.
///
/// Reads back an integer, such a string, or a float holding an integer (what some writers
/// produce for large numbers); anything else is an error.
struct Sum(u128);

impl Serialize for Sum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match u64::try_from(self.0) {
            Ok(small) => serializer.serialize_u64(small),
            Err(_) => serializer.collect_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Sum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SumVisitor;

        impl Visitor<'_> for SumVisitor {
            type Value = Sum;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer, or one as a decimal string")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Sum, E> {
                Ok(Sum(u128::from(v)))
            }

            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Sum, E> {
                Ok(Sum(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Sum, E> {
                u128::try_from(v)
                    .map(Sum)
                    .map_err(|_| E::custom("invalid histogram: sum is negative"))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Sum, E> {
                let as_int = v as u128; // saturating cast
                if v >= 0.0 && as_int as f64 == v {
                    Ok(Sum(as_int))
                } else {
                    Err(E::custom(
                        "invalid histogram: sum must be a non-negative integer",
                    ))
                }
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Sum, E> {
                v.parse()
                    .map(Sum)
                    .map_err(|_| E::custom("invalid histogram: sum must be a non-negative integer"))
            }
        }

        deserializer.deserialize_any(SumVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};

    #[test]
    fn serde_round_trip() {
        let h: Histogram = [0u64, 3, 3, 300, 70_000, u64::MAX].into_iter().collect();
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.starts_with(r#"{"count":6,"sum":"#), "{json}");
        assert!(json.contains(r#""buckets":[[0,1],[3,2],"#), "{json}");
        let back: Histogram = serde_json::from_str(&json).unwrap();
        back.validate();
        assert_eq!(back, h);

        let empty = serde_json::to_string(&Histogram::new()).unwrap();
        assert_eq!(empty, r#"{"count":0,"sum":0,"buckets":[]}"#);
        let back: Histogram = serde_json::from_str(&empty).unwrap();
        assert_eq!(back, Histogram::new());
        let with_nulls: Histogram =
            serde_json::from_str(r#"{"count":0,"sum":0,"min":null,"max":null,"buckets":[]}"#)
                .unwrap();
        assert_eq!(with_nulls, Histogram::new());
    }

    #[test]
    fn serde_round_trips_sums_beyond_u64() {
        let mut h = Histogram::new();
        h.record_n(u64::MAX, 4);
        let json = serde_json::to_string(&h).unwrap();
        let sum = 4 * u128::from(u64::MAX);
        assert!(json.contains(&alloc::format!(r#""sum":"{sum}""#)), "{json}");
        let back: Histogram = serde_json::from_str(&json).unwrap();
        assert_eq!(back.sum(), sum);
        assert_eq!(back, h);
        let via_value: Histogram =
            serde_json::from_value(serde_json::to_value(&h).unwrap()).unwrap();
        assert_eq!(via_value, h);
        // An integral float is accepted too (some writers emit large integers that way).
        let float: Histogram = serde_json::from_str(
            r#"{"count":2,"sum":4.0,"min":1,"max":3,"buckets":[[1,1],[3,1]]}"#,
        )
        .unwrap();
        assert_eq!(float, [1u64, 3].into_iter().collect());
    }

    #[test]
    fn serde_works_through_value_and_flatten() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Tagged {
            unit: alloc::string::String,
            #[serde(flatten)]
            histogram: Histogram,
        }
        let h: Histogram = [1u64, 500, 90_000].into_iter().collect();
        let value = serde_json::to_value(&h).unwrap();
        assert_eq!(value["sum"], 90_501);
        assert_eq!(serde_json::from_value::<Histogram>(value).unwrap(), h);
        let tagged = Tagged {
            unit: "us".into(),
            histogram: h,
        };
        let json = serde_json::to_string(&tagged).unwrap();
        assert!(json.starts_with(r#"{"unit":"us","count":3,"#), "{json}");
        assert_eq!(serde_json::from_str::<Tagged>(&json).unwrap(), tagged);
    }

    fn reject(json: &str) -> String {
        match serde_json::from_str::<Histogram>(json) {
            Ok(h) => panic!("accepted invalid histogram {json}: {h:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn serde_rejects_invalid_histograms() {
        let unsorted = reject(r#"{"count":2,"sum":4,"min":1,"max":3,"buckets":[[3,1],[1,1]]}"#);
        assert!(unsorted.contains("strictly ascending"), "{unsorted}");
        let duplicate = reject(r#"{"count":2,"sum":2,"min":1,"max":1,"buckets":[[1,1],[1,1]]}"#);
        assert!(duplicate.contains("strictly ascending"), "{duplicate}");
        let mismatch = reject(r#"{"count":3,"sum":4,"min":1,"max":3,"buckets":[[1,1],[3,1]]}"#);
        assert!(
            mismatch.contains("add up to 2 but count is 3"),
            "{mismatch}"
        );
        let out_of_range = reject(r#"{"count":1,"sum":1,"min":1,"max":1,"buckets":[[7424,1]]}"#);
        assert!(out_of_range.contains("out of range"), "{out_of_range}");
        let zero = reject(r#"{"count":1,"sum":1,"min":1,"max":1,"buckets":[[1,1],[2,0]]}"#);
        assert!(zero.contains("zero count"), "{zero}");
        let min_wrong = reject(r#"{"count":2,"sum":4,"min":2,"max":3,"buckets":[[1,1],[3,1]]}"#);
        assert!(min_wrong.contains("min 2"), "{min_wrong}");
        let max_wrong = reject(r#"{"count":2,"sum":4,"min":1,"max":4,"buckets":[[1,1],[3,1]]}"#);
        assert!(max_wrong.contains("max 4"), "{max_wrong}");
        let missing = reject(r#"{"count":1,"sum":1,"buckets":[[1,1]]}"#);
        assert!(missing.contains("required"), "{missing}");
        let empty_with_min = reject(r#"{"count":0,"sum":0,"min":1,"buckets":[]}"#);
        assert!(empty_with_min.contains("empty"), "{empty_with_min}");
        let bad_sum = reject(r#"{"count":2,"sum":100,"min":1,"max":3,"buckets":[[1,1],[3,1]]}"#);
        assert!(bad_sum.contains("sum 100"), "{bad_sum}");
        let negative = reject(r#"{"count":1,"sum":-1,"min":1,"max":1,"buckets":[[1,1]]}"#);
        assert!(negative.contains("negative"), "{negative}");
        let fraction = reject(r#"{"count":1,"sum":1.5,"min":1,"max":2,"buckets":[[1,1]]}"#);
        assert!(fraction.contains("non-negative integer"), "{fraction}");
        let text = reject(r#"{"count":1,"sum":"x1","min":1,"max":1,"buckets":[[1,1]]}"#);
        assert!(text.contains("non-negative integer"), "{text}");
        let reversed = reject(r#"{"count":2,"sum":4,"min":3,"max":1,"buckets":[[1,1],[3,1]]}"#);
        assert!(reversed.contains("greater than max"), "{reversed}");
    }
}
