//! An NVMe SSD: one submission/completion queue pair and I/Os whose data pages
//! are mapped for each command.
//!
//! The model follows Linux's NVMe driver (`drivers/nvme/host/pci.c`) on an IOMMU:
//! - At start: attach (`s1`); map the submission queue (`queue_entries` x 64 B)
//!   and the completion queue (`queue_entries` x 16 B), both coherent
//!   (physically contiguous, mapped once, `rw`). With `prp_pool` set, also map
//!   one PRP-list page per queue slot once, as the driver's `dma_pool` does (its
//!   memory is coherent); by default a PRP-list page is mapped for each I/O that
//!   needs one, as a driver without a pool would.
//! - `queue_depth` I/Os are kept in flight (a closed loop, like fio's `iodepth`):
//!   each completion's interrupt handler unmaps the I/O and submits the next one.
//! - An I/O is a read (the device writes memory; `read_percent` of them) or a
//!   write of `io_size` bytes, or by default of 4 KiB (50 %) or 8, 16, 32, 64 or
//!   128 KiB (10 % each), in page-aligned pages scattered over physical memory.
//!   `dma_map_sg` through the IOMMU gives the whole list one contiguous IOVA
//!   range (`iommu_dma_map_sg`), so the trace has one map event per data page at
//!   consecutive IOVAs (`rw` for reads, `r` for writes) and one unmap of the whole
//!   range. More than two pages need a PRP list: PRP1 names the first page, PRP2
//!   the list, which holds the other pages' addresses, 8 B each.
//! - The device reads the 64 B submission entry, then (for a read, after the
//!   media latency) the PRP list, then moves the data in bursts of `burst` bytes,
//!   none crossing a 4 KiB boundary, at `bandwidth` bytes per second; for a write,
//!   the program latency follows the data. It then writes the 16 B completion
//!   entry, and the interrupt handler runs `irq_cycles` later.
//! - At the end the queues (and the PRP pool) are unmapped and the device
//!   detached.
//!
//! Message-signalled interrupt writes are not part of the trace.

use super::alloc::{IovaAllocator, PhysPool};
use super::rng::Rng;
use super::sched::{Interleave, Sched};
use super::{
    align_up, check_devices, device_id, device_seed, host_region, invalid, GenError, Generator, DMA_READ_CYCLES,
    DOORBELL_CYCLES, MAP_CYCLES, UNMAP_CYCLES,
};
use crate::trace::{Event, MapPage, Mode, Perm};
use iommu_model::Access;

/// Bytes of a submission-queue entry.
pub const SQE_BYTES: u64 = 64;
/// Bytes of a completion-queue entry.
pub const CQE_BYTES: u64 = 16;
const PAGE: u64 = 4096;
/// Cycles to map each further page of a scatter list (one `iommu_map_sg` call
/// writes them all).
const MAP_PAGE_CYCLES: u64 = 40;

/// Parameters of the NVMe workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nvme {
    /// Seed of the random choices.
    pub seed: u64,
    /// Devices, interleaved by time.
    pub devices: u32,
    /// I/Os per device.
    pub ios: u64,
    /// Cycle of the first event.
    pub start: u64,
    /// I/Os in flight per device.
    pub queue_depth: u32,
    /// Entries of each queue (more than `queue_depth`, at most 4096).
    pub queue_entries: u32,
    /// Every I/O's size (a multiple of 4 KiB up to 2 MiB), or `None` for the mix.
    pub io_size: Option<u32>,
    /// Percent of I/Os that are reads.
    pub read_percent: u32,
    /// Bytes of a data burst (a power of two, 64 to 4096; 512 is PCIe's default
    /// max read request size).
    pub burst: u32,
    /// Data bytes per second while an I/O transfers (3 GB/s: a PCIe 3.0 x4 SSD).
    pub bandwidth: u64,
    /// Cycles from a read's submission-entry fetch to its first data (flash read
    /// latency, some 80 us).
    pub read_latency: u64,
    /// Cycles from a write's last data to its completion (some 20 us).
    pub write_latency: u64,
    /// Cycles from the completion entry to the interrupt handler.
    pub irq_cycles: u64,
    /// Map PRP-list pages once, as a `dma_pool` (instead of per I/O).
    pub prp_pool: bool,
}

impl Default for Nvme {
    fn default() -> Self {
        Nvme {
            seed: 1,
            devices: 1,
            ios: 2_000,
            start: 0,
            queue_depth: 32,
            queue_entries: 256,
            io_size: None,
            read_percent: 70,
            burst: 512,
            bandwidth: 3_000_000_000,
            read_latency: 80_000,
            write_latency: 20_000,
            irq_cycles: 2_000,
            prp_pool: false,
        }
    }
}

impl Nvme {
    /// Checks the parameters and builds the generator.
    pub fn build(&self) -> Result<Interleave<NvmeDevice>, GenError> {
        check_devices("nvme", self.devices)?;
        if self.queue_depth == 0 || self.queue_entries <= self.queue_depth || self.queue_entries > 4096 {
            return invalid(format!(
                "nvme: need 0 < queue_depth < queue_entries <= 4096, not depth {} entries {}",
                self.queue_depth, self.queue_entries
            ));
        }
        if let Some(s) = self.io_size {
            if s == 0 || !u64::from(s).is_multiple_of(PAGE) || s > 2 << 20 {
                return invalid(format!("nvme: io_size must be a multiple of 4 KiB up to 2 MiB, not {s}"));
            }
        }
        let largest = self.io_size.map_or(128 << 10, u64::from);
        if u64::from(self.queue_depth) * largest > 1 << 30 {
            return invalid("nvme: queue_depth x the largest I/O must fit in 1 GiB of IOVA space");
        }
        if self.read_percent > 100 {
            return invalid(format!("nvme: read_percent must be at most 100, not {}", self.read_percent));
        }
        if !self.burst.is_power_of_two() || !(64..=4096).contains(&self.burst) {
            return invalid(format!("nvme: burst must be a power of two from 64 to 4096, not {}", self.burst));
        }
        if self.bandwidth == 0 {
            return invalid("nvme: bandwidth must not be zero");
        }
        Ok(Interleave::new((0..self.devices).map(|i| NvmeDevice::new(*self, i)).collect()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Mapping data page `k`.
    MapData(u32),
    MapPrp,
    FetchSqe,
    FetchPrp,
    /// Moving the data at this offset.
    Data(u32),
    Cqe,
    UnmapData,
    UnmapPrp,
}

/// One queue slot's I/O.
#[derive(Clone, Copy, Debug)]
struct Io {
    read: bool,
    pages: u32,
    iova: u64,
    prp: u64,
    sqe: u32,
    stage: Stage,
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Setup(u32),
    /// Start a new I/O in this slot.
    Submit(u32),
    /// Advance the slot's I/O.
    Step(u32),
    Teardown(u32),
}

/// One SSD's event stream (see the module documentation).
pub struct NvmeDevice {
    cfg: Nvme,
    dev: u32,
    rng: Rng,
    sched: Sched<Act>,
    iovas: IovaAllocator,
    data_pool: PhysPool,
    prp_pages: PhysPool,
    coherent: u64,
    sq: u64,
    cq: u64,
    pool: u64,
    sq_bytes: u64,
    cq_bytes: u64,
    pool_bytes: u64,
    ios: Vec<Io>,
    sq_tail: u32,
    cq_head: u32,
    left: u64,
    completed: u64,
    /// The teardown, scheduled when nothing else is left: delay and action.
    teardown: Option<(u64, Act)>,
}

impl NvmeDevice {
    fn new(cfg: Nvme, index: u32) -> Self {
        let (base, size) = host_region(cfg.devices, index);
        let mut rng = Rng::new(device_seed(cfg.seed, 2, index));
        let data_pool = PhysPool::new(base, size / 2, PAGE, rng.next_u64());
        let prp_pages = PhysPool::new(base + size / 2, size / 4, PAGE, rng.next_u64());
        let mut sched = Sched::new(cfg.start);
        sched.at(cfg.start, Act::Setup(0));
        let idle = Io { read: false, pages: 0, iova: 0, prp: 0, sqe: 0, stage: Stage::Cqe };
        NvmeDevice {
            cfg,
            dev: device_id(index),
            rng,
            sched,
            iovas: IovaAllocator::dma32(),
            data_pool,
            prp_pages,
            coherent: base + size / 4 * 3,
            sq: 0,
            cq: 0,
            pool: 0,
            sq_bytes: align_up(u64::from(cfg.queue_entries) * SQE_BYTES, PAGE),
            cq_bytes: align_up(u64::from(cfg.queue_entries) * CQE_BYTES, PAGE),
            pool_bytes: u64::from(cfg.queue_depth) * PAGE,
            ios: vec![idle; cfg.queue_depth as usize],
            sq_tail: 0,
            cq_head: 0,
            left: cfg.ios,
            completed: 0,
            teardown: Some((UNMAP_CYCLES, Act::Teardown(0))),
        }
    }

    /// I/Os completed so far.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    fn access(&self, t: u64, iova: u64, len: u64, access: Access) -> Event {
        Event::access(Some(t), self.dev, None, iova, len as u32, access)
    }

    fn io_pages(&mut self) -> u32 {
        if let Some(s) = self.cfg.io_size {
            return (u64::from(s) / PAGE) as u32;
        }
        match self.rng.below(10) {
            0..=4 => 1,
            k => 1 << (k - 4),
        }
    }

    /// Cycles to move `bytes` at the device's bandwidth (at least one).
    fn transfer(&self, bytes: u64) -> u64 {
        (bytes * 1_000_000_000 / self.cfg.bandwidth).max(1)
    }

    fn setup(&mut self, t: u64, k: u32) -> Option<Event> {
        let depth = self.cfg.queue_depth;
        let (size, off) = match k {
            0 => {
                self.sched.at(t + MAP_CYCLES, Act::Setup(1));
                return Some(Event::attach(Some(t), self.dev, None, None, Mode::S1));
            }
            1 => (self.sq_bytes, 0),
            2 => (self.cq_bytes, self.sq_bytes),
            3 if self.cfg.prp_pool => (self.pool_bytes, self.sq_bytes + self.cq_bytes),
            _ => {
                for s in 0..depth {
                    self.sched.at(t + u64::from(s) * 100, Act::Submit(s));
                }
                return None;
            }
        };
        let iova = self.iovas.alloc(size).expect("the 32-bit IOVA space holds the queues");
        match k {
            1 => self.sq = iova,
            2 => self.cq = iova,
            _ => self.pool = iova,
        }
        self.sched.at(t + MAP_CYCLES, Act::Setup(k + 1));
        Some(Event::map(Some(t), self.dev, None, iova, self.coherent + off, size, MapPage::K4, Perm::RW))
    }

    fn submit(&mut self, t: u64, s: u32) -> Option<Event> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let pages = self.io_pages();
        let read = self.rng.percent(self.cfg.read_percent);
        let iova = self.iovas.alloc(u64::from(pages) * PAGE).expect("in-flight I/Os fit the 32-bit IOVA space");
        let sqe = self.sq_tail;
        self.sq_tail = (self.sq_tail + 1) % self.cfg.queue_entries;
        self.ios[s as usize] = Io { read, pages, iova, prp: 0, sqe, stage: Stage::MapData(0) };
        self.step(t, s)
    }

    fn step(&mut self, t: u64, s: u32) -> Option<Event> {
        let io = self.ios[s as usize];
        let data_size = u64::from(io.pages) * PAGE;
        let (next, at, e) = match io.stage {
            Stage::MapData(k) => {
                let perm = if io.read { Perm::RW } else { Perm::R };
                let pa = self.data_pool.alloc();
                let e = Event::map(Some(t), self.dev, None, io.iova + u64::from(k) * PAGE, pa, PAGE, MapPage::K4, perm);
                if k + 1 < io.pages {
                    (Stage::MapData(k + 1), t + MAP_PAGE_CYCLES, e)
                } else if io.pages > 2 && !self.cfg.prp_pool {
                    (Stage::MapPrp, t + MAP_CYCLES, e)
                } else {
                    if io.pages > 2 {
                        self.ios[s as usize].prp = self.pool + u64::from(s) * PAGE;
                    }
                    (Stage::FetchSqe, t + MAP_CYCLES + DOORBELL_CYCLES, e)
                }
            }
            Stage::MapPrp => {
                let iova = self.iovas.alloc(PAGE).expect("in-flight I/Os fit the 32-bit IOVA space");
                self.ios[s as usize].prp = iova;
                let pa = self.prp_pages.alloc();
                let e = Event::map(Some(t), self.dev, None, iova, pa, PAGE, MapPage::K4, Perm::R);
                (Stage::FetchSqe, t + MAP_CYCLES + DOORBELL_CYCLES, e)
            }
            Stage::FetchSqe => {
                let e = self.access(t, self.sq + u64::from(io.sqe) * SQE_BYTES, SQE_BYTES, Access::Read);
                let wait = if io.read { self.rng.jitter(self.cfg.read_latency) } else { DMA_READ_CYCLES };
                let next = if io.pages > 2 { Stage::FetchPrp } else { Stage::Data(0) };
                (next, t + wait, e)
            }
            Stage::FetchPrp => {
                let e = self.access(t, io.prp, u64::from(io.pages - 1) * 8, Access::Read);
                (Stage::Data(0), t + DMA_READ_CYCLES, e)
            }
            Stage::Data(off) => {
                let burst = u64::from(self.cfg.burst);
                let dir = if io.read { Access::Write } else { Access::Read };
                let e = self.access(t, io.iova + u64::from(off), burst, dir);
                let end = u64::from(off) + burst;
                if end < data_size {
                    (Stage::Data(end as u32), t + self.transfer(burst), e)
                } else {
                    let wait = if io.read { DMA_READ_CYCLES / 4 } else { self.rng.jitter(self.cfg.write_latency) };
                    (Stage::Cqe, t + self.transfer(burst) + wait, e)
                }
            }
            Stage::Cqe => {
                let e = self.access(t, self.cq + u64::from(self.cq_head) * CQE_BYTES, CQE_BYTES, Access::Write);
                self.cq_head = (self.cq_head + 1) % self.cfg.queue_entries;
                self.completed += 1;
                (Stage::UnmapData, t + self.cfg.irq_cycles, e)
            }
            Stage::UnmapData => {
                self.iovas.free(io.iova, data_size);
                let e = Event::unmap(Some(t), self.dev, None, io.iova, data_size);
                if io.pages > 2 && !self.cfg.prp_pool {
                    (Stage::UnmapPrp, t + UNMAP_CYCLES, e)
                } else {
                    self.sched.at(t + UNMAP_CYCLES, Act::Submit(s));
                    return Some(e);
                }
            }
            Stage::UnmapPrp => {
                self.iovas.free(io.prp, PAGE);
                self.sched.at(t + UNMAP_CYCLES, Act::Submit(s));
                return Some(Event::unmap(Some(t), self.dev, None, io.prp, PAGE));
            }
        };
        self.ios[s as usize].stage = next;
        self.sched.at(at, Act::Step(s));
        Some(e)
    }

    fn teardown(&mut self, t: u64, k: u32) -> Option<Event> {
        let (iova, size) = match k {
            0 if self.cfg.prp_pool => (self.pool, self.pool_bytes),
            0 => return self.teardown(t, 1),
            1 => (self.cq, self.cq_bytes),
            2 => (self.sq, self.sq_bytes),
            _ => return Some(Event::detach(Some(t), self.dev)),
        };
        self.iovas.free(iova, size);
        self.sched.at(t + UNMAP_CYCLES, Act::Teardown(k + 1));
        Some(Event::unmap(Some(t), self.dev, None, iova, size))
    }
}

impl Generator for NvmeDevice {
    fn next_event(&mut self) -> Option<Event> {
        loop {
            // Once everything else is done, the teardown.
            let (t, a) = self.sched.pop_or_last(&mut self.teardown)?;
            let e = match a {
                Act::Setup(k) => self.setup(t, k),
                Act::Submit(s) => self.submit(t, s),
                Act::Step(s) => self.step(t, s),
                Act::Teardown(k) => self.teardown(t, k),
            };
            if e.is_some() {
                return e;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::events;
    use crate::trace::EventKind;

    #[test]
    fn a_one_page_read_is_map_sqe_data_cqe_unmap() {
        let n = Nvme { ios: 1, queue_depth: 1, io_size: Some(4096), read_percent: 100, burst: 1024, ..Nvme::default() };
        let evs: Vec<Event> = events(n.build().unwrap()).collect();
        let shape: Vec<(EventKind, u64, u32, Access)> = evs.iter().map(|e| (e.kind, e.size, e.len, e.access)).collect();
        use Access::{Read as R, Write as W};
        use EventKind::{Access as Acc, Attach, Detach, Map, Unmap};
        assert_eq!(
            shape,
            vec![
                (Attach, 0, 0, R),
                (Map, 0x4000, 0, R),
                (Map, 0x1000, 0, R),
                (Map, 0x1000, 0, R),
                (Acc, 0, 64, R),
                (Acc, 0, 1024, W),
                (Acc, 0, 1024, W),
                (Acc, 0, 1024, W),
                (Acc, 0, 1024, W),
                (Acc, 0, 16, W),
                (Unmap, 0x1000, 0, R),
                (Unmap, 0x1000, 0, R),
                (Unmap, 0x4000, 0, R),
                (Detach, 0, 0, R),
            ]
        );
        assert_eq!(evs[2].perm, Perm::RW);
    }

    #[test]
    fn a_large_write_maps_each_page_and_a_prp_list_the_device_reads() {
        let n = Nvme { ios: 1, queue_depth: 1, io_size: Some(5 * 4096), read_percent: 0, ..Nvme::default() };
        let evs: Vec<Event> = events(n.build().unwrap()).collect();
        let maps: Vec<&Event> = evs.iter().filter(|e| e.kind == EventKind::Map).skip(2).collect();
        assert_eq!(maps.len(), 6);
        for (k, m) in maps[..5].iter().enumerate() {
            assert_eq!((m.iova, m.size, m.perm), (maps[0].iova + k as u64 * 4096, 4096, Perm::R));
        }
        let prp = maps[5].iova;
        let reads: Vec<&Event> = evs.iter().filter(|e| e.kind == EventKind::Access).collect();
        assert_eq!((reads[1].iova, reads[1].len), (prp, 32));
        assert_eq!(reads.iter().filter(|e| e.len == 512 && e.access == Access::Read).count(), 40);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Nvme { queue_entries: 32, ..Nvme::default() }.build().is_err());
        assert!(Nvme { io_size: Some(1000), ..Nvme::default() }.build().is_err());
        assert!(Nvme { burst: 100, ..Nvme::default() }.build().is_err());
        assert!(Nvme { burst: 8192, ..Nvme::default() }.build().is_err());
        assert!(Nvme { read_percent: 200, ..Nvme::default() }.build().is_err());
        assert!(Nvme { queue_depth: 1024, queue_entries: 2048, io_size: Some(2 << 20), ..Nvme::default() }
            .build()
            .is_err());
    }
}
