//! Compact byte encodings of the retained columns: LEB128 varints, zigzag for signed
//! numbers, delta-of-delta for times, and values quantised to their unit's resolution (the
//! same resolution the whole-run histograms use: 0.01 % for percentages, 1 byte, 1 µs, …).
//!
//! A value column is a byte stream with one entry per sample: `0` for "no value", otherwise
//! `zigzag(q − previous q) + 1` as a varint, where `q = round(value × scale)`. Metrics that
//! change slowly cost one byte a sample; a noisy CPU percentage about two.

use alloc::vec::Vec;

/// Largest quantised magnitude kept; larger values are clamped (2^46: 70 TB in bytes,
/// 7·10^11 % in hundredths). Keeps every sum and difference of a rollup row inside `i64`.
pub(crate) const Q_LIMIT: i64 = 1 << 46;

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos`, advancing it. `None` on truncated or over-long input.
pub(crate) fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// `round(value × scale)`, clamped to `±Q_LIMIT`.
pub(crate) fn quantise(value: f64, scale: f64) -> i64 {
    round(value * scale).clamp(-Q_LIMIT, Q_LIMIT)
}

/// `x` rounded half away from zero, saturating at the `i64` range (NaN gives 0); `core`
/// has no `f64::round`.
pub(crate) fn round(x: f64) -> i64 {
    // `as` saturates and maps NaN to 0.
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

/// The value a quantised number stands for.
pub(crate) fn dequantise(q: i64, scale: f64) -> f64 {
    q as f64 / scale
}

/// Delta-of-delta encoder of an increasing time column (ms).
#[derive(Clone, Debug, Default)]
pub(crate) struct TimeEncoder {
    prev: u64,
    prev_delta: i64,
    len: usize,
}

impl TimeEncoder {
    pub(crate) fn push(&mut self, out: &mut Vec<u8>, t: u64) {
        if self.len == 0 {
            put_varint(out, t);
        } else {
            let delta = t.wrapping_sub(self.prev) as i64;
            put_varint(out, zigzag(delta.wrapping_sub(self.prev_delta)));
            self.prev_delta = delta;
        }
        self.prev = t;
        self.len += 1;
    }
}

/// Decodes `n` times written by [`TimeEncoder`].
pub(crate) fn decode_times(bytes: &[u8], n: usize, out: &mut Vec<u64>) -> Option<()> {
    let mut pos = 0;
    let (mut prev, mut prev_delta) = (0u64, 0i64);
    for i in 0..n {
        if i == 0 {
            prev = get_varint(bytes, &mut pos)?;
        } else {
            prev_delta = prev_delta.wrapping_add(unzigzag(get_varint(bytes, &mut pos)?));
            prev = prev.wrapping_add(prev_delta as u64);
        }
        out.push(prev);
    }
    Some(())
}

/// Encoder of one quantised value column (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct ValueEncoder {
    prev: i64,
}

impl ValueEncoder {
    pub(crate) fn push(&mut self, out: &mut Vec<u8>, q: Option<i64>) {
        match q {
            None => out.push(0),
            Some(q) => {
                put_varint(out, zigzag(q - self.prev) + 1);
                self.prev = q;
            }
        }
    }
}

/// Decodes `n` entries written by [`ValueEncoder`].
pub(crate) fn decode_values(
    bytes: &[u8],
    n: usize,
    mut sink: impl FnMut(Option<i64>),
) -> Option<()> {
    let mut pos = 0;
    let mut prev = 0i64;
    for _ in 0..n {
        let v = get_varint(bytes, &mut pos)?;
        if v == 0 {
            sink(None);
        } else {
            prev = prev.wrapping_add(unzigzag(v - 1));
            sink(Some(prev));
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        let mut out = Vec::new();
        let values = [0u64, 1, 127, 128, 300, u64::MAX];
        for v in values {
            put_varint(&mut out, v);
        }
        let mut pos = 0;
        for v in values {
            assert_eq!(get_varint(&out, &mut pos), Some(v));
        }
        assert_eq!(get_varint(&out, &mut pos), None);
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -Q_LIMIT] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(get_varint(&[0x80, 0x80], &mut 0), None, "truncated");
    }

    #[test]
    fn columns_round_trip() {
        let times = [0u64, 1000, 2000, 3001, 3999, 10_000];
        let mut enc = TimeEncoder::default();
        let mut out = Vec::new();
        for t in times {
            enc.push(&mut out, t);
        }
        let mut back = Vec::new();
        decode_times(&out, times.len(), &mut back).unwrap();
        assert_eq!(back, times);

        let values = [Some(5), None, Some(-7), Some(Q_LIMIT), Some(-Q_LIMIT), None];
        let mut enc = ValueEncoder::default();
        let mut out = Vec::new();
        for v in values {
            enc.push(&mut out, v);
        }
        let mut back = Vec::new();
        decode_values(&out, values.len(), |v| back.push(v)).unwrap();
        assert_eq!(back, values);
        assert!(decode_values(&out, values.len() + 1, |_| {}).is_none());
    }

    #[test]
    fn quantisation_is_idempotent_and_clamped() {
        for v in [95.5, 12.345, 0.0, -3.21, 1e9, 123_456_789.0] {
            let q = quantise(v, 100.0);
            assert_eq!(quantise(dequantise(q, 100.0), 100.0), q, "{v}");
        }
        assert_eq!(quantise(1e300, 1.0), Q_LIMIT);
        assert_eq!(quantise(-1e300, 1.0), -Q_LIMIT);
    }
}
