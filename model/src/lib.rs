//! Golden model of the RISC-V IOMMU (RISC-V IOMMU Architecture Specification 1.0
//! and its extensions, with the page-table formats of the RISC-V Privileged
//! Architecture).
//!
//! The model is a library with no I/O. Its parts mirror the specification and the
//! RTL: registers ([`regs`]), device and process contexts ([`context`]), the page-
//! table walker ([`walker`], a resumable step machine), the whole translation
//! ([`translate`], another step machine built on the walker), the caches ([`iotlb`],
//! [`ddtc`], [`pdtc`] on the set-associative array of [`cache`]), commands
//! ([`command`]) and fault records ([`fault`]). [`Iommu`] drives translations to
//! completion against a [`Memory`] and implements the transaction-level
//! [`Translator`] interface that the RTL-backed device implements too.
//!
//! Not modelled (see the README): Sv32 and Sv32x4 are implemented by the walker but
//! not covered by conformance vectors; MRIF-mode MSI PTEs are reported as
//! misconfigured; ATS translation requests, translated requests and the
//! page-request queue are not modelled; the in-memory command and fault queues are
//! replaced by direct calls ([`Translator::command`], [`Translator::drain_faults`]).

#![warn(missing_docs)]
// Literals are grouped by the fields they hold (a 20-bit PID as 3/9/8 bits, a PPN
// and a page offset), not by nibbles.
#![allow(clippy::unusual_byte_groupings)]

pub mod addr;
pub mod cache;
pub mod caches;
pub mod command;
pub mod context;
pub mod ddtc;
pub mod fault;
pub mod inorder;
pub mod iommu;
pub mod iotlb;
pub mod memory;
pub mod pdtc;
pub mod pte;
pub mod regs;
pub mod request;
pub mod stats;
pub mod tables;
pub mod timing;
pub mod translate;
pub mod translator;
pub mod walker;

pub use addr::{DeviceId, Gpa, Iova, ProcessId, Spa};
pub use cache::{Geometry, Replacement};
pub use caches::{CacheConfig, Caches};
pub use command::{Command, CommandError};
pub use fault::{Cause, FaultRecord, Ttyp};
pub use iommu::Iommu;
pub use memory::{AccessFault, Memory, RecordingMemory, SparseMemory};
pub use regs::{Capabilities, Ddtp, Fctl, IommuMode, Regs};
pub use request::{Access, Request, Response, Status};
pub use stats::Counters;
pub use translator::Translator;
