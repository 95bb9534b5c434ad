//! The ensemble transform Kalman filter with the symmetric square root (Hunt et al. 2007,
//! Sakov & Oke 2008): with `C = S S^T + (N-1) I` in ensemble space,
//! `w = C^{-1} S d` moves the mean and `T = sqrt(N-1) C^{-1/2}` transforms the anomalies:
//! `E_a = 1 xb^T + (1 w^T + T) A`.
//!
//! `T` is symmetric and has the ones vector as eigenvector (because `S^T 1 = 0`), so the analysis
//! anomalies keep zero mean: the transform is mean-preserving, and the analysis is deterministic.
//!
//! With a hybrid covariance ([`Etkf::hybrid`], [`super::hybrid`]) the mean is the Kalman update
//! with `B_h = (1 - beta) P_e + beta B_s` and the anomalies keep the transform `T` above.

use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
use rand::rngs::StdRng;

use super::ensemble::split_into;
use super::ensemble_space::{EnsembleSpace, Innovations};
use super::hybrid::{Hybrid, MeanSolve};
use super::{Analysis, check_shapes};
use crate::error::Result;
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{ObsOperator, observe};

/// The global ETKF, with buffers reused between analyses.
#[derive(Debug, Clone)]
pub struct Etkf {
    hx: Array2<f64>,
    innov: Innovations,
    space: EnsembleSpace,
    mean: Vec<f64>,
    anomalies: Array2<f64>,
    transform: Array2<f64>,
    gain: Array2<f64>,
    sd: Vec<f64>,
    w: Vec<f64>,
    hybrid: Option<(Hybrid, MeanSolve)>,
    increment: Vec<f64>,
}

impl Default for Etkf {
    fn default() -> Self {
        Etkf {
            hx: Array2::zeros((0, 0)),
            innov: Innovations::default(),
            space: EnsembleSpace::default(),
            mean: Vec::new(),
            anomalies: Array2::zeros((0, 0)),
            transform: Array2::zeros((0, 0)),
            gain: Array2::zeros((0, 0)),
            sd: Vec::new(),
            w: Vec::new(),
            hybrid: None,
            increment: Vec::new(),
        }
    }
}

impl Etkf {
    /// An ETKF whose mean update uses the hybrid covariance of `hybrid` (see [`super::hybrid`]).
    pub fn hybrid(hybrid: Hybrid) -> Etkf {
        Etkf { hybrid: Some((hybrid, MeanSolve::default())), ..Etkf::default() }
    }

    /// The symmetric square-root transform `T` (N x N) of the last analysis.
    pub fn transform(&self) -> &Array2<f64> {
        &self.transform
    }

    /// The mean-update weights `w` (N) of the last analysis: `xa = xb + A^T w` (plus, with a
    /// hybrid covariance, the static part of the increment).
    pub fn mean_weights(&self) -> &[f64] {
        &self.w
    }
}

impl Analysis for Etkf {
    fn analyse(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, _rng: &mut StdRng) -> Result<()> {
        check_shapes(ensemble, op, 2)?;
        let n = ensemble.nrows();
        let n1 = (n - 1) as f64;
        observe(op, ensemble.view(), &mut self.hx);
        self.innov.compute(self.hx.view(), obs)?;
        self.space.factor(self.innov.st.view(), n1)?;

        self.w.resize(n, 0.0);
        if let Some((hybrid, solve)) = &mut self.hybrid {
            hybrid.prepare(op, obs, self.innov.st.view())?;
            let w = solve.solve(hybrid, (0..self.innov.d.len()).map(|l| (l, 1.0)), &self.innov.d)?;
            hybrid.ensemble_weights(w, &mut self.w);
            let ws = &w[n..];
            self.increment.clear();
            self.increment.extend((0..ensemble.ncols()).map(|j| hybrid.static_increment(ws, j)));
        } else {
            // S d = (S^T)^T d.
            self.sd.clear();
            self.sd.resize(n, 0.0);
            for (row, &d) in self.innov.st.rows().into_iter().zip(&self.innov.d) {
                for (acc, &s) in self.sd.iter_mut().zip(row.iter()) {
                    *acc += s * d;
                }
            }
            self.space.apply_pow(-1.0, &self.sd, &mut self.w);
        }
        self.space.matrix_pow(-0.5, n1.sqrt(), &mut self.transform);
        // G = 1 w^T + T, so that one product gives both the mean update and the new anomalies.
        if self.gain.dim() != (n, n) {
            self.gain = Array2::zeros((n, n));
        }
        for (mut g, t) in self.gain.rows_mut().into_iter().zip(self.transform.rows()) {
            for ((g, &t), &w) in g.iter_mut().zip(t.iter()).zip(&self.w) {
                *g = t + w;
            }
        }

        split_into(ensemble.view(), &mut self.mean, &mut self.anomalies);
        general_mat_mul(1.0, &self.gain, &self.anomalies, 0.0, ensemble);
        if self.hybrid.is_some() {
            // The static part of the mean increment, c_s A_s^T w_s.
            self.mean.iter_mut().zip(&self.increment).for_each(|(m, d)| *m += d);
        }
        for mut member in ensemble.rows_mut() {
            for (x, &m) in member.iter_mut().zip(&self.mean) {
                *x += m;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kalman::methods::ensemble::mean_into;
    use crate::kalman::methods::test_support::{ensemble_with_covariance, kalman_update, linear_case, random_ensemble, sample_covariance};
    use rand::SeedableRng;

    #[test]
    fn matches_the_kalman_filter_on_the_sample_covariance() {
        // For any ensemble, the ETKF mean and covariance are the exact Kalman update of the
        // ensemble's own mean and sample covariance, whether or not the ensemble spans the state.
        for n_members in [3, 5, 12] {
            let case = linear_case(6, 4, 17);
            let mut rng = StdRng::seed_from_u64(n_members as u64);
            let mut e = random_ensemble(n_members, 6, &mut rng);
            let (xb, pb) = (mean_of(&e), sample_covariance(&e));
            let (xa, pa) = kalman_update(&xb, &pb, &case);
            Etkf::default().analyse(&mut e, &case.op, &case.obs, &mut rng).unwrap();
            let (got_mean, got_cov) = (mean_of(&e), sample_covariance(&e));
            assert!(xa.iter().zip(&got_mean).all(|(a, b)| (a - b).abs() < 1e-10), "N = {n_members}: mean {got_mean:?} vs {xa:?}");
            assert!((&got_cov - &pa).iter().all(|v| v.abs() < 1e-10), "N = {n_members}: covariance differs");
        }
    }

    #[test]
    fn exact_for_a_prior_the_ensemble_spans() {
        // An ensemble built with mean m and sample covariance exactly P gives the exact posterior.
        let case = linear_case(4, 3, 5);
        let prior_mean = vec![1.0, -2.0, 0.5, 3.0];
        let mut e = ensemble_with_covariance(&prior_mean, &case.prior_cov, 9, 11);
        let prior = e.clone();
        let (xa, pa) = kalman_update(&prior_mean, &case.prior_cov, &case);
        let mut rng = StdRng::seed_from_u64(0);
        let mut etkf = Etkf::default();
        etkf.analyse(&mut e, &case.op, &case.obs, &mut rng).unwrap();
        assert!(xa.iter().zip(&mean_of(&e)).all(|(a, b)| (a - b).abs() < 1e-10));
        assert!((sample_covariance(&e) - pa).iter().all(|v| v.abs() < 1e-10));
        // Mean preservation: T is symmetric with T 1 = 1, so the transformed anomalies T A keep
        // zero mean and the analysis mean is exactly xb + A^T w.
        let t = etkf.transform();
        assert!((t - &t.t()).iter().all(|v| v.abs() < 1e-12));
        assert!(t.sum_axis(ndarray::Axis(1)).iter().all(|s| (s - 1.0).abs() < 1e-12));
        let mut anomalies = prior.clone();
        for mut row in anomalies.rows_mut() {
            row.iter_mut().zip(&prior_mean).for_each(|(a, m)| *a -= m);
        }
        let ta = t.dot(&anomalies);
        assert!(ta.sum_axis(ndarray::Axis(0)).iter().all(|s| s.abs() < 1e-12));
        let moved = ndarray::arr1(etkf.mean_weights()).dot(&anomalies);
        assert!(mean_of(&e).iter().zip(&prior_mean).zip(&moved).all(|((a, b), m)| (a - b - m).abs() < 1e-12));
    }

    /// The hybrid ETKF's mean is the dense Kalman update with `B_h = (1-beta) P_e + beta B_s`
    /// (`B_s` = alpha times the static sample covariance), and
    /// its anomalies are those of the pure ETKF. Run with fewer observations than augmented
    /// members (observation-space solve) and with more (ensemble-space solve). Catches: a missing
    /// square root on either weight of `Z`, `alpha` left out, `N` or `Ns` for `N-1` or `Ns-1`, static anomalies
    /// not centred (the static members have mean 3 here), a static part observed about the
    /// forecast's mean, either solve's orientation wrong, and anomalies transformed with `B_h`.
    #[test]
    fn hybrid_mean_is_the_kalman_update_with_the_hybrid_covariance() {
        for (n_members, n_static, n_obs) in [(4, 6, 5), (3, 3, 20)] {
            let case = linear_case(6, n_obs, 23);
            let mut rng = StdRng::seed_from_u64(n_obs as u64);
            let prior = random_ensemble(n_members, 6, &mut rng);
            let statics = random_ensemble(n_static, 6, &mut rng) * 2.0 + 3.0;
            let (beta, alpha) = (0.3, 0.7);
            let b_h = sample_covariance(&prior) * (1.0 - beta) + sample_covariance(&statics) * (beta * alpha);
            let (xa, _) = kalman_update(&mean_of(&prior), &b_h, &case);
            let mut hybrid = prior.clone();
            Etkf::hybrid(Hybrid::new(statics, beta, alpha).unwrap()).analyse(&mut hybrid, &case.op, &case.obs, &mut rng).unwrap();
            let got = mean_of(&hybrid);
            assert!(xa.iter().zip(&got).all(|(a, b)| (a - b).abs() < 1e-10), "N {n_members}, Ns {n_static}, m {n_obs}: mean {got:?} vs {xa:?}");
            let mut pure = prior.clone();
            Etkf::default().analyse(&mut pure, &case.op, &case.obs, &mut rng).unwrap();
            let anomalies = |e: &Array2<f64>| e - &ndarray::Array1::from(mean_of(e));
            assert!((anomalies(&hybrid) - anomalies(&pure)).iter().all(|v| v.abs() < 1e-10), "anomalies differ from the ensemble's own transform");
        }
    }

    fn mean_of(e: &Array2<f64>) -> Vec<f64> {
        let mut m = vec![0.0; e.ncols()];
        mean_into(e.view(), &mut m);
        m
    }
}
