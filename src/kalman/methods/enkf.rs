//! The stochastic EnKF with perturbed observations (Burgers et al. 1998), as DAPPER's
//! `EnKF('PertObs')`: member `i` is moved by the Kalman gain built from the ensemble, applied to
//! its own innovation `y + eps_i - H(x_i)`, where the perturbations `eps_i ~ N(0, R)` are centred
//! over the members so that the mean update is the Kalman one.
//!
//! With whitened quantities (`S`, `d`, module [`super::ensemble_space`]) and whitened member
//! innovations `D` (N x m), the increments are `dE = D S^T C_N^{-1} A` with the ensemble-space
//! `C_N = S S^T + (N-1) I` (N x N), or equivalently, by the push-through identity,
//! `dE = D C_m^{-1} (S^T A)` with the observation-space `C_m = S^T S + (N-1) I` (m x m). The
//! smaller of the two is factored, so large ensembles with few observations stay cheap.

use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::StandardNormal;

use super::ensemble::split_into;
use super::ensemble_space::{EnsembleSpace, Innovations};
use super::{Analysis, check_shapes};
use crate::error::Result;
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{ObsOperator, observe};

/// Which matrix the EnKF factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Whichever is smaller (observation space when there are fewer observations than members).
    Auto,
    /// The N x N ensemble-space matrix.
    Ensemble,
    /// The m x m observation-space matrix.
    Observation,
}

/// The stochastic EnKF, with buffers reused between analyses.
#[derive(Debug, Clone)]
pub struct Enkf {
    /// Which matrix to factor (both give the same analysis up to rounding).
    pub space: Space,
    hx: Array2<f64>,
    innov: Innovations,
    factor: EnsembleSpace,
    mean: Vec<f64>,
    anomalies: Array2<f64>,
    /// Whitened member innovations D (N x m).
    innovations: Array2<f64>,
    mix: Array2<f64>,
    perturbation_mean: Vec<f64>,
    column: Vec<f64>,
    solved: Vec<f64>,
}

impl Default for Enkf {
    fn default() -> Self {
        Self::with_space(Space::Auto)
    }
}

impl Enkf {
    /// An EnKF that factors the given space.
    pub fn with_space(space: Space) -> Enkf {
        let empty = || Array2::zeros((0, 0));
        Enkf {
            space,
            hx: empty(),
            innov: Innovations::default(),
            factor: EnsembleSpace::default(),
            mean: Vec::new(),
            anomalies: empty(),
            innovations: empty(),
            mix: empty(),
            perturbation_mean: Vec::new(),
            column: Vec::new(),
            solved: Vec::new(),
        }
    }

    /// Fills `innovations` with whitened, centred-perturbation member innovations:
    /// `D_il = d_l - S_il - z_il + mean_i z_il`, `z ~ N(0, 1)`.
    fn draw_innovations(&mut self, rng: &mut StdRng) {
        let (m, n) = self.innov.st.dim();
        if self.innovations.dim() != (n, m) {
            self.innovations = Array2::zeros((n, m));
        }
        self.innovations.iter_mut().for_each(|z| *z = rng.sample(StandardNormal));
        self.perturbation_mean.clear();
        self.perturbation_mean.resize(m, 0.0);
        for row in self.innovations.rows() {
            self.perturbation_mean.iter_mut().zip(row.iter()).for_each(|(s, z)| *s += z);
        }
        self.perturbation_mean.iter_mut().for_each(|s| *s /= n as f64);
        let st = &self.innov.st;
        for (i, mut row) in self.innovations.rows_mut().into_iter().enumerate() {
            for (l, z) in row.iter_mut().enumerate() {
                *z = self.innov.d[l] - st[(l, i)] - (*z - self.perturbation_mean[l]);
            }
        }
    }

    /// Multiplies every row of `b` (k x p) by `C^{-1}` (p x p, factored) in place.
    fn solve_rows(factor: &mut EnsembleSpace, b: &mut Array2<f64>, column: &mut Vec<f64>, solved: &mut Vec<f64>) {
        let p = b.ncols();
        column.resize(p, 0.0);
        solved.resize(p, 0.0);
        for mut row in b.rows_mut() {
            column.iter_mut().zip(row.iter()).for_each(|(c, &v)| *c = v);
            factor.apply_pow(-1.0, column, solved);
            row.iter_mut().zip(solved.iter()).for_each(|(v, &s)| *v = s);
        }
    }
}

impl Analysis for Enkf {
    fn analyse(&mut self, ensemble: &mut Array2<f64>, op: &dyn ObsOperator, obs: &Observations, rng: &mut StdRng) -> Result<()> {
        check_shapes(ensemble, op, 2)?;
        let n = ensemble.nrows();
        let n1 = (n - 1) as f64;
        observe(op, ensemble.view(), &mut self.hx);
        self.innov.compute(self.hx.view(), obs)?;
        self.draw_innovations(rng);
        split_into(ensemble.view(), &mut self.mean, &mut self.anomalies);
        let m = self.innov.d.len();
        let observation_space = match self.space {
            Space::Auto => m < n,
            Space::Ensemble => false,
            Space::Observation => true,
        };
        if observation_space {
            // dE = (D C_m^{-1}) (S^T A).
            self.factor.factor(self.innov.st.t(), n1)?;
            Self::solve_rows(&mut self.factor, &mut self.innovations, &mut self.column, &mut self.solved);
            if self.mix.dim() != (m, ensemble.ncols()) {
                self.mix = Array2::zeros((m, ensemble.ncols()));
            }
            general_mat_mul(1.0, &self.innov.st, &self.anomalies, 0.0, &mut self.mix);
            general_mat_mul(1.0, &self.innovations, &self.mix, 1.0, ensemble);
        } else {
            // dE = (D S^T C_N^{-1}) A.
            self.factor.factor(self.innov.st.view(), n1)?;
            if self.mix.dim() != (n, n) {
                self.mix = Array2::zeros((n, n));
            }
            general_mat_mul(1.0, &self.innovations, &self.innov.st, 0.0, &mut self.mix);
            Self::solve_rows(&mut self.factor, &mut self.mix, &mut self.column, &mut self.solved);
            general_mat_mul(1.0, &self.mix, &self.anomalies, 1.0, ensemble);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kalman::methods::test_support::{ensemble_with_covariance, kalman_update, linear_case, random_ensemble, sample_covariance};
    use ndarray_linalg::Inverse;
    use rand::SeedableRng;

    #[test]
    fn both_spaces_give_the_same_analysis() {
        for (n_members, n_obs) in [(6, 4), (4, 7)] {
            let case = linear_case(5, n_obs, 3);
            let prior = random_ensemble(n_members, 5, &mut StdRng::seed_from_u64(1));
            let run = |space| {
                let mut e = prior.clone();
                Enkf::with_space(space).analyse(&mut e, &case.op, &case.obs, &mut StdRng::seed_from_u64(9)).unwrap();
                e
            };
            let diff = run(Space::Ensemble) - run(Space::Observation);
            assert!(diff.iter().all(|v| v.abs() < 1e-10), "N = {n_members}, m = {n_obs}");
        }
    }

    #[test]
    fn mean_update_is_the_kalman_one_for_any_perturbations() {
        // Centred perturbations make the analysis mean exactly the Kalman mean of the ensemble's
        // mean and sample covariance, whatever the draw.
        let case = linear_case(5, 3, 21);
        let mut e = random_ensemble(8, 5, &mut StdRng::seed_from_u64(2));
        let mean = e.mean_axis(ndarray::Axis(0)).unwrap().to_vec();
        let (xa, _) = kalman_update(&mean, &sample_covariance(&e), &case);
        Enkf::default().analyse(&mut e, &case.op, &case.obs, &mut StdRng::seed_from_u64(4)).unwrap();
        let got = e.mean_axis(ndarray::Axis(0)).unwrap();
        assert!(got.iter().zip(&xa).all(|(a, b)| (a - b).abs() < 1e-10), "{got} vs {xa:?}");
    }

    #[test]
    fn large_ensemble_covariance_approaches_the_kalman_one() {
        // Stochastic: the analysis covariance is right only in expectation. With N = 4000 members
        // whose prior is exactly N(m, P), the sampling error of each covariance entry is about
        // sqrt(2/N) ~ 2% of the variances.
        let case = linear_case(3, 2, 8);
        let prior_mean = vec![0.5, -1.0, 2.0];
        let mut e = ensemble_with_covariance(&prior_mean, &case.prior_cov, 4000, 13);
        let (xa, pa) = kalman_update(&prior_mean, &case.prior_cov, &case);
        Enkf::default().analyse(&mut e, &case.op, &case.obs, &mut StdRng::seed_from_u64(5)).unwrap();
        let got = e.mean_axis(ndarray::Axis(0)).unwrap();
        assert!(got.iter().zip(&xa).all(|(a, b)| (a - b).abs() < 1e-10));
        let cov = sample_covariance(&e);
        let scale = pa.diag().iter().cloned().fold(0.0, f64::max);
        let worst = (&cov - &pa).iter().map(|v| v.abs()).fold(0.0, f64::max) / scale;
        assert!(worst < 0.08, "relative covariance error {worst}");
        // Without perturbed observations the covariance would be (I-KH) P (I-KH)^T, too small:
        // the test above would fail for such a broken EnKF, as the next check shows.
        let h = &case.op.h;
        let r = ndarray::Array2::from_diag(&ndarray::Array1::from(case.obs.variance.clone()));
        let innovation_cov = h.dot(&case.prior_cov).dot(&h.t()) + &r;
        let k = case.prior_cov.dot(&h.t()).dot(&innovation_cov.inv().unwrap());
        let ikh = ndarray::Array2::<f64>::eye(3) - k.dot(h);
        let unperturbed = ikh.dot(&case.prior_cov).dot(&ikh.t());
        let gap = (&unperturbed - &pa).iter().map(|v| v.abs()).fold(0.0, f64::max) / scale;
        assert!(gap > 0.15, "test would not detect missing perturbations (gap {gap})");
    }
}
