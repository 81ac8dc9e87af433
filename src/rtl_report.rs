//! The page that compares the cycle-level timing model with the RTL: one summary
//! row per run (workload x RTL configuration), the latency CDFs of both sides per
//! workload, and every statistics counter side by side per configuration.
//!
//! The caller runs the workloads through the RTL and the timing model in lockstep
//! and hands over what each side measured ([`RtlRun`]); this module only turns the
//! numbers into an [`iommu_reports::Report`]. Every statement on the page (curves
//! that coincide, counters that differ) is computed from those numbers.

use std::collections::HashSet;

use iommu_model::stats::{Counters, LatencyHistogram};
use iommu_reports::{Figure, FigureKind, Report, Section, Series, Table};

/// One workload run through the RTL and the timing model in lockstep.
pub struct RtlRun {
    /// The workload, e.g. `nic-rx`.
    pub workload: String,
    /// The RTL configuration's name (a line of `rtl/configs.txt`), e.g. `default`.
    pub config: String,
    /// The configuration in one line, e.g. `IOTLB 16x4 PLRU, 4 walkers, memory latency 100`.
    pub params: String,
    /// Latency of every translation in the timing model (completion cycle minus issue cycle).
    pub model_latency: LatencyHistogram,
    /// The same in the RTL.
    pub rtl_latency: LatencyHistogram,
    /// Translations compared.
    pub translations: u64,
    /// Translations whose completion cycle was the same on both sides.
    pub exact: u64,
    /// The timing model's counters.
    pub model_counters: Counters,
    /// The RTL's counters, read from its own counter outputs.
    pub rtl_counters: Counters,
    /// Simulated cycles of the run.
    pub cycles: u64,
}

/// Column headings of the summary table.
const SUMMARY_HEADER: [&str; 13] = [
    "workload",
    "configuration",
    "translations",
    "cycles",
    "exact match",
    "p50 cycles (model)",
    "p50 cycles (RTL)",
    "p99 cycles (model)",
    "p99 cycles (RTL)",
    "max cycles (model)",
    "max cycles (RTL)",
    "IOTLB hit % (model)",
    "IOTLB hit % (RTL)",
];

/// Column headings of a counters table.
const COUNTERS_HEADER: [&str; 6] = ["workload", "counter", "model", "RTL", "RTL - model", "comparison"];

/// Builds the page comparing the timing model with the RTL over `runs`. `command`
/// is the command line that reproduces it, shown in a code block.
pub fn rtl_report(runs: &[RtlRun], command: &str) -> Report {
    let mut report = Report {
        title: "RISC-V IOMMU: timing model against RTL".into(),
        intro: "The cycle-level timing model, configured as the RTL from rtl/model/<config>.toml, against the \
                Verilated RTL of the same configuration, both driven cycle by cycle with the same requests. \
                Latencies are in cycles of the IOMMU clock, from the cycle a request is issued to its completion \
                cycle, the cycle its response leaves the unit. A translation matches exactly when its completion \
                cycle is the same on both sides. The RTL's counters are read from its own counter outputs. The \
                command below reproduces this page."
            .into(),
        sections: vec![Section { title: "Command".into(), code: Some(command.to_string()), ..Default::default() }],
    };
    if runs.is_empty() {
        report.sections.push(Section {
            title: "Summary".into(),
            text: "Nothing was run: no workload and configuration was given, so there is nothing to compare.".into(),
            ..Default::default()
        });
        return report;
    }
    report.sections.push(summary_section(runs));
    let mut ids = HashSet::new();
    for (workload, group) in group_by(runs, |r| &r.workload) {
        report.sections.push(latency_section(workload, &group, &mut ids));
    }
    for (config, group) in group_by(runs, |r| &r.config) {
        report.sections.push(counters_section(config, &group));
    }
    report
}

/// `runs` grouped by `key`, groups and runs in the order they first appear.
fn group_by(runs: &[RtlRun], key: fn(&RtlRun) -> &String) -> Vec<(&str, Vec<&RtlRun>)> {
    let mut groups: Vec<(&str, Vec<&RtlRun>)> = Vec::new();
    for run in runs {
        match groups.iter_mut().find(|(k, _)| *k == key(run).as_str()) {
            Some((_, group)) => group.push(run),
            None => groups.push((key(run).as_str(), vec![run])),
        }
    }
    groups
}

/// `exact` of `total` as a percentage with the counts, e.g. `99.80 % (4990 of 5000)`.
/// The percentage is rounded down, so `100.00 %` means every translation matched.
fn exact_match(exact: u64, total: u64) -> String {
    if total == 0 {
        return "- (0 of 0)".into();
    }
    let hundredths = u128::from(exact) * 10_000 / u128::from(total);
    format!("{}.{:02} % ({exact} of {total})", hundredths / 100, hundredths % 100)
}

/// `exact` of `total` in words, e.g. `4990 of 5000 translations (99.80 %)`, rounded
/// down as in [`exact_match`].
fn share(exact: u64, total: u64) -> String {
    let hundredths = u128::from(exact) * 10_000 / u128::from(total.max(1));
    format!("{exact} of {total} translations ({}.{:02} %)", hundredths / 100, hundredths % 100)
}

/// The `p`-th percentile of `h` in cycles, or `-` when it is empty.
fn percentile(h: &LatencyHistogram, p: f64) -> String {
    if h.count() == 0 {
        "-".into()
    } else {
        h.percentile(p).to_string()
    }
}

/// The largest latency of `h`, or `-` when it is empty.
fn max(h: &LatencyHistogram) -> String {
    if h.count() == 0 {
        "-".into()
    } else {
        h.max().to_string()
    }
}

/// The IOTLB hit rate in percent, or `-` without lookups.
fn iotlb_hit(c: &Counters) -> String {
    c.iotlb_hit_rate().map_or_else(|| "-".into(), |r| format!("{:.1}", r * 100.0))
}

/// One summary row.
fn summary_row(r: &RtlRun) -> Vec<String> {
    vec![
        r.workload.clone(),
        r.config.clone(),
        r.translations.to_string(),
        r.cycles.to_string(),
        exact_match(r.exact, r.translations),
        percentile(&r.model_latency, 50.0),
        percentile(&r.rtl_latency, 50.0),
        percentile(&r.model_latency, 99.0),
        percentile(&r.rtl_latency, 99.0),
        max(&r.model_latency),
        max(&r.rtl_latency),
        iotlb_hit(&r.model_counters),
        iotlb_hit(&r.rtl_counters),
    ]
}

/// The summary: one row per run, and the configurations' parameters.
fn summary_section(runs: &[RtlRun]) -> Section {
    let total: u64 = runs.iter().map(|r| r.translations).sum();
    let exact: u64 = runs.iter().map(|r| r.exact).sum();
    let verdict = if total == 0 {
        "No translations were compared.".to_string()
    } else if runs.iter().all(|r| r.exact == r.translations) {
        format!("Every one of the {total} translations compared completed in the same cycle on both sides.")
    } else {
        format!("Over all runs, {} completed in the same cycle on both sides.", share(exact, total))
    };
    let summary = Table {
        title: "Every run, model against RTL".into(),
        header: SUMMARY_HEADER.iter().map(|s| s.to_string()).collect(),
        rows: runs.iter().map(summary_row).collect(),
    };
    let mut configs = Table {
        title: "Configurations".into(),
        header: vec!["configuration".into(), "parameters".into(), "timing model configuration".into()],
        rows: vec![],
    };
    for r in runs {
        if !configs.rows.iter().any(|row| row[0] == r.config && row[1] == r.params) {
            configs.rows.push(vec![r.config.clone(), r.params.clone(), format!("rtl/model/{}.toml", r.config)]);
        }
    }
    Section {
        title: "Summary".into(),
        text: format!(
            "One row per workload and RTL configuration. Exact match counts the translations whose completion cycle \
             is the same in the model and the RTL; the percentage is rounded down, so 100.00 % means every one. \
             Latency percentiles are in cycles; IOTLB hit rates come from each side's own counters.\n\n{verdict}"
        ),
        tables: vec![summary, configs],
        ..Default::default()
    }
}

/// The latency CDF of `h` as a series named `name`.
fn cdf_series(name: String, h: &LatencyHistogram) -> Series {
    Series { name, points: h.cdf().into_iter().map(|(x, y)| (x as f64, y)).collect() }
}

/// A figure id made from `name` (letters, digits, `-` and `_`), distinct from every
/// id in `used` (ignoring case) and added to it.
fn figure_id(name: &str, used: &mut HashSet<String>) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let base = format!("latency-cdf-{}", if slug.is_empty() { "workload" } else { &slug });
    let mut id = base.clone();
    let mut n = 2;
    while !used.insert(id.to_ascii_lowercase()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// What the two curves of `r` show, as one sentence or two.
fn agreement(r: &RtlRun) -> String {
    let c = &r.config;
    let n = r.translations;
    let same_histogram = r.model_latency == r.rtl_latency;
    if n == 0 {
        return format!("{c}: no translations were compared.");
    }
    if r.exact == n {
        return if same_histogram {
            format!(
                "{c}: all {n} translations completed in the same cycle in the model and the RTL, so the two curves \
                 coincide (the RTL's is drawn over the model's)."
            )
        } else {
            format!(
                "{c}: all {n} completion cycles matched, yet the two latency histograms differ, and so do the curves."
            )
        };
    }
    let first = format!(
        "{c}: {} completed in the same cycle on both sides; {} did not.",
        share(r.exact, n),
        n.saturating_sub(r.exact)
    );
    if same_histogram {
        format!("{first} The latency histograms are nonetheless identical, so the curves coincide.")
    } else {
        format!(
            "{first} Mean latency {:.1} cycles in the model, {:.1} in the RTL; p99 {} against {}.",
            r.model_latency.mean(),
            r.rtl_latency.mean(),
            percentile(&r.model_latency, 99.0),
            percentile(&r.rtl_latency, 99.0)
        )
    }
}

/// One workload's latency CDFs: model and RTL for each configuration it ran under.
fn latency_section(workload: &str, runs: &[&RtlRun], ids: &mut HashSet<String>) -> Section {
    let mut series = Vec::new();
    for r in runs {
        series.push(cdf_series(format!("{}: model", r.config), &r.model_latency));
        series.push(cdf_series(format!("{}: RTL", r.config), &r.rtl_latency));
    }
    let mut text = format!(
        "Cumulative distribution of translation latency for {workload}, timing model and RTL, for each \
         configuration it ran under."
    );
    for r in runs {
        text.push_str("\n\n");
        text.push_str(&agreement(r));
    }
    // A log axis drops latencies of 0 cycles: with nothing else the plot would be empty.
    let drawable = series.iter().any(|s| s.points.iter().any(|&(x, _)| x > 0.0));
    let mut figures = Vec::new();
    if drawable {
        figures.push(Figure {
            id: figure_id(workload, ids),
            title: format!("Latency CDF, model against RTL: {workload}"),
            x_label: "latency (cycles)".into(),
            y_label: "fraction of translations".into(),
            x_log: true,
            y_range: Some((0.0, 1.0)),
            kind: FigureKind::Cdf(series),
        });
    } else if runs.iter().all(|r| r.model_latency.count() == 0 && r.rtl_latency.count() == 0) {
        text.push_str("\n\nNo latencies were recorded, so there is no figure.");
    } else {
        text.push_str("\n\nEvery latency recorded was 0 cycles, which the logarithmic axis cannot show: no figure.");
    }
    Section { title: format!("Latency: {workload}"), text, figures, ..Default::default() }
}

/// One configuration's counters: every counter of every workload, model against RTL.
fn counters_section(config: &str, runs: &[&RtlRun]) -> Section {
    let mut table = Table {
        title: format!("Counters, configuration {config}"),
        header: COUNTERS_HEADER.iter().map(|s| s.to_string()).collect(),
        rows: vec![],
    };
    let mut differing = Vec::new();
    for r in runs {
        for ((name, model), (_, rtl)) in r.model_counters.named().into_iter().zip(r.rtl_counters.named()) {
            let diff = i128::from(rtl) - i128::from(model);
            if diff != 0 {
                differing.push(format!("{} {name}", r.workload));
            }
            table.rows.push(vec![
                r.workload.clone(),
                name.to_string(),
                model.to_string(),
                rtl.to_string(),
                if diff == 0 { "0".into() } else { format!("{diff:+}") },
                if diff == 0 { "equal" } else { "differs" }.into(),
            ]);
        }
    }
    let mut params: Vec<&str> = Vec::new();
    for r in runs {
        if !params.contains(&r.params.as_str()) {
            params.push(&r.params);
        }
    }
    let values = table.rows.len();
    let verdict = if differing.is_empty() {
        format!("All {values} counter values are equal in the model and the RTL.")
    } else {
        format!("{} of {values} counter values differ: {}.", differing.len(), differing.join(", "))
    };
    Section {
        title: format!("Counters: {config}"),
        text: format!(
            "Configuration {config}: {}. Each counter as the timing model counts it and as the RTL's counter \
             outputs read at the end of the run.\n\n{verdict}",
            params.join("; ")
        ),
        tables: vec![table],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram holding `latencies`.
    fn histogram(latencies: &[u64]) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for &l in latencies {
            h.record(l);
        }
        h
    }

    /// A run of `workload` under `config` with these latencies on each side; `exact`
    /// counts the positions where the two lists agree.
    fn run(workload: &str, config: &str, model: &[u64], rtl: &[u64]) -> RtlRun {
        assert_eq!(model.len(), rtl.len());
        let counters = Counters {
            translations: model.len() as u64,
            iotlb_hit: 3,
            iotlb_miss: 1,
            walk_reads: 5,
            ..Default::default()
        };
        RtlRun {
            workload: workload.into(),
            config: config.into(),
            params: format!("{config} parameters"),
            model_latency: histogram(model),
            rtl_latency: histogram(rtl),
            translations: model.len() as u64,
            exact: model.iter().zip(rtl).filter(|(a, b)| a == b).count() as u64,
            model_counters: counters,
            rtl_counters: counters,
            cycles: 1000,
        }
    }

    fn section<'a>(report: &'a Report, title: &str) -> &'a Section {
        report.sections.iter().find(|s| s.title == title).unwrap_or_else(|| panic!("no section {title:?}"))
    }

    fn column(header: &[String], name: &str) -> usize {
        header.iter().position(|h| h == name).unwrap()
    }

    #[test]
    fn summary_row_gives_exact_match_rate_and_percentiles() {
        // Three of four translations complete in the same cycle.
        let runs = [run("nic-rx", "small", &[10, 20, 30, 40], &[10, 20, 30, 45])];
        let report = rtl_report(&runs, "iommu cosim");
        let table = &section(&report, "Summary").tables[0];
        let row = &table.rows[0];
        assert_eq!(row.len(), table.header.len());
        assert_eq!(row[column(&table.header, "exact match")], "75.00 % (3 of 4)");
        assert_eq!(row[column(&table.header, "translations")], "4");
        assert_eq!(row[column(&table.header, "max cycles (model)")], "40");
        assert_eq!(row[column(&table.header, "max cycles (RTL)")], "45");
        assert_eq!(row[column(&table.header, "p50 cycles (RTL)")], "20");
        assert_eq!(row[column(&table.header, "IOTLB hit % (model)")], "75.0");
        assert!(section(&report, "Summary").text.contains("Over all runs, 3 of 4 translations (75.00 %) completed"));
    }

    #[test]
    fn exact_match_rounds_down_and_survives_zero() {
        assert_eq!(exact_match(9_999, 10_000), "99.99 % (9999 of 10000)");
        assert_eq!(exact_match(99_999, 100_000), "99.99 % (99999 of 100000)");
        assert_eq!(exact_match(5, 5), "100.00 % (5 of 5)");
        assert_eq!(exact_match(0, 0), "- (0 of 0)");
        assert_eq!(exact_match(u64::MAX, u64::MAX), "100.00 % (18446744073709551615 of 18446744073709551615)");
    }

    #[test]
    fn zero_translations_give_dashes_and_no_figure() {
        let runs = [run("idle", "default", &[], &[])];
        let report = rtl_report(&runs, "iommu cosim");
        let table = &section(&report, "Summary").tables[0];
        let row = &table.rows[0];
        assert_eq!(row[column(&table.header, "exact match")], "- (0 of 0)");
        assert_eq!(row[column(&table.header, "p99 cycles (model)")], "-");
        let latency = section(&report, "Latency: idle");
        assert!(latency.figures.is_empty());
        assert!(latency.text.contains("no translations were compared"));
    }

    #[test]
    fn differing_counters_are_marked() {
        let mut r = run("nvme", "default", &[10, 20], &[10, 20]);
        r.rtl_counters.walk_reads += 2;
        let report = rtl_report(&[r], "iommu cosim");
        let counters = section(&report, "Counters: default");
        let table = &counters.tables[0];
        assert_eq!(table.rows.len(), Counters::default().named().len());
        let verdict = column(&table.header, "comparison");
        for row in &table.rows {
            assert_eq!(row.len(), table.header.len());
            let expected = if row[1] == "walk_reads" { "differs" } else { "equal" };
            assert_eq!(row[verdict], expected, "{row:?}");
        }
        let walk_reads = table.rows.iter().find(|row| row[1] == "walk_reads").unwrap();
        assert_eq!(walk_reads[2..5], ["5", "7", "+2"]);
        assert!(counters.text.contains("1 of 12 counter values differ: nvme walk_reads"), "{}", counters.text);
    }

    #[test]
    fn equal_counters_are_marked_equal() {
        let report = rtl_report(&[run("nvme", "default", &[10], &[10])], "iommu cosim");
        let counters = section(&report, "Counters: default");
        assert!(counters.tables[0].rows.iter().all(|row| row[5] == "equal"));
        assert!(counters.text.contains("All 12 counter values are equal"));
    }

    #[test]
    fn one_figure_per_workload_with_two_series_per_configuration() {
        let runs = [
            run("nic-rx", "small", &[10, 20], &[10, 20]),
            run("nic-rx", "default", &[5, 9], &[5, 11]),
            run("accel 4K", "default", &[7], &[7]),
        ];
        let report = rtl_report(&runs, "iommu cosim");
        let nic = section(&report, "Latency: nic-rx");
        assert_eq!(nic.figures.len(), 1);
        assert_eq!(nic.figures[0].id, "latency-cdf-nic-rx");
        assert!(nic.figures[0].x_log);
        let FigureKind::Cdf(series) = &nic.figures[0].kind else { panic!("not a CDF") };
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["small: model", "small: RTL", "default: model", "default: RTL"]);
        // Small matched everywhere, default did not.
        assert!(nic.text.contains("small: all 2 translations completed in the same cycle"));
        assert!(nic.text.contains("the two curves coincide"));
        assert!(nic
            .text
            .contains("default: 1 of 2 translations (50.00 %) completed in the same cycle on both sides; 1 did not."));
        let accel = section(&report, "Latency: accel 4K");
        assert_eq!(accel.figures[0].id, "latency-cdf-accel-4k");
        let FigureKind::Cdf(series) = &accel.figures[0].kind else { panic!("not a CDF") };
        assert_eq!(series.len(), 2);
        // One counters section per configuration, each holding all its workloads.
        assert_eq!(section(&report, "Counters: small").tables[0].rows.len(), 12);
        assert_eq!(section(&report, "Counters: default").tables[0].rows.len(), 24);
    }

    #[test]
    fn curves_are_not_said_to_coincide_when_latencies_differ() {
        let report = rtl_report(&[run("nic-rx", "default", &[10, 20], &[11, 25])], "iommu cosim");
        let text = &section(&report, "Latency: nic-rx").text;
        assert!(!text.contains("coincide"), "{text}");
        assert!(text.contains("0 of 2 translations (0.00 %)"), "{text}");
    }

    #[test]
    fn figure_ids_stay_distinct() {
        let mut used = HashSet::new();
        assert_eq!(figure_id("NIC rx", &mut used), "latency-cdf-nic-rx");
        assert_eq!(figure_id("nic-rx", &mut used), "latency-cdf-nic-rx-2");
        assert_eq!(figure_id("", &mut used), "latency-cdf-workload");
    }

    #[test]
    fn empty_runs_say_nothing_was_run() {
        let report = rtl_report(&[], "iommu cosim --workload embedded");
        assert!(report.sections.iter().all(|s| s.figures.is_empty() && s.tables.is_empty()));
        assert!(section(&report, "Summary").text.contains("Nothing was run"));
        assert_eq!(section(&report, "Command").code.as_deref(), Some("iommu cosim --workload embedded"));
    }

    #[test]
    fn the_page_renders() {
        let runs = [
            run("nic-rx", "small", &[10, 20, 300], &[10, 20, 300]),
            run("nic-rx", "default", &[5, 9, 2000], &[5, 11, 2100]),
            run("idle", "default", &[], &[]),
            run("zero", "default", &[0, 0], &[0, 0]),
        ];
        let dir = std::env::temp_dir().join(format!("iommu-rtl-report-{}", std::process::id()));
        let written = iommu_reports::write(&rtl_report(&runs, "iommu cosim"), &dir);
        let empty = iommu_reports::write(&rtl_report(&[], "iommu cosim"), &dir.join("empty"));
        let _ = std::fs::remove_dir_all(&dir);
        let index = written.expect("the report is accepted and written");
        assert!(index.ends_with("index.html"));
        empty.expect("the empty report is accepted and written");
    }
}
