//! The `baseline` stage end to end, through the real binary: a prior ensemble (member dimension in
//! the middle, a land point, extra coordinate variables) and gridded observations written here,
//! a pipeline with ETKF, EnKF and LETKF stages, and the outputs (`analysis_<method>.nc`,
//! `diagnostics_<method>.json`, the `assimilate` stage's convention) checked against the exact
//! Kalman update of the prior's mean and sample covariance (which the ETKF reproduces exactly, and
//! the EnKF's mean too, its perturbations being centred).

use std::path::Path;
use std::process::Command;

use contrada::cf::{NcFile, NcWriter};
use contrada::config::IoConfig;
use ndarray::{Array1, Array2};
use ndarray_linalg::Inverse;

const N_X: usize = 12;

/// Serialises the tests of this file: a child process forked while another test thread has an
/// HDF5 file open for writing inherits that descriptor and its lock, and a sibling child then
/// fails to open the file ("HDF error"). One contrada process never forks while writing, so this
/// is a property of running tests in threads, not of the program.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
const MEMBERS: usize = 6;
const LAND: usize = 5;
const OBS_STD: f64 = 0.5;

/// Member `i`, point `j` of the prior (NaN at the land point).
fn prior_value(i: usize, j: usize) -> f64 {
    if j == LAND { f64::NAN } else { (0.7 * j as f64 + 1.3 * i as f64).sin() * 2.0 + 0.1 * (i * j) as f64 + (i as f64 * 0.37).cos() }
}

/// Observation at time `t`, point `j`; NaN where unobserved.
fn obs_value(t: usize, j: usize) -> f64 {
    if j % 4 == 1 { f64::NAN } else { (j as f64 * 0.9 + t as f64).cos() * 1.5 }
}

fn write_inputs(dir: &Path) {
    let io = IoConfig::default();
    let mut w = NcWriter::create(&dir.join("prior.nc"), &io, "test prior").unwrap();
    w.dim("time", 1).unwrap();
    w.dim("member", MEMBERS).unwrap();
    w.coord("x", &(0..N_X).map(|j| j as f64 * 0.5).collect::<Vec<_>>(), vec![("units", "m".into()), ("axis", "X".into())]).unwrap();
    w.var_f64("time", &["time"], &[3.0], vec![("units", "days since 2000-01-01".into()), ("standard_name", "time".into())]).unwrap();
    w.var_i32("member", &["member"], &(0..MEMBERS as i32).collect::<Vec<_>>(), vec![("long_name", "ensemble member".into())]).unwrap();
    let values: Vec<f64> = (0..MEMBERS).flat_map(|i| (0..N_X).map(move |j| prior_value(i, j))).collect();
    w.var_f64("psi", &["time", "member", "x"], &values, vec![("units", "m2 s-1".into()), ("long_name", "streamfunction".into())]).unwrap();
    w.finish().unwrap();

    let mut w = NcWriter::create(&dir.join("obs.nc"), &io, "test observations").unwrap();
    w.dim("time", 3).unwrap();
    w.dim("x", N_X).unwrap();
    let obs: Vec<f64> = (0..3).flat_map(|t| (0..N_X).map(move |j| obs_value(t, j))).collect();
    w.var_f64("psi_obs", &["time", "x"], &obs, vec![("units", "m2 s-1".into())]).unwrap();
    w.finish().unwrap();
}

fn write_pipeline(dir: &Path, extra_options: &str) -> std::path::PathBuf {
    let (prior, obs) = (dir.join("prior.nc"), dir.join("obs.nc"));
    let common = format!(
        r#"inputs = {{ prior = "{}", observations = "{}" }}
options = {{ variable = "psi", obs_variable = "psi_obs", obs_time_index = 1, obs_error_std = {OBS_STD}, geometry = "periodic"{extra_options} }}"#,
        prior.display(),
        obs.display()
    );
    let text = format!(
        r#"[pipeline]
name = "kalman-stage"
[[pipeline.stages]]
name = "etkf"
kind = "baseline"
{common}
[[pipeline.stages]]
name = "enkf"
kind = "baseline"
{}
[[pipeline.stages]]
name = "letkf"
kind = "baseline"
{}
[baseline]
method = "etkf"
localization_radius = 1.0e6
"#,
        common.replace("geometry = \"periodic\"", "geometry = \"periodic\", method = \"enkf\""),
        common.replace("geometry = \"periodic\"", "geometry = \"periodic\", method = \"letkf\""),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn contrada(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_contrada")).args(args).output().unwrap()
}

/// The exact Kalman update of the prior's wet points: (mean, covariance).
fn expected() -> (Vec<usize>, Array1<f64>, Array2<f64>) {
    let wet: Vec<usize> = (0..N_X).filter(|&j| j != LAND).collect();
    let e = Array2::from_shape_fn((MEMBERS, wet.len()), |(i, k)| prior_value(i, wet[k]));
    let mean = e.mean_axis(ndarray::Axis(0)).unwrap();
    let a = &e - &mean;
    let p = a.t().dot(&a) / (MEMBERS - 1) as f64;
    let observed: Vec<usize> = (0..wet.len()).filter(|&k| obs_value(1, wet[k]).is_finite()).collect();
    let h = Array2::from_shape_fn((observed.len(), wet.len()), |(o, k)| if observed[o] == k { 1.0 } else { 0.0 });
    let y = Array1::from_iter(observed.iter().map(|&k| obs_value(1, wet[k])));
    let s = h.dot(&p).dot(&h.t()) + Array2::<f64>::eye(observed.len()) * OBS_STD * OBS_STD;
    let k = p.dot(&h.t()).dot(&s.inv().unwrap());
    let xa = &mean + &k.dot(&(&y - &h.dot(&mean)));
    let pa = (Array2::<f64>::eye(wet.len()) - k.dot(&h)).dot(&p);
    (wet, xa, pa)
}

/// The analysed ensemble (members x wet points) from an output file.
fn analysed(path: &Path, wet: &[usize]) -> Array2<f64> {
    let f = NcFile::open(path).unwrap();
    let psi = f.read_expect("psi", &["time", "member", "x"]).unwrap();
    assert!(psi.data.iter().enumerate().all(|(k, v)| (k % N_X == LAND) == v.is_nan()), "only the land point is missing");
    Array2::from_shape_fn((MEMBERS, wet.len()), |(i, k)| psi.data[[0, i, wet[k]]])
}

#[test]
fn baseline_stage_matches_the_kalman_update() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let pipeline = write_pipeline(dir.path(), "");
    let run_dir = dir.path().join("run");
    let out = contrada(&["run", pipeline.to_str().unwrap(), "--run-dir", run_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (wet, xa, pa) = expected();

    for stage in ["etkf", "enkf", "letkf"] {
        let file = run_dir.join(stage).join(format!("analysis_{stage}.nc"));
        let e = analysed(&file, &wet);
        let mean = e.mean_axis(ndarray::Axis(0)).unwrap();
        assert!((&mean - &xa).iter().all(|d| d.abs() < 1e-9), "{stage}: analysis mean differs from the Kalman mean");
        let a = &e - &mean;
        let cov = a.t().dot(&a) / (MEMBERS - 1) as f64;
        if stage != "enkf" {
            // Deterministic square roots: the covariance is exact too (LETKF with an infinite radius
            // is the ETKF).
            assert!((&cov - &pa).iter().all(|d| d.abs() < 1e-9), "{stage}: analysis covariance differs");
        } else {
            // Perturbed observations: right only in expectation, but never the prior's.
            let prior_cov_trace: f64 = (0..wet.len()).map(|k| Array1::from_iter((0..MEMBERS).map(|i| prior_value(i, wet[k]))).var(1.0)).sum();
            assert!(cov.diag().sum() < prior_cov_trace);
        }

        // Same layout and variables as the prior, plus the analysis fields.
        let f = NcFile::open(&file).unwrap();
        let mut names = f.var_names();
        names.sort();
        assert_eq!(names, vec!["member", "psi", "psi_increment", "psi_mean", "psi_spread", "time", "x"]);
        assert!(f.is_integer("member").unwrap());
        assert_eq!(f.attr_str(Some("psi"), "units").as_deref(), Some("m2 s-1"));
        assert_eq!(f.attr_str(Some("time"), "units").as_deref(), Some("days since 2000-01-01"));

        // Analysis fields: mean and spread of the analysis ensemble on the state grid.
        let fields = NcFile::open(&file).unwrap();
        let m = fields.read_expect("psi_mean", &["time", "x"]).unwrap();
        let s = fields.read_expect("psi_spread", &["time", "x"]).unwrap();
        assert!(m.data[[0, LAND]].is_nan() && s.data[[0, LAND]].is_nan());
        for (k, &j) in wet.iter().enumerate() {
            assert!((m.data[[0, j]] - mean[k]).abs() < 1e-12);
            assert!((s.data[[0, j]] - cov[(k, k)].sqrt()).abs() < 1e-12);
        }
        assert_eq!(fields.read("x").unwrap().data.len(), N_X);
        let diagnostics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join(stage).join(format!("diagnostics_{stage}.json"))).unwrap()).unwrap();
        assert_eq!(diagnostics["method"], stage);
        assert!(diagnostics["wall_time_s"].as_f64().unwrap() > 0.0);
    }

    // The manifest summary has the innovation diagnostics: the analysis fits the data better.
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("etkf/manifest.json")).unwrap()).unwrap();
    let summary = &manifest["summary"];
    // Points 1, 5 (also land) and 9 are unobserved at time 1: 9 observations.
    assert_eq!(summary["observations"], 9);
    assert_eq!(summary["observations_dropped"]["missing"], 3);
    assert!(summary["innovation_analysis"]["rms"].as_f64().unwrap() < summary["innovation_prior"]["rms"].as_f64().unwrap());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let cases = [
        (", member_dim = \"ens\"", "expected a member dimension `ens`"),
        (", obs_time_index = 7", "obs_time_index"),
        (", geometry = \"spherical\"", "geometry"),
    ];
    for (extra, message) in cases {
        // The extra options replace the defaults written first (TOML tables reject duplicate keys,
        // so the base options are written without the overridden key).
        let pipeline = write_pipeline(dir.path(), extra);
        let text = std::fs::read_to_string(&pipeline).unwrap();
        let text = if extra.contains("obs_time_index") { text.replace("obs_time_index = 1, ", "") } else { text };
        let text = if extra.contains("geometry") { text.replace("geometry = \"periodic\", ", "") } else { text };
        std::fs::write(&pipeline, text).unwrap();
        let run_dir = dir.path().join(format!("run{}", message.len()));
        let out = contrada(&["run", pipeline.to_str().unwrap(), "--run-dir", run_dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {stderr}");
        assert!(stderr.contains(message), "{extra}: {stderr}");
        assert!(!run_dir.join("etkf/analysis_etkf.nc").exists(), "no partial output");
    }
}

#[test]
fn baseline_command_writes_the_same_analysis() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let (prior, obs, out) = (dir.path().join("prior.nc"), dir.path().join("obs.nc"), dir.path().join("out"));
    let base = [
        "baseline",
        "--prior",
        prior.to_str().unwrap(),
        "--observations",
        obs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--variable",
        "psi",
        "--obs-variable",
        "psi_obs",
        "--obs-time-index",
        "1",
        "--geometry",
        "periodic",
        "--method",
        "letkf",
        "--set",
        "baseline.localization_radius=1e6",
    ];
    // A missing error standard deviation is a usage error naming the flag, with nothing written.
    let missing = contrada(&base);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--obs-error-std"), "{}", String::from_utf8_lossy(&missing.stderr));
    assert!(!out.exists() && !dir.path().join(".out.partial").exists());

    let mut args = base.to_vec();
    args.extend(["--obs-error-std", "0.5"]);
    let run = contrada(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["method"], "letkf");
    let (wet, xa, _) = expected();
    let e = analysed(&out.join("analysis_letkf.nc"), &wet);
    let mean = e.mean_axis(ndarray::Axis(0)).unwrap();
    assert!((&mean - &xa).iter().all(|d| d.abs() < 1e-9));
    assert!(out.join("diagnostics_letkf.json").is_file());
}
