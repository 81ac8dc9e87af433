//! [`Rtl`]: one Verilator model of `iommu_top`, stepped one clock cycle per call.

use std::ffi::CString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::OnceLock;

use crate::config::{self, Config, Params};
use crate::error::Error;
use crate::ffi::{self, ModelFns, RawSim, COVERAGE_NOT_BUILT, STEP_OK, TRACE_NOT_BUILT};
use crate::ports::{Inputs, Outputs};

/// `rtl/configs.txt`, as the build script read it (a copy in `OUT_DIR`, so that an
/// RTL directory given by `IOMMU_COSIM_RTL_DIR` brings its own configurations).
const CONFIGS_TXT: &str = include_str!(concat!(env!("OUT_DIR"), "/configs.txt"));

/// The configurations of `rtl/configs.txt`: one model was built per entry.
pub fn configs() -> Result<&'static [Config], Error> {
    static CONFIGS: OnceLock<Result<Vec<Config>, config::ConfigError>> = OnceLock::new();
    match CONFIGS.get_or_init(|| config::parse(CONFIGS_TXT)) {
        Ok(configs) => Ok(configs),
        Err(e) => Err(Error::Config(e.clone())),
    }
}

/// One RTL model of a configuration of `rtl/configs.txt`, driven one clock cycle per
/// [`Rtl::step`].
///
/// Each model has its own Verilator context, so several can run at once, each on
/// its own thread (`Rtl` is `Send`, not `Sync`).
pub struct Rtl {
    sim: NonNull<RawSim>,
    fns: &'static ModelFns,
    config: &'static Config,
    outputs: Outputs,
    cycle: u64,
    trace: Option<PathBuf>,
}

// SAFETY: the C++ model has no affinity to the thread that made it: the shim points
// Verilator's per-thread context at the model's own on every call, and keeps no
// thread-local state from one call to the next. `Rtl` is deliberately not `Sync`:
// no `&self` method reaches the C++ side today, and `Sync` would forbid adding one.
unsafe impl Send for Rtl {}

impl Rtl {
    /// Builds the model of a configuration (a name of `rtl/configs.txt`), before
    /// any cycle: drive `rst_ni` low for a few cycles to reset it.
    pub fn new(config: &str) -> Result<Rtl, Error> {
        let unknown =
            || Error::UnknownConfig { name: config.to_owned(), known: ffi::MODELS.iter().map(|m| m.name).collect() };
        let fns = ffi::model(config).ok_or_else(unknown)?;
        let config = configs()?.iter().find(|c| c.name == fns.name).ok_or_else(unknown)?;
        // SAFETY: no preconditions; returns an owned model or null.
        let raw = unsafe { (fns.create)() };
        let sim = NonNull::new(raw).ok_or(Error::Create { config: fns.name })?;
        // SAFETY: no preconditions.
        debug_assert_eq!(unsafe { (fns.walkers)() }, config.params.walkers, "model and configs.txt disagree");
        Ok(Rtl { sim, fns, config, outputs: Outputs::default(), cycle: 0, trace: None })
    }

    /// The configuration's name.
    pub fn name(&self) -> &'static str {
        self.fns.name
    }

    /// The configuration's parameters (from `rtl/configs.txt`).
    pub fn params(&self) -> &'static Params {
        &self.config.params
    }

    /// Clock cycles completed since the model was built (the number of successful
    /// [`Rtl::step`] calls). Cycles relative to the release of reset are the
    /// caller's to count.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// The outputs of the last completed cycle (all zero before the first).
    pub fn outputs(&self) -> &Outputs {
        &self.outputs
    }

    /// One clock cycle: applies `inputs` with the clock low and lets the logic settle,
    /// samples every output (the values of this cycle's handshakes: a `valid` and
    /// `ready` both high here complete in this cycle), then raises the clock. With a
    /// waveform open, both points are dumped.
    ///
    /// Fails once the RTL stops (`$finish`, `$stop`, a failed assertion, a fatal
    /// Verilator error); from then on every call fails the same way.
    pub fn step(&mut self, inputs: &Inputs) -> Result<&Outputs, Error> {
        // SAFETY: `sim` is a live model of `fns` owned by `self`; `inputs` and
        // `outputs` are valid, properly laid out (tested) structs for the call.
        let code = unsafe { (self.fns.step)(self.sim.as_ptr(), inputs, &mut self.outputs) };
        if code != STEP_OK {
            return Err(self.stopped());
        }
        self.cycle += 1;
        Ok(&self.outputs)
    }

    /// Starts writing an FST waveform to `path` (closing any open one) from the next
    /// cycle on. Cycle `c`'s clock-low point is at time `c` ns, its rising edge at
    /// `c` ns + 500 ps. Needs the crate's `trace` feature.
    pub fn trace(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        if !cfg!(feature = "trace") {
            return Err(Error::TraceNotBuilt);
        }
        let failed = |message: String| Error::Trace { path: path.to_owned(), message };
        // Fails early, with the system's reason, where the FST writer would not.
        std::fs::File::create(path).map_err(|e| failed(e.to_string()))?;
        let c_path = c_path(path).ok_or_else(|| failed("the path has a NUL byte or is not UTF-8".to_owned()))?;
        self.trace_close();
        // SAFETY: `sim` is live; `c_path` is NUL-terminated and outlives the call.
        match unsafe { (self.fns.trace_open)(self.sim.as_ptr(), c_path.as_ptr()) } {
            0 => {
                self.trace = Some(path.to_owned());
                Ok(())
            }
            TRACE_NOT_BUILT => Err(Error::TraceNotBuilt),
            // SAFETY: `sim` is live.
            _ => Err(failed(unsafe { ffi::message(self.fns, self.sim.as_ptr()) })),
        }
    }

    /// Finishes and closes the waveform, if one is open (dropping the model does it
    /// too).
    pub fn trace_close(&mut self) {
        if self.trace.take().is_some() {
            // SAFETY: `sim` is live.
            unsafe { (self.fns.trace_close)(self.sim.as_ptr()) }
        }
    }

    /// The file of the open waveform.
    pub fn trace_path(&self) -> Option<&Path> {
        self.trace.as_deref()
    }

    /// Writes the line coverage this model has counted since its creation to `path`,
    /// in Verilator's coverage format (merge and annotate with `verilator_coverage`).
    /// Needs the crate's `coverage` feature.
    pub fn write_coverage(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        if !cfg!(feature = "coverage") {
            return Err(Error::CoverageNotBuilt);
        }
        let failed = |message: String| Error::Coverage { path: path.to_owned(), message };
        // Fails early, with the system's reason, where Verilator would only say it cannot.
        std::fs::File::create(path).map_err(|e| failed(e.to_string()))?;
        let c_path = c_path(path).ok_or_else(|| failed("the path has a NUL byte or is not UTF-8".to_owned()))?;
        // SAFETY: `sim` is live; `c_path` is NUL-terminated and outlives the call.
        match unsafe { (self.fns.coverage_write)(self.sim.as_ptr(), c_path.as_ptr()) } {
            0 => Ok(()),
            COVERAGE_NOT_BUILT => Err(Error::CoverageNotBuilt),
            // SAFETY: `sim` is live.
            _ => Err(failed(unsafe { ffi::message(self.fns, self.sim.as_ptr()) })),
        }
    }

    /// The error for a model that stopped in the current cycle.
    fn stopped(&self) -> Error {
        // SAFETY: `sim` is live.
        let message = unsafe { ffi::message(self.fns, self.sim.as_ptr()) };
        Error::Stopped { config: self.fns.name, cycle: self.cycle, message }
    }
}

impl Drop for Rtl {
    fn drop(&mut self) {
        // SAFETY: `sim` was made by `fns.create`, is destroyed once, here.
        unsafe { (self.fns.destroy)(self.sim.as_ptr()) }
    }
}

impl fmt::Debug for Rtl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rtl")
            .field("config", &self.name())
            .field("cycle", &self.cycle)
            .field("trace", &self.trace)
            .finish()
    }
}

/// A path as a C string.
fn c_path(path: &Path) -> Option<CString> {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path.to_str()?.as_bytes().to_vec();
    CString::new(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs of a harness that offers nothing and takes everything.
    fn quiet(rst_ni: bool) -> Inputs {
        Inputs { rst_ni, rsp_ready_i: true, mem_req_ready_i: true, ..Inputs::default() }
    }

    /// A model of `name` after 4 cycles of reset and `after` cycles out of it.
    fn reset(name: &str, after: u64) -> Rtl {
        let mut rtl = Rtl::new(name).expect("the configuration was built");
        for _ in 0..4 {
            rtl.step(&quiet(false)).expect("reset");
        }
        for _ in 0..after {
            rtl.step(&quiet(true)).expect("idle cycle");
        }
        rtl
    }

    fn names() -> Vec<&'static str> {
        ffi::MODELS.iter().map(|m| m.name).collect()
    }

    #[test]
    fn every_configuration_of_configs_txt_was_built() {
        let configs: Vec<&str> = configs().expect("parses").iter().map(|c| c.name.as_str()).collect();
        assert_eq!(configs, names());
    }

    #[test]
    fn an_unknown_configuration_names_the_known_ones() {
        let error = Rtl::new("no_such_config").expect_err("unknown");
        assert!(
            matches!(&error, Error::UnknownConfig { name, known } if name == "no_such_config" && *known == names())
        );
        let text = error.to_string();
        for name in names() {
            assert!(text.contains(name), "{text}");
        }
    }

    #[test]
    fn each_model_has_the_walkers_of_its_configuration() {
        for name in names() {
            let rtl = Rtl::new(name).expect("built");
            let fns = ffi::model(name).expect("built");
            // SAFETY: no preconditions.
            assert_eq!(unsafe { (fns.walkers)() }, rtl.params().walkers, "{name}");
            assert_eq!(rtl.name(), name);
        }
    }

    #[test]
    fn after_reset_with_no_request_the_unit_is_idle() {
        for name in names() {
            let mut rtl = reset(name, 0);
            for _ in 0..16 {
                let out = *rtl.step(&quiet(true)).expect("idle cycle");
                assert!(out.idle_o, "{name}: idle_o");
                assert!(!out.rsp_valid_o, "{name}: rsp_valid_o");
                assert!(!out.mem_req_valid_o, "{name}: mem_req_valid_o");
                let counters = [
                    out.cnt_iotlb_hit_o,
                    out.cnt_iotlb_miss_o,
                    out.cnt_ddtc_hit_o,
                    out.cnt_ddtc_miss_o,
                    out.cnt_pdtc_hit_o,
                    out.cnt_pdtc_miss_o,
                    out.cnt_walk_merged_o,
                    out.cnt_walk_reads_o,
                    out.cnt_walk_writes_o,
                    out.cnt_faults_o,
                ];
                assert_eq!(counters, [0; 10], "{name}: counters after reset");
                assert_eq!(rtl.outputs(), &out);
            }
        }
    }

    #[test]
    fn the_cycle_counts_completed_steps() {
        let mut rtl = Rtl::new("default").expect("built");
        assert_eq!(rtl.cycle(), 0);
        let rtl = {
            for _ in 0..7 {
                rtl.step(&quiet(false)).expect("reset");
            }
            rtl
        };
        assert_eq!(rtl.cycle(), 7);
    }

    #[test]
    fn models_run_on_several_threads_and_move_between_them() {
        let handles: Vec<_> =
            names().into_iter().chain(names()).map(|name| std::thread::spawn(move || reset(name, 100))).collect();
        for handle in handles {
            let mut rtl = handle.join().expect("thread");
            // Moved here from the thread that made it: it goes on.
            let out = rtl.step(&quiet(true)).expect("step on another thread");
            assert!(out.idle_o);
            assert_eq!(rtl.cycle(), 4 + 100 + 1);
        }
    }

    #[cfg(not(feature = "trace"))]
    #[test]
    fn without_the_trace_feature_tracing_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wave.fst");
        let mut rtl = Rtl::new("small").expect("built");
        assert!(matches!(rtl.trace(&path), Err(Error::TraceNotBuilt)));
        assert!(!path.exists());
        assert!(rtl.step(&quiet(false)).is_ok());
    }

    #[cfg(feature = "trace")]
    #[test]
    fn tracing_writes_an_fst_file_and_can_start_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut rtl = reset("default", 2);
        for round in 0..2 {
            let path = dir.path().join(format!("wave{round}.fst"));
            rtl.trace(&path).expect("trace opens");
            assert_eq!(rtl.trace_path(), Some(path.as_path()));
            for _ in 0..20 {
                rtl.step(&quiet(true)).expect("traced cycle");
            }
            rtl.trace_close();
            assert_eq!(rtl.trace_path(), None);
            let bytes = std::fs::read(&path).expect("the waveform exists");
            // An FST file starts with its header block (type 0) of 329 bytes.
            assert!(bytes.len() > 329, "{} bytes", bytes.len());
            assert_eq!(bytes[0], 0, "FST header block");
        }
    }

    #[cfg(feature = "trace")]
    #[test]
    fn tracing_into_a_missing_directory_fails_with_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing/wave.fst");
        let mut rtl = Rtl::new("small").expect("built");
        let error = rtl.trace(&path).expect_err("no such directory");
        assert!(matches!(&error, Error::Trace { path: p, .. } if *p == path), "{error}");
        assert!(rtl.step(&quiet(false)).is_ok(), "the model goes on without a waveform");
    }

    #[cfg(not(feature = "coverage"))]
    #[test]
    fn without_the_coverage_feature_coverage_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cov.dat");
        let mut rtl = Rtl::new("small").expect("built");
        assert!(matches!(rtl.write_coverage(&path), Err(Error::CoverageNotBuilt)));
        assert!(!path.exists());
    }

    #[cfg(feature = "coverage")]
    #[test]
    fn coverage_counts_rtl_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cov.dat");
        let mut rtl = reset("small", 2);
        rtl.write_coverage(&path).expect("coverage written");
        let text = std::fs::read_to_string(&path).expect("the file exists");
        assert!(text.starts_with("# SystemC::Coverage-3"), "{text}");
        assert!(text.contains("iommu_top.sv"), "points of the top module");
        let error = rtl.write_coverage(dir.path().join("missing/cov.dat")).expect_err("no such directory");
        assert!(matches!(error, Error::Coverage { .. }), "{error}");
    }
}
