//! What the RTL promises beyond its answers: one translation per cycle on IOTLB
//! hits, hits served while walks are outstanding, and a hang reported as such.
//! Measured on the RTL itself (cycles of issue and completion), with tables built
//! by the model's table builder.

use iommu_cosim::device::{DeviceError, MemTiming, RtlDevice};
use iommu_model::context::DeviceContext;
use iommu_model::pte::{bits, Scheme};
use iommu_model::tables::{self, tc, DeviceDirectory, PageSize, PageTable, Pages, Space};
use iommu_model::timing::{Completion, CycleDevice};
use iommu_model::{Access, Capabilities, Ddtp, DeviceId, Fctl, Iova, Regs, Request, SparseMemory, Status};

const DID: u32 = 5;
const PAGES: u64 = 32;

/// One device, Sv39, `PAGES` 4 KiB pages at IOVA 0x1000_0000 mapped to SPA
/// 0x8000_0000 + ...
fn setup() -> (Regs, SparseMemory) {
    let mut mem = SparseMemory::new();
    let mut pages = Pages::new(0x10_0000, 0x100_0000);
    let ddt = DeviceDirectory::new(&mut mem, &mut pages, 1, false).unwrap();
    let pt = PageTable::new(&mut mem, &mut pages, Space::Host, Scheme::SV39).unwrap();
    for i in 0..PAGES {
        let f = bits::R | bits::W | bits::U | bits::A | bits::D;
        pt.map(&mut mem, &mut pages, 0x1000_0000 + i * 4096, 0x8000_0000 + i * 4096, PageSize::K4, f).unwrap();
    }
    let dc = DeviceContext {
        tc: tc::V,
        fsc: tables::mode_ppn(tables::first_stage_mode(Scheme::SV39), pt.root_ppn()),
        ..Default::default()
    };
    ddt.set(&mut mem, &mut pages, DID, &dc).unwrap();
    // capabilities: version 1.0, Sv39, PAS 56.
    let regs = Regs { capabilities: Capabilities(0x10 | 1 << 9 | 56 << 32), fctl: Fctl(0), ddtp: Ddtp(ddt.ddtp()) };
    (regs, mem)
}

fn req(page: u64) -> Request {
    Request {
        device_id: DeviceId(DID),
        pid: None,
        privileged: false,
        iova: Iova(0x1000_0000 + page * 4096 + 8),
        access: Access::Read,
        len: 8,
    }
}

fn device(config: &str) -> RtlDevice {
    RtlDevice::new(config, MemTiming { latency: 50, beat_cycles: 1, outstanding: 16 }).unwrap()
}

/// Offers `reqs` back to back (each as soon as the previous is taken) and runs
/// until all complete; returns the completions by tag.
fn run(dev: &mut RtlDevice, mem: &mut SparseMemory, reqs: &[(u32, Request)]) -> Vec<Completion> {
    let mut out = Vec::new();
    let mut next = 0;
    for _ in 0..100_000 {
        if next < reqs.len() && dev.try_issue(reqs[next].0, &reqs[next].1) {
            next += 1;
        }
        dev.tick(mem);
        dev.take_completions(&mut out);
        assert!(dev.error().is_none(), "{:?}", dev.error());
        if next == reqs.len() && out.len() == reqs.len() {
            break;
        }
    }
    assert_eq!(out.len(), reqs.len(), "not every request completed");
    out.sort_by_key(|c| c.tag);
    out
}

#[test]
fn back_to_back_hits_complete_one_per_cycle() {
    for config in iommu_cosim::configs().unwrap().iter().filter(|c| c.params.fault_injection == 0) {
        let (regs, mut mem) = setup();
        let mut dev = device(&config.name);
        CycleDevice::reset(&mut dev, &regs);
        // Warm: 8 pages (fits every configuration's IOTLB).
        let warm: Vec<_> = (0..8).map(|p| (p as u32, req(p))).collect();
        run(&mut dev, &mut mem, &warm);
        // 64 hits back to back.
        let hits: Vec<_> = (0..64).map(|k| (100 + k as u32, req(k % 8))).collect();
        let done = run(&mut dev, &mut mem, &hits);
        for w in done.windows(2) {
            assert_eq!(
                w[1].issued,
                w[0].issued + 1,
                "{}: a hit was not taken the cycle after the previous",
                config.name
            );
            assert_eq!(w[1].completed, w[0].completed + 1, "{}: hits did not complete one per cycle", config.name);
        }
        for c in &done {
            assert_eq!(c.response.status, Status::Success);
            assert_eq!(c.completed - c.issued, 2, "{}: a hit's latency is the two lookup stages", config.name);
        }
    }
}

#[test]
fn hits_complete_while_walks_are_outstanding() {
    for config in iommu_cosim::configs().unwrap().iter().filter(|c| c.params.fault_injection == 0) {
        let (regs, mut mem) = setup();
        let mut dev = device(&config.name);
        CycleDevice::reset(&mut dev, &regs);
        run(&mut dev, &mut mem, &[(0, req(0))]);
        // A miss (page 20, never touched) then hits on page 0.
        let mut reqs = vec![(1, req(20))];
        reqs.extend((0..8).map(|k| (10 + k, req(0))));
        let done = run(&mut dev, &mut mem, &reqs);
        let walk = &done[0];
        assert!(walk.completed - walk.issued > 100, "{}: the miss should walk memory", config.name);
        for hit in &done[1..] {
            assert!(
                hit.completed < walk.completed,
                "{}: hit at cycle {} waited for the walk ending at {}",
                config.name,
                hit.completed,
                walk.completed
            );
        }
    }
}

#[test]
fn a_request_that_never_completes_is_reported_as_a_hang() {
    let (regs, mut mem) = setup();
    // Memory that never answers: more latency than the hang bound.
    let mut dev = RtlDevice::new("default", MemTiming { latency: 10_000, beat_cycles: 1, outstanding: 16 }).unwrap();
    dev.set_hang_cycles(500);
    CycleDevice::reset(&mut dev, &regs);
    assert!(dev.try_issue(7, &req(3)));
    for _ in 0..1000 {
        dev.tick(&mut mem);
    }
    match dev.error() {
        Some(DeviceError::Hang { tag, request, .. }) => {
            assert_eq!(*tag, 7);
            assert_eq!(request.iova, req(3).iova);
        }
        other => panic!("expected a hang report, got {other:?}"),
    }
}
