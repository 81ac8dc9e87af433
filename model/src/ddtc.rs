//! The device-directory cache (DDTC): valid, well-formed device contexts by device
//! ID. Invalid and misconfigured contexts are never cached
//! (`iommu_data_structures.adoc`, "Caching in-memory data structures"), nor are
//! non-leaf DDT entries, which `IODIR.INVAL_DDT` with `DV=1` would not reach.

use crate::addr::DeviceId;
use crate::cache::{Geometry, SetAssoc};
use crate::context::DeviceContext;

/// The DDTC.
#[derive(Clone)]
pub struct Ddtc {
    array: SetAssoc<u32, DeviceContext>,
}

impl Ddtc {
    /// An empty cache.
    pub fn new(geometry: Geometry) -> Self {
        Ddtc { array: SetAssoc::new(geometry) }
    }

    /// The device context of `did`, if cached.
    #[inline]
    pub fn lookup(&mut self, did: DeviceId) -> Option<&DeviceContext> {
        self.array.lookup(u64::from(did.0), did.0)
    }

    /// Caches a device context.
    pub fn insert(&mut self, did: DeviceId, dc: DeviceContext) {
        self.array.insert(u64::from(did.0), did.0, dc);
    }

    /// `IODIR.INVAL_DDT`: one device (`Some`) or all.
    pub fn invalidate(&mut self, did: Option<DeviceId>) -> usize {
        match did {
            Some(d) => self.array.invalidate(|&k, _| k == d.0),
            None => {
                let n = self.array.len();
                self.array.clear();
                n
            }
        }
    }

    /// Drops everything at a fixed cost (see [`SetAssoc::clear_all_sets`]).
    pub fn clear_all_sets(&mut self) {
        self.array.clear_all_sets();
    }

    /// Number of cached contexts.
    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.array.is_empty()
    }
}
