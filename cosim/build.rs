//! Builds the RTL co-simulation: one Verilator model per line of `rtl/configs.txt`
//! (prefix `V<name>`, parameters by `-G`), compiled with the Verilator runtime and
//! the shim (`shim/`) into one static library, and the Rust table of the exported
//! functions (`OUT_DIR/models.rs`).
//!
//! Needs Verilator 5, a C++17 compiler and, with the `trace` feature, zlib; a missing
//! tool fails the build with the Debian packages to install.
//!
//! `IOMMU_COSIM_RTL_DIR` builds from another RTL directory (with its own `files.f`
//! and `configs.txt`) instead of `rtl/`; the library embeds the `configs.txt` used.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "src/config.rs"]
mod config;

#[path = "build/cache.rs"]
mod cache;
#[path = "build/codegen.rs"]
mod codegen;
#[path = "build/compile.rs"]
mod compile;
#[path = "build/filelist.rs"]
mod filelist;
#[path = "build/model_check.rs"]
mod model_check;
#[path = "build/ports_check.rs"]
mod ports_check;
#[path = "build/top_params.rs"]
mod top_params;
#[path = "build/verilator.rs"]
mod verilator;

fn main() {
    if let Err(message) = run() {
        eprintln!("error: iommu-cosim: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env("OUT_DIR")?);
    let rtl = std::env::var_os("IOMMU_COSIM_RTL_DIR").map_or_else(|| manifest.join("../rtl"), PathBuf::from);
    let files_f = rtl.join("files.f");
    let configs_txt = rtl.join("configs.txt");
    let shim_dir = manifest.join("shim");
    let trace = std::env::var_os("CARGO_FEATURE_TRACE").is_some();
    let coverage = std::env::var_os("CARGO_FEATURE_COVERAGE").is_some();

    let files = filelist::read(&files_f)?;
    watch(&manifest, &files_f, &configs_txt, &shim_dir, &files);

    let text =
        std::fs::read_to_string(&configs_txt).map_err(|e| format!("cannot read {}: {e}", configs_txt.display()))?;
    let configs = config::parse(&text).map_err(|e| format!("{}: {e}", configs_txt.display()))?;
    // The library embeds this copy: the configurations it knows are those built.
    std::fs::write(out.join("configs.txt"), &text).map_err(|e| format!("cannot write configs.txt: {e}"))?;
    top_params::check(&top_params::read(&files.sources)?)?;
    model_check::check(&rtl.join("model"), &configs, &out)?;

    let verilator = verilator::Verilator::find()?;
    println!("cargo:rustc-env=IOMMU_COSIM_VERILATOR_VERSION={}", verilator.version);
    let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
    codegen::write(&out, &names)?;

    // Every cargo profile and command builds the same library: reuse it if the
    // inputs are unchanged.
    let mut inputs = vec![files_f.clone(), configs_txt.clone(), shim_dir.clone(), manifest.join("build.rs")];
    inputs.extend([manifest.join("build"), manifest.join("src/config.rs")]);
    inputs.extend(files.sources.iter().chain(&files.include_dirs).cloned());
    let facts = [
        verilator.version.clone(),
        verilator.root.display().to_string(),
        compile::compiler_identity(),
        trace.to_string(),
        format!("coverage={coverage}"),
    ];
    let key = cache::key(&inputs, &facts)?;
    let cache_root = cache::root(&out);
    if let Some(warnings) = cache_root.as_deref().and_then(|root| cache::fetch(root, &key, &out)) {
        print_warnings(&warnings);
        compile::link(&out, trace);
        return Ok(());
    }

    let options = verilator::Options { trace, coverage };
    // One Verilator run per configuration, in parallel.
    let models = std::thread::scope(|scope| {
        let runs: Vec<_> =
            configs.iter().map(|config| scope.spawn(|| verilator.build(&files_f, config, &options, &out))).collect();
        runs.into_iter()
            .map(|run| run.join().unwrap_or_else(|_| Err("a Verilator run panicked".to_owned())))
            .collect::<Result<Vec<_>, String>>()
    })?;
    for model in &models {
        ports_check::check(&model.dir, &format!("V{}", model.name), &shim_dir.join("ports.h"))?;
    }
    let warnings = merge_warnings(&models);
    print_warnings(&warnings);

    compile::compile(&verilator, &models, &shim_dir, &out, trace, coverage)?;
    // Stored only if no input changed while it was built (the RTL is often being
    // edited): the entry must be the library of the key's inputs.
    if let (Some(root), Ok(after)) = (&cache_root, cache::key(&inputs, &facts)) {
        if after == key {
            cache::store(root, &key, &out, &warnings);
        } else {
            println!("cargo:warning=an input of iommu-cosim changed during its build: not cached");
        }
    }
    compile::link(&out, trace);
    Ok(())
}

/// Each distinct Verilator warning once, with the configurations that raised it,
/// and where the full text is.
fn merge_warnings(models: &[verilator::Model]) -> Vec<String> {
    let mut seen: Vec<(&str, Vec<&str>)> = Vec::new();
    for model in models {
        for warning in &model.warnings {
            match seen.iter_mut().find(|(w, _)| w == warning) {
                Some((_, names)) => names.push(&model.name),
                None => seen.push((warning, vec![&model.name])),
            }
        }
    }
    let mut lines: Vec<String> = seen.iter().map(|(w, names)| format!("[{}] {w}", names.join(", "))).collect();
    if let Some(model) = models.iter().find(|m| !m.warnings.is_empty()) {
        lines.push(format!("full messages in {}", model.dir.join("verilator.log").display()));
    }
    lines
}

/// Shows Verilator's warnings as cargo warnings.
fn print_warnings(warnings: &[String]) {
    for line in warnings.iter().filter(|l| !l.is_empty()) {
        println!("cargo:warning=verilator {line}");
    }
}

/// Tells cargo what the build depends on.
fn watch(manifest: &Path, files_f: &Path, configs_txt: &Path, shim: &Path, files: &filelist::FileList) {
    let mut paths: Vec<PathBuf> = vec![
        manifest.join("build.rs"),
        manifest.join("build"),
        manifest.join("src/config.rs"),
        shim.to_path_buf(),
        files_f.to_path_buf(),
        configs_txt.to_path_buf(),
    ];
    paths.extend(files.sources.iter().cloned());
    paths.extend(files.include_dirs.iter().cloned());
    for path in paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=VERILATOR");
    println!("cargo:rerun-if-env-changed=VERILATOR_ROOT");
    println!("cargo:rerun-if-env-changed=IOMMU_COSIM_RTL_DIR");
    for name in ["CXX", "CXXFLAGS", "CRATE_CC_NO_DEFAULTS"] {
        println!("cargo:rerun-if-env-changed={name}");
    }
}

/// A variable cargo sets for build scripts.
fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (run through cargo)"))
}
