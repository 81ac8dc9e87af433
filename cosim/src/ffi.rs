//! The raw C interface of `shim/shim.cpp`: per configuration, the functions
//! `iommu_<name>_*`, collected by the build script into [`MODELS`].
//!
//! Everything here is `unsafe` to call; [`crate::Rtl`] is the safe wrapper.

use std::ffi::{c_char, c_int, c_uint, CStr};
use std::marker::{PhantomData, PhantomPinned};

use crate::ports::{Inputs, Outputs};

/// A C++ `Sim<V<name>>`: a Verilator model with its context and waveform writer.
#[repr(C)]
pub(crate) struct RawSim {
    _opaque: [u8; 0],
    _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
}

/// What `step` returns: `STEP_OK`, or why the model stopped (sticky).
pub(crate) const STEP_OK: c_int = 0;
/// `trace_open` on a model built without `--trace-fst`.
pub(crate) const TRACE_NOT_BUILT: c_int = -1;
/// `coverage_write` on a model built without `--coverage-line`.
pub(crate) const COVERAGE_NOT_BUILT: c_int = -1;

/// The exported functions of one configuration.
pub(crate) struct ModelFns {
    /// The configuration's name (`rtl/configs.txt`).
    pub name: &'static str,
    /// A new model, or null if construction failed.
    pub create: unsafe extern "C" fn() -> *mut RawSim,
    /// Runs the final blocks, closes the waveform and frees the model.
    pub destroy: unsafe extern "C" fn(*mut RawSim),
    /// One clock cycle: 0, or the sticky code of what stopped the model.
    pub step: unsafe extern "C" fn(*mut RawSim, *const Inputs, *mut Outputs) -> c_int,
    /// Opens an FST waveform: 0, `TRACE_NOT_BUILT`, or -2 (see `message`).
    pub trace_open: unsafe extern "C" fn(*mut RawSim, *const c_char) -> c_int,
    /// Closes the waveform, if open.
    pub trace_close: unsafe extern "C" fn(*mut RawSim),
    /// Writes the model's line coverage to a file: 0, `COVERAGE_NOT_BUILT`, or -2
    /// (see `message`).
    pub coverage_write: unsafe extern "C" fn(*mut RawSim, *const c_char) -> c_int,
    /// What stopped the model or failed (valid until the next call on the model).
    pub message: unsafe extern "C" fn(*mut RawSim) -> *const c_char,
    /// Walkers of the compiled model (from its port width).
    pub walkers: unsafe extern "C" fn() -> c_uint,
    /// Nanoseconds of `cycles` bare C++ clock cycles on a fresh model, or `u64::MAX`.
    pub bare_loop: unsafe extern "C" fn(u64) -> u64,
}

include!(concat!(env!("OUT_DIR"), "/models.rs"));

/// Looks up a configuration's functions by name.
pub(crate) fn model(name: &str) -> Option<&'static ModelFns> {
    MODELS.iter().find(|m| m.name == name)
}

/// The message of a model, as an owned string.
///
/// # Safety
/// `sim` must be a live model of `fns`.
pub(crate) unsafe fn message(fns: &ModelFns, sim: *mut RawSim) -> String {
    // SAFETY: the caller guarantees `sim`; the shim returns a NUL-terminated string
    // that stays valid until the next call on the model, and it is copied at once.
    unsafe {
        let text = (fns.message)(sim);
        if text.is_null() {
            String::new()
        } else {
            CStr::from_ptr(text).to_string_lossy().into_owned()
        }
    }
}

#[cfg(test)]
pub(crate) use layout::{inputs_layout, outputs_layout, Layout};

/// The shim's description of its port structs, for the layout tests.
#[cfg(test)]
mod layout {
    use std::ffi::{c_char, CStr};

    #[repr(C)]
    struct RawField {
        name: *const c_char,
        offset: usize,
    }

    #[repr(C)]
    struct RawLayout {
        size: usize,
        count: usize,
        fields: *const RawField,
    }

    extern "C" {
        fn iommu_cosim_inputs_layout() -> RawLayout;
        fn iommu_cosim_outputs_layout() -> RawLayout;
    }

    /// A C struct's size and its fields' names and offsets, in declaration order.
    pub(crate) struct Layout {
        pub size: usize,
        pub fields: Vec<(String, usize)>,
    }

    fn convert(raw: RawLayout) -> Layout {
        // SAFETY: the shim returns a static table of `count` fields with static,
        // NUL-terminated names.
        let fields = unsafe { std::slice::from_raw_parts(raw.fields, raw.count) };
        let fields = fields
            .iter()
            // SAFETY: as above.
            .map(|f| (unsafe { CStr::from_ptr(f.name) }.to_string_lossy().into_owned(), f.offset))
            .collect();
        Layout { size: raw.size, fields }
    }

    pub(crate) fn inputs_layout() -> Layout {
        // SAFETY: no arguments, returns static data.
        convert(unsafe { iommu_cosim_inputs_layout() })
    }

    pub(crate) fn outputs_layout() -> Layout {
        // SAFETY: no arguments, returns static data.
        convert(unsafe { iommu_cosim_outputs_layout() })
    }
}
