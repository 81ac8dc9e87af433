//! The RTL configurations of `rtl/configs.txt`: one Verilator model per line.
//!
//! The format is one configuration a line, `name Param=Value Param=Value ...`, with
//! `#` comments and blank lines. Every line sets every parameter of `iommu_top`, so
//! this file alone tells Rust the geometry of each model.
//!
//! This module is also compiled into `build.rs` (through `#[path]`), so the build
//! script and the library read the file with the same parser: it uses only `std` and
//! `thiserror`.

use std::fmt;

/// Parameters of one `iommu_top` configuration, as given to Verilator with `-G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Params {
    /// `IotlbSets`: sets of the IOTLB (a power of two).
    pub iotlb_sets: u32,
    /// `IotlbWays`: ways of the IOTLB (a power of two).
    pub iotlb_ways: u32,
    /// `DdtcSets`: sets of the device-directory cache (a power of two).
    pub ddtc_sets: u32,
    /// `DdtcWays`: ways of the device-directory cache (a power of two).
    pub ddtc_ways: u32,
    /// `PdtcSets`: sets of the process-directory cache (a power of two).
    pub pdtc_sets: u32,
    /// `PdtcWays`: ways of the process-directory cache (a power of two).
    pub pdtc_ways: u32,
    /// `Walkers`: page-table walkers, 1 to [`MAX_WALKERS`]; each has its own
    /// memory-response port.
    pub walkers: u32,
    /// `ReqQueue`: entries of the request queue.
    pub req_queue: u32,
    /// `FaultInjection`: 0 for the real unit; other values plant a known bug
    /// (see `iommu_top`), so that tests can show the co-simulation catches it.
    pub fault_injection: u32,
}

/// Most walkers a configuration may have: the width of the memory-response fields
/// of [`crate::Inputs`].
pub const MAX_WALKERS: u32 = 8;

/// Which values a parameter accepts.
#[derive(Debug, Clone, Copy)]
enum Rule {
    PowerOfTwo,
    Range(u32, u32),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::PowerOfTwo => write!(f, "a power of two"),
            Rule::Range(lo, hi) => write!(f, "from {lo} to {hi}"),
        }
    }
}

impl Rule {
    fn allows(self, value: u32) -> bool {
        match self {
            Rule::PowerOfTwo => value.is_power_of_two(),
            Rule::Range(lo, hi) => (lo..=hi).contains(&value),
        }
    }
}

/// The parameters in the order of `iommu_top`'s header, with their rules.
const PARAMS: [(&str, Rule); 9] = [
    ("IotlbSets", Rule::PowerOfTwo),
    ("IotlbWays", Rule::PowerOfTwo),
    ("DdtcSets", Rule::PowerOfTwo),
    ("DdtcWays", Rule::PowerOfTwo),
    ("PdtcSets", Rule::PowerOfTwo),
    ("PdtcWays", Rule::PowerOfTwo),
    ("Walkers", Rule::Range(1, MAX_WALKERS)),
    ("ReqQueue", Rule::Range(1, 1 << 16)),
    ("FaultInjection", Rule::Range(0, 1)),
];

impl Params {
    /// The SystemVerilog names of the parameters, in the order of `iommu_top`'s header.
    pub const NAMES: [&'static str; 9] = [
        PARAMS[0].0,
        PARAMS[1].0,
        PARAMS[2].0,
        PARAMS[3].0,
        PARAMS[4].0,
        PARAMS[5].0,
        PARAMS[6].0,
        PARAMS[7].0,
        PARAMS[8].0,
    ];

    /// The value of a parameter by its SystemVerilog name (`"Walkers"`).
    pub fn get(&self, name: &str) -> Option<u32> {
        Some(match name {
            "IotlbSets" => self.iotlb_sets,
            "IotlbWays" => self.iotlb_ways,
            "DdtcSets" => self.ddtc_sets,
            "DdtcWays" => self.ddtc_ways,
            "PdtcSets" => self.pdtc_sets,
            "PdtcWays" => self.pdtc_ways,
            "Walkers" => self.walkers,
            "ReqQueue" => self.req_queue,
            "FaultInjection" => self.fault_injection,
            _ => return None,
        })
    }

    /// `(name, value)` pairs in the order of [`Params::NAMES`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        Self::NAMES.iter().map(move |&name| (name, self.get(name).unwrap_or_default()))
    }

    /// Builds the parameters from a value per entry of [`Params::NAMES`].
    fn from_values(v: [u32; 9]) -> Params {
        Params {
            iotlb_sets: v[0],
            iotlb_ways: v[1],
            ddtc_sets: v[2],
            ddtc_ways: v[3],
            pdtc_sets: v[4],
            pdtc_ways: v[5],
            walkers: v[6],
            req_queue: v[7],
            fault_injection: v[8],
        }
    }
}

/// One line of `rtl/configs.txt`: a named configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The name: the `<name>` of the exported `iommu_<name>_*` functions and of the
    /// Verilator prefix `V<name>`.
    pub name: String,
    /// The parameter values.
    pub params: Params,
}

/// A mistake in `rtl/configs.txt`, with its line number (from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The name is not a lower-case identifier.
    #[error(
        "line {line}: configuration name `{name}` must be lower-case letters, digits and '_', starting with a letter"
    )]
    BadName {
        /// Line number.
        line: usize,
        /// The offending name.
        name: String,
    },
    /// Two lines use the same name.
    #[error("line {line}: configuration `{name}` is defined twice")]
    DuplicateName {
        /// Line number of the second definition.
        line: usize,
        /// The repeated name.
        name: String,
    },
    /// A word is not `Param=Value`.
    #[error("line {line}: `{word}` is not Param=Value")]
    BadSetting {
        /// Line number.
        line: usize,
        /// The offending word.
        word: String,
    },
    /// A parameter `iommu_top` does not have.
    #[error("line {line}: unknown parameter `{param}` (known: {})", Params::NAMES.join(", "))]
    UnknownParam {
        /// Line number.
        line: usize,
        /// The unknown name.
        param: String,
    },
    /// A parameter set twice on one line.
    #[error("line {line}: parameter `{param}` is set twice")]
    DuplicateParam {
        /// Line number.
        line: usize,
        /// The repeated parameter.
        param: String,
    },
    /// A parameter the line does not set.
    #[error("line {line}: configuration `{name}` does not set `{param}` (every line sets every parameter)")]
    MissingParam {
        /// Line number.
        line: usize,
        /// The configuration.
        name: String,
        /// The missing parameter.
        param: &'static str,
    },
    /// A value that is not a number or breaks the parameter's rule.
    #[error("line {line}: `{param}={value}`: must be {rule}")]
    BadValue {
        /// Line number.
        line: usize,
        /// The parameter.
        param: &'static str,
        /// The value as written.
        value: String,
        /// What the parameter accepts.
        rule: String,
    },
    /// No configuration at all.
    #[error("no configuration: the file needs at least one line `name Param=Value ...`")]
    Empty,
}

/// Parses the text of `rtl/configs.txt`.
pub fn parse(text: &str) -> Result<Vec<Config>, ConfigError> {
    let mut configs: Vec<Config> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or_default();
        let mut words = content.split_whitespace();
        let Some(name) = words.next() else { continue };
        if !is_identifier(name) {
            return Err(ConfigError::BadName { line, name: name.to_owned() });
        }
        if configs.iter().any(|c| c.name == name) {
            return Err(ConfigError::DuplicateName { line, name: name.to_owned() });
        }
        let params = parse_params(line, name, words)?;
        configs.push(Config { name: name.to_owned(), params });
    }
    if configs.is_empty() {
        return Err(ConfigError::Empty);
    }
    Ok(configs)
}

/// Parses the `Param=Value` words of one line.
fn parse_params<'a>(line: usize, name: &str, words: impl Iterator<Item = &'a str>) -> Result<Params, ConfigError> {
    let mut values: [Option<u32>; 9] = [None; 9];
    for word in words {
        let Some((param, value)) = word.split_once('=') else {
            return Err(ConfigError::BadSetting { line, word: word.to_owned() });
        };
        let Some(index) = PARAMS.iter().position(|(known, _)| *known == param) else {
            return Err(ConfigError::UnknownParam { line, param: param.to_owned() });
        };
        let (known, rule) = PARAMS[index];
        if values[index].is_some() {
            return Err(ConfigError::DuplicateParam { line, param: param.to_owned() });
        }
        let bad = || ConfigError::BadValue { line, param: known, value: value.to_owned(), rule: rule.to_string() };
        let number: u32 = value.parse().map_err(|_| bad())?;
        if !rule.allows(number) {
            return Err(bad());
        }
        values[index] = Some(number);
    }
    let mut all = [0; 9];
    for (index, value) in values.iter().enumerate() {
        all[index] = value.ok_or(ConfigError::MissingParam { line, name: name.to_owned(), param: PARAMS[index].0 })?;
    }
    Ok(Params::from_values(all))
}

/// A name usable in C identifiers and Verilator prefixes: `[a-z][a-z0-9_]*`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str =
        "IotlbSets=16 IotlbWays=4 DdtcSets=4 DdtcWays=4 PdtcSets=4 PdtcWays=4 Walkers=4 ReqQueue=4 FaultInjection=0";

    #[test]
    fn parses_lines_comments_and_blank_lines() {
        let text = format!("# header\n\nsmall {FULL} # trailing\nbig_2 {}\n", FULL.replace("Walkers=4", "Walkers=8"));
        let configs = parse(&text).expect("valid");
        assert_eq!(configs.len(), 2);
        assert_eq!(configs[0].name, "small");
        assert_eq!(configs[0].params.iotlb_sets, 16);
        assert_eq!(configs[1].params.walkers, 8);
        assert_eq!(configs[1].params.get("Walkers"), Some(8));
        assert_eq!(configs[1].params.iter().count(), Params::NAMES.len());
    }

    #[test]
    fn the_project_file_parses() {
        let configs = parse(include_str!("../../rtl/configs.txt")).expect("rtl/configs.txt is valid");
        assert!(configs.iter().any(|c| c.name == "default"));
    }

    #[test]
    fn rejects_each_kind_of_mistake() {
        type Expect = fn(&ConfigError) -> bool;
        let cases: [(String, Expect); 8] = [
            (format!("Small {FULL}"), |e| matches!(e, ConfigError::BadName { .. })),
            (format!("a {FULL}\na {FULL}"), |e| matches!(e, ConfigError::DuplicateName { line: 2, .. })),
            (format!("a {FULL} Walkers"), |e| matches!(e, ConfigError::BadSetting { .. })),
            (format!("a {FULL} Foo=1"), |e| matches!(e, ConfigError::UnknownParam { .. })),
            (format!("a {FULL} Walkers=2"), |e| matches!(e, ConfigError::DuplicateParam { .. })),
            ("a Walkers=2".to_owned(), |e| matches!(e, ConfigError::MissingParam { param: "IotlbSets", .. })),
            (FULL.replace("Walkers=4", "Walkers=9").replace("IotlbSets", "a IotlbSets"), |e| {
                matches!(e, ConfigError::BadValue { param: "Walkers", .. })
            }),
            ("# nothing\n".to_owned(), |e| matches!(e, ConfigError::Empty)),
        ];
        for (text, expected) in cases {
            let error = parse(&text).expect_err(&text);
            assert!(expected(&error), "{text}: {error}");
        }
    }

    #[test]
    fn rejects_sets_that_are_not_powers_of_two() {
        let text = format!("a {}", FULL.replace("IotlbSets=16", "IotlbSets=12"));
        assert!(matches!(parse(&text), Err(ConfigError::BadValue { param: "IotlbSets", .. })));
    }
}
