//! `iommu import`: turn a captured log (a QEMU trace-event log of its IOMMU
//! models, or Linux ftrace text output) into a DMA trace (`iommu-trace/1`). The
//! rules are in `traces/src/import/README.md`; the summary of what was converted,
//! merged and skipped goes to standard error.

use crate::{CmdResult, Outcome};
use anyhow::{Context, Result};
use iommu_traces::import::{import, CaptureFormat, ImportOptions};
use iommu_traces::trace::TraceWriter;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

/// Options of `iommu import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The capture (`-` for standard input).
    input: PathBuf,
    /// The capture's format: qemu, ftrace or auto (the default: from its first lines).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// The IOMMU clock in Hz: capture times in seconds become cycles of it.
    #[arg(long, default_value_t = 1_000_000_000)]
    clock_hz: u64,
    /// Where to write the trace (standard output if not given).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Count lines whose fields do not parse and go on, instead of stopping.
    #[arg(long)]
    skip_bad_lines: bool,
}

fn format_of(s: Option<&str>) -> Result<Option<CaptureFormat>> {
    match s {
        None | Some("auto") => Ok(None),
        Some(f) => f.parse().map(Some).map_err(|e: String| anyhow::anyhow!("--format: {e} or auto")),
    }
}

/// Runs `iommu import`.
pub fn run(args: &ImportArgs, out: &mut dyn Write) -> CmdResult {
    let options = ImportOptions {
        format: format_of(args.format.as_deref())?,
        clock_hz: args.clock_hz,
        skip_bad_lines: args.skip_bad_lines,
    };
    let stdin = std::io::stdin();
    let (input, name): (Box<dyn BufRead>, String) = if args.input.as_os_str() == "-" {
        (Box::new(stdin.lock()), "-".to_string())
    } else {
        let f = File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
        (Box::new(BufReader::with_capacity(1 << 16, f)), args.input.display().to_string())
    };
    let report = match &args.out {
        Some(path) => {
            let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut w = TraceWriter::new(BufWriter::new(f))?;
            let r = import(input, &name, &options, &mut w)?;
            w.finish().with_context(|| format!("writing {}", path.display()))?;
            r
        }
        None => {
            let mut w = TraceWriter::new(&mut *out)?;
            let r = import(input, &name, &options, &mut w)?;
            w.finish()?;
            r
        }
    };
    eprint!("{report}");
    Ok(Outcome::Ok)
}
