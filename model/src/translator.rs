//! The transaction-level interface that every backend implements: the golden model
//! here, and the RTL-backed device of the co-simulation (`docs/design.md`, "Two
//! interfaces").

use crate::command::CommandError;
use crate::fault::FaultRecord;
use crate::memory::Memory;
use crate::regs::Regs;
use crate::request::{Request, Response};
use crate::stats::Counters;

/// A translator answers requests one at a time, running each to completion.
///
/// The caller owns the memory (tables, and the words software writes between
/// steps) and lends it on each call; a backend keeps only its own state:
/// registers, caches, the fault queue.
pub trait Translator {
    /// Resets the unit with these register values: caches empty, fault queue empty.
    fn reset(&mut self, regs: &Regs);

    /// Translates one request.
    fn translate(&mut self, mem: &mut dyn Memory, req: &Request) -> Response;

    /// Runs one command-queue entry (two doublewords, low first) to completion.
    fn command(&mut self, mem: &mut dyn Memory, cmd: [u64; 2]) -> Result<(), CommandError>;

    /// Moves the fault records reported since the last call, oldest first, into
    /// `out`.
    fn drain_faults(&mut self, out: &mut Vec<FaultRecord>);

    /// A short name for reports ("model", "rtl").
    fn name(&self) -> &str;

    /// Event counts (cache hits and misses, walk reads), where the backend keeps
    /// them.
    fn counters(&self) -> Option<&Counters> {
        None
    }

    /// Whether the backend implements a conformance-vector feature tag (`msi`,
    /// `sv57x4`, ...). Runners skip vectors that need one it lacks; the golden
    /// model implements them all.
    fn supports(&self, feature: &str) -> bool {
        let _ = feature;
        true
    }
}
