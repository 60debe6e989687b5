//! Finding what to benchmark: the function crates, their release binaries and sample events.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// One function crate under `functions/`.
#[derive(Debug, Clone)]
pub struct Function {
    /// The crate's directory name, which is also its binary's name.
    pub name: String,
    /// The built binary the benchmark runs.
    pub binary: PathBuf,
    /// `events/<name>.json`, if the function has a sample event.
    pub event: Option<PathBuf>,
}

/// The workspace this benchmark was built in (`infra/bench/../..`), the default `--root`.
pub fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    fs::canonicalize(&root).unwrap_or(root)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| root.join("target"), PathBuf::from)
}

/// Every crate under `<root>/functions/` (sorted by name), or only those named in `only`,
/// with its binary looked up in `bin_dir`.
pub fn functions(root: &Path, bin_dir: &Path, only: &[String]) -> Result<Vec<Function>, String> {
    let functions_dir = root.join("functions");
    let entries =
        fs::read_dir(&functions_dir).map_err(|error| format!("cannot list {}: {error}", functions_dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();

    if let Some(unknown) = only.iter().find(|name| !names.contains(name)) {
        return Err(format!(
            "--only {unknown}: no such function in {} (there are: {})",
            functions_dir.display(),
            names.join(", ")
        ));
    }
    if !only.is_empty() {
        names.retain(|name| only.contains(name));
    }

    Ok(names
        .into_iter()
        .map(|name| {
            let event = root.join("events").join(format!("{name}.json"));
            Function { binary: bin_dir.join(&name), event: event.is_file().then_some(event), name }
        })
        .collect())
}

/// Fails, naming every missing binary and how to build it, unless all of them exist.
pub fn check_binaries(functions: &[Function]) -> Result<(), String> {
    let missing: Vec<&Function> = functions.iter().filter(|f| !f.binary.is_file()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let paths: Vec<String> = missing.iter().map(|f| format!("  {}", f.binary.display())).collect();
    let packages: Vec<String> = missing.iter().map(|f| format!("-p {}", f.name)).collect();
    Err(format!(
        "missing function binaries:\n{}\nbuild them first: cargo build --release {}",
        paths.join("\n"),
        packages.join(" ")
    ))
}
