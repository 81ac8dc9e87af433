//! The cycle-level timing model of our IOMMU microarchitecture, layered on the
//! golden model's functional path: every request runs the same [`Translation`]
//! step machine, resumed at the cycle each memory response arrives, and the caches
//! are the golden model's caches. Only time is added.
//!
//! The microarchitecture, which the RTL implements cycle for cycle:
//! - A request port accepts one request per cycle into a request queue of
//!   `request_queue` entries (back-pressure when full). A request is issued on the
//!   cycle it is accepted.
//! - A lookup stage takes the oldest request `lookup_cycles` after its issue, one
//!   per cycle, and looks up the DDTC, PDTC and IOTLB. A hit (or a fault found
//!   without memory, or a Bare translation) completes on that cycle.
//! - A miss whose page (device, process, 4 KiB page) is being walked merges into
//!   that walk (`walk_merged`); when the walk ends the merged requests are looked
//!   up again, ahead of new requests. Any other miss takes a free walker, else waits
//!   in a miss queue of `miss_queue` entries; when that is full the lookup stage
//!   stalls.
//! - `walkers` page-table walkers each run one translation: each memory access
//!   goes to the memory port, which accepts one access per cycle and keeps at most
//!   `mem_outstanding` in flight; an access of `n` words completes
//!   `mem_latency + (n - 1) * mem_beat_cycles` cycles after it is accepted. The
//!   walk's translation completes on the cycle its last response arrives.
//! - Responses leave on the cycle they complete (the response port takes as many
//!   as complete in a cycle).
//!
//! - Optional walk caches, one per stage (`fs_walk_cache`, `gs_walk_cache`), hold
//!   the addresses of non-leaf PTEs read before. A walker's read of such a PTE is
//!   answered from the walk cache `walk_cache_cycles` after the port takes it,
//!   without a memory access (the port still takes one access per cycle, cached
//!   or not). Any IOTINVAL or IODIR command empties both walk caches: more than
//!   the specification requires (section 4.3: an invalidation covers at least the
//!   entries it names), never less.
//!
//! Memory is read and written (A/D compare-and-swap) when the memory port accepts
//! the access; the data arrives later. A walk-cache hit reads the same words (the
//! cache holds no data of its own), so no configuration can change an answer: a
//! walk cache only removes memory latency.

use crate::addr::DeviceId;
use crate::cache::{Geometry, SetAssoc};
use crate::caches::{CacheConfig, Caches};
use crate::command::{self, CommandError};
use crate::fault::FaultRecord;
use crate::memory::Memory;
use crate::regs::Regs;
use crate::request::{Request, Response};
use crate::stats::Counters;
use crate::translate::{Deferred, Env, MemOp, PteStage, Reply, Source, Step, Translation};
use std::collections::VecDeque;

/// Which microarchitecture the timing model simulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Microarch {
    /// The one of this module: a request queue, a lookup stage, a miss queue,
    /// merging of walks to one page, walkers that spend no cycle between memory
    /// responses, optional walk caches.
    #[default]
    Decoupled,
    /// The in-order unit our RTL builds ([`crate::inorder`]): two lookup stages,
    /// no miss queue and no merging, one cycle per walker state, a shared cache
    /// port. Uses `request_queue`, `walkers`, the caches and the memory.
    InOrder,
}

impl Microarch {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Microarch::Decoupled => "decoupled",
            Microarch::InOrder => "in-order",
        }
    }
}

impl std::str::FromStr for Microarch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "decoupled" => Ok(Microarch::Decoupled),
            "in-order" => Ok(Microarch::InOrder),
            _ => Err(format!("unknown microarchitecture {s:?} (decoupled or in-order)")),
        }
    }
}

/// The timing model's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingConfig {
    /// The microarchitecture.
    pub microarch: Microarch,
    /// Requests accepted but not yet looked up.
    pub request_queue: usize,
    /// Cycles from issue to the lookup result; a hit's latency.
    pub lookup_cycles: u64,
    /// Page-table walkers.
    pub walkers: usize,
    /// Misses waiting for a walker.
    pub miss_queue: usize,
    /// Cache sizes and replacement.
    pub caches: CacheConfig,
    /// Cycles from a memory access's acceptance to its first word.
    pub mem_latency: u64,
    /// Extra cycles per further word of a burst.
    pub mem_beat_cycles: u64,
    /// Memory accesses in flight at most.
    pub mem_outstanding: usize,
    /// Walk cache of first-stage non-leaf PTEs (disabled: 0 sets).
    pub fs_walk_cache: Geometry,
    /// Walk cache of G-stage non-leaf PTEs (disabled: 0 sets).
    pub gs_walk_cache: Geometry,
    /// Cycles from a walk-cache hit's acceptance to its data.
    pub walk_cache_cycles: u64,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            microarch: Microarch::Decoupled,
            request_queue: 4,
            lookup_cycles: 2,
            walkers: 4,
            miss_queue: 8,
            caches: CacheConfig::default(),
            mem_latency: 100,
            mem_beat_cycles: 1,
            mem_outstanding: 16,
            fs_walk_cache: Geometry::DISABLED,
            gs_walk_cache: Geometry::DISABLED,
            walk_cache_cycles: 1,
        }
    }
}

/// How a request was answered, for per-access statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The caller's tag.
    pub tag: u32,
    /// The answer.
    pub response: Response,
    /// Cycle of issue.
    pub issued: u64,
    /// Cycle of completion.
    pub completed: u64,
    /// Where the answer came from.
    pub source: Source,
    /// Whether it merged into another request's walk.
    pub merged: bool,
    /// Memory reads its own walk made.
    pub reads: u32,
}

/// The cycle-level interface that the timing model and the RTL-backed device both
/// implement (`docs/design.md`, "Two interfaces").
pub trait CycleDevice {
    /// Resets with these registers: caches empty, nothing in flight, cycle 0.
    fn reset(&mut self, regs: &Regs);
    /// Offers a request this cycle; `false` is back-pressure.
    fn try_issue(&mut self, tag: u32, req: &Request) -> bool;
    /// Advances one clock cycle.
    fn tick(&mut self, mem: &mut dyn Memory);
    /// Moves completed requests into `out`.
    fn take_completions(&mut self, out: &mut Vec<Completion>);
    /// Runs a command to completion at once (between cycles).
    fn command(&mut self, mem: &mut dyn Memory, cmd: [u64; 2]) -> Result<(), CommandError>;
    /// The statistics counters.
    fn counters(&self) -> &Counters;
    /// The current cycle.
    fn cycle(&self) -> u64;
    /// Whether nothing is queued or in flight.
    fn idle(&self) -> bool;
    /// Moves reported fault records into `out`, oldest first.
    fn drain_faults(&mut self, out: &mut Vec<FaultRecord>);
    /// Lets `cycles` cycles pass with nothing to do; only while [`CycleDevice::idle`].
    fn skip_idle(&mut self, cycles: u64) {
        for _ in 0..cycles {
            if !self.idle() {
                break;
            }
            self.tick(&mut crate::memory::SparseMemory::new());
        }
    }
}

struct Pending {
    tag: u32,
    req: Request,
    issued: u64,
    ready: u64,
    merged: bool,
}

struct Walker {
    busy: bool,
    tag: u32,
    issued: u64,
    merged: bool,
    key: (DeviceId, Option<u32>, u64),
    t: Box<Translation>,
    /// The memory access the walk waits for.
    waiting: Option<Arrival>,
    /// An access ready to go to the memory port.
    to_memory: bool,
    followers: Vec<Pending>,
}

/// A memory response on its way: the cycle it arrives, and the data read (`None`
/// on an access fault) or the compare-and-swap's result.
struct Arrival {
    at: u64,
    /// Served by a walk cache: not a memory access in flight.
    cached: bool,
    data: Option<[u64; 8]>,
    swapped: Option<Result<u64, ()>>,
}

struct MissEntry {
    tag: u32,
    issued: u64,
    merged: bool,
    key: (DeviceId, Option<u32>, u64),
    t: Box<Translation>,
}

/// Records a finished translation: its completion (tag, issue and completion
/// cycles) in `done`, its reported fault record, if any, in `faults`.
pub(crate) fn record(
    done: &mut Vec<Completion>,
    faults: &mut Vec<FaultRecord>,
    t: &Translation,
    (tag, issued, completed): (u32, u64, u64),
    merged: bool,
) {
    let response = t.response();
    if let Some(f) = response.reported_fault() {
        faults.push(*f);
    }
    done.push(Completion { tag, response, issued, completed, source: t.source(), merged, reads: t.reads() });
}

/// The timing model.
pub struct TimingModel {
    config: TimingConfig,
    regs: Regs,
    caches: Caches,
    counters: Counters,
    cycle: u64,
    requests: VecDeque<Pending>,
    retries: VecDeque<Pending>,
    misses: VecDeque<MissEntry>,
    walkers: Vec<Walker>,
    busy_walkers: usize,
    mem_inflight: usize,
    /// Walk caches: first stage, G-stage; keyed by PTE address.
    walk_caches: [SetAssoc<u64, ()>; 2],
    done: Vec<Completion>,
    faults: Vec<FaultRecord>,
    #[allow(clippy::vec_box)] // boxes move between walkers, the miss queue and here
    spare: Vec<Box<Translation>>,
}

fn key_of(req: &Request) -> (DeviceId, Option<u32>, u64) {
    (req.device_id, req.pid.map(|p| p.0), req.iova.page())
}

impl TimingModel {
    /// A timing model of the given configuration, reset with `regs`.
    pub fn new(config: TimingConfig, regs: Regs) -> Self {
        let walkers = (0..config.walkers.max(1))
            .map(|_| Walker {
                busy: false,
                tag: 0,
                issued: 0,
                merged: false,
                key: (DeviceId(0), None, 0),
                t: Box::new(Translation::new(Request::default())),
                waiting: None,
                to_memory: false,
                followers: Vec::new(),
            })
            .collect();
        TimingModel {
            config,
            regs,
            caches: Caches::new(&config.caches),
            counters: Counters::default(),
            cycle: 0,
            requests: VecDeque::new(),
            retries: VecDeque::new(),
            misses: VecDeque::new(),
            walkers,
            busy_walkers: 0,
            mem_inflight: 0,
            walk_caches: [SetAssoc::new(config.fs_walk_cache), SetAssoc::new(config.gs_walk_cache)],
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

    fn complete(&mut self, tag: u32, t: &Translation, issued: u64, merged: bool) {
        record(&mut self.done, &mut self.faults, t, (tag, issued, self.cycle), merged);
    }

    /// The lookup stage: at most one request per cycle.
    fn lookup(&mut self) {
        let from_retry = self.retries.front().is_some_and(|p| p.ready <= self.cycle);
        let head = if from_retry { self.retries.front() } else { self.requests.front() };
        let Some(head) = head else { return };
        if head.ready > self.cycle {
            return;
        }
        let key = key_of(&head.req);
        // A miss on a page being walked merges without a lookup: that page cannot
        // be in the IOTLB while its walk is in flight.
        let walking =
            if self.busy_walkers == 0 { None } else { self.walkers.iter().position(|w| w.busy && w.key == key) };
        if let Some(w) = walking {
            let p = if from_retry { self.retries.pop_front() } else { self.requests.pop_front() }.expect("head");
            if !p.merged {
                self.counters.iotlb_miss += 1;
                self.counters.walk_merged += 1;
            }
            self.walkers[w].followers.push(Pending { merged: true, ..p });
            return;
        }
        let free_walker =
            if self.busy_walkers < self.walkers.len() { self.walkers.iter().position(|w| !w.busy) } else { None };
        if free_walker.is_none() && self.misses.len() >= self.config.miss_queue {
            return; // the miss path is full: stall
        }
        let p = if from_retry { self.retries.pop_front() } else { self.requests.pop_front() }.expect("head");
        let mut t = self.spare.pop().unwrap_or_else(|| Box::new(Translation::new(p.req)));
        t.restart(p.req);
        let before = (self.counters.iotlb_hit, self.counters.iotlb_miss);
        let step = {
            let mut env =
                Env { regs: &self.regs, caches: &mut self.caches, counters: &mut self.counters, port: &mut Deferred };
            t.resume(&mut env, Reply::Start)
        };
        if p.merged {
            // A merged request was counted as a miss already.
            if self.counters.iotlb_hit > before.0 {
                self.counters.iotlb_hit -= 1;
            } else if self.counters.iotlb_miss > before.1 {
                self.counters.iotlb_miss -= 1;
            }
        }
        if step == Step::Done {
            self.complete(p.tag, &t, p.issued, p.merged);
            self.spare.push(t);
            return;
        }
        match free_walker {
            Some(w) => self.start_walk(w, p.tag, p.issued, p.merged, key, t),
            None => self.misses.push_back(MissEntry { tag: p.tag, issued: p.issued, merged: p.merged, key, t }),
        }
    }

    fn start_walk(
        &mut self,
        w: usize,
        tag: u32,
        issued: u64,
        merged: bool,
        key: (DeviceId, Option<u32>, u64),
        t: Box<Translation>,
    ) {
        let wk = &mut self.walkers[w];
        debug_assert!(!wk.busy);
        self.busy_walkers += 1;
        wk.busy = true;
        wk.tag = tag;
        wk.issued = issued;
        wk.merged = merged;
        wk.key = key;
        let old = std::mem::replace(&mut wk.t, t);
        self.spare.push(old);
        wk.waiting = None;
        wk.to_memory = true;
    }

    /// The memory port: accepts at most one access per cycle, oldest walker
    /// request first (lowest walker index on ties).
    fn memory_port(&mut self, mem: &mut dyn Memory) {
        if self.mem_inflight >= self.config.mem_outstanding {
            return;
        }
        let Some(w) = self.walkers.iter().position(|w| w.busy && w.to_memory) else { return };
        let wk = &mut self.walkers[w];
        wk.to_memory = false;
        let op: MemOp = wk.t.mem_op();
        let is_cas = op.words == 0;
        let stage = if is_cas { None } else { wk.t.pte_read_stage() };
        let cache = stage.map(|s| match s {
            PteStage::First => 0,
            PteStage::G => 1,
        });
        let cached = cache.is_some_and(|c| {
            let wc = &mut self.walk_caches[c];
            !wc.is_disabled() && wc.lookup(op.addr.0 >> 3, op.addr.0).is_some()
        });
        let lat = if cached {
            self.config.walk_cache_cycles
        } else {
            self.config.mem_latency + u64::from(op.words.max(1) - 1) * self.config.mem_beat_cycles
        };
        let arrive = self.cycle + lat.max(1);
        if is_cas {
            let r = mem.compare_and_swap(op.addr, op.expected, op.new).map_err(|_| ());
            wk.waiting = Some(Arrival { at: arrive, cached, data: None, swapped: Some(r) });
        } else {
            let mut buf = [0u64; 8];
            let ok = mem.read_words(op.addr, &mut buf[..usize::from(op.words)]).is_ok();
            // A valid PTE with R = W = X = 0 points to the next level
            // (Privileged architecture, section 12.3.2, step 4).
            if let (Some(c), false, true) = (cache, cached, ok) {
                if buf[0] & 0xf == 1 && !self.walk_caches[c].is_disabled() {
                    self.walk_caches[c].insert(op.addr.0 >> 3, op.addr.0, ());
                }
            }
            wk.waiting = Some(Arrival { at: arrive, cached, data: ok.then_some(buf), swapped: None });
        }
        if cached {
            wk.t.read_served_by_walk_cache();
            self.counters.walk_reads -= 1;
            self.counters.walk_cache_hit += 1;
        } else {
            self.mem_inflight += 1;
        }
    }

    /// Walkers whose memory response arrives this cycle resume.
    fn walk(&mut self) {
        for w in 0..self.walkers.len() {
            let ready = matches!(&self.walkers[w].waiting, Some(a) if a.at <= self.cycle);
            if !ready || !self.walkers[w].busy {
                continue;
            }
            let Arrival { data, swapped: cas, cached, .. } = self.walkers[w].waiting.take().expect("ready");
            if !cached {
                self.mem_inflight -= 1;
            }
            let words = usize::from(self.walkers[w].t.mem_op().words);
            let step = {
                let wk = &mut self.walkers[w];
                let mut env = Env {
                    regs: &self.regs,
                    caches: &mut self.caches,
                    counters: &mut self.counters,
                    port: &mut Deferred,
                };
                let reply = match (cas, &data) {
                    (Some(Ok(old)), _) => Reply::Swapped { old },
                    (Some(Err(())), _) => Reply::AccessFault,
                    (None, Some(buf)) => Reply::Data(&buf[..words]),
                    (None, None) => Reply::AccessFault,
                };
                wk.t.resume(&mut env, reply)
            };
            if step == Step::Done {
                self.finish_walk(w);
            } else {
                self.walkers[w].to_memory = true;
            }
        }
    }

    fn finish_walk(&mut self, w: usize) {
        let (tag, issued, merged) = (self.walkers[w].tag, self.walkers[w].issued, self.walkers[w].merged);
        let t = std::mem::replace(&mut self.walkers[w].t, Box::new(Translation::new(Request::default())));
        self.complete(tag, &t, issued, merged);
        self.walkers[w].t = t;
        self.walkers[w].busy = false;
        self.busy_walkers -= 1;
        // Merged requests look up again, in the order they came, from next cycle.
        let followers = std::mem::take(&mut self.walkers[w].followers);
        for mut f in followers {
            f.ready = self.cycle + 1;
            self.retries.push_back(f);
        }
        // The oldest waiting miss takes the free walker.
        if let Some(m) = self.misses.pop_front() {
            self.start_walk(w, m.tag, m.issued, m.merged, m.key, m.t);
        }
    }
}

impl CycleDevice for TimingModel {
    fn reset(&mut self, regs: &Regs) {
        *self = TimingModel::new(self.config, *regs);
    }

    fn try_issue(&mut self, tag: u32, req: &Request) -> bool {
        if self.requests.len() >= self.config.request_queue.max(1) {
            return false;
        }
        let ready = self.cycle + self.config.lookup_cycles;
        self.requests.push_back(Pending { tag, req: *req, issued: self.cycle, ready, merged: false });
        true
    }

    fn tick(&mut self, mem: &mut dyn Memory) {
        if self.busy_walkers > 0 {
            self.walk();
        }
        if !self.requests.is_empty() || !self.retries.is_empty() {
            self.lookup();
        }
        if self.busy_walkers > 0 {
            self.memory_port(mem);
        }
        self.cycle += 1;
    }

    fn take_completions(&mut self, out: &mut Vec<Completion>) {
        out.append(&mut self.done);
    }

    fn command(&mut self, mem: &mut dyn Memory, cmd: [u64; 2]) -> Result<(), CommandError> {
        let c = command::decode(cmd, &self.regs)?;
        c.completion_write(mem)?;
        self.caches.execute(&c);
        if !matches!(c, command::Command::IofenceC { .. }) {
            for wc in &mut self.walk_caches {
                wc.clear();
            }
        }
        Ok(())
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn cycle(&self) -> u64 {
        self.cycle
    }

    fn idle(&self) -> bool {
        self.requests.is_empty()
            && self.retries.is_empty()
            && self.misses.is_empty()
            && self.walkers.iter().all(|w| !w.busy)
    }

    fn drain_faults(&mut self, out: &mut Vec<FaultRecord>) {
        out.append(&mut self.faults);
    }

    fn skip_idle(&mut self, cycles: u64) {
        if self.idle() {
            self.cycle += cycles;
        }
    }
}

/// A timing model of the configured microarchitecture.
pub fn model(config: TimingConfig, regs: Regs) -> Box<dyn CycleDevice + Send> {
    match config.microarch {
        Microarch::Decoupled => Box::new(TimingModel::new(config, regs)),
        Microarch::InOrder => Box::new(crate::inorder::InOrderModel::new(config, regs)),
    }
}

/// Runs requests through a cycle device back to back (each offered as soon as the
/// device accepts it) until all complete; for tests and simple drivers.
pub fn run_closed_loop(dev: &mut dyn CycleDevice, mem: &mut dyn Memory, reqs: &[Request]) -> Vec<Completion> {
    let mut out = Vec::new();
    let mut next = 0;
    while next < reqs.len() || !dev.idle() {
        if next < reqs.len() && dev.try_issue(next as u32, &reqs[next]) {
            next += 1;
        }
        dev.tick(mem);
        dev.take_completions(&mut out);
    }
    out.sort_by_key(|c| c.tag);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Iova;
    use crate::context::DeviceContext;
    use crate::iommu::Iommu;
    use crate::memory::SparseMemory;
    use crate::pte::{bits, Scheme};
    use crate::regs::{Capabilities, Ddtp, Fctl};
    use crate::request::{Access, Status};
    use crate::tables::{self, tc, DeviceDirectory, PageSize, PageTable, Pages, Space};

    fn world() -> (SparseMemory, Regs, PageTable) {
        let mut mem = SparseMemory::new();
        let mut pages = Pages::new(0x8000_0000, 0x9000_0000);
        let ddt = DeviceDirectory::new(&mut mem, &mut pages, 1, false).unwrap();
        let pt = PageTable::new(&mut mem, &mut pages, Space::Host, Scheme::SV39).unwrap();
        ddt.set(
            &mut mem,
            &mut pages,
            1,
            &DeviceContext { tc: tc::V, ta: 1 << 12, fsc: tables::mode_ppn(8, pt.root_ppn()), ..Default::default() },
        )
        .unwrap();
        for p in 0..64u64 {
            pt.map(
                &mut mem,
                &mut pages,
                0x1000_0000 + p * 4096,
                0x4_0000_0000 + p * 4096,
                PageSize::K4,
                bits::R | bits::W | bits::U | bits::A | bits::D,
            )
            .unwrap();
        }
        let regs = Regs { capabilities: Capabilities((1 << 9) | (46 << 32)), fctl: Fctl(0), ddtp: Ddtp(ddt.ddtp()) };
        (mem, regs, pt)
    }

    fn read(iova: u64) -> Request {
        Request { device_id: DeviceId(1), pid: None, privileged: false, iova: Iova(iova), access: Access::Read, len: 8 }
    }

    #[test]
    fn answers_equal_the_golden_model() {
        let (mut mem, regs, _) = world();
        let reqs: Vec<Request> = (0..200u64).map(|i| read(0x1000_0000 + (i * 7919 % 70) * 4096)).collect();
        let mut golden = Iommu::with_regs(CacheConfig::default(), regs);
        let want: Vec<Response> = reqs.iter().map(|r| golden.translate_in(&mut mem.clone(), r)).collect();
        let mut t = TimingModel::new(TimingConfig::default(), regs);
        let got = run_closed_loop(&mut t, &mut mem, &reqs);
        assert_eq!(got.len(), reqs.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.response.status, w.status);
            assert_eq!(g.response.spa, w.spa);
        }
    }

    #[test]
    fn a_hit_takes_the_lookup_latency_and_a_cold_walk_the_memory_latencies() {
        let (mut mem, regs, _) = world();
        let cfg = TimingConfig { lookup_cycles: 2, mem_latency: 50, mem_beat_cycles: 1, ..Default::default() };
        let mut t = TimingModel::new(cfg, regs);
        let c = run_closed_loop(&mut t, &mut mem, &[read(0x1000_0000)]);
        // Cold: 1-level DDT (one 4-word DC burst: 50 + 3) + 3 Sv39 PTEs (50 each),
        // plus the lookup and one cycle per memory acceptance after a response.
        let walk = c[0].completed - c[0].issued;
        assert!(walk >= 2 + 53 + 3 * 50, "walk latency {walk}");
        assert_eq!(c[0].source, Source::Walk);
        let c = run_closed_loop(&mut t, &mut mem, &[read(0x1000_0008)]);
        assert_eq!(c[0].completed - c[0].issued, 2);
        assert_eq!(c[0].source, Source::Iotlb);
    }

    #[test]
    fn misses_to_one_page_merge_and_hits_pass_walks() {
        let (mut mem, regs, _) = world();
        let mut t = TimingModel::new(TimingConfig::default(), regs);
        // Warm page 1, then: a miss on page 2, a second miss on page 2, a hit on page 1.
        run_closed_loop(&mut t, &mut mem, &[read(0x1000_1000)]);
        let before = *t.counters();
        let c = run_closed_loop(&mut t, &mut mem, &[read(0x1000_2000), read(0x1000_2008), read(0x1000_1010)]);
        let after = *t.counters();
        assert_eq!(after.walk_merged - before.walk_merged, 1);
        assert_eq!(after.iotlb_miss - before.iotlb_miss, 2);
        assert_eq!(after.iotlb_hit - before.iotlb_hit, 1);
        assert!(c[2].completed < c[0].completed, "the hit completes while the walk is outstanding");
        assert!(c[1].completed > c[0].completed);
        assert!(c.iter().all(|x| x.response.status == Status::Success));
    }

    #[test]
    fn more_walkers_overlap_independent_misses() {
        let (mem, regs, _) = world();
        let reqs: Vec<Request> = (0..16u64).map(|i| read(0x1000_0000 + i * 4096)).collect();
        let time = |walkers| {
            let mut t = TimingModel::new(TimingConfig { walkers, ..Default::default() }, regs);
            let c = run_closed_loop(&mut t, &mut mem.clone(), &reqs);
            c.iter().map(|x| x.completed).max().unwrap()
        };
        assert!(time(4) < time(1) * 2 / 3, "4 walkers: {} cycles, 1 walker: {}", time(4), time(1));
    }

    fn with_walk_caches() -> TimingConfig {
        let g = Geometry { sets: 4, ways: 4, replacement: crate::cache::Replacement::Lru };
        TimingConfig { mem_latency: 50, fs_walk_cache: g, gs_walk_cache: g, walk_cache_cycles: 1, ..Default::default() }
    }

    #[test]
    fn a_walk_cache_serves_the_upper_levels_of_a_second_walk() {
        let (mut mem, regs, _) = world();
        let mut t = TimingModel::new(with_walk_caches(), regs);
        let first = run_closed_loop(&mut t, &mut mem, &[read(0x1000_0000)]);
        let c0 = *t.counters();
        // Another page under the same level-0 table: its two non-leaf PTEs (levels
        // 2 and 1) come from the walk cache, only the leaf from memory.
        let second = run_closed_loop(&mut t, &mut mem, &[read(0x1000_1000)]);
        let c1 = *t.counters();
        assert_eq!(c1.walk_cache_hit - c0.walk_cache_hit, 2);
        assert_eq!(c1.walk_reads - c0.walk_reads, 1);
        assert_eq!(second[0].reads, 1);
        // The device context comes from the DDTC; the three PTE reads cost 50 cycles
        // each without the walk cache, 1 with it.
        let lat = |c: &[Completion]| c[0].completed - c[0].issued;
        let mut plain =
            TimingModel::new(TimingConfig { fs_walk_cache: Geometry::DISABLED, ..with_walk_caches() }, regs);
        run_closed_loop(&mut plain, &mut mem, &[read(0x1000_0000)]);
        let uncached = run_closed_loop(&mut plain, &mut mem, &[read(0x1000_1000)]);
        assert_eq!(lat(&uncached) - lat(&second), 2 * (50 - 1));
        assert_eq!(first[0].response.spa.0 + 0x1000, second[0].response.spa.0);
        assert_eq!(second[0].response.spa, uncached[0].response.spa);
    }

    #[test]
    fn an_invalidation_empties_the_walk_caches() {
        let (mut mem, regs, _) = world();
        let mut t = TimingModel::new(with_walk_caches(), regs);
        run_closed_loop(&mut t, &mut mem, &[read(0x1000_0000)]);
        // IOTINVAL.VMA, all address spaces (opcode 1, func3 0).
        t.command(&mut mem, [1, 0]).unwrap();
        let before = *t.counters();
        run_closed_loop(&mut t, &mut mem, &[read(0x1000_2000)]);
        assert_eq!(t.counters().walk_cache_hit, before.walk_cache_hit);
        assert_eq!(t.counters().walk_reads - before.walk_reads, 3);
    }

    #[test]
    fn walk_caches_change_no_answer() {
        let (mut mem, regs, _) = world();
        let reqs: Vec<Request> = (0..300u64).map(|i| read(0x1000_0000 + (i * 7919 % 70) * 4096)).collect();
        let mut golden = Iommu::with_regs(CacheConfig::default(), regs);
        let mut gm = mem.clone();
        let want: Vec<Response> = reqs.iter().map(|r| golden.translate_in(&mut gm, r)).collect();
        let mut t = TimingModel::new(with_walk_caches(), regs);
        let got = run_closed_loop(&mut t, &mut mem, &reqs);
        assert!(t.counters().walk_cache_hit > 0);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.response.status, g.response.spa), (w.status, w.spa));
        }
    }
}
