//! Ensemble optimal interpolation (Oke et al. 2002; Evensen 2003): the background covariance is
//! `B = alpha * A_s^T A_s / (N_s - 1)` from a static ensemble (e.g. states drawn from an archive),
//! not from the forecast ensemble. Each forecast member is moved by the resulting gain:
//! `x_i <- x_i + A_s^T w_i`, `w_i = (S_s S_s^T + ((N_s - 1) / alpha) I)^{-1} S_s R^{-1/2} (y - H(x_i))`,
//! the ensemble-space form of `K = B H^T (H B H^T + R)^{-1}` (Woodbury). With one member this is
//! the classic single-state EnOI; with more, every member gets the same deterministic gain.

use ndarray::linalg::general_mat_mul;
use ndarray::Array2;
use rand::rngs::StdRng;

use super::ensemble::split_into;
use super::ensemble_space::{EnsembleSpace, Innovations};
use super::obs_operator::{observe, ObsOperator};
use super::{check_shapes, Analysis, Observations};
use crate::error::{Error, Result};

/// EnOI with a fixed static ensemble.
#[derive(Debug, Clone)]
pub struct Enoi {
    alpha: f64,
    static_members: Array2<f64>,
    static_anomalies: Array2<f64>,
    hx_static: Array2<f64>,
    hx: Array2<f64>,
    innov: Innovations,
    space: EnsembleSpace,
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
            weights: empty(),
            column: Vec::new(),
            solved: Vec::new(),
        })
    }
}

impl Analysis for Enoi {
    fn analyse(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, _rng: &mut StdRng) -> Result<()> {
        check_shapes(ensemble, op, 1)?;
        if self.static_members.ncols() != ensemble.ncols() {
            return Err(Error::Other(format!("EnOI static ensemble state size {} differs from the ensemble's {}", self.static_members.ncols(), ensemble.ncols())));
        }
        let ns = self.static_members.nrows();
        // S_s and the static observed mean come from the static ensemble; the innovations from
        // each member, whitened with the same R^{-1/2}.
        observe(op, self.static_members.view(), &mut self.hx_static);
        self.innov.compute(self.hx_static.view(), obs)?;
        self.space.factor(self.innov.st.view(), (ns - 1) as f64 / self.alpha)?;
        observe(op, ensemble.view(), &mut self.hx);
        let n = ensemble.nrows();
        if self.weights.dim() != (n, ns) {
            self.weights = Array2::zeros((n, ns));
        }
        self.column.resize(ns, 0.0);
        self.solved.resize(ns, 0.0);
        for (i, mut w) in self.weights.rows_mut().into_iter().enumerate() {
            // S_s R^{-1/2} (y - H(x_i)).
            self.column.fill(0.0);
            for (l, row) in self.innov.st.rows().into_iter().enumerate() {
                let dl = (obs.values[l] - self.hx[(i, l)]) * self.innov.inv_std[l];
                self.column.iter_mut().zip(row.iter()).for_each(|(c, &s)| *c += s * dl);
            }
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
    use crate::kalman::test_support::{kalman_update, linear_case, random_ensemble, sample_covariance};
    use rand::SeedableRng;

    #[test]
    fn matches_optimal_interpolation_with_the_scaled_static_covariance() {
        let case = linear_case(5, 3, 31);
        let statics = random_ensemble(7, 5, &mut StdRng::seed_from_u64(1)) * 1.5;
        let alpha = 0.6;
        let b = sample_covariance(&statics) * alpha;
        let forecast = random_ensemble(3, 5, &mut StdRng::seed_from_u64(2));
        let mut e = forecast.clone();
        Enoi::new(statics, alpha).unwrap().analyse(&mut e, &case.op, &case.obs, &mut StdRng::seed_from_u64(0)).unwrap();
        for i in 0..3 {
            let (xa, _) = kalman_update(&forecast.row(i).to_vec(), &b, &case);
            assert!(e.row(i).iter().zip(&xa).all(|(a, b)| (a - b).abs() < 1e-10), "member {i}");
        }
    }
}
