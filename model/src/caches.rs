//! The IOMMU's caches together, and their configuration.

use crate::cache::{Geometry, GeometryError};
use crate::command::Command;
use crate::ddtc::Ddtc;
use crate::iotlb::Iotlb;
use crate::pdtc::Pdtc;

/// Sizes of every cache. Any may be [`Geometry::DISABLED`]; caching never changes
/// an answer, only how many memory reads it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// The IOTLB.
    pub iotlb: Geometry,
    /// The device-directory cache.
    pub ddtc: Geometry,
    /// The process-directory cache.
    pub pdtc: Geometry,
}

impl CacheConfig {
    /// Every cache disabled: each translation walks from the root.
    pub const DISABLED: CacheConfig =
        CacheConfig { iotlb: Geometry::DISABLED, ddtc: Geometry::DISABLED, pdtc: Geometry::DISABLED };

    /// Checks every geometry.
    pub fn validate(&self) -> Result<(), GeometryError> {
        self.iotlb.validate()?;
        self.ddtc.validate()?;
        self.pdtc.validate()
    }
}

impl Default for CacheConfig {
    /// A modest configuration: 64-entry 4-way IOTLB, 16-entry DDTC and PDTC.
    fn default() -> Self {
        CacheConfig { iotlb: Geometry::new(16, 4), ddtc: Geometry::new(4, 4), pdtc: Geometry::new(4, 4) }
    }
}

/// The caches themselves, plus an invalidation epoch: a walk that began before an
/// invalidation must not fill a cache with what it read (`priv/supervisor.adoc`,
/// speculative executions "must not create address-translation cache entries if
/// those entries would have been invalidated").
#[derive(Clone)]
pub struct Caches {
    /// The IOTLB.
    pub iotlb: Iotlb,
    /// The DDTC.
    pub ddtc: Ddtc,
    /// The PDTC.
    pub pdtc: Pdtc,
    /// Incremented by every invalidation.
    pub epoch: u64,
}

impl Caches {
    /// Empty caches of the given sizes.
    pub fn new(config: &CacheConfig) -> Self {
        Caches { iotlb: Iotlb::new(config.iotlb), ddtc: Ddtc::new(config.ddtc), pdtc: Pdtc::new(config.pdtc), epoch: 0 }
    }

    /// Empties every cache (reset: "After a reset the caches must have no valid
    /// entries").
    pub fn clear(&mut self) {
        self.iotlb.clear();
        self.ddtc.invalidate(None);
        self.pdtc.invalidate(None, None);
        self.epoch += 1;
    }

    /// Applies a command's invalidations ("Command-Queue", IOTINVAL and IODIR) and
    /// ends the epoch of the translations in flight: every executed command does,
    /// so that no walk that began before it fills a cache.
    pub fn execute(&mut self, cmd: &Command) {
        match *cmd {
            Command::IotinvalVma { gscid, pscid, range, .. } => {
                self.iotlb.invalidate_vma(gscid, pscid, range);
            }
            Command::IotinvalGvma { gscid, range, .. } => {
                self.iotlb.invalidate_gvma(gscid, range);
            }
            Command::IodirInvalDdt { did } => {
                self.ddtc.invalidate(did);
                self.pdtc.invalidate(did, None);
            }
            Command::IodirInvalPdt { did, pid } => {
                self.pdtc.invalidate(Some(did), Some(pid));
            }
            Command::IofenceC { .. } | Command::Ats { .. } => {}
        }
        self.epoch += 1;
    }

    /// Empties every cache at a fixed cost that does not depend on how full they
    /// are, so a benchmark can measure it and subtract it.
    pub fn clear_all_sets(&mut self) {
        self.iotlb.clear_all_sets();
        self.ddtc.clear_all_sets();
        self.pdtc.clear_all_sets();
        self.epoch += 1;
    }
}
