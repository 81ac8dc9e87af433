//! A DMA trace as a lockstep [`Op`] stream: the driver model turns mapping events
//! into table writes and the invalidations its policy issues (one
//! [`Op::Change`] per event), and each access into the requests a PCIe device
//! sends.

use crate::op::Op;
use iommu_model::{Regs, Spa, SparseMemory};
use iommu_traces::driver::{Driver, DriverConfig};
use iommu_traces::replay::EventSource;
use iommu_traces::trace::EventKind;

/// The starting state and the ops of a trace.
pub struct TraceOps {
    /// Registers the driver programs.
    pub regs: Regs,
    /// Memory with the driver's initial tables.
    pub memory: SparseMemory,
    /// The ops, in trace order.
    pub ops: Vec<Op>,
    /// Accesses read.
    pub accesses: u64,
}

/// Reads every event of `src` through a driver model of `config`. `name` names
/// the source in errors.
pub fn ops_from_events(src: &mut dyn EventSource, name: &str, config: DriverConfig) -> Result<TraceOps, String> {
    let mut mem = SparseMemory::new();
    let mut driver = Driver::new(config, &mut mem).map_err(|e| format!("{name}: {e}"))?;
    let regs = driver.regs();
    let memory = mem.clone();
    mem.track_writes(true);
    mem.take_write_log();
    let mut ops = Vec::new();
    let mut cmds = Vec::new();
    let mut reqs = Vec::new();
    let mut accesses = 0;
    let change = |mem: &mut SparseMemory, cmds: &mut Vec<[u64; 2]>, ops: &mut Vec<Op>| {
        let writes: Vec<(u64, u64)> = mem.take_write_log().into_iter().map(|a| (a, mem.peek(Spa(a)))).collect();
        if !writes.is_empty() || !cmds.is_empty() {
            ops.push(Op::Change { writes, commands: std::mem::take(cmds) });
        }
    };
    loop {
        let next = src.next_event().map_err(|e| format!("{name}: {e}"))?;
        let Some((line, e)) = next else { break };
        if let Some(t) = e.time {
            driver.tick(t, &mut cmds);
            change(&mut mem, &mut cmds, &mut ops);
        }
        if e.kind == EventKind::Access {
            accesses += 1;
            reqs.clear();
            driver.requests(&e, &mut reqs);
            ops.extend(reqs.iter().map(|r| Op::Translate(*r)));
        } else {
            driver.apply(&mut mem, &e, &mut cmds).map_err(|err| format!("{name}:{line}: {err}"))?;
            change(&mut mem, &mut cmds, &mut ops);
        }
    }
    driver.flush(&mut cmds);
    change(&mut mem, &mut cmds, &mut ops);
    ops.push(Op::Drain);
    Ok(TraceOps { regs, memory, ops, accesses })
}
