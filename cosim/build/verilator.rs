//! Finds Verilator and runs it: one `verilator --cc` per configuration, each into
//! its own directory with its own prefix, then reads the list of C++ files it
//! generated from `V<name>_classes.mk`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Config;

/// What to install when a tool is missing.
pub const INSTALL_HINT: &str = "on Debian or Ubuntu: apt-get install verilator g++ make zlib1g-dev";

/// Oldest Verilator major version the shim supports (`--no-timing`, VerilatedContext).
const MIN_MAJOR: u32 = 5;

/// The Verilator installation.
pub struct Verilator {
    /// The program (`verilator`, or `$VERILATOR`).
    program: PathBuf,
    /// `verilator --version`, e.g. `Verilator 5.006 2023-01-22 rev (Debian 5.006-3)`.
    pub version: String,
    /// `$VERILATOR_ROOT`: its `include/` holds the runtime sources and headers.
    pub root: PathBuf,
}

/// Options shared by every configuration; see the README of cosim for the reasons.
pub struct Options {
    /// `--trace-fst`: the model can write FST waveforms.
    pub trace: bool,
    /// `--coverage-line`: the model counts the execution of each RTL line (read
    /// with `Rtl::write_coverage`).
    pub coverage: bool,
}

/// The output of Verilator for one configuration.
pub struct Model {
    /// The configuration's name.
    pub name: String,
    /// `OUT_DIR/<name>`: the generated sources and headers.
    pub dir: PathBuf,
    /// The model's C++ files.
    pub sources: Vec<PathBuf>,
    /// The runtime files the model needs, as names under `include/` without `.cpp`
    /// (`verilated`, `verilated_threads`, `verilated_fst_c`).
    pub runtime: Vec<String>,
    /// The first line of each warning (the whole output is in `dir/verilator.log`).
    pub warnings: Vec<String>,
}

impl Verilator {
    /// Finds `verilator` (or `$VERILATOR`) and asks it for its version and root.
    pub fn find() -> Result<Verilator, String> {
        let program = PathBuf::from(std::env::var_os("VERILATOR").unwrap_or_else(|| "verilator".into()));
        let version = run_for_output(&program, &["--version"])?;
        check_version(&version)?;
        let root = PathBuf::from(run_for_output(&program, &["--getenv", "VERILATOR_ROOT"])?);
        if !root.join("include/verilated.cpp").is_file() {
            return Err(format!(
                "{} says VERILATOR_ROOT is {}, which has no include/verilated.cpp ({INSTALL_HINT})",
                program.display(),
                root.display()
            ));
        }
        Ok(Verilator { program, version, root })
    }

    /// The directory of the runtime's sources and headers.
    pub fn include_dir(&self) -> PathBuf {
        self.root.join("include")
    }

    /// Runs `verilator --cc` for one configuration into `out/<name>`.
    pub fn build(&self, files_f: &Path, config: &Config, options: &Options, out: &Path) -> Result<Model, String> {
        let dir = out.join(&config.name);
        // Start clean: stale files of an earlier run would not be listed, but keep
        // the directory free of surprises.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot clean {}: {e}", dir.display()))?;
        }
        let prefix = format!("V{}", config.name);
        let mut command = Command::new(&self.program);
        command
            .arg("--cc")
            .arg("-F")
            .arg(files_f)
            .args(["--top-module", "iommu_top", "--prefix", &prefix])
            .arg("--Mdir")
            .arg(&dir)
            .args(config.params.iter().map(|(name, value)| format!("-G{name}={value}")))
            .args(COMMON_FLAGS);
        if options.trace {
            command.arg("--trace-fst");
        }
        if options.coverage {
            command.arg("--coverage-line");
        }
        let output = command.output().map_err(|e| format!("cannot run {}: {e}", self.program.display()))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "Verilator failed on configuration `{}` ({}):\n{:?}\n{}{}",
                config.name,
                output.status,
                command,
                String::from_utf8_lossy(&output.stdout),
                stderr
            ));
        }
        let log = dir.join("verilator.log");
        std::fs::write(&log, stderr.as_bytes()).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
        let warnings = stderr.lines().filter(|l| l.starts_with("%Warning")).map(str::to_owned).collect();
        let classes = dir.join(format!("{prefix}_classes.mk"));
        let make = std::fs::read_to_string(&classes).map_err(|e| format!("cannot read {}: {e}", classes.display()))?;
        let sources = ["VM_CLASSES_FAST", "VM_CLASSES_SLOW", "VM_SUPPORT_FAST", "VM_SUPPORT_SLOW"]
            .iter()
            .flat_map(|var| make_list(&make, var))
            .map(|class| dir.join(format!("{class}.cpp")))
            .collect();
        let runtime = ["VM_GLOBAL_FAST", "VM_GLOBAL_SLOW"].iter().flat_map(|var| make_list(&make, var)).collect();
        Ok(Model { name: config.name.clone(), dir, sources, runtime, warnings })
    }
}

/// Flags of every `verilator` run (the choice is explained in cosim/README.md):
/// assertions on; no timing (the RTL is synthesizable: delays would be ignored, and
/// C++17 suffices); X assignments and initial values resolved for speed but
/// deterministically (`unique` with Verilator's default seed is all zeros); lint
/// warnings reported as cargo warnings instead of failing the build; one timescale
/// everywhere so that the shim's trace times are cycles in ns; Verilator's
/// expensive optimisations on.
const COMMON_FLAGS: &[&str] = &[
    "--assert",
    "--no-timing",
    "--x-assign",
    "fast",
    "--x-initial",
    "unique",
    "-Wno-fatal",
    "--timescale-override",
    "1ns/1ps",
    "-O3",
];

/// Runs a program for its trimmed standard output; a missing program names the
/// packages to install.
fn run_for_output(program: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "`{}` not found: iommu-cosim compiles the RTL with Verilator 5 ({INSTALL_HINT}; or set VERILATOR \
                 to the program). Only the co-simulation needs it: `cargo build` at the workspace root builds \
                 iommu-cosim only with the `rtl` feature.",
                program.display()
            )
        } else {
            format!("cannot run {}: {e}", program.display())
        }
    })?;
    if !output.status.success() {
        return Err(format!(
            "`{} {}` failed: {}{}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Rejects Verilator versions older than [`MIN_MAJOR`].
fn check_version(version: &str) -> Result<(), String> {
    let major = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| format!("cannot read the version of Verilator from `{version}`"))?;
    if major < MIN_MAJOR {
        return Err(format!("iommu-cosim needs Verilator {MIN_MAJOR} or newer, found `{version}`"));
    }
    Ok(())
}

/// The words of `VAR += a b \` ... lines of a Verilator-generated makefile.
fn make_list(make: &str, var: &str) -> Vec<String> {
    let joined = make.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix(var)?;
            let rest = rest.trim_start();
            rest.strip_prefix("+=").or_else(|| rest.strip_prefix('='))
        })
        .flat_map(|words| words.split_whitespace().map(str::to_owned))
        .collect()
}
