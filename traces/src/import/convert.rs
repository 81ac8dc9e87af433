//! The conversion engine both importers feed: observations in capture order go
//! through a short correlation window (a translation waiting for the line that
//! completes it, an `iommu:map` waiting for the `dma:*` line that names its
//! device), then, strictly in order, through the mapping state that decides which
//! trace events they become.

use super::line::Stamp;
use super::report::ImportReport;
use crate::trace::{Event, EventKind, MapPage, Mode, Perm};
use iommu_model::Access;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Lines a translation waits for the line that completes it (QEMU prints a
/// cache hit or update, then the translation result).
pub(crate) const MERGE_WINDOW: u64 = 64;
/// Lines an `iommu:map`/`unmap` waits for a `dma:*` line with the same IOVA.
pub(crate) const CLAIM_WINDOW: u64 = 2048;
/// Observations held at most; beyond, the oldest goes out with what is known.
const MAX_QUEUE: usize = 8192;
/// `dma:*` lines remembered for `iommu:map`/`unmap` lines that come after them.
const RECENT_DMA: usize = 32;
/// Bytes of the access a translation stands for (QEMU prints no size).
const ACCESS_LEN: u64 = 4;

const PAGE: u64 = 0x1000;

/// Which device an observation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DevSel {
    /// Named by the line.
    Known(u32),
    /// Not named (`iommu:map`/`unmap`): the device the capture named last before it.
    Unknown { last_seen: Option<u32> },
}

/// What invalidation events apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every attached device.
    All,
    /// The devices seen in a domain (a VT-d or AMD-Vi domain ID).
    Domain(u32),
}

/// One thing a capture line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Obs {
    /// The IOMMU translated `iova` of `dev` to the page at `pa`: a mapping and an access.
    Access { dev: u32, pid: Option<u32>, iova: u64, pa: u64, perm: Perm, access: Access },
    /// A translation fault at `iova`.
    Fault { dev: u32, pid: Option<u32>, iova: u64, access: Access },
    /// `iommu:map`: `[iova, iova+size)` to `pa`.
    Map { dev: DevSel, iova: u64, size: u64, pa: u64 },
    /// `iommu:unmap`.
    Unmap { dev: DevSel, iova: u64, size: u64 },
    /// `dma:*` mappings: `(iova, size, pa)`; `pa` `None` when the event has none.
    DmaMap { dev: u32, entries: Vec<(u64, u64, Option<u64>)>, perm: Perm },
    /// `dma:*` unmaps: `(iova, size)`.
    DmaUnmap { dev: u32, entries: Vec<(u64, u64)> },
    /// `dma_unmap_sg`: only the physical addresses are printed.
    DmaUnmapPhys { dev: u32, phys: Vec<u64> },
    /// The device joins a (new) domain.
    Attach { dev: u32 },
    /// The device leaves its domain.
    Detach { dev: u32 },
    /// An IOTLB invalidation: `(iova, size)`, or everything.
    Inval { target: Target, range: Option<(u64, u64)> },
}

/// What an observation waits for before it can be converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Nothing.
    Ready,
    /// The line that completes this translation, until the given line.
    Completion(u64),
    /// A `dma:*` line naming the device, until the given line.
    Claim(u64),
}

/// An observation with where and when it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub line: u64,
    pub time: Option<Stamp>,
    /// The event name the line is counted under.
    pub name: &'static str,
    pub obs: Obs,
    pub wait: Wait,
    /// For `Map`/`Unmap` of an unknown device: the device (and mapping
    /// permission) of the `dma:*` line that claimed it.
    pub claim: Option<(u32, Option<Perm>)>,
}

impl Item {
    pub fn new(line: u64, time: Option<Stamp>, name: &'static str, obs: Obs) -> Self {
        Item { line, time, name, obs, wait: Wait::Ready, claim: None }
    }

    pub fn waiting(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }
}

/// What converting an observation came to.
enum Outcome {
    /// Trace events were written.
    Converted,
    /// Already in the trace (another line carried it).
    Merged(&'static str),
    /// Nothing to replay.
    Ignored(&'static str),
}

#[derive(Clone, Copy, Debug)]
struct Span {
    end: u64,
    pa: u64,
    perm: Perm,
}

/// The mappings of one address space: disjoint `[start, end)` ranges.
#[derive(Default, Debug)]
pub(crate) struct Ranges(BTreeMap<u64, Span>);

fn perm_covers(have: Perm, want: Perm) -> bool {
    have.0 & want.0 == want.0
}

fn perm_for(access: Access) -> Perm {
    match access {
        Access::Read => Perm::R,
        Access::Write => Perm(2),
        Access::Exec => Perm(4),
    }
}

impl Ranges {
    fn at(&self, addr: u64) -> Option<(u64, Span)> {
        let (&s, &sp) = self.0.range(..=addr).next_back()?;
        (addr < sp.end).then_some((s, sp))
    }

    /// The physical address and permission of `addr`, if mapped.
    pub fn lookup(&self, addr: u64) -> Option<(u64, Perm)> {
        self.at(addr).map(|(s, sp)| (sp.pa.wrapping_add(addr - s), sp.perm))
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.0.range(..end).next_back().is_some_and(|(_, sp)| sp.end > start)
    }

    /// Whether `[start, end)` is mapped throughout, to `pa` onwards (if given), with
    /// at least `perm`.
    fn covers(&self, start: u64, end: u64, pa: Option<u64>, perm: Perm) -> bool {
        let mut a = start;
        while a < end {
            let Some((s, sp)) = self.at(a) else { return false };
            if pa.is_some_and(|pa| sp.pa.wrapping_add(a - s) != pa.wrapping_add(a - start))
                || !perm_covers(sp.perm, perm)
            {
                return false;
            }
            a = sp.end;
        }
        true
    }

    /// The unmapped pieces of `[start, end)`.
    fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut a = start;
        while a < end {
            match self.at(a) {
                Some((_, sp)) => a = sp.end,
                None => {
                    let next = self.0.range(a..end).next().map_or(end, |(&s, _)| s);
                    out.push((a, next));
                    a = next;
                }
            }
        }
        out
    }

    /// Removes `[start, end)`; the span of what was mapped in it, if anything.
    fn remove(&mut self, start: u64, end: u64) -> Option<(u64, u64)> {
        let hits: Vec<(u64, Span)> =
            self.0.range(..end).rev().take_while(|(_, sp)| sp.end > start).map(|(&s, &sp)| (s, sp)).collect();
        let (mut lo, mut hi) = (u64::MAX, 0);
        for &(s, sp) in &hits {
            self.0.remove(&s);
            if s < start {
                self.0.insert(s, Span { end: start, ..sp });
            }
            if sp.end > end {
                self.0.insert(end, Span { end: sp.end, pa: sp.pa.wrapping_add(end - s), perm: sp.perm });
            }
            lo = lo.min(s.max(start));
            hi = hi.max(sp.end.min(end));
        }
        (!hits.is_empty()).then_some((lo, hi))
    }

    fn insert(&mut self, start: u64, end: u64, pa: u64, perm: Perm) {
        self.remove(start, end);
        self.0.insert(start, Span { end, pa, perm });
    }

    /// The IOVA range of the mapping whose physical range holds `phys`.
    fn find_phys(&self, phys: u64) -> Option<(u64, u64)> {
        self.0.iter().find(|(&s, sp)| phys >= sp.pa && phys - sp.pa < sp.end - s).map(|(&s, sp)| (s, sp.end))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// The 4 KiB pages `[start, end)` that hold `[addr, addr+size)`; `None` if that
/// runs past the top of the address space or is empty.
pub(crate) fn page_span(addr: u64, size: u64) -> Option<(u64, u64)> {
    if size == 0 {
        return None;
    }
    let start = addr & !(PAGE - 1);
    let end = addr.checked_add(size)?.checked_add(PAGE - 1)? & !(PAGE - 1);
    (end > start).then_some((start, end))
}

/// The physical address of the first page of a span whose first byte at `addr` is at `pa`.
fn span_pa(addr: u64, pa: u64) -> u64 {
    let off = addr & (PAGE - 1);
    if pa & (PAGE - 1) == off {
        pa - off
    } else {
        pa & !(PAGE - 1)
    }
}

#[derive(Clone, Debug)]
struct RecentDma {
    line: u64,
    dev: u32,
    unmap: bool,
    perm: Option<Perm>,
    ranges: Vec<(u64, u64)>,
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> bool {
    let a_end = a.0.saturating_add(a.1.max(1));
    let b_end = b.0.saturating_add(b.1.max(1));
    a.0 < b_end && b.0 < a_end
}

/// The engine: correlation window, mapping state, output.
pub(crate) struct Engine {
    pub report: ImportReport,
    clock_hz: u64,
    queue: VecDeque<Item>,
    recent: VecDeque<RecentDma>,
    /// Attached address spaces (device, process) and their mappings.
    spaces: BTreeMap<(u32, Option<u32>), Ranges>,
    /// Devices seen in each domain, and each device's domain.
    domains: HashMap<u32, BTreeSet<u32>>,
    domain_of: HashMap<u32, u32>,
    /// Whether any `iommu:unmap` line has been seen (then `dma_unmap_sg`, which
    /// prints only physical addresses, is left to those lines).
    pub saw_iommu_unmap: bool,
    t0_ns: Option<u128>,
    t0_ticks: Option<u64>,
    last_time: Option<u64>,
    /// The current item's time, once computed.
    cur_time: Option<Option<u64>>,
    /// Events ready to be written, in order.
    pub out: Vec<Event>,
    scratch: String,
}

impl Engine {
    pub fn new(clock_hz: u64) -> Self {
        Engine {
            report: ImportReport::default(),
            clock_hz,
            queue: VecDeque::new(),
            recent: VecDeque::new(),
            spaces: BTreeMap::new(),
            domains: HashMap::new(),
            domain_of: HashMap::new(),
            saw_iommu_unmap: false,
            t0_ns: None,
            t0_ticks: None,
            last_time: None,
            cur_time: None,
            out: Vec::new(),
            scratch: String::new(),
        }
    }

    // ---- counting of lines that are not queued ----

    pub fn blank(&mut self) {
        self.report.blank_lines += 1;
    }

    pub fn non_event(&mut self) {
        self.report.non_event_lines += 1;
    }

    /// A line of an event that carries nothing for replay.
    pub fn ignored(&mut self, name: &str, reason: Option<&str>) {
        bump(&mut self.report.ignored, &mut self.scratch, name, reason);
    }

    /// A line whose content another line already carries.
    pub fn merged(&mut self, name: &str, reason: &str) {
        bump(&mut self.report.merged, &mut self.scratch, name, Some(reason));
    }

    /// Learns that `dev` is in domain `did`.
    pub fn bind(&mut self, did: u32, dev: u32) {
        if let Some(old) = self.domain_of.insert(dev, did) {
            if old != did {
                if let Some(s) = self.domains.get_mut(&old) {
                    s.remove(&dev);
                }
            }
        }
        self.domains.entry(did).or_default().insert(dev);
    }

    // ---- the correlation window ----

    /// Queues an observation. An `iommu:map`/`unmap` of an unknown device takes
    /// the device of the nearest `dma:*` line of the same kind over the same IOVA:
    /// one before it (the latest), unless one as near or nearer comes after it.
    pub fn push(&mut self, mut item: Item) {
        if let Wait::Claim(until) = item.wait {
            if let Obs::Map { dev: DevSel::Unknown { .. }, iova, size, .. }
            | Obs::Unmap { dev: DevSel::Unknown { .. }, iova, size } = item.obs
            {
                let unmap = matches!(item.obs, Obs::Unmap { .. });
                let line = item.line;
                let found = self.recent.iter().rev().find(|r| {
                    r.unmap == unmap
                        && line.saturating_sub(r.line) <= CLAIM_WINDOW
                        && r.ranges.iter().any(|&rg| overlap(rg, (iova, size)))
                });
                if let Some(r) = found {
                    let dist = line.saturating_sub(r.line);
                    item.claim = Some((r.dev, r.perm));
                    item.wait = if dist == 0 { Wait::Ready } else { Wait::Claim(until.min(line + dist)) };
                }
            }
        }
        self.queue.push_back(item);
    }

    /// A line that completes a translation queued before (`iova` as it prints it,
    /// `page_mask` the offset bits of its page, `pa` the page's translation). It is
    /// merged into the oldest waiting translation of `dev` on the same page, or
    /// else queued as `alone`.
    pub fn complete(&mut self, dev: u32, iova: u64, page_mask: u64, pa: u64, alone: Item) {
        let name = alone.name;
        let found = self.queue.iter_mut().find(|it| {
            matches!(it.wait, Wait::Completion(_))
                && match it.obs {
                    Obs::Access { dev: d, iova: i, .. } | Obs::Fault { dev: d, iova: i, .. } => {
                        d == dev && i & !page_mask == iova & !page_mask
                    }
                    _ => false,
                }
        });
        match found {
            Some(it) => {
                if let Obs::Access { iova: i, pa: ref mut p, .. } = it.obs {
                    *p = (pa & !page_mask).wrapping_add(i & page_mask & !(PAGE - 1));
                }
                it.wait = Wait::Ready;
                self.merged(name, "completes the translation line before it");
            }
            None => self.push(alone),
        }
    }

    /// A `dma:*` line of `dev` over `ranges` (`(iova, size)`): it names the device of
    /// waiting `iommu:map` (`unmap` false) or `iommu:unmap` lines with the same IOVA.
    pub fn claim(&mut self, line: u64, dev: u32, unmap: bool, ranges: &[(u64, u64)], perm: Option<Perm>) {
        for it in self.queue.iter_mut() {
            if !matches!(it.wait, Wait::Claim(_)) {
                continue;
            }
            let (kind_unmap, iova, size) = match it.obs {
                Obs::Map { iova, size, .. } => (false, iova, size),
                Obs::Unmap { iova, size, .. } => (true, iova, size),
                _ => continue,
            };
            if kind_unmap == unmap && ranges.iter().any(|&r| overlap(r, (iova, size))) {
                it.claim = Some((dev, perm));
                it.wait = Wait::Ready;
            }
        }
        // A mapping line makes earlier unmapping lines of the device over the same
        // IOVA stale, and the other way round.
        self.recent.retain(|r| {
            r.dev != dev || r.unmap == unmap || !r.ranges.iter().any(|&a| ranges.iter().any(|&b| overlap(a, b)))
        });
        if self.recent.len() == RECENT_DMA {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentDma { line, dev, unmap, perm, ranges: ranges.iter().copied().take(16).collect() });
    }

    /// Converts what no longer waits, in order, after line `line` was read.
    pub fn drain(&mut self, line: u64) {
        while let Some(front) = self.queue.front() {
            let due = match front.wait {
                Wait::Ready => true,
                Wait::Completion(until) | Wait::Claim(until) => line > until,
            };
            if !due && self.queue.len() <= MAX_QUEUE {
                break;
            }
            if let Some(it) = self.queue.pop_front() {
                self.convert(it);
            }
        }
    }

    /// Converts everything left (the end of the capture).
    pub fn finish(&mut self) {
        while let Some(it) = self.queue.pop_front() {
            self.convert(it);
        }
    }

    // ---- conversion, in capture order ----

    fn convert(&mut self, it: Item) {
        self.cur_time = None;
        let name = it.name;
        let outcome = match it.obs {
            Obs::Access { dev, pid, iova, pa, perm, access } => self.access(it.time, dev, pid, iova, pa, perm, access),
            Obs::Fault { dev, pid, iova, access } => {
                let o = self.fault(it.time, dev, pid, iova, access);
                if matches!(o, Outcome::Converted) {
                    bump(&mut self.report.faults, &mut self.scratch, name, None);
                }
                o
            }
            Obs::Map { dev, iova, size, pa } => {
                let (dev, perm) = match (it.claim, dev) {
                    (_, DevSel::Known(d)) => (Some(d), Perm::RW),
                    (Some((d, perm)), _) => {
                        self.attribute("iommu map: device of a dma event with the same IOVA");
                        (Some(d), perm.unwrap_or(Perm::RW))
                    }
                    (None, DevSel::Unknown { last_seen }) => {
                        if last_seen.is_some() {
                            self.attribute("iommu map: the device named last before it");
                        }
                        (last_seen, Perm::RW)
                    }
                };
                match dev {
                    Some(d) => self.map(it.time, d, iova, size, Some(pa), perm),
                    None => Outcome::Ignored("no device named before it"),
                }
            }
            Obs::Unmap { dev, iova, size } => self.unmap(it.time, dev, it.claim, iova, size),
            Obs::DmaMap { dev, entries, perm } => {
                let mut any = false;
                for (iova, size, pa) in entries {
                    if pa.is_none() && !self.is_mapped(dev, iova, size) {
                        self.attribute("dma map without a physical address: identity assumed");
                    }
                    any |= matches!(self.map(it.time, dev, iova, size, pa, perm), Outcome::Converted);
                }
                if any {
                    Outcome::Converted
                } else {
                    Outcome::Merged("already mapped")
                }
            }
            Obs::DmaUnmap { dev, entries } => {
                let mut any = false;
                for (iova, size) in entries {
                    any |= matches!(self.unmap(it.time, DevSel::Known(dev), None, iova, size), Outcome::Converted);
                }
                if any {
                    Outcome::Converted
                } else {
                    Outcome::Merged("range not mapped (unmapped already, or mapped before the capture)")
                }
            }
            Obs::DmaUnmapPhys { dev, phys } => self.unmap_phys(it.time, dev, &phys),
            Obs::Attach { dev } => {
                if self.space_keys(dev).next().is_some() {
                    self.detach_all(it.time, dev);
                }
                self.attach(it.time, dev, None);
                Outcome::Converted
            }
            Obs::Detach { dev } => {
                if self.space_keys(dev).next().is_some() {
                    self.detach_all(it.time, dev);
                    Outcome::Converted
                } else {
                    Outcome::Ignored("device not attached")
                }
            }
            Obs::Inval { target, range } => self.inval(it.time, target, range),
        };
        match outcome {
            Outcome::Converted => bump(&mut self.report.converted, &mut self.scratch, name, None),
            Outcome::Merged(r) => bump(&mut self.report.merged, &mut self.scratch, name, Some(r)),
            Outcome::Ignored(r) => bump(&mut self.report.ignored, &mut self.scratch, name, Some(r)),
        }
    }

    fn attribute(&mut self, rule: &'static str) {
        *self.report.attributed.entry(rule).or_default() += 1;
    }

    /// Cycles since the first event written, never going back.
    fn time(&mut self, stamp: Option<Stamp>) -> Option<u64> {
        if let Some(t) = self.cur_time {
            return t;
        }
        let t = stamp.map(|s| {
            // Signed: a time before the first one written goes back too.
            let rel: i128 = match s {
                Stamp::Ns(ns) => {
                    let t0 = *self.t0_ns.get_or_insert(ns);
                    let d = i128::try_from(ns).unwrap_or(i128::MAX) - i128::try_from(t0).unwrap_or(i128::MAX);
                    d.saturating_mul(i128::from(self.clock_hz)) / 1_000_000_000
                }
                Stamp::Ticks(t) => {
                    let t0 = *self.t0_ticks.get_or_insert(t);
                    i128::from(t) - i128::from(t0)
                }
            };
            let mut c = u64::try_from(rel.max(0)).unwrap_or(u64::MAX);
            if let Some(last) = self.last_time {
                if rel < i128::from(last) {
                    self.report.times_clamped += 1;
                    c = last;
                }
            }
            self.last_time = Some(c);
            c
        });
        self.cur_time = Some(t);
        t
    }

    fn emit(&mut self, stamp: Option<Stamp>, mut e: Event) {
        e.time = self.time(stamp);
        *self.report.events.entry(e.kind.name()).or_default() += 1;
        self.out.push(e);
    }

    fn space_keys(&self, dev: u32) -> impl Iterator<Item = (u32, Option<u32>)> + '_ {
        self.spaces.range((dev, None)..=(dev, Some(u32::MAX))).map(|(&k, _)| k)
    }

    fn attach(&mut self, stamp: Option<Stamp>, dev: u32, pid: Option<u32>) {
        self.emit(stamp, Event::attach(None, dev, pid, None, Mode::S1));
        self.spaces.insert((dev, pid), Ranges::default());
        self.report.devices.insert(dev);
    }

    fn ensure_attached(&mut self, stamp: Option<Stamp>, dev: u32, pid: Option<u32>) {
        if !self.spaces.contains_key(&(dev, pid)) {
            self.attach(stamp, dev, pid);
        }
    }

    fn detach_all(&mut self, stamp: Option<Stamp>, dev: u32) {
        self.emit(stamp, Event::detach(None, dev));
        let keys: Vec<_> = self.space_keys(dev).collect();
        for k in keys {
            self.spaces.remove(&k);
        }
    }

    fn ranges(&mut self, dev: u32, pid: Option<u32>) -> &mut Ranges {
        self.spaces.entry((dev, pid)).or_default()
    }

    fn is_mapped(&self, dev: u32, iova: u64, size: u64) -> bool {
        match (page_span(iova, size), self.spaces.get(&(dev, None))) {
            (Some((s, e)), Some(r)) => r.covers(s, e, None, Perm(0)),
            _ => false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn access(
        &mut self,
        stamp: Option<Stamp>,
        dev: u32,
        pid: Option<u32>,
        iova: u64,
        pa: u64,
        perm: Perm,
        access: Access,
    ) -> Outcome {
        let page = iova & !(PAGE - 1);
        let Some(end) = page.checked_add(PAGE) else {
            return Outcome::Ignored("beyond the address space");
        };
        self.ensure_attached(stamp, dev, pid);
        let pa = pa & !(PAGE - 1);
        let need = perm_for(access);
        let have = self.ranges(dev, pid).lookup(page);
        let map_perm = match have {
            Some((p, hp)) if p == pa && perm_covers(hp, need) => None,
            Some((p, hp)) if p == pa => Some(Perm(hp.0 | perm.0 | need.0 | Perm::R.0)),
            _ => Some(Perm(perm.0 | need.0 | Perm::R.0)),
        };
        if let Some(mp) = map_perm {
            // Only R or RW mappings: a write-only mapping reads as RW.
            let mp = if mp.w() { Perm(mp.0 | Perm::RW.0) } else { mp };
            self.emit(stamp, Event::map(None, dev, pid, page, pa, PAGE, MapPage::K4, mp));
            self.ranges(dev, pid).insert(page, end, pa, mp);
        }
        let len = ACCESS_LEN.min(PAGE - (iova & (PAGE - 1))) as u32;
        self.emit(stamp, Event::access(None, dev, pid, iova, len, access));
        Outcome::Converted
    }

    fn fault(&mut self, stamp: Option<Stamp>, dev: u32, pid: Option<u32>, iova: u64, access: Access) -> Outcome {
        let page = iova & !(PAGE - 1);
        let Some(end) = page.checked_add(PAGE) else {
            return Outcome::Ignored("beyond the address space");
        };
        self.ensure_attached(stamp, dev, pid);
        if let Some((_, hp)) = self.ranges(dev, pid).lookup(page) {
            if perm_covers(hp, perm_for(access)) {
                // The trace maps the page, the capture says it faulted: unmap it so
                // that replay faults too.
                self.emit(stamp, Event::unmap(None, dev, pid, page, PAGE));
                self.ranges(dev, pid).remove(page, end);
                self.report.fault_unmaps += 1;
            }
        }
        let len = ACCESS_LEN.min(PAGE - (iova & (PAGE - 1))) as u32;
        self.emit(stamp, Event::access(None, dev, pid, iova, len, access));
        Outcome::Converted
    }

    fn map(&mut self, stamp: Option<Stamp>, dev: u32, iova: u64, size: u64, pa: Option<u64>, perm: Perm) -> Outcome {
        let Some((start, end)) = page_span(iova, size) else {
            return Outcome::Ignored("empty or beyond the address space");
        };
        let pa_start = pa.map(|pa| span_pa(iova, pa));
        if self.spaces.get(&(dev, None)).is_some_and(|r| r.covers(start, end, pa_start, perm)) {
            return Outcome::Merged("already mapped");
        }
        self.ensure_attached(stamp, dev, None);
        let pieces = match pa_start {
            Some(p) => vec![(start, end, p)],
            None => self.ranges(dev, None).gaps(start, end).into_iter().map(|(s, e)| (s, e, s)).collect(),
        };
        if pieces.is_empty() {
            return Outcome::Merged("already mapped");
        }
        for (s, e, p) in pieces {
            self.emit(stamp, Event::map(None, dev, None, s, p, e - s, MapPage::K4, perm));
            self.ranges(dev, None).insert(s, e, p, perm);
        }
        Outcome::Converted
    }

    fn unmap(
        &mut self,
        stamp: Option<Stamp>,
        dev: DevSel,
        claim: Option<(u32, Option<Perm>)>,
        iova: u64,
        size: u64,
    ) -> Outcome {
        let Some((start, end)) = page_span(iova, size) else {
            return Outcome::Ignored("empty or beyond the address space");
        };
        let dev = match (dev, claim) {
            (DevSel::Known(d), _) => d,
            (_, Some((d, _))) => {
                self.attribute("iommu unmap: device of a dma event with the same IOVA");
                d
            }
            (DevSel::Unknown { last_seen }, None) => {
                let holders: Vec<u32> = self
                    .spaces
                    .iter()
                    .filter(|((_, pid), r)| pid.is_none() && r.overlaps(start, end))
                    .map(|(&(d, _), _)| d)
                    .collect();
                match holders.as_slice() {
                    [] => return Outcome::Merged("range not mapped (unmapped already, or mapped before the capture)"),
                    [d] => {
                        self.attribute("iommu unmap: the only device with the range mapped");
                        *d
                    }
                    many => {
                        self.attribute("iommu unmap: the device named last of those with the range mapped");
                        match last_seen.filter(|l| many.contains(l)) {
                            Some(l) => l,
                            None => many[many.len() - 1],
                        }
                    }
                }
            }
        };
        let removed = self.spaces.get_mut(&(dev, None)).and_then(|r| r.remove(start, end));
        match removed {
            Some((s, e)) => {
                self.emit(stamp, Event::unmap(None, dev, None, s, e - s));
                Outcome::Converted
            }
            None => Outcome::Merged("range not mapped (unmapped already, or mapped before the capture)"),
        }
    }

    fn unmap_phys(&mut self, stamp: Option<Stamp>, dev: u32, phys: &[u64]) -> Outcome {
        if self.saw_iommu_unmap {
            return Outcome::Merged("the iommu unmap lines carry its IOVA ranges");
        }
        let mut any = false;
        for &p in phys {
            let found = self.spaces.get(&(dev, None)).and_then(|r| r.find_phys(p));
            if let Some((s, e)) = found {
                self.ranges(dev, None).remove(s, e);
                self.emit(stamp, Event::unmap(None, dev, None, s, e - s));
                any = true;
            }
        }
        if any {
            Outcome::Converted
        } else {
            Outcome::Merged("range not mapped (unmapped already, or mapped before the capture)")
        }
    }

    fn inval(&mut self, stamp: Option<Stamp>, target: Target, range: Option<(u64, u64)>) -> Outcome {
        let keys: Vec<(u32, Option<u32>)> = match target {
            Target::All => self.spaces.keys().copied().collect(),
            Target::Domain(did) => match self.domains.get(&did) {
                Some(devs) => self.spaces.keys().filter(|(d, _)| devs.contains(d)).copied().collect(),
                None => Vec::new(),
            },
        };
        if keys.is_empty() {
            return Outcome::Ignored(match target {
                Target::All => "no device attached yet",
                Target::Domain(_) => "no attached device known in the domain",
            });
        }
        let (iova, size) = match range.and_then(|(a, s)| page_span(a, s)) {
            Some((s, e)) => (s, e - s),
            None => (0, 0),
        };
        for (dev, pid) in keys {
            self.emit(stamp, Event { kind: EventKind::Inval, device: dev, pid, iova, size, ..Default::default() });
        }
        Outcome::Converted
    }
}

/// Counts one line under `name` (and `reason`), allocating only for a new key.
fn bump(map: &mut BTreeMap<String, u64>, scratch: &mut String, name: &str, reason: Option<&str>) {
    scratch.clear();
    scratch.push_str(name);
    if let Some(r) = reason {
        scratch.push_str(" (");
        scratch.push_str(r);
        scratch.push(')');
    }
    match map.get_mut(scratch.as_str()) {
        Some(n) => *n += 1,
        None => {
            map.insert(scratch.clone(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_cover_and_find_gaps() {
        let mut r = Ranges::default();
        r.insert(0x1000, 0x5000, 0x8000_0000, Perm::RW);
        assert!(r.covers(0x2000, 0x3000, Some(0x8000_1000), Perm::R));
        assert!(!r.covers(0x2000, 0x3000, Some(0x9000_0000), Perm::R));
        assert!(!r.covers(0x0, 0x2000, None, Perm::R));
        assert_eq!(r.remove(0x2000, 0x3000), Some((0x2000, 0x3000)));
        assert_eq!(r.len(), 2);
        assert_eq!(r.lookup(0x3000), Some((0x8000_2000, Perm::RW)));
        assert_eq!(r.lookup(0x2000), None);
        assert_eq!(r.gaps(0x0, 0x6000), vec![(0x0, 0x1000), (0x2000, 0x3000), (0x5000, 0x6000)]);
        assert_eq!(r.find_phys(0x8000_3004), Some((0x3000, 0x5000)));
        assert_eq!(r.remove(0x6000, 0x7000), None);
        assert_eq!(r.remove(0x0, 0x10000), Some((0x1000, 0x5000)));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn page_spans() {
        assert_eq!(page_span(0xffffa400, 512), Some((0xffffa000, 0xffffb000)));
        assert_eq!(page_span(0xfff, 2), Some((0x0, 0x2000)));
        assert_eq!(page_span(0x1000, 0), None);
        assert_eq!(page_span(u64::MAX - 10, 100), None);
        assert_eq!(span_pa(0xffffa400, 0x6446400), 0x6446000);
        assert_eq!(span_pa(0xffffa400, 0x6446000), 0x6446000);
    }
}
