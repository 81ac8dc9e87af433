//! The process-directory cache (PDTC): valid, well-formed process contexts by
//! device and process ID. Only leaf entries are cached, so `IODIR.INVAL_PDT`
//! (which names one device and process) reaches everything that depends on them.

use crate::addr::{DeviceId, ProcessId};
use crate::cache::{Geometry, SetAssoc};
use crate::context::ProcessContext;

/// The PDTC.
#[derive(Clone)]
pub struct Pdtc {
    array: SetAssoc<u64, ProcessContext>,
}

#[inline]
fn index(did: DeviceId, pid: ProcessId) -> u64 {
    u64::from(pid.0) ^ u64::from(did.0).rotate_left(5)
}

/// The tag: device ID above process ID.
#[inline]
fn key(did: DeviceId, pid: ProcessId) -> u64 {
    (u64::from(did.0) << 20) | u64::from(pid.0)
}

impl Pdtc {
    /// An empty cache.
    pub fn new(geometry: Geometry) -> Self {
        Pdtc { array: SetAssoc::new(geometry) }
    }

    /// The process context of `(did, pid)`, if cached.
    #[inline]
    pub fn lookup(&mut self, did: DeviceId, pid: ProcessId) -> Option<&ProcessContext> {
        self.array.lookup(index(did, pid), key(did, pid))
    }

    /// Caches a process context.
    pub fn insert(&mut self, did: DeviceId, pid: ProcessId, pc: ProcessContext) {
        self.array.insert(index(did, pid), key(did, pid), pc);
    }

    /// `IODIR.INVAL_PDT` (one process of one device), or the PDT part of
    /// `IODIR.INVAL_DDT` (every process of one device, or everything).
    pub fn invalidate(&mut self, did: Option<DeviceId>, pid: Option<ProcessId>) -> usize {
        match (did, pid) {
            (None, _) => {
                let n = self.array.len();
                self.array.clear();
                n
            }
            (Some(d), None) => self.array.invalidate(|&k, _| k >> 20 == u64::from(d.0)),
            (Some(d), Some(p)) => self.array.invalidate(|&k, _| k == key(d, p)),
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
