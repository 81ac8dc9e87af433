//! Device contexts and process contexts: their fields, and the configuration
//! checks that make them misconfigured (`iommu_data_structures.adoc`, "Device-context
//! fields", "Device-context configuration checks", "Process-context fields",
//! "Process-context configuration checks").

use crate::pte::Scheme;
use crate::regs::Regs;

#[inline]
const fn bit(v: u64, n: u32) -> bool {
    (v >> n) & 1 == 1
}

const PPN_MASK: u64 = (1 << 44) - 1;

/// Bits of a non-leaf DDT or PDT entry that are reserved: 9:1 and 63:54.
pub const DIR_NONLEAF_RESERVED: u64 = (0x1ff << 1) | (0x3ff << 54);

/// A valid non-leaf directory entry's next-level page number.
pub fn dir_nonleaf_ppn(entry: u64) -> u64 {
    (entry >> 10) & PPN_MASK
}

/// `pdtp.MODE`: the depth of the process directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdtMode {
    /// No first stage.
    Bare,
    /// One level, 8-bit process IDs.
    Pd8,
    /// Two levels, 17-bit process IDs.
    Pd17,
    /// Three levels, 20-bit process IDs.
    Pd20,
}

impl PdtMode {
    /// Decodes `pdtp.MODE`; `None` for reserved and custom encodings.
    pub fn from_bits(mode: u8) -> Option<PdtMode> {
        match mode {
            0 => Some(PdtMode::Bare),
            1 => Some(PdtMode::Pd8),
            2 => Some(PdtMode::Pd17),
            3 => Some(PdtMode::Pd20),
            _ => None,
        }
    }

    /// Number of directory levels (0 for Bare).
    pub fn levels(self) -> u8 {
        match self {
            PdtMode::Bare => 0,
            PdtMode::Pd8 => 1,
            PdtMode::Pd17 => 2,
            PdtMode::Pd20 => 3,
        }
    }

    /// Width of the process IDs this mode can index.
    pub fn pid_bits(self) -> u32 {
        match self {
            PdtMode::Bare => 20,
            PdtMode::Pd8 => 8,
            PdtMode::Pd17 => 17,
            PdtMode::Pd20 => 20,
        }
    }
}

/// The device-directory index `DDI[level]` of a device ID: 7, 9 and 8 bits in the
/// base format, 6, 9 and 9 in the extended one ("Device-directory-table").
pub fn ddi(did: u32, level: u8, extended: bool) -> u64 {
    let did = u64::from(did);
    match (extended, level) {
        (false, 0) => did & 0x7f,
        (false, 1) => (did >> 7) & 0x1ff,
        (false, _) => (did >> 16) & 0xff,
        (true, 0) => did & 0x3f,
        (true, 1) => (did >> 6) & 0x1ff,
        (true, _) => (did >> 15) & 0x1ff,
    }
}

/// The process-directory index `PDI[level]` of a process ID: 8, 9 and 3 bits.
pub fn pdi(pid: u32, level: u8) -> u64 {
    u64::from(match level {
        0 => pid & 0xff,
        1 => (pid >> 8) & 0x1ff,
        _ => (pid >> 17) & 0x7,
    })
}

/// A device context, base (32-byte) or extended (64-byte) format. The extended
/// fields read as zero in the base format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceContext {
    /// Translation control `tc`.
    pub tc: u64,
    /// `iohgatp`.
    pub iohgatp: u64,
    /// Translation attributes `ta`.
    pub ta: u64,
    /// First-stage context `fsc` (`iosatp` or `pdtp`).
    pub fsc: u64,
    /// `msiptp` (extended format).
    pub msiptp: u64,
    /// `msi_addr_mask` (extended format).
    pub msi_addr_mask: u64,
    /// `msi_addr_pattern` (extended format).
    pub msi_addr_pattern: u64,
    /// The reserved eighth doubleword (extended format).
    pub reserved: u64,
}

impl DeviceContext {
    /// Decodes the four or eight doublewords of a device context.
    pub fn from_words(w: &[u64]) -> Self {
        let at = |i: usize| w.get(i).copied().unwrap_or(0);
        DeviceContext {
            tc: at(0),
            iohgatp: at(1),
            ta: at(2),
            fsc: at(3),
            msiptp: at(4),
            msi_addr_mask: at(5),
            msi_addr_pattern: at(6),
            reserved: at(7),
        }
    }

    /// Byte-swaps every doubleword (a device context read big-endian).
    pub fn swap_bytes(&mut self) {
        for w in [
            &mut self.tc,
            &mut self.iohgatp,
            &mut self.ta,
            &mut self.fsc,
            &mut self.msiptp,
            &mut self.msi_addr_mask,
            &mut self.msi_addr_pattern,
            &mut self.reserved,
        ] {
            *w = w.swap_bytes();
        }
    }

    /// `tc.V`.
    pub fn valid(&self) -> bool {
        bit(self.tc, 0)
    }
    /// `tc.EN_ATS`.
    pub fn en_ats(&self) -> bool {
        bit(self.tc, 1)
    }
    /// `tc.EN_PRI`.
    pub fn en_pri(&self) -> bool {
        bit(self.tc, 2)
    }
    /// `tc.T2GPA`.
    pub fn t2gpa(&self) -> bool {
        bit(self.tc, 3)
    }
    /// `tc.DTF`: translation faults are not reported.
    pub fn dtf(&self) -> bool {
        bit(self.tc, 4)
    }
    /// `tc.PDTV`: `fsc` holds a `pdtp`.
    pub fn pdtv(&self) -> bool {
        bit(self.tc, 5)
    }
    /// `tc.PRPR`.
    pub fn prpr(&self) -> bool {
        bit(self.tc, 6)
    }
    /// `tc.GADE`: hardware updates A/D in G-stage PTEs.
    pub fn gade(&self) -> bool {
        bit(self.tc, 7)
    }
    /// `tc.SADE`: hardware updates A/D in first-stage PTEs.
    pub fn sade(&self) -> bool {
        bit(self.tc, 8)
    }
    /// `tc.DPE`: requests without a process ID use process ID 0.
    pub fn dpe(&self) -> bool {
        bit(self.tc, 9)
    }
    /// `tc.SBE`: PDT and first-stage tables are big-endian.
    pub fn sbe(&self) -> bool {
        bit(self.tc, 10)
    }
    /// `tc.SXL`: first stage uses the 32-bit encodings.
    pub fn sxl(&self) -> bool {
        bit(self.tc, 11)
    }
    /// `iohgatp.MODE`.
    pub fn iohgatp_mode(&self) -> u8 {
        (self.iohgatp >> 60) as u8
    }
    /// `iohgatp.GSCID`.
    pub fn gscid(&self) -> u16 {
        (self.iohgatp >> 44) as u16
    }
    /// `iohgatp.PPN`: the root G-stage page table (16 KiB).
    pub fn iohgatp_ppn(&self) -> u64 {
        self.iohgatp & PPN_MASK
    }
    /// `ta.PSCID`.
    pub fn pscid(&self) -> u32 {
        ((self.ta >> 12) & 0xf_ffff) as u32
    }
    /// `fsc.MODE` (`iosatp.MODE` or `pdtp.MODE`).
    pub fn fsc_mode(&self) -> u8 {
        (self.fsc >> 60) as u8
    }
    /// `fsc.PPN`.
    pub fn fsc_ppn(&self) -> u64 {
        self.fsc & PPN_MASK
    }
    /// `msiptp.MODE`: 0 Off, 1 Flat.
    pub fn msiptp_mode(&self) -> u8 {
        (self.msiptp >> 60) as u8
    }
    /// `msiptp.PPN`.
    pub fn msiptp_ppn(&self) -> u64 {
        self.msiptp & PPN_MASK
    }
    /// The MSI address mask (bits 51:0).
    pub fn msi_mask(&self) -> u64 {
        self.msi_addr_mask & ((1 << 52) - 1)
    }
    /// The MSI address pattern (bits 51:0).
    pub fn msi_pattern(&self) -> u64 {
        self.msi_addr_pattern & ((1 << 52) - 1)
    }

    /// The G-stage scheme, `None` when `iohgatp.MODE` is Bare.
    pub fn g_scheme(&self, regs: &Regs) -> Option<Scheme> {
        Scheme::g_stage(self.iohgatp_mode(), regs.fctl.gxl())
    }

    /// The `pdtp` mode when `PDTV` is set.
    pub fn pdt_mode(&self) -> Option<PdtMode> {
        PdtMode::from_bits(self.fsc_mode())
    }

    /// Whether a valid device context is misconfigured: each rule of
    /// "Device-context configuration checks", in order. `Err` names the rule.
    pub fn check(&self, regs: &Regs) -> Result<(), &'static str> {
        let caps = regs.capabilities;
        let extended = caps.msi_flat();
        // Rule 1: reserved bits. tc 63:32 and 23:12 (31:24 are custom); ta 11:0
        // and 39:32; the fsc reserved field 59:44 (both iosatp and pdtp).
        if self.tc & (0xffff_ffff_0000_0000 | 0x00ff_f000) != 0 {
            return Err("reserved bits set in tc");
        }
        if self.ta & (0xfff | (0xff << 32)) != 0 {
            return Err("reserved bits set in ta");
        }
        if !caps.qosid() && self.ta >> 40 != 0 {
            return Err("RCID/MCID set without capabilities.QOSID");
        }
        if self.fsc & (0xffff << 44) != 0 {
            return Err("reserved bits set in fsc");
        }
        if extended {
            if self.msiptp & (0xffff << 44) != 0 {
                return Err("reserved bits set in msiptp");
            }
            // Bits 51:MGPAW-12 of the mask and pattern are reserved when MGPAW < 64.
            let mgpaw = caps.mgpaw();
            let reserved = if mgpaw >= 12 && mgpaw - 12 < 52 { !((1u64 << (mgpaw - 12)) - 1) } else { 0xfff << 52 };
            if self.msi_addr_mask & (reserved | (0xfff << 52)) != 0 {
                return Err("reserved bits set in msi_addr_mask");
            }
            if self.msi_addr_pattern & (reserved | (0xfff << 52)) != 0 {
                return Err("reserved bits set in msi_addr_pattern");
            }
            if self.reserved != 0 {
                return Err("reserved doubleword set");
            }
        }
        // Rules 2-7: ATS, PRI, T2GPA (EN_ATS, EN_PRI, T2GPA, PRPR are bits 1-3, 6).
        if self.tc & 0x4e != 0 {
            self.check_ats(caps)?;
        }
        self.check_modes(regs)
    }

    /// Rules 2-7, for a context that sets any ATS-related bit.
    #[cold]
    fn check_ats(&self, caps: crate::regs::Capabilities) -> Result<(), &'static str> {
        if !caps.ats() && (self.en_ats() || self.en_pri() || self.prpr()) {
            return Err("EN_ATS/EN_PRI/PRPR without capabilities.ATS");
        }
        if !self.en_ats() && self.t2gpa() {
            return Err("T2GPA without EN_ATS");
        }
        if !self.en_ats() && self.en_pri() {
            return Err("EN_PRI without EN_ATS");
        }
        if !self.en_pri() && self.prpr() {
            return Err("PRPR without EN_PRI");
        }
        if !caps.t2gpa() && self.t2gpa() {
            return Err("T2GPA without capabilities.T2GPA");
        }
        if self.t2gpa() && self.iohgatp_mode() == 0 {
            return Err("T2GPA with a Bare G-stage");
        }
        Ok(())
    }

    /// Rules 8-21 and the recommended `msiptp` check.
    fn check_modes(&self, regs: &Regs) -> Result<(), &'static str> {
        let caps = regs.capabilities;
        let fctl = regs.fctl;
        let extended = caps.msi_flat();
        if self.pdtv() {
            // Rule 8: pdtp.MODE must be a supported mode.
            match self.pdt_mode() {
                Some(PdtMode::Bare) => {}
                Some(PdtMode::Pd8) if caps.pd8() => {}
                Some(PdtMode::Pd17) if caps.pd17() => {}
                Some(PdtMode::Pd20) if caps.pd20() => {}
                _ => return Err("pdtp.MODE not supported"),
            }
        } else {
            // Rules 9-11: iosatp.MODE must be valid for SXL and supported.
            let mode = self.fsc_mode();
            if mode != 0 && !first_stage_supported(mode, self.sxl(), regs) {
                return Err("iosatp.MODE not valid or not supported");
            }
            // Rule 12.
            if self.dpe() {
                return Err("DPE without PDTV");
            }
        }
        // Rules 13-15: iohgatp.MODE valid for GXL and supported.
        let gmode = self.iohgatp_mode();
        if gmode != 0 {
            let supported = match (fctl.gxl(), gmode) {
                (false, 8) => caps.sv39x4(),
                (false, 9) => caps.sv48x4(),
                (false, 10) => caps.sv57x4(),
                (true, 8) => caps.sv32x4(),
                _ => false,
            };
            if !supported {
                return Err("iohgatp.MODE not valid or not supported");
            }
        }
        // Rule 16: msiptp.MODE must be Off or Flat.
        if extended && self.msiptp_mode() > 1 {
            return Err("msiptp.MODE not Off or Flat");
        }
        // Rule 17: the G-stage root is 16 KiB aligned.
        if gmode != 0 && self.iohgatp_ppn() & 3 != 0 {
            return Err("iohgatp.PPN not 16 KiB aligned");
        }
        // Rule 18.
        if !caps.amo_hwad() && (self.sade() || self.gade()) {
            return Err("SADE/GADE without capabilities.AMO_HWAD");
        }
        // Rule 19.
        if !caps.end() && fctl.be() != self.sbe() {
            return Err("SBE differs from fctl.BE without capabilities.END");
        }
        // Rule 20: SXL legal values. fctl.GXL is writable only when the IOMMU has a
        // 32-bit scheme to switch to.
        let gxl_writable = caps.sv32() || caps.sv32x4();
        if fctl.gxl() && !self.sxl() {
            return Err("SXL must be 1 when fctl.GXL is 1");
        }
        if !fctl.gxl() && !gxl_writable && self.sxl() {
            return Err("SXL must be 0 when fctl.GXL is not writable");
        }
        // Rule 21 (SBE legal values) is rule 19 when fctl.BE is not writable,
        // which is when capabilities.END is 0.
        // The recommended check: msiptp.MODE must be Off when the G-stage is Bare.
        if extended && gmode == 0 && self.msiptp_mode() != 0 {
            return Err("msiptp.MODE not Off with a Bare G-stage");
        }
        Ok(())
    }
}

/// Whether a non-Bare first-stage mode is valid for `sxl` and supported by the
/// capabilities (shared by the device- and process-context checks).
pub fn first_stage_supported(mode: u8, sxl: bool, regs: &Regs) -> bool {
    let caps = regs.capabilities;
    match (sxl, mode) {
        (false, 8) => caps.sv39(),
        (false, 9) => caps.sv48(),
        (false, 10) => caps.sv57(),
        (true, 8) => caps.sv32(),
        _ => false,
    }
}

/// A process context: translation attributes and first-stage context.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessContext {
    /// `ta`: V, ENS, SUM, PSCID.
    pub ta: u64,
    /// `fsc`: MODE and PPN of the first-stage root.
    pub fsc: u64,
}

impl ProcessContext {
    /// `ta.V`.
    pub fn valid(&self) -> bool {
        bit(self.ta, 0)
    }
    /// `ta.ENS`: supervisor requests allowed.
    pub fn ens(&self) -> bool {
        bit(self.ta, 1)
    }
    /// `ta.SUM`: supervisor requests may access user pages.
    pub fn sum(&self) -> bool {
        bit(self.ta, 2)
    }
    /// `ta.PSCID`.
    pub fn pscid(&self) -> u32 {
        ((self.ta >> 12) & 0xf_ffff) as u32
    }
    /// `fsc.MODE`.
    pub fn fsc_mode(&self) -> u8 {
        (self.fsc >> 60) as u8
    }
    /// `fsc.PPN`.
    pub fn fsc_ppn(&self) -> u64 {
        self.fsc & PPN_MASK
    }

    /// Whether a valid process context is misconfigured ("Process-context
    /// configuration checks"); `Err` names the rule.
    pub fn check(&self, dc: &DeviceContext, regs: &Regs) -> Result<(), &'static str> {
        // ta bits 11:3 and 63:32 are reserved; fsc bits 59:44 are reserved.
        if self.ta & ((0x1ff << 3) | (0xffff_ffff << 32)) != 0 {
            return Err("reserved bits set in PC.ta");
        }
        if self.fsc & (0xffff << 44) != 0 {
            return Err("reserved bits set in PC.fsc");
        }
        let mode = self.fsc_mode();
        if mode != 0 && !first_stage_supported(mode, dc.sxl(), regs) {
            return Err("PC.fsc.MODE not valid or not supported");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regs::{Capabilities, Ddtp, Fctl};

    fn regs(caps: u64) -> Regs {
        Regs { capabilities: Capabilities(caps), fctl: Fctl(0), ddtp: Ddtp(4) }
    }

    const SV39: u64 = 1 << 9;
    const SV39X4: u64 = 1 << 17;
    const MSI_FLAT: u64 = 1 << 22;
    const AMO_HWAD: u64 = 1 << 24;
    const PD8: u64 = 1 << 38;

    fn dc(tc: u64, iohgatp: u64, fsc: u64) -> DeviceContext {
        DeviceContext { tc, iohgatp, fsc, ..Default::default() }
    }

    #[test]
    fn plain_valid_contexts_pass() {
        let r = regs(SV39 | SV39X4);
        assert_eq!(dc(1, 0, 8 << 60 | 0x123).check(&r), Ok(()));
        assert_eq!(dc(1, 8 << 60 | 0x80004, 0).check(&r), Ok(()));
    }

    #[test]
    fn unsupported_modes_are_misconfigured() {
        let r = regs(SV39);
        assert!(dc(1, 0, 9 << 60).check(&r).is_err(), "Sv48 not in capabilities");
        assert!(dc(1, 8 << 60, 0).check(&r).is_err(), "Sv39x4 not in capabilities");
        assert!(dc(1, 0, 11 << 60).check(&r).is_err(), "reserved iosatp mode");
        assert!(dc(1 | 1 << 5, 0, 1 << 60).check(&r).is_err(), "PD8 not in capabilities");
        assert_eq!(dc(1 | 1 << 5, 0, 1 << 60).check(&regs(SV39 | PD8)), Ok(()));
    }

    #[test]
    fn dpe_needs_pdtv_and_ad_needs_amo_hwad() {
        let r = regs(SV39 | PD8);
        assert!(dc(1 | 1 << 9, 0, 0).check(&r).is_err());
        assert_eq!(dc(1 | 1 << 9 | 1 << 5, 0, 0).check(&r), Ok(()));
        assert!(dc(1 | 1 << 8, 0, 0).check(&r).is_err());
        assert!(dc(1 | 1 << 7, 0, 0).check(&r).is_err());
        assert_eq!(dc(1 | 1 << 8 | 1 << 7, 0, 0).check(&regs(SV39 | AMO_HWAD)), Ok(()));
    }

    #[test]
    fn gstage_root_must_be_16k_aligned() {
        let r = regs(SV39X4);
        assert!(dc(1, 8 << 60 | 0x80001, 0).check(&r).is_err());
        assert!(dc(1, 8 << 60 | 0x80002, 0).check(&r).is_err());
        assert_eq!(dc(1, 8 << 60 | 0x80004, 0).check(&r), Ok(()));
    }

    #[test]
    fn ats_bits_without_ats_are_misconfigured() {
        let r = regs(SV39);
        for tc in [1 | 1 << 1, 1 | 1 << 2, 1 | 1 << 6, 1 | 1 << 3] {
            assert!(dc(tc, 0, 0).check(&r).is_err(), "tc {tc:#x}");
        }
    }

    #[test]
    fn reserved_bits_in_tc_and_ta_are_misconfigured_but_custom_bits_are_not() {
        let r = regs(SV39);
        assert!(dc(1 | 1 << 12, 0, 0).check(&r).is_err());
        assert!(dc(1 | 1 << 40, 0, 0).check(&r).is_err());
        assert_eq!(dc(1 | 1 << 24, 0, 0).check(&r), Ok(()));
        let mut d = dc(1, 0, 0);
        d.ta = 1;
        assert!(d.check(&r).is_err());
    }

    #[test]
    fn extended_format_msi_rules() {
        let r = regs(SV39X4 | MSI_FLAT);
        let mut d = dc(1, 8 << 60 | 0x80004, 0);
        d.msiptp = 1 << 60;
        assert_eq!(d.check(&r), Ok(()));
        d.msiptp = 2 << 60;
        assert!(d.check(&r).is_err(), "reserved msiptp mode");
        let mut bare = dc(1, 0, 0);
        bare.msiptp = 1 << 60;
        assert!(bare.check(&r).is_err(), "MSI translation with a Bare G-stage");
        let mut wide = dc(1, 8 << 60 | 0x80004, 0);
        wide.msi_addr_mask = 1 << 29; // bit 29 = address bit 41: beyond MGPAW 41
        assert!(wide.check(&r).is_err());
    }

    #[test]
    fn process_context_checks() {
        let r = regs(SV39);
        let d = dc(1 | 1 << 5, 0, 1 << 60);
        let ok = ProcessContext { ta: 1 | 0x5 << 12, fsc: 8 << 60 };
        assert_eq!(ok.check(&d, &r), Ok(()));
        assert!(ProcessContext { ta: 1 | 1 << 3, fsc: 0 }.check(&d, &r).is_err());
        assert!(ProcessContext { ta: 1, fsc: 9 << 60 }.check(&d, &r).is_err());
        assert!(ProcessContext { ta: 1, fsc: 1 << 44 }.check(&d, &r).is_err());
    }

    #[test]
    fn pdi_partitioning() {
        let pid = 0b101_000000011_00000111;
        assert_eq!(pdi(pid, 0), 0b111);
        assert_eq!(pdi(pid, 1), 0b11);
        assert_eq!(pdi(pid, 2), 0b101);
    }
}
