//! The `eof` and `conv` encoders through the train stage: a gridded ocean state with land and a
//! cloudy gridded SST are ingested (with EOFs), trained on, saved, and reloaded without the data
//! set; the reloaded encoders give the codes they must.

use crate::common;

use std::path::Path;

use common::{contrada_in, stderr};
use contrada::cf::NcWriter;
use contrada::config::IoConfig;
use contrada::ingest::dataset::Dataset;
use contrada::learn::artifact::ModelMeta;
use contrada::learn::encoders::Encoder;
use contrada::learn::train::codes;
use ndarray::{Array2, Axis};
use netcdf::AttributeValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DAYS: usize = 120;
const NY: usize = 6;
const NX: usize = 8;

fn land(p: usize) -> bool {
    p == 0 || p == 7 || p == 47
}

/// Daily temperature fields from three large-scale patterns with random amplitudes, and an SST
/// that sees them through noise and random clouds (missing values).
fn files(dir: &Path) {
    let mut rng = StdRng::seed_from_u64(21);
    let time = |w: &mut NcWriter| {
        let days: Vec<f64> = (0..DAYS).map(|d| d as f64).collect();
        let attrs: Vec<(&str, AttributeValue)> =
            vec![("standard_name", "time".into()), ("units", "days since 2020-01-01".into()), ("calendar", "standard".into()), ("axis", "T".into())];
        w.coord("time", &days, attrs).unwrap();
        w.coord("y", &(0..NY).map(|v| v as f64).collect::<Vec<_>>(), vec![("units", "degrees_north".into()), ("standard_name", "latitude".into())]).unwrap();
        w.coord("x", &(0..NX).map(|v| v as f64).collect::<Vec<_>>(), vec![("units", "degrees_east".into()), ("standard_name", "longitude".into())]).unwrap();
        let mask: Vec<i32> = (0..NY * NX).map(|p| i32::from(!land(p))).collect();
        w.var_i32("mask", &["y", "x"], &mask, vec![]).unwrap();
    };
    let mut temp = Vec::new();
    let mut sst = Vec::new();
    for _ in 0..DAYS {
        let a: [f64; 3] = [rng.random_range(-2.0..2.0), rng.random_range(-1.0..1.0), rng.random_range(-0.5..0.5)];
        for p in 0..NY * NX {
            let (y, x) = ((p / NX) as f64, (p % NX) as f64);
            let t = 15.0 + a[0] * (x / 3.0).sin() + a[1] * (y / 2.0).cos() + a[2] * (x * y / 10.0).sin() + 0.05 * rng.random_range(-1.0..1.0);
            temp.push(if land(p) { f64::NAN } else { t });
            let cloud = rng.random_bool(0.2);
            sst.push(if land(p) || cloud { f64::NAN } else { t + 0.1 * rng.random_range(-1.0..1.0) });
        }
    }
    for (name, var, values) in [("ocean.nc", "temp", &temp), ("sst.nc", "sst", &sst)] {
        let mut w = NcWriter::create(&dir.join(name), &IoConfig::default(), "encoder test").unwrap();
        time(&mut w);
        w.var_f64(var, &["time", "y", "x"], values, vec![("units", "degC".into())]).unwrap();
        w.finish().unwrap();
    }
}

fn pipeline(dir: &Path) {
    let text = format!(
        r#"
[pipeline]
name = "encoders"

[ingest.state]
variables = ["temp"]
mask_var = "mask"

[ingest.eof]
modes = 6

[[ingest.observations]]
name = "sst"
kind = "gridded"
variables = ["sst"]
mask_var = "mask"
window_before = "1 hour"
window_after = "1 hour"
error_std = 0.2

[train]
n_e = 4
epochs = 3
batch_size = 16
patience = 0

[train.encoder_u]
kind = "eof"
eof_modes = 4
eof_linear = false

[train.encoder_v]
kind = "conv"
conv_channels = [8, 8]
grid = [{NY}, {NX}]

[[pipeline.stages]]
name = "ingest"
kind = "ingest"
inputs = {{ states = "ocean.nc", sst = "sst.nc" }}

[[pipeline.stages]]
name = "train"
kind = "train"
inputs = {{ dataset = "stage:ingest/dataset.nc" }}
"#
    );
    std::fs::write(dir.join("p.toml"), text).unwrap();
}

/// Trains with `--set` overrides in run directory `run`; returns the data set and the reloaded model.
fn train(dir: &Path, run: &str, sets: &[&str]) -> (Dataset, ModelMeta, contrada::learn::model::ContrastiveModel) {
    let mut args = vec!["run", "p.toml", "--run-dir", run, "--backend", "cpu"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = contrada_in(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.join(run);
    let data = Dataset::load(run.join("ingest/dataset.nc")).unwrap();
    let device = burn::tensor::Device::flex();
    let (meta, model) = ModelMeta::load(&run.join("train"), &device).unwrap();
    (data, meta, model)
}

/// The EOF state encoder without a learned map: after training, saving and reloading (without
/// the data set) its codes are still the projections of the normalised states on the data set's
/// four leading EOFs. The conv observation encoder trained beside it ignores clouded points.
#[test]
fn eof_and_conv_encoders_train_save_and_reload() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    files(dir);
    pipeline(dir);
    let device = burn::tensor::Device::flex();

    let (data, meta, model) = train(dir, "eof", &[]);
    assert_eq!(meta.eof_modes, 6);
    let eof = data.eof.as_ref().unwrap();
    let z = data.normalised_state();
    let want = (&z - &eof.mean).dot(&eof.modes.slice(ndarray::s![..4, ..]).t());
    let got = codes(&model.encoder_u, meta.states(&data.state).view(), &device);
    let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let err = (&got - &want).iter().fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(err < 1e-5 * scale, "reloaded EOF codes off by {err} (largest {scale})");

    assert!(matches!(model.encoder_v, Encoder::Conv(_)));
    let grid = meta.grid_v.as_ref().unwrap();
    assert_eq!((grid.channels, grid.ny, grid.nx, grid.cell.len()), (1, NY, NX, NY * NX - 3));
    let x = meta.observations(&data.obs);
    let d = data.obs.ncols();
    assert_eq!(x.ncols(), 2 * d);
    let clouded = x.slice(ndarray::s![.., d..]).iter().filter(|&&f| f == 0.0).count();
    assert!(clouded > data.obs.len() / 10, "{clouded} missing values: the test needs clouds");
    let mut garbage = x.clone();
    for mut row in garbage.axis_iter_mut(Axis(0)) {
        for e in 0..d {
            if row[d + e] == 0.0 {
                row[e] = 37.0 + e as f32;
            }
        }
    }
    assert_eq!(codes(&model.encoder_v, x.view(), &device), codes(&model.encoder_v, garbage.view(), &device));

    // A conv state encoder on the state variable's own grid (from the data set's metadata): land
    // points are masked cells, and the reloaded model codes like the trained one (the stage checks
    // that before it succeeds) and differs from an untrained one.
    let (data, meta, model) = train(dir, "conv", &["train.encoder_u.kind=conv", "train.encoder_v.kind=mlp"]);
    let grid = meta.grid_u.as_ref().unwrap();
    assert_eq!((grid.channels, grid.ny, grid.nx, grid.cell.len()), (1, NY, NX, NY * NX - 3));
    assert_eq!(meta.eof_modes, 0);
    let u: Array2<f32> = meta.states(&data.state);
    let a = codes(&model.encoder_u, u.view(), &device);
    assert_eq!(a.dim(), (DAYS.min(data.state.nrows()), 4));
    assert!(a.iter().all(|c| c.is_finite()));
    let fresh = contrada::learn::model::ContrastiveModel::new(&meta.train, &meta.inputs(), &mut StdRng::seed_from_u64(0), &device).unwrap();
    assert_ne!(a, codes(&fresh.encoder_u, u.view(), &device), "the reloaded weights are the trained ones, not a fresh draw");

    // An eof encoder on a data set without EOFs names the key to change.
    let out = contrada_in(dir, &["run", "p.toml", "--run-dir", "none", "--backend", "cpu", "--set", "ingest.eof.modes=0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ingest.eof.modes"), "{}", stderr(&out));
}
