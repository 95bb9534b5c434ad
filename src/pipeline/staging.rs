//! Atomic publication of outputs: write into a hidden staging directory, fsync, rename into place.
//!
//! A crash or a kill leaves only a `.NAME.partial` directory, never a half-written file where a
//! finished one belongs; the next run removes stale staging directories.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A staging directory for the outputs that will end up in `target`.
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
}

impl Staging {
    /// Creates an empty staging directory beside `target` (removing a stale one).
    pub fn new(target: &Path) -> Result<Self> {
        let dir = hidden_sibling(target, "partial");
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| Error::output_dir(target, e))?;
        Ok(Staging { dir, target: target.to_path_buf() })
    }

    /// The directory to write outputs into.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Fsyncs every file, then replaces `target` by the staging directory as a whole.
    pub fn commit_dir(self) -> Result<()> {
        sync_tree(&self.dir)?;
        let old = self.target.with_extension("old");
        if self.target.exists() {
            if old.exists() {
                fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
            }
            fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, e))?;
        }
        fs::rename(&self.dir, &self.target).map_err(|e| Error::io(&self.target, e))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        sync_dir(self.target.parent().unwrap_or(Path::new(".")));
        Ok(())
    }

    /// Fsyncs every file, then moves each one into `target` (a directory that may hold other
    /// files, e.g. a user's `--out` directory), replacing files of the same name.
    pub fn commit_files(self) -> Result<Vec<PathBuf>> {
        sync_tree(&self.dir)?;
        fs::create_dir_all(&self.target).map_err(|e| Error::output_dir(&self.target, e))?;
        let mut moved = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let dest = self.target.join(entry.file_name());
            fs::rename(entry.path(), &dest).map_err(|e| Error::io(&dest, e))?;
            moved.push(dest);
        }
        fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        sync_dir(&self.target);
        moved.sort();
        Ok(moved)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // On an error path the staging directory is dropped uncommitted: leave nothing behind.
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The hidden directory `.NAME.SUFFIX` beside `target` (`NAME` its file name).
pub fn hidden_sibling(target: &Path, suffix: &str) -> PathBuf {
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    parent.join(format!(".{name}.{suffix}"))
}

/// Fsyncs every file below `dir`, then `dir` itself.
pub fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            fs::File::open(&path).and_then(|f| f.sync_all()).map_err(|e| Error::io(&path, e))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// Makes a rename durable; failure is harmless on filesystems that do not support it.
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Removes staging directories left behind by killed runs inside `dir`.
pub fn remove_stale(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let Ok(entries) = fs::read_dir(dir) else { return Ok(0) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".partial") {
            fs::remove_dir_all(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            removed += 1;
        } else if entry.path().is_dir() && !name.starts_with('.') {
            removed += remove_stale(&entry.path())?;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_staging_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("stage");
        {
            let s = Staging::new(&target).unwrap();
            fs::write(s.path().join("a.nc"), b"x").unwrap();
        }
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn commit_dir_replaces_previous_outputs() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("stage");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.nc"), b"old").unwrap();
        let s = Staging::new(&target).unwrap();
        fs::write(s.path().join("new.nc"), b"new").unwrap();
        s.commit_dir().unwrap();
        assert!(!target.join("old.nc").exists());
        assert_eq!(fs::read(target.join("new.nc")).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("stage")]);
    }
}
