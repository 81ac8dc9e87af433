//! Lockstep comparison of the RTL with the golden model.
//!
//! An [`Op`] stream runs through both: the golden model answers each request when
//! it is offered, on its own copy of memory; the RTL runs cycle by cycle on
//! another copy, with several requests in flight. Every RTL response is compared
//! with the golden answer (status, SPA, the whole fault record, whether it is
//! reported), every command's verdict with the model's, and memory (A/D updates)
//! whenever nothing is in flight. The first difference stops the run with a
//! [`Failure`] that names the request and both answers; [`reproducer`] turns the
//! run so far into a `riscv-iommu-vector/1` file that replays without the RTL.
//!
//! A request in flight when software changes the tables ([`Op::Change`]) may
//! legitimately see the tables before or after the change; its answer is checked
//! against both. Requests offered after the change's invalidations must see the
//! new tables.

// A `Failure` carries both answers in full; runs stop at the first one, so its
// size costs nothing on the path that matters.
#![allow(clippy::result_large_err)]

use crate::device::{DeviceError, MemTiming, RtlDevice};
use crate::op::Op;
use iommu_model::stats::LatencyHistogram;
use iommu_model::timing::{Completion, CycleDevice, TimingConfig};
use iommu_model::translate::Source;
use iommu_model::{
    CacheConfig, Counters, FaultRecord, Iommu, Memory, Regs, Request, Response, Spa, SparseMemory, Status, Translator,
};
use iommu_traces::vector::{Expected, Vector, VectorStep};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Why a lockstep run stopped.
#[derive(Debug)]
pub enum Failure {
    /// The RTL's answer differs from the golden model's.
    Answer {
        /// Cycle (since reset) the response left the RTL.
        cycle: u64,
        /// The request.
        request: Request,
        /// The golden answer.
        expected: Response,
        /// The golden answer on the tables after a change made while the request
        /// was in flight, if there was one.
        alternative: Option<Response>,
        /// The RTL's answer.
        got: Response,
        /// Index of the request's step in [`Lockstep::history`].
        step: usize,
    },
    /// A command was legal for one side and illegal for the other.
    Command {
        /// The command.
        words: [u64; 2],
        /// The model's verdict.
        model_ok: bool,
        /// The RTL's verdict.
        rtl_ok: bool,
        /// Step index.
        step: usize,
    },
    /// Memory differs once nothing is in flight (an A/D update one side made).
    Memory {
        /// The word's address.
        addr: u64,
        /// The golden model's memory.
        expected: u64,
        /// The RTL's memory.
        got: u64,
        /// Steps run so far.
        step: usize,
    },
    /// The RTL stopped, hung or misbehaved on its ports.
    Device(DeviceError),
    /// A request got no response within the bound ([`DeviceError::Hang`]).
    Stuck {
        /// Index of the stuck request's step in [`Lockstep::history`].
        step: usize,
        /// The hang, with the request and its issue cycle.
        error: DeviceError,
    },
    /// The timing model, configured as the RTL, issued or completed a request on
    /// another cycle than the RTL (cycles since reset; see [`TimingCheck`]).
    Timing {
        /// The request.
        request: Request,
        /// Index of the request's step in [`Lockstep::history`].
        step: usize,
        /// The RTL's issue and completion cycles.
        rtl: (u64, u64),
        /// The timing model's.
        model: (u64, u64),
        /// Where each side's answer came from.
        sources: (Source, Source),
    },
    /// A statistics counter of the RTL differs from the timing model's once
    /// nothing is in flight.
    Counter {
        /// The counter's name (`Counters::named`).
        name: &'static str,
        /// The RTL's value.
        rtl: u64,
        /// The timing model's.
        model: u64,
        /// Steps run so far.
        step: usize,
    },
}

impl Failure {
    /// The history step the failure belongs to (the last step run for memory
    /// and device failures).
    pub fn step(&self) -> Option<usize> {
        match self {
            Failure::Answer { step, .. }
            | Failure::Command { step, .. }
            | Failure::Memory { step, .. }
            | Failure::Timing { step, .. }
            | Failure::Counter { step, .. }
            | Failure::Stuck { step, .. } => Some(*step),
            Failure::Device(_) => None,
        }
    }
}

fn show_request(r: &Request) -> String {
    format!(
        "device {:#x}, pid {}, {}{}, IOVA {:#x}",
        r.device_id.0,
        r.pid.map_or("none".to_string(), |p| format!("{:#x}", p.0)),
        if r.privileged { "supervisor " } else { "" },
        r.access.name(),
        r.iova.0
    )
}

fn show(r: &Response) -> String {
    match (r.status, &r.fault) {
        (Status::Success, _) => format!("success, SPA {:#x}", r.spa.0),
        (s, Some(f)) => format!(
            "{}{}: cause {} ({}), ttyp {}, did {:#x}, pv {}, pid {:#x}, priv {}, iotval {:#x}, iotval2 {:#x}",
            s.name(),
            if r.suppressed { " (record suppressed by DTF)" } else { "" },
            f.cause.0,
            f.cause.name(),
            f.ttyp.0,
            f.did.0,
            f.pv,
            f.pid,
            f.privileged,
            f.iotval,
            f.iotval2
        ),
        (s, None) => format!("{} without a fault record", s.name()),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Answer { cycle, request, expected, alternative, got, step } => {
                writeln!(f, "answer mismatch at cycle {cycle} (step {step})")?;
                writeln!(f, "  request: {}", show_request(request))?;
                writeln!(f, "  model:   {}", show(expected))?;
                if let Some(a) = alternative {
                    writeln!(f, "  model after the concurrent table change: {}", show(a))?;
                }
                write!(f, "  RTL:     {}", show(got))
            }
            Failure::Command { words, model_ok, rtl_ok, step } => write!(
                f,
                "command {:#018x} {:#018x} (step {step}): model says {}, RTL says {}",
                words[0],
                words[1],
                if *model_ok { "legal" } else { "illegal" },
                if *rtl_ok { "legal" } else { "illegal" }
            ),
            Failure::Memory { addr, expected, got, step } => {
                write!(f, "memory differs after step {step} at {addr:#x}: model {expected:#018x}, RTL {got:#018x}")
            }
            Failure::Device(e) => write!(f, "{e}"),
            Failure::Stuck { step, error } => write!(f, "{error} (step {step})"),
            Failure::Timing { request, step, rtl, model, sources } => {
                writeln!(f, "timing mismatch (step {step})")?;
                writeln!(f, "  request: {}", show_request(request))?;
                writeln!(
                    f,
                    "  model: issued at cycle {}, completed at {} (latency {}, {})",
                    model.0,
                    model.1,
                    model.1 - model.0,
                    sources.1.name()
                )?;
                write!(
                    f,
                    "  RTL:   issued at cycle {}, completed at {} (latency {}, {})",
                    rtl.0,
                    rtl.1,
                    rtl.1 - rtl.0,
                    sources.0.name()
                )
            }
            Failure::Counter { name, rtl, model, step } => {
                write!(f, "counter {name} differs after step {step}: model {model}, RTL {rtl}")
            }
        }
    }
}

/// What a run reached: the functional coverage of the stimulus on the RTL.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    /// Responses by fault cause (0 for success).
    pub causes: BTreeMap<u16, u64>,
    /// Responses by where the answer came from.
    pub sources: BTreeMap<&'static str, u64>,
    /// Requests by translation shape (which stages were active).
    pub shapes: BTreeMap<&'static str, u64>,
    /// Requests by access type and privilege.
    pub accesses: BTreeMap<&'static str, u64>,
    /// Answers checked against a concurrent table change.
    pub racy: u64,
    /// Faults reported with suppression (DTF).
    pub suppressed: u64,
}

impl Coverage {
    fn note(&mut self, req: &Request, got: &Response, source: Source, shape: &'static str) {
        let cause = if got.status == Status::Success { 0 } else { got.fault.map_or(0, |f| f.cause.0) };
        *self.causes.entry(cause).or_default() += 1;
        *self.sources.entry(source.name()).or_default() += 1;
        *self.shapes.entry(shape).or_default() += 1;
        let acc = match (req.access.name(), req.pid.is_some(), req.privileged) {
            ("read", false, _) => "read",
            ("write", false, _) => "write",
            ("exec", false, _) => "exec",
            ("read", true, false) => "read+pid",
            ("write", true, false) => "write+pid",
            ("exec", true, false) => "exec+pid",
            ("read", true, true) => "read+pid+priv",
            ("write", true, true) => "write+pid+priv",
            _ => "exec+pid+priv",
        };
        *self.accesses.entry(acc).or_default() += 1;
        if got.suppressed {
            self.suppressed += 1;
        }
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "functional coverage")?;
        write!(f, "  answers by cause:")?;
        for (c, n) in &self.causes {
            if *c == 0 {
                write!(f, " success {n}")?;
            } else {
                write!(f, ", {c} ({}) {n}", iommu_model::Cause(*c).name())?;
            }
        }
        writeln!(f)?;
        writeln!(f, "  answers by source: {}", join(&self.sources))?;
        writeln!(f, "  translation shapes: {}", join(&self.shapes))?;
        writeln!(f, "  access types: {}", join(&self.accesses))?;
        write!(f, "  checked against a concurrent change: {}; DTF-suppressed faults: {}", self.racy, self.suppressed)
    }
}

fn join(m: &BTreeMap<&'static str, u64>) -> String {
    m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

/// What the timing comparison found (see [`TimingCheck`]).
#[derive(Clone, Debug, Default)]
pub struct TimingStats {
    /// Translations whose cycles were compared.
    pub compared: u64,
    /// Of those, issued and completed on the same cycles by both.
    pub exact: u64,
    /// Latencies (completion minus issue cycle) of the timing model.
    pub model_latency: LatencyHistogram,
    /// Latencies of the RTL.
    pub rtl_latency: LatencyHistogram,
    /// Counter comparisons (at each quiet point) that differed.
    pub counter_mismatches: u64,
    /// The first difference, when differences are tolerated.
    pub first: Option<String>,
}

/// The timing model configured as the RTL, run beside it: every request is
/// offered to both on the same cycle, every command reaches both on the same
/// cycle, and each request's issue and completion cycles (`docs/design.md`,
/// "Two interfaces") must be equal, as must the statistics counters whenever nothing is
/// in flight.
pub struct TimingCheck {
    model: Box<dyn CycleDevice + Send>,
    mem: SparseMemory,
    offered: Option<(u32, Request)>,
    requests: HashMap<u32, (Request, usize)>,
    rtl_done: HashMap<u32, Completion>,
    model_done: HashMap<u32, Completion>,
    scratch: Vec<Completion>,
    /// Stop at the first difference; else count differences and go on.
    pub strict: bool,
    /// What the comparison found.
    pub stats: TimingStats,
}

impl TimingCheck {
    /// The timing model's counters.
    pub fn model_counters(&self) -> &Counters {
        self.model.counters()
    }

    fn unpaired(&self) -> bool {
        self.offered.is_some() || !self.rtl_done.is_empty() || !self.model_done.is_empty()
    }

    /// Compares one request's completions on both sides.
    fn compare(&mut self, rtl: &Completion, model: &Completion) -> Result<(), Failure> {
        let (request, step) = self.requests.remove(&rtl.tag).unwrap_or((Request::default(), 0));
        self.stats.compared += 1;
        self.stats.rtl_latency.record(rtl.completed - rtl.issued);
        self.stats.model_latency.record(model.completed - model.issued);
        if (rtl.issued, rtl.completed) == (model.issued, model.completed) {
            self.stats.exact += 1;
            return Ok(());
        }
        let f = Failure::Timing {
            request,
            step,
            rtl: (rtl.issued, rtl.completed),
            model: (model.issued, model.completed),
            sources: (rtl.source, model.source),
        };
        if self.strict {
            return Err(f);
        }
        if self.stats.first.is_none() {
            self.stats.first = Some(f.to_string());
        }
        Ok(())
    }
}

struct Pending {
    /// Words the golden model's A/D updates wrote for this request.
    gold_writes: Vec<u64>,
    req: Request,
    expect: Response,
    shape: &'static str,
    step: usize,
    racy: bool,
}

/// The golden model and the RTL side by side. See the module documentation.
pub struct Lockstep {
    dev: RtlDevice,
    gold: Iommu,
    regs: Regs,
    rtl_mem: SparseMemory,
    gold_mem: SparseMemory,
    initial: SparseMemory,
    bad: Vec<u64>,
    pending: HashMap<u32, Pending>,
    racy_inflight: usize,
    /// Words software changed while requests were in flight, since the last drain.
    racy_words: std::collections::HashSet<u64>,
    next_tag: u32,
    history: Vec<VectorStep>,
    completions: Vec<Completion>,
    /// What the run reached.
    pub coverage: Coverage,
    /// Translations compared.
    pub translations: u64,
    /// The timing comparison, if on.
    pub timing: Option<TimingCheck>,
}

impl Lockstep {
    /// A lockstep run of `dev` (already built) against the golden model, both
    /// starting from reset with `regs` and `memory`; `bad` lists the words whose
    /// accesses fault (also marked in `memory`).
    pub fn new(mut dev: RtlDevice, regs: Regs, memory: SparseMemory, bad: Vec<u64>) -> Self {
        CycleDevice::reset(&mut dev, &regs);
        let mut gold = Iommu::with_regs(CacheConfig::DISABLED, regs);
        Translator::reset(&mut gold, &regs);
        // Both memories log writes, so that A/D updates made around a table
        // change can be told apart from the rest (see `compare_memory`).
        let mut rtl_mem = memory.clone();
        rtl_mem.track_writes(true);
        let mut gold_mem = memory.clone();
        gold_mem.track_writes(true);
        Lockstep {
            dev,
            gold,
            regs,
            rtl_mem,
            gold_mem,
            initial: memory,
            bad,
            pending: HashMap::new(),
            racy_inflight: 0,
            racy_words: std::collections::HashSet::new(),
            next_tag: 0,
            history: Vec::new(),
            completions: Vec::new(),
            coverage: Coverage::default(),
            translations: 0,
            timing: None,
        }
    }

    /// Runs the timing model of `config` (the RTL's: `rtl/model/<name>.toml`)
    /// beside the RTL and compares their cycles; `strict` stops at the first
    /// difference, else differences are counted in [`TimingCheck::stats`].
    pub fn with_timing(mut self, config: TimingConfig, strict: bool) -> Self {
        let mut model = iommu_model::timing::model(config, self.regs);
        model.reset(&self.regs);
        self.timing = Some(TimingCheck {
            model,
            mem: self.initial.clone(),
            offered: None,
            requests: HashMap::new(),
            rtl_done: HashMap::new(),
            model_done: HashMap::new(),
            scratch: Vec::new(),
            strict,
            stats: TimingStats::default(),
        });
        self
    }

    /// The steps run so far, with the golden model's expectations.
    pub fn history(&self) -> &[VectorStep] {
        &self.history
    }

    /// The RTL device (its counters, its model for waveforms).
    pub fn device(&self) -> &RtlDevice {
        &self.dev
    }

    /// The RTL device.
    pub fn device_mut(&mut self) -> &mut RtlDevice {
        &mut self.dev
    }

    /// Runs every op, then waits for the last response and compares memory.
    pub fn run(&mut self, ops: impl IntoIterator<Item = Op>) -> Result<(), Failure> {
        for op in ops {
            self.op(op)?;
        }
        self.drain()
    }

    /// Runs one op.
    pub fn op(&mut self, op: Op) -> Result<(), Failure> {
        match op {
            Op::Translate(req) => self.translate(req),
            Op::Change { writes, commands } => {
                // One change at a time may overlap a request's flight.
                while self.racy_inflight > 0 {
                    self.tick()?;
                }
                for &(addr, value) in &writes {
                    if !self.pending.is_empty() {
                        self.racy_words.insert(addr);
                    }
                    self.rtl_mem.poke(Spa(addr), value);
                    self.gold_mem.poke(Spa(addr), value);
                    if let Some(tc) = &mut self.timing {
                        tc.mem.poke(Spa(addr), value);
                    }
                    self.history.push(VectorStep::WriteMemory { addr, value });
                }
                self.rtl_mem.take_write_log();
                self.gold_mem.take_write_log();
                for p in self.pending.values_mut() {
                    p.racy = true;
                    self.racy_words.extend(p.gold_writes.drain(..));
                }
                self.racy_inflight = self.pending.len();
                for c in commands {
                    self.command(c)?;
                }
                Ok(())
            }
            Op::Command(c) => self.command(c),
            Op::Drain => self.drain(),
        }
    }

    fn translate(&mut self, req: Request) -> Result<(), Failure> {
        let expect = Translator::translate(&mut self.gold, &mut self.gold_mem, &req);
        let gold_writes = self.gold_mem.take_write_log();
        let mut scratch = Vec::new();
        Translator::drain_faults(&mut self.gold, &mut scratch);
        let step = self.history.len();
        self.history.push(VectorStep::Translate { req, expect: expected(&expect) });
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        // The timing model's previous request first (it is offered on the RTL's
        // cycle; if it is still waiting, the two differ, which the comparison
        // reports), then the RTL's.
        while self.timing.as_ref().is_some_and(|tc| tc.offered.is_some()) {
            self.tick()?;
        }
        while !self.dev.try_issue(tag, &req) {
            self.tick()?;
        }
        if let Some(tc) = &mut self.timing {
            tc.offered = Some((tag, req));
            tc.requests.insert(tag, (req, step));
        }
        let shape = self.shape(&req);
        self.pending.insert(tag, Pending { gold_writes, req, expect, shape, step, racy: false });
        Ok(())
    }

    /// Which stages translate a request, from its device context as memory holds
    /// it now (for coverage).
    fn shape(&mut self, req: &Request) -> &'static str {
        shape(&self.regs, &mut self.gold_mem, req)
    }

    fn command(&mut self, words: [u64; 2]) -> Result<(), Failure> {
        let step = self.history.len();
        self.history.push(VectorStep::Command { words });
        let model_ok = Translator::command(&mut self.gold, &mut self.gold_mem, words).is_ok();
        // The RTL takes the command on the next cycle.
        let _ = CycleDevice::command(&mut self.dev, &mut self.rtl_mem, words);
        if let Some(tc) = &mut self.timing {
            let _ = tc.model.command(&mut tc.mem, words);
        }
        self.tick()?;
        let rtl_ok = !self.dev.last_command_illegal();
        if model_ok != rtl_ok {
            return Err(Failure::Command { words, model_ok, rtl_ok, step });
        }
        Ok(())
    }

    /// Waits for every request in flight, then compares memory.
    pub fn drain(&mut self) -> Result<(), Failure> {
        while !self.pending.is_empty() {
            self.tick()?;
        }
        if self.timing.is_some() {
            // The model may finish later than the RTL (that is a mismatch, found
            // when it does); a request it never finishes is reported here.
            let mut waited = 0u64;
            while self.timing.as_ref().is_some_and(|tc| tc.unpaired()) {
                let stuck = self.timing.as_ref().is_some_and(|tc| tc.model.idle() && tc.offered.is_none());
                if stuck || waited > crate::device::DEFAULT_HANG_CYCLES {
                    let tc = self.timing.as_mut().expect("timing check");
                    let (tag, c) =
                        tc.rtl_done.iter().next().map(|(t, c)| (*t, *c)).expect("an unpaired RTL completion");
                    let (request, step) = tc.requests.remove(&tag).unwrap_or((Request::default(), 0));
                    return Err(Failure::Timing {
                        request,
                        step,
                        rtl: (c.issued, c.completed),
                        model: (0, 0),
                        sources: (c.source, Source::Pending),
                    });
                }
                self.tick()?;
                waited += 1;
            }
            // The RTL's counters are registers: the increments of the last
            // response's cycle show on its outputs one cycle later.
            self.tick()?;
            self.compare_counters()?;
        }
        self.compare_memory()
    }

    /// Compares the RTL's statistics counters with the timing model's.
    fn compare_counters(&mut self) -> Result<(), Failure> {
        let step = self.history.len();
        let rtl = *CycleDevice::counters(&self.dev);
        let Some(tc) = &mut self.timing else { return Ok(()) };
        let model = *tc.model.counters();
        let pairs = [
            ("iotlb_hit", rtl.iotlb_hit, model.iotlb_hit),
            ("iotlb_miss", rtl.iotlb_miss, model.iotlb_miss),
            ("ddtc_hit", rtl.ddtc_hit, model.ddtc_hit),
            ("ddtc_miss", rtl.ddtc_miss, model.ddtc_miss),
            ("pdtc_hit", rtl.pdtc_hit, model.pdtc_hit),
            ("pdtc_miss", rtl.pdtc_miss, model.pdtc_miss),
            ("walk_reads", rtl.walk_reads, model.walk_reads),
            ("walk_writes", rtl.walk_writes, model.walk_writes),
            ("faults", rtl.faults, model.faults),
        ];
        if let Some(&(name, r, m)) = pairs.iter().find(|(_, r, m)| r != m) {
            let f = Failure::Counter { name, rtl: r, model: m, step };
            if tc.strict {
                return Err(f);
            }
            tc.stats.counter_mismatches += 1;
            if tc.stats.first.is_none() {
                tc.stats.first = Some(f.to_string());
            }
        }
        Ok(())
    }

    /// Compares both memories. Around a table change made while requests were in
    /// flight, A and D may legitimately differ: the RTL's walk may have read (and
    /// updated) the new entries where the golden model, answering at issue,
    /// updated the old ones. Such words (those the change wrote, those the golden
    /// model's A/D updates wrote for the requests in flight, and those the RTL
    /// wrote while such requests were in flight) may differ in A and D only, and
    /// the golden memory adopts the RTL's value. Everywhere else, and always
    /// outside A and D, memory must be equal.
    fn compare_memory(&mut self) -> Result<(), Failure> {
        const AD: u64 = 0xc0;
        let step = self.history.len();
        let mut adopt = Vec::new();
        let mut check = |addr: Spa, want: u64, got: u64| {
            if want == got {
                return Ok(());
            }
            if self.racy_words.contains(&addr.0) && (want ^ got) & !AD == 0 {
                adopt.push((addr, got));
                return Ok(());
            }
            Err(Failure::Memory { addr: addr.0, expected: want, got, step })
        };
        for (addr, value) in self.gold_mem.nonzero_words() {
            check(addr, value, self.rtl_mem.peek(addr))?;
        }
        for (addr, value) in self.rtl_mem.nonzero_words() {
            check(addr, self.gold_mem.peek(addr), value)?;
        }
        for (addr, v) in adopt {
            self.gold_mem.poke(addr, v);
        }
        self.racy_words.clear();
        Ok(())
    }

    fn tick(&mut self) -> Result<(), Failure> {
        self.dev.tick(&mut self.rtl_mem);
        let written = self.rtl_mem.take_write_log();
        if self.racy_inflight > 0 {
            self.racy_words.extend(written);
        }
        if let Some(e) = self.dev.take_error() {
            if let DeviceError::Hang { tag, .. } = &e {
                if let Some(p) = self.pending.get(tag) {
                    return Err(Failure::Stuck { step: p.step, error: e });
                }
            }
            return Err(Failure::Device(e));
        }
        self.completions.clear();
        let mut done = std::mem::take(&mut self.completions);
        self.dev.take_completions(&mut done);
        let mut result = Ok(());
        for c in &done {
            if result.is_ok() {
                result = self.check(c);
            }
        }
        if result.is_ok() {
            result = self.tick_timing(&done);
        }
        self.completions = done;
        result
    }

    /// The timing model's cycle, and the pairing of completions.
    fn tick_timing(&mut self, rtl_done: &[Completion]) -> Result<(), Failure> {
        let Some(tc) = &mut self.timing else { return Ok(()) };
        if let Some((tag, req)) = tc.offered {
            if tc.model.try_issue(tag, &req) {
                tc.offered = None;
            }
        }
        tc.model.tick(&mut tc.mem);
        let mut model_done = std::mem::take(&mut tc.scratch);
        tc.model.take_completions(&mut model_done);
        let mut result = Ok(());
        for c in rtl_done {
            match tc.model_done.remove(&c.tag) {
                Some(m) if result.is_ok() => result = tc.compare(c, &m),
                Some(_) => {}
                None => {
                    tc.rtl_done.insert(c.tag, *c);
                }
            }
        }
        for m in model_done.drain(..) {
            match tc.rtl_done.remove(&m.tag) {
                Some(c) if result.is_ok() => result = tc.compare(&c, &m),
                Some(_) => {}
                None => {
                    tc.model_done.insert(m.tag, m);
                }
            }
        }
        tc.scratch = model_done;
        result
    }

    fn check(&mut self, c: &Completion) -> Result<(), Failure> {
        let Some(p) = self.pending.remove(&c.tag) else {
            return Err(Failure::Device(DeviceError::UnknownTag(c.tag as u16)));
        };
        if p.racy {
            self.racy_inflight -= 1;
        }
        self.translations += 1;
        let mut alternative = None;
        if !same(&c.response, &p.expect) {
            if p.racy {
                // The tables changed while the request was in flight: the answer
                // on the new tables is as good (without touching the real memory).
                let mut mem = self.gold_mem.clone();
                let mut g = Iommu::with_regs(CacheConfig::DISABLED, self.regs);
                Translator::reset(&mut g, &self.regs);
                let alt = Translator::translate(&mut g, &mut mem, &p.req);
                if same(&c.response, &alt) {
                    self.coverage.racy += 1;
                    self.coverage.note(&p.req, &c.response, c.source, p.shape);
                    return Ok(());
                }
                alternative = Some(alt);
            }
            return Err(Failure::Answer {
                cycle: c.completed,
                request: p.req,
                expected: p.expect,
                alternative,
                got: c.response,
                step: p.step,
            });
        }
        self.coverage.note(&p.req, &c.response, c.source, p.shape);
        Ok(())
    }

    /// The run so far as a conformance vector, up to and including `last` (a
    /// history index), with the golden expectations.
    pub fn vector(&self, name: &str, last: usize) -> Vector {
        vector_from(name, &self.regs, &self.initial, &self.bad, &self.history[..=last.min(self.history.len() - 1)])
    }
}

/// Whether two answers agree on everything the RTL reports.
pub fn same(a: &Response, b: &Response) -> bool {
    if a.status != b.status {
        return false;
    }
    if a.status == Status::Success {
        return a.spa == b.spa;
    }
    a.fault == b.fault && a.suppressed == b.suppressed
}

/// The vector expectation of a golden answer.
pub fn expected(r: &Response) -> Expected {
    Expected {
        status: r.status,
        spa: (r.status == Status::Success).then_some(r.spa.0),
        fault: r.reported_fault().copied(),
    }
}

/// A vector from a starting state and steps; its `memory_after` is what the golden
/// model leaves.
pub fn vector_from(name: &str, regs: &Regs, initial: &SparseMemory, bad: &[u64], steps: &[VectorStep]) -> Vector {
    let mut mem = initial.clone();
    let mut software = initial.clone();
    let mut gold = Iommu::with_regs(CacheConfig::DISABLED, *regs);
    Translator::reset(&mut gold, regs);
    let mut out = Vec::with_capacity(steps.len());
    for s in steps {
        match s {
            VectorStep::Translate { req, .. } => {
                let r = Translator::translate(&mut gold, &mut mem, req);
                let mut f: Vec<FaultRecord> = Vec::new();
                Translator::drain_faults(&mut gold, &mut f);
                out.push(VectorStep::Translate { req: *req, expect: expected(&r) });
            }
            VectorStep::Command { words } => {
                let _ = Translator::command(&mut gold, &mut mem, *words);
                out.push(s.clone());
            }
            VectorStep::WriteMemory { addr, value } => {
                mem.poke(Spa(*addr), *value);
                software.poke(Spa(*addr), *value);
                out.push(s.clone());
            }
        }
    }
    let mut memory_after: Vec<(u64, u64)> = Vec::new();
    for (a, v) in mem.nonzero_words() {
        if software.peek(a) != v {
            memory_after.push((a.0, v));
        }
    }
    for (a, v) in software.nonzero_words() {
        if mem.peek(a) != v && v != 0 {
            memory_after.push((a.0, mem.peek(a)));
        }
    }
    memory_after.sort_unstable();
    memory_after.dedup();
    let mut memory: Vec<(u64, u64)> = initial.nonzero_words().map(|(a, v)| (a.0, v)).collect();
    memory.sort_unstable();
    Vector {
        name: name.to_string(),
        features: Vec::new(),
        regs: *regs,
        memory,
        bad_memory: bad.to_vec(),
        steps: out,
        memory_after,
    }
}

/// Shrinks a failing vector: drops steps before the last one (in halving chunks,
/// then one by one) while `fails` still says the vector fails. `fails` runs the
/// candidate on the RTL.
pub fn shrink(mut v: Vector, mut fails: impl FnMut(&Vector) -> bool) -> Vector {
    let rebuild = |v: &Vector, steps: Vec<VectorStep>| {
        let mut initial = SparseMemory::new();
        for &(a, w) in &v.memory {
            initial.poke(Spa(a), w);
        }
        for &b in &v.bad_memory {
            initial.mark_bad(Spa(b));
        }
        vector_from(&v.name, &v.regs, &initial, &v.bad_memory, &steps)
    };
    let mut chunk = v.steps.len().saturating_sub(1).max(1);
    while chunk >= 1 && v.steps.len() > 1 {
        let mut i = 0;
        let mut progressed = false;
        while i + 1 < v.steps.len() {
            let end = (i + chunk).min(v.steps.len() - 1);
            let mut steps = v.steps.clone();
            steps.drain(i..end);
            let cand = rebuild(&v, steps);
            if fails(&cand) {
                v = cand;
                progressed = true;
            } else {
                i = end;
            }
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    v
}

/// Builds the RTL device for lockstep runs.
pub fn device(config: &str, timing: MemTiming, hang_cycles: u64) -> Result<RtlDevice, crate::Error> {
    let mut d = RtlDevice::new(config, timing)?;
    d.set_hang_cycles(hang_cycles);
    Ok(d)
}

/// The translation shape of a request: the `iommu_mode`, then the device
/// context's stages as memory holds them (no cache involved).
pub fn shape(regs: &Regs, mem: &mut SparseMemory, req: &Request) -> &'static str {
    use iommu_model::context::{dir_nonleaf_ppn, DeviceContext};
    let mode = regs.ddtp.0 & 0xf;
    match mode {
        0 => return "iommu-off",
        1 => return "iommu-bare",
        2..=4 => {}
        _ => return "iommu-off",
    }
    let ext = regs.capabilities.msi_flat();
    let ddi = |level: u64| iommu_model::context::ddi(req.device_id.0, level as u8, ext);
    let mut addr = regs.ddtp.root().0;
    let mut level = mode - 2;
    while level > 0 {
        let Ok(e) = mem.read(Spa(addr + ddi(level) * 8)) else { return "ddt-fault" };
        if e & 1 == 0 {
            return "ddt-fault";
        }
        addr = dir_nonleaf_ppn(e) << 12;
        level -= 1;
    }
    let size = if ext { 8 } else { 4 };
    let mut w = [0u64; 8];
    if mem.read_words(Spa(addr + ddi(0) * size * 8), &mut w[..size as usize]).is_err() {
        return "ddt-fault";
    }
    let dc = DeviceContext::from_words(&w[..size as usize]);
    if !dc.valid() || dc.check(regs).is_err() {
        return "dc-fault";
    }
    let g = dc.g_scheme(regs).map(|s| s.levels);
    if dc.pdtv() {
        return match g {
            Some(_) => "pdt+g-stage",
            None => "pdt",
        };
    }
    let fs = iommu_model::pte::Scheme::first_stage(dc.fsc_mode(), dc.sxl()).map(|s| s.levels);
    match (fs, g) {
        (None, None) => "bare-dc",
        (Some(3), None) => "sv39",
        (Some(4), None) => "sv48",
        (Some(_), None) => "sv57",
        (None, Some(3)) => "sv39x4",
        (None, Some(4)) => "sv48x4",
        (None, Some(_)) => "sv57x4",
        (Some(_), Some(_)) => "two-stage",
    }
}
