//! Checkpoint directories: where a long stage keeps resumable work that survives a killed run.
//!
//! A stage's checkpoint directory is `.NAME.checkpoint` beside its output directory (like the
//! staging directory `.NAME.partial`, but not removed when a run starts). It is hidden and holds no
//! manifest, so it is never taken for finished outputs, and it records the fingerprint of the stage
//! run that wrote it: a run with another configuration or other inputs starts afresh instead of
//! resuming someone else's work. The runner removes it once the stage's outputs are published.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::staging::hidden_sibling;
use crate::error::{Error, Result};

/// File inside a checkpoint directory naming the stage fingerprint it belongs to.
const FINGERPRINT: &str = "FINGERPRINT";

/// The checkpoint directory of one stage run (created only when the stage asks for it).
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    path: PathBuf,
    fingerprint: String,
}

impl CheckpointDir {
    /// The checkpoint directory of the stage whose outputs go to `target`, for a run with
    /// `fingerprint`. Work left by a run with another fingerprint is removed, and so is any work
    /// when `fresh` (e.g. `--force`: the user asked for a rerun from scratch).
    pub fn for_stage(target: &Path, fingerprint: &str, fresh: bool) -> Result<CheckpointDir> {
        let dir = CheckpointDir { path: hidden_sibling(target, "checkpoint"), fingerprint: fingerprint.to_string() };
        if dir.path.exists() {
            let recorded = fs::read_to_string(dir.path.join(FINGERPRINT)).unwrap_or_default();
            if fresh || recorded.trim() != fingerprint {
                tracing::info!("discarding the checkpoint {} of an earlier, different run", dir.path.display());
                dir.remove()?;
            }
        }
        Ok(dir)
    }

    /// The directory, if work of this run was checkpointed there.
    pub fn existing(&self) -> Option<&Path> {
        self.path.join(FINGERPRINT).is_file().then_some(self.path.as_path())
    }

    /// Creates the directory (tagged with the fingerprint) if needed and returns it.
    pub fn create(&self) -> Result<&Path> {
        if self.existing().is_none() {
            fs::create_dir_all(&self.path).map_err(|e| Error::io(&self.path, e))?;
            let tag = self.path.join(FINGERPRINT);
            fs::write(&tag, &self.fingerprint).map_err(|e| Error::io(&tag, e))?;
        }
        Ok(&self.path)
    }

    /// Removes the directory and everything in it (nothing to do when it does not exist).
    pub fn remove(&self) -> Result<()> {
        match fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io(&self.path, e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_survives_only_for_the_same_fingerprint() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("train");
        let dir = CheckpointDir::for_stage(&target, "abc", false).unwrap();
        assert!(dir.existing().is_none(), "nothing is created until asked");
        assert!(!tmp.path().join(".train.checkpoint").exists());
        let path = dir.create().unwrap().to_path_buf();
        assert_eq!(path, tmp.path().join(".train.checkpoint"));
        fs::write(path.join("epoch"), b"3").unwrap();

        let same = CheckpointDir::for_stage(&target, "abc", false).unwrap();
        assert_eq!(fs::read(same.existing().unwrap().join("epoch")).unwrap(), b"3");
        let forced = CheckpointDir::for_stage(&target, "abc", true).unwrap();
        assert!(forced.existing().is_none() && !path.exists(), "a fresh run discards the work");

        forced.create().unwrap();
        let other = CheckpointDir::for_stage(&target, "xyz", false).unwrap();
        assert!(other.existing().is_none() && !path.exists(), "another run's work is discarded");
        other.remove().unwrap();
    }
}
