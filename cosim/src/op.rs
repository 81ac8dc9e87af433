//! The stimulus of a lockstep run: what software and devices do, in order.

use iommu_model::Request;

/// One thing that happens in a lockstep run (`crate::lockstep`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A device offers a translation request; it is issued as soon as the RTL
    /// takes it (back-to-back), while earlier requests may still be in flight.
    Translate(Request),
    /// Software changes memory: `writes` (address, value) land at once, then
    /// `commands` (the invalidations the change needs, per the specification)
    /// run, one per cycle. Requests in flight meanwhile may see the tables before
    /// or after the change; requests offered afterwards must see the new tables.
    Change {
        /// 64-bit words written, in order.
        writes: Vec<(u64, u64)>,
        /// Command-queue entries executed after the writes.
        commands: Vec<[u64; 2]>,
    },
    /// A command on its own (for example an IOFENCE.C or an invalidation of
    /// something unchanged).
    Command([u64; 2]),
    /// Wait until no request is in flight.
    Drain,
}

/// The ops of a `riscv-iommu-vector/1` vector, run in lockstep (requests back to
/// back, as a workload runs), with its starting memory: how a shrunk reproducer
/// of a timing mismatch replays. Consecutive memory writes form one
/// [`Op::Change`]; commands follow as [`Op::Command`].
pub fn from_vector(v: &iommu_traces::vector::Vector) -> (iommu_model::SparseMemory, Vec<Op>) {
    use iommu_traces::vector::VectorStep;
    let mut mem = iommu_model::SparseMemory::new();
    for &(a, w) in &v.memory {
        mem.poke(iommu_model::Spa(a), w);
    }
    for &b in &v.bad_memory {
        mem.mark_bad(iommu_model::Spa(b));
    }
    let mut ops: Vec<Op> = Vec::with_capacity(v.steps.len());
    for s in &v.steps {
        match s {
            VectorStep::Translate { req, .. } => ops.push(Op::Translate(*req)),
            VectorStep::Command { words } => ops.push(Op::Command(*words)),
            VectorStep::WriteMemory { addr, value } => match ops.last_mut() {
                Some(Op::Change { writes, .. }) => writes.push((*addr, *value)),
                _ => ops.push(Op::Change { writes: vec![(*addr, *value)], commands: Vec::new() }),
            },
        }
    }
    (mem, ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_traces::vector::{Expected, Vector, VectorStep};

    #[test]
    fn consecutive_writes_form_one_change_and_commands_stay_apart() {
        let req = iommu_model::Request {
            device_id: iommu_model::DeviceId(1),
            pid: None,
            privileged: false,
            iova: iommu_model::Iova(0x1000),
            access: iommu_model::Access::Read,
            len: 8,
        };
        let expect = Expected { status: iommu_model::Status::Success, spa: Some(0x1000), fault: None };
        let v = Vector {
            name: "v".into(),
            features: Vec::new(),
            regs: iommu_model::Regs::default(),
            memory: vec![(0x8000, 5)],
            bad_memory: vec![0x9000],
            steps: vec![
                VectorStep::Translate { req, expect },
                VectorStep::WriteMemory { addr: 0x8000, value: 6 },
                VectorStep::WriteMemory { addr: 0x8008, value: 7 },
                VectorStep::Command { words: [1, 0] },
                VectorStep::WriteMemory { addr: 0x8010, value: 8 },
            ],
            memory_after: Vec::new(),
        };
        let (mut mem, ops) = from_vector(&v);
        assert_eq!(
            ops,
            vec![
                Op::Translate(req),
                Op::Change { writes: vec![(0x8000, 6), (0x8008, 7)], commands: vec![] },
                Op::Command([1, 0]),
                Op::Change { writes: vec![(0x8010, 8)], commands: vec![] },
            ]
        );
        use iommu_model::Memory;
        assert_eq!(mem.read(iommu_model::Spa(0x8000)).unwrap(), 5);
        assert!(mem.read(iommu_model::Spa(0x9000)).is_err());
    }
}
