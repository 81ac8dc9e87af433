//! Formats and workloads around the model: the conformance-vector format and its
//! runner; later, DMA traces, the driver model, generators and importers.

#![warn(missing_docs)]

pub mod config;
pub mod conformance;
pub mod driver;
pub mod gen;
pub mod import;
pub mod replay;
pub mod trace;
pub mod vector;
