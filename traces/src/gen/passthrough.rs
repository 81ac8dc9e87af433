//! A device passed through to a virtual machine: the kit's VM example.
//!
//! - The hypervisor gives VM [`VM`] 256 MiB of guest-physical memory, GPA
//!   `[0, 256 MiB)`, at machine addresses `[256 MiB, 512 MiB)`: one `gmap` event
//!   with `g_page` G-stage pages (2 MiB by default, or 4 KiB), `rw`.
//! - Each device attaches to the VM. Mode `g` (the default): the device is
//!   passed through and its IOVAs are guest-physical addresses. Mode `nested`
//!   (`nested: true`): the guest runs its own IOMMU driver, whose first stage maps
//!   IOVA [`NESTED_IOVA`] (`0x4000_0000`) to the buffer (a `map` event whose `pa` is
//!   guest-physical, 4 KiB pages, `rw`).
//! - The guest's driver hands device `i` a 12 KiB buffer at guest-physical
//!   [`BUFFER_GPA`] (`0x1005000`) plus `i` x 64 KiB; the device moves the whole
//!   buffer again and again (reading it or writing it, at random each time) in
//!   `burst`-byte bursts, `accesses` bursts in all, a burst every `burst / 8`
//!   cycles (8 GB/s) and some 2 us between passes.
//! - At the end the guest unmaps its IOVA (nested), the devices detach and the
//!   hypervisor unmaps the VM's memory (`gunmap`).

use super::rng::Rng;
use super::sched::Interleave;
use super::{check_devices, device_id, device_seed, invalid, GenError, Generator, MAP_CYCLES, UNMAP_CYCLES};
use crate::trace::{Event, EventKind, MapPage, Mode, Perm};
use iommu_model::Access;

/// The VM's number.
pub const VM: u32 = 1;
/// Bytes of guest-physical memory, from GPA 0.
pub const GUEST_MEMORY: u64 = 256 << 20;
/// The machine address of GPA 0.
pub const MACHINE_BASE: u64 = 256 << 20;
/// The guest-physical address of device 0's buffer.
pub const BUFFER_GPA: u64 = 0x100_5000;
/// Bytes of each device's buffer.
pub const BUFFER_BYTES: u64 = 12 << 10;
/// How far apart the devices' buffers are.
pub const BUFFER_STRIDE: u64 = 64 << 10;
/// The IOVA at which a nested device's guest maps its buffer.
pub const NESTED_IOVA: u64 = 0x4000_0000;

/// Parameters of the passthrough workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passthrough {
    /// Seed of the random choices.
    pub seed: u64,
    /// Devices, all passed to the VM, interleaved by time.
    pub devices: u32,
    /// Bursts per device.
    pub accesses: u64,
    /// Cycle of the first event.
    pub start: u64,
    /// G-stage page size (4 KiB, 64 KiB or 2 MiB).
    pub g_page: MapPage,
    /// Attach in mode `nested`, through the guest's own first stage, instead of
    /// `g`.
    pub nested: bool,
    /// Bytes of a burst (a power of two, 64 to 4096).
    pub burst: u32,
}

impl Default for Passthrough {
    fn default() -> Self {
        Passthrough { seed: 1, devices: 1, accesses: 1000, start: 0, g_page: MapPage::M2, nested: false, burst: 512 }
    }
}

impl Passthrough {
    /// The guest-physical address of device `index`'s buffer.
    pub fn buffer_gpa(index: u32) -> u64 {
        BUFFER_GPA + u64::from(index) * BUFFER_STRIDE
    }

    /// Checks the parameters and builds the generator.
    pub fn build(&self) -> Result<PassthroughGen, GenError> {
        check_devices("passthrough", self.devices)?;
        if self.g_page == MapPage::G1 {
            return invalid("passthrough: the G-stage page must be 4k, 64k or 2m (the VM has 256 MiB)");
        }
        if !self.burst.is_power_of_two() || !(64..=4096).contains(&self.burst) {
            return invalid(format!("passthrough: burst must be a power of two from 64 to 4096, not {}", self.burst));
        }
        let devices = (0..self.devices).map(|i| PtDevice::new(*self, i)).collect();
        Ok(PassthroughGen { cfg: *self, stage: 0, devices: Interleave::new(devices), last: self.start })
    }
}

/// The VM's events: its memory, then its devices' interleaved streams, then the
/// removal of its memory.
pub struct PassthroughGen {
    cfg: Passthrough,
    stage: u8,
    devices: Interleave<PtDevice>,
    last: u64,
}

impl Generator for PassthroughGen {
    fn next_event(&mut self) -> Option<Event> {
        match self.stage {
            0 => {
                self.stage = 1;
                let p = self.cfg.g_page;
                Some(Event::gmap(Some(self.cfg.start), VM, 0, MACHINE_BASE, GUEST_MEMORY, p, Perm::RW))
            }
            1 => {
                if let Some(e) = self.devices.next_event() {
                    self.last = e.time.unwrap_or(self.last);
                    return Some(e);
                }
                self.stage = 2;
                let t = self.last + UNMAP_CYCLES;
                Some(Event {
                    time: Some(t),
                    kind: EventKind::Gunmap,
                    vm: Some(VM),
                    size: GUEST_MEMORY,
                    ..Default::default()
                })
            }
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Attach,
    Map,
    Access,
    Detach,
    Done,
}

/// One passed-through device's event stream.
pub struct PtDevice {
    cfg: Passthrough,
    dev: u32,
    rng: Rng,
    phase: Phase,
    time: u64,
    /// Where the device addresses its buffer: the GPA (mode g) or the guest's IOVA.
    base: u64,
    gpa: u64,
    left: u64,
    off: u64,
    write: bool,
}

impl PtDevice {
    fn new(cfg: Passthrough, index: u32) -> Self {
        let gpa = Passthrough::buffer_gpa(index);
        PtDevice {
            cfg,
            dev: device_id(index),
            rng: Rng::new(device_seed(cfg.seed, 5, index)),
            phase: Phase::Attach,
            time: cfg.start + MAP_CYCLES,
            base: if cfg.nested { NESTED_IOVA } else { gpa },
            gpa,
            left: cfg.accesses,
            off: 0,
            write: false,
        }
    }
}

impl Generator for PtDevice {
    fn next_event(&mut self) -> Option<Event> {
        let t = self.time;
        let dev = self.dev;
        let e = match self.phase {
            Phase::Attach => {
                self.phase = if self.cfg.nested { Phase::Map } else { Phase::Access };
                self.time += MAP_CYCLES;
                let mode = if self.cfg.nested { Mode::Nested } else { Mode::G };
                Event::attach(Some(t), dev, None, Some(VM), mode)
            }
            Phase::Map => {
                self.phase = Phase::Access;
                self.time += MAP_CYCLES;
                Event::map(Some(t), dev, None, NESTED_IOVA, self.gpa, BUFFER_BYTES, MapPage::K4, Perm::RW)
            }
            Phase::Access if self.left > 0 => {
                self.left -= 1;
                if self.off == 0 {
                    self.write = self.rng.percent(50);
                }
                let len = u64::from(self.cfg.burst).min(BUFFER_BYTES - self.off);
                let e = Event::access(
                    Some(t),
                    dev,
                    None,
                    self.base + self.off,
                    len as u32,
                    if self.write { Access::Write } else { Access::Read },
                );
                self.off += len;
                self.time += (len / 8).max(1);
                if self.off == BUFFER_BYTES {
                    self.off = 0;
                    self.time += self.rng.jitter(2000);
                }
                e
            }
            Phase::Access => {
                self.time += UNMAP_CYCLES;
                if self.cfg.nested {
                    self.phase = Phase::Detach;
                    Event::unmap(Some(t), dev, None, NESTED_IOVA, BUFFER_BYTES)
                } else {
                    self.phase = Phase::Done;
                    Event::detach(Some(t), dev)
                }
            }
            Phase::Detach => {
                self.phase = Phase::Done;
                Event::detach(Some(t), dev)
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

    #[test]
    fn a_pass_covers_the_buffer_in_bursts() {
        let p = Passthrough { accesses: 24, ..Passthrough::default() };
        let evs: Vec<Event> = events(p.build().unwrap()).collect();
        let acc: Vec<&Event> = evs.iter().filter(|e| e.kind == EventKind::Access).collect();
        assert_eq!(acc.len(), 24);
        for (k, a) in acc.iter().enumerate() {
            assert_eq!((a.iova, a.len, a.access), (BUFFER_GPA + 512 * k as u64, 512, acc[0].access));
        }
    }

    #[test]
    fn a_1_gib_g_stage_page_is_rejected() {
        assert!(Passthrough { g_page: MapPage::G1, ..Passthrough::default() }.build().is_err());
        assert!(Passthrough { burst: 3, ..Passthrough::default() }.build().is_err());
    }
}
