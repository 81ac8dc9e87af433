//! `iommu sweep` and `iommu merge`: a grid of configurations x workloads replayed
//! in parallel (rayon), one CSV row per job; a shard of the grid per process
//! (`--shard i/n`) so a cluster's job array runs grids too big for one machine,
//! and `merge` to join the shards' files.
//!
//! A grid file is TOML: a base configuration (any part of the replay
//! configuration file), axes that override one setting each, and workloads:
//!
//! ```toml
//! workloads = ["nic.csv", "gen:window:1m", "gen:nvme"]
//!
//! [base.memory]
//! latency = 120
//!
//! [[axis]]
//! name = "iommu.iotlb.ways"
//! values = [1, 2, 4, 8]
//!
//! [[axis]]
//! name = "driver.policy"
//! values = ["strict", "lazy"]
//! ```
//!
//! Jobs are numbered workload-major in the order written; a shard takes the jobs
//! whose number modulo `n` is `i`.

use crate::replay_cmd::open_trace;
use crate::workloads;
use crate::{CmdResult, Outcome};
use anyhow::{anyhow, bail, Context, Result};
use iommu_traces::config::Config;
use iommu_traces::replay::{replay_regs, replay_timed, EventSource, NoSink, ReplayOptions, ReplayStats};
use iommu_traces::trace::TraceReader;
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;

/// Options of `iommu sweep`.
#[derive(clap::Args)]
pub struct SweepArgs {
    /// The grid file (TOML).
    grid: PathBuf,
    /// Output CSV.
    #[arg(long, short)]
    out: PathBuf,
    /// Run only shard `i` of `n` (0-based), for a job array.
    #[arg(long, value_name = "i/n")]
    shard: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Options of `iommu merge`.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// Shard outputs of one sweep.
    inputs: Vec<PathBuf>,
    /// The merged CSV.
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GridFile {
    workloads: Vec<String>,
    #[serde(default)]
    base: toml::Table,
    #[serde(default)]
    axis: Vec<Axis>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Axis {
    name: String,
    values: Vec<toml::Value>,
}

/// One job of a grid: a workload and a configuration point.
#[derive(Clone)]
pub struct Job {
    /// Its number.
    pub index: usize,
    /// The workload (a trace file or a `gen:` name).
    pub workload: String,
    /// The value of each axis, as written.
    pub point: Vec<String>,
    /// The configuration.
    pub config: Config,
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<()> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().ok_or_else(|| anyhow!("empty axis name"))?;
    let mut t = table;
    for p in parts {
        t = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| anyhow!("axis {path}: {p} is not a table"))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Expands a grid file into its jobs, in order.
pub fn expand(text: &str, file: &str) -> Result<(Vec<String>, Vec<Job>)> {
    let grid: GridFile = toml::from_str(text).with_context(|| format!("reading grid {file}"))?;
    if grid.workloads.is_empty() {
        bail!("{file}: no workloads");
    }
    let axes: Vec<String> = grid.axis.iter().map(|a| a.name.clone()).collect();
    let mut points: Vec<Vec<usize>> = vec![vec![]];
    for a in &grid.axis {
        if a.values.is_empty() {
            bail!("{file}: axis {} has no values", a.name);
        }
        points =
            points.into_iter().flat_map(|p| (0..a.values.len()).map(move |i| [p.clone(), vec![i]].concat())).collect();
    }
    let mut jobs = Vec::new();
    for w in &grid.workloads {
        for p in &points {
            let mut table = grid.base.clone();
            for (a, &i) in grid.axis.iter().zip(p) {
                set_path(&mut table, &a.name, a.values[i].clone())?;
            }
            let text = toml::to_string(&table)?;
            let config = Config::from_toml(&text, file).with_context(|| {
                let point: Vec<String> =
                    grid.axis.iter().zip(p).map(|(a, &i)| format!("{}={}", a.name, value_text(&a.values[i]))).collect();
                format!("grid point {}", point.join(", "))
            })?;
            let point = grid.axis.iter().zip(p).map(|(a, &i)| value_text(&a.values[i])).collect();
            jobs.push(Job { index: jobs.len(), workload: w.clone(), point, config });
        }
    }
    Ok((axes, jobs))
}

/// Replays `source` through a timing model configured by `config`, keeping only
/// the statistics.
pub fn replay_stats(source: &mut dyn EventSource, name: &str, config: &Config) -> Result<ReplayStats> {
    let mut device = iommu_model::timing::model(config.timing()?, replay_regs(config.driver)?);
    Ok(replay_timed(source, name, config.driver, &mut *device, &ReplayOptions::default(), &mut NoSink)?)
}

/// Replays one job.
pub fn run_job(job: &Job) -> Result<ReplayStats> {
    if let Some(spec) = job.workload.strip_prefix("gen:") {
        replay_stats(&mut *workloads::source(spec)?, &job.workload, &job.config)
    } else {
        let (input, name) = open_trace(job.workload.as_ref())?;
        replay_stats(&mut TraceReader::new(input, &name), &name, &job.config)
    }
}

/// The statistics columns of a result row.
pub const STAT_COLUMNS: &[&str] = &[
    "accesses",
    "requests",
    "cycles",
    "requests_per_cycle",
    "iotlb_hit_rate",
    "ddtc_hit_rate",
    "pdtc_hit_rate",
    "latency_p50",
    "latency_p90",
    "latency_p99",
    "latency_max",
    "latency_mean",
    "reads_per_request",
    "iotlb_hit",
    "iotlb_miss",
    "ddtc_hit",
    "ddtc_miss",
    "pdtc_hit",
    "pdtc_miss",
    "walk_merged",
    "walk_reads",
    "walk_writes",
    "walk_cache_hit",
    "faults",
    "commands",
];

/// The statistics of a replay as CSV fields, in [`STAT_COLUMNS`] order.
pub fn stat_fields(s: &ReplayStats) -> Vec<String> {
    let c = &s.counters;
    let rate = |r: Option<f64>| r.map_or(String::new(), |r| format!("{r:.6}"));
    let l = &s.latency;
    vec![
        s.accesses.to_string(),
        s.requests.to_string(),
        s.cycles.to_string(),
        format!("{:.6}", s.requests_per_cycle()),
        rate(c.iotlb_hit_rate()),
        rate(c.ddtc_hit_rate()),
        rate(c.pdtc_hit_rate()),
        l.percentile(50.0).to_string(),
        l.percentile(90.0).to_string(),
        l.percentile(99.0).to_string(),
        l.max().to_string(),
        format!("{:.3}", l.mean()),
        format!("{:.6}", s.reads_per_request()),
        c.iotlb_hit.to_string(),
        c.iotlb_miss.to_string(),
        c.ddtc_hit.to_string(),
        c.ddtc_miss.to_string(),
        c.pdtc_hit.to_string(),
        c.pdtc_miss.to_string(),
        c.walk_merged.to_string(),
        c.walk_reads.to_string(),
        c.walk_writes.to_string(),
        c.walk_cache_hit.to_string(),
        s.faults_by_cause.values().sum::<u64>().to_string(),
        s.commands.to_string(),
    ]
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let (i, n) = s.split_once('/').ok_or_else(|| anyhow!("--shard {s}: expected i/n, for example 0/4"))?;
    let i: usize = i.parse().with_context(|| format!("--shard {s}: bad i"))?;
    let n: usize = n.parse().with_context(|| format!("--shard {s}: bad n"))?;
    if n == 0 || i >= n {
        bail!("--shard {s}: need 0 <= i < n");
    }
    Ok((i, n))
}

/// Runs `iommu sweep`.
pub fn run(args: &SweepArgs, out: &mut dyn Write) -> CmdResult {
    let text = std::fs::read_to_string(&args.grid).with_context(|| format!("reading {}", args.grid.display()))?;
    let (axes, jobs) = expand(&text, &args.grid.display().to_string())?;
    let total = jobs.len();
    let mine: Vec<Job> = match &args.shard {
        Some(s) => {
            let (i, n) = parse_shard(s)?;
            jobs.into_iter().filter(|j| j.index % n == i).collect()
        }
        None => jobs,
    };
    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(t) = args.threads {
            b = b.num_threads(t);
        }
        b.build()?
    };
    let bar = indicatif::ProgressBar::new(mine.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} jobs {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let results: Vec<Result<ReplayStats>> = pool.install(|| {
        mine.par_iter()
            .with_max_len(1)
            .map(|j| {
                let r = run_job(j).with_context(|| format!("job {} ({})", j.index, j.workload));
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut csv = Vec::new();
    let mut header = vec!["job".to_string(), "workload".to_string()];
    header.extend(axes.iter().cloned());
    header.extend(STAT_COLUMNS.iter().map(|s| s.to_string()));
    writeln!(csv, "{}", header.join(","))?;
    for (job, r) in mine.iter().zip(results) {
        let stats = r?;
        let mut row = vec![job.index.to_string(), csv_field(&job.workload)];
        row.extend(job.point.iter().map(|p| csv_field(p)));
        row.extend(stat_fields(&stats));
        writeln!(csv, "{}", row.join(","))?;
    }
    std::fs::write(&args.out, &csv).with_context(|| format!("writing {}", args.out.display()))?;
    writeln!(out, "{} of {} jobs written to {}", mine.len(), total, args.out.display())?;
    Ok(Outcome::Ok)
}

/// Runs `iommu merge`: checks that the shards come from one grid (same header, no
/// job twice) and writes their rows in job order.
pub fn merge(args: &MergeArgs, out: &mut dyn Write) -> CmdResult {
    if args.inputs.is_empty() {
        bail!("no shard files given");
    }
    let mut header: Option<String> = None;
    let mut rows: Vec<(usize, String)> = Vec::new();
    for p in &args.inputs {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let mut lines = text.lines();
        let h = lines.next().ok_or_else(|| anyhow!("{}: empty file", p.display()))?;
        match &header {
            None => header = Some(h.to_string()),
            Some(prev) if prev != h => bail!("{}: header differs from {}'s", p.display(), args.inputs[0].display()),
            _ => {}
        }
        for (n, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let job: usize = line
                .split(',')
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| anyhow!("{}:{}: column `job`: not a job number", p.display(), n + 2))?;
            rows.push((job, line.to_string()));
        }
    }
    rows.sort_by_key(|r| r.0);
    for w in rows.windows(2) {
        if w[0].0 == w[1].0 {
            bail!("job {} appears in more than one shard", w[0].0);
        }
    }
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?,
    );
    writeln!(f, "{}", header.unwrap_or_default())?;
    for (_, r) in &rows {
        writeln!(f, "{r}")?;
    }
    f.flush()?;
    let missing = rows.last().map_or(0, |r| r.0 + 1) - rows.len();
    writeln!(
        out,
        "{} jobs merged into {}{}",
        rows.len(),
        args.out.display(),
        if missing > 0 { format!(" ({missing} job numbers missing: a shard not given?)") } else { String::new() }
    )?;
    Ok(Outcome::Ok)
}
