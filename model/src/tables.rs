//! Building the in-memory tables, as software does: device directory, device and
//! process contexts, process directory, first-stage and G-stage page tables, MSI
//! page tables.
//!
//! This is the other side of the model: the driver model, the tests, the
//! benchmarks and the co-simulation's random stimulus use it to lay out tables in
//! a [`Memory`] that the IOMMU then walks. Tables that live in guest memory (a
//! first stage or PDT under a G-stage) are written through a software walk of the
//! G-stage, so their addresses are the guest's.

use crate::addr::Spa;
use crate::context::{DeviceContext, PdtMode, ProcessContext};
use crate::memory::Memory;
use crate::pte::{bits, Pte, Scheme};
use crate::regs::IommuMode;

/// Device-context `tc` bits.
pub mod tc {
    /// Valid.
    pub const V: u64 = 1 << 0;
    /// Enable ATS.
    pub const EN_ATS: u64 = 1 << 1;
    /// Enable PRI.
    pub const EN_PRI: u64 = 1 << 2;
    /// ATS returns GPAs.
    pub const T2GPA: u64 = 1 << 3;
    /// Disable translation-fault reporting.
    pub const DTF: u64 = 1 << 4;
    /// `fsc` holds a `pdtp`.
    pub const PDTV: u64 = 1 << 5;
    /// PRG-response PASID required.
    pub const PRPR: u64 = 1 << 6;
    /// G-stage A/D updating.
    pub const GADE: u64 = 1 << 7;
    /// First-stage A/D updating.
    pub const SADE: u64 = 1 << 8;
    /// Default process ID 0.
    pub const DPE: u64 = 1 << 9;
    /// First stage and PDT big-endian.
    pub const SBE: u64 = 1 << 10;
    /// 32-bit first stage.
    pub const SXL: u64 = 1 << 11;
}

/// Process-context `ta` bits.
pub mod pc_ta {
    /// Valid.
    pub const V: u64 = 1 << 0;
    /// Supervisor requests allowed.
    pub const ENS: u64 = 1 << 1;
    /// Supervisor access to user pages.
    pub const SUM: u64 = 1 << 2;
}

/// The `MODE` encoding of a first-stage scheme (`iosatp`, `PC.fsc`).
pub fn first_stage_mode(scheme: Scheme) -> u64 {
    match (scheme.levels, scheme.pte_bytes) {
        (2, 4) => 8,
        (3, _) => 8,
        (4, _) => 9,
        _ => 10,
    }
}

/// An `iosatp`/`PC.fsc`/`pdtp`/`msiptp`-shaped value: MODE in 63:60, PPN in 43:0.
pub fn mode_ppn(mode: u64, ppn: u64) -> u64 {
    (mode << 60) | (ppn & ((1 << 44) - 1))
}

/// An `iohgatp` value.
pub fn iohgatp(scheme: Option<Scheme>, gscid: u16, root_ppn: u64) -> u64 {
    match scheme {
        None => 0,
        Some(s) => mode_ppn(first_stage_mode(Scheme { widen: 0, ..s }), root_ppn) | (u64::from(gscid) << 44),
    }
}

/// The `pdtp.MODE` encoding.
pub fn pdt_mode_bits(mode: PdtMode) -> u64 {
    match mode {
        PdtMode::Bare => 0,
        PdtMode::Pd8 => 1,
        PdtMode::Pd17 => 2,
        PdtMode::Pd20 => 3,
    }
}

/// The size of a mapping: a leaf at a level (0 for 4 KiB, 1 for 2 MiB or 4 MiB,
/// ...), or a 64 KiB Svnapot region of 16 level-0 PTEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// A leaf at this level.
    Level(u8),
    /// A 64 KiB NAPOT region.
    Napot64K,
}

impl PageSize {
    /// 4 KiB.
    pub const K4: PageSize = PageSize::Level(0);
    /// 2 MiB (Sv39/48/57 and x4).
    pub const M2: PageSize = PageSize::Level(1);
    /// 1 GiB.
    pub const G1: PageSize = PageSize::Level(2);
}

/// A bump allocator of zeroed 4 KiB pages in one address space (host-physical,
/// or a guest's physical space).
#[derive(Clone, Debug)]
pub struct Pages {
    next: u64,
    end: u64,
}

/// Building a table failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The page allocator ran out.
    #[error("out of table pages (region ends at {0:#x})")]
    OutOfPages(u64),
    /// A guest table address has no G-stage mapping.
    #[error("guest address {0:#x} is not mapped by the G-stage")]
    Unmapped(u64),
    /// The mapping is not aligned to its page size.
    #[error("{0:#x} is not aligned to the page size")]
    Misaligned(u64),
    /// A leaf already occupies the walk to a smaller page.
    #[error("a superpage already maps {0:#x}")]
    Superpage(u64),
    /// Memory refused a write.
    #[error("memory access fault at {0:#x}")]
    Access(u64),
    /// The device or process ID does not fit the directory.
    #[error("ID {0:#x} is wider than the directory")]
    IdTooWide(u64),
}

impl Pages {
    /// Pages from `[start, end)`; `start` is rounded up to 4 KiB.
    pub fn new(start: u64, end: u64) -> Self {
        Pages { next: (start + 0xfff) & !0xfff, end }
    }

    /// Allocates `count` consecutive pages aligned to `align` bytes; returns the
    /// address of the first. The pages are not zeroed here: see
    /// [`Pages::alloc_zeroed`].
    pub fn alloc(&mut self, count: u64, align: u64) -> Result<u64, TableError> {
        let a = (self.next + align - 1) & !(align - 1);
        let end = a + count * 4096;
        if end > self.end {
            return Err(TableError::OutOfPages(self.end));
        }
        self.next = end;
        Ok(a)
    }

    /// The next free address.
    pub fn next(&self) -> u64 {
        self.next
    }
}

/// Where a table's addresses point: straight at host memory, or into a guest's
/// memory through a G-stage page table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// Supervisor-physical addresses.
    Host,
    /// Guest-physical addresses, translated by this G-stage table.
    Guest(PageTable),
}

impl Space {
    /// The SPA of `addr`, by a software walk when in a guest.
    pub fn to_spa(&self, mem: &mut (impl Memory + ?Sized), addr: u64) -> Result<u64, TableError> {
        match self {
            Space::Host => Ok(addr),
            Space::Guest(g) => g.lookup(mem, addr).map(|(pa, _)| pa).ok_or(TableError::Unmapped(addr)),
        }
    }

    fn write(&self, mem: &mut (impl Memory + ?Sized), addr: u64, value: u64) -> Result<(), TableError> {
        let spa = self.to_spa(mem, addr)?;
        mem.write(Spa(spa), value).map_err(|_| TableError::Access(spa))
    }

    fn read(&self, mem: &mut (impl Memory + ?Sized), addr: u64) -> Result<u64, TableError> {
        let spa = self.to_spa(mem, addr)?;
        mem.read(Spa(spa)).map_err(|_| TableError::Access(spa))
    }

    /// Zeroes `count` pages at `addr`.
    pub fn zero(&self, mem: &mut (impl Memory + ?Sized), addr: u64, count: u64) -> Result<(), TableError> {
        for off in (0..count * 4096).step_by(8) {
            self.write(mem, addr + off, 0)?;
        }
        Ok(())
    }
}

/// A radix page table (first stage or G-stage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable {
    /// Its scheme.
    pub scheme: Scheme,
    /// Address of the root table, in `space`'s addresses (the root of an x4
    /// scheme is 16 KiB).
    pub root: u64,
    /// Big-endian entries.
    pub big_endian: bool,
    /// Where its addresses point; G-stage tables are always in host memory.
    pub guest_of: Option<(Scheme, u64)>,
}

impl PageTable {
    /// Allocates an empty table in `space`, its root from `pages`.
    pub fn new(
        mem: &mut (impl Memory + ?Sized),
        pages: &mut Pages,
        space: Space,
        scheme: Scheme,
    ) -> Result<Self, TableError> {
        let root_pages = if scheme.is_gstage() { 4 } else { 1 };
        let root = pages.alloc(root_pages, root_pages * 4096)?;
        space.zero(mem, root, root_pages)?;
        let guest_of = match space {
            Space::Host => None,
            Space::Guest(g) => Some((g.scheme, g.root)),
        };
        Ok(PageTable { scheme, root, big_endian: false, guest_of })
    }

    /// The space the table's own pages live in.
    pub fn space(&self) -> Space {
        match self.guest_of {
            None => Space::Host,
            Some((scheme, root)) => Space::Guest(PageTable { scheme, root, big_endian: false, guest_of: None }),
        }
    }

    /// The root page number (for `iosatp`, `PC.fsc`, `iohgatp`).
    pub fn root_ppn(&self) -> u64 {
        self.root >> 12
    }

    fn decode(&self, raw: u64, addr: u64) -> Pte {
        crate::walker::pte_from_word(raw, addr, self.scheme.pte_bytes, self.big_endian)
    }

    fn read_pte(&self, mem: &mut (impl Memory + ?Sized), addr: u64) -> Result<Pte, TableError> {
        let raw = self.space().read(mem, addr & !7)?;
        Ok(self.decode(raw, addr))
    }

    fn write_pte(&self, mem: &mut (impl Memory + ?Sized), addr: u64, pte: Pte) -> Result<(), TableError> {
        let space = self.space();
        let old = space.read(mem, addr & !7)?;
        let raw = crate::walker::pte_into_word(old, addr, self.scheme.pte_bytes, self.big_endian, pte);
        space.write(mem, addr & !7, raw)
    }

    /// Maps the page of `size` at `va` to `pa`, with leaf `flags` (R/W/X/U/G/A/D
    /// and, for 64-bit PTEs, PBMT). Intermediate tables come from `pages`.
    pub fn map(
        &self,
        mem: &mut (impl Memory + ?Sized),
        pages: &mut Pages,
        va: u64,
        pa: u64,
        size: PageSize,
        flags: u64,
    ) -> Result<(), TableError> {
        let s = self.scheme;
        let (level, napot) = match size {
            PageSize::Level(l) => (l, false),
            PageSize::Napot64K => (0, true),
        };
        let bytes = if napot { 1 << 16 } else { 1u64 << s.page_shift(level) };
        if !va.is_multiple_of(bytes) || !pa.is_multiple_of(bytes) {
            return Err(TableError::Misaligned(va | pa));
        }
        let mut table = self.root;
        let mut l = s.levels - 1;
        while l > level {
            let addr = table + s.vpn(va, l) * u64::from(s.pte_bytes);
            let pte = self.read_pte(mem, addr)?;
            if pte.valid() && pte.is_leaf() {
                return Err(TableError::Superpage(va));
            }
            table = if pte.valid() {
                pte.ppn(s) << 12
            } else {
                let next = pages.alloc(1, 4096)?;
                self.space().zero(mem, next, 1)?;
                self.write_pte(mem, addr, Pte(((next >> 12) << 10) | bits::V))?;
                next
            };
            l -= 1;
        }
        let leaf_flags = flags | bits::V;
        if napot {
            let ppn = ((pa >> 12) & !0xf) | 0b1000;
            for i in 0..16u64 {
                let addr = table + (s.vpn(va, 0) + i) * u64::from(s.pte_bytes);
                self.write_pte(mem, addr, Pte((ppn << 10) | leaf_flags | bits::N))?;
            }
        } else {
            let addr = table + s.vpn(va, level) * u64::from(s.pte_bytes);
            self.write_pte(mem, addr, Pte(((pa >> 12) << 10) | leaf_flags))?;
        }
        Ok(())
    }

    /// Clears the leaf that maps `va` (all 16 PTEs of a NAPOT region). Returns
    /// the size of what was unmapped, or `None` if nothing mapped it.
    pub fn unmap(&self, mem: &mut (impl Memory + ?Sized), va: u64) -> Result<Option<u64>, TableError> {
        let Some((addr, level)) = self.find_leaf(mem, va)? else {
            return Ok(None);
        };
        let s = self.scheme;
        let pte = self.read_pte(mem, addr)?;
        if pte.n() {
            let base = addr & !(16 * u64::from(s.pte_bytes) - 1);
            for i in 0..16 {
                self.write_pte(mem, base + i * u64::from(s.pte_bytes), Pte(0))?;
            }
            return Ok(Some(1 << 16));
        }
        self.write_pte(mem, addr, Pte(0))?;
        Ok(Some(1 << s.page_shift(level)))
    }

    /// The address and level of the valid leaf PTE that maps `va`, if any.
    pub fn find_leaf(&self, mem: &mut (impl Memory + ?Sized), va: u64) -> Result<Option<(u64, u8)>, TableError> {
        let s = self.scheme;
        let mut table = self.root;
        let mut l = s.levels - 1;
        loop {
            let addr = table + s.vpn(va, l) * u64::from(s.pte_bytes);
            let pte = self.read_pte(mem, addr)?;
            if !pte.valid() {
                return Ok(None);
            }
            if pte.is_leaf() {
                return Ok(Some((addr, l)));
            }
            if l == 0 {
                return Ok(None);
            }
            table = pte.ppn(s) << 12;
            l -= 1;
        }
    }

    /// A software walk, without permission checks: the output address of `va`
    /// and the leaf PTE, if mapped.
    pub fn lookup(&self, mem: &mut (impl Memory + ?Sized), va: u64) -> Option<(u64, Pte)> {
        let (addr, level) = self.find_leaf(mem, va).ok()??;
        let pte = self.read_pte(mem, addr).ok()?;
        let s = self.scheme;
        let low = if pte.n() { 4 } else { u32::from(level) * u32::from(s.vpn_bits) };
        let mask = (1u64 << low) - 1;
        let ppn = (pte.ppn(s) & !mask) | ((va >> 12) & mask);
        Some(((ppn << 12) | (va & 0xfff), pte))
    }

    /// Overwrites the raw PTE of the leaf mapping `va` (for tests that corrupt
    /// tables). Returns false if nothing maps it.
    pub fn set_leaf_pte(&self, mem: &mut (impl Memory + ?Sized), va: u64, pte: Pte) -> Result<bool, TableError> {
        match self.find_leaf(mem, va)? {
            Some((addr, _)) => {
                self.write_pte(mem, addr, pte)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The address (in the table's space) of the PTE at `level` on the walk of
    /// `va`, if the walk reaches that level.
    pub fn pte_addr(&self, mem: &mut (impl Memory + ?Sized), va: u64, level: u8) -> Result<Option<u64>, TableError> {
        let s = self.scheme;
        let mut table = self.root;
        let mut l = s.levels - 1;
        loop {
            let addr = table + s.vpn(va, l) * u64::from(s.pte_bytes);
            if l == level {
                return Ok(Some(addr));
            }
            let pte = self.read_pte(mem, addr)?;
            if !pte.valid() || pte.is_leaf() || l == 0 {
                return Ok(None);
            }
            table = pte.ppn(s) << 12;
            l -= 1;
        }
    }

    /// Reads the PTE at `addr` (in the table's space).
    pub fn pte_at(&self, mem: &mut (impl Memory + ?Sized), addr: u64) -> Result<Pte, TableError> {
        self.read_pte(mem, addr)
    }

    /// Writes the PTE at `addr` (in the table's space).
    pub fn set_pte_at(&self, mem: &mut (impl Memory + ?Sized), addr: u64, pte: Pte) -> Result<(), TableError> {
        self.write_pte(mem, addr, pte)
    }
}

/// A device directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceDirectory {
    /// Address of the root page.
    pub root: u64,
    /// Levels (1-3).
    pub levels: u8,
    /// 64-byte device contexts (`capabilities.MSI_FLAT`).
    pub extended: bool,
}

impl DeviceDirectory {
    /// Allocates an empty directory of `levels` levels.
    pub fn new(
        mem: &mut (impl Memory + ?Sized),
        pages: &mut Pages,
        levels: u8,
        extended: bool,
    ) -> Result<Self, TableError> {
        let root = pages.alloc(1, 4096)?;
        Space::Host.zero(mem, root, 1)?;
        Ok(DeviceDirectory { root, levels, extended })
    }

    /// The `ddtp` value that selects this directory.
    pub fn ddtp(&self) -> u64 {
        let mode = match self.levels {
            1 => 2,
            2 => 3,
            _ => 4,
        };
        ((self.root >> 12) << 10) | mode
    }

    /// The `iommu_mode` of this directory.
    pub fn mode(&self) -> IommuMode {
        match self.levels {
            1 => IommuMode::Lvl1,
            2 => IommuMode::Lvl2,
            _ => IommuMode::Lvl3,
        }
    }

    fn ddi(&self, did: u32, level: u8) -> u64 {
        crate::context::ddi(did, level, self.extended)
    }

    /// The address where the device context of `did` lives, creating the
    /// non-leaf entries on the way.
    pub fn dc_addr(&self, mem: &mut (impl Memory + ?Sized), pages: &mut Pages, did: u32) -> Result<u64, TableError> {
        let wide = match self.levels {
            1 => self.ddi(did, 1) != 0 || self.ddi(did, 2) != 0,
            2 => self.ddi(did, 2) != 0,
            _ => false,
        };
        if wide {
            return Err(TableError::IdTooWide(u64::from(did)));
        }
        let mut table = self.root;
        for level in (1..self.levels).rev() {
            let addr = table + self.ddi(did, level) * 8;
            let e = mem.read(Spa(addr)).map_err(|_| TableError::Access(addr))?;
            table = if e & 1 == 1 {
                crate::context::dir_nonleaf_ppn(e) << 12
            } else {
                let next = pages.alloc(1, 4096)?;
                Space::Host.zero(mem, next, 1)?;
                mem.write(Spa(addr), ((next >> 12) << 10) | 1).map_err(|_| TableError::Access(addr))?;
                next
            };
        }
        let size = if self.extended { 64 } else { 32 };
        Ok(table + self.ddi(did, 0) * size)
    }

    /// Writes the device context of `did`.
    pub fn set(
        &self,
        mem: &mut (impl Memory + ?Sized),
        pages: &mut Pages,
        did: u32,
        dc: &DeviceContext,
    ) -> Result<u64, TableError> {
        let addr = self.dc_addr(mem, pages, did)?;
        let words = [dc.tc, dc.iohgatp, dc.ta, dc.fsc, dc.msiptp, dc.msi_addr_mask, dc.msi_addr_pattern, dc.reserved];
        let n = if self.extended { 8 } else { 4 };
        for (i, w) in words.iter().take(n).enumerate() {
            let a = addr + 8 * i as u64;
            mem.write(Spa(a), *w).map_err(|_| TableError::Access(a))?;
        }
        Ok(addr)
    }
}

/// A process directory, in host memory or in a guest's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessDirectory {
    /// Address of the root page, in `space`.
    pub root: u64,
    /// Depth.
    pub mode: PdtMode,
    /// Where its addresses point.
    pub space: Space,
}

impl ProcessDirectory {
    /// Allocates an empty directory.
    pub fn new(
        mem: &mut (impl Memory + ?Sized),
        pages: &mut Pages,
        space: Space,
        mode: PdtMode,
    ) -> Result<Self, TableError> {
        let root = pages.alloc(1, 4096)?;
        space.zero(mem, root, 1)?;
        Ok(ProcessDirectory { root, mode, space })
    }

    /// The `pdtp` value (`DC.fsc` with `PDTV` set).
    pub fn pdtp(&self) -> u64 {
        mode_ppn(pdt_mode_bits(self.mode), self.root >> 12)
    }

    /// The address (in `space`) of the process context of `pid`, creating the
    /// non-leaf entries on the way.
    pub fn pc_addr(&self, mem: &mut (impl Memory + ?Sized), pages: &mut Pages, pid: u32) -> Result<u64, TableError> {
        if u64::from(pid) >> self.mode.pid_bits() != 0 {
            return Err(TableError::IdTooWide(u64::from(pid)));
        }
        let mut table = self.root;
        for level in (1..self.mode.levels()).rev() {
            let addr = table + crate::context::pdi(pid, level) * 8;
            let e = self.space.read(mem, addr)?;
            table = if e & 1 == 1 {
                crate::context::dir_nonleaf_ppn(e) << 12
            } else {
                let next = pages.alloc(1, 4096)?;
                self.space.zero(mem, next, 1)?;
                self.space.write(mem, addr, ((next >> 12) << 10) | 1)?;
                next
            };
        }
        Ok(table + crate::context::pdi(pid, 0) * 16)
    }

    /// Writes the process context of `pid`.
    pub fn set(
        &self,
        mem: &mut (impl Memory + ?Sized),
        pages: &mut Pages,
        pid: u32,
        pc: &ProcessContext,
    ) -> Result<u64, TableError> {
        let addr = self.pc_addr(mem, pages, pid)?;
        self.space.write(mem, addr, pc.ta)?;
        self.space.write(mem, addr + 8, pc.fsc)?;
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SparseMemory;

    #[test]
    fn map_then_lookup_every_page_size() {
        let mut mem = SparseMemory::new();
        let mut pages = Pages::new(0x8000_0000, 0x8100_0000);
        let pt = PageTable::new(&mut mem, &mut pages, Space::Host, Scheme::SV48).unwrap();
        let rw = bits::R | bits::W | bits::A | bits::D;
        pt.map(&mut mem, &mut pages, 0x1000, 0x9000, PageSize::K4, rw).unwrap();
        pt.map(&mut mem, &mut pages, 0x4020_0000, 0x1_0000_0000, PageSize::M2, rw).unwrap();
        pt.map(&mut mem, &mut pages, 0x80_0000_0000, 0x40_0000_0000, PageSize::G1, rw).unwrap();
        pt.map(&mut mem, &mut pages, 0x5_0000, 0x7_0000, PageSize::Napot64K, rw).unwrap();
        assert_eq!(pt.lookup(&mut mem, 0x1abc).unwrap().0, 0x9abc);
        assert_eq!(pt.lookup(&mut mem, 0x4030_0004).unwrap().0, 0x1_0010_0004);
        assert_eq!(pt.lookup(&mut mem, 0x80_1234_5678).unwrap().0, 0x40_1234_5678);
        assert_eq!(pt.lookup(&mut mem, 0x5_f008).unwrap().0, 0x7_f008);
        assert!(pt.lookup(&mut mem, 0x2000).is_none());
        assert_eq!(pt.unmap(&mut mem, 0x5_3000).unwrap(), Some(1 << 16));
        assert!(pt.lookup(&mut mem, 0x5_f008).is_none());
        assert!(pt.map(&mut mem, &mut pages, 0x4020_1000, 0, PageSize::K4, rw).is_err(), "inside a superpage");
        assert!(pt.map(&mut mem, &mut pages, 0x1000, 0x1000, PageSize::M2, rw).is_err(), "misaligned");
    }

    #[test]
    fn guest_tables_are_written_through_the_g_stage() {
        let mut mem = SparseMemory::new();
        let mut host = Pages::new(0x8000_0000, 0x8100_0000);
        let g = PageTable::new(&mut mem, &mut host, Space::Host, Scheme::SV39X4).unwrap();
        assert_eq!(g.root % 0x4000, 0, "x4 roots are 16 KiB aligned");
        // Guest RAM: GPA 0 .. 2 MiB at SPA 0x9000_0000.
        g.map(&mut mem, &mut host, 0, 0x9000_0000, PageSize::M2, bits::R | bits::W | bits::U | bits::A | bits::D)
            .unwrap();
        let mut guest = Pages::new(0x1000, 0x20_0000);
        let fs = PageTable::new(&mut mem, &mut guest, Space::Guest(g), Scheme::SV39).unwrap();
        fs.map(&mut mem, &mut guest, 0x4000_0000, 0x3000, PageSize::K4, bits::R | bits::A).unwrap();
        assert_eq!(fs.lookup(&mut mem, 0x4000_0010).unwrap().0, 0x3010);
        // The root lives at guest page 1, host 0x9000_1000.
        assert_eq!(fs.root, 0x1000);
        assert_ne!(mem.peek(Spa(0x9000_1000 + 8)), 0);
    }

    #[test]
    fn directories_place_contexts_where_the_walk_looks() {
        let mut mem = SparseMemory::new();
        let mut pages = Pages::new(0x8000_0000, 0x8100_0000);
        let ddt = DeviceDirectory::new(&mut mem, &mut pages, 3, false).unwrap();
        let a = ddt.dc_addr(&mut mem, &mut pages, 0x12_3456).unwrap();
        assert_eq!(a & 0xfff, (0x56 & 0x7f) * 32);
        let one = DeviceDirectory::new(&mut mem, &mut pages, 1, true).unwrap();
        assert!(one.dc_addr(&mut mem, &mut pages, 64).is_err(), "1LVL extended holds 64 devices");
        let pdt = ProcessDirectory::new(&mut mem, &mut pages, Space::Host, PdtMode::Pd8).unwrap();
        assert!(pdt.pc_addr(&mut mem, &mut pages, 256).is_err());
        assert_eq!(pdt.pc_addr(&mut mem, &mut pages, 255).unwrap(), pdt.root + 255 * 16);
    }
}
