//! The conformance-vector format `riscv-iommu-vector/1` (`tests/vectors/FORMAT.md`):
//! reading, with errors that name the file, line and field, and writing.

use iommu_model::{
    Access, Capabilities, Cause, Ddtp, DeviceId, FaultRecord, Fctl, Iova, ProcessId, Regs, Request, Status, Ttyp,
};
use serde_json::{Map, Value};
use std::fmt;

/// The value of the `format` field.
pub const FORMAT: &str = "riscv-iommu-vector/1";

/// One conformance vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Vector {
    /// Its name.
    pub name: String,
    /// Feature tags (`sv39`, `two-stage`, `msi`, ...).
    pub features: Vec<String>,
    /// Register values applied at reset.
    pub regs: Regs,
    /// Initial memory: (address, word), 8-byte-aligned addresses.
    pub memory: Vec<(u64, u64)>,
    /// Words whose accesses fail.
    pub bad_memory: Vec<u64>,
    /// The steps, in order.
    pub steps: Vec<VectorStep>,
    /// Words the IOMMU itself must have changed, with their final values.
    pub memory_after: Vec<(u64, u64)>,
}

/// One step of a vector.
#[derive(Clone, Debug, PartialEq)]
pub enum VectorStep {
    /// A translation and its expected answer.
    Translate {
        /// The request.
        req: Request,
        /// What a conforming IOMMU answers.
        expect: Expected,
    },
    /// A command, run to completion.
    Command {
        /// The two doublewords, low first.
        words: [u64; 2],
    },
    /// Software writes a word.
    WriteMemory {
        /// Where.
        addr: u64,
        /// What.
        value: u64,
    },
}

/// The expected answer of a translate step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Status.
    pub status: Status,
    /// The SPA, for `success`.
    pub spa: Option<u64>,
    /// The fault record reported, or `None` where none is.
    pub fault: Option<FaultRecord>,
}

/// A vector line that cannot be read: where, which field, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorError {
    /// The file (or `<embedded>/name`).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The field's path (`steps[3].expect.fault.iotval`), or empty for the line.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}:{}: field `{}`: {}", self.file, self.line, self.field, self.message)
        }
    }
}

impl std::error::Error for VectorError {}

/// A field-path error before the file and line are attached.
struct FieldError {
    field: String,
    message: String,
}

type Res<T> = Result<T, FieldError>;

fn err<T>(field: &str, message: impl Into<String>) -> Res<T> {
    Err(FieldError { field: field.to_string(), message: message.into() })
}

/// Parses one line of a vector file. `file` and `line` only label errors.
pub fn parse_line(text: &str, file: &str, line: usize) -> Result<Vector, VectorError> {
    let value: Value = serde_json::from_str(text).map_err(|e| VectorError {
        file: file.to_string(),
        line,
        field: String::new(),
        message: format!("not valid JSON: {e}"),
    })?;
    vector_from_value(&value).map_err(|e| VectorError {
        file: file.to_string(),
        line,
        field: e.field,
        message: e.message,
    })
}

/// Parses a whole file's text: one result per non-blank line, with its line
/// number. Bad lines do not stop the others.
pub fn parse_file(text: &str, file: &str) -> Vec<(usize, Result<Vector, VectorError>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, parse_line(l, file, i + 1)))
        .collect()
}

fn object<'a>(v: &'a Value, field: &str) -> Res<&'a Map<String, Value>> {
    v.as_object().map_or_else(|| err(field, format!("expected an object, found {}", kind(v))), Ok)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Checks that `obj` has no keys outside `allowed`.
fn known_keys(obj: &Map<String, Value>, parent: &str, allowed: &[&str]) -> Res<()> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return err(&join(parent, k), format!("unknown field (expected one of: {})", allowed.join(", ")));
        }
    }
    Ok(())
}

fn get<'a>(obj: &'a Map<String, Value>, parent: &str, key: &str) -> Res<&'a Value> {
    obj.get(key).map_or_else(|| err(&join(parent, key), "missing field"), Ok)
}

/// Reads a `"0x..."` hex string of at most 64 bits.
pub fn parse_hex(s: &str) -> Result<u64, String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| format!("hex string {s:?} does not start with 0x"))?;
    if digits.is_empty() || digits.len() > 16 {
        return Err(format!("hex string {s:?} must have 1 to 16 digits"));
    }
    u64::from_str_radix(digits, 16).map_err(|_| format!("{s:?} is not a hex number"))
}

fn hex(v: &Value, field: &str) -> Res<u64> {
    match v {
        Value::String(s) => parse_hex(s).or_else(|m| err(field, m)),
        other => err(field, format!("expected a hex string, found {}", kind(other))),
    }
}

fn hex_field(obj: &Map<String, Value>, parent: &str, key: &str) -> Res<u64> {
    hex(get(obj, parent, key)?, &join(parent, key))
}

fn aligned_addr(s: &str, field: &str) -> Res<u64> {
    let a = parse_hex(s).or_else(|m| err(field, m))?;
    if a & 7 != 0 {
        return err(field, format!("address {s} is not 8-byte aligned"));
    }
    Ok(a)
}

fn uint(v: &Value, field: &str, max: u64) -> Res<u64> {
    match v.as_u64() {
        Some(n) if n <= max => Ok(n),
        Some(n) => err(field, format!("{n} is larger than {max}")),
        None => err(field, format!("expected a non-negative integer, found {}", kind(v))),
    }
}

fn boolean(v: &Value, field: &str) -> Res<bool> {
    v.as_bool().map_or_else(|| err(field, format!("expected true or false, found {}", kind(v))), Ok)
}

fn string<'a>(v: &'a Value, field: &str) -> Res<&'a str> {
    v.as_str().map_or_else(|| err(field, format!("expected a string, found {}", kind(v))), Ok)
}

fn word_map(v: &Value, field: &str) -> Res<Vec<(u64, u64)>> {
    let obj = object(v, field)?;
    let mut out = Vec::with_capacity(obj.len());
    for (k, w) in obj {
        let f = format!("{field}[{k:?}]");
        out.push((aligned_addr(k, &f)?, hex(w, &f)?));
    }
    Ok(out)
}

fn vector_from_value(v: &Value) -> Res<Vector> {
    let top = object(v, "")?;
    known_keys(top, "", &["format", "name", "features", "regs", "memory", "bad_memory", "steps", "memory_after"])?;
    let format = string(get(top, "", "format")?, "format")?;
    if format != FORMAT {
        return err("format", format!("unsupported format {format:?} (expected {FORMAT:?})"));
    }
    let name = string(get(top, "", "name")?, "name")?.to_string();
    let features = match get(top, "", "features")? {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, f)| string(f, &format!("features[{i}]")).map(str::to_string))
            .collect::<Res<Vec<_>>>()?,
        other => return err("features", format!("expected an array, found {}", kind(other))),
    };
    let regs_v = object(get(top, "", "regs")?, "regs")?;
    known_keys(regs_v, "regs", &["capabilities", "fctl", "ddtp"])?;
    let regs = Regs {
        capabilities: Capabilities(hex_field(regs_v, "regs", "capabilities")?),
        fctl: Fctl(hex_field(regs_v, "regs", "fctl")?),
        ddtp: Ddtp(hex_field(regs_v, "regs", "ddtp")?),
    };
    let memory = word_map(get(top, "", "memory")?, "memory")?;
    let bad_memory = match get(top, "", "bad_memory")? {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let f = format!("bad_memory[{i}]");
                aligned_addr(string(x, &f)?, &f)
            })
            .collect::<Res<Vec<_>>>()?,
        other => return err("bad_memory", format!("expected an array, found {}", kind(other))),
    };
    let steps = match get(top, "", "steps")? {
        Value::Array(a) => {
            a.iter().enumerate().map(|(i, s)| step_from_value(s, &format!("steps[{i}]"))).collect::<Res<Vec<_>>>()?
        }
        other => return err("steps", format!("expected an array, found {}", kind(other))),
    };
    let memory_after = word_map(get(top, "", "memory_after")?, "memory_after")?;
    Ok(Vector { name, features, regs, memory, bad_memory, steps, memory_after })
}

fn step_from_value(v: &Value, path: &str) -> Res<VectorStep> {
    let obj = object(v, path)?;
    let op = string(get(obj, path, "op")?, &join(path, "op"))?;
    match op {
        "translate" => {
            known_keys(obj, path, &["op", "device_id", "pid", "priv", "iova", "access", "len", "expect"])?;
            let device_id = DeviceId(uint(get(obj, path, "device_id")?, &join(path, "device_id"), 0xff_ffff)? as u32);
            let pid = match get(obj, path, "pid")? {
                Value::Null => None,
                p => Some(ProcessId(uint(p, &join(path, "pid"), 0xf_ffff)? as u32)),
            };
            let privileged = boolean(get(obj, path, "priv")?, &join(path, "priv"))?;
            let iova = Iova(hex_field(obj, path, "iova")?);
            let access = match string(get(obj, path, "access")?, &join(path, "access"))? {
                "read" => Access::Read,
                "write" => Access::Write,
                "exec" => Access::Exec,
                a => return err(&join(path, "access"), format!("unknown access {a:?} (expected read, write or exec)")),
            };
            let len = uint(get(obj, path, "len")?, &join(path, "len"), 4096)? as u32;
            if len == 0 {
                return err(&join(path, "len"), "length must be at least 1");
            }
            let req = Request { device_id, pid, privileged, iova, access, len };
            let expect = expected_from_value(get(obj, path, "expect")?, &join(path, "expect"))?;
            Ok(VectorStep::Translate { req, expect })
        }
        "command" => {
            known_keys(obj, path, &["op", "words"])?;
            let f = join(path, "words");
            match get(obj, path, "words")? {
                Value::Array(a) if a.len() == 2 => Ok(VectorStep::Command {
                    words: [hex(&a[0], &format!("{f}[0]"))?, hex(&a[1], &format!("{f}[1]"))?],
                }),
                Value::Array(a) => err(&f, format!("expected 2 words, found {}", a.len())),
                other => err(&f, format!("expected an array, found {}", kind(other))),
            }
        }
        "write_memory" => {
            known_keys(obj, path, &["op", "addr", "value"])?;
            let f = join(path, "addr");
            let addr = aligned_addr(string(get(obj, path, "addr")?, &f)?, &f)?;
            Ok(VectorStep::WriteMemory { addr, value: hex_field(obj, path, "value")? })
        }
        other => err(&join(path, "op"), format!("unknown op {other:?} (expected translate, command or write_memory)")),
    }
}

fn expected_from_value(v: &Value, path: &str) -> Res<Expected> {
    let obj = object(v, path)?;
    known_keys(obj, path, &["status", "spa", "fault"])?;
    let status = match string(get(obj, path, "status")?, &join(path, "status"))? {
        "success" => Status::Success,
        "unsupported_request" => Status::UnsupportedRequest,
        "completer_abort" => Status::CompleterAbort,
        s => return err(&join(path, "status"), format!("unknown status {s:?}")),
    };
    let spa = match obj.get("spa") {
        None | Some(Value::Null) => None,
        Some(s) => Some(hex(s, &join(path, "spa"))?),
    };
    if status == Status::Success && spa.is_none() {
        return err(&join(path, "spa"), "missing field (required when status is success)");
    }
    let fault = match obj.get("fault") {
        None | Some(Value::Null) => None,
        Some(f) => Some(fault_from_value(f, &join(path, "fault"))?),
    };
    Ok(Expected { status, spa, fault })
}

fn fault_from_value(v: &Value, path: &str) -> Res<FaultRecord> {
    let obj = object(v, path)?;
    known_keys(obj, path, &["cause", "ttyp", "did", "pv", "pid", "priv", "iotval", "iotval2"])?;
    Ok(FaultRecord {
        cause: Cause(uint(get(obj, path, "cause")?, &join(path, "cause"), 0xfff)? as u16),
        ttyp: Ttyp(uint(get(obj, path, "ttyp")?, &join(path, "ttyp"), 0x3f)? as u8),
        did: DeviceId(uint(get(obj, path, "did")?, &join(path, "did"), 0xff_ffff)? as u32),
        pv: boolean(get(obj, path, "pv")?, &join(path, "pv"))?,
        pid: uint(get(obj, path, "pid")?, &join(path, "pid"), 0xf_ffff)? as u32,
        privileged: boolean(get(obj, path, "priv")?, &join(path, "priv"))?,
        iotval: hex_field(obj, path, "iotval")?,
        iotval2: hex_field(obj, path, "iotval2")?,
    })
}

// ---- writing ----------------------------------------------------------------

fn hex_str(v: u64) -> String {
    format!("{v:#x}")
}

fn word_str(v: u64) -> String {
    format!("{v:#018x}")
}

fn fault_json(f: &FaultRecord) -> Value {
    serde_json::json!({
        "cause": f.cause.0, "ttyp": f.ttyp.0, "did": f.did.0, "pv": f.pv, "pid": f.pid,
        "priv": f.privileged, "iotval": hex_str(f.iotval), "iotval2": hex_str(f.iotval2),
    })
}

impl Vector {
    /// The vector as one JSON line (no trailing newline), in the field order of
    /// `FORMAT.md`. Memory is written in address order.
    pub fn to_json_line(&self) -> String {
        let mut mem = self.memory.clone();
        mem.sort_unstable();
        let mut after = self.memory_after.clone();
        after.sort_unstable();
        let map = |m: &[(u64, u64)]| -> Map<String, Value> {
            m.iter().map(|&(a, w)| (hex_str(a), Value::String(word_str(w)))).collect()
        };
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| match s {
                VectorStep::Translate { req, expect } => {
                    let mut e = Map::new();
                    e.insert("status".into(), Value::String(expect.status.name().into()));
                    if let Some(spa) = expect.spa {
                        e.insert("spa".into(), Value::String(hex_str(spa)));
                    }
                    if expect.status != Status::Success {
                        e.insert("fault".into(), expect.fault.as_ref().map_or(Value::Null, fault_json));
                    }
                    serde_json::json!({
                        "op": "translate", "device_id": req.device_id.0,
                        "pid": req.pid.map(|p| p.0), "priv": req.privileged,
                        "iova": hex_str(req.iova.0), "access": req.access.name(), "len": req.len,
                        "expect": Value::Object(e),
                    })
                }
                VectorStep::Command { words } => {
                    serde_json::json!({"op": "command", "words": [word_str(words[0]), word_str(words[1])]})
                }
                VectorStep::WriteMemory { addr, value } => {
                    serde_json::json!({"op": "write_memory", "addr": hex_str(*addr), "value": word_str(*value)})
                }
            })
            .collect();
        let mut top = Map::new();
        top.insert("format".into(), Value::String(FORMAT.into()));
        top.insert("name".into(), Value::String(self.name.clone()));
        top.insert("features".into(), self.features.iter().map(|f| Value::String(f.clone())).collect());
        top.insert(
            "regs".into(),
            serde_json::json!({
                "capabilities": hex_str(self.regs.capabilities.0),
                "fctl": hex_str(self.regs.fctl.0),
                "ddtp": hex_str(self.regs.ddtp.0),
            }),
        );
        top.insert("memory".into(), Value::Object(map(&mem)));
        top.insert("bad_memory".into(), self.bad_memory.iter().map(|&a| Value::String(hex_str(a))).collect());
        top.insert("steps".into(), Value::Array(steps));
        top.insert("memory_after".into(), Value::Object(map(&after)));
        Value::Object(top).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"format":"riscv-iommu-vector/1","name":"t","features":["ddt1"],"regs":{"capabilities":"0x200","fctl":"0x0","ddtp":"0x80000002"},"memory":{"0x80000000":"0x1"},"bad_memory":["0x80400000"],"steps":[{"op":"translate","device_id":1,"pid":null,"priv":false,"iova":"0x1000","access":"read","len":8,"expect":{"status":"unsupported_request","fault":{"cause":258,"ttyp":2,"did":1,"pv":false,"pid":0,"priv":false,"iotval":"0x1000","iotval2":"0x0"}}},{"op":"command","words":["0x3","0x0"]},{"op":"write_memory","addr":"0x80000008","value":"0x5"}],"memory_after":{}}"#;

    fn error_of(line: &str) -> VectorError {
        parse_line(line, "f.jsonl", 7).expect_err("line should be rejected")
    }

    #[test]
    fn a_good_line_parses_and_round_trips() {
        let v = parse_line(GOOD, "f.jsonl", 1).unwrap();
        assert_eq!(v.steps.len(), 3);
        assert_eq!(v.memory, vec![(0x8000_0000, 1)]);
        let again = parse_line(&v.to_json_line(), "f.jsonl", 1).unwrap();
        assert_eq!(again, v);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = error_of(&GOOD.replace(r#""iova":"0x1000""#, r#""iova":"0x10g0""#));
        assert_eq!((e.file.as_str(), e.line, e.field.as_str()), ("f.jsonl", 7, "steps[0].iova"));
        assert!(e.to_string().starts_with("f.jsonl:7: field `steps[0].iova`:"), "{e}");

        let e = error_of(&GOOD.replace(r#""len":8,"#, ""));
        assert_eq!(e.field, "steps[0].len");
        assert!(e.message.contains("missing"));

        let e = error_of(&GOOD.replace(r#""len":8,"#, r#""len":8,"colour":"red","#));
        assert_eq!(e.field, "steps[0].colour");
        assert!(e.message.contains("unknown field"));

        let e = error_of(&GOOD.replace(r#""cause":258"#, r#""cause":"258""#));
        assert_eq!(e.field, "steps[0].expect.fault.cause");

        let e = error_of(&GOOD.replace(r#""0x80000000":"0x1""#, r#""0x80000004":"0x1""#));
        assert!(e.message.contains("aligned"), "{e}");

        let e = error_of(&GOOD[..40]);
        assert_eq!(e.field, "");
        assert!(e.message.contains("JSON"));

        let e = error_of(&GOOD.replace("riscv-iommu-vector/1", "riscv-iommu-vector/2"));
        assert_eq!(e.field, "format");
    }

    #[test]
    fn bad_lines_do_not_stop_the_others() {
        let text = format!("{GOOD}\nnot json\n\n{GOOD}\n");
        let results = parse_file(&text, "x");
        assert_eq!(results.len(), 3);
        assert!(results[0].1.is_ok());
        assert_eq!(results[1].0, 2);
        assert!(results[1].1.is_err());
        assert_eq!(results[2].0, 4);
        assert!(results[2].1.is_ok());
    }

    #[test]
    fn hex_strings() {
        assert_eq!(parse_hex("0xffffffffffffffff"), Ok(u64::MAX));
        assert!(parse_hex("0x1ffffffffffffffff").is_err());
        assert!(parse_hex("12").is_err());
        assert!(parse_hex("0x").is_err());
        assert!(parse_hex("0x-1").is_err());
    }
}
