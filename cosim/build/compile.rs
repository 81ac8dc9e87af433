//! Compiles the Verilator output, the Verilator runtime and the shim with the `cc`
//! crate into one static library, `libiommu_cosim_rtl.a`, linked into the crate.

use std::path::Path;

use crate::verilator::{Model, Verilator, INSTALL_HINT};

/// Optimisation level of all C++ code, whatever the cargo profile: tests of the RTL
/// run it for many cycles, and `-O2` (measured in cosim/README.md) is the fastest.
const OPT_LEVEL: u32 = 2;

/// Compiles and tells cargo to link everything.
pub fn compile(verilator: &Verilator, models: &[Model], shim_dir: &Path, out: &Path, trace: bool) -> Result<(), String> {
    let include = verilator.include_dir();
    let mut runtime: Vec<&str> = models.iter().flat_map(|m| m.runtime.iter().map(String::as_str)).collect();
    runtime.sort_unstable();
    runtime.dedup();

    let on = if trace { "1" } else { "0" };
    let mut base = cc::Build::new();
    base.cpp(true)
        .std("c++17")
        .opt_level(OPT_LEVEL)
        .debug(false)
        .define("VM_COVERAGE", "0")
        .define("VM_SC", "0")
        .define("VM_TRACE", on)
        .define("VM_TRACE_FST", on)
        .define("VM_TRACE_VCD", "0")
        // shim.cpp replaces these runtime hooks (see there).
        .define("VL_USER_FINISH", None)
        .define("VL_USER_STOP", None)
        .define("VL_USER_FATAL", None);

    // Generated code and runtime: Verilator's own compiler flags, warnings off (the
    // code is not ours to fix).
    let mut verilated = base.clone();
    verilated.include(&include).include(include.join("vltstd")).warnings(false).extra_warnings(false);
    for flag in ["-faligned-new", "-fcf-protection=none"] {
        verilated.flag_if_supported(flag);
    }
    for model in models {
        verilated.include(&model.dir).files(&model.sources);
    }
    for name in &runtime {
        verilated.file(include.join(format!("{name}.cpp")));
    }
    let objects = verilated.try_compile_intermediates().map_err(|e| failure("the Verilator output", &e))?;

    // The shim, with warnings; Verilator's headers as system headers.
    let mut shim = base;
    shim.include(out).include(shim_dir).warnings(true).extra_warnings(true);
    for dir in std::iter::once(include.clone()).chain([include.join("vltstd")]).chain(models.iter().map(|m| m.dir.clone())) {
        shim.flag("-isystem").flag(dir.to_string_lossy().as_ref());
    }
    shim.file(shim_dir.join("shim.cpp")).file(shim_dir.join("bare_loop.cpp")).objects(objects);
    shim.try_compile("iommu_cosim_rtl").map_err(|e| failure("the shim", &e))?;

    if trace {
        // The FST writer compresses with zlib.
        println!("cargo:rustc-link-lib=z");
    }
    Ok(())
}

/// A compiler failure, with what to install in case the compiler or zlib is missing.
fn failure(what: &str, error: &cc::Error) -> String {
    format!("compiling {what} failed: {error}\n(needs a C++17 compiler, and zlib for the `trace` feature: {INSTALL_HINT})")
}
