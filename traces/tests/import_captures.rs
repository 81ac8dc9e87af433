//! The importers on real captures (`tests/captures/`, see its README): a Debian
//! 6.12 guest driving an NVMe disk and a virtio-net NIC through QEMU 7.2's VT-d,
//! captured at once by QEMU's trace log and by the guest's ftrace.

use iommu_model::Access;
use iommu_traces::import::{import, CaptureFormat, ImportOptions, ImportReport};
use iommu_traces::trace::{Event, EventKind, Perm, TraceReader, TraceWriter};
use std::collections::{BTreeMap, BTreeSet};

const QEMU_LOG: &str = include_str!("../../tests/captures/qemu-vtd-nvme-e1000e.log");
const FTRACE: &str = include_str!("../../tests/captures/ftrace-iommu-dma.txt");

/// Imports with the format detected; the events as the trace reader reads them back.
fn import_text(text: &str, file: &str) -> (Vec<Event>, ImportReport) {
    let mut w = TraceWriter::new(Vec::new()).unwrap();
    let report = import(text.as_bytes(), file, &ImportOptions::default(), &mut w).unwrap();
    let csv = String::from_utf8(w.finish().unwrap()).unwrap();
    let mut r = TraceReader::new(csv.as_bytes(), file);
    let mut evs = vec![];
    while let Some(e) = r.next_event().unwrap() {
        evs.push(e);
    }
    assert!(report.balanced(), "{report}");
    (evs, report)
}

/// Lines of the capture holding `needle`.
fn lines_with(text: &str, needle: &str) -> u64 {
    text.lines().filter(|l| l.contains(needle)).count() as u64
}

/// Replays the mapping events page by page and checks that every device is
/// attached before use, every access's page is mapped (with the permission the
/// access needs) except for faults, every unmap removes mapped pages, and a map
/// never repeats what is mapped already. Returns every (device, page, physical
/// page) mapped, with its permission.
fn check_mappings(evs: &[Event], faults: usize) -> BTreeMap<(u32, u64, u64), Perm> {
    let mut attached = BTreeSet::new();
    let mut pages: BTreeMap<(u32, u64), (u64, Perm)> = BTreeMap::new();
    let mut all = BTreeMap::new();
    let mut unmapped_accesses = 0;
    let mut last_time = 0;
    for e in evs {
        if let Some(t) = e.time {
            assert!(t >= last_time, "times never go back: {e:?}");
            last_time = t;
        }
        match e.kind {
            EventKind::Attach => {
                attached.insert(e.device);
            }
            EventKind::Detach => {
                attached.remove(&e.device);
                pages.retain(|&(d, _), _| d != e.device);
            }
            _ => assert!(attached.contains(&e.device), "{:#x} used before its attach: {e:?}", e.device),
        }
        match e.kind {
            EventKind::Map => {
                let mut repeat = true;
                for off in (0..e.size).step_by(4096) {
                    let new = (e.pa + off, e.perm);
                    repeat &= pages.get(&(e.device, e.iova + off)) == Some(&new);
                    pages.insert((e.device, e.iova + off), new);
                    all.insert((e.device, e.iova + off, e.pa + off), e.perm);
                }
                assert!(!repeat, "a map of what is mapped already: {e:?}");
            }
            EventKind::Unmap => {
                for off in (0..e.size).step_by(4096) {
                    assert!(pages.remove(&(e.device, e.iova + off)).is_some(), "unmap of an unmapped page: {e:?}");
                }
            }
            EventKind::Access => match pages.get(&(e.device, e.iova & !0xfff)) {
                Some((_, perm)) => assert!(e.access != Access::Write || perm.w(), "{e:?} needs a writable page"),
                None => unmapped_accesses += 1,
            },
            _ => {}
        }
    }
    assert_eq!(unmapped_accesses, faults, "only faults access unmapped pages");
    all
}

#[test]
fn the_qemu_vtd_log_becomes_one_access_per_translation() {
    let (evs, rep) = import_text(QEMU_LOG, "qemu-vtd-nvme-e1000e.log");
    assert_eq!(rep.format, Some(CaptureFormat::Qemu));
    assert_eq!(rep.lines, QEMU_LOG.lines().count() as u64);
    assert_eq!(rep.lines, 1324);

    // NVMe 00:02.0 (0x10) and virtio-net 00:03.0 (0x18) translate. The e1000e
    // 00:01.0 (0x08) appears only in a context-cache invalidation: the log is cut
    // (after the 150th translation) before it does any DMA.
    assert_eq!(rep.devices.iter().copied().collect::<Vec<_>>(), vec![0x10, 0x18]);
    assert_eq!(lines_with(QEMU_LOG, "sid 0x8 "), 1);

    // Every translation result completes the cache hit or update before it: one
    // access each, at the address the cache line gives.
    let translations = lines_with(QEMU_LOG, ":vtd_dmar_translate ");
    assert_eq!(translations, 150);
    let accesses: Vec<&Event> = evs.iter().filter(|e| e.kind == EventKind::Access).collect();
    assert_eq!(accesses.len() as u64, translations);
    assert_eq!(rep.merged.get("vtd_dmar_translate (completes the translation line before it)"), Some(&150));
    let cache_lines = lines_with(QEMU_LOG, ":vtd_iotlb_page_hit ") + lines_with(QEMU_LOG, ":vtd_iotlb_page_update ");
    assert_eq!(cache_lines, 150);
    let per_device = |d: u32| accesses.iter().filter(|e| e.device == d).count() as u64;
    assert_eq!(per_device(0x10), lines_with(QEMU_LOG, "vtd_dmar_translate dev 00:02.00"));
    assert_eq!(per_device(0x18), lines_with(QEMU_LOG, "vtd_dmar_translate dev 00:03.00"));
    assert_eq!((per_device(0x10), per_device(0x18)), (144, 6));
    assert!(accesses.iter().any(|e| e.iova == 0xffff_e040), "exact addresses from the hit lines");

    // One map per page: the misses (page updates) of distinct pages.
    assert_eq!(rep.events_of("map"), 24);
    let maps = check_mappings(&evs, 0);
    // Read-only entries (slpte R only) for the NVMe's TO_DEVICE buffers.
    assert_eq!(maps.get(&(0x10, 0xffff_b000, 0x332f_3000)), Some(&Perm::R));
    assert_eq!(maps.get(&(0x18, 0xffff_d000, 0x7fe6_5000)), Some(&Perm::RW));

    // Invalidations of the domains whose devices the log showed (domain 4 is the
    // NVMe's), for the pages they name (1, 4 or 16); the others are skipped with
    // the reason.
    assert_eq!(rep.events_of("inval"), 34);
    let sizes: BTreeSet<u64> =
        evs.iter().filter(|e| e.kind == EventKind::Inval && e.device == 0x10).map(|e| e.size).collect();
    assert_eq!(sizes, BTreeSet::from([0x1000, 0x4000, 0x10000]));
    assert_eq!(rep.ignored_named("vtd_inv_desc_iotlb_pages"), 6);
    assert_eq!(rep.ignored_named("vtd_inv_desc_iotlb_domain"), 7);

    // What carries nothing for replay is counted by name.
    assert_eq!(rep.ignored.get("vtd_switch_address_space"), Some(&lines_with(QEMU_LOG, ":vtd_switch_address_space ")));
    assert_eq!(rep.ignored.get("vtd_switch_address_space"), Some(&42));
    assert_eq!(rep.ignored.get("vtd_inv_qi_head"), Some(&200));
    assert_eq!(rep.non_event_lines + rep.blank_lines + rep.bad_lines, 0);

    // Times: cycles at 1 GHz from the first event (the first page update,
    // 1795607233.726643) to the last translation's page update (...236.897197).
    assert_eq!(evs.first().unwrap().time, Some(0));
    assert_eq!(evs.last().unwrap().time, Some(3_170_554_000));
}

#[test]
fn the_ftrace_capture_becomes_the_mapping_lifetimes_of_each_device() {
    let (evs, rep) = import_text(FTRACE, "ftrace-iommu-dma.txt");
    assert_eq!(rep.format, Some(CaptureFormat::Ftrace));
    assert_eq!(rep.lines, 400);
    assert_eq!(rep.non_event_lines, lines_with(FTRACE, "#"));

    // The seven devices attach_device_to_domain names.
    assert_eq!(rep.converted.get("attach_device_to_domain"), Some(&7));
    let devices: Vec<u32> = rep.devices.iter().copied().collect();
    assert_eq!(devices, vec![0x00, 0x08, 0x10, 0x18, 0xf8, 0xfa, 0xfb]);

    // Every iommu:map and iommu:unmap line is a map or an unmap; the dma:* lines
    // name their devices and add nothing else.
    let (map_lines, unmap_lines) = (lines_with(FTRACE, ": map: IOMMU"), lines_with(FTRACE, ": unmap: IOMMU"));
    assert_eq!((map_lines, unmap_lines), (78, 28));
    assert_eq!(rep.converted.get("map"), Some(&map_lines));
    assert_eq!(rep.converted.get("unmap"), Some(&unmap_lines));
    assert_eq!(rep.events_of("map"), map_lines);
    assert_eq!(rep.events_of("unmap"), unmap_lines);
    assert_eq!(rep.merged.get("dma_map_page (already mapped)"), Some(&lines_with(FTRACE, "dma_map_page:")));
    assert_eq!(rep.merged.get("dma_alloc (already mapped)"), Some(&lines_with(FTRACE, "dma_alloc:")));
    // All maps but one take their device from a dma line with the same IOVA; the
    // 16 MiB identity map at IOVA 0 (the LPC bridge's) has none and goes to the
    // device named last before it.
    assert_eq!(rep.attributed.get("iommu map: device of a dma event with the same IOVA"), Some(&77));
    assert_eq!(rep.attributed.get("iommu map: the device named last before it"), Some(&1));
    assert!(evs.iter().any(|e| e.kind == EventKind::Map && e.iova == 0 && e.size == 16 << 20));

    // No accesses: the kernel does not see them. Unmaps only of mapped pages.
    assert_eq!(rep.events_of("access"), 0);
    let maps = check_mappings(&evs, 0);
    // TO_DEVICE buffers are mapped read-only, the rest read-write.
    assert_eq!(maps.get(&(0x10, 0xffff_b000, 0x332f_3000)), Some(&Perm::R));
    assert_eq!(maps.get(&(0x10, 0xffff_9000, 0x618_a000)), Some(&Perm::RW));
    // The same IOVAs in two domains: each device gets its own.
    assert_eq!(maps.get(&(0x10, 0xffff_e000, 0x332f_6000)), Some(&Perm::RW));
    assert_eq!(maps.get(&(0x18, 0xffff_e000, 0x5f2_e000)), Some(&Perm::RW));

    // Invalidations: the IOTLB descriptors of qi_submit, page-selective ones for
    // their pages, once the domain's device is known.
    assert_eq!(rep.converted.get("qi_submit iotlb_inv"), Some(&68));
    assert_eq!(rep.ignored.get("qi_submit iec_inv"), Some(&lines_with(FTRACE, "qi_submit: iec_inv")));
    let invals: Vec<&Event> = evs.iter().filter(|e| e.kind == EventKind::Inval).collect();
    assert!(invals.iter().filter(|e| e.size != 0).all(|e| e.device == 0x10 || e.device == 0x18));

    // Times: guest seconds since boot, from the first attach (2.595177) to the
    // last unmap (8.486991).
    assert_eq!(evs.first().unwrap().time, Some(0));
    assert_eq!(evs.last().unwrap().time, Some(5_891_814_000));
}

#[test]
fn both_sides_of_the_capture_agree_on_the_mappings() {
    // The QEMU log sees the translations the guest's mappings produce: every page
    // the QEMU trace maps is mapped, to the same physical page, for the same
    // device, in the ftrace trace.
    let (q, _) = import_text(QEMU_LOG, "qemu");
    let (f, _) = import_text(FTRACE, "ftrace");
    let qemu_maps = check_mappings(&q, 0);
    let ftrace_maps = check_mappings(&f, 0);
    assert_eq!(qemu_maps.len(), 24);
    for (&(dev, page, pa), perm) in &qemu_maps {
        assert_eq!(ftrace_maps.get(&(dev, page, pa)), Some(perm), "device {dev:#x} page {page:#x} -> {pa:#x}");
    }
}
