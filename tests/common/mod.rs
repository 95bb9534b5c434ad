//! Helpers shared by the integration tests: running the real `contrada` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `contrada ARGS` in `dir` with a clean CONTRADA__ environment.
pub fn contrada_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contrada"));
    cmd.args(args).current_dir(dir).env("RUST_LOG", "warn");
    // Tests run in threads that write NetCDF files while others spawn this binary; a child
    // inherits any HDF5 file descriptor open at that moment, with its file lock, and a sibling's
    // child would then fail to open that file. Locking guards nothing between these processes.
    cmd.env("HDF5_USE_FILE_LOCKING", "FALSE");
    for (k, _) in std::env::vars() {
        if k.starts_with("CONTRADA__") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("contrada binary runs")
}

/// Runs `contrada ARGS` in the crate root.
pub fn contrada(args: &[&str]) -> Output {
    contrada_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Path of a committed fixture.
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}
