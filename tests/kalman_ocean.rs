//! The `baseline` stage on the two-layer QG ocean of `sample_data/qg/` (a 12-member forecast of
//! `psi`, `u`, `v` over `(member, layer, y, x)` with a scalar valid time; stations as CF DSG
//! `timeSeries` in both layouts; a daily swath): multivariate analyses, station and swath
//! operators at a level, and the checks made before an observation is used.

use std::path::{Path, PathBuf};

use contrada::cf::{NcFile, NcWriter};
use contrada::config::IoConfig;
use ndarray::{Array2, Axis};
use ndarray_linalg::Inverse;

use crate::common::{contrada, stderr};

const QG: &str = "sample_data/qg";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `contrada baseline` on the 2000-04-01 forecast with `args` added; returns the output
/// directory and the process output.
/// The geometry is periodic unless `args` say otherwise.
fn baseline(out: &Path, observations: &str, args: &[&str]) -> std::process::Output {
    let prior = format!("{QG}/forecast_20000401.nc");
    let out_s = out.to_str().unwrap();
    let mut all = vec!["baseline", "--prior", &prior, "--observations", observations, "--out", out_s];
    all.extend_from_slice(&["--variable", "psi,u,v", "--obs-variable", "psi", "--obs-error-std", "100"]);
    if !args.contains(&"--geometry") {
        all.extend_from_slice(&["--geometry", "periodic"]);
    }
    all.extend_from_slice(args);
    contrada(&all)
}

/// `var` of `path` as members x state (the member dimension first in these files).
fn members(path: &Path, var: &str) -> Array2<f64> {
    let a = NcFile::open(path).unwrap().read(var).unwrap().data;
    let (n, len) = (a.shape()[0], a.len());
    a.into_shape_with_order((n, len / n)).unwrap().into_dimensionality().unwrap()
}

fn diagnostics(dir: &Path, method: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("diagnostics_{method}.json"))).unwrap()).unwrap()
}

/// The ETKF analysis is one linear combination of the prior members per analysis member
/// (`E_a = M E_b`) for every state element: with psi, u and v analysed jointly, the `M` that psi
/// reveals (by least squares over its 2,048 values) predicts the analysed u and v. A univariate
/// update (u, v left as the prior's, the bug this replaces) fails this, and so does an update of
/// u and v with weights of their own.
#[test]
fn a_multivariate_etkf_moves_the_velocities_with_the_streamfunction() {
    let dir = tempfile::tempdir().unwrap();
    let o = baseline(dir.path(), &format!("{QG}/qg_stations.nc"), &["--method", "etkf", "--obs-level", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let prior = root().join(QG).join("forecast_20000401.nc");
    let analysis = dir.path().join("analysis_etkf.nc");
    let (pb, pa) = (members(&prior, "psi"), members(&analysis, "psi"));
    // M^T = (P P^T)^-1 P Pa^T, P = prior psi (members x state).
    let gram_inv = pb.dot(&pb.t()).inv().unwrap();
    let m = gram_inv.dot(&pb.dot(&pa.t())).reversed_axes();
    for var in ["u", "v"] {
        let (ub, ua) = (members(&prior, var), members(&analysis, var));
        let increment = (&ua - &ub).iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let misfit = (&ua - &m.dot(&ub)).iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(increment > 1e-4, "{var}: the analysis left it (almost) as the prior (largest change {increment:e})");
        // float32 storage of prior and analysis bounds how well M is recovered.
        assert!(misfit < 1e-3 * increment, "{var}: misfit {misfit:e} of the psi weights against an increment of {increment:e}");
    }
    // The prior's layout and dtype, and the fields of every analysed variable.
    let (a, p) = (NcFile::open(&analysis).unwrap(), NcFile::open(&prior).unwrap());
    for var in ["psi", "u", "v"] {
        assert_eq!(a.var_dims(var).unwrap(), p.var_dims(var).unwrap(), "{var}");
        assert!(a.is_f32(var).unwrap(), "{var}: the prior is float32");
        for statistic in ["mean", "spread", "increment"] {
            assert_eq!(a.var_dims(&format!("{var}_{statistic}")).unwrap(), ["layer", "y", "x"]);
        }
    }
    assert!(a.has_var("layer_thickness") && a.var_dims("time").unwrap().is_empty(), "coordinates and the scalar time are kept");
}

/// Writes the stations of 2000-04-01 12:00 (the prior's valid time) as a gridded upper-layer
/// field, missing elsewhere.
fn stations_as_grid(path: &Path) {
    let st = NcFile::open(root().join(QG).join("qg_stations.nc")).unwrap();
    let times = st.read_time("time").unwrap();
    let t = times.times.iter().position(|d| d.to_string() == "2000-04-01 12:00:00").unwrap();
    let prior = NcFile::open(root().join(QG).join("forecast_20000401.nc")).unwrap();
    let (gx, gy) = (prior.read_values("x").unwrap(), prior.read_values("y").unwrap());
    let (sx, sy, psi) = (st.read_values("x").unwrap(), st.read_values("y").unwrap(), st.read("psi").unwrap().data);
    let mut field = vec![f64::NAN; gx.len() * gy.len()];
    for s in 0..sx.len() {
        let ix = gx.iter().position(|&x| x == sx[s]).expect("stations sit on grid points");
        let iy = gy.iter().position(|&y| y == sy[s]).expect("stations sit on grid points");
        field[iy * gx.len() + ix] = psi[[t, s]];
    }
    write_field(path, &field);
}

/// Stations in `(time, station)` and `(station, time)` layouts, and the same values as a masked
/// upper-layer grid, are one set of observations: the three LETKF analyses agree (to float32
/// rounding; the observation order differs). An operator that read the lower layer, or the wrong
/// time of the series, would not.
#[test]
fn stations_in_either_layout_and_as_a_masked_grid_give_one_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let grid_obs = dir.path().join("grid.nc");
    stations_as_grid(&grid_obs);
    let layouts = [format!("{QG}/qg_stations.nc"), format!("{QG}/qg_stations_by_station.nc"), grid_obs.to_str().unwrap().to_string()];
    let mut analyses = Vec::new();
    for (k, obs) in layouts.iter().enumerate() {
        let out = dir.path().join(format!("out{k}"));
        let o = baseline(&out, obs, &["--method", "letkf", "--obs-level", "0", "--localization-radius", "60000"]);
        assert!(o.status.success(), "{obs}: {}", stderr(&o));
        let d = diagnostics(&out, "letkf");
        assert_eq!(d["observations"], 20, "{obs}: {d}");
        assert_eq!(d["observation_times"][0], "2000-04-01 12:00:00", "{obs}");
        analyses.push(members(&out.join("analysis_letkf.nc"), "u"));
    }
    let prior_u = members(&root().join(QG).join("forecast_20000401.nc"), "u");
    let scale = (&analyses[0] - &prior_u).iter().fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(scale > 1e-4, "u unchanged by the analysis");
    for other in &analyses[1..] {
        let diff = (&analyses[0] - other).iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(diff < 1e-5 * scale, "layouts disagree by {diff:e} (increment scale {scale:e})");
    }
}

/// The checks before the analysis: each refusal exits 2 with one line naming the key or file.
#[test]
fn observations_at_the_wrong_time_level_or_units_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stations = format!("{QG}/qg_stations.nc");
    let cases: [(&[&str], &str); 4] = [
        (&["--method", "etkf"], "--obs-level: `psi` has 2 horizontal fields"),
        (&["--method", "etkf", "--obs-level", "0", "--obs-time-index", "0"], "-42.0 hours from the prior's valid time 2000-04-01 12:00:00"),
        (&["--method", "etkf", "--obs-level", "2"], "--obs-level: 2 is out of range"),
        (&["--method", "etkf", "--obs-level", "0", "--observed", "u"], "has units `m2 s-1`; the state variable `u` has `m s-1`"),
    ];
    for (k, (args, expected)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{k}"));
        let o = baseline(&out, &stations, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected) && err.trim().lines().count() == 1, "{args:?}: {err}");
        assert!(!out.join("analysis_etkf.nc").exists(), "{args:?}: an analysis was written");
    }
    // The forecast of the next day has no observation time within the window.
    let swath_day = dir.path().join("swath.nc");
    let src = NcFile::open(root().join(QG).join("qg_swath.nc")).unwrap();
    let times = src.read_time("time").unwrap();
    let mut w = NcWriter::create(&swath_day, &IoConfig::default(), "one swath a year later").unwrap();
    w.dim("time", 1).unwrap();
    w.var_f64("time", &["time"], &[times.values[1] + 24.0 * 365.0], vec![("units", "hours since 2000-01-01 00:00:00".into()), ("standard_name", "time".into())]).unwrap();
    w.coord("x", &src.read_values("x").unwrap(), vec![("units", "m".into())]).unwrap();
    w.coord("y", &src.read_values("y").unwrap(), vec![("units", "m".into())]).unwrap();
    let psi = src.read("psi").unwrap().data.index_axis(Axis(0), 1).iter().copied().collect::<Vec<_>>();
    w.var_f64("psi", &["time", "y", "x"], &psi, vec![("units", "m2 s-1".into())]).unwrap();
    w.finish().unwrap();
    let o = baseline(&dir.path().join("late"), swath_day.to_str().unwrap(), &["--method", "etkf", "--obs-level", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no observation time within 3 hours of the prior's valid time 2000-04-01 12:00:00 (nearest: 2001-04-01 12:00:00)"), "{}", stderr(&o));
}

/// A stuck station (psi off by 1e5 m^2/s, 500 standard deviations) is rejected by the background
/// check and a station outside a bounded grid is dropped, each with a WARN line and a count; the
/// other 18 are assimilated. Without the check the LETKF would pull the upper layer towards the
/// bad value: its analysis innovation there is what shows it.
#[test]
fn gross_errors_and_stations_outside_the_grid_are_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let src = NcFile::open(root().join(QG).join("qg_stations.nc")).unwrap();
    let mut psi = src.read("psi").unwrap().data;
    psi.index_axis_mut(Axis(1), 3).mapv_inplace(|v| v + 1e5);
    let mut x = src.read_values("x").unwrap();
    x[7] = 1e9;
    let path = dir.path().join("stations.nc");
    let mut w = NcWriter::create(&path, &IoConfig::default(), "stations with a gross error").unwrap();
    w.dim("time", psi.shape()[0]).unwrap();
    w.dim("station", psi.shape()[1]).unwrap();
    let time_attrs = || vec![("units", "hours since 2000-01-01 00:00:00".into()), ("standard_name", "time".into())];
    w.var_f64("time", &["time"], &src.read_values("time").unwrap(), time_attrs()).unwrap();
    w.var_f64("x", &["station"], &x, vec![("units", "m".into()), ("standard_name", "projection_x_coordinate".into())]).unwrap();
    w.var_f64("y", &["station"], &src.read_values("y").unwrap(), vec![("units", "m".into()), ("standard_name", "projection_y_coordinate".into())]).unwrap();
    w.var_f64("psi", &["time", "station"], psi.as_slice().unwrap(), vec![("units", "m2 s-1".into())]).unwrap();
    w.finish().unwrap();

    let out = dir.path().join("out");
    let o = baseline(&out, path.to_str().unwrap(), &["--method", "letkf", "--obs-level", "0", "--localization-radius", "60000", "--geometry", "plane"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("WARN") && err.contains("1 observations dropped: outside the prior's grid"), "{err}");
    assert!(err.contains("1 of 19 observations rejected by the background check"), "{err}");
    let d = diagnostics(&out, "letkf");
    assert_eq!((d["observations"].as_u64(), d["observations_rejected_gross_error"].as_u64()), (Some(18), Some(1)), "{d}");
    assert_eq!(d["observations_dropped"]["outside_domain"], 1, "{d}");
    // With the check off the bad station is assimilated and drags the analysis: its innovation
    // statistics grow by orders of magnitude.
    let off = dir.path().join("off");
    let o = baseline(&off, path.to_str().unwrap(), &["--method", "letkf", "--obs-level", "0", "--localization-radius", "60000", "--geometry", "plane", "--outlier-threshold", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rms = |d: &serde_json::Value| d["innovation_analysis"]["rms"].as_f64().unwrap();
    assert!(rms(&diagnostics(&off, "letkf")) > 20.0 * rms(&d), "the gross error hardly mattered: {} vs {}", rms(&diagnostics(&off, "letkf")), rms(&d));
}

/// Drifters on the gridded QG model: each member's own upper-layer velocity advects every fix of
/// the day to the next one. On the day's forecast the predicted positions miss by what the
/// position errors explain (innovation RMS within 1.25 of `sqrt(var(Hx) + 2 sigma^2)`), while the
/// same fixes through a broken operator (x and y velocity swapped) miss by far more; a fix dated
/// outside the window is dropped with a WARN line.
#[test]
fn drifters_follow_each_members_velocity_on_a_gridded_model() {
    let dir = tempfile::tempdir().unwrap();
    let drifters = format!("{QG}/drifters_20000401.nc");
    let run = |name: &str, velocity: &str, tolerance: &str| {
        let out = dir.path().join(name);
        let args = ["--method", "letkf", "--obs-operator", "drifters", "--obs-level", "0", "--obs-time-tolerance", tolerance, "--velocity", velocity, "--outlier-threshold", "0"];
        let prior = format!("{QG}/forecast_20000401.nc");
        let mut all = vec!["baseline", "--prior", &prior, "--observations", &drifters, "--out", out.to_str().unwrap()];
        all.extend_from_slice(&["--variable", "psi,u,v", "--obs-error-std", "500", "--geometry", "periodic", "--localization-radius", "60000"]);
        all.extend_from_slice(&args);
        let o = contrada(&all);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        (diagnostics(&out, "letkf"), stderr(&o))
    };
    let (good, _) = run("good", "u,v", "1 day");
    let (swapped, _) = run("swapped", "v,u", "1 day");
    let stat = |d: &serde_json::Value, k: &str| d["innovation_prior"][k].as_f64().unwrap();
    assert_eq!((good["drifter_gaps"].as_u64(), good["drifter_tracks"].as_u64()), (Some(30), Some(10)), "{good}");
    assert!(stat(&good, "rms") < 1.25 * stat(&good, "expected_rms"), "{good}");
    assert!(stat(&swapped, "rms") > 1.3 * stat(&good, "rms"), "swapped velocity fits as well: {swapped}");
    // The analysis moves the velocity.
    let prior_u = members(&root().join(QG).join("forecast_20000401.nc"), "u");
    let analysis_u = members(&dir.path().join("good/analysis_letkf.nc"), "u");
    assert!((&analysis_u - &prior_u).iter().any(|v| v.abs() > 1e-5), "the drifters left u unchanged");
    // With a 12-hour window the fixes from 18:00 the day before are outside: 10 dropped, loudly.
    let (short, err) = run("short", "u,v", "12 hours");
    assert_eq!(short["observations_dropped"]["outside_time_window"], 10, "{short}");
    assert!(err.contains("WARN") && err.contains("10 observations dropped: dated outside obs_time_tolerance"), "{err}");
}

/// Writes `field` (upper layer, y-major) as a gridded observation file valid at 2000-04-01 12:00.
fn write_field(path: &Path, field: &[f64]) {
    let prior = NcFile::open(root().join(QG).join("forecast_20000401.nc")).unwrap();
    let mut w = NcWriter::create(path, &IoConfig::default(), "observations on the grid").unwrap();
    w.dim("time", 1).unwrap();
    w.var_f64("time", &["time"], &[prior.read_values("time").unwrap()[0]], vec![("units", "hours since 2000-01-01 00:00:00".into()), ("standard_name", "time".into())]).unwrap();
    w.coord("x", &prior.read_values("x").unwrap(), vec![("units", "m".into()), ("standard_name", "projection_x_coordinate".into())]).unwrap();
    w.coord("y", &prior.read_values("y").unwrap(), vec![("units", "m".into()), ("standard_name", "projection_y_coordinate".into())]).unwrap();
    w.var_f64("psi", &["time", "y", "x"], field, vec![("units", "m2 s-1".into())]).unwrap();
    w.finish().unwrap();
}

/// An analysis file is a prior: assimilating the stations and then the swath with two ETKF runs
/// equals assimilating both at once in mean and covariance (the ETKF is the Kalman update of the
/// ensemble's moments, and serial Kalman updates with independent errors compose to the joint
/// one), for every variable. A writer that lost a variable, a level or the layout would break the
/// chain; an analysis that used the first prior's moments again would differ.
#[test]
fn two_sources_one_after_the_other_equal_both_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let stations_path = dir.path().join("stations.nc");
    stations_as_grid(&stations_path);
    let stations: Vec<f64> = NcFile::open(&stations_path).unwrap().read("psi").unwrap().data.iter().copied().collect();
    let swath_file = NcFile::open(root().join(QG).join("qg_swath.nc")).unwrap();
    let t = swath_file.read_time("time").unwrap().times.iter().position(|d| d.to_string() == "2000-04-01 12:00:00").unwrap();
    let mut swath: Vec<f64> = swath_file.read("psi").unwrap().data.index_axis(Axis(0), t).iter().copied().collect();
    // Cells seen by both keep the station only, so that the joint file holds the same data.
    for (s, st) in swath.iter_mut().zip(&stations) {
        if st.is_finite() {
            *s = f64::NAN;
        }
    }
    let both: Vec<f64> = stations.iter().zip(&swath).map(|(a, b)| if a.is_finite() { *a } else { *b }).collect();
    let (swath_path, both_path) = (dir.path().join("swath.nc"), dir.path().join("both.nc"));
    write_field(&swath_path, &swath);
    write_field(&both_path, &both);
    let args = ["--method", "etkf", "--obs-level", "0", "--outlier-threshold", "0"];
    let run = |prior: &Path, obs: &Path, out: &str| {
        let out = dir.path().join(out);
        let mut all = vec!["baseline", "--prior", prior.to_str().unwrap(), "--observations", obs.to_str().unwrap(), "--out", out.to_str().unwrap()];
        all.extend_from_slice(&["--variable", "psi,u,v", "--obs-variable", "psi", "--obs-error-std", "100", "--geometry", "periodic"]);
        all.extend_from_slice(&args);
        let o = contrada(&all);
        assert!(o.status.success(), "{}", stderr(&o));
        out.join("analysis_etkf.nc")
    };
    let forecast = root().join(QG).join("forecast_20000401.nc");
    let first = run(&forecast, &stations_path, "first");
    let serial = run(&first, &swath_path, "serial");
    let joint = run(&forecast, &both_path, "joint");
    let (a, b) = (NcFile::open(&serial).unwrap(), NcFile::open(&joint).unwrap());
    // Means and covariances agree; the members differ by a rotation in ensemble space (two
    // symmetric square roots in turn are not the joint one: T2 T1 != T unless they commute).
    let anomalies = |e: &Array2<f64>| {
        let mean = e.mean_axis(Axis(0)).unwrap();
        (e - &mean, mean)
    };
    let max_abs = |x: ndarray::ArrayView2<f64>| x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (psi_s, _) = anomalies(&members(&serial, "psi"));
    let (psi_j, _) = anomalies(&members(&joint, "psi"));
    for var in ["psi", "u", "v"] {
        let prior = members(&forecast, var);
        let ((sa, sm), (ja, jm)) = (anomalies(&members(&serial, var)), anomalies(&members(&joint, var)));
        let increment = (&jm - &prior.mean_axis(Axis(0)).unwrap()).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mean_diff = (&sm - &jm).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(increment > 0.0 && mean_diff < 1e-4 * increment, "{var}: means differ by {mean_diff:e} (increment {increment:e})");
        // Covariance of every element of `var` with every psi element: A_var^T A_psi.
        let (cs, cj) = (sa.t().dot(&psi_s), ja.t().dot(&psi_j));
        let cov_diff = max_abs((&cs - &cj).view());
        assert!(cov_diff < 1e-4 * max_abs(cj.view()), "{var}: covariances with psi differ by {cov_diff:e} of {:e}", max_abs(cj.view()));
        assert_eq!(a.var_dims(var).unwrap(), b.var_dims(var).unwrap());
    }
}

/// The baselines read the observations the learned methods get: ingest's `dataset.nc` of the
/// truth period with stations and the swath (quality-controlled, paired within an hour). The
/// stations taken from it give the same analysis as the raw station file; all sources of the
/// sample at once is the joint analysis of stations and swath.
#[test]
fn observations_from_an_ingest_data_set_are_the_raw_files_observations() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ingest.toml");
    std::fs::write(
        &config,
        r#"
[ingest.state]
variables = ["psi", "u", "v"]
level_dim = "layer"
[ingest.split]
train = 1.0
validation = 0.0
test = 0.0
blocks = 1
[[ingest.observations]]
name = "stations"
kind = "stations"
station_dim = "station"
variables = ["psi"]
error_attribute = "error_std"
window_before = "1 hour"
window_after = "1 hour"
[[ingest.observations]]
name = "swath"
kind = "gridded"
variables = ["psi"]
error_attribute = "error_std"
window_before = "1 hour"
window_after = "1 hour"
"#,
    )
    .unwrap();
    let ingested = dir.path().join("ingested");
    let input = |name: &str, file: &str| format!("{name}={QG}/{file}");
    let o = contrada(&[
        "--quiet",
        "ingest",
        "--config",
        config.to_str().unwrap(),
        "--input",
        &input("states", "qg_truth.nc"),
        "--input",
        &input("stations", "qg_stations.nc"),
        "--input",
        &input("swath", "qg_swath.nc"),
        "--out",
        ingested.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dataset = ingested.join("dataset.nc");
    let run = |obs: &str, obs_variable: &str, out: &str, error: bool| {
        let out = dir.path().join(out);
        let prior = format!("{QG}/forecast_20000401.nc");
        let mut all = vec!["baseline", "--prior", &prior, "--observations", obs, "--out", out.to_str().unwrap(), "--variable", "psi,u,v", "--obs-variable", obs_variable];
        all.extend_from_slice(&["--method", "letkf", "--obs-level", "0", "--geometry", "periodic", "--localization-radius", "60000"]);
        if error {
            all.extend_from_slice(&["--obs-error-std", "100"]);
        }
        let o = contrada(&all);
        assert!(o.status.success(), "{obs}: {}", stderr(&o));
        out
    };
    let raw = run(&format!("{QG}/qg_stations.nc"), "psi", "raw", true);
    let from_dataset = run(dataset.to_str().unwrap(), "stations", "dataset", false);
    let (a, b) = (members(&raw.join("analysis_letkf.nc"), "v"), members(&from_dataset.join("analysis_letkf.nc"), "v"));
    assert_eq!(a, b, "stations from the data set give another analysis");
    let d = diagnostics(&from_dataset, "letkf");
    assert_eq!((d["observations"].as_u64(), d["observation_times"][0].as_str()), (Some(20), Some("2000-04-01 12:00:00")), "{d}");
    let joint = diagnostics(&run(dataset.to_str().unwrap(), "all", "all", false), "letkf");
    let swath_only = diagnostics(&run(&format!("{QG}/qg_swath.nc"), "psi", "swath", true), "letkf");
    let count = |d: &serde_json::Value| d["observations"].as_u64().unwrap() + d["observations_rejected_gross_error"].as_u64().unwrap();
    assert_eq!(count(&joint), 20 + count(&swath_only), "joint {joint}\nswath {swath_only}");
    // A name the data set does not have is refused with what it has.
    let o = contrada(&["baseline", "--prior", &format!("{QG}/forecast_20000401.nc"), "--observations", dataset.to_str().unwrap(), "--out", dir.path().join("bad").to_str().unwrap(), "--variable", "psi", "--obs-variable", "sst", "--obs-level", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`sst` is not an observed variable or source") && stderr(&o).contains("stations.psi"), "{}", stderr(&o));
}

/// A swath given as a full field and a mask: `obs_mask` keeps the masked-in points only, the same
/// observations as the swath with missing values outside (a reader that ignored the mask would
/// assimilate all 1,024 points).
#[test]
fn a_swath_mask_selects_the_observed_points() {
    let dir = tempfile::tempdir().unwrap();
    let src = NcFile::open(root().join(QG).join("qg_swath.nc")).unwrap();
    let psi = src.read("psi").unwrap().data;
    let filled: Vec<f64> = psi.iter().map(|v| if v.is_nan() { 1.0e4 } else { *v }).collect();
    let mask: Vec<f64> = psi.iter().map(|v| if v.is_nan() { 0.0 } else { 1.0 }).collect();
    let path = dir.path().join("filled.nc");
    let mut w = NcWriter::create(&path, &IoConfig::default(), "swath with a mask").unwrap();
    w.dim("time", psi.shape()[0]).unwrap();
    w.var_f64("time", &["time"], &src.read_values("time").unwrap(), vec![("units", "hours since 2000-01-01 00:00:00".into()), ("standard_name", "time".into())]).unwrap();
    w.coord("x", &src.read_values("x").unwrap(), vec![("units", "m".into())]).unwrap();
    w.coord("y", &src.read_values("y").unwrap(), vec![("units", "m".into())]).unwrap();
    w.var_f64("psi", &["time", "y", "x"], &filled, vec![("units", "m2 s-1".into())]).unwrap();
    w.var_f64("mask", &["time", "y", "x"], &mask, vec![("units", "1".into())]).unwrap();
    w.finish().unwrap();
    let count = |obs: &str, extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args = vec!["--method", "etkf", "--obs-level", "0", "--outlier-threshold", "0"];
        args.extend_from_slice(extra);
        let o = baseline(&out, obs, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        diagnostics(&out, "etkf")["observations"].as_u64().unwrap()
    };
    let swath = count(&format!("{QG}/qg_swath.nc"), &[], "swath");
    assert_eq!(count(path.to_str().unwrap(), &["--obs-mask", "mask"], "masked"), swath);
    assert_eq!(count(path.to_str().unwrap(), &[], "unmasked"), 1024);
}
