//! The twin experiment of the two-layer QG ocean ([`crate::models::qg`]): a truth run in the
//! eddying regime, observed once a day by fixed stations and a moving satellite swath of
//! upper-layer streamfunction, and an ensemble of climatological states cycled through one-day
//! forecasts and analyses by the shared loop of [`super::cycling`]. It is what a forecasting
//! centre would run before trusting a baseline on its own ocean model: the LETKF (pure or hybrid)
//! against the free-running ensemble and EnOI on the same truth and observations.
//!
//! **State.** The filters analyse the streamfunction `psi` of both layers (`psi1` then `psi2`,
//! `n^2` cell-centre values each, laid out as the model's PV state), the variable observations
//! and users see; `psi2` is never observed and is updated only through the covariances. The
//! forecast turns each member into PV with [`QgModel::q_from_psi`], steps the model and returns
//! to `psi` with [`QgModel::fields`]; both maps are linear and exact on the wavenumbers the model
//! carries. The two elements above each grid point share their location, so the LETKF factors
//! one local matrix per grid point ([`crate::kalman::methods::letkf`]).
//!
//! **Regime and timeline** (defaults): [`QgConfig::default`] (pyqg's eddying regime: L = 1000 km,
//! rd = 15 km, 2-h steps) on 32 x 32 points. One seeded model run: from a random state of RMS PV
//! 3e-6 s^-1 (larger than the 1e-7 of `contrada synth qg`, so that the eddies are at finite
//! amplitude from the start and equilibrate in about a year rather than five), a 365-day spin-up,
//! then 120 climatological states 4 days apart (the static ensemble of EnOI and of the hybrid),
//! then 32 more 4 days apart (the initial ensemble: climatological states the static ensemble does
//! not contain), then, 4 days later, the truth period: 40 one-day cycles (12 steps), the first 10
//! a burn-in. In this regime the upper-layer `psi` has an RMS of about 1,250 m^2/s and the lower
//! layer's about 230 m^2/s (upper-layer speeds about 5 cm/s).
//!
//! **Observations**, each day at the end of the cycle, upper-layer `psi` at grid cells with error
//! standard deviation 100 m^2/s (8 % of its RMS; with `f0 = 1e-4 s^-1` that is 1 mm of sea-surface
//! height against an eddy signal of 1.3 cm, an altimeter's ratio in an energetic region): 30 fixed
//! stations drawn from the seed, and a swath band 200 km wide (6 grid columns, 192 cells) whose
//! centre moves 130 km east each day from a seeded start, so that it revisits a place about every
//! 8 days, as a satellite's ground track does.
//!
//! **Scores**: RMSE of the mean `psi` (both layers) against the truth and the ensemble spread, of
//! forecast and analysis, per cycle ([`QgScores::per_cycle`]) and averaged after the burn-in, with
//! the RMSE of the climatological mean as the reference a filter has to beat.

use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::cycling::{CycleScore, Cycled, TwinScores, run_cycles, stream};
use crate::error::{Error, Result};
use crate::kalman::localization::{Distance, Point};
use crate::kalman::methods::ensemble::{mean_into, rmse};
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{LinearObs, ObsOperator};
use crate::kalman::{BaselineConfig, Filter, Geometry};
use crate::models::Model;
use crate::models::qg::{QgConfig, QgModel};

/// A QG twin experiment (see the module notes for the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct QgTwin {
    /// The model (truth and members alike).
    pub model: QgConfig,
    /// RMS PV anomaly (s^-1) of the random initial state of the spin-up.
    pub initial_q_rms: f64,
    /// Spin-up before the first climatological state, days.
    pub spinup_days: usize,
    /// Days between consecutive climatological and initial states (and before the truth).
    pub sample_every_days: usize,
    /// Size of the static (climatological) ensemble of EnOI and of the hybrid.
    pub static_members: usize,
    /// Ensemble size.
    pub ensemble_size: usize,
    /// Model steps per cycle (one day of 2-h steps).
    pub steps_per_cycle: usize,
    /// Analysed cycles that enter the averages.
    pub cycles: usize,
    /// Cycles run before the averages start.
    pub burn_in: usize,
    /// Fixed stations (upper-layer grid cells).
    pub stations: usize,
    /// Width of the daily swath, m.
    pub swath_width_m: f64,
    /// Eastward shift of the swath from one day to the next, m.
    pub swath_shift_m: f64,
    /// Observation error standard deviation of `psi1`, m^2/s.
    pub obs_std: f64,
    /// Seed of the model run, the stations, the swath's start and the observation errors.
    pub seed: u64,
    /// A deliberately broken filter, for showing that the validation thresholds catch one: every
    /// analysis sees `2 H(xb) - y` instead of `y`, i.e. the innovation with its sign flipped.
    pub negate_innovations: bool,
}

impl Default for QgTwin {
    fn default() -> Self {
        QgTwin {
            model: QgConfig { nx: 32, ..QgConfig::default() },
            initial_q_rms: 3e-6,
            spinup_days: 365,
            sample_every_days: 4,
            static_members: 120,
            ensemble_size: 32,
            steps_per_cycle: 12,
            cycles: 30,
            burn_in: 10,
            stations: 30,
            swath_width_m: 200e3,
            swath_shift_m: 130e3,
            obs_std: 100.0,
            seed: 19,
            negate_innovations: false,
        }
    }
}

/// The truth, the climatology and the observations of a QG twin (the same for every filter).
pub struct QgTwinData {
    /// Truth `psi` after each cycle (cycles x 2 n^2).
    pub truth: Array2<f64>,
    /// Climatological `psi` states: the static ensemble (members x 2 n^2).
    pub climatology: Array2<f64>,
    /// Climatological `psi` states the ensemble starts from (members x 2 n^2).
    pub initial: Array2<f64>,
    /// Per cycle, the observed state elements (upper-layer cells) and the observed values.
    pub obs: Vec<(Vec<usize>, Vec<f64>)>,
}

/// Scores of a QG twin experiment.
#[derive(Debug, Clone, Default)]
pub struct QgScores {
    /// Averages after the burn-in.
    pub filter: TwinScores,
    /// Scores of every cycle after the burn-in.
    pub per_cycle: Vec<CycleScore>,
    /// RMSE of the climatological mean against the truth, averaged over the same cycles.
    pub climatology: f64,
}

impl QgTwin {
    fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Other(format!("QG twin experiment: {what}")));
        if self.ensemble_size == 0 || self.cycles == 0 || self.steps_per_cycle == 0 || self.sample_every_days == 0 {
            return bad("ensemble_size, cycles, steps_per_cycle and sample_every_days must be positive");
        }
        if self.static_members < 2 {
            return bad("the static ensemble needs at least 2 members");
        }
        if !(self.obs_std > 0.0 && self.swath_width_m >= 0.0 && self.swath_shift_m.is_finite()) {
            return bad("obs_std must be positive, the swath width not negative");
        }
        if self.stations > self.model.nx * self.model.nx {
            return bad("more stations than grid cells");
        }
        Ok(())
    }

    fn steps_per_day(&self) -> usize {
        (86400.0 / self.model.dt_s).round() as usize
    }

    /// Location of every state element: both layers' cell centres, in metres.
    fn locations(&self) -> Vec<Point> {
        let n = self.model.nx;
        let dx = self.model.dx_m();
        (0..2 * n * n).map(|e| [((e % n) as f64 + 0.5) * dx, ((e / n % n) as f64 + 0.5) * dx]).collect()
    }

    /// Runs the model and draws the observations (the same for every filter at a given seed).
    pub fn simulate(&self) -> Result<QgTwinData> {
        self.check()?;
        let mut model = QgModel::new(&self.model)?;
        let mut fields = model.new_fields();
        let mut rng = stream(self.seed, 1);
        let mut q = model.random_state(&mut rng, self.initial_q_rms);
        let day = self.steps_per_day();
        model.integrate(&mut q, self.spinup_days * day);
        let mut sample = |model: &mut QgModel, q: &mut Vec<f64>, members: usize, steps: usize| {
            let mut out = Array2::zeros((members, q.len()));
            for mut row in out.rows_mut() {
                model.integrate(q, steps);
                model.fields(q, &mut fields);
                row.iter_mut().zip(&fields.psi).for_each(|(r, &p)| *r = p);
            }
            out
        };
        let every = self.sample_every_days * day;
        let climatology = sample(&mut model, &mut q, self.static_members, every);
        let initial = sample(&mut model, &mut q, self.ensemble_size, every);
        model.integrate(&mut q, every);
        let total = self.burn_in + self.cycles;
        let truth = sample(&mut model, &mut q, total, self.steps_per_cycle);
        if truth.iter().chain(&climatology).any(|v| !v.is_finite()) {
            return Err(Error::Other("QG twin experiment: the model run blew up".into()));
        }

        let n = self.model.nx;
        let mut rng = stream(self.seed, 4);
        let stations = rand::seq::index::sample(&mut rng, n * n, self.stations).into_vec();
        let side = self.model.side_m;
        let start = rng.random::<f64>() * side;
        let x = |i: usize| (i as f64 + 0.5) * self.model.dx_m();
        let obs = (0..total)
            .map(|k| {
                let centre = (start + k as f64 * self.swath_shift_m).rem_euclid(side);
                let columns: Vec<usize> = (0..n)
                    .filter(|&i| {
                        let off = (x(i) - centre).abs();
                        off.min(side - off) <= 0.5 * self.swath_width_m
                    })
                    .collect();
                let swath = (0..n).flat_map(|j| columns.iter().map(move |&i| j * n + i));
                let cells: Vec<usize> = stations.iter().copied().chain(swath).collect();
                let values = cells.iter().map(|&c| truth[(k, c)] + self.obs_std * rng.sample::<f64, _>(StandardNormal)).collect();
                (cells, values)
            })
            .collect();
        Ok(QgTwinData { truth, climatology, initial, obs })
    }

    /// Simulates the truth and runs the filter `config` describes; see [`Self::assimilate`].
    pub fn run(&self, config: Option<&BaselineConfig>) -> Result<QgScores> {
        self.assimilate(&self.simulate()?, config)
    }

    /// Cycles the first `ensemble_size` initial states through `data` with the filter `config`
    /// describes (`None`: the free-running ensemble) and scores them. EnOI and the hybrid get the
    /// climatology as their static ensemble; the LETKF localises with periodic 2-D distances in
    /// metres.
    pub fn assimilate(&self, data: &QgTwinData, config: Option<&BaselineConfig>) -> Result<QgScores> {
        self.check()?;
        if self.ensemble_size > data.initial.nrows() {
            return Err(Error::Other(format!(
                "QG twin experiment: {} members asked for, {} initial states simulated",
                self.ensemble_size,
                data.initial.nrows()
            )));
        }
        let locations = self.locations();
        let side = self.model.side_m;
        let mut filter = match config {
            Some(c) => {
                let geometry = Geometry { state: locations.clone(), distance: Distance::Periodic2D { lx: side, ly: side } };
                let statics = c.needs_static_ensemble().then(|| data.climatology.clone());
                Some(Filter::new(c, Some(geometry), statics)?)
            }
            None => None,
        };
        let mut ensemble = data.initial.slice(ndarray::s![..self.ensemble_size, ..]).to_owned();
        let mut climatology_mean = vec![0.0; data.climatology.ncols()];
        mean_into(data.climatology.view(), &mut climatology_mean);
        let mut twin = QgCycles {
            twin: self,
            model: QgModel::new(&self.model)?,
            data,
            locations,
            op: None,
            obs: Observations::default(),
            forecast_mean: Vec::new(),
            per_cycle: Vec::new(),
            climatology_mean,
            climatology: 0.0,
        };
        let mut rng = stream(self.seed, 2);
        let filter_scores = run_cycles(&mut twin, data.truth.nrows(), self.burn_in, filter.as_mut(), &mut ensemble, &mut rng)?;
        let climatology = twin.climatology / twin.per_cycle.len().max(1) as f64;
        Ok(QgScores { filter: filter_scores, per_cycle: twin.per_cycle, climatology })
    }
}

/// The QG twin as the cycle loop sees it.
struct QgCycles<'d> {
    twin: &'d QgTwin,
    model: QgModel,
    data: &'d QgTwinData,
    locations: Vec<Point>,
    op: Option<LinearObs>,
    obs: Observations,
    /// Forecast mean of the cycle, for the negated innovations of the broken variant.
    forecast_mean: Vec<f64>,
    per_cycle: Vec<CycleScore>,
    climatology_mean: Vec<f64>,
    /// Sum over recorded cycles of the climatological mean's RMSE.
    climatology: f64,
}

impl Cycled for QgCycles<'_> {
    fn forecast(&mut self, ensemble: &mut Array2<f64>) {
        let len = ensemble.ncols();
        let (model, steps) = (&self.model, self.twin.steps_per_cycle);
        // Members are independent: one model (FFT plans and buffers) per worker thread.
        ensemble.as_slice_mut().expect("standard layout").par_chunks_mut(len).for_each_init(
            || (model.clone(), model.new_fields(), vec![0.0; len]),
            |(model, fields, q), psi| {
                model.q_from_psi(psi, q);
                model.integrate(q, steps);
                model.fields(q, fields);
                psi.copy_from_slice(&fields.psi);
            },
        );
        if self.twin.negate_innovations {
            self.forecast_mean.resize(len, 0.0);
            mean_into(ensemble.view(), &mut self.forecast_mean);
        }
    }

    fn observations(&mut self, k: usize) -> Result<(&dyn ObsOperator, &Observations)> {
        let (cells, values) = &self.data.obs[k];
        let op = LinearObs::selection(&self.locations, cells).map_err(|e| Error::Other(format!("cycle {k}: {e}")))?;
        let values =
            if self.twin.negate_innovations { cells.iter().zip(values).map(|(&c, &y)| 2.0 * self.forecast_mean[c] - y).collect() } else { values.clone() };
        self.obs = Observations { values, variance: vec![self.twin.obs_std * self.twin.obs_std; cells.len()] };
        let op: &dyn ObsOperator = self.op.insert(op);
        Ok((op, &self.obs))
    }

    fn scored<'a>(&'a mut self, k: usize, ensemble: &'a Array2<f64>) -> (ArrayView2<'a, f64>, &'a [f64]) {
        (ensemble.view(), self.data.truth.row(k).to_slice().expect("standard layout"))
    }

    fn record(&mut self, k: usize, score: CycleScore) {
        self.climatology += rmse(&self.climatology_mean, self.data.truth.row(k).to_slice().expect("standard layout"));
        self.per_cycle.push(score);
    }
}
