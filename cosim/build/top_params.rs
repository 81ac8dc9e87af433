//! Checks that `rtl/configs.txt`'s parameters are exactly those of `iommu_top`: a
//! parameter added to the RTL must be added to `Params` (and to every line of
//! `configs.txt`), or Rust would not know the geometry of the models it runs.

use std::path::PathBuf;

use crate::config::Params;

/// The names of the parameters declared in `module iommu_top #( ... )`, read from
/// whichever source file declares the module.
pub fn read(sources: &[PathBuf]) -> Result<Vec<String>, String> {
    for path in sources {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let code: String =
            text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
        let Some(start) = find_module(&code, "iommu_top") else { continue };
        let header = &code[start..];
        // The header ends at the first `;`, after the port list.
        let end = header.find(";").unwrap_or(header.len());
        return Ok(parameter_names(&header[..end]));
    }
    Err("no file of rtl/files.f declares `module iommu_top`".to_owned())
}

/// Compares the RTL's parameters with [`Params::NAMES`].
pub fn check(rtl: &[String]) -> Result<(), String> {
    let missing: Vec<&str> = rtl.iter().map(String::as_str).filter(|n| !Params::NAMES.contains(n)).collect();
    let extra: Vec<&str> = Params::NAMES.iter().copied().filter(|n| !rtl.iter().any(|r| r == n)).collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the parameters of iommu_top and of cosim's Params differ: only in the RTL: [{}]; only in Params: [{}]. \
         Update cosim/src/config.rs (Params) and every line of rtl/configs.txt.",
        missing.join(", "),
        extra.join(", ")
    ))
}

/// Byte offset of `module <name>` followed by a non-identifier character.
fn find_module(code: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = code[from..].find("module") {
        let start = from + at;
        let rest = code[start + "module".len()..].trim_start();
        if let Some(after) = rest.strip_prefix(name) {
            if !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                return Some(start);
            }
        }
        from = start + "module".len();
    }
    None
}

/// The name before `=` in each `parameter ... Name = value` of a module header.
fn parameter_names(header: &str) -> Vec<String> {
    header
        .split("parameter")
        .skip(1)
        .filter_map(|decl| {
            let before_eq = decl.split('=').next()?;
            let name = before_eq.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).rfind(|w| !w.is_empty())?;
            Some(name.to_owned())
        })
        .collect()
}
