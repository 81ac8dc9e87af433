//! QEMU trace-event logs (the `log` backend) of the RISC-V IOMMU, Intel VT-d,
//! AMD-Vi and Arm SMMUv3 models.

use super::convert::{Engine, Item, Obs, Target, Wait, MERGE_WINDOW};
use super::line::{qemu_line, Fields, Stamp};
use crate::trace::{Perm, TraceError};
use iommu_model::Access;
use std::collections::HashMap;

/// Address bits of a VT-d second-level PTE (51:12).
const SLPTE_ADDR: u64 = 0x000f_ffff_ffff_f000;
/// The page-size bit of a VT-d PTE.
const SLPTE_PS: u64 = 1 << 7;

/// The events the importer reads; any other event line is counted as skipped.
const EVENTS: &[&str] = &[
    "riscv_iommu_dma",
    "riscv_iommu_flt",
    "vtd_dmar_translate",
    "vtd_iotlb_page_hit",
    "vtd_iotlb_page_update",
    "vtd_translate_pt",
    "vtd_dmar_fault",
    "vtd_inv_desc_iotlb_global",
    "vtd_inv_desc_iotlb_domain",
    "vtd_inv_desc_iotlb_pasid",
    "vtd_inv_desc_iotlb_pages",
    "vtd_inv_desc_iotlb_pasid_pages",
    "amdvi_translation_result",
    "amdvi_iotlb_hit",
    "amdvi_cache_update",
    "amdvi_page_fault",
    "amdvi_pages_inval",
    "amdvi_all_inval",
    "smmuv3_translate_success",
    "smmuv3_translate_abort",
];

/// The state the QEMU importer keeps between lines.
#[derive(Default)]
pub(crate) struct QemuParser {
    /// The last `riscv_iommu_flt` of each device (IOVA, line): the
    /// `riscv_iommu_dma` line QEMU prints after it is the same failed translation.
    riscv_faults: HashMap<u32, (u64, u64)>,
    /// The last `amdvi_page_fault` (address, line): it names no device; the
    /// translation lines of the same address that follow do.
    amd_fault: Option<(u64, u64)>,
}

fn dir_flags(f: &Fields<'_>, dir: &str) -> Result<(Perm, Access), TraceError> {
    Ok(match dir {
        "RO" => (Perm::R, Access::Read),
        "WR" | "RW" => (Perm::RW, Access::Write),
        "NA" => (Perm::RW, Access::Read),
        other => return Err(f.err("dir", format!("{other:?} is not NA, RO, WR or RW"))),
    })
}

/// The text after `marker` (`": translate "`), which follows the free-form id.
fn after_marker<'a>(f: &Fields<'a>, marker: &str, field: &str) -> Result<&'a str, TraceError> {
    let text = f.text;
    text.find(marker)
        .and_then(|i| text.get(i + marker.len()..))
        .ok_or_else(|| f.err(field, format!("no {:?}", marker.trim())))
}

impl QemuParser {
    /// Reads one line (not blank, quoting removed).
    pub fn line(&mut self, text: &str, no: u64, file: &str, eng: &mut Engine) -> Result<(), TraceError> {
        let Some(l) = qemu_line(text) else {
            eng.non_event();
            return Ok(());
        };
        let t = l.time;
        let Some(&name) = EVENTS.iter().find(|&&k| k == l.event) else {
            eng.ignored(l.event, None);
            return Ok(());
        };
        let f = Fields::new(name, l.args, file, no);
        match name {
            "riscv_iommu_dma" => self.riscv_dma(f, t, eng),
            "riscv_iommu_flt" => self.riscv_flt(f, t, eng),
            "vtd_dmar_translate" => {
                let dev = f.bdf("dev", f.after("dev", "dev")?)?;
                let iova = f.hex("iova", f.after("iova", "iova")?)?;
                let gpa = f.hex("gpa", f.after("gpa", "gpa")?)?;
                let mask = f.hex("mask", f.after("mask", "mask")?)?;
                let page_mask = mask | 0xfff;
                if page_mask & page_mask.wrapping_add(1) != 0 {
                    return Err(f.err("mask", format!("{mask:#x} is not a page mask")));
                }
                let alone = Obs::Access { dev, pid: None, iova, pa: gpa, perm: Perm::RW, access: Access::Read };
                eng.complete(dev, iova, page_mask, gpa, Item::new(no, t, f.event, alone));
                Ok(())
            }
            "vtd_iotlb_page_hit" | "vtd_iotlb_page_update" => {
                let sid = f.hex("sid", f.after("sid", "sid")?)?;
                let dev = f.device_id("sid", sid)?;
                let iova = f.hex("iova", f.after("iova", "iova")?)?;
                let slpte = f.hex("slpte", f.after("slpte", "slpte")?)?;
                let domain = f.hex("domain", f.after("domain", "domain")?)?;
                eng.bind(domain as u32, dev);
                let addr = slpte & SLPTE_ADDR;
                // A superpage's size is not in the line; 2 MiB is assumed until the
                // translation line that follows gives the page mask.
                let pa = if slpte & SLPTE_PS != 0 { (addr & !0x1f_ffff) | (iova & 0x1f_f000) } else { addr };
                let (perm, access) = match slpte & 3 {
                    1 => (Perm::R, Access::Read),
                    2 => (Perm::RW, Access::Write),
                    _ => (Perm::RW, Access::Read),
                };
                let obs = Obs::Access { dev, pid: None, iova, pa, perm, access };
                eng.push(Item::new(no, t, f.event, obs).waiting(Wait::Completion(no + MERGE_WINDOW)));
                Ok(())
            }
            "vtd_translate_pt" => {
                let sid = f.after("id", "source id")?.trim_end_matches(',');
                let dev = f.device_id("source id", f.hex("source id", sid)?)?;
                let iova = f.hex("iova", f.after("iova", "iova")?)?;
                let obs = Obs::Access { dev, pid: None, iova, pa: iova, perm: Perm::RW, access: Access::Read };
                eng.push(Item::new(no, t, f.event, obs).waiting(Wait::Completion(no + MERGE_WINDOW)));
                Ok(())
            }
            "vtd_dmar_fault" => {
                let dev = f.device_id("sid", f.hex("sid", f.after("sid", "sid")?)?)?;
                let iova = f.hex("addr", f.after("addr", "addr")?)?;
                let write = f.number("write", f.after("write", "write")?)? != 0;
                let access = if write { Access::Write } else { Access::Read };
                eng.push(Item::new(no, t, f.event, Obs::Fault { dev, pid: None, iova, access }));
                Ok(())
            }
            "vtd_inv_desc_iotlb_global" | "amdvi_all_inval" => {
                eng.push(Item::new(no, t, name, Obs::Inval { target: Target::All, range: None }));
                Ok(())
            }
            "vtd_inv_desc_iotlb_domain" | "vtd_inv_desc_iotlb_pasid" | "amdvi_pages_inval" => {
                let did = f.hex("domain", f.after("domain", "domain")?)?;
                eng.push(Item::new(no, t, name, Obs::Inval { target: Target::Domain(did as u32), range: None }));
                Ok(())
            }
            "vtd_inv_desc_iotlb_pages" | "vtd_inv_desc_iotlb_pasid_pages" => {
                let did = f.hex("domain", f.after("domain", "domain")?)?;
                let addr = f.hex("addr", f.after("addr", "addr")?)?;
                let am = f.hex("mask", f.after("mask", "mask")?)?;
                if am > 52 {
                    return Err(f.err("mask", format!("address mask {am} is more than 52")));
                }
                let range = Some((addr, 0x1000u64 << am));
                eng.push(Item::new(no, t, name, Obs::Inval { target: Target::Domain(did as u32), range }));
                Ok(())
            }
            "amdvi_translation_result" => {
                let dev = f.bdf("devid", f.after("devid:", "devid")?)?;
                let iova = f.hex("gpa", f.after("gpa", "gpa")?)?;
                let hpa = f.hex("hpa", f.after("hpa", "hpa")?)?;
                let alone = self.amd_obs(dev, iova, hpa, no);
                eng.complete(dev, iova, 0xfff, hpa, Item::new(no, t, f.event, alone));
                Ok(())
            }
            "amdvi_iotlb_hit" | "amdvi_cache_update" => {
                let hit = name == "amdvi_iotlb_hit";
                let dev = if hit { f.after("devid", "devid")? } else { f.after("devid:", "devid")? };
                let dev = f.bdf("devid", dev)?;
                if !hit {
                    let did = f.hex("domid", f.after("domid", "domid")?)?;
                    eng.bind(did as u32, dev);
                }
                let iova = f.hex("gpa", f.after("gpa", "gpa")?)?;
                let hpa = f.hex("hpa", f.after("hpa", "hpa")?)?;
                let obs = self.amd_obs(dev, iova, hpa, no);
                eng.push(Item::new(no, t, f.event, obs).waiting(Wait::Completion(no + MERGE_WINDOW)));
                Ok(())
            }
            "amdvi_page_fault" => {
                let last = l.args.split_ascii_whitespace().last().unwrap_or("");
                self.amd_fault = Some((f.hex("address", last)?, no));
                eng.merged(f.event, "the translation lines of the address that follow name the device");
                Ok(())
            }
            "smmuv3_translate_success" => {
                let dev = f.device_id("sid", f.number("sid", f.tagged("sid=")?)?)?;
                let iova = f.hex("iova", f.tagged("iova=")?)?;
                let pa = f.hex("translated", f.tagged("translated=")?)?;
                let perm = f.number("perm", f.tagged("perm=")?)?;
                let (perm, access) = match perm {
                    1 => (Perm::R, Access::Read),
                    2 | 3 => (Perm::RW, Access::Write),
                    _ => (Perm::RW, Access::Read),
                };
                eng.push(Item::new(no, t, f.event, Obs::Access { dev, pid: None, iova, pa, perm, access }));
                Ok(())
            }
            "smmuv3_translate_abort" => {
                let dev = f.device_id("sid", f.number("sid", f.tagged("sid=")?)?)?;
                let iova = f.hex("iova", f.tagged("iova:")?)?;
                let write = f.number("is_write", f.tagged("is_write=")?)? != 0;
                let access = if write { Access::Write } else { Access::Read };
                eng.push(Item::new(no, t, f.event, Obs::Fault { dev, pid: None, iova, access }));
                Ok(())
            }
            _ => {
                eng.ignored(name, None);
                Ok(())
            }
        }
    }

    /// An AMD-Vi translation: a fault if it follows `amdvi_page_fault` of the same
    /// address and translated to 0.
    fn amd_obs(&self, dev: u32, iova: u64, hpa: u64, no: u64) -> Obs {
        let faulted = self
            .amd_fault
            .is_some_and(|(a, l)| hpa == 0 && a & !0xfff == iova & !0xfff && no.saturating_sub(l) <= MERGE_WINDOW);
        if faulted {
            Obs::Fault { dev, pid: None, iova, access: Access::Read }
        } else {
            Obs::Access { dev, pid: None, iova, pa: hpa, perm: Perm::RW, access: Access::Read }
        }
    }

    fn riscv_dma(&mut self, f: Fields<'_>, t: Option<Stamp>, eng: &mut Engine) -> Result<(), TraceError> {
        let rest = after_marker(&f, ": translate ", "translate")?;
        let mut tok = rest.split_ascii_whitespace();
        let mut next = |field: &str| tok.next().ok_or_else(|| f.err(field, "missing"));
        let dev = f.bdf("device", next("device")?)?;
        let idx = next("#pasid")?;
        let idx = idx.strip_prefix('#').ok_or_else(|| f.err("#pasid", format!("{idx:?} does not start with #")))?;
        let idx = f.number("#pasid", idx)?;
        let dir = next("dir")?;
        let iova = next("iova")?;
        let arrow = next("->")?;
        let phys = next("phys")?;
        let (perm, access) = dir_flags(&f, dir)?;
        let iova = f.hex("iova", iova)?;
        if arrow != "->" {
            return Err(f.err("->", format!("expected -> but found {arrow:?}")));
        }
        let phys = f.hex("phys", phys)?;
        let pid = u32::try_from(idx).ok().filter(|&p| p != 0 && p >> 20 == 0);
        if idx >> 20 != 0 {
            return Err(f.err("#pasid", format!("{idx} is wider than 20 bits")));
        }
        if let Some(&(fi, fl)) = self.riscv_faults.get(&dev) {
            if fi == iova && f.line.saturating_sub(fl) <= MERGE_WINDOW {
                self.riscv_faults.remove(&dev);
                eng.merged(f.event, "the translation of the fault line before it");
                return Ok(());
            }
        }
        let obs = if phys == 0 && iova != 0 {
            // QEMU traces failed translations too, with address 0; one without a
            // fault line (fault reporting disabled) is still a fault.
            Obs::Fault { dev, pid, iova, access }
        } else {
            Obs::Access { dev, pid, iova, pa: phys, perm, access }
        };
        eng.push(Item::new(f.line, t, f.event, obs));
        Ok(())
    }

    fn riscv_flt(&mut self, f: Fields<'_>, t: Option<Stamp>, eng: &mut Engine) -> Result<(), TraceError> {
        let rest = after_marker(&f, ": fault ", "fault")?;
        let dev = rest.split_ascii_whitespace().next().ok_or_else(|| f.err("device", "missing"))?;
        let dev = f.bdf("device", dev)?;
        let rf = Fields::new(f.event, rest, f.file, f.line);
        let hdr = f.hex("reason", rf.after("reason:", "reason")?)?;
        let iova = f.hex("iova", rf.after("iova:", "iova")?)?;
        // Fault-record header: PID 31:12, TTYP 39:34.
        let pid = ((hdr >> 12) & 0xf_ffff) as u32;
        let pid = (pid != 0).then_some(pid);
        let access = match (hdr >> 34) & 0x3f {
            1 | 5 => Access::Exec,
            2 | 6 => Access::Read,
            3 | 7 => Access::Write,
            _ => {
                eng.ignored(f.event, Some("not a DMA transaction"));
                return Ok(());
            }
        };
        self.riscv_faults.insert(dev, (iova, f.line));
        eng.push(Item::new(f.line, t, f.event, Obs::Fault { dev, pid, iova, access }));
        Ok(())
    }
}
