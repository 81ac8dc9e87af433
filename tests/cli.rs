//! The `iommu` command line, run as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn iommu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iommu")).args(args).output().expect("the iommu binary runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iommu-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn the_embedded_sample_set_passes_and_prints_per_file_and_per_feature_summaries() {
    let o = iommu(&["vectors"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("<embedded>/sample-two-stage.jsonl"), "{t}");
    assert!(t.lines().any(|l| l.starts_with("total") && l.contains("240")), "{t}");
    assert!(t.lines().any(|l| l.starts_with("sv57x4")), "{t}");
}

#[test]
fn caches_can_be_disabled_or_chosen() {
    for args in [&["vectors", "-q", "--no-caches"][..], &["vectors", "-q", "--iotlb", "4x2", "--replacement", "plru"]] {
        let o = iommu(args);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("240 passed, 0 failed, 0 skipped"));
    }
    let o = iommu(&["vectors", "--iotlb", "3x2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--iotlb 3x2"), "{}", text(&o));
}

#[test]
fn a_bad_line_names_file_line_and_field_and_the_rest_still_runs() {
    let good = include_str!("vectors/sample-ddt.jsonl").lines().next().unwrap();
    let bad_hex = good.replacen("\"0x1\"", "\"0xq\"", 1);
    let contents = format!("{good}\n{{\"format\": 1}}\n{bad_hex}\n{good}\n");
    let p = temp_file("mixed.jsonl", &contents);
    let o = iommu(&["vectors", p.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let shown = p.display().to_string();
    assert!(t.contains(&format!("{shown}:2: field `format`")), "{t}");
    assert!(t.contains(&format!("{shown}:3: field `regs.ddtp`")), "{t}");
    assert!(t.lines().any(|l| l.starts_with(&shown) && l.contains(" 2 ")), "the two good vectors ran: {t}");
}

#[test]
fn a_failing_expectation_is_reported_field_by_field() {
    let good = include_str!("vectors/sample-ddt.jsonl").lines().nth(1).unwrap();
    let changed = good.replacen("\"cause\":258", "\"cause\":257", 1);
    assert_ne!(changed, good, "the sample line holds a cause 258 fault");
    let p = temp_file("wrong.jsonl", &changed);
    let o = iommu(&["vectors", "-q", p.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(t.contains("FAILED sample-ddt-0002"), "{t}");
    assert!(t.contains("fault.cause") && t.contains("257") && t.contains("258"), "{t}");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let o = iommu(&["vectors", "/nonexistent/v.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("/nonexistent/v.jsonl"));
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iommu-cli-test-{}", std::process::id())).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_generated_trace_is_byte_identical_for_a_seed_and_replays_through_a_pipe() {
    let a = iommu(&["gen", "nvme", "--count", "50", "--devices", "2", "--seed", "3"]);
    let b = iommu(&["gen", "nvme", "--count", "50", "--devices", "2", "--seed", "3"]);
    assert!(a.status.success(), "{}", text(&a));
    assert!(a.stdout.len() > 1000 && a.stdout == b.stdout);
    let file = temp_file("nvme.csv", &String::from_utf8(a.stdout).unwrap());
    let o = iommu(&["replay", file.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("faults                  none"), "{t}");
    // Every access of 50 I/Os per device, 2 devices, is in the summary.
    let accesses: u64 = t.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(accesses >= 100, "{t}");
}

#[test]
fn a_sharded_sweep_merges_into_the_single_run_and_thread_counts_do_not_change_results() {
    let dir = temp_dir("sweep");
    let grid = dir.join("grid.toml");
    std::fs::write(
        &grid,
        "workloads = [\"gen:nic:count=200\", \"gen:window:window=256k,count=2000\"]\n\
         [[axis]]\nname = \"iommu.iotlb.ways\"\nvalues = [1, 4]\n\
         [[axis]]\nname = \"driver.policy\"\nvalues = [\"strict\", \"lazy\"]\n",
    )
    .unwrap();
    let g = grid.to_str().unwrap();
    let out = |n: &str| dir.join(n).to_str().unwrap().to_string();
    for (name, threads) in [("one.csv", "1"), ("two.csv", "2")] {
        let o = iommu(&["sweep", g, "-o", &out(name), "--threads", threads]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let one = std::fs::read_to_string(out("one.csv")).unwrap();
    assert_eq!(one, std::fs::read_to_string(out("two.csv")).unwrap());
    assert_eq!(one.lines().count(), 1 + 2 * 2 * 2, "{one}");
    for i in 0..3 {
        let o = iommu(&["sweep", g, "--shard", &format!("{i}/3"), "-o", &out(&format!("shard{i}.csv"))]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = iommu(&["merge", &out("shard2.csv"), &out("shard0.csv"), &out("shard1.csv"), "-o", &out("merged.csv")]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(one, std::fs::read_to_string(out("merged.csv")).unwrap());
    // A shard given twice is refused.
    let o = iommu(&["merge", &out("shard0.csv"), &out("shard0.csv"), "-o", &out("bad.csv")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_bad_grid_names_what_is_wrong() {
    let dir = temp_dir("badgrid");
    let cases = [
        ("workloads = [\"gen:nic\"]\n[[axis]]\nname = \"iommu.iotlb.wayz\"\nvalues = [1]\n", "wayz"),
        ("workloads = [\"gen:nic\"]\n[[axis]]\nname = \"iommu.iotlb.sets\"\nvalues = [3]\n", "iommu.iotlb.sets=3"),
        ("workloads = [\"gen:nope\"]\n", "nope"),
        ("workloads = [\"gen:nic\"\n", "line 1"),
    ];
    for (i, (grid, needle)) in cases.iter().enumerate() {
        let p = dir.join(format!("grid{i}.toml"));
        std::fs::write(&p, grid).unwrap();
        let o = iommu(&["sweep", p.to_str().unwrap(), "-o", dir.join("out.csv").to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(needle), "case {i}: {}", text(&o));
    }
}

#[test]
fn a_captured_log_imports_and_replays() {
    let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/captures/qemu-vtd-nvme-e1000e.log");
    let dir = temp_dir("import");
    let trace = dir.join("vtd.csv");
    let o = iommu(&["import", capture, "-o", trace.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = iommu(&["replay", trace.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.starts_with("accesses 150 "), "{t}");
}

#[test]
fn the_report_writes_html_and_plots() {
    let dir = temp_dir("report");
    let o = iommu(&["report", "--scale", "0.1", "-o", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for figure in ["window-hit-rate", "iotlb-hit-rate", "latency-cdf", "policy-hit-rate"] {
        assert!(html.contains(&format!("{figure}.png")), "{figure}");
        let png = std::fs::read(dir.join(format!("{figure}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{figure}");
        assert!(dir.join(format!("{figure}.svg")).exists(), "{figure}");
    }
}

#[test]
fn a_replayed_workload_becomes_a_conformance_vector_that_passes_with_and_without_caches() {
    let dir = temp_dir("emit");
    // A generated workload plus accesses the tables do not allow: an unmapped
    // page and a write to a read-only mapping, so the vector holds faults too.
    let gen = iommu(&["gen", "nvme", "--count", "20", "--seed", "5"]);
    assert!(gen.status.success(), "{}", text(&gen));
    let mut csv = String::from_utf8(gen.stdout).unwrap();
    csv.push_str("0,attach,0x0200,,,s1,,,,,,,,\n");
    csv.push_str("0,map,0x0200,,,,0x40000000,,0x90000000,0x2000,4k,r,,\n");
    csv.push_str("0,access,0x0200,,,,0x40000010,,,,,,64,read\n");
    csv.push_str("0,access,0x0200,,,,0x40001010,,,,,,64,write\n");
    csv.push_str("0,access,0x0200,,,,0x50000000,,,,,,64,read\n");
    let trace = dir.join("t.csv");
    std::fs::write(&trace, csv).unwrap();
    let vectors = dir.join("t.jsonl");
    let o = iommu(&["replay", trace.to_str().unwrap(), "--emit-vectors", vectors.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("faults") && !t.contains("faults                  none"), "{t}");
    for extra in [&[][..], &["--no-caches"][..]] {
        let mut args = vec!["vectors", vectors.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = iommu(&args);
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        let total: Vec<&str> = t.lines().find(|l| l.starts_with("total")).unwrap().split_whitespace().collect();
        assert_eq!(&total[1..], ["1", "0", "0"], "{t}");
    }
    // The vector expects the faults: a read of an unmapped page (cause 13, load
    // page fault) and a write to a read-only page (15, store page fault).
    let v = std::fs::read_to_string(&vectors).unwrap();
    for cause in ["\"cause\":13", "\"cause\":15"] {
        assert!(v.contains(cause), "{cause} missing");
    }
}

/// A hang in the RTL (here: memory slower than the hang bound) stops `iommu cosim`
/// with the stuck request, a reproducer and a waveform of it.
#[cfg(feature = "rtl-trace")]
#[test]
fn a_hang_in_the_rtl_is_reported_with_the_stuck_request_a_reproducer_and_a_waveform() {
    let config = temp_file("slow-memory.toml", "[memory]\nlatency = 5000\n");
    let out = std::env::temp_dir().join(format!("iommu-cli-hang-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = iommu(&[
        "cosim",
        "--workload",
        "passthrough:count=20",
        "--rtl-config",
        "small",
        "--config",
        config.to_str().unwrap(),
        "--hang-cycles",
        "300",
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("got no response within 300 cycles"), "{t}");
    let files: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(files.iter().any(|f| f.ends_with(".jsonl")), "no reproducer in {files:?}\n{t}");
    let fst = files.iter().find(|f| f.ends_with(".fst")).unwrap_or_else(|| panic!("no waveform in {files:?}\n{t}"));
    assert!(std::fs::metadata(out.join(fst)).unwrap().len() > 0);
    let _ = std::fs::remove_dir_all(&out);
}
