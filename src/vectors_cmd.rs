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
    /// Print only the totals and failures.
    #[arg(long, short)]
    quiet: bool,
    /// Instead of checking, print every memory access of each translation of the
    /// vector with this name.
    #[arg(long, value_name = "NAME")]
    trace: Option<String>,
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
    let mut model = Iommu::new(config);
    let mut summary = Summary::default();
    for (file, text) in sources(&args.files)? {
        summary.run_file(&mut model, &file, &text);
    }
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
        writeln!(out, "caches: iotlb {}, ddtc {}, pdtc {}\n", config.iotlb, config.ddtc, config.pdtc)?;
        write!(out, "{summary}")?;
    }
    if summary.total().total() == 0 && summary.errors.is_empty() {
        bail!("no vectors found");
    }
    Ok(if summary.ok() { Outcome::Ok } else { Outcome::Failed })
}
