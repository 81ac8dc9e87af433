//! The importers on lines written from the documented formats (QEMU trace events
//! of the RISC-V IOMMU, VT-d, AMD-Vi and SMMUv3 models in their three line shapes;
//! ftrace `iommu`, `dma` and `intel_iommu` events): the exact events each line
//! becomes, and how every line is accounted for.

use iommu_model::Access;
use iommu_traces::import::{detect, import, CaptureFormat, ImportError, ImportOptions, ImportReport};
use iommu_traces::trace::{Event, EventKind, MapPage, Mode, Perm, TraceReader, TraceWriter};
use proptest::prelude::*;

/// Imports `text`; the events read back through the trace reader (so every
/// output is a valid trace), and the report.
fn run(text: &str, options: ImportOptions) -> Result<(Vec<Event>, ImportReport), ImportError> {
    let mut w = TraceWriter::new(Vec::new()).unwrap();
    let report = import(text.as_bytes(), "cap.log", &options, &mut w)?;
    let csv = String::from_utf8(w.finish().unwrap()).unwrap();
    let mut r = TraceReader::new(csv.as_bytes(), "out.csv");
    let mut evs = vec![];
    while let Some(e) = r.next_event().unwrap_or_else(|e| panic!("{e}\n{csv}")) {
        evs.push(e);
    }
    assert!(report.balanced(), "every line is accounted for once: {report:?}");
    assert_eq!(report.events_written(), evs.len() as u64);
    Ok((evs, report))
}

fn qemu(text: &str) -> (Vec<Event>, ImportReport) {
    run(text, ImportOptions { format: Some(CaptureFormat::Qemu), ..Default::default() }).unwrap()
}

fn ftrace(text: &str) -> (Vec<Event>, ImportReport) {
    run(text, ImportOptions { format: Some(CaptureFormat::Ftrace), ..Default::default() }).unwrap()
}

fn attach(t: Option<u64>, dev: u32) -> Event {
    Event::attach(t, dev, None, None, Mode::S1)
}

fn map(t: Option<u64>, dev: u32, iova: u64, pa: u64, size: u64, perm: Perm) -> Event {
    Event::map(t, dev, None, iova, pa, size, MapPage::K4, perm)
}

fn access(t: Option<u64>, dev: u32, iova: u64, a: Access) -> Event {
    Event::access(t, dev, None, iova, 4, a)
}

fn unmap(t: Option<u64>, dev: u32, iova: u64, size: u64) -> Event {
    Event::unmap(t, dev, None, iova, size)
}

fn inval(t: Option<u64>, dev: u32, iova: u64, size: u64) -> Event {
    Event { time: t, kind: EventKind::Inval, device: dev, iova, size, ..Default::default() }
}

fn count(m: &std::collections::BTreeMap<String, u64>, key: &str) -> u64 {
    m.get(key).copied().unwrap_or(0)
}

// ---------------------------------------------------------------- QEMU: RISC-V

#[test]
fn riscv_translations_with_the_tid_prefix_become_maps_and_accesses() {
    let text = "\
1234@1700000000.000100:riscv_iommu_dma riscv-iommu: translate 0000:01.0 #0 RW 0x80001234 -> 0x8765f234
1234@1700000000.000200:riscv_iommu_dma riscv-iommu: translate 0000:01.0 #0 RO 0x80001ff0 -> 0x8765fff0
1234@1700000000.000250:riscv_iommu_dma riscv-iommu: translate 0000:01.0 #0 RW 0x80001ffe -> 0x8765fffe
1234@1700000000.001100:riscv_iommu_dma (null): translate 0000:01.1 #3 RO 0x2000 -> 0x9000
";
    let (evs, rep) = qemu(text);
    let d = 0x08; // bus 0, slot 1, func 0
    assert_eq!(
        evs,
        vec![
            attach(Some(0), d),
            map(Some(0), d, 0x8000_1000, 0x8765_f000, 0x1000, Perm::RW),
            access(Some(0), d, 0x8000_1234, Access::Write),
            access(Some(100_000), d, 0x8000_1ff0, Access::Read),
            // 4 bytes cut at the page end.
            Event::access(Some(150_000), d, None, 0x8000_1ffe, 2, Access::Write),
            Event::attach(Some(1_000_000), 0x09, Some(3), None, Mode::S1),
            Event::map(Some(1_000_000), 0x09, Some(3), 0x2000, 0x9000, 0x1000, MapPage::K4, Perm::R),
            Event::access(Some(1_000_000), 0x09, Some(3), 0x2000, 4, Access::Read),
        ]
    );
    assert_eq!(count(&rep.converted, "riscv_iommu_dma"), 4);
    assert_eq!(rep.devices.iter().copied().collect::<Vec<_>>(), vec![0x08, 0x09]);
}

#[test]
fn riscv_bare_lines_have_no_times_and_iso_lines_convert_with_the_clock() {
    let bare = "riscv_iommu_dma iommu: translate 0002:03.4 #0 WR 0x5008 -> 0x7008\n";
    let (evs, _) = qemu(bare);
    let d = 0x0200 | (3 << 3) | 4;
    assert_eq!(
        evs,
        vec![attach(None, d), map(None, d, 0x5000, 0x7000, 0x1000, Perm::RW), access(None, d, 0x5008, Access::Write)]
    );
    let iso = "\
2025-07-01T23:59:59.999900Z riscv_iommu_dma iommu: translate 0000:01.0 #0 RO 0x1000 -> 0x2000
2025-07-02T00:00:00.000100Z riscv_iommu_dma iommu: translate 0000:01.0 #0 RO 0x1004 -> 0x2004
";
    let opts = ImportOptions { format: Some(CaptureFormat::Qemu), clock_hz: 500_000_000, ..Default::default() };
    let (evs, _) = run(iso, opts).unwrap();
    // 200 us across midnight at 500 MHz.
    assert_eq!(evs.last().unwrap(), &access(Some(100_000), 0x08, 0x1004, Access::Read));
}

#[test]
fn riscv_faults_become_accesses_that_fault_and_their_dma_line_is_merged() {
    // TTYP 2 (untranslated read) in bits 39:34, cause 13.
    let hdr = (2u64 << 34) | 13;
    let text = format!(
        "\
1@1.000000:riscv_iommu_dma riscv-iommu: translate 0000:01.0 #0 RW 0x4000 -> 0x9000
1@1.000010:riscv_iommu_flt riscv-iommu: fault 0000:01.0 reason: {hdr:#x} iova: 0x4010
1@1.000011:riscv_iommu_dma riscv-iommu: translate 0000:01.0 #0 RO 0x4010 -> 0x0
1@1.000020:riscv_iommu_flt riscv-iommu: fault 0000:01.0 reason: 0x102 iova: 0x0
1@1.000030:riscv_iommu_dma riscv-iommu: translate 0000:01.0 #0 WR 0x8000 -> 0x0
"
    );
    let (evs, rep) = qemu(&text);
    assert_eq!(
        evs,
        vec![
            attach(Some(0), 0x08),
            map(Some(0), 0x08, 0x4000, 0x9000, 0x1000, Perm::RW),
            access(Some(0), 0x08, 0x4000, Access::Write),
            // The page is mapped in the trace: unmapped so that replay faults too.
            unmap(Some(10_000), 0x08, 0x4000, 0x1000),
            access(Some(10_000), 0x08, 0x4010, Access::Read),
            // A failed translation without a fault line (fault reporting off).
            access(Some(30_000), 0x08, 0x8000, Access::Write),
        ]
    );
    assert_eq!(count(&rep.faults, "riscv_iommu_flt"), 1);
    assert_eq!(count(&rep.faults, "riscv_iommu_dma"), 1);
    assert_eq!(count(&rep.merged, "riscv_iommu_dma (the translation of the fault line before it)"), 1);
    assert_eq!(count(&rep.ignored, "riscv_iommu_flt (not a DMA transaction)"), 1);
    assert_eq!(rep.fault_unmaps, 1);
}

// ---------------------------------------------------------------- QEMU: VT-d

const VTD: &str = "\
16642@1795607225.649068:vtd_switch_address_space Device 00:02.0 switching address space (iommu enabled=0)
16644@1795607233.709213:vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x4 addr 0xfffff000 mask 0x0
16642@1795607233.726643:vtd_iotlb_page_update IOTLB page update sid 0x10 iova 0xfffff010 slpte 0x332fa003 domain 0x4
16642@1795607233.726648:vtd_dmar_translate dev 00:02.00 iova 0xfffff000 -> gpa 0x332fa000 mask 0xfff
16642@1795607233.726656:vtd_iotlb_cc_hit IOTLB context hit bus 0x0 devfn 0x10 high 0x401 low 0x5cd7001 gen 1
16642@1795607233.726700:vtd_iotlb_page_hit IOTLB page hit sid 0x10 iova 0xfffff080 slpte 0x332fa003 domain 0x4
16642@1795607233.726710:vtd_dmar_translate dev 00:02.00 iova 0xfffff000 -> gpa 0x332fa000 mask 0xfff
16642@1795607233.726800:vtd_iotlb_page_update IOTLB page update sid 0x10 iova 0x2345678 slpte 0x40000083 domain 0x4
16642@1795607233.726810:vtd_dmar_translate dev 00:02.00 iova 0x2200000 -> gpa 0x40000000 mask 0x1fffff
16642@1795607233.726900:vtd_iotlb_page_update IOTLB page update sid 0x10 iova 0xffffb000 slpte 0x332f3001 domain 0x4
16642@1795607233.727000:vtd_dmar_translate dev 00:03.00 iova 0xffffd000 -> gpa 0x7fe65000 mask 0xfff
16645@1795607233.728000:vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x4 addr 0xffff0000 mask 0x2
16645@1795607233.729000:vtd_inv_desc_iotlb_domain iotlb invalidate whole domain 0x4
16645@1795607233.729500:vtd_inv_desc_iotlb_domain iotlb invalidate whole domain 0x9
16645@1795607233.730000:vtd_inv_desc_iotlb_global iotlb invalidate global
16642@1795607233.731000:vtd_dmar_fault sid 0x10 fault 6 addr 0xfffff040 write 1
2023-02-13T07:02:37.074397Z qemu-system-x86_64: vtd_iommu_translate: detected translation failure (dev=02:00:00, iova=0x0)
";

#[test]
fn vtd_cache_lines_and_translation_results_are_one_access() {
    let (evs, rep) = qemu(VTD);
    let (nvme, net) = (0x10, 0x18);
    assert_eq!(
        evs,
        vec![
            // update + translate: the exact address from the first, at its time.
            attach(Some(0), nvme),
            map(Some(0), nvme, 0xffff_f000, 0x332f_a000, 0x1000, Perm::RW),
            access(Some(0), nvme, 0xffff_f010, Access::Read),
            // hit + translate: the page is mapped already.
            access(Some(57_000), nvme, 0xffff_f080, Access::Read),
            // A 2 MiB page: the page of the access within it, from the result's mask.
            map(Some(157_000), nvme, 0x234_5000, 0x4014_5000, 0x1000, Perm::RW),
            access(Some(157_000), nvme, 0x234_5678, Access::Read),
            // No result line follows (the translation of another device does):
            // the read-only entry alone.
            map(Some(257_000), nvme, 0xffff_b000, 0x332f_3000, 0x1000, Perm::R),
            access(Some(257_000), nvme, 0xffff_b000, Access::Read),
            // A result line alone.
            attach(Some(357_000), net),
            map(Some(357_000), net, 0xffff_d000, 0x7fe6_5000, 0x1000, Perm::RW),
            access(Some(357_000), net, 0xffff_d000, Access::Read),
            // Page-selective (mask 2: 4 pages) and domain-wide for the devices of
            // domain 4; global for every attached device.
            inval(Some(1_357_000), nvme, 0xffff_0000, 0x4000),
            inval(Some(2_357_000), nvme, 0, 0),
            inval(Some(3_357_000), nvme, 0, 0),
            inval(Some(3_357_000), net, 0, 0),
            // A fault on a mapped page: unmapped first.
            unmap(Some(4_357_000), nvme, 0xffff_f000, 0x1000),
            access(Some(4_357_000), nvme, 0xffff_f040, Access::Write),
        ]
    );
    assert_eq!(count(&rep.ignored, "vtd_switch_address_space"), 1);
    assert_eq!(count(&rep.ignored, "vtd_iotlb_cc_hit"), 1);
    assert_eq!(count(&rep.ignored, "vtd_inv_desc_iotlb_pages (no attached device known in the domain)"), 1);
    assert_eq!(count(&rep.ignored, "vtd_inv_desc_iotlb_domain (no attached device known in the domain)"), 1);
    assert_eq!(count(&rep.merged, "vtd_dmar_translate (completes the translation line before it)"), 3);
    assert_eq!(count(&rep.converted, "vtd_dmar_translate"), 1);
    assert_eq!(count(&rep.converted, "vtd_iotlb_page_update"), 3);
    assert_eq!(count(&rep.faults, "vtd_dmar_fault"), 1);
    assert_eq!(rep.non_event_lines, 1, "the error_report line");
    assert_eq!(rep.lines, 17);
}

#[test]
fn vtd_lines_without_a_translation_result_still_convert_after_the_window() {
    // Only cache lines traced: each is an access on its own.
    let mut text = String::from(
        "vtd_iotlb_page_update IOTLB page update sid 0x8 iova 0x1234 slpte 0x55002 domain 0x1\n\
         vtd_translate_pt source id 0x18, iova 0x7000\n",
    );
    for _ in 0..100 {
        text.push_str("vtd_reg_read addr 0x1c size 0x4\n");
    }
    let (evs, rep) = qemu(&text);
    assert_eq!(
        evs,
        vec![
            attach(None, 0x08),
            // Writable only: a write.
            map(None, 0x08, 0x1000, 0x55000, 0x1000, Perm::RW),
            access(None, 0x08, 0x1234, Access::Write),
            attach(None, 0x18),
            map(None, 0x18, 0x7000, 0x7000, 0x1000, Perm::RW),
            access(None, 0x18, 0x7000, Access::Read),
        ]
    );
    assert_eq!(rep.ignored_named("vtd_reg_read"), 100);
}

// ---------------------------------------------------------------- QEMU: AMD-Vi

#[test]
fn amdvi_cache_lines_results_invalidations_and_faults() {
    let text = "\
amdvi_cache_update  update iotlb domid 0x2 devid: 00:03.0 gpa 0x1234 hpa 0x77000
amdvi_translation_result devid: 00:03.0 gpa 0x1234 hpa 0x77000
amdvi_iotlb_hit hit iotlb devid 00:03.0 gpa 0x1238 hpa 0x77000
amdvi_translation_result devid: 00:03.0 gpa 0x1238 hpa 0x77000
amdvi_pages_inval AMD-Vi pages for domain 0x2 invalidated
amdvi_all_inval Invalidation of all AMD-Vi cache requested 
amdvi_page_fault error: page fault accessing guest physical address 0x9000
amdvi_cache_update  update iotlb domid 0x2 devid: 00:03.0 gpa 0x9000 hpa 0x0
amdvi_translation_result devid: 00:03.0 gpa 0x9000 hpa 0x0
amdvi_translation_result devid: 00:04.1 gpa 0x5000 hpa 0x6000
";
    let (evs, rep) = qemu(text);
    let (d, e) = (0x18, 0x21);
    assert_eq!(
        evs,
        vec![
            attach(None, d),
            map(None, d, 0x1000, 0x77000, 0x1000, Perm::RW),
            access(None, d, 0x1234, Access::Read),
            access(None, d, 0x1238, Access::Read),
            inval(None, d, 0, 0),
            inval(None, d, 0, 0),
            access(None, d, 0x9000, Access::Read),
            attach(None, e),
            map(None, e, 0x5000, 0x6000, 0x1000, Perm::RW),
            access(None, e, 0x5000, Access::Read),
        ]
    );
    assert_eq!(count(&rep.faults, "amdvi_cache_update"), 1);
    assert_eq!(count(&rep.merged, "amdvi_translation_result (completes the translation line before it)"), 3);
    assert_eq!(rep.merged_lines(), 4, "and amdvi_page_fault, whose device comes in the next lines");
}

// ---------------------------------------------------------------- QEMU: SMMUv3

#[test]
fn smmuv3_old_and_new_translations_and_aborts() {
    let text = "\
smmuv3_translate_success smmuv3-iommu-memory-region-16-2 sid=16 iova=0x10000100 translated=0x40000100 perm=0x1
smmuv3_translate_success smmuv3-iommu-memory-region-24-3 sid=0x18 iova=0x20000008 translated=0x50001008 perm=0x3 stage=1
smmuv3_translate_abort smmuv3-iommu-memory-region-24-3 sid=0x18 abort on iova:0x30000000 is_write=1
smmu_iotlb_lookup_hit IOTLB cache HIT asid=1 vmid=-1 addr=0x10000000 hit=2 miss=1 hit rate=66
";
    let (evs, rep) = qemu(text);
    assert_eq!(
        evs,
        vec![
            attach(None, 0x10),
            map(None, 0x10, 0x1000_0000, 0x4000_0000, 0x1000, Perm::R),
            access(None, 0x10, 0x1000_0100, Access::Read),
            attach(None, 0x18),
            map(None, 0x18, 0x2000_0000, 0x5000_1000, 0x1000, Perm::RW),
            access(None, 0x18, 0x2000_0008, Access::Write),
            access(None, 0x18, 0x3000_0000, Access::Write),
        ]
    );
    assert_eq!(count(&rep.faults, "smmuv3_translate_abort"), 1);
    assert_eq!(count(&rep.ignored, "smmu_iotlb_lookup_hit"), 1);
}

// ---------------------------------------------------------------- QEMU: errors

#[test]
fn a_bad_field_names_the_line_and_the_field_and_can_be_skipped() {
    let text = "\
vtd_dmar_translate dev 00:02.00 iova 0x1000 -> gpa 0x2000 mask 0xfff
vtd_dmar_translate dev 00:02.00 iova 0xzz -> gpa 0x2000 mask 0xfff
smmuv3_translate_success mr sid=0x10 iova=0x1000 perm=0x1
vtd_dmar_translate dev 00:02.00 iova 0x3000 -> gpa 0x4000 mask 0xfff
";
    let opts = ImportOptions { format: Some(CaptureFormat::Qemu), ..Default::default() };
    let Err(ImportError::Line(e)) = run(text, opts) else { panic!("a bad line stops the import") };
    assert_eq!((e.file.as_str(), e.line, e.column.as_str()), ("cap.log", 2, "iova"));
    assert!(e.to_string().starts_with("cap.log:2: column `iova`: vtd_dmar_translate: \"0xzz\""), "{e}");

    let (evs, rep) = run(text, ImportOptions { skip_bad_lines: true, ..opts }).unwrap();
    assert_eq!(rep.bad_lines, 2);
    let where_: Vec<(u64, &str)> = rep.bad_line_errors.iter().map(|e| (e.line, e.column.as_str())).collect();
    assert_eq!(where_, vec![(2, "iova"), (3, "translated")]);
    assert_eq!(evs.iter().filter(|e| e.kind == EventKind::Access).count(), 2, "the lines after it convert");
    assert!(rep.to_string().contains("bad lines skipped: 2"), "{rep}");
}

/// Each line alone is an error naming line 1 and the field.
fn assert_bad_fields(format: CaptureFormat, cases: &[(&str, &str)]) {
    let opts = ImportOptions { format: Some(format), ..Default::default() };
    for &(line, field) in cases {
        match run(line, opts) {
            Err(ImportError::Line(e)) => assert_eq!((e.line, e.column.as_str()), (1, field), "{line}: {e}"),
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn other_bad_fields() {
    assert_bad_fields(
        CaptureFormat::Qemu,
        &[
            ("riscv_iommu_dma i: translate 0000:01.0 #0 XX 0x1 -> 0x2", "dir"),
            ("riscv_iommu_dma i: translate 0000:41.0 #0 RW 0x1 -> 0x2", "device"),
            ("riscv_iommu_dma i: translate 0000:01.0 #0 RW 0x1", "->"),
            ("vtd_iotlb_page_hit IOTLB page hit sid 0x10 iova 0x1 slpte 0x3", "domain"),
            ("vtd_dmar_translate dev 00:02.00 iova 0x1000 -> gpa 0x2000 mask 0x12345", "mask"),
            ("vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x4 addr 0x0 mask 0x40", "mask"),
            ("smmuv3_translate_abort mr sid=0x1000000 abort on iova:0x1 is_write=0", "sid"),
        ],
    );
}

// ---------------------------------------------------------------- ftrace

const HEADER: &str = "\
# tracer: nop
#
# entries-in-buffer/entries-written: 12/12   #P:2
#
#                                _-----=> irqs-off/BH-disabled
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
";

#[test]
fn ftrace_new_range_maps_take_the_device_and_direction_of_their_dma_lines() {
    let text = format!(
        "{HEADER}\
            init-1       [001] .....     2.000000: add_device_to_group: IOMMU: groupID=2 device=0000:00:02.0
            init-1       [001] .....     2.000100: cache_tag_assign: dmar0/dmar0 type iotlb did 4 pasid 0 ref 1
            init-1       [001] .....     2.000200: attach_device_to_domain: IOMMU: device=0000:00:02.0
    kworker/u8:3-107     [000] .....     5.000000: map: IOMMU: iova=0x00000000ffffa000 - 0x00000000ffffb000 paddr=0x0000000006446000 size=4096
    kworker/u8:3-107     [000] d..2.     5.000010: qi_submit: iotlb_inv dmar0: 0x400f2 0xffffa000 0x0 0x0
    kworker/u8:3-107     [000] .....     5.000020: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=ffffa400 size=512 phys_addr=6446400 attrs=
          <idle>-0       [001] ..s1.     5.000100: unmap: IOMMU: iova=0x00000000ffffa000 - 0x00000000ffffb000 size=4096 unmapped_size=4096
          <idle>-0       [001] d.s3.     5.000110: qi_submit: iotlb_inv dmar0: 0x400f2 0xffffa040 0x0 0x0
          <idle>-0       [001] ..s1.     5.000120: dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=ffffa400 size=512 attrs=
    kworker/u8:3-107     [000] .....     5.000200: map: IOMMU: iova=0x00000000ffff0000 - 0x00000000ffff1000 paddr=0x00000000332ee000 size=4096
    kworker/u8:3-107     [000] .....     5.000201: map: IOMMU: iova=0x00000000ffff1000 - 0x00000000ffff2000 paddr=0x00000000332ed000 size=4096
    kworker/u8:3-107     [000] d..2.     5.000210: qi_submit: iotlb_inv dmar0: 0x400f2 0xffff0001 0x0 0x0
    kworker/u8:3-107     [000] .....     5.000220: dma_alloc: 0000:00:02.0 dir=BIDIRECTIONAL dma_addr=ffff0000 size=8192 virt_addr=00000000147cebb1 flags=GFP_KERNEL attrs=
          <idle>-0       [000] d..2.     5.000300: qi_submit: iotlb_inv dmar0: 0x400e2 0x0 0x0 0x0
          <idle>-0       [000] d..2.     5.000400: qi_submit: iotlb_inv dmar0: 0xd2 0x0 0x0 0x0
          <idle>-0       [000] d..2.     5.000500: qi_submit: iec_inv dmar0: 0x4 0x0 0x0 0x0
"
    );
    let (evs, rep) = ftrace(&text);
    let d = 0x10;
    let t = |us: u64| Some(us * 1000);
    assert_eq!(
        evs,
        vec![
            attach(t(0), d),
            // Read-only: the direction of the dma_map_page line after it.
            map(t(2_999_800), d, 0xffff_a000, 0x644_6000, 0x1000, Perm::R),
            inval(t(2_999_810), d, 0xffff_a000, 0x1000),
            unmap(t(2_999_900), d, 0xffff_a000, 0x1000),
            inval(t(2_999_910), d, 0xffff_a000, 0x1000),
            map(t(3_000_000), d, 0xffff_0000, 0x332e_e000, 0x1000, Perm::RW),
            map(t(3_000_001), d, 0xffff_1000, 0x332e_d000, 0x1000, Perm::RW),
            inval(t(3_000_010), d, 0xffff_0000, 0x2000),
            inval(t(3_000_100), d, 0, 0),
            inval(t(3_000_200), d, 0, 0),
        ]
    );
    assert_eq!(rep.non_event_lines, 7);
    assert_eq!(count(&rep.merged, "dma_map_page (already mapped)"), 1);
    assert_eq!(count(&rep.merged, "dma_alloc (already mapped)"), 1);
    assert_eq!(rep.merged_lines(), 3, "and dma_unmap_page: unmapped already");
    assert_eq!(count(&rep.ignored, "qi_submit iec_inv"), 1);
    assert_eq!(count(&rep.ignored, "add_device_to_group"), 1);
    assert_eq!(count(&rep.converted, "qi_submit iotlb_inv"), 5);
    assert_eq!(rep.attributed.get("iommu map: device of a dma event with the same IOVA"), Some(&3));
    assert_eq!(rep.attributed.get("iommu unmap: device of a dma event with the same IOVA"), Some(&1));
}

#[test]
fn ftrace_old_form_maps_without_dma_lines_go_to_the_device_named_last() {
    let text = "\
 a-1 [000] .... 1.000000: attach_device_to_domain: IOMMU: device=0000:03:00.0
 a-1 [000] .... 1.000001: attach_device_to_domain: IOMMU: device=0000:04:00.0
 a-1 [000] .... 1.000010: map: IOMMU: iova=0x0000000000100000 paddr=0x0000000080000000 size=8192
 a-1 [000] .... 1.000020: unmap: IOMMU: iova=0x0000000000100000 size=4096 unmapped_size=4096
 a-1 [000] .... 1.000030: unmap: IOMMU: iova=0x0000000000900000 size=4096 unmapped_size=0
 a-1 [000] .... 1.000040: unmap: IOMMU: iova=0x0000000000900000 size=4096 unmapped_size=4096
";
    let (evs, rep) = ftrace(text);
    assert_eq!(
        evs,
        vec![
            attach(Some(0), 0x300),
            attach(Some(1000), 0x400),
            map(Some(10_000), 0x400, 0x10_0000, 0x8000_0000, 0x2000, Perm::RW),
            // The only device with the range mapped.
            unmap(Some(20_000), 0x400, 0x10_0000, 0x1000),
        ]
    );
    assert_eq!(count(&rep.ignored, "unmap (nothing was unmapped)"), 1);
    assert_eq!(count(&rep.merged, "unmap (range not mapped (unmapped already, or mapped before the capture))"), 1);
    assert_eq!(rep.attributed.get("iommu map: the device named last before it"), Some(&1));
    assert_eq!(rep.attributed.get("iommu unmap: the only device with the range mapped"), Some(&1));
}

#[test]
fn ftrace_unmaps_after_dma_free_take_its_device_even_with_the_same_iova_elsewhere() {
    let text = "\
 a-1 [000] ..... 1.000000: map: IOMMU: iova=0x00000000ffffe000 - 0x00000000fffff000 paddr=0x0000000001000000 size=4096
 a-1 [000] ..... 1.000001: dma_alloc: 0000:00:02.0 dir=BIDIRECTIONAL dma_addr=ffffe000 size=4096 virt_addr=00000000d8ca1dcc flags=GFP_KERNEL attrs=
 a-1 [000] ..... 1.000002: map: IOMMU: iova=0x00000000ffffe000 - 0x00000000fffff000 paddr=0x0000000002000000 size=4096
 a-1 [000] ..... 1.000003: dma_alloc: 0000:00:03.0 dir=BIDIRECTIONAL dma_addr=ffffe000 size=4096 virt_addr=00000000d8ca1dcc flags=GFP_KERNEL attrs=
 a-1 [000] ..... 1.000004: dma_free: 0000:00:02.0 dir=BIDIRECTIONAL dma_addr=ffffe000 size=4096 virt_addr=00000000d8ca1dcc attrs=
 a-1 [000] ..... 1.000005: unmap: IOMMU: iova=0x00000000ffffe000 - 0x00000000fffff000 size=4096 unmapped_size=4096
";
    let (evs, rep) = ftrace(text);
    let kinds: Vec<(EventKind, u32, u64)> = evs.iter().map(|e| (e.kind, e.device, e.pa)).collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::Attach, 0x10, 0),
            (EventKind::Map, 0x10, 0x100_0000),
            (EventKind::Attach, 0x18, 0),
            (EventKind::Map, 0x18, 0x200_0000),
            // dma_free unmaps at once; the iommu unmap after it is its own.
            (EventKind::Unmap, 0x10, 0),
        ]
    );
    assert_eq!(count(&rep.converted, "dma_free"), 1);
    assert_eq!(rep.attributed.get("iommu unmap: device of a dma event with the same IOVA"), Some(&1));
}

#[test]
fn ftrace_dma_events_alone_map_and_unmap() {
    let text = "\
 a-1 [000] ..... 1.000000: dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=ffff9000 size=4096 phys_addr=618a000 attrs=
 a-1 [000] ..... 1.000001: dma_alloc: 0000:00:02.0 dma_addr=fff00000 size=6000 virt_addr=00000000d8ca1dcc flags=GFP_KERNEL attrs=
 a-1 [000] ..... 1.000002: dma_map_sg: 0000:00:02.0 dir=TO_DEVICE dma_addrs={0x10000,0x20000} sizes={0x1000,0x2000} phys_addrs={0x7000000,0x7100000} attrs=
 a-1 [000] ..... 1.000003: dma_map_sg: 0000:00:02.0 dir=TO_DEVICE nents=2/2 ents=1/1 dma_addrs={0x40000} sizes={0x2000} phys_addrs={0x8000000,0x9000000} attrs=
 a-1 [000] ..... 1.000004: dma_unmap_sg: 0000:00:02.0 dir=TO_DEVICE phys_addrs={0x7000000,0x7100000} attrs=
 a-1 [000] ..... 1.000005: dma_unmap_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=ffff9000 size=4096 attrs=
 a-1 [000] ..... 1.000006: dma_free: 0000:00:02.0 dma_addr=fff00000 size=6000 virt_addr=00000000d8ca1dcc attrs=
 a-1 [000] ..... 1.000007: dma_alloc: 0000:00:02.0 dir=BIDIRECTIONAL dma_addr=0 size=4096 virt_addr=0000000000000000 flags=GFP_KERNEL attrs=
 a-1 [000] ..... 1.000008: dma_sync_single_for_cpu: 0000:00:02.0 dir=FROM_DEVICE dma_addr=ffff9000 size=4096
";
    let (evs, rep) = ftrace(text);
    let d = 0x10;
    let t = |us: u64| Some(us * 1000);
    assert_eq!(
        evs,
        vec![
            attach(t(0), d),
            map(t(0), d, 0xffff_9000, 0x618_a000, 0x1000, Perm::RW),
            // No physical address printed: identity.
            map(t(1), d, 0xfff0_0000, 0xfff0_0000, 0x2000, Perm::RW),
            map(t(2), d, 0x1_0000, 0x700_0000, 0x1000, Perm::R),
            map(t(2), d, 0x2_0000, 0x710_0000, 0x2000, Perm::R),
            // Merged segments: the physical addresses do not pair.
            map(t(3), d, 0x4_0000, 0x4_0000, 0x2000, Perm::R),
            unmap(t(4), d, 0x1_0000, 0x1000),
            unmap(t(4), d, 0x2_0000, 0x2000),
            unmap(t(5), d, 0xffff_9000, 0x1000),
            unmap(t(6), d, 0xfff0_0000, 0x2000),
        ]
    );
    assert_eq!(count(&rep.ignored, "dma_alloc (the allocation failed)"), 1);
    assert_eq!(count(&rep.ignored, "dma_sync_single_for_cpu"), 1);
    assert_eq!(rep.attributed.get("dma map without a physical address: identity assumed"), Some(&2));
}

#[test]
fn ftrace_page_faults_attaches_and_named_devices() {
    let text = "\
 irq/100-1 [002] d.h1. 7.000000: io_page_fault: IOMMU:ath12k_pci 0000:c2:00.0 iova=0x00000000fff00000 flags=0x0001
 irq/100-1 [002] d.h1. 7.000001: io_page_fault: IOMMU:qcom-iommu-ctx 1f09000.iommu-ctx iova=0x0000000000001000 flags=0x0000
 init-1 [000] ..... 7.000002: attach_device_to_domain: IOMMU: device=0000:c2:00.0
 init-1 [000] ..... 7.000003: detach_device_from_domain: IOMMU: device=0001:00:00.0
 init-1 [000] ..... 7.000004: detach_device_from_domain: IOMMU: device=0000:c2:00.0
CPU:1 [LOST 12 EVENTS]
";
    let (evs, rep) = ftrace(text);
    let (ath, ctx) = (0xc200, 0xf0_0000);
    let t = |us: u64| Some(us * 1000);
    assert_eq!(
        evs,
        vec![
            attach(t(0), ath),
            access(t(0), ath, 0xfff0_0000, Access::Write),
            attach(t(1), ctx),
            access(t(1), ctx, 0x1000, Access::Read),
            // Attached already: a new domain.
            Event { time: t(2), kind: EventKind::Detach, device: ath, ..Default::default() },
            attach(t(2), ath),
            Event { time: t(4), kind: EventKind::Detach, device: ath, ..Default::default() },
        ]
    );
    assert_eq!(rep.named_devices.get("1f09000.iommu-ctx"), Some(&ctx));
    assert_eq!(count(&rep.faults, "io_page_fault"), 2);
    assert_eq!(count(&rep.ignored, "detach_device_from_domain (device not attached)"), 1);
    assert_eq!(rep.lost_event_markers, 1);
    assert!(rep.to_string().contains("LOST"));
}

#[test]
fn ftrace_domains_from_context_flushes_and_raw_counter_clocks() {
    // Legacy-mode context setup: a device-selective context flush (sid 0x18 in
    // qw0 47:32), then the domain-selective IOTLB flush of its domain 5.
    let text = "\
 a-1 [000] ..... 100: attach_device_to_domain: IOMMU: device=0000:00:03.0
 a-1 [000] d..2. 150: qi_submit: cc_inv dmar0: 0x1800000031 0x0 0x0 0x0
 a-1 [000] d..2. 160: qi_submit: iotlb_inv dmar0: 0x500e2 0x0 0x0 0x0
 a-1 [000] d..2. 170: qi_submit: p_iotlb_inv dmar0: 0x500050036 0x7000003 0x0 0x0
 a-1 [000] d..2. 140: qi_submit: iotlb_inv dmar0: 0x600e2 0x0 0x0 0x0
";
    let (evs, rep) = ftrace(text);
    assert_eq!(
        evs,
        vec![
            attach(Some(0), 0x18),
            inval(Some(60), 0x18, 0, 0),
            // PASID-based, page-selective: 8 pages at 0x7000000.
            inval(Some(70), 0x18, 0x700_0000, 0x8000),
        ]
    );
    assert_eq!(count(&rep.ignored, "qi_submit iotlb_inv (no attached device known in the domain)"), 1);
    assert_eq!(count(&rep.ignored, "qi_submit cc_inv"), 1);
}

#[test]
fn ftrace_times_that_go_back_are_raised_and_counted() {
    let text = "\
 a-1 [000] ..... 2.000000: io_page_fault: IOMMU:x 0000:00:02.0 iova=0x1000 flags=0x0
 a-1 [001] ..... 1.999000: io_page_fault: IOMMU:x 0000:00:02.0 iova=0x2000 flags=0x0
";
    let (evs, rep) = ftrace(text);
    assert_eq!(evs.last().unwrap().time, Some(0));
    assert_eq!(rep.times_clamped, 1);
}

#[test]
fn ftrace_bad_fields() {
    assert_bad_fields(
        CaptureFormat::Ftrace,
        &[
        (" a-1 [000] ..... 1.0: map: IOMMU: iova=0x1000 - 0x2000 size=4096", "paddr"),
        (" a-1 [000] ..... 1.0: dma_map_page: 0000:00:02.0 dir=SIDEWAYS dma_addr=1 size=1 phys_addr=1", "dir"),
        (" a-1 [000] ..... 1.0: dma_map_sg: 0000:00:02.0 dir=TO_DEVICE dma_addrs={0x1,0x2} sizes={0x1} phys_addrs={}", "sizes"),
        (" a-1 [000] ..... 1.0: dma_unmap_page: 0000:00:2x.0 dir=TO_DEVICE dma_addr=1 size=1", "device"),
        (" a-1 [000] ..... 1.0: qi_submit: iotlb_inv dmar0: 0x400f2", "qw1"),
        (" a-1 [000] ..... 1.0: io_page_fault: IOMMU:x 0000:00:02.0 iova=0x1000", "flags"),
        ],
    );
}

// ---------------------------------------------------------------- detection

#[test]
fn the_format_is_detected_from_the_first_lines_that_show_it() {
    assert_eq!(detect(["", "# tracer: nop"]), Some(CaptureFormat::Ftrace));
    assert_eq!(detect(["Booting...", "  a-1 [000] ..... 1.0: map: IOMMU: x"]), Some(CaptureFormat::Ftrace));
    assert_eq!(detect(["12@1.5:vtd_reg_read addr 0x8 size 0x8"]), Some(CaptureFormat::Qemu));
    assert_eq!(detect(["2025-07-01T00:00:00.000001Z vtd_reg_read addr 0x8"]), Some(CaptureFormat::Qemu));
    assert_eq!(detect(["smmuv3_translate_success m sid=0x10"]), Some(CaptureFormat::Qemu));
    assert_eq!(detect(["mount_root failed", "hello world"]), None);

    let (_, rep) = run("console noise\n1@1.0:vtd_reg_read addr 0x8 size 0x8\n", ImportOptions::default()).unwrap();
    assert_eq!(rep.format, Some(CaptureFormat::Qemu));
    assert_eq!((rep.non_event_lines, rep.ignored_named("vtd_reg_read")), (1, 1));
    let Err(ImportError::UnknownFormat { lines: 2, .. }) = run("a\nb\n", ImportOptions::default()) else {
        panic!("no format")
    };
    let (evs, rep) = run("", ImportOptions::default()).unwrap();
    assert!(evs.is_empty() && rep.lines == 0);
}

#[test]
fn addresses_at_the_top_of_the_address_space_are_skipped() {
    let text = "\
vtd_dmar_fault sid 0x10 fault 6 addr 0xfffffffffffff010 write 0
riscv_iommu_dma i: translate 0000:01.0 #0 RW 0xfffffffffffffff0 -> 0x1000
smmuv3_translate_success mr sid=0x10 iova=0xfffffffffffff000 translated=0x1000 perm=0x1
";
    let (evs, rep) = qemu(text);
    assert!(evs.is_empty());
    assert_eq!(rep.ignored_lines(), 3);
    assert!(rep.faults.is_empty());
}

#[test]
fn overlong_lines_are_bad_lines() {
    let text = format!(
        "{}\nvtd_dmar_fault sid 0x10 fault 6 addr 0x5000 write 0\n",
        "vtd_reg_read ".repeat(iommu_traces::import::MAX_LINE / 10)
    );
    let opts = ImportOptions { format: Some(CaptureFormat::Qemu), ..Default::default() };
    let Err(ImportError::Line(e)) = run(&text, opts) else { panic!("an overlong line is an error") };
    assert_eq!(e.line, 1);
    let (evs, rep) = run(&text, ImportOptions { skip_bad_lines: true, ..opts }).unwrap();
    assert_eq!((rep.bad_lines, evs.len()), (1, 2));
}

#[test]
fn quoted_and_crlf_lines_are_read() {
    let text = "> 1@1.000000:vtd_dmar_fault sid 0x10 fault 6 addr 0x5000 write 0\r\n\r\n";
    let (evs, rep) = qemu(text);
    assert_eq!(evs.len(), 2);
    assert_eq!(rep.blank_lines, 1);
}

// ---------------------------------------------------------------- no panics

const FTRACE_SAMPLE: &str = include_str!("../../tests/captures/ftrace-iommu-dma.txt");
const QEMU_SAMPLE: &str = include_str!("../../tests/captures/qemu-vtd-nvme-e1000e.log");

fn lines_of(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// Lines of every event with numbers to fill in (`{a}`, `{b}`, `{c}`: hexadecimal;
/// `{t}`: a time).
const TEMPLATES: &[(bool, &str)] = &[
    (false, "riscv_iommu_dma i: translate 0000:01.0 #0 RW 0x{a} -> 0x{b}"),
    (false, "riscv_iommu_flt i: fault 0000:01.0 reason: 0x{c} iova: 0x{a}"),
    (false, "vtd_iotlb_page_update IOTLB page update sid 0x10 iova 0x{a} slpte 0x{b} domain 0x4"),
    (false, "vtd_dmar_translate dev 00:02.00 iova 0x{a} -> gpa 0x{b} mask 0x{c}"),
    (false, "vtd_dmar_fault sid 0x10 fault 6 addr 0x{a} write 1"),
    (false, "vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x4 addr 0x{a} mask 0x{c}"),
    (false, "amdvi_cache_update  update iotlb domid 0x2 devid: 00:03.0 gpa 0x{a} hpa 0x{b}"),
    (false, "amdvi_translation_result devid: 00:03.0 gpa 0x{a} hpa 0x{b}"),
    (false, "smmuv3_translate_success m sid=0x10 iova=0x{a} translated=0x{b} perm=0x3"),
    (false, "1@{t}:vtd_dmar_fault sid 0x10 fault 6 addr 0x{a} write 1"),
    (true, " a-1 [000] ..... {t}: map: IOMMU: iova=0x{a} - 0x0 paddr=0x{b} size=0x{c}"),
    (true, " a-1 [000] ..... {t}: unmap: IOMMU: iova=0x{a} - 0x0 size=0x{c} unmapped_size=0x{c}"),
    (true, " a-1 [000] ..... 1.0: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr={a} size=0x{c} phys_addr={b} attrs="),
    (true, " a-1 [000] ..... 1.0: dma_alloc: 0000:00:02.0 dma_addr={a} size=0x{c} virt_addr=0 flags= attrs="),
    (true, " a-1 [000] ..... 1.0: dma_map_sg: 0000:00:02.0 dir=NONE dma_addrs={0x{a},0x{b}} sizes={0x{c},0x{c}} phys_addrs={0x{b},0x{a}} attrs="),
    (true, " a-1 [000] ..... 1.0: dma_unmap_sg: 0000:00:02.0 dir=NONE phys_addrs={0x{b}} attrs="),
    (true, " a-1 [000] ..... 1.0: dma_free: 0000:00:02.0 dma_addr={a} size=0x{c} virt_addr=0 attrs="),
    (true, " a-1 [000] ..... 1.0: qi_submit: iotlb_inv dmar0: 0x{a} 0x{b} 0x0 0x0"),
    (true, " a-1 [000] ..... 1.0: qi_submit: p_iotlb_inv dmar0: 0x{a} 0x{b} 0x0 0x0"),
    (true, " a-1 [000] ..... 1.0: io_page_fault: IOMMU:x 0000:00:02.0 iova=0x{a} flags=0x{c}"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn extreme_numbers_in_every_field_never_panic(
        picks in prop::collection::vec((0usize..20, any::<u64>(), any::<u64>(), any::<u64>(), 0u32..3), 1..12),
        ftrace_side in any::<bool>(),
    ) {
        let pick = |v: u64, how: u32| match how {
            0 => v,
            1 => u64::MAX - (v & 0xffff),
            _ => v & 0xffff,
        };
        let mut text = String::new();
        for (i, a, b, c, how) in picks {
            let (is_ftrace, t) = TEMPLATES[i % TEMPLATES.len()];
            if is_ftrace != ftrace_side {
                continue;
            }
            let (a, b, c) = (pick(a, how), pick(b, how), pick(c, how));
            let time = format!("{}.{:06}", b % 100_000_000_000, c % 1_000_000);
            let line = t
                .replace("{t}", &time)
                .replace("{a}", &format!("{a:x}"))
                .replace("{b}", &format!("{b:x}"))
                .replace("{c}", &format!("{c:x}"));
            text.push_str(&line);
            text.push('\n');
        }
        let format = Some(if ftrace_side { CaptureFormat::Ftrace } else { CaptureFormat::Qemu });
        let _ = run(&text, ImportOptions { format, skip_bad_lines: true, ..Default::default() }).unwrap();
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,300}", skip in any::<bool>()) {
        for format in [Some(CaptureFormat::Qemu), Some(CaptureFormat::Ftrace), None] {
            let opts = ImportOptions { format, skip_bad_lines: skip, ..Default::default() };
            let _ = run(&s, opts);
        }
    }

    #[test]
    fn mutated_capture_lines_never_panic_and_give_valid_traces(
        ftrace_side in any::<bool>(),
        first in 0usize..1300,
        n in 1usize..40,
        at in any::<prop::sample::Index>(),
        len in 0usize..30,
        with in "[ -~]{0,16}",
    ) {
        let lines = lines_of(if ftrace_side { FTRACE_SAMPLE } else { QEMU_SAMPLE });
        let first = first % lines.len();
        let chunk: Vec<&str> = lines.iter().skip(first).take(n).copied().collect();
        let pick = at.index(chunk.len());
        let mut text = String::new();
        for (i, l) in chunk.iter().enumerate() {
            if i == pick {
                let a = at.index(l.len() + 1).min(l.len());
                let b = (a + len).min(l.len());
                if l.is_char_boundary(a) && l.is_char_boundary(b) {
                    text.push_str(&l[..a]);
                    text.push_str(&with);
                    text.push_str(&l[b..]);
                }
            } else {
                text.push_str(l);
            }
            text.push('\n');
        }
        let format = Some(if ftrace_side { CaptureFormat::Ftrace } else { CaptureFormat::Qemu });
        // `run` reads the output back and checks the report balances.
        let _ = run(&text, ImportOptions { format, skip_bad_lines: true, ..Default::default() }).unwrap();
    }
}
