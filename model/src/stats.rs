//! Statistics counters. Every name here is the one used by the RTL's counters, the
//! CSV columns and the plot labels (`DESIGN.md`, "Names that cross boundaries").

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
    /// Requests that ended in a fault, reported or not.
    pub faults: u64,
}

impl Counters {
    /// The counters as (name, value) pairs, in a fixed order.
    pub fn named(&self) -> [(&'static str, u64); 11] {
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
        self.faults += o.faults;
    }
}
