//! Raw simulation speed of the RTL models: the bare C++ clock loop against the same
//! cycles through `Rtl::step`.
//!
//! ```text
//! cargo run --release -p iommu-cosim --example speed -- [CONFIG...] [--cycles N]
//! ```
//! Without a configuration, measures every one of `rtl/configs.txt`.

use std::process::ExitCode;

use iommu_cosim::speed;

const USAGE: &str = "usage: speed [CONFIG...] [--cycles N]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("speed: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut cycles: u64 = 1_000_000;
    let mut names: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cycles" => {
                let value = args.next().ok_or(USAGE)?;
                cycles = value.parse().map_err(|_| format!("--cycles {value}: not a number\n{USAGE}"))?;
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => names.push(arg),
        }
    }
    if names.is_empty() {
        names = iommu_cosim::configs().map_err(|e| e.to_string())?.iter().map(|c| c.name.clone()).collect();
    }
    println!("{} ({}), {cycles} cycles per loop", iommu_cosim::VERILATOR_VERSION, trace_note());
    println!("{:<12} {:>16} {:>16} {:>8}", "config", "bare C++ cyc/s", "Rtl::step cyc/s", "ratio");
    for name in &names {
        let s = speed::measure(name, cycles).map_err(|e| e.to_string())?;
        let (bare, rust) = (s.bare_per_second(), s.rust_per_second());
        println!("{name:<12} {bare:>16.0} {rust:>16.0} {:>8.2}", rust / bare);
    }
    Ok(())
}

fn trace_note() -> &'static str {
    if iommu_cosim::TRACE {
        "built with trace support"
    } else {
        "no trace support"
    }
}
