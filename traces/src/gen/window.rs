//! Random reads within a window of mapped memory, swept over window sizes: the
//! IOTLB-reach experiment of pcie-bench (Neugebauer et al., "Understanding PCIe
//! performance for end host networking", SIGCOMM 2018), which finds where
//! throughput drops as the window outgrows what the IOTLB maps.
//!
//! Per device and per window size `W` (from `min` to `max`, doubling; one phase
//! when they are equal): map `W` bytes at an IOVA aligned to `W` with `page`-sized
//! PTEs (the memory in physically contiguous runs of up to 2 MiB, scattered, one
//! map event each), issue `reads` reads of `read_len` bytes at uniformly random
//! `read_len`-aligned offsets within the window, one every `gap` cycles, then
//! unmap the window (one event). After the last phase the device detaches.

use super::alloc::{IovaAllocator, PhysPool};
use super::rng::Rng;
use super::sched::Interleave;
use super::{
    check_devices, device_id, device_seed, host_region, invalid, GenError, Generator, MAP_CYCLES, UNMAP_CYCLES,
};
use crate::trace::{Event, MapPage, Mode, Perm};
use iommu_model::Access;

/// Bytes of a physically contiguous run.
const RUN: u64 = 2 << 20;

/// Parameters of the window workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Seed of the random choices.
    pub seed: u64,
    /// Devices, interleaved by time.
    pub devices: u32,
    /// Reads per window per device.
    pub reads: u64,
    /// Cycle of the first event.
    pub start: u64,
    /// Page size the window is mapped with.
    pub page: MapPage,
    /// The first window (bytes, a multiple of `page`).
    pub min: u64,
    /// The last window: windows double from `min` while they do not exceed it.
    pub max: u64,
    /// Bytes of a read (a power of two up to 4096).
    pub read_len: u32,
    /// Cycles between reads (10: 64 B reads at 6.4 GB/s).
    pub gap: u64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            seed: 1,
            devices: 1,
            reads: 10_000,
            start: 0,
            page: MapPage::K4,
            min: 64 << 10,
            max: 1 << 30,
            read_len: 64,
            gap: 10,
        }
    }
}

impl Window {
    /// The window sizes, in order.
    pub fn sizes(&self) -> impl Iterator<Item = u64> {
        let max = self.max;
        std::iter::successors(Some(self.min), move |&w| w.checked_mul(2).filter(|&n| n <= max))
    }

    /// Checks the parameters and builds the generator.
    pub fn build(&self) -> Result<Interleave<WindowDevice>, GenError> {
        check_devices("window", self.devices)?;
        let page = self.page.bytes();
        if self.min == 0 || !self.min.is_multiple_of(page) || self.min > self.max {
            return invalid(format!(
                "window: the window ({:#x}) must be a non-zero multiple of the {} page, and min <= max",
                self.min,
                self.page.name()
            ));
        }
        if self.max > 2 << 30 {
            return invalid(format!("window: windows are at most 2 GiB, not {:#x}", self.max));
        }
        let (_, region) = host_region(self.devices, 0);
        let biggest = self.sizes().last().unwrap_or(self.min);
        if biggest > region {
            return invalid(format!(
                "window: {} devices get {} MiB of memory each, less than the {} MiB window",
                self.devices,
                region >> 20,
                biggest >> 20
            ));
        }
        if !self.read_len.is_power_of_two() || self.read_len > 4096 || u64::from(self.read_len) > self.min {
            return invalid(format!(
                "window: read_len must be a power of two up to 4096 and the window, not {}",
                self.read_len
            ));
        }
        if self.gap == 0 {
            return invalid("window: gap must not be zero");
        }
        Ok(Interleave::new((0..self.devices).map(|i| WindowDevice::new(*self, i)).collect()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Attach,
    /// Mapping run `k` of the window.
    Map(u64),
    Read(u64),
    Detach,
    Done,
}

/// One device's event stream (see the module documentation).
pub struct WindowDevice {
    cfg: Window,
    dev: u32,
    rng: Rng,
    pool: PhysPool,
    iovas: IovaAllocator,
    phase: Phase,
    time: u64,
    window: u64,
    iova: u64,
}

impl WindowDevice {
    fn new(cfg: Window, index: u32) -> Self {
        let (base, size) = host_region(cfg.devices, index);
        let mut rng = Rng::new(device_seed(cfg.seed, 4, index));
        let unit = RUN.max(cfg.page.bytes());
        let pool = PhysPool::new(base, size, unit, rng.next_u64());
        WindowDevice {
            cfg,
            dev: device_id(index),
            rng,
            pool,
            iovas: IovaAllocator::dma32(),
            phase: Phase::Attach,
            time: cfg.start,
            window: cfg.min,
            iova: 0,
        }
    }

    fn run(&self) -> u64 {
        self.window.min(self.pool.unit())
    }

    fn begin_window(&mut self) {
        self.iova = self.iovas.alloc(self.window).expect("a window of up to 2 GiB fits below 4 GiB");
        self.phase = Phase::Map(0);
    }
}

impl Generator for WindowDevice {
    fn next_event(&mut self) -> Option<Event> {
        let t = self.time;
        let e = match self.phase {
            Phase::Attach => {
                self.begin_window();
                self.time += MAP_CYCLES;
                Event::attach(Some(t), self.dev, None, None, Mode::S1)
            }
            Phase::Map(k) => {
                let run = self.run();
                let off = k * run;
                let size = run.min(self.window - off);
                self.phase = if off + size < self.window { Phase::Map(k + 1) } else { Phase::Read(0) };
                self.time += MAP_CYCLES;
                let pa = self.pool.alloc();
                Event::map(Some(t), self.dev, None, self.iova + off, pa, size, self.cfg.page, Perm::R)
            }
            Phase::Read(n) if n < self.cfg.reads => {
                self.phase = Phase::Read(n + 1);
                self.time += self.cfg.gap;
                let len = u64::from(self.cfg.read_len);
                let off = self.rng.below(self.window / len) * len;
                Event::access(Some(t), self.dev, None, self.iova + off, self.cfg.read_len, Access::Read)
            }
            Phase::Read(_) => {
                self.iovas.free(self.iova, self.window);
                let e = Event::unmap(Some(t), self.dev, None, self.iova, self.window);
                self.time += UNMAP_CYCLES;
                match self.window.checked_mul(2).filter(|&w| w <= self.cfg.max) {
                    Some(w) => {
                        self.window = w;
                        self.begin_window();
                    }
                    None => self.phase = Phase::Detach,
                }
                e
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

    #[test]
    fn the_default_sweep_doubles_from_64_kib_to_1_gib() {
        let sizes: Vec<u64> = Window::default().sizes().collect();
        assert_eq!(sizes.len(), 15);
        assert_eq!((sizes[0], sizes[14]), (64 << 10, 1 << 30));
        assert!(sizes.windows(2).all(|w| w[1] == 2 * w[0]));
        let one = Window { min: 3 << 20, max: 3 << 20, ..Window::default() };
        assert_eq!(one.sizes().collect::<Vec<_>>(), vec![3 << 20]);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Window { min: 6000, max: 6000, ..Window::default() }.build().is_err());
        assert!(Window { page: MapPage::M2, ..Window::default() }.build().is_err());
        assert!(Window { page: MapPage::M2, min: 2 << 20, ..Window::default() }.build().is_ok());
        assert!(Window { max: 4 << 30, ..Window::default() }.build().is_err());
        assert!(Window { devices: 64, ..Window::default() }.build().is_err());
        assert!(Window { read_len: 48, ..Window::default() }.build().is_err());
        assert!(Window { min: 2 << 20, max: 1 << 20, ..Window::default() }.build().is_err());
    }
}
