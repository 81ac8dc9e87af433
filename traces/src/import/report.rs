//! What an import read, wrote and left out.

use super::CaptureFormat;
use crate::trace::TraceError;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Bad lines whose messages are kept (all are counted).
pub const KEPT_ERRORS: usize = 10;

/// The account of an import: every line read is converted, merged into another
/// line's events, skipped with its reason, or bad, and counted here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The format read.
    pub format: Option<CaptureFormat>,
    /// Lines read.
    pub lines: u64,
    /// Empty lines.
    pub blank_lines: u64,
    /// Lines that are not trace events: console output, headers and comments,
    /// QEMU `error_report` lines.
    pub non_event_lines: u64,
    /// ftrace `[LOST n EVENTS]` markers among them: the capture has gaps.
    pub lost_event_markers: u64,
    /// Event lines that became trace events, by event name.
    pub converted: BTreeMap<String, u64>,
    /// Of those, the faults (converted to accesses that fault), by event name.
    pub faults: BTreeMap<String, u64>,
    /// Event lines whose content other lines already put in the trace, by event
    /// name and reason (a translation result completing a cache-hit line, a
    /// `dma_map_page` of a range its `iommu:map` line mapped).
    pub merged: BTreeMap<String, u64>,
    /// Event lines that carry nothing for replay, by event name (and reason).
    pub ignored: BTreeMap<String, u64>,
    /// Lines that look like a known event but whose fields do not parse (counted
    /// with `skip_bad_lines`; otherwise the import stops at the first).
    pub bad_lines: u64,
    /// The first [`KEPT_ERRORS`] of them.
    pub bad_line_errors: Vec<TraceError>,
    /// Trace events written, by kind (`attach`, `map`, `access`, ...).
    pub events: BTreeMap<&'static str, u64>,
    /// Devices in the trace.
    pub devices: BTreeSet<u32>,
    /// Non-PCI device names and the device IDs given to them.
    pub named_devices: BTreeMap<String, u32>,
    /// How often each inference rule was used (devices of `iommu:map`/`unmap`
    /// lines, physical addresses the capture does not give).
    pub attributed: BTreeMap<&'static str, u64>,
    /// Pages unmapped so that an access the capture saw fault faults in replay too.
    pub fault_unmaps: u64,
    /// Times that went backwards in the capture and were raised to the one before.
    pub times_clamped: u64,
}

fn total(m: &BTreeMap<String, u64>) -> u64 {
    m.values().sum()
}

impl ImportReport {
    /// Trace events written.
    pub fn events_written(&self) -> u64 {
        self.events.values().sum()
    }

    /// Trace events of one kind written.
    pub fn events_of(&self, kind: &str) -> u64 {
        self.events.get(kind).copied().unwrap_or(0)
    }

    /// Event lines converted.
    pub fn converted_lines(&self) -> u64 {
        total(&self.converted)
    }

    /// Event lines merged into others.
    pub fn merged_lines(&self) -> u64 {
        total(&self.merged)
    }

    /// Event lines skipped as carrying nothing for replay.
    pub fn ignored_lines(&self) -> u64 {
        total(&self.ignored)
    }

    /// Lines skipped under `name` (any reason).
    pub fn ignored_named(&self, name: &str) -> u64 {
        self.ignored
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name} (")))
            .map(|(_, v)| v)
            .sum()
    }

    /// Whether every line read is accounted for exactly once.
    pub fn balanced(&self) -> bool {
        self.lines
            == self.blank_lines
                + self.non_event_lines
                + self.converted_lines()
                + self.merged_lines()
                + self.ignored_lines()
                + self.bad_lines
    }
}

fn list(f: &mut fmt::Formatter<'_>, title: &str, m: &BTreeMap<String, u64>) -> fmt::Result {
    if m.is_empty() {
        return Ok(());
    }
    writeln!(f, "  {title}: {}", total(m))?;
    let mut v: Vec<(&String, &u64)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (k, n) in v {
        writeln!(f, "    {n:>8}  {k}")?;
    }
    Ok(())
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = self.format.map_or("unknown", |c| c.name());
        writeln!(f, "{format} capture: {} lines read", self.lines)?;
        let kinds: Vec<String> = self.events.iter().map(|(k, n)| format!("{k} {n}")).collect();
        if kinds.is_empty() {
            writeln!(f, "  trace events written: 0")?;
        } else {
            writeln!(f, "  trace events written: {} ({})", self.events_written(), kinds.join(", "))?;
        }
        let devs: Vec<String> = self.devices.iter().map(|d| format!("{d:#06x}")).collect();
        writeln!(f, "  devices: {}", if devs.is_empty() { "none".to_string() } else { devs.join(" ") })?;
        for (name, id) in &self.named_devices {
            writeln!(f, "    {id:#08x} = {name}")?;
        }
        list(f, "event lines converted", &self.converted)?;
        list(f, "  of which faults", &self.faults)?;
        list(f, "event lines already in the trace through other lines", &self.merged)?;
        list(f, "event lines skipped, nothing to replay", &self.ignored)?;
        writeln!(f, "  non-event lines: {}, blank lines: {}", self.non_event_lines, self.blank_lines)?;
        if self.lost_event_markers > 0 {
            writeln!(f, "  WARNING: {} [LOST EVENTS] markers: the capture has gaps", self.lost_event_markers)?;
        }
        if !self.attributed.is_empty() {
            writeln!(f, "  inferred:")?;
            for (rule, n) in &self.attributed {
                writeln!(f, "    {n:>8}  {rule}")?;
            }
        }
        if self.fault_unmaps > 0 {
            writeln!(f, "  pages unmapped so that faults replay: {}", self.fault_unmaps)?;
        }
        if self.times_clamped > 0 {
            writeln!(f, "  times that went backwards, raised: {}", self.times_clamped)?;
        }
        if self.bad_lines > 0 {
            writeln!(f, "  bad lines skipped: {}", self.bad_lines)?;
            for e in &self.bad_line_errors {
                writeln!(f, "    {e}")?;
            }
            if self.bad_lines > self.bad_line_errors.len() as u64 {
                writeln!(f, "    ...")?;
            }
        }
        Ok(())
    }
}
