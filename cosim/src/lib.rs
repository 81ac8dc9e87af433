//! Verilator co-simulation of the IOMMU RTL (`rtl/iommu_top.sv`).
//!
//! The build script verilates `iommu_top` once per line of `rtl/configs.txt` and
//! links the C++ models with a small shim (`shim/`). This crate is the low-level,
//! safe API over them:
//!
//! - [`Rtl`]: one model; [`Rtl::step`] runs one clock cycle per call, with every
//!   port in two plain structs, [`Inputs`] and [`Outputs`] (one FFI call a cycle);
//!   [`Rtl::trace`] writes an FST waveform (feature `trace`).
//! - [`configs`] and [`Params`]: the configurations built and their parameters.
//! - [`speed`]: the raw speed of a model, bare C++ against [`Rtl::step`].
//!
//! Building needs Verilator 5 and a C++17 compiler (and zlib with `trace`); the
//! build fails naming the Debian packages if they are missing.

mod config;
pub mod device;
mod error;
mod ffi;
pub mod lockstep;
pub mod op;
mod ports;
pub mod random;
mod rtl;
pub mod speed;
pub mod trace_ops;

pub use config::{Config, ConfigError, Params, MAX_WALKERS};
pub use error::Error;
pub use ports::{Inputs, Outputs, RSP_WORDS, WALKER_PORTS};
pub use rtl::{configs, Rtl};

include!(concat!(env!("OUT_DIR"), "/model_tomls.rs"));

/// The timing-model configuration (TOML, as `iommu replay --config` reads it) that
/// describes RTL configuration `name`: `rtl/model/<name>.toml` as built, checked
/// against the RTL's parameters by the build script.
pub fn model_toml(name: &str) -> Option<&'static str> {
    MODEL_TOMLS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// `verilator --version` of the Verilator that built the models.
pub const VERILATOR_VERSION: &str = env!("IOMMU_COSIM_VERILATOR_VERSION");

/// Whether the models were built with waveform support (feature `trace`).
pub const TRACE: bool = cfg!(feature = "trace");
/// Whether the models count line coverage (the crate's `coverage` feature):
/// [`Rtl::write_coverage`] works.
pub const COVERAGE: bool = cfg!(feature = "coverage");
