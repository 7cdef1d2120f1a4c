//! A mergeable latency histogram: log-linear buckets (exact below 32 ms, then 16 per power of two, so any value
//! is within 6.25 % of its bucket), counted sparsely. Two histograms merge by adding counts, so hourly rollups
//! keep percentiles for a year and any window's p50/p95/p99 is computed from them, never from averages.

use std::fmt;

/// Values below this are their own bucket.
const LINEAR: u32 = 32;
/// Sub-buckets per power of two above that.
const SUB_BITS: u32 = 4;

/// A latency histogram in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// (bucket, count), sorted by bucket, counts > 0.
    buckets: Vec<(u16, u64)>,
    count: u64,
    sum: u64,
    min: u32,
    max: u32,
}

/// A histogram's stored form was not one this crate writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed histogram encoding")]
pub struct HistogramDecodeError;

fn bucket_of(v: u32) -> u16 {
    if v < LINEAR {
        return v as u16;
    }
    let e = 31 - v.leading_zeros(); // floor(log2 v) >= 5
    let sub = (v >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (LINEAR + (e - 5) * (1 << SUB_BITS) + sub) as u16
}

/// The half-open range of values a bucket holds.
fn bucket_range(b: u16) -> (u64, u64) {
    let b = u32::from(b);
    if b < LINEAR {
        return (u64::from(b), u64::from(b) + 1);
    }
    let e = 5 + (b - LINEAR) / (1 << SUB_BITS);
    let sub = (b - LINEAR) % (1 << SUB_BITS);
    let low = u64::from((1 << SUB_BITS) + sub) << (e - SUB_BITS);
    (low, low + (1u64 << (e - SUB_BITS)))
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// Counts one value.
    pub fn record(&mut self, ms: u32) {
        self.record_n(ms, 1);
    }

    fn record_n(&mut self, ms: u32, n: u64) {
        if n == 0 {
            return;
        }
        self.add_bucket(bucket_of(ms), n);
        self.min = if self.count == 0 { ms } else { self.min.min(ms) };
        self.max = self.max.max(ms);
        self.count += n;
        self.sum = self.sum.saturating_add(u64::from(ms) * n);
    }

    fn add_bucket(&mut self, b: u16, n: u64) {
        match self.buckets.binary_search_by_key(&b, |&(k, _)| k) {
            Ok(i) => self.buckets[i].1 += n,
            Err(i) => self.buckets.insert(i, (b, n)),
        }
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        for &(b, n) in &other.buckets {
            self.add_bucket(b, n);
        }
        self.min = if self.count == 0 { other.min } else { self.min.min(other.min) };
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value, exactly.
    pub fn min(&self) -> Option<u32> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest value, exactly.
    pub fn max(&self) -> Option<u32> {
        (self.count > 0).then_some(self.max)
    }

    /// The mean, exactly.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value at quantile `q` (0..=1) by the nearest-rank rule: the midpoint of the bucket holding the
    /// ⌈q·n⌉-th value, kept within [min, max]. Within 6.25 % of the exact nearest-rank value (exact below
    /// 32 ms).
    pub fn quantile(&self, q: f64) -> Option<u32> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                let (lo, hi) = bucket_range(b);
                let mid = if hi - lo == 1 { lo } else { (lo + hi - 1) / 2 };
                return Some((mid as u32).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// A compact byte form for storage: a version byte, count/sum/min/max and (bucket delta, count) pairs, all
    /// LEB128. A typical hour of one monitor is 10–30 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.buckets.len() * 3);
        out.push(1);
        for v in [self.count, self.sum, u64::from(self.min), u64::from(self.max), self.buckets.len() as u64] {
            put_varint(&mut out, v);
        }
        let mut prev = 0u16;
        for &(b, n) in &self.buckets {
            put_varint(&mut out, u64::from(b - prev));
            put_varint(&mut out, n);
            prev = b;
        }
        out
    }

    /// Reads [`Histogram::encode`]'s form. Hostile bytes give an error, never a panic or a huge allocation.
    pub fn decode(bytes: &[u8]) -> Result<Histogram, HistogramDecodeError> {
        if bytes.is_empty() {
            return Ok(Histogram::new());
        }
        let mut r = Reader(bytes);
        if r.byte()? != 1 {
            return Err(HistogramDecodeError);
        }
        let count = r.varint()?;
        let sum = r.varint()?;
        let min = u32::try_from(r.varint()?).map_err(|_| HistogramDecodeError)?;
        let max = u32::try_from(r.varint()?).map_err(|_| HistogramDecodeError)?;
        let len = r.varint()?;
        if len > u64::from(bucket_of(u32::MAX)) + 1 {
            return Err(HistogramDecodeError);
        }
        let mut buckets = Vec::with_capacity(len as usize);
        let mut b = 0u64;
        let mut total = 0u64;
        for i in 0..len {
            let delta = r.varint()?;
            if i > 0 && delta == 0 {
                return Err(HistogramDecodeError);
            }
            b += delta;
            let n = r.varint()?;
            if b > u64::from(bucket_of(u32::MAX)) || n == 0 {
                return Err(HistogramDecodeError);
            }
            total = total.checked_add(n).ok_or(HistogramDecodeError)?;
            buckets.push((b as u16, n));
        }
        if total != count || !r.0.is_empty() || (count > 0 && min > max) {
            return Err(HistogramDecodeError);
        }
        Ok(Histogram { buckets, count, sum, min, max })
    }
}

impl fmt::Display for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.quantile(0.5), self.quantile(0.95), self.quantile(0.99)) {
            (Some(a), Some(b), Some(c)) => write!(f, "n={} p50={a}ms p95={b}ms p99={c}ms", self.count),
            _ => write!(f, "n=0"),
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, HistogramDecodeError> {
        let (&b, rest) = self.0.split_first().ok_or(HistogramDecodeError)?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, HistogramDecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(shift).ok_or(HistogramDecodeError)?;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(HistogramDecodeError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(values: &mut [u32], q: f64) -> u32 {
        values.sort_unstable();
        let rank = ((q * values.len() as f64).ceil() as usize).max(1);
        values[rank - 1]
    }

    #[test]
    fn buckets_tile_the_range() {
        let mut expected_low = 0u64;
        for b in 0..=bucket_of(u32::MAX) {
            let (lo, hi) = bucket_range(b);
            assert_eq!(lo, expected_low, "bucket {b}");
            assert!(hi > lo);
            assert_eq!(bucket_of(lo as u32), b);
            assert_eq!(bucket_of((hi - 1) as u32), b);
            expected_low = hi;
        }
        assert_eq!(expected_low, 1u64 << 32);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=20 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(10));
        assert_eq!(h.quantile(0.95), Some(19));
        assert_eq!(h.quantile(1.0), Some(20));
        assert_eq!((h.min(), h.max(), h.mean()), (Some(1), Some(20), Some(10.5)));
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn hostile_encodings_are_errors() {
        for bytes in [
            &[2u8][..],
            &[1, 0x80],
            &[1, 1, 0, 0, 0, 1, 0, 0],
            &[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ] {
            assert!(Histogram::decode(bytes).is_err(), "{bytes:?}");
        }
    }

    proptest! {
        #[test]
        fn quantiles_within_error_bound(mut values in proptest::collection::vec(0u32..5_000_000, 1..400), q in 0.0f64..=1.0) {
            let mut h = Histogram::new();
            for &v in &values { h.record(v); }
            let got = h.quantile(q).unwrap();
            let want = exact(&mut values, q);
            let err = (f64::from(got) - f64::from(want)).abs();
            prop_assert!(err <= f64::from(want) / 16.0 + 0.5, "q={q} got {got} want {want}");
        }

        /// Merging per-hour histograms gives exactly the histogram of all values: rollups lose nothing more.
        #[test]
        fn merge_equals_recording_everything(parts in proptest::collection::vec(proptest::collection::vec(0u32..100_000, 0..50), 0..10)) {
            let mut all = Histogram::new();
            let mut merged = Histogram::new();
            for part in &parts {
                let mut h = Histogram::new();
                for &v in part { h.record(v); all.record(v); }
                let h = Histogram::decode(&h.encode()).unwrap();
                merged.merge(&h);
            }
            prop_assert_eq!(merged, all);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Histogram::decode(&bytes);
        }
    }
}
