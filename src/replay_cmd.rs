//! `iommu replay`: a trace through the driver model and the timing model, with a
//! summary of what translation cost; optionally one CSV row per access, and the
//! workload as conformance vectors.

use crate::{CmdResult, Outcome};
use anyhow::{Context, Result};
use iommu_model::fault::Cause;
use iommu_model::{Iommu, Request, Response, Status};
use iommu_traces::config::Config;
use iommu_traces::replay::{
    replay_functional, replay_regs, replay_timed, AccessRecord, EventSource, ReplayOptions, ReplaySink, ReplayStats,
};
use iommu_traces::trace::TraceReader;
use iommu_traces::vector::{Expected, Vector, VectorStep};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Options of `iommu replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The trace (`-` reads standard input).
    trace: PathBuf,
    /// Configuration file (TOML); defaults for everything not given.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write one CSV row per access to this file.
    #[arg(long, value_name = "FILE")]
    per_access: Option<PathBuf>,
    /// Write the tables and requests, with the golden model's answers, as a
    /// riscv-iommu-vector/1 file.
    #[arg(long, value_name = "FILE")]
    emit_vectors: Option<PathBuf>,
    /// At most this many translate steps in the emitted vector.
    #[arg(long, default_value_t = 10_000)]
    vector_limit: usize,
    /// Skip (and count) unreadable lines instead of stopping.
    #[arg(long)]
    skip_bad_lines: bool,
}

/// Loads `--config`, or the defaults.
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        None => Ok(Config::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Ok(Config::from_toml(&text, &p.display().to_string())?)
        }
    }
}

/// Opens a trace file or standard input.
pub fn open_trace(path: &Path) -> Result<(Box<dyn BufRead>, String)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())), "-".into()));
    }
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok((Box::new(BufReader::with_capacity(1 << 16, f)), path.display().to_string()))
}

/// Writes one row per access.
struct PerAccess<W: Write> {
    out: W,
}

const PER_ACCESS_HEADER: &str =
    "line,time,device,pid,iova,len,access,requests,issued,completed,latency,status,spa,cause,source,reads";

impl<W: Write> ReplaySink for PerAccess<W> {
    fn access(&mut self, r: &AccessRecord) -> Result<(), String> {
        let e = &r.event;
        let cause = r.response.fault.map(|f| f.cause.0.to_string()).unwrap_or_default();
        writeln!(
            self.out,
            "{},{},{:#06x},{},{:#x},{},{},{},{},{},{},{},{:#x},{},{},{}",
            r.line,
            e.time.map(|t| t.to_string()).unwrap_or_default(),
            e.device,
            e.pid.map(|p| p.to_string()).unwrap_or_default(),
            e.iova,
            e.len,
            e.access.name(),
            r.requests,
            r.issued,
            r.completed,
            r.completed - r.issued,
            r.response.status.name(),
            r.response.spa.0,
            cause,
            r.source.name(),
            r.reads
        )
        .map_err(|e| e.to_string())
    }
}

/// Collects a vector: the driver's memory writes and commands, and each request
/// with the golden model's answer.
struct VectorSink {
    vector: Vector,
    limit: usize,
    translates: usize,
}

impl ReplaySink for VectorSink {
    fn access(&mut self, _: &AccessRecord) -> Result<(), String> {
        Ok(())
    }

    fn request(&mut self, req: &Request, resp: &Response) -> Result<(), String> {
        if self.translates >= self.limit {
            return Ok(());
        }
        self.translates += 1;
        let expect = Expected {
            status: resp.status,
            spa: (resp.status == Status::Success).then_some(resp.spa.0),
            fault: resp.reported_fault().copied(),
        };
        self.vector.steps.push(VectorStep::Translate { req: *req, expect });
        Ok(())
    }

    fn command(&mut self, cmd: [u64; 2]) -> Result<(), String> {
        if self.translates < self.limit {
            self.vector.steps.push(VectorStep::Command { words: cmd });
        }
        Ok(())
    }

    fn memory_written(&mut self, words: &[(u64, u64)]) -> Result<(), String> {
        if self.translates < self.limit {
            for &(addr, value) in words {
                self.vector.steps.push(VectorStep::WriteMemory { addr, value });
            }
        }
        Ok(())
    }
}

/// Prints a replay's summary.
pub fn print_summary(out: &mut dyn Write, s: &ReplayStats) -> std::io::Result<()> {
    let c = &s.counters;
    let pct = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.2} %", r * 100.0));
    writeln!(out, "accesses {}  requests {}  cycles {}", s.accesses, s.requests, s.cycles)?;
    writeln!(out, "requests per cycle      {:.3}", s.requests_per_cycle())?;
    writeln!(
        out,
        "IOTLB hit rate          {}  ({} hits, {} misses, {} merged into walks)",
        pct(c.iotlb_hit_rate()),
        c.iotlb_hit,
        c.iotlb_miss,
        c.walk_merged
    )?;
    writeln!(out, "DDTC hit rate           {}  ({} hits, {} misses)", pct(c.ddtc_hit_rate()), c.ddtc_hit, c.ddtc_miss)?;
    writeln!(out, "PDTC hit rate           {}  ({} hits, {} misses)", pct(c.pdtc_hit_rate()), c.pdtc_hit, c.pdtc_miss)?;
    let l = &s.latency;
    writeln!(
        out,
        "latency (cycles)        p50 {}  p90 {}  p99 {}  max {}  mean {:.1}",
        l.percentile(50.0),
        l.percentile(90.0),
        l.percentile(99.0),
        l.max(),
        l.mean()
    )?;
    writeln!(
        out,
        "memory reads/request    {:.3}  ({} reads, {} A/D writes)",
        s.reads_per_request(),
        c.walk_reads,
        c.walk_writes
    )?;
    if c.walk_cache_hit > 0 {
        writeln!(out, "walk-cache hits         {}  (page-table reads served without memory)", c.walk_cache_hit)?;
    }
    writeln!(out, "mapping events {}  commands {}", s.mapping_events, s.commands)?;
    let by: Vec<String> = s.by_source().iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(out, "answered by             {}", by.join(", "))?;
    if s.faults_by_cause.is_empty() {
        writeln!(out, "faults                  none")?;
    } else {
        writeln!(out, "faults by cause:")?;
        for (cause, n) in &s.faults_by_cause {
            writeln!(out, "  {:>10}  {}", n, Cause(*cause))?;
        }
    }
    if s.bad_lines > 0 {
        writeln!(out, "{} unreadable line(s) skipped; the first:", s.bad_lines)?;
        for e in &s.bad_line_examples {
            writeln!(out, "  {e}")?;
        }
    }
    Ok(())
}

/// A source that shows how many events were read (on a terminal only: indicatif
/// draws nothing when standard error is not one).
struct Progress<S> {
    inner: S,
    bar: indicatif::ProgressBar,
    n: u64,
}

impl<S: EventSource> Progress<S> {
    fn new(inner: S) -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {human_pos} events ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        Progress { inner, bar, n: 0 }
    }
}

impl<S: EventSource> EventSource for Progress<S> {
    fn next_event(&mut self) -> Result<Option<(u64, iommu_traces::trace::Event)>, iommu_traces::trace::TraceError> {
        self.n += 1;
        if self.n & 0xffff == 0 {
            self.bar.set_position(self.n);
        }
        self.inner.next_event()
    }
}

impl<S> Drop for Progress<S> {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Runs `iommu replay`.
pub fn run(args: &ReplayArgs, out: &mut dyn Write) -> CmdResult {
    let config = load_config(args.config.as_deref())?;
    let timing = config.timing()?;
    let opts = ReplayOptions { skip_bad_lines: args.skip_bad_lines };
    // Standard input can be read only once: keep it if a second pass needs it.
    let stdin_copy = if args.trace.as_os_str() == "-" && args.emit_vectors.is_some() {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
        Some(buf)
    } else {
        None
    };
    let (input, name): (Box<dyn BufRead>, String) = match &stdin_copy {
        Some(buf) => (Box::new(&buf[..]), "-".into()),
        None => open_trace(&args.trace)?,
    };
    let regs = replay_regs(config.driver)?;
    let mut device = iommu_model::timing::model(timing, regs);
    let stats = match &args.per_access {
        Some(p) => {
            let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            writeln!(w, "{PER_ACCESS_HEADER}")?;
            let mut sink = PerAccess { out: w };
            let mut source = Progress::new(TraceReader::new(input, &name));
            let s = replay_timed(&mut source, &name, config.driver, &mut *device, &opts, &mut sink)?;
            sink.out.flush().with_context(|| format!("writing {}", p.display()))?;
            s
        }
        None => replay_timed(
            &mut Progress::new(TraceReader::new(input, &name)),
            &name,
            config.driver,
            &mut *device,
            &opts,
            &mut iommu_traces::replay::NoSink,
        )?,
    };
    print_summary(out, &stats)?;
    if let Some(vpath) = &args.emit_vectors {
        let (input, name): (Box<dyn BufRead>, String) = match &stdin_copy {
            Some(buf) => (Box::new(&buf[..]), "-".into()),
            None => open_trace(&args.trace)?,
        };
        let mut sink = VectorSink {
            vector: Vector {
                name: format!(
                    "replay-{}",
                    Path::new(&name).file_stem().map_or("stdin".into(), |s| s.to_string_lossy().into_owned())
                ),
                features: vec!["workload".into()],
                regs,
                memory: vec![],
                bad_memory: vec![],
                steps: vec![],
                memory_after: vec![],
            },
            limit: args.vector_limit,
            translates: 0,
        };
        let mut golden = Iommu::new(timing.caches);
        replay_functional(&mut TraceReader::new(input, &name), &name, config.driver, &mut golden, &opts, &mut sink)?;
        let mut f = std::fs::File::create(vpath).with_context(|| format!("creating {}", vpath.display()))?;
        writeln!(f, "{}", sink.vector.to_json_line())?;
        writeln!(out, "wrote {} translate steps to {}", sink.translates, vpath.display())?;
    }
    Ok(Outcome::Ok)
}
