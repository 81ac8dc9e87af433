//! `iommu gen`: write a generated DMA workload as an `iommu-trace/1` CSV trace.

use crate::{CmdResult, Outcome};
use anyhow::{anyhow, Context};
use iommu_traces::gen::{self, Options};
use iommu_traces::trace::TraceWriter;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Options of `iommu gen`.
#[derive(clap::Args)]
pub struct GenArgs {
    /// Workload: nic, nvme, accel, accel-strided, window, passthrough or nested.
    workload: String,
    /// Seed of the random choices (the same seed gives the same trace).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Operations per device: packets (nic), I/Os (nvme), accesses (accel,
    /// passthrough, nested) or reads per window (window); default: the
    /// workload's own.
    #[arg(long)]
    count: Option<u64>,
    /// Devices (requester IDs 0x0100, 0x0101, ...), interleaved by time.
    #[arg(long, default_value_t = 1)]
    devices: u32,
    /// Page size, 4k or 2m: the mappings' (accel, window) or the G-stage's
    /// (passthrough, nested).
    #[arg(long)]
    page: Option<String>,
    /// A single window size for `window` (for example 64k, 1m); default: a sweep
    /// from 64k to 1g, doubling.
    #[arg(long)]
    window: Option<String>,
    /// Cycle of the first event.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Output file (default: standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// The generator options the arguments describe.
fn options(args: &GenArgs) -> anyhow::Result<Options> {
    let page = match args.page.as_deref() {
        None => None,
        Some(p) => Some(
            gen::parse_page(p).ok_or_else(|| anyhow!("--page {p:?}: expected 4k or 2m (or 64k, 1g where they fit)"))?,
        ),
    };
    let window = match args.window.as_deref() {
        None => None,
        Some(w) => {
            Some(gen::parse_size(w).ok_or_else(|| anyhow!("--window {w:?}: expected a size such as 64k or 1m"))?)
        }
    };
    Ok(Options { seed: args.seed, devices: args.devices, count: args.count, start: args.start, page, window })
}

/// Runs `iommu gen`.
pub fn run(args: &GenArgs, out: &mut dyn Write) -> CmdResult {
    let o = options(args)?;
    let mut g = gen::build(&args.workload, &o)?;
    match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut w = TraceWriter::new(BufWriter::new(file))?;
            gen::write_trace(&mut g, &mut w).with_context(|| format!("writing {}", path.display()))?;
            w.finish().with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let mut w = TraceWriter::new(out)?;
            gen::write_trace(&mut g, &mut w)?;
            w.finish()?;
        }
    }
    Ok(Outcome::Ok)
}
