//! A cache of the compiled library, shared by every cargo profile and command of
//! one target directory.
//!
//! The C++ is compiled with the same flags whatever the profile, so `cargo clippy`,
//! `cargo test` and `cargo build --release` (each of which runs the build script in
//! its own `OUT_DIR`) would otherwise each spend minutes compiling the same models.
//! An entry is keyed by a hash of everything that goes into the library: the RTL
//! sources, `files.f`, `configs.txt`, the shim, this build script, the Verilator
//! version, the C++ compiler and its flags from the environment, and the features.
//! The newest [`KEEP`] entries are kept.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// Entries kept (each a few tens of MB).
const KEEP: usize = 4;

/// The library's file name, as the `cc` crate writes it.
pub const LIBRARY: &str = "libiommu_cosim_rtl.a";

/// Environment variables that change the compiled C++.
const ENV: &[&str] = &[
    "CXX",
    "CXXFLAGS",
    "CRATE_CC_NO_DEFAULTS",
    "CARGO_ENCODED_RUSTFLAGS",
    "TARGET",
    "HOST",
    "VERILATOR",
    "VERILATOR_ROOT",
];

/// The hash of the inputs, as a file name.
#[derive(PartialEq, Eq)]
pub struct Key(String);

/// Builds the key from input files (path and content; directories recursively)
/// and other facts (versions, feature flags).
pub fn key(files: &[PathBuf], facts: &[String]) -> Result<Key, String> {
    let mut hasher = DefaultHasher::new();
    for path in files {
        hash_path(&mut hasher, path)?;
    }
    facts.hash(&mut hasher);
    for name in ENV {
        (name, std::env::var_os(name)).hash(&mut hasher);
    }
    Ok(Key(format!("{:016x}", hasher.finish())))
}

/// The directory of the cache: `<target>/iommu-cosim-cache`, from `OUT_DIR`
/// (`<target>[/<triple>]/<profile>/build/<package>-<hash>/out`).
pub fn root(out: &Path) -> Option<PathBuf> {
    Some(out.ancestors().nth(4)?.join("iommu-cosim-cache"))
}

/// Copies a cached library into `out`; returns the Verilator warnings it was built
/// with, or `None` on a miss.
pub fn fetch(root: &Path, key: &Key, out: &Path) -> Option<Vec<String>> {
    let entry = root.join(&key.0);
    let warnings = std::fs::read_to_string(entry.join("warnings.txt")).ok()?;
    std::fs::copy(entry.join(LIBRARY), out.join(LIBRARY)).ok()?;
    // Touch: the entry is recent again.
    let _ = std::fs::write(entry.join("used"), b"");
    Some(warnings.lines().map(str::to_owned).collect())
}

/// Stores the library just built in `out` (best effort: a failure only costs the
/// next build its time). Written aside, then renamed, so that concurrent builds
/// never see half an entry.
pub fn store(root: &Path, key: &Key, out: &Path, warnings: &[String]) {
    let entry = root.join(&key.0);
    let temp = root.join(format!("{}.tmp{}", key.0, std::process::id()));
    let stored = std::fs::create_dir_all(&temp).is_ok()
        && std::fs::copy(out.join(LIBRARY), temp.join(LIBRARY)).is_ok()
        && std::fs::write(temp.join("warnings.txt"), warnings.join("\n")).is_ok()
        && std::fs::write(temp.join("used"), b"").is_ok()
        && (entry.exists() || std::fs::rename(&temp, &entry).is_ok());
    if !stored || temp.exists() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    evict(root);
}

/// Removes all but the [`KEEP`] most recently used entries.
fn evict(root: &Path) {
    let Ok(dir) = std::fs::read_dir(root) else { return };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = dir
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().contains(".tmp"))
        .filter_map(|e| {
            let used = std::fs::metadata(e.path().join("used")).and_then(|m| m.modified()).ok()?;
            Some((used, e.path()))
        })
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, path) in entries.into_iter().skip(KEEP) {
        let _ = std::fs::remove_dir_all(path);
    }
}

/// Hashes a file's path and content, or a directory's files in name order.
fn hash_path(hasher: &mut DefaultHasher, path: &Path) -> Result<(), String> {
    path.hash(hasher);
    if path.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        children.sort();
        for child in children {
            hash_path(hasher, &child)?;
        }
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    bytes.hash(hasher);
    Ok(())
}
