//! Every sample conformance vector on the RTL, for every configuration built.

use iommu_cosim::device::{MemTiming, RtlDevice};
use iommu_traces::conformance::Summary;

#[test]
fn sample_vectors_pass_on_the_rtl() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors");
    for config in iommu_cosim::configs().expect("configs").iter().filter(|c| c.params.fault_injection == 0) {
        let mut dev =
            RtlDevice::new(&config.name, MemTiming { latency: 5, beat_cycles: 1, outstanding: 4 }).expect("model");
        let mut summary = Summary::default();
        let mut files: Vec<_> = std::fs::read_dir(dir).expect("vectors").flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files.iter().filter(|p| p.extension().is_some_and(|e| e == "jsonl")) {
            let text = std::fs::read_to_string(p).expect("read");
            summary.run_file(&mut dev, &p.display().to_string(), &text);
            if let Some(e) = dev.error() {
                panic!("{}: {e}", config.name);
            }
        }
        println!("== {}\n{summary}", config.name);
        assert!(summary.ok(), "configuration {}: vectors failed\n{summary}", config.name);
    }
}
