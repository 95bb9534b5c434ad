//! The drifter forward model of the Lagrangian flow as an observation operator: a member's state
//! holds the flow's Fourier coefficients `psi_k` at the analysis time (model time 0) and its
//! frequencies `omega_k`; [`DrifterObs::apply`] advects that flow's drifters from their release
//! points (RK4, [`crate::models::fourier_flow::integrate`]) and returns the predicted positions at the
//! observed times, `x, y` per position.
//!
//! Positions are compared **unwrapped**: a drifter's predicted track is continuous from its
//! release point, and the observed track is moved by whole periods of the unit square so that it
//! starts next to the same release point. Comparing wrapped positions instead would make `H`
//! jump by 1 where a member's drifter crosses the boundary. The observation locations (for
//! LETKF localisation) are the observed positions wrapped into the domain.
//!
//! The integrator advances from one observed time to the next in equal steps no longer than
//! `max_dt`, so any observation times work; the default step is justified by the convergence
//! test below (errors far below any sensible observation error).

use super::obs_operator::ObsOperator;
use crate::kalman::localization::Point;
use crate::models::fourier_flow::{Complex, FourierFlow, Rk4, Workspace, integrate};

/// Default longest RK4 step, in model time units. The convergence test (`rk4_step_converges`)
/// measures the track error on synth flows against the synth's own step (1e-5): about 1e-8 at
/// steps of 1e-3 and falling with the fourth power of the step, six orders of magnitude under
/// the 0.01 observation errors this operator is used with, at a hundredth of the synth's cost.
pub const DEFAULT_MAX_DT: f64 = 1e-3;

/// Where a member's flow is in its state vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSlots {
    /// Truncation: modes `k` in `{-kmax..kmax}^2`, ordered as [`FourierFlow::wave_vector`].
    pub kmax: usize,
    /// Offset of `[Re psi_0, Im psi_0, Re psi_1, ...]` (2 per mode).
    pub coef: usize,
    /// Offset of `omega_k` (1 per mode).
    pub omega: usize,
}

impl FlowSlots {
    /// Number of modes.
    pub fn modes(&self) -> usize {
        (2 * self.kmax + 1).pow(2)
    }

    /// The flow stored in `state`.
    pub fn flow(&self, state: &[f64]) -> FourierFlow {
        let m = self.modes();
        let coef = &state[self.coef..self.coef + 2 * m];
        FourierFlow {
            kmax: self.kmax,
            amplitude: coef.chunks_exact(2).map(|c| Complex { re: c[0], im: c[1] }).collect(),
            omega: state[self.omega..self.omega + m].to_vec(),
        }
    }
}

/// One observed drifter.
#[derive(Debug, Clone, PartialEq)]
pub struct DrifterTrack {
    /// Release point `[x, y]`.
    pub release: [f64; 2],
    /// Model time of the release (the analysis time is 0).
    pub release_time: f64,
    /// Model times of the observed positions, increasing, all after the release.
    pub times: Vec<f64>,
    /// Observed positions `[x, y]`, unwrapped (continuous along the track).
    pub positions: Vec<[f64; 2]>,
}

/// The drifter observation operator (see the module notes).
#[derive(Debug, Clone)]
pub struct DrifterObs {
    n_state: usize,
    slots: FlowSlots,
    tracks: Vec<DrifterTrack>,
    max_dt: f64,
    restart: bool,
    values: Vec<f64>,
    locations: Vec<Point>,
}

impl DrifterObs {
    /// The operator for `tracks` on states of `n_state` elements holding the flow at `slots`.
    /// Errors name the track at fault: times not increasing or not after the release, a
    /// position count that differs from the time count, or a state too short for the slots.
    pub fn new(n_state: usize, slots: FlowSlots, tracks: Vec<DrifterTrack>, max_dt: f64) -> Result<DrifterObs, String> {
        let m = slots.modes();
        if slots.coef + 2 * m > n_state || slots.omega + m > n_state {
            return Err(format!("a state of {n_state} elements cannot hold {m} coefficients at {} and frequencies at {}", slots.coef, slots.omega));
        }
        if !(max_dt.is_finite() && max_dt > 0.0) {
            return Err(format!("RK4 step {max_dt} must be finite and > 0"));
        }
        let (mut values, mut locations) = (Vec::new(), Vec::new());
        let mut tracks = tracks;
        for (k, t) in tracks.iter_mut().enumerate() {
            if t.times.len() != t.positions.len() || t.times.is_empty() {
                return Err(format!("track {k}: {} times and {} positions; expected the same number, at least one", t.times.len(), t.positions.len()));
            }
            let mut previous = t.release_time;
            for &time in &t.times {
                if time.is_nan() || time <= previous {
                    return Err(format!("track {k}: time {time} does not follow {previous}; times must increase from the release at {}", t.release_time));
                }
                previous = time;
            }
            if t.positions.iter().flatten().chain(&t.release).any(|c| !c.is_finite()) {
                return Err(format!("track {k}: positions and the release point must be finite"));
            }
            // Whole periods that bring the first observed position next to the release point.
            let shift = [0, 1].map(|c| (t.positions[0][c] - t.release[c]).round());
            for p in &mut t.positions {
                for (v, s) in p.iter_mut().zip(shift) {
                    *v -= s;
                }
                values.extend_from_slice(p.as_slice());
                let wrapped = [p[0].rem_euclid(1.0), p[1].rem_euclid(1.0)];
                locations.extend([wrapped, wrapped]);
            }
        }
        Ok(DrifterObs { n_state, slots, tracks, max_dt, restart: false, values, locations })
    }

    /// With `restart`, each position is predicted from the previous *observed* position (the
    /// release point for the first) over one gap, instead of along the member's own track from
    /// the release. See [`Self::predict`].
    pub fn with_restarts(mut self, restart: bool) -> DrifterObs {
        self.restart = restart;
        self
    }

    /// The observed positions in operator order (`x, y` per position, unwrapped next to the
    /// release points): the observation vector `y` to compare `H(x)` with.
    pub fn observed(&self) -> &[f64] {
        &self.values
    }

    /// The tracks, with their positions as compared (moved by whole periods, see [`Self::observed`]).
    pub fn tracks(&self) -> &[DrifterTrack] {
        &self.tracks
    }

    /// The predicted tracks of the flow in `state`, one position per observed time: the member's
    /// drifters advected from their release points through every observed time, or, with
    /// restarts, each position advected from the previous observed one over one gap. Restarting
    /// keeps `H` close to linear in the flow (a short displacement from a known point is about the
    /// velocity there times the gap), where a whole track depends on the path the member's own
    /// drifter took; with the true flow both reproduce exact observations.
    pub fn predict(&self, state: &[f64]) -> Vec<Vec<[f64; 2]>> {
        let flow = self.slots.flow(state);
        let mut ws = Workspace::new(self.slots.kmax);
        self.tracks
            .iter()
            .map(|t| {
                let mut out = Vec::with_capacity(t.times.len());
                let (mut time, mut at) = (t.release_time, t.release);
                for (&next, observed) in t.times.iter().zip(&t.positions) {
                    let gap = next - time;
                    let steps = (gap / self.max_dt).ceil().max(1.0) as usize;
                    integrate(&flow, time, at, Rk4 { dt: gap / steps as f64, steps, output_every: steps }, &mut ws, &mut out);
                    time = next;
                    at = if self.restart { *observed } else { *out.last().expect("integrate appends the end point") };
                }
                out
            })
            .collect()
    }
}

impl ObsOperator for DrifterObs {
    fn n_state(&self) -> usize {
        self.n_state
    }
    fn n_obs(&self) -> usize {
        self.values.len()
    }
    fn apply(&self, state: &[f64], out: &mut [f64]) {
        for (slot, p) in out.chunks_exact_mut(2).zip(self.predict(state).iter().flatten()) {
            slot.copy_from_slice(p);
        }
    }
    fn locations(&self) -> &[Point] {
        &self.locations
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::fourier_flow::FlowPrior;
    use crate::pipeline::hash::derive_seed;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The synth's sample data set-up (`[synth.lagrangian]` defaults with exact positions): RK4
    /// steps of 1e-5 over a window of 0.1 model time units ending at time 0.
    const SYNTH_DT: f64 = 1e-5;
    const SYNTH_STEPS: usize = 10_000;
    const DURATION: f64 = 0.1;

    /// What `contrada synth lagrangian` draws as sample 0 of `seed` without position noise: the
    /// flow from the default prior and each drifter's track, integrated in one go and kept every
    /// `output_every` steps.
    fn synth_sample(seed: u64, output_every: usize, releases: &[[f64; 2]]) -> (FourierFlow, Vec<Vec<[f64; 2]>>) {
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, "lagrangian sample 0"));
        let flow = FourierFlow::draw(&FlowPrior::default(), &mut rng);
        let mut ws = Workspace::new(flow.kmax);
        let tracks = releases
            .iter()
            .map(|&release| {
                let mut track = Vec::new();
                integrate(&flow, -DURATION, release, Rk4 { dt: SYNTH_DT, steps: SYNTH_STEPS, output_every }, &mut ws, &mut track);
                track
            })
            .collect();
        (flow, tracks)
    }

    /// The state `[coef, omega]` of `flow`.
    fn state_of(flow: &FourierFlow) -> Vec<f64> {
        let mut s = flow.coefficients();
        s.extend(&flow.omega);
        s
    }

    fn slots(kmax: usize) -> FlowSlots {
        let m = (2 * kmax + 1).pow(2);
        FlowSlots { kmax, coef: 0, omega: 2 * m }
    }

    /// A synth sample (dt 1e-5, exact positions, one kept every `output_every` steps), the
    /// operator observing it and the number of positions per track.
    fn sample_every(seed: u64, output_every: usize, max_dt: f64) -> (Vec<f64>, DrifterObs, usize) {
        let releases = [[0.75, 0.75], [0.2, 0.4]];
        let (flow, synth_tracks) = synth_sample(seed, output_every, &releases);
        let points = SYNTH_STEPS / output_every;
        let spacing = SYNTH_DT * output_every as f64;
        let times: Vec<f64> = (1..=points).map(|j| -DURATION + j as f64 * spacing).collect();
        let tracks = releases
            .iter()
            .zip(&synth_tracks)
            .map(|(&release, track)| DrifterTrack { release, release_time: -DURATION, times: times.clone(), positions: track.clone() })
            .collect();
        let state = state_of(&flow);
        let op = DrifterObs::new(state.len(), slots(flow.kmax), tracks, max_dt).unwrap();
        (state, op, points)
    }

    /// The sample data's set-up: a position every 1e-3 model time units.
    fn sample(seed: u64, max_dt: f64) -> (Vec<f64>, DrifterObs, usize) {
        sample_every(seed, 100, max_dt)
    }

    fn apply(op: &DrifterObs, state: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; op.n_obs()];
        op.apply(state, &mut out);
        out
    }

    fn max_gap(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn reproduces_the_synth_tracks_and_wraps_locations() {
        // The synth integrated the same flows with dt = 1e-5 in one go; the operator, step by step
        // between observed times, must give the same positions to within the RK4 error.
        for seed in [1, 2, 3] {
            let (state, op, points) = sample(seed, DEFAULT_MAX_DT);
            assert_eq!(op.n_obs(), 2 * points * 2);
            let got = apply(&op, &state);
            let err = max_gap(&got, op.observed());
            assert!(err < 1e-6, "seed {seed}: operator differs from the synth track by {err}");
            // Restarting each gap from the observed position reproduces exact observations too.
            let restarted = op.clone().with_restarts(true);
            let err = max_gap(&apply(&restarted, &state), op.observed());
            assert!(err < 1e-6, "seed {seed}: restarted operator differs from the synth track by {err}");
            // The drifters moved: the comparison is not trivially between release points.
            let moved = op.observed().chunks(2).map(|p| (p[0] - 0.75).hypot(p[1] - 0.75)).fold(0.0, f64::max);
            assert!(moved > 0.02, "seed {seed}: drifter moved only {moved}");
            // Both coordinates of a position sit at that position, wrapped into the unit square.
            for (locs, p) in op.locations().chunks(2).zip(op.observed().chunks(2)) {
                assert_eq!(locs[0], locs[1]);
                assert!((0..2).all(|c| (0.0..1.0).contains(&locs[0][c]) && locs[0][c] == p[c].rem_euclid(1.0)), "{locs:?} for {p:?}");
            }
        }
    }

    #[test]
    fn rk4_step_converges() {
        for seed in [4, 5] {
            // Order: positions every 4e-3 time units (so that the steps are not capped by the
            // gaps), steps 4e-3 .. 1e-3, errors against the synth's dt = 1e-5 track. Halving the step
            // divides the error by 11.6 to 12.9 on these flows: fourth order, not yet quite in the
            // asymptotic regime (the maximum over a chaotic track).
            let errors: Vec<f64> = [4e-3, 2e-3, 1e-3]
                .iter()
                .map(|&dt| {
                    let (state, op, _) = sample_every(seed, 400, dt);
                    max_gap(&apply(&op, &state), op.observed())
                })
                .collect();
            println!("seed {seed}: max position error at dt 4e-3, 2e-3, 1e-3: {errors:?}");
            assert!(errors[0] > 1e-8, "seed {seed}: coarse error {} too small to measure the order", errors[0]);
            for w in errors.windows(2) {
                assert!(
                    (10.0..20.0).contains(&(w[0] / w[1])),
                    "seed {seed}: halving the step reduced the error {}x; expected ~16x (8x would be third order)",
                    w[0] / w[1]
                );
            }
            // The default step on the sample data's spacing: far below any observation error worth
            // configuring (0.01).
            let (state, op, _) = sample(seed, DEFAULT_MAX_DT);
            let err = max_gap(&apply(&op, &state), op.observed());
            println!("seed {seed}: max position error at the default step {DEFAULT_MAX_DT}: {err:e}");
            assert!(err < 2e-8, "seed {seed}: error {err} at the default step");
        }
    }

    #[test]
    fn a_perturbed_flow_gives_a_different_track() {
        let (mut state, op, _) = sample(6, DEFAULT_MAX_DT);
        let truth = apply(&op, &state);
        // 10% on one low mode: (kx, ky) = (1, 0) is mode (1 + kmax) * side + kmax.
        let (kmax, side) = (3, 7);
        let m = (1 + kmax) * side + kmax;
        state[2 * m] *= 1.1;
        state[2 * m + 1] *= 1.1;
        let perturbed = apply(&op, &state);
        let d = max_gap(&truth, &perturbed);
        assert!(d > 1e-3, "a 10% change of a main mode moved the drifters by only {d}");
        // Restarted, the change shows in every gap's displacement instead of accumulating.
        let restarted = op.clone().with_restarts(true);
        let (reference, _, _) = sample(6, DEFAULT_MAX_DT);
        let d_gap = max_gap(&apply(&restarted, &reference), &apply(&restarted, &state));
        assert!(d_gap > 1e-6 && d_gap < d, "restarted change {d_gap}, whole-track change {d}");
        // Frequencies matter too: the flow runs backwards from the analysis time.
        let (mut state, op, _) = sample(6, DEFAULT_MAX_DT);
        let omega = 2 * 49;
        for w in &mut state[omega..] {
            *w += 5.0;
        }
        assert!(max_gap(&truth, &apply(&op, &state)) > 1e-3);
    }

    #[test]
    fn observed_tracks_are_unwrapped_next_to_the_release_point() {
        let (state, op, _) = sample(7, DEFAULT_MAX_DT);
        // The same observations stored two periods away in x and one in y compare the same.
        let shifted: Vec<DrifterTrack> =
            op.tracks().iter().map(|t| DrifterTrack { positions: t.positions.iter().map(|p| [p[0] + 2.0, p[1] - 1.0]).collect(), ..t.clone() }).collect();
        let again = DrifterObs::new(state.len(), slots(3), shifted, DEFAULT_MAX_DT).unwrap();
        assert!(max_gap(again.observed(), op.observed()) < 1e-12);
        assert_eq!(again.locations().len(), op.locations().len());
        for (a, b) in again.locations().iter().zip(op.locations()) {
            assert!((a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9);
        }
    }

    #[test]
    fn bad_tracks_are_errors_naming_them() {
        let track = |times: Vec<f64>| DrifterTrack { release: [0.5, 0.5], release_time: -0.1, positions: vec![[0.5, 0.5]; times.len()], times };
        let s = slots(3);
        assert!(DrifterObs::new(147, s, vec![track(vec![-0.05, -0.06])], 1e-4).unwrap_err().contains("track 0"));
        assert!(DrifterObs::new(147, s, vec![track(vec![-0.05]), track(vec![-0.2])], 1e-4).unwrap_err().contains("track 1"));
        assert!(DrifterObs::new(146, s, vec![track(vec![-0.05])], 1e-4).unwrap_err().contains("146"));
        assert!(DrifterObs::new(147, s, vec![track(vec![-0.05])], 0.0).is_err());
    }
}
