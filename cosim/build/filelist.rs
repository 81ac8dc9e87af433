//! Reads `rtl/files.f`, the list of RTL sources Verilator compiles, to tell cargo
//! what to watch and to find the source of `iommu_top`. Verilator itself reads the
//! file (`-F`), so only what matters for watching is understood here: source files
//! and `+incdir+` directories, relative to `rtl/`, and `//` comments.

use std::path::{Path, PathBuf};

/// What `files.f` names.
pub struct FileList {
    /// Source files, resolved against the directory of `files.f`.
    pub sources: Vec<PathBuf>,
    /// Include directories (`+incdir+a+b`), resolved the same way.
    pub include_dirs: Vec<PathBuf>,
}

/// Reads and splits `files.f`.
pub fn read(path: &Path) -> Result<FileList, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut list = FileList { sources: Vec::new(), include_dirs: Vec::new() };
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default();
        for word in line.split_whitespace() {
            if let Some(dirs) = word.strip_prefix("+incdir+") {
                list.include_dirs.extend(dirs.split('+').filter(|d| !d.is_empty()).map(|d| base.join(d)));
            } else if !word.starts_with(['-', '+']) {
                list.sources.push(base.join(word));
            }
        }
    }
    if list.sources.is_empty() {
        return Err(format!("{} lists no source file", path.display()));
    }
    Ok(list)
}
