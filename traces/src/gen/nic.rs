//! A network card's receive and transmit rings, with a buffer mapped for each
//! packet.
//!
//! The model follows a Linux Ethernet driver that maps every buffer with the
//! streaming DMA API, as e1000e does (`e1000_alloc_rx_buffers` maps each receive
//! buffer with `dma_map_single`, `e1000_tx_map` each transmitted skb, and both are
//! unmapped when the packet has been handled). Drivers built on `page_pool` keep
//! their receive pages mapped instead; this workload is the per-packet case, the
//! one that stresses mapping and invalidation.
//!
//! Per device:
//! - At start: attach (`s1`); map the receive and the transmit descriptor ring
//!   (`ring` descriptors of 16 B each, allocated coherent: physically contiguous,
//!   mapped once, `rw`); post `ring - 1` receive buffers (one slot stays empty so
//!   a full ring differs from an empty one). A receive buffer is one half (2 KiB)
//!   of a page, as the page-splitting drivers (igb, ixgbe) use; its page is mapped
//!   `rw` (`DMA_FROM_DEVICE`; a RISC-V PTE cannot be write-only) and two
//!   consecutive buffers share a page under two IOVAs.
//! - Packets arrive (or are sent) every `1e9 / pps` cycles on average (uniformly
//!   within +-50 %); `rx_percent` of them are received. Lengths follow the simple
//!   IMIX, 7:4:1 of 64, 576 and 1500 B, unless `packet_len` is fixed.
//! - Receive: the device reads the 64 B line holding the slot's descriptor, writes
//!   the packet into the buffer, writes the descriptor back (16 B). With no
//!   posted buffer in the slot the packet is dropped (counted, no DMA).
//! - Transmit: the driver maps the packet (at a random 64 B-aligned offset in its
//!   page, so it may span two pages; `r`, `DMA_TO_DEVICE`) and rings the doorbell;
//!   the device reads the descriptor line, reads the packet, writes the
//!   descriptor back. With the transmit ring full the packet is dropped.
//! - Interrupt moderation: the first completion after a poll raises an interrupt
//!   `irq_delay` cycles later (10 us; Intel drivers' interrupt throttling allows
//!   of the order of 10,000 to 100,000 interrupts a second), whose NAPI poll
//!   cleans completed transmit slots (unmap) and received slots (unmap, then map
//!   a fresh buffer into the ring's tail) in order, until none is left.
//! - At the end: the rest of the receive buffers and both rings are unmapped and
//!   the device detached.
//!
//! All IOVAs come from the device's [`IovaAllocator`], so freed buffer IOVAs are
//! reused at once, as Linux's IOVA caches do.

use super::alloc::{IovaAllocator, PhysPool};
use super::rng::Rng;
use super::sched::{Interleave, Sched};
use super::{
    align_up, check_devices, device_id, device_seed, host_region, invalid, GenError, Generator, DMA_READ_CYCLES,
    DOORBELL_CYCLES, MAP_CYCLES, UNMAP_CYCLES,
};
use crate::trace::{Event, MapPage, Mode, Perm};
use iommu_model::Access;

/// Bytes of a descriptor.
pub const DESC_BYTES: u64 = 16;
/// Bytes of a receive buffer (half a page).
pub const RX_BUFFER: u64 = 2048;

/// Parameters of the NIC workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nic {
    /// Seed of the random choices.
    pub seed: u64,
    /// Devices, interleaved by time.
    pub devices: u32,
    /// Packets per device, received or sent (dropped ones count).
    pub packets: u64,
    /// Cycle of the first event.
    pub start: u64,
    /// Packets per second per device (1 Mpps by default; 10 GbE carries 14.88 Mpps
    /// of 64 B frames at line rate).
    pub pps: u64,
    /// Percent of packets received (the rest are sent).
    pub rx_percent: u32,
    /// Descriptors per ring (a power of two, 8 to 4096).
    pub ring: u32,
    /// Every packet's length in bytes (60 to 1500), or `None` for the IMIX mix.
    pub packet_len: Option<u32>,
    /// Cycles from a completion to the interrupt's poll.
    pub irq_delay: u64,
}

impl Default for Nic {
    fn default() -> Self {
        Nic {
            seed: 1,
            devices: 1,
            packets: 10_000,
            start: 0,
            pps: 1_000_000,
            rx_percent: 50,
            ring: 256,
            packet_len: None,
            irq_delay: 10_000,
        }
    }
}

impl Nic {
    /// Checks the parameters and builds the generator.
    pub fn build(&self) -> Result<Interleave<NicDevice>, GenError> {
        check_devices("nic", self.devices)?;
        if !self.ring.is_power_of_two() || !(8..=4096).contains(&self.ring) {
            return invalid(format!("nic: ring must be a power of two from 8 to 4096, not {}", self.ring));
        }
        if self.pps == 0 || self.pps > 1_000_000_000 {
            return invalid(format!("nic: pps must be between 1 and 1e9, not {}", self.pps));
        }
        if self.rx_percent > 100 {
            return invalid(format!("nic: rx_percent must be at most 100, not {}", self.rx_percent));
        }
        if let Some(l) = self.packet_len {
            if !(60..=1500).contains(&l) {
                return invalid(format!("nic: packet_len must be between 60 and 1500, not {l}"));
            }
        }
        Ok(Interleave::new((0..self.devices).map(|i| NicDevice::new(*self, i)).collect()))
    }
}

/// What happened to a device's packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicStats {
    /// Packets received into a buffer.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets that found no posted receive buffer.
    pub rx_dropped: u64,
    /// Packets that found the transmit ring full.
    pub tx_dropped: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No buffer (receive) or free (transmit).
    Empty,
    /// Posted for the device (receive) or queued for it (transmit).
    Ready,
    /// The device is using it.
    Busy,
    /// The device is done; the driver has not cleaned it yet.
    Done,
}

#[derive(Clone, Copy, Debug)]
struct Buf {
    /// The mapping's IOVA and bytes.
    iova: u64,
    size: u64,
    /// Where the data starts in the mapping, and its length.
    off: u32,
    len: u32,
    state: State,
}

const EMPTY: Buf = Buf { iova: 0, size: 0, off: 0, len: 0, state: State::Empty };

#[derive(Clone, Copy, Debug)]
enum Act {
    Setup(u32),
    Arrive,
    RxData(u32),
    RxDone(u32),
    TxDesc(u32),
    TxData(u32),
    TxDone(u32),
    Poll,
    Refill,
    Teardown(u32),
}

/// One NIC's event stream (see the module documentation).
pub struct NicDevice {
    cfg: Nic,
    dev: u32,
    rng: Rng,
    sched: Sched<Act>,
    iovas: IovaAllocator,
    rx_pool: PhysPool,
    tx_pool: PhysPool,
    ring_pa: u64,
    ring_bytes: u64,
    rx_ring: u64,
    tx_ring: u64,
    rx: Vec<Buf>,
    tx: Vec<Buf>,
    /// The device's next receive slot; the driver's next to clean and to refill.
    rx_use: u32,
    rx_clean: u32,
    rx_tail: u32,
    /// The driver's next transmit slot, and next to clean.
    tx_tail: u32,
    tx_clean: u32,
    /// The page whose second half the next receive buffer is.
    rx_page: Option<u64>,
    gap: u64,
    left: u64,
    poll_pending: bool,
    /// The teardown, scheduled when nothing else is left: delay and action.
    teardown: Option<(u64, Act)>,
    stats: NicStats,
}

impl NicDevice {
    fn new(cfg: Nic, index: u32) -> Self {
        let (base, size) = host_region(cfg.devices, index);
        let mut rng = Rng::new(device_seed(cfg.seed, 1, index));
        let rx_pool = PhysPool::new(base, size / 2, 4096, rng.next_u64());
        let tx_pool = PhysPool::new(base + size / 2, size / 4, 8192, rng.next_u64());
        let ring = cfg.ring as usize;
        NicDevice {
            cfg,
            dev: device_id(index),
            rng,
            sched: Sched::new(cfg.start),
            iovas: IovaAllocator::dma32(),
            rx_pool,
            tx_pool,
            ring_pa: base + size / 4 * 3,
            ring_bytes: align_up(u64::from(cfg.ring) * DESC_BYTES, 4096),
            rx_ring: 0,
            tx_ring: 0,
            rx: vec![EMPTY; ring],
            tx: vec![EMPTY; ring],
            rx_use: 0,
            rx_clean: 0,
            rx_tail: 0,
            tx_tail: 0,
            tx_clean: 0,
            rx_page: None,
            gap: 1_000_000_000 / cfg.pps,
            left: cfg.packets,
            poll_pending: false,
            teardown: Some((UNMAP_CYCLES, Act::Teardown(0))),
            stats: NicStats::default(),
        }
        .started()
    }

    fn started(mut self) -> Self {
        self.sched.at(self.cfg.start, Act::Setup(0));
        self
    }

    /// What happened to this device's packets so far.
    pub fn stats(&self) -> NicStats {
        self.stats
    }

    fn next(&self, i: u32) -> u32 {
        (i + 1) & (self.cfg.ring - 1)
    }

    fn access(&self, t: u64, iova: u64, len: u64, access: Access) -> Event {
        Event::access(Some(t), self.dev, None, iova, len as u32, access)
    }

    fn packet_len(&mut self) -> u32 {
        if let Some(l) = self.cfg.packet_len {
            return l;
        }
        match self.rng.below(12) {
            0..=6 => 64,
            7..=10 => 576,
            _ => 1500,
        }
    }

    /// Maps a fresh receive buffer into the ring's tail.
    fn post_rx(&mut self, t: u64) -> Event {
        let i = self.rx_tail as usize;
        debug_assert_eq!(self.rx[i].state, State::Empty);
        let iova = self.iovas.alloc(4096).expect("the 32-bit IOVA space holds the rings");
        let (page, off) = match self.rx_page.take() {
            Some(p) => (p, RX_BUFFER as u32),
            None => {
                let p = self.rx_pool.alloc();
                self.rx_page = Some(p);
                (p, 0)
            }
        };
        self.rx[i] = Buf { iova, size: 4096, off, len: 0, state: State::Ready };
        self.rx_tail = self.next(self.rx_tail);
        Event::map(Some(t), self.dev, None, iova, page, 4096, MapPage::K4, Perm::RW)
    }

    fn unmap(&mut self, t: u64, b: Buf) -> Event {
        self.iovas.free(b.iova, b.size);
        Event::unmap(Some(t), self.dev, None, b.iova, b.size)
    }

    fn completed(&mut self, t: u64) {
        if !self.poll_pending {
            self.poll_pending = true;
            self.sched.at(t + self.cfg.irq_delay, Act::Poll);
        }
    }

    fn act(&mut self, t: u64, a: Act) -> Option<Event> {
        let ring = self.cfg.ring;
        Some(match a {
            Act::Setup(0) => {
                self.sched.at(t + MAP_CYCLES, Act::Setup(1));
                Event::attach(Some(t), self.dev, None, None, Mode::S1)
            }
            Act::Setup(k @ (1 | 2)) => {
                let iova = self.iovas.alloc(self.ring_bytes).expect("the 32-bit IOVA space holds the rings");
                let pa = self.ring_pa + u64::from(k - 1) * self.ring_bytes;
                if k == 1 {
                    self.rx_ring = iova;
                } else {
                    self.tx_ring = iova;
                }
                self.sched.at(t + MAP_CYCLES, Act::Setup(k + 1));
                Event::map(Some(t), self.dev, None, iova, pa, self.ring_bytes, MapPage::K4, Perm::RW)
            }
            Act::Setup(k) => {
                if k + 1 < ring + 2 {
                    self.sched.at(t + MAP_CYCLES, Act::Setup(k + 1));
                } else if self.left > 0 {
                    let gap = self.rng.jitter(self.gap);
                    self.sched.at(t + MAP_CYCLES + gap, Act::Arrive);
                }
                self.post_rx(t)
            }
            Act::Arrive => {
                self.left -= 1;
                if self.left > 0 {
                    let gap = self.rng.jitter(self.gap);
                    self.sched.at(t + gap, Act::Arrive);
                }
                let len = self.packet_len();
                if self.rng.percent(self.cfg.rx_percent) {
                    let i = self.rx_use;
                    let b = &mut self.rx[i as usize];
                    if b.state != State::Ready {
                        self.stats.rx_dropped += 1;
                        return None;
                    }
                    b.state = State::Busy;
                    b.len = len;
                    self.rx_use = self.next(i);
                    self.stats.rx += 1;
                    self.sched.at(t + DMA_READ_CYCLES, Act::RxData(i));
                    self.sched.at(t + DMA_READ_CYCLES + u64::from(len) / 8 + 50, Act::RxDone(i));
                    let line = self.rx_ring + ((u64::from(i) * DESC_BYTES) & !63);
                    self.access(t, line, 64, Access::Read)
                } else {
                    let i = self.tx_tail;
                    if self.tx[i as usize].state != State::Empty {
                        self.stats.tx_dropped += 1;
                        return None;
                    }
                    let off = 64 * self.rng.below(64);
                    let size = align_up(off + u64::from(len), 4096);
                    let iova = self.iovas.alloc(size).expect("the 32-bit IOVA space holds the rings");
                    let pa = self.tx_pool.alloc();
                    self.tx[i as usize] = Buf { iova, size, off: off as u32, len, state: State::Ready };
                    self.tx_tail = self.next(i);
                    self.stats.tx += 1;
                    self.sched.at(t + MAP_CYCLES + DOORBELL_CYCLES, Act::TxDesc(i));
                    Event::map(Some(t), self.dev, None, iova, pa, size, MapPage::K4, Perm::R)
                }
            }
            Act::RxData(i) => {
                let b = self.rx[i as usize];
                self.access(t, b.iova + u64::from(b.off), u64::from(b.len), Access::Write)
            }
            Act::RxDone(i) => {
                self.rx[i as usize].state = State::Done;
                self.completed(t);
                self.access(t, self.rx_ring + u64::from(i) * DESC_BYTES, DESC_BYTES, Access::Write)
            }
            Act::TxDesc(i) => {
                self.sched.at(t + DMA_READ_CYCLES, Act::TxData(i));
                let line = self.tx_ring + ((u64::from(i) * DESC_BYTES) & !63);
                self.access(t, line, 64, Access::Read)
            }
            Act::TxData(i) => {
                let b = &mut self.tx[i as usize];
                b.state = State::Busy;
                let b = *b;
                self.sched.at(t + DMA_READ_CYCLES, Act::TxDone(i));
                self.access(t, b.iova + u64::from(b.off), u64::from(b.len), Access::Read)
            }
            Act::TxDone(i) => {
                self.tx[i as usize].state = State::Done;
                self.completed(t);
                self.access(t, self.tx_ring + u64::from(i) * DESC_BYTES, DESC_BYTES, Access::Write)
            }
            Act::Poll => {
                let (tc, rc) = (self.tx_clean as usize, self.rx_clean as usize);
                if self.tx[tc].state == State::Done {
                    let b = std::mem::replace(&mut self.tx[tc], EMPTY);
                    self.tx_clean = self.next(self.tx_clean);
                    self.sched.at(t + UNMAP_CYCLES, Act::Poll);
                    self.unmap(t, b)
                } else if self.rx[rc].state == State::Done {
                    let b = std::mem::replace(&mut self.rx[rc], EMPTY);
                    self.rx_clean = self.next(self.rx_clean);
                    self.sched.at(t + UNMAP_CYCLES, Act::Refill);
                    self.unmap(t, b)
                } else {
                    self.poll_pending = false;
                    return None;
                }
            }
            Act::Refill => {
                self.sched.at(t + MAP_CYCLES, Act::Poll);
                self.post_rx(t)
            }
            Act::Teardown(k) => {
                let mut k = k;
                while k < ring && self.rx[k as usize].state != State::Ready {
                    k += 1;
                }
                if k < ring + 2 {
                    self.sched.at(t + UNMAP_CYCLES, Act::Teardown(k + 1));
                }
                if k < ring {
                    let b = std::mem::replace(&mut self.rx[k as usize], EMPTY);
                    self.unmap(t, b)
                } else if k < ring + 2 {
                    let iova = if k == ring { self.rx_ring } else { self.tx_ring };
                    self.iovas.free(iova, self.ring_bytes);
                    Event::unmap(Some(t), self.dev, None, iova, self.ring_bytes)
                } else {
                    Event::detach(Some(t), self.dev)
                }
            }
        })
    }
}

impl Generator for NicDevice {
    fn next_event(&mut self) -> Option<Event> {
        loop {
            // Once everything else is done, the teardown.
            let (t, a) = self.sched.pop_or_last(&mut self.teardown)?;
            if let Some(e) = self.act(t, a) {
                return Some(e);
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
    fn setup_maps_both_rings_and_posts_all_but_one_receive_buffer() {
        let n = Nic { packets: 0, ring: 8, ..Nic::default() };
        let evs: Vec<Event> = events(n.build().unwrap()).collect();
        let kinds: Vec<EventKind> = evs.iter().map(|e| e.kind).collect();
        assert_eq!(kinds[0], EventKind::Attach);
        assert_eq!(kinds.iter().filter(|&&k| k == EventKind::Map).count(), 2 + 7);
        assert_eq!(kinds.iter().filter(|&&k| k == EventKind::Unmap).count(), 2 + 7);
        assert_eq!(*kinds.last().unwrap(), EventKind::Detach);
        // The rings are the first two allocations: the top of the 32-bit space.
        assert_eq!((evs[1].iova, evs[1].size), (0xffff_f000, 0x1000));
        assert_eq!((evs[2].iova, evs[2].size), (0xffff_e000, 0x1000));
        // Two consecutive receive buffers share a page.
        assert_eq!(evs[3].pa, evs[4].pa);
        assert_ne!(evs[4].pa, evs[5].pa);
    }

    #[test]
    fn a_full_receive_ring_drops_packets() {
        // Packets every 10 ns, a poll only after 100 us: the 7 posted buffers fill
        // and the rest are dropped.
        let n = Nic { packets: 100, ring: 8, rx_percent: 100, pps: 100_000_000, irq_delay: 100_000, ..Nic::default() };
        let mut g = n.build().unwrap();
        while g.next_event().is_some() {}
        let s = g.generators()[0].stats();
        assert_eq!(s, NicStats { rx: 7, tx: 0, rx_dropped: 93, tx_dropped: 0 });
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Nic { ring: 100, ..Nic::default() }.build().is_err());
        assert!(Nic { pps: 0, ..Nic::default() }.build().is_err());
        assert!(Nic { rx_percent: 101, ..Nic::default() }.build().is_err());
        assert!(Nic { packet_len: Some(1501), ..Nic::default() }.build().is_err());
        assert!(Nic { devices: 0, ..Nic::default() }.build().is_err());
    }
}
