//! Stage manifests (`RUN_DIR/STAGE[/WINDOW]/manifest.json`) and the run record (`RUN_DIR/run.json`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of a stage manifest inside its output directory.
pub const MANIFEST: &str = "manifest.json";
/// File name of the record of the last run inside the run directory.
pub const RUN_RECORD: &str = "run.json";

/// A file read or written by a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Input name from the pipeline file, or the output's file name.
    pub name: String,
    /// Path as given (inputs) or relative to the stage directory (outputs).
    pub path: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Everything needed to say how a stage's outputs were made and whether they are still current.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Stage name.
    pub stage: String,
    /// Stage kind.
    pub kind: String,
    /// Always "complete": a manifest is only published with finished outputs.
    pub status: String,
    /// Hash of the stage spec, its configuration sections, input hashes, window and crate version.
    pub fingerprint: String,
    /// The date window, for windowed stages.
    pub window: Option<String>,
    /// Inputs with content hashes.
    pub inputs: Vec<FileRecord>,
    /// Outputs with content hashes.
    pub outputs: Vec<FileRecord>,
    /// The configuration sections the stage depends on, resolved.
    pub config: serde_json::Value,
    /// The stage's seed.
    pub seed: u64,
    /// contrada version.
    pub contrada_version: String,
    /// Git revision contrada was built from.
    pub git_revision: String,
    /// Start time, UTC, RFC 3339.
    pub started: String,
    /// End time, UTC, RFC 3339.
    pub finished: String,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// The stage's own summary (counts, scores).
    pub summary: serde_json::Value,
}

/// Outcome of one stage in the last run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageOutcome {
    /// Stage name.
    pub stage: String,
    /// "done", "skipped" (already done) or "failed".
    pub status: String,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Error message for failed stages.
    pub message: Option<String>,
}

/// Record of the last run of a run directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Pipeline name.
    pub pipeline: String,
    /// Window, if any.
    pub window: Option<String>,
    /// Start time, UTC.
    pub started: String,
    /// Stage outcomes in order.
    pub stages: Vec<StageOutcome>,
}

/// Reads a JSON file written by contrada.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::input(path, format!("not a contrada record: {e}")))
}

/// Writes JSON atomically (temporary name, fsync, rename). On failure the temporary file is
/// removed and `path` keeps its previous content.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp: PathBuf = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(&tmp, text).and_then(|_| std::fs::File::open(&tmp)?.sync_all()).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Overwrites the existing file `path` in place with `value`, padded with spaces to the old length
/// (trailing whitespace is valid JSON). The last resort for recording a failure on a full disk,
/// where [`write_json`] cannot create its temporary file: blocks already allocated to `path` are
/// reused, so a record no longer than a block more than the old one still fits. Not atomic.
pub fn overwrite_json_in_place<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    use std::io::Write;
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?.into_bytes();
    let mut file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
    let old = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
    text.resize(text.len().max(old), b' ');
    file.write_all(&text).and_then(|_| file.sync_all()).map_err(|e| Error::io(path, e))
}
