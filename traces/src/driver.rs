//! The driver model: what an operating system's IOMMU driver does with a trace's
//! mapping events. It lays out real tables in memory (device directory, device and
//! process contexts, process directories, first-stage and G-stage page tables),
//! and produces the invalidation commands that go with each change, with Linux's
//! two policies: `strict` (invalidate at every unmap) and `lazy` (a flush queue that
//! is invalidated as a whole when it fills or ages).
//!
//! Address spaces: each attached device (and each process of it) gets its own
//! first-stage table and PSCID; each VM its own G-stage table and GSCID. A nested
//! device's first stage lives in guest memory: the driver gives each VM a window of
//! guest-physical memory for page tables at [`GUEST_TABLES_GPA`], mapped by the
//! G-stage to host memory the driver owns.

use crate::trace::{Event, EventKind, MapPage, Mode, Perm};
use iommu_model::command::encode;
use iommu_model::context::{DeviceContext, PdtMode, ProcessContext};
use iommu_model::pte::{bits, Scheme};
use iommu_model::tables::{self, pc_ta, tc, DeviceDirectory, PageSize, PageTable, Pages, ProcessDirectory, Space};
use iommu_model::{Access, Capabilities, Ddtp, DeviceId, Fctl, Iova, Memory, ProcessId, Regs, Request, SparseMemory};
use std::collections::HashMap;

/// Where the driver's own host memory (tables) starts: 64 GiB, above any RAM a
/// trace names in practice.
pub const HOST_TABLES_SPA: u64 = 0x10_0000_0000;
/// Bytes of host memory for tables.
pub const HOST_TABLES_SIZE: u64 = 4 << 30;
/// The guest-physical window each VM gives its own page tables (just under the
/// 2 TiB that Sv39x4 reaches), 64 MiB, mapped by the driver with 2 MiB G-stage
/// pages.
pub const GUEST_TABLES_GPA: u64 = 0x1F0_0000_0000;
/// Bytes of that window.
pub const GUEST_TABLES_SIZE: u64 = 64 << 20;

/// How unmaps are invalidated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Invalidate the unmapped range and fence at every unmap.
    Strict,
    /// Queue unmapped ranges; invalidate the whole domain when the queue fills or
    /// ages (Linux's flush queue).
    Lazy,
}

/// Driver-model settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriverConfig {
    /// Invalidation policy.
    pub policy: Policy,
    /// Flush-queue entries before a lazy flush (Linux: 256).
    pub lazy_entries: usize,
    /// Cycles an entry may wait before a lazy flush (Linux's 10 ms timer is
    /// 10,000,000 cycles at 1 GHz; 1 ms by default).
    pub lazy_timeout: u64,
    /// Device-directory levels (1-3).
    pub ddt_levels: u8,
    /// First-stage scheme: 39, 48 or 57 (Sv39/Sv48/Sv57).
    pub first_stage: u8,
    /// G-stage scheme: 39, 48 or 57 (Sv39x4/Sv48x4/Sv57x4).
    pub g_stage: u8,
    /// Largest write a device sends in one request (PCIe max payload size).
    pub max_payload: u32,
    /// Largest read a device asks for in one request (PCIe max read request size).
    pub max_read_request: u32,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            policy: Policy::Strict,
            lazy_entries: 256,
            lazy_timeout: 1_000_000,
            ddt_levels: 2,
            first_stage: 39,
            g_stage: 39,
            max_payload: 256,
            max_read_request: 512,
        }
    }
}

/// A mapping event the driver cannot carry out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The device was never attached.
    #[error("device {0:#x} is not attached")]
    NotAttached(u32),
    /// The VM has no G-stage mappings yet or the device is not in a VM.
    #[error("device {0:#x} has no VM")]
    NoVm(u32),
    /// A table operation failed.
    #[error("{0}")]
    Table(#[from] tables::TableError),
    /// The configuration is not one the driver supports.
    #[error("configuration: {0}")]
    Config(String),
}

struct Domain {
    table: PageTable,
    pscid: u32,
    /// Pages allocator of the space the table lives in.
    nested_vm: Option<u32>,
}

struct DeviceState {
    mode: Mode,
    vm: Option<u32>,
    pdt: Option<ProcessDirectory>,
}

struct Vm {
    g: PageTable,
    gscid: u16,
    guest_pages: Pages,
}

/// The driver model. It owns no memory: the caller's [`SparseMemory`] holds the
/// tables.
pub struct Driver {
    config: DriverConfig,
    regs: Regs,
    pages: Pages,
    ddt: DeviceDirectory,
    fs: Scheme,
    gs: Scheme,
    devices: HashMap<u32, DeviceState>,
    domains: HashMap<(u32, Option<u32>), Domain>,
    vms: HashMap<u32, Vm>,
    next_pscid: u32,
    next_gscid: u16,
    /// Lazy flush queue: unflushed unmaps (device, pid, iova, size), and when the
    /// oldest came.
    queue: Vec<(u32, Option<u32>, u64, u64)>,
    queue_since: Option<u64>,
    now: u64,
}

/// The capabilities the driver model's IOMMU reports: Sv39/48/57, Sv39x4/48x4/57x4,
/// PD8/17/20, Svpbmt, hardware A/D, 56-bit physical addresses, the NL and S
/// invalidation extensions.
pub const CAPABILITIES: u64 = 0x10
    | (1 << 9)
    | (1 << 10)
    | (1 << 11)
    | (1 << 15)
    | (1 << 17)
    | (1 << 18)
    | (1 << 19)
    | (1 << 24)
    | (56 << 32)
    | (1 << 38)
    | (1 << 39)
    | (1 << 40)
    | (1 << 42)
    | (1 << 43);

fn scheme(bits: u8, g: bool) -> Result<Scheme, DriverError> {
    Ok(match (bits, g) {
        (39, false) => Scheme::SV39,
        (48, false) => Scheme::SV48,
        (57, false) => Scheme::SV57,
        (39, true) => Scheme::SV39X4,
        (48, true) => Scheme::SV48X4,
        (57, true) => Scheme::SV57X4,
        _ => return Err(DriverError::Config(format!("no scheme Sv{bits}{}", if g { "x4" } else { "" }))),
    })
}

fn page_size(p: MapPage) -> PageSize {
    match p {
        MapPage::K4 => PageSize::K4,
        MapPage::K64 => PageSize::Napot64K,
        MapPage::M2 => PageSize::M2,
        MapPage::G1 => PageSize::G1,
    }
}

fn leaf_flags(p: Perm) -> u64 {
    let mut f = bits::U | bits::A | bits::D;
    if p.r() || p.w() {
        f |= bits::R;
    }
    if p.w() {
        f |= bits::W;
    }
    if p.x() {
        f |= bits::X;
    }
    f
}

impl Driver {
    /// A driver with an empty device directory in `mem`.
    pub fn new(config: DriverConfig, mem: &mut SparseMemory) -> Result<Self, DriverError> {
        if !(1..=3).contains(&config.ddt_levels) {
            return Err(DriverError::Config(format!("ddt_levels {} (expected 1 to 3)", config.ddt_levels)));
        }
        if config.max_payload == 0 || config.max_read_request == 0 {
            return Err(DriverError::Config("max_payload and max_read_request must be at least 1".into()));
        }
        let fs = scheme(config.first_stage, false)?;
        let gs = scheme(config.g_stage, true)?;
        let mut pages = Pages::new(HOST_TABLES_SPA, HOST_TABLES_SPA + HOST_TABLES_SIZE);
        let ddt = DeviceDirectory::new(mem, &mut pages, config.ddt_levels, false)?;
        let regs = Regs { capabilities: Capabilities(CAPABILITIES), fctl: Fctl(0), ddtp: Ddtp(ddt.ddtp()) };
        Ok(Driver {
            config,
            regs,
            pages,
            ddt,
            fs,
            gs,
            devices: HashMap::new(),
            domains: HashMap::new(),
            vms: HashMap::new(),
            next_pscid: 1,
            next_gscid: 1,
            queue: Vec::new(),
            queue_since: None,
            now: 0,
        })
    }

    /// The registers the IOMMU runs with.
    pub fn regs(&self) -> Regs {
        self.regs
    }

    /// The configuration.
    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    fn vm(&mut self, mem: &mut SparseMemory, vm: u32) -> Result<&mut Vm, DriverError> {
        if !self.vms.contains_key(&vm) {
            let g = PageTable::new(mem, &mut self.pages, Space::Host, self.gs)?;
            // The guest's window for its own page tables, backed by driver memory.
            let backing = self.pages.alloc(GUEST_TABLES_SIZE / 4096, 2 << 20)?;
            let flags = bits::R | bits::W | bits::U | bits::A | bits::D;
            for off in (0..GUEST_TABLES_SIZE).step_by(2 << 20) {
                g.map(mem, &mut self.pages, GUEST_TABLES_GPA + off, backing + off, PageSize::M2, flags)?;
            }
            let gscid = self.next_gscid;
            self.next_gscid = self.next_gscid.wrapping_add(1).max(1);
            let guest_pages = Pages::new(GUEST_TABLES_GPA, GUEST_TABLES_GPA + GUEST_TABLES_SIZE);
            self.vms.insert(vm, Vm { g, gscid, guest_pages });
        }
        Ok(self.vms.get_mut(&vm).expect("inserted above"))
    }

    fn domain_key(&self, device: u32, pid: Option<u32>) -> (u32, Option<u32>) {
        (device, pid)
    }

    /// Applies one event: builds or changes tables in `mem`, and appends the
    /// commands software issues to `cmds`. Access events change nothing.
    pub fn apply(&mut self, mem: &mut SparseMemory, e: &Event, cmds: &mut Vec<[u64; 2]>) -> Result<(), DriverError> {
        if let Some(t) = e.time {
            self.now = self.now.max(t);
        }
        match e.kind {
            EventKind::Attach => self.attach(mem, e, cmds)?,
            EventKind::Detach => self.detach(mem, e, cmds)?,
            EventKind::Map => {
                // Linux's flush queue keeps an unmapped IOVA out of the allocator
                // until its invalidation (iova_fq), so a lazily unmapped IOVA is
                // never mapped again while the IOTLB may still hold it. A trace
                // captured under strict mode reuses IOVAs at once: flush first.
                let overlaps = |q: &(u32, Option<u32>, u64, u64)| {
                    q.0 == e.device && q.1 == e.pid && q.2 < e.iova.saturating_add(e.size) && e.iova < q.2 + q.3
                };
                if self.queue.iter().any(overlaps) {
                    self.flush(cmds);
                }
                let (table, space_pages) = self.domain_table(mem, e.device, e.pid)?;
                let mut pages = space_pages;
                let step = e.page.bytes();
                let flags = leaf_flags(e.perm);
                for off in (0..e.size).step_by(step as usize) {
                    table.map(mem, &mut pages, e.iova + off, e.pa + off, page_size(e.page), flags)?;
                }
                self.put_pages(e.device, e.pid, pages);
            }
            EventKind::Unmap => {
                let (table, pages) = self.domain_table(mem, e.device, e.pid)?;
                self.put_pages(e.device, e.pid, pages);
                let mut off = 0;
                while off < e.size {
                    let step = table.unmap(mem, e.iova + off)?.unwrap_or(4096);
                    off += step;
                }
                self.invalidate_unmap(e.device, e.pid, e.iova, e.size, cmds);
            }
            EventKind::Gmap => {
                let vm = e.vm.ok_or(DriverError::NoVm(e.device))?;
                let flags = leaf_flags(e.perm);
                let step = e.page.bytes();
                let g = self.vm(mem, vm)?.g;
                let mut pages = std::mem::replace(&mut self.pages, Pages::new(0, 0));
                let mut result: Result<(), DriverError> = Ok(());
                for off in (0..e.size).step_by(step as usize) {
                    if let Err(err) = g.map(mem, &mut pages, e.gpa + off, e.pa + off, page_size(e.page), flags) {
                        result = Err(err.into());
                        break;
                    }
                }
                self.pages = pages;
                result?;
            }
            EventKind::Gunmap => {
                let vm = e.vm.ok_or(DriverError::NoVm(e.device))?;
                let (g, gscid) = {
                    let v = self.vm(mem, vm)?;
                    (v.g, v.gscid)
                };
                let mut off = 0;
                while off < e.size {
                    off += g.unmap(mem, e.gpa + off)?.unwrap_or(4096);
                }
                // The hypervisor's invalidation is always immediate.
                if e.size / 4096 <= 16 {
                    for page in (0..e.size).step_by(4096) {
                        cmds.push(encode::iotinval_gvma(Some(gscid), Some((e.gpa + page, false)), false));
                    }
                } else {
                    cmds.push(encode::iotinval_gvma(Some(gscid), None, false));
                }
                cmds.push(encode::iofence_c(None));
            }
            EventKind::Inval => {
                let gscid = self.gscid_of(e.device);
                let pscid = self.domains.get(&self.domain_key(e.device, e.pid)).map(|d| d.pscid);
                let addr = (e.size != 0).then_some((e.iova, false));
                if e.size != 0 && e.size > 4096 {
                    cmds.push(encode::iotinval_vma(gscid, pscid, None, false));
                } else {
                    cmds.push(encode::iotinval_vma(gscid, pscid, addr, false));
                }
                cmds.push(encode::iofence_c(None));
            }
            EventKind::Access => {}
        }
        Ok(())
    }

    /// Commands due at time `now` without any event (a lazy flush queue that aged).
    pub fn tick(&mut self, now: u64, cmds: &mut Vec<[u64; 2]>) {
        self.now = self.now.max(now);
        if let Some(since) = self.queue_since {
            if self.now.saturating_sub(since) >= self.config.lazy_timeout {
                self.flush(cmds);
            }
        }
    }

    /// Flushes the lazy queue now (the end of a trace).
    pub fn flush(&mut self, cmds: &mut Vec<[u64; 2]>) {
        if self.queue.is_empty() {
            return;
        }
        let mut done: Vec<(u32, Option<u32>)> = Vec::new();
        for (device, pid, _, _) in std::mem::take(&mut self.queue) {
            let key = (device, pid);
            if done.contains(&key) {
                continue;
            }
            done.push(key);
            let gscid = self.gscid_of(key.0);
            let pscid = self.domains.get(&key).map(|d| d.pscid);
            cmds.push(encode::iotinval_vma(gscid, pscid, None, false));
        }
        cmds.push(encode::iofence_c(None));
        self.queue_since = None;
    }

    fn gscid_of(&self, device: u32) -> Option<u16> {
        let d = self.devices.get(&device)?;
        match d.mode {
            Mode::G | Mode::Nested => d.vm.and_then(|v| self.vms.get(&v)).map(|v| v.gscid),
            _ => None,
        }
    }

    fn invalidate_unmap(&mut self, device: u32, pid: Option<u32>, iova: u64, size: u64, cmds: &mut Vec<[u64; 2]>) {
        let mode = self.devices.get(&device).map(|d| d.mode);
        if mode == Some(Mode::G) {
            // A passed-through device's "unmap" is the hypervisor's: G-stage.
            let gscid = self.gscid_of(device);
            cmds.push(encode::iotinval_gvma(gscid, Some((iova, false)), false));
            cmds.push(encode::iofence_c(None));
            return;
        }
        match self.config.policy {
            Policy::Strict => {
                let gscid = self.gscid_of(device);
                let pscid = self.domains.get(&(device, pid)).map(|d| d.pscid);
                if size / 4096 <= 16 {
                    for page in (0..size).step_by(4096) {
                        cmds.push(encode::iotinval_vma(gscid, pscid, Some((iova + page, false)), false));
                    }
                } else {
                    cmds.push(encode::iotinval_vma(gscid, pscid, None, false));
                }
                cmds.push(encode::iofence_c(None));
            }
            Policy::Lazy => {
                self.queue.push((device, pid, iova, size));
                self.queue_since.get_or_insert(self.now);
                if self.queue.len() >= self.config.lazy_entries {
                    self.flush(cmds);
                }
            }
        }
    }

    fn attach(&mut self, mem: &mut SparseMemory, e: &Event, cmds: &mut Vec<[u64; 2]>) -> Result<(), DriverError> {
        let mode = e.mode;
        let vm = e.vm;
        let (gscid, g) = match mode {
            Mode::G | Mode::Nested => {
                let v = self.vm(mem, vm.ok_or(DriverError::NoVm(e.device))?)?;
                (v.gscid, Some(v.g))
            }
            _ => (0, None),
        };
        let iohgatp = tables::iohgatp(g.map(|g| g.scheme), gscid, g.map_or(0, |g| g.root_ppn()));
        // The first stage: a table per (device, pid), in guest memory when nested.
        let needs_fs = matches!(mode, Mode::S1 | Mode::Nested);
        if needs_fs && !self.domains.contains_key(&(e.device, e.pid)) {
            let table = match (mode, g) {
                (Mode::Nested, Some(g)) => {
                    let vmn = vm.ok_or(DriverError::NoVm(e.device))?;
                    let mut gp = std::mem::replace(&mut self.vm(mem, vmn)?.guest_pages, Pages::new(0, 0));
                    let t = PageTable::new(mem, &mut gp, Space::Guest(g), self.fs);
                    self.vm(mem, vmn)?.guest_pages = gp;
                    t?
                }
                _ => PageTable::new(mem, &mut self.pages, Space::Host, self.fs)?,
            };
            let pscid = self.next_pscid;
            self.next_pscid = (self.next_pscid + 1) & 0xf_ffff;
            let nested_vm = if mode == Mode::Nested { vm } else { None };
            self.domains.insert((e.device, e.pid), Domain { table, pscid, nested_vm });
        }
        let fs_mode = tables::first_stage_mode(self.fs);
        let mut dc = DeviceContext { tc: tc::V, iohgatp, ..Default::default() };
        if e.pid.is_some() && needs_fs {
            // Process address spaces: a PDT (in guest memory for a nested device).
            let existing = self.devices.get(&e.device).and_then(|d| d.pdt);
            let pdt = match existing {
                Some(p) => p,
                None => match (mode, g) {
                    (Mode::Nested, Some(g)) => {
                        let vmn = vm.ok_or(DriverError::NoVm(e.device))?;
                        let mut gp = std::mem::replace(&mut self.vm(mem, vmn)?.guest_pages, Pages::new(0, 0));
                        let p = ProcessDirectory::new(mem, &mut gp, Space::Guest(g), PdtMode::Pd20);
                        self.vm(mem, vmn)?.guest_pages = gp;
                        p?
                    }
                    _ => ProcessDirectory::new(mem, &mut self.pages, Space::Host, PdtMode::Pd20)?,
                },
            };
            let d = &self.domains[&(e.device, e.pid)];
            let pc = ProcessContext {
                ta: pc_ta::V | (u64::from(d.pscid) << 12),
                fsc: tables::mode_ppn(fs_mode, d.table.root_ppn()),
            };
            let pid = e.pid.unwrap_or(0);
            match (mode, vm) {
                (Mode::Nested, Some(vmn)) => {
                    let mut gp = std::mem::replace(&mut self.vm(mem, vmn)?.guest_pages, Pages::new(0, 0));
                    let r = pdt.set(mem, &mut gp, pid, &pc);
                    self.vm(mem, vmn)?.guest_pages = gp;
                    r?;
                }
                _ => {
                    pdt.set(mem, &mut self.pages, pid, &pc)?;
                }
            }
            dc.tc |= tc::PDTV;
            dc.fsc = pdt.pdtp();
            cmds.push(encode::iodir_inval_pdt(DeviceId(e.device), ProcessId(pid)));
            self.devices.insert(e.device, DeviceState { mode, vm, pdt: Some(pdt) });
        } else {
            if needs_fs {
                let d = &self.domains[&(e.device, e.pid)];
                dc.ta = u64::from(d.pscid) << 12;
                dc.fsc = tables::mode_ppn(fs_mode, d.table.root_ppn());
            }
            self.devices.insert(e.device, DeviceState { mode, vm, pdt: None });
        }
        if mode == Mode::Bare {
            // A Bare device context: no stage translates.
            dc.fsc = 0;
        }
        self.ddt.set(mem, &mut self.pages, e.device, &dc)?;
        cmds.push(encode::iodir_inval_ddt(Some(DeviceId(e.device))));
        cmds.push(encode::iofence_c(None));
        Ok(())
    }

    fn detach(&mut self, mem: &mut SparseMemory, e: &Event, cmds: &mut Vec<[u64; 2]>) -> Result<(), DriverError> {
        let state = self.devices.get(&e.device).ok_or(DriverError::NotAttached(e.device))?;
        let gscid = self.gscid_of(e.device);
        if let (Some(pid), Some(pdt)) = (e.pid, state.pdt) {
            let addr = match pdt.space {
                Space::Host => pdt.pc_addr(mem, &mut self.pages, pid)?,
                Space::Guest(_) => {
                    let vmn = state.vm.ok_or(DriverError::NoVm(e.device))?;
                    let mut gp = std::mem::replace(&mut self.vm(mem, vmn)?.guest_pages, Pages::new(0, 0));
                    let a = pdt.pc_addr(mem, &mut gp, pid);
                    self.vm(mem, vmn)?.guest_pages = gp;
                    a?
                }
            };
            let spa = pdt.space.to_spa(mem, addr)?;
            mem.poke(iommu_model::Spa(spa), 0);
            cmds.push(encode::iodir_inval_pdt(DeviceId(e.device), ProcessId(pid)));
        } else {
            let addr = self.ddt.dc_addr(mem, &mut self.pages, e.device)?;
            mem.write(iommu_model::Spa(addr), 0).map_err(|_| tables::TableError::Access(addr))?;
            cmds.push(encode::iodir_inval_ddt(Some(DeviceId(e.device))));
            self.devices.remove(&e.device);
        }
        let pscid = self.domains.remove(&(e.device, e.pid)).map(|d| d.pscid);
        if pscid.is_some() {
            cmds.push(encode::iotinval_vma(gscid, pscid, None, false));
        }
        cmds.push(encode::iofence_c(None));
        Ok(())
    }

    /// The first-stage table of a device's (process's) domain, or for a `g` device
    /// its VM's G-stage, with the page allocator of the space the table lives in.
    fn domain_table(
        &mut self,
        mem: &mut SparseMemory,
        device: u32,
        pid: Option<u32>,
    ) -> Result<(PageTable, Pages), DriverError> {
        let mode = self.devices.get(&device).map(|d| (d.mode, d.vm)).ok_or(DriverError::NotAttached(device))?;
        if let (Mode::G, Some(vm)) = mode {
            // Mapping an IOVA of a passed-through device maps guest-physical memory.
            let g = self.vm(mem, vm)?.g;
            let pages = std::mem::replace(&mut self.pages, Pages::new(0, 0));
            return Ok((g, pages));
        }
        let d = self.domains.get(&(device, pid)).ok_or(DriverError::NotAttached(device))?;
        let table = d.table;
        let pages = match d.nested_vm {
            Some(vm) => std::mem::replace(&mut self.vm(mem, vm)?.guest_pages, Pages::new(0, 0)),
            None => std::mem::replace(&mut self.pages, Pages::new(0, 0)),
        };
        Ok((table, pages))
    }

    /// Gives back the allocator taken by `domain_table`.
    fn put_pages(&mut self, device: u32, pid: Option<u32>, pages: Pages) {
        let nested = self.domains.get(&(device, pid)).and_then(|d| d.nested_vm);
        let is_g = self.devices.get(&device).is_some_and(|d| d.mode == Mode::G);
        match nested {
            Some(vm) if !is_g => {
                if let Some(v) = self.vms.get_mut(&vm) {
                    v.guest_pages = pages;
                }
            }
            _ => self.pages = pages,
        }
    }

    /// The requests an access event becomes: split at 4 KiB boundaries and into
    /// pieces no larger than the max payload (writes) or max read request (reads),
    /// as a PCIe device sends them.
    pub fn requests(&self, e: &Event, out: &mut Vec<Request>) {
        let max = match e.access {
            Access::Write => self.config.max_payload,
            _ => self.config.max_read_request,
        } as u64;
        let mut addr = e.iova;
        let end = e.iova.saturating_add(u64::from(e.len));
        while addr < end {
            let page_end = (addr | 0xfff).saturating_add(1);
            let piece_end = end.min(page_end).min(addr.saturating_add(max));
            out.push(Request {
                device_id: DeviceId(e.device),
                pid: e.pid.map(ProcessId),
                privileged: false,
                iova: Iova(addr),
                access: e.access,
                len: (piece_end - addr) as u32,
            });
            addr = piece_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_model::{CacheConfig, Iommu, Spa, Status, Translator};

    fn run(events: &[Event], config: DriverConfig) -> (Vec<iommu_model::Response>, Vec<[u64; 2]>) {
        let mut mem = SparseMemory::new();
        let mut d = Driver::new(config, &mut mem).unwrap();
        let mut m = Iommu::with_regs(CacheConfig::default(), d.regs());
        let mut all_cmds = vec![];
        let mut out = vec![];
        for e in events {
            let mut cmds = vec![];
            d.apply(&mut mem, e, &mut cmds).unwrap();
            for c in &cmds {
                m.command(&mut mem, *c).unwrap();
            }
            all_cmds.extend(cmds);
            if e.kind == EventKind::Access {
                let mut reqs = vec![];
                d.requests(e, &mut reqs);
                for r in reqs {
                    out.push(m.translate(&mut mem, &r));
                }
            }
        }
        (out, all_cmds)
    }

    #[test]
    fn host_device_maps_translate_and_unmaps_fault() {
        let evs = [
            Event::attach(None, 0x100, None, None, Mode::S1),
            Event::map(None, 0x100, None, 0x1000_0000, 0x8_0040_0000, 0x3000, MapPage::K4, Perm::RW),
            Event::access(None, 0x100, None, 0x1000_2010, 8, Access::Write),
            Event::unmap(None, 0x100, None, 0x1000_0000, 0x3000),
            Event::access(None, 0x100, None, 0x1000_2010, 8, Access::Read),
        ];
        let (r, cmds) = run(&evs, DriverConfig::default());
        assert_eq!((r[0].status, r[0].spa), (Status::Success, Spa(0x8_0040_2010)));
        assert_eq!(r[1].fault.map(|f| f.cause.0), Some(13), "unmapped page faults after strict invalidation");
        // attach: INVAL_DDT + fence; unmap of 3 pages: 3 IOTINVAL.VMA + fence.
        assert_eq!(cmds.len(), 2 + 4);
    }

    #[test]
    fn lazy_unmaps_wait_for_the_flush_queue() {
        let cfg = DriverConfig { policy: Policy::Lazy, lazy_entries: 2, ..Default::default() };
        let evs = [
            Event::attach(None, 0x100, None, None, Mode::S1),
            Event::map(None, 0x100, None, 0x1000_0000, 0x8_0000_0000, 0x1000, MapPage::K4, Perm::RW),
            Event::unmap(None, 0x100, None, 0x1000_0000, 0x1000),
        ];
        let (_, cmds) = run(&evs, cfg);
        assert_eq!(cmds.len(), 2, "no invalidation until the queue fills");
        let mut evs2 = evs.to_vec();
        evs2.push(Event::map(None, 0x100, None, 0x1000_1000, 0x8_0000_1000, 0x1000, MapPage::K4, Perm::RW));
        evs2.push(Event::unmap(None, 0x100, None, 0x1000_1000, 0x1000));
        let (_, cmds) = run(&evs2, cfg);
        assert_eq!(cmds.len(), 2 + 2, "one domain-wide IOTINVAL.VMA and a fence");
    }

    #[test]
    fn passthrough_and_nested_devices_translate_through_the_g_stage() {
        let evs = [
            Event::gmap(None, 1, 0, 0x1000_0000, 0x1000_0000, MapPage::M2, Perm::RW),
            Event::attach(None, 0x200, None, Some(1), Mode::G),
            Event::access(None, 0x200, None, 0x100_5000, 64, Access::Read),
            Event::attach(None, 0x300, None, Some(1), Mode::Nested),
            Event::map(None, 0x300, None, 0x4000_0000, 0x100_5000, 0x3000, MapPage::K4, Perm::RW),
            Event::access(None, 0x300, None, 0x4000_1008, 8, Access::Write),
        ];
        let (r, _) = run(&evs, DriverConfig::default());
        assert_eq!(r[0].spa, Spa(0x1100_5000), "GPA 0x1005000 at machine 256 MiB + 0x1005000");
        assert_eq!(r[1].spa, Spa(0x1100_6008), "IOVA -> GPA 0x1006008 -> SPA");
    }

    #[test]
    fn process_address_spaces_use_a_pdt() {
        let evs = [
            Event::attach(None, 0x100, Some(5), None, Mode::S1),
            Event::attach(None, 0x100, Some(6), None, Mode::S1),
            Event::map(None, 0x100, Some(5), 0x1000, 0x5000, 0x1000, MapPage::K4, Perm::R),
            Event::map(None, 0x100, Some(6), 0x1000, 0x6000, 0x1000, MapPage::K4, Perm::R),
            Event::access(None, 0x100, Some(5), 0x1000, 4, Access::Read),
            Event::access(None, 0x100, Some(6), 0x1000, 4, Access::Read),
            Event::access(None, 0x100, Some(6), 0x1000, 4, Access::Write),
        ];
        let (r, _) = run(&evs, DriverConfig::default());
        assert_eq!(r[0].spa, Spa(0x5000));
        assert_eq!(r[1].spa, Spa(0x6000));
        assert_eq!(cause_of(&r[2]), Some(15), "read-only mapping");
    }

    fn cause_of(r: &iommu_model::Response) -> Option<u16> {
        r.fault.map(|f| f.cause.0)
    }

    #[test]
    fn accesses_split_at_pages_and_at_the_payload_size() {
        let mut mem = SparseMemory::new();
        let d = Driver::new(DriverConfig::default(), &mut mem).unwrap();
        let mut reqs = vec![];
        d.requests(&Event::access(None, 1, None, 0xf80, 1000, Access::Write), &mut reqs);
        let pieces: Vec<(u64, u32)> = reqs.iter().map(|r| (r.iova.0, r.len)).collect();
        assert_eq!(pieces, vec![(0xf80, 128), (0x1000, 256), (0x1100, 256), (0x1200, 256), (0x1300, 104)]);
        reqs.clear();
        d.requests(&Event::access(None, 1, None, 0, 4096, Access::Read), &mut reqs);
        assert_eq!(reqs.len(), 8);
    }
}
