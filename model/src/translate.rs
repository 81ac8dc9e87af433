//! The translation of one request, as a resumable step machine.
//!
//! [`Translation`] follows "Process to translate an IOVA"
//! (`iommu_data_structures.adoc`) from the `ddtp` mode check to the final SPA:
//! device-context lookup (DDTC, else the DDT walk), process-context lookup (PDTC,
//! else the PDT walk, its addresses translated by the G-stage), the IOTLB, the
//! first-stage walk (each PTE address translated by the G-stage as an implicit
//! access), MSI address recognition and the MSI page table, and the final G-stage
//! walk. It asks for one memory access at a time ([`Step`]) and is resumed with
//! the answer ([`Reply`]); the caches are consulted and filled on the way.
//!
//! The golden model ([`crate::Iommu`]) resumes it in a loop against a
//! [`crate::Memory`]; the timing model resumes it at the cycle each memory response
//! arrives. Translation logic exists only here and in [`crate::walker`].

use crate::addr::{ProcessId, Spa};
use crate::caches::Caches;
use crate::context::{self, DeviceContext, PdtMode, ProcessContext};
use crate::fault::{Cause, FaultRecord};
use crate::iotlb::{perm, AddressSpace, IotlbEntry};
use crate::memory::{AccessFault, Memory};
use crate::pte::{Pte, Scheme};
use crate::regs::Regs;
use crate::request::{Access, Request, Response, Status};
use crate::stats::Counters;
use crate::walker::{pte_from_word, pte_into_word, Leaf, PteFeatures, StageKind, StageWalk, WalkParams, WalkStep};

/// What a translation needs next. A step is one byte; the access it asks for is
/// [`Translation::mem_op`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read [`MemOp::words`] consecutive 64-bit words at [`MemOp::addr`] (1 for a
    /// PTE or a directory entry, 2 for a process context or MSI PTE, 4 or 8 for a
    /// device context). Resume with [`Reply::Data`] or [`Reply::AccessFault`].
    Read,
    /// Atomically compare the word at [`MemOp::addr`] with [`MemOp::expected`]
    /// and, if equal, replace it with [`MemOp::new`]. Resume with
    /// [`Reply::Swapped`] or [`Reply::AccessFault`].
    CompareAndSwap,
    /// Finished: the answer is [`Translation::response`].
    Done,
    /// Paused before a cache access ([`Translation::cache_op`]), only when
    /// [`Translation::set_pause_at_caches`] asked for it: a cycle-level model of a
    /// unit whose caches sit behind a shared port performs the access on the cycle
    /// the port grants it by resuming with [`Reply::Go`].
    Cache,
}

/// A cache access a translation pauses before (see [`Step::Cache`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOp {
    /// Fill the DDTC with the device context just read.
    DdtcFill,
    /// Look up the PDTC (after a device context read from memory).
    PdtcLookup,
    /// Fill the PDTC with the process context just read.
    PdtcFill,
    /// Look up the IOTLB.
    IotlbLookup,
    /// Fill the IOTLB with the finished translation.
    IotlbFill,
}

/// What a translation waits for: the kind of its pending memory access or cache
/// access (for a cycle-level model that mirrors a hardware walker's states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Nothing.
    Nothing,
    /// A non-leaf device-directory entry.
    DdtEntry,
    /// A device context.
    Dc,
    /// A non-leaf process-directory entry.
    PdtEntry,
    /// A process context.
    Pc,
    /// A first-stage PTE.
    FsPte,
    /// The A/D update of a first-stage PTE.
    FsPteUpdate,
    /// A G-stage PTE.
    GsPte,
    /// The A/D update of a G-stage PTE.
    GsPteUpdate,
    /// An MSI page-table entry.
    MsiPte,
    /// A paused cache access.
    Cache(CacheOp),
}

/// What a G-stage walk is translating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsFor {
    /// The address of a PDT entry or process context (implicit read).
    Pdt,
    /// The address of a first-stage PTE to read (implicit read).
    FsPteRead,
    /// The address of a first-stage PTE to update A/D in (implicit write).
    FsPteWrite,
    /// The GPA of the request itself.
    Final,
}

/// How a finished translation ended, for a cycle-level model that charges the
/// hardware's states: most endings are decided on the data just read or on a
/// cache result, two before an access is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// On the data just read, a cache result, or the contexts.
    Here,
    /// The next access (its [`Wait`]) reaches beyond `capabilities.PAS`: the
    /// access fault is found where the access would be issued.
    BeyondPas(Wait),
    /// The address to walk is not canonical (first stage) or too wide (G-stage):
    /// the page fault is found where the stage's walk starts.
    BadAddress(PteStage),
}

/// The memory access a translation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemOp {
    /// The (first) word's address, 8-byte aligned.
    pub addr: Spa,
    /// Words to read (0 for a compare-and-swap).
    pub words: u8,
    /// The value a compare-and-swap expects.
    pub expected: u64,
    /// The value a compare-and-swap stores.
    pub new: u64,
}

/// The page-table stage a pending read belongs to (for the timing model's walk
/// caches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteStage {
    /// A first-stage PTE.
    First,
    /// A G-stage PTE.
    G,
}

/// The answer to the last [`Step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// The first call: nothing was asked yet.
    Start,
    /// The words read.
    Data(&'a [u64]),
    /// The compare-and-swap found `old` (it swapped if `old` was the expected value).
    Swapped {
        /// The value found.
        old: u64,
    },
    /// The access failed (PMA/PMP violation or bus error).
    AccessFault,
    /// Perform the paused cache access now and go on (after [`Step::Cache`]).
    Go,
}

/// What the machine consults and updates besides its own state.
pub struct Env<'a, P: ?Sized> {
    /// The registers.
    pub regs: &'a Regs,
    /// The caches.
    pub caches: &'a mut Caches,
    /// The statistics counters.
    pub counters: &'a mut Counters,
    /// The memory port.
    pub port: &'a mut P,
}

/// A memory port that may answer an access at once.
///
/// The golden model's port ([`Immediate`]) always answers, so a translation runs
/// to its end inside one [`Translation::resume`] call, walks in tight loops. The
/// timing model's port ([`Deferred`]) never does: every access is returned as a
/// [`Step`] and the machine is resumed when the memory's response arrives. Both
/// drive the same code.
pub trait Port {
    /// Reads `out.len()` words at `addr` now, or returns `None` to defer.
    fn read_now(&mut self, addr: Spa, out: &mut [u64]) -> Option<Result<(), AccessFault>>;
    /// Compares and swaps now (returning the old value), or returns `None`.
    fn cas_now(&mut self, addr: Spa, expected: u64, new: u64) -> Option<Result<u64, AccessFault>>;
}

/// A port that defers every access to the caller.
pub struct Deferred;

impl Port for Deferred {
    #[inline]
    fn read_now(&mut self, _: Spa, _: &mut [u64]) -> Option<Result<(), AccessFault>> {
        None
    }
    #[inline]
    fn cas_now(&mut self, _: Spa, _: u64, _: u64) -> Option<Result<u64, AccessFault>> {
        None
    }
}

/// A port that accesses a [`Memory`] at once.
pub struct Immediate<'m, M: ?Sized>(pub &'m mut M);

impl<M: Memory + ?Sized> Port for Immediate<'_, M> {
    #[inline]
    fn read_now(&mut self, addr: Spa, out: &mut [u64]) -> Option<Result<(), AccessFault>> {
        Some(self.0.read_words(addr, out))
    }
    #[inline]
    fn cas_now(&mut self, addr: Spa, expected: u64, new: u64) -> Option<Result<u64, AccessFault>> {
        Some(self.0.compare_and_swap(addr, expected, new))
    }
}

/// Where a finished translation got its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Source {
    /// Not finished yet.
    #[default]
    Pending,
    /// `iommu_mode` Bare, or both stages Bare: no translation.
    Bare,
    /// An IOTLB hit.
    Iotlb,
    /// A page-table walk.
    Walk,
    /// The MSI page table.
    Msi,
    /// A fault.
    Fault,
}

impl Source {
    /// The name used in per-access CSV output.
    pub fn name(self) -> &'static str {
        match self {
            Source::Pending => "pending",
            Source::Bare => "bare",
            Source::Iotlb => "iotlb",
            Source::Walk => "walk",
            Source::Msi => "msi",
            Source::Fault => "fault",
        }
    }
}

/// The translation of one request. See the module documentation.
#[derive(Clone, Debug)]
pub struct Translation {
    req: Request,
    wait: Wait,
    epoch: u64,
    /// Address bits at or above `capabilities.PAS`.
    beyond_pas: u64,
    dtf: bool,
    extended: bool,
    dir_level: u8,
    dir_addr: u64,
    dc: DeviceContext,
    pid: Option<ProcessId>,
    sum: bool,
    g: Option<Scheme>,
    space: AddressSpace,
    fs: StageWalk,
    fs_active: bool,
    fs_pte_addr: u64,
    fs_pte_spa: u64,
    fs_raw: u64,
    fs_new: Pte,
    fs_leaf: Option<Leaf>,
    gs: StageWalk,
    gs_for: GsFor,
    gs_raw: u64,
    gpa: u64,
    source: Source,
    op: MemOp,
    status: Status,
    out_spa: u64,
    fault_record: FaultRecord,
    suppressed: bool,
    reads: u32,
    writes: u32,
    /// Pause before cache accesses ([`Step::Cache`]).
    pause: bool,
    /// The DDTC missed (the DDT is walked).
    ddtc_missed: bool,
    /// The PDTC missed (the PDT is walked).
    pdtc_missed: bool,
    /// The last lookup (PDTC or IOTLB) hit.
    hit: bool,
    ending: Ending,
    /// What a paused fill writes.
    fill_pc: ProcessContext,
    fs_scheme: Option<Scheme>,
    fs_root: u64,
    fill_spa: u64,
    fill_gs_leaf: Option<Leaf>,
}

impl Translation {
    /// A translation of `req`, ready for [`Translation::resume`] with
    /// [`Reply::Start`].
    pub fn new(req: Request) -> Self {
        Translation {
            req,
            wait: Wait::Nothing,
            epoch: 0,
            beyond_pas: 0,
            dtf: false,
            extended: false,
            dir_level: 0,
            dir_addr: 0,
            dc: DeviceContext::default(),
            pid: None,
            sum: false,
            g: None,
            space: AddressSpace::default(),
            fs: StageWalk::new(WalkParams::default()),
            fs_active: false,
            fs_pte_addr: 0,
            fs_pte_spa: 0,
            fs_raw: 0,
            fs_new: Pte(0),
            fs_leaf: None,
            gs: StageWalk::new(WalkParams::default()),
            gs_for: GsFor::Final,
            gs_raw: 0,
            gpa: 0,
            source: Source::Pending,
            op: MemOp::default(),
            status: Status::Success,
            out_spa: 0,
            fault_record: FaultRecord::for_request(&req, Cause(0), 0),
            suppressed: false,
            reads: 0,
            writes: 0,
            pause: false,
            ddtc_missed: false,
            pdtc_missed: false,
            hit: false,
            ending: Ending::Here,
            fill_pc: ProcessContext::default(),
            fs_scheme: None,
            fs_root: 0,
            fill_spa: 0,
            fill_gs_leaf: None,
        }
    }

    /// Reuses this machine for a new request, as a hardware walker slot is reused:
    /// resets what the flow reads before writing, and leaves the rest (contexts,
    /// stage walks, addresses), which every path writes before reading.
    #[inline]
    pub fn restart(&mut self, req: Request) {
        self.req = req;
        self.wait = Wait::Nothing;
        self.dtf = false;
        self.pid = None;
        self.sum = false;
        self.g = None;
        self.fs_active = false;
        self.fs_leaf = None;
        self.gs_for = GsFor::Final;
        self.source = Source::Pending;
        self.reads = 0;
        self.writes = 0;
        self.ddtc_missed = false;
        self.pdtc_missed = false;
        self.ending = Ending::Here;
    }

    /// Makes the machine stop with [`Step::Cache`] before each cache access the
    /// walk of a unit with a shared cache port makes: the DDTC and PDTC fills, the
    /// PDTC lookup after a device context read from memory, the IOTLB lookup and
    /// the IOTLB fill. The DDTC lookup and a PDTC lookup right after a DDTC hit
    /// stay inside [`Reply::Start`] (a lookup stage makes them in one cycle).
    pub fn set_pause_at_caches(&mut self, pause: bool) {
        self.pause = pause;
    }

    /// What the translation waits for.
    pub fn waiting_for(&self) -> Wait {
        self.wait
    }

    /// The cache access paused before, after [`Step::Cache`].
    pub fn cache_op(&self) -> Option<CacheOp> {
        match self.wait {
            Wait::Cache(op) => Some(op),
            _ => None,
        }
    }

    /// What the G-stage walk in progress (or last made) translates.
    pub fn gs_purpose(&self) -> GsFor {
        self.gs_for
    }

    /// How the translation ended (after [`Step::Done`]).
    pub fn ending(&self) -> Ending {
        self.ending
    }

    /// Whether the last PDTC or IOTLB lookup hit.
    pub fn last_lookup_hit(&self) -> bool {
        self.hit
    }

    /// Whether the DDTC missed, so that the translation walks the DDT.
    pub fn ddtc_missed(&self) -> bool {
        self.ddtc_missed
    }

    /// Whether the PDTC missed, so that the translation walks the PDT.
    pub fn pdtc_missed(&self) -> bool {
        self.pdtc_missed
    }

    /// Whether the first stage is active (once the contexts are known).
    pub fn first_stage_active(&self) -> bool {
        self.fs_active
    }

    /// Whether the G-stage is active (once the device context is known).
    pub fn g_stage_active(&self) -> bool {
        self.g.is_some()
    }

    /// Whether a paused fill would write its cache: no invalidation has run since
    /// the translation began (see [`Caches::epoch`]).
    pub fn fill_allowed(&self, caches: &Caches) -> bool {
        caches.epoch == self.epoch
    }

    /// Forbids this translation's fills, as if an invalidation had run after it
    /// began (a command in the cycle its lookups were made).
    pub fn forbid_fills(&mut self) {
        self.epoch = u64::MAX;
    }

    /// Whether the IOTLB lookup paused before would hit (permitted, without an
    /// A/D update), without touching the replacement state.
    pub fn iotlb_would_hit(&self, caches: &Caches) -> bool {
        matches!(caches.iotlb.peek(self.space, self.req.iova.0),
                 Some(e) if e.permits(self.req.access, self.privileged(), self.sum))
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.req
    }

    /// The memory access asked for by the last [`Step::Read`] or
    /// [`Step::CompareAndSwap`].
    pub fn mem_op(&self) -> MemOp {
        self.op
    }

    /// The stage of the page-table entry the pending read fetches, if it is one.
    #[inline]
    pub fn pte_read_stage(&self) -> Option<PteStage> {
        match self.wait {
            Wait::FsPte => Some(PteStage::First),
            Wait::GsPte => Some(PteStage::G),
            _ => None,
        }
    }

    /// The pending read was served by a walk cache, not by memory: it no longer
    /// counts as one of this translation's memory reads.
    pub fn read_served_by_walk_cache(&mut self) {
        self.reads = self.reads.saturating_sub(1);
    }

    /// Returns `Step::Read` for `words` words at `addr`, remembering the access.
    #[inline]
    fn defer_read(&mut self, addr: u64, words: u8, wait: Wait) -> Step {
        self.wait = wait;
        self.op = MemOp { addr: Spa(addr & !7), words, expected: 0, new: 0 };
        Step::Read
    }

    /// Returns `Step::CompareAndSwap`, remembering the access.
    #[inline]
    fn defer_cas(&mut self, addr: u64, expected: u64, new: u64, wait: Wait) -> Step {
        self.wait = wait;
        self.op = MemOp { addr: Spa(addr & !7), words: 0, expected, new };
        Step::CompareAndSwap
    }

    /// The answer, once [`Step::Done`] was returned.
    ///
    /// The answer is kept as separate fields and assembled here, so that reading
    /// a success does not load the bytes of a fault record written (or not) just
    /// before.
    #[inline]
    pub fn response(&self) -> Response {
        if self.status == Status::Success {
            Response::success(Spa(self.out_spa))
        } else {
            Response { status: self.status, spa: Spa(0), fault: Some(self.fault_record), suppressed: self.suppressed }
        }
    }

    /// Where the answer came from (once done).
    pub fn source(&self) -> Source {
        self.source
    }

    /// Memory reads made so far.
    pub fn reads(&self) -> u32 {
        self.reads
    }

    /// Memory writes (compare-and-swaps) made so far.
    pub fn writes(&self) -> u32 {
        self.writes
    }

    /// Advances the machine with the answer to its last step.
    pub fn resume<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, reply: Reply<'_>) -> Step {
        let wait = std::mem::replace(&mut self.wait, Wait::Nothing);
        match reply {
            Reply::Start => self.begin(env),
            Reply::AccessFault => self.access_fault(env, wait),
            Reply::Go => match wait {
                Wait::Cache(CacheOp::DdtcFill) => self.ddtc_fill(env),
                Wait::Cache(CacheOp::PdtcLookup) => self.pdtc_lookup(env),
                Wait::Cache(CacheOp::PdtcFill) => self.pdtc_fill(env),
                Wait::Cache(CacheOp::IotlbLookup) => self.iotlb_lookup(env),
                Wait::Cache(CacheOp::IotlbFill) => self.iotlb_fill(env),
                _ => unreachable!("go while waiting for {wait:?}"),
            },
            Reply::Data(words) => match wait {
                Wait::DdtEntry => self.on_ddt_entry(env, words[0]),
                Wait::Dc => self.on_dc(env, words),
                Wait::PdtEntry => self.on_pdt_entry(env, words[0]),
                Wait::Pc => self.on_pc(env, words),
                Wait::FsPte => {
                    self.fs_raw = words[0];
                    let s = self.fs.params().scheme;
                    let pte = pte_from_word(words[0], self.fs_pte_addr, s.pte_bytes, self.dc.sbe());
                    let step = self.fs.pte(pte);
                    self.fs_step(env, step)
                }
                Wait::GsPte => {
                    self.gs_raw = words[0];
                    let s = self.gs.params().scheme;
                    let pte = pte_from_word(words[0], self.gs.pte_addr(), s.pte_bytes, env.regs.fctl.be());
                    let step = self.gs.pte(pte);
                    self.gs_step(env, step)
                }
                Wait::MsiPte => self.on_msi_pte(env, words),
                _ => unreachable!("data reply while waiting for {wait:?}"),
            },
            Reply::Swapped { old } => match wait {
                Wait::FsPteUpdate => {
                    let step = self.fs.updated(old == self.fs_raw);
                    self.fs_step(env, step)
                }
                Wait::GsPteUpdate => {
                    let step = self.gs.updated(old == self.gs_raw);
                    self.gs_step(env, step)
                }
                _ => unreachable!("swap reply while waiting for {wait:?}"),
            },
        }
    }

    // ---- memory requests ------------------------------------------------------

    fn read<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, addr: u64, words: u8, wait: Wait) -> Step {
        self.wait = wait;
        if !self.counted_access(env, addr, words, false) {
            self.ending = Ending::BeyondPas(wait);
            return self.access_fault(env, wait);
        }
        let mut buf = [0u64; 8];
        let out = &mut buf[..usize::from(words)];
        match env.port.read_now(Spa(addr & !7), out) {
            None => self.defer_read(addr, words, wait),
            Some(Ok(())) => self.resume(env, Reply::Data(out)),
            Some(Err(_)) => self.resume(env, Reply::AccessFault),
        }
    }

    fn cas<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, addr: u64, expected: u64, new: u64, wait: Wait) -> Step {
        self.wait = wait;
        if !self.counted_access(env, addr, 1, true) {
            self.ending = Ending::BeyondPas(wait);
            return self.access_fault(env, wait);
        }
        match env.port.cas_now(Spa(addr & !7), expected, new) {
            None => self.defer_cas(addr, expected, new, wait),
            Some(Ok(old)) => self.resume(env, Reply::Swapped { old }),
            Some(Err(_)) => self.resume(env, Reply::AccessFault),
        }
    }

    /// Checks that an access of `words` words at `addr` is inside the physical
    /// address space and counts it. An implicit access beyond `capabilities.PAS`
    /// cannot reach memory: the caller reports the access fault its table gives.
    #[inline]
    fn counted_access<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, addr: u64, words: u8, write: bool) -> bool {
        if (addr + u64::from(words) * 8 - 1) & self.beyond_pas != 0 {
            return false;
        }
        if write {
            self.writes += 1;
            env.counters.walk_writes += 1;
        } else {
            self.reads += 1;
            env.counters.walk_reads += 1;
        }
        true
    }

    // ---- endings --------------------------------------------------------------

    #[inline(never)]
    fn fault<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, cause: Cause, iotval2: u64) -> Step {
        self.source = Source::Fault;
        env.counters.translations += 1;
        env.counters.faults += 1;
        let r = Response::fault(FaultRecord::for_request(&self.req, cause, iotval2), self.dtf);
        self.status = r.status;
        self.fault_record = r.fault.unwrap_or(self.fault_record);
        self.suppressed = r.suppressed;
        Step::Done
    }

    fn success<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, spa: u64, source: Source) -> Step {
        self.source = source;
        env.counters.translations += 1;
        self.status = Status::Success;
        self.out_spa = spa;
        Step::Done
    }

    /// The access fault for a failed read or update, by what was being accessed.
    #[inline(never)]
    fn access_fault<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, wait: Wait) -> Step {
        let cause = match wait {
            Wait::DdtEntry | Wait::Dc => Cause::DDT_LOAD_ACCESS,
            // "An access fault in the second stage is reported as PDT entry load
            // access fault" (Process to locate the Process-context).
            Wait::PdtEntry | Wait::Pc => Cause::PDT_LOAD_ACCESS,
            Wait::GsPte | Wait::GsPteUpdate if self.gs_for == GsFor::Pdt => Cause::PDT_LOAD_ACCESS,
            Wait::MsiPte => Cause::MSI_PTE_LOAD_ACCESS,
            _ => Cause::access_fault(self.req.access),
        };
        self.fault(env, cause, 0)
    }

    // ---- device context -------------------------------------------------------

    #[inline(always)]
    fn begin<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        self.epoch = env.caches.epoch;
        let regs = env.regs;
        let pas = regs.capabilities.pas();
        self.beyond_pas = if pas == 0 || pas >= 64 { 0 } else { !((1u64 << pas) - 1) };
        // iommu_mode: 0 Off, 1 Bare, 2-4 one to three DDT levels, others reserved
        // (and so never written: WARL) and treated as Off.
        let mode = (regs.ddtp.0 & 0xf) as u32;
        if mode == 1 {
            // Untranslated requests pass through untouched in Bare mode.
            return self.success(env, self.req.iova.0, Source::Bare);
        }
        if !(2..=4).contains(&mode) {
            return self.fault(env, Cause::ALL_DISALLOWED, 0);
        }
        let levels = mode - 1;
        self.extended = regs.capabilities.msi_flat();
        // Step 5: a device ID wider than the mode supports (DDI[0] is 6 or 7 bits,
        // DDI[1] 9). No device context is located, so DTF is taken as 0 and the
        // fault is reported.
        let width = if self.extended { 6 } else { 7 } + 9 * (levels - 1);
        if width < 24 && self.req.device_id.0 >> width != 0 {
            return self.fault(env, Cause::TRANSACTION_DISALLOWED, 0);
        }
        if let Some(dc) = env.caches.ddtc.lookup(self.req.device_id) {
            self.dc = *dc;
            env.counters.ddtc_hit += 1;
            return self.have_dc(env);
        }
        env.counters.ddtc_miss += 1;
        self.ddtc_missed = true;
        self.dir_level = levels as u8 - 1;
        self.dir_addr = regs.ddtp.root().0;
        self.ddt_next(env)
    }

    fn ddi(&self, level: u8) -> u64 {
        context::ddi(self.req.device_id.0, level, self.extended)
    }

    /// "Process to locate the Device-context", steps 2-3 and 8.
    fn ddt_next<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        if self.dir_level == 0 {
            let size = if self.extended { 64 } else { 32 };
            let addr = self.dir_addr + self.ddi(0) * size;
            self.read(env, addr, (size / 8) as u8, Wait::Dc)
        } else {
            let addr = self.dir_addr + self.ddi(self.dir_level) * 8;
            self.read(env, addr, 1, Wait::DdtEntry)
        }
    }

    #[inline(never)]
    fn on_ddt_entry<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, raw: u64) -> Step {
        let e = if env.regs.fctl.be() { raw.swap_bytes() } else { raw };
        if e & 1 == 0 {
            return self.fault(env, Cause::DDT_NOT_VALID, 0);
        }
        if e & context::DIR_NONLEAF_RESERVED != 0 {
            return self.fault(env, Cause::DDT_MISCONFIGURED, 0);
        }
        self.dir_level -= 1;
        self.dir_addr = context::dir_nonleaf_ppn(e) << 12;
        self.ddt_next(env)
    }

    #[inline(never)]
    fn on_dc<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, words: &[u64]) -> Step {
        let mut dc = DeviceContext::from_words(words);
        if env.regs.fctl.be() {
            dc.swap_bytes();
        }
        if !dc.valid() {
            return self.fault(env, Cause::DDT_NOT_VALID, 0);
        }
        if dc.check(env.regs).is_err() {
            return self.fault(env, Cause::DDT_MISCONFIGURED, 0);
        }
        self.dc = dc;
        if self.pause {
            self.wait = Wait::Cache(CacheOp::DdtcFill);
            return Step::Cache;
        }
        self.ddtc_fill(env)
    }

    fn ddtc_fill<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        if env.caches.epoch == self.epoch {
            env.caches.ddtc.insert(self.req.device_id, self.dc);
        }
        self.have_dc(env)
    }

    /// Steps 7 and 9-13 of "Process to translate an IOVA".
    #[inline(always)]
    fn have_dc<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        let dc = self.dc;
        self.dtf = dc.dtf();
        self.g = dc.g_scheme(env.regs);
        if let Some(pid) = self.req.pid {
            // Step 7: a process ID needs a PDT wide enough for it.
            if !dc.pdtv() {
                return self.fault(env, Cause::TRANSACTION_DISALLOWED, 0);
            }
            let mode = dc.pdt_mode().unwrap_or(PdtMode::Bare);
            if mode != PdtMode::Bare && pid.0 >> mode.pid_bits() != 0 {
                return self.fault(env, Cause::TRANSACTION_DISALLOWED, 0);
            }
        }
        if !dc.pdtv() {
            // Step 10: the first stage is configured in the device context.
            return self.set_stages(env, dc.fsc_mode(), dc.fsc_ppn(), dc.pscid());
        }
        // Steps 11-12: without a process ID, DPE selects process ID 0.
        self.pid = match self.req.pid {
            Some(p) => Some(p),
            None if dc.dpe() => Some(ProcessId(0)),
            None => None,
        };
        let mode = dc.pdt_mode().unwrap_or(PdtMode::Bare);
        if self.pid.is_none() {
            return self.set_stages(env, 0, 0, 0);
        }
        if mode == PdtMode::Bare {
            return self.set_stages(env, 0, 0, 0);
        }
        if self.pause && self.ddtc_missed {
            self.wait = Wait::Cache(CacheOp::PdtcLookup);
            return Step::Cache;
        }
        self.pdtc_lookup(env)
    }

    fn pdtc_lookup<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        let pid = self.pid.unwrap_or_default();
        if let Some(pc) = env.caches.pdtc.lookup(self.req.device_id, pid).copied() {
            env.counters.pdtc_hit += 1;
            self.hit = true;
            return self.have_pc(env, pc);
        }
        env.counters.pdtc_miss += 1;
        self.hit = false;
        self.pdtc_missed = true;
        let mode = self.dc.pdt_mode().unwrap_or(PdtMode::Bare);
        self.dir_level = mode.levels() - 1;
        self.dir_addr = self.dc.fsc_ppn() << 12;
        self.pdt_next(env)
    }

    // ---- process context ------------------------------------------------------

    /// "Process to locate the Process-context", steps 2-3.
    #[inline(never)]
    fn pdt_next<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        let pid = self.pid.map_or(0, |p| p.0);
        let addr = if self.dir_level != 0 {
            self.dir_addr + context::pdi(pid, self.dir_level) * 8
        } else {
            self.dir_addr + context::pdi(pid, 0) * 16
        };
        if self.g.is_some() {
            // The PDT lives in guest memory: translate its address as an implicit
            // read of the first stage.
            return self.start_gs(env, addr, GsFor::Pdt, Access::Read);
        }
        self.pdt_read(env, addr)
    }

    fn pdt_read<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, spa: u64) -> Step {
        if self.dir_level == 0 {
            self.read(env, spa, 2, Wait::Pc)
        } else {
            self.read(env, spa, 1, Wait::PdtEntry)
        }
    }

    #[inline(never)]
    fn on_pdt_entry<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, raw: u64) -> Step {
        let e = if self.dc.sbe() { raw.swap_bytes() } else { raw };
        if e & 1 == 0 {
            return self.fault(env, Cause::PDT_NOT_VALID, 0);
        }
        if e & context::DIR_NONLEAF_RESERVED != 0 {
            return self.fault(env, Cause::PDT_MISCONFIGURED, 0);
        }
        self.dir_level -= 1;
        self.dir_addr = context::dir_nonleaf_ppn(e) << 12;
        self.pdt_next(env)
    }

    #[inline(never)]
    fn on_pc<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, words: &[u64]) -> Step {
        let sw = |w: u64| if self.dc.sbe() { w.swap_bytes() } else { w };
        let pc = ProcessContext { ta: sw(words[0]), fsc: sw(words[1]) };
        if !pc.valid() {
            return self.fault(env, Cause::PDT_NOT_VALID, 0);
        }
        if pc.check(&self.dc, env.regs).is_err() {
            return self.fault(env, Cause::PDT_MISCONFIGURED, 0);
        }
        self.fill_pc = pc;
        if self.pause {
            self.wait = Wait::Cache(CacheOp::PdtcFill);
            return Step::Cache;
        }
        self.pdtc_fill(env)
    }

    fn pdtc_fill<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        let pc = self.fill_pc;
        if env.caches.epoch == self.epoch {
            env.caches.pdtc.insert(self.req.device_id, self.pid.unwrap_or_default(), pc);
        }
        self.have_pc(env, pc)
    }

    /// Steps 15-16: supervisor requests need `ENS`.
    #[inline(never)]
    fn have_pc<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, pc: ProcessContext) -> Step {
        if self.req.pid.is_some() && self.req.privileged && !pc.ens() {
            return self.fault(env, Cause::TRANSACTION_DISALLOWED, 0);
        }
        self.sum = pc.sum();
        self.set_stages(env, pc.fsc_mode(), pc.fsc_ppn(), pc.pscid())
    }

    // ---- the IOTLB and the first stage ---------------------------------------

    fn features(regs: &Regs) -> PteFeatures {
        PteFeatures { svpbmt: regs.capabilities.svpbmt(), svrsw60t59b: regs.capabilities.svrsw60t59b() }
    }

    fn privileged(&self) -> bool {
        self.req.pid.is_some() && self.req.privileged
    }

    /// Step 17 onwards: both stages are known.
    #[inline(always)]
    fn set_stages<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, fs_mode: u8, root: u64, pscid: u32) -> Step {
        let fs_scheme = Scheme::first_stage(fs_mode, self.dc.sxl());
        self.fs_active = fs_scheme.is_some();
        self.space = AddressSpace::new(self.g.map(|_| self.dc.gscid()), fs_scheme.map(|_| pscid));
        self.fs_scheme = fs_scheme;
        self.fs_root = root;
        if fs_scheme.is_none() && self.g.is_none() {
            return self.success(env, self.req.iova.0, Source::Bare);
        }
        if self.pause {
            self.wait = Wait::Cache(CacheOp::IotlbLookup);
            return Step::Cache;
        }
        self.iotlb_lookup(env)
    }

    /// The IOTLB lookup, then the first stage (or straight to the G-stage).
    #[inline(always)]
    fn iotlb_lookup<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        let (fs_scheme, root) = (self.fs_scheme, self.fs_root);
        let iova = self.req.iova.0;
        let hit = match env.caches.iotlb.lookup(self.space, iova) {
            Some(e) if e.permits(self.req.access, self.privileged(), self.sum) => Some(e.translate(iova)),
            _ => None,
        };
        self.hit = hit.is_some();
        if let Some(spa) = hit {
            env.counters.iotlb_hit += 1;
            return self.success(env, spa, Source::Iotlb);
        }
        env.counters.iotlb_miss += 1;
        let Some(scheme) = fs_scheme else {
            self.gpa = iova;
            return self.after_first_stage(env);
        };
        self.fs.reset(WalkParams {
            scheme,
            root_ppn: root,
            va: iova,
            kind: StageKind::First { privileged: self.privileged(), sum: self.sum },
            perm: self.req.access,
            ade: self.dc.sade(),
            features: Self::features(env.regs),
        });
        let step = self.fs.start();
        if step == WalkStep::PageFault {
            self.ending = Ending::BadAddress(PteStage::First);
        }
        self.fs_step(env, step)
    }

    /// Runs the first-stage walk from `step`. Without a G-stage, PTEs are read in a
    /// tight loop for as long as the port answers at once; with one, each PTE
    /// address first goes through a G-stage walk.
    fn fs_step<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, mut step: WalkStep) -> Step {
        loop {
            step = match step {
                WalkStep::Read => {
                    let addr = self.fs.pte_addr();
                    self.fs_pte_addr = addr;
                    if self.g.is_some() {
                        return self.start_gs(env, addr, GsFor::FsPteRead, Access::Read);
                    }
                    self.fs_pte_spa = addr;
                    match self.fs_read_now(env) {
                        Ok(next) => next,
                        Err(step) => return step,
                    }
                }
                WalkStep::Update => {
                    self.fs_new = self.fs.update().1;
                    if self.g.is_some() {
                        // The A/D update is an implicit write: the G-stage must
                        // allow it, and may itself need D set.
                        return self.start_gs(env, self.fs_pte_addr, GsFor::FsPteWrite, Access::Write);
                    }
                    return self.fs_update(env);
                }
                WalkStep::Done => {
                    let leaf = self.fs.leaf();
                    self.fs_leaf = Some(leaf);
                    self.gpa = leaf.pa;
                    return self.after_first_stage(env);
                }
                WalkStep::PageFault => return self.fault(env, Cause::page_fault(self.req.access), 0),
            }
        }
    }

    /// Reads the first-stage PTE at `fs_pte_spa`: `Ok` with the walk's next step
    /// if the port answered, else `Err` with the step to return.
    #[inline]
    fn fs_read_now<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Result<WalkStep, Step> {
        let addr = self.fs_pte_spa;
        if !self.counted_access(env, addr, 1, false) {
            self.ending = Ending::BeyondPas(Wait::FsPte);
            return Err(self.access_fault(env, Wait::FsPte));
        }
        let mut w = [0u64];
        match env.port.read_now(Spa(addr & !7), &mut w) {
            None => Err(self.defer_read(addr, 1, Wait::FsPte)),
            Some(Err(_)) => Err(self.access_fault(env, Wait::FsPte)),
            Some(Ok(())) => {
                self.fs_raw = w[0];
                let bytes = self.fs.params().scheme.pte_bytes;
                Ok(self.fs.pte(pte_from_word(w[0], self.fs_pte_addr, bytes, self.dc.sbe())))
            }
        }
    }

    /// Reads the first-stage PTE whose SPA the G-stage just gave.
    fn fs_read<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        match self.fs_read_now(env) {
            Ok(next) => self.fs_step(env, next),
            Err(step) => step,
        }
    }

    /// Issues the compare-and-swap of the first-stage PTE at `fs_pte_spa`.
    fn fs_update<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        let s = self.fs.params().scheme;
        let raw_new = pte_into_word(self.fs_raw, self.fs_pte_spa, s.pte_bytes, self.dc.sbe(), self.fs_new);
        self.cas(env, self.fs_pte_spa, self.fs_raw, raw_new, Wait::FsPteUpdate)
    }

    // ---- MSI and the G-stage ---------------------------------------------------

    /// Step 18 and 19: MSI recognition, else the G-stage.
    #[inline(never)]
    fn after_first_stage<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        let dc = self.dc;
        if self.extended && dc.msiptp_mode() == 1 {
            let page = self.gpa >> 12;
            let mask = dc.msi_mask();
            if page & !mask == dc.msi_pattern() & !mask {
                let file = extract(page, mask);
                let addr = (dc.msiptp_ppn() << 12) | (file << 4);
                return self.read(env, addr, 2, Wait::MsiPte);
            }
        }
        match self.g {
            Some(_) => self.start_gs(env, self.gpa, GsFor::Final, self.req.access),
            None => self.complete(env, self.gpa, None),
        }
    }

    /// "Process to translate addresses of MSIs", steps 7-16.
    #[inline(never)]
    fn on_msi_pte<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, words: &[u64]) -> Step {
        let sw = |w: u64| {
            if env.regs.fctl.be() {
                w.swap_bytes()
            } else {
                w
            }
        };
        let (w0, w1) = (sw(words[0]), sw(words[1]));
        if w0 & 1 == 0 {
            return self.fault(env, Cause::MSI_PTE_NOT_VALID, 0);
        }
        // C=1 is implementation-defined; this implementation defines nothing for
        // it, so such a PTE is misconfigured.
        if w0 >> 63 != 0 {
            return self.fault(env, Cause::MSI_PTE_MISCONFIGURED, 0);
        }
        match (w0 >> 1) & 3 {
            3 => {
                // Basic translate mode: bits 9:3 and 62:54 of the first doubleword
                // and all of the second are reserved.
                if w0 & ((0x7f << 3) | (0x1ff << 54)) != 0 || w1 != 0 {
                    return self.fault(env, Cause::MSI_PTE_MISCONFIGURED, 0);
                }
                if self.req.access == Access::Exec {
                    return self.fault(env, Cause::INSTRUCTION_ACCESS, 0);
                }
                let spa = (((w0 >> 10) & ((1 << 44) - 1)) << 12) | (self.gpa & 0xfff);
                self.success(env, spa, Source::Msi)
            }
            // MRIF mode (1) is not modelled: with capabilities.MSI_MRIF clear it is
            // misconfigured as the specification says; with it set this model
            // still reports it misconfigured (see the README's limits). Modes 0
            // and 2 are misconfigured.
            _ => self.fault(env, Cause::MSI_PTE_MISCONFIGURED, 0),
        }
    }

    fn start_gs<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, gpa: u64, purpose: GsFor, perm: Access) -> Step {
        let scheme = self.g.expect("G-stage walk without a G-stage");
        self.gs_for = purpose;
        self.gs.reset(WalkParams {
            scheme,
            root_ppn: self.dc.iohgatp_ppn(),
            va: gpa,
            kind: StageKind::G,
            perm,
            ade: self.dc.gade(),
            features: Self::features(env.regs),
        });
        let step = self.gs.start();
        if step == WalkStep::PageFault {
            self.ending = Ending::BadAddress(PteStage::G);
        }
        self.gs_step(env, step)
    }

    /// Runs the G-stage walk from `step` for as long as the port answers at once
    /// (a tight loop for the golden model), then continues with what the walk was
    /// for.
    fn gs_step<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, mut step: WalkStep) -> Step {
        let be = env.regs.fctl.be();
        loop {
            step = match step {
                WalkStep::Read => {
                    let addr = self.gs.pte_addr();
                    if !self.counted_access(env, addr, 1, false) {
                        self.ending = Ending::BeyondPas(Wait::GsPte);
                        return self.access_fault(env, Wait::GsPte);
                    }
                    let mut w = [0u64];
                    match env.port.read_now(Spa(addr & !7), &mut w) {
                        None => return self.defer_read(addr, 1, Wait::GsPte),
                        Some(Err(_)) => return self.access_fault(env, Wait::GsPte),
                        Some(Ok(())) => {
                            self.gs_raw = w[0];
                            let bytes = self.gs.params().scheme.pte_bytes;
                            self.gs.pte(pte_from_word(w[0], addr, bytes, be))
                        }
                    }
                }
                WalkStep::Update => {
                    let addr = self.gs.pte_addr();
                    let s = self.gs.params().scheme;
                    let raw_new = pte_into_word(self.gs_raw, addr, s.pte_bytes, be, self.gs.update().1);
                    if !self.counted_access(env, addr, 1, true) {
                        self.ending = Ending::BeyondPas(Wait::GsPteUpdate);
                        return self.access_fault(env, Wait::GsPteUpdate);
                    }
                    match env.port.cas_now(Spa(addr & !7), self.gs_raw, raw_new) {
                        None => return self.defer_cas(addr, self.gs_raw, raw_new, Wait::GsPteUpdate),
                        Some(Err(_)) => return self.access_fault(env, Wait::GsPteUpdate),
                        Some(Ok(old)) => self.gs.updated(old == self.gs_raw),
                    }
                }
                WalkStep::Done => return self.gs_done(env, self.gs.leaf()),
                WalkStep::PageFault => return self.gs_fault(env),
            }
        }
    }

    fn gs_done<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, leaf: Leaf) -> Step {
        match self.gs_for {
            GsFor::Pdt => self.pdt_read(env, leaf.pa),
            GsFor::FsPteRead => {
                self.fs_pte_spa = leaf.pa;
                self.fs_read(env)
            }
            GsFor::FsPteWrite => {
                self.fs_pte_spa = leaf.pa;
                self.fs_update(env)
            }
            GsFor::Final => self.complete(env, leaf.pa, Some(leaf)),
        }
    }

    #[inline(never)]
    fn gs_fault<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        // iotval2 holds GPA bits 63:2; bit 0 marks an implicit access for the
        // first stage (PDT and first-stage PTE accesses), bit 1 an implicit write
        // ("Fault/Event-Queue").
        let gpa = self.gs.params().va & !3;
        let flags = match self.gs_for {
            GsFor::Pdt | GsFor::FsPteRead => 1,
            GsFor::FsPteWrite => 3,
            GsFor::Final => 0,
        };
        self.fault(env, Cause::guest_page_fault(self.req.access), gpa | flags)
    }

    /// Step 20: the translation is complete; cache it.
    #[inline(never)]
    fn complete<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>, spa: u64, gs_leaf: Option<Leaf>) -> Step {
        self.fill_spa = spa;
        self.fill_gs_leaf = gs_leaf;
        if self.pause {
            self.wait = Wait::Cache(CacheOp::IotlbFill);
            return Step::Cache;
        }
        self.iotlb_fill(env)
    }

    fn iotlb_fill<P: Port + ?Sized>(&mut self, env: &mut Env<'_, P>) -> Step {
        let (spa, gs_leaf) = (self.fill_spa, self.fill_gs_leaf);
        if env.caches.epoch == self.epoch {
            let fs_shift = self.fs_leaf.map_or(64, |l| l.page_shift);
            let gs_shift = gs_leaf.map_or(64, |l| l.page_shift);
            let shift = fs_shift.min(gs_shift);
            let mask = (1u64 << shift) - 1;
            let mut p = 0u16;
            let mut dirty = true;
            if let Some(l) = self.fs_leaf {
                p |= perm::FS;
                p |= perm::from_first_stage(l.pte);
                dirty &= l.pte.d();
            }
            if let Some(l) = gs_leaf {
                p |= perm::GS;
                p |= perm::from_g_stage(l.pte);
                dirty &= l.pte.d();
            }
            if dirty {
                p |= perm::DIRTY;
            }
            env.caches.iotlb.insert(IotlbEntry {
                space: self.space,
                page_shift: shift as u8,
                iova_base: self.req.iova.0 & !mask,
                spa_base: spa & !mask,
                gpa_base: self.gpa & !mask,
                fs_shift: fs_shift as u8,
                gs_shift: gs_shift as u8,
                perm: p,
            });
        }
        self.success(env, spa, Source::Walk)
    }
}

/// `extract(x, y)` of "Process to translate addresses of MSIs": the bits of `x`
/// where `mask` has ones, packed at the low end.
pub fn extract(x: u64, mask: u64) -> u64 {
    let mut out = 0;
    let mut pos = 0;
    let mut m = mask;
    while m != 0 {
        let low = m.trailing_zeros();
        out |= ((x >> low) & 1) << pos;
        pos += 1;
        m &= m - 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_packs_selected_bits() {
        // The specification's example: x = abcdefgh, y = 10100110 -> 0000acfg.
        let x = 0b1001_0100; // a=1 b=0 c=0 d=1 e=0 f=1 g=0 h=0
        let y = 0b1010_0110;
        assert_eq!(extract(x, y), 0b1010);
        assert_eq!(extract(0xff, 0), 0);
        assert_eq!(extract(0xabc, 0xfff), 0xabc);
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod rule_tests;
