//! Random stimulus for the lockstep co-simulation: from a seed, registers, an
//! initial memory holding real in-memory tables, and an [`Op`] stream.
//!
//! [`generate`] lays out, with the model's table builder ([`iommu_model::tables`]),
//! a device directory of one to three levels and several devices of random shape:
//! a first stage in the device context, a G-stage only, both stages, or a process
//! directory (in host memory or, under a G-stage, in guest memory) with process
//! contexts, each with its own first stage. Page tables hold 4 KiB, 64 KiB NAPOT
//! and superpage leaves with random permissions, Svpbmt and software bits; some
//! leaves wait for a hardware A/D update. A share of every kind of structure is
//! built broken (invalid or reserved entries, misaligned superpages, pointers at
//! level 0 or beyond `PAS`, directly or through a G-stage leaf, misconfigured
//! device and process contexts, MSI PTEs of every bad kind and an MSI page table
//! beyond `PAS`, words that fault on access, leaves whose A/D update faults
//! because their word is read-only or, in guest memory, because the G-stage
//! maps their table page read-only), so that each fault cause the model
//! implements is met; the answers come from the model, not from here.
//!
//! The requests mostly hit mapped addresses (repeats for IOTLB hits, streams over
//! pages for misses and evictions), some miss. After some requests, with no drain
//! before, software changes a table (a leaf or non-leaf PTE of either stage, a
//! device or process context, an MSI PTE, a DDT or PDT non-leaf entry) and issues
//! the invalidations the specification requires for it, sometimes broader ones;
//! some changes are undone later by a second change. A leaf PTE is only rewritten
//! when no hardware A/D update can still hit it: its stage has A/D updating off,
//! or the old and new values both have A and D set. Devices that share a G-stage
//! (one VM, one GSCID) share its GADE and MSI configuration, and every first
//! stage has its own PSCID, so that caching never changes an answer. For the same
//! reason 64 KiB NAPOT leaves always have A and D set (a 64 KiB IOTLB entry would
//! spare the other 15 PTEs the update a walk makes), and a broken NAPOT region is
//! broken alike in all 16 PTEs.
//!
//! Never enabled: Sv32 and Sv32x4, big-endian tables (`fctl.BE`, `DC.tc.SBE`
//! other than in misconfigured contexts) and MRIF-mode MSI (`capabilities` never
//! sets `MSI_MRIF`; MRIF-mode PTEs appear only as misconfigured ones).

use std::collections::HashSet;
use std::fmt::Write as _;

use iommu_model::command::encode;
use iommu_model::context::{ddi, dir_nonleaf_ppn, pdi, DeviceContext, PdtMode, ProcessContext};
use iommu_model::pte::{bits, Pte, Scheme};
use iommu_model::tables::{self, pc_ta, tc, DeviceDirectory, PageSize, PageTable, Pages, ProcessDirectory, Space};
use iommu_model::{
    Access, AccessFault, Capabilities, Ddtp, DeviceId, Fctl, IommuMode, Iova, Memory, ProcessId, Regs, Request, Spa,
    SparseMemory,
};

use crate::op::Op;

/// Capability bits (`iommu_registers.adoc`, "IOMMU capabilities").
mod cap {
    pub const VERSION_1_0: u64 = 0x10;
    pub const SV39: u64 = 1 << 9;
    pub const SV48: u64 = 1 << 10;
    pub const SV57: u64 = 1 << 11;
    pub const SVRSW60T59B: u64 = 1 << 14;
    pub const SVPBMT: u64 = 1 << 15;
    pub const SV39X4: u64 = 1 << 17;
    pub const SV48X4: u64 = 1 << 18;
    pub const SV57X4: u64 = 1 << 19;
    pub const MSI_FLAT: u64 = 1 << 22;
    pub const AMO_HWAD: u64 = 1 << 24;
    pub const ATS: u64 = 1 << 25;
    pub const T2GPA: u64 = 1 << 26;
    pub const PAS_SHIFT: u32 = 32;
    pub const PD8: u64 = 1 << 38;
    pub const PD17: u64 = 1 << 39;
    pub const PD20: u64 = 1 << 40;
    pub const NL: u64 = 1 << 42;
    pub const S: u64 = 1 << 43;
}

/// Host memory the tables (and the guests' table RAM) are allocated from.
const TABLES: (u64, u64) = (0x8000_0000, 0xc000_0000);
/// Guest-physical address of each VM's table RAM (mapped by 2 MiB G-stage leaves).
const GUEST_RAM: u64 = 0x20_0000;
/// Size of each VM's table RAM.
const GUEST_RAM_LEN: u64 = 16 << 20;
/// Guest data regions start here (above the table RAM's G-stage root entry for
/// Sv39x4).
const GUEST_DATA: u64 = 1 << 30;
/// A guest page no G-stage maps.
const GUEST_HOLE: u64 = 0x1000;
/// Guest pages, right above the table RAM, that 4 KiB G-stage leaves map
/// read-only: first-stage table pages moved there to make their A/D updates
/// fault in the G-stage.
const GUEST_RO: u64 = GUEST_RAM + GUEST_RAM_LEN;
/// Size of the read-only table window.
const GUEST_RO_LEN: u64 = 2 << 20;
/// The PPN field of a PTE or a directory entry (bits 53:10).
const PPN44: u64 = (1 << 44) - 1;

/// The knobs of [`generate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RandomOptions {
    /// Translation requests to generate.
    pub count: usize,
    /// Fewest and most devices with a device context (besides the victims of
    /// broken DDT entries and the device IDs that have no context).
    pub devices: (usize, usize),
    /// Mapped regions per address space of a device context (a first stage in
    /// the context, or a VM's G-stage), plus the broken ones.
    pub regions: usize,
    /// Mapped regions per process's first stage.
    pub process_regions: usize,
    /// Most process contexts per process directory.
    pub processes: usize,
    /// Percent of structures built broken: device and process contexts, leaves,
    /// MSI PTEs.
    pub broken_percent: u32,
    /// Percent chance, after each translation, of a table change.
    pub change_percent: u32,
    /// Percent chance, after each translation, of a command on its own.
    pub command_percent: u32,
    /// Percent chance, after each translation, of a drain.
    pub drain_percent: u32,
    /// Percent of requests that repeat a recent one (IOTLB hits).
    pub repeat_percent: u32,
    /// Percent of requests at addresses no region maps.
    pub wild_percent: u32,
    /// `iommu_mode`; `None` lets the seed choose: 1LVL, 2LVL or 3LVL, except
    /// Off when `seed % 25 == 3` and Bare when `seed % 25 == 11`.
    pub mode: Option<IommuMode>,
    /// Capability bits never to set (Sv32, Sv32x4, END, MSI_MRIF are never set
    /// anyway).
    pub forbid_caps: u64,
}

impl Default for RandomOptions {
    fn default() -> Self {
        RandomOptions {
            count: 1000,
            devices: (6, 12),
            regions: 16,
            process_regions: 8,
            processes: 6,
            broken_percent: 12,
            change_percent: 4,
            command_percent: 2,
            drain_percent: 1,
            repeat_percent: 30,
            wild_percent: 10,
            mode: None,
            forbid_caps: 0,
        }
    }
}

/// A generated workload: what [`crate::op`] streams run on.
#[derive(Clone)]
pub struct RandomWorkload {
    /// The seed it came from.
    pub seed: u64,
    /// `capabilities`, `fctl` (always 0) and `ddtp`.
    pub regs: Regs,
    /// The initial memory: every table, the words that fault on access (marked
    /// with [`SparseMemory::mark_bad`], also listed in `bad_words`) and the words
    /// that fault only on writes and swaps (marked with
    /// [`SparseMemory::mark_read_only`], listed in `read_only_words`).
    pub memory: SparseMemory,
    /// The stimulus, ending with [`Op::Drain`].
    pub ops: Vec<Op>,
    /// The addresses of the words marked bad in `memory`.
    pub bad_words: Vec<u64>,
    /// The addresses of the words marked read-only in `memory`: leaves whose
    /// hardware A/D update faults. Not in `bad_words` (their reads succeed), so a
    /// `riscv-iommu-vector/1` reproducer, whose `bad_memory` fails every access,
    /// cannot express them: it replays them as ordinary words.
    pub read_only_words: Vec<u64>,
    /// One line per device, VM and broken structure, for reports.
    pub notes: Vec<String>,
}

impl std::fmt::Debug for RandomWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl RandomWorkload {
    /// A summary for reports: mode, capabilities, devices and their shapes, and
    /// what the op stream holds.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let caps = self.regs.capabilities;
        let _ = writeln!(
            s,
            "seed {}: iommu_mode {}, ddtp {:#x}, capabilities {:#x} ({})",
            self.seed,
            mode_name(self.regs.ddtp.mode()),
            self.regs.ddtp.0,
            caps.0,
            caps_names(caps)
        );
        for n in &self.notes {
            let _ = writeln!(s, "  {n}");
        }
        let (mut t, mut c, mut w, mut k, mut d) = (0, 0, 0, 0, 0);
        for op in &self.ops {
            match op {
                Op::Translate(_) => t += 1,
                Op::Change { writes, commands } => {
                    c += 1;
                    w += writes.len();
                    k += commands.len();
                }
                Op::Command(_) => k += 1,
                Op::Drain => d += 1,
            }
        }
        let _ = writeln!(
            s,
            "  ops: {t} translations, {c} changes ({w} words), {k} commands, {d} drains; {} bad words, {} read-only words",
            self.bad_words.len(),
            self.read_only_words.len()
        );
        s
    }
}

fn mode_name(m: IommuMode) -> String {
    match m {
        IommuMode::Off => "Off".into(),
        IommuMode::Bare => "Bare".into(),
        IommuMode::Lvl1 => "1LVL".into(),
        IommuMode::Lvl2 => "2LVL".into(),
        IommuMode::Lvl3 => "3LVL".into(),
        IommuMode::Reserved(r) => format!("reserved {r}"),
    }
}

fn caps_names(c: Capabilities) -> String {
    let mut v: Vec<String> = Vec::new();
    for (on, name) in [
        (c.sv39(), "Sv39"),
        (c.sv48(), "Sv48"),
        (c.sv57(), "Sv57"),
        (c.sv39x4(), "Sv39x4"),
        (c.sv48x4(), "Sv48x4"),
        (c.sv57x4(), "Sv57x4"),
        (c.pd8(), "PD8"),
        (c.pd17(), "PD17"),
        (c.pd20(), "PD20"),
        (c.amo_hwad(), "AMO_HWAD"),
        (c.svpbmt(), "Svpbmt"),
        (c.svrsw60t59b(), "Svrsw60t59b"),
        (c.msi_flat(), "MSI_FLAT"),
        (c.ats(), "ATS"),
        (c.t2gpa(), "T2GPA"),
        (c.nl(), "NL"),
        (c.s(), "S"),
    ] {
        if on {
            v.push(name.into());
        }
    }
    v.push(format!("PAS={}", c.pas()));
    v.join(" ")
}

fn scheme_name(s: Scheme) -> &'static str {
    match (s.levels, s.widen) {
        (3, 0) => "Sv39",
        (4, 0) => "Sv48",
        (5, 0) => "Sv57",
        (3, _) => "Sv39x4",
        (4, _) => "Sv48x4",
        (5, _) => "Sv57x4",
        _ => "Sv32",
    }
}

/// Generates the workload of `seed`; the same seed and options always give the
/// same workload.
pub fn generate(seed: u64, opts: &RandomOptions) -> RandomWorkload {
    let mut g = Gen::new(seed, opts);
    g.build();
    let memory = g.mem.clone();
    let ops = g.ops();
    g.note_changes();
    RandomWorkload {
        seed,
        regs: g.regs,
        memory,
        ops,
        bad_words: g.bad.clone(),
        read_only_words: g.read_only.clone(),
        notes: g.notes.clone(),
    }
}

// ---- randomness -------------------------------------------------------------------

/// splitmix64: small, fast, and the workload never changes with a dependency.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `[0, n)`; 0 when `n` is 0.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// In `[lo, hi]`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn percent(&mut self, p: u32) -> bool {
        self.below(100) < u64::from(p)
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn pick<T: Copy>(&mut self, s: &[T]) -> T {
        s[self.index(s.len())]
    }

    /// An index drawn with the given weights (not all zero).
    fn weighted(&mut self, w: &[u32]) -> usize {
        let total: u64 = w.iter().map(|&x| u64::from(x)).sum();
        let mut r = self.below(total);
        for (i, &x) in w.iter().enumerate() {
            if r < u64::from(x) {
                return i;
            }
            r -= u64::from(x);
        }
        w.len() - 1
    }
}

// ---- memory that remembers what a change wrote ---------------------------------------

/// The working memory during a change: every write is logged with the value it
/// replaced, so the change becomes `(address, value)` pairs and can be undone.
/// Words locked by a pending undo refuse writes, as bad words do.
struct Tracked {
    mem: SparseMemory,
    locked: HashSet<u64>,
    log: Vec<(u64, u64)>,
    seen: HashSet<u64>,
}

impl Memory for Tracked {
    fn read(&mut self, addr: Spa) -> Result<u64, AccessFault> {
        self.mem.read(addr)
    }

    fn write(&mut self, addr: Spa, value: u64) -> Result<(), AccessFault> {
        let w = addr.0 & !7;
        if self.locked.contains(&w) {
            return Err(AccessFault { addr });
        }
        let old = self.mem.read(Spa(w))?;
        self.mem.write(Spa(w), value)?;
        if self.seen.insert(w) {
            self.log.push((w, old));
        }
        Ok(())
    }

    fn compare_and_swap(&mut self, addr: Spa, expected: u64, new: u64) -> Result<u64, AccessFault> {
        let old = self.read(addr)?;
        if old == expected {
            self.write(addr, new)?;
        }
        Ok(old)
    }
}

// ---- the generator's model of what it built --------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    First,
    G,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A well-formed leaf that changes may rewrite.
    Leaf,
    /// A well-formed leaf waiting for a hardware A/D update: never rewritten.
    Pending,
    /// A leaf (or its walk) built broken.
    Broken,
    /// An MSI interrupt-file page (G-stage spaces only).
    Msi,
}

/// A region requests are aimed at: a leaf's pages.
#[derive(Clone, Copy, Debug)]
struct Region {
    /// Base address (IOVA, or GPA in a G-stage space).
    va: u64,
    /// log2 of the size (16 for NAPOT).
    shift: u32,
    /// The leaf's R/W/X/U bits as built.
    flags: u64,
    kind: Kind,
}

/// An address space with a page table.
#[derive(Clone, Debug)]
struct Aspace {
    stage: Stage,
    table: PageTable,
    /// First stage: the VM whose guest memory holds the table. G-stage: the VM.
    vm: Option<usize>,
    /// First stage: its PSCID.
    pscid: Option<u32>,
    /// A/D updating for this table (SADE or GADE of every user).
    ade: bool,
    /// Percent of leaves with U set.
    user_pct: u32,
    regions: Vec<Region>,
}

#[derive(Clone, Debug)]
struct Msi {
    /// SPA of the flat MSI page table.
    pt: u64,
    mask: u64,
    pattern: u64,
    /// (interrupt-file number, GPA of its page).
    files: Vec<(u64, u64)>,
}

#[derive(Clone, Debug)]
struct Vm {
    gscid: u16,
    g: PageTable,
    /// Allocator of the guest's table RAM (GPAs).
    guest: Pages,
    /// Its G-stage space (data regions and MSI pages).
    space: usize,
    gade: bool,
    msi: Option<Msi>,
    /// Pages of the read-only table window used so far.
    ro_pages: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Bare,
    Single,
    GOnly,
    TwoStage,
    PdtHost,
    PdtGuest,
}

#[derive(Clone, Debug)]
struct Proc {
    pid: u32,
    pc: ProcessContext,
    /// SPA of the process context.
    pc_spa: u64,
    /// Its first stages (the one in use is `cur`; `None` is Bare).
    spaces: Vec<usize>,
    cur: Option<usize>,
    broken: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct Device {
    did: u32,
    shape: Shape,
    vm: Option<usize>,
    /// The device context in memory (when not broken: the healthy one).
    dc: DeviceContext,
    dc_spa: u64,
    /// First stages of a context without PDTV; `cur` is the one in use.
    spaces: Vec<usize>,
    cur: usize,
    pdt: Option<ProcessDirectory>,
    procs: Vec<Proc>,
    broken: Option<&'static str>,
    /// A word of the context faults: never rewritten.
    frozen: bool,
    sade: bool,
}

/// Who a request comes from and which spaces its addresses are drawn from.
#[derive(Clone, Debug)]
struct Ctx {
    did: u32,
    pid: Option<u32>,
    spaces: Vec<usize>,
    weight: u32,
}

/// `(address, value)` pairs of 64-bit words.
type Words = Vec<(u64, u64)>;

/// A change to undo later.
struct Undo {
    due: usize,
    writes: Vec<(u64, u64)>,
    commands: Vec<[u64; 2]>,
}

struct Gen<'o> {
    o: &'o RandomOptions,
    rng: Rng,
    caps: Capabilities,
    regs: Regs,
    levels: u8,
    mem: SparseMemory,
    host: Pages,
    ddt: DeviceDirectory,
    vms: Vec<Vm>,
    spaces: Vec<Aspace>,
    devices: Vec<Device>,
    ctxs: Vec<Ctx>,
    dids: HashSet<u32>,
    pscids: HashSet<u32>,
    gscids: HashSet<u16>,
    bad: Vec<u64>,
    /// Words marked read-only (writes and swaps fault), kept out of `bad`.
    read_only: Vec<u64>,
    locked: HashSet<u64>,
    undos: Vec<Undo>,
    notes: Vec<String>,
    /// Broken MSI PTEs built so far (their kinds go round).
    msi_broken: u64,
    // Request state.
    issued: usize,
    recent: Vec<Request>,
    /// The kind of each change made.
    change_kinds: Vec<&'static str>,
    last_ctx: usize,
    last_iova: Vec<u64>,
}

fn choose_caps(rng: &mut Rng, forbid: u64) -> u64 {
    let mut c = cap::VERSION_1_0;
    let fs = [cap::SV39, cap::SV48, cap::SV57];
    while c & (cap::SV39 | cap::SV48 | cap::SV57) & !forbid == 0 {
        for b in fs {
            if rng.percent(60) {
                c |= b;
            }
        }
        if fs.iter().all(|&b| b & forbid != 0) {
            break;
        }
    }
    if rng.percent(90) {
        let g = [cap::SV39X4, cap::SV48X4, cap::SV57X4];
        for _ in 0..8 {
            for b in g {
                if rng.percent(50) {
                    c |= b;
                }
            }
            if c & (cap::SV39X4 | cap::SV48X4 | cap::SV57X4) & !forbid != 0 {
                break;
            }
        }
    }
    let pd = [cap::PD8, cap::PD17, cap::PD20];
    for _ in 0..8 {
        for b in pd {
            if rng.percent(55) {
                c |= b;
            }
        }
        if c & (cap::PD8 | cap::PD17 | cap::PD20) & !forbid != 0 {
            break;
        }
    }
    for (p, b) in [
        (60, cap::SVPBMT),
        (50, cap::SVRSW60T59B),
        (50, cap::MSI_FLAT),
        (65, cap::AMO_HWAD),
        (30, cap::ATS),
        (40, cap::NL),
        (40, cap::S),
    ] {
        if rng.percent(p) {
            c |= b;
        }
    }
    if c & cap::ATS != 0 && rng.percent(50) {
        c |= cap::T2GPA;
    }
    let pas = rng.pick(&[56u64, 56, 56, 56, 52, 48, 46, 44, 40, 38, 36]);
    c |= pas << cap::PAS_SHIFT;
    c & !(forbid & !(0x3f << cap::PAS_SHIFT))
}

fn did_width(levels: u8, extended: bool) -> u32 {
    (if extended { 6 } else { 7 } + 9 * (u32::from(levels) - 1)).min(24)
}

/// The items whose capability bit is set, in order.
fn enabled<T>(items: [(bool, T); 3]) -> Vec<T> {
    items.into_iter().filter_map(|(on, x)| on.then_some(x)).collect()
}

/// The bits of `x` deposited where `mask` has ones (the inverse of the MSI
/// `extract`).
fn deposit(x: u64, mask: u64) -> u64 {
    let mut out = 0;
    let mut m = mask;
    let mut i = 0;
    while m != 0 {
        let low = m.trailing_zeros();
        out |= ((x >> i) & 1) << low;
        i += 1;
        m &= m - 1;
    }
    out
}

/// The `ADDR` of an `S`-encoded (NAPOT) range covering `[base, base + 2^shift)`;
/// `shift` at least 13.
fn napot_addr(base: u64, shift: u32) -> u64 {
    base | (((1u64 << (shift - 1)) - 1) & !0xfff)
}

/// A leaf PTE `old` pointing at `target` instead, for a region of `1 << shift`.
fn retarget(old: u64, target: u64, shift: u32) -> u64 {
    let ppn = if shift == 16 { ((target >> 12) & !0xf) | 0b1000 } else { target >> 12 };
    (old & !(PPN44 << 10)) | ((ppn & PPN44) << 10)
}

fn page_size(shift: u32) -> PageSize {
    if shift == 16 {
        PageSize::Napot64K
    } else {
        PageSize::Level(((shift - 12) / 9) as u8)
    }
}

const RWX: u64 = bits::R | bits::W | bits::X;
const AD: u64 = bits::A | bits::D;

impl<'o> Gen<'o> {
    fn new(seed: u64, o: &'o RandomOptions) -> Self {
        let mut rng = Rng(seed ^ 0x10_3370_c051_0000);
        let caps = Capabilities(choose_caps(&mut rng, o.forbid_caps));
        let msi_broken = rng.below(10);
        let mode = o.mode.unwrap_or_else(|| match seed % 25 {
            3 => IommuMode::Off,
            11 => IommuMode::Bare,
            _ => [IommuMode::Lvl1, IommuMode::Lvl2, IommuMode::Lvl3][rng.weighted(&[25, 35, 40])],
        });
        let levels = match mode.levels() {
            Some(l) => l as u8,
            None => 1 + rng.below(3) as u8,
        };
        let mut mem = SparseMemory::new();
        let mut host = Pages::new(TABLES.0, TABLES.1);
        let ddt = DeviceDirectory::new(&mut mem, &mut host, levels, caps.msi_flat()).expect("room for the DDT root");
        let ddtp = match mode {
            IommuMode::Off => ddt.ddtp() & !0xf,
            IommuMode::Bare => (ddt.ddtp() & !0xf) | 1,
            _ => ddt.ddtp(),
        };
        Gen {
            o,
            rng,
            caps,
            regs: Regs { capabilities: caps, fctl: Fctl(0), ddtp: Ddtp(ddtp) },
            levels,
            mem,
            host,
            ddt,
            vms: Vec::new(),
            spaces: Vec::new(),
            devices: Vec::new(),
            ctxs: Vec::new(),
            dids: HashSet::new(),
            pscids: HashSet::new(),
            gscids: HashSet::new(),
            bad: Vec::new(),
            read_only: Vec::new(),
            locked: HashSet::new(),
            undos: Vec::new(),
            notes: Vec::new(),
            msi_broken,
            issued: 0,
            recent: Vec::new(),
            change_kinds: Vec::new(),
            last_ctx: 0,
            last_iova: Vec::new(),
        }
    }

    // ---- small helpers ------------------------------------------------------------

    fn pas(&self) -> u32 {
        match self.caps.pas() {
            0 => 56,
            p => p.min(56),
        }
    }

    fn fs_schemes(&self) -> Vec<Scheme> {
        let c = self.caps;
        enabled([(c.sv39(), Scheme::SV39), (c.sv48(), Scheme::SV48), (c.sv57(), Scheme::SV57)])
    }

    fn g_schemes(&self) -> Vec<Scheme> {
        let c = self.caps;
        enabled([(c.sv39x4(), Scheme::SV39X4), (c.sv48x4(), Scheme::SV48X4), (c.sv57x4(), Scheme::SV57X4)])
    }

    fn pd_modes(&self) -> Vec<PdtMode> {
        let c = self.caps;
        enabled([(c.pd8(), PdtMode::Pd8), (c.pd17(), PdtMode::Pd17), (c.pd20(), PdtMode::Pd20)])
    }

    fn mark_bad(&mut self, addr: u64) {
        let a = addr & !7;
        if !self.mem.is_bad(Spa(a)) {
            self.mem.mark_bad(Spa(a));
            self.bad.push(a);
        }
    }

    /// Marks the word at `addr` read-only: reads succeed, writes and swaps
    /// (a hardware A/D update) fault.
    fn mark_read_only(&mut self, addr: u64) {
        let a = addr & !7;
        if !self.mem.is_read_only(Spa(a)) {
            self.mem.mark_read_only(Spa(a));
            self.read_only.push(a);
        }
    }

    /// Marks every word of `pages` pages from `addr` bad.
    fn mark_bad_pages(&mut self, addr: u64, pages: u64) {
        for off in (0..pages * 4096).step_by(8) {
            self.mark_bad(addr + off);
        }
    }

    fn new_pscid(&mut self) -> u32 {
        loop {
            let p = if self.rng.percent(40) { self.rng.below(64) } else { self.rng.below(1 << 20) } as u32;
            if self.pscids.insert(p) {
                return p;
            }
        }
    }

    fn new_gscid(&mut self) -> u16 {
        loop {
            let g = if self.rng.percent(40) { self.rng.below(64) } else { self.rng.below(1 << 16) } as u16;
            if self.gscids.insert(g) {
                return g;
            }
        }
    }

    /// A random SPA aligned to `1 << shift`: mostly below `PAS`, sometimes above.
    fn rand_spa(&mut self, shift: u32) -> u64 {
        let pas = self.pas();
        let (lo, hi) = if pas < 56 && self.rng.percent(4) { (pas, 56) } else { (32.min(pas - 1), pas.min(48)) };
        let step = 1u64 << shift;
        let lo_a = ((1u64 << lo) + step - 1) & !(step - 1);
        let hi_v = 1u64 << hi;
        if lo_a >= hi_v {
            return self.rng.below(1 << (56 - shift)) << shift;
        }
        lo_a + (self.rng.below((hi_v - lo_a) >> shift) << shift)
    }

    /// A GPA in VM `v` for a first-stage leaf of `1 << shift`: mostly inside a
    /// G-stage data region, sometimes an MSI page or an unmapped address.
    fn pick_gpa(&mut self, v: usize, shift: u32) -> u64 {
        let vm_space = self.vms[v].space;
        let bits = self.vms[v].g.scheme.va_bits();
        let step = 1u64 << shift;
        if shift == 12 && self.rng.percent(20) {
            if let Some(m) = &self.vms[v].msi {
                let files = m.files.clone();
                return self.rng.pick(&files).1;
            }
        }
        // A PTE's PPN holds 44 bits: first stages reach GPAs below 2^56 only.
        let regions: Vec<Region> =
            self.spaces[vm_space].regions.iter().copied().filter(|r| r.kind != Kind::Msi && r.va >> 56 == 0).collect();
        let big: Vec<Region> = regions.iter().copied().filter(|r| r.shift >= shift && r.kind != Kind::Broken).collect();
        if !big.is_empty() && self.rng.percent(85) {
            let r = self.rng.pick(&big);
            return r.va + (self.rng.below(1 << (r.shift - shift)) << shift);
        }
        if !regions.is_empty() && self.rng.percent(80) {
            let r = self.rng.pick(&regions);
            if r.shift >= shift {
                return r.va + (self.rng.below(1 << (r.shift - shift)) << shift);
            }
            return r.va & !(step - 1);
        }
        let lo = GUEST_DATA;
        (lo + self.rng.below((1u64 << bits.min(56)) - lo)) & !(step - 1)
    }

    /// Leaf flags for a new region: R/W/X/U/G, A/D, PBMT, software bits.
    fn leaf_flags(&mut self, stage: Stage, user_pct: u32, ade: bool) -> (u64, Kind) {
        // G-stage leaves are more permissive: a request needs both stages.
        let (pr, pw, px) = if stage == Stage::G { (97, 80, 50) } else { (92, 55, 25) };
        let r = self.rng.percent(pr);
        let w = r && self.rng.percent(pw);
        let x = !r || self.rng.percent(px);
        let mut f = 0;
        if r {
            f |= bits::R;
        }
        if w {
            f |= bits::W;
        }
        if x {
            f |= bits::X;
        }
        let u = match stage {
            Stage::G => self.rng.percent(96),
            Stage::First => self.rng.percent(user_pct),
        };
        if u {
            f |= bits::U;
        }
        if stage == Stage::First && self.rng.percent(8) {
            f |= bits::G;
        }
        if self.caps.svpbmt() && self.rng.percent(25) {
            f |= self.rng.range(1, 2) << bits::PBMT_SHIFT;
        }
        if self.caps.svrsw60t59b() && self.rng.percent(20) {
            f |= self.rng.range(1, 3) << 59;
        }
        if self.rng.percent(30) {
            f |= self.rng.below(4) << 8;
        }
        let mut kind = Kind::Leaf;
        if ade && self.rng.percent(25) {
            kind = Kind::Pending;
            if self.rng.percent(50) {
                f |= bits::A;
            }
        } else {
            if ade || self.rng.percent(97) {
                f |= bits::A;
            }
            let d = if w { ade || self.rng.percent(94) } else { self.rng.percent(40) };
            if d {
                f |= bits::D;
            }
        }
        (f, kind)
    }

    fn pick_shift(&mut self, scheme: Scheme) -> u32 {
        let l = scheme.levels;
        let w = [50, 10, 20, 12, if l >= 4 { 3 } else { 0 }, if l >= 5 { 1 } else { 0 }];
        [12, 16, 21, 30, 39, 48][self.rng.weighted(&w)]
    }

    /// Whether `[va, va + 2^shift)` is free in `pt` (no leaf, no subtable).
    fn slot_free(&mut self, pt: PageTable, va: u64, shift: u32) -> bool {
        if !matches!(pt.find_leaf(&mut self.mem, va), Ok(None)) {
            return false;
        }
        let (level, slots) = if shift == 16 { (0, 16) } else { (((shift - 12) / 9) as u8, 1) };
        for i in 0..slots {
            match pt.pte_addr(&mut self.mem, va + i * 4096, level) {
                Ok(None) => {}
                Ok(Some(a)) => {
                    if pt.pte_at(&mut self.mem, a) != Ok(Pte(0)) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Whether a G-stage span stays clear of the guest table RAM (and of the
    /// read-only table window above it).
    fn clear_of_table_ram(base: u64, shift: u32) -> bool {
        let end = base.saturating_add(1u64 << shift);
        end <= GUEST_RAM || base >= GUEST_RO + GUEST_RO_LEN
    }

    /// A free, aligned address for a region of `1 << shift` in space `si`: near
    /// a well-formed region (`near`), or anywhere.
    fn pick_va(&mut self, si: usize, shift: u32, near: bool) -> Option<u64> {
        let pt = self.spaces[si].table;
        let stage = self.spaces[si].stage;
        let bits = pt.scheme.va_bits();
        let step = 1u64 << shift;
        for _ in 0..10 {
            let n = self.spaces[si].regions.len();
            let va = if near && n > 0 && self.rng.percent(55) {
                let r = self.spaces[si].regions[self.rng.index(n)];
                let base = r.va & !(step - 1);
                let k = self.rng.range(1, 3) * step;
                if self.rng.percent(80) {
                    base.wrapping_add(k)
                } else {
                    base.wrapping_sub(k)
                }
            } else {
                match stage {
                    Stage::G => {
                        let top = if self.rng.percent(85) { bits.min(44) } else { bits };
                        (GUEST_DATA + self.rng.below((1u64 << top) - GUEST_DATA)) & !(step - 1)
                    }
                    Stage::First => {
                        let x = self.rng.below(1u64 << (bits - 1)) & !(step - 1);
                        if self.rng.percent(25) {
                            x | (u64::MAX << (bits - 1))
                        } else {
                            x
                        }
                    }
                }
            };
            if !pt.scheme.va_in_range(va) || !pt.scheme.va_in_range(va.wrapping_add(step - 1)) {
                continue;
            }
            if stage == Stage::G && !Self::clear_of_table_ram(va, shift) {
                continue;
            }
            if self.slot_free(pt, va, shift) {
                return Some(va);
            }
        }
        None
    }

    /// Maps one new region in space `si`, healthy or broken.
    fn add_region(&mut self, si: usize, broken: bool) {
        let pt = self.spaces[si].table;
        let stage = self.spaces[si].stage;
        let vm = self.spaces[si].vm;
        let ade = self.spaces[si].ade;
        let user_pct = self.spaces[si].user_pct;
        let shift = self.pick_shift(pt.scheme);
        // Broken regions stand apart, so that a broken non-leaf entry above them
        // breaks nothing else.
        let Some(va) = self.pick_va(si, shift, !broken) else { return };
        let target = match (stage, vm) {
            (Stage::First, Some(v)) => self.pick_gpa(v, shift),
            _ => self.rand_spa(shift),
        };
        let (mut flags, mut kind) = self.leaf_flags(stage, user_pct, ade);
        if shift == 16 {
            // A 64 KiB IOTLB entry spares the other 15 PTEs the A/D update a walk
            // would make, so memory would depend on the caches: NAPOT leaves
            // always have A and D.
            flags |= AD;
            if kind == Kind::Pending {
                kind = Kind::Leaf;
            }
        }
        let pages = match (stage, vm) {
            (Stage::First, Some(v)) => &mut self.vms[v].guest,
            _ => &mut self.host,
        };
        if pt.map(&mut self.mem, pages, va, target, page_size(shift), flags).is_err() {
            return;
        }
        if broken && self.corrupt_leaf(si, va).is_some() {
            kind = Kind::Broken;
        }
        self.spaces[si].regions.push(Region { va, shift, flags: flags & (RWX | bits::U), kind });
    }

    /// Breaks the leaf mapping `va` in space `si` (or the walk to it); returns
    /// what was done.
    fn corrupt_leaf(&mut self, si: usize, va: u64) -> Option<&'static str> {
        let pt = self.spaces[si].table;
        let stage = self.spaces[si].stage;
        let s = pt.scheme;
        let (addr, level) = pt.find_leaf(&mut self.mem, va).ok()??;
        let old = pt.pte_at(&mut self.mem, addr).ok()?.0;
        let napot = old & bits::N != 0;
        let parent = if level + 1 < s.levels { pt.pte_addr(&mut self.mem, va, level + 1).ok()? } else { None };
        let parent = parent.filter(|_| {
            stage == Stage::First
                || Self::clear_of_table_ram(va & !((1u64 << s.page_shift(level + 1)) - 1), s.page_shift(level + 1))
        });
        let pas = self.pas();
        let mut kinds: Vec<u8> = vec![0, 1, 2, 4, 11];
        if !self.caps.svrsw60t59b() {
            kinds.push(3);
        }
        if level > 0 && !napot {
            kinds.push(5);
        }
        kinds.push(6);
        if level == 0 && !napot {
            kinds.push(7);
        }
        if parent.is_some() {
            kinds.extend([8, 9, 12]);
            if pas < 56 {
                kinds.push(10);
            }
        }
        if stage == Stage::G {
            kinds.push(13);
        }
        // The A/D update of a leaf in a table with SADE/GADE. Not for NAPOT leaves,
        // which always have A and D.
        if self.spaces[si].ade && !napot {
            kinds.extend([14, 14]);
        }
        let mut k = self.rng.pick(&kinds);
        // Kind 15, what 14 becomes in a first stage in guest memory: the leaf's
        // table page moves to a guest page the G-stage maps read-only. Only for a
        // leaf alone in its table page (no other leaf's update faults with it)
        // under a parent entry that can be repointed. It draws no more than 14
        // from the stream, so that the rest of the seed's workload stays as it
        // was (a new kind in the list would reshuffle every later choice).
        let vm = self.spaces[si].vm.filter(|_| stage == Stage::First);
        if k == 14 && vm.is_some() && parent.is_some() && self.alone_in_page(pt, addr) {
            k = 15;
        }
        let words: Vec<u64> = if napot { (0..16).map(|i| (addr & !0x7f) + 8 * i).collect() } else { vec![addr] };
        let leaf = |new: u64, g: &mut Self| -> Option<()> {
            for &a in &words {
                pt.set_pte_at(&mut g.mem, a, Pte(new)).ok()?;
            }
            Some(())
        };
        let what = match k {
            0 => {
                leaf(old & !bits::V, self)?;
                "leaf V=0"
            }
            1 => {
                leaf((old & !bits::R) | bits::W, self)?;
                "leaf W without R"
            }
            2 => {
                let b = self.rng.range(54, 58);
                leaf(old | (1 << b), self)?;
                "leaf reserved bit 58:54"
            }
            3 => {
                let b = self.rng.range(59, 60);
                leaf(old | (1 << b), self)?;
                "leaf bit 60:59 without Svrsw60t59b"
            }
            4 => {
                let p = if self.caps.svpbmt() { 3 } else { self.rng.range(1, 3) };
                leaf((old & !(3 << bits::PBMT_SHIFT)) | (p << bits::PBMT_SHIFT), self)?;
                "leaf PBMT reserved"
            }
            5 => {
                let low = (1u64 << (u32::from(level) * 9)) - 1;
                let b = self.rng.range(1, low);
                leaf(old | ((b & low) << 10), self)?;
                "misaligned superpage"
            }
            6 => {
                if napot {
                    leaf((old & !(0xf << 10)) | (self.rng.pick(&[0u64, 1, 4, 0xc]) << 10), self)?;
                    "NAPOT PTE with a bad PPN[3:0]"
                } else {
                    leaf(old | bits::N, self)?;
                    "N set on a non-4K leaf or with a bad PPN"
                }
            }
            7 => {
                leaf(old & !(RWX | AD | bits::U), self)?;
                "pointer at level 0"
            }
            8 | 9 | 10 | 12 => {
                let pa = parent?;
                let p = pt.pte_at(&mut self.mem, pa).ok()?.0;
                let new = match k {
                    8 => p | self.rng.pick(&[bits::A, bits::D, bits::U, bits::N, 1 << bits::PBMT_SHIFT]),
                    9 => p & !bits::V,
                    10 => (p & 0x3ff) | (((1u64 << (pas - 12)) + self.rng.below(1 << 16)) << 10),
                    _ => {
                        let spa = pt.space().to_spa(&mut self.mem, pa).ok()?;
                        self.mark_bad(spa);
                        return Some("non-leaf PTE word faults");
                    }
                };
                pt.set_pte_at(&mut self.mem, pa, Pte(new)).ok()?;
                match k {
                    8 => "non-leaf PTE with A/D/U/N/PBMT set",
                    9 => "non-leaf PTE V=0",
                    _ => "non-leaf PTE beyond PAS",
                }
            }
            11 => {
                // All 16 PTEs of a NAPOT region alike: a 64 KiB IOTLB entry
                // would otherwise hide a bad one.
                for &a in &words {
                    let spa = pt.space().to_spa(&mut self.mem, a).ok()?;
                    self.mark_bad(spa);
                }
                "leaf PTE word faults"
            }
            14 | 15 => {
                // The walk reads the leaf fine, then needs an A/D update (A clear,
                // or D clear for a write).
                let new =
                    if old & bits::W != 0 && self.rng.percent(50) { (old | bits::A) & !bits::D } else { old & !AD };
                if let (15, Some(v), Some(pa)) = (k, vm, parent) {
                    // The leaf, alone in a copy of its table page at a guest page
                    // the G-stage leaf maps with R and U but not W: the walk's read
                    // succeeds, and the update's G-stage walk, an implicit write,
                    // ends in a guest-page fault (iotval2 bits 1:0 = 3).
                    if let Some(gpa) = self.read_only_guest_page(v) {
                        let spa = Space::Guest(self.vms[v].g).to_spa(&mut self.mem, gpa).ok()?;
                        self.mem.poke(Spa(spa + (addr & 0xfff)), new);
                        let p = pt.pte_at(&mut self.mem, pa).ok()?.0;
                        pt.set_pte_at(&mut self.mem, pa, Pte((p & !(PPN44 << 10)) | ((gpa >> 12) << 10))).ok()?;
                        return Some("first-stage A/D update faults in the G-stage (table page read-only)");
                    }
                }
                // The update's compare-and-swap faults: the word is read-only.
                // Marked after the write that clears the bits.
                leaf(new, self)?;
                let spa = pt.space().to_spa(&mut self.mem, addr).ok()?;
                self.mark_read_only(spa);
                "leaf A/D update faults (read-only word)"
            }
            _ => {
                leaf(old & !bits::U, self)?;
                "G-stage leaf without U"
            }
        };
        Some(what)
    }

    /// Whether the PTE at `addr` is the only non-zero entry of its table page.
    fn alone_in_page(&mut self, pt: PageTable, addr: u64) -> bool {
        let page = addr & !0xfff;
        (0..512u64).map(|i| page + 8 * i).filter(|&a| a != addr & !7).all(|a| pt.pte_at(&mut self.mem, a) == Ok(Pte(0)))
    }

    /// A new guest page of VM `v` in the read-only table window, mapped by a
    /// 4 KiB G-stage leaf with R and U (A and D set, W clear) to a fresh, zeroed
    /// host page. `None` when the window is full.
    fn read_only_guest_page(&mut self, v: usize) -> Option<u64> {
        let n = self.vms[v].ro_pages;
        if n >= GUEST_RO_LEN >> 12 {
            return None;
        }
        let gpa = GUEST_RO + (n << 12);
        let spa = self.host.alloc(1, 4096).ok()?;
        Space::Host.zero(&mut self.mem, spa, 1).ok()?;
        let f = bits::R | bits::U | AD;
        self.vms[v].g.map(&mut self.mem, &mut self.host, gpa, spa, PageSize::K4, f).ok()?;
        self.vms[v].ro_pages = n + 1;
        Some(gpa)
    }

    fn populate(&mut self, si: usize, n: usize) {
        for _ in 0..n {
            self.add_region(si, false);
        }
        let broken = (n * self.o.broken_percent as usize).div_ceil(100);
        for _ in 0..broken {
            if self.rng.percent(80) {
                self.add_region(si, true);
            }
        }
    }

    /// A new first-stage table (in VM `vm`'s guest memory, or host) with regions.
    fn new_fs_space(&mut self, vm: Option<usize>, ade: bool, user_pct: u32, n: usize) -> Option<usize> {
        let schemes = self.fs_schemes();
        if schemes.is_empty() {
            return None;
        }
        let scheme = self.rng.pick(&schemes);
        let table = match vm {
            None => PageTable::new(&mut self.mem, &mut self.host, Space::Host, scheme).ok()?,
            Some(v) => {
                let g = self.vms[v].g;
                PageTable::new(&mut self.mem, &mut self.vms[v].guest, Space::Guest(g), scheme).ok()?
            }
        };
        let pscid = self.new_pscid();
        self.spaces.push(Aspace {
            stage: Stage::First,
            table,
            vm,
            pscid: Some(pscid),
            ade,
            user_pct,
            regions: Vec::new(),
        });
        let si = self.spaces.len() - 1;
        self.populate(si, n);
        // Pages of the VM's interrupt files, for MSI translation after the first stage.
        if let Some(files) = vm.and_then(|v| self.vms[v].msi.as_ref().map(|m| m.files.clone())) {
            for (_, gpa) in files {
                if !self.rng.percent(50) {
                    continue;
                }
                let Some(va) = self.pick_va(si, 12, true) else { continue };
                let f = bits::R | bits::W | bits::U | AD;
                let pages = &mut self.vms[vm?].guest;
                if table.map(&mut self.mem, pages, va, gpa, PageSize::K4, f).is_ok() {
                    self.spaces[si].regions.push(Region { va, shift: 12, flags: f & (RWX | bits::U), kind: Kind::Msi });
                }
            }
        }
        Some(si)
    }

    // ---- VMs ---------------------------------------------------------------------

    fn get_vm(&mut self) -> Option<usize> {
        if !self.vms.is_empty() && (self.vms.len() >= 4 || self.rng.percent(55)) {
            return Some(self.rng.index(self.vms.len()));
        }
        self.create_vm()
    }

    fn create_vm(&mut self) -> Option<usize> {
        let schemes = self.g_schemes();
        if schemes.is_empty() {
            return None;
        }
        let scheme = self.rng.pick(&schemes);
        let g = PageTable::new(&mut self.mem, &mut self.host, Space::Host, scheme).ok()?;
        let gscid = self.new_gscid();
        let gade = self.caps.amo_hwad() && self.rng.percent(40);
        let backing = self.host.alloc(GUEST_RAM_LEN / 4096, 2 << 20).ok()?;
        for i in 0..GUEST_RAM_LEN >> 21 {
            let mut f = bits::R | bits::W | bits::U;
            if !gade || self.rng.percent(50) {
                f |= AD;
            }
            g.map(&mut self.mem, &mut self.host, GUEST_RAM + (i << 21), backing + (i << 21), PageSize::M2, f).ok()?;
        }
        let v = self.vms.len();
        self.spaces.push(Aspace {
            stage: Stage::G,
            table: g,
            vm: Some(v),
            pscid: None,
            ade: gade,
            user_pct: 96,
            regions: Vec::new(),
        });
        let space = self.spaces.len() - 1;
        self.vms.push(Vm {
            gscid,
            g,
            guest: Pages::new(GUEST_RAM, GUEST_RAM + GUEST_RAM_LEN),
            space,
            gade,
            msi: None,
            ro_pages: 0,
        });
        self.populate(space, self.o.regions);
        if self.caps.msi_flat() && self.rng.percent(75) {
            self.build_msi(v);
        }
        let m = &self.vms[v];
        let note = format!(
            "VM {v}: {} G-stage, GSCID {:#x}{}{}, {} regions",
            scheme_name(scheme),
            gscid,
            if gade { ", GADE" } else { "" },
            m.msi.as_ref().map_or(String::new(), |m| format!(
                ", MSI flat (mask {:#x}, pattern {:#x}, {} files{})",
                m.mask,
                m.pattern,
                m.files.len(),
                if m.pt >> self.pas() != 0 { ", page table beyond PAS" } else { "" }
            )),
            self.spaces[space].regions.len()
        );
        self.notes.push(note);
        Some(v)
    }

    fn build_msi(&mut self, v: usize) {
        let nbits = self.rng.range(1, 3);
        let mask = if self.rng.percent(75) {
            (1u64 << nbits) - 1
        } else {
            let mut m = 0;
            for _ in 0..nbits {
                m |= 1 << self.rng.below(6);
            }
            m
        };
        let gbits = self.vms[v].g.scheme.va_bits();
        let lo = GUEST_DATA >> 12;
        let pattern = (lo + self.rng.below((1u64 << (gbits - 12)) - lo)) & !0x3f;
        // A share of the tables lie beyond PAS: every MSI PTE read of the VM's
        // devices faults before it reaches memory (other requests succeed).
        let pas = self.pas();
        let beyond = pas < 56 && self.o.broken_percent > 0 && self.rng.percent(self.o.broken_percent);
        let pt = if beyond {
            (1u64 << pas) + (self.rng.below(1 << 16) << 12)
        } else {
            let Ok(pt) = self.host.alloc(1, 4096) else { return };
            pt
        };
        let mut files = Vec::new();
        let mut bad = Vec::new();
        for idx in 0..1u64 << mask.count_ones() {
            let gpa = ((pattern & !mask) | deposit(idx, mask)) << 12;
            files.push((idx, gpa));
            if beyond {
                continue;
            }
            let good = (3 << 1) | 1 | ((self.rand_spa(12) >> 12) << 10);
            // File 0 is always good; the broken ones cycle through every kind.
            let broken = idx == 1 || (idx > 1 && self.rng.percent((self.o.broken_percent * 3).min(100)));
            let (w0, w1) = if !broken || self.o.broken_percent == 0 {
                (good, 0)
            } else {
                self.msi_broken += 1;
                match [0, 7, 1, 2, 0, 7, 3, 4, 5, 6][(self.msi_broken % 10) as usize] {
                    0 => (good & !1, 0),
                    1 => (good | (1 << 63), 0),
                    2 => ((good & !6) | (1 << 1), 0),
                    3 => (good & !6, 0),
                    4 => ((good & !6) | (2 << 1), 0),
                    5 => (good | (self.rng.range(1, 0x7f) << 3), 0),
                    6 => (good, self.rng.range(1, u64::MAX)),
                    _ => {
                        bad.push(pt + idx * 16 + 8 * self.rng.below(2));
                        (good, 0)
                    }
                }
            };
            self.mem.poke(Spa(pt + idx * 16), w0);
            self.mem.poke(Spa(pt + idx * 16 + 8), w1);
        }
        for a in bad {
            self.mark_bad(a);
        }
        let space = self.vms[v].space;
        for &(_, gpa) in &files {
            self.spaces[space].regions.push(Region {
                va: gpa,
                shift: 12,
                flags: bits::R | bits::W | bits::U,
                kind: Kind::Msi,
            });
        }
        self.vms[v].msi = Some(Msi { pt, mask, pattern, files });
    }

    fn apply_vm(&self, dc: &mut DeviceContext, v: usize) {
        let vm = &self.vms[v];
        dc.iohgatp = tables::iohgatp(Some(vm.g.scheme), vm.gscid, vm.g.root_ppn());
        if vm.gade {
            dc.tc |= tc::GADE;
        }
        if let Some(m) = &vm.msi {
            dc.msiptp = tables::mode_ppn(1, m.pt >> 12);
            dc.msi_addr_mask = m.mask;
            dc.msi_addr_pattern = m.pattern;
        }
    }

    /// Points a context without PDTV at first-stage space `si`.
    fn point_dc_at(&self, dc: &mut DeviceContext, si: usize) {
        let sp = &self.spaces[si];
        dc.ta = u64::from(sp.pscid.unwrap_or(0)) << 12;
        dc.fsc = tables::mode_ppn(tables::first_stage_mode(sp.table.scheme), sp.table.root_ppn());
    }

    fn pc_for(&self, ta_flags: u64, space: Option<usize>) -> ProcessContext {
        match space {
            Some(si) => {
                let sp = &self.spaces[si];
                ProcessContext {
                    ta: ta_flags | (u64::from(sp.pscid.unwrap_or(0)) << 12),
                    fsc: tables::mode_ppn(tables::first_stage_mode(sp.table.scheme), sp.table.root_ppn()),
                }
            }
            None => ProcessContext { ta: ta_flags, fsc: 0 },
        }
    }

    // ---- devices -------------------------------------------------------------------

    fn new_did(&mut self) -> Option<u32> {
        let max = 1u64 << did_width(self.levels, self.caps.msi_flat());
        for _ in 0..1000 {
            let did = match self.devices.last() {
                Some(d) if self.rng.percent(35) => u64::from(d.did) + 4 * self.rng.range(1, 3),
                _ => {
                    let d = self.rng.below(max);
                    if self.rng.percent(60) {
                        d & !3
                    } else {
                        d
                    }
                }
            };
            if did < max && self.dids.insert(did as u32) {
                return Some(did as u32);
            }
        }
        None
    }

    fn build(&mut self) {
        let n = self.rng.range(self.o.devices.0 as u64, self.o.devices.1.max(self.o.devices.0) as u64);
        for _ in 0..n {
            let Some(did) = self.new_did() else { break };
            self.build_device(did, None, true);
        }
        if self.levels >= 2 && self.o.broken_percent > 0 {
            for _ in 0..2 {
                if self.rng.percent(60) {
                    self.build_victim();
                }
            }
        }
        self.build_ctxs();
    }

    fn build_device(&mut self, did: u32, forced: Option<Shape>, may_break: bool) -> Option<usize> {
        let has_g = !self.g_schemes().is_empty();
        let has_fs = !self.fs_schemes().is_empty();
        let has_pd = !self.pd_modes().is_empty();
        let on = |w: u32, ok: bool| if ok { w } else { 0 };
        let shapes = [Shape::Bare, Shape::Single, Shape::GOnly, Shape::TwoStage, Shape::PdtHost, Shape::PdtGuest];
        let weights =
            [3, on(24, has_fs), on(14, has_g), on(18, has_g && has_fs), on(16, has_pd), on(14, has_g && has_pd)];
        let shape = forced.filter(|_| has_fs).unwrap_or_else(|| shapes[self.rng.weighted(&weights)]);
        let mut dc = DeviceContext { tc: tc::V, ..Default::default() };
        let sade = self.caps.amo_hwad() && !matches!(shape, Shape::Bare | Shape::GOnly) && self.rng.percent(40);
        let mut dev = Device {
            did,
            shape,
            vm: None,
            dc,
            dc_spa: 0,
            spaces: Vec::new(),
            cur: 0,
            pdt: None,
            procs: Vec::new(),
            broken: None,
            frozen: false,
            sade,
        };
        if matches!(shape, Shape::GOnly | Shape::TwoStage | Shape::PdtGuest) {
            let v = self.get_vm()?;
            dev.vm = Some(v);
            self.apply_vm(&mut dc, v);
        }
        match shape {
            Shape::Single | Shape::TwoStage => {
                let alts = if self.rng.percent(25) { 2 } else { 1 };
                for _ in 0..alts {
                    if let Some(si) = self.new_fs_space(dev.vm, sade, 92, self.o.regions) {
                        dev.spaces.push(si);
                    }
                }
                let first = *dev.spaces.first()?;
                self.point_dc_at(&mut dc, first);
            }
            Shape::PdtHost | Shape::PdtGuest => self.build_pdt(&mut dev, &mut dc)?,
            Shape::Bare | Shape::GOnly => {}
        }
        if sade {
            dc.tc |= tc::SADE;
        }
        if self.rng.percent(10) {
            dc.tc |= tc::DTF;
        }
        if self.caps.ats() && self.rng.percent(30) {
            dc.tc |= tc::EN_ATS;
            if self.rng.percent(50) {
                dc.tc |= tc::EN_PRI;
                if self.rng.percent(50) {
                    dc.tc |= tc::PRPR;
                }
            }
            if self.caps.t2gpa() && dev.vm.is_some() && self.rng.percent(30) {
                dc.tc |= tc::T2GPA;
            }
        }
        if self.rng.percent(5) {
            dc.tc |= self.rng.range(1, 255) << 24;
        }
        dev.dc = dc;
        dev.dc_spa = self.ddt.set(&mut self.mem, &mut self.host, did, &dc).ok()?;
        if may_break && self.rng.percent(self.o.broken_percent) {
            self.break_device(&mut dev);
        }
        self.notes.push(self.device_note(&dev));
        self.devices.push(dev);
        Some(self.devices.len() - 1)
    }

    fn device_note(&self, d: &Device) -> String {
        let mut s = format!("device {:#x}: ", d.did);
        let fs = |si: usize| {
            let sp = &self.spaces[si];
            format!(
                "{} PSCID {:#x} ({} regions)",
                scheme_name(sp.table.scheme),
                sp.pscid.unwrap_or(0),
                sp.regions.len()
            )
        };
        match d.shape {
            Shape::Bare => s.push_str("both stages Bare"),
            Shape::Single => s.push_str(&format!("first stage {}", fs(d.spaces[0]))),
            Shape::GOnly => s.push_str("G-stage only"),
            Shape::TwoStage => s.push_str(&format!("two-stage, first stage {}", fs(d.spaces[0]))),
            Shape::PdtHost | Shape::PdtGuest => {
                let mode = d.pdt.map_or(PdtMode::Bare, |p| p.mode);
                s.push_str(&format!(
                    "PDT {:?} in {} memory, {} processes",
                    mode,
                    if d.shape == Shape::PdtHost { "host" } else { "guest" },
                    d.procs.len()
                ));
                let broken: Vec<String> =
                    d.procs.iter().filter_map(|p| p.broken.map(|b| format!("pid {:#x}: {b}", p.pid))).collect();
                if !broken.is_empty() {
                    s.push_str(&format!(" [{}]", broken.join("; ")));
                }
            }
        }
        if d.spaces.len() > 1 {
            s.push_str(&format!(", alternative {}", fs(d.spaces[1])));
        }
        if let Some(v) = d.vm {
            s.push_str(&format!(", VM {v}"));
        }
        for (on, name) in [
            (d.dc.tc & tc::SADE != 0, "SADE"),
            (d.dc.tc & tc::GADE != 0, "GADE"),
            (d.dc.tc & tc::DTF != 0, "DTF"),
            (d.dc.tc & tc::DPE != 0, "DPE"),
            (d.dc.tc & tc::EN_ATS != 0, "EN_ATS"),
            (d.dc.msiptp >> 60 == 1, "MSI"),
        ] {
            if on {
                s.push_str(", ");
                s.push_str(name);
            }
        }
        if let Some(b) = d.broken {
            s.push_str(&format!(" -- BROKEN: {b}"));
        }
        s
    }

    fn build_pdt(&mut self, dev: &mut Device, dc: &mut DeviceContext) -> Option<()> {
        let modes = self.pd_modes();
        let mode = self.rng.pick(&modes);
        let vm = dev.vm;
        let space = vm.map_or(Space::Host, |v| Space::Guest(self.vms[v].g));
        let pdt = {
            let pages = match vm {
                Some(v) => &mut self.vms[v].guest,
                None => &mut self.host,
            };
            ProcessDirectory::new(&mut self.mem, pages, space, mode).ok()?
        };
        let dpe = self.rng.percent(50);
        let n = self.rng.range(1, self.o.processes.max(1) as u64) as usize;
        let mut pids: Vec<u32> = Vec::new();
        if dpe && self.rng.percent(75) {
            pids.push(0);
        }
        let width = mode.pid_bits();
        for _ in 0..50 {
            if pids.len() >= n {
                break;
            }
            let pid = match pids.last() {
                Some(&last) if self.rng.percent(40) => (u64::from(last) & !0xff) | self.rng.below(256),
                _ => self.rng.below(1 << width),
            } as u32;
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        for pid in pids {
            let mut spaces = Vec::new();
            if self.rng.percent(90) {
                let alts = if self.rng.percent(15) { 2 } else { 1 };
                for _ in 0..alts {
                    if let Some(si) = self.new_fs_space(vm, dev.sade, 50, self.o.process_regions) {
                        spaces.push(si);
                    }
                }
            }
            let mut ta = pc_ta::V;
            if self.rng.percent(90) {
                ta |= pc_ta::ENS;
            }
            if self.rng.percent(30) {
                ta |= pc_ta::SUM;
            }
            let cur = if spaces.is_empty() { None } else { Some(0) };
            let pc = self.pc_for(ta, cur.map(|i| spaces[i]));
            let pages = match vm {
                Some(v) => &mut self.vms[v].guest,
                None => &mut self.host,
            };
            let Ok(addr) = pdt.set(&mut self.mem, pages, pid, &pc) else { continue };
            let Ok(pc_spa) = space.to_spa(&mut self.mem, addr) else { continue };
            dev.procs.push(Proc { pid, pc, pc_spa, spaces, cur, broken: None });
        }
        dev.pdt = Some(pdt);
        for pi in 0..dev.procs.len() {
            if self.rng.percent(self.o.broken_percent) {
                self.break_proc(dev, pi);
            }
        }
        dc.tc |= tc::PDTV;
        if dpe {
            dc.tc |= tc::DPE;
        }
        dc.fsc = pdt.pdtp();
        Some(())
    }

    /// The directory entries on the way to the process context of `pid`: (SPA,
    /// level), root first, as far as the walk goes.
    fn pdt_path(&mut self, pdt: ProcessDirectory, pid: u32) -> Vec<(u64, u8)> {
        let mut out = Vec::new();
        let mut table = pdt.root;
        for level in (1..pdt.mode.levels()).rev() {
            let a = table + pdi(pid, level) * 8;
            let Ok(spa) = pdt.space.to_spa(&mut self.mem, a) else { break };
            out.push((spa, level));
            let e = self.mem.peek(Spa(spa));
            if e & 1 == 0 {
                break;
            }
            table = dir_nonleaf_ppn(e) << 12;
        }
        out
    }

    /// The DDT non-leaf entries on the way to `did` (SPAs), root first.
    fn ddt_path(&self, did: u32) -> Vec<u64> {
        let ext = self.caps.msi_flat();
        let mut out = Vec::new();
        let mut table = self.ddt.root;
        for level in (1..self.levels).rev() {
            let a = table + ddi(did, level, ext) * 8;
            out.push(a);
            let e = self.mem.peek(Spa(a));
            if e & 1 == 0 {
                break;
            }
            table = dir_nonleaf_ppn(e) << 12;
        }
        out
    }

    fn break_proc(&mut self, dev: &mut Device, pi: usize) {
        let Some(pdt) = dev.pdt else { return };
        let p = dev.procs[pi].clone();
        let mut kinds = vec![0u8, 1, 2, 3, 4];
        if pdt.mode.levels() >= 2 {
            kinds.extend([5, 5]);
            if self.pas() < 56 {
                kinds.extend([6, 6]);
            }
        }
        let mut pc = p.pc;
        let what = match self.rng.pick(&kinds) {
            0 => {
                pc.ta &= !pc_ta::V;
                "PC V=0"
            }
            1 => {
                let b = if self.rng.percent(50) { self.rng.range(3, 11) } else { self.rng.range(32, 63) };
                pc.ta |= 1 << b;
                "PC reserved ta bit"
            }
            2 => {
                pc.fsc |= 1 << self.rng.range(44, 59);
                "PC reserved fsc bit"
            }
            3 => {
                let m = self.bad_fs_mode();
                pc.fsc = (pc.fsc & !(0xf << 60)) | (m << 60);
                "PC fsc.MODE unsupported"
            }
            4 => {
                let a = p.pc_spa + 8 * self.rng.below(2);
                self.mark_bad(a);
                dev.procs[pi].broken = Some("PC word faults");
                return;
            }
            5 => {
                let path = self.pdt_path(pdt, p.pid);
                if path.is_empty() {
                    return;
                }
                let (a, level) = path[self.rng.index(path.len())];
                let e = self.mem.peek(Spa(a));
                let pas = self.pas();
                let what = match self.rng.below(4) {
                    0 => {
                        self.mem.poke(Spa(a), e & !1);
                        "PDT non-leaf V=0"
                    }
                    1 => {
                        let b = if self.rng.percent(50) { self.rng.range(1, 9) } else { self.rng.range(54, 63) };
                        self.mem.poke(Spa(a), e | (1 << b));
                        "PDT non-leaf reserved bit"
                    }
                    2 => {
                        self.mark_bad(a);
                        "PDT non-leaf word faults"
                    }
                    _ => {
                        let ppn = if dev.shape == Shape::PdtGuest {
                            GUEST_HOLE >> 12
                        } else if pas < 56 {
                            (1 << (pas - 12)) + self.rng.below(1 << 16)
                        } else {
                            self.mark_bad(a);
                            dev.procs[pi].broken = Some("PDT non-leaf word faults");
                            return;
                        };
                        self.mem.poke(Spa(a), (e & 0x3ff) | (ppn << 10));
                        if dev.shape == Shape::PdtGuest {
                            "PDT non-leaf at an unmapped GPA"
                        } else if level == 1 {
                            "process context beyond PAS"
                        } else {
                            "PDT non-leaf beyond PAS"
                        }
                    }
                };
                dev.procs[pi].broken = Some(what);
                return;
            }
            _ => {
                // A PDT entry pointing beyond PAS, directly (host PDT) or through
                // a G-stage leaf (guest PDT): the read after it, of the next
                // entry or (from a level-1 entry) of the process context, faults
                // before it reaches memory.
                let path = self.pdt_path(pdt, p.pid);
                if path.is_empty() {
                    return;
                }
                let (a, level) = path[self.rng.index(path.len())];
                let e = self.mem.peek(Spa(a));
                let guest = dev.shape == Shape::PdtGuest;
                let ppn = match dev.vm {
                    Some(v) if guest => match self.guest_page_beyond_pas(v) {
                        Some(gpa) => gpa >> 12,
                        None => return,
                    },
                    _ => (1 << (self.pas() - 12)) + self.rng.below(1 << 16),
                };
                self.mem.poke(Spa(a), (e & 0x3ff) | (ppn << 10));
                dev.procs[pi].broken = Some(match (guest, level) {
                    (false, 1) => "process context beyond PAS",
                    (false, _) => "PDT non-leaf beyond PAS",
                    (true, 1) => "process context in a guest page beyond PAS",
                    (true, _) => "PDT non-leaf in a guest page beyond PAS",
                });
                return;
            }
        };
        self.mem.poke(Spa(p.pc_spa), pc.ta);
        self.mem.poke(Spa(p.pc_spa + 8), pc.fsc);
        dev.procs[pi].pc = pc;
        dev.procs[pi].broken = Some(what);
    }

    /// An `iosatp.MODE`/`PC.fsc.MODE` that is reserved or not supported.
    fn bad_fs_mode(&mut self) -> u64 {
        let mut bad: Vec<u64> = vec![1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15];
        for (on, m) in [(self.caps.sv39(), 8), (self.caps.sv48(), 9), (self.caps.sv57(), 10)] {
            if !on {
                bad.extend([m, m, m, m]);
            }
        }
        self.rng.pick(&bad)
    }

    /// A page (or `n` pages, aligned to `n` pages) of host memory whose every
    /// word faults.
    fn bad_host_pages(&mut self, n: u64) -> Option<u64> {
        let a = self.host.alloc(n, n * 4096).ok()?;
        self.mark_bad_pages(a, n);
        Some(a)
    }

    /// A guest page of VM `v`'s table RAM whose every word faults.
    fn bad_guest_page(&mut self, v: usize) -> Option<u64> {
        let gpa = self.vms[v].guest.alloc(1, 4096).ok()?;
        let spa = Space::Guest(self.vms[v].g).to_spa(&mut self.mem, gpa).ok()?;
        self.mark_bad_pages(spa, 1);
        Some(gpa)
    }

    /// A guest page of VM `v`, in its data area, that a new 4 KiB G-stage leaf
    /// (R/W, A and D set) maps to a host page beyond `PAS`: a table there is read
    /// after a successful G-stage walk, and the read faults. `None` when `PAS` is
    /// 56 or no room is found.
    fn guest_page_beyond_pas(&mut self, v: usize) -> Option<u64> {
        let pas = self.pas();
        if pas >= 56 {
            return None;
        }
        let si = self.vms[v].space;
        let gpa = self.pick_va(si, 12, false)?;
        // A directory entry's PPN field holds 44 bits.
        if gpa >> 56 != 0 {
            return None;
        }
        let spa = (1u64 << pas) + (self.rng.below(1 << 16) << 12);
        let f = bits::R | bits::W | bits::U | AD;
        self.vms[v].g.map(&mut self.mem, &mut self.host, gpa, spa, PageSize::K4, f).ok()?;
        self.spaces[si].regions.push(Region { va: gpa, shift: 12, flags: f & (RWX | bits::U), kind: Kind::Broken });
        Some(gpa)
    }

    fn break_device(&mut self, dev: &mut Device) {
        let g = dev.vm.is_some();
        let pdtv = matches!(dev.shape, Shape::PdtHost | Shape::PdtGuest);
        let ext = self.caps.msi_flat();
        let pas = self.pas();
        let mut kinds: Vec<u8> = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 15];
        if !pdtv {
            kinds.push(9);
        }
        if g {
            kinds.extend([10, 11, 12]);
            if pas < 56 {
                kinds.push(13);
            }
        }
        if !self.caps.amo_hwad() {
            kinds.push(14);
        }
        if ext {
            kinds.extend([16, 17, 18, 19]);
            if !g {
                kinds.push(20);
            }
        }
        match dev.shape {
            Shape::Single => {
                kinds.extend([21, 21]);
                if pas < 56 {
                    kinds.push(22);
                }
            }
            Shape::TwoStage => kinds.extend([23, 24]),
            Shape::PdtHost => {
                kinds.extend([25, 25]);
                if pas < 56 {
                    kinds.push(26);
                }
            }
            Shape::PdtGuest => {
                kinds.extend([27, 28]);
                if pas < 56 {
                    kinds.push(29);
                }
            }
            _ => {}
        }
        // MSI address recognition on (the VM has a flat MSI page table): the
        // MSI PTE read faults before it reaches memory.
        if dev.dc.msiptp >> 60 == 1 && pas < 56 {
            kinds.extend([30, 30]);
        }
        let mut dc = dev.dc;
        let k = self.rng.pick(&kinds);
        let what: &'static str = match k {
            0 => {
                let b = if self.rng.percent(50) { self.rng.range(12, 23) } else { self.rng.range(32, 63) };
                dc.tc |= 1 << b;
                "reserved tc bit"
            }
            1 => {
                let b = if self.rng.percent(50) { self.rng.range(0, 11) } else { self.rng.range(32, 39) };
                dc.ta |= 1 << b;
                "reserved ta bit"
            }
            2 => {
                dc.ta |= 1 << self.rng.range(40, 63);
                "RCID/MCID without QOSID"
            }
            3 => {
                dc.fsc |= 1 << self.rng.range(44, 59);
                "reserved fsc bit"
            }
            4 => {
                let m = if pdtv {
                    let mut bad: Vec<u64> = (4..16).collect();
                    for (on, m) in [(self.caps.pd8(), 1), (self.caps.pd17(), 2), (self.caps.pd20(), 3)] {
                        if !on {
                            bad.extend([m, m, m, m]);
                        }
                    }
                    self.rng.pick(&bad)
                } else {
                    self.bad_fs_mode()
                };
                dc.fsc = (dc.fsc & !(0xf << 60)) | (m << 60);
                if pdtv {
                    "pdtp.MODE unsupported"
                } else {
                    "iosatp.MODE unsupported"
                }
            }
            5 => {
                dc.tc |= tc::SBE;
                "SBE without capabilities.END"
            }
            6 => {
                dc.tc |= tc::SXL;
                "SXL without a 32-bit scheme"
            }
            7 => {
                dc.tc &= !tc::V;
                "V=0"
            }
            8 => {
                // Written below, then one word marked bad.
                dev.frozen = true;
                "a word of the context faults"
            }
            9 => {
                dc.tc |= tc::DPE;
                "DPE without PDTV"
            }
            10 => {
                let mut bad: Vec<u64> = vec![1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15];
                for (on, m) in [(self.caps.sv39x4(), 8), (self.caps.sv48x4(), 9), (self.caps.sv57x4(), 10)] {
                    if !on {
                        bad.extend([m, m, m, m]);
                    }
                }
                let m = self.rng.pick(&bad);
                dc.iohgatp = (dc.iohgatp & !(0xf << 60)) | (m << 60);
                "iohgatp.MODE unsupported"
            }
            11 => {
                dc.iohgatp |= self.rng.range(1, 3);
                "iohgatp.PPN not 16 KiB aligned"
            }
            12 | 13 => {
                let gscid = self.new_gscid();
                let (ppn, what) = if pas < 56 && self.rng.percent(40) {
                    ((1u64 << (pas - 12)) + (self.rng.below(1 << 16) << 2), "G-stage root beyond PAS")
                } else {
                    match self.bad_host_pages(4) {
                        Some(a) => (a >> 12, "G-stage root faults"),
                        None => return,
                    }
                };
                dc.iohgatp = (dc.iohgatp & (0xf << 60)) | (u64::from(gscid) << 44) | ppn;
                what
            }
            14 => {
                dc.tc |= if self.rng.percent(50) { tc::SADE } else { tc::GADE };
                "SADE/GADE without AMO_HWAD"
            }
            15 => {
                let c = self.caps;
                let mut v: Vec<(u64, &'static str)> = Vec::new();
                if !c.ats() {
                    v.push((tc::EN_ATS, "EN_ATS without ATS"));
                    v.push((tc::EN_ATS | tc::EN_PRI | tc::PRPR, "EN_PRI/PRPR without ATS"));
                }
                v.push((tc::T2GPA, "T2GPA without EN_ATS"));
                v.push((tc::EN_PRI, "EN_PRI without EN_ATS"));
                if c.ats() {
                    v.push((tc::EN_ATS | tc::PRPR, "PRPR without EN_PRI"));
                    if !c.t2gpa() {
                        v.push((tc::EN_ATS | tc::T2GPA, "T2GPA without capabilities.T2GPA"));
                    } else if !g {
                        v.push((tc::EN_ATS | tc::T2GPA, "T2GPA with a Bare G-stage"));
                    }
                }
                let (b, what) = self.rng.pick(&v);
                dc.tc = (dc.tc & !(tc::EN_ATS | tc::EN_PRI | tc::PRPR | tc::T2GPA)) | b;
                what
            }
            16 => {
                dc.msiptp |= 1 << self.rng.range(44, 59);
                "reserved msiptp bit"
            }
            17 => {
                dc.msiptp = (dc.msiptp & PPN44) | (self.rng.range(2, 15) << 60);
                "msiptp.MODE reserved"
            }
            18 => {
                let mg = self.caps.mgpaw();
                let b = if mg >= 12 && mg - 12 < 52 && self.rng.percent(60) {
                    self.rng.range(u64::from(mg - 12), 51)
                } else {
                    self.rng.range(52, 63)
                };
                if self.rng.percent(50) {
                    dc.msi_addr_mask |= 1 << b;
                } else {
                    dc.msi_addr_pattern |= 1 << b;
                }
                "reserved MSI mask/pattern bit"
            }
            19 => {
                dc.reserved = self.rng.range(1, u64::MAX);
                "reserved doubleword set"
            }
            20 => {
                dc.msiptp = tables::mode_ppn(1, self.rand_spa(12) >> 12);
                "msiptp Flat with a Bare G-stage"
            }
            21 | 22 => {
                let pscid = self.new_pscid();
                let (ppn, what) = if self.rng.percent(50) && pas < 56 {
                    ((1u64 << (pas - 12)) + self.rng.below(1 << 16), "first-stage root beyond PAS")
                } else {
                    match self.bad_host_pages(1) {
                        Some(a) => (a >> 12, "first-stage root faults"),
                        None => return,
                    }
                };
                dc.ta = u64::from(pscid) << 12;
                dc.fsc = (dc.fsc & !PPN44) | ppn;
                what
            }
            23 | 24 => {
                let pscid = self.new_pscid();
                let v = dev.vm.expect("two-stage device has a VM");
                let (gpa, what) = if self.rng.percent(50) {
                    (GUEST_HOLE, "first-stage root at an unmapped GPA")
                } else {
                    match self.bad_guest_page(v) {
                        Some(a) => (a, "first-stage root in a faulting guest page"),
                        None => return,
                    }
                };
                dc.ta = u64::from(pscid) << 12;
                dc.fsc = (dc.fsc & !PPN44) | (gpa >> 12);
                what
            }
            25 | 26 => {
                let (ppn, what) = if (k == 26 || self.rng.percent(40)) && pas < 56 {
                    ((1u64 << (pas - 12)) + self.rng.below(1 << 16), "PDT root beyond PAS")
                } else {
                    match self.bad_host_pages(1) {
                        Some(a) => (a >> 12, "PDT root faults"),
                        None => return,
                    }
                };
                dc.fsc = (dc.fsc & !PPN44) | ppn;
                what
            }
            29 => {
                let v = dev.vm.expect("guest PDT device has a VM");
                let Some(gpa) = self.guest_page_beyond_pas(v) else { return };
                dc.fsc = (dc.fsc & !PPN44) | (gpa >> 12);
                "PDT root in a guest page beyond PAS"
            }
            30 => {
                let ppn = (1u64 << (pas - 12)) + self.rng.below(1 << 16);
                dc.msiptp = tables::mode_ppn(1, ppn);
                "msiptp beyond PAS"
            }
            _ => {
                let v = dev.vm.expect("guest PDT device has a VM");
                let (gpa, what) = if self.rng.percent(50) {
                    (GUEST_HOLE, "PDT root at an unmapped GPA")
                } else {
                    match self.bad_guest_page(v) {
                        Some(a) => (a, "PDT root in a faulting guest page"),
                        None => return,
                    }
                };
                dc.fsc = (dc.fsc & !PPN44) | (gpa >> 12);
                what
            }
        };
        if self.ddt.set(&mut self.mem, &mut self.host, dev.did, &dc).is_err() {
            return;
        }
        if dev.frozen {
            let words = if self.caps.msi_flat() { 8 } else { 4 };
            let a = dev.dc_spa + 8 * self.rng.below(words);
            self.mark_bad(a);
        }
        dev.dc = dc;
        dev.broken = Some(what);
    }

    /// A device whose DDT walk is broken above its context (2LVL and 3LVL).
    fn build_victim(&mut self) {
        let ext = self.caps.msi_flat();
        let top = self.levels - 1;
        let max = 1u64 << did_width(self.levels, ext);
        let used: HashSet<u64> = self.dids.iter().map(|&d| ddi(d, top, ext)).collect();
        let mut did = None;
        for _ in 0..200 {
            let d = self.rng.below(max) as u32;
            if !used.contains(&ddi(d, top, ext)) && !self.dids.contains(&d) {
                did = Some(d);
                break;
            }
        }
        let Some(did) = did else { return };
        self.dids.insert(did);
        let shape = if self.rng.percent(50) { Shape::Single } else { Shape::Bare };
        let Some(di) = self.build_device(did, Some(shape), false) else { return };
        let path = self.ddt_path(did);
        if path.is_empty() {
            return;
        }
        let a = path[self.rng.index(path.len())];
        let e = self.mem.peek(Spa(a));
        let pas = self.pas();
        let what = match self.rng.below(4) {
            0 => {
                self.mem.poke(Spa(a), e & !1);
                "DDT non-leaf V=0"
            }
            1 => {
                let b = if self.rng.percent(50) { self.rng.range(1, 9) } else { self.rng.range(54, 63) };
                self.mem.poke(Spa(a), e | (1 << b));
                "DDT non-leaf reserved bit"
            }
            2 if pas < 56 => {
                let ppn = (1u64 << (pas - 12)) + self.rng.below(1 << 16);
                self.mem.poke(Spa(a), (e & 0x3ff) | (ppn << 10));
                "DDT non-leaf beyond PAS"
            }
            _ => {
                self.mark_bad(a);
                "DDT non-leaf word faults"
            }
        };
        self.devices[di].broken = Some(what);
        self.devices[di].frozen = true;
        let note = self.device_note(&self.devices[di]);
        if let Some(last) = self.notes.last_mut() {
            *last = note;
        }
    }

    fn build_ctxs(&mut self) {
        let ext = self.caps.msi_flat();
        let width = did_width(self.levels, ext);
        for di in 0..self.devices.len() {
            let d = self.devices[di].clone();
            let vm_space = d.vm.map(|v| self.vms[v].space);
            // Broken devices and processes get fewer requests: one cause each.
            let w = |full: u32, broken: bool| if broken { 1 } else { full };
            let dev_broken = d.broken.is_some();
            match d.shape {
                Shape::Bare | Shape::Single | Shape::GOnly | Shape::TwoStage => {
                    let spaces = if d.shape == Shape::GOnly { vm_space.into_iter().collect() } else { d.spaces };
                    self.ctxs.push(Ctx { did: d.did, pid: None, spaces: spaces.clone(), weight: w(10, dev_broken) });
                    if self.rng.percent(25) {
                        let pid = self.rng.below(1 << 20) as u32;
                        self.ctxs.push(Ctx { did: d.did, pid: Some(pid), spaces, weight: 1 });
                    }
                }
                Shape::PdtHost | Shape::PdtGuest => {
                    for p in &d.procs {
                        let mut spaces = p.spaces.clone();
                        if spaces.is_empty() {
                            spaces.extend(vm_space);
                        }
                        self.ctxs.push(Ctx {
                            did: d.did,
                            pid: Some(p.pid),
                            spaces,
                            weight: w(6, dev_broken || p.broken.is_some()),
                        });
                    }
                    let pid0 = d.procs.iter().find(|p| p.pid == 0);
                    let dpe = d.dc.tc & tc::DPE != 0;
                    let pidless = match pid0 {
                        Some(p) if dpe => p.spaces.clone(),
                        _ if dpe => Vec::new(),
                        _ => vm_space.into_iter().collect(),
                    };
                    // DPE without a process 0: every request faults the same way.
                    let broken = dev_broken || (dpe && pid0.is_none_or(|p| p.broken.is_some()));
                    self.ctxs.push(Ctx { did: d.did, pid: None, spaces: pidless, weight: w(4, broken) });
                    let bits = d.pdt.map_or(20, |p| p.mode.pid_bits());
                    let absent = self.rng.below(1 << bits) as u32;
                    if !d.procs.iter().any(|p| p.pid == absent) {
                        let spaces = d.procs.first().map_or(Vec::new(), |p| p.spaces.clone());
                        self.ctxs.push(Ctx { did: d.did, pid: Some(absent), spaces, weight: 1 });
                    }
                    if bits < 20 {
                        let wide = (1u32 << bits) | self.rng.below(1 << bits) as u32;
                        self.ctxs.push(Ctx { did: d.did, pid: Some(wide), spaces: Vec::new(), weight: 1 });
                    }
                }
            }
        }
        // Device IDs without a context, and too wide for the mode.
        for _ in 0..2 {
            let did = self.rng.below(1 << width) as u32;
            if !self.dids.contains(&did) {
                self.ctxs.push(Ctx { did, pid: None, spaces: Vec::new(), weight: 1 });
            }
        }
        if width < 24 {
            let did = self.rng.below(1 << 24) as u32 | (1 << width);
            self.ctxs.push(Ctx { did, pid: None, spaces: Vec::new(), weight: 1 });
        }
        self.last_iova = vec![0; self.ctxs.len()];
    }

    // ---- requests -------------------------------------------------------------------

    fn next_request(&mut self) -> Request {
        if !self.recent.is_empty() && self.rng.percent(self.o.repeat_percent) {
            let mut r = self.rng.pick(&self.recent);
            if self.rng.percent(15) {
                r.access = self.rng.pick(&[Access::Read, Access::Write, Access::Exec]);
            }
            if self.rng.percent(20) {
                r.iova = Iova((r.iova.0 & !0xfff) | (self.rng.below(512) * 8));
            }
            return r;
        }
        let ci = if self.rng.percent(40) {
            self.last_ctx
        } else {
            let w: Vec<u32> = self.ctxs.iter().map(|c| c.weight).collect();
            self.rng.weighted(&w)
        };
        self.last_ctx = ci;
        let ctx = self.ctxs[ci].clone();
        let mut region: Option<Region> = None;
        let mut scheme: Option<Scheme> = None;
        if !ctx.spaces.is_empty() {
            let si = self.rng.pick(&ctx.spaces);
            scheme = Some(self.spaces[si].table.scheme);
            let regions = &self.spaces[si].regions;
            let msi: Vec<Region> = regions.iter().copied().filter(|r| r.kind == Kind::Msi).collect();
            if !msi.is_empty() && self.rng.percent(25) {
                region = Some(self.rng.pick(&msi));
            } else if !regions.is_empty() {
                // Requests without a process ID are user requests: mostly U pages.
                let user: Vec<Region> = regions.iter().copied().filter(|r| r.flags & bits::U != 0).collect();
                region = Some(if ctx.pid.is_none() && !user.is_empty() && self.rng.percent(85) {
                    self.rng.pick(&user)
                } else {
                    regions[self.rng.index(regions.len())]
                });
            }
        }
        let p = self.rng.below(100) as u32;
        let wild = self.o.wild_percent;
        let iova = match region {
            Some(r) if p >= wild + 8 => {
                let pages = 1u64 << (r.shift - 12);
                let k = if self.rng.percent(70) { self.rng.below(pages.min(16)) } else { self.rng.below(pages) };
                r.va.wrapping_add(k << 12)
            }
            _ if p >= wild && self.last_iova[ci] != 0 => self.last_iova[ci].wrapping_add(0x1000) & !0xfff,
            _ => {
                (match scheme {
                    Some(s) if self.rng.percent(85) => {
                        let bits = s.va_bits();
                        let x = self.rng.below(1u64 << bits);
                        if s.is_gstage() {
                            x
                        } else if x >> (bits - 1) != 0 {
                            x | (u64::MAX << (bits - 1))
                        } else {
                            x
                        }
                    }
                    _ => self.rng.next_u64() & if self.rng.percent(50) { (1 << 48) - 1 } else { u64::MAX },
                }) & !0xfff
            }
        };
        let (len, off) = if self.rng.percent(80) {
            (8, self.rng.below(512) * 8)
        } else {
            let len = self.rng.pick(&[1u32, 2, 4, 16, 64]);
            (len, self.rng.below(4096 / u64::from(len)) * u64::from(len))
        };
        let iova = iova | off;
        self.last_iova[ci] = iova;
        let access = match region {
            Some(r) if r.kind == Kind::Msi => {
                [Access::Write, Access::Read, Access::Exec][self.rng.weighted(&[70, 25, 5])]
            }
            Some(r) if !self.rng.percent(5) => {
                let mut ok = Vec::new();
                if r.flags & bits::R != 0 {
                    ok.extend([Access::Read, Access::Read]);
                }
                if r.flags & bits::W != 0 {
                    ok.extend([Access::Write, Access::Write]);
                }
                if r.flags & bits::X != 0 {
                    ok.push(Access::Exec);
                }
                if ok.is_empty() {
                    Access::Read
                } else {
                    self.rng.pick(&ok)
                }
            }
            _ => self.rng.pick(&[Access::Read, Access::Read, Access::Write, Access::Exec]),
        };
        let user = region.is_none_or(|r| r.flags & bits::U != 0);
        let privileged = match ctx.pid {
            Some(_) => self.rng.percent(if user { 15 } else { 95 }),
            None => self.rng.percent(5),
        };
        let req = Request {
            device_id: DeviceId(ctx.did),
            pid: ctx.pid.map(ProcessId),
            privileged,
            iova: Iova(iova),
            access,
            len,
        };
        // Repeats are mostly of requests at well-formed regions (IOTLB hits).
        let keep = region.is_some_and(|r| r.kind != Kind::Broken) || self.rng.percent(25);
        if !keep {
        } else if self.recent.len() < 16 {
            self.recent.push(req);
        } else {
            let i = self.rng.index(16);
            self.recent[i] = req;
        }
        req
    }

    // ---- changes --------------------------------------------------------------------

    fn begin(&mut self) -> Tracked {
        Tracked {
            mem: std::mem::take(&mut self.mem),
            locked: std::mem::take(&mut self.locked),
            log: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Ends a change: the words it wrote and the writes that undo it (both
    /// without the words written back to their old value).
    fn commit(&mut self, t: Tracked) -> (Words, Words) {
        let Tracked { mem, locked, log, .. } = t;
        self.mem = mem;
        self.locked = locked;
        let mut writes = Vec::new();
        let mut undo = Vec::new();
        for (a, old) in log {
            let now = self.mem.peek(Spa(a));
            if now != old {
                writes.push((a, now));
                undo.push((a, old));
            }
        }
        (writes, undo)
    }

    fn rollback(&mut self, t: Tracked) {
        let Tracked { mut mem, locked, log, .. } = t;
        for &(a, old) in log.iter().rev() {
            mem.poke(Spa(a), old);
        }
        self.mem = mem;
        self.locked = locked;
    }

    /// Schedules the undo of a change, locking its words until then.
    fn defer(&mut self, undo: Vec<(u64, u64)>, commands: Vec<[u64; 2]>) {
        for &(a, _) in &undo {
            self.locked.insert(a);
        }
        let due = self.issued + self.rng.range(5, 80) as usize;
        self.undos.push(Undo { due, writes: undo, commands });
    }

    fn due_undo(&mut self) -> Option<Op> {
        let i = self.undos.iter().position(|u| u.due <= self.issued)?;
        let u = self.undos.swap_remove(i);
        self.change_kinds.push("undo");
        for &(a, v) in &u.writes {
            self.locked.remove(&a);
            self.mem.write(Spa(a), v).expect("undo writes a good word");
        }
        Some(Op::Change { writes: u.writes, commands: u.commands })
    }

    fn vma(&self, gscid: Option<u16>, pscid: Option<u32>, addr: Option<(u64, bool)>, nl: bool) -> [u64; 2] {
        encode::iotinval_vma(gscid, pscid, addr, nl && self.caps.nl())
    }

    /// The IOTINVAL.VMA (or broader) for a change of the first-stage leaf (or,
    /// with `nonleaf`, the non-leaf entry) covering `[base, base + 2^shift)` in
    /// space `si`.
    fn fs_inval(&mut self, si: usize, base: u64, shift: u32, global: bool, nonleaf: bool) -> Vec<[u64; 2]> {
        let sp = &self.spaces[si];
        let gscid = sp.vm.map(|v| self.vms[v].gscid);
        let pscid = if global { None } else { sp.pscid };
        let c = self.caps;
        let r = self.rng.below(100);
        let cmd = if nonleaf {
            if c.s() && c.nl() && r < 40 && shift > 12 {
                self.vma(gscid, pscid, Some((napot_addr(base, shift), true)), true)
            } else if r < 80 {
                self.vma(gscid, pscid, None, false)
            } else if r < 92 || gscid.is_none() {
                self.vma(gscid, None, None, false)
            } else {
                encode::iotinval_gvma(gscid, None, false)
            }
        } else if r < 50 {
            let inside = base.wrapping_add(self.rng.below(1u64 << (shift - 12).min(8)) << 12);
            self.vma(gscid, pscid, Some((inside, false)), false)
        } else if r < 65 && c.s() && shift > 12 {
            self.vma(gscid, pscid, Some((napot_addr(base, shift), true)), false)
        } else if r < 72 && c.s() {
            // A range wider than needed: the enclosing 2 MiB or 1 GiB.
            let wide = if shift < 21 { 21 } else { 30.max(shift + 1) };
            let b = base & !((1u64 << wide) - 1);
            self.vma(gscid, pscid, Some((napot_addr(b, wide), true)), false)
        } else if r < 85 {
            self.vma(gscid, pscid, None, false)
        } else if r < 93 {
            self.vma(gscid, None, Some((base, false)), false)
        } else if gscid.is_some() {
            encode::iotinval_gvma(gscid, None, false)
        } else {
            self.vma(None, None, None, false)
        };
        vec![cmd]
    }

    /// The IOTINVAL.GVMA (or broader) for a change in VM `v`'s G-stage.
    fn g_inval(&mut self, v: usize, base: u64, shift: u32, nonleaf: bool) -> Vec<[u64; 2]> {
        let g = Some(self.vms[v].gscid);
        let c = self.caps;
        let r = self.rng.below(100);
        let cmd = if nonleaf {
            if c.s() && c.nl() && r < 40 && shift > 12 {
                encode::iotinval_gvma(g, Some((napot_addr(base, shift), true)), true)
            } else if r < 90 {
                encode::iotinval_gvma(g, None, false)
            } else {
                encode::iotinval_gvma(None, None, false)
            }
        } else if r < 55 {
            let inside = base.wrapping_add(self.rng.below(1u64 << (shift - 12).min(8)) << 12);
            encode::iotinval_gvma(g, Some((inside, false)), false)
        } else if r < 70 && c.s() && shift > 12 {
            encode::iotinval_gvma(g, Some((napot_addr(base, shift), true)), false)
        } else if r < 90 {
            encode::iotinval_gvma(g, None, false)
        } else {
            encode::iotinval_gvma(None, None, false)
        };
        vec![cmd]
    }

    /// Whether any valid leaf under the table at `table` (level `level`) has G set.
    fn subtree_global(&mut self, pt: PageTable, table: u64, level: u8) -> bool {
        for i in 0..512u64 {
            let Ok(p) = pt.pte_at(&mut self.mem, table + 8 * i) else { return true };
            if !p.valid() {
                continue;
            }
            if p.is_leaf() {
                if p.g() {
                    return true;
                }
            } else if level > 0
                && p.0 & (AD | bits::U | bits::N) == 0
                && self.subtree_global(pt, p.ppn(pt.scheme) << 12, level - 1)
            {
                return true;
            }
        }
        false
    }

    fn pick_space(&mut self, want: impl Fn(&Aspace) -> bool) -> Option<usize> {
        let c: Vec<usize> = (0..self.spaces.len()).filter(|&i| want(&self.spaces[i])).collect();
        (!c.is_empty()).then(|| self.rng.pick(&c))
    }

    /// Rewrites a well-formed leaf (first stage or G-stage).
    fn change_leaf(&mut self) -> Option<Op> {
        let si = self.pick_space(|s| s.regions.iter().any(|r| r.kind == Kind::Leaf))?;
        let cands: Vec<usize> =
            (0..self.spaces[si].regions.len()).filter(|&i| self.spaces[si].regions[i].kind == Kind::Leaf).collect();
        let ri = self.rng.pick(&cands);
        let r = self.spaces[si].regions[ri];
        let (pt, stage, ade, vm) = {
            let s = &self.spaces[si];
            (s.table, s.stage, s.ade, s.vm)
        };
        if stage == Stage::G && vm.is_none() {
            return None;
        }
        let (addr, level) = pt.find_leaf(&mut self.mem, r.va).ok()??;
        let old = pt.pte_at(&mut self.mem, addr).ok()?.0;
        let napot = old & bits::N != 0;
        let shift = if napot { 16 } else { pt.scheme.page_shift(level) };
        if shift != r.shift {
            return None;
        }
        // A hardware A/D update could still hit a leaf without A and D.
        if ade && old & AD != AD {
            return None;
        }
        let mut new = old;
        let mut undo_later = false;
        match self.rng.below(100) {
            0..=39 => {
                let target = match (stage, vm) {
                    (Stage::First, Some(v)) => self.pick_gpa(v, shift),
                    _ => self.rand_spa(shift),
                };
                new = retarget(old, target, shift);
            }
            40..=69 => {
                let b = self.rng.pick(&[bits::W, bits::X, bits::U, bits::R]);
                new ^= b;
                if new & (bits::R | bits::W) == bits::W {
                    new |= bits::R;
                }
                if new & RWX == 0 {
                    new |= bits::R;
                }
                if stage == Stage::First && self.rng.percent(15) {
                    new ^= bits::G;
                }
            }
            70..=84 => {
                new &= !bits::V;
                undo_later = self.rng.percent(70);
            }
            _ => {
                new |= 1 << self.rng.range(54, 58);
                undo_later = self.rng.percent(70);
            }
        }
        if ade {
            new |= AD;
        } else if self.rng.percent(5) {
            new &= !bits::A;
        }
        let words: Vec<u64> = if napot { (0..16).map(|i| (addr & !0x7f) + 8 * i).collect() } else { vec![addr] };
        let mut t = self.begin();
        for a in words {
            if pt.set_pte_at(&mut t, a, Pte(new)).is_err() {
                self.rollback(t);
                return None;
            }
        }
        let (writes, undo) = self.commit(t);
        if writes.is_empty() {
            return None;
        }
        if !undo_later {
            self.spaces[si].regions[ri].flags = new & (RWX | bits::U);
        }
        let base = r.va & !((1u64 << shift) - 1);
        self.change_kinds.push(match stage {
            Stage::First => "first-stage leaf",
            Stage::G => "G-stage leaf",
        });
        let commands = match stage {
            Stage::First => self.fs_inval(si, base, shift, (old | new) & bits::G != 0, false),
            Stage::G => self.g_inval(vm.unwrap_or_default(), base, shift, false),
        };
        if undo_later {
            self.defer(undo, commands.clone());
        }
        Some(Op::Change { writes, commands })
    }

    /// Rewrites a non-leaf PTE: invalid, reserved bits, or a pointer to a
    /// modified copy of the table below.
    fn change_nonleaf(&mut self) -> Option<Op> {
        let si = self.pick_space(|s| s.regions.iter().any(|r| matches!(r.kind, Kind::Leaf | Kind::Pending)))?;
        let cands: Vec<usize> = (0..self.spaces[si].regions.len())
            .filter(|&i| matches!(self.spaces[si].regions[i].kind, Kind::Leaf | Kind::Pending))
            .collect();
        let r = self.spaces[si].regions[self.rng.pick(&cands)];
        let (pt, stage, ade, vm) = {
            let s = &self.spaces[si];
            (s.table, s.stage, s.ade, s.vm)
        };
        let s = pt.scheme;
        if stage == Stage::G && vm.is_none() {
            return None;
        }
        let (_, level) = pt.find_leaf(&mut self.mem, r.va).ok()??;
        if level + 1 >= s.levels {
            return None;
        }
        let l = self.rng.range(u64::from(level) + 1, u64::from(s.levels) - 1) as u8;
        let na = pt.pte_addr(&mut self.mem, r.va, l).ok()??;
        let old = pt.pte_at(&mut self.mem, na).ok()?.0;
        if old & bits::V == 0 || old & RWX != 0 {
            return None;
        }
        let span = s.page_shift(l);
        let base = r.va & !((1u64 << span) - 1);
        if stage == Stage::G && !Self::clear_of_table_ram(base, span) {
            return None;
        }
        let child = ((old >> 10) & PPN44) << 12;
        let mut global = stage == Stage::First && self.subtree_global(pt, child, l - 1);
        let v = self.rng.below(100);
        let mut undo_later = false;
        let mut copy: Option<(u64, Vec<u64>)> = None;
        let new = if v < 35 {
            undo_later = self.rng.percent(80);
            old & !bits::V
        } else if v < 50 {
            undo_later = self.rng.percent(80);
            old | self.rng.pick(&[bits::A, bits::D, bits::U])
        } else {
            let mut entries = Vec::with_capacity(512);
            for i in 0..512 {
                entries.push(pt.pte_at(&mut self.mem, child + 8 * i).ok()?.0);
            }
            let page = match (stage, vm) {
                (Stage::First, Some(v)) => self.vms[v].guest.alloc(1, 4096).ok()?,
                _ => self.host.alloc(1, 4096).ok()?,
            };
            let leaves: Vec<usize> = (0..512)
                .filter(|&i| entries[i] & bits::V != 0 && entries[i] & RWX != 0 && entries[i] & bits::N == 0)
                .collect();
            for _ in 0..self.rng.range(0, 3) {
                if leaves.is_empty() {
                    break;
                }
                let i = self.rng.pick(&leaves);
                let e = entries[i];
                entries[i] = if self.rng.percent(60) {
                    let sh = s.page_shift(l - 1);
                    let target = match (stage, vm) {
                        (Stage::First, Some(v)) => self.pick_gpa(v, sh),
                        _ => self.rand_spa(sh),
                    };
                    retarget(e, target, sh)
                } else {
                    let mut n = e ^ self.rng.pick(&[bits::W, bits::X, bits::U]);
                    if n & (bits::R | bits::W) == bits::W {
                        n |= bits::R;
                    }
                    n
                };
            }
            if ade {
                for e in entries.iter_mut() {
                    if *e & bits::V != 0 && *e & RWX != 0 {
                        *e |= AD;
                    }
                }
            }
            global |=
                stage == Stage::First && entries.iter().any(|&e| e & bits::V != 0 && e & RWX != 0 && e & bits::G != 0);
            copy = Some((page, entries));
            (old & !(PPN44 << 10)) | ((page >> 12) << 10)
        };
        let mut t = self.begin();
        if let Some((page, entries)) = &copy {
            for (i, &e) in entries.iter().enumerate() {
                if e != 0 && pt.set_pte_at(&mut t, page + 8 * i as u64, Pte(e)).is_err() {
                    self.rollback(t);
                    return None;
                }
            }
        }
        if pt.set_pte_at(&mut t, na, Pte(new)).is_err() {
            self.rollback(t);
            return None;
        }
        let (writes, undo) = self.commit(t);
        if writes.is_empty() {
            return None;
        }
        self.change_kinds.push(match (stage, copy.is_some()) {
            (Stage::First, false) => "first-stage non-leaf",
            (Stage::First, true) => "first-stage table copy",
            (Stage::G, false) => "G-stage non-leaf",
            (Stage::G, true) => "G-stage table copy",
        });
        let commands = match stage {
            Stage::First => self.fs_inval(si, base, span, global, true),
            Stage::G => self.g_inval(vm.unwrap_or_default(), base, span, true),
        };
        if undo_later {
            self.defer(undo, commands.clone());
        }
        Some(Op::Change { writes, commands })
    }

    fn inval_ddt(&mut self, did: u32) -> [u64; 2] {
        if self.rng.percent(85) {
            encode::iodir_inval_ddt(Some(DeviceId(did)))
        } else {
            encode::iodir_inval_ddt(None)
        }
    }

    /// Rewrites a device context.
    fn change_dc(&mut self) -> Option<Op> {
        let cands: Vec<usize> =
            (0..self.devices.len()).filter(|&i| self.devices[i].broken.is_none() && !self.devices[i].frozen).collect();
        if cands.is_empty() {
            return None;
        }
        let di = self.rng.pick(&cands);
        let d = self.devices[di].clone();
        let mut dc = d.dc;
        let mut undo_later = false;
        let mut extra = Vec::new();
        let mut new_cur = None;
        match self.rng.below(100) {
            0..=24 => dc.tc ^= tc::DTF,
            25..=44 => {
                dc.tc &= !tc::V;
                undo_later = true;
            }
            45..=59 => {
                dc.tc |= 1 << self.rng.range(12, 23);
                undo_later = true;
            }
            60..=79 if d.spaces.len() > 1 => {
                let next = (d.cur + 1) % d.spaces.len();
                self.point_dc_at(&mut dc, d.spaces[next]);
                new_cur = Some(next);
                if self.rng.percent(30) {
                    let sp = &self.spaces[d.spaces[d.cur]];
                    let gscid = sp.vm.map(|v| self.vms[v].gscid);
                    extra.push(self.vma(gscid, sp.pscid, None, false));
                }
            }
            60..=79 if d.pdt.is_some() => dc.tc ^= tc::DPE,
            _ => {
                if self.caps.ats() && self.rng.percent(50) {
                    if dc.tc & tc::EN_ATS != 0 {
                        dc.tc &= !(tc::EN_ATS | tc::EN_PRI | tc::PRPR | tc::T2GPA);
                    } else {
                        dc.tc |= tc::EN_ATS;
                    }
                } else {
                    dc.tc ^= self.rng.range(1, 255) << 24;
                }
            }
        }
        let mut t = self.begin();
        if self.ddt.set(&mut t, &mut self.host, d.did, &dc).is_err() {
            self.rollback(t);
            return None;
        }
        let (writes, undo) = self.commit(t);
        if writes.is_empty() {
            return None;
        }
        let mut commands = vec![self.inval_ddt(d.did)];
        commands.extend(extra);
        if undo_later {
            self.defer(undo, commands.clone());
        } else {
            self.devices[di].dc = dc;
            if let Some(c) = new_cur {
                self.devices[di].cur = c;
            }
        }
        Some(Op::Change { writes, commands })
    }

    /// Rewrites a process context.
    fn change_pc(&mut self) -> Option<Op> {
        let mut cands = Vec::new();
        for (di, d) in self.devices.iter().enumerate() {
            if d.broken.is_some() || d.frozen {
                continue;
            }
            for (pi, p) in d.procs.iter().enumerate() {
                if p.broken.is_none() {
                    cands.push((di, pi));
                }
            }
        }
        if cands.is_empty() {
            return None;
        }
        let (di, pi) = self.rng.pick(&cands);
        let did = self.devices[di].did;
        let p = self.devices[di].procs[pi].clone();
        let mut pc = p.pc;
        let mut undo_later = false;
        let mut extra = Vec::new();
        let mut new_cur = p.cur;
        match self.rng.below(100) {
            0..=24 => pc.ta ^= pc_ta::ENS,
            25..=39 => pc.ta ^= pc_ta::SUM,
            40..=59 => {
                pc.ta &= !pc_ta::V;
                undo_later = true;
            }
            60..=74 => {
                pc.ta |= 1 << self.rng.range(3, 11);
                undo_later = true;
            }
            _ => {
                // The next first stage, or Bare.
                let n = p.spaces.len();
                new_cur = match p.cur {
                    Some(c) if c + 1 < n => Some(c + 1),
                    Some(_) => None,
                    None if n > 0 => Some(0),
                    None => None,
                };
                let flags = pc.ta & (pc_ta::V | pc_ta::ENS | pc_ta::SUM);
                pc = self.pc_for(flags, new_cur.map(|c| p.spaces[c]));
                if let Some(c) = p.cur {
                    if self.rng.percent(30) {
                        let sp = &self.spaces[p.spaces[c]];
                        let gscid = sp.vm.map(|v| self.vms[v].gscid);
                        extra.push(self.vma(gscid, sp.pscid, None, false));
                    }
                }
            }
        }
        let mut t = self.begin();
        if t.write(Spa(p.pc_spa), pc.ta).is_err() || t.write(Spa(p.pc_spa + 8), pc.fsc).is_err() {
            self.rollback(t);
            return None;
        }
        let (writes, undo) = self.commit(t);
        if writes.is_empty() {
            return None;
        }
        let mut commands = vec![match self.rng.below(100) {
            0..=79 => encode::iodir_inval_pdt(DeviceId(did), ProcessId(p.pid)),
            80..=91 => encode::iodir_inval_ddt(Some(DeviceId(did))),
            _ => encode::iodir_inval_ddt(None),
        }];
        commands.extend(extra);
        if undo_later {
            self.defer(undo, commands.clone());
        } else {
            let q = &mut self.devices[di].procs[pi];
            q.pc = pc;
            q.cur = new_cur;
        }
        Some(Op::Change { writes, commands })
    }

    /// Rewrites an MSI PTE.
    fn change_msi(&mut self) -> Option<Op> {
        // Not a table beyond PAS: software cannot write it either.
        let pas = self.pas();
        let cands: Vec<usize> =
            (0..self.vms.len()).filter(|&v| self.vms[v].msi.as_ref().is_some_and(|m| m.pt >> pas == 0)).collect();
        if cands.is_empty() {
            return None;
        }
        let v = self.rng.pick(&cands);
        let m = self.vms[v].msi.clone()?;
        let (idx, gpa) = self.rng.pick(&m.files);
        let a = m.pt + idx * 16;
        let good = (3 << 1) | 1 | ((self.rand_spa(12) >> 12) << 10);
        let mut undo_later = false;
        let (w0, w1) = match self.rng.below(100) {
            0..=59 => (good, 0),
            60..=79 => {
                undo_later = self.rng.percent(60);
                (good & !1, 0)
            }
            _ => {
                undo_later = self.rng.percent(60);
                (good | (1 << 63), 0)
            }
        };
        let mut t = self.begin();
        if t.write(Spa(a), w0).is_err() || t.write(Spa(a + 8), w1).is_err() {
            self.rollback(t);
            return None;
        }
        let (writes, undo) = self.commit(t);
        if writes.is_empty() {
            return None;
        }
        let g = Some(self.vms[v].gscid);
        let commands = vec![match self.rng.below(100) {
            0..=69 => encode::iotinval_gvma(g, Some((gpa, false)), false),
            70..=89 => encode::iotinval_gvma(g, None, false),
            _ => encode::iotinval_gvma(None, None, false),
        }];
        if undo_later {
            self.defer(undo, commands.clone());
        }
        Some(Op::Change { writes, commands })
    }

    /// Makes a DDT non-leaf entry invalid or reserved, undone later.
    fn change_ddt_nonleaf(&mut self) -> Option<Op> {
        if self.levels < 2 {
            return None;
        }
        let cands: Vec<u32> = self.devices.iter().filter(|d| !d.frozen).map(|d| d.did).collect();
        if cands.is_empty() {
            return None;
        }
        let did = self.rng.pick(&cands);
        let path = self.ddt_path(did);
        let a = self.rng.pick(&path);
        let e = self.mem.peek(Spa(a));
        if e & 1 == 0 {
            return None;
        }
        let new = if self.rng.percent(60) { e & !1 } else { e | (1 << self.rng.range(1, 9)) };
        let mut t = self.begin();
        if t.write(Spa(a), new).is_err() {
            self.rollback(t);
            return None;
        }
        let (writes, undo) = self.commit(t);
        let commands = vec![encode::iodir_inval_ddt(None)];
        self.defer(undo, commands.clone());
        Some(Op::Change { writes, commands })
    }

    /// Makes a PDT non-leaf entry invalid or reserved, undone later.
    fn change_pdt_nonleaf(&mut self) -> Option<Op> {
        let cands: Vec<(usize, usize)> = self
            .devices
            .iter()
            .enumerate()
            .filter(|(_, d)| d.broken.is_none() && d.pdt.is_some_and(|p| p.mode.levels() >= 2))
            .flat_map(|(di, d)| (0..d.procs.len()).map(move |pi| (di, pi)))
            .collect();
        if cands.is_empty() {
            return None;
        }
        let (di, pi) = self.rng.pick(&cands);
        let d = &self.devices[di];
        let (did, pdt, pid) = (d.did, d.pdt?, d.procs[pi].pid);
        let path = self.pdt_path(pdt, pid);
        if path.is_empty() {
            return None;
        }
        let (a, _) = self.rng.pick(&path);
        let e = self.mem.peek(Spa(a));
        if e & 1 == 0 {
            return None;
        }
        let new = if self.rng.percent(60) { e & !1 } else { e | (1 << self.rng.range(1, 9)) };
        let mut t = self.begin();
        if t.write(Spa(a), new).is_err() {
            self.rollback(t);
            return None;
        }
        let (writes, undo) = self.commit(t);
        let commands = vec![if self.rng.percent(80) {
            encode::iodir_inval_ddt(Some(DeviceId(did)))
        } else {
            encode::iodir_inval_ddt(None)
        }];
        self.defer(undo, commands.clone());
        Some(Op::Change { writes, commands })
    }

    fn change(&mut self) -> Option<Op> {
        const KINDS: [&str; 7] = ["", "", "DC", "PC", "MSI PTE", "DDT non-leaf", "PDT non-leaf"];
        for _ in 0..8 {
            let k = self.rng.weighted(&[32, 16, 14, 12, 8, 4, 4]);
            let op = match k {
                0 => self.change_leaf(),
                1 => self.change_nonleaf(),
                2 => self.change_dc(),
                3 => self.change_pc(),
                4 => self.change_msi(),
                5 => self.change_ddt_nonleaf(),
                _ => self.change_pdt_nonleaf(),
            };
            if let Some(Op::Change { writes, mut commands }) = op {
                // Leaf and non-leaf changes name their stage themselves.
                if k >= 2 {
                    self.change_kinds.push(KINDS[k]);
                }
                if self.rng.percent(40) {
                    commands.push(encode::iofence_c(None));
                }
                return Some(Op::Change { writes, commands });
            }
        }
        None
    }

    /// A command on its own: a fence, or an invalidation of anything; now and
    /// then with one bit flipped, so that malformed commands (reserved bits,
    /// unknown opcodes and functions) reach the command decoder, whose verdict
    /// the lockstep compares. Stray commands are never the invalidation a change
    /// needs, so a flip that still decodes cannot break the stimulus's rules.
    fn stray_command(&mut self) -> [u64; 2] {
        let mut cmd = self.stray_command_legal();
        if self.rng.percent(20) {
            let bit = self.rng.below(128);
            cmd[(bit / 64) as usize] ^= 1 << (bit % 64);
        }
        cmd
    }

    fn stray_command_legal(&mut self) -> [u64; 2] {
        let c = self.caps;
        let any_gscid = |g: &mut Self| -> Option<u16> {
            match g.rng.below(3) {
                0 => None,
                1 if !g.vms.is_empty() => Some(g.vms[g.rng.index(g.vms.len())].gscid),
                _ => Some(g.rng.below(1 << 16) as u16),
            }
        };
        match self.rng.below(100) {
            0..=34 => encode::iofence_c(None),
            35..=54 => {
                let gscid = any_gscid(self);
                let pscid = if self.rng.percent(50) {
                    let known: Vec<u32> = self.pscids.iter().copied().collect();
                    if known.is_empty() || self.rng.percent(30) {
                        Some(self.rng.below(1 << 20) as u32)
                    } else {
                        let mut known = known;
                        known.sort_unstable();
                        Some(self.rng.pick(&known))
                    }
                } else {
                    None
                };
                let napot = c.s() && self.rng.percent(30);
                let addr = self.rng.percent(50).then(|| (self.rng.next_u64() & !0xfff, napot));
                let nl = c.nl() && self.rng.percent(30);
                encode::iotinval_vma(gscid, pscid, addr, nl && addr.is_some())
            }
            55..=69 => {
                let gscid = any_gscid(self);
                let napot = c.s() && self.rng.percent(30);
                let addr = self.rng.percent(50).then(|| (self.rng.below(1 << 50) & !0xfff, napot));
                let nl = c.nl() && self.rng.percent(30);
                encode::iotinval_gvma(gscid, addr, nl && addr.is_some() && gscid.is_some())
            }
            70..=84 => {
                let did = match self.rng.below(5) {
                    0 => None,
                    1 => Some(self.rng.below(1 << 24) as u32),
                    _ if !self.devices.is_empty() => Some(self.devices[self.rng.index(self.devices.len())].did),
                    _ => None,
                };
                encode::iodir_inval_ddt(did.map(DeviceId))
            }
            85..=96 => {
                let (did, pid) = match self.devices.iter().filter(|d| !d.procs.is_empty()).count() {
                    0 => (self.rng.below(1 << 24) as u32, self.rng.below(1 << 20) as u32),
                    _ => {
                        let ds: Vec<&Device> = self.devices.iter().filter(|d| !d.procs.is_empty()).collect();
                        let d = ds[self.rng.index(ds.len())];
                        (d.did, d.procs[self.rng.index(d.procs.len())].pid)
                    }
                };
                encode::iodir_inval_pdt(DeviceId(did), ProcessId(pid))
            }
            _ if c.ats() => [4 | (self.rng.below(2) << 7), 0],
            _ => encode::iofence_c(None),
        }
    }

    /// A note counting the changes by kind.
    fn note_changes(&mut self) {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for &k in &self.change_kinds {
            match counts.iter_mut().find(|(n, _)| *n == k) {
                Some((_, c)) => *c += 1,
                None => counts.push((k, 1)),
            }
        }
        counts.sort_unstable();
        let list: Vec<String> = counts.iter().map(|(k, c)| format!("{c} {k}")).collect();
        self.notes.push(format!("changes: {}", if list.is_empty() { "none".into() } else { list.join(", ") }));
    }

    fn ops(&mut self) -> Vec<Op> {
        let mut ops = Vec::with_capacity(self.o.count * 11 / 10 + 1);
        while self.issued < self.o.count {
            let req = self.next_request();
            ops.push(Op::Translate(req));
            self.issued += 1;
            if let Some(op) = self.due_undo() {
                ops.push(op);
            }
            if self.rng.percent(self.o.change_percent) {
                if let Some(op) = self.change() {
                    ops.push(op);
                }
            }
            if self.rng.percent(self.o.command_percent) {
                ops.push(Op::Command(self.stray_command()));
            }
            if self.rng.percent(self.o.drain_percent) {
                ops.push(Op::Drain);
            }
        }
        ops.push(Op::Drain);
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_model::{CacheConfig, Geometry, Iommu, Response, Translator};
    use std::collections::BTreeMap;

    /// Runs the ops in order on the golden model: each request translated at
    /// once, change writes then commands.
    fn run(w: &RandomWorkload, config: CacheConfig) -> (Vec<Response>, Vec<(Spa, u64)>) {
        let mut mem = w.memory.clone();
        let mut m = Iommu::with_regs(config, w.regs);
        let mut out = Vec::new();
        for op in &w.ops {
            match op {
                Op::Translate(r) => out.push(m.translate(&mut mem, r)),
                Op::Change { writes, commands } => {
                    for &(a, v) in writes {
                        mem.write(Spa(a), v).expect("a change writes only good words");
                    }
                    for &c in commands {
                        m.command(&mut mem, c).expect("a change's commands are legal");
                    }
                }
                // A stray command may be malformed on purpose (rejected then).
                Op::Command(c) => {
                    let _ = m.command(&mut mem, *c);
                }
                Op::Drain => {}
            }
        }
        let mut words: Vec<(Spa, u64)> = mem.nonzero_words().collect();
        words.sort_unstable();
        (out, words)
    }

    fn rtl_caches() -> CacheConfig {
        CacheConfig { iotlb: Geometry::new(16, 4), ddtc: Geometry::new(4, 4), pdtc: Geometry::new(4, 4) }
    }

    #[test]
    fn the_same_seed_gives_the_same_workload() {
        let o = RandomOptions { count: 300, ..Default::default() };
        for seed in [0, 1, 77] {
            let a = generate(seed, &o);
            let b = generate(seed, &o);
            assert_eq!(a.regs, b.regs);
            assert_eq!(a.ops, b.ops);
            assert_eq!(a.bad_words, b.bad_words);
            assert_eq!(a.read_only_words, b.read_only_words);
            let mut wa: Vec<_> = a.memory.nonzero_words().collect();
            let mut wb: Vec<_> = b.memory.nonzero_words().collect();
            wa.sort_unstable();
            wb.sort_unstable();
            assert_eq!(wa, wb);
            assert_eq!(a.describe(), b.describe());
            assert!(matches!(a.ops.last(), Some(Op::Drain)));
            assert_eq!(a.ops.iter().filter(|o| matches!(o, Op::Translate(_))).count(), 300);
        }
        assert_ne!(generate(1, &o).ops, generate(2, &o).ops);
    }

    #[test]
    fn outcomes_cover_every_cause_and_mostly_succeed() {
        let o = RandomOptions::default();
        let mut causes: BTreeMap<u16, usize> = BTreeMap::new();
        let (mut ok, mut total, mut changes) = (0usize, 0usize, 0usize);
        for seed in 0..20 {
            let w = generate(seed, &o);
            changes += w.ops.iter().filter(|o| matches!(o, Op::Change { .. })).count();
            let (resp, _) = run(&w, rtl_caches());
            for r in &resp {
                total += 1;
                match r.fault {
                    None => ok += 1,
                    Some(f) => *causes.entry(f.cause.0).or_default() += 1,
                }
                if r.fault.is_some_and(|f| f.cause.0 == 256) {
                    assert_eq!(w.regs.ddtp.mode(), IommuMode::Off);
                }
            }
        }
        eprintln!("{ok}/{total} succeed; {changes} changes; causes: {causes:?}");
        for c in [1, 5, 7, 12, 13, 15, 20, 21, 23, 256, 257, 258, 259, 260, 261, 262, 263, 265, 266, 267] {
            assert!(causes.contains_key(&c), "cause {c} never met: {causes:?}");
        }
        assert!(ok * 100 >= total * 40, "{ok} of {total} succeed");
    }

    /// With the invalidations each change carries, caching never changes an
    /// answer: the cached model gives what the uncached one gives, and leaves the
    /// same memory.
    #[test]
    fn invalidations_are_enough_for_the_caches() {
        let o = RandomOptions { count: 1500, change_percent: 10, ..Default::default() };
        let small = CacheConfig { iotlb: Geometry::new(4, 4), ddtc: Geometry::new(4, 4), pdtc: Geometry::new(4, 4) };
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for seed in 100..130 {
            let mut g = Gen::new(seed, &o);
            g.build();
            let memory = g.mem.clone();
            let ops = g.ops();
            for k in &g.change_kinds {
                *kinds.entry(k).or_default() += 1;
            }
            let w = RandomWorkload {
                seed,
                regs: g.regs,
                memory,
                ops,
                bad_words: g.bad.clone(),
                read_only_words: g.read_only.clone(),
                notes: g.notes.clone(),
            };
            let (cold, cold_mem) = run(&w, CacheConfig::DISABLED);
            for config in [rtl_caches(), small] {
                let (warm, warm_mem) = run(&w, config);
                for (i, (a, b)) in cold.iter().zip(&warm).enumerate() {
                    assert_eq!(a, b, "seed {seed}: translation {i} differs with caches\n{}", w.describe());
                }
                assert!(warm_mem == cold_mem, "seed {seed}: memory differs with caches");
            }
            let hits = run_hits(&w);
            assert!(hits > 0, "seed {seed}: no IOTLB hit");
        }
        eprintln!("changes: {kinds:?}");
        for k in [
            "DC",
            "PC",
            "MSI PTE",
            "DDT non-leaf",
            "PDT non-leaf",
            "first-stage leaf",
            "G-stage leaf",
            "first-stage non-leaf",
            "first-stage table copy",
            "G-stage non-leaf",
            "G-stage table copy",
        ] {
            assert!(kinds.contains_key(k), "no {k} change: {kinds:?}");
        }
    }

    /// Read-only words are leaves waiting for a hardware A/D update, kept out of
    /// `bad_words`: their reads succeed and their updates fault. Tables beyond
    /// PAS (PDT entries and process contexts, directly or through a G-stage leaf;
    /// MSI page tables) answer with their load access faults without an access
    /// reaching memory.
    #[test]
    fn read_only_leaves_and_tables_beyond_pas_fault() {
        use iommu_model::memory::{AccessKind, RecordingMemory};
        let o = RandomOptions::default();
        let (mut read_only, mut swap_faults, mut msi_beyond, mut pdt_beyond) = (0, 0, 0, 0);
        let mut labels: BTreeMap<&str, usize> = BTreeMap::new();
        for seed in 1..=40 {
            let w = generate(seed, &o);
            for &a in &w.read_only_words {
                assert!(!w.bad_words.contains(&a), "seed {seed}: {a:#x} read-only and bad");
                assert!(w.memory.is_read_only(Spa(a)) && !w.memory.is_bad(Spa(a)));
                let pte = w.memory.peek(Spa(a));
                assert!(pte & bits::V != 0 && pte & RWX != 0 && pte & AD != AD, "seed {seed}: {a:#x} holds {pte:#x}");
            }
            read_only += w.read_only_words.len();
            let d = w.describe();
            for l in [
                "process context beyond PAS",
                "in a guest page beyond PAS",
                "PDT non-leaf beyond PAS",
                "page table beyond PAS",
            ] {
                if d.contains(l) {
                    *labels.entry(l).or_default() += 1;
                }
            }
            let mut mem = RecordingMemory::new(w.memory.clone());
            let mut m = Iommu::with_regs(CacheConfig::DISABLED, w.regs);
            for op in &w.ops {
                match op {
                    Op::Translate(r) => {
                        mem.log.clear();
                        let resp = m.translate_in(&mut mem, r);
                        let faulted = mem.log.iter().any(|a| a.faulted);
                        for a in mem.log.iter().filter(|a| a.faulted) {
                            if matches!(a.kind, AccessKind::CompareAndSwap { .. }) {
                                assert!(w.read_only_words.contains(&(a.addr.0 & !7)), "seed {seed}: {a:?}");
                                swap_faults += 1;
                            }
                        }
                        match resp.fault.map(|f| f.cause.0) {
                            Some(261) if !faulted => msi_beyond += 1,
                            Some(265) if !faulted => pdt_beyond += 1,
                            _ => {}
                        }
                    }
                    Op::Change { writes, commands } => {
                        for &(a, v) in writes {
                            mem.inner.write(Spa(a), v).expect("a change writes only writable words");
                        }
                        for &c in commands {
                            m.command(&mut mem.inner, c).expect("a change's commands are legal");
                        }
                    }
                    Op::Command(c) => {
                        let _ = m.command(&mut mem.inner, *c);
                    }
                    Op::Drain => {}
                }
            }
        }
        eprintln!(
            "{read_only} read-only words, {swap_faults} faulting swaps, {msi_beyond} MSI and {pdt_beyond} PDT answers beyond PAS; {labels:?}"
        );
        assert!(read_only > 0 && swap_faults > 0, "{read_only} read-only words, {swap_faults} faulting swaps");
        assert!(msi_beyond > 0 && pdt_beyond > 0, "{msi_beyond} MSI, {pdt_beyond} PDT answers beyond PAS");
    }

    /// A first-stage leaf whose table page a G-stage leaf maps read-only: the
    /// walk reads it, and its A/D update, an implicit write through the G-stage,
    /// ends in a guest-page fault whose iotval2 has bits 1:0 = 3.
    #[test]
    fn first_stage_updates_fault_in_a_read_only_guest_table_page() {
        let o = RandomOptions::default();
        let (mut faults, mut seeds) = (0usize, Vec::new());
        for seed in 1..=40 {
            let w = generate(seed, &o);
            let (resp, _) = run(&w, CacheConfig::DISABLED);
            let n = resp
                .iter()
                .filter_map(|r| r.fault)
                .filter(|f| matches!(f.cause.0, 20 | 21 | 23) && f.iotval2 & 3 == 3)
                .inspect(|f| {
                    let gpa = f.iotval2 & !3;
                    assert!((GUEST_RO..GUEST_RO + GUEST_RO_LEN).contains(&gpa), "seed {seed}: {f:?}");
                })
                .count();
            if n > 0 {
                seeds.push(seed);
            }
            faults += n;
        }
        eprintln!("{faults} guest-page faults on first-stage A/D updates, seeds {seeds:?}");
        assert!(faults > 0, "no guest-page fault with iotval2 bits 1:0 = 3");
    }

    fn run_hits(w: &RandomWorkload) -> u64 {
        let mut mem = w.memory.clone();
        let mut m = Iommu::with_regs(rtl_caches(), w.regs);
        for op in &w.ops {
            match op {
                Op::Translate(r) => {
                    m.translate(&mut mem, r);
                }
                Op::Change { writes, commands } => {
                    for &(a, v) in writes {
                        mem.write(Spa(a), v).unwrap();
                    }
                    for &c in commands {
                        m.command(&mut mem, c).unwrap();
                    }
                }
                Op::Command(c) => {
                    let _ = m.command(&mut mem, *c);
                }
                Op::Drain => {}
            }
        }
        let c = m.counters();
        if w.regs.ddtp.mode().levels().is_some() {
            c.iotlb_hit
        } else {
            1
        }
    }

    #[test]
    fn restrictive_options_still_give_valid_workloads() {
        let all_fs = cap::SV39 | cap::SV48 | cap::SV57;
        let all_g = cap::SV39X4 | cap::SV48X4 | cap::SV57X4;
        let all_pd = cap::PD8 | cap::PD17 | cap::PD20;
        for (forbid, mode, broken) in [
            (all_fs | all_pd, Some(IommuMode::Lvl1), 12),
            (all_g | cap::MSI_FLAT | cap::AMO_HWAD, Some(IommuMode::Lvl2), 0),
            (cap::NL | cap::S | cap::ATS, Some(IommuMode::Lvl3), 50),
            (all_fs | all_g | all_pd, None, 12),
        ] {
            let o =
                RandomOptions { count: 400, forbid_caps: forbid, mode, broken_percent: broken, ..Default::default() };
            for seed in 0..6 {
                let w = generate(seed, &o);
                assert_eq!(w.regs.capabilities.0 & forbid, 0);
                if let Some(m) = mode {
                    assert_eq!(w.regs.ddtp.mode(), m);
                }
                let (resp, _) = run(&w, rtl_caches());
                assert_eq!(resp.len(), 400);
                if broken == 0 && mode.is_some() {
                    assert!(w.bad_words.is_empty(), "{}", w.describe());
                    assert!(w.read_only_words.is_empty(), "{}", w.describe());
                }
            }
        }
    }

    #[test]
    fn describe_names_the_mode_and_the_devices() {
        let w = generate(5, &RandomOptions { count: 50, ..Default::default() });
        let d = w.describe();
        assert!(d.contains("seed 5"), "{d}");
        assert!(d.contains("device"), "{d}");
        assert!(d.contains("ops: 50 translations"), "{d}");
    }
}
