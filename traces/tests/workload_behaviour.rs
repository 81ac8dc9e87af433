//! What the generated workloads show when replayed: the answers of the timed and
//! the functional replay agree, the window benchmark's hit rate falls where the
//! IOTLB's reach says it must, LRU miss-ratio curves fall monotonically with
//! ways, and replays are deterministic.
//!
//! The expectations come from outside the code under test: uniform random reads
//! over W pages through an LRU TLB of E entries hit with probability min(1, E/W)
//! (each page is equally likely to be among the E most recently used); LRU is a
//! stack algorithm, so with the sets fixed, more ways never lose a hit
//! (Mattson et al., "Evaluation techniques for storage hierarchies", 1970).

use iommu_model::cache::{Geometry, Replacement};
use iommu_model::timing::TimingModel;
use iommu_model::{CacheConfig, Iommu, Status};
use iommu_traces::config::Config;
use iommu_traces::driver::{DriverConfig, Policy};
use iommu_traces::gen::{build, events, Options};
use iommu_traces::replay::{
    replay_functional, replay_regs, replay_timed, AccessRecord, IterSource, NoSink, ReplayOptions, ReplaySink,
    ReplayStats,
};

/// Keeps every access's line, status and translated address.
#[derive(Default)]
struct Answers(Vec<(u64, Status, u64)>);

impl ReplaySink for Answers {
    fn access(&mut self, r: &AccessRecord) -> Result<(), String> {
        self.0.push((r.line, r.response.status, r.response.spa.0));
        Ok(())
    }
}

fn source(name: &str, o: &Options) -> IterSource<impl Iterator<Item = iommu_traces::trace::Event>> {
    IterSource::new(events(build(name, o).unwrap_or_else(|e| panic!("{name}: {e}"))))
}

fn timed(name: &str, o: &Options, config: &Config, sink: &mut dyn ReplaySink) -> ReplayStats {
    let mut device = TimingModel::new(config.timing().unwrap(), replay_regs(config.driver).unwrap());
    replay_timed(&mut source(name, o), name, config.driver, &mut device, &ReplayOptions::default(), sink)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn functional(
    name: &str,
    o: &Options,
    driver: DriverConfig,
    caches: CacheConfig,
    sink: &mut dyn ReplaySink,
) -> ReplayStats {
    let mut golden = Iommu::new(caches);
    replay_functional(&mut source(name, o), name, driver, &mut golden, &ReplayOptions::default(), sink)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn iotlb(config: &mut Config, sets: usize, ways: usize) {
    config.iommu.iotlb.sets = sets;
    config.iommu.iotlb.ways = ways;
}

#[test]
fn timed_and_functional_replays_give_the_same_answers() {
    for name in ["nic", "nvme", "accel", "accel-strided", "passthrough", "nested"] {
        for (policy, walk_caches) in [(Policy::Strict, false), (Policy::Lazy, false), (Policy::Strict, true)] {
            let o = Options { seed: 11, devices: 3, count: Some(200), ..Options::default() };
            let mut config = Config::default();
            config.driver.policy = policy;
            if walk_caches {
                config.iommu.fs_walk_cache.sets = 4;
                config.iommu.fs_walk_cache.ways = 2;
                config.iommu.gs_walk_cache.sets = 4;
                config.iommu.gs_walk_cache.ways = 2;
            }
            let mut t = Answers::default();
            timed(name, &o, &config, &mut t);
            let mut f = Answers::default();
            functional(name, &o, config.driver, CacheConfig::default(), &mut f);
            // The timed replay reports accesses as they complete; order by line.
            t.0.sort_by_key(|a| a.0);
            f.0.sort_by_key(|a| a.0);
            assert!(f.0.len() > 100, "{name}: only {} accesses", f.0.len());
            assert_eq!(t.0.len(), f.0.len(), "{name} {policy:?} walk caches {walk_caches}");
            if let Some((a, b)) = t.0.iter().zip(&f.0).find(|(a, b)| a != b) {
                panic!("{name} {policy:?}: timed {a:?}, functional {b:?}");
            }
        }
    }
}

fn window_hit_rate(window: u64, sets: usize, ways: usize) -> f64 {
    let o = Options { seed: 5, window: Some(window), count: Some(30_000), ..Options::default() };
    let mut config = Config::default();
    iotlb(&mut config, sets, ways);
    let stats = timed("window", &o, &config, &mut NoSink);
    stats.counters.iotlb_hit_rate().unwrap()
}

#[test]
fn the_window_knee_sits_at_the_iotlb_reach_for_two_sizes() {
    for (sets, ways) in [(16, 4), (64, 4)] {
        let entries = (sets * ways) as u64;
        let reach = entries * 4096;
        // Well inside the reach: only the first touch of each page misses.
        let inside = window_hit_rate(reach / 2, sets, ways);
        assert!(inside > 0.97, "{entries} entries, window reach/2: hit rate {inside}");
        // Beyond it: close to E/W (set conflicts make it a little lower).
        for factor in [2u64, 4, 8] {
            let hit = window_hit_rate(reach * factor, sets, ways);
            let ideal = 1.0 / factor as f64;
            assert!(hit < ideal + 0.03 && hit > ideal - 0.12, "{entries} entries, window {factor}x reach: {hit}");
        }
    }
}

#[test]
fn lru_hits_never_fall_as_ways_grow() {
    for (name, count) in [("nic", 1500), ("nvme", 150), ("accel-strided", 4000)] {
        let o = Options { seed: 2, devices: 2, count: Some(count), ..Options::default() };
        let mut last = 0u64;
        for ways in [1usize, 2, 4, 8, 16] {
            let caches = CacheConfig {
                iotlb: Geometry { sets: 8, ways, replacement: Replacement::Lru },
                ..CacheConfig::default()
            };
            let s = functional(name, &o, DriverConfig::default(), caches, &mut NoSink);
            assert!(s.counters.iotlb_hit >= last, "{name}: {ways} ways hit {} < {last}", s.counters.iotlb_hit);
            last = s.counters.iotlb_hit;
        }
        assert!(last > 0, "{name}");
    }
}

#[test]
fn a_replay_is_deterministic() {
    let o = Options { seed: 9, devices: 4, count: Some(300), ..Options::default() };
    let run = || {
        let mut a = Answers::default();
        let s = timed("nvme", &o, &Config::default(), &mut a);
        (a.0, s.cycles, s.counters, s.latency.percentile(99.0))
    };
    assert_eq!(run(), run());
}
