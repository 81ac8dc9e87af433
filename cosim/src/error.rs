//! The errors of the co-simulation library.

use std::path::PathBuf;

use crate::config::ConfigError;

/// What can go wrong creating, stepping or tracing an RTL model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No model of that name was built.
    #[error("unknown RTL configuration `{name}`; built: {}", known.join(", "))]
    UnknownConfig {
        /// The name asked for.
        name: String,
        /// The configurations of `rtl/configs.txt`.
        known: Vec<&'static str>,
    },
    /// `rtl/configs.txt` does not parse (the build script checks it, so this means
    /// the file changed without a rebuild).
    #[error("rtl/configs.txt: {0}")]
    Config(#[from] ConfigError),
    /// The C++ model could not be constructed.
    #[error("cannot create the RTL model `{config}`")]
    Create {
        /// The configuration.
        config: &'static str,
    },
    /// The RTL ran `$finish` or `$stop`, failed an assertion, or Verilator hit a
    /// fatal error. The model stays stopped: every later step returns this again.
    #[error("RTL `{config}` stopped in cycle {cycle}: {message}")]
    Stopped {
        /// The configuration.
        config: &'static str,
        /// The cycle ([`crate::Rtl::cycle`]) that did not complete.
        cycle: u64,
        /// What stopped it, with the RTL source line (Verilator prints the
        /// assertion's own message on standard output).
        message: String,
    },
    /// Waveforms need the crate's `trace` feature.
    #[error("waveforms need iommu-cosim's `trace` feature (cargo ... --features iommu-cosim/trace)")]
    TraceNotBuilt,
    /// The waveform file cannot be written.
    #[error("cannot write the waveform {}: {message}", path.display())]
    Trace {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Line coverage needs the crate's `coverage` feature.
    #[error("RTL line coverage needs iommu-cosim's `coverage` feature (cargo ... --features rtl-coverage)")]
    CoverageNotBuilt,
    /// The coverage file cannot be written.
    #[error("cannot write the coverage file {}: {message}", path.display())]
    Coverage {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The bare C++ loop of [`crate::speed::bare_loop`] stopped or failed.
    #[error("the bare C++ loop of `{config}` stopped or failed")]
    BareLoop {
        /// The configuration.
        config: &'static str,
    },
}
