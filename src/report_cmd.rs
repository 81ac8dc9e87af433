//! `iommu report`: replays workloads under a set of configurations (in parallel)
//! and writes an HTML page with PNG and SVG plots: latency CDFs, miss-ratio
//! curves, the window-size knee, memory reads per translation by stage, strict
//! against lazy invalidation, 4 KiB against 2 MiB pages, single- against
//! two-stage, a summary table and the configuration used.
//!
//! With no trace it runs the embedded default workloads (the generators); with
//! traces (files, or `-` for standard input) it reports on those.

use crate::replay_cmd::{load_config, open_trace};
use crate::sweep_cmd::replay_stats;
use crate::workloads;
use crate::{CmdResult, Outcome};
use anyhow::{Context, Result};
use iommu_reports::{Figure, FigureKind, Report, Section, Series, Table};
use iommu_traces::config::Config;
use iommu_traces::driver::Policy;
use iommu_traces::replay::ReplayStats;
use iommu_traces::trace::TraceReader;
use rayon::prelude::*;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Options of `iommu report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Traces to report on (`-` reads standard input); none runs the embedded
    /// default workloads.
    traces: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, short, default_value = "report")]
    out: PathBuf,
    /// Base configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Scale the embedded workloads' sizes (1.0: the defaults).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
}

/// Where a job's events come from.
#[derive(Clone)]
enum Source {
    Spec(String),
    File(PathBuf),
    Bytes(std::sync::Arc<Vec<u8>>, String),
}

struct Run {
    source: Source,
    config: Config,
}

fn run(r: &Run) -> Result<ReplayStats> {
    match &r.source {
        Source::Spec(s) => replay_stats(&mut *workloads::source(s)?, s, &r.config),
        Source::File(p) => {
            let (input, name) = open_trace(p)?;
            replay_stats(&mut TraceReader::new(input, &name), &name, &r.config)
        }
        Source::Bytes(b, name) => replay_stats(&mut TraceReader::new(&b[..], name), name, &r.config),
    }
}

fn run_all(runs: &[Run]) -> Result<Vec<ReplayStats>> {
    let bar = indicatif::ProgressBar::new(runs.len() as u64);
    let out: Vec<Result<ReplayStats>> = runs
        .par_iter()
        .with_max_len(1)
        .map(|r| {
            let s = run(r);
            bar.inc(1);
            s
        })
        .collect();
    bar.finish_and_clear();
    out.into_iter().collect()
}

fn with_iotlb(base: &Config, sets: usize, ways: usize) -> Config {
    let mut c = base.clone();
    c.iommu.iotlb.sets = sets;
    c.iommu.iotlb.ways = ways;
    c
}

fn pct(r: Option<f64>) -> f64 {
    r.unwrap_or(0.0) * 100.0
}

fn summary_row(name: &str, s: &ReplayStats) -> Vec<String> {
    let c = &s.counters;
    vec![
        name.to_string(),
        s.accesses.to_string(),
        s.requests.to_string(),
        format!("{:.1}", pct(c.iotlb_hit_rate())),
        format!("{:.1}", pct(c.ddtc_hit_rate())),
        s.latency.percentile(50.0).to_string(),
        s.latency.percentile(99.0).to_string(),
        s.latency.max().to_string(),
        format!("{:.2}", s.reads_per_request()),
        format!("{:.3}", s.requests_per_cycle()),
        s.faults_by_cause.values().sum::<u64>().to_string(),
    ]
}

const SUMMARY_HEADER: [&str; 11] = [
    "workload",
    "accesses",
    "requests",
    "IOTLB hit %",
    "DDTC hit %",
    "p50 cycles",
    "p99 cycles",
    "max cycles",
    "reads/request",
    "requests/cycle",
    "faults",
];

fn cdf_series(name: &str, s: &ReplayStats) -> Series {
    Series { name: name.to_string(), points: s.latency.cdf().into_iter().map(|(x, y)| (x as f64, y)).collect() }
}

/// The miss-ratio curves' IOTLB: this many sets, with each of these way counts (LRU).
const MRC_SETS: usize = 16;
const MRC_WAYS: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// Runs of `source` for every point of the miss-ratio curve.
fn mrc_runs<'a>(base: &'a Config, source: &Source) -> impl Iterator<Item = Run> + 'a {
    let source = source.clone();
    MRC_WAYS.iter().map(move |&w| Run { source: source.clone(), config: with_iotlb(base, MRC_SETS, w) })
}

/// One workload's miss-ratio curve from the stats of its [`mrc_runs`].
fn mrc_series(name: &str, stats: &[ReplayStats]) -> Series {
    let points =
        MRC_WAYS.iter().zip(stats).map(|(&w, s)| ((MRC_SETS * w) as f64, pct(s.counters.iotlb_hit_rate()))).collect();
    Series { name: name.to_string(), points }
}

fn mrc_section(series: Vec<Series>) -> Section {
    Section {
        title: "IOTLB size".into(),
        text: format!(
            "Hit rate against IOTLB entries ({MRC_SETS} sets, {} to {} ways, LRU).",
            MRC_WAYS[0],
            MRC_WAYS[MRC_WAYS.len() - 1]
        ),
        figures: vec![lines(
            "iotlb-hit-rate",
            "IOTLB hit rate against entries",
            "IOTLB entries",
            "hit rate (%)",
            true,
            series,
        )],
        ..Default::default()
    }
}

/// A latency CDF figure.
fn cdf_figure(id: &str, title: &str, series: Vec<Series>) -> Figure {
    Figure {
        id: id.into(),
        title: title.into(),
        x_label: "latency (cycles)".into(),
        y_label: "fraction of requests".into(),
        x_log: true,
        y_range: Some((0.0, 1.0)),
        kind: FigureKind::Cdf(series),
    }
}

fn lines(id: &str, title: &str, x: &str, y: &str, x_log: bool, series: Vec<Series>) -> Figure {
    Figure {
        id: id.into(),
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        x_log,
        y_range: None,
        kind: FigureKind::Lines(series),
    }
}

fn bars(id: &str, title: &str, y: &str, categories: Vec<String>, series: Vec<(String, Vec<f64>)>) -> Figure {
    Figure {
        id: id.into(),
        title: title.into(),
        x_label: String::new(),
        y_label: y.into(),
        x_log: false,
        y_range: None,
        kind: FigureKind::Bars { categories, series },
    }
}

fn scaled(count: u64, scale: f64) -> u64 {
    ((count as f64 * scale).round() as u64).max(1)
}

/// The embedded default workloads (label, workload spec), sizes scaled by `scale`.
pub fn embedded_workloads(scale: f64) -> Vec<(&'static str, String)> {
    let n = |c: u64| scaled(c, scale);
    vec![
        ("nic", format!("nic:count={}", n(3000))),
        ("nvme", format!("nvme:count={}", n(300))),
        ("accel 4K", format!("accel:count={}", n(20000))),
        ("accel 2M", format!("accel:page=2m,count={}", n(20000))),
        ("passthrough", format!("passthrough:count={}", n(5000))),
        ("nested", format!("nested:count={}", n(5000))),
    ]
}

/// The embedded report.
fn default_report(base: &Config, scale: f64) -> Result<Report> {
    let n = |c: u64| scaled(c, scale);
    let main = embedded_workloads(scale);
    let mut runs: Vec<Run> = Vec::new();
    // 1. Every workload under the base configuration.
    for (_, spec) in &main {
        runs.push(Run { source: Source::Spec(spec.clone()), config: base.clone() });
    }
    // 2. Miss-ratio curves for three workloads.
    let mrc_workloads = [("nic", 0usize), ("nvme", 1), ("accel 4K", 2)];
    let mrc_start = runs.len();
    for &(_, i) in &mrc_workloads {
        runs.extend(mrc_runs(base, &Source::Spec(main[i].1.clone())));
    }
    // 3. The window knee for two IOTLB sizes (64 and 256 entries).
    let windows: Vec<u64> = (16..=26).map(|b| 1u64 << b).collect(); // 64 KiB .. 64 MiB
    let iotlbs = [(16usize, 4usize), (64, 4)];
    let win_start = runs.len();
    for &(s, w) in &iotlbs {
        for &win in &windows {
            let spec = format!("window:window={win},count={}", n(20000));
            runs.push(Run { source: Source::Spec(spec), config: with_iotlb(base, s, w) });
        }
    }
    // 4. Strict against lazy invalidation.
    let pol_start = runs.len();
    for spec in [&main[0].1, &main[1].1] {
        for policy in [Policy::Strict, Policy::Lazy] {
            let mut c = base.clone();
            c.driver.policy = policy;
            runs.push(Run { source: Source::Spec(spec.clone()), config: c });
        }
    }
    // 5. Walk caches (8 sets x 4 ways per stage) against none.
    let wc_start = runs.len();
    let wc_workloads = [("nvme", 1usize), ("accel 4K", 2), ("nested", 5)];
    for &(_, i) in &wc_workloads {
        let mut c = base.clone();
        for wc in [&mut c.iommu.fs_walk_cache, &mut c.iommu.gs_walk_cache] {
            wc.sets = 8;
            wc.ways = 4;
        }
        runs.push(Run { source: Source::Spec(main[i].1.clone()), config: c });
    }
    let stats = run_all(&runs)?;

    let mut report = Report {
        title: "RISC-V IOMMU: what translation costs".into(),
        intro: "Embedded default workloads replayed through the driver model and the cycle-level timing model. \
                Latencies are in cycles of the IOMMU clock, from the cycle a request is accepted to the cycle its \
                answer leaves."
            .into(),
        sections: vec![],
    };
    // Summary and latency.
    let mut summary = Table {
        title: "Every workload, base configuration".into(),
        header: SUMMARY_HEADER.iter().map(|s| s.to_string()).collect(),
        rows: vec![],
    };
    let mut cdfs = Vec::new();
    for (i, (name, _)) in main.iter().enumerate() {
        summary.rows.push(summary_row(name, &stats[i]));
        cdfs.push(cdf_series(name, &stats[i]));
    }
    report.sections.push(Section {
        title: "Summary".into(),
        text: "One row per workload under the base configuration.".into(),
        tables: vec![summary],
        ..Default::default()
    });
    report.sections.push(Section {
        title: "Latency".into(),
        text: "Cumulative distribution of request latency per workload: the IOTLB hit latency is the first step, walks the tail."
            .into(),
        figures: vec![cdf_figure("latency-cdf", "Latency CDF per workload", cdfs)],
        ..Default::default()
    });
    // Miss-ratio curves.
    let n = MRC_WAYS.len();
    let mrc = mrc_workloads
        .iter()
        .enumerate()
        .map(|(k, (name, _))| mrc_series(name, &stats[mrc_start + k * n..mrc_start + (k + 1) * n]))
        .collect();
    report.sections.push(mrc_section(mrc));
    // Window knee.
    let mut thr = Vec::new();
    let mut hit = Vec::new();
    for (k, &(s, w)) in iotlbs.iter().enumerate() {
        let label = format!("{} entries (reach {} KiB)", s * w, s * w * 4);
        let base_i = win_start + k * windows.len();
        thr.push(Series {
            name: label.clone(),
            points: windows
                .iter()
                .enumerate()
                .map(|(j, &win)| (win as f64 / 1024.0, stats[base_i + j].requests_per_cycle()))
                .collect(),
        });
        hit.push(Series {
            name: label,
            points: windows
                .iter()
                .enumerate()
                .map(|(j, &win)| (win as f64 / 1024.0, pct(stats[base_i + j].counters.iotlb_hit_rate())))
                .collect(),
        });
    }
    report.sections.push(Section {
        title: "Window size (pcie-bench)".into(),
        text: "Random 64 B reads over a growing window of 4 KiB pages. The hit rate falls, and throughput with it, once the \
               window passes the IOTLB's reach (entries x 4 KiB)."
            .into(),
        figures: vec![
            lines("window-throughput", "Throughput against window size", "window (KiB)", "requests per cycle", true, thr),
            lines("window-hit-rate", "IOTLB hit rate against window size", "window (KiB)", "hit rate (%)", true, hit),
        ],
        ..Default::default()
    });
    // Reads by stage.
    let stage = [("single stage (accel 4K)", 2usize), ("G-stage only (passthrough)", 4), ("nested (two-stage)", 5)];
    report.sections.push(Section {
        title: "Translation stages".into(),
        text: "Memory reads per request and hit rate by which stages translate: a nested walk reads the G-stage for every \
               first-stage level."
            .into(),
        figures: vec![bars(
            "reads-by-stage",
            "Memory reads per request by stage",
            "reads per request",
            stage.iter().map(|s| s.0.to_string()).collect(),
            vec![("reads per request".into(), stage.iter().map(|s| stats[s.1].reads_per_request()).collect())],
        )],
        ..Default::default()
    });
    // Strict vs lazy.
    let cats = vec!["nic".to_string(), "nvme".to_string()];
    let val = |i: usize, f: &dyn Fn(&ReplayStats) -> f64| f(&stats[pol_start + i]);
    report.sections.push(Section {
        title: "Invalidation policy".into(),
        text:
            "Linux's strict mode invalidates at every unmap; lazy mode batches unmaps in a flush queue and invalidates \
               the domain when it fills."
                .into(),
        figures: vec![
            bars(
                "policy-hit-rate",
                "IOTLB hit rate, strict against lazy",
                "hit rate (%)",
                cats.clone(),
                vec![
                    (
                        "strict".into(),
                        vec![
                            val(0, &|s| pct(s.counters.iotlb_hit_rate())),
                            val(2, &|s| pct(s.counters.iotlb_hit_rate())),
                        ],
                    ),
                    (
                        "lazy".into(),
                        vec![
                            val(1, &|s| pct(s.counters.iotlb_hit_rate())),
                            val(3, &|s| pct(s.counters.iotlb_hit_rate())),
                        ],
                    ),
                ],
            ),
            bars(
                "policy-commands",
                "Invalidation commands, strict against lazy",
                "commands",
                cats,
                vec![
                    ("strict".into(), vec![val(0, &|s| s.commands as f64), val(2, &|s| s.commands as f64)]),
                    ("lazy".into(), vec![val(1, &|s| s.commands as f64), val(3, &|s| s.commands as f64)]),
                ],
            ),
        ],
        ..Default::default()
    });
    // 4K vs 2M.
    report.sections.push(Section {
        title: "Page size".into(),
        text: "The accelerator streaming over 64 MiB buffers mapped with 4 KiB or 2 MiB pages.".into(),
        figures: vec![bars(
            "page-size",
            "4 KiB against 2 MiB pages (accel)",
            "value",
            vec!["IOTLB hit rate (%)".into(), "reads per request x 100".into(), "p99 latency (cycles / 10)".into()],
            vec![
                (
                    "4 KiB".into(),
                    vec![
                        pct(stats[2].counters.iotlb_hit_rate()),
                        stats[2].reads_per_request() * 100.0,
                        stats[2].latency.percentile(99.0) as f64 / 10.0,
                    ],
                ),
                (
                    "2 MiB".into(),
                    vec![
                        pct(stats[3].counters.iotlb_hit_rate()),
                        stats[3].reads_per_request() * 100.0,
                        stats[3].latency.percentile(99.0) as f64 / 10.0,
                    ],
                ),
            ],
        )],
        ..Default::default()
    });
    // Single vs two-stage latency.
    report.sections.push(Section {
        title: "Single stage against two stages".into(),
        text:
            "Latency distributions of the same 12 KiB buffer reached through the G-stage only and through the guest's \
               first stage as well."
                .into(),
        figures: vec![cdf_figure(
            "stages-cdf",
            "Latency CDF: G-stage only against nested",
            vec![cdf_series("passthrough (G-stage)", &stats[4]), cdf_series("nested", &stats[5])],
        )],
        ..Default::default()
    });
    // Walk caches.
    let wc_cats: Vec<String> = wc_workloads.iter().map(|w| w.0.to_string()).collect();
    let wc_series = |f: &dyn Fn(&ReplayStats) -> f64| {
        vec![
            ("no walk cache".to_string(), wc_workloads.iter().map(|&(_, i)| f(&stats[i])).collect()),
            (
                "walk caches 8x4 per stage".to_string(),
                (0..wc_workloads.len()).map(|k| f(&stats[wc_start + k])).collect(),
            ),
        ]
    };
    report.sections.push(Section {
        title: "Walk caches".into(),
        text: "Caches of non-leaf page-table entries, one per stage, answer the upper levels of a walk without a memory                access. Hit rates can rise too: shorter walks leave fewer misses waiting on a walk in flight."
            .into(),
        figures: vec![
            bars(
                "walk-cache-reads",
                "Memory reads per request, with and without walk caches",
                "reads per request",
                wc_cats.clone(),
                wc_series(&|s| s.reads_per_request()),
            ),
            bars(
                "walk-cache-latency",
                "Mean latency, with and without walk caches",
                "cycles",
                wc_cats,
                wc_series(&|s| s.latency.mean()),
            ),
        ],
        ..Default::default()
    });
    Ok(report)
}

/// A report on the user's traces.
fn traces_report(base: &Config, traces: &[PathBuf]) -> Result<Report> {
    let mut sources = Vec::new();
    for p in traces {
        if p.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
            sources.push(("stdin".to_string(), Source::Bytes(std::sync::Arc::new(buf), "-".into())));
        } else {
            sources.push((p.display().to_string(), Source::File(p.clone())));
        }
    }
    let mut runs = Vec::new();
    for (_, s) in &sources {
        runs.push(Run { source: s.clone(), config: base.clone() });
        runs.extend(mrc_runs(base, s));
        for policy in [Policy::Strict, Policy::Lazy] {
            let mut c = base.clone();
            c.driver.policy = policy;
            runs.push(Run { source: s.clone(), config: c });
        }
    }
    let stats = run_all(&runs)?;
    let n = MRC_WAYS.len();
    let per = 1 + n + 2;
    let mut summary = Table {
        title: "Base configuration".into(),
        header: SUMMARY_HEADER.iter().map(|s| s.to_string()).collect(),
        rows: vec![],
    };
    let mut cdfs = Vec::new();
    let mut mrc = Vec::new();
    let mut strict = Vec::new();
    let mut lazy = Vec::new();
    for (k, (name, _)) in sources.iter().enumerate() {
        let s = &stats[k * per];
        summary.rows.push(summary_row(name, s));
        cdfs.push(cdf_series(name, s));
        mrc.push(mrc_series(name, &stats[k * per + 1..k * per + 1 + n]));
        strict.push(pct(stats[k * per + 1 + n].counters.iotlb_hit_rate()));
        lazy.push(pct(stats[k * per + 2 + n].counters.iotlb_hit_rate()));
    }
    let names: Vec<String> = sources.iter().map(|s| s.0.clone()).collect();
    Ok(Report {
        title: "RISC-V IOMMU: what translation costs for these traces".into(),
        intro: "Traces replayed through the driver model and the cycle-level timing model.".into(),
        sections: vec![
            Section { title: "Summary".into(), tables: vec![summary], ..Default::default() },
            Section {
                title: "Latency".into(),
                figures: vec![cdf_figure("latency-cdf", "Latency CDF per trace", cdfs)],
                ..Default::default()
            },
            mrc_section(mrc),
            Section {
                title: "Invalidation policy".into(),
                figures: vec![bars(
                    "policy-hit-rate",
                    "IOTLB hit rate, strict against lazy",
                    "hit rate (%)",
                    names,
                    vec![("strict".into(), strict), ("lazy".into(), lazy)],
                )],
                ..Default::default()
            },
        ],
    })
}

/// Runs `iommu report`.
pub fn run_cmd(args: &ReportArgs, out: &mut dyn Write) -> CmdResult {
    let base = load_config(args.config.as_deref())?;
    let started = std::time::Instant::now();
    let mut report = if args.traces.is_empty() {
        if !(args.scale > 0.0 && args.scale.is_finite()) {
            anyhow::bail!("--scale must be a positive number");
        }
        default_report(&base, args.scale)?
    } else {
        traces_report(&base, &args.traces)?
    };
    report.sections.push(Section {
        title: "Configuration".into(),
        text: "The base configuration (the replay configuration file's format); sections above override the IOTLB size or \
               the invalidation policy where they say so."
            .into(),
        code: Some(base.to_toml()),
        ..Default::default()
    });
    let rtl_page = args.out.join("rtl").join("index.html");
    report.sections.push(Section {
        title: "The RTL".into(),
        text: format!(
            "The timing model configured as our RTL (microarchitecture \"in-order\", rtl/model/<config>.toml) predicts \
             the RTL's completion cycles exactly; the co-simulation checks it on every translation. With Verilator \
             installed, the command below runs the embedded workloads through both in lockstep and writes the page \
             that overlays their latency distributions, gives the exact-match rate and the RTL's own counters beside \
             the model's, as {}.{}",
            rtl_page.display(),
            if rtl_page.exists() { " That page is there now." } else { "" }
        ),
        code: Some(format!(
            "cargo run --release --features rtl -- cosim --workload embedded --rtl-config all --report {}",
            args.out.join("rtl").display()
        )),
        ..Default::default()
    });
    let index = iommu_reports::write(&report, &args.out)
        .with_context(|| format!("writing the report to {}", args.out.display()))?;
    writeln!(out, "report written to {} in {:.1} s", index.display(), started.elapsed().as_secs_f64())?;
    Ok(Outcome::Ok)
}
