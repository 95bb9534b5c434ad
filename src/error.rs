//! Typed errors for the whole library, and the exit code each one maps to.
//!
//! Library code returns [`Error`]; the binary prints its `Display` (one readable message naming the
//! file, variable or key at fault and what was expected) and exits with [`Error::exit_code`].

use std::path::{Path, PathBuf};

/// Exit code for success, including "already done".
pub const EXIT_OK: i32 = 0;
/// Exit code for anything not covered below (I/O failure, internal fault).
pub const EXIT_OTHER: i32 = 1;
/// Exit code for bad usage, bad configuration or bad input data.
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code when another run holds the run-directory lock (EX_TEMPFAIL: cron may retry).
pub const EXIT_LOCKED: i32 = 75;

/// Every failure contrada reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line was wrong.
    #[error("{0}")]
    Usage(String),
    /// A configuration key is unknown, missing or out of range.
    #[error("{origin}: key `{key}`: {message}")]
    Config {
        /// Where the value came from: a file path, an environment variable or "command line".
        origin: String,
        /// Dotted key, e.g. `synth.lagrangian.n_grid`.
        key: String,
        /// What was wrong and what is allowed.
        message: String,
    },
    /// An input file is missing, unreadable or not what the configuration says it is.
    #[error("{}: {message}", path.display())]
    Input {
        /// The offending file.
        path: PathBuf,
        /// What was wrong, naming the variable, and what was expected.
        message: String,
    },
    /// Another process holds the run directory.
    #[error("run directory {} is locked by {holder}; wait for that run to finish or stop it", run_dir.display())]
    Locked {
        /// The locked run directory.
        run_dir: PathBuf,
        /// Who holds the lock (pid, host, start time), as written in the lock file.
        holder: String,
    },
    /// An operating-system I/O error on a path we were writing or reading.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A numerical or internal failure that is not the user's input.
    #[error("{0}")]
    Other(String),
    /// A pipeline stage failed: the error, prefixed with the stage's name so that a cron log
    /// says where a run stopped. Keeps the exit code of the error inside.
    #[error("stage `{stage}`: {source}")]
    Stage {
        /// The stage's name in the pipeline file.
        stage: String,
        /// What went wrong in it.
        source: Box<Error>,
    },
}

impl Error {
    /// The process exit code for this error (see docs/toolchain.md §6).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Config { .. } | Error::Input { .. } => EXIT_BAD_INPUT,
            Error::Locked { .. } => EXIT_LOCKED,
            Error::Io { .. } | Error::Other(_) => EXIT_OTHER,
            Error::Stage { source, .. } => source.exit_code(),
        }
    }

    /// Bad input data in `path`.
    pub fn input(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Input { path: path.as_ref().to_path_buf(), message: message.into() }
    }

    /// A configuration problem with `key`, set in `origin`.
    pub fn config(origin: impl Into<String>, key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { origin: origin.into(), key: key.into(), message: message.into() }
    }

    /// `self` with the origin "pipeline file" (all that code deep in a stage knows) replaced by the
    /// pipeline file's path, so that a cron log says which file to fix.
    pub fn in_pipeline(self, path: &Path) -> Self {
        match self {
            Error::Config { origin, key, message } if origin == "pipeline file" && !path.as_os_str().is_empty() => {
                Error::Config { origin: path.display().to_string(), key, message }
            }
            Error::Stage { stage, source } => Error::Stage { stage, source: Box::new(source.in_pipeline(path)) },
            other => other,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// Failure to create or write in an output directory the user named (`--out`, a run directory):
    /// a directory that cannot be written (permissions, a read-only file system, a file in the way)
    /// is a usage error, exit 2, like a missing input; anything else, e.g. a full disk, stays an I/O
    /// error.
    pub fn output_dir(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match source.kind() {
            K::PermissionDenied | K::ReadOnlyFilesystem | K::NotADirectory | K::AlreadyExists => {
                Error::input(path, format!("cannot write the output here ({source}); expected a writable directory"))
            }
            _ => Error::io(path, source),
        }
    }
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
