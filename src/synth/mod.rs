//! `synth`: observing-system simulation experiments (OSSEs). Built-in flows write truth states
//! and synthetic observations as CF-1.8 NetCDF, deterministically from a seed, for the later
//! stages to read back like any user file.
//!
//! - [`lagrangian`]: the paper's random-Fourier incompressible flow observed by drifters;
//! - [`gaussian`]: the paper's Gaussian random field, with its exact covariance blocks;
//! - [`lorenz96`]: a Lorenz-96 truth run observed with noise, for the Kalman baselines;
//! - [`qg`]: the two-layer quasi-geostrophic ocean with daily forecast ensembles, stations, a
//!   satellite swath and drifters, in the layouts operational centres publish.
//!
//! The same [`generate`] serves the `contrada synth` command and the `synth` pipeline stage
//! ([`stage`]).

pub mod config;
pub mod gaussian;
pub mod lagrangian;
pub mod lorenz96;
pub mod qg;
pub mod stage;

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use self::config::SynthConfig;
use crate::config::IoConfig;
use crate::error::Result;
use crate::progress::Progress;

/// The built-in flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// Random-Fourier flow with drifters (`lagrangian_states.nc`, `lagrangian_drifters.nc`).
    Lagrangian,
    /// Gaussian random field (`gaussian.nc`).
    Gaussian,
    /// Lorenz-96 truth and observations (`lorenz96.nc`).
    Lorenz96,
    /// Two-layer QG ocean: archive, truth, daily forecast ensembles, stations, swath, drifters.
    Qg,
}

impl Flow {
    /// The name used on the command line and in `[synth.<name>]`.
    pub fn name(self) -> &'static str {
        match self {
            Flow::Lagrangian => "lagrangian",
            Flow::Gaussian => "gaussian",
            Flow::Lorenz96 => "lorenz96",
            Flow::Qg => "qg",
        }
    }
}

/// Generates `flow` as configured in `synth`, seeded by `seed`, writing its files into the
/// existing directory `dir` (a staging directory: the caller publishes it). Returns a summary for
/// the manifest: flow, sample count, files, seconds and samples per second.
pub fn generate(flow: Flow, synth: &SynthConfig, io: &IoConfig, seed: u64, dir: &Path) -> Result<serde_json::Value> {
    let t0 = Instant::now();
    let (samples, files) = match flow {
        Flow::Lagrangian => {
            let cfg = &synth.lagrangian;
            let progress = Progress::new("synth lagrangian", cfg.samples as u64);
            let samples = lagrangian::generate(cfg, seed, &progress);
            progress.finish();
            log_rate("lagrangian", cfg.samples, t0);
            lagrangian::write_states(&dir.join(lagrangian::STATES_FILE), cfg, &samples, seed, io)?;
            lagrangian::write_drifters(&dir.join(lagrangian::DRIFTERS_FILE), cfg, &samples, seed, io)?;
            (cfg.samples, vec![lagrangian::STATES_FILE.to_string(), lagrangian::DRIFTERS_FILE.to_string()])
        }
        Flow::Gaussian => {
            let cfg = &synth.gaussian;
            let field = gaussian::GaussianField::new(cfg);
            let progress = Progress::new("synth gaussian", cfg.samples as u64);
            let samples = field.sample(cfg.samples, seed, &progress);
            progress.finish();
            gaussian::write(&dir.join(gaussian::FILE), cfg, &field, &samples, seed, io)?;
            (cfg.samples, vec![gaussian::FILE.to_string()])
        }
        Flow::Lorenz96 => {
            let cfg = &synth.lorenz96;
            let run = lorenz96::run(cfg, seed);
            lorenz96::write(&dir.join(lorenz96::FILE), cfg, &run, seed, io)?;
            (cfg.samples, vec![lorenz96::FILE.to_string()])
        }
        Flow::Qg => (synth.qg.samples, qg::generate(&synth.qg, seed, io, dir)?),
    };
    let seconds = t0.elapsed().as_secs_f64();
    Ok(json!({ "flow": flow.name(), "samples": samples, "files": files, "seed": seed, "seconds": seconds }))
}

fn log_rate(what: &str, n: usize, t0: Instant) {
    let s = t0.elapsed().as_secs_f64();
    tracing::info!("{what}: generated {n} samples in {s:.1} s ({:.0} samples/s)", n as f64 / s.max(1e-9));
}
