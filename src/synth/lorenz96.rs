//! A Lorenz-96 twin experiment for validating the ensemble Kalman baselines: a truth run and
//! noisy observations of every variable (Sakov & Oke 2008; DAPPER's `sakov2008`).
//!
//! The truth starts from `x_i = F + N(0, 1)`, is integrated `spinup` model time units so that it
//! lies on the attractor, and is then recorded at times `k * steps_per_obs * dt`, k = 0..samples.
//! Every recorded time is observed: `obs = truth + N(0, obs_std^2)`, independently per variable
//! (a cycling filter starts from time 0 and assimilates from k = 1; the k = 0 observation is there
//! for completeness). DAPPER's `sakov2008` integrates RK4 with dt = 0.05 and observes every step;
//! the default here is dt = 0.01 with 5 steps per observation (set `dt = 0.05`,
//! `steps_per_obs = 1` for DAPPER's exact integration).
//!
//! `lorenz96.nc`: `truth(time, i)`, `obs(time, i)`, `time(time)` in hours since `start`
//! (`time_unit_hours` per model time unit), `t_model(time)` in model time units, `i(i)` the index
//! on the ring; global attributes `forcing`, `dt`, `steps_per_obs`, `obs_interval`, `obs_error_std`.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::cf::write::NcWriter;
use crate::config::IoConfig;
use crate::error::Result;
use crate::models::lorenz96::Lorenz96;
use crate::pipeline::hash::derive_seed;
use crate::synth::config::Lorenz96Config;

/// File name of the Lorenz-96 run.
pub const FILE: &str = "lorenz96.nc";

/// A truth run and its observations, each row-major over (time, variable).
#[derive(Debug, Clone)]
pub struct Lorenz96Run {
    /// The true state at each recorded time.
    pub truth: Vec<f64>,
    /// The observations at the same times.
    pub obs: Vec<f64>,
}

/// Runs the twin experiment of `cfg` from `seed`: the initial state, then the observation noise.
pub fn run(cfg: &Lorenz96Config, seed: u64) -> Lorenz96Run {
    let n = cfg.variables;
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, "lorenz96"));
    let mut model = Lorenz96::new(n, cfg.forcing, cfg.dt);
    let mut x: Vec<f64> = (0..n).map(|_| cfg.forcing + rng.sample::<f64, _>(StandardNormal)).collect();
    model.advance(&mut x, (cfg.spinup / cfg.dt).round() as usize);
    let mut truth = Vec::with_capacity((cfg.samples + 1) * n);
    truth.extend_from_slice(&x);
    for _ in 0..cfg.samples {
        model.advance(&mut x, cfg.steps_per_obs);
        truth.extend_from_slice(&x);
    }
    let obs = truth.iter().map(|t| t + cfg.obs_std * rng.sample::<f64, _>(StandardNormal)).collect();
    Lorenz96Run { truth, obs }
}

/// Writes `run` to `path` (layout in the module notes).
pub fn write(path: &Path, cfg: &Lorenz96Config, run: &Lorenz96Run, seed: u64, io: &IoConfig) -> Result<()> {
    let n = cfg.variables;
    let times = run.truth.len() / n;
    let obs_interval = cfg.steps_per_obs as f64 * cfg.dt;
    let mut w = NcWriter::create(path, io, "contrada synth lorenz96: truth and observations")?;
    w.global("synth_flow", "lorenz96")?;
    w.global("seed", seed.to_string())?;
    w.global("model", "Lorenz-96, dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, RK4")?;
    w.global("forcing", cfg.forcing)?;
    w.global("dt", cfg.dt)?;
    w.global("steps_per_obs", cfg.steps_per_obs as i32)?;
    w.global("obs_interval", obs_interval)?;
    w.global("obs_error_std", cfg.obs_std)?;
    w.global("spinup", cfg.spinup)?;
    w.global("time_unit_hours", cfg.time_unit_hours)?;
    w.global("observation_operator", "identity: every variable observed at every time, including time 0")?;
    let model_t: Vec<f64> = (0..times).map(|k| k as f64 * obs_interval).collect();
    let hours: Vec<f64> = model_t.iter().map(|t| t * cfg.time_unit_hours).collect();
    let time_attrs = vec![
        ("standard_name", "time".into()),
        ("long_name", "time".into()),
        ("units", format!("hours since {}", cfg.start).into()),
        ("calendar", "standard".into()),
        ("axis", "T".into()),
    ];
    w.coord("time", &hours, time_attrs)?;
    let index: Vec<f64> = (0..n).map(|i| i as f64).collect();
    w.coord("i", &index, vec![("long_name", "variable index on the Lorenz-96 ring".into()), ("units", "1".into())])?;
    w.var_f64("t_model", &["time"], &model_t, vec![("long_name", "model time (Lorenz-96 time units)".into()), ("units", "1".into())])?;
    w.var_f64("truth", &["time", "i"], &run.truth, vec![("long_name", "true state".into()), ("units", "1".into())])?;
    let obs_attrs =
        vec![("long_name", "observation of each variable: truth plus Gaussian noise".into()), ("units", "1".into()), ("obs_error_std", cfg.obs_std.into())];
    w.var_f64("obs", &["time", "i"], &run.obs, obs_attrs)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_follows_the_model_between_observation_times() {
        let cfg = Lorenz96Config { samples: 20, ..Lorenz96Config::default() };
        let r = run(&cfg, 1);
        let n = cfg.variables;
        let mut model = Lorenz96::new(n, cfg.forcing, cfg.dt);
        for k in 0..cfg.samples {
            let mut x = r.truth[k * n..(k + 1) * n].to_vec();
            model.advance(&mut x, cfg.steps_per_obs);
            assert_eq!(x, r.truth[(k + 1) * n..(k + 2) * n], "time {k} -> {}", k + 1);
        }
    }

    #[test]
    fn truth_is_on_the_attractor_and_noise_has_the_configured_spread() {
        // F = 8 climatology of Lorenz-96: mean about 2.35, standard deviation about 3.6.
        let cfg = Lorenz96Config::default();
        let r = run(&cfg, 2);
        let len = r.truth.len() as f64;
        let mean = r.truth.iter().sum::<f64>() / len;
        let sd = (r.truth.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / len).sqrt();
        assert!((2.0..2.7).contains(&mean), "climatological mean {mean}");
        assert!((3.3..3.9).contains(&sd), "climatological sd {sd}");
        // Already spun up at time 0: the first state is as spread as the climate, not near x = F.
        let first = &r.truth[..cfg.variables];
        let sd0 = (first.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / first.len() as f64).sqrt();
        assert!(sd0 > 2.0, "initial state spread {sd0}: not spun up");
        let res: Vec<f64> = r.obs.iter().zip(&r.truth).map(|(o, t)| o - t).collect();
        let rmean = res.iter().sum::<f64>() / len;
        let rsd = (res.iter().map(|x| x * x).sum::<f64>() / len).sqrt();
        assert!(rmean.abs() < 0.03 && (rsd - 1.0).abs() < 0.02, "observation error mean {rmean}, sd {rsd}");
    }
}
