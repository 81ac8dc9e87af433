//! Rule-by-rule tests of the translation process. Every table is laid out with
//! [`crate::tables`]; expected values come from the specification's text (cited
//! per test), not from running the model. Each scenario runs with every cache
//! disabled and with large caches, so caching is shown never to change an answer.

use crate::addr::{DeviceId, Iova, ProcessId, Spa};
use crate::cache::Geometry;
use crate::caches::CacheConfig;
use crate::command::encode;
use crate::context::{DeviceContext, PdtMode, ProcessContext};
use crate::fault::{Cause, FaultRecord, Ttyp};
use crate::iommu::Iommu;
use crate::memory::{Memory, SparseMemory};
use crate::pte::{bits, Pte, Scheme};
use crate::regs::{Capabilities, Ddtp, Fctl, Regs};
use crate::request::{Access, Request, Response, Status};
use crate::tables::{self, pc_ta, tc, DeviceDirectory, PageSize, PageTable, Pages, ProcessDirectory, Space};
use crate::translator::Translator;

const SV39: u64 = 1 << 9;
const SV48: u64 = 1 << 10;
const SV57: u64 = 1 << 11;
const SVRSW: u64 = 1 << 14;
const SVPBMT: u64 = 1 << 15;
const SV39X4: u64 = 1 << 17;
const SV48X4: u64 = 1 << 18;
const MSI_FLAT: u64 = 1 << 22;
const AMO_HWAD: u64 = 1 << 24;
const PAS_46: u64 = 46 << 32;
const PD8: u64 = 1 << 38;
const PD17: u64 = 1 << 39;
const PD20: u64 = 1 << 40;
const ALL: u64 = 0x10 | SV39 | SV48 | SV57 | SVPBMT | SV39X4 | SV48X4 | AMO_HWAD | PAS_46 | PD8 | PD17 | PD20;

const RW: u64 = bits::R | bits::W | bits::A | bits::D;
const URW: u64 = RW | bits::U;
const URWX: u64 = URW | bits::X;

fn configs() -> [CacheConfig; 2] {
    let big = Geometry::new(64, 8);
    [CacheConfig::DISABLED, CacheConfig { iotlb: big, ddtc: big, pdtc: big }]
}

/// Memory, a page allocator, a device directory and the registers that select it.
struct World {
    mem: SparseMemory,
    pages: Pages,
    ddt: DeviceDirectory,
    regs: Regs,
}

impl World {
    fn new(caps: u64) -> Self {
        Self::with_ddt(caps, 3)
    }

    fn with_ddt(caps: u64, levels: u8) -> Self {
        let mut mem = SparseMemory::new();
        let mut pages = Pages::new(0x8000_0000, 0xc000_0000);
        let ddt = DeviceDirectory::new(&mut mem, &mut pages, levels, caps & MSI_FLAT != 0).unwrap();
        let regs = Regs { capabilities: Capabilities(caps), fctl: Fctl(0), ddtp: Ddtp(ddt.ddtp()) };
        World { mem, pages, ddt, regs }
    }

    fn host_table(&mut self, scheme: Scheme) -> PageTable {
        PageTable::new(&mut self.mem, &mut self.pages, Space::Host, scheme).unwrap()
    }

    fn device(&mut self, did: u32, dc: DeviceContext) -> u64 {
        self.ddt.set(&mut self.mem, &mut self.pages, did, &dc).unwrap()
    }

    /// A device translated by a first-stage table only.
    fn single_stage(&mut self, did: u32, scheme: Scheme, extra_tc: u64) -> PageTable {
        let pt = self.host_table(scheme);
        let dc = DeviceContext {
            tc: tc::V | extra_tc,
            ta: 0x42 << 12,
            fsc: tables::mode_ppn(tables::first_stage_mode(scheme), pt.root_ppn()),
            ..Default::default()
        };
        self.device(did, dc);
        pt
    }

    /// A VM whose guest RAM (GPA 0..64 MiB) sits at SPA 0x9000_0000, mapped by
    /// 2 MiB G-stage pages with `gflags`; returns the G-stage table and a
    /// guest-page allocator.
    fn vm(&mut self, gflags: u64) -> (PageTable, Pages) {
        let g = self.host_table(Scheme::SV39X4);
        for i in 0..32u64 {
            g.map(&mut self.mem, &mut self.pages, i << 21, 0x9000_0000 + (i << 21), PageSize::M2, gflags).unwrap();
        }
        (g, Pages::new(0x10_0000, 0x400_0000))
    }

    fn run(&mut self, config: CacheConfig, reqs: &[Request]) -> Vec<Response> {
        let mut m = Iommu::with_regs(config, self.regs);
        reqs.iter().map(|r| m.translate(&mut self.mem, r)).collect()
    }

    /// Runs `req` under every cache configuration; they must agree.
    fn translate(&mut self, req: Request) -> Response {
        let [a, b] = configs();
        // Twice on the cached model: the second answer may come from the caches.
        let cold = self.run(a, &[req]);
        let mut m = Iommu::with_regs(b, self.regs);
        let mem_before = self.mem.clone();
        let first = m.translate(&mut self.mem, &req);
        let second = m.translate(&mut self.mem, &req);
        let mut replay = mem_before;
        let cold2 = Iommu::with_regs(a, self.regs).translate(&mut replay, &req);
        assert_eq!(cold[0].status, first.status, "caching changed the answer");
        assert_eq!(cold[0].fault, first.fault);
        assert_eq!(first.status, second.status, "a cached answer differs");
        assert_eq!(first.spa, second.spa);
        assert_eq!(first.fault, second.fault);
        assert_eq!(cold2.status, first.status);
        first
    }
}

fn req(did: u32, iova: u64, access: Access) -> Request {
    Request { device_id: DeviceId(did), pid: None, privileged: false, iova: Iova(iova), access, len: 8 }
}

fn with_pid(r: Request, pid: u32, privileged: bool) -> Request {
    Request { pid: Some(ProcessId(pid)), privileged, ..r }
}

fn cause(r: &Response) -> Option<u16> {
    r.fault.map(|f| f.cause.0)
}

fn reported(r: &Response) -> Option<FaultRecord> {
    r.reported_fault().copied()
}

// ---- iommu_mode and device IDs --------------------------------------------------

#[test]
fn off_disallows_everything_and_bare_passes_through() {
    let mut w = World::new(ALL);
    w.regs.ddtp = Ddtp(0);
    let r = w.translate(req(5, 0x1234, Access::Write));
    assert_eq!(r.status, Status::UnsupportedRequest);
    let f = reported(&r).unwrap();
    assert_eq!(
        (f.cause, f.ttyp, f.did, f.iotval),
        (Cause::ALL_DISALLOWED, Ttyp::UNTRANSLATED_WRITE, DeviceId(5), 0x1234)
    );
    w.regs.ddtp = Ddtp(1);
    let r = w.translate(req(5, 0xdead_beef, Access::Read));
    assert_eq!((r.status, r.spa), (Status::Success, Spa(0xdead_beef)));
}

#[test]
fn device_ids_wider_than_the_mode_are_disallowed_and_reported_even_under_dtf() {
    // "If the device_id is wider than that supported by the IOMMU mode ... 260";
    // no DC is located, so DTF is taken as 0.
    for (levels, extended, ok, wide) in
        [(1u8, false, 0x7f, 0x80), (1, true, 0x3f, 0x40), (2, false, 0xffff, 0x1_0000), (2, true, 0x7fff, 0x8000)]
    {
        let caps = ALL | if extended { MSI_FLAT } else { 0 };
        let mut w = World::with_ddt(caps, levels);
        w.single_stage(ok, Scheme::SV39, tc::DTF);
        let r = w.translate(req(wide, 0x1000, Access::Read));
        assert_eq!(
            reported(&r).map(|f| f.cause),
            Some(Cause::TRANSACTION_DISALLOWED),
            "levels {levels} ext {extended}"
        );
        // The widest legal ID reaches its (empty) first stage: a page fault that DTF hides.
        let r = w.translate(req(ok, 0x1000, Access::Read));
        assert_eq!(cause(&r), Some(13));
        assert!(reported(&r).is_none());
    }
}

// ---- the DDT walk and device-context checks ----------------------------------

#[test]
fn ddt_faults_are_reported_regardless_of_dtf() {
    let mut w = World::new(ALL);
    let dc_addr = w.device(7, DeviceContext { tc: tc::V | tc::DTF | (1 << 12), ..Default::default() });
    // A reserved tc bit: misconfigured (259), reported although DTF is set.
    assert_eq!(reported(&w.translate(req(7, 0, Access::Read))).map(|f| f.cause.0), Some(259));
    // V=0: not valid (258).
    w.mem.poke(Spa(dc_addr), tc::DTF);
    assert_eq!(reported(&w.translate(req(7, 0, Access::Read))).map(|f| f.cause.0), Some(258));
    // An untouched device: its non-leaf entry is missing (258).
    assert_eq!(cause(&w.translate(req(0x10_0000, 0, Access::Read))), Some(258));
    // A load access fault on the device context (257).
    w.mem.poke(Spa(dc_addr), tc::V);
    w.mem.mark_bad(Spa(dc_addr + 16));
    assert_eq!(
        reported(&w.translate(req(7, 0, Access::Exec))).map(|f| (f.cause.0, f.ttyp)),
        Some((257, Ttyp::UNTRANSLATED_EXEC))
    );
}

#[test]
fn ddt_non_leaf_reserved_bits_are_misconfigured() {
    let mut w = World::new(ALL);
    w.single_stage(0x1_0203, Scheme::SV39, 0);
    let root_entry = Spa(w.ddt.root + 8); // DDI[2] of 0x1_0203 is 1: the second entry
    let e = w.mem.peek(root_entry);
    w.mem.poke(root_entry, e | (1 << 5));
    assert_eq!(cause(&w.translate(req(0x1_0203, 0, Access::Read))), Some(259));
    w.mem.poke(root_entry, e | (1 << 60));
    assert_eq!(cause(&w.translate(req(0x1_0203, 0, Access::Read))), Some(259));
    w.mem.poke(root_entry, e & !1);
    assert_eq!(cause(&w.translate(req(0x1_0203, 0, Access::Read))), Some(258));
}

#[test]
fn device_context_checks_give_259() {
    // Each row breaks one rule of "Device-context configuration checks".
    let caps = ALL & !AMO_HWAD & !PD20;
    let pt_ppn = 0x8_0000;
    let cases: &[(&str, DeviceContext)] = &[
        ("EN_ATS without ATS", DeviceContext { tc: tc::V | tc::EN_ATS, ..Default::default() }),
        (
            "PDTV with unsupported PD20",
            DeviceContext { tc: tc::V | tc::PDTV, fsc: tables::mode_ppn(3, pt_ppn), ..Default::default() },
        ),
        ("reserved iosatp mode", DeviceContext { tc: tc::V, fsc: tables::mode_ppn(11, pt_ppn), ..Default::default() }),
        ("DPE without PDTV", DeviceContext { tc: tc::V | tc::DPE, ..Default::default() }),
        ("Sv57x4 not supported", DeviceContext { tc: tc::V, iohgatp: (10 << 60) | 0x8_0000, ..Default::default() }),
        (
            "iohgatp root not 16 KiB aligned",
            DeviceContext { tc: tc::V, iohgatp: (8 << 60) | 0x8_0001, ..Default::default() },
        ),
        ("SADE without AMO_HWAD", DeviceContext { tc: tc::V | tc::SADE, ..Default::default() }),
        ("GADE without AMO_HWAD", DeviceContext { tc: tc::V | tc::GADE, ..Default::default() }),
        ("SBE without END", DeviceContext { tc: tc::V | tc::SBE, ..Default::default() }),
        ("SXL without 32-bit schemes", DeviceContext { tc: tc::V | tc::SXL, ..Default::default() }),
        ("reserved ta bits", DeviceContext { tc: tc::V, ta: 1 << 35, ..Default::default() }),
        ("RCID without QOSID", DeviceContext { tc: tc::V, ta: 1 << 40, ..Default::default() }),
    ];
    for (what, dc) in cases {
        let mut w = World::new(caps);
        w.device(3, *dc);
        let r = w.translate(req(3, 0x1000, Access::Read));
        assert_eq!(reported(&r).map(|f| f.cause), Some(Cause::DDT_MISCONFIGURED), "{what}");
    }
}

// ---- DTF -------------------------------------------------------------------------

#[test]
fn dtf_hides_translation_faults_but_not_the_abort() {
    let mut w = World::new(ALL);
    w.single_stage(1, Scheme::SV39, tc::DTF);
    let r = w.translate(req(1, 0x5000, Access::Write));
    assert_eq!(r.status, Status::UnsupportedRequest, "the request is still aborted");
    assert_eq!(cause(&r), Some(15));
    assert!(r.suppressed && reported(&r).is_none());
    // A process ID with PDTV=0 is 260, which DTF also hides.
    let r = w.translate(with_pid(req(1, 0x5000, Access::Read), 3, false));
    assert_eq!(cause(&r), Some(260));
    assert!(reported(&r).is_none());
    // Without DTF both are reported.
    let mut w = World::new(ALL);
    w.single_stage(1, Scheme::SV39, 0);
    assert_eq!(reported(&w.translate(req(1, 0x5000, Access::Write))).map(|f| f.cause.0), Some(15));
}

// ---- process IDs and the PDT -------------------------------------------------

fn pdt_device(w: &mut World, did: u32, mode: PdtMode, extra_tc: u64) -> (ProcessDirectory, PageTable) {
    let pdt = ProcessDirectory::new(&mut w.mem, &mut w.pages, Space::Host, mode).unwrap();
    let pt = w.host_table(Scheme::SV48);
    w.device(did, DeviceContext { tc: tc::V | tc::PDTV | extra_tc, fsc: pdt.pdtp(), ..Default::default() });
    (pdt, pt)
}

fn pc(pt: &PageTable, ta: u64) -> ProcessContext {
    ProcessContext { ta: pc_ta::V | ta, fsc: tables::mode_ppn(tables::first_stage_mode(pt.scheme), pt.root_ppn()) }
}

#[test]
fn transaction_type_disallowed_cases() {
    let mut w = World::new(ALL);
    let (pdt, pt) = pdt_device(&mut w, 2, PdtMode::Pd8, 0);
    pt.map(&mut w.mem, &mut w.pages, 0x4000, 0x7000, PageSize::K4, URW).unwrap();
    pdt.set(&mut w.mem, &mut w.pages, 5, &pc(&pt, 7 << 12)).unwrap();
    // A process ID wider than PD8 allows.
    let r = w.translate(with_pid(req(2, 0x4000, Access::Read), 0x100, false));
    assert_eq!(cause(&r), Some(260));
    // Supervisor privilege without ENS.
    let r = w.translate(with_pid(req(2, 0x4000, Access::Read), 5, true));
    assert_eq!(reported(&r).map(|f| (f.cause.0, f.pv, f.privileged, f.pid)), Some((260, true, true, 5)));
    // The same as a user request succeeds.
    let r = w.translate(with_pid(req(2, 0x4008, Access::Read), 5, false));
    assert_eq!((r.status, r.spa), (Status::Success, Spa(0x7008)));
    // A process ID given to a device without PDTV.
    w.single_stage(9, Scheme::SV39, 0);
    assert_eq!(cause(&w.translate(with_pid(req(9, 0, Access::Read), 1, false))), Some(260));
}

#[test]
fn no_process_id_uses_pid_zero_only_with_dpe() {
    let mut w = World::new(ALL);
    let (pdt, pt) = pdt_device(&mut w, 2, PdtMode::Pd17, tc::DPE);
    pt.map(&mut w.mem, &mut w.pages, 0x4000, 0x7000, PageSize::K4, URW).unwrap();
    pdt.set(&mut w.mem, &mut w.pages, 0, &pc(&pt, 0)).unwrap();
    let r = w.translate(req(2, 0x4000, Access::Read));
    assert_eq!(r.spa, Spa(0x7000));
    // Without DPE the first stage is Bare: the IOVA is the address.
    let (_, _) = pdt_device(&mut w, 3, PdtMode::Pd17, 0);
    let r = w.translate(req(3, 0x4000, Access::Read));
    assert_eq!(r.spa, Spa(0x4000));
}

#[test]
fn supervisor_requests_follow_ens_and_sum() {
    let mut w = World::new(ALL);
    let (pdt, pt) = pdt_device(&mut w, 2, PdtMode::Pd20, 0);
    pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x9000, PageSize::K4, URWX).unwrap();
    pt.map(&mut w.mem, &mut w.pages, 0x2000, 0xa000, PageSize::K4, RW | bits::X).unwrap();
    pdt.set(&mut w.mem, &mut w.pages, 0xf_0001, &pc(&pt, pc_ta::ENS)).unwrap();
    pdt.set(&mut w.mem, &mut w.pages, 0xf_0002, &pc(&pt, pc_ta::ENS | pc_ta::SUM)).unwrap();
    let s = |w: &mut World, pid, iova, access| w.translate(with_pid(req(2, iova, access), pid, true));
    assert_eq!(cause(&s(&mut w, 0xf_0001, 0x1000, Access::Read)), Some(13), "user page, SUM=0");
    assert_eq!(s(&mut w, 0xf_0002, 0x1000, Access::Write).spa, Spa(0x9000), "user page, SUM=1");
    assert_eq!(cause(&s(&mut w, 0xf_0002, 0x1000, Access::Exec)), Some(12), "never execute user pages");
    assert_eq!(s(&mut w, 0xf_0001, 0x2000, Access::Exec).spa, Spa(0xa000));
    // A user request may not touch a supervisor page.
    assert_eq!(cause(&w.translate(with_pid(req(2, 0x2000, Access::Read), 0xf_0001, false))), Some(13));
}

#[test]
fn pdt_faults_266_and_267_and_265() {
    let mut w = World::new(ALL);
    let (pdt, pt) = pdt_device(&mut w, 2, PdtMode::Pd17, 0);
    let pc_addr = pdt.set(&mut w.mem, &mut w.pages, 0x1_0005, &pc(&pt, 0)).unwrap();
    let r = |w: &mut World, pid| cause(&w.translate(with_pid(req(2, 0, Access::Read), pid, false)));
    // Another leaf page never created: its non-leaf entry is invalid.
    assert_eq!(r(&mut w, 0x2), Some(266));
    // A reserved bit in the process context.
    w.mem.poke(Spa(pc_addr), pc_ta::V | (1 << 40));
    assert_eq!(r(&mut w, 0x1_0005), Some(267));
    // A first-stage mode the capabilities lack.
    let mut w2 = World::new(ALL & !SV57);
    let (pdt2, _) = pdt_device(&mut w2, 2, PdtMode::Pd8, 0);
    pdt2.set(&mut w2.mem, &mut w2.pages, 1, &ProcessContext { ta: pc_ta::V, fsc: tables::mode_ppn(10, 0x8000) })
        .unwrap();
    assert_eq!(r(&mut w2, 1), Some(267));
    // PC V=0.
    w.mem.poke(Spa(pc_addr), 0);
    assert_eq!(r(&mut w, 0x1_0005), Some(266));
    // A reserved bit in a non-leaf PDT entry.
    let root_entry = Spa(pdt.root + 0x100 * 8); // PDI[1] of 0x1_0005
    let e = w.mem.peek(root_entry);
    w.mem.poke(root_entry, e | (1 << 3));
    assert_eq!(r(&mut w, 0x1_0005), Some(267));
    // A load access fault on the directory.
    w.mem.poke(root_entry, e);
    w.mem.mark_bad(root_entry);
    assert_eq!(r(&mut w, 0x1_0005), Some(265));
}

/// A VM device whose PDT and first-stage tables live in guest memory.
fn guest_pdt_device(w: &mut World, gflags: u64, extra_tc: u64) -> (PageTable, Pages, ProcessDirectory, PageTable) {
    let (g, mut guest) = w.vm(gflags);
    let pdt = ProcessDirectory::new(&mut w.mem, &mut guest, Space::Guest(g), PdtMode::Pd8).unwrap();
    let fs = PageTable::new(&mut w.mem, &mut guest, Space::Guest(g), Scheme::SV39).unwrap();
    w.device(
        4,
        DeviceContext {
            tc: tc::V | tc::PDTV | extra_tc,
            iohgatp: tables::iohgatp(Some(Scheme::SV39X4), 9, g.root_ppn()),
            fsc: pdt.pdtp(),
            ..Default::default()
        },
    );
    (g, guest, pdt, fs)
}

#[test]
fn pdt_under_a_g_stage_reports_guest_page_faults_as_implicit_reads() {
    // "any guest-page fault exception raised by the second stage is always
    // reported using the original access type" and "If a guest-page fault was
    // caused by implicit memory access to read PDT entries, then bit 0 of iotval2
    // is reported as 1 and bit 1 as 0."
    let mut w = World::new(ALL);
    let (g, mut guest, pdt, fs) = guest_pdt_device(&mut w, URW, 0);
    let pc_gpa = pdt.set(&mut w.mem, &mut w.pages, 3, &pc(&fs, 0)).unwrap();
    let _ = &mut guest;
    // Make the G-stage page holding the PDT not user-accessible.
    let leaf_gpa = pc_gpa & !0x1f_ffff;
    let (_, leaf) = g.lookup(&mut w.mem, leaf_gpa).unwrap();
    g.set_leaf_pte(&mut w.mem, leaf_gpa, Pte(leaf.0 & !bits::U)).unwrap();
    for (access, want) in [(Access::Read, 21), (Access::Write, 23), (Access::Exec, 20)] {
        let r = w.translate(with_pid(req(4, 0x1000, access), 3, false));
        let f = reported(&r).unwrap();
        assert_eq!(f.cause.0, want);
        assert_eq!(f.iotval2 & !0xfff, pc_gpa & !0xfff);
        assert_eq!(f.iotval2 & 3, 1, "implicit read: bit 0 set, bit 1 clear");
    }
}

#[test]
fn pdt_under_a_g_stage_access_faults_are_265_and_dtf_hides_265_to_267() {
    let mut w = World::new(ALL);
    let (g, _guest, pdt, fs) = guest_pdt_device(&mut w, URW, tc::DTF);
    let pc_gpa = pdt.set(&mut w.mem, &mut w.pages, 3, &pc(&fs, 0)).unwrap();
    // Break the G-stage walk for the PDT page: a G-stage PTE read faults.
    let gpte = g.pte_addr(&mut w.mem, pc_gpa, 1).unwrap().unwrap();
    w.mem.mark_bad(Spa(gpte));
    let r = w.translate(with_pid(req(4, 0x1000, Access::Write), 3, false));
    assert_eq!(cause(&r), Some(265));
    assert!(reported(&r).is_none(), "DTF hides 265");
    // The PC itself at a bad address.
    let mut w = World::new(ALL);
    let (g, _guest, pdt, fs) = guest_pdt_device(&mut w, URW, 0);
    let pc_gpa = pdt.set(&mut w.mem, &mut w.pages, 3, &pc(&fs, 0)).unwrap();
    let pc_spa = Space::Guest(g).to_spa(&mut w.mem, pc_gpa).unwrap();
    w.mem.mark_bad(Spa(pc_spa + 8));
    assert_eq!(reported(&w.translate(with_pid(req(4, 0x1000, Access::Read), 3, false))).map(|f| f.cause.0), Some(265));
}

// ---- first stage -------------------------------------------------------------

#[test]
fn sv39_sv48_sv57_map_every_page_size() {
    for (scheme, caps_ok) in [(Scheme::SV39, true), (Scheme::SV48, true), (Scheme::SV57, true)] {
        assert!(caps_ok);
        let mut w = World::new(ALL);
        let pt = w.single_stage(1, scheme, 0);
        for level in 0..scheme.levels {
            let size = 1u64 << scheme.page_shift(level);
            let va = size * 3;
            let pa = (size * 5).min(1 << 45);
            let pa = pa & !(size - 1);
            if pa == 0 || level > 3 {
                continue;
            }
            pt.map(&mut w.mem, &mut w.pages, va, pa, PageSize::Level(level), URW).unwrap();
            let r = w.translate(req(1, va + size / 2 + 8, Access::Read));
            assert_eq!(r.spa, Spa(pa + size / 2 + 8), "{scheme:?} level {level}");
        }
    }
}

#[test]
fn non_canonical_iovas_page_fault() {
    let mut w = World::new(ALL);
    w.single_stage(1, Scheme::SV39, 0);
    let r = w.translate(req(1, 1 << 39, Access::Read));
    assert_eq!(cause(&r), Some(13));
    assert_eq!(reported(&r).unwrap().iotval, 1 << 39);
}

#[test]
fn non_leaf_ptes_with_a_d_u_or_reserved_bits_fault() {
    for bad in [bits::A, bits::D, bits::U, 1 << 55, 1 << 61, bits::N] {
        let mut w = World::new(ALL);
        let pt = w.single_stage(1, Scheme::SV39, 0);
        pt.map(&mut w.mem, &mut w.pages, 0x4000_0000, 0x8000_0000, PageSize::K4, URW).unwrap();
        let a = pt.pte_addr(&mut w.mem, 0x4000_0000, 2).unwrap().unwrap();
        let pte = pt.pte_at(&mut w.mem, a).unwrap();
        pt.set_pte_at(&mut w.mem, a, Pte(pte.0 | bad)).unwrap();
        assert_eq!(cause(&w.translate(req(1, 0x4000_0000, Access::Read))), Some(13), "bit {bad:#x}");
    }
}

#[test]
fn leaf_reserved_bits_follow_svpbmt_and_svrsw60t59b() {
    let leaf = |caps: u64, extra: u64| {
        let mut w = World::new(caps);
        let pt = w.single_stage(1, Scheme::SV39, 0);
        pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x2000, PageSize::K4, URW | extra).unwrap();
        w.translate(req(1, 0x1000, Access::Read)).status
    };
    assert_eq!(leaf(ALL, 1 << 61), Status::Success, "PBMT=NC with Svpbmt");
    assert_eq!(leaf(ALL & !SVPBMT, 1 << 61), Status::UnsupportedRequest, "PBMT without Svpbmt");
    assert_eq!(leaf(ALL, 3 << 61), Status::UnsupportedRequest, "PBMT=3 is reserved");
    assert_eq!(leaf(ALL, 1 << 60), Status::UnsupportedRequest, "bit 60 reserved");
    assert_eq!(leaf(ALL | SVRSW, 3 << 59), Status::Success, "bits 60:59 for software");
    assert_eq!(leaf(ALL | SVRSW, 1 << 58), Status::UnsupportedRequest, "bit 58 still reserved");
}

#[test]
fn permissions_and_misaligned_superpages() {
    let mut w = World::new(ALL);
    let pt = w.single_stage(1, Scheme::SV39, 0);
    pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x2000, PageSize::K4, bits::R | bits::U | bits::A).unwrap();
    pt.map(&mut w.mem, &mut w.pages, 0x3000, 0x4000, PageSize::K4, bits::X | bits::U | bits::A).unwrap();
    assert_eq!(cause(&w.translate(req(1, 0x1000, Access::Write))), Some(15));
    assert_eq!(cause(&w.translate(req(1, 0x1000, Access::Exec))), Some(12));
    assert_eq!(w.translate(req(1, 0x3000, Access::Exec)).spa, Spa(0x4000), "execute-only page");
    assert_eq!(cause(&w.translate(req(1, 0x3000, Access::Read))), Some(13));
    // A 2 MiB leaf whose PPN is not 2 MiB aligned.
    pt.map(&mut w.mem, &mut w.pages, 0x20_0000, 0x40_0000, PageSize::M2, URW).unwrap();
    pt.set_leaf_pte(&mut w.mem, 0x20_0000, Pte((0x401 << 10) | bits::V | URW)).unwrap();
    assert_eq!(cause(&w.translate(req(1, 0x20_0000, Access::Read))), Some(13));
}

#[test]
fn napot_64k_translates_the_whole_region() {
    let mut w = World::new(ALL);
    let pt = w.single_stage(1, Scheme::SV48, 0);
    pt.map(&mut w.mem, &mut w.pages, 0x7_0000, 0x1230_0000, PageSize::Napot64K, URW).unwrap();
    for off in [0u64, 0x5008, 0xfff8] {
        assert_eq!(w.translate(req(1, 0x7_0000 + off, Access::Write)).spa, Spa(0x1230_0000 + off));
    }
    // Another NAPOT size (32 KiB: ppn[3:0] = 0100) is reserved.
    pt.set_leaf_pte(&mut w.mem, 0x7_0000, Pte(((0x12300 | 0b0100) << 10) | bits::V | bits::N | URW)).unwrap();
    assert_eq!(cause(&w.translate(req(1, 0x7_0000, Access::Read))), Some(13));
}

#[test]
fn first_stage_a_and_d_are_set_in_memory_with_sade_and_fault_without() {
    for sade in [false, true] {
        let mut w = World::new(ALL);
        let pt = w.single_stage(1, Scheme::SV39, if sade { tc::SADE } else { 0 });
        pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x2000, PageSize::K4, bits::R | bits::W | bits::U).unwrap();
        let (addr, _) = pt.find_leaf(&mut w.mem, 0x1000).unwrap().unwrap();
        let r = w.run(configs()[1], &[req(1, 0x1000, Access::Read)]);
        if !sade {
            assert_eq!(cause(&r[0]), Some(13));
            assert_eq!(w.mem.peek(Spa(addr)) & (bits::A | bits::D), 0, "no update without SADE");
            continue;
        }
        assert_eq!(r[0].spa, Spa(0x2000));
        assert_eq!(w.mem.peek(Spa(addr)) & (bits::A | bits::D), bits::A, "a read sets A only");
        let r = w.run(configs()[1], &[req(1, 0x1000, Access::Write)]);
        assert_eq!(r[0].status, Status::Success);
        assert_eq!(w.mem.peek(Spa(addr)) & (bits::A | bits::D), bits::A | bits::D, "a write sets D");
    }
}

#[test]
fn a_cached_read_translation_still_sets_d_on_the_first_write() {
    let mut w = World::new(ALL);
    let pt = w.single_stage(1, Scheme::SV39, tc::SADE);
    pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x2000, PageSize::K4, bits::R | bits::W | bits::U).unwrap();
    let (addr, _) = pt.find_leaf(&mut w.mem, 0x1000).unwrap().unwrap();
    let mut m = Iommu::with_regs(configs()[1], w.regs);
    m.translate(&mut w.mem, &req(1, 0x1000, Access::Read));
    m.translate(&mut w.mem, &req(1, 0x1008, Access::Read));
    assert_eq!(m.counters().iotlb_hit, 1);
    assert_eq!(w.mem.peek(Spa(addr)) & bits::D, 0);
    m.translate(&mut w.mem, &req(1, 0x1010, Access::Write));
    assert_eq!(w.mem.peek(Spa(addr)) & bits::D, bits::D);
}

// ---- G-stage and two-stage ------------------------------------------------------

/// A device with a first stage in guest memory under the VM's G-stage.
fn two_stage_device(w: &mut World, gflags: u64, extra_tc: u64) -> (PageTable, Pages, PageTable) {
    let (g, mut guest) = w.vm(gflags);
    let fs = PageTable::new(&mut w.mem, &mut guest, Space::Guest(g), Scheme::SV39).unwrap();
    w.device(
        6,
        DeviceContext {
            tc: tc::V | extra_tc,
            iohgatp: tables::iohgatp(Some(Scheme::SV39X4), 3, g.root_ppn()),
            ta: 0x77 << 12,
            fsc: tables::mode_ppn(8, fs.root_ppn()),
            ..Default::default()
        },
    );
    (g, guest, fs)
}

#[test]
fn two_stage_translation_goes_through_both_tables() {
    let mut w = World::new(ALL);
    let (_g, mut guest, fs) = two_stage_device(&mut w, URWX, 0);
    fs.map(&mut w.mem, &mut guest, 0x4000_0000, 0x1_5000, PageSize::K4, URW).unwrap();
    let r = w.translate(req(6, 0x4000_0123, Access::Read));
    assert_eq!(r.spa, Spa(0x9000_0000 + 0x1_5123));
}

#[test]
fn g_stage_leaf_with_u_clear_is_a_guest_page_fault_with_the_gpa() {
    let mut w = World::new(ALL);
    let (g, mut guest, fs) = two_stage_device(&mut w, URWX, 0);
    fs.map(&mut w.mem, &mut guest, 0x4000_0000, 0x20_5000, PageSize::K4, URW).unwrap();
    // The data page's G-stage leaf (GPA 2 MiB..4 MiB) loses U.
    g.set_leaf_pte(&mut w.mem, 0x20_0000, Pte(((0x9020_0000u64 >> 12) << 10) | bits::V | RW)).unwrap();
    let f = reported(&w.translate(req(6, 0x4000_0010, Access::Read))).unwrap();
    assert_eq!(f.cause.0, 21);
    assert_eq!(f.iotval2 & !0xfff, 0x20_5000, "iotval2 holds the GPA");
    assert_eq!(f.iotval2 & 3, 0, "not an implicit access");
    assert_eq!(f.iotval, 0x4000_0010);
}

#[test]
fn implicit_first_stage_reads_fault_with_iotval2_bit0() {
    let mut w = World::new(ALL);
    let (g, mut guest, fs) = two_stage_device(&mut w, URWX, 0);
    fs.map(&mut w.mem, &mut guest, 0x4000_0000, 0x20_5000, PageSize::K4, URW).unwrap();
    // The G-stage page holding the first-stage root is made non-readable.
    let root_gpa = fs.root;
    let leaf_gpa = root_gpa & !0x1f_ffff;
    let spa = 0x9000_0000 + leaf_gpa;
    g.set_leaf_pte(&mut w.mem, leaf_gpa, Pte(((spa >> 12) << 10) | bits::V | bits::X | bits::U | bits::A)).unwrap();
    for (access, want) in [(Access::Read, 21u16), (Access::Write, 23), (Access::Exec, 20)] {
        let f = reported(&w.translate(req(6, 0x4000_0000, access))).unwrap();
        assert_eq!(f.cause.0, want);
        assert_eq!(f.iotval2 & !0xfff, root_gpa & !0xfff, "GPA of the first-stage PTE");
        assert_eq!(f.iotval2 & 3, 1);
    }
}

#[test]
fn implicit_first_stage_ad_update_needs_g_stage_write_and_reports_bit1() {
    // SADE with a first-stage leaf lacking A: the update is an implicit write, and
    // the G-stage page holding that PTE is read-only.
    let mut w = World::new(ALL);
    let (g, mut guest, fs) = two_stage_device(&mut w, bits::R | bits::U | bits::A | bits::D, tc::SADE | tc::GADE);
    fs.map(&mut w.mem, &mut guest, 0x4000_0000, 0x20_5000, PageSize::K4, bits::R | bits::W | bits::U).unwrap();
    let (leaf_gpa, _) = fs.find_leaf(&mut w.mem, 0x4000_0000).unwrap().unwrap();
    // Data pages stay writable.
    g.set_leaf_pte(&mut w.mem, 0x20_0000, Pte((((0x9000_0000u64 + 0x20_0000) >> 12) << 10) | bits::V | URW)).unwrap();
    let f = reported(&w.translate(req(6, 0x4000_0000, Access::Read))).unwrap();
    assert_eq!(f.cause.0, 21);
    assert_eq!(f.iotval2 & !0xfff, leaf_gpa & !0xfff);
    assert_eq!(f.iotval2 & 3, 3, "implicit write: bits 0 and 1 set");
    let _ = g;
}

#[test]
fn g_stage_a_d_updates_with_gade() {
    let mut w = World::new(ALL);
    let (g, mut guest, fs) = two_stage_device(&mut w, URWX, tc::GADE);
    fs.map(&mut w.mem, &mut guest, 0x4000_0000, 0x20_5000, PageSize::K4, URW).unwrap();
    g.set_leaf_pte(
        &mut w.mem,
        0x20_0000,
        Pte((((0x9000_0000u64 + 0x20_0000) >> 12) << 10) | bits::V | bits::R | bits::W | bits::U),
    )
    .unwrap();
    let (gpte_addr, _) = g.find_leaf(&mut w.mem, 0x20_0000).unwrap().unwrap();
    let r = w.run(configs()[1], &[req(6, 0x4000_0000, Access::Write)]);
    assert_eq!(r[0].status, Status::Success);
    assert_eq!(w.mem.peek(Spa(gpte_addr)) & (bits::A | bits::D), bits::A | bits::D);
    // Without GADE the same leaf faults.
    let mut w = World::new(ALL);
    let (g, mut guest, fs) = two_stage_device(&mut w, URWX, 0);
    fs.map(&mut w.mem, &mut guest, 0x4000_0000, 0x20_5000, PageSize::K4, URW).unwrap();
    g.set_leaf_pte(
        &mut w.mem,
        0x20_0000,
        Pte((((0x9000_0000u64 + 0x20_0000) >> 12) << 10) | bits::V | bits::R | bits::W | bits::U),
    )
    .unwrap();
    assert_eq!(cause(&w.translate(req(6, 0x4000_0000, Access::Write))), Some(23));
}

#[test]
fn g_stage_only_checks_gpa_width() {
    let mut w = World::new(ALL);
    let (g, _) = w.vm(URW);
    w.device(
        8,
        DeviceContext {
            tc: tc::V,
            iohgatp: tables::iohgatp(Some(Scheme::SV39X4), 1, g.root_ppn()),
            ..Default::default()
        },
    );
    assert_eq!(w.translate(req(8, 0x1234, Access::Read)).spa, Spa(0x9000_1234));
    let f = reported(&w.translate(req(8, 1 << 41, Access::Read))).unwrap();
    assert_eq!((f.cause.0, f.iotval2 & !0xfff), (21, 1 << 41));
}

#[test]
fn first_stage_pte_access_faults_are_of_the_original_type() {
    let mut w = World::new(ALL);
    let pt = w.single_stage(1, Scheme::SV39, 0);
    pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x2000, PageSize::K4, URWX).unwrap();
    let (addr, _) = pt.find_leaf(&mut w.mem, 0x1000).unwrap().unwrap();
    w.mem.mark_bad(Spa(addr));
    for (access, want) in [(Access::Read, 5u16), (Access::Write, 7), (Access::Exec, 1)] {
        assert_eq!(cause(&w.translate(req(1, 0x1000, access))), Some(want));
    }
}

#[test]
fn table_pointers_beyond_pas_are_access_faults() {
    let mut w = World::new(ALL);
    let pt = w.single_stage(1, Scheme::SV39, 0);
    pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x2000, PageSize::K4, URW).unwrap();
    let a = pt.pte_addr(&mut w.mem, 0x1000, 2).unwrap().unwrap();
    // Point the root entry at a table beyond the 46-bit physical address space.
    pt.set_pte_at(&mut w.mem, a, Pte(((1u64 << 46 >> 12) << 10) | bits::V)).unwrap();
    assert_eq!(cause(&w.translate(req(1, 0x1000, Access::Write))), Some(7));
}

// ---- MSI -------------------------------------------------------------------------

fn msi_device(w: &mut World) -> (u64, u64) {
    let (g, _) = w.vm(URW);
    let msi_pt = w.pages.alloc(1, 4096).unwrap();
    // Interrupt files at GPA 0x280_0000 + n * 4 KiB, n in 0..8: mask 0x7.
    w.device(
        10,
        DeviceContext {
            tc: tc::V,
            iohgatp: tables::iohgatp(Some(Scheme::SV39X4), 1, g.root_ppn()),
            msiptp: tables::mode_ppn(1, msi_pt >> 12),
            msi_addr_mask: 0x7,
            msi_addr_pattern: 0x280_0000 >> 12,
            ..Default::default()
        },
    );
    (msi_pt, 0x280_0000)
}

#[test]
fn msi_writes_translate_through_the_msi_page_table() {
    let mut w = World::new(ALL | MSI_FLAT);
    let (msi_pt, files) = msi_device(&mut w);
    // File 5: basic translate mode (M=3) to SPA page 0x7700_5000.
    w.mem.poke(Spa(msi_pt + 5 * 16), ((0x7700_5000u64 >> 12) << 10) | (3 << 1) | 1);
    let r = w.translate(req(10, files + 5 * 4096 + 4, Access::Write));
    assert_eq!(r.spa, Spa(0x7700_5004));
    // Not recognised: falls through to the G-stage.
    assert_eq!(w.translate(req(10, files + 8 * 4096, Access::Write)).spa, Spa(0x9000_0000 + files + 8 * 4096));
    // Execute on an MSI page is an instruction access fault.
    assert_eq!(cause(&w.translate(req(10, files + 5 * 4096, Access::Exec))), Some(1));
    // File 6 invalid, file 7 in a reserved mode, file 4 with a reserved bit.
    w.mem.poke(Spa(msi_pt + 6 * 16), 3 << 1);
    w.mem.poke(Spa(msi_pt + 7 * 16), (2 << 1) | 1);
    w.mem.poke(Spa(msi_pt + 4 * 16), (1 << 5) | (3 << 1) | 1);
    assert_eq!(cause(&w.translate(req(10, files + 6 * 4096, Access::Write))), Some(262));
    assert_eq!(cause(&w.translate(req(10, files + 7 * 4096, Access::Write))), Some(263));
    assert_eq!(cause(&w.translate(req(10, files + 4 * 4096, Access::Write))), Some(263));
    w.mem.mark_bad(Spa(msi_pt + 3 * 16));
    assert_eq!(cause(&w.translate(req(10, files + 3 * 4096, Access::Write))), Some(261));
}

// ---- caches and invalidation ----------------------------------------------------

#[test]
fn iotlb_hits_after_a_walk_and_invalidation_makes_changes_visible() {
    let mut w = World::new(ALL);
    let pt = w.single_stage(1, Scheme::SV39, 0);
    pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x2000, PageSize::K4, URW).unwrap();
    let mut m = Iommu::with_regs(configs()[1], w.regs);
    assert_eq!(m.translate(&mut w.mem, &req(1, 0x1000, Access::Read)).spa, Spa(0x2000));
    let reads = m.counters().walk_reads;
    assert_eq!(m.translate(&mut w.mem, &req(1, 0x1008, Access::Read)).spa, Spa(0x2008));
    assert_eq!(m.counters().walk_reads, reads, "a hit reads no memory");
    // Remap without invalidating: the cached translation may still be used.
    pt.unmap(&mut w.mem, 0x1000).unwrap();
    pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x5000, PageSize::K4, URW).unwrap();
    assert_eq!(m.translate(&mut w.mem, &req(1, 0x1000, Access::Read)).spa, Spa(0x2000));
    // IOTINVAL.VMA for another address leaves it; for this one drops it.
    m.command(&mut w.mem, encode::iotinval_vma(None, Some(0x42), Some((0x9000, false)), false)).unwrap();
    assert_eq!(m.translate(&mut w.mem, &req(1, 0x1000, Access::Read)).spa, Spa(0x2000));
    m.command(&mut w.mem, encode::iotinval_vma(None, Some(0x42), Some((0x1000, false)), false)).unwrap();
    assert_eq!(m.translate(&mut w.mem, &req(1, 0x1000, Access::Read)).spa, Spa(0x5000));
}

#[test]
fn iodir_inval_ddt_makes_a_new_device_context_visible() {
    let mut w = World::new(ALL);
    let pt = w.single_stage(1, Scheme::SV39, 0);
    pt.map(&mut w.mem, &mut w.pages, 0x1000, 0x2000, PageSize::K4, URW).unwrap();
    let mut m = Iommu::with_regs(configs()[1], w.regs);
    assert_eq!(m.translate(&mut w.mem, &req(1, 0x1000, Access::Read)).status, Status::Success);
    let dc_addr = w.ddt.dc_addr(&mut w.mem, &mut w.pages, 1).unwrap();
    w.mem.write(Spa(dc_addr), 0).unwrap();
    m.command(&mut w.mem, encode::iodir_inval_ddt(Some(DeviceId(1)))).unwrap();
    assert_eq!(cause(&m.translate(&mut w.mem, &req(1, 0x1000, Access::Read))), Some(258));
}

#[test]
fn iotinval_gvma_drops_translations_of_that_vm() {
    let mut w = World::new(ALL);
    let (g, mut guest, fs) = two_stage_device(&mut w, URWX, 0);
    fs.map(&mut w.mem, &mut guest, 0x4000_0000, 0x20_5000, PageSize::K4, URW).unwrap();
    let mut m = Iommu::with_regs(configs()[1], w.regs);
    assert_eq!(m.translate(&mut w.mem, &req(6, 0x4000_0000, Access::Read)).spa, Spa(0x9020_5000));
    // The hypervisor moves guest page 2 MiB..4 MiB.
    g.unmap(&mut w.mem, 0x20_0000).unwrap();
    g.map(&mut w.mem, &mut w.pages, 0x20_0000, 0xa000_0000, PageSize::M2, URWX).unwrap();
    m.command(&mut w.mem, encode::iotinval_gvma(Some(4), Some((0x20_5000, false)), false)).unwrap();
    assert_eq!(m.translate(&mut w.mem, &req(6, 0x4000_0000, Access::Read)).spa, Spa(0x9020_5000), "other GSCID");
    m.command(&mut w.mem, encode::iotinval_gvma(Some(3), Some((0x21_0000, false)), false)).unwrap();
    assert_eq!(
        m.translate(&mut w.mem, &req(6, 0x4000_0000, Access::Read)).spa,
        Spa(0xa000_5000),
        "same 2 MiB G-stage page"
    );
}

#[test]
fn iofence_writes_its_data_on_completion() {
    let mut w = World::new(ALL);
    let mut m = Iommu::with_regs(configs()[0], w.regs);
    m.command(&mut w.mem, encode::iofence_c(Some((0x8000_0104, 0xcafe)))).unwrap();
    assert_eq!(w.mem.peek(Spa(0x8000_0100)) >> 32, 0xcafe);
    w.mem.mark_bad(Spa(0x8000_0200));
    assert!(m.command(&mut w.mem, encode::iofence_c(Some((0x8000_0200, 1)))).is_err());
}

#[test]
fn fault_queue_holds_reported_records_in_order() {
    let mut w = World::new(ALL);
    w.single_stage(1, Scheme::SV39, 0);
    w.single_stage(2, Scheme::SV39, tc::DTF);
    let mut m = Iommu::with_regs(configs()[1], w.regs);
    m.translate(&mut w.mem, &req(1, 0x1000, Access::Read));
    m.translate(&mut w.mem, &req(2, 0x2000, Access::Read));
    m.translate(&mut w.mem, &req(1, 0x3000, Access::Write));
    let mut q = Vec::new();
    m.drain_faults(&mut q);
    assert_eq!(q.iter().map(|f| (f.cause.0, f.iotval)).collect::<Vec<_>>(), vec![(13, 0x1000), (15, 0x3000)]);
    m.drain_faults(&mut q);
    assert_eq!(q.len(), 2, "drained once");
}
