//! Importers: captured logs to DMA traces (`iommu-trace/1`, `traces/FORMAT.md`).
//!
//! Two kinds of capture are read, one line at a time (memory stays constant in the
//! number of lines, apart from the mappings and devices the trace holds):
//!
//! - **QEMU trace-event logs** (`-trace` with the default `log` backend) of its IOMMU
//!   models, in any of the three line shapes QEMU has printed
//!   (`tid@sec.usec:event args`, bare `event args`, and an ISO-8601 UTC prefix):
//!   RISC-V IOMMU (`riscv_iommu_dma`, `riscv_iommu_flt`), Intel VT-d
//!   (`vtd_dmar_translate`, `vtd_iotlb_page_hit`/`_update`, `vtd_translate_pt`,
//!   `vtd_dmar_fault`, `vtd_inv_desc_iotlb_*`), AMD-Vi (`amdvi_translation_result`,
//!   `amdvi_iotlb_hit`, `amdvi_cache_update`, `amdvi_page_fault`,
//!   `amdvi_pages_inval`, `amdvi_all_inval`) and Arm SMMUv3
//!   (`smmuv3_translate_success`, `smmuv3_translate_abort`). These are
//!   per-access translations: each becomes an access.
//! - **Linux ftrace text output** (`trace`, `trace_pipe`): `iommu:map`/`unmap` (the
//!   older and the newer range form), `io_page_fault`, `attach_device_to_domain`,
//!   `detach_device_from_domain`; the `dma:*` events of v6.12+; `intel_iommu:qi_submit`
//!   (and `cache_tag_assign`, to learn domains). These are mapping lifetimes: the
//!   kernel never sees the device's accesses, so the trace holds none but faults.
//!
//! Every line read is accounted for in the [`ImportReport`]: converted, merged into
//! the events of another line, skipped because it carries nothing for replay (by
//! event name, with the reason), not an event (console output, headers,
//! `error_report` lines), or bad. A line that names a known event but whose fields
//! do not parse is an error naming the file, the line and the field; with
//! [`ImportOptions::skip_bad_lines`] it is counted instead and the import goes on.
//!
//! # Conversion rules
//!
//! - **Device IDs** are PCIe requester IDs, `bus << 8 | slot << 3 | func`. QEMU
//!   prints `bus:slot.func` in several ways (`%04x:%02x.%u` for the RISC-V IOMMU,
//!   `%02x:%02x.%02x` for VT-d translations, `sid 0x10` for VT-d source IDs and
//!   SMMUv3 stream IDs, which already are requester IDs). Linux names devices
//!   `dddd:bb:ss.f`; a non-zero PCI segment goes in bits 23:16. Devices without a
//!   PCI name (`ff160000.mmc`) get IDs from `0xf00000` up, listed in the report.
//! - **Attach**: each device (and each RISC-V process context `#n`, n > 0) gets an
//!   `attach` event, mode `s1`, before its first mapping or access.
//!   `attach_device_to_domain` is an attach; for a device already attached it is
//!   a `detach` and a new `attach` (a new domain: its mappings are gone).
//! - **Translations are accesses and mappings**: a QEMU translation line says the
//!   device touched that IOVA. It becomes an `access` (its time, 4 bytes cut at the
//!   page end, since QEMU prints no size) preceded, once per (device, page) while
//!   the page maps to the same address, by a 4 KiB `map` to the page the translation
//!   gives. QEMU prints a cache line and then the result for one translation
//!   (`vtd_iotlb_page_hit`/`_update` then `vtd_dmar_translate`, `amdvi_iotlb_hit`/
//!   `amdvi_cache_update` then `amdvi_translation_result`): the two are one access,
//!   at the first line's time and exact address, with the result's page.
//! - **Directions and permissions**: the RISC-V flag `RO` is a read with a read-only
//!   mapping; `WR` and `RW` are writes (`RW` cannot say which: write); `NA` a read.
//!   SMMUv3 prints the mapping's permission (`perm` 1 = read-only: a read; 2 or 3: a
//!   write). VT-d and AMD-Vi print no direction: a read, except a VT-d entry that is
//!   writable only (a write). Mappings are read-only for `TO_DEVICE`/`RO`, and
//!   read-write otherwise, unknown included.
//! - **QEMU shows no unmaps**: a page stays mapped from its first translation until
//!   a translation gives it another address (a new `map`) or a fault shows it gone.
//! - **ftrace mappings**: `iommu:map` becomes a `map` (its size), `iommu:unmap` an
//!   `unmap` (the size actually unmapped), `dma_unmap_*`, `dma_free*` unmaps. The
//!   `dma:*` mapping events (`dma_map_page`/`_phys`/`_resource`, `dma_alloc*`,
//!   `dma_map_sg` arrays) become maps of what is not mapped already. `iommu:map` and
//!   `iommu:unmap` name no device: the device is the one of the nearest `dma:*` line
//!   with an overlapping IOVA range (one of the 32 before it, or within 2048 lines
//!   after it; a `dma:*` map line also gives the permission, from its direction);
//!   failing that, for an unmap, the device that has the range mapped (the one
//!   named last if several do); for a map, the device the capture named last before
//!   it. A `dma:*` map without a physical address (`dma_alloc`, or `dma_map_sg` whose
//!   segments the IOMMU merged) maps what is left unmapped to the same address
//!   (identity). `dma_unmap_sg` prints only physical addresses: it unmaps through
//!   them only when the capture has no `iommu:unmap` lines.
//! - **Invalidations** (`qi_submit` IOTLB descriptors, `vtd_inv_desc_iotlb_*`,
//!   `amdvi_pages_inval`, `amdvi_all_inval`) become `inval` events: one per attached
//!   device of the domain (all of them for a global flush), for the page range when
//!   one is given (address and mask), else device-wide. Domains are learned from
//!   the lines that show a device with its domain (`vtd_iotlb_page_*`,
//!   `amdvi_cache_update`, `cache_tag_assign` followed by its attach, a
//!   device-selective context flush followed by a domain flush); an invalidation of a
//!   domain with no attached device known is skipped.
//! - **Faults** (`vtd_dmar_fault`, `io_page_fault`, `riscv_iommu_flt`,
//!   `smmuv3_translate_abort`, an AMD-Vi translation to 0 after `amdvi_page_fault`,
//!   a RISC-V translation to 0) become accesses to the faulting IOVA with no mapping,
//!   so that replay faults too: a page the trace maps is unmapped first. They are
//!   counted in [`ImportReport::faults`].
//! - **Times** are in cycles of the IOMMU clock ([`ImportOptions::clock_hz`], 1 GHz by
//!   default) since the first event written; lines without a time (bare QEMU lines)
//!   give events without one (replayed back to back). A raw ftrace counter (a clock
//!   not in nanoseconds) is taken as cycles. Times never go back: one that does is
//!   raised to the one before and counted. Events keep the capture's order; the
//!   events one line becomes share its time.
//!
//! `README.md` next to this file says the same for users.

mod convert;
mod ftrace;
mod line;
mod qemu;
mod report;

pub use report::{ImportReport, KEPT_ERRORS};

use crate::trace::{TraceError, TraceWriter};
use convert::Engine;
use std::fmt;
use std::io::{BufRead, Write};

/// Lines held to detect the format; the import fails if none of them tells.
pub const DETECT_LINES: usize = 1000;
/// Bytes held to detect the format, at most.
const DETECT_BYTES: usize = 8 << 20;
/// The longest line read (longer ones are bad lines).
pub const MAX_LINE: usize = 1 << 20;

/// The kind of capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaptureFormat {
    /// A QEMU trace-event log.
    Qemu,
    /// Linux ftrace text output.
    Ftrace,
}

impl CaptureFormat {
    /// The name (`qemu`, `ftrace`).
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Qemu => "qemu",
            CaptureFormat::Ftrace => "ftrace",
        }
    }

    /// The format one line shows, if it shows one: an ftrace header or event line,
    /// or a QEMU trace line (with a `tid@sec.usec:` or ISO-8601 prefix, or bare with
    /// the name of an IOMMU model's event).
    pub fn detect_line(line: &str) -> Option<CaptureFormat> {
        let line = line::strip_quote(line.trim_end());
        if line.starts_with("# tracer:") || line::ftrace_line(line).is_some() {
            return Some(CaptureFormat::Ftrace);
        }
        let l = line::qemu_line(line)?;
        let known = ["riscv_iommu_", "vtd_", "amdvi_", "smmuv3_", "smmu_", "x86_iommu_"];
        (l.time.is_some() || known.iter().any(|p| l.event.starts_with(p))).then_some(CaptureFormat::Qemu)
    }
}

impl fmt::Display for CaptureFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CaptureFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "qemu" => Ok(CaptureFormat::Qemu),
            "ftrace" => Ok(CaptureFormat::Ftrace),
            _ => Err(format!("unknown capture format {s:?} (expected qemu or ftrace)")),
        }
    }
}

/// The format of the first line (of those given) that shows one.
pub fn detect<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<CaptureFormat> {
    lines.into_iter().find_map(CaptureFormat::detect_line)
}

/// How to import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// The capture's format; `None`: detected from its first lines.
    pub format: Option<CaptureFormat>,
    /// The IOMMU clock: times in seconds become cycles of it.
    pub clock_hz: u64,
    /// Count bad lines and go on, instead of stopping at the first.
    pub skip_bad_lines: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { format: None, clock_hz: 1_000_000_000, skip_bad_lines: false }
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A line that names a known event has a field that does not parse (file,
    /// line, field, message).
    #[error("{0}")]
    Line(#[from] TraceError),
    /// Reading the capture failed.
    #[error("{file}: reading: {source}")]
    Read {
        /// The capture.
        file: String,
        /// The error.
        source: std::io::Error,
    },
    /// Writing the trace failed.
    #[error("writing the trace: {0}")]
    Write(#[source] std::io::Error),
    /// No line showed the format.
    #[error(
        "{file}: none of the first {lines} lines is a QEMU trace-event or ftrace line; give the format explicitly"
    )]
    UnknownFormat {
        /// The capture.
        file: String,
        /// Lines looked at.
        lines: usize,
    },
    /// The options cannot be used.
    #[error("{0}")]
    Options(String),
}

/// Reads one line of at most [`MAX_LINE`] bytes into `buf` (without the line end);
/// `Some(true)` if it was longer (the rest is dropped), `None` at the end.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut any = false;
    let mut overlong = false;
    loop {
        let avail = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !overlong {
            let room = MAX_LINE + 1 - buf.len();
            match avail.get(..take.min(room)) {
                Some(part) => buf.extend_from_slice(part),
                None => overlong = true,
            }
            if take > room {
                overlong = true;
            }
        }
        input.consume(take);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(overlong || buf.len() > MAX_LINE))
}

enum Parser {
    Qemu(qemu::QemuParser),
    Ftrace(ftrace::FtraceParser),
}

struct Run<'a, W: Write> {
    file: &'a str,
    options: &'a ImportOptions,
    engine: Engine,
    parser: Parser,
    out: &'a mut TraceWriter<W>,
}

impl<W: Write> Run<'_, W> {
    fn line(&mut self, no: u64, text: &str, overlong: bool) -> Result<(), ImportError> {
        self.engine.report.lines += 1;
        let result = if overlong {
            Err(TraceError {
                file: self.file.to_string(),
                line: no,
                column: String::new(),
                message: format!("line longer than {MAX_LINE} bytes"),
            })
        } else if text.trim().is_empty() {
            self.engine.blank();
            Ok(())
        } else {
            let text = line::strip_quote(text.trim_end());
            match &mut self.parser {
                Parser::Qemu(p) => p.line(text, no, self.file, &mut self.engine),
                Parser::Ftrace(p) => p.line(text, no, self.file, &mut self.engine),
            }
        };
        if let Err(e) = result {
            if !self.options.skip_bad_lines {
                return Err(e.into());
            }
            let r = &mut self.engine.report;
            r.bad_lines += 1;
            if r.bad_line_errors.len() < KEPT_ERRORS {
                r.bad_line_errors.push(e);
            }
        }
        self.engine.drain(no);
        self.flush()
    }

    fn flush(&mut self) -> Result<(), ImportError> {
        for e in self.engine.out.drain(..) {
            self.out.write(&e).map_err(ImportError::Write)?;
        }
        Ok(())
    }
}

/// Imports a capture: reads `input` (named `file` in errors) line by line and
/// writes the trace events to `out` (whose header is already written). Events
/// written before an error stay written.
pub fn import<R: BufRead, W: Write>(
    mut input: R,
    file: &str,
    options: &ImportOptions,
    out: &mut TraceWriter<W>,
) -> Result<ImportReport, ImportError> {
    if options.clock_hz == 0 {
        return Err(ImportError::Options("the clock must be at least 1 Hz".into()));
    }
    let mut buf = Vec::with_capacity(256);
    let read_err = |source| ImportError::Read { file: file.to_string(), source };
    // Lines held while the format is not known yet.
    let mut held: Vec<(String, bool)> = Vec::new();
    let mut held_bytes = 0;
    let format = match options.format {
        Some(f) => f,
        None => loop {
            match read_line(&mut input, &mut buf).map_err(read_err)? {
                Some(overlong) => {
                    // An overlong line is a bad line: its text is not needed.
                    let text = if overlong { String::new() } else { String::from_utf8_lossy(&buf).into_owned() };
                    let found = if overlong { None } else { CaptureFormat::detect_line(&text) };
                    held_bytes += text.len();
                    held.push((text, overlong));
                    if let Some(f) = found {
                        break f;
                    }
                    if held.len() >= DETECT_LINES || held_bytes > DETECT_BYTES {
                        return Err(ImportError::UnknownFormat { file: file.to_string(), lines: held.len() });
                    }
                }
                None if held.iter().all(|(t, _)| t.trim().is_empty()) => break CaptureFormat::Qemu,
                None => return Err(ImportError::UnknownFormat { file: file.to_string(), lines: held.len() }),
            }
        },
    };
    let parser = match format {
        CaptureFormat::Qemu => Parser::Qemu(qemu::QemuParser::default()),
        CaptureFormat::Ftrace => Parser::Ftrace(ftrace::FtraceParser::default()),
    };
    let mut run = Run { file, options, engine: Engine::new(options.clock_hz), parser, out };
    run.engine.report.format = Some(format);
    let mut no = 0u64;
    for (text, overlong) in std::mem::take(&mut held) {
        no += 1;
        run.line(no, &text, overlong)?;
    }
    while let Some(overlong) = read_line(&mut input, &mut buf).map_err(read_err)? {
        no += 1;
        let text = String::from_utf8_lossy(&buf);
        run.line(no, &text, overlong)?;
    }
    run.engine.finish();
    run.flush()?;
    Ok(run.engine.report)
}
