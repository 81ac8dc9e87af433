//! The replay configuration file (TOML): the timing model's microarchitecture, the
//! caches, the memory and the driver model, each parameter with a default.
//!
//! ```toml
//! [iommu]
//! microarchitecture = "decoupled"  # or "in-order": the RTL's (rtl/model/*.toml)
//! request_queue = 4      # requests accepted but not yet looked up
//! lookup_cycles = 2      # issue to IOTLB result: the hit latency
//! walkers = 4            # page-table walkers
//! miss_queue = 8         # misses waiting for a walker
//!
//! [iommu.iotlb]
//! sets = 16
//! ways = 4
//! replacement = "lru"    # lru, plru or random
//!
//! [iommu.ddtc]
//! sets = 4
//! ways = 4
//!
//! [iommu.pdtc]
//! sets = 4
//! ways = 4
//!
//! [memory]
//! latency = 100          # cycles from acceptance to the first word
//! beat_cycles = 1        # per further word of a burst
//! outstanding = 16       # accesses in flight at most
//!
//! [driver]
//! policy = "strict"      # strict or lazy
//! lazy_entries = 256
//! lazy_timeout = 1000000
//! ddt_levels = 2
//! first_stage = 39       # Sv39, Sv48 or Sv57
//! g_stage = 39           # Sv39x4, Sv48x4 or Sv57x4
//! max_payload = 256      # largest write request (PCIe MPS)
//! max_read_request = 512 # largest read request (PCIe MRRS)
//! ```

use crate::driver::DriverConfig;
use iommu_model::timing::{Microarch, TimingConfig};
use iommu_model::{CacheConfig, Geometry, Replacement};
use serde::{Deserialize, Serialize};

/// One cache's size.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// Sets (a power of two; 0 disables the cache).
    pub sets: usize,
    /// Ways (0 disables the cache).
    pub ways: usize,
    /// `lru`, `plru` or `random`.
    #[serde(default = "default_replacement")]
    pub replacement: String,
}

fn default_replacement() -> String {
    "lru".into()
}

impl CacheSpec {
    fn new(sets: usize, ways: usize) -> Self {
        CacheSpec { sets, ways, replacement: default_replacement() }
    }

    /// The geometry, checked.
    pub fn geometry(&self, name: &str) -> Result<Geometry, ConfigError> {
        let replacement: Replacement =
            self.replacement.parse().map_err(|e: String| ConfigError::Invalid(format!("{name}.replacement: {e}")))?;
        let g = Geometry { sets: self.sets, ways: self.ways, replacement };
        g.validate().map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))?;
        Ok(g)
    }
}

/// The `[iommu]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IommuSpec {
    /// `decoupled` (the timing model's own) or `in-order` (the RTL's: two lookup
    /// stages, no miss queue or merging, one cycle per walker state).
    pub microarchitecture: String,
    /// Requests accepted but not yet looked up.
    pub request_queue: usize,
    /// Issue to lookup result, in cycles.
    pub lookup_cycles: u64,
    /// Page-table walkers.
    pub walkers: usize,
    /// Misses waiting for a walker.
    pub miss_queue: usize,
    /// The IOTLB.
    pub iotlb: CacheSpec,
    /// The device-directory cache.
    pub ddtc: CacheSpec,
    /// The process-directory cache.
    pub pdtc: CacheSpec,
    /// Walk cache of first-stage non-leaf PTEs (0 sets: none).
    pub fs_walk_cache: CacheSpec,
    /// Walk cache of G-stage non-leaf PTEs (0 sets: none).
    pub gs_walk_cache: CacheSpec,
    /// Cycles from a walk-cache hit to its data.
    pub walk_cache_cycles: u64,
}

impl Default for IommuSpec {
    fn default() -> Self {
        let t = TimingConfig::default();
        IommuSpec {
            microarchitecture: t.microarch.name().to_string(),
            request_queue: t.request_queue,
            lookup_cycles: t.lookup_cycles,
            walkers: t.walkers,
            miss_queue: t.miss_queue,
            iotlb: CacheSpec::new(t.caches.iotlb.sets, t.caches.iotlb.ways),
            ddtc: CacheSpec::new(t.caches.ddtc.sets, t.caches.ddtc.ways),
            pdtc: CacheSpec::new(t.caches.pdtc.sets, t.caches.pdtc.ways),
            fs_walk_cache: CacheSpec::new(t.fs_walk_cache.sets, t.fs_walk_cache.ways),
            gs_walk_cache: CacheSpec::new(t.gs_walk_cache.sets, t.gs_walk_cache.ways),
            walk_cache_cycles: t.walk_cache_cycles,
        }
    }
}

/// The `[memory]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySpec {
    /// Cycles from acceptance to the first word.
    pub latency: u64,
    /// Cycles per further word.
    pub beat_cycles: u64,
    /// Accesses in flight at most.
    pub outstanding: usize,
}

impl Default for MemorySpec {
    fn default() -> Self {
        let t = TimingConfig::default();
        MemorySpec { latency: t.mem_latency, beat_cycles: t.mem_beat_cycles, outstanding: t.mem_outstanding }
    }
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The IOMMU.
    pub iommu: IommuSpec,
    /// The memory it walks tables in.
    pub memory: MemorySpec,
    /// The driver model.
    pub driver: DriverConfig,
}

/// Writes `user`'s keys over `base`'s, refusing keys `base` does not have and
/// values of another kind (a table for a number, ...).
fn overlay(base: &mut toml::Table, user: &toml::Table, path: &str, text: &str) -> Result<(), String> {
    for (k, v) in user {
        let full = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
        let line = || {
            text.lines()
                .position(|l| {
                    let l = l.trim_start();
                    l.starts_with(k.as_str()) && l[k.len()..].trim_start().starts_with('=')
                        || l.starts_with('[') && l.contains(full.as_str())
                })
                .map_or(String::new(), |n| format!("line {}: ", n + 1))
        };
        match (base.get_mut(k), v) {
            (None, _) => {
                let known: Vec<&str> = base.keys().map(|s| s.as_str()).collect();
                return Err(format!("{}unknown key `{full}` (expected one of {})", line(), known.join(", ")));
            }
            (Some(toml::Value::Table(b)), toml::Value::Table(u)) => overlay(b, u, &full, text)?,
            (Some(b), u) if b.type_str() == u.type_str() => *b = u.clone(),
            (Some(b), u) => {
                return Err(format!("{}key `{full}`: expected {}, found {}", line(), b.type_str(), u.type_str()));
            }
        }
    }
    Ok(())
}

/// A configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// TOML syntax or a field of the wrong type or name (the message names the
    /// line and the field).
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What toml said.
        message: String,
    },
    /// A value out of range.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads a configuration from TOML text; `file` labels errors. Every key left
    /// out keeps its default, down to single fields of a section
    /// (`[iommu.iotlb]` with only `ways = 8` keeps the default sets).
    pub fn from_toml(text: &str, file: &str) -> Result<Config, ConfigError> {
        let parse = |message: String| ConfigError::Parse { file: file.to_string(), message };
        let user: toml::Table = toml::from_str(text).map_err(|e| parse(e.to_string()))?;
        let mut merged = toml::Table::try_from(Config::default()).map_err(|e| parse(e.to_string()))?;
        overlay(&mut merged, &user, "", text).map_err(parse)?;
        let c: Config = toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| parse(e.to_string()))?;
        c.timing().map_err(|e| match e {
            ConfigError::Invalid(m) => ConfigError::Invalid(format!("{file}: {m}")),
            other => other,
        })?;
        Ok(c)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The timing model's parameters.
    pub fn timing(&self) -> Result<TimingConfig, ConfigError> {
        let i = &self.iommu;
        if i.walkers == 0 || i.request_queue == 0 {
            return Err(ConfigError::Invalid("iommu.walkers and iommu.request_queue must be at least 1".into()));
        }
        if self.memory.outstanding == 0 || self.memory.latency == 0 {
            return Err(ConfigError::Invalid("memory.outstanding and memory.latency must be at least 1".into()));
        }
        let microarch: Microarch = i
            .microarchitecture
            .parse()
            .map_err(|e: String| ConfigError::Invalid(format!("iommu.microarchitecture: {e}")))?;
        if microarch == Microarch::InOrder {
            // What the in-order unit does not have must not be configured.
            if i.lookup_cycles != 2 {
                return Err(ConfigError::Invalid(
                    "iommu.lookup_cycles: the in-order unit looks up in 2 cycles (S1, S2)".into(),
                ));
            }
            if i.miss_queue != 0 {
                return Err(ConfigError::Invalid(
                    "iommu.miss_queue: the in-order unit has no miss queue; set 0".into(),
                ));
            }
            if i.fs_walk_cache.sets * i.fs_walk_cache.ways != 0 || i.gs_walk_cache.sets * i.gs_walk_cache.ways != 0 {
                return Err(ConfigError::Invalid("iommu.*_walk_cache: the in-order unit has no walk caches".into()));
            }
        }
        Ok(TimingConfig {
            microarch,
            request_queue: i.request_queue,
            lookup_cycles: i.lookup_cycles,
            walkers: i.walkers,
            miss_queue: i.miss_queue,
            caches: CacheConfig {
                iotlb: i.iotlb.geometry("iommu.iotlb")?,
                ddtc: i.ddtc.geometry("iommu.ddtc")?,
                pdtc: i.pdtc.geometry("iommu.pdtc")?,
            },
            mem_latency: self.memory.latency,
            mem_beat_cycles: self.memory.beat_cycles,
            mem_outstanding: self.memory.outstanding,
            fs_walk_cache: i.fs_walk_cache.geometry("iommu.fs_walk_cache")?,
            gs_walk_cache: i.gs_walk_cache.geometry("iommu.gs_walk_cache")?,
            walk_cache_cycles: i.walk_cache_cycles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_is_the_default() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .filter_map(|l| l.strip_prefix("//! "))
            .skip_while(|l| !l.starts_with("[iommu]"))
            .take_while(|l| !l.starts_with("```"))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = Config::from_toml(&example, "example").unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn empty_file_gives_defaults_and_round_trips() {
        let c = Config::from_toml("", "x").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(Config::from_toml(&c.to_toml(), "y").unwrap(), c);
    }

    #[test]
    fn the_in_order_unit_refuses_what_it_does_not_have() {
        let timing = |text: &str| Config::from_toml(text, "c.toml").and_then(|c| c.timing());
        let base = "[iommu]\nmicroarchitecture = \"in-order\"\nmiss_queue = 0\n";
        assert_eq!(timing(base).unwrap().microarch, Microarch::InOrder);
        let e = timing("[iommu]\nmicroarchitecture = \"in-order\"\n").unwrap_err();
        assert!(e.to_string().contains("iommu.miss_queue"), "{e}");
        let e = timing(&format!("{base}lookup_cycles = 3\n")).unwrap_err();
        assert!(e.to_string().contains("iommu.lookup_cycles"), "{e}");
        let e = timing(&format!("{base}[iommu.fs_walk_cache]\nsets = 4\nways = 4\n")).unwrap_err();
        assert!(e.to_string().contains("walk_cache"), "{e}");
        let e = timing("[iommu]\nmicroarchitecture = \"out-of-order\"\n").unwrap_err();
        assert!(e.to_string().contains("iommu.microarchitecture"), "{e}");
    }

    #[test]
    fn errors_name_the_field() {
        let e = Config::from_toml("[iommu]\nwalkerz = 3\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("walkerz") && e.to_string().contains("c.toml"), "{e}");
        let e = Config::from_toml("[iommu.iotlb]\nsets = 3\nways = 2\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("iommu.iotlb"), "{e}");
        let e = Config::from_toml("[driver]\npolicy = \"sometimes\"\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("policy") || e.to_string().contains("sometimes"), "{e}");
        let e = Config::from_toml("[memory]\nlatency = \"slow\"\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("line 2") && e.to_string().contains("memory.latency"), "{e}");
    }

    #[test]
    fn keys_left_out_keep_their_defaults() {
        let c = Config::from_toml("[iommu.iotlb]\nways = 8\n[driver]\npolicy = \"lazy\"\n", "c.toml").unwrap();
        let d = Config::default();
        assert_eq!(c.iommu.iotlb.ways, 8);
        assert_eq!(c.iommu.iotlb.sets, d.iommu.iotlb.sets);
        assert_eq!(c.iommu.ddtc, d.iommu.ddtc);
        assert_eq!(c.driver.policy, crate::driver::Policy::Lazy);
        assert_eq!(c.driver.max_payload, d.driver.max_payload);
        assert_eq!(c.memory, d.memory);
    }
}
