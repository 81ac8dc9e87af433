//! Compiles the Verilator output, the Verilator runtime and the shim with the `cc`
//! crate into one static library, `libiommu_cosim_rtl.a`, linked into the crate.

use std::path::Path;

use crate::verilator::{Model, Verilator, INSTALL_HINT};

/// Optimisation level of all C++ code, whatever the cargo profile (tests run the
/// RTL for many cycles, and one library then serves every profile, see `cache`):
/// measured (cosim/README.md), `-O2` is as fast as `-O3` and faster than `-Os` and
/// `-O1`.
const OPT_LEVEL: u32 = 2;

/// Compiles the models, the runtime and the shim into `out/libiommu_cosim_rtl.a`.
pub fn compile(
    verilator: &Verilator,
    models: &[Model],
    shim_dir: &Path,
    out: &Path,
    trace: bool,
    coverage: bool,
) -> Result<(), String> {
    let include = verilator.include_dir();
    let mut runtime: Vec<&str> = models.iter().flat_map(|m| m.runtime.iter().map(String::as_str)).collect();
    if coverage {
        // The coverage database (VerilatedCovContext), whatever the makefile lists.
        runtime.push("verilated_cov");
    }
    runtime.sort_unstable();
    runtime.dedup();

    let on = if trace { "1" } else { "0" };
    let mut base = cc::Build::new();
    // `link` tells cargo what to link, the same way on a cache hit.
    base.cargo_metadata(false)
        .cpp(true)
        .std("c++17")
        .opt_level(OPT_LEVEL)
        .debug(false)
        .define("VM_COVERAGE", if coverage { "1" } else { "0" })
        .define("VM_SC", "0")
        .define("VM_TRACE", on)
        .define("VM_TRACE_FST", on)
        .define("VM_TRACE_VCD", "0")
        // shim.cpp replaces these runtime hooks (see there).
        .define("VL_USER_FINISH", None)
        .define("VL_USER_STOP", None)
        .define("VL_USER_FATAL", None);

    // Generated code and runtime: the flags of Verilator's own makefile (no
    // control-flow protection: a few percent faster), warnings off (the code is not
    // ours to fix).
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
    for dir in
        std::iter::once(include.clone()).chain([include.join("vltstd")]).chain(models.iter().map(|m| m.dir.clone()))
    {
        shim.flag("-isystem").flag(dir.to_string_lossy().as_ref());
    }
    shim.file(shim_dir.join("shim.cpp")).file(shim_dir.join("bare_loop.cpp")).objects(objects);
    shim.try_compile("iommu_cosim_rtl").map_err(|e| failure("the shim", &e))
}

/// Links `out/libiommu_cosim_rtl.a`, the C++ standard library and, with `trace`,
/// zlib.
pub fn link(out: &Path, trace: bool) {
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=iommu_cosim_rtl");
    let target = std::env::var("TARGET").unwrap_or_default();
    let bsd_like = ["apple", "freebsd", "openbsd"].iter().any(|os| target.contains(os));
    println!("cargo:rustc-link-lib={}", if bsd_like { "c++" } else { "stdc++" });
    if trace {
        // The FST writer compresses with zlib.
        println!("cargo:rustc-link-lib=z");
    }
}

/// What identifies the C++ compiler: its path and `--version`.
pub fn compiler_identity() -> String {
    let tool = cc::Build::new().cpp(true).cargo_metadata(false).get_compiler();
    let version = tool
        .to_command()
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    format!("{} {version} {OPT_LEVEL}", tool.path().display())
}

/// A compiler failure, with what to install in case the compiler or zlib is missing.
fn failure(what: &str, error: &cc::Error) -> String {
    format!(
        "compiling {what} failed: {error}\n(needs a C++17 compiler, and zlib for the `trace` feature: {INSTALL_HINT})"
    )
}
