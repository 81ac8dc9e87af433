//! Generated workloads replayed through the driver model and the golden model:
//! every access of every workload translates, none faults, and with the IOMMU
//! doing the translation the traces mean what the generators say they mean.

use iommu_model::{CacheConfig, Iommu, Status};
use iommu_traces::driver::{DriverConfig, Policy};
use iommu_traces::gen::{build, events, Options, WORKLOADS};
use iommu_traces::replay::{replay_functional, AccessRecord, IterSource, ReplayOptions, ReplaySink};

/// Counts accesses and keeps the first failure.
#[derive(Default)]
struct Failures {
    accesses: u64,
    first: Option<String>,
}

impl ReplaySink for Failures {
    fn access(&mut self, r: &AccessRecord) -> Result<(), String> {
        self.accesses += 1;
        if r.response.status != Status::Success && self.first.is_none() {
            self.first = Some(format!("event {}: {:?} -> {:?}", r.line, r.event, r.response));
        }
        Ok(())
    }
}

#[test]
fn every_generated_access_translates_without_a_fault() {
    for (name, _) in WORKLOADS {
        for policy in [Policy::Strict, Policy::Lazy] {
            let count = if name == "window" { 50 } else { 300 };
            let o = Options { seed: 4, devices: 2, count: Some(count), ..Options::default() };
            let mut source = IterSource::new(events(build(name, &o).unwrap()));
            let cfg = DriverConfig { policy, ..DriverConfig::default() };
            let mut golden = Iommu::new(CacheConfig::default());
            let mut sink = Failures::default();
            let stats = replay_functional(&mut source, name, cfg, &mut golden, &ReplayOptions::default(), &mut sink)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(sink.first, None, "{name} {policy:?}");
            assert!(stats.faults_by_cause.is_empty(), "{name}: {:?}", stats.faults_by_cause);
            assert!(stats.accesses > 0 && stats.accesses == sink.accesses, "{name}");
        }
    }
}
