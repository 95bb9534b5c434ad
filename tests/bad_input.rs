//! Bad input files: each gives exit code 2 and one message naming the file, the variable and what
//! was expected, and leaves nothing behind.

use crate::common;

use std::path::{Path, PathBuf};

use common::{contrada_in, stderr};
use contrada::cf::NcWriter;
use contrada::config::IoConfig;

/// Writes a small (time, y, x) state file; `time_attrs` and `time` / `psi` values are the knobs.
fn state_file(dir: &Path, name: &str, time: &[f64], time_attrs: Vec<(&str, netcdf::AttributeValue)>, psi_fill: bool) -> PathBuf {
    let path = dir.join(name);
    let mut w = NcWriter::create(&path, &IoConfig::default(), "bad input test").unwrap();
    w.coord("time", time, time_attrs).unwrap();
    w.coord("y", &[0.0, 1.0], vec![("units", "m".into())]).unwrap();
    w.coord("x", &[0.0, 1.0, 2.0], vec![("units", "m".into())]).unwrap();
    let n = time.len() * 6;
    let psi: Vec<f64> = (0..n).map(|i| if psi_fill { f64::NAN } else { i as f64 }).collect();
    w.var_f64("psi", &["time", "y", "x"], &psi, vec![("units", "m2 s-1".into())]).unwrap();
    w.finish().unwrap();
    path
}

fn good_time() -> Vec<(&'static str, netcdf::AttributeValue)> {
    vec![("units", "days since 2026-01-01".into()), ("calendar", "standard".into())]
}

/// Runs `contrada ARGS` in `dir` and checks exit code 2, that stderr names every `needles`
/// item, and that the directory holds exactly the files it held before.
fn assert_rejected(dir: &Path, args: &[&str], needles: &[&str]) {
    let before = listing(dir);
    let out = contrada_in(dir, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr:\n{err}");
    for n in needles {
        assert!(err.contains(n), "message should name `{n}`:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "one message:\n{err}");
    assert_eq!(listing(dir), before, "nothing may be written");
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir).into_iter().map(|p| p.strip_prefix(dir).unwrap().display().to_string()).collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    assert_rejected(dir.path(), &["inspect", "absent.nc"], &["absent.nc", "file not found"]);
}

#[test]
fn not_netcdf() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.nc"), "time,psi\n0,1\n").unwrap();
    assert_rejected(dir.path(), &["inspect", "notes.nc"], &["notes.nc", "not a NetCDF file"]);
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = state_file(dir.path(), "full.nc", &[0.0, 1.0], good_time(), false);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(dir.path().join("cut.nc"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::remove_file(good).unwrap();
    assert_rejected(dir.path(), &["inspect", "cut.nc"], &["cut.nc", "truncated or corrupt"]);
}

#[test]
fn missing_variable() {
    let dir = tempfile::tempdir().unwrap();
    state_file(dir.path(), "s.nc", &[0.0, 1.0], good_time(), false);
    assert_rejected(dir.path(), &["inspect", "s.nc", "--expect", "ssh=time,y,x"], &["s.nc", "variable `ssh` not found", "psi"]);
}

#[test]
fn wrong_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    state_file(dir.path(), "s.nc", &[0.0, 1.0], good_time(), false);
    assert_rejected(
        dir.path(),
        &["inspect", "s.nc", "--expect", "psi=time,depth,y,x"],
        &["s.nc", "variable `psi`", "expected dimensions (time, depth, y, x), found (time, y, x)"],
    );
}

#[test]
fn unknown_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let attrs = vec![("units", "days since 2026-01-01".into()), ("calendar", "martian".into())];
    state_file(dir.path(), "s.nc", &[0.0, 1.0], attrs, false);
    assert_rejected(dir.path(), &["inspect", "--strict", "s.nc"], &["s.nc", "variable `time`", "martian", "noleap"]);
}

#[test]
fn unparsable_units() {
    let dir = tempfile::tempdir().unwrap();
    let attrs = vec![("units", "fortnights since 2026-01-01".into()), ("calendar", "standard".into())];
    state_file(dir.path(), "s.nc", &[0.0, 1.0], attrs, false);
    assert_rejected(dir.path(), &["inspect", "--strict", "s.nc"], &["s.nc", "variable `time`", "fortnights"]);
}

#[test]
fn all_missing_variable() {
    let dir = tempfile::tempdir().unwrap();
    state_file(dir.path(), "s.nc", &[0.0, 1.0], good_time(), true);
    assert_rejected(dir.path(), &["inspect", "s.nc", "--expect", "psi=time,y,x"], &["s.nc", "variable `psi`", "every value is missing"]);
}

#[test]
fn non_monotonic_time() {
    let dir = tempfile::tempdir().unwrap();
    state_file(dir.path(), "s.nc", &[0.0, 2.0, 1.0], good_time(), false);
    assert_rejected(dir.path(), &["inspect", "--strict", "s.nc"], &["s.nc", "variable `time`", "not strictly increasing", "2026-01-02", "2026-01-03"]);
}
