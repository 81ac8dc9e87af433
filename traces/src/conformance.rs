//! Running conformance vectors on any [`Translator`] and comparing every answer,
//! field by field, with the vector's expectation.

use crate::vector::{Expected, Vector, VectorError, VectorStep};
use iommu_model::memory::MemoryAccess;
use iommu_model::{FaultRecord, RecordingMemory, Response, Spa, SparseMemory, Status, Translator};
use std::collections::BTreeMap;
use std::fmt;

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDiff {
    /// The field (`status`, `spa`, `fault.cause`, `memory[0x80001000]`, ...).
    pub field: String,
    /// What the vector expects.
    pub expected: String,
    /// What the backend gave.
    pub got: String,
}

/// A step whose answer differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFailure {
    /// Index of the step in the vector (`None` for the final memory check).
    pub step: Option<usize>,
    /// What the step was.
    pub what: String,
    /// The fields that differ.
    pub diffs: Vec<FieldDiff>,
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(i) => writeln!(f, "    step {i}: {}", self.what)?,
            None => writeln!(f, "    after the last step: {}", self.what)?,
        }
        for d in &self.diffs {
            writeln!(f, "      {:<16} expected {:<22} got {}", d.field, d.expected, d.got)?;
        }
        Ok(())
    }
}

/// How a vector ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step matched.
    Passed,
    /// These steps did not (the run stops at the first failing step).
    Failed(Vec<StepFailure>),
    /// The backend lacks a feature the vector needs.
    Skipped(String),
}

fn diff(out: &mut Vec<FieldDiff>, field: &str, expected: impl fmt::Display, got: impl fmt::Display) {
    let (e, g) = (expected.to_string(), got.to_string());
    if e != g {
        out.push(FieldDiff { field: field.to_string(), expected: e, got: g });
    }
}

/// Compares a fault record with the expected one. `iotval` is compared on bits
/// 63:12 and `iotval2` on bits 63:12 and 1:0 (`FORMAT.md`: page offsets are not
/// part of the expectation).
pub fn fault_diffs(expected: &FaultRecord, got: &FaultRecord) -> Vec<FieldDiff> {
    let mut d = Vec::new();
    diff(&mut d, "fault.cause", expected.cause.0, got.cause.0);
    diff(&mut d, "fault.ttyp", expected.ttyp.0, got.ttyp.0);
    diff(&mut d, "fault.did", expected.did.0, got.did.0);
    diff(&mut d, "fault.pv", expected.pv, got.pv);
    diff(&mut d, "fault.pid", expected.pid, got.pid);
    diff(&mut d, "fault.priv", expected.privileged, got.privileged);
    let page = !0xfffu64;
    if expected.iotval & page != got.iotval & page {
        diff(&mut d, "fault.iotval", format!("{:#x}", expected.iotval), format!("{:#x}", got.iotval));
    }
    let m2 = page | 3;
    if expected.iotval2 & m2 != got.iotval2 & m2 {
        diff(&mut d, "fault.iotval2", format!("{:#x}", expected.iotval2), format!("{:#x}", got.iotval2));
    }
    d
}

/// Compares a response with a translate step's expectation.
pub fn response_diffs(expected: &Expected, got: &Response) -> Vec<FieldDiff> {
    let mut d = Vec::new();
    diff(&mut d, "status", expected.status.name(), got.status.name());
    if expected.status == Status::Success && got.status == Status::Success {
        if let Some(spa) = expected.spa {
            diff(&mut d, "spa", format!("{spa:#x}"), format!("{:#x}", got.spa.0));
        }
    }
    match (&expected.fault, got.reported_fault()) {
        (None, None) => {}
        (Some(e), Some(g)) => d.extend(fault_diffs(e, g)),
        (Some(e), None) => {
            let why = if got.suppressed { "none (suppressed by DTF)" } else { "none" };
            diff(&mut d, "fault", format!("cause {}", e.cause.0), why);
        }
        (None, Some(g)) => diff(&mut d, "fault", "none", format!("cause {}", g.cause.0)),
    }
    d
}

/// Builds a vector's initial memory.
pub fn initial_memory(v: &Vector) -> SparseMemory {
    let mut mem = SparseMemory::new();
    for &(a, w) in &v.memory {
        mem.poke(Spa(a), w);
    }
    for &a in &v.bad_memory {
        mem.mark_bad(Spa(a));
    }
    mem
}

/// Runs one vector on `t`.
pub fn run_vector(t: &mut dyn Translator, v: &Vector) -> Outcome {
    if let Some(f) = v.features.iter().find(|f| !t.supports(f)) {
        return Outcome::Skipped(format!("{} does not implement feature `{f}`", t.name()));
    }
    t.reset(&v.regs);
    let mut mem = initial_memory(v);
    // What memory holds if only software writes: the reference for memory_after.
    let mut software = initial_memory(v);
    let mut queued = Vec::new();
    for (i, step) in v.steps.iter().enumerate() {
        match step {
            VectorStep::Translate { req, expect } => {
                let got = t.translate(&mut mem, req);
                let mut d = response_diffs(expect, &got);
                queued.clear();
                t.drain_faults(&mut queued);
                let want_queue = usize::from(expect.fault.is_some());
                if queued.len() != want_queue && d.is_empty() {
                    diff(
                        &mut d,
                        "fault queue",
                        format!("{want_queue} record(s)"),
                        format!("{} record(s)", queued.len()),
                    );
                }
                if !d.is_empty() {
                    let what = format!(
                        "translate {} device {} pid {} {} iova {:#x}",
                        req.access.name(),
                        req.device_id.0,
                        req.pid.map_or("none".to_string(), |p| p.0.to_string()),
                        if req.privileged { "supervisor" } else { "user" },
                        req.iova.0
                    );
                    return Outcome::Failed(vec![StepFailure { step: Some(i), what, diffs: d }]);
                }
            }
            VectorStep::Command { words } => {
                if let Err(e) = t.command(&mut mem, *words) {
                    return Outcome::Failed(vec![StepFailure {
                        step: Some(i),
                        what: format!("command {:#018x} {:#018x}", words[0], words[1]),
                        diffs: vec![FieldDiff {
                            field: "result".into(),
                            expected: "completed".into(),
                            got: e.to_string(),
                        }],
                    }]);
                }
            }
            VectorStep::WriteMemory { addr, value } => {
                // Software's store; bad words stay bad for the IOMMU, not for it.
                mem.poke(Spa(*addr), *value);
                software.poke(Spa(*addr), *value);
            }
        }
    }
    // memory_after: every word the IOMMU changed, and nothing else.
    let mut diffs = Vec::new();
    let mut expected_after: BTreeMap<u64, u64> = BTreeMap::new();
    for (a, w) in software.nonzero_words() {
        expected_after.insert(a.0, w);
    }
    for &(a, w) in &v.memory_after {
        expected_after.insert(a, w);
    }
    let mut addrs: Vec<u64> = expected_after.keys().copied().collect();
    addrs.extend(mem.nonzero_words().map(|(a, _)| a.0));
    addrs.sort_unstable();
    addrs.dedup();
    for a in addrs {
        let want = expected_after.get(&a).copied().unwrap_or(0);
        let got = mem.peek(Spa(a));
        if want != got {
            diff(&mut diffs, &format!("memory[{a:#x}]"), format!("{want:#018x}"), format!("{got:#018x}"));
        }
    }
    if diffs.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(vec![StepFailure { step: None, what: "memory the IOMMU wrote (A/D updates)".into(), diffs }])
    }
}

/// One translate step of a traced run: the step's index, the answer, and every
/// memory access the backend made for it.
#[derive(Clone, Debug)]
pub struct TracedStep {
    /// Index in the vector's steps.
    pub step: usize,
    /// The request.
    pub req: iommu_model::Request,
    /// The answer.
    pub response: Response,
    /// The accesses, in order.
    pub accesses: Vec<MemoryAccess>,
}

/// Runs a vector's steps on `t` and records, for each translation, the memory
/// accesses it made (for `iommu vectors --trace`). Expectations are not checked.
pub fn trace_vector(t: &mut dyn Translator, v: &Vector) -> Vec<TracedStep> {
    t.reset(&v.regs);
    let mut mem = RecordingMemory::new(initial_memory(v));
    let mut out = Vec::new();
    for (i, step) in v.steps.iter().enumerate() {
        match step {
            VectorStep::Translate { req, .. } => {
                mem.log.clear();
                let response = t.translate(&mut mem, req);
                out.push(TracedStep { step: i, req: *req, response, accesses: std::mem::take(&mut mem.log) });
            }
            VectorStep::Command { words } => {
                let _ = t.command(&mut mem, *words);
            }
            VectorStep::WriteMemory { addr, value } => mem.inner.poke(Spa(*addr), *value),
        }
    }
    let mut sink = Vec::new();
    t.drain_faults(&mut sink);
    out
}

/// Passed, failed and skipped counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Vectors that passed.
    pub passed: usize,
    /// Vectors that failed.
    pub failed: usize,
    /// Vectors skipped.
    pub skipped: usize,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
    }

    /// Total vectors.
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
}

/// A failed vector, with where it came from.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The file.
    pub file: String,
    /// Its line.
    pub line: usize,
    /// The vector's name.
    pub name: String,
    /// The failing steps.
    pub steps: Vec<StepFailure>,
}

/// Results of a run over several files.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Counts per file, in the order files were given.
    pub per_file: Vec<(String, Tally)>,
    /// Counts per feature tag.
    pub per_feature: BTreeMap<String, Tally>,
    /// Every failure.
    pub failures: Vec<Failure>,
    /// Every line that could not be read.
    pub errors: Vec<VectorError>,
    /// Skipped vectors and why.
    pub skipped: Vec<(String, String)>,
}

impl Summary {
    /// Runs every line of one file's text and adds the results.
    pub fn run_file(&mut self, t: &mut dyn Translator, file: &str, text: &str) {
        let mut tally = Tally::default();
        for (line, parsed) in crate::vector::parse_file(text, file) {
            match parsed {
                Err(e) => self.errors.push(e),
                Ok(v) => {
                    let outcome = run_vector(t, &v);
                    tally.add(&outcome);
                    for f in &v.features {
                        self.per_feature.entry(f.clone()).or_default().add(&outcome);
                    }
                    match outcome {
                        Outcome::Failed(steps) => {
                            self.failures.push(Failure { file: file.to_string(), line, name: v.name.clone(), steps })
                        }
                        Outcome::Skipped(why) => self.skipped.push((v.name.clone(), why)),
                        Outcome::Passed => {}
                    }
                }
            }
        }
        self.per_file.push((file.to_string(), tally));
    }

    /// All files together.
    pub fn total(&self) -> Tally {
        let mut t = Tally::default();
        for (_, f) in &self.per_file {
            t.passed += f.passed;
            t.failed += f.failed;
            t.skipped += f.skipped;
        }
        t
    }

    /// Whether everything that ran passed and every line was readable.
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<40} {:>7} {:>7} {:>7}", "file", "passed", "failed", "skipped")?;
        for (file, t) in &self.per_file {
            writeln!(f, "{:<40} {:>7} {:>7} {:>7}", file, t.passed, t.failed, t.skipped)?;
        }
        let total = self.total();
        writeln!(f, "{:<40} {:>7} {:>7} {:>7}", "total", total.passed, total.failed, total.skipped)?;
        writeln!(f)?;
        writeln!(f, "{:<40} {:>7} {:>7} {:>7}", "feature", "passed", "failed", "skipped")?;
        for (feat, t) in &self.per_feature {
            writeln!(f, "{:<40} {:>7} {:>7} {:>7}", feat, t.passed, t.failed, t.skipped)?;
        }
        for fail in &self.failures {
            writeln!(f)?;
            writeln!(f, "FAILED {} ({}:{})", fail.name, fail.file, fail.line)?;
            for s in &fail.steps {
                write!(f, "{s}")?;
            }
        }
        if !self.errors.is_empty() {
            writeln!(f)?;
            writeln!(f, "{} line(s) could not be read:", self.errors.len())?;
            for e in &self.errors {
                writeln!(f, "  {e}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::parse_line;
    use iommu_model::{CacheConfig, Iommu};

    /// A one-level DDT whose only device context is invalid: every request of
    /// device 1 faults with cause 258.
    const V: &str = r#"{"format":"riscv-iommu-vector/1","name":"t","features":["ddt1"],"regs":{"capabilities":"0x200","fctl":"0x0","ddtp":"0x20000002"},"memory":{},"bad_memory":[],"steps":[{"op":"translate","device_id":1,"pid":null,"priv":false,"iova":"0x1000","access":"read","len":8,"expect":{"status":"unsupported_request","fault":{"cause":258,"ttyp":2,"did":1,"pv":false,"pid":0,"priv":false,"iotval":"0x1000","iotval2":"0x0"}}}],"memory_after":{}}"#;

    #[test]
    fn a_matching_vector_passes_and_a_wrong_expectation_fails_with_the_field() {
        let mut m = Iommu::new(CacheConfig::default());
        assert_eq!(run_vector(&mut m, &parse_line(V, "v", 1).unwrap()), Outcome::Passed);
        let wrong = parse_line(&V.replace(r#""cause":258"#, r#""cause":257"#), "v", 1).unwrap();
        match run_vector(&mut m, &wrong) {
            Outcome::Failed(f) => {
                assert_eq!(f[0].step, Some(0));
                assert_eq!(
                    f[0].diffs,
                    vec![FieldDiff { field: "fault.cause".into(), expected: "257".into(), got: "258".into() }]
                );
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn unexpected_memory_changes_fail() {
        let mut m = Iommu::new(CacheConfig::default());
        let v = parse_line(&V.replace(r#""memory_after":{}"#, r#""memory_after":{"0x1000":"0x1"}"#), "v", 1).unwrap();
        match run_vector(&mut m, &v) {
            Outcome::Failed(f) => assert_eq!(f[0].diffs[0].field, "memory[0x1000]"),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn iotval_page_offsets_are_not_compared() {
        let mut e = FaultRecord::from_words([0, 0, 0x1234, 0x5679]);
        let g = FaultRecord::from_words([0, 0, 0x1000, 0x5001]);
        assert!(fault_diffs(&e, &g).is_empty());
        e.iotval2 = 0x5678;
        assert_eq!(fault_diffs(&e, &g).len(), 1, "iotval2 bit 0 is compared");
    }
}
