//! A symmetric eigensolver for the small dense matrices of the ensemble analyses (the N x N
//! ensemble-space matrix `S S^T + gamma I`, N <= 128), used by [`super::ensemble_space`] instead of
//! LAPACK where it is faster (issue 19, "ETKF eigensolver decision"); larger matrices go to LAPACK
//! through ndarray-linalg.
//!
//! **Why.** One ETKF cycle at N = 40 factors one 40 x 40 matrix; LAPACK's `dsyev` (the system
//! OpenBLAS's reference LAPACK) took 121 us for it, more than the rest of the cycle together, and
//! most of that in `dsteqr`, which applies its plane rotations to the eigenvector matrix one column
//! pair at a time through `dlasr`. At these sizes the work is small enough that call overhead and
//! how the rotations are laid out in memory decide the time, not the flop count (BENCHMARKS.md,
//! "Kalman baselines", has the measured ratios against LAPACK per size).
//!
//! **Algorithm.** The classical two-phase method of the Handbook for Automatic Computation (EISPACK's
//! `tred2` and `tql2`):
//! 1. Householder reduction to tridiagonal form, `A = Q T Q^T` (Martin, Reinsch & Wilkinson 1968,
//!    "Householder's tridiagonalization of a symmetric matrix", Numer. Math. 11, 181-195; the
//!    update `A <- A - q u^T - u q^T` as in Golub & Van Loan, *Matrix Computations*, 4th ed., §8.3.1),
//!    with the reflectors accumulated into `Q`.
//! 2. Implicit QL iterations with Wilkinson-type shifts on `T`, each plane rotation also applied to
//!    the accumulated vectors (Bowdler, Martin, Reinsch & Wilkinson 1968, "The QR and QL algorithms
//!    for symmetric matrices", Numer. Math. 11, 293-306; the same algorithm as EISPACK `tql2`).
//!
//! Written here from those descriptions, arranged for row-major storage: the matrix is kept whole
//! (both triangles, so every matrix-vector product runs over contiguous rows), and the vectors are
//! accumulated transposed (`Q^T`, one eigenvector per row), so every plane rotation of step 2
//! combines two contiguous rows, which the compiler vectorises, where a column-major `Q` would
//! stride. Cyclic Jacobi was not chosen: it needs 6-10 sweeps of `n^2 / 2` rotations, each over
//! three length-`n` vectors, several times the flops of tridiagonal QL with accumulation.
//!
//! Conventions are those of ndarray-linalg's `eigh_into(UPLO::Lower)`: only the lower triangle of
//! the input is read, eigenvalues come out ascending, and eigenvector `k` is column `k` of the
//! returned matrix (standard layout), with unit length and an arbitrary sign.

use ndarray::{Array1, Array2, ArrayView2};

use crate::error::{Error, Result};

/// Largest dimension for which [`super::ensemble_space::EnsembleSpace`] uses this solver rather
/// than LAPACK. Measured by `cargo bench --profile dev --bench eigen` (figures in BENCHMARKS.md):
/// 1.5-2.4x faster than LAPACK's `dsyev` at every size it times up to 128, with contrada at
/// opt-level 3 as the dev profile builds it (at opt-level 1 it was several times slower).
pub const MAX_DIM: usize = 128;

/// QL iterations allowed per eigenvalue before giving up (LAPACK's `dsteqr` allows 30 too). Shifted
/// QL converges cubically; in practice 1-2 iterations per eigenvalue suffice.
const MAX_ITERATIONS_PER_VALUE: usize = 30;

/// Reusable workspace of the eigensolver: one per thread, sized on first use.
#[derive(Debug, Clone, Default)]
pub struct SymmetricEigen {
    /// The matrix, row-major, both triangles; after step 1 row `i` (columns `< i`) holds reflector `i`.
    a: Vec<f64>,
    /// `Q^T`, then the eigenvectors, one per row.
    zt: Vec<f64>,
    /// Diagonal of `T`, then the eigenvalues.
    d: Vec<f64>,
    /// Subdiagonal of `T`.
    e: Vec<f64>,
    /// `u^T u / 2` of each reflector (0 where a step needed none).
    h: Vec<f64>,
    /// Scratch vector of length `n`.
    p: Vec<f64>,
}

/// `sum_k x_k y_k` over two slices of equal length, in four interleaved partial sums: a single
/// running sum is a chain of dependent additions that the compiler may not reorder, so it neither
/// vectorises nor pipelines; four independent sums become one SIMD register of lanes.
#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let (xs, x_rest) = x.as_chunks::<4>();
    let (ys, y_rest) = y[..x.len()].as_chunks::<4>();
    let mut acc = [0.0; 4];
    for (a, b) in xs.iter().zip(ys) {
        for k in 0..4 {
            acc[k] += a[k] * b[k];
        }
    }
    let tail: f64 = x_rest.iter().zip(y_rest).map(|(a, b)| a * b).sum();
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

/// `sqrt(a^2 + b^2)` without needless work: the plain formula where neither square can overflow or
/// lose all its digits to underflow, `f64::hypot` (several times slower) otherwise. Called once
/// per plane rotation, so its cost shows.
#[inline(always)]
fn pythag(a: f64, b: f64) -> f64 {
    let m = a.abs().max(b.abs());
    if m < 1e150 && m > 1e-150 { (a * a + b * b).sqrt() } else { a.hypot(b) }
}

impl SymmetricEigen {
    /// Eigendecomposition `C = V diag(values) V^T` of the symmetric matrix whose lower triangle is
    /// that of `c` (the upper triangle is not read). `values` (ascending) and `vectors` (column `k`
    /// is the eigenvector of `values[k]`, standard layout) are resized as needed. Fails on
    /// non-square or non-finite input, or if the QL iterations do not converge.
    pub fn decompose(&mut self, c: ArrayView2<f64>, values: &mut Array1<f64>, vectors: &mut Array2<f64>) -> Result<()> {
        let n = c.nrows();
        if c.ncols() != n {
            return Err(Error::Other(format!("eigendecomposition of a non-square {} x {} matrix", n, c.ncols())));
        }
        if n == 0 {
            (*values, *vectors) = (Array1::zeros(0), Array2::zeros((0, 0)));
            return Ok(());
        }
        self.a.clear();
        self.a.resize(n * n, 0.0);
        for i in 0..n {
            for j in 0..=i {
                let v = c[(i, j)];
                if !v.is_finite() {
                    return Err(Error::Other(format!("eigendecomposition of a matrix with a non-finite entry ({v} at {i}, {j})")));
                }
                self.a[i * n + j] = v;
                self.a[j * n + i] = v;
            }
        }
        self.d.clear();
        self.d.resize(n, 0.0);
        self.e.clear();
        self.e.resize(n, 0.0);
        self.h.clear();
        self.h.resize(n, 0.0);
        self.p.clear();
        self.p.resize(n, 0.0);
        self.solve(n)?;

        if values.len() != n {
            *values = Array1::zeros(n);
        }
        values.as_slice_mut().expect("a fresh or owned 1-D array is contiguous").copy_from_slice(&self.d);
        if vectors.dim() != (n, n) || !vectors.is_standard_layout() {
            *vectors = Array2::zeros((n, n));
        }
        let out = vectors.as_slice_mut().expect("standard layout");
        for (k, row) in self.zt.chunks_exact(n).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                out[i * n + k] = v;
            }
        }
        Ok(())
    }

    /// Steps 1 and 2 and the sort, compiled for AVX2 as well where the CPU has it: the build
    /// targets baseline x86-64 (SSE2, two lanes), and the dot products, row updates and plane
    /// rotations here run 4 lanes wide with AVX2 (the figures in BENCHMARKS.md are with it). The
    /// summation order is the same either way; only the instructions differ.
    fn solve(&mut self, n: usize) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.solve_avx2(n) };
        }
        self.solve_inline(n)
    }

    /// [`Self::solve_inline`] with AVX2 instructions (everything it calls is inlined into it).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn solve_avx2(&mut self, n: usize) -> Result<()> {
        self.solve_inline(n)
    }

    #[inline(always)]
    fn solve_inline(&mut self, n: usize) -> Result<()> {
        self.tridiagonalise(n);
        self.accumulate(n);
        self.tridiagonal_ql(n)?;
        self.sort_ascending(n);
        Ok(())
    }

    /// Step 1: Householder reflectors `P_i = I - u u^T / h_i` for `i = n-1 .. 2`, each zeroing row
    /// `i` of the leading `(i+1) x (i+1)` block left of its subdiagonal. Leaves the diagonal of `T`
    /// in `d`, its subdiagonal in `e[1..]` (`e[i] = T[i][i-1]`), reflector `i` in row `i` of `a`.
    #[inline(always)]
    fn tridiagonalise(&mut self, n: usize) {
        let a = &mut self.a;
        for i in (2..n).rev() {
            let (block, rest) = a.split_at_mut(i * n);
            let u = &mut rest[..i];
            // Scaling by the 1-norm keeps the squares below from overflowing or underflowing.
            let scale: f64 = u.iter().map(|v| v.abs()).sum();
            if scale == 0.0 {
                // Already zero left of the subdiagonal: no reflector (h[i] = 0 marks it).
                self.e[i] = 0.0;
                continue;
            }
            u.iter_mut().for_each(|v| *v /= scale);
            let sigma = dot(u, u);
            let f = u[i - 1];
            // The sign opposite to f avoids cancellation in f - g.
            let g = -sigma.sqrt().copysign(f);
            self.e[i] = scale * g;
            let h = sigma - f * g;
            u[i - 1] = f - g;
            self.h[i] = h;
            // p = A u / h over the leading i x i block, K = u^T p / 2h, q = p - K u; then
            // A <- P A P = A - q u^T - u q^T, kept in both triangles so that rows stay contiguous.
            let p = &mut self.p[..i];
            for (j, pj) in p.iter_mut().enumerate() {
                *pj = dot(&block[j * n..j * n + i], u) / h;
            }
            let k = dot(u, p) / (2.0 * h);
            p.iter_mut().zip(u.iter()).for_each(|(pj, &uj)| *pj -= k * uj);
            for j in 0..i {
                let (uj, qj) = (u[j], p[j]);
                for ((x, &ul), &ql) in block[j * n..j * n + i].iter_mut().zip(u.iter()).zip(p.iter()) {
                    *x -= uj * ql + qj * ul;
                }
            }
        }
        // e[0] stays 0 (nothing above the first row); row 1 needs no reflector.
        if n > 1 {
            self.e[1] = a[n];
        }
        for i in 0..n {
            self.d[i] = a[i * n + i];
        }
    }

    /// `Q^T = P_2 P_3 ... P_{n-1}` (with `T = Q^T A Q`), built as `I P_2 P_3 ...`: multiplying by
    /// `P_i` from the right touches only the leading `i x i` block, row by row (`x <- x - (x.u / h) u`).
    #[inline(always)]
    fn accumulate(&mut self, n: usize) {
        let zt = &mut self.zt;
        zt.clear();
        zt.resize(n * n, 0.0);
        for i in 0..n {
            zt[i * n + i] = 1.0;
        }
        for i in 2..n {
            let h = self.h[i];
            if h == 0.0 {
                continue;
            }
            let u = &self.a[i * n..i * n + i];
            for r in 0..i {
                let row = &mut zt[r * n..r * n + i];
                let f = dot(row, u) / h;
                row.iter_mut().zip(u).for_each(|(x, &ul)| *x -= f * ul);
            }
        }
    }

    /// Step 2: implicit QL with shifts on the tridiagonal `(d, e)`, rotations applied to the rows of
    /// `zt`. For each `l`, iterates until the subdiagonal element `e[l]` is negligible against the
    /// largest `|d| + |e|` seen so far, then `d[l]` is an eigenvalue.
    #[inline(always)]
    fn tridiagonal_ql(&mut self, n: usize) -> Result<()> {
        if n <= 1 {
            return Ok(());
        }
        let (d, e, zt) = (&mut self.d, &mut self.e, &mut self.zt);
        // From here e[i] couples d[i] and d[i+1].
        e.copy_within(1.., 0);
        e[n - 1] = 0.0;
        let eps = f64::EPSILON;
        let mut shift_sum = 0.0;
        let mut norm = 0.0_f64;
        for l in 0..n {
            norm = norm.max(d[l].abs() + e[l].abs());
            let mut iterations = 0;
            loop {
                // The first negligible coupling at or after l splits off the block l..=m.
                let mut m = l;
                while m < n - 1 && e[m].abs() > eps * norm {
                    m += 1;
                }
                if m == l {
                    break;
                }
                iterations += 1;
                if iterations > MAX_ITERATIONS_PER_VALUE {
                    return Err(Error::Other(format!("symmetric eigensolver: no convergence for eigenvalue {l} of {n} after {MAX_ITERATIONS_PER_VALUE} QL iterations")));
                }
                // Shift: the eigenvalue of the leading 2 x 2 block of l..=m nearer d[l], subtracted
                // from the whole block (and remembered in shift_sum).
                let g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let r = pythag(p, 1.0).copysign(p);
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let d_l1 = d[l + 1];
                let shift = g - d[l];
                for x in &mut d[l + 2..n] {
                    *x -= shift;
                }
                shift_sum += shift;
                // One implicit QL sweep from m up to l: plane rotations chase the bulge upwards.
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let (mut s, mut s2) = (0.0, 0.0);
                let e_l1 = e[l + 1];
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    let h = c * p;
                    let r = pythag(p, e[i]);
                    e[i + 1] = s * r;
                    // One division instead of two: this recurrence is a chain of dependent
                    // operations, and its latency is most of the sweep's time.
                    let r_inv = 1.0 / r;
                    s = e[i] * r_inv;
                    c = p * r_inv;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    // The same rotation on eigenvector rows i and i+1 (contiguous). Applied here,
                    // not after the sweep as LAPACK does, because the processor overlaps it with the
                    // latency of the recurrence above: deferring all rotations to the end of the
                    // sweep (even fused, one load and store per row) measured 1.7x slower at p = 40.
                    let (lo, hi) = zt.split_at_mut((i + 1) * n);
                    for (zi, zi1) in lo[i * n..].iter_mut().zip(&mut hi[..n]) {
                        let t = *zi1;
                        *zi1 = s * *zi + c * t;
                        *zi = c * *zi - s * t;
                    }
                }
                p = -s * s2 * c3 * e_l1 * e[l] / d_l1;
                e[l] = s * p;
                d[l] = c * p;
            }
            d[l] += shift_sum;
            e[l] = 0.0;
        }
        Ok(())
    }

    /// Orders eigenvalues ascending, moving their eigenvector rows along (selection sort: n swaps).
    #[inline(always)]
    fn sort_ascending(&mut self, n: usize) {
        for i in 0..n {
            let k = (i..n).fold(i, |k, j| if self.d[j] < self.d[k] { j } else { k });
            if k != i {
                self.d.swap(i, k);
                let (lo, hi) = self.zt.split_at_mut(k * n);
                lo[i * n..i * n + n].swap_with_slice(&mut hi[..n]);
            }
        }
    }
}

/// One-off [`SymmetricEigen::decompose`] with a fresh workspace: `(values ascending, vectors as
/// columns)`, like ndarray-linalg's `eigh(UPLO::Lower)`.
pub fn eigh_lower(c: ArrayView2<f64>) -> Result<(Array1<f64>, Array2<f64>)> {
    let (mut values, mut vectors) = (Array1::zeros(0), Array2::zeros((0, 0)));
    SymmetricEigen::default().decompose(c, &mut values, &mut vectors)?;
    Ok((values, vectors))
}

#[cfg(test)]
mod tests {
    //! Validation against LAPACK (`dsyev` through ndarray-linalg). Eigenvectors are compared through
    //! what is unique about them: `V diag(l) V^T` must give back `C` and `V^T V` the identity (a
    //! per-vector comparison with LAPACK's would fail on sign and on any basis of a repeated
    //! eigenvalue). Eigenvalues are compared one by one, relative to their own size down to 1% of
    //! the norm (see `check`).
    //!
    //! Broken variants these catch (each tried by editing the code, then `cargo test --profile dev
    //! --lib symmetric_eigen`): the rank-2 update without its `u q^T` half, the first reflector left
    //! out of `Q`, a rotation applied to the vectors with `s` of the wrong sign, the shift sum not
    //! added back, no sort, and reading the upper triangle (it holds NaN here) each fail four or five
    //! of the six tests; the Householder sign choice flipped to the cancelling one (still a valid
    //! reflector in exact arithmetic) fails the structured cases, where a row that is already
    //! tridiagonal makes `h` zero. Not caught: a convergence test 1e6 times looser (`1e6 * eps`):
    //! QL converges cubically, so the iteration that passes the loose test is already accurate to
    //! far below 1e-10; only the iteration count (speed) would show it.
    use super::*;
    use ndarray::Array2;
    use ndarray_linalg::{Eigh, UPLO};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    const TOL: f64 = 1e-10;

    fn gaussian(rng: &mut StdRng, rows: usize, cols: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |_| rng.sample(StandardNormal))
    }

    /// A random orthogonal matrix (Gram-Schmidt on a Gaussian one, twice for accuracy).
    fn orthogonal(rng: &mut StdRng, n: usize) -> Array2<f64> {
        let mut q = gaussian(rng, n, n);
        for _ in 0..2 {
            for k in 0..n {
                for j in 0..k {
                    let r = q.column(j).dot(&q.column(k));
                    let qj = q.column(j).to_owned();
                    q.column_mut(k).scaled_add(-r, &qj);
                }
                let norm = q.column(k).dot(&q.column(k)).sqrt();
                q.column_mut(k).mapv_inplace(|v| v / norm);
            }
        }
        q
    }

    /// `Q diag(spectrum) Q^T` for a random orthogonal `Q`: a symmetric matrix with a chosen spectrum.
    fn with_spectrum(rng: &mut StdRng, spectrum: &[f64]) -> Array2<f64> {
        let n = spectrum.len();
        let q = orthogonal(rng, n);
        let scaled = &q * &ndarray::Array1::from(spectrum.to_vec());
        let c = scaled.dot(&q.t());
        // Exactly symmetric, as the lower triangle is all that is read anyway.
        Array2::from_shape_fn((n, n), |(i, j)| if i >= j { c[(i, j)] } else { c[(j, i)] })
    }

    /// Checks the solver against LAPACK on `c` (lower triangle used; the upper one is overwritten
    /// with NaN before our solver sees it, so reading it fails loudly).
    fn check(c: &Array2<f64>, what: &str) {
        let n = c.nrows();
        let (lapack_values, _) = c.eigh(UPLO::Lower).expect("LAPACK eigh");
        let mut lower_only = c.clone();
        for i in 0..n {
            for j in i + 1..n {
                lower_only[(i, j)] = f64::NAN;
            }
        }
        let (values, vectors) = eigh_lower(lower_only.view()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(vectors.is_standard_layout());
        // The norm of C (its largest |eigenvalue|); the zero matrix gets an absolute tolerance.
        let scale = lapack_values.iter().fold(0.0_f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
        for (k, (&ours, &theirs)) in values.iter().zip(lapack_values.iter()).enumerate() {
            // Relative to the eigenvalue itself down to 1% of the norm; below that, 1e-12 of the
            // norm, as no backward-stable solver (LAPACK included) resolves small eigenvalues of an
            // ill-conditioned matrix to 1e-10 of themselves.
            let err = (ours - theirs).abs();
            assert!(err <= TOL * theirs.abs().max(1e-2 * scale), "{what}, n = {n}: eigenvalue {k}: ours {ours:e}, LAPACK {theirs:e}");
        }
        assert!(values.windows(2).into_iter().all(|w| w[0] <= w[1]), "{what}: eigenvalues not ascending");
        let vtv = vectors.t().dot(&vectors);
        let off_identity = (&vtv - &Array2::<f64>::eye(n)).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        assert!(off_identity <= TOL, "{what}, n = {n}: V^T V differs from I by {off_identity:e}");
        let rebuilt = (&vectors * &values).dot(&vectors.t());
        let off = (&rebuilt - c).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        assert!(off <= TOL * scale, "{what}, n = {n}: V diag(l) V^T differs from C by {off:e} (largest entry {scale:e})");
    }

    #[test]
    fn random_spd_matrices_of_every_size_up_to_128() {
        let mut rng = StdRng::seed_from_u64(19);
        for n in 1..=128 {
            let b = gaussian(&mut rng, n + 3, n);
            let c = b.t().dot(&b) + Array2::<f64>::eye(n) * 0.5;
            check(&c, "random SPD");
        }
    }

    #[test]
    fn indefinite_and_structured_matrices() {
        let mut rng = StdRng::seed_from_u64(20);
        for n in [1, 2, 3, 5, 17, 40, 64] {
            let g = gaussian(&mut rng, n, n);
            check(&(&g + &g.t()), "random indefinite");
            // Already diagonal (every reflector is skipped) and already tridiagonal.
            check(&Array2::from_diag(&ndarray::Array1::from_shape_fn(n, |i| (n - i) as f64 * 0.7)), "diagonal, descending");
            check(&Array2::from_shape_fn((n, n), |(i, j)| if i == j { 2.0 } else if i.abs_diff(j) == 1 { -1.0 } else { 0.0 }), "tridiagonal (1-D Laplacian)");
            check(&Array2::zeros((n, n)), "zero");
        }
    }

    #[test]
    fn repeated_and_clustered_eigenvalues() {
        let mut rng = StdRng::seed_from_u64(21);
        for n in [2, 3, 10, 40, 64, 128] {
            // Identity plus rank one: eigenvalue 1 with multiplicity n - 1.
            let v = gaussian(&mut rng, n, 1);
            check(&(Array2::<f64>::eye(n) + v.dot(&v.t())), "identity plus rank one");
            // Two tight clusters (relative gaps 1e-12 and 1e-9) and a few isolated values.
            let spectrum: Vec<f64> = (0..n)
                .map(|i| match i % 3 {
                    0 => 1.0 + 1e-12 * i as f64,
                    1 => 5.0 + 1e-9 * i as f64,
                    _ => 10.0 + i as f64,
                })
                .collect();
            check(&with_spectrum(&mut rng, &spectrum), "near-degenerate clusters");
            // A wide spread of magnitudes (condition 1e8).
            let graded: Vec<f64> = (0..n).map(|i| 10f64.powf(-8.0 * i as f64 / n.max(2) as f64)).collect();
            check(&with_spectrum(&mut rng, &graded), "graded spectrum");
        }
    }

    #[test]
    fn ensemble_space_shape_with_rank_below_dimension() {
        // S S^T + gamma I as the ETKF and LETKF build it: N members, fewer observations than
        // members (rank < N) and centred anomalies (rank <= N - 1), so gamma is a repeated eigenvalue.
        let mut rng = StdRng::seed_from_u64(22);
        for (members, observations, gamma) in [(10, 3, 1.0), (40, 12, 39.0 / 1.02), (40, 40, 39.0), (64, 20, 63.0), (128, 40, 127.0), (128, 200, 1e-3)] {
            let mut s = gaussian(&mut rng, observations, members);
            for mut row in s.rows_mut() {
                let mean = row.mean().unwrap();
                row.mapv_inplace(|v| v - mean);
            }
            let c = s.t().dot(&s) + Array2::<f64>::eye(members) * gamma;
            check(&c, "S^T S + gamma I");
        }
    }

    #[test]
    fn rejects_what_it_cannot_factor() {
        let mut c = Array2::<f64>::eye(3);
        c[(2, 0)] = f64::NAN;
        assert!(eigh_lower(c.view()).is_err());
        assert!(eigh_lower(Array2::<f64>::zeros((2, 3)).view()).is_err());
        // The empty matrix has an empty decomposition, as in LAPACK.
        let (values, vectors) = eigh_lower(Array2::<f64>::zeros((0, 0)).view()).unwrap();
        assert_eq!((values.len(), vectors.dim()), (0, (0, 0)));
    }

    #[test]
    fn workspace_reuse_across_sizes_gives_the_same_result() {
        let mut rng = StdRng::seed_from_u64(23);
        let mut solver = SymmetricEigen::default();
        let (mut values, mut vectors) = (Array1::zeros(0), Array2::zeros((0, 0)));
        for n in [40, 10, 40, 3] {
            let b = gaussian(&mut rng, n, n);
            let c = b.t().dot(&b) + Array2::<f64>::eye(n);
            solver.decompose(c.view(), &mut values, &mut vectors).unwrap();
            let (fresh_values, fresh_vectors) = eigh_lower(c.view()).unwrap();
            assert_eq!(values, fresh_values);
            assert_eq!(vectors, fresh_vectors);
        }
    }
}
