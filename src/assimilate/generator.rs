//! The conditional generator in latent space: given the codes of a bank of states and the code of
//! the observations, weights, resampling, retrieval and the ensemble-transform update.
//!
//! Everything here works on codes (`g_u(u_i)`, `g_v(v*)`) and states as plain f64 arrays, so the same
//! code serves any encoder and backend; the encoders run once per bank (cached) and once per window.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use ndarray_linalg::{Eigh, UPLO};

use crate::error::{Error, Result};
pub use crate::learn::tilting::Tilting;

/// The alignment score `s(u, v)` of two codes under `tilting` (docs/science.md §2), on host arrays.
pub fn score(tilting: Tilting, gu: ArrayView1<f64>, gv: ArrayView1<f64>, tau: f64) -> f64 {
    match tilting {
        Tilting::Inner => gu.dot(&gv) / tau,
        Tilting::Cosine => gu.dot(&gv) / (gu.dot(&gu).sqrt() * gv.dot(&gv).sqrt()).max(1e-30) / tau,
        Tilting::L2 => -(&gu - &gv).mapv(|x| x * x).sum() / (2.0 * tau),
    }
}

/// Self-normalised weights `w_i = softmax_i s(u_i, v*)` over the bank, computed stably.
pub fn weights(bank_codes: ArrayView2<f64>, obs_code: ArrayView1<f64>, tilting: Tilting, tau: f64) -> Array1<f64> {
    let scores: Array1<f64> = bank_codes.outer_iter().map(|gu| score(tilting, gu, obs_code, tau)).collect();
    let max = scores.fold(f64::NEG_INFINITY, |m, &s| m.max(s));
    let w = scores.mapv(|s| (s - max).exp());
    let total = w.sum();
    w / total
}

/// Effective sample size `1 / sum_i w_i^2` of normalised weights (N for equal weights, 1 when one
/// member carries all the weight).
pub fn effective_sample_size(w: ArrayView1<f64>) -> f64 {
    1.0 / w.dot(&w)
}

/// Systematic resampling: `n` indices drawn with probabilities `w` using one uniform `offset` in
/// [0, 1): lower variance than multinomial resampling, and deterministic given the offset.
pub fn systematic_resample(w: ArrayView1<f64>, n: usize, offset: f64) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    let mut cumulative = 0.0;
    let mut i = 0;
    for k in 0..n {
        let target = (k as f64 + offset) / n as f64;
        while i + 1 < w.len() && cumulative + w[i] <= target {
            cumulative += w[i];
            i += 1;
        }
        out.push(i);
    }
    out
}

/// How many times each of the `w.len()` members is drawn by [`systematic_resample`] of `n`: the
/// weights of the resample as a distribution over the bank.
pub fn resample_counts(w: ArrayView1<f64>, n: usize, offset: f64) -> Vec<f64> {
    let mut counts = vec![0.0; w.len()];
    for i in systematic_resample(w, n, offset) {
        counts[i] += 1.0;
    }
    counts
}

/// Weighted mean `sum_i w_i u_i` of the bank states (rows).
pub fn weighted_mean(states: ArrayView2<f64>, w: ArrayView1<f64>) -> Array1<f64> {
    states.t().dot(&w)
}

/// Weighted covariance `sum_i w_i (u_i - m)(u_i - m)^T` of the bank states.
pub fn weighted_covariance(states: ArrayView2<f64>, w: ArrayView1<f64>) -> Array2<f64> {
    let m = weighted_mean(states, w);
    let centred = &states - &m.view().insert_axis(Axis(0));
    let scaled = &centred * &w.view().insert_axis(Axis(1));
    scaled.t().dot(&centred)
}

/// Indices of the `k` bank members with the highest score, best first (K = 1: the MAP point of the
/// empirical conditional).
pub fn retrieve(bank_codes: ArrayView2<f64>, obs_code: ArrayView1<f64>, tilting: Tilting, tau: f64, k: usize) -> Vec<usize> {
    let scores: Vec<f64> = bank_codes.outer_iter().map(|gu| score(tilting, gu, obs_code, tau)).collect();
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let k = k.min(idx.len());
    idx.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| scores[b].total_cmp(&scores[a]));
    idx.truncate(k);
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// Ensemble-transform update in latent space (the `transform` method).
///
/// With the `l2` tilting the learned likelihood is Gaussian in latent space:
/// `p(v* | u) ∝ exp(-|g_v(v*) - g_u(u)|^2 / (2 tau))`, i.e. an observation `y = g_v(v*)` of the
/// state through the (learned) observation operator `g_u`, with error covariance `R = tau I`. The
/// bank members are a prior ensemble `X` (rows) with predicted observations `Y_i = g_u(u_i)`. The
/// ETKF (Hunt et al. 2007) in ensemble space, with anomalies `X'`, `Y'` scaled by `1/sqrt(N-1)`:
/// `Pa~ = (I + Y'^T R^-1 Y')^-1`, `wbar = Pa~ Y'^T R^-1 (y - ybar)`, `W = sqrt(Pa~)` (symmetric),
/// analysis members `xbar + X'(wbar + W)`. When `g_u` is linear (`g_u(u) = G u`) and the prior
/// Gaussian, this is the exact Kalman update: mean `(C^-1 + G^T G / tau)^-1 (C^-1 m + G^T y / tau)`,
/// covariance `(C^-1 + G^T G / tau)^-1`, which for the l2 optimum of docs/science.md §5.2 (see §7.5) is the true
/// posterior. Unlike reweighting, members move, so the analysis is not confined to the bank.
/// Returns the analysis ensemble, one member per row.
pub fn ensemble_transform(states: ArrayView2<f64>, codes: ArrayView2<f64>, obs_code: ArrayView1<f64>, tau: f64) -> Result<Array2<f64>> {
    if codes.nrows() != states.nrows() {
        return Err(Error::Other(format!("ensemble transform: {} states but {} codes", states.nrows(), codes.nrows())));
    }
    Ok(transform_matrix(codes, obs_code, tau)?.t().dot(&states))
}

/// The matrix `T` (N x N) of the ensemble transform: analysis member `j` is `sum_i T_ij u_i`.
/// Because the update is a linear combination of prior members, the same `T` transforms any
/// quantity linear in the state (e.g. gridded fields derived from spectral coefficients).
pub fn transform_matrix(codes: ArrayView2<f64>, obs_code: ArrayView1<f64>, tau: f64) -> Result<Array2<f64>> {
    let n = codes.nrows();
    if n < 2 {
        return Err(Error::Other(format!("ensemble transform needs at least 2 members, got {n}")));
    }
    let scale = 1.0 / ((n - 1) as f64).sqrt();
    let ybar = codes.mean_axis(Axis(0)).expect("n >= 2");
    let ya = (&codes - &ybar.view().insert_axis(Axis(0))) * scale; // N x p
    let mut m = ya.dot(&ya.t()) / tau; // N x N: Y'^T R^-1 Y' in row-member layout
    for i in 0..n {
        m[[i, i]] += 1.0;
    }
    let (eval, evec) = m.eigh(UPLO::Lower).map_err(|e| Error::Other(format!("ensemble transform eigendecomposition: {e}")))?;
    let inv = evec.dot(&Array2::from_diag(&eval.mapv(|l| 1.0 / l))).dot(&evec.t());
    let sqrt_inv = evec.dot(&Array2::from_diag(&eval.mapv(|l| 1.0 / l.sqrt()))).dot(&evec.t());
    let innovation = &obs_code - &ybar;
    let wbar = inv.dot(&ya.dot(&innovation)) / tau;
    // Member j's weights on the scaled anomalies: wbar + sqrt(N-1) W[:, j] (undoing the scaling).
    let weights = &sqrt_inv * ((n - 1) as f64).sqrt() + wbar.view().insert_axis(Axis(1));
    // Anomaly x_i - xbar = x_i - mean_k x_k, so sum_i (x_i - xbar) w_ij = sum_i x_i (w_ij - mean_k w_kj).
    let col_mean = weights.mean_axis(Axis(0)).expect("n >= 2");
    Ok((&weights - &col_mean.insert_axis(Axis(0))) * scale + 1.0 / n as f64)
}
