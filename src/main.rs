//! `iommu`: the command line of the RISC-V IOMMU reference kit.

mod bench;
mod embedded;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use iommu_model::{CacheConfig, Geometry, Iommu, Replacement};
use iommu_traces::conformance::Summary;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "iommu", version, about = "RISC-V IOMMU reference kit: golden model, vectors, workloads, reports")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run riscv-iommu-vector/1 conformance vectors (the embedded sample set if no file is given).
    Vectors(VectorsArgs),
    /// Measure the golden model's translations per second on one core.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Seconds to run each workload.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Run only the workloads whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

fn run_bench(args: &BenchArgs) -> Result<bool> {
    let budget = std::time::Duration::from_secs_f64(args.seconds);
    println!(
        "{:<16} {:>14} {:>10} {:>12} {:>12}  what",
        "workload", "translations/s", "ns each", "reads each", "clear ns"
    );
    for mut w in bench::workloads()? {
        if args.only.as_deref().is_some_and(|o| !w.name.contains(o)) {
            continue;
        }
        let m = bench::measure(&mut w, budget)?;
        println!(
            "{:<16} {:>12.2} M {:>10.1} {:>12.1} {:>12.1}  {}",
            w.name,
            m.per_second / 1e6,
            m.ns,
            m.reads_per,
            m.clear_ns,
            w.what
        );
    }
    Ok(true)
}

#[derive(clap::Args)]
struct CacheArgs {
    /// Disable every cache (each translation walks from the root).
    #[arg(long)]
    no_caches: bool,
    /// IOTLB geometry as SETSxWAYS (0x0 disables it).
    #[arg(long, value_name = "SETSxWAYS", default_value = "16x4")]
    iotlb: String,
    /// Device-directory cache geometry.
    #[arg(long, value_name = "SETSxWAYS", default_value = "4x4")]
    ddtc: String,
    /// Process-directory cache geometry.
    #[arg(long, value_name = "SETSxWAYS", default_value = "4x4")]
    pdtc: String,
    /// Replacement policy of every cache: lru, plru or random.
    #[arg(long, default_value = "lru")]
    replacement: String,
}

impl CacheArgs {
    fn config(&self) -> Result<CacheConfig> {
        if self.no_caches {
            return Ok(CacheConfig::DISABLED);
        }
        let replacement: Replacement = self.replacement.parse().map_err(anyhow::Error::msg)?;
        let geo = |name: &str, s: &str| -> Result<Geometry> {
            let (a, b) =
                s.split_once('x').with_context(|| format!("--{name} {s:?}: expected SETSxWAYS, for example 16x4"))?;
            let sets = a.parse().with_context(|| format!("--{name}: bad set count {a:?}"))?;
            let ways = b.parse().with_context(|| format!("--{name}: bad way count {b:?}"))?;
            let g = Geometry { sets, ways, replacement };
            g.validate().with_context(|| format!("--{name} {s}"))?;
            Ok(g)
        };
        Ok(CacheConfig {
            iotlb: geo("iotlb", &self.iotlb)?,
            ddtc: geo("ddtc", &self.ddtc)?,
            pdtc: geo("pdtc", &self.pdtc)?,
        })
    }
}

#[derive(clap::Args)]
struct VectorsArgs {
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
fn vector_sources(files: &[PathBuf]) -> Result<Vec<(String, String)>> {
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

fn trace(args: &VectorsArgs, name: &str) -> Result<bool> {
    let mut model = Iommu::new(args.caches.config()?);
    for (file, text) in vector_sources(&args.files)? {
        for (_, parsed) in iommu_traces::vector::parse_file(&text, &file) {
            let Ok(v) = parsed else { continue };
            if v.name != name {
                continue;
            }
            for s in iommu_traces::conformance::trace_vector(&mut model, &v) {
                println!("step {}: {:?}", s.step, s.req);
                for a in &s.accesses {
                    println!("    {:?} {} {:#018x}{}", a.kind, a.addr, a.value, if a.faulted { " FAULT" } else { "" });
                }
                println!("  -> {:?}", s.response);
            }
            return Ok(true);
        }
    }
    bail!("no vector named {name:?}")
}

fn vectors(args: &VectorsArgs) -> Result<bool> {
    if let Some(name) = &args.trace {
        return trace(args, name);
    }
    let config = args.caches.config()?;
    let mut model = Iommu::new(config);
    let mut summary = Summary::default();
    for (file, text) in vector_sources(&args.files)? {
        summary.run_file(&mut model, &file, &text);
    }
    if args.quiet {
        let t = summary.total();
        println!("{} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped);
        for f in &summary.failures {
            println!("FAILED {} ({}:{})", f.name, f.file, f.line);
            for s in &f.steps {
                print!("{s}");
            }
        }
        for e in &summary.errors {
            println!("{e}");
        }
    } else {
        println!("caches: iotlb {}, ddtc {}, pdtc {}\n", config.iotlb, config.ddtc, config.pdtc);
        print!("{summary}");
    }
    let total = summary.total();
    if total.total() == 0 && summary.errors.is_empty() {
        bail!("no vectors found");
    }
    Ok(summary.ok())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Cmd::Vectors(a) => vectors(a),
        Cmd::Bench(a) => run_bench(a),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
