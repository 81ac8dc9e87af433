//! Replay: a trace streamed through the driver model and an IOMMU.
//!
//! [`replay_timed`] drives any [`CycleDevice`] (the timing model, or later the RTL)
//! open-loop, as `docs/design.md` "Trace timing" says: each access is offered at its
//! time, or as soon after as the unit accepts it (back-pressure delays the
//! accesses behind it, in order); mapping events take effect at their time, in
//! trace order, once the accesses before them have completed (a driver changes a
//! mapping when the DMA that used it is done, so timing changes no answer); a
//! trace with no times replays back to back. [`replay_functional`]
//! runs the same events through a [`Translator`] (the golden model) one request at
//! a time, for checking that timing changes no answer.
//!
//! Both read the trace one event at a time and keep at most a bounded window of
//! requests in flight, so memory use does not grow with the trace.

use crate::driver::{Driver, DriverConfig, DriverError};
use crate::trace::{Event, EventKind, TraceError, TraceReader};
use iommu_model::stats::LatencyHistogram;
use iommu_model::timing::{Completion, CycleDevice};
use iommu_model::translate::Source;
use iommu_model::{Counters, Memory, Regs, Request, Response, SparseMemory, Status, Translator};
use std::collections::{BTreeMap, VecDeque};
use std::io::BufRead;

/// Replay options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayOptions {
    /// Count and skip lines that cannot be read instead of stopping.
    pub skip_bad_lines: bool,
}

/// Replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A trace line could not be read.
    #[error("{0}")]
    Trace(#[from] TraceError),
    /// The driver model could not carry out an event.
    #[error("{file}:{line}: {source}")]
    Driver {
        /// The trace file.
        file: String,
        /// The event's line.
        line: u64,
        /// Why.
        source: DriverError,
    },
    /// A command was rejected.
    #[error("{file}:{line}: command rejected: {message}")]
    Command {
        /// The trace file.
        file: String,
        /// The event's line.
        line: u64,
        /// Why.
        message: String,
    },
    /// The sink failed (writing per-access rows).
    #[error("writing output: {0}")]
    Sink(String),
}

/// What became of one access event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    /// The trace line of the access.
    pub line: u64,
    /// The access.
    pub event: Event,
    /// Requests it was split into.
    pub requests: u32,
    /// Cycle the first request was issued (0 for a functional replay).
    pub issued: u64,
    /// Cycle the last request completed.
    pub completed: u64,
    /// The answer of the first request that failed, else of the first request.
    pub response: Response,
    /// Where the slowest request's answer came from.
    pub source: Source,
    /// Memory reads made by the access's own walks.
    pub reads: u32,
}

/// Receives per-access results and the commands issued (for CSV rows and vector
/// emission).
pub trait ReplaySink {
    /// Whether [`ReplaySink::access`] wants records; a replay that only gathers
    /// statistics skips building them.
    fn wants_accesses(&self) -> bool {
        true
    }
    /// An access finished.
    fn access(&mut self, record: &AccessRecord) -> Result<(), String>;
    /// One request's answer (functional replay only).
    fn request(&mut self, _req: &Request, _resp: &Response) -> Result<(), String> {
        Ok(())
    }
    /// The driver issued a command.
    fn command(&mut self, _cmd: [u64; 2]) -> Result<(), String> {
        Ok(())
    }
    /// The driver changed memory (after each mapping event): words written since
    /// the last call, with their values.
    fn memory_written(&mut self, _words: &[(u64, u64)]) -> Result<(), String> {
        Ok(())
    }
}

/// A sink that keeps nothing.
pub struct NoSink;

impl ReplaySink for NoSink {
    fn wants_accesses(&self) -> bool {
        false
    }
    fn access(&mut self, _: &AccessRecord) -> Result<(), String> {
        Ok(())
    }
}

/// Statistics of a replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayStats {
    /// The IOMMU's counters.
    pub counters: Counters,
    /// Latency of every request, in cycles.
    pub latency: LatencyHistogram,
    /// Access events replayed.
    pub accesses: u64,
    /// Requests they were split into.
    pub requests: u64,
    /// Requests answered by source: `pending` (never), `bare`, `iotlb`, `walk`,
    /// `msi`, `fault`, and `merged` for misses that joined another walk; see
    /// [`ReplayStats::by_source`].
    pub sources: [u64; 7],
    /// Faulting requests by cause.
    pub faults_by_cause: BTreeMap<u16, u64>,
    /// Commands the driver issued.
    pub commands: u64,
    /// Mapping events applied.
    pub mapping_events: u64,
    /// The last cycle (timed replay).
    pub cycles: u64,
    /// Lines skipped as unreadable, with the first few errors.
    pub bad_lines: u64,
    /// The first errors of skipped lines.
    pub bad_line_examples: Vec<String>,
}

impl ReplayStats {
    /// Requests completed per cycle.
    pub fn requests_per_cycle(&self) -> f64 {
        if self.cycles == 0 {
            0.0
        } else {
            self.requests as f64 / self.cycles as f64
        }
    }

    /// Memory reads per request.
    pub fn reads_per_request(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.counters.walk_reads as f64 / self.requests as f64
        }
    }

    /// Requests answered by each source, by name, leaving out sources with none.
    pub fn by_source(&self) -> BTreeMap<&'static str, u64> {
        let names = ["pending", "bare", "iotlb", "walk", "msi", "fault", "merged"];
        names.iter().zip(self.sources).filter(|(_, n)| *n > 0).map(|(k, n)| (*k, n)).collect()
    }

    #[inline]
    fn note_response(&mut self, resp: &Response, source: Source, merged: bool) {
        self.requests += 1;
        let i = if merged {
            6
        } else {
            match source {
                Source::Pending => 0,
                Source::Bare => 1,
                Source::Iotlb => 2,
                Source::Walk => 3,
                Source::Msi => 4,
                Source::Fault => 5,
            }
        };
        self.sources[i] += 1;
        if resp.status != Status::Success {
            if let Some(f) = resp.fault {
                *self.faults_by_cause.entry(f.cause.0).or_default() += 1;
            }
        }
    }
}

/// Where a replay's events come from: a trace file being read, or a generator.
pub trait EventSource {
    /// The next event with its line number (or ordinal), `Ok(None)` at the end, or
    /// the error of one unreadable line (reading may go on after it).
    fn next_event(&mut self) -> Result<Option<(u64, Event)>, TraceError>;
}

impl<R: BufRead> EventSource for TraceReader<R> {
    fn next_event(&mut self) -> Result<Option<(u64, Event)>, TraceError> {
        let e = TraceReader::next_event(self)?;
        Ok(e.map(|e| (self.line(), e)))
    }
}

/// Any iterator of events is a source; events are numbered from 1.
pub struct IterSource<I> {
    iter: I,
    n: u64,
}

impl<I: Iterator<Item = Event>> IterSource<I> {
    /// A source of the events of `iter`.
    pub fn new(iter: I) -> Self {
        IterSource { iter, n: 0 }
    }
}

impl<I: Iterator<Item = Event>> EventSource for IterSource<I> {
    fn next_event(&mut self) -> Result<Option<(u64, Event)>, TraceError> {
        Ok(self.iter.next().map(|e| {
            self.n += 1;
            (self.n, e)
        }))
    }
}

/// Reads the next event, skipping (and counting) bad lines if asked.
fn next_event(
    reader: &mut dyn EventSource,
    opts: &ReplayOptions,
    stats: &mut ReplayStats,
) -> Result<Option<(u64, Event)>, ReplayError> {
    loop {
        match reader.next_event() {
            Ok(Some(e)) => return Ok(Some(e)),
            Ok(None) => return Ok(None),
            Err(e) if opts.skip_bad_lines => {
                stats.bad_lines += 1;
                if stats.bad_line_examples.len() < 10 {
                    stats.bad_line_examples.push(e.to_string());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads the event after an access (the loop's `continue` path).
#[inline]
fn continue_after_access(
    next: &mut Option<(u64, Event)>,
    reader: &mut dyn EventSource,
    opts: &ReplayOptions,
    stats: &mut ReplayStats,
) -> Result<(), ReplayError> {
    *next = next_event(reader, opts, stats)?;
    Ok(())
}

/// Memory with a log of the words written, for reporting the driver's changes.
fn drain_writes(mem: &mut SparseMemory, sink: &mut dyn ReplaySink) -> Result<(), ReplayError> {
    let words = mem.take_write_log();
    if !words.is_empty() {
        let with_values: Vec<(u64, u64)> = words.iter().map(|&a| (a, mem.peek(iommu_model::Spa(a)))).collect();
        sink.memory_written(&with_values).map_err(ReplayError::Sink)?;
    }
    Ok(())
}

/// Sends the driver's commands to the sink and runs them on the device.
fn issue_commands(
    cmds: &[[u64; 2]],
    file: &str,
    line: u64,
    stats: &mut ReplayStats,
    sink: &mut dyn ReplaySink,
    mut run: impl FnMut([u64; 2]) -> Result<(), iommu_model::CommandError>,
) -> Result<(), ReplayError> {
    for &c in cmds {
        stats.commands += 1;
        sink.command(c).map_err(ReplayError::Sink)?;
        run(c).map_err(|err| ReplayError::Command { file: file.to_string(), line, message: err.to_string() })?;
    }
    Ok(())
}

/// A driver model over fresh memory that logs the driver's writes.
fn start_driver(
    config: DriverConfig,
    file: &str,
    sink: &mut dyn ReplaySink,
) -> Result<(Driver, SparseMemory), ReplayError> {
    let mut mem = SparseMemory::new();
    let driver = Driver::new(config, &mut mem).map_err(|source| ReplayError::Driver {
        file: file.to_string(),
        line: 0,
        source,
    })?;
    mem.track_writes(true);
    drain_writes(&mut mem, sink)?;
    Ok((driver, mem))
}

struct InFlight {
    line: u64,
    event: Event,
    requests: u32,
    left: u32,
    issued: u64,
    completed: u64,
    response: Option<Response>,
    first: Option<Response>,
    /// Tag of the access's first request, and of its earliest failed one.
    tag0: u64,
    failed_tag: u64,
    source: Source,
    slowest: u64,
    reads: u32,
}

/// Replays a trace through a cycle device and the driver model.
pub fn replay_timed<D: CycleDevice + ?Sized>(
    reader: &mut dyn EventSource,
    file: &str,
    driver_config: DriverConfig,
    device: &mut D,
    opts: &ReplayOptions,
    sink: &mut dyn ReplaySink,
) -> Result<ReplayStats, ReplayError> {
    let mut stats = ReplayStats::default();
    let (mut driver, mut mem) = start_driver(driver_config, file, sink)?;
    device.reset(&driver.regs());
    // Requests waiting to be offered: (earliest cycle, tag, request). Tags and
    // access numbers are handed out in order, so two rings map a completion's tag
    // to its access: `owner[tag - first_tag]` and `inflight[aid - first_aid]`.
    let mut pending: VecDeque<(u64, u32, Request)> = VecDeque::new();
    let mut inflight: VecDeque<InFlight> = VecDeque::new();
    let mut first_aid: u64 = 0;
    let mut owner: VecDeque<u64> = VecDeque::new();
    let mut first_tag: u64 = 0;
    let mut next_tag: u64 = 0;
    let mut completions: Vec<Completion> = Vec::new();
    let mut reqs = Vec::new();
    let mut cmds = Vec::new();
    let mut next = next_event(reader, opts, &mut stats)?;
    let mut last_time = 0u64;
    let records = sink.wants_accesses();
    const WINDOW: usize = 256;

    loop {
        let now = device.cycle();
        // Apply every non-access event due now, and split accesses into requests,
        // while the window of requests in flight has room.
        while let Some((line, e)) = next.as_ref() {
            let (line, e) = (*line, e);
            let due = e.time.is_none_or(|t| t <= now) || (pending.is_empty() && device.idle());
            if !due || pending.len() >= WINDOW {
                break;
            }
            if let Some(t) = e.time {
                last_time = last_time.max(t);
            }
            if e.kind == EventKind::Access {
                stats.accesses += 1;
                reqs.clear();
                driver.requests(e, &mut reqs);
                let aid = first_aid + inflight.len() as u64;
                let earliest = e.time.unwrap_or(now).max(now);
                let tag0 = next_tag;
                for r in &reqs {
                    pending.push_back((earliest, next_tag as u32, *r));
                    if records {
                        owner.push_back(aid);
                    }
                    next_tag += 1;
                }
                if !records {
                    continue_after_access(&mut next, reader, opts, &mut stats)?;
                    continue;
                }
                inflight.push_back(InFlight {
                    line,
                    event: *e,
                    requests: reqs.len() as u32,
                    left: reqs.len() as u32,
                    issued: u64::MAX,
                    completed: 0,
                    response: None,
                    first: None,
                    tag0,
                    failed_tag: u64::MAX,
                    source: Source::Pending,
                    slowest: 0,
                    reads: 0,
                });
            } else {
                // Mapping events take effect at their time, and after every
                // access before them in the trace has completed: a driver changes
                // a mapping once the DMA that used it is done, so timing changes
                // no answer.
                if !pending.is_empty() || !device.idle() {
                    break;
                }
                stats.mapping_events += 1;
                cmds.clear();
                driver.apply(&mut mem, e, &mut cmds).map_err(|source| ReplayError::Driver {
                    file: file.to_string(),
                    line,
                    source,
                })?;
                drain_writes(&mut mem, sink)?;
                issue_commands(&cmds, file, line, &mut stats, sink, |c| device.command(&mut mem, c))?;
            }
            next = next_event(reader, opts, &mut stats)?;
        }
        // Lazy flush queue timeouts.
        cmds.clear();
        driver.tick(now, &mut cmds);
        if !cmds.is_empty() {
            issue_commands(&cmds, file, 0, &mut stats, sink, |c| device.command(&mut mem, c))?;
        }
        // Offer the oldest pending request.
        if let Some(&(earliest, tag, req)) = pending.front() {
            if earliest <= now && device.try_issue(tag, &req) {
                pending.pop_front();
                if records {
                    let t64 = first_tag + u64::from(tag.wrapping_sub(first_tag as u32));
                    let aid = owner[(t64 - first_tag) as usize];
                    let a = &mut inflight[(aid - first_aid) as usize];
                    a.issued = a.issued.min(now);
                }
            }
        }
        if next.is_none() && pending.is_empty() && device.idle() {
            break;
        }
        // Nothing to do until a later cycle: skip idle cycles at once.
        if device.idle() {
            let target = match pending.front() {
                Some(&(earliest, _, _)) => Some(earliest),
                None => next.as_ref().and_then(|(_, e)| e.time),
            };
            if let Some(t) = target {
                if t > now + 1 {
                    device.skip_idle(t - now - 1);
                }
            }
        }
        device.tick(&mut mem);
        completions.clear();
        device.take_completions(&mut completions);
        for c in &completions {
            stats.latency.record(c.completed - c.issued);
            stats.note_response(&c.response, c.source, c.merged);
            if !records {
                continue;
            }
            let t64 = first_tag + u64::from(c.tag.wrapping_sub(first_tag as u32));
            let aid = owner[(t64 - first_tag) as usize];
            let a = &mut inflight[(aid - first_aid) as usize];
            a.left -= 1;
            a.completed = a.completed.max(c.completed);
            a.reads += c.reads;
            // Requests may complete out of order: keep the answer of the first
            // request, and of the first (in order) that failed.
            if t64 == a.tag0 {
                a.first = Some(c.response);
            }
            if c.response.status != Status::Success && t64 < a.failed_tag {
                a.response = Some(c.response);
                a.failed_tag = t64;
            }
            if c.completed - c.issued >= a.slowest {
                a.slowest = c.completed - c.issued;
                a.source = if c.merged { Source::Walk } else { c.source };
            }
        }
        // Report accesses in trace order as they finish.
        while inflight.front().is_some_and(|a| a.left == 0) {
            let a = inflight.pop_front().expect("front");
            first_aid += 1;
            for _ in 0..a.requests {
                owner.pop_front();
                first_tag += 1;
            }
            let response = a.response.or(a.first).unwrap_or(Response::success(iommu_model::Spa(0)));
            let rec = AccessRecord {
                line: a.line,
                event: a.event,
                requests: a.requests,
                issued: if a.issued == u64::MAX { a.completed } else { a.issued },
                completed: a.completed,
                response,
                source: a.source,
                reads: a.reads,
            };
            sink.access(&rec).map_err(ReplayError::Sink)?;
        }
    }
    // The end of the trace flushes the lazy queue, as a driver's shutdown does.
    cmds.clear();
    driver.flush(&mut cmds);
    issue_commands(&cmds, file, 0, &mut stats, sink, |c| device.command(&mut mem, c))?;
    stats.counters = *device.counters();
    stats.cycles = device.cycle().max(last_time);
    Ok(stats)
}

/// Replays a trace through a translator one request at a time (no timing).
pub fn replay_functional(
    reader: &mut dyn EventSource,
    file: &str,
    driver_config: DriverConfig,
    translator: &mut dyn Translator,
    opts: &ReplayOptions,
    sink: &mut dyn ReplaySink,
) -> Result<ReplayStats, ReplayError> {
    let mut stats = ReplayStats::default();
    let (mut driver, mut mem) = start_driver(driver_config, file, sink)?;
    translator.reset(&driver.regs());
    let mut reqs = Vec::new();
    let mut cmds = Vec::new();
    let mut sink_faults = Vec::new();
    while let Some((line, e)) = next_event(reader, opts, &mut stats)? {
        cmds.clear();
        if let Some(t) = e.time {
            driver.tick(t, &mut cmds);
        }
        if e.kind == EventKind::Access {
            stats.accesses += 1;
            reqs.clear();
            driver.requests(&e, &mut reqs);
            let mut first = None;
            let mut failed = None;
            for r in &reqs {
                let resp = translator.translate(&mut mem as &mut dyn Memory, r);
                sink.request(r, &resp).map_err(ReplayError::Sink)?;
                stats.note_response(
                    &resp,
                    if resp.status == Status::Success { Source::Walk } else { Source::Fault },
                    false,
                );
                first.get_or_insert(resp);
                if resp.status != Status::Success && failed.is_none() {
                    failed = Some(resp);
                }
            }
            // A/D updates by the IOMMU are not the driver's writes.
            mem.take_write_log();
            sink_faults.clear();
            translator.drain_faults(&mut sink_faults);
            let response = failed.or(first).unwrap_or(Response::success(iommu_model::Spa(0)));
            let rec = AccessRecord {
                line,
                event: e,
                requests: reqs.len() as u32,
                issued: 0,
                completed: 0,
                response,
                source: Source::Pending,
                reads: 0,
            };
            sink.access(&rec).map_err(ReplayError::Sink)?;
        } else {
            stats.mapping_events += 1;
            driver.apply(&mut mem, &e, &mut cmds).map_err(|source| ReplayError::Driver {
                file: file.to_string(),
                line,
                source,
            })?;
        }
        drain_writes(&mut mem, sink)?;
        issue_commands(&cmds, file, line, &mut stats, sink, |c| translator.command(&mut mem, c))?;
    }
    cmds.clear();
    driver.flush(&mut cmds);
    issue_commands(&cmds, file, 0, &mut stats, sink, |c| translator.command(&mut mem, c))?;
    if let Some(c) = translator.counters() {
        stats.counters = *c;
    }
    Ok(stats)
}

/// The registers a replay with this driver configuration runs with.
pub fn replay_regs(config: DriverConfig) -> Result<Regs, DriverError> {
    let mut mem = SparseMemory::new();
    Ok(Driver::new(config, &mut mem)?.regs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{MapPage, Mode, Perm, TraceWriter};
    use iommu_model::timing::{TimingConfig, TimingModel};
    use iommu_model::{Access, CacheConfig, Iommu};

    struct Keep(Vec<AccessRecord>);
    impl ReplaySink for Keep {
        fn access(&mut self, r: &AccessRecord) -> Result<(), String> {
            self.0.push(*r);
            Ok(())
        }
    }

    fn trace_text(events: &[Event]) -> String {
        let mut w = TraceWriter::new(Vec::new()).unwrap();
        for e in events {
            w.write(e).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    fn sample_events() -> Vec<Event> {
        let mut ev = vec![
            Event::attach(Some(0), 0x100, None, None, Mode::S1),
            Event::map(Some(0), 0x100, None, 0x1000_0000, 0x8_0000_0000, 0x10000, MapPage::K4, Perm::RW),
        ];
        for i in 0..200u64 {
            let page = (i * 7) % 20; // pages 16..19 are not mapped: faults
            ev.push(Event::access(Some(10 + i * 3), 0x100, None, 0x1000_0000 + page * 4096 + 64, 1024, Access::Write));
        }
        ev.push(Event::unmap(Some(2000), 0x100, None, 0x1000_0000, 0x10000));
        ev.push(Event::access(Some(2001), 0x100, None, 0x1000_0000, 8, Access::Read));
        ev
    }

    #[test]
    fn timed_replay_gives_the_golden_models_answers_access_by_access() {
        let text = trace_text(&sample_events());
        let cfg = DriverConfig::default();
        let mut timed = Keep(vec![]);
        let mut dev = TimingModel::new(TimingConfig::default(), replay_regs(cfg).unwrap());
        let st = replay_timed(
            &mut TraceReader::new(text.as_bytes(), "t"),
            "t",
            cfg,
            &mut dev,
            &ReplayOptions::default(),
            &mut timed,
        )
        .unwrap();
        let mut func = Keep(vec![]);
        let mut golden = Iommu::new(CacheConfig::default());
        replay_functional(
            &mut TraceReader::new(text.as_bytes(), "t"),
            "t",
            cfg,
            &mut golden,
            &ReplayOptions::default(),
            &mut func,
        )
        .unwrap();
        assert_eq!(timed.0.len(), 201);
        assert_eq!(func.0.len(), 201);
        for (a, b) in timed.0.iter().zip(&func.0) {
            assert_eq!(a.line, b.line);
            assert_eq!(a.response.status, b.response.status, "line {}", a.line);
            assert_eq!(a.response.spa, b.response.spa, "line {}", a.line);
            assert_eq!(a.response.fault.map(|f| f.cause), b.response.fault.map(|f| f.cause));
        }
        assert!(timed.0.iter().any(|r| r.response.status != Status::Success), "some accesses fault");
        assert_eq!(timed.0.last().unwrap().response.fault.map(|f| f.cause.0), Some(13), "read after unmap");
        assert_eq!(st.accesses, 201);
        // 1024-byte writes at offset 64: 256-byte payloads, 4 or 5 requests each.
        assert!(st.requests >= 800);
        assert!(st.latency.count() == st.requests);
        assert!(st.cycles >= 2001);
    }

    #[test]
    fn accesses_wait_for_their_time_and_back_pressure_delays_the_rest() {
        let text = trace_text(&sample_events());
        let cfg = DriverConfig::default();
        let mut sink = Keep(vec![]);
        let mut dev = TimingModel::new(TimingConfig::default(), replay_regs(cfg).unwrap());
        replay_timed(
            &mut TraceReader::new(text.as_bytes(), "t"),
            "t",
            cfg,
            &mut dev,
            &ReplayOptions::default(),
            &mut sink,
        )
        .unwrap();
        for r in &sink.0 {
            let t = r.event.time.unwrap();
            assert!(r.issued >= t, "line {} issued at {} before its time {}", r.line, r.issued, t);
            assert!(r.completed >= r.issued);
        }
    }

    #[test]
    fn bad_lines_stop_the_replay_or_are_counted() {
        let mut text = trace_text(&sample_events());
        text.push_str("5000,access,0x100,,,,0xzz,,,,,,8,read\n");
        text.push_str("5001,access,0x100,,,,0x10000000,,,,,,8,read\n");
        let cfg = DriverConfig::default();
        let mut dev = TimingModel::new(TimingConfig::default(), replay_regs(cfg).unwrap());
        let err = replay_timed(
            &mut TraceReader::new(text.as_bytes(), "t.csv"),
            "t.csv",
            cfg,
            &mut dev,
            &ReplayOptions::default(),
            &mut NoSink,
        )
        .unwrap_err();
        assert!(err.to_string().contains("t.csv:206: column `iova`"), "{err}");
        let mut dev = TimingModel::new(TimingConfig::default(), replay_regs(cfg).unwrap());
        let st = replay_timed(
            &mut TraceReader::new(text.as_bytes(), "t.csv"),
            "t.csv",
            cfg,
            &mut dev,
            &ReplayOptions { skip_bad_lines: true },
            &mut NoSink,
        )
        .unwrap();
        assert_eq!(st.bad_lines, 1);
        assert_eq!(st.accesses, 202);
    }
}
