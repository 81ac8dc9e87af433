//! Statistics counters. Every name here is the one used by the RTL's counters, the
//! CSV columns and the plot labels (`docs/design.md`, "Names that cross boundaries").

use std::ops::AddAssign;

/// Event counts of one IOMMU (model or RTL).
///
/// Where the specification's performance-monitoring events name the same thing
/// (`iommu_registers.adoc`, "iohpmevt" event IDs), the field says which.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Translation requests completed (event 1, untranslated requests).
    pub translations: u64,
    /// IOTLB lookups that hit and were used.
    pub iotlb_hit: u64,
    /// IOTLB lookups that missed, or hit an entry that could not serve the access
    /// (event 3, IOTLB miss).
    pub iotlb_miss: u64,
    /// Device-directory cache hits.
    pub ddtc_hit: u64,
    /// Device-directory cache misses, i.e. DDT walks (event 4).
    pub ddtc_miss: u64,
    /// Process-directory cache hits.
    pub pdtc_hit: u64,
    /// Process-directory cache misses, i.e. PDT walks (event 5).
    pub pdtc_miss: u64,
    /// IOTLB misses that joined a walk already in flight for the same page
    /// (timing model only).
    pub walk_merged: u64,
    /// Memory reads made by walks (DDT, PDT, page tables, MSI page tables).
    pub walk_reads: u64,
    /// Memory writes made by walks (atomic A/D updates).
    pub walk_writes: u64,
    /// Page-table reads served by a walk cache instead of memory (timing model
    /// only; not counted in `walk_reads`).
    pub walk_cache_hit: u64,
    /// Requests that ended in a fault, reported or not.
    pub faults: u64,
}

impl Counters {
    /// The counters as (name, value) pairs, in a fixed order.
    pub fn named(&self) -> [(&'static str, u64); 12] {
        [
            ("translations", self.translations),
            ("iotlb_hit", self.iotlb_hit),
            ("iotlb_miss", self.iotlb_miss),
            ("ddtc_hit", self.ddtc_hit),
            ("ddtc_miss", self.ddtc_miss),
            ("pdtc_hit", self.pdtc_hit),
            ("pdtc_miss", self.pdtc_miss),
            ("walk_merged", self.walk_merged),
            ("walk_reads", self.walk_reads),
            ("walk_writes", self.walk_writes),
            ("walk_cache_hit", self.walk_cache_hit),
            ("faults", self.faults),
        ]
    }

    /// IOTLB hit rate over lookups, or `None` with no lookups.
    pub fn iotlb_hit_rate(&self) -> Option<f64> {
        rate(self.iotlb_hit, self.iotlb_miss)
    }

    /// DDTC hit rate.
    pub fn ddtc_hit_rate(&self) -> Option<f64> {
        rate(self.ddtc_hit, self.ddtc_miss)
    }

    /// PDTC hit rate.
    pub fn pdtc_hit_rate(&self) -> Option<f64> {
        rate(self.pdtc_hit, self.pdtc_miss)
    }
}

fn rate(hit: u64, miss: u64) -> Option<f64> {
    let n = hit + miss;
    (n > 0).then(|| hit as f64 / n as f64)
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.translations += o.translations;
        self.iotlb_hit += o.iotlb_hit;
        self.iotlb_miss += o.iotlb_miss;
        self.ddtc_hit += o.ddtc_hit;
        self.ddtc_miss += o.ddtc_miss;
        self.pdtc_hit += o.pdtc_hit;
        self.pdtc_miss += o.pdtc_miss;
        self.walk_merged += o.walk_merged;
        self.walk_reads += o.walk_reads;
        self.walk_writes += o.walk_writes;
        self.walk_cache_hit += o.walk_cache_hit;
        self.faults += o.faults;
    }
}

/// A histogram of latencies in cycles: exact below 1024 cycles, then buckets a
/// sixteenth of a power of two wide (under 6.25 % error), so percentiles of any
/// run cost constant memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
    sum: u128,
    max: u64,
}

const EXACT: u64 = 1024;
const SUB: u64 = 16;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram { buckets: vec![0; Self::bucket_of(u64::MAX) + 1], count: 0, sum: 0, max: 0 }
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn bucket_of(v: u64) -> usize {
        if v < EXACT {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros() as u64; // >= 10
        let frac = (v >> (exp - 4)) & (SUB - 1);
        (EXACT + (exp - 10) * SUB + frac) as usize
    }

    /// The smallest value of a bucket.
    fn bucket_low(b: usize) -> u64 {
        let b = b as u64;
        if b < EXACT {
            return b;
        }
        let exp = (b - EXACT) / SUB + 10;
        let frac = (b - EXACT) % SUB;
        (1 << exp) | (frac << (exp - 4))
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, cycles: u64) {
        self.buckets[Self::bucket_of(cycles)] += 1;
        self.count += 1;
        self.sum += u128::from(cycles);
        self.max = self.max.max(cycles);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, o: &LatencyHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
    }

    /// Number of latencies recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean, or 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The `p`-th percentile (0-100): the smallest value of the bucket holding it
    /// (exact below 1024 cycles), or 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::bucket_low(b).min(self.max);
            }
        }
        self.max
    }

    /// The cumulative distribution: (latency, fraction of latencies at or below
    /// it), one point per non-empty bucket.
    pub fn cdf(&self) -> Vec<(u64, f64)> {
        let mut out = Vec::new();
        let mut seen = 0;
        for (b, &n) in self.buckets.iter().enumerate() {
            if n > 0 {
                seen += n;
                out.push((Self::bucket_low(b), seen as f64 / self.count as f64));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_exact_below_1024() {
        let mut h = LatencyHistogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.percentile(50.0), 50);
        assert_eq!(h.percentile(99.0), 99);
        assert_eq!(h.percentile(100.0), 100);
        assert_eq!(h.max(), 100);
        assert!((h.mean() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn large_values_land_in_buckets_within_a_sixteenth() {
        let mut h = LatencyHistogram::new();
        for v in [1500u64, 70_000, 5_000_000_000] {
            h.record(v);
            let p = h.percentile(100.0);
            assert!(p <= v && v - p <= v / 16, "{v} -> {p}");
        }
        assert_eq!(h.cdf().len(), 3);
        assert_eq!(h.cdf().last().unwrap().1, 1.0);
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        a.record(10);
        b.record(20);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.percentile(50.0), 20);
    }
}
