//! Test helpers: a dense linear observation operator, random linear-Gaussian problems and the
//! exact Kalman update they are checked against.

use ndarray::{Array1, Array2};
use ndarray_linalg::{Cholesky, Inverse, UPLO};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use crate::kalman::localization::Point;
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::ObsOperator;

/// A dense matrix `H` as an observation operator.
pub struct DenseObs {
    pub h: Array2<f64>,
    locations: Vec<Point>,
}

impl DenseObs {
    pub fn new(h: Array2<f64>) -> DenseObs {
        let locations = (0..h.nrows()).map(|k| [k as f64, 0.0]).collect();
        DenseObs { h, locations }
    }
}

impl ObsOperator for DenseObs {
    fn n_state(&self) -> usize {
        self.h.ncols()
    }
    fn n_obs(&self) -> usize {
        self.h.nrows()
    }
    fn apply(&self, state: &[f64], out: &mut [f64]) {
        for (o, row) in out.iter_mut().zip(self.h.rows()) {
            *o = row.iter().zip(state).map(|(a, b)| a * b).sum();
        }
    }
    fn locations(&self) -> &[Point] {
        &self.locations
    }
}

/// A linear-Gaussian problem: operator, observations and a prior covariance.
pub struct LinearCase {
    pub op: DenseObs,
    pub obs: Observations,
    pub prior_cov: Array2<f64>,
}

/// A random linear problem with `n` state elements and `m` observations.
pub fn linear_case(n: usize, m: usize, seed: u64) -> LinearCase {
    let mut rng = StdRng::seed_from_u64(seed);
    let h = Array2::from_shape_fn((m, n), |_| rng.sample::<f64, _>(StandardNormal));
    let l = Array2::from_shape_fn((n, n), |_| rng.sample::<f64, _>(StandardNormal));
    let prior_cov = l.dot(&l.t()) / n as f64 + Array2::<f64>::eye(n) * 0.5;
    let values = (0..m).map(|_| 2.0 * rng.sample::<f64, _>(StandardNormal)).collect();
    let variance = (0..m).map(|k| 0.3 + 0.2 * k as f64).collect();
    LinearCase { op: DenseObs::new(h), obs: Observations { values, variance }, prior_cov }
}

/// The exact Kalman update of mean `xb` and covariance `pb`.
pub fn kalman_update(xb: &[f64], pb: &Array2<f64>, case: &LinearCase) -> (Vec<f64>, Array2<f64>) {
    let h = &case.op.h;
    let r = Array2::from_diag(&Array1::from(case.obs.variance.clone()));
    let innovation_cov = h.dot(pb).dot(&h.t()) + r;
    let gain = pb.dot(&h.t()).dot(&innovation_cov.inv().unwrap());
    let xb = Array1::from(xb.to_vec());
    let d = Array1::from(case.obs.values.clone()) - h.dot(&xb);
    let xa = &xb + &gain.dot(&d);
    let pa = (Array2::<f64>::eye(xb.len()) - gain.dot(h)).dot(pb);
    (xa.to_vec(), pa)
}

/// A standard-normal ensemble (members x state).
pub fn random_ensemble(members: usize, n: usize, rng: &mut StdRng) -> Array2<f64> {
    Array2::from_shape_fn((members, n), |_| rng.sample::<f64, _>(StandardNormal))
}

/// Unbiased sample covariance of an ensemble (members x state).
pub fn sample_covariance(e: &Array2<f64>) -> Array2<f64> {
    let mean = e.mean_axis(ndarray::Axis(0)).unwrap();
    let a = e - &mean;
    a.t().dot(&a) / (e.nrows() - 1) as f64
}

/// An ensemble whose sample mean is exactly `mean` and sample covariance exactly `cov`
/// (needs `members > n`).
pub fn ensemble_with_covariance(mean: &[f64], cov: &Array2<f64>, members: usize, seed: u64) -> Array2<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let e = random_ensemble(members, mean.len(), &mut rng);
    let a = &e - &e.mean_axis(ndarray::Axis(0)).unwrap();
    let ls = sample_covariance(&e).cholesky(UPLO::Lower).unwrap();
    let lp = cov.cholesky(UPLO::Lower).unwrap();
    // (A M)^T (A M) / (N-1) = M^T S M = P for M = L_S^{-T} L_P^T.
    let m = ls.t().inv().unwrap().dot(&lp.t());
    a.dot(&m) + &Array1::from(mean.to_vec())
}
