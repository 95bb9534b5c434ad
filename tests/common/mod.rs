//! Helpers shared by the integration tests: running the real `contrada` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `contrada ARGS` in `dir` with a clean CONTRADA__ environment.
pub fn contrada_in(dir: &Path, args: &[&str]) -> Output {
    contrada_logging(dir, args, "warn")
}

/// Like [`contrada_in`], logging at `level` (`info` to see what a stage decided) on stderr.
pub fn contrada_logging(dir: &Path, args: &[&str], level: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contrada"));
    cmd.args(args).current_dir(dir).env("RUST_LOG", level);
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

/// Whether two NetCDF files hold the same variables with the same values (NaN equal to NaN).
/// Bytes differ between runs (the `history` attribute has a time stamp), values must not.
pub fn same_values(a: &Path, b: &Path) -> Result<(), String> {
    use contrada::cf::NcFile;
    let (fa, fb) = (NcFile::open(a).map_err(|e| e.to_string())?, NcFile::open(b).map_err(|e| e.to_string())?);
    let (mut va, mut vb) = (fa.var_names(), fb.var_names());
    va.sort();
    vb.sort();
    if va != vb {
        return Err(format!("variables differ: {va:?} vs {vb:?}"));
    }
    for v in va {
        let (x, y) = (fa.read(&v).map_err(|e| e.to_string())?, fb.read(&v).map_err(|e| e.to_string())?);
        if x.data.shape() != y.data.shape() || x.data.iter().zip(y.data.iter()).any(|(p, q)| p != q && !(p.is_nan() && q.is_nan())) {
            return Err(format!("variable {v} differs"));
        }
    }
    Ok(())
}
