//! `contrada synth qg` end to end on a small configuration: every file passes `contrada inspect`
//! without a CF problem, and each part has the property it is made for, checked against what it
//! was made from (the truth file): station and swath errors of the stated size, forecasts whose
//! spread matches their error, drifters that move with the flow.

use std::path::{Path, PathBuf};

use contrada::cf::NcFile;
use contrada::cf::dsg::{DsgNames, read_trajectories};

use crate::common::{contrada_in, stderr, stdout};

/// A 32 x 32 ocean of half the default side (the default resolution) with a short spin-up.
const SMALL: &str = r#"
[synth.qg]
spinup_days = 900.0
samples = 20
gap_days = 5.0
truth_days = 4
members = 12
stations = 20
drifters = 8
obs_every_hours = 6.0
write_q = true
[synth.qg.model]
side_m = 500000.0
nx = 32
"#;

fn generate(dir: &Path, config: &str, name: &str) -> PathBuf {
    std::fs::write(dir.join(format!("{name}.toml")), config).unwrap();
    let out = contrada_in(dir, &["synth", "qg", "--out", name, "--config", &format!("{name}.toml"), "--seed", "11"]);
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join(name)
}

fn values(file: &NcFile, var: &str) -> Vec<f64> {
    file.read(var).unwrap().data.into_raw_vec_and_offset().0
}

fn std_of(x: &[f64]) -> f64 {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn qg_osse_files_pass_inspect_and_carry_errors_of_the_stated_size() {
    let tmp = tempfile::tempdir().unwrap();
    let out = generate(tmp.path(), SMALL, "qg");
    let mut names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let forecasts: Vec<&String> = names.iter().filter(|n| n.starts_with("forecast_")).collect();
    assert_eq!(forecasts.len(), 4, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("drifters_")).count(), 4, "{names:?}");
    for name in &names {
        let report = contrada_in(tmp.path(), &["inspect", "--strict", out.join(name).to_str().unwrap()]);
        assert!(report.status.success(), "{name}: {}{}", stdout(&report), stderr(&report));
    }
    let truth = NcFile::open(out.join("qg_truth.nc")).unwrap();
    let psi = truth.read_expect("psi", &["time", "layer", "y", "x"]).unwrap().data;
    assert!(truth.is_f32("psi").unwrap(), "states are float32");
    let truth_times = truth.read_time("time").unwrap().values;
    let (n, n2) = (32, 32 * 32);
    let upper = |t: usize| psi.index_axis(ndarray::Axis(0), t).index_axis(ndarray::Axis(0), 0).iter().copied().collect::<Vec<f64>>();
    let eddy_std = std_of(&upper(0));
    // The initial noise (RMS PV 1e-7 s^-1) has psi of about q rd^2 = 20 m^2/s; equilibrated eddies
    // of ~0.03 m/s over ~30 km have about 1000.
    assert!(eddy_std > 300.0, "a spun-up ocean has eddies: upper-layer psi std {eddy_std} m^2/s");

    // Stations: at the truth times, observation minus truth has the stated error.
    for (file, dims) in [("qg_stations.nc", ["time", "station"]), ("qg_stations_by_station.nc", ["station", "time"])] {
        let st = NcFile::open(out.join(file)).unwrap();
        assert_eq!(st.attr_str(None, "featureType").as_deref(), Some("timeSeries"));
        let obs = st.read_expect("psi", &dims).unwrap().data;
        let (xs, ys) = (values(&st, "x"), values(&st, "y"));
        let times = st.read_time("time").unwrap().values;
        let dx = 500e3 / n as f64;
        let mut residuals = Vec::new();
        for (ti, t) in times.iter().enumerate() {
            let Some(k) = truth_times.iter().position(|u| (u - t).abs() < 1e-6) else { continue };
            let field = upper(k);
            for s in 0..xs.len() {
                let cell = ((ys[s] / dx - 0.5).round() as usize) * n + (xs[s] / dx - 0.5).round() as usize;
                let o = if dims[0] == "time" { obs[[ti, s]] } else { obs[[s, ti]] };
                residuals.push(o - field[cell]);
            }
        }
        let stated = st.attr_f64s(Some("psi"), "error_std").unwrap()[0];
        let measured = std_of(&residuals);
        eprintln!("{file}: observation - truth std {measured:.1} over {} residuals, stated {stated}", residuals.len());
        assert!(
            residuals.len() >= 100 && (measured / stated - 1.0).abs() < 0.25,
            "{file}: error std {measured} over {} residuals, stated {stated}",
            residuals.len()
        );
    }

    // The swath: observed only inside the band, which moves by the stated shift each day.
    let sw = NcFile::open(out.join("qg_swath.nc")).unwrap();
    let mask = sw.read_expect("mask", &["time", "y", "x"]).unwrap().data;
    let obs = sw.read_expect("psi", &["time", "y", "x"]).unwrap().data;
    let centre = |d: usize| {
        let cols: Vec<usize> = (0..n).filter(|&i| mask[[d, 0, i]] == 1.0).collect();
        assert!(!cols.is_empty() && cols.len() < n, "day {d}: a band, not the whole domain");
        cols
    };
    let (a, b) = (centre(0), centre(1));
    let shift = (b[0] as i64 - a[0] as i64).rem_euclid(n as i64) as f64 * 500e3 / n as f64;
    assert!((shift - 130e3).abs() <= 500e3 / n as f64, "the swath moved {shift} m in a day; expected 130 km");
    assert!(obs.iter().zip(mask.iter()).all(|(v, m)| v.is_finite() == (*m == 1.0)), "values exactly inside the swath");

    // Forecasts: members differ, their spread matches the error of their mean (calibration).
    let (mut err2, mut var) = (0.0, 0.0);
    for f in &forecasts {
        let fc = NcFile::open(out.join(f)).unwrap();
        let valid = fc.read_time("time").unwrap().values;
        assert_eq!(valid.len(), 1, "a scalar valid time");
        let k = truth_times.iter().position(|u| (u - valid[0]).abs() < 1e-6).expect("the valid time is a truth time");
        let members = fc.read_expect("psi", &["member", "layer", "y", "x"]).unwrap().data;
        let m = members.shape()[0];
        assert_eq!(m, 12);
        let field = upper(k);
        for c in 0..n2 {
            let vals: Vec<f64> = (0..m).map(|i| members[[i, 0, c / n, c % n]]).collect();
            let mean = vals.iter().sum::<f64>() / m as f64;
            err2 += (mean - field[c]).powi(2);
            var += vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
        }
    }
    // For a calibrated ensemble E|mean - truth|^2 = (1 + 1/m) E[spread^2].
    let ratio = (var * (1.0 + 1.0 / 12.0) / err2).sqrt();
    eprintln!("forecasts: spread / error of the mean {ratio:.3} (RMS error {:.1} m^2/s)", (err2 / (4 * n2) as f64).sqrt());
    assert!((0.6..1.6).contains(&ratio), "spread / error of the forecast mean {ratio}; a calibrated ensemble gives about 1");

    // Drifters: one file for the period and one per day, together the same records.
    let all = read_trajectories(&NcFile::open(out.join("qg_drifters.nc")).unwrap(), &DsgNames::default()).unwrap();
    assert_eq!(all.trajectories.len(), 8);
    let per_day: usize = names
        .iter()
        .filter(|n| n.starts_with("drifters_"))
        .map(|n| read_trajectories(&NcFile::open(out.join(n)).unwrap(), &DsgNames::default()).unwrap().trajectories.iter().map(|t| t.time.len()).sum::<usize>())
        .sum();
    assert_eq!(per_day, all.trajectories.iter().map(|t| t.time.len()).sum::<usize>());
    assert_eq!(all.trajectories[0].time.len(), 4 * 4, "four days of six-hourly fixes");
}

#[test]
fn drifters_in_a_still_ocean_move_with_the_background_flow_exactly() {
    // No eddies (no spin-up, a vanishing initial state): the upper layer moves at U1 = 0.025 m/s,
    // so every drifter moves east by U1 t and not north. A wrong time or space interpolation, a
    // missing background flow or a wrong RK4 weight would show here.
    let tmp = tempfile::tempdir().unwrap();
    let config = "[synth.qg]\nspinup_days = 0.0\ninitial_q_rms = 1e-15\nsamples = 2\ngap_days = 0.0\ntruth_days = 2\nmembers = 2\nstations = 4\ndrifters = 5\ndrifter_error_m = 0.0\n[synth.qg.model]\nside_m = 500000.0\nnx = 32\n";
    let out = generate(tmp.path(), config, "still");
    let set = read_trajectories(&NcFile::open(out.join("qg_drifters.nc")).unwrap(), &DsgNames::default()).unwrap();
    for t in &set.trajectories {
        for w in 1..t.time.len() {
            let hours = t.time[w] - t.time[0];
            let dx = (t.x[w] - t.x[0]).rem_euclid(500e3);
            assert!((dx - 0.025 * hours * 3600.0).abs() < 1e-3, "drifter {}: moved {dx} m east in {hours} h", t.id);
            assert!((t.y[w] - t.y[0]).abs() < 1e-3, "drifter {}: moved north", t.id);
        }
    }
}
