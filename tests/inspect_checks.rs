//! `contrada inspect` as a gate: exit 0 with "CF problems: none found" on a clean file, exit 2
//! with the report on stdout and one `error:` line on stderr otherwise; each CF check on a file
//! that breaks it, each problem listed once, and a file declaring billions of values rejected
//! before anything is read.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{contrada_in, stderr, stdout};
use contrada::cf::NcWriter;
use contrada::config::IoConfig;
use netcdf::AttributeValue;

type Attrs = Vec<(&'static str, AttributeValue)>;

/// Writes `dir/name` with the CF global attributes and whatever `build` adds.
fn write(dir: &Path, name: &str, build: impl FnOnce(&mut NcWriter)) -> PathBuf {
    let path = dir.join(name);
    let mut w = NcWriter::create(&path, &IoConfig::default(), "inspect test").unwrap();
    build(&mut w);
    w.finish().unwrap();
    path
}

/// A double variable written as given: NaN and infinities stay in the file (NcWriter::var_f64
/// would write NaN as _FillValue).
fn raw_f64(w: &mut NcWriter, name: &str, dim: &str, values: &[f64], attrs: Attrs) {
    w.define::<f64>(name, &[dim], &[], attrs).unwrap();
    w.write_slab(name, &[0], &[values.len()], values).unwrap();
}

fn time_attrs() -> Attrs {
    vec![("standard_name", "time".into()), ("units", "days since 2026-01-01".into()), ("calendar", "standard".into())]
}

fn lat_attrs() -> Attrs {
    vec![("standard_name", "latitude".into()), ("units", "degrees_north".into())]
}

fn lon_attrs() -> Attrs {
    vec![("standard_name", "longitude".into()), ("units", "degrees_east".into())]
}

/// A (time, lat, lon) grid with `sst` on it; `extra` adds to it.
fn grid(dir: &Path, time: &[f64], lat: &[f64], extra: impl FnOnce(&mut NcWriter)) -> PathBuf {
    write(dir, "grid.nc", |w| {
        w.coord("time", time, time_attrs()).unwrap();
        w.coord("lat", lat, lat_attrs()).unwrap();
        w.coord("lon", &[0.0, 1.0], lon_attrs()).unwrap();
        let sst: Vec<f64> = (0..time.len() * lat.len() * 2).map(|i| 280.0 + i as f64).collect();
        w.var_f64("sst", &["time", "lat", "lon"], &sst, vec![("units", "K".into())]).unwrap();
        extra(w);
    })
}

/// A contiguous ragged DSG file: one row per instance of `(time, lat)`; `feature` None leaves
/// featureType out.
fn ragged(dir: &Path, feature: Option<&str>, rows: &[&[(f64, f64)]]) -> PathBuf {
    let (role, instance) = match feature {
        Some("timeSeries") => ("timeseries_id", "station"),
        _ => ("trajectory_id", "trajectory"),
    };
    write(dir, "dsg.nc", |w| {
        if let Some(f) = feature {
            w.global("featureType", f).unwrap();
        }
        let obs: Vec<(f64, f64)> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        w.dim(instance, rows.len()).unwrap();
        w.dim("obs", obs.len()).unwrap();
        let ids: Vec<f64> = (1..=rows.len()).map(|i| i as f64).collect();
        w.var_f64("id", &[instance], &ids, vec![("cf_role", role.into())]).unwrap();
        let sizes: Vec<i32> = rows.iter().map(|r| r.len() as i32).collect();
        w.var_i32("rowSize", &[instance], &sizes, vec![("sample_dimension", "obs".into())]).unwrap();
        let (t, lat): (Vec<f64>, Vec<f64>) = obs.into_iter().unzip();
        w.var_f64("time", &["obs"], &t, time_attrs()).unwrap();
        raw_f64(w, "lat", "obs", &lat, lat_attrs());
        w.var_f64("lon", &["obs"], &vec![10.0; t.len()], lon_attrs()).unwrap();
    })
}

fn inspect(path: &Path) -> Output {
    contrada_in(path.parent().unwrap(), &["inspect", path.file_name().unwrap().to_str().unwrap()])
}

/// Checks the gate: exit 2, the report on stdout listing every one of `needles`, and one
/// `error:` line on stderr naming the file and the first problem.
fn assert_problem(out: &Output, needles: &[&str]) -> String {
    let (text, err) = (stdout(out), stderr(out));
    assert_eq!(out.status.code(), Some(2), "stdout:\n{text}\nstderr:\n{err}");
    assert!(text.contains("CF problems:\n"), "the report comes first:\n{text}");
    for n in needles {
        assert!(text.contains(n), "the report should name `{n}`:\n{text}");
    }
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "one message:\n{err}");
    assert!(err.contains(".nc: ") && err.contains("CF problem(s); first: variable `"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    text
}

fn problem_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("  - ")).collect()
}

#[test]
fn clean_file_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    // A land mask over (lat, lon) fits sst and is no problem.
    let path = grid(dir.path(), &[0.0, 1.0], &[-90.0, 0.0, 90.0], |w| {
        w.var_i32("land_mask", &["lat", "lon"], &[0, 1, 1, 0, 0, 0], vec![("flag_values", vec![0i32, 1].into()), ("flag_meanings", "sea land".into())])
            .unwrap();
    });
    for args in [vec!["inspect"], vec!["inspect", "--strict"]] {
        let out = contrada_in(dir.path(), &[args.as_slice(), &[path.to_str().unwrap()]].concat());
        assert!(out.status.success(), "{args:?}: {}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("CF problems: none found"), "{}", stdout(&out));
        assert!(stdout(&out).contains("time time: 2026-01-01 00:00:00 .. 2026-01-02 00:00:00 (2 values, calendar standard)"), "{}", stdout(&out));
    }
}

#[test]
fn problems_give_exit_2_without_strict() {
    let dir = tempfile::tempdir().unwrap();
    let path = grid(dir.path(), &[0.0, 2.0, 1.0], &[0.0, 1.0], |_| {});
    let text = assert_problem(&inspect(&path), &["variable `time`: time is not strictly increasing: value 2 (2026-01-02 00:00:00) follows value 1"]);
    assert!(stderr(&inspect(&path)).contains("grid.nc: 1 CF problem(s); first: variable `time`: time is not strictly increasing"));
    assert_eq!(problem_lines(&text).len(), 1, "{text}");
}

#[test]
fn each_problem_is_listed_once() {
    let dir = tempfile::tempdir().unwrap();
    // The DSG reader and the per-variable scan both parse this calendar; it used to be listed twice.
    let path = write(dir.path(), "dsg.nc", |w| {
        w.global("featureType", "trajectory").unwrap();
        w.coord("obs", &[0.0, 1.0], vec![("units", "1".into())]).unwrap();
        let attrs = vec![("standard_name", "time".into()), ("units", "days since 2026-01-01".into()), ("calendar", "martian".into())];
        w.var_f64("time", &["obs"], &[0.0, 1.0], attrs).unwrap();
        w.var_f64("lat", &["obs"], &[0.0, 1.0], lat_attrs()).unwrap();
        w.var_f64("lon", &["obs"], &[0.0, 1.0], lon_attrs()).unwrap();
    });
    let text = assert_problem(&inspect(&path), &["variable `time`", "martian"]);
    assert_eq!(text.matches("martian").count(), 1, "{text}");
    let lines = problem_lines(&text);
    assert!(lines.iter().enumerate().all(|(i, l)| !lines[..i].contains(l)), "{text}");
}

#[test]
fn non_finite_grid_coordinate() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "grid.nc", |w| {
        w.coord("time", &[0.0], time_attrs()).unwrap();
        w.dim("x", 3).unwrap();
        raw_f64(w, "x", "x", &[0.0, f64::INFINITY, 2.0], vec![("units", "m".into()), ("axis", "X".into())]);
        w.var_f64("psi", &["time", "x"], &[1.0, 2.0, 3.0], vec![("units", "m2 s-1".into())]).unwrap();
    });
    assert_problem(&inspect(&path), &["variable `x`: 1 value(s) are NaN, infinite or missing (first: index 1, inf)"]);
}

#[test]
fn nan_in_dsg_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = ragged(dir.path(), Some("trajectory"), &[&[(0.0, 10.0), (1.0, f64::NAN), (2.0, 11.0)]]);
    assert_problem(&inspect(&path), &["variable `lat`: 1 value(s) are NaN, infinite or missing (first: index 1, NaN)", "every sample"]);
}

#[test]
fn padding_of_a_multidimensional_dsg_is_no_problem() {
    // Its (trajectory, obs) arrays are padded with fill values, which CF allows; a ragged array
    // has no padding, so a missing position there is a problem.
    let out = common::contrada(&["inspect", &common::fixture("drifters_multidim.nc")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("CF problems: none found"), "{}", stdout(&out));
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "dsg.nc", |w| {
        w.global("featureType", "trajectory").unwrap();
        w.dim("obs", 3).unwrap();
        w.var_f64("time", &["obs"], &[0.0, 1.0, 2.0], time_attrs()).unwrap();
        w.var_f64("lat", &["obs"], &[0.0, 1.0, 2.0], lat_attrs()).unwrap();
        w.var_f64("lon", &["obs"], &[0.0, f64::NAN, 2.0], lon_attrs()).unwrap();
    });
    assert_problem(&inspect(&path), &["variable `lon`: 1 value(s) are NaN, infinite or missing (first: index 1, NaN)"]);
}

#[test]
fn dsg_time_going_back_within_a_trajectory() {
    let dir = tempfile::tempdir().unwrap();
    // Time restarts between trajectories (no problem) and goes back within the second (a problem).
    let path = ragged(dir.path(), Some("trajectory"), &[&[(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)], &[(0.5, 1.0), (3.0, 1.0), (2.5, 1.0)]]);
    let text = assert_problem(
        &inspect(&path),
        &["variable `time`: trajectory 2 goes back in time: its sample 2 (2026-01-03 12:00:00) follows sample 1 (2026-01-04 00:00:00)"],
    );
    assert_eq!(problem_lines(&text).len(), 1, "{text}");
    assert!(text.contains("trajectories: 2 (6 observations, ContiguousRagged layout)"), "{text}");
}

#[test]
fn dsg_time_going_back_within_a_station() {
    let dir = tempfile::tempdir().unwrap();
    let path = ragged(dir.path(), Some("timeSeries"), &[&[(0.0, 1.0), (1.0, 1.0)], &[(1.0, 1.0), (0.0, 1.0)]]);
    assert_problem(&inspect(&path), &["variable `time`: station 2 goes back in time"]);
}

#[test]
fn dsg_without_feature_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = ragged(dir.path(), None, &[&[(0.0, 1.0), (1.0, 2.0)]]);
    assert_problem(&inspect(&path), &["variable `id` has a `cf_role` attribute", "global attribute featureType is missing"]);
}

#[test]
fn mask_fitting_no_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = grid(dir.path(), &[0.0], &[0.0, 1.0], |w| {
        w.dim("depth", 4).unwrap();
        w.var_i32("mask", &["depth"], &[1, 1, 0, 0], vec![("units", "1".into())]).unwrap();
    });
    assert_problem(&inspect(&path), &["variable `mask`: a mask over (depth) fits no data variable"]);
}

#[test]
fn latitude_outside_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = grid(dir.path(), &[0.0], &[-95.0, 0.0, 45.0], |_| {});
    assert_problem(&inspect(&path), &["variable `lat`: 1 latitude(s) outside [-90, 90] (first: index 0, -95)"]);
}

#[test]
fn point_file_times_need_no_order() {
    let dir = tempfile::tempdir().unwrap();
    // Observations of a point file are a set: time is per observation, in any order.
    let path = write(dir.path(), "points.nc", |w| {
        w.global("featureType", "point").unwrap();
        w.dim("obs", 3).unwrap();
        w.var_f64("time", &["obs"], &[2.0, 0.0, 1.0], time_attrs()).unwrap();
        w.var_f64("lat", &["obs"], &[10.0, 20.0, 30.0], lat_attrs()).unwrap();
        w.var_f64("lon", &["obs"], &[1.0, 2.0, 3.0], lon_attrs()).unwrap();
        w.var_f64("sst", &["obs"], &[280.0, 281.0, 282.0], vec![("units", "K".into()), ("coordinates", "time lat lon".into())]).unwrap();
    });
    let out = inspect(&path);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("CF problems: none found"), "{}", stdout(&out));
    assert!(stdout(&out).contains("time time: 2026-01-01 00:00:00 .. 2026-01-03 00:00:00 (3 values"), "{}", stdout(&out));
}

#[test]
fn huge_dimension_rejected_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    // Three billion observations declared, none written: the file is a few kilobytes.
    let n = 3_000_000_000usize;
    let path = write(dir.path(), "huge.nc", |w| {
        w.global("featureType", "trajectory").unwrap();
        w.dim("trajectory", 1).unwrap();
        w.dim("obs", n).unwrap();
        w.var_f64("rowSize", &["trajectory"], &[n as f64], vec![("sample_dimension", "obs".into())]).unwrap();
        w.define::<f64>("time", &["obs"], &[1 << 16], time_attrs()).unwrap();
        w.define::<f64>("lat", &["obs"], &[1 << 16], lat_attrs()).unwrap();
        w.define::<f64>("lon", &["obs"], &[1 << 16], lon_attrs()).unwrap();
    });
    assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
    let out = inspect(&path);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in ["huge.nc", "variable `time`", "its 3000000000 values", "192000000000 bytes", "MemAvailable"] {
        assert!(err.contains(needle), "the message should name `{needle}`:\n{err}");
    }
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "one message:\n{err}");
    assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{err}");
}
