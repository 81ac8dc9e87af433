//! `iommu bench`: translations per second of the golden model on one core.
//!
//! Three workloads, each on tables laid out by `iommu_model::tables`:
//! - `hits-1dev` and `hits-4dev`: one or four devices with Sv39 first stages,
//!   requests cycling over 8 pages per device that the default IOTLB holds: every
//!   translation is a DDTC and IOTLB hit.
//! - `cold-sv39`: one device, Sv39 with 4 KiB pages over a 2 MiB IOVA region
//!   mapped to pages scattered over 4 GiB, requested in random order; before each
//!   translation the IOTLB and the directory caches are emptied, so each one walks
//!   the 3-level DDT and the 3 levels of Sv39.
//! - `cold-two-stage`: a VM (16 MiB of guest memory) whose Sv39 first stage lives in
//!   guest memory under an Sv39x4 G-stage of 4 KiB pages: each translation walks
//!   the DDT, then every
//!   first-stage PTE address and the final GPA through the G-stage (15 page-table
//!   reads), again with every cache emptied first.
//!
//! Emptying the caches is not counted: the loop is timed with and without the
//! translations and the difference is reported.

use crate::{CmdResult, Outcome};
use anyhow::Result;
use iommu_model::context::DeviceContext;
use iommu_model::pte::{bits, Scheme};
use iommu_model::tables::{self, tc, DeviceDirectory, PageSize, PageTable, Pages, Space};
use iommu_model::timing::TimingConfig;
use iommu_model::{
    Access, CacheConfig, Capabilities, Ddtp, DeviceId, Fctl, Iommu, Iova, Regs, Request, SparseMemory, Status,
};
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

const CAPS: u64 = 0x10 | (1 << 9) | (1 << 17) | (1 << 24) | (46 << 32);
const URW: u64 = bits::R | bits::W | bits::U | bits::A | bits::D;
/// IOVA pages of the cold workloads: one 2 MiB region, so the tables stay in the
/// host's caches and the figure measures the model, not the host's DRAM.
const SPAN_PAGES: u64 = 512;

/// A world to translate in and the requests to send.
pub struct Workload {
    /// Its name.
    pub name: &'static str,
    /// What it measures.
    pub what: &'static str,
    /// Caches emptied before each translation.
    pub cold: bool,
    mem: SparseMemory,
    regs: Regs,
    reqs: Vec<Request>,
}

/// A small deterministic generator (xorshift64*), so runs are repeatable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn base_world() -> Result<(SparseMemory, Pages, DeviceDirectory, Regs)> {
    let mut mem = SparseMemory::new();
    let mut pages = Pages::new(0x8000_0000, 0xc000_0000);
    let ddt = DeviceDirectory::new(&mut mem, &mut pages, 3, false)?;
    let regs = Regs { capabilities: Capabilities(CAPS), fctl: Fctl(0), ddtp: Ddtp(ddt.ddtp()) };
    Ok((mem, pages, ddt, regs))
}

fn read(did: u32, iova: u64) -> Request {
    Request { device_id: DeviceId(did), pid: None, privileged: false, iova: Iova(iova), access: Access::Read, len: 64 }
}

fn single_stage_device(
    mem: &mut SparseMemory,
    pages: &mut Pages,
    ddt: &DeviceDirectory,
    did: u32,
) -> Result<PageTable> {
    let pt = PageTable::new(mem, pages, Space::Host, Scheme::SV39)?;
    let dc = DeviceContext {
        tc: tc::V,
        ta: u64::from(did + 1) << 12,
        fsc: tables::mode_ppn(8, pt.root_ppn()),
        ..Default::default()
    };
    ddt.set(mem, pages, did * 0x101 + 0x1_0000, &dc)?;
    Ok(pt)
}

fn hits(devices: u32, name: &'static str, what: &'static str) -> Result<Workload> {
    let (mut mem, mut pages, ddt, regs) = base_world()?;
    let mut reqs = Vec::new();
    for d in 0..devices {
        let pt = single_stage_device(&mut mem, &mut pages, &ddt, d)?;
        for p in 0..8u64 {
            let iova = 0x4000_0000 + (u64::from(d) << 24) + p * 4096;
            pt.map(&mut mem, &mut pages, iova, 0x1_0000_0000 + (u64::from(d) << 24) + p * 4096, PageSize::K4, URW)?;
        }
    }
    for i in 0..4096u64 {
        let d = (i % u64::from(devices)) as u32;
        let p = (i / u64::from(devices)) % 8;
        reqs.push(read(d * 0x101 + 0x1_0000, 0x4000_0000 + (u64::from(d) << 24) + p * 4096 + (i % 64) * 64));
    }
    Ok(Workload { name, what, cold: false, mem, regs, reqs })
}

fn cold_sv39() -> Result<Workload> {
    let (mut mem, mut pages, ddt, regs) = base_world()?;
    let pt = single_stage_device(&mut mem, &mut pages, &ddt, 0)?;
    let mut rng = Rng(0x1234_5678);
    let mut iovas = Vec::new();
    for i in 0..SPAN_PAGES {
        let iova = 0x10_0000_0000 + i * 4096;
        pt.map(&mut mem, &mut pages, iova, 0x1_0000_0000 + (rng.next() % (1 << 20)) * 4096, PageSize::K4, URW)?;
        iovas.push(iova);
    }
    let reqs = (0..4096).map(|i| read(0x1_0000, iovas[(rng.next() as usize + i) % iovas.len()])).collect();
    Ok(Workload {
        name: "cold-sv39",
        what: "full Sv39 walks + 3-level DDT, caches emptied before each",
        cold: true,
        mem,
        regs,
        reqs,
    })
}

fn cold_two_stage() -> Result<Workload> {
    let (mut mem, mut pages, ddt, regs) = base_world()?;
    // Guest RAM: 16 MiB at SPA 0x1_0000_0000, mapped by 4 KiB G-stage pages.
    let g = PageTable::new(&mut mem, &mut pages, Space::Host, Scheme::SV39X4)?;
    for p in 0..(16u64 << 8) {
        g.map(&mut mem, &mut pages, p * 4096, 0x1_0000_0000 + p * 4096, PageSize::K4, URW)?;
    }
    let mut guest = Pages::new(0x10_0000, 0x100_0000);
    let fs = PageTable::new(&mut mem, &mut guest, Space::Guest(g), Scheme::SV39)?;
    let dc = DeviceContext {
        tc: tc::V,
        iohgatp: tables::iohgatp(Some(Scheme::SV39X4), 5, g.root_ppn()),
        ta: 9 << 12,
        fsc: tables::mode_ppn(8, fs.root_ppn()),
        ..Default::default()
    };
    ddt.set(&mut mem, &mut pages, 0x2_0000, &dc)?;
    let mut rng = Rng(0x9876_5432);
    let mut iovas = Vec::new();
    for i in 0..SPAN_PAGES {
        let iova = 0x10_0000_0000 + i * 4096;
        fs.map(&mut mem, &mut guest, iova, 0x10_0000 + (rng.next() % 3072) * 4096, PageSize::K4, URW)?;
        iovas.push(iova);
    }
    let reqs = (0..4096).map(|i| read(0x2_0000, iovas[(rng.next() as usize + i) % iovas.len()])).collect();
    Ok(Workload {
        name: "cold-two-stage",
        what: "full Sv39 over Sv39x4 walks + DDT, caches emptied before each",
        cold: true,
        mem,
        regs,
        reqs,
    })
}

/// The three workloads.
pub fn workloads() -> Result<Vec<Workload>> {
    Ok(vec![
        hits(1, "hits-1dev", "DDTC and IOTLB hits, 1 device x 8 pages")?,
        hits(4, "hits-4dev", "DDTC and IOTLB hits, 4 devices x 8 pages, interleaved")?,
        cold_sv39()?,
        cold_two_stage()?,
    ])
}

/// One measurement.
pub struct Measurement {
    /// Translations per second.
    pub per_second: f64,
    /// Nanoseconds per translation.
    pub ns: f64,
    /// Nanoseconds per cache emptying, subtracted (cold workloads).
    pub clear_ns: f64,
    /// Memory reads per translation.
    pub reads_per: f64,
}

fn time_loop(mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Runs a workload for about `budget`, after checking that every request succeeds.
pub fn measure(w: &mut Workload, budget: Duration) -> Result<Measurement> {
    let mut m = Iommu::with_regs(CacheConfig::default(), w.regs);
    for r in &w.reqs {
        let resp = m.translate_in(&mut w.mem, r);
        anyhow::ensure!(resp.status == Status::Success, "{}: request {r:?} failed: {resp:?}", w.name);
    }
    let n = w.reqs.len() as u64;
    // Pick a pass count that fills the budget.
    let one = time_loop(|| {
        for r in &w.reqs {
            if w.cold {
                m.caches_mut().clear_all_sets();
            }
            black_box(m.translate_in(&mut w.mem, black_box(r)));
        }
    });
    let passes = (budget.as_secs_f64() / one.as_secs_f64().max(1e-9)).ceil().max(1.0) as u64;
    let before = *m.counters();
    let total = time_loop(|| {
        for _ in 0..passes {
            for r in &w.reqs {
                if w.cold {
                    m.caches_mut().clear_all_sets();
                }
                black_box(m.translate_in(&mut w.mem, black_box(r)));
            }
        }
    });
    let reads = m.counters().walk_reads - before.walk_reads;
    let clear = if w.cold {
        time_loop(|| {
            for _ in 0..passes {
                for r in &w.reqs {
                    m.caches_mut().clear_all_sets();
                    black_box(r);
                }
            }
        })
    } else {
        Duration::ZERO
    };
    let count = (passes * n) as f64;
    let net = (total.as_secs_f64() - clear.as_secs_f64()).max(1e-12);
    Ok(Measurement {
        per_second: count / net,
        ns: net * 1e9 / count,
        clear_ns: clear.as_secs_f64() * 1e9 / count,
        reads_per: reads as f64 / count,
    })
}

/// Options of `iommu bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Seconds to run each workload.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Run only the workloads whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

/// Runs `iommu bench`.
pub fn run(args: &BenchArgs, out: &mut dyn Write) -> CmdResult {
    let budget = Duration::from_secs_f64(args.seconds.max(0.0));
    writeln!(
        out,
        "{:<16} {:>14} {:>10} {:>12} {:>12}  what",
        "workload", "translations/s", "ns each", "reads each", "clear ns"
    )?;
    for mut w in workloads()? {
        if args.only.as_deref().is_some_and(|o| !w.name.contains(o)) {
            continue;
        }
        let m = measure(&mut w, budget)?;
        writeln!(
            out,
            "{:<16} {:>12.2} M {:>10.1} {:>12.1} {:>12.1}  {}",
            w.name,
            m.per_second / 1e6,
            m.ns,
            m.reads_per,
            m.clear_ns,
            w.what
        )?;
        out.flush()?;
    }
    let wants = |name: &str| args.only.as_deref().is_none_or(|o| name.contains(o));
    if wants("replay-hits") || wants("replay-harness") || wants("csv-read") {
        let events = trace_path::hit_events(2_000_000);
        if wants("replay-hits") {
            let replay = trace_path::replay_rate(&events, TimingConfig::default())?;
            writeln!(
                out,
                "{:<16} {:>12.2} M  accesses/s: timing model replaying parsed hit-dominated events",
                "replay-hits",
                replay / 1e6
            )?;
        }
        if wants("replay-hits-inorder") {
            let text = include_str!("../rtl/model/default.toml");
            let cfg = iommu_traces::config::Config::from_toml(text, "rtl/model/default.toml")?.timing()?;
            let replay = trace_path::replay_rate(&events, cfg)?;
            writeln!(
                out,
                "{:<16} {:>12.2} M  accesses/s: the same through the RTL's in-order model (rtl/model/default.toml)",
                "replay-hits-inorder",
                replay / 1e6
            )?;
        }
        if wants("replay-harness") {
            let r = null_replay_rate(&events)?;
            writeln!(
                out,
                "{:<16} {:>12.2} M  accesses/s: the replay loop alone, with a device that answers at once",
                "replay-harness",
                r / 1e6
            )?;
        }
        if wants("csv-read") {
            let csv = trace_path::csv_rate(&events)?;
            writeln!(out, "{:<16} {:>12.2} M  lines/s: reading the trace CSV format", "csv-read", csv / 1e6)?;
        }
    }
    if wants("sweep-scaling") {
        let (one, two) = sweep_scaling()?;
        writeln!(
            out,
            "{:<16} {:>12.2} x  sweep of examples/sweep.toml's grid on 2 threads against 1 ({one:.2} s, {two:.2} s)",
            "sweep-scaling",
            one / two
        )?;
    }
    Ok(Outcome::Ok)
}

/// The grid of `examples/sweep.toml`, embedded so the benchmark runs anywhere.
const SWEEP_GRID: &str = include_str!("../examples/sweep.toml");

/// Seconds to run the example sweep grid on one thread and on two.
fn sweep_scaling() -> anyhow::Result<(f64, f64)> {
    use rayon::prelude::*;
    let (_, jobs) = crate::sweep_cmd::expand(SWEEP_GRID, "examples/sweep.toml")?;
    let mut seconds = [0.0; 2];
    for (threads, s) in [1usize, 2].into_iter().zip(&mut seconds) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        let t = Instant::now();
        pool.install(|| jobs.par_iter().with_max_len(1).map(crate::sweep_cmd::run_job).collect::<Result<Vec<_>, _>>())?;
        *s = t.elapsed().as_secs_f64();
    }
    Ok((seconds[0], seconds[1]))
}

/// Throughput of the trace path: CSV reading and timing-model replay.
pub mod trace_path {
    use iommu_model::timing::TimingConfig;
    use iommu_model::Access;
    use iommu_traces::driver::DriverConfig;
    use iommu_traces::replay::{replay_regs, replay_timed, IterSource, NoSink, ReplayOptions};
    use iommu_traces::trace::{Event, MapPage, Mode, Perm, TraceReader, TraceWriter};
    use std::time::Instant;

    /// A hit-dominated trace: one device, 32 pages mapped, accesses cycling over
    /// them back to back (no times).
    pub fn hit_events(n: u64) -> Vec<Event> {
        let mut v = vec![
            Event::attach(None, 0x100, None, None, Mode::S1),
            Event::map(None, 0x100, None, 0x1000_0000, 0x8_0000_0000, 32 * 4096, MapPage::K4, Perm::RW),
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..n {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let page = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 59; // 0..31
            v.push(Event::access(None, 0x100, None, 0x1000_0000 + page * 4096 + 64, 64, Access::Read));
        }
        v
    }

    /// Accesses per second of the timing model replaying parsed events.
    pub fn replay_rate(events: &[Event], timing: TimingConfig) -> anyhow::Result<f64> {
        let cfg = DriverConfig::default();
        let mut dev = iommu_model::timing::model(timing, replay_regs(cfg)?);
        let t = Instant::now();
        let s = replay_timed(
            &mut IterSource::new(events.iter().copied()),
            "bench",
            cfg,
            &mut *dev,
            &ReplayOptions::default(),
            &mut NoSink,
        )?;
        Ok(s.accesses as f64 / t.elapsed().as_secs_f64())
    }

    /// Lines per second of the CSV reader.
    pub fn csv_rate(events: &[Event]) -> anyhow::Result<f64> {
        let mut w = TraceWriter::new(Vec::new())?;
        for e in events {
            w.write(e)?;
        }
        let text = w.finish()?;
        let t = Instant::now();
        let mut r = TraceReader::new(&text[..], "bench");
        let mut n = 0u64;
        while r.next_event()?.is_some() {
            n += 1;
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    }
}

/// The replay harness's own cost: accesses per second with a device that answers
/// every request one cycle after it is issued (what any device, the timing model
/// or an RTL-backed one, pays on top of its own work).
pub fn null_replay_rate(events: &[iommu_traces::trace::Event]) -> anyhow::Result<f64> {
    use iommu_model::timing::{Completion, CycleDevice};
    use iommu_model::*;
    struct Null {
        cycle: u64,
        done: Vec<Completion>,
        c: Counters,
    }
    impl CycleDevice for Null {
        fn reset(&mut self, _: &Regs) {}
        fn try_issue(&mut self, tag: u32, req: &Request) -> bool {
            self.done.push(Completion {
                tag,
                response: Response::success(Spa(req.iova.0)),
                issued: self.cycle,
                completed: self.cycle + 1,
                source: iommu_model::translate::Source::Iotlb,
                merged: false,
                reads: 0,
            });
            true
        }
        fn tick(&mut self, _: &mut dyn Memory) {
            self.cycle += 1;
        }
        fn take_completions(&mut self, out: &mut Vec<Completion>) {
            out.append(&mut self.done);
        }
        fn command(&mut self, _: &mut dyn Memory, _: [u64; 2]) -> Result<(), CommandError> {
            Ok(())
        }
        fn counters(&self) -> &Counters {
            &self.c
        }
        fn cycle(&self) -> u64 {
            self.cycle
        }
        fn idle(&self) -> bool {
            self.done.is_empty()
        }
        fn drain_faults(&mut self, _: &mut Vec<FaultRecord>) {}
    }
    let cfg = iommu_traces::driver::DriverConfig::default();
    let mut dev = Null { cycle: 0, done: Vec::new(), c: Counters::default() };
    let t = Instant::now();
    let s = iommu_traces::replay::replay_timed(
        &mut iommu_traces::replay::IterSource::new(events.iter().copied()),
        "bench",
        cfg,
        &mut dev,
        &iommu_traces::replay::ReplayOptions::default(),
        &mut iommu_traces::replay::NoSink,
    )?;
    Ok(s.accesses as f64 / t.elapsed().as_secs_f64())
}
