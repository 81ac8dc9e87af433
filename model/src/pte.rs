//! Page-table formats: the translation schemes (Sv32/39/48/57 and their x4
//! G-stage forms) and the page-table entry (`priv/supervisor.adoc`, "Sv32", "Sv39",
//! "Sv48", "Sv57"; `priv/hypervisor.adoc`, "Guest Physical Address Translation").

/// A paged translation scheme: the shape of the radix tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scheme {
    /// Number of levels (2 for Sv32, 3 for Sv39, 4 for Sv48, 5 for Sv57).
    pub levels: u8,
    /// Bits of VPN per level (10 for Sv32, 9 otherwise).
    pub vpn_bits: u8,
    /// Bytes per PTE (4 for Sv32, 8 otherwise).
    pub pte_bytes: u8,
    /// Extra root-level bits of the x4 G-stage schemes (2), else 0.
    pub widen: u8,
}

impl Scheme {
    /// Sv32.
    pub const SV32: Scheme = Scheme { levels: 2, vpn_bits: 10, pte_bytes: 4, widen: 0 };
    /// Sv39.
    pub const SV39: Scheme = Scheme { levels: 3, vpn_bits: 9, pte_bytes: 8, widen: 0 };
    /// Sv48.
    pub const SV48: Scheme = Scheme { levels: 4, vpn_bits: 9, pte_bytes: 8, widen: 0 };
    /// Sv57.
    pub const SV57: Scheme = Scheme { levels: 5, vpn_bits: 9, pte_bytes: 8, widen: 0 };
    /// Sv32x4.
    pub const SV32X4: Scheme = Scheme { widen: 2, ..Scheme::SV32 };
    /// Sv39x4.
    pub const SV39X4: Scheme = Scheme { widen: 2, ..Scheme::SV39 };
    /// Sv48x4.
    pub const SV48X4: Scheme = Scheme { widen: 2, ..Scheme::SV48 };
    /// Sv57x4.
    pub const SV57X4: Scheme = Scheme { widen: 2, ..Scheme::SV57 };

    /// Width of the input address in bits (39 for Sv39, 41 for Sv39x4, ...).
    pub const fn va_bits(self) -> u32 {
        12 + self.levels as u32 * self.vpn_bits as u32 + self.widen as u32
    }

    /// Whether this is a G-stage (x4) scheme.
    pub const fn is_gstage(self) -> bool {
        self.widen != 0
    }

    /// `vpn[level]` of `va`; the root level is `widen` bits wider.
    #[inline]
    pub const fn vpn(self, va: u64, level: u8) -> u64 {
        let bits = self.vpn_bits as u32 + if level + 1 == self.levels { self.widen as u32 } else { 0 };
        (va >> (12 + level as u32 * self.vpn_bits as u32)) & ((1 << bits) - 1)
    }

    /// log2 of the size of a page mapped by a leaf at `level`.
    #[inline]
    pub const fn page_shift(self, level: u8) -> u32 {
        12 + level as u32 * self.vpn_bits as u32
    }

    /// Whether `va` is a valid input address. First-stage addresses must be
    /// sign-extended from their top bit (Sv32: bits 63:32 zero, `DC.tc.SXL` rule);
    /// G-stage addresses must be zero above `va_bits` (`priv/hypervisor.adoc`).
    pub const fn va_in_range(self, va: u64) -> bool {
        let bits = self.va_bits();
        if self.widen != 0 || self.pte_bytes == 4 {
            va >> bits == 0
        } else {
            let top = (va as i64) >> (bits - 1);
            top == 0 || top == -1
        }
    }

    /// Mask of the PPN field of a PTE, after shifting right by 10.
    #[inline]
    pub const fn ppn_mask(self) -> u64 {
        if self.pte_bytes == 4 {
            (1 << 22) - 1
        } else {
            (1 << 44) - 1
        }
    }

    /// The first-stage scheme selected by an `iosatp`/`PC.fsc` MODE, for the given
    /// `SXL` (`iommu_data_structures.adoc`, IOSATP_MODE_ENC tables). `None` for
    /// Bare (0) and for reserved or custom encodings.
    pub fn first_stage(mode: u8, sxl: bool) -> Option<Scheme> {
        match (sxl, mode) {
            (false, 8) => Some(Scheme::SV39),
            (false, 9) => Some(Scheme::SV48),
            (false, 10) => Some(Scheme::SV57),
            (true, 8) => Some(Scheme::SV32),
            _ => None,
        }
    }

    /// The G-stage scheme selected by an `iohgatp.MODE`, for the given `fctl.GXL`
    /// (IOHGATP_MODE_ENC tables). `None` for Bare and reserved encodings.
    pub fn g_stage(mode: u8, gxl: bool) -> Option<Scheme> {
        match (gxl, mode) {
            (false, 8) => Some(Scheme::SV39X4),
            (false, 9) => Some(Scheme::SV48X4),
            (false, 10) => Some(Scheme::SV57X4),
            (true, 8) => Some(Scheme::SV32X4),
            _ => None,
        }
    }
}

/// PTE bit positions shared by every scheme.
pub mod bits {
    /// Valid.
    pub const V: u64 = 1 << 0;
    /// Readable.
    pub const R: u64 = 1 << 1;
    /// Writable.
    pub const W: u64 = 1 << 2;
    /// Executable.
    pub const X: u64 = 1 << 3;
    /// User-accessible.
    pub const U: u64 = 1 << 4;
    /// Global.
    pub const G: u64 = 1 << 5;
    /// Accessed.
    pub const A: u64 = 1 << 6;
    /// Dirty.
    pub const D: u64 = 1 << 7;
    /// NAPOT (Svnapot), bit 63 of 64-bit PTEs.
    pub const N: u64 = 1 << 63;
    /// Shift of the PBMT field (bits 62:61).
    pub const PBMT_SHIFT: u32 = 61;
    /// Bits 60:59, software bits under Svrsw60t59b, else reserved.
    pub const RSW_60_59: u64 = 0b11 << 59;
    /// Bits 58:54, always reserved.
    pub const RESERVED_58_54: u64 = 0b1_1111 << 54;
}

/// A page-table entry, widened to 64 bits (Sv32 entries are zero-extended).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pte(pub u64);

impl Pte {
    /// The V bit.
    #[inline]
    pub fn valid(self) -> bool {
        self.0 & bits::V != 0
    }
    /// R.
    #[inline]
    pub fn r(self) -> bool {
        self.0 & bits::R != 0
    }
    /// W.
    #[inline]
    pub fn w(self) -> bool {
        self.0 & bits::W != 0
    }
    /// X.
    #[inline]
    pub fn x(self) -> bool {
        self.0 & bits::X != 0
    }
    /// U.
    #[inline]
    pub fn u(self) -> bool {
        self.0 & bits::U != 0
    }
    /// G.
    #[inline]
    pub fn g(self) -> bool {
        self.0 & bits::G != 0
    }
    /// A.
    #[inline]
    pub fn a(self) -> bool {
        self.0 & bits::A != 0
    }
    /// D.
    #[inline]
    pub fn d(self) -> bool {
        self.0 & bits::D != 0
    }
    /// N (64-bit PTEs only).
    #[inline]
    pub fn n(self) -> bool {
        self.0 & bits::N != 0
    }
    /// PBMT (64-bit PTEs only).
    #[inline]
    pub fn pbmt(self) -> u8 {
        ((self.0 >> bits::PBMT_SHIFT) & 3) as u8
    }
    /// A leaf has any of R, W, X set.
    #[inline]
    pub fn is_leaf(self) -> bool {
        self.0 & (bits::R | bits::X) != 0 || self.0 & bits::W != 0
    }
    /// The PPN field for `scheme`.
    #[inline]
    pub fn ppn(self, scheme: Scheme) -> u64 {
        (self.0 >> 10) & scheme.ppn_mask()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_match_the_privileged_specification() {
        assert_eq!(Scheme::SV32.va_bits(), 32);
        assert_eq!(Scheme::SV39.va_bits(), 39);
        assert_eq!(Scheme::SV48.va_bits(), 48);
        assert_eq!(Scheme::SV57.va_bits(), 57);
        assert_eq!(Scheme::SV32X4.va_bits(), 34);
        assert_eq!(Scheme::SV39X4.va_bits(), 41);
        assert_eq!(Scheme::SV48X4.va_bits(), 50);
        assert_eq!(Scheme::SV57X4.va_bits(), 59);
    }

    #[test]
    fn root_vpn_of_x4_schemes_is_two_bits_wider() {
        let va = 0x1ff_ffff_ffffu64; // 41 bits set
        assert_eq!(Scheme::SV39X4.vpn(va, 2), 0x7ff);
        assert_eq!(Scheme::SV39X4.vpn(va, 1), 0x1ff);
        assert_eq!(Scheme::SV39.vpn(va, 2), 0x1ff);
    }

    #[test]
    fn first_stage_addresses_are_sign_extended() {
        assert!(Scheme::SV39.va_in_range(0x3f_ffff_ffff));
        assert!(Scheme::SV39.va_in_range(0xffff_ffc0_0000_0000));
        assert!(!Scheme::SV39.va_in_range(0x40_0000_0000));
        assert!(!Scheme::SV39.va_in_range(0xffff_ff80_0000_0000));
        assert!(Scheme::SV39X4.va_in_range(0x1ff_ffff_ffff));
        assert!(!Scheme::SV39X4.va_in_range(0x200_0000_0000));
        assert!(!Scheme::SV39X4.va_in_range(u64::MAX));
        assert!(!Scheme::SV32.va_in_range(0x1_0000_0000));
    }

    #[test]
    fn mode_encodings() {
        assert_eq!(Scheme::first_stage(9, false), Some(Scheme::SV48));
        assert_eq!(Scheme::first_stage(9, true), None);
        assert_eq!(Scheme::first_stage(14, false), None);
        assert_eq!(Scheme::g_stage(10, false), Some(Scheme::SV57X4));
        assert_eq!(Scheme::g_stage(8, true), Some(Scheme::SV32X4));
    }
}
