//! Seeded, deterministic generators of realistic DMA workloads, written as
//! `iommu-trace/1` events (`traces/FORMAT.md`).
//!
//! Each workload is a struct of documented parameters with defaults
//! ([`nic::Nic`], [`nvme::Nvme`], [`accel::Accel`], [`window::Window`],
//! [`passthrough::Passthrough`]); `build()` checks the parameters and returns a
//! [`Generator`] that hands out events one at a time, in time order (times are
//! cycles of a 1 GHz IOMMU clock, so one cycle is one nanosecond). Memory use is
//! bounded by what is in flight (ring slots, queued I/Os), never by the length of
//! the trace, and a steady run does not allocate.
//!
//! Determinism: the only source of randomness is [`Rng`] (splitmix64, written
//! here), seeded from the `seed` parameter and the device's index; no float
//! transcendental functions, no hash-map iteration. The same seed and parameters
//! give byte-identical traces on every machine and with every dependency version.
//!
//! Common model, shared by every workload:
//! - Device `i` (of `devices`) has requester ID `0x0100 + i` (bus 1, devfn `i`),
//!   its own DMA domain (its own IOVA space) and attaches in mode `s1` (the
//!   passthrough workloads attach in `g` or `nested`). Devices run independently
//!   and their events are merged by time ([`Interleave`]; ties go to the lower
//!   device index).
//! - IOVAs come from [`IovaAllocator`], a model of Linux's IOVA allocator
//!   (`drivers/iommu/iova.c`, `drivers/iommu/dma-iommu.c`): sizes are rounded up to
//!   a power of two of pages and aligned to it, allocation is top-down below 4 GiB
//!   (Linux tries the 32-bit space first for PCI devices), and freed ranges of up
//!   to 32 pages are kept in a per-size LIFO cache and handed out again first (the
//!   "rcache"), so a steady workload reuses a small set of IOVAs.
//! - Physical memory: host RAM is `[2 GiB, 64 GiB)` (below the driver model's
//!   table memory at 64 GiB); each device gets an equal power-of-two share (at most
//!   4 GiB) and scatters its buffers over it pseudo-randomly ([`PhysPool`]).
//!   Rings and queues that Linux allocates with `dma_alloc_coherent` are physically
//!   contiguous and mapped once.
//! - Every access touches only IOVAs that are mapped at that time for its device,
//!   with a permission that allows it; every mapping is unmapped and every device
//!   detached before the trace ends.
//! - Driver costs are rough, fixed figures ([`MAP_CYCLES`], [`UNMAP_CYCLES`],
//!   [`DOORBELL_CYCLES`], [`DMA_READ_CYCLES`]); they set the spacing of events,
//!   not their order.

use crate::trace::{Event, MapPage, TraceWriter};
use std::io::{self, Write};

pub mod accel;
mod alloc;
pub mod nic;
pub mod nvme;
pub mod passthrough;
mod rng;
mod sched;
pub mod window;

pub use alloc::{IovaAllocator, PhysPool};
pub use rng::Rng;
pub use sched::Interleave;

/// Cycles a driver spends in one `dma_map_*` call (IOVA allocation, PTE writes):
/// a few hundred nanoseconds.
pub const MAP_CYCLES: u64 = 150;
/// Cycles a driver spends in one `dma_unmap_*` call (PTE clears, queueing or
/// issuing the invalidation).
pub const UNMAP_CYCLES: u64 = 250;
/// Cycles from a driver's doorbell write until the device acts on it (a posted
/// MMIO write crossing the PCIe hierarchy).
pub const DOORBELL_CYCLES: u64 = 500;
/// Cycles a device waits for the completion of a DMA read before it can use
/// the data (of the order of 0.5-1 us on servers, as pcie-bench measured:
/// Neugebauer et al., "Understanding PCIe performance for end host networking",
/// SIGCOMM 2018).
pub const DMA_READ_CYCLES: u64 = 800;

/// The most devices a generator drives (requester IDs `0x0100`..`0x01ff`).
pub const MAX_DEVICES: u32 = 256;
/// Where host RAM for generated buffers starts (2 GiB, where RISC-V platforms
/// commonly put DRAM).
pub const HOST_RAM_BASE: u64 = 0x8000_0000;
/// Host RAM for generated buffers ends here (64 GiB, the start of the driver
/// model's table memory).
pub const HOST_RAM_END: u64 = 0x10_0000_0000;

/// Produces trace events one at a time, in non-decreasing time order.
pub trait Generator {
    /// The next event, or `None` at the end of the trace.
    fn next_event(&mut self) -> Option<Event>;
}

impl<G: Generator + ?Sized> Generator for Box<G> {
    fn next_event(&mut self) -> Option<Event> {
        (**self).next_event()
    }
}

impl<G: Generator + ?Sized> Generator for &mut G {
    fn next_event(&mut self) -> Option<Event> {
        (**self).next_event()
    }
}

/// The events of a generator as an iterator.
pub fn events<G: Generator>(mut gen: G) -> impl Iterator<Item = Event> {
    std::iter::from_fn(move || gen.next_event())
}

/// Writes every event of `gen` to `w`; returns how many were written.
pub fn write_trace<G: Generator + ?Sized, W: Write>(gen: &mut G, w: &mut TraceWriter<W>) -> io::Result<u64> {
    let mut n = 0;
    while let Some(e) = gen.next_event() {
        w.write(&e)?;
        n += 1;
    }
    Ok(n)
}

/// Parameters a workload cannot run with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GenError(pub String);

pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T, GenError> {
    Err(GenError(msg.into()))
}

/// The requester ID of device `index`: bus 1, devfn `index`.
pub fn device_id(index: u32) -> u32 {
    0x100 + index
}

/// The host-RAM share of device `index` of `devices`: `(base, size)`, the size a
/// power of two, at most 4 GiB, at least 128 MiB.
pub fn host_region(devices: u32, index: u32) -> (u64, u64) {
    let share = (HOST_RAM_END - HOST_RAM_BASE) / u64::from(devices.max(1));
    let size = (1u64 << (63 - share.leading_zeros())).min(4 << 30);
    (HOST_RAM_BASE + u64::from(index) * size, size)
}

pub(crate) fn check_devices(workload: &str, devices: u32) -> Result<(), GenError> {
    if devices == 0 || devices > MAX_DEVICES {
        return invalid(format!("{workload}: devices must be between 1 and {MAX_DEVICES}, not {devices}"));
    }
    Ok(())
}

/// Rounds `x` up to a multiple of `align` (a power of two).
pub(crate) fn align_up(x: u64, align: u64) -> u64 {
    (x + align - 1) & !(align - 1)
}

/// The seed of device `index`'s random stream.
pub(crate) fn device_seed(seed: u64, workload: u64, index: u32) -> u64 {
    rng::mix(seed ^ rng::mix(workload.wrapping_mul(0x100_0000_01b3) ^ u64::from(index)))
}

/// The workloads [`build`] knows, with a one-line description each.
pub const WORKLOADS: [(&str, &str); 7] = [
    ("nic", "NIC receive and transmit rings, a buffer mapped per packet"),
    ("nvme", "NVMe queues and I/Os of 4-128 KiB with PRP lists, mapped per I/O"),
    ("accel", "an accelerator streaming sequentially over two 64 MiB buffers"),
    ("accel-strided", "the accelerator walking its buffers with a 64 KiB stride"),
    ("window", "pcie-bench-style random 64 B reads in windows of 64 KiB to 1 GiB"),
    ("passthrough", "a device passed through to VM 1 (mode g) using a 12 KiB buffer"),
    ("nested", "the same VM with the device in mode nested, through the guest's IOVA"),
];

/// Options common to every workload, as the command line gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Seed of the random choices.
    pub seed: u64,
    /// Devices, interleaved by time.
    pub devices: u32,
    /// Operations per device (packets, I/Os, accesses, or reads per window);
    /// `None`: the workload's default.
    pub count: Option<u64>,
    /// Time of the first event, in cycles.
    pub start: u64,
    /// Page size (accel, window: the mapping; passthrough, nested: the G-stage).
    pub page: Option<MapPage>,
    /// A single window size (window only).
    pub window: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options { seed: 1, devices: 1, count: None, start: 0, page: None, window: None }
    }
}

/// A generator of any workload.
pub type BoxedGenerator = Box<dyn Generator + Send>;

/// Builds the named workload (see [`WORKLOADS`]) with the given options and the
/// workload's defaults for everything else.
pub fn build(workload: &str, o: &Options) -> Result<BoxedGenerator, GenError> {
    let takes_page = matches!(workload, "accel" | "accel-strided" | "window" | "passthrough" | "nested");
    if o.page.is_some() && !takes_page {
        return invalid(format!("{workload} takes no page size (only accel, window, passthrough and nested do)"));
    }
    if o.window.is_some() && workload != "window" {
        return invalid(format!("{workload} takes no window size (only window does)"));
    }
    Ok(match workload {
        "nic" => {
            let d = nic::Nic::default();
            let n = nic::Nic {
                seed: o.seed,
                devices: o.devices,
                packets: o.count.unwrap_or(d.packets),
                start: o.start,
                ..d
            };
            Box::new(n.build()?)
        }
        "nvme" => {
            let d = nvme::Nvme::default();
            let n = nvme::Nvme { seed: o.seed, devices: o.devices, ios: o.count.unwrap_or(d.ios), start: o.start, ..d };
            Box::new(n.build()?)
        }
        "accel" | "accel-strided" => {
            let d = accel::Accel::default();
            let pattern =
                if workload == "accel" { accel::Pattern::Sequential } else { accel::Pattern::Strided(64 << 10) };
            let a = accel::Accel {
                seed: o.seed,
                devices: o.devices,
                accesses: o.count.unwrap_or(d.accesses),
                start: o.start,
                page: o.page.unwrap_or(d.page),
                pattern,
                ..d
            };
            Box::new(a.build()?)
        }
        "window" => {
            let d = window::Window::default();
            let page = o.page.unwrap_or(d.page);
            let (min, max) = match o.window {
                Some(w) => (w, w),
                None => (d.min.max(page.bytes()), d.max),
            };
            let w = window::Window {
                seed: o.seed,
                devices: o.devices,
                reads: o.count.unwrap_or(d.reads),
                start: o.start,
                page,
                min,
                max,
                ..d
            };
            Box::new(w.build()?)
        }
        "passthrough" | "nested" => {
            let d = passthrough::Passthrough::default();
            let p = passthrough::Passthrough {
                seed: o.seed,
                devices: o.devices,
                accesses: o.count.unwrap_or(d.accesses),
                start: o.start,
                g_page: o.page.unwrap_or(d.g_page),
                nested: workload == "nested",
                ..d
            };
            Box::new(p.build()?)
        }
        _ => {
            let names: Vec<&str> = WORKLOADS.iter().map(|w| w.0).collect();
            return invalid(format!("unknown workload {workload:?} (expected one of {})", names.join(", ")));
        }
    })
}

/// Parses a size: decimal or `0x` hex bytes, or a number with a `k`, `m` or `g`
/// suffix (KiB, MiB, GiB), for example `64k`, `1m`, `4096`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n = crate::trace::parse_number(num.as_bytes())?;
    n.checked_mul(1 << shift)
}

/// Parses a page size: `4k`, `64k`, `2m` or `1g`.
pub fn parse_page(s: &str) -> Option<MapPage> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "4k" => MapPage::K4,
        "64k" => MapPage::K64,
        "2m" => MapPage::M2,
        "1g" => MapPage::G1,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_pages_parse() {
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("0x1000"), Some(4096));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("1.5m"), None);
        assert_eq!(parse_size("99999999999g"), None);
        assert_eq!(parse_page("2m"), Some(MapPage::M2));
        assert_eq!(parse_page("4K"), Some(MapPage::K4));
        assert_eq!(parse_page("8k"), None);
    }

    #[test]
    fn host_regions_are_disjoint_powers_of_two_below_the_driver_tables() {
        assert_eq!(host_region(1, 0), (HOST_RAM_BASE, 4 << 30));
        for devices in [1, 2, 3, 15, 16, 17, 100, 256] {
            let mut end = HOST_RAM_BASE;
            for i in 0..devices {
                let (base, size) = host_region(devices, i);
                assert!(size.is_power_of_two() && (128 << 20..=4 << 30).contains(&size));
                assert_eq!(base, end, "devices {devices} index {i}");
                end = base + size;
            }
            assert!(end <= HOST_RAM_END, "devices {devices}");
        }
    }

    #[test]
    fn device_ids_are_bus_1() {
        assert_eq!(device_id(0), 0x100);
        assert_eq!(device_id(255), 0x1ff);
    }

    #[test]
    fn build_rejects_unknown_workloads_and_misplaced_options() {
        let e = build("disk", &Options::default()).err().unwrap();
        assert!(e.0.contains("unknown workload \"disk\"") && e.0.contains("nvme"), "{e}");
        let o = Options { page: Some(MapPage::M2), ..Options::default() };
        assert!(build("nic", &o).err().unwrap().0.contains("page"));
        let o = Options { window: Some(1 << 20), ..Options::default() };
        assert!(build("accel", &o).err().unwrap().0.contains("window"));
        let o = Options { devices: 0, ..Options::default() };
        assert!(build("nvme", &o).err().unwrap().0.contains("devices"));
        let o = Options { devices: 257, ..Options::default() };
        assert!(build("nic", &o).is_err());
        for (name, _) in WORKLOADS {
            let o = Options { count: Some(3), ..Options::default() };
            assert!(build(name, &o).is_ok(), "{name}");
        }
    }
}
