//! An accelerator streaming over large buffers.
//!
//! The model is an offload engine (compression, crypto, a DMA engine) given two
//! long-lived buffers, as a user-space driver pins and maps them once (VFIO's
//! `VFIO_IOMMU_MAP_DMA`, or a kernel driver's `dma_map_sgtable` of a large
//! buffer):
//! - At start: attach (`s1`); map the source buffer (`r`) and the destination
//!   buffer (`rw`), each `buffer` bytes at an IOVA aligned to its size, with
//!   `page`-sized PTEs. The memory behind them is scattered in physically
//!   contiguous runs of `chunk` bytes (huge pages, or what the page allocator
//!   had), one map event per run.
//! - Then `accesses` accesses, alternating a read of the source and a write of
//!   the destination at the same offset, of a random multiple of 256 B from
//!   `min_len` to `max_len`; the offset moves sequentially through the buffers
//!   (wrapping at their end), or for [`Pattern::Strided`] down a column of a
//!   matrix whose rows are `stride` bytes (then on to the next 4 KiB column).
//!   Accesses follow each other at `bandwidth` bytes per second.
//! - At the end both buffers are unmapped (one unmap each) and the device
//!   detached.

use super::alloc::{IovaAllocator, PhysPool};
use super::rng::Rng;
use super::sched::Interleave;
use super::{
    check_devices, device_id, device_seed, host_region, invalid, GenError, Generator, MAP_CYCLES, UNMAP_CYCLES,
};
use crate::trace::{Event, MapPage, Mode, Perm};
use iommu_model::Access;

/// How the accelerator moves through its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// From start to end, each access after the previous one.
    Sequential,
    /// Down a column of rows this many bytes long (a multiple of 4 KiB dividing
    /// the buffer), then the next 4 KiB column.
    Strided(u64),
}

/// Parameters of the accelerator workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accel {
    /// Seed of the random choices.
    pub seed: u64,
    /// Devices, interleaved by time.
    pub devices: u32,
    /// Accesses per device.
    pub accesses: u64,
    /// Cycle of the first event.
    pub start: u64,
    /// Bytes of each of the two buffers (a power of two, a multiple of `chunk`).
    pub buffer: u64,
    /// Page size the buffers are mapped with.
    pub page: MapPage,
    /// Bytes of each physically contiguous run (a power of two, a multiple of
    /// `page`).
    pub chunk: u64,
    /// The access pattern.
    pub pattern: Pattern,
    /// Smallest access (a multiple of 256).
    pub min_len: u32,
    /// Largest access (a multiple of 256, at most 4096).
    pub max_len: u32,
    /// Bytes per second the accelerator moves (16 GB/s: PCIe 4.0 x16 at about
    /// half its peak).
    pub bandwidth: u64,
}

impl Default for Accel {
    fn default() -> Self {
        Accel {
            seed: 1,
            devices: 1,
            accesses: 100_000,
            start: 0,
            buffer: 64 << 20,
            page: MapPage::K4,
            chunk: 2 << 20,
            pattern: Pattern::Sequential,
            min_len: 256,
            max_len: 4096,
            bandwidth: 16_000_000_000,
        }
    }
}

impl Accel {
    /// Checks the parameters and builds the generator.
    pub fn build(&self) -> Result<Interleave<AccelDevice>, GenError> {
        check_devices("accel", self.devices)?;
        let page = self.page.bytes();
        if !self.chunk.is_power_of_two() || self.chunk < page {
            return invalid(format!(
                "accel: chunk must be a power of two and a multiple of the {} page, not {:#x}",
                self.page.name(),
                self.chunk
            ));
        }
        if !self.buffer.is_power_of_two() || self.buffer < self.chunk || self.buffer > 1 << 30 {
            return invalid(format!(
                "accel: buffer must be a power of two from the chunk ({:#x}) to 1 GiB, not {:#x}",
                self.chunk, self.buffer
            ));
        }
        let (_, region) = host_region(self.devices, 0);
        if 2 * self.buffer > region {
            return invalid(format!(
                "accel: {} devices get {} MiB of memory each, too little for two buffers of {} MiB",
                self.devices,
                region >> 20,
                self.buffer >> 20
            ));
        }
        if self.min_len == 0
            || !self.min_len.is_multiple_of(256)
            || !self.max_len.is_multiple_of(256)
            || self.max_len > 4096
        {
            return invalid("accel: min_len and max_len must be multiples of 256, at most 4096");
        }
        if self.min_len > self.max_len {
            return invalid("accel: min_len must not exceed max_len");
        }
        if let Pattern::Strided(s) = self.pattern {
            if s < 4096 || !s.is_power_of_two() || s > self.buffer {
                return invalid(format!("accel: stride must be a power of two from 4 KiB to the buffer, not {s:#x}"));
            }
        }
        if self.bandwidth == 0 {
            return invalid("accel: bandwidth must not be zero");
        }
        Ok(Interleave::new((0..self.devices).map(|i| AccelDevice::new(*self, i)).collect()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Attach,
    /// Mapping run `k` of both buffers (source runs first).
    Map(u64),
    Access,
    Unmap(u32),
    Detach,
    Done,
}

/// One accelerator's event stream (see the module documentation).
pub struct AccelDevice {
    cfg: Accel,
    dev: u32,
    rng: Rng,
    pool: PhysPool,
    src: u64,
    dst: u64,
    phase: Phase,
    time: u64,
    left: u64,
    /// Offset of the current pair of accesses, its length, and which half is next.
    off: u64,
    len: u64,
    write_next: bool,
    /// Accesses made, for the strided pattern.
    step: u64,
}

impl AccelDevice {
    fn new(cfg: Accel, index: u32) -> Self {
        let (base, size) = host_region(cfg.devices, index);
        let mut rng = Rng::new(device_seed(cfg.seed, 3, index));
        let pool = PhysPool::new(base, size, cfg.chunk, rng.next_u64());
        let mut iovas = IovaAllocator::dma32();
        let src = iovas.alloc(cfg.buffer).expect("two buffers of up to 1 GiB fit below 4 GiB");
        let dst = iovas.alloc(cfg.buffer).expect("two buffers of up to 1 GiB fit below 4 GiB");
        AccelDevice {
            cfg,
            dev: device_id(index),
            rng,
            pool,
            src,
            dst,
            phase: Phase::Attach,
            time: cfg.start,
            left: cfg.accesses,
            off: 0,
            len: 0,
            write_next: false,
            step: 0,
        }
    }

    fn new_len(&mut self) -> u64 {
        256 * self.rng.range(u64::from(self.cfg.min_len / 256), u64::from(self.cfg.max_len / 256))
    }

    /// The offset and length of the next pair of accesses.
    fn advance(&mut self) {
        let buffer = self.cfg.buffer;
        let len = self.new_len();
        match self.cfg.pattern {
            Pattern::Sequential => {
                let next = self.off + self.len;
                self.off = if next + len > buffer { 0 } else { next };
                self.len = len;
            }
            Pattern::Strided(stride) => {
                let rows = buffer / stride;
                let column = (self.step / rows * 4096) % stride;
                self.off = (self.step % rows) * stride + column;
                // Within the row's 4 KiB column.
                self.len = len.min(4096);
                self.step += 1;
            }
        }
    }
}

impl Generator for AccelDevice {
    fn next_event(&mut self) -> Option<Event> {
        let t = self.time;
        let chunks = self.cfg.buffer / self.cfg.chunk;
        let e = match self.phase {
            Phase::Attach => {
                self.phase = Phase::Map(0);
                self.time += MAP_CYCLES;
                Event::attach(Some(t), self.dev, None, None, Mode::S1)
            }
            Phase::Map(k) => {
                let (base, perm) = if k < chunks { (self.src, Perm::R) } else { (self.dst, Perm::RW) };
                let iova = base + (k % chunks) * self.cfg.chunk;
                self.phase = if k + 1 < 2 * chunks { Phase::Map(k + 1) } else { Phase::Access };
                self.time += MAP_CYCLES;
                let pa = self.pool.alloc();
                Event::map(Some(t), self.dev, None, iova, pa, self.cfg.chunk, self.cfg.page, perm)
            }
            Phase::Access if self.left > 0 => {
                self.left -= 1;
                let write = self.write_next;
                if !write {
                    self.advance();
                }
                self.write_next = !write;
                self.time += (self.len * 1_000_000_000 / self.cfg.bandwidth).max(1);
                let (iova, access) = if write { (self.dst, Access::Write) } else { (self.src, Access::Read) };
                Event::access(Some(t), self.dev, None, iova + self.off, self.len as u32, access)
            }
            Phase::Access | Phase::Unmap(_) => {
                let k = if let Phase::Unmap(k) = self.phase { k } else { 0 };
                self.phase = if k == 0 { Phase::Unmap(1) } else { Phase::Detach };
                self.time += UNMAP_CYCLES;
                let iova = if k == 0 { self.src } else { self.dst };
                Event::unmap(Some(t), self.dev, None, iova, self.cfg.buffer)
            }
            Phase::Detach => {
                self.phase = Phase::Done;
                Event::detach(Some(t), self.dev)
            }
            Phase::Done => return None,
        };
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::events;
    use crate::trace::EventKind;

    #[test]
    fn sequential_pairs_read_the_source_then_write_the_destination_at_the_same_offset() {
        let a = Accel { accesses: 1000, buffer: 4 << 20, ..Accel::default() };
        let evs: Vec<Event> = events(a.build().unwrap()).collect();
        let maps: Vec<&Event> = evs.iter().filter(|e| e.kind == EventKind::Map).collect();
        assert_eq!(maps.len(), 4);
        let (src, dst) = (maps[0].iova, maps[2].iova);
        assert_eq!((maps[0].perm, maps[2].perm), (Perm::R, Perm::RW));
        let acc: Vec<&Event> = evs.iter().filter(|e| e.kind == EventKind::Access).collect();
        assert_eq!(acc.len(), 1000);
        let mut expect = 0;
        for pair in acc.chunks(2) {
            assert_eq!((pair[0].iova - src, pair[0].access), (expect, Access::Read));
            assert_eq!((pair[1].iova - dst, pair[1].access, pair[1].len), (expect, Access::Write, pair[0].len));
            assert!((256..=4096).contains(&pair[0].len) && pair[0].len.is_multiple_of(256));
            expect += u64::from(pair[0].len);
        }
    }

    #[test]
    fn strided_accesses_walk_down_columns() {
        let a = Accel {
            accesses: 64,
            buffer: 2 << 20,
            pattern: Pattern::Strided(1 << 20),
            min_len: 4096,
            max_len: 4096,
            ..Accel::default()
        };
        let evs: Vec<Event> = events(a.build().unwrap()).collect();
        let src = evs[1].iova;
        let reads: Vec<u64> = evs
            .iter()
            .filter(|e| e.access == Access::Read && e.kind == EventKind::Access)
            .map(|e| e.iova - src)
            .collect();
        assert_eq!(&reads[..4], &[0, 1 << 20, 4096, (1 << 20) + 4096]);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Accel { page: MapPage::M2, chunk: 4096, ..Accel::default() }.build().is_err());
        assert!(Accel { buffer: 3 << 20, ..Accel::default() }.build().is_err());
        assert!(Accel { max_len: 8192, ..Accel::default() }.build().is_err());
        assert!(Accel { min_len: 100, ..Accel::default() }.build().is_err());
        assert!(Accel { pattern: Pattern::Strided(1000), ..Accel::default() }.build().is_err());
        assert!(Accel { devices: 256, buffer: 1 << 30, ..Accel::default() }.build().is_err());
        assert!(Accel { page: MapPage::M2, ..Accel::default() }.build().is_ok());
    }
}
