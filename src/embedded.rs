//! Data compiled into the binary, so the main job needs no files.

/// The sample conformance vectors of `tests/vectors/`, as (file name, text).
pub const VECTORS: &[(&str, &str)] = &[
    ("sample-ad-update.jsonl", include_str!("../tests/vectors/sample-ad-update.jsonl")),
    ("sample-ddt.jsonl", include_str!("../tests/vectors/sample-ddt.jsonl")),
    ("sample-g-stage.jsonl", include_str!("../tests/vectors/sample-g-stage.jsonl")),
    ("sample-inval.jsonl", include_str!("../tests/vectors/sample-inval.jsonl")),
    ("sample-msi.jsonl", include_str!("../tests/vectors/sample-msi.jsonl")),
    ("sample-pdt.jsonl", include_str!("../tests/vectors/sample-pdt.jsonl")),
    ("sample-single-stage.jsonl", include_str!("../tests/vectors/sample-single-stage.jsonl")),
    ("sample-two-stage.jsonl", include_str!("../tests/vectors/sample-two-stage.jsonl")),
];
