//! `iommu cosim`: the RTL, the golden model and the timing model configured as
//! the RTL (`rtl/model/<config>.toml`) in lockstep, on a trace, an embedded
//! workload, random stimulus or vectors. Every answer is compared with the golden
//! model's, every issue and completion cycle and the counters with the timing
//! model's. On the first mismatch it prints the transaction and both answers (or
//! both cycles), writes a shrunk `riscv-iommu-vector/1` reproducer and, with
//! waveform support built in, an FST waveform of the reproducer running on the
//! RTL.

use crate::replay_cmd::{load_config, open_trace};
use crate::{workloads, CmdResult, Outcome};
use anyhow::{bail, Context, Result};
use iommu_cosim::device::{MemTiming, RtlDevice};
use iommu_cosim::lockstep::{self, Failure, Lockstep};
use iommu_cosim::op::Op;
use iommu_cosim::random::{self, RandomOptions};
use iommu_cosim::trace_ops::ops_from_events;
use iommu_model::timing::TimingConfig;
use iommu_model::{Regs, SparseMemory};
use iommu_traces::conformance::{run_vector, Outcome as VectorOutcome};
use iommu_traces::trace::TraceReader;
use iommu_traces::vector::Vector;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `iommu cosim`.
#[derive(clap::Args)]
pub struct CosimArgs {
    /// A DMA trace (iommu-trace/1 CSV, `-` for standard input).
    trace: Option<PathBuf>,
    /// A generated workload instead of a file (`nic:count=3000`, see `iommu gen`), or
    /// `embedded` for every workload of the default report.
    #[arg(long, conflicts_with = "trace")]
    workload: Option<String>,
    /// Random tables, requests, table changes and invalidations instead of a trace.
    #[arg(long, conflicts_with_all = ["trace", "workload"])]
    random: bool,
    /// Vectors (`riscv-iommu-vector/1`, for example a reproducer) run in lockstep,
    /// requests back to back, instead of a trace.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["trace", "workload", "random"])]
    vectors: Option<PathBuf>,
    /// What a difference in cycles (or counters) between the RTL and its timing
    /// model does: `exact` stops at the first one like a functional mismatch,
    /// `count` counts them and goes on, `off` does not run the timing model.
    #[arg(long, value_enum, default_value_t = TimingMode::Exact)]
    timing: TimingMode,
    /// Writes the page comparing the timing model with the RTL (latency
    /// distributions, exact-match rate, counters) into this directory.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Seed of the random stimulus.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Translations of random stimulus, in total (split over `--seeds` workloads).
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Random workloads (each with its own tables and registers), seeds `seed`,
    /// `seed + 1`, ...
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// RTL configuration (a name of rtl/configs.txt), or `all`.
    #[arg(long = "rtl-config", default_value = "default")]
    rtl_config: String,
    /// Driver configuration (TOML, as for `iommu replay`). Its `[memory]` table,
    /// when given, replaces the one of `rtl/model/<config>.toml` for the RTL and
    /// the timing model alike; the `[iommu]` table is the RTL's and is ignored.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Cycles a request may take before it is reported as hung.
    #[arg(long, default_value_t = iommu_cosim::device::DEFAULT_HANG_CYCLES)]
    hang_cycles: u64,
    /// Where mismatch reproducers and waveforms are written.
    #[arg(long, default_value = "cosim-out")]
    out: PathBuf,
    /// Writes the RTL's line coverage of all runs, one file per configuration,
    /// `FILE.<config>.dat` (Verilator's format: read it with `verilator_coverage`).
    /// Needs `--features rtl-coverage`.
    #[arg(long, value_name = "FILE")]
    coverage: Option<PathBuf>,
}

/// What a timing difference does (`--timing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TimingMode {
    /// Stop at the first difference.
    Exact,
    /// Count differences and go on.
    Count,
    /// No timing model.
    Off,
}

/// One stimulus to run: its name, starting state and ops.
struct Stimulus {
    name: String,
    regs: Regs,
    memory: SparseMemory,
    bad: Vec<u64>,
    ops: Vec<Op>,
}

fn stimuli(args: &CosimArgs) -> Result<Vec<Stimulus>> {
    let config = load_config(args.config.as_deref())?;
    let from_events = |src: &mut dyn iommu_traces::replay::EventSource, name: &str| -> Result<Stimulus> {
        let t = ops_from_events(src, name, config.driver).map_err(anyhow::Error::msg)?;
        Ok(Stimulus { name: name.to_string(), regs: t.regs, memory: t.memory, bad: Vec::new(), ops: t.ops })
    };
    if args.random {
        let per = args.count.div_ceil(args.seeds.max(1) as usize);
        return Ok((0..args.seeds.max(1))
            .map(|k| {
                let seed = args.seed + k;
                let w = random::generate(seed, &RandomOptions { count: per, ..RandomOptions::default() });
                let bad = w.bad_words.clone();
                Stimulus { name: format!("random-seed-{seed}"), regs: w.regs, memory: w.memory, bad, ops: w.ops }
            })
            .collect());
    }
    if let Some(path) = &args.vectors {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file = path.display().to_string();
        let mut out = Vec::new();
        for (_, v) in iommu_traces::vector::parse_file(&text, &file) {
            let v = v.map_err(|e| anyhow::anyhow!("{e}"))?;
            let (memory, ops) = iommu_cosim::op::from_vector(&v);
            out.push(Stimulus { name: v.name.clone(), regs: v.regs, memory, bad: v.bad_memory.clone(), ops });
        }
        return Ok(out);
    }
    if let Some(spec) = &args.workload {
        let specs: Vec<String> = if spec == "embedded" {
            crate::report_cmd::embedded_workloads(1.0).into_iter().map(|(_, s)| s).collect()
        } else {
            vec![spec.clone()]
        };
        return specs.iter().map(|s| from_events(&mut *workloads::source(s)?, s)).collect();
    }
    let Some(path) = &args.trace else {
        bail!("give a trace file, --workload SPEC or --random");
    };
    let (reader, name) = open_trace(path)?;
    let mut r = TraceReader::new(reader, &name);
    Ok(vec![from_events(&mut r, &name)?])
}

/// The timing model of RTL configuration `config` (`rtl/model/<config>.toml`),
/// with the memory of `--config` if one is given.
fn rtl_timing(args: &CosimArgs, config: &str) -> Result<TimingConfig> {
    let text = iommu_cosim::model_toml(config)
        .with_context(|| format!("no timing model rtl/model/{config}.toml was built"))?;
    let mut t = iommu_traces::config::Config::from_toml(text, &format!("rtl/model/{config}.toml"))?.timing()?;
    if args.config.is_some() {
        let c = load_config(args.config.as_deref())?.timing()?;
        (t.mem_latency, t.mem_beat_cycles, t.mem_outstanding) = (c.mem_latency, c.mem_beat_cycles, c.mem_outstanding);
    }
    Ok(t)
}

fn mem_timing(t: &TimingConfig) -> MemTiming {
    MemTiming { latency: t.mem_latency, beat_cycles: t.mem_beat_cycles, outstanding: t.mem_outstanding }
}

fn configs(args: &CosimArgs) -> Result<Vec<String>> {
    let all: Vec<String> = iommu_cosim::configs()?.iter().map(|c| c.name.clone()).collect();
    // `all` means the real configurations, not the ones with a planted bug.
    let real: Vec<String> =
        iommu_cosim::configs()?.iter().filter(|c| c.params.fault_injection == 0).map(|c| c.name.clone()).collect();
    if args.rtl_config == "all" {
        return Ok(real);
    }
    if !all.contains(&args.rtl_config) {
        bail!("no RTL configuration {:?} (built: {})", args.rtl_config, all.join(", "));
    }
    Ok(vec![args.rtl_config.clone()])
}

/// Runs `iommu cosim`.
pub fn run(args: &CosimArgs, out: &mut dyn Write) -> CmdResult {
    if args.coverage.is_some() && !iommu_cosim::COVERAGE {
        bail!("--coverage needs the RTL models built with line coverage: build with `--features rtl-coverage`");
    }
    if args.report.is_some() && args.timing == TimingMode::Off {
        bail!("--report compares the timing model with the RTL: it needs --timing exact or count");
    }
    let stimuli = stimuli(args)?;
    let mut failed = false;
    let mut runs = Vec::new();
    for config in configs(args)? {
        let tcfg = rtl_timing(args, &config)?;
        let timing = mem_timing(&tcfg);
        // The line counts of this configuration, summed over its runs (each run has
        // its own model, with its own counters).
        let mut coverage = Coverage::default();
        for s in &stimuli {
            let dev = lockstep::device(&config, timing, args.hang_cycles)?;
            let mut ls = Lockstep::new(dev, s.regs, s.memory.clone(), s.bad.clone());
            if args.timing != TimingMode::Off {
                ls = ls.with_timing(tcfg, args.timing == TimingMode::Exact);
            }
            let t0 = Instant::now();
            let result = ls.run(s.ops.iter().cloned());
            let secs = t0.elapsed().as_secs_f64();
            if let Some(file) = &args.coverage {
                coverage.add_run(ls.device_mut().rtl_mut(), &coverage_path(file, &config, ".part"))?;
            }
            let cycles = ls.device().rtl().cycle();
            writeln!(
                out,
                "{} on RTL `{config}`: {} translations compared in {cycles} cycles ({:.2} M cycles/s)",
                s.name,
                ls.translations,
                cycles as f64 / secs.max(1e-9) / 1e6
            )?;
            match result {
                Ok(()) => {
                    let c = iommu_model::timing::CycleDevice::counters(ls.device());
                    writeln!(
                        out,
                        "  zero mismatches; RTL counters: iotlb_hit {} iotlb_miss {} ddtc_hit {} ddtc_miss {} pdtc_hit {} pdtc_miss {} walk_reads {} walk_writes {} faults {}",
                        c.iotlb_hit, c.iotlb_miss, c.ddtc_hit, c.ddtc_miss, c.pdtc_hit, c.pdtc_miss, c.walk_reads, c.walk_writes, c.faults
                    )?;
                    if let Some(tc) = &ls.timing {
                        let st = &tc.stats;
                        writeln!(
                            out,
                            "  timing model `rtl/model/{config}.toml`: {} of {} translations issued and completed on the RTL's cycles ({:.2} %), counters {}",
                            st.exact,
                            st.compared,
                            100.0 * st.exact as f64 / st.compared.max(1) as f64,
                            if st.counter_mismatches == 0 { "equal".to_string() } else { format!("differed {} times", st.counter_mismatches) }
                        )?;
                        if let Some(first) = &st.first {
                            writeln!(out, "  first timing difference:\n{}", indent(first))?;
                        }
                    }
                    writeln!(out, "{}", indent(&ls.coverage.to_string()))?;
                }
                Err(f) => {
                    failed = true;
                    writeln!(out, "MISMATCH: {f}")?;
                    report_failure(&config, tcfg, args, s, &ls, &f, out)?;
                }
            }
            if let Some(tc) = &ls.timing {
                runs.push(rtl_run(&config, &tcfg, s, &ls, tc, cycles));
            }
        }
        if let Some(file) = &args.coverage {
            let path = coverage_path(file, &config, "");
            coverage.write(&path)?;
            writeln!(out, "line coverage of RTL `{config}`: {} ({})", path.display(), coverage.summary())?;
        }
    }
    if let Some(dir) = &args.report {
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        let page = crate::rtl_report::rtl_report(&runs, &command);
        let index = iommu_reports::write(&page, dir)?;
        writeln!(out, "report: {}", index.display())?;
    }
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}

/// One run's figures for the report page.
fn rtl_run(
    config: &str,
    t: &TimingConfig,
    s: &Stimulus,
    ls: &Lockstep,
    tc: &lockstep::TimingCheck,
    cycles: u64,
) -> crate::rtl_report::RtlRun {
    let g = |g: iommu_model::Geometry| format!("{}x{}", g.sets, g.ways);
    crate::rtl_report::RtlRun {
        workload: s.name.clone(),
        config: config.to_string(),
        params: format!(
            "IOTLB {} PLRU, DDTC {}, PDTC {}, {} walker{}, request queue {}, memory latency {} (+{}/word, {} in flight)",
            g(t.caches.iotlb),
            g(t.caches.ddtc),
            g(t.caches.pdtc),
            t.walkers,
            if t.walkers == 1 { "" } else { "s" },
            t.request_queue,
            t.mem_latency,
            t.mem_beat_cycles,
            t.mem_outstanding
        ),
        model_latency: tc.stats.model_latency.clone(),
        rtl_latency: tc.stats.rtl_latency.clone(),
        translations: tc.stats.compared,
        exact: tc.stats.exact,
        model_counters: *tc.model_counters(),
        rtl_counters: *iommu_model::timing::CycleDevice::counters(ls.device()),
        cycles,
    }
}

/// `FILE.<config>.dat`, plus `suffix`.
fn coverage_path(file: &Path, config: &str, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(format!(".{config}.dat{suffix}"));
    PathBuf::from(name)
}

/// Verilator coverage points (`C '<key>' <count>` lines of its `.dat` format), each
/// count summed over the runs, as `verilator_coverage --write` merges them.
#[derive(Default)]
struct Coverage {
    points: std::collections::BTreeMap<String, u64>,
}

impl Coverage {
    /// Adds the counts of a model, written to `scratch` (then removed) by Verilator.
    fn add_run(&mut self, rtl: &mut iommu_cosim::Rtl, scratch: &Path) -> Result<()> {
        rtl.write_coverage(scratch)?;
        let text = std::fs::read_to_string(scratch).with_context(|| format!("reading {}", scratch.display()))?;
        let _ = std::fs::remove_file(scratch);
        self.add(&text).with_context(|| format!("reading {}", scratch.display()))
    }

    /// Adds the points of one `.dat` text.
    fn add(&mut self, text: &str) -> Result<()> {
        for line in text.lines().filter(|l| l.starts_with("C '")) {
            let parsed = line[3..].rsplit_once("' ").and_then(|(key, n)| Some((key, n.trim().parse::<u64>().ok()?)));
            let Some((key, count)) = parsed else {
                bail!("not a coverage point: {line:?}");
            };
            *self.points.entry(key.to_owned()).or_default() += count;
        }
        Ok(())
    }

    /// Writes the points in Verilator's format.
    fn write(&self, path: &Path) -> Result<()> {
        let mut text = String::from("# SystemC::Coverage-3\n");
        for (key, count) in &self.points {
            text.push_str(&format!("C '{key}' {count}\n"));
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// `hit/total points hit`.
    fn summary(&self) -> String {
        let hit = self.points.values().filter(|&&n| n > 0).count();
        format!("{hit}/{} coverage points hit", self.points.len())
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect::<String>().trim_end().to_string()
}

/// Writes the shrunk reproducer and the waveform of a failure. A functional
/// mismatch is reproduced by the vector runner (one request at a time) when it
/// can be; a timing or counter mismatch, and a functional one that needs
/// requests in flight together, by the lockstep run of the vector
/// (`iommu cosim --vectors FILE`).
fn report_failure(
    config: &str,
    tcfg: TimingConfig,
    args: &CosimArgs,
    s: &Stimulus,
    ls: &Lockstep,
    f: &Failure,
    out: &mut dyn Write,
) -> Result<()> {
    let dir = &args.out;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let Some(step) = f.step() else {
        writeln!(
            out,
            "  (no reproducer: the failure is not tied to one step; rerun to reproduce, runs are deterministic)"
        )?;
        return Ok(());
    };
    let timing = mem_timing(&tcfg);
    let name = format!("{}-{config}-step{step}", s.name.replace(['/', ':', ',', '='], "_"));
    let full = ls.vector(&name, step);
    let is_timing = matches!(f, Failure::Timing { .. } | Failure::Counter { .. });
    // The same kind of failure, in lockstep (requests back to back).
    let in_lockstep = |v: &Vector, trace: Option<&Path>| -> Result<bool> {
        let (memory, ops) = iommu_cosim::op::from_vector(v);
        let mut dev = lockstep::device(config, timing, args.hang_cycles)?;
        if let Some(p) = trace {
            dev.rtl_mut().trace(p)?;
        }
        let mut l = Lockstep::new(dev, v.regs, memory, v.bad_memory.clone());
        if args.timing != TimingMode::Off {
            l = l.with_timing(tcfg, true);
        }
        let r = l.run(ops);
        if trace.is_some() {
            l.device_mut().rtl_mut().trace_close();
        }
        Ok(match r {
            Err(Failure::Timing { .. } | Failure::Counter { .. }) => is_timing,
            Err(_) => !is_timing,
            Ok(()) => false,
        })
    };
    let mut dev = RtlDevice::new(config, timing)?;
    let mut one_at_a_time = |v: &Vector| matches!(run_vector(&mut dev, v), VectorOutcome::Failed(_));
    let by_runner = !is_timing && one_at_a_time(&full);
    let (vector, note) = if by_runner {
        writeln!(out, "  shrinking the reproducer ({} steps)...", full.steps.len())?;
        (lockstep::shrink(full, &mut one_at_a_time), "")
    } else if in_lockstep(&full, None)? {
        writeln!(out, "  shrinking the reproducer in lockstep ({} steps)...", full.steps.len())?;
        let mut fails = |v: &Vector| in_lockstep(v, None).unwrap_or(false);
        (lockstep::shrink(full, &mut fails), " (replay it in lockstep: requests back to back, as the run made them)")
    } else {
        (full, " (it does not fail on its own: rerun the whole stimulus, runs are deterministic)")
    };
    let vpath = dir.join(format!("{name}.jsonl"));
    std::fs::write(&vpath, vector.to_json_line() + "\n").with_context(|| format!("writing {}", vpath.display()))?;
    writeln!(out, "  reproducer: {} ({} steps){note}", vpath.display(), vector.steps.len())?;
    writeln!(
        out,
        "  run it with `iommu vectors {p}` (model), `iommu vectors --backend rtl --rtl-config {config} {p}`, or `iommu cosim --rtl-config {config} --vectors {p}` (lockstep)",
        p = vpath.display()
    )?;
    if iommu_cosim::TRACE {
        let wpath = dir.join(format!("{name}.fst"));
        if by_runner {
            let mut dev = RtlDevice::new(config, timing)?;
            dev.rtl_mut().trace(&wpath)?;
            let _ = run_vector(&mut dev, &vector);
            dev.rtl_mut().trace_close();
        } else {
            in_lockstep(&vector, Some(&wpath))?;
        }
        writeln!(out, "  waveform of the reproducer on the RTL: {}", wpath.display())?;
    } else {
        writeln!(out, "  no waveform: build with `--features rtl-trace` for FST waveforms")?;
    }
    Ok(())
}
