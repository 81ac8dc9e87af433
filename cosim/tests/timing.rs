//! The timing model configured as the RTL (`rtl/model/<config>.toml`) predicts
//! the RTL's issue and completion cycles and its counters exactly, on random
//! stimulus with table changes and invalidations in flight; a model that is
//! off by one cycle of memory latency is caught, reported with both cycles, or
//! counted when differences are tolerated; a reproducer of a timing mismatch
//! replays in lockstep.

// `Failure` carries both answers in full (see lockstep.rs).
#![allow(clippy::result_large_err)]

use iommu_cosim::device::MemTiming;
use iommu_cosim::lockstep::{self, Failure, Lockstep};
use iommu_cosim::random::{generate, RandomOptions};
use iommu_model::timing::TimingConfig;

fn rtl_model(config: &str) -> TimingConfig {
    let text = iommu_cosim::model_toml(config).expect("a timing model for every configuration");
    iommu_traces::config::Config::from_toml(text, config).unwrap().timing().unwrap()
}

fn mem(t: &TimingConfig) -> MemTiming {
    MemTiming { latency: t.mem_latency, beat_cycles: t.mem_beat_cycles, outstanding: t.mem_outstanding }
}

fn run(
    config: &str,
    model: TimingConfig,
    rtl_mem: MemTiming,
    seed: u64,
    strict: bool,
) -> (Lockstep, Result<(), Failure>) {
    let w = generate(seed, &RandomOptions { count: 400, ..RandomOptions::default() });
    let dev = lockstep::device(config, rtl_mem, 50_000).unwrap();
    let mut ls = Lockstep::new(dev, w.regs, w.memory.clone(), w.bad_words.clone()).with_timing(model, strict);
    let r = ls.run(w.ops.iter().cloned());
    (ls, r)
}

#[test]
fn the_rtl_model_predicts_every_cycle_and_counter() {
    for config in ["small", "default"] {
        let t = rtl_model(config);
        for seed in 0..6 {
            let (ls, r) = run(config, t, mem(&t), seed, true);
            if let Err(f) = r {
                panic!("{config}, seed {seed}: {f}");
            }
            let st = &ls.timing.as_ref().unwrap().stats;
            assert_eq!(st.compared, ls.translations, "{config}, seed {seed}: every translation compared");
            assert_eq!(st.exact, st.compared);
            assert!(st.compared > 300);
            assert_eq!(st.model_latency.max(), st.rtl_latency.max());
        }
    }
}

#[test]
fn a_model_one_cycle_slower_per_access_is_caught_with_both_cycles() {
    let t = rtl_model("small");
    let slow = TimingConfig { mem_latency: t.mem_latency + 1, ..t };
    // Some random workloads never reach memory (iommu_mode Off, Bare): take the
    // first that does.
    let (ls, r) = (0..10)
        .map(|seed| run("small", slow, mem(&t), seed, true))
        .find(|(_, r)| r.is_err())
        .unwrap_or_else(|| panic!("a model with another memory latency matched the RTL on 10 workloads"));
    match r {
        Err(Failure::Timing { rtl, model, step, .. }) => {
            assert_eq!(rtl.0, model.0, "issued together");
            assert!(model.1 > rtl.1, "the slower model completes later: {model:?} against {rtl:?}");
            assert!(step < ls.history().len());
            // The reproducer (the run up to the request) fails the same way in
            // lockstep, and passes against the right model.
            let v = ls.vector("timing-repro", step);
            let (memory, ops) = iommu_cosim::op::from_vector(&v);
            let replay = |model: TimingConfig| {
                let dev = lockstep::device("small", mem(&t), 50_000).unwrap();
                let mut l = Lockstep::new(dev, v.regs, memory.clone(), v.bad_memory.clone()).with_timing(model, true);
                l.run(ops.clone())
            };
            assert!(matches!(replay(slow), Err(Failure::Timing { .. })));
            if let Err(f) = replay(t) {
                panic!("the reproducer fails against the RTL's own model: {f}");
            }
        }
        Err(other) => panic!("expected a timing mismatch, got {other}"),
        Ok(()) => panic!("a model with another memory latency matched the RTL"),
    }
}

#[test]
fn tolerated_differences_are_counted_and_the_run_goes_on() {
    let t = rtl_model("small");
    let slow = TimingConfig { mem_latency: t.mem_latency + 1, ..t };
    let mut found = None;
    for seed in 0..10 {
        let (ls, r) = run("small", slow, mem(&t), seed, false);
        if let Err(f) = r {
            panic!("seed {seed}: a tolerated timing difference stopped the run: {f}");
        }
        let st = ls.timing.as_ref().unwrap().stats.clone();
        if st.exact < st.compared {
            found = Some((ls.translations, st));
            break;
        }
    }
    let (translations, st) = found.expect("a model with another memory latency matched the RTL on 10 workloads");
    let ls_translations = translations;
    assert_eq!(st.compared, ls_translations);
    assert!(st.model_latency.mean() > st.rtl_latency.mean(), "the slower model's latencies are longer");
    assert!(st.first.as_deref().is_some_and(|s| s.contains("timing mismatch")));
}
