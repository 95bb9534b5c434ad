//! The algebra every ensemble Kalman analysis here shares: whitened innovations, and the symmetric
//! eigendecomposition of the small matrix `C = B^T B + gamma I` (the N x N ensemble-space matrix
//! for the ETKF, LETKF and EnOI; the m x m observation-space one when the EnKF has fewer
//! observations than members), from which `C^p v` and `C^p` follow for any power `p`.
//!
//! Notation (Hunt et al. 2007; Sakov & Oke 2008): members `x_i`, mean `xb`, anomalies
//! `A = [x_i - xb]` (N x n); observed anomalies `Y = [H(x_i) - mean H(x)]` (N x m); diagonal
//! observation-error variances `r`. Whitening by `R^{-1/2}` gives `S = Y R^{-1/2}` and
//! `d = R^{-1/2} (y - mean H(x))`; this module stores `S^T` (m x N, one observation per row) so
//! that local analyses gather contiguous rows.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2};
use ndarray_linalg::{EighInto, UPLO};

use super::symmetric_eigen::{self, SymmetricEigen};
use crate::error::{Error, Result};
use crate::kalman::obs::Observations;

unsafe extern "C" {
    /// OpenBLAS's run-time thread count (ndarray-linalg links the system OpenBLAS).
    fn openblas_set_num_threads(num_threads: std::ffi::c_int);
}

/// Restricts OpenBLAS to one thread, once per process. The matrices factored here are tiny
/// (ensemble size or local observation count); OpenBLAS's worker threads only spin and yield
/// around them, which measured 1.5x slower on two cores, and a threaded reduction also changes
/// the last bits of the results with the thread count.
fn single_threaded_blas() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: a plain setter of OpenBLAS's global thread count with a valid argument; lowering
    // it leaves running calls unaffected.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}

/// Whitened observation anomalies `S^T` (m x N) and innovation `d` (m) of one analysis.
#[derive(Debug, Clone)]
pub struct Innovations {
    /// `S^T`: row `l` is `(H(x_i)_l - mean_l) / sqrt(r_l)` over members `i`.
    pub st: Array2<f64>,
    /// `d_l = (y_l - mean_l) / sqrt(r_l)`.
    pub d: Vec<f64>,
    /// `1 / sqrt(r_l)`.
    pub inv_std: Vec<f64>,
    /// Mean of the observed ensemble, `mean_l`.
    pub hx_mean: Vec<f64>,
}

impl Default for Innovations {
    fn default() -> Self {
        Innovations { st: Array2::zeros((0, 0)), d: Vec::new(), inv_std: Vec::new(), hx_mean: Vec::new() }
    }
}

impl Innovations {
    /// Computes the whitened quantities from the observed ensemble `hx` (N x m), reusing buffers.
    pub fn compute(&mut self, hx: ArrayView2<f64>, obs: &Observations) -> Result<()> {
        let (n, m) = hx.dim();
        obs.check(m)?;
        if self.st.dim() != (m, n) {
            self.st = Array2::zeros((m, n));
        }
        self.hx_mean.resize(m, 0.0);
        super::ensemble::mean_into(hx, &mut self.hx_mean);
        self.inv_std.clear();
        self.inv_std.extend(obs.variance.iter().map(|v| 1.0 / v.sqrt()));
        self.d.clear();
        self.d.extend((0..m).map(|l| (obs.values[l] - self.hx_mean[l]) * self.inv_std[l]));
        for (l, mut row) in self.st.rows_mut().into_iter().enumerate() {
            let (mu, w) = (self.hx_mean[l], self.inv_std[l]);
            for (s, &h) in row.iter_mut().zip(hx.column(l).iter()) {
                *s = (h - mu) * w;
            }
        }
        if self.st.iter().chain(&self.d).any(|v| !v.is_finite()) {
            return Err(Error::Other("observed ensemble has non-finite values (NaN or infinity in H(x))".into()));
        }
        Ok(())
    }
}

/// Eigendecomposition `C = V diag(lambda) V^T` of `C = B^T B + gamma I`, with buffers reused
/// between analyses of the same size. `V` is kept in standard layout so that the products below
/// run over contiguous rows.
#[derive(Debug, Clone)]
pub struct EnsembleSpace {
    vecs: Array2<f64>,
    vals: Array1<f64>,
    scaled: Array2<f64>,
    tmp: Vec<f64>,
    /// Workspace of the own eigensolver (matrices up to [`symmetric_eigen::MAX_DIM`]).
    eigen: SymmetricEigen,
}

impl Default for EnsembleSpace {
    fn default() -> Self {
        EnsembleSpace { vecs: Array2::zeros((0, 0)), vals: Array1::zeros(0), scaled: Array2::zeros((0, 0)), tmp: Vec::new(), eigen: SymmetricEigen::default() }
    }
}

impl EnsembleSpace {
    /// Factors `C = b^T b + gamma I`, where `b` has one row per observation (k x p gives p x p).
    pub fn factor(&mut self, b: ArrayView2<f64>, gamma: f64) -> Result<()> {
        single_threaded_blas();
        let p = b.ncols();
        let mut c = std::mem::replace(&mut self.vecs, Array2::zeros((0, 0)));
        if c.dim() != (p, p) || !c.is_standard_layout() {
            c = Array2::zeros((p, p));
        }
        general_mat_mul(1.0, &b.t(), &b, 0.0, &mut c);
        for i in 0..p {
            c[(i, i)] += gamma;
        }
        // Small matrices (every ensemble size in use) go to the own solver, which is faster than
        // LAPACK there (benches/eigen.rs); the rest to LAPACK.
        let (vals, vecs) = if p <= symmetric_eigen::MAX_DIM {
            let (mut vals, mut vecs) = (std::mem::take(&mut self.vals), std::mem::replace(&mut self.scaled, Array2::zeros((0, 0))));
            self.eigen.decompose(c.view(), &mut vals, &mut vecs).map_err(|e| Error::Other(format!("ensemble-space eigendecomposition failed: {e}")))?;
            // The product buffer of matrix_pow lends its storage to the vectors and takes C's.
            self.scaled = c;
            (vals, vecs)
        } else {
            c.eigh_into(UPLO::Lower).map_err(|e| Error::Other(format!("ensemble-space eigendecomposition failed: {e}")))?
        };
        // C is a Gram matrix plus gamma > 0, so every eigenvalue is at least gamma; anything below
        // means the inputs were not what the caller promised.
        let slack = 1e-8 * gamma + 1e-10 * vals.iter().cloned().fold(0.0, f64::max);
        if vals.iter().any(|&v| v.is_nan() || v < gamma - slack) {
            return Err(Error::Other(format!("ensemble-space matrix is not positive definite (smallest eigenvalue {})", vals[0])));
        }
        self.vals = vals;
        self.vecs = if vecs.is_standard_layout() { vecs } else { vecs.as_standard_layout().into_owned() };
        self.tmp.resize(p, 0.0);
        Ok(())
    }

    /// Dimension of the factored matrix.
    pub fn dim(&self) -> usize {
        self.vals.len()
    }

    /// Eigenvectors (columns) of the factored matrix, in standard layout.
    pub fn vectors(&self) -> &Array2<f64> {
        &self.vecs
    }

    /// Eigenvalues, ascending.
    pub fn values(&self) -> &Array1<f64> {
        &self.vals
    }

    /// `out = C^power v`.
    pub fn apply_pow(&mut self, power: f64, v: &[f64], out: &mut [f64]) {
        let v_rows = self.vecs.as_slice().expect("standard layout");
        let p = self.vals.len();
        // tmp = diag(lambda^power) V^T v, accumulated row by row of V.
        self.tmp.fill(0.0);
        for (row, &va) in v_rows.chunks_exact(p).zip(v) {
            for (t, &x) in self.tmp.iter_mut().zip(row) {
                *t += x * va;
            }
        }
        for (t, &l) in self.tmp.iter_mut().zip(self.vals.iter()) {
            *t *= l.powf(power);
        }
        for (o, row) in out.iter_mut().zip(v_rows.chunks_exact(p)) {
            *o = row.iter().zip(&self.tmp).map(|(x, t)| x * t).sum();
        }
    }

    /// `out = scale * C^power` (p x p, symmetric), as one matrix product.
    pub fn matrix_pow(&mut self, power: f64, scale: f64, out: &mut Array2<f64>) {
        let p = self.dim();
        if out.dim() != (p, p) {
            *out = Array2::zeros((p, p));
        }
        if self.scaled.dim() != (p, p) {
            self.scaled = Array2::zeros((p, p));
        }
        for (t, &l) in self.tmp.iter_mut().zip(self.vals.iter()) {
            *t = scale * l.powf(power);
        }
        for (mut dst, src) in self.scaled.rows_mut().into_iter().zip(self.vecs.rows()) {
            for ((d, &v), &f) in dst.iter_mut().zip(src.iter()).zip(&self.tmp) {
                *d = v * f;
            }
        }
        general_mat_mul(1.0, &self.scaled, &self.vecs.t(), 0.0, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn powers_of_the_factored_matrix() {
        let b = array![[1.0, 2.0, 0.5], [0.0, 1.0, -1.0], [3.0, 0.0, 1.0], [1.0, 1.0, 1.0]];
        let gamma = 2.0;
        let c = b.t().dot(&b) + Array2::<f64>::eye(3) * gamma;
        let mut space = EnsembleSpace::default();
        space.factor(b.view(), gamma).unwrap();
        // C^{-1/2} C^{-1/2} C = I.
        let mut half = Array2::zeros((0, 0));
        space.matrix_pow(-0.5, 1.0, &mut half);
        let id = half.dot(&half).dot(&c);
        assert!((id - Array2::<f64>::eye(3)).iter().all(|v| v.abs() < 1e-12));
        // C^{-1} v solves C x = v.
        let v = [1.0, -2.0, 0.25];
        let mut x = [0.0; 3];
        space.apply_pow(-1.0, &v, &mut x);
        let back = c.dot(&ndarray::arr1(&x));
        assert!(back.iter().zip(v).all(|(a, b)| (a - b).abs() < 1e-12));
    }

    #[test]
    fn both_eigensolvers_give_the_same_powers() {
        // Sizes either side of the switch from the own solver to LAPACK, refactored in turn with
        // one workspace (the two paths lend buffers to each other).
        let mut space = EnsembleSpace::default();
        for p in [symmetric_eigen::MAX_DIM, symmetric_eigen::MAX_DIM + 1, 12, symmetric_eigen::MAX_DIM + 1, symmetric_eigen::MAX_DIM] {
            let b = Array2::from_shape_fn((p / 2, p), |(i, j)| ((i * 7 + j * 13) % 11) as f64 - 5.0);
            let gamma = p as f64 - 1.0;
            let c = b.t().dot(&b) + Array2::<f64>::eye(p) * gamma;
            space.factor(b.view(), gamma).unwrap();
            assert!(space.values().windows(2).into_iter().all(|w| w[0] <= w[1]));
            let mut inv = Array2::zeros((0, 0));
            space.matrix_pow(-1.0, 1.0, &mut inv);
            let off = (inv.dot(&c) - Array2::<f64>::eye(p)).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!(off < 1e-12, "p = {p}: C^-1 C differs from I by {off:e}");
        }
    }
}
