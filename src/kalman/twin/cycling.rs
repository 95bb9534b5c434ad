//! Twin experiments that validate the baselines as filters: a truth run of a built-in model,
//! synthetic observations of it, and an ensemble cycled through forecast and analysis, scored by
//! time-averaged analysis RMSE and spread after a burn-in (DAPPER's `rmse.a` and `rmv.a`).
//!
//! The Lorenz-96 set-up defaults to DAPPER's `mods.Lorenz96.sakov2008` (Sakov & Oke 2008):
//! 40 variables, F = 8, every variable observed every 0.05 time units with unit error variance,
//! initial truth and members drawn from `N(x0, 0.001 I)` with `x0 = (1, 0, ..., 0)`. DAPPER steps
//! the model with one RK4 step of 0.05 per cycle; `dt` and `steps_per_cycle` change that (e.g.
//! 0.01 x 5, as `contrada synth lorenz96` writes), which leaves the scores unchanged within their
//! sampling error.

use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::kalman::localization::{Distance, Point};
use crate::kalman::methods::diagnostics::InnovationStats;
use crate::kalman::methods::ensemble::{mean_into, rmse, spread};
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{LinearObs, ObsOperator, observe};
use crate::kalman::{BaselineConfig, Filter, Geometry, Method};
use crate::models::lorenz96::Lorenz96;

/// A Lorenz-96 twin experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Lorenz96Twin {
    /// Number of variables.
    pub n_vars: usize,
    /// Forcing F.
    pub forcing: f64,
    /// RK4 step.
    pub dt: f64,
    /// RK4 steps between observations.
    pub steps_per_cycle: usize,
    /// Observation error standard deviation.
    pub obs_std: f64,
    /// Variance of the initial truth and members around `x0`.
    pub init_var: f64,
    /// Ensemble size (members of the forecast ensemble; EnOI may use 1).
    pub ensemble_size: usize,
    /// Analysed cycles that enter the averages.
    pub cycles: usize,
    /// Cycles run before the averages start.
    pub burn_in: usize,
    /// Seed of the truth, observations, initial ensemble and perturbations.
    pub seed: u64,
    /// EnOI: size of the static ensemble drawn from a free model run (climatology).
    pub static_members: usize,
}

impl Default for Lorenz96Twin {
    fn default() -> Self {
        Lorenz96Twin {
            n_vars: 40,
            forcing: 8.0,
            dt: 0.05,
            steps_per_cycle: 1,
            obs_std: 1.0,
            init_var: 0.001,
            ensemble_size: 40,
            cycles: 5000,
            burn_in: 400,
            seed: 3000,
            static_members: 200,
        }
    }
}

/// Time-averaged scores of a twin experiment.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TwinScores {
    /// Mean over analysed cycles of the analysis-mean RMSE against the truth.
    pub rmse_a: f64,
    /// Mean over analysed cycles of the analysis spread (root mean ensemble variance).
    pub spread_a: f64,
    /// Forecast (prior) RMSE, averaged the same way.
    pub rmse_f: f64,
    /// Forecast spread.
    pub spread_f: f64,
    /// Innovation statistics of the forecasts, averaged over analysed cycles.
    pub innovation: InnovationStats,
    /// Analysed cycles.
    pub cycles: usize,
    /// Wall time of the filter (forecasts, analyses and scores; not the truth run), seconds.
    pub seconds: f64,
}

/// The truth trajectory at observation times and the observations of it.
pub struct TwinData {
    /// Truth after each cycle (cycles x variables).
    pub truth: Array2<f64>,
    /// Observations after each cycle (cycles x variables).
    pub obs: Array2<f64>,
}

/// Distinct random streams derived from one seed, so that the truth and the observations do not
/// depend on the filter (every method sees the same data for the same seed).
pub(crate) fn stream(seed: u64, which: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ which.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Lorenz96Twin {
    fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Other(format!("Lorenz-96 twin experiment: {what}")));
        if self.n_vars < 4 {
            return bad("needs at least 4 variables");
        }
        if !(self.dt > 0.0 && self.obs_std > 0.0 && self.init_var >= 0.0) || self.steps_per_cycle == 0 {
            return bad("dt, steps_per_cycle and obs_std must be positive");
        }
        if self.cycles == 0 || self.ensemble_size == 0 {
            return bad("cycles and ensemble_size must be positive");
        }
        Ok(())
    }

    fn x0(&self) -> Vec<f64> {
        let mut x = vec![0.0; self.n_vars];
        x[0] = 1.0;
        x
    }

    /// Runs the truth and draws the observations (the same for every filter at a given seed).
    pub fn simulate(&self) -> Result<TwinData> {
        self.check()?;
        let total = self.burn_in + self.cycles;
        let mut rng = stream(self.seed, 1);
        let mut model = Lorenz96::new(self.n_vars, self.forcing, self.dt);
        let mut x: Vec<f64> = self.x0().iter().map(|m| m + self.init_var.sqrt() * rng.sample::<f64, _>(StandardNormal)).collect();
        let mut truth = Array2::zeros((total, self.n_vars));
        let mut obs = Array2::zeros((total, self.n_vars));
        for k in 0..total {
            model.advance(&mut x, self.steps_per_cycle);
            for j in 0..self.n_vars {
                truth[(k, j)] = x[j];
                obs[(k, j)] = x[j] + self.obs_std * rng.sample::<f64, _>(StandardNormal);
            }
        }
        Ok(TwinData { truth, obs })
    }

    /// A static ensemble for EnOI: states of a free model run, one every 20 cycles after a
    /// spin-up of 1000 cycles, so that their covariance is the model's climatology.
    fn climatology(&self) -> Array2<f64> {
        let mut rng = stream(self.seed, 3);
        let mut model = Lorenz96::new(self.n_vars, self.forcing, self.dt);
        let mut x: Vec<f64> = self.x0().iter().map(|m| m + rng.sample::<f64, _>(StandardNormal)).collect();
        model.advance(&mut x, 1000 * self.steps_per_cycle);
        let mut members = Array2::zeros((self.static_members, self.n_vars));
        for mut row in members.rows_mut() {
            model.advance(&mut x, 20 * self.steps_per_cycle);
            row.iter_mut().zip(&x).for_each(|(r, &v)| *r = v);
        }
        members
    }

    /// Simulates the truth and runs the filter `config` describes; see [`Self::assimilate`].
    pub fn run(&self, config: &BaselineConfig) -> Result<TwinScores> {
        self.assimilate(&self.simulate()?, config)
    }

    /// Cycles an ensemble through `data` with the filter `config` describes and scores it.
    pub fn assimilate(&self, data: &TwinData, config: &BaselineConfig) -> Result<TwinScores> {
        self.check()?;
        let n = self.n_vars;
        let locations: Vec<Point> = (0..n).map(|i| [i as f64, 0.0]).collect();
        let op = LinearObs::identity(&locations);
        let geometry = Geometry { state: locations, distance: Distance::Periodic1D { period: n as f64 } };
        let statics = (config.method == Method::Enoi).then(|| self.climatology());
        let mut filter = Filter::new(config, Some(geometry), statics)?;
        let mut rng = stream(self.seed, 2);
        let x0 = self.x0();
        let mut ensemble = Array2::from_shape_fn((self.ensemble_size, n), |(_, j)| x0[j] + self.init_var.sqrt() * rng.sample::<f64, _>(StandardNormal));
        let mut twin = Lorenz96Cycles {
            model: Lorenz96::new(n, self.forcing, self.dt),
            steps: self.steps_per_cycle,
            op,
            obs: Observations { values: vec![0.0; n], variance: vec![self.obs_std * self.obs_std; n] },
            data,
        };
        run_cycles(&mut twin, data.truth.nrows(), self.burn_in, Some(&mut filter), &mut ensemble, &mut rng)
    }
}

/// The Lorenz-96 twin as the cycle loop sees it: every variable observed, scored as is.
struct Lorenz96Cycles<'d> {
    model: Lorenz96,
    steps: usize,
    op: LinearObs,
    obs: Observations,
    data: &'d TwinData,
}

impl Cycled for Lorenz96Cycles<'_> {
    fn forecast(&mut self, ensemble: &mut Array2<f64>) {
        for mut member in ensemble.rows_mut() {
            self.model.advance(member.as_slice_mut().expect("standard layout"), self.steps);
        }
    }

    fn observations(&mut self, k: usize) -> Result<(&dyn ObsOperator, &Observations)> {
        self.obs.values.iter_mut().zip(self.data.obs.row(k)).for_each(|(o, &y)| *o = y);
        Ok((&self.op, &self.obs))
    }

    fn scored<'a>(&'a mut self, k: usize, ensemble: &'a Array2<f64>) -> (ArrayView2<'a, f64>, &'a [f64]) {
        (ensemble.view(), self.data.truth.row(k).to_slice().expect("standard layout"))
    }
}

/// A twin experiment as [`run_cycles`] sees it: a model that steps members from one observation
/// time to the next, the observations of each cycle, and what is scored against the truth.
pub(crate) trait Cycled {
    /// Advances every member (row of `ensemble`) to the next observation time.
    fn forecast(&mut self, ensemble: &mut Array2<f64>);
    /// The observation operator and the observations of cycle `k`.
    fn observations(&mut self, k: usize) -> Result<(&dyn ObsOperator, &Observations)>;
    /// The scored quantities of every member (members x scored) and of the truth at cycle `k`:
    /// the state itself, or what a model derives from it linearly (so that the mean of the
    /// scored members is the scored mean).
    fn scored<'a>(&'a mut self, k: usize, ensemble: &'a Array2<f64>) -> (ArrayView2<'a, f64>, &'a [f64]);
    /// The scores of cycle `k`, after the burn-in (for twins that keep them cycle by cycle).
    fn record(&mut self, _k: usize, _score: CycleScore) {}
}

/// The scores of one cycle: RMSE of the scored mean against the truth and ensemble spread, of the
/// forecast (prior) and the analysis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CycleScore {
    /// Forecast RMSE.
    pub rmse_f: f64,
    /// Forecast spread.
    pub spread_f: f64,
    /// Analysis RMSE (the forecast's when nothing is analysed).
    pub rmse_a: f64,
    /// Analysis spread.
    pub spread_a: f64,
}

/// Cycles `ensemble` through `cycles` forecasts and analyses of `twin` with `filter` (none: a
/// free-running ensemble, scored the same way) and averages the scores of the cycles after
/// `burn_in`. Random draws of the analyses come from `rng`.
pub(crate) fn run_cycles(
    twin: &mut impl Cycled,
    cycles: usize,
    burn_in: usize,
    mut filter: Option<&mut Filter>,
    ensemble: &mut Array2<f64>,
    rng: &mut StdRng,
) -> Result<TwinScores> {
    let (mut mean, mut hx) = (Vec::new(), Array2::zeros((0, 0)));
    let mut sums = TwinScores::default();
    let (mut innovation_mean, mut innovation_sq, mut expected_sq, mut observed) = (0.0, 0.0, 0.0, 0);
    // Mean and spread of the scored members, and the RMSE of that mean against the truth.
    let mut score = |twin: &mut dyn Cycled, k: usize, ensemble: &Array2<f64>| {
        let (members, truth) = twin.scored(k, ensemble);
        mean.resize(members.ncols(), 0.0);
        mean_into(members, &mut mean);
        (rmse(&mean, truth), spread(members, &mean))
    };

    let start = Instant::now();
    for k in 0..cycles {
        twin.forecast(ensemble);
        let scored = k >= burn_in;
        let mut cycle = CycleScore::default();
        if scored {
            (cycle.rmse_f, cycle.spread_f) = score(twin, k, ensemble);
            sums.rmse_f += cycle.rmse_f;
            sums.spread_f += cycle.spread_f;
        }
        let (op, obs) = twin.observations(k)?;
        if scored {
            observe(op, ensemble.view(), &mut hx);
            let s = InnovationStats::of(hx.view(), obs);
            innovation_mean += s.mean;
            innovation_sq += s.rms * s.rms;
            expected_sq += s.expected_rms * s.expected_rms;
            observed = observed.max(s.count);
        }
        if let Some(filter) = filter.as_deref_mut() {
            filter.assimilate(ensemble, op, obs, rng).map_err(|e| Error::Other(format!("cycle {k}: {e}")))?;
        }
        if scored {
            (cycle.rmse_a, cycle.spread_a) = score(twin, k, ensemble);
            if !cycle.rmse_a.is_finite() {
                return Err(Error::Other(format!("cycle {k}: the filter diverged (analysis RMSE {})", cycle.rmse_a)));
            }
            sums.rmse_a += cycle.rmse_a;
            sums.spread_a += cycle.spread_a;
            twin.record(k, cycle);
        }
    }
    let scored = cycles.saturating_sub(burn_in);
    let c = scored as f64;
    Ok(TwinScores {
        rmse_a: sums.rmse_a / c,
        spread_a: sums.spread_a / c,
        rmse_f: sums.rmse_f / c,
        spread_f: sums.spread_f / c,
        innovation: InnovationStats { count: observed, mean: innovation_mean / c, rms: (innovation_sq / c).sqrt(), expected_rms: (expected_sq / c).sqrt() },
        cycles: scored,
        seconds: start.elapsed().as_secs_f64(),
    })
}
