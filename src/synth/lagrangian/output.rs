//! The Lagrangian data set on disk: a states file (the hidden truth) and a drifter file (the
//! observations, CF discrete sampling geometry), paired by time.
//!
//! `lagrangian_states.nc`, one `time` per sample (days since `start`, the sample's time stamp):
//! - `coef(time, coef_index)`: the state vector, `coef[2m] = Re psi_k`, `coef[2m+1] = Im psi_k` at the
//!   time stamp, for the wave vector `k = (kx[m], ky[m])`;
//! - `omega(time, mode)`: the frequencies; `kx(mode)`, `ky(mode)`: the wave vectors;
//! - with `fields`: `psi`, `u`, `v` over `(time, y, x)` at the time stamp on the grid `j / n`.
//!
//! `lagrangian_drifters.nc`, contiguous ragged array, one trajectory per (sample, release point),
//! sample-major: `time(obs)`, unwrapped `x(obs)`, `y(obs)`, optionally `x_wrapped`, `y_wrapped` in
//! `[0, 1)`, and `sample_index(trajectory)`, `drifter(trajectory)`. Track `i`'s last time equals
//! the time stamp of sample `i`. All lengths are nondimensional (the unit square).

use std::path::Path;

use crate::cf::dsg::{Layout, Trajectory, TrajectorySet, write_ragged_as};
use crate::cf::write::{Attr, NcWriter};
use crate::config::IoConfig;
use crate::error::{Error, Result};
use crate::models::fourier_flow::FourierFlow;
use crate::synth::config::{LagrangianConfig, time_units};

use super::LagrangianSample;

/// File name of the states.
pub const STATES_FILE: &str = "lagrangian_states.nc";
/// File name of the drifter observations.
pub const DRIFTERS_FILE: &str = "lagrangian_drifters.nc";

fn time_attrs(cfg: &LagrangianConfig) -> Vec<Attr<'static>> {
    vec![
        ("standard_name", "time".into()),
        ("long_name", "time".into()),
        ("units", format!("days since {}", cfg.start).into()),
        ("calendar", "standard".into()),
        ("axis", "T".into()),
    ]
}

fn sample_times(cfg: &LagrangianConfig, n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 * cfg.sample_interval_days).collect()
}

/// Global attributes shared by both files: everything needed to regenerate or interpret them.
fn describe(w: &mut NcWriter, cfg: &LagrangianConfig, seed: u64) -> Result<()> {
    w.global("synth_flow", "lagrangian")?;
    w.global("seed", seed.to_string())?;
    let omega = if cfg.shared_frequencies { ", drawn once for the data set" } else { "; all independent" };
    w.global(
        "prior",
        format!(
            "psi_k circularly symmetric complex Gaussian, E|psi_k|^2 = amplitude^2 (1 + |k|^2)^-spectral_slope; \
             omega_k ~ N(omega_mean, omega_std^2){omega}"
        ),
    )?;
    w.global(
        "model_time",
        "each sample's time stamp is model time 0; drifters are released at model time -duration; \
         one model time unit lasts time_unit_days days",
    )?;
    w.global("kmax", cfg.kmax as i32)?;
    w.global("amplitude", cfg.amplitude)?;
    w.global("spectral_slope", cfg.spectral_slope)?;
    w.global("omega_mean", cfg.omega_mean)?;
    w.global("omega_std", cfg.omega_std)?;
    w.global("dt", cfg.dt)?;
    w.global("duration", cfg.duration)?;
    w.global("output_every", cfg.output_every as i32)?;
    w.global("position_noise_std", cfg.position_noise_std)?;
    w.global("time_unit_days", cfg.time_unit_days)?;
    w.global("release_x", cfg.releases.iter().map(|r| r[0]).collect::<Vec<f64>>())?;
    w.global("release_y", cfg.releases.iter().map(|r| r[1]).collect::<Vec<f64>>())?;
    Ok(())
}

/// Writes the states file (see the module notes).
pub fn write_states(path: &Path, cfg: &LagrangianConfig, samples: &[LagrangianSample], seed: u64, io: &IoConfig) -> Result<()> {
    let n = samples.len();
    let modes = samples.first().map_or(0, |s| s.flow.amplitude.len());
    let mut w = NcWriter::create(path, io, "contrada synth lagrangian: random-Fourier flow states")?;
    describe(&mut w, cfg, seed)?;
    w.coord("time", &sample_times(cfg, n), time_attrs(cfg))?;
    w.dim("mode", modes)?;
    w.dim("coef_index", 2 * modes)?;
    let (kx, ky): (Vec<i32>, Vec<i32>) = (0..modes).map(|m| FourierFlow::wave_vector(cfg.kmax, m)).unzip();
    w.var_i32("kx", &["mode"], &kx, vec![("long_name", "wave number in x".into()), ("units", "1".into())])?;
    w.var_i32("ky", &["mode"], &ky, vec![("long_name", "wave number in y".into()), ("units", "1".into())])?;
    let coef: Vec<f64> = samples.iter().flat_map(|s| s.flow.coefficients()).collect();
    w.var_real(
        "coef",
        &["time", "coef_index"],
        &coef,
        cfg.precision,
        vec![
            ("long_name", "streamfunction Fourier coefficients at the time stamp: coef[2m] = Re psi_k, coef[2m+1] = Im psi_k, k = (kx[m], ky[m])".into()),
            ("units", "1".into()),
        ],
    )?;
    let omega: Vec<f64> = samples.iter().flat_map(|s| s.flow.omega.iter().copied()).collect();
    w.var_real(
        "omega",
        &["time", "mode"],
        &omega,
        cfg.precision,
        vec![("long_name", "angular frequency of each mode (radians per model time unit)".into()), ("units", "1".into())],
    )?;
    if cfg.fields {
        let g = cfg.grid;
        let axis: Vec<f64> = (0..g).map(|j| j as f64 / g as f64).collect();
        // No `axis` X/Y: CF-1.8 section 5.6 asks a horizontal grid marked so for its true latitude
        // and longitude unless a projection standard name says it is a plane in metres, and this
        // nondimensional plane has neither; the long name says which axis it is.
        for (name, long) in [("x", "x position on the periodic unit square"), ("y", "y position on the periodic unit square")] {
            w.coord(name, &axis, vec![("long_name", long.into()), ("units", "1".into())])?;
        }
        let names = [
            ("psi", "streamfunction at the time stamp"),
            ("u", "x velocity (-d psi / dy) at the time stamp"),
            ("v", "y velocity (d psi / dx) at the time stamp"),
        ];
        for (k, (name, long)) in names.into_iter().enumerate() {
            let data: Vec<f64> = samples.iter().flat_map(|s| s.fields.as_ref().expect("fields drawn when configured")[k].iter().copied()).collect();
            w.var_real(name, &["time", "y", "x"], &data, cfg.precision, vec![("long_name", long.into()), ("units", "1".into())])?;
        }
    }
    w.finish()
}

/// Writes the drifter file (see the module notes).
pub fn write_drifters(path: &Path, cfg: &LagrangianConfig, samples: &[LagrangianSample], seed: u64, io: &IoConfig) -> Result<()> {
    let units = time_units("days", &cfg.start).map_err(|e| Error::config("configuration", "synth.lagrangian.start", e))?;
    let points = cfg.points();
    let spacing = cfg.output_every as f64 * cfg.dt * cfg.time_unit_days;
    // Kept point j (1-based) is (points - j) output spacings before the time stamp.
    let offsets: Vec<f64> = (1..=points).map(|j| -((points - j) as f64) * spacing).collect();
    let stamps = sample_times(cfg, samples.len());
    let mut trajectories = Vec::with_capacity(samples.len() * cfg.releases.len());
    for (s, stamp) in samples.iter().zip(&stamps) {
        for track in &s.tracks {
            trajectories.push(Trajectory {
                id: trajectories.len().to_string(),
                time: offsets.iter().map(|o| stamp + o).collect(),
                x: track.iter().map(|p| p[0]).collect(),
                y: track.iter().map(|p| p[1]).collect(),
            });
        }
    }
    let set = TrajectorySet { time_units: units, trajectories, layout: Layout::ContiguousRagged, names: ["time".into(), "x".into(), "y".into()] };
    let mut w = NcWriter::create(path, io, "contrada synth lagrangian: drifter trajectories")?;
    describe(&mut w, cfg, seed)?;
    let pos = |axis: &str| -> Vec<Attr<'static>> {
        vec![
            ("long_name", format!("{} position, unwrapped (continuous across the periodic boundary)", axis.to_lowercase()).into()),
            ("units", "1".into()),
            ("axis", axis.into()),
        ]
    };
    write_ragged_as(&mut w, &set, cfg.precision, pos("X"), pos("Y"))?;
    if cfg.wrapped {
        for (k, name) in ["x", "y"].into_iter().enumerate() {
            let wrapped: Vec<f64> = samples.iter().flat_map(|s| s.tracks.iter().flatten().map(move |p| p[k].rem_euclid(1.0))).collect();
            let attrs = vec![("long_name", format!("{name} position wrapped into [0, 1), for plotting").into()), ("units", "1".into())];
            w.var_real(&format!("{name}_wrapped"), &["obs"], &wrapped, cfg.precision, attrs)?;
        }
    }
    let per = cfg.releases.len();
    let sample_index: Vec<i32> = (0..samples.len() * per).map(|t| (t / per) as i32).collect();
    let drifter: Vec<i32> = (0..samples.len() * per).map(|t| (t % per) as i32).collect();
    w.var_i32(
        "sample_index",
        &["trajectory"],
        &sample_index,
        vec![("long_name", "index along time of the states file of the sample this track observes".into())],
    )?;
    w.var_i32("drifter", &["trajectory"], &drifter, vec![("long_name", "release point index (global attributes release_x, release_y)".into())])?;
    w.finish()
}
