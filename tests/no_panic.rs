//! No input makes the vector reader or the model panic: arbitrary text, mutated
//! vector lines, and random vectors whose tables are random words (malformed
//! tables are not bad input: they give faults).

use iommu_model::{
    Access, CacheConfig, Capabilities, Ddtp, DeviceId, Fctl, Geometry, Iommu, Iova, ProcessId, Regs, Request,
};
use iommu_traces::conformance::run_vector;
use iommu_traces::vector::{parse_line, Expected, Vector, VectorStep};
use proptest::prelude::*;

const SAMPLE: &str = include_str!("vectors/sample-two-stage.jsonl");

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        let _ = parse_line(&s, "fuzz", 1);
    }

    #[test]
    fn mutated_sample_lines_never_panic(line in 0usize..30, at in any::<prop::sample::Index>(), len in 0usize..40, with in "[ -~]{0,12}") {
        let src = SAMPLE.lines().nth(line).unwrap();
        let at = at.index(src.len());
        let end = (at + len).min(src.len());
        if !src.is_char_boundary(at) || !src.is_char_boundary(end) {
            return Ok(());
        }
        let mutated = format!("{}{}{}", &src[..at], with, &src[end..]);
        if let Ok(v) = parse_line(&mutated, "fuzz", 1) {
            let _ = run_vector(&mut Iommu::new(CacheConfig::DISABLED), &v);
        }
    }
}

fn access(n: u8) -> Access {
    match n % 3 {
        0 => Access::Read,
        1 => Access::Write,
        _ => Access::Exec,
    }
}

prop_compose! {
    /// A word that is often shaped like a table entry pointing back into the
    /// tables' region, sometimes fully random.
    fn table_word()(kind in 0u8..4, ppn in 0u64..64, flags in any::<u16>(), raw in any::<u64>(), high in any::<u8>()) -> u64 {
        match kind {
            0 => raw,
            1 => ((0x80000 + ppn) << 10) | u64::from(flags & 0x3ff),
            2 => ((0x80000 + ppn) << 10) | u64::from(flags & 0x3ff) | (u64::from(high) << 56),
            _ => (u64::from(flags >> 12) << 60) | ((0x80000 + ppn) & !3),
        }
    }
}

prop_compose! {
    fn random_step()(kind in 0u8..8, did in 0u32..0x100, pid in prop::option::of(0u32..0x20), privileged in any::<bool>(),
                     iova in any::<u64>(), small in 0u64..0x10_0000, acc in any::<u8>(), w0 in any::<u64>(), w1 in any::<u64>(),
                     addr in 0u64..0x4_0000, value in table_word()) -> VectorStep {
        match kind {
            0..=5 => VectorStep::Translate {
                req: Request {
                    device_id: DeviceId(did),
                    pid: pid.map(ProcessId),
                    privileged: privileged && pid.is_some(),
                    iova: Iova(if kind < 3 { small << 12 | (iova & 0xfff) } else { iova }),
                    access: access(acc),
                    len: 8,
                },
                expect: Expected { status: iommu_model::Status::Success, spa: Some(0), fault: None },
            },
            6 => VectorStep::Command { words: [w0 & if w1 & 1 == 0 { 0x3ff } else { u64::MAX }, w1] },
            _ => VectorStep::WriteMemory { addr: 0x8000_0000 + (addr & !7), value },
        }
    }
}

prop_compose! {
    fn random_vector()(caps in any::<u64>(), mode in 0u64..6, fctl in 0u64..8,
                       memory in prop::collection::vec((0u64..0x4_0000, table_word()), 0..200),
                       bad in prop::collection::vec(0u64..0x4_0000, 0..4),
                       steps in prop::collection::vec(random_step(), 1..12)) -> Vector {
        Vector {
            name: "random".into(),
            features: vec![],
            regs: Regs { capabilities: Capabilities(caps), fctl: Fctl(fctl), ddtp: Ddtp((0x80000 << 10) | mode) },
            memory: memory.into_iter().map(|(a, w)| (0x8000_0000 + (a & !7), w)).collect(),
            bad_memory: bad.into_iter().map(|a| 0x8000_0000 + (a & !7)).collect(),
            steps,
            memory_after: vec![],
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_tables_and_requests_never_panic(v in random_vector()) {
        let big = Geometry::new(8, 4);
        for config in [CacheConfig::DISABLED, CacheConfig { iotlb: big, ddtc: big, pdtc: big }] {
            // Expectations are arbitrary: the vector may fail, but must not panic.
            let _ = run_vector(&mut Iommu::new(config), &v);
        }
    }
}
