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
