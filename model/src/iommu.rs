//! The golden model: a [`Translator`] that drives [`Translation`] step machines
//! against memory, with caches of configurable size.

use crate::caches::{CacheConfig, Caches};
use crate::command::{self, Command, CommandError};
use crate::fault::FaultRecord;
use crate::memory::Memory;
use crate::regs::Regs;
use crate::request::{Request, Response};
use crate::stats::Counters;
use crate::translate::{Deferred, Env, Immediate, Reply, Source, Step, Translation};
use crate::translator::Translator;

/// The golden model of the IOMMU.
#[derive(Clone)]
pub struct Iommu {
    regs: Regs,
    config: CacheConfig,
    caches: Caches,
    counters: Counters,
    faults: Vec<FaultRecord>,
    last_source: Source,
    /// The one translation in flight, reused from request to request.
    walk: Box<Translation>,
}

impl Iommu {
    /// A model with the given cache sizes, reset with all-zero registers
    /// (`iommu_mode` Off).
    pub fn new(config: CacheConfig) -> Self {
        Iommu {
            regs: Regs::default(),
            config,
            caches: Caches::new(&config),
            counters: Counters::default(),
            faults: Vec::new(),
            last_source: Source::Pending,
            walk: Box::new(Translation::new(Request::default())),
        }
    }

    /// A model reset with `regs`.
    pub fn with_regs(config: CacheConfig, regs: Regs) -> Self {
        let mut m = Iommu::new(config);
        m.regs = regs;
        m
    }

    /// The registers.
    pub fn regs(&self) -> &Regs {
        &self.regs
    }

    /// The cache configuration.
    pub fn cache_config(&self) -> &CacheConfig {
        &self.config
    }

    /// The caches (for inspection and for emptying them between measurements).
    pub fn caches_mut(&mut self) -> &mut Caches {
        &mut self.caches
    }

    /// The caches.
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// The statistics counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Where the last translation got its answer.
    pub fn last_source(&self) -> Source {
        self.last_source
    }

    /// Translates one request against any memory; statically dispatched, for
    /// callers that know their memory type.
    #[inline]
    pub fn translate_in<M: Memory + ?Sized>(&mut self, mem: &mut M, req: &Request) -> Response {
        let t = &mut *self.walk;
        t.restart(*req);
        let mut port = Immediate(mem);
        let mut env = Env { regs: &self.regs, caches: &mut self.caches, counters: &mut self.counters, port: &mut port };
        // The port answers at once, so the machine finishes in one call.
        let step = t.resume(&mut env, Reply::Start);
        debug_assert_eq!(step, Step::Done);
        let resp = t.response();
        self.last_source = t.source();
        if let Some(f) = resp.reported_fault() {
            self.faults.push(*f);
        }
        resp
    }

    /// Runs a decoded command.
    pub fn execute(&mut self, mem: &mut (impl Memory + ?Sized), cmd: Command) -> Result<(), CommandError> {
        cmd.completion_write(mem)?;
        self.caches.execute(&cmd);
        Ok(())
    }
}

/// Drives a translation to completion against `mem`, one [`Step`] at a time: the
/// loop a cycle-level driver runs, without the cycles.
pub fn run<M: Memory + ?Sized>(t: &mut Translation, env: &mut Env<'_, Deferred>, mem: &mut M) -> Response {
    let mut buf = [0u64; 8];
    let mut step = t.resume(env, Reply::Start);
    loop {
        step = match step {
            Step::Done => return t.response(),
            Step::Read => {
                let op = t.mem_op();
                let out = &mut buf[..op.words as usize];
                match mem.read_words(op.addr, out) {
                    Ok(()) => t.resume(env, Reply::Data(out)),
                    Err(_) => t.resume(env, Reply::AccessFault),
                }
            }
            Step::Cache => t.resume(env, Reply::Go),
            Step::CompareAndSwap => match mem.compare_and_swap(t.mem_op().addr, t.mem_op().expected, t.mem_op().new) {
                Ok(old) => t.resume(env, Reply::Swapped { old }),
                Err(_) => t.resume(env, Reply::AccessFault),
            },
        }
    }
}

impl Translator for Iommu {
    fn reset(&mut self, regs: &Regs) {
        self.regs = *regs;
        self.caches.clear();
        self.faults.clear();
        self.counters = Counters::default();
    }

    fn translate(&mut self, mem: &mut dyn Memory, req: &Request) -> Response {
        self.translate_in(mem, req)
    }

    fn command(&mut self, mem: &mut dyn Memory, cmd: [u64; 2]) -> Result<(), CommandError> {
        let c = command::decode(cmd, &self.regs)?;
        self.execute(mem, c)
    }

    fn drain_faults(&mut self, out: &mut Vec<FaultRecord>) {
        out.append(&mut self.faults);
    }

    fn counters(&self) -> Option<&Counters> {
        Some(&self.counters)
    }

    fn name(&self) -> &str {
        "model"
    }
}
