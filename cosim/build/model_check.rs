//! Checks that the timing model of each RTL configuration, `rtl/model/<name>.toml`,
//! describes the same unit as the line of `rtl/configs.txt` it belongs to: the
//! in-order microarchitecture, the same cache geometries with pseudo-LRU, walkers
//! and request queue. The model and the RTL then cannot drift apart silently.

use crate::config::Config;
use std::path::Path;

/// Checks `dir/<name>.toml` for every configuration; the error names the file and
/// every disagreeing field. Writes `out/model_tomls.rs`, the files' texts by
/// configuration name, for the library to embed.
pub fn check(dir: &Path, configs: &[Config], out: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut table = String::from("/// The timing model of each RTL configuration (`rtl/model/<name>.toml`).\npub const MODEL_TOMLS: &[(&str, &str)] = &[\n");
    for c in configs {
        let path = dir.join(format!("{}.toml", c.name));
        println!("cargo:rerun-if-changed={}", path.display());
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!(
                    "{}: cannot read it ({e}); every configuration needs its timing model",
                    path.display()
                ));
                continue;
            }
        };
        table.push_str(&format!("    ({:?}, {:?}),\n", c.name, text));
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let p = &c.params;
        let want: [(&str, toml::Value); 14] = [
            ("iommu.microarchitecture", "in-order".into()),
            ("iommu.request_queue", i64::from(p.req_queue).into()),
            ("iommu.lookup_cycles", 2i64.into()),
            ("iommu.walkers", i64::from(p.walkers).into()),
            ("iommu.miss_queue", 0i64.into()),
            ("iommu.iotlb.sets", i64::from(p.iotlb_sets).into()),
            ("iommu.iotlb.ways", i64::from(p.iotlb_ways).into()),
            ("iommu.iotlb.replacement", "plru".into()),
            ("iommu.ddtc.sets", i64::from(p.ddtc_sets).into()),
            ("iommu.ddtc.ways", i64::from(p.ddtc_ways).into()),
            ("iommu.ddtc.replacement", "plru".into()),
            ("iommu.pdtc.sets", i64::from(p.pdtc_sets).into()),
            ("iommu.pdtc.ways", i64::from(p.pdtc_ways).into()),
            ("iommu.pdtc.replacement", "plru".into()),
        ];
        for (key, value) in want {
            let (parent, leaf) = key.rsplit_once('.').expect("dotted key");
            let found = parent
                .split('.')
                .try_fold(&table, |t, k| t.get(k).and_then(toml::Value::as_table))
                .and_then(|t| t.get(leaf));
            if found != Some(&value) {
                let shown = found.map_or("missing".to_string(), ToString::to_string);
                problems.push(format!("{}: {key} is {shown}, the RTL has {value}", path.display()));
            }
        }
    }
    table.push_str("];\n");
    std::fs::write(out.join("model_tomls.rs"), table).map_err(|e| format!("cannot write model_tomls.rs: {e}"))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("the timing models disagree with rtl/configs.txt:\n  {}", problems.join("\n  ")))
    }
}
