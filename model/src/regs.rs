//! The memory-mapped registers that shape translation: `capabilities`, `fctl` and
//! `ddtp` (`iommu_registers.adoc`).

use crate::addr::Spa;

#[inline]
const fn bit(v: u64, n: u32) -> bool {
    (v >> n) & 1 == 1
}

/// The read-only `capabilities` register (`iommu_registers.adoc`, "IOMMU
/// capabilities"). Each accessor reads one field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities(pub u64);

impl Capabilities {
    /// Bits 7:0, the specification version (0x10 for 1.0).
    pub fn version(self) -> u8 {
        self.0 as u8
    }
    /// Sv32 first stage.
    pub fn sv32(self) -> bool {
        bit(self.0, 8)
    }
    /// Sv39 first stage.
    pub fn sv39(self) -> bool {
        bit(self.0, 9)
    }
    /// Sv48 first stage.
    pub fn sv48(self) -> bool {
        bit(self.0, 10)
    }
    /// Sv57 first stage.
    pub fn sv57(self) -> bool {
        bit(self.0, 11)
    }
    /// PTE bits 60:59 are for software (Svrsw60t59b).
    pub fn svrsw60t59b(self) -> bool {
        bit(self.0, 14)
    }
    /// Page-based memory types (Svpbmt).
    pub fn svpbmt(self) -> bool {
        bit(self.0, 15)
    }
    /// Sv32x4 G-stage.
    pub fn sv32x4(self) -> bool {
        bit(self.0, 16)
    }
    /// Sv39x4 G-stage.
    pub fn sv39x4(self) -> bool {
        bit(self.0, 17)
    }
    /// Sv48x4 G-stage.
    pub fn sv48x4(self) -> bool {
        bit(self.0, 18)
    }
    /// Sv57x4 G-stage.
    pub fn sv57x4(self) -> bool {
        bit(self.0, 19)
    }
    /// Atomic MRIF updates.
    pub fn amo_mrif(self) -> bool {
        bit(self.0, 21)
    }
    /// MSI translation with flat MSI page tables; also selects the 64-byte
    /// extended device-context format.
    pub fn msi_flat(self) -> bool {
        bit(self.0, 22)
    }
    /// MRIF-mode MSI PTEs.
    pub fn msi_mrif(self) -> bool {
        bit(self.0, 23)
    }
    /// Hardware A/D updating (the `GADE`/`SADE` device-context bits may be 1).
    pub fn amo_hwad(self) -> bool {
        bit(self.0, 24)
    }
    /// PCIe ATS and PRI.
    pub fn ats(self) -> bool {
        bit(self.0, 25)
    }
    /// ATS completions may return GPAs.
    pub fn t2gpa(self) -> bool {
        bit(self.0, 26)
    }
    /// Both endiannesses supported.
    pub fn end(self) -> bool {
        bit(self.0, 27)
    }
    /// Bits 29:28, interrupt generation support.
    pub fn igs(self) -> u8 {
        ((self.0 >> 28) & 3) as u8
    }
    /// Hardware performance monitor.
    pub fn hpm(self) -> bool {
        bit(self.0, 30)
    }
    /// Debug translation-request interface.
    pub fn dbg(self) -> bool {
        bit(self.0, 31)
    }
    /// Bits 37:32, the physical address size in bits.
    pub fn pas(self) -> u32 {
        ((self.0 >> 32) & 0x3f) as u32
    }
    /// One-level PDT (PD8).
    pub fn pd8(self) -> bool {
        bit(self.0, 38)
    }
    /// Two-level PDT (PD17).
    pub fn pd17(self) -> bool {
        bit(self.0, 39)
    }
    /// Three-level PDT (PD20).
    pub fn pd20(self) -> bool {
        bit(self.0, 40)
    }
    /// QoS IDs.
    pub fn qosid(self) -> bool {
        bit(self.0, 41)
    }
    /// Non-leaf PTE invalidation extension (`NL` operand of IOTINVAL).
    pub fn nl(self) -> bool {
        bit(self.0, 42)
    }
    /// Address-range invalidation extension (`S` operand of IOTINVAL).
    pub fn s(self) -> bool {
        bit(self.0, 43)
    }

    /// Whether a supervisor-physical address fits in `PAS` bits. A PAS of 0 is
    /// taken as "no limit below 64 bits".
    pub fn spa_in_range(self, addr: Spa) -> bool {
        let pas = self.pas();
        pas == 0 || pas >= 64 || addr.0 >> pas == 0
    }

    /// MGPAW, the width of guest-physical addresses for MSI recognition
    /// (`iommu_data_structures.adoc`, "MSI address mask and pattern").
    pub fn mgpaw(self) -> u32 {
        if self.sv57x4() {
            59
        } else if self.sv48x4() {
            50
        } else if self.sv39x4() {
            41
        } else if self.sv32x4() {
            34
        } else {
            self.pas()
        }
    }
}

/// The features-control register `fctl`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fctl(pub u64);

impl Fctl {
    /// Big-endian accesses to the DDT, G-stage and MSI page tables and the queues.
    pub fn be(self) -> bool {
        bit(self.0, 0)
    }
    /// Wire-signalled interrupts.
    pub fn wsi(self) -> bool {
        bit(self.0, 1)
    }
    /// G-stage uses the Sv32x4 encodings (`iohgatp.MODE` table 1).
    pub fn gxl(self) -> bool {
        bit(self.0, 2)
    }
}

/// `ddtp.iommu_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IommuMode {
    /// No inbound transactions allowed.
    Off,
    /// No translation or protection.
    Bare,
    /// One-level device directory.
    Lvl1,
    /// Two-level device directory.
    Lvl2,
    /// Three-level device directory.
    Lvl3,
    /// A reserved or custom encoding (5-15).
    Reserved(u8),
}

impl IommuMode {
    /// Number of DDT levels, for the three directory modes.
    pub fn levels(self) -> Option<u32> {
        match self {
            IommuMode::Lvl1 => Some(1),
            IommuMode::Lvl2 => Some(2),
            IommuMode::Lvl3 => Some(3),
            _ => None,
        }
    }
}

/// The device-directory-table pointer `ddtp`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ddtp(pub u64);

impl Ddtp {
    /// Bits 3:0, `iommu_mode`.
    pub fn mode(self) -> IommuMode {
        match self.0 & 0xf {
            0 => IommuMode::Off,
            1 => IommuMode::Bare,
            2 => IommuMode::Lvl1,
            3 => IommuMode::Lvl2,
            4 => IommuMode::Lvl3,
            m => IommuMode::Reserved(m as u8),
        }
    }
    /// Bits 53:10, the root DDT page number.
    pub fn ppn(self) -> u64 {
        (self.0 >> 10) & ((1 << 44) - 1)
    }
    /// The address of the root DDT page.
    pub fn root(self) -> Spa {
        Spa(self.ppn() << 12)
    }
}

/// The registers a translation depends on: what the vectors' `regs` give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// `capabilities`.
    pub capabilities: Capabilities,
    /// `fctl`.
    pub fctl: Fctl,
    /// `ddtp`.
    pub ddtp: Ddtp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_fields_sit_where_the_register_table_puts_them() {
        let c = Capabilities((1 << 9) | (1 << 19) | (1 << 22) | (40 << 32) | (1 << 43));
        assert!(c.sv39() && !c.sv48() && c.sv57x4() && c.msi_flat() && c.s() && !c.nl());
        assert_eq!(c.pas(), 40);
        assert_eq!(c.mgpaw(), 59);
        assert!(c.spa_in_range(Spa((1 << 40) - 1)));
        assert!(!c.spa_in_range(Spa(1 << 40)));
    }

    #[test]
    fn ddtp_mode_and_root() {
        let d = Ddtp((0x80000 << 10) | 4);
        assert_eq!(d.mode(), IommuMode::Lvl3);
        assert_eq!(d.root(), Spa(0x8000_0000));
        assert_eq!(Ddtp(7).mode(), IommuMode::Reserved(7));
    }
}
