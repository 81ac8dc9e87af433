//! Linux ftrace text output (`trace`, `trace_pipe`, and `perf script`-style lines
//! with a `subsystem:` prefix): `iommu:*`, `dma:*` (v6.12+) and
//! `intel_iommu:qi_submit` / `cache_tag_assign`.

use super::convert::{DevSel, Engine, Item, Obs, Target, Wait, CLAIM_WINDOW};
use super::line::{ftrace_line, pci_name, Fields};
use crate::trace::{Perm, TraceError};
use iommu_model::Access;
use std::collections::HashMap;

/// Device IDs given to devices without a PCI name (`ff160000.mmc`), in order of
/// appearance: this one, then up.
pub(crate) const NAMED_DEVICE_BASE: u32 = 0xF0_0000;
/// Lines between `cache_tag_assign` and the `attach_device_to_domain` it goes with.
const ASSIGN_WINDOW: u64 = 8;
/// Lines between a device-selective context-cache flush and the domain-selective
/// IOTLB flush that follows it when a context entry is set up.
const CC_WINDOW: u64 = 4;

/// The events the importer reads; any other event line is counted as skipped.
const EVENTS: &[&str] = &[
    "map",
    "unmap",
    "io_page_fault",
    "attach_device_to_domain",
    "detach_device_from_domain",
    "add_device_to_group",
    "remove_device_from_group",
    "qi_submit",
    "cache_tag_assign",
    "dma_map_page",
    "dma_map_phys",
    "dma_map_resource",
    "dma_alloc",
    "dma_alloc_pages",
    "dma_alloc_sgt",
    "dma_map_sg",
    "dma_unmap_page",
    "dma_unmap_phys",
    "dma_unmap_resource",
    "dma_free",
    "dma_free_pages",
    "dma_free_sgt",
    "dma_unmap_sg",
];

/// `qi_submit` descriptor types, as the event prints them, and the names their
/// lines are counted under.
const QI_TYPES: &[(&str, &str)] = &[
    ("cc_inv", "qi_submit cc_inv"),
    ("iotlb_inv", "qi_submit iotlb_inv"),
    ("dev_tlb_inv", "qi_submit dev_tlb_inv"),
    ("iec_inv", "qi_submit iec_inv"),
    ("inv_wait", "qi_submit inv_wait"),
    ("p_iotlb_inv", "qi_submit p_iotlb_inv"),
    ("pc_inv", "qi_submit pc_inv"),
    ("p_dev_tlb_inv", "qi_submit p_dev_tlb_inv"),
    ("page_grp_resp", "qi_submit page_grp_resp"),
];

/// The state the ftrace importer keeps between lines.
#[derive(Default)]
pub(crate) struct FtraceParser {
    /// The device the capture named last.
    last_dev: Option<u32>,
    /// Non-PCI device names and their IDs.
    named: HashMap<String, u32>,
    /// `cache_tag_assign`'s domain ID, waiting for its `attach_device_to_domain`.
    pending_did: Option<(u32, u64)>,
    /// A device-selective context-cache flush's source ID, waiting for the
    /// domain-selective IOTLB flush that names its domain.
    pending_sid: Option<(u32, u64)>,
}

fn dir_perm(f: &Fields<'_>) -> Result<Perm, TraceError> {
    Ok(match f.opt_tagged("dir=") {
        None | Some("BIDIRECTIONAL" | "FROM_DEVICE" | "NONE") => Perm::RW,
        Some("TO_DEVICE") => Perm::R,
        Some(other) => {
            return Err(f.err("dir", format!("{other:?} is not BIDIRECTIONAL, TO_DEVICE, FROM_DEVICE or NONE")))
        }
    })
}

impl FtraceParser {
    /// The device ID of a device name: the requester ID of a PCI name, or an ID
    /// from [`NAMED_DEVICE_BASE`] up for any other name.
    fn device(&mut self, f: &Fields<'_>, name: &str, eng: &mut Engine) -> Result<u32, TraceError> {
        if let Some(id) = pci_name(name) {
            self.last_dev = Some(id);
            return Ok(id);
        }
        let looks_pci = name.len() >= 12 && name.as_bytes().get(4) == Some(&b':') && name.contains('.');
        if name.is_empty() || looks_pci {
            return Err(f.err("device", format!("{name:?} is not a device name (dddd:bb:ss.f)")));
        }
        let id = match self.named.get(name) {
            Some(&id) => id,
            None => {
                let n = u32::try_from(self.named.len()).unwrap_or(u32::MAX);
                if n >= 0x10_0000 - (NAMED_DEVICE_BASE & 0xf_ffff) {
                    return Err(f.err("device", "too many non-PCI device names"));
                }
                let id = NAMED_DEVICE_BASE + n;
                self.named.insert(name.to_string(), id);
                eng.report.named_devices.insert(name.to_string(), id);
                id
            }
        };
        self.last_dev = Some(id);
        Ok(id)
    }

    /// The device a `dma:*` line starts with.
    fn dma_device(&mut self, f: &Fields<'_>, eng: &mut Engine) -> Result<u32, TraceError> {
        let name = f.text.split_ascii_whitespace().next().ok_or_else(|| f.err("device", "missing"))?;
        self.device(f, name, eng)
    }

    /// Reads one line (not blank, quoting removed).
    pub fn line(&mut self, text: &str, no: u64, file: &str, eng: &mut Engine) -> Result<(), TraceError> {
        if text.starts_with('#') {
            eng.non_event();
            return Ok(());
        }
        let Some(l) = ftrace_line(text) else {
            if text.contains("[LOST ") && text.contains(" EVENTS]") {
                eng.report.lost_event_markers += 1;
            }
            eng.non_event();
            return Ok(());
        };
        let Some(&name) = EVENTS.iter().find(|&&k| k == l.event) else {
            eng.ignored(l.event, None);
            return Ok(());
        };
        let t = Some(l.time);
        let f = Fields::new(name, l.body, file, no);
        match name {
            "map" => {
                let iova = f.hex("iova", f.tagged("iova=")?)?;
                let pa = f.hex("paddr", f.tagged("paddr=")?)?;
                let size = f.number("size", f.tagged("size=")?)?;
                let obs = Obs::Map { dev: DevSel::Unknown { last_seen: self.last_dev }, iova, size, pa };
                eng.push(Item::new(no, t, name, obs).waiting(Wait::Claim(no + CLAIM_WINDOW)));
            }
            "unmap" => {
                let iova = f.hex("iova", f.tagged("iova=")?)?;
                let size = f.number("size", f.tagged("size=")?)?;
                let unmapped = match f.opt_tagged("unmapped_size=") {
                    Some(u) => f.number("unmapped_size", u)?,
                    None => size,
                };
                eng.saw_iommu_unmap = true;
                if unmapped == 0 {
                    eng.ignored(name, Some("nothing was unmapped"));
                    return Ok(());
                }
                let obs = Obs::Unmap { dev: DevSel::Unknown { last_seen: self.last_dev }, iova, size: unmapped };
                eng.push(Item::new(no, t, name, obs).waiting(Wait::Claim(no + CLAIM_WINDOW)));
            }
            "io_page_fault" => {
                // "IOMMU:<driver> <device> iova=0x... flags=0x...": the device is the
                // word before iova=.
                let words: Vec<&str> = f.text.split_ascii_whitespace().collect();
                let at = words.iter().position(|w| w.starts_with("iova=")).ok_or_else(|| f.err("iova", "missing"))?;
                let dev_name = at.checked_sub(1).and_then(|i| words.get(i)).copied().unwrap_or("");
                let dev_name = dev_name.strip_prefix("IOMMU:").unwrap_or(dev_name);
                let dev = self.device(&f, dev_name, eng)?;
                let iova = f.hex("iova", f.tagged("iova=")?)?;
                let flags = f.number("flags", f.tagged("flags=")?)?;
                let access = if flags & 1 != 0 { Access::Write } else { Access::Read };
                eng.push(Item::new(no, t, name, Obs::Fault { dev, pid: None, iova, access }));
            }
            "attach_device_to_domain" | "detach_device_from_domain" => {
                let dev = self.device(&f, f.tagged("device=")?, eng)?;
                if name == "attach_device_to_domain" {
                    if let Some((did, l)) = self.pending_did.take() {
                        if no.saturating_sub(l) <= ASSIGN_WINDOW {
                            eng.bind(did, dev);
                        }
                    }
                    eng.push(Item::new(no, t, name, Obs::Attach { dev }));
                } else {
                    eng.push(Item::new(no, t, name, Obs::Detach { dev }));
                }
            }
            "add_device_to_group" | "remove_device_from_group" => {
                self.device(&f, f.tagged("device=")?, eng)?;
                eng.ignored(name, None);
            }
            "cache_tag_assign" => {
                // "<iommu>/<device> type <type> did <n> pasid <n> ref <n>": the device
                // is the IOMMU's own for IOTLB tags, the PCI device for device-TLB ones.
                let did = f.number("did", f.after("did", "did")?)?;
                let did = u32::try_from(did).map_err(|_| f.err("did", "too large"))?;
                let dev = f.text.split_ascii_whitespace().next().and_then(|w| w.split_once('/')).map(|(_, d)| d);
                match dev.and_then(pci_name) {
                    Some(d) => eng.bind(did, d),
                    None => self.pending_did = Some((did, no)),
                }
                eng.ignored(name, None);
            }
            "qi_submit" => self.qi_submit(&f, no, t, eng)?,
            "dma_unmap_sg" => {
                let dev = self.dma_device(&f, eng)?;
                let phys = f.array("phys_addrs", f.tagged("phys_addrs=")?)?;
                eng.push(Item::new(no, t, name, Obs::DmaUnmapPhys { dev, phys }));
            }
            "dma_unmap_page" | "dma_unmap_phys" | "dma_unmap_resource" | "dma_free" | "dma_free_pages"
            | "dma_free_sgt" => {
                let dev = self.dma_device(&f, eng)?;
                let iova = f.hex("dma_addr", f.tagged("dma_addr=")?)?;
                let size = f.number("size", f.tagged("size=")?)?;
                eng.claim(no, dev, true, &[(iova, size)], None);
                eng.push(Item::new(no, t, name, Obs::DmaUnmap { dev, entries: vec![(iova, size)] }));
            }
            "dma_map_sg" => {
                let dev = self.dma_device(&f, eng)?;
                let perm = dir_perm(&f)?;
                let addrs = f.array("dma_addrs", f.tagged("dma_addrs=")?)?;
                let sizes = f.array("sizes", f.tagged("sizes=")?)?;
                let phys = f.array("phys_addrs", f.tagged("phys_addrs=")?)?;
                if addrs.len() != sizes.len() {
                    return Err(f.err("sizes", format!("{} sizes for {} dma_addrs", sizes.len(), addrs.len())));
                }
                // IOMMU mappings merge segments: the physical addresses then do not
                // pair with the DMA addresses, and are left out.
                let paired = phys.len() == addrs.len();
                let entries: Vec<(u64, u64, Option<u64>)> = addrs
                    .iter()
                    .zip(&sizes)
                    .enumerate()
                    .map(|(i, (&a, &s))| (a, s, if paired { phys.get(i).copied() } else { None }))
                    .collect();
                let ranges: Vec<(u64, u64)> = entries.iter().map(|&(a, s, _)| (a, s)).collect();
                eng.claim(no, dev, false, &ranges, Some(perm));
                eng.push(Item::new(no, t, name, Obs::DmaMap { dev, entries, perm }));
            }
            _ => {
                // dma_map_page/phys/resource, dma_alloc/alloc_pages/alloc_sgt.
                let dev = self.dma_device(&f, eng)?;
                let perm = dir_perm(&f)?;
                let iova = f.hex("dma_addr", f.tagged("dma_addr=")?)?;
                let size = f.number("size", f.tagged("size=")?)?;
                let pa = match name {
                    "dma_map_page" | "dma_map_phys" | "dma_map_resource" => {
                        Some(f.hex("phys_addr", f.tagged("phys_addr=")?)?)
                    }
                    "dma_alloc_sgt" => {
                        let phys = f.array("phys_addrs", f.tagged("phys_addrs=")?)?;
                        if phys.len() == 1 {
                            phys.first().copied()
                        } else {
                            None
                        }
                    }
                    _ => {
                        let failed = iova == 0
                            && f.opt_tagged("virt_addr=").is_some_and(|v| v.bytes().all(|c| c == b'0' || c == b'x'));
                        if failed {
                            eng.ignored(name, Some("the allocation failed"));
                            return Ok(());
                        }
                        None
                    }
                };
                eng.claim(no, dev, false, &[(iova, size)], Some(perm));
                eng.push(Item::new(no, t, name, Obs::DmaMap { dev, entries: vec![(iova, size, pa)], perm }));
            }
        }
        Ok(())
    }

    /// `qi_submit`: `<type> <iommu>: qw0 qw1 qw2 qw3`, a VT-d invalidation descriptor.
    fn qi_submit(
        &mut self,
        f: &Fields<'_>,
        no: u64,
        t: Option<super::line::Stamp>,
        eng: &mut Engine,
    ) -> Result<(), TraceError> {
        let mut w = f.text.split_ascii_whitespace();
        let typ = w.next().ok_or_else(|| f.err("type", "missing"))?;
        let _iommu = w.next().ok_or_else(|| f.err("iommu", "missing"))?;
        let qw0 = f.number("qw0", w.next().ok_or_else(|| f.err("qw0", "missing"))?)?;
        let qw1 = f.number("qw1", w.next().ok_or_else(|| f.err("qw1", "missing"))?)?;
        let Some(&(_, name)) = QI_TYPES.iter().find(|(k, _)| *k == typ) else {
            eng.ignored("qi_submit", Some("unknown descriptor type"));
            return Ok(());
        };
        let gran = (qw0 >> 4) & 3;
        let did = ((qw0 >> 16) & 0xffff) as u32;
        // Page-selective: address in qw1 63:12, address mask (log2 pages) in 5:0.
        let page_range = || {
            let am = qw1 & 0x3f;
            (am <= 52).then(|| (qw1 & !0xfff, 0x1000u64 << am))
        };
        let (target, range) = match (typ, gran) {
            ("cc_inv", 3) => {
                // Device-selective context flush: source ID in 47:32.
                self.pending_sid = Some((((qw0 >> 32) & 0xffff) as u32, no));
                eng.ignored(name, None);
                return Ok(());
            }
            ("iotlb_inv", 1) => (Target::All, None),
            ("iotlb_inv", 2) => {
                if let Some((sid, l)) = self.pending_sid.take() {
                    if no.saturating_sub(l) <= CC_WINDOW {
                        eng.bind(did, sid);
                    }
                }
                (Target::Domain(did), None)
            }
            ("iotlb_inv", 3) | ("p_iotlb_inv", 3) => match page_range() {
                Some(r) => (Target::Domain(did), Some(r)),
                None => return Err(f.err("qw1", format!("address mask {} is more than 52", qw1 & 0x3f))),
            },
            ("p_iotlb_inv", _) => (Target::Domain(did), None),
            ("iotlb_inv", _) => {
                eng.ignored(name, Some("reserved granularity"));
                return Ok(());
            }
            _ => {
                eng.ignored(name, None);
                return Ok(());
            }
        };
        eng.push(Item::new(no, t, name, Obs::Inval { target, range }));
        Ok(())
    }
}
