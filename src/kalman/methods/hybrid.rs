//! Hybrid ensemble-static background covariance (Hamill & Snyder 2000) for the ETKF and the
//! LETKF: `B_h = (1 - beta) P_e + beta B_s`, with `P_e` the forecast ensemble's sample covariance
//! and `B_s` that of a static (climatological) ensemble.
//!
//! `B_h` is never formed. The forecast anomalies `A_e` (N x n) and the static ones `A_s`
//! (Ns x n) are stacked into one augmented ensemble of scaled anomalies
//! `Z = [sqrt((1-beta)/(N-1)) A_e ; sqrt(beta alpha/(Ns-1)) A_s]`, so that `Z^T Z = B_h`, and the
//! Kalman update of the mean with `B_h` is the ensemble-space one with `Z`:
//! `xa = xb + Z^T w`, `w = (S_z S_z^T + I)^{-1} S_z d`, where `S_z = Z H^T R^{-1/2}` (observed the
//! same way as the members: each part's observed anomalies about its own mean) and
//! `d = R^{-1/2} (y - mean H(x_e))`. [`MeanSolve`] solves with whichever of the two equivalent
//! matrices is smaller: `S_z S_z^T + I` (augmented members) or `S_z^T S_z + I` (observations,
//! then `w = S_z (S_z^T S_z + I)^{-1} d`), so that a local analysis with few observations does
//! not pay for the size of the static ensemble.
//!
//! **Only the mean sees `B_h`.** The N forecast members keep the ensemble's own symmetric
//! square-root transform (computed from `P_e` as in the pure ETKF/LETKF), and inflation and
//! relaxation follow as for every scheme. This is the choice of the climatologically augmented
//! LETKF of Kretschmer, Hunt & Ott (2015): a square-root transform that honoured `B_h` would need
//! N + Ns members to carry it, while the static part's job, spreading the increment where the
//! small ensemble has no (or spurious) covariance, is done by the mean. The analysis spread is
//! therefore that of the pure filter, which RTPS or inflation tune as before.
//!
//! In the LETKF the static rows are localised with the same taper as the ensemble's (the same
//! `sqrt(rho)` on each observation's row of `S_z`), so the static covariance is localised too.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, s};
use ndarray_linalg::{FactorizeCInto, SolveC, UPLO};

use super::ensemble::split_into;
use super::ensemble_space::Innovations;
use crate::error::{Error, Result};
use crate::kalman::obs::Observations;
use crate::kalman::obs::obs_operator::{ObsOperator, observe};

/// The static half of a hybrid covariance and, per analysis, the augmented whitened observed
/// anomalies `S_z^T` shared by every local analysis.
#[derive(Debug, Clone)]
pub struct Hybrid {
    beta: f64,
    alpha: f64,
    statics: Array2<f64>,
    /// Static anomalies, one row per state element (`A_s^T`, n x Ns), for per-element access.
    static_anomalies: Array2<f64>,
    hx: Array2<f64>,
    innov: Innovations,
    /// `S_z^T` (m x (N + Ns)): row `l` is observation `l`'s whitened anomalies of the scaled
    /// forecast members, then of the scaled static members.
    rows: Array2<f64>,
    /// `S_z^T S_z` (m x m), whose local blocks are the observation-space matrices.
    gram: Array2<f64>,
    /// `sqrt((1-beta)/(N-1))` and `sqrt(beta alpha/(Ns-1))` of the last [`Hybrid::prepare`].
    scales: (f64, f64),
    members: usize,
}

impl Hybrid {
    /// The static ensemble `statics` (members x state), whose sample covariance times `alpha` is
    /// `B_s`, with hybrid weight `beta` in (0, 1).
    pub fn new(statics: Array2<f64>, beta: f64, alpha: f64) -> Result<Hybrid> {
        if !(beta > 0.0 && beta < 1.0) {
            return Err(Error::Other(format!("hybrid weight {beta} must be in (0, 1)")));
        }
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::Other(format!("static covariance scaling {alpha} must be finite and > 0")));
        }
        if statics.nrows() < 2 {
            return Err(Error::Other(format!("the hybrid's static ensemble has {} member(s); at least 2 are needed", statics.nrows())));
        }
        if statics.iter().any(|v| !v.is_finite()) {
            return Err(Error::Other("the hybrid's static ensemble has missing or non-finite values".into()));
        }
        let mut anomalies = Array2::zeros((0, 0));
        split_into(statics.view(), &mut Vec::new(), &mut anomalies);
        let static_anomalies = anomalies.t().as_standard_layout().into_owned();
        let empty = || Array2::zeros((0, 0));
        Ok(Hybrid {
            beta,
            alpha,
            statics,
            static_anomalies,
            hx: empty(),
            innov: Innovations::default(),
            rows: empty(),
            gram: empty(),
            scales: (0.0, 0.0),
            members: 0,
        })
    }

    /// The weight `beta` of the static covariance.
    pub fn weight(&self) -> f64 {
        self.beta
    }

    /// Observes the static ensemble with `op` and stacks its scaled whitened anomalies after those
    /// of the forecast, `ensemble_st` (`S^T`, m x N, from [`Innovations::compute`]).
    pub fn prepare(&mut self, op: &dyn ObsOperator, obs: &Observations, ensemble_st: ArrayView2<f64>) -> Result<()> {
        if self.statics.ncols() != op.n_state() {
            return Err(Error::Other(format!(
                "the hybrid's static ensemble has state size {}, the observation operator {}",
                self.statics.ncols(),
                op.n_state()
            )));
        }
        observe(op, self.statics.view(), &mut self.hx);
        self.innov.compute(self.hx.view(), obs)?;
        let (m, n) = ensemble_st.dim();
        let ns = self.statics.nrows();
        self.members = n;
        self.scales = (((1.0 - self.beta) / (n - 1) as f64).sqrt(), (self.beta * self.alpha / (ns - 1) as f64).sqrt());
        if self.rows.dim() != (m, n + ns) {
            self.rows = Array2::zeros((m, n + ns));
        }
        self.rows.slice_mut(s![.., ..n]).assign(&(&ensemble_st * self.scales.0));
        self.rows.slice_mut(s![.., n..]).assign(&(&self.innov.st * self.scales.1));
        if self.gram.dim() != (m, m) {
            self.gram = Array2::zeros((m, m));
        }
        general_mat_mul(1.0, &self.rows, &self.rows.t(), 0.0, &mut self.gram);
        Ok(())
    }

    /// `S_z^T` of the last [`Hybrid::prepare`] (m x (N + Ns), standard layout).
    pub fn rows(&self) -> &Array2<f64> {
        &self.rows
    }

    /// The mean increment `Z^T w` at state element `j`, whose forecast anomalies over the members
    /// are `anomalies_j`.
    pub fn increment(&self, w: &[f64], anomalies_j: &[f64], j: usize) -> f64 {
        let (we, ws) = w.split_at(self.members);
        let ensemble: f64 = we.iter().zip(anomalies_j).map(|(w, a)| w * a).sum();
        self.scales.0 * ensemble + self.static_increment(ws, j)
    }

    /// The ensemble part's weights on the unscaled forecast anomalies: `xb + A_e^T (c_e w_e)` is
    /// the ensemble's share of the mean update.
    pub fn ensemble_weights(&self, w: &[f64], out: &mut [f64]) {
        out.iter_mut().zip(&w[..self.members]).for_each(|(o, &w)| *o = self.scales.0 * w);
    }

    /// The static part of the mean increment at element `j`: `c_s A_s[:, j] . w_s`.
    pub fn static_increment(&self, ws: &[f64], j: usize) -> f64 {
        let row = self.static_anomalies.row(j);
        self.scales.1 * row.iter().zip(ws).map(|(a, w)| a * w).sum::<f64>()
    }

    /// Number of forecast members of the last [`Hybrid::prepare`]: the static weights start there.
    pub fn members(&self) -> usize {
        self.members
    }
}

/// Buffers of the hybrid mean solve, one per worker thread of the LETKF.
#[derive(Debug, Clone)]
pub struct MeanSolve {
    c: Array2<f64>,
    b: Array2<f64>,
    rhs: Array1<f64>,
    roots: Vec<f64>,
    w: Vec<f64>,
}

impl Default for MeanSolve {
    fn default() -> Self {
        MeanSolve { c: Array2::zeros((0, 0)), b: Array2::zeros((0, 0)), rhs: Array1::zeros(0), roots: Vec::new(), w: Vec::new() }
    }
}

impl MeanSolve {
    /// The augmented mean weights `w = b^T (b b^T + I)^{-1} d_loc = (b^T b + I)^{-1} b^T d_loc`
    /// for the observations `local` (index into `hybrid.rows()` and `d`, with taper weight `rho`):
    /// `b` has row `l` of `S_z^T` times `sqrt(rho_l)`, `d_loc = d_l sqrt(rho_l)` (R-localisation,
    /// as the LETKF's ensemble part). Returns `w` (N + Ns). Only the mean needs this, so a
    /// Cholesky solve does rather than an eigendecomposition; in observation space (the cheaper
    /// one unless there are many more local observations than augmented members) the k x k
    /// matrix is gathered from the Gram matrix of [`Hybrid::prepare`], otherwise the
    /// (N + Ns) x (N + Ns) one is formed.
    pub fn solve(&mut self, hybrid: &Hybrid, local: impl ExactSizeIterator<Item = (usize, f64)>, d: &[f64]) -> Result<&[f64]> {
        let rows = hybrid.rows();
        let (k, p) = (local.len(), rows.ncols());
        let (obs, roots): (Vec<usize>, Vec<f64>) = local.map(|(l, rho)| (l, rho.sqrt())).unzip();
        self.roots = roots;
        // Observation space costs about k^3/3 (Cholesky) + k p (w), ensemble space p^2 k (the
        // product) + p^3/3: the first wins up to k of about 1.5 p.
        let (kf, pf) = (k as f64, p as f64);
        let in_obs_space = kf * kf * kf / 3.0 + kf * pf < pf * pf * kf + pf * pf * pf / 3.0;
        let dim = if in_obs_space { k } else { p };
        let mut c = std::mem::replace(&mut self.c, Array2::zeros((0, 0)));
        if c.dim() != (dim, dim) {
            c = Array2::zeros((dim, dim));
            self.rhs = Array1::zeros(dim);
        }
        self.w.clear();
        self.w.resize(p, 0.0);
        if in_obs_space {
            // Observation space: (b b^T + I) v = d_loc, then w = b^T v.
            for (a, (&la, &ra)) in obs.iter().zip(&self.roots).enumerate() {
                let g = hybrid.gram.row(la);
                for (b, (&lb, &rb)) in obs.iter().zip(&self.roots).enumerate() {
                    c[(a, b)] = ra * rb * g[lb];
                }
                c[(a, a)] += 1.0;
                self.rhs[a] = d[la] * ra;
            }
        } else {
            // Ensemble space: (b^T b + I) w = b^T d_loc, b gathered and the product left to BLAS.
            if self.b.dim() != (k, p) {
                self.b = Array2::zeros((k, p));
            }
            self.rhs.fill(0.0);
            for ((&l, &r), mut dst) in obs.iter().zip(&self.roots).zip(self.b.rows_mut()) {
                let dl = d[l] * r;
                for ((t, &s), acc) in dst.iter_mut().zip(rows.row(l)).zip(self.rhs.iter_mut()) {
                    *t = s * r;
                    *acc += *t * dl;
                }
            }
            general_mat_mul(1.0, &self.b.t(), &self.b, 0.0, &mut c);
            for a in 0..p {
                c[(a, a)] += 1.0;
            }
        }
        let factored =
            c.factorizec_into(UPLO::Lower).map_err(|e| Error::Other(format!("hybrid mean update: the local matrix is not positive definite ({e})")))?;
        factored.solvec_inplace(&mut self.rhs).map_err(|e| Error::Other(format!("hybrid mean update: {e}")))?;
        self.c = factored.factor;
        if in_obs_space {
            for ((&l, &r), &v) in obs.iter().zip(&self.roots).zip(self.rhs.iter()) {
                self.w.iter_mut().zip(rows.row(l)).for_each(|(w, &s)| *w += s * r * v);
            }
        } else {
            self.w.iter_mut().zip(self.rhs.iter()).for_each(|(w, &v)| *w = v);
        }
        Ok(&self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kalman::localization::Distance;
    use crate::kalman::methods::inflation::Relaxation;
    use crate::kalman::methods::test_support::{linear_case, random_ensemble};
    use crate::kalman::{BaselineConfig, Filter, Geometry, Method};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// With `hybrid_weight = 0` the filters given a static ensemble are, bit for bit, the pure
    /// ones (catches a hybrid path taken at beta = 0, whose round-off differs); a positive weight
    /// without a static ensemble, or for a scheme without a hybrid, is refused by name.
    #[test]
    fn weight_zero_is_the_pure_filter_and_a_positive_weight_needs_statics() {
        let case = linear_case(6, 4, 3);
        let mut rng = StdRng::seed_from_u64(1);
        let prior = random_ensemble(5, 6, &mut rng);
        let statics = random_ensemble(8, 6, &mut rng);
        let geometry = || Some(Geometry { state: (0..6).map(|i| [i as f64, 0.0]).collect(), distance: Distance::Plane });
        for method in [Method::Etkf, Method::Letkf] {
            let config = BaselineConfig { method, relax: Relaxation::Rtps, relax_alpha: 0.5, localization_radius: 2.0, ..BaselineConfig::default() };
            let run = |statics: Option<Array2<f64>>| {
                let mut e = prior.clone();
                Filter::new(&config, geometry(), statics).unwrap().assimilate(&mut e, &case.op, &case.obs, &mut StdRng::seed_from_u64(0)).unwrap();
                e
            };
            assert_eq!(run(None), run(Some(statics.clone())), "{method:?}");
            let hybrid = BaselineConfig { hybrid_weight: 0.4, ..config.clone() };
            let err = Filter::new(&hybrid, geometry(), None).err().expect("a hybrid without statics must be refused").to_string();
            assert!(err.contains("static ensemble") && err.contains("hybrid_weight"), "{err}");
            let mut e = prior.clone();
            Filter::new(&hybrid, geometry(), Some(statics.clone())).unwrap().assimilate(&mut e, &case.op, &case.obs, &mut rng).unwrap();
            assert_ne!(e, run(None), "{method:?}: the static part changed nothing");
        }
        let enkf = BaselineConfig { method: Method::Enkf, hybrid_weight: 0.4, ..BaselineConfig::default() };
        assert!(Filter::new(&enkf, None, Some(statics)).is_err());
        for (config, ok) in [(0.0, true), (0.5, true), (1.0, false), (-0.1, false), (f64::NAN, false)]
            .map(|(w, ok)| (BaselineConfig { hybrid_weight: w, ..BaselineConfig::default() }, ok))
        {
            let mut p = crate::config::Problems::default();
            config.validate(&mut p);
            assert_eq!(p.0.is_empty(), ok, "hybrid_weight {}: {:?}", config.hybrid_weight, p.0);
        }
        let mut p = crate::config::Problems::default();
        enkf.validate(&mut p);
        assert!(p.0.iter().any(|(key, _)| key == "baseline.hybrid_weight"), "{:?}", p.0);
    }
}
