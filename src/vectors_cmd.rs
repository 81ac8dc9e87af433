//! `iommu vectors`: run conformance vectors and report per file, per feature and
//! per failure.

use crate::cache_args::CacheArgs;
use crate::{embedded, CmdResult, Outcome};
use anyhow::{bail, Context, Result};
use iommu_model::Iommu;
use iommu_traces::conformance::{trace_vector, Summary};
use iommu_traces::vector::parse_file;
use std::io::Write;
use std::path::PathBuf;

/// Options of `iommu vectors`.
#[derive(clap::Args)]
pub struct VectorsArgs {
    /// Vector files (JSON Lines); none runs the embedded sample set.
    files: Vec<PathBuf>,
    #[command(flatten)]
    caches: CacheArgs,
    /// What runs the vectors: `model` (the golden model) or `rtl` (the RTL under
    /// Verilator; needs a build with `--features rtl`).
    #[arg(long, default_value = "model", value_parser = ["model", "rtl"])]
    backend: String,
    /// RTL configuration for `--backend rtl` (a name of rtl/configs.txt), or `all`.
    #[arg(long = "rtl-config", default_value = "default")]
    rtl_config: String,
    /// Print only the totals and failures.
    #[arg(long, short)]
    quiet: bool,
    /// Instead of checking, print every memory access of each translation of the
    /// vector with this name.
    #[arg(long, value_name = "NAME")]
    trace: Option<String>,
    /// With `--backend rtl`: write the RTL's line coverage, one file per
    /// configuration, `FILE.<config>.dat` (read it with `verilator_coverage`). Needs
    /// `--features rtl-coverage`.
    #[arg(long, value_name = "FILE")]
    coverage: Option<PathBuf>,
}

/// The vector files to run: the named ones, or the embedded set.
fn sources(files: &[PathBuf]) -> Result<Vec<(String, String)>> {
    if files.is_empty() {
        return Ok(embedded::VECTORS.iter().map(|(n, t)| (format!("<embedded>/{n}"), t.to_string())).collect());
    }
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

fn trace(args: &VectorsArgs, name: &str, out: &mut dyn Write) -> CmdResult {
    let mut model = Iommu::new(args.caches.config()?);
    for (file, text) in sources(&args.files)? {
        for (_, parsed) in parse_file(&text, &file) {
            let Ok(v) = parsed else { continue };
            if v.name != name {
                continue;
            }
            for s in trace_vector(&mut model, &v) {
                writeln!(out, "step {}: {:?}", s.step, s.req)?;
                for a in &s.accesses {
                    writeln!(
                        out,
                        "    {:?} {} {:#018x}{}",
                        a.kind,
                        a.addr,
                        a.value,
                        if a.faulted { " FAULT" } else { "" }
                    )?;
                }
                writeln!(out, "  -> {:?}", s.response)?;
            }
            return Ok(Outcome::Ok);
        }
    }
    bail!("no vector named {name:?}")
}

/// Runs `iommu vectors`.
pub fn run(args: &VectorsArgs, out: &mut dyn Write) -> CmdResult {
    if let Some(name) = &args.trace {
        return trace(args, name, out);
    }
    let config = args.caches.config()?;
    if args.coverage.is_some() && args.backend != "rtl" {
        bail!("--coverage is the line coverage of the RTL: it needs `--backend rtl`");
    }
    if args.backend == "rtl" {
        return run_rtl(args, out);
    }
    let mut model = Iommu::new(config);
    let mut summary = Summary::default();
    for (file, text) in sources(&args.files)? {
        summary.run_file(&mut model, &file, &text);
    }
    print_summary(
        args,
        &summary,
        &format!("caches: iotlb {}, ddtc {}, pdtc {}\n", config.iotlb, config.ddtc, config.pdtc),
        out,
    )
}

/// Prints a summary and concludes.
fn print_summary(args: &VectorsArgs, summary: &Summary, header: &str, out: &mut dyn Write) -> CmdResult {
    if args.quiet {
        let t = summary.total();
        writeln!(out, "{} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped)?;
        for f in &summary.failures {
            writeln!(out, "FAILED {} ({}:{})", f.name, f.file, f.line)?;
            for s in &f.steps {
                write!(out, "{s}")?;
            }
        }
        for e in &summary.errors {
            writeln!(out, "{e}")?;
        }
    } else {
        writeln!(out, "{header}")?;
        write!(out, "{summary}")?;
    }
    if summary.total().total() == 0 && summary.errors.is_empty() {
        bail!("no vectors found");
    }
    Ok(if summary.ok() { Outcome::Ok } else { Outcome::Failed })
}

/// `--backend rtl`: the vectors on each chosen RTL configuration.
#[cfg(feature = "rtl")]
fn run_rtl(args: &VectorsArgs, out: &mut dyn Write) -> CmdResult {
    use iommu_cosim::device::{MemTiming, RtlDevice};
    let all: Vec<String> = iommu_cosim::configs()?.iter().map(|c| c.name.clone()).collect();
    // `all` means the real configurations, not the ones with a planted bug.
    let real: Vec<String> =
        iommu_cosim::configs()?.iter().filter(|c| c.params.fault_injection == 0).map(|c| c.name.clone()).collect();
    let chosen = if args.rtl_config == "all" { real } else { vec![args.rtl_config.clone()] };
    if args.coverage.is_some() && !iommu_cosim::COVERAGE {
        bail!("--coverage needs the RTL models built with line coverage: build with `--features rtl-coverage`");
    }
    let mut worst = Outcome::Ok;
    for name in &chosen {
        if !all.contains(name) {
            bail!("no RTL configuration {name:?} (built: {})", all.join(", "));
        }
        let mut dev = RtlDevice::new(name, MemTiming::default())?;
        let mut summary = Summary::default();
        for (file, text) in sources(&args.files)? {
            summary.run_file(&mut dev, &file, &text);
            if let Some(e) = dev.take_error() {
                bail!("{file}: the RTL failed: {e}");
            }
        }
        if let Some(file) = &args.coverage {
            let mut path = file.as_os_str().to_owned();
            path.push(format!(".{name}.dat"));
            dev.rtl_mut().write_coverage(&path)?;
            writeln!(out, "line coverage of RTL `{name}`: {}", PathBuf::from(path).display())?;
        }
        let p = dev.rtl().params();
        let header = format!(
            "RTL `{name}` (Verilator {}): IOTLB {}x{}, DDTC {}x{}, PDTC {}x{}, {} walker(s)\n",
            iommu_cosim::VERILATOR_VERSION.trim(),
            p.iotlb_sets,
            p.iotlb_ways,
            p.ddtc_sets,
            p.ddtc_ways,
            p.pdtc_sets,
            p.pdtc_ways,
            p.walkers
        );
        if print_summary(args, &summary, &header, out)? == Outcome::Failed {
            worst = Outcome::Failed;
        }
    }
    Ok(worst)
}

#[cfg(not(feature = "rtl"))]
fn run_rtl(_: &VectorsArgs, _: &mut dyn Write) -> CmdResult {
    Err(crate::no_rtl())
}
