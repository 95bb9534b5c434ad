//! Ensemble optimal interpolation (Oke et al. 2002; Evensen 2003): the background covariance is
//! `B = alpha * A_s^T A_s / (N_s - 1)` from a static ensemble (e.g. states drawn from an archive),
//! not from the forecast ensemble. Each forecast member is moved by the resulting gain:
//! `x_i <- x_i + A_s^T w_i`, `w_i = (S_s S_s^T + ((N_s - 1) / alpha) I)^{-1} S_s R^{-1/2} (y - H(x_i))`,
//! the ensemble-space form of `K = B H^T (H B H^T + R)^{-1}` (Woodbury). With one member this is
//! the classic single-state EnOI; with more, every member gets the same deterministic gain.

use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
use rand::rngs::StdRng;

use super::ensemble::split_into;
use super::ensemble_space::{EnsembleSpace, Innovations};
use super::{Analysis, check_shapes};
use crate::error::{Error, Result};
use crate::kalman::localization::Point;
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{ObsOperator, observe};

/// EnOI with a fixed static ensemble. The gain depends only on the static ensemble, the
/// operator and the error variances, so its factorisation is cached while they stay the same
/// (every cycle of a fixed network). The operator is recognised by its observation locations and
/// its values at the first and last static members: observing the whole static ensemble every
/// cycle to compare would cost more than the analysis.
#[derive(Debug, Clone)]
pub struct Enoi {
    alpha: f64,
    static_members: Array2<f64>,
    static_anomalies: Array2<f64>,
    hx_static: Array2<f64>,
    hx: Array2<f64>,
    innov: Innovations,
    space: EnsembleSpace,
    /// (locations, variances, H at two static members) the cached factorisation belongs to.
    cached_for: Option<(Vec<Point>, Vec<f64>, Vec<f64>)>,
    probe: Vec<f64>,
    /// Observation-space form: whitened gain `G = C_m^{-1} S_s^T A_s` (m x n).
    gain: Array2<f64>,
    innovations: Array2<f64>,
    weights: Array2<f64>,
    column: Vec<f64>,
    solved: Vec<f64>,
}

impl Enoi {
    /// EnOI with static ensemble `static_members` (members x state) and covariance scaling `alpha`.
    pub fn new(static_members: Array2<f64>, alpha: f64) -> Result<Enoi> {
        if static_members.nrows() < 2 {
            return Err(Error::Other(format!("EnOI static ensemble has {} member(s); at least 2 are needed", static_members.nrows())));
        }
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::Other(format!("EnOI scaling factor {alpha} must be finite and > 0")));
        }
        if static_members.iter().any(|v| !v.is_finite()) {
            return Err(Error::Other("EnOI static ensemble has missing or non-finite values".into()));
        }
        let mut static_anomalies = Array2::zeros((0, 0));
        split_into(static_members.view(), &mut Vec::new(), &mut static_anomalies);
        let empty = || Array2::zeros((0, 0));
        Ok(Enoi {
            alpha,
            static_members,
            static_anomalies,
            hx_static: empty(),
            hx: empty(),
            innov: Innovations::default(),
            space: EnsembleSpace::default(),
            cached_for: None,
            probe: Vec::new(),
            gain: empty(),
            innovations: empty(),
            weights: empty(),
            column: Vec::new(),
            solved: Vec::new(),
        })
    }

    /// Whether the observation-space form is the cheaper one (fewer observations than members).
    fn observation_space(&self) -> bool {
        self.innov.d.len() < self.static_members.nrows()
    }

    /// Factors the static part of the gain unless the cached factorisation still applies.
    fn prepare(&mut self, op: &dyn ObsOperator, obs: &Observations) -> Result<()> {
        let m = op.n_obs();
        self.probe.resize(2 * m, 0.0);
        let last = self.static_members.nrows() - 1;
        for (k, row) in [0, last].into_iter().enumerate() {
            let member = self.static_members.row(row);
            op.apply(member.as_slice().expect("standard layout"), &mut self.probe[k * m..(k + 1) * m]);
        }
        let current = self
            .cached_for
            .as_ref()
            .is_some_and(|(locations, variance, probe)| locations.as_slice() == op.locations() && *variance == obs.variance && *probe == self.probe);
        if current {
            return Ok(());
        }
        observe(op, self.static_members.view(), &mut self.hx_static);
        self.cached_for = None;
        self.innov.compute(self.hx_static.view(), obs)?;
        let gamma = (self.static_members.nrows() - 1) as f64 / self.alpha;
        if self.observation_space() {
            self.space.factor(self.innov.st.t(), gamma)?;
            // G = C_m^{-1} (S_s^T A_s), one column at a time.
            let (m, n) = (self.innov.st.nrows(), self.static_anomalies.ncols());
            let mut sa = Array2::zeros((m, n));
            general_mat_mul(1.0, &self.innov.st, &self.static_anomalies, 0.0, &mut sa);
            self.gain = Array2::zeros((m, n));
            self.column.resize(m, 0.0);
            self.solved.resize(m, 0.0);
            for j in 0..n {
                self.column.iter_mut().zip(sa.column(j)).for_each(|(c, &v)| *c = v);
                self.space.apply_pow(-1.0, &self.column, &mut self.solved);
                self.gain.column_mut(j).iter_mut().zip(&self.solved).for_each(|(g, &v)| *g = v);
            }
        } else {
            self.space.factor(self.innov.st.view(), gamma)?;
        }
        self.cached_for = Some((op.locations().to_vec(), obs.variance.clone(), self.probe.clone()));
        Ok(())
    }
}

impl Analysis for Enoi {
    fn analyse(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, _rng: &mut StdRng) -> Result<()> {
        check_shapes(ensemble, op, 1)?;
        if self.static_members.ncols() != ensemble.ncols() {
            return Err(Error::Other(format!(
                "EnOI static ensemble state size {} differs from the ensemble's {}",
                self.static_members.ncols(),
                ensemble.ncols()
            )));
        }
        obs.check(op.n_obs())?;
        self.prepare(op, obs)?;
        observe(op, ensemble.view(), &mut self.hx);
        let (n, m) = self.hx.dim();
        // Whitened member innovations R^{-1/2} (y - H(x_i)).
        if self.innovations.dim() != (n, m) {
            self.innovations = Array2::zeros((n, m));
        }
        for ((dn, &h), (&y, &w)) in self.innovations.iter_mut().zip(self.hx.iter()).zip(obs.values.iter().zip(&self.innov.inv_std).cycle()) {
            *dn = (y - h) * w;
        }
        if self.observation_space() {
            // dx_i = G^T dn_i, i.e. dE = D G.
            general_mat_mul(1.0, &self.innovations, &self.gain, 1.0, ensemble);
            return Ok(());
        }
        // dx_i = A_s^T C_N^{-1} S_s dn_i.
        let ns = self.static_members.nrows();
        if self.weights.dim() != (n, ns) {
            self.weights = Array2::zeros((n, ns));
        }
        general_mat_mul(1.0, &self.innovations, &self.innov.st, 0.0, &mut self.weights);
        self.column.resize(ns, 0.0);
        self.solved.resize(ns, 0.0);
        for mut w in self.weights.rows_mut() {
            self.column.iter_mut().zip(w.iter()).for_each(|(c, &v)| *c = v);
            self.space.apply_pow(-1.0, &self.column, &mut self.solved);
            w.iter_mut().zip(&self.solved).for_each(|(w, &s)| *w = s);
        }
        general_mat_mul(1.0, &self.weights, &self.static_anomalies, 1.0, ensemble);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kalman::methods::test_support::{kalman_update, linear_case, random_ensemble, sample_covariance};
    use rand::SeedableRng;

    #[test]
    fn matches_optimal_interpolation_with_the_scaled_static_covariance() {
        // 7 static members and 3 observations (observation space), then 3 members and 5
        // observations (ensemble space); each analysis twice, the second from the cache.
        for (n_static, n_obs) in [(7, 3), (3, 5)] {
            check_case(n_static, n_obs);
        }
    }

    fn check_case(n_static: usize, n_obs: usize) {
        let case = linear_case(5, n_obs, 31);
        let statics = random_ensemble(n_static, 5, &mut StdRng::seed_from_u64(1)) * 1.5;
        let alpha = 0.6;
        let b = sample_covariance(&statics) * alpha;
        let forecast = random_ensemble(3, 5, &mut StdRng::seed_from_u64(2));
        let mut enoi = Enoi::new(statics, alpha).unwrap();
        for _ in 0..2 {
            let mut e = forecast.clone();
            enoi.analyse(&mut e, &case.op, &case.obs, &mut StdRng::seed_from_u64(0)).unwrap();
            for i in 0..3 {
                let (xa, _) = kalman_update(&forecast.row(i).to_vec(), &b, &case);
                assert!(e.row(i).iter().zip(&xa).all(|(a, b)| (a - b).abs() < 1e-10), "{n_static} static, {n_obs} obs, member {i}");
            }
        }
    }
}
