//! Quality control says what it drops: every state, observation or fix left out gets a warning
//! with its count and reason on stderr, a loss beyond `ingest.qc.max_dropped_fraction` fails the
//! run (exit 2) naming the file, times out of order are sorted rather than truncated, and
//! messages name the file and variable at fault.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{contrada_in, stderr};
use contrada::cf::NcWriter;
use contrada::cf::dsg::{Layout, Trajectory, TrajectorySet, write_ragged};
use contrada::cf::time::{Calendar, TimeUnits};
use contrada::config::IoConfig;
use contrada::ingest::dataset::Dataset;
use netcdf::AttributeValue;

type Attrs = Vec<(&'static str, AttributeValue)>;

const UNITS: &str = "days since 2026-01-01";

fn time_attrs() -> Attrs {
    vec![("standard_name", "time".into()), ("units", UNITS.into()), ("calendar", "standard".into()), ("axis", "T".into())]
}

fn write(path: &Path, f: impl FnOnce(&mut NcWriter)) -> PathBuf {
    let mut w = NcWriter::create(path, &IoConfig::default(), "qc warnings test").unwrap();
    f(&mut w);
    w.finish().unwrap();
    path.to_path_buf()
}

/// A `(time, y, x)` field of 2 x 3 points whose value at point `p` of time `t` is `base + 100 t + p`,
/// or NaN where `missing(t, p)`.
fn field(path: &Path, var: &str, times: &[f64], base: f64, missing: impl Fn(f64, usize) -> bool) -> PathBuf {
    write(path, |w| {
        w.coord("time", times, time_attrs()).unwrap();
        w.coord("y", &[0.0, 1.0], vec![("units", "m".into()), ("standard_name", "projection_y_coordinate".into())]).unwrap();
        w.coord("x", &[0.0, 1.0, 2.0], vec![("units", "m".into()), ("standard_name", "projection_x_coordinate".into())]).unwrap();
        let v: Vec<f64> =
            times.iter().flat_map(|&t| (0..6).map(move |p| (t, p))).map(|(t, p)| if missing(t, p) { f64::NAN } else { base + 100.0 * t + p as f64 }).collect();
        w.var_f64(var, &["time", "y", "x"], &v, vec![("units", "1".into())]).unwrap();
    })
}

fn days(n: usize) -> Vec<f64> {
    (0..n).map(|t| t as f64).collect()
}

const GRIDDED: &str = r#"
[ingest.state]
variables = ["psi"]
[[ingest.observations]]
name = "obs"
kind = "gridded"
variables = ["psi_obs"]
error_std = 0.1
[ingest.split]
blocks = 4
[ingest.eof]
modes = 2
"#;

const DRIFTERS: &str = r#"
[ingest.state]
variables = ["psi"]
[[ingest.observations]]
name = "drifters"
kind = "trajectories"
segment = "6 hours"
points = 3
[ingest.split]
blocks = 4
[ingest.eof]
modes = 2
"#;

/// Runs `contrada ingest` in `dir` with `config` and `inputs`, plus `extra` arguments.
fn ingest(dir: &Path, config: &str, inputs: &[&str], extra: &[&str]) -> Output {
    std::fs::write(dir.join("ingest.toml"), config).unwrap();
    let mut args = vec!["ingest", "--config", "ingest.toml", "--out", "out"];
    for i in inputs {
        args.extend(["--input", i]);
    }
    args.extend(extra);
    contrada_in(dir, &args)
}

fn ok(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(0), "stderr:\n{err}");
    err
}

/// Exit 2 with one `error:` line, which is returned.
fn rejected(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    errors[0].to_string()
}

fn warning<'a>(err: &'a str, needle: &str) -> &'a str {
    err.lines().find(|l| l.contains("WARN") && l.contains(needle)).unwrap_or_else(|| panic!("no WARN line with `{needle}`:\n{err}"))
}

fn qc_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("out").join("qc.json")).unwrap()).unwrap()
}

/// One drifter from day -0.5 on, a fix every 0.1 day: every 6-hour segment ending at days 0..9 is
/// covered. `edit` changes the fixes before they are written.
fn drifters(path: &Path, edit: impl FnOnce(&mut Trajectory)) {
    let n = 100;
    let mut t = Trajectory {
        id: "0".into(),
        time: (0..n).map(|k| -0.5 + 0.1 * k as f64).collect(),
        x: (0..n).map(|k| 10.0 + k as f64).collect(),
        y: (0..n).map(|k| 20.0 + 0.5 * k as f64).collect(),
    };
    edit(&mut t);
    let set = TrajectorySet {
        time_units: TimeUnits::parse(UNITS, Calendar::Standard).unwrap(),
        trajectories: vec![t],
        layout: Layout::ContiguousRagged,
        names: ["time".into(), "x".into(), "y".into()],
    };
    write(path, |w| {
        let attrs = |a: &str| -> Attrs { vec![("units", "m".into()), ("axis", a.to_string().into())] };
        write_ragged(w, &set, attrs("X"), attrs("Y")).unwrap();
    });
}

#[test]
fn swapped_state_times_are_sorted_not_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut times = days(30);
    times.swap(5, 11);
    field(&d.join("states.nc"), "psi", &times, 0.0, |_, _| false);
    field(&d.join("obs.nc"), "psi_obs", &days(30), 1000.0, |_, _| false);
    let err = ok(&ingest(d, GRIDDED, &["states=states.nc", "obs=obs.nc"], &[]));
    let w = warning(&err, "out of order");
    assert!(w.contains("2 of 30 times") && w.contains("states.nc") && w.contains("`time`") && w.contains("sorted"), "{w}");
    let qc = qc_json(d);
    assert_eq!(qc["state"]["out_of_order_time"], 2, "{qc:#}");
    assert_eq!(qc["pairing"]["state_times"], 30, "no state time dropped: {qc:#}");
    let data = Dataset::load(d.join("out").join("dataset.nc")).unwrap();
    assert!(data.time.windows(2).all(|w| w[0] < w[1]), "samples in time order: {:?}", data.time);
    for (i, &t) in data.time.iter().enumerate() {
        assert_eq!(data.state[[i, 0]], 100.0 * t, "sample {i} holds the state stamped {t}");
    }
}

#[test]
fn a_time_repeated_by_a_later_file_is_dropped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    field(&d.join("states_a.nc"), "psi", &days(20), 0.0, |_, _| false);
    field(&d.join("states_b.nc"), "psi", &(18..30).map(|t| t as f64).collect::<Vec<_>>(), 0.0, |_, _| false);
    field(&d.join("obs.nc"), "psi_obs", &days(30), 1000.0, |_, _| false);
    let err = ok(&ingest(d, GRIDDED, &["states=states_*.nc", "obs=obs.nc"], &[]));
    let w = warning(&err, "times dropped");
    assert!(w.contains("2 of 32 times dropped") && w.contains("earlier file") && w.contains("states_b.nc"), "{w}");
    assert_eq!(qc_json(d)["state"]["duplicate_time"], 2);
}

#[test]
fn a_time_repeated_within_one_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut times = days(30);
    times[12] = 11.0;
    field(&d.join("states.nc"), "psi", &times, 0.0, |_, _| false);
    field(&d.join("obs.nc"), "psi_obs", &days(30), 1000.0, |_, _| false);
    let e = rejected(&ingest(d, GRIDDED, &["states=states.nc", "obs=obs.nc"], &[]));
    assert!(e.contains("states.nc") && e.contains("`time`") && e.contains("values 11 and 12 are the same time"), "{e}");
}

#[test]
fn a_missing_state_time_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut times = days(30);
    times[7] = f64::NAN;
    field(&d.join("states.nc"), "psi", &times, 0.0, |_, _| false);
    field(&d.join("obs.nc"), "psi_obs", &days(30), 1000.0, |_, _| false);
    let e = rejected(&ingest(d, GRIDDED, &["states=states.nc", "obs=obs.nc"], &[]));
    assert!(e.contains("states.nc") && e.contains("`time`") && e.contains("time value 7 is missing"), "{e}");
}

#[test]
fn incomplete_snapshots_warn_and_fail_over_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Point 4 is missing at days 3, 8 and 17: three of 30 snapshots are incomplete.
    field(&d.join("states.nc"), "psi", &days(30), 0.0, |t, p| p == 4 && [3.0, 8.0, 17.0].contains(&t));
    field(&d.join("obs.nc"), "psi_obs", &days(30), 1000.0, |_, _| false);
    let inputs = ["states=states.nc", "obs=obs.nc"];
    let err = ok(&ingest(d, GRIDDED, &inputs, &[]));
    let w = warning(&err, "snapshots dropped");
    assert!(w.contains("3 of 30 snapshots dropped") && w.contains("missing") && w.contains("states.nc"), "{w}");
    std::fs::remove_dir_all(d.join("out")).unwrap();
    let e = rejected(&ingest(d, GRIDDED, &inputs, &["--set", "ingest.qc.max_dropped_fraction=0.05"]));
    assert!(e.contains("states.nc") && e.contains("3 of 30 snapshots") && e.contains("ingest.qc.max_dropped_fraction = 0.05"), "{e}");
    assert!(!d.join("out").exists(), "nothing published on failure");
}

#[test]
fn a_swapped_pair_of_drifter_fixes_is_sorted_not_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    field(&d.join("states.nc"), "psi", &days(10), 0.0, |_, _| false);
    drifters(&d.join("dr.nc"), |t| {
        t.time.swap(40, 70);
        t.x.swap(40, 70);
        t.y.swap(40, 70);
    });
    let err = ok(&ingest(d, DRIFTERS, &["states=states.nc", "drifters=dr.nc"], &[]));
    let w = warning(&err, "out of time order");
    assert!(w.contains("2 of 100 fixes") && w.contains("dr.nc") && w.contains("none dropped"), "{w}");
    let qc = qc_json(d);
    assert_eq!(qc["sources"][0]["fixes"], 100, "{qc:#}");
    assert_eq!(qc["sources"][0]["fixes_out_of_order"], 2, "{qc:#}");
}

#[test]
fn missing_drifter_positions_warn_and_fail_over_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    field(&d.join("states.nc"), "psi", &days(10), 0.0, |_, _| false);
    drifters(&d.join("dr.nc"), |t| {
        for k in [12, 23, 34, 56, 67] {
            t.x[k] = f64::NAN;
        }
    });
    let inputs = ["states=states.nc", "drifters=dr.nc"];
    let err = ok(&ingest(d, DRIFTERS, &inputs, &[]));
    let w = warning(&err, "fixes dropped");
    assert!(w.contains("5 of 100 fixes dropped") && w.contains("`x` missing") && w.contains("dr.nc"), "{w}");
    assert_eq!(qc_json(d)["sources"][0]["fixes_missing"], 5);
    std::fs::remove_dir_all(d.join("out")).unwrap();
    let e = rejected(&ingest(d, DRIFTERS, &inputs, &["--set", "ingest.qc.max_dropped_fraction=0.01"]));
    assert!(e.contains("dr.nc") && e.contains("5 of 100 fixes") && e.contains("`x` missing") && e.contains("max_dropped_fraction"), "{e}");
}

#[test]
fn an_infinite_drifter_y_is_named_as_y() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    field(&d.join("states.nc"), "psi", &days(10), 0.0, |_, _| false);
    drifters(&d.join("dr.nc"), |t| t.y[33] = f64::INFINITY);
    let inputs = ["states=states.nc", "drifters=dr.nc"];
    let w = ok(&ingest(d, DRIFTERS, &inputs, &[]));
    assert!(warning(&w, "fixes dropped").contains("1 of 100 fixes dropped: `y` not finite"), "{w}");
    std::fs::remove_dir_all(d.join("out")).unwrap();
    drifters(&d.join("dr.nc"), |t| t.y.fill(f64::INFINITY));
    let e = rejected(&ingest(d, DRIFTERS, &inputs, &[]));
    assert!(e.contains("dr.nc") && e.contains("`y` not finite") && !e.contains("`time`"), "{e}");
}

#[test]
fn drifter_times_all_fill_say_missing_not_a_number() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    field(&d.join("states.nc"), "psi", &days(10), 0.0, |_, _| false);
    // The netCDF default fill in a variable without a _FillValue attribute (never written).
    write(&d.join("dr.nc"), |w| {
        w.global("featureType", "trajectory").unwrap();
        w.dim("trajectory", 1).unwrap();
        w.dim("obs", 20).unwrap();
        w.var_i32("rowSize", &["trajectory"], &[20], vec![("sample_dimension", "obs".into())]).unwrap();
        w.var_f64("time", &["obs"], &[9.969_209_968_386_869e36; 20], time_attrs()).unwrap();
        w.var_f64("x", &["obs"], &[1.0; 20], vec![("units", "m".into()), ("axis", "X".into())]).unwrap();
        w.var_f64("y", &["obs"], &[2.0; 20], vec![("units", "m".into()), ("axis", "Y".into())]).unwrap();
    });
    let e = rejected(&ingest(d, DRIFTERS, &["states=states.nc", "drifters=dr.nc"], &[]));
    assert!(e.contains("dr.nc") && e.contains("variable `time`: every value is missing"), "{e}");
    assert!(!e.contains("9969209968") && !e.contains("undecodable"), "{e}");
}

#[test]
fn an_all_missing_observation_variable_names_the_observation_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    field(&d.join("states.nc"), "psi", &days(30), 0.0, |_, _| false);
    field(&d.join("obs.nc"), "psi_obs", &days(30), 1000.0, |_, _| true);
    let e = rejected(&ingest(d, GRIDDED, &["states=states.nc", "obs=obs.nc"], &[]));
    assert!(e.contains("obs.nc") && e.contains("`psi_obs`") && e.contains("missing"), "{e}");
    assert!(!e.contains("states.nc"), "the states are fine: {e}");
}

#[test]
fn incomplete_windows_are_warned_of() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    field(&d.join("states.nc"), "psi", &days(30), 0.0, |_, _| false);
    field(&d.join("obs.nc"), "psi_obs", &days(24), 1000.0, |_, _| false);
    let err = ok(&ingest(d, GRIDDED, &["states=states.nc", "obs=obs.nc"], &[]));
    let w = warning(&err, "window is incomplete");
    assert!(w.contains("6 of 30 state times dropped") && w.contains("`obs`: 6"), "{w}");
}

#[test]
fn the_limit_is_range_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    field(&d.join("states.nc"), "psi", &days(10), 0.0, |_, _| false);
    field(&d.join("obs.nc"), "psi_obs", &days(10), 1000.0, |_, _| false);
    let e = rejected(&ingest(d, GRIDDED, &["states=states.nc", "obs=obs.nc"], &["--set", "ingest.qc.max_dropped_fraction=1.5"]));
    assert!(e.contains("ingest.qc.max_dropped_fraction") && e.contains("1.5"), "{e}");
}

#[test]
fn stage_option_errors_name_the_pipeline_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let text =
        "[pipeline]\nname = \"p\"\n[[pipeline.stages]]\nname = \"truth\"\nkind = \"synth\"\noptions = { flow = \"lorenz96\", samples = 5, sampels = 3 }\n";
    std::fs::write(d.join("p.toml"), text).unwrap();
    let e = rejected(&contrada_in(d, &["run", "p.toml", "--run-dir", "run"]));
    assert!(e.contains("p.toml") && e.contains("pipeline.stages.truth.options") && e.contains("sampels"), "{e}");
    assert!(!e.contains("pipeline file:"), "{e}");
}
