//! The stimulus of a lockstep run: what software and devices do, in order.

use iommu_model::Request;

/// One thing that happens in a lockstep run (`crate::lockstep`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A device offers a translation request; it is issued as soon as the RTL
    /// takes it (back-to-back), while earlier requests may still be in flight.
    Translate(Request),
    /// Software changes memory: `writes` (address, value) land at once, then
    /// `commands` (the invalidations the change needs, per the specification)
    /// run, one per cycle. Requests in flight meanwhile may see the tables before
    /// or after the change; requests offered afterwards must see the new tables.
    Change {
        /// 64-bit words written, in order.
        writes: Vec<(u64, u64)>,
        /// Command-queue entries executed after the writes.
        commands: Vec<[u64; 2]>,
    },
    /// A command on its own (for example an IOFENCE.C or an invalidation of
    /// something unchanged).
    Command([u64; 2]),
    /// Wait until no request is in flight.
    Drain,
}
