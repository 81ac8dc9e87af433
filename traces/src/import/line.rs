//! Line shapes and field parsing shared by the importers: the three QEMU log
//! prefixes, the ftrace context columns, timestamps, numbers, PCI names and
//! `key value` / `key=value` fields with errors that name the field.

use crate::trace::{parse_number, TraceError};
use std::fmt::Display;

/// A point in time read from a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// Nanoseconds (since the Unix epoch for QEMU, since boot for ftrace).
    Ns(u128),
    /// A raw counter (ftrace with a clock that is not in nanoseconds), taken as cycles.
    Ticks(u64),
}

/// The line without e-mail quoting (`> `, `>> `).
pub(crate) fn strip_quote(line: &str) -> &str {
    let mut s = line;
    while let Some(rest) = s.strip_prefix('>') {
        s = rest.trim_start_matches(' ');
    }
    s
}

/// A QEMU trace-event name: lower-case letters, digits and `_`, starting with a
/// letter and holding at least one `_` (which tells it from console words).
pub(crate) fn is_event_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.contains(&b'_')
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// `int.frac` seconds as nanoseconds (the fraction may have 1 to 9 digits;
/// more are truncated).
pub(crate) fn seconds_ns(int: &str, frac: &str) -> Option<u128> {
    if !all_digits(int) || int.len() > 20 || !(frac.is_empty() || all_digits(frac)) {
        return None;
    }
    let secs: u128 = int.parse().ok()?;
    let mut ns: u128 = 0;
    for i in 0..9 {
        let d = frac.as_bytes().get(i).map_or(0, |c| c - b'0');
        ns = ns * 10 + u128::from(d);
    }
    Some(secs * 1_000_000_000 + ns)
}

/// One QEMU log line that holds a trace event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QemuLine<'a> {
    /// When, if the line says.
    pub time: Option<Stamp>,
    /// The event name.
    pub event: &'a str,
    /// The event's own text (after the name and one space).
    pub args: &'a str,
}

/// Splits `event args` (the name, then a space or the end of the line).
fn event_and_args(s: &str) -> Option<(&str, &str)> {
    let (event, args) = match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    is_event_name(event).then_some((event, args))
}

/// Reads one line of a QEMU trace log in any of its three shapes:
/// `tid@sec.usec:event args`, `YYYY-MM-DDTHH:MM:SS.ffffffZ event args`, or bare
/// `event args`. `None`: not a trace event (console output, `error_report` lines).
pub(crate) fn qemu_line(line: &str) -> Option<QemuLine<'_>> {
    let first = line.as_bytes().first()?;
    if first.is_ascii_digit() {
        if let Some((tid, rest)) = line.split_once('@') {
            if all_digits(tid) {
                let (stamp, rest) = rest.split_once(':')?;
                let (sec, usec) = stamp.split_once('.').unwrap_or((stamp, ""));
                let ns = seconds_ns(sec, usec)?;
                let (event, args) = event_and_args(rest)?;
                return Some(QemuLine { time: Some(Stamp::Ns(ns)), event, args });
            }
        }
        let (ns, rest) = iso8601(line)?;
        let (event, args) = event_and_args(rest.strip_prefix(' ')?)?;
        return Some(QemuLine { time: Some(Stamp::Ns(ns)), event, args });
    }
    let (event, args) = event_and_args(line)?;
    Some(QemuLine { time: None, event, args })
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num_field(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && all_digits(s)).then(|| s.parse().ok()).flatten()
}

/// An ISO-8601 timestamp at the start of `s` (`2025-07-01T12:34:56.123456Z`,
/// zone `Z`, `+hh:mm`, `+hhmm` or none), as nanoseconds since the epoch, and the rest.
pub(crate) fn iso8601(s: &str) -> Option<(u128, &str)> {
    let end = s.find(' ').unwrap_or(s.len());
    let (stamp, rest) = (&s[..end], &s[end..]);
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, da) = (num_field(d.next()?, 4)?, num_field(d.next()?, 2)?, num_field(d.next()?, 2)?);
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    // Zone.
    let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, z) = (&time[..i], &time[i..]);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let z = z.get(1..)?.replace(':', "");
        let (hh, mm) = (num_field(z.get(..2)?, 2)?, num_field(z.get(2..)?, 2)?);
        (c, sign * (hh * 3600 + mm * 60))
    } else {
        (time, 0)
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.split(':');
    let (h, mi, se) = (num_field(t.next()?, 2)?, num_field(t.next()?, 2)?, num_field(t.next()?, 2)?);
    if t.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let frac_ns = seconds_ns("0", frac)?;
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se - offset;
    let secs = u128::try_from(secs).ok()?;
    Some((secs * 1_000_000_000 + frac_ns, rest))
}

/// One ftrace text-output line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FtraceLine<'a> {
    /// The timestamp column.
    pub time: Stamp,
    /// The event name (a `subsystem:` prefix, as `perf script` prints, removed).
    pub event: &'a str,
    /// What the event's `TP_printk` printed.
    pub body: &'a str,
}

/// Splits off the first whitespace-separated token.
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn ftrace_stamp(tok: &str) -> Option<Stamp> {
    let t = tok.strip_suffix(':')?;
    match t.split_once('.') {
        Some((s, f)) => Some(Stamp::Ns(seconds_ns(s, f)?)),
        None => all_digits(t).then(|| t.parse().ok().map(Stamp::Ticks)).flatten(),
    }
}

/// Reads `comm-pid [(tgid)] [cpu] [flags] secs.usecs: event: body`. `None`: a
/// header, comment or any other line that is not an event.
pub(crate) fn ftrace_line(line: &str) -> Option<FtraceLine<'_>> {
    // The CPU column, `[003]`, after a space: the comm may hold anything else.
    let bytes = line.as_bytes();
    let mut from = 0;
    let rest = loop {
        let open = from + line.get(from..)?.find('[')?;
        let close = open + line.get(open..)?.find(']')?;
        let inner = line.get(open + 1..close)?;
        if all_digits(inner) && open > 0 && bytes.get(open - 1) == Some(&b' ') {
            break line.get(close + 1..)?;
        }
        from = open + 1;
    };
    let (first, after_first) = token(rest);
    let (time, after_time) = match ftrace_stamp(first) {
        Some(t) => (t, after_first),
        None => {
            let (second, after_second) = token(after_first);
            (ftrace_stamp(second)?, after_second)
        }
    };
    let (ev, body) = token(after_time);
    let ev = ev.strip_suffix(':')?;
    let ev = ev.rsplit(':').next()?;
    if ev.is_empty() || !ev.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        return None;
    }
    let body = body.strip_prefix(' ').unwrap_or(body);
    Some(FtraceLine { time, event: ev, body })
}

/// A hexadecimal number with or without `0x` (at most 64 bits).
pub(crate) fn hex(s: &str) -> Option<u64> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if h.is_empty() || h.len() > 16 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

/// `bus:slot.func` as QEMU prints it (`00:02.00`, `0000:01.0`, `00:1f.3`): bus and
/// slot hexadecimal, func one digit; the requester ID `bus << 8 | slot << 3 | func`.
pub(crate) fn bdf(s: &str) -> Option<u32> {
    let (bus, rest) = s.split_once(':')?;
    let (slot, func) = rest.split_once('.')?;
    let (bus, slot, func) = (hex(bus)?, hex(slot)?, hex(func)?);
    if bus > 0xff || slot > 0x1f || func > 7 {
        return None;
    }
    Some(((bus as u32) << 8) | ((slot as u32) << 3) | func as u32)
}

/// A Linux PCI device name, `dddd:bb:ss.f`: the requester ID, with a non-zero PCI
/// segment in bits 23:16 (segments above 0xef are not taken: `None`).
pub(crate) fn pci_name(s: &str) -> Option<u32> {
    let (dom, rest) = s.split_once(':')?;
    if dom.len() < 4 || !rest.contains(':') {
        return None;
    }
    let dom = hex(dom)?;
    let rid = bdf(rest)?;
    (dom <= 0xef).then_some(((dom as u32) << 16) | rid)
}

/// The fields of one event, for parsing with errors that name the field.
pub(crate) struct Fields<'a> {
    pub event: &'static str,
    pub text: &'a str,
    pub file: &'a str,
    pub line: u64,
}

fn excerpt(s: &str) -> &str {
    match s.char_indices().nth(120) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl<'a> Fields<'a> {
    pub fn new(event: &'static str, text: &'a str, file: &'a str, line: u64) -> Self {
        Fields { event, text, file, line }
    }

    /// An error in `field`.
    pub fn err(&self, field: &str, msg: impl Display) -> TraceError {
        TraceError {
            file: self.file.to_string(),
            line: self.line,
            column: field.to_string(),
            message: format!("{}: {msg} (in {:?})", self.event, excerpt(self.text)),
        }
    }

    fn missing(&self, field: &str) -> TraceError {
        self.err(field, "missing")
    }

    /// The token after the token `key` (`sid 0x10` → `0x10`); `field` names it in errors.
    pub fn after(&self, key: &str, field: &str) -> Result<&'a str, TraceError> {
        let mut it = self.text.split_ascii_whitespace();
        while let Some(t) = it.next() {
            if t == key {
                return it.next().ok_or_else(|| self.missing(field));
            }
        }
        Err(self.missing(field))
    }

    /// The value of the token that starts with `prefix` (`sid=0x10`, `iova:0x1000`).
    pub fn tagged(&self, prefix: &str) -> Result<&'a str, TraceError> {
        self.opt_tagged(prefix).ok_or_else(|| self.missing(prefix.trim_end_matches(['=', ':'])))
    }

    /// The value of the token that starts with `prefix`, if there is one.
    pub fn opt_tagged(&self, prefix: &str) -> Option<&'a str> {
        self.text.split_ascii_whitespace().find_map(|t| t.strip_prefix(prefix))
    }

    /// A hexadecimal value (with or without `0x`).
    pub fn hex(&self, field: &str, v: &str) -> Result<u64, TraceError> {
        hex(v).ok_or_else(|| self.err(field, format!("{v:?} is not a hexadecimal number")))
    }

    /// A number: hexadecimal with `0x`, or decimal.
    pub fn number(&self, field: &str, v: &str) -> Result<u64, TraceError> {
        parse_number(v.as_bytes()).ok_or_else(|| self.err(field, format!("{v:?} is not a number")))
    }

    /// A requester ID printed as `bus:slot.func`.
    pub fn bdf(&self, field: &str, v: &str) -> Result<u32, TraceError> {
        bdf(v).ok_or_else(|| self.err(field, format!("{v:?} is not bus:slot.func")))
    }

    /// A device or stream ID that must fit the 24-bit device ID.
    pub fn device_id(&self, field: &str, v: u64) -> Result<u32, TraceError> {
        u32::try_from(v)
            .ok()
            .filter(|d| d >> 24 == 0)
            .ok_or_else(|| self.err(field, format!("{v:#x} is wider than 24 bits")))
    }

    /// An array printed by `__print_array`: `{0x1000,0x2000}`.
    pub fn array(&self, field: &str, v: &str) -> Result<Vec<u64>, TraceError> {
        let inner = v
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .ok_or_else(|| self.err(field, format!("{v:?} is not an array {{0x..,0x..}}")))?;
        if inner.is_empty() {
            return Ok(Vec::new());
        }
        inner.split(',').map(|x| self.number(field, x)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_line_shapes() {
        let l = qemu_line("16642@1795607233.726648:vtd_dmar_translate dev 00:02.00 iova 0x1").unwrap();
        assert_eq!(l.time, Some(Stamp::Ns(1_795_607_233_726_648_000)));
        assert_eq!((l.event, l.args), ("vtd_dmar_translate", "dev 00:02.00 iova 0x1"));
        let l = qemu_line("smmuv3_translate_success smmuv3-iommu-memory-region-16-2 sid=0x10").unwrap();
        assert_eq!((l.time, l.event), (None, "smmuv3_translate_success"));
        let l = qemu_line("1970-01-02T00:00:01.5Z vtd_context_cache_reset ").unwrap();
        assert_eq!(l.time, Some(Stamp::Ns(86_401_500_000_000)));
        assert_eq!((l.event, l.args), ("vtd_context_cache_reset", ""));
        // error_report lines, console output.
        assert_eq!(qemu_line("2023-02-13T07:02:37.074397Z qemu-system-x86_64: vtd_iommu_translate: x"), None);
        assert_eq!(qemu_line("qemu-system-x86_64: warning: x"), None);
        assert_eq!(qemu_line("Booting Linux on physical CPU 0x0"), None);
        assert_eq!(qemu_line("[    0.000000] Linux version"), None);
        assert_eq!(qemu_line("12@x:vtd_reg_read"), None);
    }

    #[test]
    fn iso_dates_and_zones() {
        let (a, _) = iso8601("2025-07-01T12:34:56.123456Z x").unwrap();
        let (b, _) = iso8601("2025-07-01T14:34:56.123456+02:00 x").unwrap();
        assert_eq!(a, b);
        // 2025-07-01 is day 20270 since the epoch.
        assert_eq!(a / 1_000_000_000, 20_270 * 86_400 + 12 * 3600 + 34 * 60 + 56);
        assert_eq!(a % 1_000_000_000, 123_456_000);
        assert!(iso8601("2025-13-01T00:00:00Z").is_none());
        assert!(iso8601("20250701T00:00:00Z").is_none());
    }

    #[test]
    fn ftrace_context_columns() {
        let l =
            ftrace_line("          <idle>-0       [001] d.s3.     5.307504: qi_submit: iotlb_inv dmar0: 0x1").unwrap();
        assert_eq!(l.time, Stamp::Ns(5_307_504_000));
        assert_eq!((l.event, l.body), ("qi_submit", "iotlb_inv dmar0: 0x1"));
        // Long comms with spaces and brackets, a TGID column, no flags column.
        let l = ftrace_line(" kgx:disk$0 [x]-21918   (  21900) [003]   123.000001: map: IOMMU: iova=0x1").unwrap();
        assert_eq!(l.event, "map");
        let l =
            ftrace_line("kworker/2:1H-mm     183 [002]    32.472411:                 dma:dma_unmap_sg: 0000:00:02.0")
                .unwrap();
        assert_eq!((l.event, l.body), ("dma_unmap_sg", "0000:00:02.0"));
        let l = ftrace_line("  a-1 [000] ....  123456789: unmap: IOMMU: x").unwrap();
        assert_eq!(l.time, Stamp::Ticks(123_456_789));
        assert!(ftrace_line("#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION").is_none());
        assert!(ftrace_line("CPU:1 [LOST 12 EVENTS]").is_none());
    }

    #[test]
    fn device_names() {
        assert_eq!(bdf("00:02.00"), Some(0x10));
        assert_eq!(bdf("0000:01.0"), Some(0x08));
        assert_eq!(bdf("00:1f.3"), Some(0xfb));
        assert_eq!(bdf("00:20.0"), None);
        assert_eq!(pci_name("0000:00:02.0"), Some(0x10));
        assert_eq!(pci_name("0001:c2:00.0"), Some(0x1_c200));
        assert_eq!(pci_name("ff160000.mmc"), None);
    }
}
