//! Raw simulation speed of a configuration: a bare C++ loop that only toggles the
//! clock of the Verilator model, against the same cycles through [`Rtl::step`]
//! (inputs copied in, outputs copied out, one FFI call per cycle). The difference
//! is what the shim and the FFI cost.
//!
//! Both loops hold reset for [`RESET_CYCLES`], release it and then time `cycles`
//! cycles with constant inputs: no request, every response taken, memory ready.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::ffi;
use crate::ports::Inputs;
use crate::rtl::Rtl;

/// Cycles of reset before the timed cycles (as in `shim/bare_loop.cpp`).
pub const RESET_CYCLES: u64 = 4;

/// Both measurements of one configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed {
    /// Timed cycles of each loop.
    pub cycles: u64,
    /// Time of the bare C++ loop.
    pub bare: Duration,
    /// Time of the [`Rtl::step`] loop.
    pub rust: Duration,
}

impl Speed {
    /// Cycles per second of the bare C++ loop.
    pub fn bare_per_second(&self) -> f64 {
        per_second(self.cycles, self.bare)
    }

    /// Cycles per second of the [`Rtl::step`] loop.
    pub fn rust_per_second(&self) -> f64 {
        per_second(self.cycles, self.rust)
    }
}

/// Measures both loops on fresh models of `config`.
pub fn measure(config: &str, cycles: u64) -> Result<Speed, Error> {
    Ok(Speed { cycles, bare: bare_loop(config, cycles)?, rust: rust_loop(config, cycles)? })
}

/// Time of `cycles` cycles of the bare C++ loop on a fresh model.
pub fn bare_loop(config: &str, cycles: u64) -> Result<Duration, Error> {
    let name = Rtl::new(config)?.name();
    let fns = ffi::model(name).ok_or(Error::BareLoop { config: name })?;
    // SAFETY: no preconditions; the C++ loop builds and frees its own model.
    let nanos = unsafe { (fns.bare_loop)(cycles) };
    if nanos == u64::MAX {
        return Err(Error::BareLoop { config: name });
    }
    Ok(Duration::from_nanos(nanos))
}

/// Time of `cycles` calls of [`Rtl::step`] on a fresh model.
pub fn rust_loop(config: &str, cycles: u64) -> Result<Duration, Error> {
    let mut rtl = Rtl::new(config)?;
    let mut inputs = Inputs { rsp_ready_i: true, mem_req_ready_i: true, ..Inputs::default() };
    for _ in 0..RESET_CYCLES {
        rtl.step(&inputs)?;
    }
    inputs.rst_ni = true;
    let inputs = black_box(inputs);
    let start = Instant::now();
    for _ in 0..cycles {
        black_box(rtl.step(&inputs)?);
    }
    Ok(start.elapsed())
}

fn per_second(cycles: u64, time: Duration) -> f64 {
    cycles as f64 / time.as_secs_f64().max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_loops_run_on_every_configuration() {
        for config in crate::configs().expect("parses") {
            let speed = measure(&config.name, 1000).expect("runs");
            assert_eq!(speed.cycles, 1000);
            assert!(speed.bare_per_second() > 0.0 && speed.rust_per_second() > 0.0, "{speed:?}");
        }
    }

    #[test]
    fn an_unknown_configuration_is_an_error() {
        assert!(matches!(bare_loop("nope", 10), Err(Error::UnknownConfig { .. })));
        assert!(matches!(rust_loop("nope", 10), Err(Error::UnknownConfig { .. })));
    }
}
