//! The sample conformance vectors of `tests/vectors/` (the outside truth, produced
//! by an independent implementation of the specification) must all pass on the
//! golden model, with every cache disabled, with the default caches, and with
//! large caches of each replacement policy.

use iommu_model::{CacheConfig, Geometry, Iommu, Replacement};
use iommu_traces::conformance::Summary;
use std::path::Path;

fn sample_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap())).collect()
}

fn run_all(config: CacheConfig) -> Summary {
    let mut model = Iommu::new(config);
    let mut summary = Summary::default();
    for (name, text) in sample_files() {
        summary.run_file(&mut model, &name, &text);
    }
    summary
}

fn assert_all_pass(config: CacheConfig) {
    let s = run_all(config);
    let t = s.total();
    assert!(s.ok(), "{s}");
    assert_eq!((t.passed, t.failed, t.skipped), (240, 0, 0), "{s}");
}

#[test]
fn all_sample_vectors_pass_with_caches_disabled() {
    assert_all_pass(CacheConfig::DISABLED);
}

#[test]
fn all_sample_vectors_pass_with_default_caches() {
    assert_all_pass(CacheConfig::default());
}

#[test]
fn all_sample_vectors_pass_with_large_caches_of_every_policy() {
    for replacement in [Replacement::Lru, Replacement::PseudoLru, Replacement::Random] {
        let g = Geometry { sets: 64, ways: 16, replacement };
        assert_all_pass(CacheConfig { iotlb: g, ddtc: g, pdtc: g });
    }
}

#[test]
fn all_sample_vectors_pass_with_tiny_thrashing_caches() {
    let g = Geometry::new(1, 1);
    assert_all_pass(CacheConfig { iotlb: g, ddtc: g, pdtc: g });
}

#[test]
fn every_feature_tag_of_the_format_is_exercised() {
    let s = run_all(CacheConfig::DISABLED);
    for tag in [
        "ddt1",
        "ddt2",
        "ddt3",
        "ddt-ext",
        "sv39",
        "sv48",
        "sv57",
        "sv39x4",
        "sv48x4",
        "sv57x4",
        "two-stage",
        "pdt",
        "superpage",
        "napot",
        "ad-update",
        "fault",
        "inval",
        "msi",
        "single-stage",
        "g-stage-only",
        "iommu-off",
        "iommu-bare",
        "pbmt",
        "dtf",
        "pas",
        "bad-memory",
    ] {
        let t = s.per_feature.get(tag).copied().unwrap_or_default();
        assert!(t.passed > 0, "no passing vector with feature {tag}");
    }
}
