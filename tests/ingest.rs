//! The ingest stage end to end, through the `contrada` binary: files written here with known
//! contents are paired, quality-controlled and normalised, and `dataset.nc` is checked against
//! what was written.

use crate::common;

use std::path::{Path, PathBuf};

use common::{contrada_in, stderr};
use contrada::cf::NcWriter;
use contrada::cf::dsg::{Layout, Trajectory, TrajectorySet, write_ragged};
use contrada::cf::time::{Calendar, TimeUnits};
use contrada::config::IoConfig;
use contrada::ingest::dataset::Dataset;
use contrada::ingest::split::Split;
use netcdf::AttributeValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Attrs = Vec<(&'static str, AttributeValue)>;

fn time_attrs(units: &str, calendar: &str) -> Attrs {
    vec![("standard_name", "time".into()), ("units", units.to_string().into()), ("calendar", calendar.to_string().into()), ("axis", "T".into())]
}

fn write_file(path: &Path, f: impl FnOnce(&mut NcWriter)) -> PathBuf {
    let mut w = NcWriter::create(path, &IoConfig::default(), "ingest test").unwrap();
    f(&mut w);
    w.finish().unwrap();
    path.to_path_buf()
}

/// Runs `contrada ingest` in `dir` with `config` (TOML text) and `--input` pairs; returns the
/// output and the output directory.
fn ingest(dir: &Path, config: &str, inputs: &[(&str, &str)], extra: &[&str]) -> (std::process::Output, PathBuf) {
    let cfg = dir.join("ingest.toml");
    std::fs::write(&cfg, config).unwrap();
    let out = dir.join("out");
    let mut args: Vec<String> = vec!["ingest".into(), "--config".into(), cfg.display().to_string(), "--out".into(), out.display().to_string()];
    for (k, v) in inputs {
        args.push("--input".into());
        args.push(format!("{k}={v}"));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (contrada_in(dir, &args), out)
}

fn ok(o: &std::process::Output) {
    assert_eq!(o.status.code(), Some(0), "stderr:\n{}", stderr(o));
}

fn qc_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("qc.json")).unwrap()).unwrap()
}

/// The Lagrangian OSSE layout: states with 98 coefficients per sample time, drifters as a CF
/// contiguous ragged array whose tracks end at the sample times.
struct Lagrangian {
    times: Vec<f64>,
    coef: Vec<Vec<f64>>,
    /// Track `sample * drifters + d`, points `[x, y]`.
    tracks: Vec<Vec<[f64; 2]>>,
}

const DRIFTERS: usize = 2;
const POINTS: usize = 25;
/// Spacing of the kept drifter positions, days (15 minutes: a 6-hour segment of 25 points).
const SPACING: f64 = 0.25 / 24.0;

fn lagrangian(dir: &Path, samples: usize, split_at: usize) -> Lagrangian {
    let mut rng = StdRng::seed_from_u64(11);
    let times: Vec<f64> = (0..samples).map(|i| i as f64).collect();
    let coef: Vec<Vec<f64>> = (0..samples).map(|_| (0..98).map(|k| rng.random::<f64>() * (1.0 + k as f64 / 10.0) - 0.5).collect()).collect();
    let units = "days since 2000-01-01 12:00:00";
    for (name, range) in [("states_a.nc", 0..split_at), ("states_b.nc", split_at..samples)] {
        write_file(&dir.join(name), |w| {
            w.coord("time", &times[range.clone()], time_attrs(units, "standard")).unwrap();
            w.dim("coef_index", 98).unwrap();
            let flat: Vec<f64> = coef[range].iter().flatten().copied().collect();
            w.var_f64("coef", &["time", "coef_index"], &flat, vec![("units", "1".into()), ("long_name", "streamfunction Fourier coefficients".into())])
                .unwrap();
        });
    }
    let mut tracks = Vec::new();
    let mut trajectories = Vec::new();
    for &t in &times {
        for _ in 0..DRIFTERS {
            let mut p = [rng.random::<f64>(), rng.random::<f64>()];
            let track: Vec<[f64; 2]> = (0..POINTS)
                .map(|_| {
                    p = [p[0] + 0.01 * (rng.random::<f64>() - 0.5), p[1] + 0.01 * (rng.random::<f64>() - 0.5)];
                    p
                })
                .collect();
            trajectories.push(Trajectory {
                id: trajectories.len().to_string(),
                time: (0..POINTS).map(|j| t - (POINTS - 1 - j) as f64 * SPACING).collect(),
                x: track.iter().map(|q| q[0]).collect(),
                y: track.iter().map(|q| q[1]).collect(),
            });
            tracks.push(track);
        }
    }
    // A drifter that only covers the last 3 hours before sample 5: partial, never used.
    trajectories.push(Trajectory {
        id: "extra".into(),
        time: (12..POINTS).map(|j| 5.0 - (POINTS - 1 - j) as f64 * SPACING).collect(),
        x: vec![0.5; POINTS - 12],
        y: vec![0.5; POINTS - 12],
    });
    let set = TrajectorySet {
        time_units: TimeUnits::parse(units, Calendar::Standard).unwrap(),
        trajectories,
        layout: Layout::ContiguousRagged,
        names: ["time".into(), "x".into(), "y".into()],
    };
    write_file(&dir.join("drifters.nc"), |w| {
        let attrs = |a: &str| -> Attrs { vec![("units", "1".into()), ("axis", a.to_string().into())] };
        write_ragged(w, &set, attrs("X"), attrs("Y")).unwrap();
    });
    Lagrangian { times, coef, tracks }
}

const LAGRANGIAN_CONFIG: &str = r#"
[ingest]
precision = "f64"
[ingest.state]
variables = ["coef"]
[ingest.split]
train = 0.5
validation = 0.25
test = 0.25
blocks = 8
[ingest.eof]
modes = 6
[[ingest.observations]]
name = "drifters"
kind = "trajectories"
segment = "6 hours"
points = 25
"#;

#[test]
fn lagrangian_pairs_match_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let n = 40;
    let truth = lagrangian(dir, n, 25);
    let (o, out) = ingest(dir, LAGRANGIAN_CONFIG, &[("states", "states_*.nc"), ("drifters", "drifters.nc")], &[]);
    ok(&o);
    let d = Dataset::load(out.join("dataset.nc")).unwrap();
    assert_eq!(d.state.dim(), (n, 98), "every sample paired, none guarded: 6-hour windows, one day apart");
    assert_eq!(d.obs.ncols(), DRIFTERS * POINTS * 2, "two tracks found automatically");
    assert_eq!(d.state_files.len(), 2);
    for i in 0..n {
        let (file, index) = d.source[i];
        let g = [0, 25][file] + index;
        assert_eq!(d.time[i], truth.times[g]);
        assert_eq!(d.state.row(i).to_vec(), truth.coef[g], "sample {i}");
        for s in 0..DRIFTERS {
            for p in 0..POINTS {
                for c in 0..2 {
                    let k = (s * POINTS + p) * 2 + c;
                    let want = truth.tracks[g * DRIFTERS + s][p][c];
                    assert!((d.obs[[i, k]] - want).abs() < 1e-12, "sample {i} slot {s} point {p}: {} vs {want}", d.obs[[i, k]]);
                    assert_eq!(d.obs_mask[[i, k]], 1);
                }
            }
        }
    }
    for p in 0..POINTS {
        let offset = -((POINTS - 1 - p) as f64) * SPACING * 86_400.0;
        assert!((d.obs_layout.time_offset[2 * p] - offset).abs() < 1e-6, "point {p}");
    }
    assert_eq!(d.obs_layout.variable_names, vec!["drifters.x", "drifters.y"]);
    let qc = qc_json(&out);
    assert_eq!(qc["pairing"]["paired"], 40);
    assert_eq!(qc["pairing"]["sources"][0]["tracks"], 2);
    assert_eq!(qc["pairing"]["sources"][0]["tracks_partial_unused"], 1, "the 3-hour drifter: {qc:#}");
    assert_eq!(qc["samples"]["written"], 40);
    let counts: Vec<usize> = Split::ALL.iter().map(|&s| d.indices(s).len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), n);
    assert_eq!(counts, vec![20, 10, 10], "4 of 8 blocks of 5 samples train, 2 validation, 2 test");

    // Normalisation per variable: one mean and sample std over every training value.
    let train = d.indices(Split::Train);
    let values: Vec<f64> = train.iter().flat_map(|&i| truth.coef[[0, 25][d.source[i].0] + d.source[i].1].clone()).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt();
    assert!(d.state_mean.iter().all(|m| (m - mean).abs() < 1e-12));
    assert!(d.state_std.iter().all(|s| (s - std).abs() < 1e-12));

    // EOF reconstruction error equals the variance the kept modes do not explain.
    let eof = d.eof.as_ref().expect("eof basis");
    assert_eq!((eof.modes.nrows(), eof.snapshots, eof.training_snapshots), (6, 20, 20));
    let z = d.normalised_state();
    let mut residual = 0.0;
    for &i in &train {
        let x = &z.row(i) - &eof.mean;
        let coeffs = eof.modes.dot(&x);
        let r = &x - &eof.modes.t().dot(&coeffs);
        residual += r.dot(&r);
    }
    residual /= (train.len() - 1) as f64;
    let unexplained = eof.total_variance - eof.variance.sum();
    assert!(unexplained > 0.1 * eof.total_variance, "6 modes of 98 leave most of the variance unexplained");
    assert!((residual - unexplained).abs() < 1e-9 * eof.total_variance, "{residual} vs {unexplained}");
    let gram = eof.modes.dot(&eof.modes.t());
    for a in 0..6 {
        for b in 0..6 {
            assert!((gram[[a, b]] - f64::from(a == b)).abs() < 1e-10, "modes orthonormal");
        }
        if a > 0 {
            assert!(eof.variance[a] <= eof.variance[a - 1]);
        }
    }
}

/// A (time, depth, y, x) ocean state with a land mask, a station file and a gridded SST file
/// with a static mask, all in different time units.
fn ocean_files(dir: &Path) {
    let land = [(0usize, 0usize), (2, 3)];
    let is_land = |y: usize, x: usize| land.contains(&(y, x));
    write_file(&dir.join("ocean.nc"), |w| {
        let days: Vec<f64> = (0..6).map(|d| d as f64 * 24.0).collect();
        w.coord("time", &days, time_attrs("hours since 2020-01-01", "standard")).unwrap();
        w.coord("depth", &[5.0, 50.0], vec![("units", "m".into()), ("axis", "Z".into()), ("positive", "down".into())]).unwrap();
        w.coord("y", &[10.0, 11.0, 12.0], vec![("units", "degrees_north".into()), ("standard_name", "latitude".into())]).unwrap();
        w.coord("x", &[0.0, 1.0, 2.0, 3.0], vec![("units", "degrees_east".into()), ("standard_name", "longitude".into())]).unwrap();
        let mask: Vec<i32> = (0..12).map(|p| i32::from(!is_land(p / 4, p % 4))).collect();
        w.var_i32("mask", &["y", "x"], &mask, vec![("long_name", "1 = sea".into())]).unwrap();
        let mut temp = Vec::new();
        let mut ssh = Vec::new();
        for d in 0..6 {
            for l in 0..2 {
                for p in 0..12 {
                    let v = 10.0 + d as f64 + 0.1 * l as f64 + 0.01 * p as f64;
                    // Land is fill; day 3 misses a sea value: that snapshot fails QC.
                    temp.push(if is_land(p / 4, p % 4) || (d == 3 && l == 1 && p == 5) { f64::NAN } else { v });
                }
            }
            for p in 0..12 {
                // Day 4 has an impossible sea level at one point: outside the configured limits.
                ssh.push(if is_land(p / 4, p % 4) {
                    f64::NAN
                } else if d == 4 && p == 6 {
                    99.0
                } else {
                    0.1 * d as f64 - 0.01 * p as f64
                });
            }
        }
        w.var_f64("temp", &["time", "depth", "y", "x"], &temp, vec![("units", "degC".into()), ("standard_name", "sea_water_temperature".into())]).unwrap();
        w.var_f64("ssh", &["time", "y", "x"], &ssh, vec![("units", "m".into())]).unwrap();
    });
    write_file(&dir.join("tide.nc"), |w| {
        // Every 6 hours for 5 days (no observation on day 5).
        let t: Vec<f64> = (0..20).map(|k| k as f64 * 0.25).collect();
        w.coord("time", &t, time_attrs("days since 2020-01-01", "standard")).unwrap();
        w.dim("station", 4).unwrap();
        w.var_f64("lon", &["station"], &[0.5, 1.5, 2.5, 9.0], vec![("standard_name", "longitude".into()), ("units", "degrees_east".into())]).unwrap();
        w.var_f64("lat", &["station"], &[10.5, 11.0, 11.5, 10.0], vec![("standard_name", "latitude".into()), ("units", "degrees_north".into())]).unwrap();
        let mut v = Vec::new();
        for k in 0..20 {
            for s in 0..4 {
                v.push(match (k, s) {
                    (4, 1) => -999.0,
                    (8, 2) => 1.0e4,
                    _ => 100.0 * s as f64 + k as f64,
                });
            }
        }
        w.var_f64("ssh_obs", &["time", "station"], &v, vec![("units", "cm".into()), ("_FillValue", (-999.0).into()), ("error_std", 0.05.into())]).unwrap();
    });
    write_file(&dir.join("sst.nc"), |w| {
        let hours: Vec<f64> = (0..144).map(f64::from).collect();
        w.coord("time", &hours, time_attrs("hours since 2020-01-01", "standard")).unwrap();
        w.coord("lat", &[10.2, 11.2], vec![("standard_name", "latitude".into()), ("units", "degrees_north".into())]).unwrap();
        w.coord("lon", &[0.5, 1.5, 2.5], vec![("standard_name", "longitude".into()), ("units", "degrees_east".into())]).unwrap();
        w.var_i32("land_mask", &["lat", "lon"], &[1, 1, 1, 1, 1, 0], vec![]).unwrap();
        let mut v = Vec::new();
        for h in 0..144 {
            for p in 0..6 {
                // A cloud over point 0 at 01:00 on day 1.
                v.push(if h == 25 && p == 0 { f64::NAN } else { 20.0 + p as f64 + h as f64 / 100.0 });
            }
        }
        w.var_f64("sst", &["time", "lat", "lon"], &v, vec![("units", "degC".into())]).unwrap();
    });
}

fn ocean_config(incomplete: &str) -> String {
    format!(
        r#"
[ingest]
incomplete = "{incomplete}"
[ingest.state]
variables = ["temp", "ssh"]
level_dim = "depth"
mask_var = "mask"
limits = [{{ variable = "ssh", min = -5.0, max = 5.0 }}]
[ingest.qc]
domain_x = [0.0, 4.0]
[ingest.split]
train = 1.0
validation = 0.0
test = 0.0
[ingest.eof]
modes = 3
[[ingest.observations]]
name = "tide"
kind = "stations"
station_dim = "station"
variables = ["ssh_obs"]
window_before = "3 hours"
window_after = "3 hours"
error_attribute = "error_std"
limits = [{{ variable = "ssh_obs", min = -500.0, max = 500.0 }}]
[[ingest.observations]]
name = "sst"
kind = "gridded"
variables = ["sst"]
mask_var = "land_mask"
window_before = "1 hour"
window_after = "1 hour"
combine = "mean"
error_std = 0.2
"#
    )
}

#[test]
fn stations_and_masked_gridded_observations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ocean_files(dir);
    let inputs = [("states", "ocean.nc"), ("tide", "tide.nc"), ("sst", "sst.nc")];
    let (o, out) = ingest(dir, &ocean_config("drop"), &inputs, &[]);
    ok(&o);
    let d = Dataset::load(out.join("dataset.nc")).unwrap();
    // Days 3 (missing sea value) and 4 (outside limits) fail QC; day 5 has no tide observation.
    let days: Vec<f64> = d.time.iter().map(|t| t / 24.0).collect();
    assert_eq!(days, vec![0.0, 1.0, 2.0]);
    // 10 sea points: temp on 2 levels, then ssh.
    assert_eq!(d.state.ncols(), 30);
    let sea: Vec<usize> = (0..12).filter(|&p| p != 0 && p != 11).collect();
    for (k, &p) in sea.iter().enumerate() {
        for l in 0..2 {
            let e = l * 10 + k;
            assert_eq!((d.state_layout.variable[e], d.state_layout.level[e], d.state_layout.index[e]), (0, l as i32, p as i64));
            assert_eq!((d.state_layout.x[e], d.state_layout.y[e], d.state_layout.z[e]), ((p % 4) as f64, 10.0 + (p / 4) as f64, [5.0, 50.0][l]));
            for (i, &day) in days.iter().enumerate() {
                let want = 10.0 + day + 0.1 * l as f64 + 0.01 * p as f64;
                assert!((d.state[[i, e]] - want).abs() < 1e-5, "temp day {day} level {l} point {p}");
            }
        }
        let e = 20 + k;
        assert_eq!((d.state_layout.variable[e], d.state_layout.level[e]), (1, -1));
        assert!(d.state_layout.z[e].is_nan());
    }
    assert_eq!(d.grid[0].point_dims, vec!["y", "x"]);
    assert_eq!((d.grid[0].level_dim.as_deref(), d.grid[1].level_dim.as_deref()), (Some("depth"), None));

    // Observations: 3 stations inside the domain, then 5 sea points of the SST grid.
    assert_eq!(d.obs.ncols(), 8);
    assert_eq!(d.obs_layout.x[..3], [0.5, 1.5, 2.5]);
    assert_eq!(d.obs_layout.error_std[..3], [0.05; 3]);
    assert_eq!(d.obs_layout.error_std[3..], [0.2; 5]);
    assert_eq!(d.obs_layout.index[3..], [0, 1, 2, 3, 4]);
    for (i, &day) in days.iter().enumerate() {
        let k = 4 * day as usize; // the 6-hourly time at the state time
        for s in 0..3 {
            let missing = (k, s) == (4, 1) || (k, s) == (8, 2);
            assert_eq!(d.obs_mask[[i, s]], u8::from(!missing), "day {day} station {s}");
            if !missing {
                assert!((d.obs[[i, s]] - (100.0 * s as f64 + k as f64)).abs() < 1e-4);
            }
        }
        for p in 0..5 {
            let h = 24.0 * day;
            // Mean over the hours in [h - 1, h + 1]: h alone where h - 1 is before the record,
            // and without the cloud at 01:00 of day 1.
            let want = match (day as usize, p) {
                (0, _) => 20.0 + p as f64 + 0.005,
                (1, 0) => 20.0 + 23.5 / 100.0,
                _ => 20.0 + p as f64 + h / 100.0,
            };
            assert!((d.obs[[i, 3 + p]] - want).abs() < 1e-5, "sst day {day} point {p}: {} vs {want}", d.obs[[i, 3 + p]]);
        }
    }
    let qc = qc_json(&out);
    assert_eq!(qc["state"]["snapshots_incomplete"], 1, "{qc:#}");
    assert_eq!(qc["state"]["snapshots_outside_limits"], 1);
    assert_eq!(qc["state"]["elements_masked"], 6, "2 land points on 2 temp levels and in ssh");
    assert_eq!(qc["sources"][0]["elements_outside_domain"], 1);
    assert_eq!(qc["sources"][0]["values_outside_limits"], 1);
    assert_eq!(qc["sources"][0]["values_missing"], 1);
    assert_eq!(qc["sources"][1]["elements_masked"], 1);
    assert_eq!(qc["sources"][1]["values_missing"], 1);
    assert_eq!(qc["pairing"]["dropped_incomplete"], 1);
    assert_eq!(qc["samples"]["dropped_state_qc"], 2);

    // Padding keeps day 5, with the tide masked.
    let (o, out) = ingest(dir, &ocean_config("pad"), &inputs, &[]);
    ok(&o);
    let d = Dataset::load(out.join("dataset.nc")).unwrap();
    assert_eq!(d.time.iter().map(|t| t / 24.0).collect::<Vec<_>>(), vec![0.0, 1.0, 2.0, 5.0]);
    assert_eq!(d.obs_mask.row(3).to_vec(), vec![0, 0, 0, 1, 1, 1, 1, 1]);
    assert_eq!(qc_json(&out)["pairing"]["padded"], 1);
}

/// The tide gauges of [`ocean_files`] as a CF DSG timeSeries file stored per observation:
/// station-major in a contiguous ragged array (with station 0's first time repeated, a
/// duplicate), or in time order, stations reversed, in an indexed ragged array (with one sample
/// that belongs to no station). Times are in hours here, days in `tide.nc`. The file holds the
/// observation times `times` of the gauges `stations`, with a `timeseries_id` when `ids`.
fn ragged_tide(path: &Path, contiguous: bool, feature_type: bool, times: std::ops::Range<usize>, stations: &[usize], ids: bool) {
    let value = |k: usize, s: usize| match (k, s) {
        (4, 1) => -999.0,
        (8, 2) => 1.0e4,
        _ => 100.0 * s as f64 + k as f64,
    };
    // (hours, value, index of the station in this file)
    let mut samples: Vec<(f64, f64, i32)> = Vec::new();
    if contiguous {
        for (i, &s) in stations.iter().enumerate() {
            for k in times.clone() {
                samples.push((6.0 * k as f64, value(k, s), i as i32));
                if (s, k) == (0, 0) {
                    samples.push((0.0, 555.0, i as i32));
                }
            }
        }
    } else {
        for k in times {
            for (i, &s) in stations.iter().enumerate().rev() {
                samples.push((6.0 * k as f64, value(k, s), i as i32));
            }
            if k == 10 {
                samples.push((60.0, 777.0, -1));
            }
        }
    }
    let (lon, lat) = ([0.5, 1.5, 2.5, 9.0], [10.5, 11.0, 11.5, 10.0]);
    write_file(path, |w| {
        if feature_type {
            w.global("featureType", "timeSeries").unwrap();
        }
        w.dim("station", stations.len()).unwrap();
        w.dim("obs", samples.len()).unwrap();
        let pick = |a: [f64; 4]| stations.iter().map(|&s| a[s]).collect::<Vec<f64>>();
        w.var_f64("lon", &["station"], &pick(lon), vec![("standard_name", "longitude".into()), ("units", "degrees_east".into())]).unwrap();
        w.var_f64("lat", &["station"], &pick(lat), vec![("standard_name", "latitude".into()), ("units", "degrees_north".into())]).unwrap();
        if ids {
            let id: Vec<i32> = stations.iter().map(|&s| 1000 + s as i32).collect();
            w.var_i32("station_id", &["station"], &id, vec![("cf_role", "timeseries_id".into())]).unwrap();
        }
        if contiguous {
            let sizes: Vec<i32> = (0..stations.len() as i32).map(|i| samples.iter().filter(|o| o.2 == i).count() as i32).collect();
            w.var_i32("row_size", &["station"], &sizes, vec![("sample_dimension", "obs".into())]).unwrap();
        } else {
            let index: Vec<i32> = samples.iter().map(|o| o.2).collect();
            w.var_i32("station_index", &["obs"], &index, vec![("instance_dimension", "station".into()), ("_FillValue", (-1).into())]).unwrap();
        }
        let hours: Vec<f64> = samples.iter().map(|o| o.0).collect();
        w.var_f64("time", &["obs"], &hours, time_attrs("hours since 2020-01-01", "standard")).unwrap();
        let v: Vec<f64> = samples.iter().map(|o| o.1).collect();
        w.var_f64("ssh_obs", &["obs"], &v, vec![("units", "cm".into()), ("_FillValue", (-999.0).into()), ("error_std", 0.05.into())]).unwrap();
    });
}

#[test]
fn ragged_station_files_pair_like_the_time_by_station_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ocean_files(dir);
    let all = [0, 1, 2, 3];
    ragged_tide(&dir.join("tide_contiguous.nc"), true, true, 0..20, &all, false);
    ragged_tide(&dir.join("tide_indexed.nc"), false, true, 0..20, &all, false);
    ragged_tide(&dir.join("tide_plain.nc"), true, false, 0..20, &all, false);
    // The same record split into two files at day 2.5 (stations matched by position), and one
    // file per gauge (matched by timeseries_id), as in-situ archives publish them.
    ragged_tide(&dir.join("tide_part_1.nc"), true, true, 0..10, &all, false);
    ragged_tide(&dir.join("tide_part_2.nc"), false, true, 10..20, &all, false);
    for s in all {
        ragged_tide(&dir.join(format!("tide_gauge_{s}.nc")), true, true, 0..20, &[s], true);
    }
    let run = |tide: &str| {
        let sub = dir.join(tide.trim_end_matches(".nc").replace('*', "s"));
        std::fs::create_dir_all(&sub).unwrap();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, sub.join(path.file_name().unwrap())).unwrap();
            }
        }
        let (o, out) = ingest(&sub, &ocean_config("drop"), &[("states", "ocean.nc"), ("tide", tide), ("sst", "sst.nc")], &[]);
        (o, out)
    };
    let (o, out) = run("tide.nc");
    ok(&o);
    let want = Dataset::load(out.join("dataset.nc")).unwrap();
    let want_qc = qc_json(&out);
    for (tide, duplicates) in [("tide_contiguous.nc", 1), ("tide_indexed.nc", 0), ("tide_part_*.nc", 1), ("tide_gauge_*.nc", 1)] {
        let (o, out) = run(tide);
        ok(&o);
        let d = Dataset::load(out.join("dataset.nc")).unwrap();
        assert_eq!(d.time, want.time, "{tide}");
        assert_eq!(d.obs_layout, want.obs_layout, "{tide}");
        assert_eq!(d.obs_mask, want.obs_mask, "{tide}");
        let same = |a: &f64, b: &f64| a == b || (a.is_nan() && b.is_nan());
        assert!(d.obs.iter().zip(&want.obs).all(|(a, b)| same(a, b)), "{tide}: {} vs {}", d.obs, want.obs);
        let qc = qc_json(&out);
        for key in ["values_read", "values_missing", "values_outside_limits", "elements_outside_domain"] {
            assert_eq!(qc["sources"][0][key], want_qc["sources"][0][key], "{tide}: {key}");
        }
        assert_eq!(qc["sources"][0]["duplicate_time"], duplicates, "{tide}");
        assert_eq!(qc["sources"][0]["times"], 80 + duplicates, "{tide}: one time per stored observation");
    }
    // Without featureType the per-observation layout is not guessed at.
    let (o, out) = run("tide_plain.nc");
    assert_eq!(o.status.code(), Some(2), "stderr:\n{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("tide_plain.nc") && err.contains("featureType") && err.contains("timeSeries"), "{err}");
    assert!(!out.join("dataset.nc").exists());
}

#[test]
fn splits_do_not_share_observation_windows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let n = 300;
    write_file(&dir.join("l96.nc"), |w| {
        let t: Vec<f64> = (0..n).map(f64::from).collect();
        w.coord("time", &t, time_attrs("hours since 2026-01-01", "standard")).unwrap();
        w.dim("i", 3).unwrap();
        let x: Vec<f64> = (0..3 * n).map(|k| (k as f64 * 0.7).sin()).collect();
        w.var_f64("x", &["time", "i"], &x, vec![]).unwrap();
        w.var_f64("y", &["time", "i"], &x, vec![]).unwrap();
    });
    let config = r#"
[ingest.state]
variables = ["x"]
[ingest.split]
train = 0.6
validation = 0.2
test = 0.2
blocks = 10
[[ingest.observations]]
name = "obs"
kind = "gridded"
input = "states"
variables = ["y"]
window_before = "90 min"
window_after = "90 min"
"#;
    let inputs = [("states", "l96.nc")];
    let (o, out) = ingest(dir, config, &inputs, &[]);
    ok(&o);
    let d = Dataset::load(out.join("dataset.nc")).unwrap();
    let guarded = qc_json(&out)["samples"]["dropped_split_guard"].as_u64().unwrap() as usize;
    assert_eq!(d.time.len() + guarded, n as usize);
    for i in 0..d.time.len() {
        for j in i + 1..d.time.len() {
            if d.split[i] != d.split[j] {
                // Windows [t - 1.5 h, t + 1.5 h] must not touch.
                assert!((d.time[j] - d.time[i]).abs() > 3.0, "samples at {} h and {} h in different splits", d.time[i], d.time[j]);
            }
        }
    }
    let runs = 1 + d.split.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(runs <= 10, "contiguous blocks: {runs} runs");
    assert_eq!(guarded, 3 * (runs - 1), "three guard hours per boundary");
    for s in Split::ALL {
        assert!(!d.indices(s).is_empty(), "{s:?} empty");
    }
    // The seed decides: the same seed gives the same split, another seed another one.
    let (o, out2) = ingest(dir, config, &inputs, &["--set", "run.seed=99"]);
    ok(&o);
    assert_ne!(Dataset::load(out2.join("dataset.nc")).unwrap().split, d.split);
    let (o, out3) = ingest(dir, config, &inputs, &[]);
    ok(&o);
    assert_eq!(Dataset::load(out3.join("dataset.nc")).unwrap().split, d.split);
}

#[test]
fn time_axes_that_do_not_overlap_are_an_error_naming_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lagrangian(dir, 6, 3);
    // The same drifters, dated ten years later.
    let late = write_file(&dir.join("late_drifters.nc"), |w| {
        let set = TrajectorySet {
            time_units: TimeUnits::parse("days since 2010-01-01", Calendar::Standard).unwrap(),
            trajectories: vec![Trajectory { id: "0".into(), time: vec![0.0, 0.1], x: vec![0.1, 0.2], y: vec![0.1, 0.2] }],
            layout: Layout::ContiguousRagged,
            names: ["time".into(), "x".into(), "y".into()],
        };
        write_ragged(w, &set, vec![("axis", "X".into())], vec![("axis", "Y".into())]).unwrap();
    });
    let (o, out) = ingest(dir, LAGRANGIAN_CONFIG, &[("states", "states_a.nc"), ("drifters", late.to_str().unwrap())], &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("late_drifters.nc") && err.contains("states_a.nc") && err.contains("do not overlap"), "{err}");
    assert!(err.contains("2010-01-01") && err.contains("2000-01-01"), "the message gives both time ranges: {err}");
    assert!(!out.exists(), "nothing is written");
}

/// States in `state_cal` with daily times `days` (in that calendar from 2000-01-01) and one
/// gridded observation per day in `obs_cal` whose value encodes its date as month * 100 + day.
fn calendar_files(dir: &Path, state_cal: &str, days: &[f64], obs_cal: &str) {
    write_file(&dir.join("states.nc"), |w| {
        w.coord("time", days, time_attrs("days since 2000-01-01", state_cal)).unwrap();
        w.dim("i", 2).unwrap();
        let v: Vec<f64> = days.iter().flat_map(|d| [*d, -*d]).collect();
        w.var_f64("s", &["time", "i"], &v, vec![]).unwrap();
    });
    let cal: Calendar = obs_cal.parse().unwrap();
    let units = TimeUnits::parse("days since 2000-01-01", cal).unwrap();
    let obs_days: Vec<f64> = (40..80).map(f64::from).collect();
    write_file(&dir.join("obs.nc"), |w| {
        w.coord("time", &obs_days, time_attrs("days since 2000-01-01", obs_cal)).unwrap();
        w.dim("p", 1).unwrap();
        let v: Vec<f64> = obs_days.iter().map(|&d| units.decode(d)).map(|t| t.month as f64 * 100.0 + t.day as f64).collect();
        w.var_f64("date_code", &["time", "p"], &v, vec![]).unwrap();
    });
}

const CALENDAR_CONFIG: &str = r#"
[ingest.state]
variables = ["s"]
[ingest.split]
train = 1.0
validation = 0.0
test = 0.0
[[ingest.observations]]
name = "obs"
kind = "gridded"
variables = ["date_code"]
"#;

#[test]
fn calendars_pair_by_date_where_the_date_exists_in_both() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // noleap days 57..61 are 27 Feb .. 3 Mar 2000; the standard calendar has 29 Feb in between.
    calendar_files(dir, "noleap", &[57.0, 58.0, 59.0, 60.0, 61.0], "standard");
    let (o, out) = ingest(dir, CALENDAR_CONFIG, &[("states", "states.nc"), ("obs", "obs.nc")], &[]);
    ok(&o);
    let d = Dataset::load(out.join("dataset.nc")).unwrap();
    assert_eq!(d.obs.column(0).to_vec(), vec![227.0, 228.0, 301.0, 302.0, 303.0]);

    // Standard states on 28 Feb, 29 Feb and 1 Mar against noleap observations: 29 Feb has none.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    calendar_files(dir, "standard", &[58.0, 59.0, 60.0], "noleap");
    let (o, out) = ingest(dir, CALENDAR_CONFIG, &[("states", "states.nc"), ("obs", "obs.nc")], &[]);
    ok(&o);
    let d = Dataset::load(out.join("dataset.nc")).unwrap();
    assert_eq!(d.time, vec![58.0, 60.0]);
    assert_eq!(d.obs.column(0).to_vec(), vec![228.0, 301.0]);
    let qc = qc_json(&out);
    assert_eq!(qc["pairing"]["sources"][0]["date_not_in_calendar"], 1, "{qc:#}");
    assert_eq!(qc["pairing"]["dropped_incomplete"], 1);
}

#[test]
fn pipeline_stage_expands_patterns_and_records_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lagrangian(dir, 12, 7);
    let pipeline = format!(
        "{LAGRANGIAN_CONFIG}\n[pipeline]\nname = \"lag\"\n[[pipeline.stages]]\nname = \"ingest\"\nkind = \"ingest\"\ninputs = {{ states = \"states_*.nc\", drifters = \"drifters.nc\" }}\n"
    );
    std::fs::write(dir.join("p.toml"), &pipeline).unwrap();
    let o = contrada_in(dir, &["run", "p.toml", "--run-dir", "run"]);
    ok(&o);
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("run/ingest/manifest.json")).unwrap()).unwrap();
    let inputs: Vec<&str> = manifest["inputs"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(inputs, vec!["drifters", "states.0", "states.1"]);
    assert_eq!(manifest["summary"]["samples"], 12);
    let d = Dataset::load(dir.join("run/ingest/dataset.nc")).unwrap();
    assert_eq!(d.state.nrows(), 12);
    // The state rows are a stage output of their own, beside dataset.nc: 12 rows of 98 f64 between
    // the 64-byte header and the 16-byte checksum trailer, hashed in the manifest like the others.
    let outputs: Vec<(&str, u64)> =
        manifest["outputs"].as_array().unwrap().iter().map(|o| (o["name"].as_str().unwrap(), o["bytes"].as_u64().unwrap())).collect();
    let names: Vec<&str> = outputs.iter().map(|o| o.0).collect();
    assert_eq!(names, vec!["dataset.nc", "dataset.states.bin", "qc.json"]);
    assert_eq!(outputs[1].1, 64 + 12 * 98 * 8 + 16, "precision = f64");
    let nc = contrada::cf::NcFile::open(dir.join("run/ingest/dataset.nc")).unwrap();
    assert_eq!(nc.attr_str(None, "states_file").as_deref(), Some("dataset.states.bin"));
    assert_eq!(nc.attr_f64s(None, "states_file_bytes"), Some(vec![outputs[1].1 as f64]));
    assert!(!nc.has_var("state"), "the rows are not written twice");
    // A damaged states file is refused by every consumer of the data set, naming the file.
    let states = dir.join("run/ingest/dataset.states.bin");
    let mut bytes = std::fs::read(&states).unwrap();
    bytes[64 + 7 * 98 * 8] ^= 1;
    std::fs::write(&states, &bytes).unwrap();
    let err = Dataset::load(dir.join("run/ingest/dataset.nc")).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("dataset.states.bin") && err.to_string().contains("checksum"), "{err}");
    // A pipeline whose ingest stage lacks an input named in [ingest] fails at load.
    std::fs::write(dir.join("q.toml"), pipeline.replace(", drifters = \"drifters.nc\"", "")).unwrap();
    let o = contrada_in(dir, &["run", "q.toml", "--run-dir", "run2"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("pipeline.stages[0].inputs.drifters"), "{err}");
}

#[test]
fn configuration_mistakes_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lagrangian(dir, 4, 2);
    let inputs = [("states", "states_a.nc"), ("drifters", "drifters.nc")];
    for (config, needle) in [
        (LAGRANGIAN_CONFIG.replace("points = 25", "points = 25\nwindow_after = \"1 hour\""), "ingest.observations[0].window_after"),
        (LAGRANGIAN_CONFIG.replace("segment = \"6 hours\"", "segment = \"6 fortnights\""), "ingest.observations[0].segment"),
        (LAGRANGIAN_CONFIG.replace("variables = [\"coef\"]", "variables = [\"coef\"]\nlevel = \"z\""), "ingest.state.level"),
        (LAGRANGIAN_CONFIG.replace("variables = [\"coef\"]", "variables = [\"psi\"]"), "variable `psi` not found"),
    ] {
        let (o, out) = ingest(dir, &config, &inputs, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{needle}: {err}");
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
        assert!(!out.exists());
    }
    let (o, _) = ingest(dir, LAGRANGIAN_CONFIG, &[("states", "states_a.nc")], &[]);
    assert!(stderr(&o).contains("--input drifters=PATH"), "{}", stderr(&o));
}

#[test]
fn synth_lagrangian_output_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 100 kept positions per track, spaced 10 * 1e-4 model units of 2.5 days: the segment ending at
    // each time stamp spans 99 * 0.0025 days.
    std::fs::write(dir.join("synth.toml"), "[synth.lagrangian]\nreleases = [[0.25, 0.25], [0.75, 0.75]]\ndt = 1e-4\noutput_every = 10\ngrid = 8\n").unwrap();
    let o = contrada_in(dir, &["synth", "lagrangian", "--out", "syn", "--samples", "12", "--config", "synth.toml"]);
    ok(&o);
    let config = r#"
[ingest]
precision = "f64"
[ingest.state]
variables = ["coef", "psi", "u", "v"]
[[ingest.observations]]
name = "drifters"
kind = "trajectories"
segment = "0.2475 days"
points = 100
"#;
    let (o, out) = ingest(dir, config, &[("states", "syn/lagrangian_states.nc"), ("drifters", "syn/lagrangian_drifters.nc")], &[]);
    ok(&o);
    let d = Dataset::load(out.join("dataset.nc")).unwrap();
    assert_eq!(d.state.dim(), (12, 98 + 3 * 64));
    assert_eq!(d.obs.ncols(), 2 * 100 * 2);
    let states = contrada::cf::NcFile::open(dir.join("syn/lagrangian_states.nc")).unwrap();
    let coef = states.read_values("coef").unwrap();
    let psi = states.read_values("psi").unwrap();
    let tracks = contrada::cf::NcFile::open(dir.join("syn/lagrangian_drifters.nc")).unwrap();
    let [rows, x, y, sample, drifter] = ["rowSize", "x", "y", "sample_index", "drifter"].map(|v| tracks.read_values(v).unwrap());
    let starts: Vec<usize> = rows
        .iter()
        .scan(0, |acc, &n| {
            let s = *acc;
            *acc += n as usize;
            Some(s)
        })
        .collect();
    for i in 0..12 {
        let t = d.source[i].1;
        assert_eq!(d.state.row(i).slice(ndarray::s![..98]).to_vec(), coef[t * 98..(t + 1) * 98].to_vec(), "sample {i}");
        assert_eq!(d.state.row(i).slice(ndarray::s![98..98 + 64]).to_vec(), psi[t * 64..(t + 1) * 64].to_vec());
        for slot in 0..2 {
            // The track synth wrote for this sample and release point.
            let k = (0..rows.len()).find(|&k| sample[k] as usize == t && drifter[k] as usize == slot).unwrap();
            for p in 0..100 {
                let at = (slot * 100 + p) * 2;
                assert_eq!((d.obs[[i, at]], d.obs[[i, at + 1]]), (x[starts[k] + p], y[starts[k] + p]), "sample {i} slot {slot} point {p}");
            }
        }
    }
}

#[test]
fn ensemble_members_and_observations_over_several_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let units = "days since 2001-01-01";
    write_file(&dir.join("ens.nc"), |w| {
        w.coord("time", &[0.0, 1.0, 2.0, 3.0], time_attrs(units, "standard")).unwrap();
        w.dim("member", 3).unwrap();
        w.dim("x", 5).unwrap();
        let v: Vec<f64> = (0..4).flat_map(|t| (0..3).flat_map(move |m| (0..5).map(move |x| (100 * t + 10 * m + x) as f64))).collect();
        w.var_f64("s", &["time", "member", "x"], &v, vec![("units", "K".into())]).unwrap();
    });
    // Two observation files; the second repeats day 2 with other values, which QC drops.
    for (name, days, dup) in [("obs_a.nc", vec![0.0, 1.0, 2.0], false), ("obs_b.nc", vec![2.0, 3.0], true)] {
        write_file(&dir.join(name), |w| {
            w.coord("time", &days, time_attrs(units, "standard")).unwrap();
            w.dim("x", 5).unwrap();
            let v: Vec<f64> = days.iter().flat_map(|&t| (0..5).map(move |x| if dup && t == 2.0 { 999.0 } else { 1000.0 + 100.0 * t + x as f64 })).collect();
            w.var_f64("o", &["time", "x"], &v, vec![]).unwrap();
        });
    }
    let config = r#"
[ingest]
precision = "f64"
[ingest.state]
variables = ["s"]
member_dim = "member"
[ingest.split]
train = 1.0
validation = 0.0
test = 0.0
[[ingest.observations]]
name = "o"
kind = "gridded"
variables = ["o"]
"#;
    let (o, out) = ingest(dir, config, &[("states", "ens.nc"), ("o", "obs_*.nc")], &[]);
    ok(&o);
    let d = Dataset::load(out.join("dataset.nc")).unwrap();
    assert_eq!(d.state.dim(), (12, 5));
    assert_eq!(d.member.as_deref(), Some(&[0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2][..]));
    for i in 0..12 {
        let (t, m) = (d.time[i], d.member.as_ref().unwrap()[i] as f64);
        assert_eq!(t, (i / 3) as f64);
        for x in 0..5 {
            assert_eq!(d.state[[i, x]], 100.0 * t + 10.0 * m + x as f64);
            assert_eq!(d.obs[[i, x]], 1000.0 + 100.0 * t + x as f64, "sample {i}: the first of the duplicate times is kept");
        }
    }
    let qc = qc_json(&out);
    assert_eq!(qc["sources"][0]["duplicate_time"], 1, "{qc:#}");
    assert_eq!(qc["samples"]["snapshots_read"], 12);
    // 12 snapshots of 5 elements (the EOFs come from the 5 x 5 covariance) that all move together:
    // one EOF, the uniform pattern, explains everything.
    let eof = d.eof.unwrap();
    assert_eq!(eof.modes.nrows(), 1);
    for c in eof.modes.row(0) {
        assert!((c - 1.0 / 5f64.sqrt()).abs() < 1e-9, "{}", eof.modes);
    }
    assert!((eof.variance[0] - eof.total_variance).abs() < 1e-9 * eof.total_variance);
}
