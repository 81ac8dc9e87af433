//! `iommu`: the command line of the RISC-V IOMMU reference kit.

mod bench;
mod cache_args;
#[cfg(feature = "rtl")]
mod cosim_cmd;
mod embedded;
mod gen_cmd;
mod import_cmd;
mod replay_cmd;
mod report_cmd;
#[cfg(feature = "rtl")]
mod rtl_report;
mod sweep_cmd;
mod vectors_cmd;
mod workloads;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "iommu", version, about = "RISC-V IOMMU reference kit: golden model, vectors, workloads, reports")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// The arguments of an RTL command in a build without the RTL backend.
#[cfg(not(feature = "rtl"))]
#[derive(clap::Args)]
struct NoRtl {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// The error of an RTL command in a build without the RTL backend.
pub fn no_rtl() -> anyhow::Error {
    anyhow::anyhow!(
        "this iommu was built without the RTL backend: build it with `cargo run --release --features rtl -- ...` \
         (needs Verilator 5, a C++ compiler and make: on Debian `apt-get install verilator g++ make zlib1g-dev`)"
    )
}

#[derive(Subcommand)]
enum Cmd {
    /// Run riscv-iommu-vector/1 conformance vectors (the embedded sample set if no file is given).
    Vectors(vectors_cmd::VectorsArgs),
    /// Measure the golden model's translations per second on one core.
    Bench(bench::BenchArgs),
    /// Replay a DMA trace through the driver model and the timing model.
    Replay(replay_cmd::ReplayArgs),
    /// Write a generated DMA workload (NIC, NVMe, accelerator, ...) as an iommu-trace/1 CSV.
    Gen(gen_cmd::GenArgs),
    /// Convert a QEMU trace log or a Linux ftrace capture to an iommu-trace/1 CSV.
    Import(import_cmd::ImportArgs),
    /// Replay a grid of configurations x workloads in parallel, one CSV row per job.
    Sweep(sweep_cmd::SweepArgs),
    /// Join the CSV files of a sharded sweep.
    Merge(sweep_cmd::MergeArgs),
    /// Run the RTL and the golden model in lockstep on a trace, a workload or random stimulus.
    #[cfg(feature = "rtl")]
    Cosim(cosim_cmd::CosimArgs),
    /// Run the RTL and the golden model in lockstep (needs a build with `--features rtl`).
    #[cfg(not(feature = "rtl"))]
    Cosim(NoRtl),
    /// Write the HTML report with plots (the embedded default workloads if no trace is given).
    Report(report_cmd::ReportArgs),
}

/// What a command concluded: success, or a finding that sets a non-zero exit
/// status (failed vectors, mismatches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed.
    Ok,
    /// The run finished but found failures (exit status 1).
    Failed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match &cli.command {
        Cmd::Vectors(a) => vectors_cmd::run(a, &mut out),
        #[cfg(feature = "rtl")]
        Cmd::Cosim(a) => cosim_cmd::run(a, &mut out),
        #[cfg(not(feature = "rtl"))]
        Cmd::Cosim(_) => Err(no_rtl()),
        Cmd::Bench(a) => bench::run(a, &mut out),
        Cmd::Replay(a) => replay_cmd::run(a, &mut out),
        Cmd::Gen(a) => gen_cmd::run(a, &mut out),
        Cmd::Import(a) => import_cmd::run(a, &mut out),
        Cmd::Sweep(a) => sweep_cmd::run(a, &mut out),
        Cmd::Merge(a) => sweep_cmd::merge(a, &mut out),
        Cmd::Report(a) => report_cmd::run_cmd(a, &mut out),
    };
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(Outcome::Ok), Ok(())) => ExitCode::SUCCESS,
        (Ok(Outcome::Failed), Ok(())) => ExitCode::FAILURE,
        (Err(e), _) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        (_, Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        (Err(e), _) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        (Ok(_), Err(e)) => {
            eprintln!("error: writing output: {e}");
            ExitCode::from(2)
        }
    }
}

/// Output closed early (`iommu ... | head`) is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Shorthand for command results.
pub type CmdResult = Result<Outcome>;
