//! The DMA trace format `iommu-trace/1` (`traces/FORMAT.md`): events, a streaming
//! reader with errors that name the file, line and column, and a writer.

use iommu_model::Access;
use std::fmt;
use std::io::{BufRead, Write};

/// The header line, in column order.
pub const HEADER: &str = "time,event,device,pid,vm,mode,iova,gpa,pa,size,page,perm,len,access";
const COLUMNS: [&str; 14] =
    ["time", "event", "device", "pid", "vm", "mode", "iova", "gpa", "pa", "size", "page", "perm", "len", "access"];

/// What an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EventKind {
    /// A device (or process) joins a domain.
    #[default]
    Attach,
    /// A device (or process) leaves.
    Detach,
    /// A mapping in the device's (process's) address space.
    Map,
    /// The removal of one.
    Unmap,
    /// A guest-physical to machine mapping of a VM.
    Gmap,
    /// The removal of one.
    Gunmap,
    /// A DMA access.
    Access,
    /// An invalidation seen in a capture.
    Inval,
}

impl EventKind {
    /// The name in the `event` column.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Attach => "attach",
            EventKind::Detach => "detach",
            EventKind::Map => "map",
            EventKind::Unmap => "unmap",
            EventKind::Gmap => "gmap",
            EventKind::Gunmap => "gunmap",
            EventKind::Access => "access",
            EventKind::Inval => "inval",
        }
    }

    fn parse(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"attach" => EventKind::Attach,
            b"detach" => EventKind::Detach,
            b"map" => EventKind::Map,
            b"unmap" => EventKind::Unmap,
            b"gmap" => EventKind::Gmap,
            b"gunmap" => EventKind::Gunmap,
            b"access" => EventKind::Access,
            b"inval" => EventKind::Inval,
            _ => return None,
        })
    }
}

/// Which stages translate a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// No translation.
    Bare,
    /// First stage only (a host driver's DMA domain).
    #[default]
    S1,
    /// G-stage only: passed through to a VM, IOVA = GPA.
    G,
    /// The guest's first stage over the G-stage.
    Nested,
}

impl Mode {
    /// The name in the `mode` column.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::S1 => "s1",
            Mode::G => "g",
            Mode::Nested => "nested",
        }
    }

    fn parse(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"bare" => Mode::Bare,
            b"s1" => Mode::S1,
            b"g" => Mode::G,
            b"nested" => Mode::Nested,
            _ => return None,
        })
    }
}

/// The page size a mapping uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum MapPage {
    /// 4 KiB.
    #[default]
    K4,
    /// 64 KiB (Svnapot).
    K64,
    /// 2 MiB.
    M2,
    /// 1 GiB.
    G1,
}

impl MapPage {
    /// Bytes.
    pub fn bytes(self) -> u64 {
        match self {
            MapPage::K4 => 4 << 10,
            MapPage::K64 => 64 << 10,
            MapPage::M2 => 2 << 20,
            MapPage::G1 => 1 << 30,
        }
    }

    /// The name in the `page` column.
    pub fn name(self) -> &'static str {
        match self {
            MapPage::K4 => "4k",
            MapPage::K64 => "64k",
            MapPage::M2 => "2m",
            MapPage::G1 => "1g",
        }
    }

    fn parse(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"4k" | b"4K" => MapPage::K4,
            b"64k" | b"64K" => MapPage::K64,
            b"2m" | b"2M" => MapPage::M2,
            b"1g" | b"1G" => MapPage::G1,
            _ => return None,
        })
    }
}

/// Permissions of a mapping: bits R=1, W=2, X=4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Perm(pub u8);

impl Perm {
    /// Read.
    pub const R: Perm = Perm(1);
    /// Read and write.
    pub const RW: Perm = Perm(3);
    /// Read and execute.
    pub const RX: Perm = Perm(5);

    /// Readable.
    pub fn r(self) -> bool {
        self.0 & 1 != 0
    }
    /// Writable.
    pub fn w(self) -> bool {
        self.0 & 2 != 0
    }
    /// Executable.
    pub fn x(self) -> bool {
        self.0 & 4 != 0
    }

    fn parse(s: &[u8]) -> Option<Self> {
        let mut p = 0;
        for &c in s {
            p |= match c {
                b'r' => 1,
                b'w' => 2,
                b'x' => 4,
                b'u' | b'-' => 0,
                _ => return None,
            };
        }
        Some(Perm(p))
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.r() {
            f.write_str("r")?;
        }
        if self.w() {
            f.write_str("w")?;
        }
        if self.x() {
            f.write_str("x")?;
        }
        Ok(())
    }
}

/// One trace event. Fields an event kind does not use are zero or `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Event {
    /// Cycle of the event, or `None` for "right after the previous one".
    pub time: Option<u64>,
    /// What it is.
    pub kind: EventKind,
    /// Device ID.
    pub device: u32,
    /// Process ID.
    pub pid: Option<u32>,
    /// VM number.
    pub vm: Option<u32>,
    /// Translation mode (attach).
    pub mode: Mode,
    /// I/O virtual address.
    pub iova: u64,
    /// Guest-physical address (gmap, gunmap).
    pub gpa: u64,
    /// Target of a mapping.
    pub pa: u64,
    /// Bytes mapped, unmapped or invalidated (0: everything, for inval).
    pub size: u64,
    /// Page size of a mapping.
    pub page: MapPage,
    /// Permissions of a mapping.
    pub perm: Perm,
    /// Bytes of an access.
    pub len: u32,
    /// Kind of access.
    pub access: Access,
}

impl Event {
    /// A DMA access.
    pub fn access(time: Option<u64>, device: u32, pid: Option<u32>, iova: u64, len: u32, access: Access) -> Self {
        Event { time, kind: EventKind::Access, device, pid, iova, len, access, ..Default::default() }
    }

    /// An attach.
    pub fn attach(time: Option<u64>, device: u32, pid: Option<u32>, vm: Option<u32>, mode: Mode) -> Self {
        Event { time, kind: EventKind::Attach, device, pid, vm, mode, ..Default::default() }
    }

    /// A map of `[iova, iova+size)` to `pa`.
    #[allow(clippy::too_many_arguments)] // one per CSV column a map uses
    pub fn map(
        time: Option<u64>,
        device: u32,
        pid: Option<u32>,
        iova: u64,
        pa: u64,
        size: u64,
        page: MapPage,
        perm: Perm,
    ) -> Self {
        Event { time, kind: EventKind::Map, device, pid, iova, pa, size, page, perm, ..Default::default() }
    }

    /// An unmap of `[iova, iova+size)`.
    pub fn unmap(time: Option<u64>, device: u32, pid: Option<u32>, iova: u64, size: u64) -> Self {
        Event { time, kind: EventKind::Unmap, device, pid, iova, size, ..Default::default() }
    }

    /// A detach of `device`.
    pub fn detach(time: Option<u64>, device: u32) -> Self {
        Event { time, kind: EventKind::Detach, device, ..Default::default() }
    }

    /// A guest-physical map of `vm`.
    pub fn gmap(time: Option<u64>, vm: u32, gpa: u64, pa: u64, size: u64, page: MapPage, perm: Perm) -> Self {
        Event { time, kind: EventKind::Gmap, vm: Some(vm), gpa, pa, size, page, perm, ..Default::default() }
    }

    /// Writes the event as one CSV line (with the newline).
    pub fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        let k = self.kind;
        if let Some(t) = self.time {
            write!(out, "{t}")?;
        }
        write!(out, ",{},", k.name())?;
        if k != EventKind::Gmap && k != EventKind::Gunmap {
            write!(out, "{:#06x}", self.device)?;
        }
        out.write_all(b",")?;
        if let Some(p) = self.pid {
            write!(out, "{p}")?;
        }
        out.write_all(b",")?;
        if let Some(v) = self.vm {
            write!(out, "{v}")?;
        }
        out.write_all(b",")?;
        if k == EventKind::Attach {
            out.write_all(self.mode.name().as_bytes())?;
        }
        let uses_iova = matches!(k, EventKind::Map | EventKind::Unmap | EventKind::Access)
            || (k == EventKind::Inval && self.size != 0);
        let uses_gpa = matches!(k, EventKind::Gmap | EventKind::Gunmap);
        let uses_pa = matches!(k, EventKind::Map | EventKind::Gmap);
        let uses_size = matches!(k, EventKind::Map | EventKind::Unmap | EventKind::Gmap | EventKind::Gunmap)
            || (k == EventKind::Inval && self.size != 0);
        let mapping = matches!(k, EventKind::Map | EventKind::Gmap);
        out.write_all(b",")?;
        if uses_iova {
            write!(out, "{:#x}", self.iova)?;
        }
        out.write_all(b",")?;
        if uses_gpa {
            write!(out, "{:#x}", self.gpa)?;
        }
        out.write_all(b",")?;
        if uses_pa {
            write!(out, "{:#x}", self.pa)?;
        }
        out.write_all(b",")?;
        if uses_size {
            write!(out, "{:#x}", self.size)?;
        }
        out.write_all(b",")?;
        if mapping {
            out.write_all(self.page.name().as_bytes())?;
        }
        out.write_all(b",")?;
        if mapping {
            write!(out, "{}", self.perm)?;
        }
        out.write_all(b",")?;
        if k == EventKind::Access {
            write!(out, "{},{}", self.len, self.access.name())?;
        } else {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")
    }
}

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// The file (or `-` for standard input).
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// The column, or empty for the whole line.
    pub column: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}:{}: column `{}`: {}", self.file, self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for TraceError {}

/// Parses a number: `0x`-prefixed hex or decimal.
pub fn parse_number(s: &[u8]) -> Option<u64> {
    if let Some(h) = s.strip_prefix(b"0x").or_else(|| s.strip_prefix(b"0X")) {
        if h.is_empty() || h.len() > 16 {
            return None;
        }
        let mut v = 0u64;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return None,
            };
            v = (v << 4) | u64::from(d);
        }
        Some(v)
    } else {
        if s.is_empty() || s.len() > 20 {
            return None;
        }
        let mut v = 0u64;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        }
        Some(v)
    }
}

/// Reads events from a trace, one line at a time (constant memory however long
/// the trace). Blank lines are skipped; the header is checked.
pub struct TraceReader<R> {
    input: R,
    file: String,
    line: u64,
    buf: Vec<u8>,
    header_checked: bool,
}

impl<R: BufRead> TraceReader<R> {
    /// A reader of `input`; `file` labels errors.
    pub fn new(input: R, file: &str) -> Self {
        TraceReader { input, file: file.to_string(), line: 0, buf: Vec::with_capacity(256), header_checked: false }
    }

    /// The number of the line last read.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn err(&self, column: &str, message: impl Into<String>) -> TraceError {
        TraceError { file: self.file.clone(), line: self.line, column: column.to_string(), message: message.into() }
    }

    /// The next event, `Ok(None)` at the end, or the error of this line (reading
    /// may continue with the next line).
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        loop {
            self.buf.clear();
            let n =
                self.input.read_until(b'\n', &mut self.buf).map_err(|e| self.err("", format!("read error: {e}")))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if !self.header_checked {
                self.header_checked = true;
                if self.buf.starts_with(b"time,") {
                    let got = String::from_utf8_lossy(&self.buf).into_owned();
                    if got.trim_end() != HEADER {
                        return Err(self.err("", format!("unexpected header {got:?} (expected {HEADER:?})")));
                    }
                    continue;
                }
                return Err(self.err("", format!("the first line must be the header {HEADER:?}")));
            }
            return self.parse_line().map(Some);
        }
    }

    fn parse_line(&self) -> Result<Event, TraceError> {
        let mut f: [&[u8]; 14] = [&[]; 14];
        let mut n = 0;
        for field in self.buf.split(|&c| c == b',') {
            if n == 14 {
                return Err(self.err("", "more than 14 columns"));
            }
            f[n] = trim(field);
            n += 1;
        }
        if n != 14 {
            return Err(self.err("", format!("{n} columns, expected 14")));
        }
        let num = |i: usize| -> Result<Option<u64>, TraceError> {
            if f[i].is_empty() {
                return Ok(None);
            }
            parse_number(f[i]).map(Some).ok_or_else(|| {
                self.err(
                    COLUMNS[i],
                    format!("{:?} is not a number (hex with 0x, or decimal)", String::from_utf8_lossy(f[i])),
                )
            })
        };
        let need = |i: usize, v: Option<u64>| -> Result<u64, TraceError> {
            v.ok_or_else(|| self.err(COLUMNS[i], "missing (this event needs it)"))
        };
        let kind = EventKind::parse(f[1]).ok_or_else(|| {
            self.err(
                "event",
                format!(
                    "unknown event {:?} (expected attach, detach, map, unmap, gmap, gunmap, access or inval)",
                    String::from_utf8_lossy(f[1])
                ),
            )
        })?;
        let mut e = Event { kind, time: num(0)?, ..Default::default() };
        let device = num(2)?;
        if device.is_some_and(|d| d >> 24 != 0) {
            return Err(self.err("device", "wider than 24 bits"));
        }
        e.device = device.unwrap_or(0) as u32;
        e.pid = num(3)?.map(|p| p as u32);
        if e.pid.is_some_and(|p| p >> 20 != 0) {
            return Err(self.err("pid", "wider than 20 bits"));
        }
        e.vm = num(4)?.map(|v| v as u32);
        match kind {
            EventKind::Attach => {
                need(2, device)?;
                if !f[5].is_empty() {
                    e.mode = Mode::parse(f[5]).ok_or_else(|| {
                        self.err(
                            "mode",
                            format!(
                                "unknown mode {:?} (expected bare, s1, g or nested)",
                                String::from_utf8_lossy(f[5])
                            ),
                        )
                    })?;
                }
                if matches!(e.mode, Mode::G | Mode::Nested) && e.vm.is_none() {
                    return Err(self.err("vm", "a g or nested device needs its vm"));
                }
            }
            EventKind::Detach => {
                need(2, device)?;
            }
            EventKind::Map | EventKind::Unmap | EventKind::Inval => {
                need(2, device)?;
                if kind == EventKind::Inval {
                    e.iova = num(6)?.unwrap_or(0);
                    e.size = num(9)?.unwrap_or(0);
                } else {
                    e.iova = need(6, num(6)?)?;
                    e.size = need(9, num(9)?)?;
                    if e.size == 0 {
                        return Err(self.err("size", "must not be zero"));
                    }
                }
                if kind == EventKind::Map {
                    e.pa = need(8, num(8)?)?;
                    self.mapping_attrs(&f, &mut e)?;
                }
            }
            EventKind::Gmap | EventKind::Gunmap => {
                if e.vm.is_none() {
                    return Err(self.err("vm", "missing (this event needs it)"));
                }
                e.gpa = need(7, num(7)?)?;
                e.size = need(9, num(9)?)?;
                if e.size == 0 {
                    return Err(self.err("size", "must not be zero"));
                }
                if kind == EventKind::Gmap {
                    e.pa = need(8, num(8)?)?;
                    self.mapping_attrs(&f, &mut e)?;
                }
            }
            EventKind::Access => {
                need(2, device)?;
                e.iova = need(6, num(6)?)?;
                let len = need(12, num(12)?)?;
                if len == 0 || len > u64::from(u32::MAX) {
                    return Err(self.err("len", "must be between 1 and 4294967295"));
                }
                e.len = len as u32;
                e.access = match f[13] {
                    b"read" | b"r" => Access::Read,
                    b"write" | b"w" => Access::Write,
                    b"exec" | b"x" => Access::Exec,
                    other => {
                        return Err(self.err(
                            "access",
                            format!(
                                "unknown access {:?} (expected read, write or exec)",
                                String::from_utf8_lossy(other)
                            ),
                        ))
                    }
                };
            }
        }
        Ok(e)
    }

    fn mapping_attrs(&self, f: &[&[u8]; 14], e: &mut Event) -> Result<(), TraceError> {
        if !f[10].is_empty() {
            e.page = MapPage::parse(f[10]).ok_or_else(|| {
                self.err(
                    "page",
                    format!("unknown page size {:?} (expected 4k, 64k, 2m or 1g)", String::from_utf8_lossy(f[10])),
                )
            })?;
        }
        e.perm = if f[11].is_empty() {
            Perm::RW
        } else {
            Perm::parse(f[11]).ok_or_else(|| {
                self.err("perm", format!("{:?}: expected letters from r, w, x", String::from_utf8_lossy(f[11])))
            })?
        };
        let addr = if e.kind == EventKind::Map { e.iova } else { e.gpa };
        let page = e.page.bytes();
        // Page sizes are powers of two.
        if (addr | e.pa | e.size) & (page - 1) != 0 {
            return Err(self.err("page", format!("addresses and size must be {} aligned", e.page.name())));
        }
        Ok(())
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &s[start..end]
}

/// Writes a trace: the header, then events.
pub struct TraceWriter<W: Write> {
    out: W,
}

impl<W: Write> TraceWriter<W> {
    /// Starts a trace (writes the header).
    pub fn new(mut out: W) -> std::io::Result<Self> {
        writeln!(out, "{HEADER}")?;
        Ok(TraceWriter { out })
    }

    /// Writes one event.
    pub fn write(&mut self, e: &Event) -> std::io::Result<()> {
        e.write_csv(&mut self.out)
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Vec<Result<Option<Event>, TraceError>> {
        let mut r = TraceReader::new(text.as_bytes(), "t.csv");
        let mut out = vec![];
        loop {
            let e = r.next_event();
            let end = matches!(e, Ok(None));
            out.push(e);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn the_example_of_the_format_reads() {
        let text = format!(
            "{HEADER}\n,attach,0x0100,,,s1,,,,,,,,\n,map,0x0100,,,,0x10000000,,0x80400000,0x3000,4k,rw,,\n120,access,0x0100,,,,0x10000040,,,,,,64,read\n900,unmap,0x0100,,,,0x10000000,,,0x3000,,,,\n"
        );
        let evs: Vec<Event> = read_all(&text).into_iter().filter_map(|r| r.unwrap()).collect();
        assert_eq!(evs.len(), 4);
        assert_eq!(evs[0], Event::attach(None, 0x100, None, None, Mode::S1));
        assert_eq!(evs[1], Event::map(None, 0x100, None, 0x1000_0000, 0x8040_0000, 0x3000, MapPage::K4, Perm::RW));
        assert_eq!(evs[2], Event::access(Some(120), 0x100, None, 0x1000_0040, 64, Access::Read));
        assert_eq!(evs[3], Event::unmap(Some(900), 0x100, None, 0x1000_0000, 0x3000));
    }

    #[test]
    fn written_events_read_back_identically() {
        let evs = [
            Event::attach(Some(0), 0x1234, Some(7), Some(2), Mode::Nested),
            Event::map(None, 0x1234, Some(7), 0x20_0000, 0x4000_0000, 0x20_0000, MapPage::M2, Perm::RX),
            Event::gmap(Some(5), 2, 0x1000_0000, 0x9000_0000, 0x1_0000, MapPage::K64, Perm::RW),
            Event::access(Some(9), 0x1234, Some(7), 0x20_0040, 4096, Access::Exec),
            Event { kind: EventKind::Inval, device: 0x1234, ..Default::default() },
            Event { kind: EventKind::Detach, device: 0x1234, pid: Some(7), ..Default::default() },
        ];
        let mut w = TraceWriter::new(Vec::new()).unwrap();
        for e in &evs {
            w.write(e).unwrap();
        }
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let back: Vec<Event> = read_all(&text).into_iter().filter_map(|r| r.unwrap()).collect();
        assert_eq!(back, evs);
    }

    #[test]
    fn errors_name_the_line_and_column_and_reading_goes_on() {
        let text = format!(
            "{HEADER}\n1,access,0x10,,,,0x1000,,,,,,8,read\nx,access,0x10,,,,0x1000,,,,,,8,read\n2,access,0x10,,,,0x1000,,,,,,8,fly\n3,map,0x10,,,,0x1000,,,0x1000,4k,rw,,\n4,access,0x10,,,,0x1000,,,,,,8,write\n5,access\n"
        );
        let rs = read_all(&text);
        let errs: Vec<&TraceError> = rs.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errs.len(), 4);
        assert_eq!((errs[0].line, errs[0].column.as_str()), (3, "time"));
        assert_eq!((errs[1].line, errs[1].column.as_str()), (4, "access"));
        assert_eq!((errs[2].line, errs[2].column.as_str()), (5, "pa"));
        assert_eq!(errs[3].line, 7);
        assert!(errs[3].to_string().starts_with("t.csv:7: "), "{}", errs[3]);
        assert_eq!(rs.iter().filter(|r| matches!(r, Ok(Some(_)))).count(), 2);
    }

    #[test]
    fn a_missing_header_is_an_error() {
        let rs = read_all("1,access,0x10,,,,0x1000,,,,,,8,read\n");
        assert!(rs[0].is_err());
    }

    #[test]
    fn misaligned_mappings_are_rejected() {
        let text = format!("{HEADER}\n,map,0x10,,,,0x1000,,0x200000,0x200000,2m,rw,,\n");
        let e = read_all(&text).into_iter().find_map(|r| r.err()).unwrap();
        assert_eq!(e.column, "page");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"0x10"), Some(16));
        assert_eq!(parse_number(b"16"), Some(16));
        assert_eq!(parse_number(b"0x"), None);
        assert_eq!(parse_number(b"99999999999999999999999"), None);
        assert_eq!(parse_number(b"1e3"), None);
    }
}
