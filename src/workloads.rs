//! Workloads named on the command line: `name[:key=value,...]`, built by the
//! generators of `iommu_traces::gen` (`nic`, `nvme`, `accel`, `accel-strided`,
//! `window`, `passthrough`, `nested`) with keys `seed`, `devices`, `count`, `page`
//! (`4k`, `2m`, ...) and `window` (`64k`, `1m`, ...). Example: `window:window=1m,count=20000`.

use anyhow::{anyhow, bail, Result};
use iommu_traces::gen::{self, Options};
use iommu_traces::replay::{EventSource, IterSource};

/// Parses a workload spec into its name and options.
pub fn parse(spec: &str) -> Result<(String, Options)> {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut o = Options::default();
    for kv in rest.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("workload {spec:?}: {kv:?} is not key=value"))?;
        let bad = || anyhow!("workload {spec:?}: bad value {v:?} for {k}");
        match k {
            "seed" => o.seed = v.parse().map_err(|_| bad())?,
            "devices" => o.devices = v.parse().map_err(|_| bad())?,
            "count" => o.count = Some(v.parse().map_err(|_| bad())?),
            "page" => o.page = Some(gen::parse_page(v).ok_or_else(bad)?),
            "window" => o.window = Some(gen::parse_size(v).ok_or_else(bad)?),
            _ => bail!("workload {spec:?}: unknown key {k:?} (expected seed, devices, count, page, window)"),
        }
    }
    Ok((name.to_string(), o))
}

/// The events of a workload spec, generated as they are read.
pub fn source(spec: &str) -> Result<Box<dyn EventSource + Send>> {
    let (name, o) = parse(spec)?;
    let g = gen::build(&name, &o).map_err(|e| anyhow!("workload {spec:?}: {e}"))?;
    Ok(Box::new(IterSource::new(gen::events(g))))
}
