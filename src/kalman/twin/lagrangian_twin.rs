//! The twin experiment of the Lagrangian flow's time-dependent case: a truth flow drawn from the
//! synth prior, drifters released in it and observed every `gap` model time units with Gaussian
//! position noise, and an ensemble of flows from the same prior cycled through forecasts and
//! analyses by the shared loop of [`super::cycling`].
//!
//! A member's state is the flow's Fourier coefficients `psi_k` at the current time and its
//! frequencies `omega_k` ([`FlowSlots`] with `coef = 0`, `omega = 2 modes`: the state of the
//! [`FourierFlowModel`]). The forecast is one model step of `gap`: it rotates every coefficient by
//! `exp(i omega_k gap)` with the member's own frequencies, which is the exact evolution of this
//! flow; the frequencies persist. The observation operator is the restarted
//! drifter forward model ([`DrifterObs`]): each drifter's position is predicted from its previous
//! *observed* position (its release point in the first cycle) over one gap. The previous position
//! is noisy too, so the predicted displacement carries the noise of both ends: the analysis is
//! told an error variance of `2 obs_std^2` per coordinate (`obs_std^2` in the first cycle, which
//! starts from the known release point). That treats the end-point noise as if it were
//! independent between cycles, which it is not (one observation is the end of one gap and the
//! start of the next); the innovation statistics show how much that matters.
//!
//! The mode `k = 0` is a spatially constant streamfunction: it moves no water, so no drifter can
//! observe it. The truth and every member have it set to zero (and its frequency to the prior
//! mean), so that the analysis, whose increments are combinations of the member anomalies, never
//! gives it spurious increments and inflation never grows it.
//!
//! Scores are those of the velocity `(u, v)`: the RMSE is the root of the domain mean of
//! `(du^2 + dv^2) / 2`, as on a grid, computed exactly by Parseval from the coefficients through a
//! linear map ([`velocity_coordinates`]), so that the mean of the members' scored vectors is that
//! of the mean and the ensemble spread is the velocity spread in the same norm. The prior mean
//! velocity is zero, so the climatological RMSE, that of the prior mean, is the truth's RMS
//! velocity.

use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use super::cycling::{Cycled, TwinScores, run_cycles, stream};
use crate::error::{Error, Result};
use crate::kalman::obs::Observations;
use crate::kalman::obs::drifter_obs::{DrifterObs, DrifterTrack, FlowSlots};
use crate::kalman::obs::obs_operator::ObsOperator;
use crate::kalman::{BaselineConfig, Filter};
use crate::models::Model;
use crate::models::fourier_flow::{FlowPrior, FourierFlow, FourierFlowModel, Rk4, Workspace, integrate};

/// A Lagrangian twin experiment (see the module notes).
#[derive(Debug, Clone)]
pub struct LagrangianTwin {
    /// The prior of the truth and of the members (the synth's, with its own `kmax`).
    pub prior: FlowPrior,
    /// Release points `[x, y]`, one drifter each, released at time 0.
    pub releases: Vec<[f64; 2]>,
    /// Model time between observations (and analyses).
    pub gap: f64,
    /// Standard deviation of the Gaussian noise on each observed coordinate.
    pub obs_std: f64,
    /// Ensemble size.
    pub ensemble_size: usize,
    /// Analysed cycles that enter the averages.
    pub cycles: usize,
    /// Cycles run before the averages start.
    pub burn_in: usize,
    /// Seed of the truth, observations, initial ensemble and perturbations.
    pub seed: u64,
    /// Longest RK4 step of the members' drifters (the observation operator). The default, one
    /// step per gap, misses the true positions by far less than the observation noise (see the
    /// test `the_truth_predicts_its_own_observations`).
    pub max_dt: f64,
    /// RK4 step of the true drifters: finer than `max_dt`, so that the operator's integration
    /// error is part of the experiment, as it is with real data.
    pub truth_dt: f64,
}

impl Default for LagrangianTwin {
    /// The set-up `tests/kalman_lagrangian.rs` validates: the synth prior truncated at `kmax = 2`
    /// (24 observable complex coefficients and their frequencies: 72 unknowns, fewer than the 80
    /// members, so the global filters need no localisation), 9 drifters on a 3 x 3 lattice
    /// observed every 0.01 time units (the flow's modes turn by about 0.1 rad per gap, a drifter
    /// moves about 0.015) with 0.002 position noise.
    fn default() -> Self {
        LagrangianTwin {
            prior: FlowPrior { kmax: 2, ..FlowPrior::default() },
            releases: lattice(3),
            gap: 0.01,
            obs_std: 0.002,
            ensemble_size: 80,
            cycles: 600,
            burn_in: 200,
            seed: 7000,
            max_dt: 0.01,
            truth_dt: 1e-3,
        }
    }
}

/// `n x n` release points at the cell centres of a regular lattice on the unit square.
pub fn lattice(n: usize) -> Vec<[f64; 2]> {
    let c = |i: usize| (i as f64 + 0.5) / n as f64;
    (0..n * n).map(|i| [c(i % n), c(i / n)]).collect()
}

/// Scores of a Lagrangian twin experiment: the velocity scores of the filter and the
/// climatological reference.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LagrangianScores {
    /// Velocity RMSE and spread of the filter, averaged after the burn-in.
    pub filter: TwinScores,
    /// RMSE of the prior mean (zero velocity), averaged over the same cycles: the truth's RMS velocity.
    pub climatology: f64,
}

/// The truth and the observations of a Lagrangian twin experiment.
pub struct LagrangianData {
    /// The true state (coefficients then frequencies) after each cycle (cycles x state).
    pub truth: Array2<f64>,
    /// Observed positions after each cycle, unwrapped: cycles x (x, y per drifter).
    pub obs: Array2<f64>,
}

impl LagrangianTwin {
    fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Other(format!("Lagrangian twin experiment: {what}")));
        if self.releases.is_empty() || self.releases.iter().flatten().any(|c| !c.is_finite()) {
            return bad("needs at least one finite release point");
        }
        if !(self.gap > 0.0 && self.obs_std > 0.0 && self.max_dt > 0.0 && self.truth_dt > 0.0) {
            return bad("gap, obs_std, max_dt and truth_dt must be positive");
        }
        if self.cycles == 0 || self.ensemble_size < 2 {
            return bad("cycles must be positive and the ensemble needs at least 2 members");
        }
        Ok(())
    }

    fn slots(&self) -> FlowSlots {
        let m = (2 * self.prior.kmax + 1).pow(2);
        FlowSlots { kmax: self.prior.kmax, coef: 0, omega: 2 * m }
    }

    /// A flow drawn from the prior as a state, with its unobservable mode `k = 0` zeroed.
    fn draw(&self, rng: &mut impl Rng) -> Vec<f64> {
        let flow = FourierFlow::draw(&self.prior, rng);
        let mut state = flow.coefficients();
        state.extend(&flow.omega);
        let slots = self.slots();
        let zero = slots.modes() / 2;
        state[2 * zero] = 0.0;
        state[2 * zero + 1] = 0.0;
        state[slots.omega + zero] = self.prior.omega_mean;
        state
    }

    /// Draws the truth, advects the drifters in it and observes them (the same for every filter
    /// at a given seed).
    pub fn simulate(&self) -> Result<LagrangianData> {
        self.check()?;
        let total = self.burn_in + self.cycles;
        let mut rng = stream(self.seed, 1);
        let slots = self.slots();
        let mut state = self.draw(&mut rng);
        let mut truth = Array2::zeros((total, state.len()));
        let mut obs = Array2::zeros((total, 2 * self.releases.len()));
        let mut positions = self.releases.clone();
        let mut ws = Workspace::new(self.prior.kmax);
        let steps = (self.gap / self.truth_dt).ceil().max(1.0) as usize;
        let mut end = Vec::with_capacity(1);
        for k in 0..total {
            // The rotated coefficients are the flow at the end of the gap; the drifters move from
            // time -gap to 0 relative to it.
            rotate(slots, &mut state, self.gap);
            let flow = slots.flow(&state);
            for (d, p) in positions.iter_mut().enumerate() {
                end.clear();
                integrate(&flow, -self.gap, *p, Rk4 { dt: self.gap / steps as f64, steps, output_every: steps }, &mut ws, &mut end);
                *p = end[0];
                for c in 0..2 {
                    obs[(k, 2 * d + c)] = p[c] + self.obs_std * rng.sample::<f64, _>(StandardNormal);
                }
            }
            truth.row_mut(k).iter_mut().zip(&state).for_each(|(t, &s)| *t = s);
        }
        Ok(LagrangianData { truth, obs })
    }

    /// Simulates the truth and runs the filter `config` describes; see [`Self::assimilate`].
    pub fn run(&self, config: &BaselineConfig) -> Result<LagrangianScores> {
        self.assimilate(&self.simulate()?, config)
    }

    /// Cycles an ensemble drawn from the prior through `data` with the filter `config` describes
    /// (global schemes: the coefficients have no place in the domain to localise by) and scores it.
    pub fn assimilate(&self, data: &LagrangianData, config: &BaselineConfig) -> Result<LagrangianScores> {
        self.check()?;
        let mut filter = Filter::new(config, None, None)?;
        let mut rng = stream(self.seed, 2);
        let n_state = data.truth.ncols();
        let mut ensemble = Array2::zeros((self.ensemble_size, n_state));
        for mut member in ensemble.rows_mut() {
            member.iter_mut().zip(self.draw(&mut rng)).for_each(|(m, v)| *m = v);
        }
        let mut twin =
            LagrangianCycles { twin: self, data, op: None, obs: Observations::default(), members: Array2::zeros((0, 0)), truth: Vec::new(), climatology: 0.0 };
        let filter_scores = run_cycles(&mut twin, data.truth.nrows(), self.burn_in, Some(&mut filter), &mut ensemble, &mut rng)?;
        // `scored` runs twice per cycle (forecast and analysis) on the same truth.
        let scored = 2 * data.truth.nrows().saturating_sub(self.burn_in);
        Ok(LagrangianScores { filter: filter_scores, climatology: twin.climatology / scored as f64 })
    }
}

/// Rotates every coefficient of `state` by `exp(i omega_k dt)`, the exact evolution of the flow:
/// one step of `dt` of the [`FourierFlowModel`], whose state layout is the twin's.
fn rotate(slots: FlowSlots, state: &mut [f64], dt: f64) {
    debug_assert_eq!((slots.coef, slots.omega), (0, 2 * slots.modes()), "the twin's state is the model's");
    FourierFlowModel { kmax: slots.kmax, dt }.step(state);
}

/// The Lagrangian twin as the cycle loop sees it.
struct LagrangianCycles<'t> {
    twin: &'t LagrangianTwin,
    data: &'t LagrangianData,
    op: Option<DrifterObs>,
    obs: Observations,
    /// Scored velocity coordinates of the members and of the truth.
    members: Array2<f64>,
    truth: Vec<f64>,
    /// Sum over scoring calls of the truth's RMS velocity.
    climatology: f64,
}

impl Cycled for LagrangianCycles<'_> {
    fn forecast(&mut self, ensemble: &mut Array2<f64>) {
        let slots = self.twin.slots();
        for mut member in ensemble.rows_mut() {
            rotate(slots, member.as_slice_mut().expect("standard layout"), self.twin.gap);
        }
    }

    fn observations(&mut self, k: usize) -> Result<(&dyn ObsOperator, &Observations)> {
        let twin = self.twin;
        let now = self.data.obs.row(k);
        let tracks = (0..twin.releases.len())
            .map(|d| {
                let release = if k == 0 { twin.releases[d] } else { [self.data.obs[(k - 1, 2 * d)], self.data.obs[(k - 1, 2 * d + 1)]] };
                DrifterTrack { release, release_time: -twin.gap, times: vec![0.0], positions: vec![[now[2 * d], now[2 * d + 1]]] }
            })
            .collect();
        let op = DrifterObs::new(self.data.truth.ncols(), twin.slots(), tracks, twin.max_dt)
            .map_err(|e| Error::Other(format!("cycle {k}: {e}")))?
            .with_restarts(true);
        // Noise at both ends of the gap, except from the exactly known release points.
        let variance = if k == 0 { 1.0 } else { 2.0 } * twin.obs_std * twin.obs_std;
        self.obs = Observations { values: op.observed().to_vec(), variance: vec![variance; op.n_obs()] };
        let op: &dyn ObsOperator = self.op.insert(op);
        Ok((op, &self.obs))
    }

    fn scored<'a>(&'a mut self, k: usize, ensemble: &'a Array2<f64>) -> (ArrayView2<'a, f64>, &'a [f64]) {
        let slots = self.twin.slots();
        let width = slots.modes() - 1;
        if self.members.dim() != (ensemble.nrows(), width) {
            self.members = Array2::zeros((ensemble.nrows(), width));
        }
        for (state, mut out) in ensemble.rows().into_iter().zip(self.members.rows_mut()) {
            velocity_coordinates(slots, state.as_slice().expect("standard layout"), out.as_slice_mut().expect("standard layout"));
        }
        self.truth.resize(width, 0.0);
        velocity_coordinates(slots, self.data.truth.row(k).as_slice().expect("standard layout"), &mut self.truth);
        self.climatology += (self.truth.iter().map(|x| x * x).sum::<f64>() / width as f64).sqrt();
        (self.members.view(), &self.truth)
    }
}

/// Writes into `out` (length `modes - 1`) coordinates of the velocity of the flow in `state`
/// whose mean square is the domain mean of `(u^2 + v^2) / 2`.
///
/// With `psi = Re sum_k c_k exp(2 pi i k.x)`, the Fourier coefficient of `psi` at `k` is `d_k / 2`,
/// `d_k = c_k + conj(c_-k)`, and Parseval gives `mean(u^2 + v^2) / 2 = pi^2 sum |k|^2 |d_k|^2`
/// over the half plane of `k` (mode indices above `k = 0`; `-k` of mode `m` is mode
/// `modes - 1 - m`). Each half-plane mode gives `sqrt(L) pi |k| (Re d_k, Im d_k)`, `L = modes - 1`
/// coordinates in all. The map is linear in the coefficients and ignores `c_0`.
pub fn velocity_coordinates(slots: FlowSlots, state: &[f64], out: &mut [f64]) {
    let modes = slots.modes();
    let coef = &state[slots.coef..slots.coef + 2 * modes];
    let scale = ((modes - 1) as f64).sqrt() * std::f64::consts::PI;
    for (m, pair) in (modes / 2 + 1..modes).zip(out.chunks_exact_mut(2)) {
        let (kx, ky) = FourierFlow::wave_vector(slots.kmax, m);
        let w = scale * ((kx * kx + ky * ky) as f64).sqrt();
        let n = modes - 1 - m;
        pair[0] = w * (coef[2 * m] + coef[2 * n]);
        pair[1] = w * (coef[2 * m + 1] - coef[2 * n + 1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kalman::obs::drifter_obs::DEFAULT_MAX_DT;
    use crate::models::fourier_flow::{evaluate_at, grid_fields};

    fn twin(obs_std: f64) -> LagrangianTwin {
        LagrangianTwin { releases: lattice(2), obs_std, cycles: 30, burn_in: 0, ..LagrangianTwin::default() }
    }

    #[test]
    fn velocity_coordinates_give_the_grid_mean_square_velocity() {
        // On an n x n grid with n > 2 kmax the grid mean of u^2 + v^2 (a trigonometric polynomial
        // of degree 2 kmax) is its exact domain mean: the reference for Parseval.
        for kmax in [2, 3] {
            parseval(kmax);
        }
    }

    fn parseval(kmax: usize) {
        let t = LagrangianTwin { prior: FlowPrior { kmax, ..FlowPrior::default() }, ..twin(0.01) };
        let slots = t.slots();
        let mut rng = stream(1, 9);
        let (a, b) = (t.draw(&mut rng), t.draw(&mut rng));
        let diff: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        for state in [&a, &diff] {
            let mut coords = vec![0.0; slots.modes() - 1];
            velocity_coordinates(slots, state, &mut coords);
            let got = coords.iter().map(|c| c * c).sum::<f64>() / coords.len() as f64;
            let [_, u, v] = grid_fields(&slots.flow(state), 0.0, 8, &mut Workspace::new(slots.kmax));
            let want = u.iter().chain(&v).map(|x| x * x).sum::<f64>() / (u.len() + v.len()) as f64;
            assert!(want > 0.1 && (got - want).abs() < 1e-12 * want, "Parseval {got}, grid {want}");
        }
        // Linear: the coordinates of a difference are the difference of the coordinates.
        let coords = |s: &[f64]| {
            let mut c = vec![0.0; slots.modes() - 1];
            velocity_coordinates(slots, s, &mut c);
            c
        };
        let (ca, cb, cd) = (coords(&a), coords(&b), coords(&diff));
        assert!(ca.iter().zip(&cb).zip(&cd).all(|((x, y), d)| (x - y - d).abs() < 1e-12));
    }

    #[test]
    fn rotation_is_the_flow_at_a_later_time_and_the_zero_mode_is_zero() {
        let t = twin(0.01);
        let slots = t.slots();
        let state = t.draw(&mut stream(2, 9));
        let zero = slots.modes() / 2;
        assert_eq!([state[2 * zero], state[2 * zero + 1], state[slots.omega + zero]], [0.0, 0.0, t.prior.omega_mean]);
        let mut later = state.clone();
        rotate(slots, &mut later, 0.037);
        let mut ws = Workspace::new(slots.kmax);
        for (x, y) in [(0.1, 0.2), (0.7, 0.35)] {
            let want = evaluate_at(&slots.flow(&state), 0.037, x, y, &mut ws);
            let got = evaluate_at(&slots.flow(&later), 0.0, x, y, &mut ws);
            assert!(want.iter().zip(got).all(|(a, b)| (a - b).abs() < 1e-12), "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn the_truth_predicts_its_own_observations() {
        // Nearly exact observations: the restarted operator on the true state of each cycle must
        // land on the observed positions to within the RK4 error of its coarser step, which checks
        // the time conventions of truth, forecast and operator against each other.
        let t = LagrangianTwin { max_dt: DEFAULT_MAX_DT, ..twin(1e-12) };
        let data = t.simulate().unwrap();
        let mut err_one_step: f64 = 0.0;
        let mut cycles = LagrangianCycles {
            twin: &t,
            data: &data,
            op: None,
            obs: Observations::default(),
            members: Array2::zeros((0, 0)),
            truth: Vec::new(),
            climatology: 0.0,
        };
        let mut moved: f64 = 0.0;
        let max_gap = |op: &dyn ObsOperator, state: &[f64], y: &[f64]| {
            let mut hx = vec![0.0; op.n_obs()];
            op.apply(state, &mut hx);
            hx.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
        };
        for k in 0..t.cycles {
            let truth = data.truth.row(k).to_vec();
            let (op, obs) = cycles.observations(k).unwrap();
            let y = obs.values.clone();
            let err = max_gap(op, &truth, &y);
            assert!(err < 1e-7, "cycle {k}: the truth misses its observations by {err}");
            let fine = cycles.op.as_ref().unwrap();
            // The default operator step, one RK4 step per gap.
            let coarse = DrifterObs::new(fine.n_state(), t.slots(), fine.tracks().to_vec(), t.gap).unwrap();
            err_one_step = err_one_step.max(max_gap(&coarse, &truth, &y));
            moved = moved.max(y.chunks(2).zip(&t.releases).map(|(p, r)| (p[0] - r[0]).hypot(p[1] - r[1])).fold(0.0, f64::max));
        }
        println!("max position error of one RK4 step per gap: {err_one_step:e}");
        // Measured 1.0e-5 (kmax 2, 4 drifters, 30 gaps): half a percent of the noise.
        assert!(err_one_step < 0.01 * LagrangianTwin::default().obs_std, "one RK4 step per gap misses by {err_one_step}");
        assert!(moved > 0.05, "the drifters moved only {moved}");
        // A flow a gap behind (not rotated) misses them by far more than that.
        let (op, obs) = cycles.observations(5).unwrap();
        let mut behind = data.truth.row(4).to_vec();
        let err = max_gap(op, &behind, &obs.values);
        assert!(err > 1e-4, "a flow one gap behind misses by only {err}");
        rotate(t.slots(), &mut behind, t.gap);
        assert!(max_gap(op, &behind, &obs.values) < 1e-7);
    }
}
