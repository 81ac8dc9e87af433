//! [`RtlDevice`]: the RTL behind the model's two interfaces, [`Translator`] and
//! [`CycleDevice`], so that the vector runner, replay and the comparison loops
//! drive it exactly as they drive the golden and timing models.
//!
//! The device serves the RTL's memory port from the caller's [`Memory`] with the
//! timing model's memory rules: the port takes one access per cycle while fewer
//! than `mem_outstanding` are in flight; an access is performed on the cycle the
//! port takes it, and its answer reaches the walker `mem_latency + (words - 1) *
//! mem_beat_cycles` cycles later.

use crate::ports::{Inputs, Outputs, RSP_WORDS};
use crate::{Error, Rtl};
use iommu_model::command::{self, CommandError};
use iommu_model::fault::FaultRecord;
use iommu_model::request::{Access, Request, Response, Status};
use iommu_model::stats::Counters;
use iommu_model::timing::{Completion, CycleDevice};
use iommu_model::translate::Source;
use iommu_model::{Memory, Regs, Spa, Translator};

/// Cycles a translation may take before the device reports a hang.
pub const DEFAULT_HANG_CYCLES: u64 = 100_000;

/// The memory timing the device applies to the RTL's memory port (the timing
/// model's `mem_latency`, `mem_beat_cycles`, `mem_outstanding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemTiming {
    /// Cycles from an access's acceptance to its first word.
    pub latency: u64,
    /// Extra cycles per further word.
    pub beat_cycles: u64,
    /// Accesses in flight at most.
    pub outstanding: usize,
}

impl Default for MemTiming {
    fn default() -> Self {
        MemTiming { latency: 100, beat_cycles: 1, outstanding: 16 }
    }
}

/// Why the RTL could not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The simulation stopped (a failed assertion, `$stop`, a Verilator error).
    #[error("the RTL stopped at cycle {cycle}: {source}")]
    Stopped {
        /// Cycle since reset.
        cycle: u64,
        /// What the simulation reported.
        source: Error,
    },
    /// A request got no response within the bound.
    #[error("request {request:?} (tag {tag}) issued at cycle {issued} got no response within {bound} cycles")]
    Hang {
        /// The stuck request.
        request: Request,
        /// Its tag.
        tag: u32,
        /// Its issue cycle.
        issued: u64,
        /// The bound.
        bound: u64,
    },
    /// The RTL answered a tag it was never given.
    #[error("the RTL answered tag {0}, which is not in flight")]
    UnknownTag(u16),
    /// The RTL asked memory for an impossible access.
    #[error("the RTL asked walker {walker} to read {words} words at {addr:#x}")]
    BadAccess {
        /// Walker number.
        walker: u8,
        /// Address.
        addr: u64,
        /// Words.
        words: u8,
    },
}

#[derive(Clone, Copy)]
struct InFlight {
    tag: u32,
    req: Request,
    issued: u64,
}

#[derive(Clone, Copy)]
struct MemAnswer {
    due: u64,
    err: bool,
    data: [u64; RSP_WORDS],
}

/// One RTL model behind the model's interfaces. See the module documentation.
pub struct RtlDevice {
    rtl: Rtl,
    inputs: Inputs,
    regs: Regs,
    timing: MemTiming,
    /// Cycles since reset was released.
    cycle: u64,
    offered: Option<(u32, Request)>,
    command: Option<[u64; 2]>,
    /// Translations in flight, by the RTL's 16-bit tag.
    slots: Vec<Option<InFlight>>,
    free: Vec<u16>,
    answers: Vec<Option<MemAnswer>>,
    outstanding: usize,
    completions: Vec<Completion>,
    faults: Vec<FaultRecord>,
    counters: Counters,
    illegal: bool,
    hang_cycles: u64,
    error: Option<DeviceError>,
}

impl RtlDevice {
    /// A device running the RTL configuration `config` (a name of
    /// `rtl/configs.txt`), with the given memory timing. Call
    /// [`Translator::reset`] or [`CycleDevice::reset`] before use.
    pub fn new(config: &str, timing: MemTiming) -> Result<Self, Error> {
        let rtl = Rtl::new(config)?;
        let walkers = rtl.params().walkers as usize;
        let tags = rtl.params().req_queue as usize + walkers + 4;
        Ok(RtlDevice {
            rtl,
            inputs: Inputs::default(),
            regs: Regs::default(),
            timing,
            cycle: 0,
            offered: None,
            command: None,
            slots: vec![None; tags],
            free: (0..tags as u16).rev().collect(),
            answers: vec![None; walkers],
            outstanding: 0,
            completions: Vec::new(),
            faults: Vec::new(),
            counters: Counters::default(),
            illegal: false,
            hang_cycles: DEFAULT_HANG_CYCLES,
            error: None,
        })
    }

    /// The RTL model (for waveforms and parameters).
    pub fn rtl_mut(&mut self) -> &mut Rtl {
        &mut self.rtl
    }

    /// The RTL model.
    pub fn rtl(&self) -> &Rtl {
        &self.rtl
    }

    /// Whether the RTL rejected the command it took on the last cycle.
    pub fn last_command_illegal(&self) -> bool {
        self.illegal
    }

    /// Sets the bound after which a translation in flight is reported as a hang.
    pub fn set_hang_cycles(&mut self, cycles: u64) {
        self.hang_cycles = cycles;
    }

    /// The first failure, if the RTL failed (then every answer since is void).
    pub fn error(&self) -> Option<&DeviceError> {
        self.error.as_ref()
    }

    /// Takes the first failure.
    pub fn take_error(&mut self) -> Option<DeviceError> {
        self.error.take()
    }

    fn fail(&mut self, e: DeviceError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn apply_regs(&mut self) {
        self.inputs.capabilities_i = self.regs.capabilities.0;
        self.inputs.fctl_i = self.regs.fctl.0 as u32;
        self.inputs.ddtp_i = self.regs.ddtp.0;
    }

    fn do_reset(&mut self, regs: &Regs) {
        self.regs = *regs;
        self.inputs = Inputs::default();
        self.apply_regs();
        self.inputs.rst_ni = false;
        for _ in 0..2 {
            if let Err(e) = self.rtl.step(&self.inputs) {
                self.fail(DeviceError::Stopped { cycle: 0, source: e });
            }
        }
        self.inputs.rst_ni = true;
        self.inputs.rsp_ready_i = true;
        self.cycle = 0;
        self.offered = None;
        self.command = None;
        let tags = self.slots.len();
        self.slots.iter_mut().for_each(|s| *s = None);
        self.free = (0..tags as u16).rev().collect();
        self.answers.iter_mut().for_each(|a| *a = None);
        self.outstanding = 0;
        self.completions.clear();
        self.faults.clear();
        self.counters = Counters::default();
    }

    /// One clock cycle. See the module documentation for the memory rules.
    fn step(&mut self, mem: &mut dyn Memory) {
        if self.error.is_some() {
            self.cycle += 1;
            return;
        }
        let cycle = self.cycle;
        let inp = &mut self.inputs;
        // The request offered this cycle.
        inp.req_valid_i = false;
        if let Some((_, req)) = &self.offered {
            if let Some(&slot) = self.free.last() {
                inp.req_valid_i = true;
                inp.req_tag_i = slot;
                inp.req_did_i = req.device_id.0;
                inp.req_pv_i = req.pid.is_some();
                inp.req_pid_i = req.pid.map_or(0, |p| p.0);
                inp.req_priv_i = req.privileged;
                inp.req_access_i = match req.access {
                    Access::Read => 0,
                    Access::Write => 1,
                    Access::Exec => 2,
                };
                inp.req_iova_i = req.iova.0;
            }
        }
        // Memory answers due now.
        inp.mem_rsp_valid_i = 0;
        inp.mem_rsp_err_i = 0;
        for (w, a) in self.answers.iter_mut().enumerate() {
            if let Some(ans) = a {
                if ans.due == cycle {
                    inp.mem_rsp_valid_i |= 1 << w;
                    if ans.err {
                        inp.mem_rsp_err_i |= 1 << w;
                    }
                    inp.mem_rsp_data_i[w] = ans.data;
                    *a = None;
                    self.outstanding -= 1;
                }
            }
        }
        inp.mem_req_ready_i = self.outstanding < self.timing.outstanding;
        // A command is offered for one cycle and takes effect at its end.
        inp.cmd_valid_i = self.command.is_some();
        let [lo, hi] = self.command.take().unwrap_or([0, 0]);
        inp.cmd_lo_i = lo;
        inp.cmd_hi_i = hi;

        let out: Outputs = match self.rtl.step(&self.inputs) {
            Ok(o) => *o,
            Err(e) => {
                self.fail(DeviceError::Stopped { cycle, source: e });
                self.cycle += 1;
                return;
            }
        };
        self.illegal = self.inputs.cmd_valid_i && out.cmd_illegal_o;
        if self.inputs.req_valid_i && out.req_ready_o {
            let (tag, req) = self.offered.take().expect("offered request");
            let slot = self.free.pop().expect("free tag");
            self.slots[usize::from(slot)] = Some(InFlight { tag, req, issued: cycle });
        }
        if out.mem_req_valid_o && self.inputs.mem_req_ready_i {
            self.serve_memory(mem, &out);
        }
        if out.rsp_valid_o {
            self.complete(&out);
        }
        self.cycle += 1;
    }

    fn serve_memory(&mut self, mem: &mut dyn Memory, out: &Outputs) {
        let w = usize::from(out.mem_req_id_o);
        let words = if out.mem_req_cas_o { 1 } else { out.mem_req_words_o };
        if w >= self.answers.len() || !(1..=8).contains(&words) || self.answers[w].is_some() {
            self.fail(DeviceError::BadAccess { walker: out.mem_req_id_o, addr: out.mem_req_addr_o, words });
            return;
        }
        let mut data = [0u64; RSP_WORDS];
        let addr = Spa(out.mem_req_addr_o);
        let err = if out.mem_req_cas_o {
            match mem.compare_and_swap(addr, out.mem_req_cmp_o, out.mem_req_swap_o) {
                Ok(old) => {
                    data[0] = old;
                    false
                }
                Err(_) => true,
            }
        } else {
            mem.read_words(addr, &mut data[..usize::from(words)]).is_err()
        };
        let due = self.cycle + self.timing.latency + (u64::from(words) - 1) * self.timing.beat_cycles;
        self.answers[w] = Some(MemAnswer { due: due.max(self.cycle + 1), err, data });
        self.outstanding += 1;
    }

    fn complete(&mut self, out: &Outputs) {
        let slot = out.rsp_tag_o;
        let Some(f) = self.slots.get_mut(usize::from(slot)).and_then(Option::take) else {
            self.fail(DeviceError::UnknownTag(slot));
            return;
        };
        self.free.push(slot);
        let response = decode_response(out);
        if let Some(rec) = response.reported_fault() {
            self.faults.push(*rec);
        }
        let source = match out.rsp_source_o {
            1 => Source::Bare,
            2 => Source::Iotlb,
            3 => Source::Walk,
            4 => Source::Msi,
            _ => Source::Fault,
        };
        self.completions.push(Completion {
            tag: f.tag,
            response,
            issued: f.issued,
            completed: self.cycle,
            source,
            merged: false,
            reads: u32::from(out.rsp_reads_o),
        });
    }

    fn read_counters(&mut self) {
        let o = *self.rtl.outputs();
        let c = &mut self.counters;
        c.iotlb_hit = u64::from(o.cnt_iotlb_hit_o);
        c.iotlb_miss = u64::from(o.cnt_iotlb_miss_o);
        c.ddtc_hit = u64::from(o.cnt_ddtc_hit_o);
        c.ddtc_miss = u64::from(o.cnt_ddtc_miss_o);
        c.pdtc_hit = u64::from(o.cnt_pdtc_hit_o);
        c.pdtc_miss = u64::from(o.cnt_pdtc_miss_o);
        c.walk_merged = u64::from(o.cnt_walk_merged_o);
        c.walk_reads = u64::from(o.cnt_walk_reads_o);
        c.walk_writes = u64::from(o.cnt_walk_writes_o);
        c.faults = u64::from(o.cnt_faults_o);
    }

    fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The oldest translation in flight longer than the hang bound.
    fn check_hang(&mut self) {
        let bound = self.hang_cycles;
        let now = self.cycle;
        if let Some(f) = self.slots.iter().flatten().find(|f| now.saturating_sub(f.issued) > bound).copied() {
            self.fail(DeviceError::Hang { request: f.req, tag: f.tag, issued: f.issued, bound });
        }
    }
}

/// The model's [`Response`] for the RTL's response ports.
pub fn decode_response(out: &Outputs) -> Response {
    match out.rsp_status_o {
        0 => Response::success(Spa(out.rsp_spa_o)),
        s => {
            let record = FaultRecord::from_words([out.rsp_rec0_o, 0, out.rsp_iotval_o, out.rsp_iotval2_o]);
            Response {
                status: if s == 2 { Status::CompleterAbort } else { Status::UnsupportedRequest },
                spa: Spa(0),
                fault: Some(record),
                suppressed: !out.rsp_fault_o,
            }
        }
    }
}

impl Translator for RtlDevice {
    fn reset(&mut self, regs: &Regs) {
        self.do_reset(regs);
    }

    fn translate(&mut self, mem: &mut dyn Memory, req: &Request) -> Response {
        self.offered = Some((0, *req));
        let start = self.cycle;
        loop {
            self.step(mem);
            if let Some(c) = self.completions.pop() {
                self.completions.clear();
                self.read_counters();
                return c.response;
            }
            if self.error.is_some() || self.cycle - start > self.hang_cycles {
                if self.error.is_none() {
                    let issued = self.slots.iter().flatten().next().map_or(start, |f| f.issued);
                    self.fail(DeviceError::Hang { request: *req, tag: 0, issued, bound: self.hang_cycles });
                }
                // The caller must look at `error()`: this answer is void.
                return Response { status: Status::CompleterAbort, spa: Spa(0), fault: None, suppressed: true };
            }
        }
    }

    /// Runs the command for one cycle; the answer is the RTL's own verdict.
    fn command(&mut self, mem: &mut dyn Memory, cmd: [u64; 2]) -> Result<(), CommandError> {
        let _ = CycleDevice::command(self, mem, cmd);
        self.step(mem);
        if self.illegal {
            return Err(CommandError::Illegal("the RTL rejected the command"));
        }
        Ok(())
    }

    fn drain_faults(&mut self, out: &mut Vec<FaultRecord>) {
        out.append(&mut self.faults);
    }

    fn name(&self) -> &str {
        self.rtl.name()
    }

    fn counters(&self) -> Option<&Counters> {
        Some(&self.counters)
    }

    fn supports(&self, feature: &str) -> bool {
        // Sv32 and big-endian tables are not built (nor in the model's sample set).
        !matches!(feature, "sv32" | "sv32x4" | "big-endian")
    }
}

impl CycleDevice for RtlDevice {
    fn reset(&mut self, regs: &Regs) {
        self.do_reset(regs);
    }

    fn try_issue(&mut self, tag: u32, req: &Request) -> bool {
        if self.offered.is_some() {
            return false;
        }
        self.offered = Some((tag, *req));
        true
    }

    fn tick(&mut self, mem: &mut dyn Memory) {
        self.step(mem);
        self.check_hang();
    }

    fn take_completions(&mut self, out: &mut Vec<Completion>) {
        self.read_counters();
        self.counters.translations += self.completions.len() as u64;
        out.append(&mut self.completions);
    }

    /// Queues the command for the next cycle (the RTL takes one per cycle and
    /// applies it at that cycle's end). The IOFENCE.C completion write, which
    /// belongs to the command queue rather than the translation unit, is done
    /// here.
    fn command(&mut self, mem: &mut dyn Memory, cmd: [u64; 2]) -> Result<(), CommandError> {
        self.command = Some(cmd);
        command::decode(cmd, &self.regs)?.completion_write(mem)
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn cycle(&self) -> u64 {
        self.cycle
    }

    fn idle(&self) -> bool {
        self.offered.is_none() && self.in_flight() == 0 && self.rtl.outputs().idle_o
    }

    fn drain_faults(&mut self, out: &mut Vec<FaultRecord>) {
        out.append(&mut self.faults);
    }
}
