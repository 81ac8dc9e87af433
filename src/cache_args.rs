//! Command-line options that size the model's caches.

use anyhow::{Context, Result};
use iommu_model::{CacheConfig, Geometry, Replacement};

/// `--no-caches`, `--iotlb SETSxWAYS`, `--ddtc`, `--pdtc`, `--replacement`.
#[derive(clap::Args)]
pub struct CacheArgs {
    /// Disable every cache (each translation walks from the root).
    #[arg(long)]
    no_caches: bool,
    /// IOTLB geometry as SETSxWAYS (0x0 disables it).
    #[arg(long, value_name = "SETSxWAYS", default_value = "16x4")]
    iotlb: String,
    /// Device-directory cache geometry.
    #[arg(long, value_name = "SETSxWAYS", default_value = "4x4")]
    ddtc: String,
    /// Process-directory cache geometry.
    #[arg(long, value_name = "SETSxWAYS", default_value = "4x4")]
    pdtc: String,
    /// Replacement policy of every cache: lru, plru or random.
    #[arg(long, default_value = "lru")]
    replacement: String,
}

/// Parses `SETSxWAYS`.
pub fn geometry(option: &str, s: &str, replacement: Replacement) -> Result<Geometry> {
    let (a, b) =
        s.split_once('x').with_context(|| format!("--{option} {s:?}: expected SETSxWAYS, for example 16x4"))?;
    let sets = a.parse().with_context(|| format!("--{option} {s:?}: bad set count {a:?}"))?;
    let ways = b.parse().with_context(|| format!("--{option} {s:?}: bad way count {b:?}"))?;
    let g = Geometry { sets, ways, replacement };
    g.validate().with_context(|| format!("--{option} {s}"))?;
    Ok(g)
}

impl CacheArgs {
    /// The configuration the options describe.
    pub fn config(&self) -> Result<CacheConfig> {
        if self.no_caches {
            return Ok(CacheConfig::DISABLED);
        }
        let replacement: Replacement = self.replacement.parse().map_err(anyhow::Error::msg)?;
        Ok(CacheConfig {
            iotlb: geometry("iotlb", &self.iotlb, replacement)?,
            ddtc: geometry("ddtc", &self.ddtc, replacement)?,
            pdtc: geometry("pdtc", &self.pdtc, replacement)?,
        })
    }
}
