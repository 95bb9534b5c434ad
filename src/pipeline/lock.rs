//! The run-directory lock: one run at a time per run directory.
//!
//! An advisory `flock` on `RUN_DIR/.lock`, released by the kernel when the process dies, so a killed
//! run never leaves a stale lock. The file holds who took it, for the "locked by" message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held lock; released on drop.
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock on `run_dir` without waiting; [`Error::Locked`] names the holder otherwise.
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(run_dir).map_err(|e| Error::output_dir(run_dir, e))?;
        let path = run_dir.join(".lock");
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| Error::output_dir(run_dir, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() { "another process".to_string() } else { holder.trim().to_string() };
                return Err(Error::Locked { run_dir: run_dir.to_path_buf(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let who = format!("pid {} on {} since {}", std::process::id(), host.trim(), chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"));
        file.set_len(0).and_then(|_| file.rewind()).and_then(|_| file.write_all(who.as_bytes())).and_then(|_| file.flush()).map_err(|e| Error::io(&path, e))?;
        Ok(RunLock { _file: file, path })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the holder text; the flock itself goes with the file descriptor.
        let _ = OpenOptions::new().write(true).open(&self.path).and_then(|f| f.set_len(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(tmp.path()).unwrap();
        let err = RunLock::acquire(tmp.path()).err().expect("second lock must fail");
        assert_eq!(err.exit_code(), crate::error::EXIT_LOCKED);
        assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        RunLock::acquire(tmp.path()).expect("lock is free again after drop");
    }
}
