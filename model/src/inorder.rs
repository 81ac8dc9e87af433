//! The in-order microarchitecture of our RTL (`rtl/iommu_top.sv`), cycle for
//! cycle: the timing model an architect sweeps when the answer must be what the
//! RTL would show, and the reference the co-simulation holds the RTL's cycle
//! counts to.
//!
//! Like [`crate::timing::TimingModel`] it is layered on the golden model's
//! functional path: every request runs the same [`Translation`] step machine
//! (paused before each cache access the RTL makes through its shared cache port,
//! [`Translation::set_pause_at_caches`]) on the golden model's caches. Only time,
//! and the order of cache accesses that time decides, are added.
//!
//! The unit, as `rtl/iommu_top.sv` builds it (cycle definitions in
//! `docs/design.md`, "Two interfaces"):
//! - A request queue of `request_queue` entries; a request is issued on the cycle
//!   the queue takes it (not when full) and can be looked up from the next cycle.
//! - S1 (`rtl/iommu_lookup.sv`) takes the queue's head when S2 is empty or moves
//!   on this cycle: mode and device-ID checks, the DDTC, the device context's
//!   checks and, on a DDTC hit, the PDTC, all in one cycle. S2, the next cycle,
//!   looks up the IOTLB. A hit, or an answer S1 found, leaves on S2's cycle
//!   (latency 2) when no walker is responding; a miss goes to the lowest-numbered
//!   idle walker, with how far the lookup got (DDTC miss, PDTC miss, IOTLB miss).
//!   S2 holds (and looks again every cycle, touching the replacement state only
//!   when it moves on) while it cannot go; S1 then holds too. There is no miss
//!   queue and no merging of walks.
//! - `walkers` walkers (`rtl/iommu_ptw.sv`) each spend one cycle in every state
//!   of their state machine; `route` lists the states between two accesses.
//!   Memory accesses go through one port, lowest-numbered walker first, one a
//!   cycle while fewer than `mem_outstanding` are in flight; an access is made on
//!   the cycle the port takes it and its answer arrives
//!   `mem_latency + (words - 1) * mem_beat_cycles` cycles later. Cache lookups
//!   and fills of the walkers share one cache port, lowest-numbered walker
//!   first, one a cycle.
//! - One response leaves per cycle: walkers first (lowest number), then S2.
//! - A command takes effect in the cycle it is offered: its invalidation is seen
//!   by that cycle's lookups; every translation in flight, and the one S1 takes
//!   that cycle, may no longer fill a cache, and no fill happens in that cycle.
//! - Within a cycle the caches see the invalidation, then the lookups of S1 and
//!   S2, then the walkers' cache port (`rtl/iommu_iotlb.sv`, "One clock edge").

use crate::caches::Caches;
use crate::command::{self, CommandError};
use crate::fault::FaultRecord;
use crate::memory::Memory;
use crate::regs::Regs;
use crate::request::Request;
use crate::stats::Counters;
use crate::timing::{record, Completion, CycleDevice, TimingConfig};
use crate::translate::{CacheOp, Deferred, Ending, Env, GsFor, PteStage, Reply, Source, Step, Translation, Wait};
use std::collections::VecDeque;

/// Where a walk starts: how far the lookup pipeline got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// DDTC miss: from the DDT root.
    Ddt,
    /// DDTC hit, PDTC miss: from the PDT root.
    Pdt,
    /// Contexts cached, IOTLB miss: the stages.
    Stages,
}

/// What S2 does with its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum S2Does {
    /// S1 found the answer (a fault, Bare).
    Answer,
    /// Look up the IOTLB.
    Iotlb,
    /// Hand it to a walker.
    Walk(Start),
}

struct Queued {
    tag: u32,
    req: Request,
    issued: u64,
}

struct InS2 {
    tag: u32,
    issued: u64,
    does: S2Does,
    /// Where S1 left the translation.
    step: Step,
    t: Box<Translation>,
}

/// A walker's state, as far as time is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Free.
    Idle,
    /// Asking the memory port for the pending access.
    Mem,
    /// Waiting for a memory answer.
    MemWait,
    /// Asking the cache port for the pending cache access.
    Cache,
    /// Offering the answer to the response port.
    Resp,
}

struct Walker {
    phase: Phase,
    /// The cycle from which `phase` is active (the states before it take one
    /// cycle each).
    from: u64,
    tag: u32,
    issued: u64,
    t: Box<Translation>,
    /// The pending memory answer: due cycle, data or access fault, CAS result.
    due: u64,
    data: [u64; 8],
    failed: bool,
    swapped: Option<u64>,
    /// What the answered access was.
    answering: Wait,
}

/// The point of a walk a transition leaves from: a walk's start, a memory answer
/// (by what was read) or a cache access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum From {
    Start(Start),
    Answer(Wait),
    Cache(CacheOp),
}

/// What comes next, from the translation's state after a resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Access(Wait),
    Cache,
    /// Done, decided where it stands.
    Finish,
    /// Done: the access `Wait` reaches beyond PAS (found in its request state).
    Pas(Wait),
    /// Done: a bad address, found where the stage's walk starts.
    BadAddress(PteStage),
}

fn next_of(t: &Translation, step: Step) -> Next {
    match step {
        Step::Read | Step::CompareAndSwap => Next::Access(t.waiting_for()),
        Step::Cache => Next::Cache,
        Step::Done => match t.ending() {
            Ending::Here => Next::Finish,
            Ending::BeyondPas(w) => Next::Pas(w),
            Ending::BadAddress(s) => Next::BadAddress(s),
        },
    }
}

/// The target of an access: its request state, or the response one cycle after
/// the request state found it beyond PAS.
fn access(next: Next) -> (u64, Phase) {
    match next {
        Next::Access(_) => (0, Phase::Mem),
        Next::Pas(_) => (1, Phase::Resp),
        Next::Cache => (0, Phase::Cache),
        Next::Finish => (0, Phase::Resp),
        // Found in the StGsStart/StFsStart state the caller counted.
        Next::BadAddress(_) => (0, Phase::Resp),
    }
}

/// Whether `next` is (or failed) a G-stage access: reaching it passes through
/// `StGsStart` (one cycle) unless it continues a walk.
fn is_gs(next: Next) -> bool {
    matches!(
        next,
        Next::Access(Wait::GsPte | Wait::GsPteUpdate)
            | Next::Pas(Wait::GsPte | Wait::GsPteUpdate)
            | Next::BadAddress(PteStage::G)
    )
}

/// After `StPdtAddr`: the PDT read, or a G-stage walk of its address
/// (`StGsStart`, then `StGsReq`).
fn pdt_access(next: Next) -> (u64, Phase) {
    let (n, p) = access(next);
    (n + u64::from(is_gs(next)), p)
}

/// After `StFsAddr`: the first-stage PTE read, or a G-stage walk of its address.
fn fs_access(next: Next) -> (u64, Phase) {
    pdt_access(next)
}

/// After `StAfterFs`: the MSI PTE read, the final G-stage walk (`StGsStart`
/// first), or the IOTLB fill.
fn after_fs(next: Next) -> (u64, Phase) {
    pdt_access(next)
}

/// After `StStages` with the IOTLB looked up: `StFsStart`, `StFsAddr` and the
/// first stage, or `StAfterFs` and what follows it.
fn stages(t: &Translation, next: Next) -> (u64, Phase) {
    if t.first_stage_active() {
        if next == Next::BadAddress(PteStage::First) {
            return (1, Phase::Resp);
        }
        let (n, p) = fs_access(next);
        (2 + n, p)
    } else {
        let (n, p) = after_fs(next);
        (1 + n, p)
    }
}

fn plus(k: u64, (n, p): (u64, Phase)) -> (u64, Phase) {
    (k + n, p)
}

/// The states a walker passes through from `from` to what the translation asks
/// next: how many one-cycle states lie between, and the state that waits (for
/// the memory port, the cache port or the response port). Mirrors the
/// transitions of `rtl/iommu_ptw.sv`.
fn route(from: From, t: &Translation, step: Step) -> (u64, Phase) {
    let next = next_of(t, step);
    match from {
        From::Start(Start::Ddt) => access(next),
        // StPdtStart, StPdtAddr.
        From::Start(Start::Pdt) => plus(2, pdt_access(next)),
        // StStages (the IOTLB was looked up in S2).
        From::Start(Start::Stages) => plus(1, stages(t, next)),
        From::Answer(Wait::DdtEntry | Wait::Dc) => access(next),
        From::Cache(CacheOp::DdtcFill) => match (next, t.cache_op()) {
            // StDc, then the PDTC lookup.
            (Next::Cache, Some(CacheOp::PdtcLookup)) => (1, Phase::Cache),
            // StDc, StStages, then the IOTLB lookup.
            (Next::Cache, _) => (2, Phase::Cache),
            // StDc finds a context fault; a Bare answer passes StStages.
            _ if t.source() == Source::Bare => (2, Phase::Resp),
            _ => (1, Phase::Resp),
        },
        From::Cache(CacheOp::PdtcLookup) => {
            if t.last_lookup_hit() {
                // StStages: the IOTLB lookup, or a context fault or Bare answer.
                plus(1, access(next))
            } else {
                // StPdtStart, StPdtAddr.
                plus(2, pdt_access(next))
            }
        }
        From::Answer(Wait::PdtEntry | Wait::Pc) => match next {
            Next::Cache | Next::Finish => access(next),
            // StPdtAddr, then the next level.
            _ => plus(1, pdt_access(next)),
        },
        // StStages.
        From::Cache(CacheOp::PdtcFill) => plus(1, access(next)),
        From::Cache(CacheOp::IotlbLookup) => {
            if t.last_lookup_hit() {
                (0, Phase::Resp)
            } else {
                plus(1, stages(t, next))
            }
        }
        From::Answer(Wait::FsPte) => {
            let gs_for = t.gs_purpose();
            match next {
                Next::Finish => (0, Phase::Resp),
                // The next level: StFsAddr.
                Next::Access(Wait::FsPte) | Next::Pas(Wait::FsPte) => plus(1, fs_access(next)),
                _ if is_gs(next) && gs_for == GsFor::FsPteRead => plus(1, fs_access(next)),
                // The A/D update: StFsCas, or the G-stage walk of its address.
                Next::Access(Wait::FsPteUpdate) | Next::Pas(Wait::FsPteUpdate) => access(next),
                _ if is_gs(next) && gs_for == GsFor::FsPteWrite => plus(1, access(next)),
                // The leaf: StAfterFs.
                _ => plus(1, after_fs(next)),
            }
        }
        From::Answer(Wait::FsPteUpdate) => {
            let gs_for = t.gs_purpose();
            match next {
                Next::Finish => (0, Phase::Resp),
                // The PTE changed: read it again from StFsAddr.
                Next::Access(Wait::FsPte) | Next::Pas(Wait::FsPte) => plus(1, fs_access(next)),
                _ if is_gs(next) && gs_for == GsFor::FsPteRead => plus(1, fs_access(next)),
                // Updated: StFsNewLeaf, StAfterFs.
                _ => plus(2, after_fs(next)),
            }
        }
        // The next level, the A/D update or what the walk was for: no state
        // between.
        From::Answer(Wait::GsPte) => access(next),
        From::Answer(Wait::GsPteUpdate) => match next {
            Next::Finish => (0, Phase::Resp),
            // The PTE changed: read it again.
            Next::Access(Wait::GsPte) | Next::Pas(Wait::GsPte) => access(next),
            // Updated: StGsNewLeaf.
            _ => plus(1, access(next)),
        },
        From::Answer(Wait::MsiPte) | From::Cache(CacheOp::IotlbFill) => (0, Phase::Resp),
        From::Answer(w) => unreachable!("an answer to {w:?}"),
    }
}

fn resume(regs: &Regs, caches: &mut Caches, counters: &mut Counters, t: &mut Translation, reply: Reply<'_>) -> Step {
    let mut env = Env { regs, caches, counters, port: &mut Deferred };
    t.resume(&mut env, reply)
}

/// The in-order timing model. See the module documentation.
pub struct InOrderModel {
    config: TimingConfig,
    regs: Regs,
    caches: Caches,
    counters: Counters,
    cycle: u64,
    queue: VecDeque<Queued>,
    s2: Option<InS2>,
    walkers: Vec<Walker>,
    mem_inflight: usize,
    command: Option<command::Command>,
    done: Vec<Completion>,
    faults: Vec<FaultRecord>,
    #[allow(clippy::vec_box)] // boxes move between S2, the walkers and here
    spare: Vec<Box<Translation>>,
}

fn blank() -> Box<Translation> {
    Box::new(Translation::new(Request::default()))
}

impl InOrderModel {
    /// A model of the given configuration, reset with `regs`. Of the
    /// configuration it uses `request_queue`, `walkers`, the caches and the
    /// memory; the lookup latency is the pipeline's (2 cycles), and there is no
    /// miss queue, merging or walk cache.
    pub fn new(config: TimingConfig, regs: Regs) -> Self {
        let walkers = (0..config.walkers.max(1))
            .map(|_| Walker {
                phase: Phase::Idle,
                from: 0,
                tag: 0,
                issued: 0,
                t: blank(),
                due: 0,
                data: [0; 8],
                failed: false,
                swapped: None,
                answering: Wait::Nothing,
            })
            .collect();
        InOrderModel {
            config,
            regs,
            caches: Caches::new(&config.caches),
            counters: Counters::default(),
            cycle: 0,
            queue: VecDeque::new(),
            s2: None,
            walkers,
            mem_inflight: 0,
            command: None,
            done: Vec::new(),
            faults: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TimingConfig {
        &self.config
    }

    /// The caches.
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    fn finish(&mut self, tag: u32, issued: u64, t: &Translation) {
        record(&mut self.done, &mut self.faults, t, (tag, issued, self.cycle), false);
    }

    fn resume(&mut self, t: &mut Translation, reply: Reply<'_>) -> Step {
        resume(&self.regs, &mut self.caches, &mut self.counters, t, reply)
    }

    /// Resumes walker `w`'s translation.
    fn resume_walker(&mut self, w: usize, reply: Reply<'_>) -> Step {
        resume(&self.regs, &mut self.caches, &mut self.counters, &mut self.walkers[w].t, reply)
    }

    /// Moves walker `w` on after a transition decided at this cycle.
    fn go(&mut self, w: usize, from: From, step: Step) {
        let (fillers, phase) = route(from, &self.walkers[w].t, step);
        let wk = &mut self.walkers[w];
        wk.phase = phase;
        wk.from = self.cycle + 1 + fillers;
    }

    /// The response port: the lowest-numbered walker with an answer, else S2.
    /// Returns whether a walker offered an answer this cycle.
    fn respond(&mut self) -> bool {
        let now = self.cycle;
        let Some(w) = self.walkers.iter().position(|w| w.phase == Phase::Resp && w.from <= now) else {
            return false;
        };
        let wk = &self.walkers[w];
        record(&mut self.done, &mut self.faults, &wk.t, (wk.tag, wk.issued, now), false);
        self.walkers[w].phase = Phase::Idle;
        self.walkers[w].from = now + 1;
        true
    }

    fn idle_walker(&self) -> Option<usize> {
        let now = self.cycle;
        self.walkers.iter().position(|w| w.phase == Phase::Idle && w.from <= now)
    }

    /// S2: answers, looks up the IOTLB or hands its request to a walker. Returns
    /// whether it is free for S1's next request.
    fn stage2(&mut self, walker_answers: bool) -> bool {
        let Some(mut s2) = self.s2.take() else { return true };
        let answers = match s2.does {
            S2Does::Answer => true,
            S2Does::Iotlb => s2.t.iotlb_would_hit(&self.caches),
            S2Does::Walk(_) => false,
        };
        let walker = if answers { None } else { self.idle_walker() };
        let fires = if answers { !walker_answers } else { walker.is_some() };
        if !fires {
            self.s2 = Some(s2);
            return false;
        }
        let (start, step) = match s2.does {
            S2Does::Iotlb => {
                let step = self.resume(&mut s2.t, Reply::Go);
                debug_assert_eq!(step == Step::Done && s2.t.last_lookup_hit(), answers);
                (Start::Stages, step)
            }
            S2Does::Walk(start) => (start, s2.step),
            S2Does::Answer => (Start::Stages, s2.step),
        };
        match walker {
            None => {
                self.finish(s2.tag, s2.issued, &s2.t);
                self.spare.push(s2.t);
            }
            Some(w) => {
                let wk = &mut self.walkers[w];
                wk.tag = s2.tag;
                wk.issued = s2.issued;
                let old = std::mem::replace(&mut wk.t, s2.t);
                self.spare.push(old);
                self.go(w, From::Start(start), step);
            }
        }
        true
    }

    /// S1: takes the queue's head when S2 is free.
    fn stage1(&mut self, inval: bool) {
        let Some(q) = self.queue.front() else { return };
        if q.issued >= self.cycle {
            return; // taken this cycle: in the queue from the next
        }
        let q = self.queue.pop_front().expect("head");
        let mut t = self.spare.pop().unwrap_or_else(blank);
        t.restart(q.req);
        t.set_pause_at_caches(true);
        let step = self.resume(&mut t, Reply::Start);
        if inval {
            t.forbid_fills();
        }
        let does = if t.ddtc_missed() {
            S2Does::Walk(Start::Ddt)
        } else if t.pdtc_missed() {
            S2Does::Walk(Start::Pdt)
        } else if step == Step::Cache {
            S2Does::Iotlb
        } else {
            S2Does::Answer
        };
        self.s2 = Some(InS2 { tag: q.tag, issued: q.issued, does, step, t });
    }

    /// Memory answers due this cycle.
    fn answers(&mut self) {
        let now = self.cycle;
        for w in 0..self.walkers.len() {
            if self.walkers[w].phase != Phase::MemWait || self.walkers[w].due != now {
                continue;
            }
            self.mem_inflight -= 1;
            let wk = &self.walkers[w];
            let (data, failed, swapped, answering) = (wk.data, wk.failed, wk.swapped, wk.answering);
            let words = usize::from(wk.t.mem_op().words);
            let reply = match (failed, swapped) {
                (true, _) => Reply::AccessFault,
                (false, Some(old)) => Reply::Swapped { old },
                (false, None) => Reply::Data(&data[..words]),
            };
            let step = self.resume_walker(w, reply);
            self.go(w, From::Answer(answering), step);
        }
    }

    /// The memory port: the lowest-numbered walker asking, if the memory takes
    /// another access.
    fn memory(&mut self, mem: &mut dyn Memory) {
        if self.mem_inflight >= self.config.mem_outstanding.max(1) {
            return;
        }
        let now = self.cycle;
        let Some(w) = self.walkers.iter().position(|w| w.phase == Phase::Mem && w.from <= now) else { return };
        let (lat, beat) = (self.config.mem_latency, self.config.mem_beat_cycles);
        let wk = &mut self.walkers[w];
        let op = wk.t.mem_op();
        wk.answering = wk.t.waiting_for();
        if op.words == 0 {
            let r = mem.compare_and_swap(op.addr, op.expected, op.new);
            wk.failed = r.is_err();
            wk.swapped = r.ok();
            wk.due = now + lat.max(1);
        } else {
            wk.failed = mem.read_words(op.addr, &mut wk.data[..usize::from(op.words)]).is_err();
            wk.swapped = None;
            wk.due = (now + lat + u64::from(op.words - 1) * beat).max(now + 1);
        }
        wk.phase = Phase::MemWait;
        self.mem_inflight += 1;
    }

    /// The walkers' cache port: fills that may not happen go on without it; of
    /// the rest, the lowest-numbered walker is served.
    fn cache_port(&mut self) {
        let now = self.cycle;
        let mut granted = false;
        for w in 0..self.walkers.len() {
            let wk = &self.walkers[w];
            if wk.phase != Phase::Cache || wk.from > now {
                continue;
            }
            let op = wk.t.cache_op().expect("paused at a cache access");
            let fill = matches!(op, CacheOp::DdtcFill | CacheOp::PdtcFill | CacheOp::IotlbFill);
            let asks = !fill || wk.t.fill_allowed(&self.caches);
            if asks {
                if granted {
                    continue;
                }
                granted = true;
            }
            let step = self.resume_walker(w, Reply::Go);
            self.go(w, From::Cache(op), step);
        }
    }
}

impl CycleDevice for InOrderModel {
    fn reset(&mut self, regs: &Regs) {
        *self = InOrderModel::new(self.config, *regs);
    }

    fn try_issue(&mut self, tag: u32, req: &Request) -> bool {
        if self.queue.len() >= self.config.request_queue.max(1) {
            return false;
        }
        self.queue.push_back(Queued { tag, req: *req, issued: self.cycle });
        true
    }

    fn tick(&mut self, mem: &mut dyn Memory) {
        // The command of this cycle: its invalidation first; every translation
        // begun before it may no longer fill (Caches::epoch moves on).
        let inval = if let Some(c) = self.command.take() {
            self.caches.execute(&c);
            true
        } else {
            false
        };
        let walker_answers = self.respond();
        if self.stage2(walker_answers) {
            self.stage1(inval);
        }
        self.answers();
        self.memory(mem);
        self.cache_port();
        self.cycle += 1;
    }

    fn take_completions(&mut self, out: &mut Vec<Completion>) {
        out.append(&mut self.done);
    }

    /// Takes the command for the next cycle, where it takes effect; the
    /// IOFENCE.C completion write is made at once.
    fn command(&mut self, mem: &mut dyn Memory, cmd: [u64; 2]) -> Result<(), CommandError> {
        let c = command::decode(cmd, &self.regs)?;
        c.completion_write(mem)?;
        self.command = Some(c);
        Ok(())
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn cycle(&self) -> u64 {
        self.cycle
    }

    fn idle(&self) -> bool {
        self.queue.is_empty() && self.s2.is_none() && self.walkers.iter().all(|w| w.phase == Phase::Idle)
    }

    fn drain_faults(&mut self, out: &mut Vec<FaultRecord>) {
        out.append(&mut self.faults);
    }

    fn skip_idle(&mut self, cycles: u64) {
        if self.idle() && self.command.is_none() {
            self.cycle += cycles;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{DeviceId, Iova};
    use crate::context::DeviceContext;
    use crate::iommu::Iommu;
    use crate::memory::SparseMemory;
    use crate::pte::{bits, Scheme};
    use crate::regs::{Capabilities, Ddtp, Fctl};
    use crate::request::{Access, Response, Status};
    use crate::tables::{self, tc, DeviceDirectory, PageSize, PageTable, Pages, Space};
    use crate::timing::{run_closed_loop, Microarch, TimingModel};
    use crate::{CacheConfig, Geometry, Replacement};

    /// One device (1-level DDT, base contexts) with Sv39 pages at 0x1000_0000.
    fn world() -> (SparseMemory, Regs) {
        let mut mem = SparseMemory::new();
        let mut pages = Pages::new(0x8000_0000, 0x9000_0000);
        let ddt = DeviceDirectory::new(&mut mem, &mut pages, 1, false).unwrap();
        let pt = PageTable::new(&mut mem, &mut pages, Space::Host, Scheme::SV39).unwrap();
        let dc =
            DeviceContext { tc: tc::V, ta: 1 << 12, fsc: tables::mode_ppn(8, pt.root_ppn()), ..Default::default() };
        ddt.set(&mut mem, &mut pages, 1, &dc).unwrap();
        for p in 0..64u64 {
            let flags = bits::R | bits::W | bits::U | bits::A | bits::D;
            pt.map(&mut mem, &mut pages, 0x1000_0000 + p * 4096, 0x4_0000_0000 + p * 4096, PageSize::K4, flags)
                .unwrap();
        }
        let regs = Regs { capabilities: Capabilities((1 << 9) | (46 << 32)), fctl: Fctl(0), ddtp: Ddtp(ddt.ddtp()) };
        (mem, regs)
    }

    fn read(iova: u64) -> Request {
        Request { device_id: DeviceId(1), pid: None, privileged: false, iova: Iova(iova), access: Access::Read, len: 8 }
    }

    /// The `small` RTL configuration's model (rtl/model/small.toml).
    fn rtl_small() -> TimingConfig {
        let plru = |sets| Geometry { sets, ways: 4, replacement: Replacement::PseudoLru };
        TimingConfig {
            microarch: Microarch::InOrder,
            request_queue: 4,
            walkers: 1,
            miss_queue: 0,
            caches: CacheConfig { iotlb: plru(4), ddtc: plru(4), pdtc: plru(4) },
            mem_latency: 100,
            mem_beat_cycles: 1,
            mem_outstanding: 16,
            ..TimingConfig::default()
        }
    }

    #[test]
    fn a_cold_walk_takes_one_cycle_per_walker_state() {
        let (mut mem, regs) = world();
        let mut m = InOrderModel::new(rtl_small(), regs);
        let c = run_closed_loop(&mut m, &mut mem, &[read(0x1000_0000)]);
        // Counted from the states of rtl/iommu_ptw.sv, issue at cycle 0: S1 at 1
        // (DDTC miss), S2 at 2 hands it to the walker; StDdtReq at 3, the 4-word
        // context due at 3 + 100 + 3 = 106; StDcFill 107, StDc 108, StStages 109,
        // StIotlb 110 (miss), StStages 111, StFsStart 112, StFsAddr 113, StFsReq
        // 114 (due 214), StFsAddr 215, StFsReq 216 (due 316), StFsAddr 317,
        // StFsReq 318 (due 418, the leaf), StAfterFs 419, StFill 420, StResp 421.
        assert_eq!((c[0].issued, c[0].completed), (0, 421));
        assert_eq!(c[0].source, Source::Walk);
        assert_eq!(c[0].reads, 4);
    }

    #[test]
    fn hits_take_two_cycles_one_per_cycle() {
        let (mut mem, regs) = world();
        let mut m = InOrderModel::new(rtl_small(), regs);
        run_closed_loop(&mut m, &mut mem, &[read(0x1000_0000)]);
        let start = m.cycle();
        let reqs: Vec<Request> = (0..8u64).map(|i| read(0x1000_0000 + i * 8)).collect();
        let c = run_closed_loop(&mut m, &mut mem, &reqs);
        for (i, x) in c.iter().enumerate() {
            assert_eq!(x.source, Source::Iotlb);
            assert_eq!(x.issued, start + i as u64, "request {i} issued back to back");
            assert_eq!(x.completed - x.issued, 2, "request {i}");
        }
    }

    #[test]
    fn with_one_walker_a_second_miss_holds_the_pipeline_and_the_hits_behind_it() {
        let (mut mem, regs) = world();
        let mut m = InOrderModel::new(rtl_small(), regs);
        run_closed_loop(&mut m, &mut mem, &[read(0x1000_0000)]);
        // Two misses to other pages, then a hit: no miss queue, no merging, so the
        // second miss waits in S2 for the walker and the hit waits behind it.
        let c = run_closed_loop(&mut m, &mut mem, &[read(0x1000_1000), read(0x1000_2000), read(0x1000_0010)]);
        assert!(c[1].completed > c[0].completed);
        assert_eq!(c[2].source, Source::Iotlb);
        assert!(c[2].completed > c[0].completed, "the hit cannot pass the held miss");
        // The decoupled model's miss queue lets the hit pass.
        let mut d =
            TimingModel::new(TimingConfig { microarch: Microarch::Decoupled, miss_queue: 8, ..rtl_small() }, regs);
        run_closed_loop(&mut d, &mut mem, &[read(0x1000_0000)]);
        let c = run_closed_loop(&mut d, &mut mem, &[read(0x1000_1000), read(0x1000_2000), read(0x1000_0010)]);
        assert!(c[2].completed < c[0].completed);
    }

    #[test]
    fn answers_and_counters_equal_the_golden_models() {
        let (mut mem, regs) = world();
        let reqs: Vec<Request> = (0..300u64).map(|i| read(0x1000_0000 + (i / 3 * 7919 % 70) * 4096 + i * 8)).collect();
        let mut golden = Iommu::with_regs(CacheConfig::DISABLED, regs);
        let mut gm = mem.clone();
        let want: Vec<Response> = reqs.iter().map(|r| golden.translate_in(&mut gm, r)).collect();
        let cfg = TimingConfig { walkers: 4, ..rtl_small() };
        let mut m = InOrderModel::new(cfg, regs);
        let got = run_closed_loop(&mut m, &mut mem, &reqs);
        assert_eq!(got.len(), reqs.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.response.status, g.response.spa), (w.status, w.spa));
        }
        let c = m.counters();
        assert_eq!(c.iotlb_hit + c.iotlb_miss, reqs.len() as u64);
        assert!(got.iter().any(|x| x.response.status == Status::Success && x.source == Source::Iotlb));
        // Pages 64 to 69 are unmapped: page faults.
        assert_eq!(c.faults, got.iter().filter(|x| x.response.status != Status::Success).count() as u64);
        assert!(c.faults > 0);
    }

    #[test]
    fn a_command_in_the_cycle_of_a_fill_stops_the_fill() {
        let (mut mem, regs) = world();
        let mut m = InOrderModel::new(rtl_small(), regs);
        // Walk, and invalidate everything on the cycle before the IOTLB fill
        // (cycle 420 of the cold walk above; the command is offered before tick 420).
        assert!(m.try_issue(0, &read(0x1000_0000)));
        let mut out = Vec::new();
        while m.cycle() < 420 {
            m.tick(&mut mem);
        }
        m.command(&mut mem, [1, 0]).unwrap(); // IOTINVAL.VMA, everything
        while out.is_empty() {
            m.tick(&mut mem);
            m.take_completions(&mut out);
        }
        assert_eq!(out[0].response.status, Status::Success);
        // The page was not cached: the next request walks again.
        let c = run_closed_loop(&mut m, &mut mem, &[read(0x1000_0008)]);
        assert_eq!(c[0].source, Source::Walk);
    }
}
