//! The IOTLB: combined IOVA-to-SPA translations of both stages, tagged by address
//! space (`iommu_data_structures.adoc`, "Caching in-memory data structures": first
//! stage by `GSCID`, `PSCID` and IOVA; G-stage by `GSCID` and GPA).
//!
//! An entry covers the smaller of the two stages' leaf pages. Pages of every size
//! share one set-associative array: an entry's set is chosen by its own page number,
//! so a lookup probes one set per page size that the IOTLB currently holds (most
//! often one). An entry records the permissions of both stages; a hit is only
//! taken when they allow the access without an A/D update, so any fault or update
//! is found by a fresh walk and caching never changes an answer.

use crate::cache::{Geometry, SetAssoc};
use crate::request::Access;

/// The address space a translation belongs to: `GSCID` when the G-stage is
/// active (`None` for a host address space) and `PSCID` when the first stage is
/// active (`None` when it is Bare), packed in one word so that a tag comparison is
/// one comparison.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AddressSpace(u64);

impl AddressSpace {
    const GV: u64 = 1 << 63;
    const PV: u64 = 1 << 62;

    /// The address space of these IDs.
    #[inline]
    pub const fn new(gscid: Option<u16>, pscid: Option<u32>) -> Self {
        let g = match gscid {
            Some(g) => Self::GV | ((g as u64) << 32),
            None => 0,
        };
        let p = match pscid {
            Some(p) => Self::PV | (p as u64 & 0xf_ffff),
            None => 0,
        };
        AddressSpace(g | p)
    }

    /// `GSCID`, when the G-stage is active.
    #[inline]
    pub const fn gscid(self) -> Option<u16> {
        if self.0 & Self::GV != 0 {
            Some((self.0 >> 32) as u16)
        } else {
            None
        }
    }

    /// `PSCID`, when the first stage is active.
    #[inline]
    pub const fn pscid(self) -> Option<u32> {
        if self.0 & Self::PV != 0 {
            Some((self.0 & 0xf_ffff) as u32)
        } else {
            None
        }
    }
}

impl std::fmt::Debug for AddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AddressSpace(gscid {:?}, pscid {:?})", self.gscid(), self.pscid())
    }
}

/// Permission and attribute bits of an entry.
pub mod perm {
    /// The first stage is active.
    pub const FS: u16 = 1 << 0;
    /// First-stage R.
    pub const FS_R: u16 = 1 << 1;
    /// First-stage W.
    pub const FS_W: u16 = 1 << 2;
    /// First-stage X.
    pub const FS_X: u16 = 1 << 3;
    /// First-stage U.
    pub const FS_U: u16 = 1 << 4;
    /// First-stage G (global).
    pub const FS_G: u16 = 1 << 5;
    /// The G-stage is active.
    pub const GS: u16 = 1 << 6;
    /// G-stage R.
    pub const GS_R: u16 = 1 << 7;
    /// G-stage W.
    pub const GS_W: u16 = 1 << 8;
    /// G-stage X.
    pub const GS_X: u16 = 1 << 9;
    /// D is set in every active stage's leaf, so writes need no update.
    pub const DIRTY: u16 = 1 << 10;

    /// `FS` with the first-stage leaf's R, W, X, U and G (PTE bits 1-5 sit where
    /// `FS_R`..`FS_G` do).
    #[inline]
    pub fn from_first_stage(pte: crate::pte::Pte) -> u16 {
        FS | (pte.0 & 0x3e) as u16
    }

    /// `GS` with the G-stage leaf's R, W and X.
    #[inline]
    pub fn from_g_stage(pte: crate::pte::Pte) -> u16 {
        GS | (((pte.0 >> 1) & 7) as u16) << 7
    }
}

/// One cached translation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IotlbEntry {
    /// Address-space tag.
    pub space: AddressSpace,
    /// log2 of the region covered (12 for 4 KiB ... 48 for 256 TiB).
    pub page_shift: u8,
    /// IOVA of the start of the region.
    pub iova_base: u64,
    /// SPA of the start of the region.
    pub spa_base: u64,
    /// GPA of the start of the region (equal to the IOVA when the first stage is
    /// Bare, to the SPA when the G-stage is Bare).
    pub gpa_base: u64,
    /// log2 of the first-stage leaf's region (64 when Bare).
    pub fs_shift: u8,
    /// log2 of the G-stage leaf's region (64 when Bare).
    pub gs_shift: u8,
    /// [`perm`] bits.
    pub perm: u16,
}

impl IotlbEntry {
    /// Whether this entry translates `iova` in `space`.
    #[inline]
    pub fn covers(&self, space: AddressSpace, iova: u64) -> bool {
        (self.space == space) & ((iova >> self.page_shift) == (self.iova_base >> self.page_shift))
    }

    /// The SPA of `iova`, which the entry covers.
    #[inline]
    pub fn translate(&self, iova: u64) -> u64 {
        self.spa_base | (iova & ((1u64 << self.page_shift) - 1))
    }

    /// Whether the cached permissions allow the access with no fault and no A/D
    /// update (first-stage U rules as in the walker).
    #[inline]
    pub fn permits(&self, access: Access, privileged: bool, sum: bool) -> bool {
        let p = self.perm;
        let has = |b: u16| p & b != 0;
        if has(perm::FS) {
            let u = has(perm::FS_U);
            let u_ok = if privileged { !u || (sum && access != Access::Exec) } else { u };
            let rwx = match access {
                Access::Read => has(perm::FS_R),
                Access::Write => has(perm::FS_W),
                Access::Exec => has(perm::FS_X),
            };
            if !u_ok || !rwx {
                return false;
            }
        }
        if has(perm::GS) {
            let rwx = match access {
                Access::Read => has(perm::GS_R),
                Access::Write => has(perm::GS_W),
                Access::Exec => has(perm::GS_X),
            };
            if !rwx {
                return false;
            }
        }
        access != Access::Write || has(perm::DIRTY)
    }

    /// Whether the first-stage leaf's IOVA region overlaps `[lo, hi]`.
    fn fs_overlaps(&self, lo: u64, hi: u64) -> bool {
        overlaps(self.iova_base, self.fs_shift, lo, hi)
    }

    /// Whether the G-stage leaf's GPA region overlaps `[lo, hi]`.
    fn gs_overlaps(&self, lo: u64, hi: u64) -> bool {
        overlaps(self.gpa_base, self.gs_shift, lo, hi)
    }
}

fn overlaps(addr: u64, shift: u8, lo: u64, hi: u64) -> bool {
    let mask = if shift >= 64 { u64::MAX } else { (1u64 << shift) - 1 };
    let base = addr & !mask;
    let end = base | mask;
    base <= hi && lo <= end
}

/// An inclusive address range an invalidation applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrRange {
    /// First address.
    pub lo: u64,
    /// Last address.
    pub hi: u64,
}

/// The page sizes an entry can have; one probe per size present.
const SHIFTS: [u8; 7] = [12, 16, 21, 22, 30, 39, 48];

#[inline]
fn class_of(shift: u8) -> usize {
    match shift {
        12 => 0,
        16 => 1,
        21 => 2,
        22 => 3,
        30 => 4,
        39 => 5,
        _ => 6,
    }
}

/// The IOTLB.
#[derive(Clone)]
pub struct Iotlb {
    array: SetAssoc<u128, IotlbEntry>,
    present: [u32; SHIFTS.len()],
    /// Bit `c` set when `present[c]` is not zero.
    present_mask: u8,
}

impl Iotlb {
    /// An empty IOTLB.
    pub fn new(geometry: Geometry) -> Self {
        Iotlb { array: SetAssoc::new(geometry), present: [0; SHIFTS.len()], present_mask: 0 }
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.array.geometry()
    }

    /// Number of valid entries.
    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// Whether the IOTLB holds nothing.
    pub fn is_empty(&self) -> bool {
        self.array.is_empty()
    }

    /// The set index of a region: its page number mixed with the address-space
    /// tags, so that devices using the same IOVAs spread over the sets.
    #[inline]
    fn index(space: AddressSpace, iova: u64, shift: u8) -> u64 {
        (iova >> shift) ^ space.0 ^ (space.0 >> 25)
    }

    /// The tag of the region of size `1 << shift` holding `iova` in `space`.
    #[inline]
    fn key(space: AddressSpace, iova: u64, shift: u8) -> u128 {
        (u128::from(space.0) << 64) | u128::from(((iova >> shift) << 6) | u64::from(shift))
    }

    /// Finds the entry translating `iova` in `space`.
    #[inline]
    pub fn lookup(&mut self, space: AddressSpace, iova: u64) -> Option<&IotlbEntry> {
        let mut classes = self.present_mask;
        while classes != 0 {
            let class = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            let shift = SHIFTS[class];
            let index = Self::index(space, iova, shift);
            let key = Self::key(space, iova, shift);
            if let Some(slot) = self.array.find(index, key) {
                return Some(self.array.use_slot(slot));
            }
        }
        None
    }

    /// Finds the entry translating `iova` in `space` without changing the
    /// replacement state (what a lookup would find; for a pipeline stage that
    /// holds a request and looks again next cycle).
    #[inline]
    pub fn peek(&self, space: AddressSpace, iova: u64) -> Option<&IotlbEntry> {
        let mut classes = self.present_mask;
        while classes != 0 {
            let class = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            let shift = SHIFTS[class];
            if let Some(e) = self.array.peek(Self::index(space, iova, shift), Self::key(space, iova, shift)) {
                return Some(e);
            }
        }
        None
    }

    /// Caches a translation.
    pub fn insert(&mut self, e: IotlbEntry) {
        if self.array.is_disabled() {
            return;
        }
        let idx = Self::index(e.space, e.iova_base, e.page_shift);
        let key = Self::key(e.space, e.iova_base, e.page_shift);
        let before = self.array.len();
        let evicted = self.array.insert(idx, key, e);
        if let Some((_, old)) = evicted {
            self.count(old.page_shift, -1);
        }
        if self.array.len() > before || evicted.is_some() {
            self.count(e.page_shift, 1);
        }
    }

    fn count(&mut self, shift: u8, delta: i32) {
        let c = class_of(shift);
        self.present[c] = self.present[c].wrapping_add_signed(delta);
        if self.present[c] == 0 {
            self.present_mask &= !(1 << c);
        } else {
            self.present_mask |= 1 << c;
        }
    }

    fn invalidate_where(&mut self, kill: impl Fn(&IotlbEntry) -> bool) -> usize {
        let mut killed = [0u32; SHIFTS.len()];
        let n = self.array.invalidate(|_, e| {
            let k = kill(e);
            if k {
                killed[class_of(e.page_shift)] += 1;
            }
            k
        });
        for (c, k) in killed.into_iter().enumerate() {
            self.present[c] -= k;
            if self.present[c] == 0 {
                self.present_mask &= !(1 << c);
            }
        }
        n
    }

    /// `IOTINVAL.VMA` (`iommu_in_memory_queues.adoc`, IVMA table): entries of
    /// first-stage translations of the host (`gscid` `None`) or of one VM, of one
    /// address space (`pscid`, sparing global mappings) or all, for an IOVA range or
    /// all addresses. Returns how many entries were dropped.
    pub fn invalidate_vma(&mut self, gscid: Option<u16>, pscid: Option<u32>, range: Option<AddrRange>) -> usize {
        self.invalidate_where(|e| {
            e.perm & perm::FS != 0
                && e.space.gscid() == gscid
                && pscid.is_none_or(|p| e.space.pscid() == Some(p) && e.perm & perm::FS_G == 0)
                && range.is_none_or(|r| e.fs_overlaps(r.lo, r.hi))
        })
    }

    /// `IOTINVAL.GVMA` (IGVMA table): every entry of every VM (`gscid` `None`), or of
    /// one VM, or of one VM's G-stage leaves covering a GPA range.
    pub fn invalidate_gvma(&mut self, gscid: Option<u16>, range: Option<AddrRange>) -> usize {
        self.invalidate_where(|e| match (e.space.gscid(), gscid) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(g), Some(want)) => g == want && range.is_none_or(|r| e.gs_overlaps(r.lo, r.hi)),
        })
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.array.clear();
        self.present = [0; SHIFTS.len()];
        self.present_mask = 0;
    }

    /// Drops everything at a fixed cost (see [`SetAssoc::clear_all_sets`]).
    pub fn clear_all_sets(&mut self) {
        self.array.clear_all_sets();
        self.present = [0; SHIFTS.len()];
        self.present_mask = 0;
    }

    /// Every valid entry.
    pub fn entries(&self) -> impl Iterator<Item = &IotlbEntry> {
        self.array.iter().map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(pscid: u32) -> AddressSpace {
        AddressSpace::new(None, Some(pscid))
    }

    fn entry(space: AddressSpace, iova: u64, shift: u8, spa: u64, perm: u16) -> IotlbEntry {
        let mask = (1u64 << shift) - 1;
        IotlbEntry {
            space,
            page_shift: shift,
            iova_base: iova & !mask,
            spa_base: spa & !mask,
            gpa_base: iova & !mask,
            fs_shift: shift,
            gs_shift: 64,
            perm,
        }
    }

    const RW: u16 = perm::FS | perm::FS_R | perm::FS_W | perm::FS_U | perm::DIRTY;

    #[test]
    fn lookup_finds_pages_of_every_size() {
        let mut t = Iotlb::new(Geometry::new(8, 2));
        t.insert(entry(host(1), 0x4000_0000, 30, 0x8000_0000, RW));
        t.insert(entry(host(1), 0x1234_5000, 12, 0x9999_9000, RW));
        t.insert(entry(host(1), 0x20_0000, 21, 0x60_0000, RW));
        let e = t.lookup(host(1), 0x4123_4567).unwrap();
        assert_eq!(e.translate(0x4123_4567), 0x8123_4567);
        assert_eq!(t.lookup(host(1), 0x1234_5fff).unwrap().translate(0x1234_5fff), 0x9999_9fff);
        assert_eq!(t.lookup(host(1), 0x3f_ffff).unwrap().translate(0x3f_ffff), 0x7f_ffff);
        assert!(t.lookup(host(2), 0x4123_4567).is_none(), "other address space");
        assert!(t.lookup(host(1), 0x1234_6000).is_none());
    }

    #[test]
    fn permits_needs_dirty_for_writes_and_u_rules() {
        let e = entry(host(1), 0, 12, 0, RW & !perm::DIRTY);
        assert!(e.permits(Access::Read, false, false));
        assert!(!e.permits(Access::Write, false, false));
        assert!(!e.permits(Access::Exec, false, false));
        assert!(!e.permits(Access::Read, true, false), "supervisor on a user page without SUM");
        assert!(e.permits(Access::Read, true, true));
    }

    #[test]
    fn vma_by_address_spares_other_pages_and_by_pscid_spares_globals() {
        let mut t = Iotlb::new(Geometry::new(4, 4));
        t.insert(entry(host(1), 0x1000, 12, 0x1000, RW));
        t.insert(entry(host(1), 0x2000, 12, 0x2000, RW));
        t.insert(entry(host(1), 0x3000, 12, 0x3000, RW | perm::FS_G));
        t.insert(entry(host(2), 0x1000, 12, 0x1000, RW));
        assert_eq!(t.invalidate_vma(None, Some(1), Some(AddrRange { lo: 0x1000, hi: 0x1fff })), 1);
        assert!(t.lookup(host(1), 0x1000).is_none());
        assert!(t.lookup(host(2), 0x1000).is_some());
        assert_eq!(t.invalidate_vma(None, Some(1), None), 1);
        assert!(t.lookup(host(1), 0x3000).is_some(), "global survives a PSCID invalidation");
        assert_eq!(t.invalidate_vma(None, None, None), 2);
        assert!(t.is_empty());
    }

    #[test]
    fn vma_address_hits_anywhere_in_a_superpage() {
        let mut t = Iotlb::new(Geometry::new(4, 4));
        t.insert(entry(host(1), 0x20_0000, 21, 0x20_0000, RW));
        assert_eq!(t.invalidate_vma(None, None, Some(AddrRange { lo: 0x3f_f000, hi: 0x3f_ffff })), 1);
    }

    #[test]
    fn gvma_matches_the_g_stage_leaf_and_leaves_host_entries() {
        let vm = AddressSpace::new(Some(3), None);
        let mut e = entry(vm, 0x5000, 12, 0x9000, perm::GS | perm::GS_R | perm::DIRTY);
        e.gpa_base = 0x5000;
        e.gs_shift = 21; // a 4 KiB entry cut from a 2 MiB G-stage leaf
        e.fs_shift = 64;
        let mut t = Iotlb::new(Geometry::new(4, 4));
        t.insert(e);
        t.insert(entry(host(1), 0x5000, 12, 0x5000, RW));
        assert_eq!(t.invalidate_gvma(Some(4), None), 0);
        assert_eq!(t.invalidate_gvma(Some(3), Some(AddrRange { lo: 0x40_0000, hi: 0x40_0fff })), 0);
        assert_eq!(t.invalidate_gvma(Some(3), Some(AddrRange { lo: 0x1f_f000, hi: 0x1f_ffff })), 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.invalidate_gvma(None, None), 0, "host entries have no G-stage");
    }

    #[test]
    fn reinserting_the_same_page_replaces_it() {
        let mut t = Iotlb::new(Geometry::new(1, 4));
        t.insert(entry(host(1), 0x1000, 12, 0x1000, RW));
        t.insert(entry(host(1), 0x1000, 12, 0x7000, RW));
        assert_eq!(t.len(), 1);
        assert_eq!(t.lookup(host(1), 0x1000).unwrap().spa_base, 0x7000);
    }
}
