//! The page-table walk of one stage, as a resumable step machine.
//!
//! [`StageWalk`] runs the "Virtual Address Translation Process" of
//! `priv/supervisor.adoc` (steps 1-10) for a first-stage or a G-stage scheme. It
//! never touches memory itself: it asks for one PTE at a time ([`WalkStep::Read`]),
//! or for an atomic A/D update ([`WalkStep::Update`]), and is resumed with the
//! answer. A step is one byte (the details are read from the walk:
//! [`StageWalk::pte_addr`], [`StageWalk::update`], [`StageWalk::leaf`]), so the
//! loop that drives a walk keeps it in a register. The caller decides what an address means: for the first stage of a
//! two-stage translation the PTE addresses are guest-physical and go through a
//! G-stage walk first. The golden model resumes it in a loop; the timing model
//! resumes it when the memory response arrives; the RTL's walker FSM has the same
//! states.

use crate::pte::{bits, Pte, Scheme};
use crate::request::Access;

/// Which stage a walk belongs to, with what the U-bit check needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    /// First stage: `privileged` requests and the process context's `SUM`.
    First {
        /// The request asks for supervisor privilege.
        privileged: bool,
        /// `PC.ta.SUM`.
        sum: bool,
    },
    /// G-stage: every access is checked as a user-mode access
    /// (`priv/hypervisor.adoc`, "Guest Physical Address Translation").
    G,
}

/// The feature switches of the `capabilities` register that change PTE checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PteFeatures {
    /// Svpbmt: bits 62:61 are the memory type instead of reserved.
    pub svpbmt: bool,
    /// Svrsw60t59b: bits 60:59 are for software instead of reserved.
    pub svrsw60t59b: bool,
}

/// Everything a walk needs to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkParams {
    /// The scheme (levels, PTE size, widening).
    pub scheme: Scheme,
    /// Page number of the root table (a GPA page for the first stage of a
    /// two-stage translation).
    pub root_ppn: u64,
    /// The address to translate.
    pub va: u64,
    /// First stage or G-stage.
    pub kind: StageKind,
    /// The permission to check: the original access, or for a G-stage walk of an
    /// implicit access, `Read` (a table read) or `Write` (an A/D update).
    pub perm: Access,
    /// Hardware A/D updating enabled (`SADE` or `GADE`).
    pub ade: bool,
    /// Optional PTE features.
    pub features: PteFeatures,
}

impl Default for WalkParams {
    /// An Sv39 user read walk from page 0; a placeholder before a real walk starts.
    fn default() -> Self {
        WalkParams {
            scheme: Scheme::SV39,
            root_ppn: 0,
            va: 0,
            kind: StageKind::G,
            perm: Access::Read,
            ade: false,
            features: PteFeatures::default(),
        }
    }
}

/// What a walk asks for next, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkStep {
    /// Read the PTE at [`StageWalk::pte_addr`], then resume with
    /// [`StageWalk::pte`].
    Read,
    /// Atomically replace the PTE at [`StageWalk::pte_addr`] as
    /// [`StageWalk::update`] says, then resume with [`StageWalk::updated`].
    Update,
    /// The walk reached a leaf and every check passed: see [`StageWalk::leaf`].
    Done,
    /// A page fault (or guest-page fault, for a G-stage walk) for the original
    /// access type.
    PageFault,
}

/// A successful walk: the leaf and the translation it gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Leaf {
    /// The leaf PTE as used (with A/D as written back, if updated).
    pub pte: Pte,
    /// Its level (0 for a 4 KiB page).
    pub level: u32,
    /// log2 of the region the translation covers: the page size, or 16 for a
    /// 64 KiB NAPOT PTE.
    pub page_shift: u32,
    /// The output address of `va` (GPA for a first stage under a G-stage).
    pub pa: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    AwaitPte,
    AwaitUpdate,
    Finished,
}

/// The U-bit rule of a walk (step 6), decided once per walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum URule {
    /// U must be 1: user requests, and every G-stage access.
    Set,
    /// U must be 0: supervisor requests without `SUM`, and supervisor execute.
    Clear,
    /// Either: supervisor reads and writes with `SUM`.
    Any,
}

/// The step machine of one stage's walk. See the module documentation.
///
/// Fields the walk loop reads right after writing them are full words, so the
/// processor can forward the store to the load.
#[derive(Clone, Copy, Debug)]
pub struct StageWalk {
    p: WalkParams,
    level: u64,
    table: u64,
    pte_addr: u64,
    old: Pte,
    pending: Pte,
    leaf: Leaf,
    state: State,
    /// Bits that must be clear in a non-leaf PTE (step 3 and "For non-leaf PTEs,
    /// the D, A, and U bits are reserved").
    nonleaf_bad: u64,
    /// Reserved bits of a leaf PTE.
    leaf_bad: u64,
    /// The permission bit the access needs (R, W or X).
    need: u64,
    /// A, plus D for a write (step 9).
    ad_need: u64,
    /// `vpn_bits` and the widened root's extra bits, as shifts and masks.
    vpn_bits: u64,
    u_rule: URule,
}

impl StageWalk {
    /// A walk ready to start.
    pub fn new(p: WalkParams) -> Self {
        let mut w = StageWalk {
            p,
            level: 0,
            table: 0,
            pte_addr: 0,
            old: Pte(0),
            pending: Pte(0),
            leaf: Leaf::default(),
            state: State::Start,
            nonleaf_bad: 0,
            leaf_bad: 0,
            need: 0,
            ad_need: 0,
            vpn_bits: 9,
            u_rule: URule::Set,
        };
        w.reset(p);
        w
    }

    /// Makes this walk a new one with parameters `p`, in place.
    #[inline]
    pub fn reset(&mut self, p: WalkParams) {
        let f = p.features;
        let (nonleaf_bad, leaf_bad) = if p.scheme.pte_bytes == 8 {
            let mut common = bits::RESERVED_58_54;
            if !f.svrsw60t59b {
                common |= bits::RSW_60_59;
            }
            let pbmt = 3 << bits::PBMT_SHIFT;
            (common | pbmt | bits::N | bits::D | bits::A | bits::U, common | if f.svpbmt { 0 } else { pbmt })
        } else {
            (bits::D | bits::A | bits::U, 0)
        };
        let (need, ad_need) = match p.perm {
            Access::Read => (bits::R, bits::A),
            Access::Write => (bits::W, bits::A | bits::D),
            Access::Exec => (bits::X, bits::A),
        };
        self.u_rule = match p.kind {
            StageKind::G | StageKind::First { privileged: false, .. } => URule::Set,
            // Supervisor requests: U=1 pages only with SUM, and never for execute
            // (`iommu_data_structures.adoc`, process-context `ENS`/`SUM`).
            StageKind::First { privileged: true, sum } if sum && p.perm != Access::Exec => URule::Any,
            StageKind::First { privileged: true, .. } => URule::Clear,
        };
        self.p = p;
        self.level = u64::from(p.scheme.levels) - 1;
        self.table = p.root_ppn;
        self.state = State::Start;
        self.nonleaf_bad = nonleaf_bad;
        self.leaf_bad = leaf_bad;
        self.need = need;
        self.ad_need = ad_need;
        self.vpn_bits = u64::from(p.scheme.vpn_bits);
    }

    /// The walk's parameters.
    pub fn params(&self) -> &WalkParams {
        &self.p
    }

    /// The level of the PTE last asked for (root is `levels - 1`).
    pub fn level(&self) -> u8 {
        self.level as u8
    }

    /// The address (in the walk's input space) of the PTE to read or update.
    #[inline]
    pub fn pte_addr(&self) -> u64 {
        self.pte_addr
    }

    /// The PTE as read and the PTE to write, for [`WalkStep::Update`].
    pub fn update(&self) -> (Pte, Pte) {
        (self.old, self.pending)
    }

    /// The leaf, after [`WalkStep::Done`].
    #[inline]
    pub fn leaf(&self) -> Leaf {
        self.leaf
    }

    /// Starts the walk: checks the input address, then asks for the root PTE.
    pub fn start(&mut self) -> WalkStep {
        debug_assert_eq!(self.state, State::Start);
        if !self.p.scheme.va_in_range(self.p.va) {
            // Sv39/48/57: bits above the VA must equal its top bit; x4: must be 0.
            self.state = State::Finished;
            return WalkStep::PageFault;
        }
        self.ask()
    }

    #[inline]
    fn ask(&mut self) -> WalkStep {
        let s = self.p.scheme;
        let root = self.level + 1 == u64::from(s.levels);
        let bits = self.vpn_bits + if root { u64::from(s.widen) } else { 0 };
        let vpn = (self.p.va >> (12 + self.level * self.vpn_bits)) & ((1 << bits) - 1);
        self.pte_addr = (self.table << 12) + vpn * u64::from(s.pte_bytes);
        self.state = State::AwaitPte;
        WalkStep::Read
    }

    /// Resumes with the PTE read at [`StageWalk::pte_addr`].
    #[inline(always)]
    pub fn pte(&mut self, pte: Pte) -> WalkStep {
        debug_assert_eq!(self.state, State::AwaitPte);
        let s = self.p.scheme;
        let v = pte.0;
        // Step 3: V=0, or reserved bits. Step 4: R=W=X=0 is a pointer.
        if v & bits::V == 0 {
            return self.fault();
        }
        if v & (bits::R | bits::W | bits::X) == 0 {
            if v & self.nonleaf_bad != 0 || self.level == 0 {
                return self.fault();
            }
            self.level -= 1;
            self.table = pte.ppn(s);
            return self.ask();
        }
        self.examine_leaf(pte)
    }

    /// Steps 3 and 5-9 for a leaf.
    #[inline]
    fn examine_leaf(&mut self, pte: Pte) -> WalkStep {
        let s = self.p.scheme;
        let v = pte.0;
        // W without R (xwr 010 and 110) is reserved, as are PBMT=3 and any
        // reserved bit.
        if v & (bits::R | bits::W) == bits::W || v & self.leaf_bad != 0 || (s.pte_bytes == 8 && pte.pbmt() == 3) {
            return self.fault();
        }
        // Step 5: a superpage must be aligned.
        let ppn = pte.ppn(s);
        let low_bits = self.level * self.vpn_bits;
        if ppn & ((1 << low_bits) - 1) != 0 {
            return self.fault();
        }
        // Svnapot: only the 64 KiB encoding (level 0, ppn[3:0] = 1000) is defined.
        if pte.n() && (self.level != 0 || ppn & 0xf != 0b1000) {
            return self.fault();
        }
        // Step 6: the U bit.
        let u_ok = match self.u_rule {
            URule::Set => pte.u(),
            URule::Clear => !pte.u(),
            URule::Any => true,
        };
        // Step 8: R/W/X.
        if !u_ok || v & self.need == 0 {
            return self.fault();
        }
        // Step 9: A and D.
        if v & self.ad_need != self.ad_need {
            if !self.p.ade {
                return self.fault();
            }
            self.old = pte;
            self.pending = Pte(v | self.ad_need);
            self.state = State::AwaitUpdate;
            return WalkStep::Update;
        }
        self.finish(pte)
    }

    /// Resumes after an [`WalkStep::Update`]: `swapped` says whether memory still
    /// held the old PTE. If it did not, the PTE is read again (step 9: "If the
    /// comparison fails, return to step 2").
    pub fn updated(&mut self, swapped: bool) -> WalkStep {
        debug_assert_eq!(self.state, State::AwaitUpdate);
        if swapped {
            let pte = self.pending;
            self.finish(pte)
        } else {
            self.ask()
        }
    }

    fn fault(&mut self) -> WalkStep {
        self.state = State::Finished;
        WalkStep::PageFault
    }

    /// Step 10: the translated address.
    #[inline]
    fn finish(&mut self, pte: Pte) -> WalkStep {
        let s = self.p.scheme;
        self.state = State::Finished;
        let va_page = self.p.va >> 12;
        let ppn = pte.ppn(s);
        let level = self.level as u32;
        let (page_shift, keep_low) =
            if pte.n() { (16, 4) } else { (s.page_shift(level as u8), level * u32::from(s.vpn_bits)) };
        let low_mask = (1u64 << keep_low) - 1;
        let out_ppn = (ppn & !low_mask) | (va_page & low_mask);
        self.leaf = Leaf { pte, level, page_shift, pa: (out_ppn << 12) | (self.p.va & 0xfff) };
        WalkStep::Done
    }
}

/// The PTE held at `addr` in the 64-bit word `word` read from `addr & !7`, for a
/// scheme with `pte_bytes`-byte entries and the given endianness (`fctl.BE` or
/// `DC.tc.SBE`). Byte-invariant addressing: a 4-byte PTE is the half of the word
/// its address selects.
#[inline]
pub fn pte_from_word(word: u64, addr: u64, pte_bytes: u8, big_endian: bool) -> Pte {
    if pte_bytes == 8 {
        Pte(if big_endian { word.swap_bytes() } else { word })
    } else {
        let half = (word >> ((addr & 4) * 8)) as u32;
        Pte(u64::from(if big_endian { half.swap_bytes() } else { half }))
    }
}

/// The inverse of [`pte_from_word`]: `word` with the PTE at `addr` replaced.
#[inline]
pub fn pte_into_word(word: u64, addr: u64, pte_bytes: u8, big_endian: bool, pte: Pte) -> u64 {
    if pte_bytes == 8 {
        if big_endian {
            pte.0.swap_bytes()
        } else {
            pte.0
        }
    } else {
        let half = pte.0 as u32;
        let half = if big_endian { half.swap_bytes() } else { half };
        let shift = (addr & 4) * 8;
        (word & !(0xffff_ffffu64 << shift)) | (u64::from(half) << shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: u64 = bits::V;
    const R: u64 = bits::R;
    const W: u64 = bits::W;
    const X: u64 = bits::X;
    const U: u64 = bits::U;
    const A: u64 = bits::A;
    const D: u64 = bits::D;

    fn nonleaf(ppn: u64) -> Pte {
        Pte(ppn << 10 | V)
    }
    fn leaf(ppn: u64, flags: u64) -> Pte {
        Pte(ppn << 10 | V | flags)
    }

    fn params(scheme: Scheme, va: u64, perm: Access) -> WalkParams {
        WalkParams {
            scheme,
            root_ppn: 0x100,
            va,
            kind: StageKind::First { privileged: false, sum: false },
            perm,
            ade: false,
            features: PteFeatures::default(),
        }
    }

    /// How a walk ended: its leaf, or a page fault.
    #[derive(Debug, PartialEq)]
    enum End {
        Done(Leaf),
        PageFault,
    }

    /// Runs a walk against a list of PTEs, one per level read, in order.
    fn run(p: WalkParams, ptes: &[Pte]) -> (End, Vec<u64>) {
        let mut w = StageWalk::new(p);
        let mut step = w.start();
        let mut addrs = vec![];
        let mut it = ptes.iter();
        loop {
            match step {
                WalkStep::Read => {
                    addrs.push(w.pte_addr());
                    step = w.pte(*it.next().expect("walk read more PTEs than given"));
                }
                WalkStep::Update => step = w.updated(true),
                WalkStep::Done => return (End::Done(w.leaf()), addrs),
                WalkStep::PageFault => return (End::PageFault, addrs),
            }
        }
    }

    #[test]
    fn sv39_4k_walk_reads_three_levels_at_vpn_offsets() {
        let va = (3 << 30) | (5 << 21) | (7 << 12) | 0x123;
        let (end, addrs) =
            run(params(Scheme::SV39, va, Access::Read), &[nonleaf(0x200), nonleaf(0x300), leaf(0x4567, R | U | A)]);
        assert_eq!(addrs, vec![0x100_000 + 3 * 8, 0x200_000 + 5 * 8, 0x300_000 + 7 * 8]);
        match end {
            End::Done(l) => {
                assert_eq!(l.pa, 0x4567_123);
                assert_eq!(l.level, 0);
                assert_eq!(l.page_shift, 12);
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn gigapage_takes_low_ppn_bits_from_the_va() {
        let va = (1 << 30) | 0x2345_678;
        let (end, _) = run(params(Scheme::SV39, va, Access::Read), &[leaf(0x40000, R | U | A)]);
        assert_eq!(end, End::Done(Leaf { pte: leaf(0x40000, R | U | A), level: 2, page_shift: 30, pa: 0x4234_5678 }));
    }

    #[test]
    fn misaligned_superpage_faults() {
        let (end, _) = run(params(Scheme::SV39, 0, Access::Read), &[nonleaf(0x200), leaf(0x401, R | U | A)]);
        assert_eq!(end, End::PageFault);
    }

    #[test]
    fn napot_64k_replaces_four_low_ppn_bits() {
        let va = 0xb_6123;
        let pte = Pte(leaf(0x5558, R | U | A).0 | bits::N);
        let (end, _) = run(params(Scheme::SV39, va, Access::Read), &[nonleaf(1), nonleaf(2), pte]);
        match end {
            End::Done(l) => {
                assert_eq!(l.pa, 0x555_6123);
                assert_eq!(l.page_shift, 16);
            }
            e => panic!("{e:?}"),
        }
        // Any other NAPOT size is reserved.
        let bad = Pte(leaf(0x5554, R | U | A).0 | bits::N);
        assert_eq!(run(params(Scheme::SV39, va, Access::Read), &[nonleaf(1), nonleaf(2), bad]).0, End::PageFault);
        // N on a megapage leaf is reserved.
        let mega = Pte(leaf(0x200, R | U | A).0 | bits::N);
        assert_eq!(run(params(Scheme::SV39, 0, Access::Read), &[nonleaf(1), mega]).0, End::PageFault);
    }

    #[test]
    fn non_leaf_with_a_d_u_or_n_or_pbmt_faults() {
        for flag in [A, D, U, bits::N, 1 << 61] {
            let p = PteFeatures { svpbmt: true, svrsw60t59b: false };
            let (end, _) = run(
                WalkParams { features: p, ..params(Scheme::SV39, 0, Access::Read) },
                &[Pte(nonleaf(0x200).0 | flag)],
            );
            assert_eq!(end, End::PageFault, "flag {flag:#x}");
        }
    }

    #[test]
    fn reserved_high_bits_depend_on_capabilities() {
        let with = |pte: u64, svpbmt, svrsw| {
            let p = WalkParams {
                features: PteFeatures { svpbmt, svrsw60t59b: svrsw },
                ..params(Scheme::SV39, 0, Access::Read)
            };
            run(p, &[nonleaf(1), nonleaf(2), Pte(leaf(0x9, R | U | A).0 | pte)]).0
        };
        assert_eq!(with(1 << 54, true, true), End::PageFault);
        assert_eq!(with(1 << 59, true, false), End::PageFault);
        assert!(matches!(with(1 << 59, false, true), End::Done(_)));
        assert_eq!(with(1 << 61, false, false), End::PageFault);
        assert!(matches!(with(1 << 61, true, false), End::Done(_)));
        assert_eq!(with(3 << 61, true, false), End::PageFault);
    }

    #[test]
    fn write_only_and_write_execute_encodings_fault() {
        for flags in [W, W | X] {
            let (end, _) = run(params(Scheme::SV39, 0, Access::Read), &[leaf(0, flags | U | A | D)]);
            assert_eq!(end, End::PageFault);
        }
    }

    #[test]
    fn user_and_supervisor_access_rules() {
        let sup = |sum, access, u| {
            let p = WalkParams { kind: StageKind::First { privileged: true, sum }, ..params(Scheme::SV39, 0, access) };
            let (end, _) = run(p, &[nonleaf(1), nonleaf(2), leaf(9, R | W | X | A | D | u)]);
            matches!(end, End::Done(_))
        };
        assert!(sup(false, Access::Read, 0));
        assert!(!sup(false, Access::Read, U));
        assert!(sup(true, Access::Read, U));
        assert!(sup(true, Access::Write, U));
        assert!(!sup(true, Access::Exec, U), "never execute user pages from supervisor");
        let user = |u| {
            matches!(
                run(params(Scheme::SV39, 0, Access::Read), &[nonleaf(1), nonleaf(2), leaf(9, R | A | u)]).0,
                End::Done(_)
            )
        };
        assert!(user(U));
        assert!(!user(0));
        let g = |u| {
            let p = WalkParams { kind: StageKind::G, ..params(Scheme::SV39X4, 0, Access::Read) };
            matches!(run(p, &[nonleaf(1), nonleaf(2), leaf(9, R | A | u)]).0, End::Done(_))
        };
        assert!(g(U));
        assert!(!g(0), "G-stage leaves need U=1");
    }

    #[test]
    fn missing_a_or_d_faults_without_ade_and_updates_with_it() {
        let p = params(Scheme::SV39, 0, Access::Write);
        assert_eq!(run(p, &[nonleaf(1), nonleaf(2), leaf(9, R | W | U | A)]).0, End::PageFault);
        let mut w = StageWalk::new(WalkParams { ade: true, ..p });
        assert_eq!(w.start(), WalkStep::Read);
        assert_eq!(w.pte(nonleaf(1)), WalkStep::Read);
        assert_eq!(w.pte(nonleaf(2)), WalkStep::Read);
        let old = leaf(9, R | W | U);
        assert_eq!(w.pte(old), WalkStep::Update);
        let (o, new) = w.update();
        assert_eq!(o, old);
        assert_eq!(new.0, old.0 | A | D);
        // A failed swap re-reads the same PTE.
        assert_eq!(w.updated(false), WalkStep::Read);
        assert_eq!(w.level(), 0);
        assert_eq!(w.pte_addr(), 0x2000);
        let already = leaf(9, R | W | U | A | D);
        assert_eq!(w.pte(already), WalkStep::Done);
    }

    #[test]
    fn out_of_range_input_faults_before_any_read() {
        let (end, addrs) = run(params(Scheme::SV39, 1 << 39, Access::Read), &[]);
        assert_eq!(end, End::PageFault);
        assert!(addrs.is_empty());
        let g = WalkParams { kind: StageKind::G, ..params(Scheme::SV39X4, 1 << 41, Access::Read) };
        assert_eq!(run(g, &[]).0, End::PageFault);
    }

    #[test]
    fn a_leaf_below_level_zero_is_impossible_and_a_pointer_at_level_zero_faults() {
        let (end, _) = run(params(Scheme::SV39, 0, Access::Read), &[nonleaf(1), nonleaf(2), nonleaf(3)]);
        assert_eq!(end, End::PageFault);
    }

    #[test]
    fn sv32_uses_four_byte_entries_and_ten_bit_vpns() {
        let va = (0x3 << 22) | (0x5 << 12) | 0x44;
        let (end, addrs) = run(params(Scheme::SV32, va, Access::Read), &[nonleaf(0x200), leaf(0x3_ffff, R | U | A)]);
        assert_eq!(addrs, vec![0x100_000 + 3 * 4, 0x200_000 + 5 * 4]);
        assert!(matches!(end, End::Done(l) if l.pa == 0x3_ffff_044));
    }

    #[test]
    fn word_and_pte_conversions_round_trip() {
        let w = 0x1122_3344_5566_7788;
        assert_eq!(pte_from_word(w, 0x1000, 8, false), Pte(w));
        assert_eq!(pte_from_word(w, 0x1000, 8, true), Pte(w.swap_bytes()));
        assert_eq!(pte_from_word(w, 0x1004, 4, false), Pte(0x1122_3344));
        assert_eq!(pte_from_word(w, 0x1000, 4, true), Pte(0x8877_6655));
        for (addr, bytes, be) in [(0x1000, 8, false), (0x1000, 8, true), (0x1004, 4, false), (0x1000, 4, true)] {
            let p = pte_from_word(w, addr, bytes, be);
            assert_eq!(pte_into_word(w, addr, bytes, be, p), w);
        }
    }
}
