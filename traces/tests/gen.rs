//! The workload generators, checked from the outside: determinism, time order,
//! well-behaved DMA (every access inside a mapping live at that time for that
//! device, with a permission that allows it), aligned mappings, the documented
//! layouts, and a CSV round trip.

use iommu_model::Access;
use iommu_traces::gen::accel::{Accel, Pattern};
use iommu_traces::gen::nic::Nic;
use iommu_traces::gen::nvme::Nvme;
use iommu_traces::gen::passthrough::{self, Passthrough};
use iommu_traces::gen::window::Window;
use iommu_traces::gen::{self, build, events, write_trace, Generator, Options, WORKLOADS};
use iommu_traces::trace::{Event, EventKind, MapPage, Mode, Perm, TraceReader, TraceWriter};
use std::collections::{BTreeMap, BTreeSet};

// ---------------------------------------------------------------------------
// A replay checker: live mappings per (device, pid) and per VM.

#[derive(Clone, Copy, Debug)]
struct Mapping {
    end: u64,
    pa: u64,
    perm: Perm,
}

#[derive(Default, Debug)]
struct Space(BTreeMap<u64, Mapping>);

impl Space {
    fn map(&mut self, start: u64, size: u64, pa: u64, perm: Perm) -> Result<(), String> {
        let end = start.checked_add(size).ok_or("mapping wraps")?;
        if let Some((&s, m)) = self.0.range(..end).next_back() {
            if m.end > start {
                return Err(format!("map {start:#x}+{size:#x} overlaps live mapping {s:#x}..{:#x}", m.end));
            }
        }
        self.0.insert(start, Mapping { end, pa, perm });
        Ok(())
    }

    /// Removes whole mappings exactly covering `[start, start+size)`.
    fn unmap(&mut self, start: u64, size: u64) -> Result<(), String> {
        let end = start + size;
        let mut pos = start;
        while pos < end {
            let m =
                self.0.get(&pos).ok_or_else(|| format!("unmap {start:#x}+{size:#x}: nothing mapped at {pos:#x}"))?;
            if m.end > end {
                return Err(format!("unmap {start:#x}+{size:#x} splits mapping {pos:#x}..{:#x}", m.end));
            }
            let next = m.end;
            self.0.remove(&pos);
            pos = next;
        }
        Ok(())
    }

    /// The pieces `[addr, addr+len)` translates to, or why it is not all mapped
    /// with `need`.
    fn translate(&self, addr: u64, len: u64, need: Access) -> Result<Vec<(u64, u64)>, String> {
        let end = addr + len;
        let mut pos = addr;
        let mut out = vec![];
        while pos < end {
            let (&s, m) = self
                .0
                .range(..=pos)
                .next_back()
                .filter(|(_, m)| m.end > pos)
                .ok_or_else(|| format!("{addr:#x}+{len}: {pos:#x} is not mapped"))?;
            let ok = match need {
                Access::Read => m.perm.r(),
                Access::Write => m.perm.w(),
                Access::Exec => m.perm.x(),
            };
            if !ok {
                return Err(format!("{addr:#x}+{len}: {need:?} not allowed by {}", m.perm));
            }
            let piece_end = end.min(m.end);
            out.push((m.pa + (pos - s), piece_end - pos));
            pos = piece_end;
        }
        Ok(out)
    }
}

#[derive(Default)]
struct Checker {
    attached: BTreeMap<u32, (Mode, Option<u32>)>,
    spaces: BTreeMap<(u32, Option<u32>), Space>,
    vms: BTreeMap<u32, Space>,
    last: u64,
    counts: BTreeMap<&'static str, u64>,
}

fn aligned(e: &Event, addr: u64) -> Result<(), String> {
    let p = e.page.bytes();
    if !addr.is_multiple_of(p) || !e.pa.is_multiple_of(p) || !e.size.is_multiple_of(p) || e.size == 0 {
        return Err(format!("{e:?} is not {} aligned", e.page.name()));
    }
    Ok(())
}

impl Checker {
    fn event(&mut self, e: &Event) -> Result<(), String> {
        let t = e.time.ok_or("event without a time")?;
        if t < self.last {
            return Err(format!("time goes back from {} to {t}", self.last));
        }
        self.last = t;
        *self.counts.entry(e.kind.name()).or_default() += 1;
        let key = (e.device, e.pid);
        match e.kind {
            EventKind::Attach => {
                if self.attached.insert(e.device, (e.mode, e.vm)).is_some() {
                    return Err(format!("device {:#x} attached twice", e.device));
                }
                if let Some(vm) = e.vm {
                    if !self.vms.contains_key(&vm) {
                        return Err(format!("vm {vm} has no memory when device {:#x} attaches", e.device));
                    }
                }
            }
            EventKind::Detach => {
                self.attached.remove(&e.device).ok_or("detach of a device not attached")?;
                if self.spaces.get(&key).is_some_and(|s| !s.0.is_empty()) {
                    return Err(format!("device {:#x} detaches with live mappings", e.device));
                }
            }
            EventKind::Map => {
                let (mode, vm) = *self.attached.get(&e.device).ok_or("map on a device not attached")?;
                aligned(e, e.iova)?;
                match mode {
                    Mode::S1 => {}
                    Mode::Nested => {
                        // The guest maps guest-physical memory its VM has.
                        let vm = self.vms.get(&vm.unwrap()).ok_or("nested map without VM memory")?;
                        vm.translate(e.pa, e.size, Access::Read)?;
                    }
                    m => return Err(format!("map on a device in mode {}", m.name())),
                }
                self.spaces.entry(key).or_default().map(e.iova, e.size, e.pa, e.perm)?;
            }
            EventKind::Unmap => self.spaces.entry(key).or_default().unmap(e.iova, e.size)?,
            EventKind::Gmap => {
                aligned(e, e.gpa)?;
                self.vms.entry(e.vm.unwrap()).or_default().map(e.gpa, e.size, e.pa, e.perm)?;
            }
            EventKind::Gunmap => {
                let vm = e.vm.unwrap();
                if self.attached.values().any(|&(_, v)| v == Some(vm)) {
                    return Err(format!("gunmap of vm {vm} while devices are attached"));
                }
                self.vms.entry(vm).or_default().unmap(e.gpa, e.size)?;
            }
            EventKind::Access => {
                let (mode, vm) = *self.attached.get(&e.device).ok_or("access by a device not attached")?;
                let len = u64::from(e.len);
                let empty = Space::default();
                let s1 = self.spaces.get(&key).unwrap_or(&empty);
                match mode {
                    Mode::Bare => {}
                    Mode::S1 => {
                        s1.translate(e.iova, len, e.access)?;
                    }
                    Mode::G => {
                        self.vms[&vm.unwrap()].translate(e.iova, len, e.access)?;
                    }
                    Mode::Nested => {
                        for (gpa, n) in s1.translate(e.iova, len, e.access)? {
                            self.vms[&vm.unwrap()].translate(gpa, n, e.access)?;
                        }
                    }
                }
            }
            EventKind::Inval => return Err("generators emit no inval".into()),
        }
        Ok(())
    }

    /// Everything is torn down at the end.
    fn finish(&self) -> Result<(), String> {
        if !self.attached.is_empty() {
            return Err(format!("devices still attached: {:?}", self.attached.keys().collect::<Vec<_>>()));
        }
        if self.spaces.values().chain(self.vms.values()).any(|s| !s.0.is_empty()) {
            return Err("mappings left at the end".into());
        }
        Ok(())
    }
}

fn check(evs: &[Event]) -> Checker {
    let mut c = Checker::default();
    for (i, e) in evs.iter().enumerate() {
        if let Err(m) = c.event(e) {
            panic!("event {i} {e:?}: {m}");
        }
    }
    c.finish().unwrap();
    c
}

// ---------------------------------------------------------------------------
// Helpers.

fn csv(mut g: impl Generator) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new()).unwrap();
    write_trace(&mut g, &mut w).unwrap();
    w.finish().unwrap()
}

fn read_back(bytes: &[u8]) -> Vec<Event> {
    let mut r = TraceReader::new(bytes, "gen.csv");
    let mut out = vec![];
    while let Some(e) = r.next_event().unwrap() {
        out.push(e);
    }
    out
}

fn opts(seed: u64, devices: u32, count: u64) -> Options {
    Options { seed, devices, count: Some(count), ..Options::default() }
}

fn all(name: &str, o: &Options) -> Vec<Event> {
    events(build(name, o).unwrap()).collect()
}

fn of_kind(evs: &[Event], k: EventKind) -> Vec<&Event> {
    evs.iter().filter(|e| e.kind == k).collect()
}

/// Counts for the workloads in the common tests (kept small for debug builds).
fn small_count(name: &str) -> u64 {
    match name {
        "window" => 100,
        "nvme" => 200,
        _ => 600,
    }
}

// ---------------------------------------------------------------------------
// Every workload.

#[test]
fn every_workload_is_deterministic_and_seeds_matter() {
    for (name, _) in WORKLOADS {
        let n = small_count(name);
        let a = csv(build(name, &opts(7, 2, n)).unwrap());
        let b = csv(build(name, &opts(7, 2, n)).unwrap());
        assert_eq!(a, b, "{name}: same seed, different output");
        let c = csv(build(name, &opts(8, 2, n)).unwrap());
        assert_ne!(a, c, "{name}: the seed changes nothing");
        assert!(a.len() > 1000, "{name}");
    }
}

#[test]
fn every_workload_is_well_behaved_with_one_and_with_several_devices() {
    for (name, _) in WORKLOADS {
        for devices in [1, 3] {
            let evs = all(name, &opts(3, devices, small_count(name)));
            let c = check(&evs);
            assert!(c.counts["access"] > 0, "{name}");
            let ids: BTreeSet<u32> = evs.iter().filter(|e| e.kind != EventKind::Gmap).map(|e| e.device).collect();
            let want: BTreeSet<u32> = (0..devices).map(gen::device_id).collect();
            let ids: BTreeSet<u32> = ids.into_iter().filter(|&d| d != 0).collect();
            assert_eq!(ids, want, "{name}");
            if devices > 1 {
                // Interleaved by time, not one device after the other.
                let switches = evs
                    .windows(2)
                    .filter(|w| w[0].kind == EventKind::Access && w[1].kind == EventKind::Access)
                    .filter(|w| w[0].device != w[1].device)
                    .count();
                assert!(switches > 20, "{name}: {switches} switches between devices");
            }
        }
    }
}

#[test]
fn every_workload_reads_back_from_csv_as_the_same_events() {
    for (name, _) in WORKLOADS {
        let o = opts(11, 2, small_count(name));
        let bytes = csv(build(name, &o).unwrap());
        let back = read_back(&bytes);
        assert_eq!(back, all(name, &o), "{name}");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("time,event,device,"));
        assert_eq!(text.lines().count(), back.len() + 1);
    }
}

#[test]
fn start_time_and_default_counts_apply() {
    for (name, _) in WORKLOADS {
        let o = Options { start: 5_000_000, count: Some(5), ..Options::default() };
        let evs = all(name, &o);
        assert_eq!(evs[0].time, Some(5_000_000), "{name}");
    }
    // The default count of the NIC is 10,000 packets.
    let g = Nic::default().build().unwrap();
    let mut g = g;
    while g.next_event().is_some() {}
    let s = g.generators()[0].stats();
    assert_eq!(s.rx + s.tx + s.rx_dropped + s.tx_dropped, 10_000);
}

// ---------------------------------------------------------------------------
// NIC.

#[test]
fn nic_packets_use_per_packet_buffers_in_reused_top_down_iovas() {
    let nic = Nic { devices: 2, packets: 3000, seed: 5, ..Nic::default() };
    let mut g = nic.build().unwrap();
    let mut evs = vec![];
    while let Some(e) = g.next_event() {
        evs.push(e);
    }
    check(&evs);
    for (i, d) in g.generators().iter().enumerate() {
        let s = d.stats();
        assert_eq!(s.rx + s.tx + s.rx_dropped + s.tx_dropped, 3000);
        assert_eq!(s.rx_dropped + s.tx_dropped, 0, "default rates drop nothing");
        assert!(s.rx > 1200 && s.tx > 1200, "{s:?}");
        let dev = gen::device_id(i as u32);
        let mine: Vec<&Event> = evs.iter().filter(|e| e.device == dev).collect();
        let maps: Vec<&&Event> = mine.iter().filter(|e| e.kind == EventKind::Map).collect();
        // Two rings, 255 posted buffers, one map per packet.
        assert_eq!(maps.len() as u64, 2 + 255 + s.rx + s.tx);
        let (rx_ring, tx_ring) = (maps[0].iova..maps[0].iova + 4096, maps[1].iova..maps[1].iova + 4096);
        let mut data = 0;
        for e in mine.iter().filter(|e| e.kind == EventKind::Access) {
            if rx_ring.contains(&e.iova) || tx_ring.contains(&e.iova) {
                assert!(e.len == 16 || (e.len == 64 && e.iova.is_multiple_of(64)), "{e:?}");
            } else {
                data += 1;
                assert!(e.len <= 1500 && [64, 576, 1500].contains(&e.len), "{e:?}");
                if e.access == Access::Write {
                    // A receive buffer: within its 2 KiB half page.
                    assert!(e.iova % 2048 + u64::from(e.len) <= 2048, "{e:?}");
                }
            }
        }
        assert_eq!(data, s.rx + s.tx);
        // Linux-like IOVAs: below 4 GiB, from the top, reused after unmap.
        assert!(maps.iter().all(|m| m.iova < 1 << 32 && m.iova >= 0xff00_0000));
        let distinct: BTreeSet<u64> = maps.iter().map(|m| m.iova).collect();
        assert!(distinct.len() < 600, "{} distinct IOVAs for {} maps", distinct.len(), maps.len());
        // Transmit buffers are read-only, receive buffers and rings rw.
        assert!(maps.iter().all(|m| m.perm == Perm::R || m.perm == Perm::RW));
        assert!(maps.iter().any(|m| m.perm == Perm::R));
        // Physical buffers are scattered.
        let pages: BTreeSet<u64> = maps.iter().map(|m| m.pa).collect();
        assert!(pages.len() > 2000);
    }
}

#[test]
fn nic_fixed_length_all_transmit() {
    let nic = Nic { packets: 500, rx_percent: 0, packet_len: Some(1500), ..Nic::default() };
    let evs: Vec<Event> = events(nic.build().unwrap()).collect();
    check(&evs);
    let reads: Vec<&Event> = of_kind(&evs, EventKind::Access).into_iter().filter(|e| e.len == 1500).collect();
    assert_eq!(reads.len(), 500);
    assert!(reads.iter().all(|e| e.access == Access::Read));
    // Some packets straddle a page boundary: their mapping is two pages.
    assert!(reads.iter().any(|e| e.iova % 4096 + 1500 > 4096));
    assert!(of_kind(&evs, EventKind::Map).iter().any(|m| m.size == 0x2000));
}

// ---------------------------------------------------------------------------
// NVMe.

fn nvme_checks(n: Nvme) {
    let evs: Vec<Event> = events(n.build().unwrap()).collect();
    check(&evs);
    for i in 0..n.devices {
        let dev = gen::device_id(i);
        let mine: Vec<&Event> = evs.iter().filter(|e| e.device == dev).collect();
        let maps: Vec<&&Event> = mine.iter().filter(|e| e.kind == EventKind::Map).collect();
        let sq = maps[0].iova..maps[0].iova + maps[0].size;
        let cq = maps[1].iova..maps[1].iova + maps[1].size;
        assert_eq!((maps[0].size, maps[1].size), (256 * 64, 4096));
        let acc: Vec<&&Event> = mine.iter().filter(|e| e.kind == EventKind::Access).collect();
        let sqe = acc.iter().filter(|e| sq.contains(&e.iova)).count() as u64;
        let cqe: Vec<&&&Event> = acc.iter().filter(|e| cq.contains(&e.iova)).collect();
        assert_eq!(sqe, n.ios);
        assert_eq!(cqe.len() as u64, n.ios);
        assert!(cqe.iter().all(|e| e.len == 16 && e.access == Access::Write));
        // Data bursts: the burst size, within a 4 KiB page.
        let bursts: Vec<&&&Event> = acc.iter().filter(|e| e.len == n.burst).collect();
        assert!(bursts.iter().all(|e| e.iova % 4096 + u64::from(e.len) <= 4096));
        // Per I/O: one unmap of all its pages (4 KiB to 128 KiB), mapped a page at a time.
        let pool = if n.prp_pool { maps[2].iova..maps[2].iova + maps[2].size } else { 0..0 };
        let queues = |e: &Event| {
            sq.contains(&e.iova) || cq.contains(&e.iova) || e.kind == EventKind::Unmap && pool.contains(&e.iova)
        };
        let big_ios: Vec<u64> = mine
            .iter()
            .filter(|e| e.kind == EventKind::Unmap && !queues(e) && e.size > 8192)
            .map(|e| e.size / 4096)
            .collect();
        assert!(big_ios.iter().all(|&p| p <= 32));
        // Every I/O of more than two pages has its PRP list read: (pages - 1) x 8 bytes.
        let prp_reads: Vec<&&&Event> = acc.iter().filter(|e| !queues(e) && e.len != n.burst).collect();
        assert!(prp_reads.iter().all(|e| e.access == Access::Read));
        let mut listed: Vec<u64> = prp_reads.iter().map(|e| u64::from(e.len) / 8 + 1).collect();
        let mut want = big_ios.clone();
        listed.sort();
        want.sort();
        assert_eq!(listed, want);
        assert!(!listed.is_empty());
        let data_maps = maps.iter().filter(|m| !queues(m) && m.size == 4096).count() as u64;
        let data_bytes: u64 = bursts.iter().map(|e| u64::from(e.len)).sum();
        let prp_maps = if n.prp_pool { 0 } else { big_ios.len() as u64 };
        assert_eq!((data_maps - prp_maps) * 4096, data_bytes, "every mapped data page is moved once");
        // Reads (device writes) dominate, as read_percent says.
        let writes = bursts.iter().filter(|e| e.access == Access::Write).count();
        assert!(writes * 2 > bursts.len(), "{writes} of {}", bursts.len());
        // No more than queue_depth I/Os in flight: count live data mappings.
        let mut live: i64 = 0;
        let mut most = 0;
        for e in &mine {
            match e.kind {
                EventKind::Access if sq.contains(&e.iova) => live += 1,
                EventKind::Access if cq.contains(&e.iova) => live -= 1,
                _ => {}
            }
            most = most.max(live);
        }
        assert!(most <= i64::from(n.queue_depth) && most > 1, "{most}");
    }
}

#[test]
fn nvme_ios_fetch_their_command_move_data_in_page_bounded_bursts_and_complete() {
    nvme_checks(Nvme { ios: 500, devices: 2, seed: 9, ..Nvme::default() });
    nvme_checks(Nvme { ios: 300, prp_pool: true, burst: 4096, ..Nvme::default() });
}

#[test]
fn nvme_prp_pool_maps_list_pages_once() {
    let n = Nvme { ios: 200, prp_pool: true, io_size: Some(64 << 10), ..Nvme::default() };
    let evs: Vec<Event> = events(n.build().unwrap()).collect();
    check(&evs);
    let maps = of_kind(&evs, EventKind::Map);
    // SQ, CQ, the pool (32 pages), then 16 data pages per I/O.
    assert_eq!(maps[2].size, 32 * 4096);
    assert_eq!(maps.len(), 3 + 200 * 16);
}

// ---------------------------------------------------------------------------
// Accelerator.

#[test]
fn accel_maps_big_buffers_with_the_chosen_page_and_streams_over_them() {
    for page in [MapPage::K4, MapPage::M2] {
        let a = Accel { accesses: 3000, page, devices: 2, ..Accel::default() };
        let evs: Vec<Event> = events(a.build().unwrap()).collect();
        check(&evs);
        let maps = of_kind(&evs, EventKind::Map);
        assert_eq!(maps.len(), 2 * 2 * 32, "two 64 MiB buffers in 2 MiB runs, per device");
        assert!(maps.iter().all(|m| m.page == page && m.size == 2 << 20));
        let acc = of_kind(&evs, EventKind::Access);
        assert_eq!(acc.len(), 6000);
        assert!(acc.iter().all(|e| e.len.is_multiple_of(256) && (256..=4096).contains(&e.len)));
        let unmaps = of_kind(&evs, EventKind::Unmap);
        assert!(unmaps.iter().all(|u| u.size == 64 << 20));
    }
    let evs = all("accel", &Options { page: Some(MapPage::M2), count: Some(10), ..Options::default() });
    assert!(of_kind(&evs, EventKind::Map).iter().all(|m| m.page == MapPage::M2));
}

#[test]
fn accel_wraps_at_the_end_of_its_buffers() {
    let a = Accel { accesses: 20_000, buffer: 2 << 20, chunk: 64 << 10, ..Accel::default() };
    let evs: Vec<Event> = events(a.build().unwrap()).collect();
    check(&evs);
    let src = evs[1].iova;
    let starts = of_kind(&evs, EventKind::Access).iter().filter(|e| e.iova == src).count();
    assert!(starts >= 2, "the stream came back to the start");
    let strided = Accel { accesses: 2000, pattern: Pattern::Strided(64 << 10), ..Accel::default() };
    check(&events(strided.build().unwrap()).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// Window.

#[test]
fn a_single_window_gets_uniform_random_reads_inside_it() {
    let o = Options { window: Some(1 << 20), count: Some(20_000), ..Options::default() };
    let evs = all("window", &o);
    check(&evs);
    let maps = of_kind(&evs, EventKind::Map);
    assert_eq!(maps.len(), 1);
    let (base, size) = (maps[0].iova, maps[0].size);
    assert_eq!((size, maps[0].page), (1 << 20, MapPage::K4));
    let reads = of_kind(&evs, EventKind::Access);
    assert_eq!(reads.len(), 20_000);
    let mut buckets = [0u32; 16];
    for r in &reads {
        assert!(r.iova >= base && r.iova + 64 <= base + size && r.iova.is_multiple_of(64) && r.len == 64);
        assert_eq!(r.access, Access::Read);
        buckets[((r.iova - base) / (size / 16)) as usize] += 1;
    }
    assert!(buckets.iter().all(|&b| (1000..1500).contains(&b)), "{buckets:?}");
    let pages: BTreeSet<u64> = reads.iter().map(|r| r.iova >> 12).collect();
    assert_eq!(pages.len(), 256, "every page of the window is read");
}

#[test]
fn the_window_sweep_doubles_each_phase_reading_only_its_window() {
    let w = Window { reads: 200, ..Window::default() };
    let evs: Vec<Event> = events(w.build().unwrap()).collect();
    check(&evs);
    let mut phases: Vec<(u64, u64, u64)> = vec![]; // (base, size, reads)
    let mut current: Option<(u64, u64)> = None;
    for e in &evs {
        match e.kind {
            EventKind::Map => {
                let (b, s) = current.get_or_insert((e.iova, 0));
                assert_eq!(*b + *s, e.iova, "a window's runs are contiguous in IOVA");
                *s += e.size;
            }
            EventKind::Access => {
                let (b, s) = current.unwrap();
                assert!(e.iova >= b && e.iova + 64 <= b + s);
                match phases.last_mut() {
                    Some(p) if p.0 == b && p.1 == s => p.2 += 1,
                    _ => phases.push((b, s, 1)),
                }
            }
            EventKind::Unmap => {
                assert_eq!(Some((e.iova, e.size)), current.take());
            }
            _ => {}
        }
    }
    let sizes: Vec<u64> = phases.iter().map(|p| p.1).collect();
    assert_eq!(sizes, w.sizes().collect::<Vec<_>>());
    assert_eq!(sizes.len(), 15);
    assert!(phases.iter().all(|p| p.2 == 200 && p.0.is_multiple_of(p.1)));
    // With 2 MiB pages the sweep starts at 2 MiB.
    let evs = all("window", &Options { page: Some(MapPage::M2), count: Some(5), ..Options::default() });
    let maps = of_kind(&evs, EventKind::Map);
    assert!(maps.iter().all(|m| m.page == MapPage::M2));
    assert_eq!(maps[0].size, 2 << 20);
}

#[test]
fn window_parameters_are_checked_through_build() {
    let bad = |w: u64| build("window", &Options { window: Some(w), ..Options::default() }).err().unwrap();
    assert!(bad(1000).0.contains("multiple"));
    assert!(bad(8 << 30).0.contains("2 GiB"));
    assert!(
        build("window", &Options { window: Some(64 << 10), page: Some(MapPage::M2), ..Options::default() }).is_err()
    );
}

// ---------------------------------------------------------------------------
// Passthrough.

#[test]
fn passthrough_has_the_documented_vm_layout_and_buffer() {
    for (page, gpage) in [(None, MapPage::M2), (Some(MapPage::K4), MapPage::K4)] {
        let evs = all("passthrough", &Options { page, count: Some(500), ..Options::default() });
        check(&evs);
        let gmaps = of_kind(&evs, EventKind::Gmap);
        assert_eq!(gmaps.len(), 1);
        let g = gmaps[0];
        assert_eq!((g.vm, g.gpa, g.pa, g.size, g.page), (Some(1), 0, 256 << 20, 256 << 20, gpage));
        assert_eq!(g.perm, Perm::RW);
        assert_eq!(evs[0].kind, EventKind::Gmap);
        assert_eq!(evs[1], Event::attach(evs[1].time, 0x100, None, Some(1), Mode::G));
        assert!(of_kind(&evs, EventKind::Map).is_empty(), "mode g: IOVA = GPA, no first stage");
        let acc = of_kind(&evs, EventKind::Access);
        assert_eq!(acc.len(), 500);
        for a in &acc {
            assert!(a.iova >= 0x100_5000 && a.iova + u64::from(a.len) <= 0x100_8000, "{a:?}");
            assert_eq!(a.len, 512);
        }
        let touched: BTreeSet<u64> = acc.iter().map(|a| a.iova).collect();
        assert_eq!(touched.len(), 24, "the whole 12 KiB buffer in 512 B bursts");
        assert!(acc.iter().any(|a| a.access == Access::Read) && acc.iter().any(|a| a.access == Access::Write));
        let last = evs.last().unwrap();
        assert_eq!((last.kind, last.vm, last.gpa, last.size), (EventKind::Gunmap, Some(1), 0, 256 << 20));
    }
}

#[test]
fn nested_maps_the_guest_iova_to_the_buffer_gpa() {
    let evs = all("nested", &opts(1, 1, 100));
    check(&evs);
    assert_eq!(evs[0].kind, EventKind::Gmap);
    assert_eq!(evs[1], Event::attach(evs[1].time, 0x100, None, Some(1), Mode::Nested));
    let maps = of_kind(&evs, EventKind::Map);
    assert_eq!(maps.len(), 1);
    assert_eq!(*maps[0], Event::map(maps[0].time, 0x100, None, 0x4000_0000, 0x100_5000, 0x3000, MapPage::K4, Perm::RW));
    let acc = of_kind(&evs, EventKind::Access);
    assert_eq!(acc.len(), 100);
    assert!(acc.iter().all(|a| a.iova >= 0x4000_0000 && a.iova + u64::from(a.len) <= 0x4000_3000));
    let unmaps = of_kind(&evs, EventKind::Unmap);
    assert_eq!((unmaps[0].iova, unmaps[0].size), (0x4000_0000, 0x3000));
}

#[test]
fn passthrough_devices_get_their_own_buffers() {
    for nested in [false, true] {
        let p = Passthrough { devices: 4, accesses: 48, nested, ..Passthrough::default() };
        let evs: Vec<Event> = events(p.build().unwrap()).collect();
        check(&evs);
        for i in 0..4 {
            let dev = gen::device_id(i);
            let gpa = Passthrough::buffer_gpa(i);
            assert_eq!(gpa, 0x100_5000 + u64::from(i) * 0x1_0000);
            let base = if nested { passthrough::NESTED_IOVA } else { gpa };
            let acc: Vec<&Event> = evs.iter().filter(|e| e.kind == EventKind::Access && e.device == dev).collect();
            assert_eq!(acc.len(), 48);
            assert!(acc.iter().all(|a| a.iova >= base && a.iova + u64::from(a.len) <= base + 0x3000));
            if nested {
                let m = evs.iter().find(|e| e.kind == EventKind::Map && e.device == dev).unwrap();
                assert_eq!((m.iova, m.pa), (passthrough::NESTED_IOVA, gpa));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The checker itself catches misbehaviour.

#[test]
fn the_checker_rejects_bad_traces() {
    let d = 0x100;
    let attach = Event::attach(Some(0), d, None, None, Mode::S1);
    let map = Event::map(Some(1), d, None, 0x1000, 0x8000_0000, 0x2000, MapPage::K4, Perm::R);
    let cases: Vec<(Vec<Event>, &str)> = vec![
        (vec![attach, map, Event::access(Some(2), d, None, 0x2f00, 0x200, Access::Read)], "not mapped"),
        (vec![attach, map, Event::access(Some(2), d, None, 0x1000, 4, Access::Write)], "not allowed"),
        (
            vec![
                attach,
                map,
                Event::unmap(Some(2), d, None, 0x1000, 0x2000),
                Event::access(Some(3), d, None, 0x1000, 4, Access::Read),
            ],
            "not mapped",
        ),
        (vec![attach, map, Event::unmap(Some(2), d, None, 0x1000, 0x1000)], "splits"),
        (vec![attach, map, map], "overlaps"),
        (
            vec![
                attach,
                Event { time: Some(0), ..map },
                Event::access(Some(0), d, None, 0x1000, 4, Access::Read),
                Event::access(Some(5), d, None, 0x1000, 4, Access::Read),
                Event::access(Some(4), d, None, 0x1000, 4, Access::Read),
            ],
            "time goes back",
        ),
        (vec![attach, Event::map(Some(1), d, None, 0x1000, 0x8000_0000, 0x1000, MapPage::M2, Perm::R)], "aligned"),
    ];
    for (evs, want) in cases {
        let mut c = Checker::default();
        let err = evs.iter().find_map(|e| c.event(e).err()).unwrap_or_else(|| panic!("no error for {want}"));
        assert!(err.contains(want), "{err} (wanted {want})");
    }
    // A mapping left at the end.
    let mut c = Checker::default();
    c.event(&attach).unwrap();
    c.event(&map).unwrap();
    assert!(c.finish().is_err());
}

// ---------------------------------------------------------------------------
// Speed (run with `cargo test --release -p iommu-traces --test gen -- --ignored`).

#[test]
#[ignore]
fn generation_speed() {
    for (name, _) in WORKLOADS {
        let count = match name {
            "window" => 20_000,
            "nvme" => 100_000,
            _ => 1_000_000,
        };
        let g = build(name, &opts(1, 4, count)).unwrap();
        let t = std::time::Instant::now();
        let n = events(g).count();
        let s = t.elapsed().as_secs_f64();
        println!("{name:14} {n:>10} events in {s:.3} s: {:.1} M events/s", n as f64 / s / 1e6);
    }
}
